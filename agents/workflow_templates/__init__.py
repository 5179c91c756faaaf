"""Pattern templates: one graph JSON file per orchestration pattern.

Each file holds ``{"name", "slug", "description", "graph"}``; every graph
uses the model endpoint slug ``local`` and passes
``agents.engine.validate_graph``.
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Any


def workflow_templates() -> list[dict[str, Any]]:
    """All templates, sorted by slug (read from the package's JSON files)."""
    folder = resources.files(__name__)
    found = [
        json.loads(entry.read_text(encoding="utf-8")) for entry in folder.iterdir() if entry.name.endswith(".json")
    ]
    return sorted(found, key=lambda template: str(template["slug"]))


def workflow_template(slug: str) -> dict[str, Any]:
    """The template called ``slug``; raises ``LookupError`` if there is none."""
    for template in workflow_templates():
        if template["slug"] == slug:
            return template
    raise LookupError(f"no workflow template {slug!r}")
