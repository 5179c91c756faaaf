"""The contract between a node and the stored prompt it uses.

A node whose config has ``{"prompt": {"slug", "label"}}`` (or a pinned
``"version"``; neither: the ``production`` label — as the ``llm`` node
resolves it) renders that prompt version's messages with the node's input
values, so its inputs must provide every variable the version declares, with
a type that fits the variable's.

* :func:`prompt_contract_issues` — for validate, draft checks, publish and
  import (through ``agents.services.workflows.engine_issues``): issues naming
  the node and the missing variables (``prompt_variables_missing``), the
  inputs whose type does not fit the variable's declared type
  (``prompt_variable_mistyped``; the edge rule: ``int`` fits ``float``,
  ``enum`` fits ``str``), or the prompt, label or version that does not exist
  (``prompt_not_found``), before any run.
* :func:`published_prompt_uses` — registered with
  ``prompts.usage.register_prompt_use_finder`` so a label move that would break
  a published workflow is refused (``prompts.services.check_label_move_contract``).
  "Published" is each workflow's latest published version (deleted workflows
  excluded): that is what the API runs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.db.models import OuterRef, Subquery

from agents.models import WorkflowVersion
from prompts.selectors import prompt_version_resolve
from prompts.services import variable_problems
from prompts.usage import PromptUse

if TYPE_CHECKING:
    from agents.services.workflows import Issue
    from prompts.models import Prompt


def node_prompt_ref(node: Any) -> tuple[str, str | None, int | None] | None:
    """``(slug, label, version)`` of the stored prompt a graph node uses (one of label/version
    set; neither given means ``production``), or None when the node uses none (or its config
    is malformed: the engine's check reports that)."""
    config = node.get("config") if isinstance(node, dict) else None
    prompt = config.get("prompt") if isinstance(config, dict) else None
    if not isinstance(prompt, dict) or not isinstance(prompt.get("slug"), str) or not prompt["slug"]:
        return None
    version = prompt.get("version")
    if isinstance(version, int) and not isinstance(version, bool):
        return prompt["slug"], None, version
    label = prompt.get("label")
    return prompt["slug"], label if isinstance(label, str) and label else "production", None


def node_inputs(node: dict[str, Any]) -> list[dict[str, Any]]:
    """The node's input ports as ``FieldSpec`` dicts (the values its prompt is rendered with)."""
    from agents.services.workflows import node_ports_of

    return list(node_ports_of(node)["inputs"])


def _pointer(label: str | None, version: int | None) -> str:
    return f"version {version}" if version is not None else f'label "{label}"'


def prompt_contract_issues(*, project_id: int, graph: Any) -> list[Issue]:
    """One :class:`~agents.services.workflows.Issue` per node of ``graph`` that uses a stored prompt
    its inputs do not satisfy in project ``project_id``: ``prompt_not_found`` (no such prompt, label
    or version) or ``prompt_variables_missing`` (names the node and each missing variable)."""
    from agents.services.workflows import Issue

    issues: list[Issue] = []
    nodes = graph.get("nodes") if isinstance(graph, dict) else None
    for index, node in enumerate(nodes if isinstance(nodes, list) else []):
        ref = node_prompt_ref(node)
        if ref is None:
            continue
        slug, label, number = ref
        node_id = str(node.get("id", ""))
        name = str(node.get("label") or node_id)
        path = f"nodes[{index}].config.prompt"
        try:
            version = prompt_version_resolve(project_id=project_id, slug=slug, label=label, version=number)
        except LookupError as exc:
            issues.append(Issue(code="prompt_not_found", message=f'Node "{name}": {exc}', path=path, node_id=node_id))
            continue
        missing, mistyped = variable_problems(version=version, inputs=node_inputs(node))
        where = f'prompt "{slug}" v{version.version} ({_pointer(label, number)})'
        if missing:
            issues.append(
                Issue(
                    code="prompt_variables_missing",
                    message=(
                        f'Node "{name}" does not provide the variable(s) {", ".join(missing)} that {where} '
                        "needs: add input(s) with those names and connect them."
                    ),
                    path=path,
                    node_id=node_id,
                )
            )
        if mistyped:
            issues.append(
                Issue(
                    code="prompt_variable_mistyped",
                    message=(
                        f'Node "{name}" gives {where} variable(s) of the wrong type: {", ".join(mistyped)}. '
                        "Change the input's type (or convert it with a template node first)."
                    ),
                    path=path,
                    node_id=node_id,
                )
            )
    return issues


def published_prompt_uses(prompt: Prompt) -> list[PromptUse]:
    """Every node of each workflow's latest published version in ``prompt``'s project that uses it."""
    latest = WorkflowVersion.objects.filter(workflow=OuterRef("workflow")).order_by("-version").values("version")[:1]
    versions = (
        WorkflowVersion.objects.filter(
            workflow__project_id=prompt.project_id, workflow__deleted_at__isnull=True, version=Subquery(latest)
        )
        .select_related("workflow")
        .order_by("workflow__name", "workflow_id")
    )
    uses: list[PromptUse] = []
    for version in versions:
        nodes = version.graph.get("nodes") if isinstance(version.graph, dict) else None
        for node in nodes if isinstance(nodes, list) else []:
            ref = node_prompt_ref(node)
            if ref is None or ref[0] != prompt.slug:
                continue
            inputs = node_inputs(node)
            uses.append(
                PromptUse(
                    workflow_id=version.workflow_id,
                    workflow_name=version.workflow.name,
                    workflow_version=version.version,
                    node_id=str(node.get("id", "")),
                    node_label=str(node.get("label") or node.get("id", "")),
                    label=ref[1],
                    version=ref[2],
                    provided=frozenset(field["name"] for field in inputs),
                    inputs=tuple(inputs),
                )
            )
    return uses
