"""What ``agents`` tells the platform pages: where a secret is used, which workflows a project has.

Registered in :meth:`agents.apps.AgentsConfig.ready` (``studio`` cannot import ``agents``).
"""

from __future__ import annotations

import json
import re
from typing import Any

from django.urls import reverse

from agents.models import McpServer, Workflow
from studio.models import Project, Secret
from studio.workspace.usage import SecretUsage


def secret_usages_in_agents(secret: Secret) -> list[SecretUsage]:
    """MCP servers whose headers come from ``secret``, and workflows whose draft or a
    published version reads it with ``secret("NAME")``."""
    found = [
        SecretUsage(kind="mcp server", label=f"MCP server {server.name}")
        for server in McpServer.objects.filter(headers_secret=secret).order_by("slug")
    ]
    # In the stored JSON the quotes around the name are escaped: secret(\"NAME\").
    pattern = re.compile(r"secret\(\s*\\?[\"']" + re.escape(secret.name) + r"\\?[\"']\s*\)")
    for workflow in Workflow.objects.filter(project_id=secret.project_id).prefetch_related("versions"):
        graphs = [workflow.draft_graph, *(version.graph for version in workflow.versions.all())]
        if any(pattern.search(json.dumps(graph)) for graph in graphs):
            url = reverse("workflow-detail", args=[workflow.project.slug, workflow.slug])
            found.append(SecretUsage(kind="workflow", label=f"workflow {workflow.name}", url=url))
    return found


def workflow_choices(project: Project) -> list[tuple[str, str]]:
    """``[(slug, name)]`` of the project's workflows."""
    return list(Workflow.objects.filter(project=project).order_by("name").values_list("slug", "name"))


SAMPLE_BY_TYPE: dict[str, Any] = {"int": 1, "float": 1.0, "bool": False, "list": [], "object": {}}


def example_run_body(project: Project, workflow_slug: str) -> dict[str, Any]:
    """A body for ``POST …/workflows/<slug>/runs``: sample values for the required inputs of the
    latest version (the first enum choice, ``"<name>"`` for text, else a value of its type), and
    ``"draft": true`` when nothing is published yet. ``{}`` for an unknown workflow."""
    from agents.engine import input_signature

    workflow = Workflow.objects.filter(project=project, slug=workflow_slug, deleted_at__isnull=True).first()
    if workflow is None:
        return {}
    latest = workflow.versions.order_by("-version").first()
    try:
        fields = input_signature(latest.graph if latest else workflow.draft_graph).fields
    except ValueError:
        return {}
    sample: dict[str, Any] = {}
    for spec in fields:
        if not spec.required:
            continue
        if spec.type == "enum" and spec.choices:
            sample[spec.name] = spec.choices[0]
        else:
            sample[spec.name] = SAMPLE_BY_TYPE.get(spec.type, f"<{spec.name}>")
    return {"inputs": sample, "draft": True} if latest is None else {"inputs": sample}
