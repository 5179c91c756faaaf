"""Prompts travelling with a workflow's JSON/YAML export (``agents.interchange``).

Export: one entry per distinct ``(slug, label | pinned version)`` the graph's
nodes use, holding the content of the version it resolves to *now*::

    {"slug", "name", "description", "label": str | null, "version": int | null,
     "exported_version": int, "messages", "variables": [typed fields], "model_config",
     "commit_message"}

(a prompt that does not resolve is left out; the import then reports the node
as ``prompt_not_found``).

Import, in the importer's transaction, for each entry a node uses:

* no prompt with that slug in the target project: it is created, the content
  committed as its version 1 and — for a label reference — the label created
  on it (also a protected one: the prompt is new, nothing else depends on it);
* the prompt exists: a version with the same messages, typed variables and
  model config is reused, otherwise the content is committed as the next version
  (the text differs). A label reference whose label does not exist yet gets it
  (subject to the usual label rules: ``production`` needs admin or owner); a
  label that already points elsewhere is **not** moved — moving it would change
  what other workflows run — and a warning says which version to promote.
  A pinned reference is re-pointed at the reused or committed version's number.

Entries are validated like a version commit (``check_variable_fields`` and
``check_prompt_content`` of ``prompts.services``)
before anything is stored.
"""

from __future__ import annotations

import re
from typing import Any

from django.core.exceptions import PermissionDenied

from agents.services.prompt_contract import node_prompt_ref
from prompts.models import Prompt, PromptVersion
from prompts.selectors import prompt_version_resolve
from prompts.services import (
    PromptError,
    check_label_name,
    check_prompt_content,
    check_variable_fields,
    prompt_create,
    prompt_label_move,
    prompt_version_commit,
)
from studio.lib.jsonsafe import json_problem
from studio.models import Project

MAX_PROMPTS = 100
_SLUG = re.compile(r"[-a-zA-Z0-9_]{1,64}")

Ref = tuple[str, str | None, int | None]


def export_prompts(*, project_id: int, graph: dict[str, Any]) -> list[dict[str, Any]]:
    """The ``prompts`` entries of an export of ``graph`` (see the module docstring)."""
    entries: list[dict[str, Any]] = []
    seen: set[Ref] = set()
    for node in graph.get("nodes", []):
        ref = node_prompt_ref(node)
        if ref is None or ref in seen:
            continue
        seen.add(ref)
        slug, label, number = ref
        try:
            version = prompt_version_resolve(project_id=project_id, slug=slug, label=label, version=number)
        except LookupError:
            continue
        prompt = version.prompt
        entries.append(
            {
                "slug": slug,
                "name": prompt.name,
                "description": prompt.description,
                "label": label,
                "version": number,
                "exported_version": version.version,
                "messages": list(version.messages),
                "variables": version.variable_fields(),
                "model_config": dict(version.model_config),
                "commit_message": version.commit_message,
            }
        )
    return entries


def check_prompt_entries(value: Any) -> tuple[list[dict[str, Any]], list[dict[str, str]]]:
    """Validate an envelope's ``prompts``; returns ``(clean entries, errors)`` where each error is
    ``{"path": "prompts[1].messages[0].content", "message"}``. ``value`` None: no prompts."""
    if value is None:
        return [], []
    if not isinstance(value, list) or len(value) > MAX_PROMPTS:
        return [], [{"path": "prompts", "message": f"must be a list of at most {MAX_PROMPTS} prompts"}]
    clean: list[dict[str, Any]] = []
    errors: list[dict[str, str]] = []
    for index, entry in enumerate(value):
        where = f"prompts[{index}]"
        if not isinstance(entry, dict):
            errors.append({"path": where, "message": "must be an object"})
            continue
        bad = json_problem(entry, path=where)
        if bad is not None:
            errors.append({"path": bad.path, "message": bad.message})
            continue
        slug = entry.get("slug")
        if not isinstance(slug, str) or not _SLUG.fullmatch(slug):
            errors.append({"path": f"{where}.slug", "message": "a slug of 1 to 64 letters, digits, '-', '_'"})
            continue
        label, number = entry.get("label"), entry.get("version")
        if number is not None and (not isinstance(number, int) or isinstance(number, bool) or number < 1):
            errors.append({"path": f"{where}.version", "message": "a pinned version is a positive integer"})
            continue
        if number is None:
            try:
                check_label_name(label if label is not None else "production")
            except PromptError as exc:
                errors.append({"path": f"{where}.label", "message": exc.message})
                continue
        name, description = entry.get("name", slug), entry.get("description", "")
        if not isinstance(name, str) or not isinstance(description, str) or len(description) > 10_000:
            errors.append({"path": f"{where}.name", "message": "name and description must be text"})
            continue
        try:
            names, fields = check_variable_fields(entry.get("variables", []))
            messages, _ = check_prompt_content(
                messages=entry.get("messages"), variables=names, model_config=entry.get("model_config", {})
            )
        except PromptError as exc:
            errors.append({"path": f"{where}.{exc.field or 'messages'}", "message": exc.message})
            continue
        clean.append(
            {
                "slug": slug,
                "name": (name.strip() or slug)[:200],
                "description": description,
                "label": None if number is not None else (label or "production"),
                "version": number,
                "exported_version": entry.get("exported_version"),
                "messages": messages,
                "variables": fields,
                "model_config": entry.get("model_config", {}),
            }
        )
    return clean, errors


def _same_content(version: PromptVersion, entry: dict[str, Any]) -> bool:
    return bool(
        version.messages == entry["messages"]
        and version.variable_fields() == entry["variables"]
        and (version.model_config or {}) == entry["model_config"]
    )


def import_prompts(
    *, project: Project, user: Any, entries: list[dict[str, Any]], graph: dict[str, Any], source: str
) -> tuple[dict[str, Any], list[str]]:
    """Create or reuse the prompts of ``entries`` that ``graph``'s nodes use (see the module docstring).

    Call inside the importer's transaction. Returns ``(graph, warnings)``:
    ``graph`` with pinned versions re-pointed where the target's number
    differs. ``source`` names the export in commit messages. Raises
    :class:`~prompts.services.PromptError` only for what validation missed.
    """
    used: set[Ref] = {ref for node in graph.get("nodes", []) if (ref := node_prompt_ref(node)) is not None}
    warnings: list[str] = []
    renumber: dict[tuple[str, int], int] = {}
    for entry in entries:
        ref: Ref = (entry["slug"], entry["label"], entry["version"])
        if ref not in used:
            continue
        slug, label, pinned = ref
        prompt = Prompt.objects.filter(project=project, slug=slug).first()
        created = prompt is None
        if prompt is None:
            prompt = prompt_create(
                project=project, user=user, name=entry["name"], slug=slug, description=entry["description"]
            )
        pointer = prompt.labels.select_related("version").filter(name=label).first() if label else None
        if pointer is not None and _same_content(pointer.version, entry):
            continue  # the label already points at this text
        target = next((v for v in prompt.versions.all() if _same_content(v, entry)), None)
        if target is None:
            target = prompt_version_commit(
                prompt=prompt,
                user=user,
                messages=entry["messages"],
                variables=entry["variables"],
                model_config=entry["model_config"],
                commit_message=f"Imported with {source}"[:500],
            )
        if pinned is not None:
            if target.version != pinned:
                renumber[(slug, pinned)] = target.version
                warnings.append(f'Prompt "{slug}": the pinned version {pinned} is version {target.version} here.')
            continue
        assert label is not None
        if pointer is None:
            try:
                prompt_label_move(prompt=prompt, label=label, version=target, user=user, protected_ok=created)
            except (PermissionDenied, PromptError) as exc:
                warnings.append(
                    f'Prompt "{slug}": version {target.version} holds the imported text, but label "{label}" '
                    f"was not created ({exc}); ask an admin to point it."
                )
        else:
            warnings.append(
                f'Prompt "{slug}": label "{label}" still points at version {pointer.version.version}; the imported '
                f"text is version {target.version} — promote it on the prompt's page to use it."
            )
    if renumber:
        graph = _repin(graph, renumber)
    return graph, warnings


def _repin(graph: dict[str, Any], renumber: dict[tuple[str, int], int]) -> dict[str, Any]:
    nodes = []
    for node in graph.get("nodes", []):
        ref = node_prompt_ref(node)
        if ref is not None and ref[2] is not None and (ref[0], ref[2]) in renumber:
            config = dict(node["config"])
            config["prompt"] = {**config["prompt"], "version": renumber[(ref[0], ref[2])]}
            node = {**node, "config": config}
        nodes.append(node)
    return {**graph, "nodes": nodes}
