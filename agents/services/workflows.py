"""Workflow writes: create, autosave the draft, publish, restore, templates.

Every function here is a multi-row write (the workflow row, its versions and
an :class:`~studio.models.AuditEvent`) and runs in one transaction. Draft
saves use optimistic concurrency: the caller sends the ``draft_revision`` its
copy is based on, and a save based on an older revision is refused with
:class:`DraftConflictError` — never silently merged or overwritten.

Draft graphs are checked for *shape* only (``check_graph_shape``): a draft may
be incomplete. Publishing runs the engine's full ``check_graph`` and refuses a
graph that could not execute.
"""

from __future__ import annotations

import copy
import json
import re
import uuid
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils.text import slugify

from agents.models import Workflow, WorkflowVersion, empty_graph
from studio.lib.documents import DocumentTooDeep, check_depth
from studio.lib.jsonsafe import MAX_POSITION, json_problem
from studio.models import Project
from studio.services import audit_record

GRAPH_SCHEMA = 1
MAX_NODES = 2000
MAX_EDGES = 6000
MAX_GRAPH_BYTES = 4 * 1024 * 1024  # 4 MiB of JSON
#: Workflow settings carried by exports and accepted by :func:`workflow_create`.
SETTINGS_KEYS = ("max_concurrency", "budget_tokens", "budget_usd", "timeout_s")
TEMPLATES_DIR = Path(__file__).resolve().parent.parent / "workflow_templates"
_ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")  # the engine's NODE_ID_PATTERN


# --------------------------------------------------------------------- errors


@dataclass
class Issue:
    """One problem with a graph document.

    ``path`` points into the document (``nodes[3].position.x``); ``node_id``
    and ``edge_id`` name the element when known, so the editor can mark it.
    """

    code: str
    message: str
    path: str = ""
    node_id: str | None = None
    edge_id: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "message": self.message,
            "path": self.path,
            "node_id": self.node_id,
            "edge_id": self.edge_id,
        }


class WorkflowError(Exception):
    """Base of this module's errors; ``code`` is the stable API error code."""

    code = "workflow_error"

    def __init__(self, message: str, *, issues: list[Issue] | None = None):
        super().__init__(message)
        self.message = message
        self.issues = issues or []


class GraphShapeError(WorkflowError):
    """The document is not a graph document (wrong schema, missing ids, dangling edges…)."""

    code = "invalid_graph"


class GraphNotExecutableError(WorkflowError):
    """The graph is well-formed but the engine refuses to run it (used by publish)."""

    code = "graph_not_executable"


class DraftConflictError(WorkflowError):
    """A draft save was based on ``base_revision`` but the draft is at ``current_revision``."""

    code = "draft_conflict"

    def __init__(self, *, base_revision: int, current_revision: int, current_graph: dict[str, Any]):
        super().__init__(
            f"The draft changed since you loaded it (your revision {base_revision}, "
            f"current {current_revision}). Nothing was overwritten."
        )
        self.base_revision = base_revision
        self.current_revision = current_revision
        self.current_graph = current_graph


class SecretUseForbiddenError(WorkflowError):
    """The graph names a secret the user may not use (``issues`` name each node and secret)."""

    code = "secret_forbidden"
    status_code = 403


def _check_secret_save(*, project: Project, user: Any, graph: dict[str, Any], stored: Any) -> None:
    """Refuse a save that adds or changes a node naming a secret ``user`` may not use.

    ``user`` None is the system (management commands, seeds): not checked.
    Raises :class:`SecretUseForbiddenError`.
    """
    if user is None:
        return
    from agents.services.secrets import secret_save_issues

    issues = secret_save_issues(project=project, user=user, graph=graph, stored=stored)
    if issues:
        raise SecretUseForbiddenError("Not saved: the graph names a secret you may not use.", issues=issues)


def secret_issues(*, project: Project, user: Any, graph: Any) -> list[Issue]:
    """The secret problems of ``graph`` for ``user`` (validate and publish; see ``agents.services.secrets``)."""
    from agents.services.secrets import secret_graph_issues

    return secret_graph_issues(project=project, user=user, graph=graph)


class TemplateNotFoundError(WorkflowError):
    code = "template_not_found"


# -------------------------------------------------------------- shape checks


def check_graph_shape(doc: Any) -> list[Issue]:
    """Structural problems of a graph document (empty list when well-formed).

    Checks: ``schema`` is 1; ``nodes`` and ``edges`` are lists; each node has a
    unique id (letters, digits, ``_.:-``, at most 64), a ``type`` string, a
    ``label`` string, a ``config`` object and a numeric ``position`` {x, y};
    each edge has a unique non-empty id and names existing nodes and non-empty ports.
    Does not check node types, configs or port types — that is the engine's
    ``check_graph``, run at publish.
    """
    issues: list[Issue] = []
    if not isinstance(doc, dict):
        return [Issue("not_an_object", "The graph must be a JSON object.")]
    try:
        check_depth(doc)
    except DocumentTooDeep as exc:
        return [Issue("too_deep", f"The graph is nested deeper than {exc.limit} levels.")]
    bad_value = json_problem(doc)  # lone surrogates, NUL, NaN, overflowing numbers: never stored
    if bad_value is not None:
        return [Issue("bad_value", f"{bad_value.path or 'graph'} {bad_value.message}.", bad_value.path)]
    if doc.get("schema") != GRAPH_SCHEMA:
        issues.append(
            Issue("bad_schema", f"Unsupported graph schema {doc.get('schema')!r}; expected {GRAPH_SCHEMA}.", "schema")
        )
    nodes, edges = doc.get("nodes"), doc.get("edges")
    if not isinstance(nodes, list):
        issues.append(Issue("bad_nodes", "'nodes' must be a list.", "nodes"))
        nodes = []
    if not isinstance(edges, list):
        issues.append(Issue("bad_edges", "'edges' must be a list.", "edges"))
        edges = []
    if len(nodes) > MAX_NODES:
        issues.append(Issue("too_many_nodes", f"At most {MAX_NODES} nodes per graph.", "nodes"))
    if len(edges) > MAX_EDGES:
        issues.append(Issue("too_many_edges", f"At most {MAX_EDGES} edges per graph.", "edges"))
    unknown = set(doc) - {"schema", "nodes", "edges", "meta"}
    if unknown:
        issues.append(Issue("unknown_key", f"Unknown top-level keys: {', '.join(sorted(unknown))}.", ""))
    node_ids: set[str] = set()
    for i, node in enumerate(nodes):
        path = f"nodes[{i}]"
        if not isinstance(node, dict):
            issues.append(Issue("bad_node", "A node must be an object.", path))
            continue
        node_id = node.get("id")
        if not isinstance(node_id, str) or not _ID_RE.match(node_id):
            issues.append(Issue("bad_node_id", "Node id must be 1-64 letters, digits, _ or -", f"{path}.id"))
            continue
        if node_id in node_ids:
            issues.append(Issue("duplicate_node_id", f"Node id {node_id!r} is used twice.", f"{path}.id", node_id))
        node_ids.add(node_id)
        if not isinstance(node.get("type"), str) or not node.get("type"):
            issues.append(Issue("bad_node_type", "Node type must be a non-empty string.", f"{path}.type", node_id))
        if not isinstance(node.get("label", ""), str):
            issues.append(Issue("bad_label", "Node label must be a string.", f"{path}.label", node_id))
        if not isinstance(node.get("config", {}), dict):
            issues.append(Issue("bad_config", "Node config must be an object.", f"{path}.config", node_id))
        position = node.get("position", {"x": 0, "y": 0})
        if not (
            isinstance(position, dict)
            and all(isinstance(position.get(k), (int, float)) and not isinstance(position.get(k), bool) for k in "xy")
        ):
            issues.append(
                Issue("bad_position", "Node position must be {x: number, y: number}.", f"{path}.position", node_id)
            )
        elif any(abs(position[k]) > MAX_POSITION for k in "xy"):
            issues.append(
                Issue("bad_position", f"Node position must be within ±{MAX_POSITION:g}.", f"{path}.position", node_id)
            )
    edge_ids: set[str] = set()
    for i, edge in enumerate(edges):
        path = f"edges[{i}]"
        if not isinstance(edge, dict):
            issues.append(Issue("bad_edge", "An edge must be an object.", path))
            continue
        edge_id = edge.get("id")
        if not isinstance(edge_id, str) or not edge_id or len(edge_id) > 200:
            issues.append(
                Issue("bad_edge_id", "Edge id must be a non-empty string (at most 200 characters).", f"{path}.id")
            )
            continue
        if edge_id in edge_ids:
            issues.append(
                Issue("duplicate_edge_id", f"Edge id {edge_id!r} is used twice.", f"{path}.id", edge_id=edge_id)
            )
        edge_ids.add(edge_id)
        for end in ("source", "target"):
            ref = edge.get(end)
            if ref not in node_ids:
                issues.append(
                    Issue(
                        "dangling_edge",
                        f"Edge {edge_id} {end} {ref!r} is not a node.",
                        f"{path}.{end}",
                        edge_id=edge_id,
                    )
                )
            port = edge.get(f"{end}_port")
            if not isinstance(port, str) or not port:
                issues.append(
                    Issue("bad_port", f"Edge {edge_id} needs a {end}_port name.", f"{path}.{end}_port", edge_id=edge_id)
                )
    return issues


def normalize_graph(doc: dict[str, Any]) -> dict[str, Any]:
    """A copy of a well-formed document with defaults filled in (label "", config {}, position 0,0)
    and keys in a stable order, so that diffs and exports are deterministic."""
    nodes = []
    for node in doc.get("nodes", []):
        position = node.get("position") or {"x": 0, "y": 0}
        nodes.append(
            {
                "id": node["id"],
                "type": node["type"],
                "label": node.get("label", "") or "",
                "config": copy.deepcopy(node.get("config") or {}),
                "position": {"x": round(float(position["x"]), 1), "y": round(float(position["y"]), 1)},
            }
        )
    edges = [
        {
            "id": edge["id"],
            "source": edge["source"],
            "source_port": edge["source_port"],
            "target": edge["target"],
            "target_port": edge["target_port"],
        }
        for edge in doc.get("edges", [])
    ]
    out: dict[str, Any] = {"schema": GRAPH_SCHEMA, "nodes": nodes, "edges": edges}
    if isinstance(doc.get("meta"), dict):
        out["meta"] = copy.deepcopy(doc["meta"])
    return out


def _checked_shape(graph: Any) -> dict[str, Any]:
    issues = check_graph_shape(graph)
    if issues:
        raise GraphShapeError(f"The graph document has {len(issues)} problem(s).", issues=issues)
    size = len(json.dumps(graph, separators=(",", ":")))
    if size > MAX_GRAPH_BYTES:
        raise GraphShapeError(f"The graph is {size} bytes; at most {MAX_GRAPH_BYTES} are accepted.")
    return normalize_graph(graph)


# --------------------------------------------------------------- engine glue


def engine_issues(graph: dict[str, Any], *, project_id: int | None) -> list[Issue]:
    """Full executability check by the engine (``agents.engine.validate_graph``):
    unknown node types, invalid configs, port type mismatches, cycles, missing
    input/output nodes…, and project variables the graph reads that the
    project lacks (``unknown_variable``). Shape problems come first and stop the check.
    ``project_id``: whose egress allow-list applies (the same as at run
    start, so validate, publish and run agree; None: only hosts allowed for
    every project).

    With a ``project_id``, also the node ↔ prompt contract
    (``agents.services.prompt_contract``): a node whose inputs do not provide
    the variables of the prompt version its label (or pinned version) points
    at, or whose prompt does not exist, is an issue naming the node."""
    shape = check_graph_shape(graph)
    if shape:
        return shape
    from agents.effects.transport import egress_allowed_hosts
    from agents.engine.graph import validate_graph
    from agents.services.variables import variable_graph_issues

    issues = [
        Issue(
            code=str(getattr(gi, "code", "invalid")),
            message=str(getattr(gi, "message", gi)),
            node_id=getattr(gi, "node_id", None),
            edge_id=getattr(gi, "edge_id", None),
        )
        for gi in validate_graph(graph, allowed_hosts=egress_allowed_hosts(project_id))
    ] + variable_graph_issues(project_id=project_id, graph=graph)
    if project_id is not None:
        from agents.services.prompt_contract import prompt_contract_issues

        issues += prompt_contract_issues(project_id=project_id, graph=graph)
    return issues


def _field_dicts(signature: Any) -> list[dict[str, Any]]:
    return [spec.model_dump(mode="json") for spec in signature.fields]


def node_ports_of(node: dict[str, Any]) -> dict[str, Any]:
    """``{"inputs": [field], "outputs": [field], "error": str | None}`` of one node.

    Fields are ``FieldSpec`` dicts (name, type, description, required, default,
    choices, items). An unknown type or an invalid config gives empty ports and
    the reason in ``error`` (drafts may be incomplete).
    """
    try:
        from agents.engine.graph import NodeDoc, node_ports

        inputs, outputs = node_ports(NodeDoc.model_validate(node))
    except Exception as exc:  # noqa: BLE001 - any config problem is reported, not raised
        message = (str(exc).splitlines() or [type(exc).__name__])[0]
        return {"inputs": [], "outputs": [], "error": message}
    return {"inputs": _field_dicts(inputs), "outputs": _field_dicts(outputs), "error": None}


def graph_ports(graph: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Ports of every node of ``graph`` by node id (see :func:`node_ports_of`)."""
    return {
        node["id"]: node_ports_of(node)
        for node in graph.get("nodes", [])
        if isinstance(node, dict) and isinstance(node.get("id"), str)
    }


def node_catalog_with_ports() -> list[dict[str, Any]]:
    """The engine's ``node_catalog()`` with ``default_ports`` (ports of the default config) added."""
    from agents.engine.nodes import node_catalog

    out = []
    for entry in node_catalog():
        node = {"id": "catalog", "type": entry["type"], "label": "", "config": entry["default_config"]}
        out.append({**entry, "default_ports": node_ports_of(node)})
    return out


# ------------------------------------------------------------------ audit


def _audit(*, project: Project, user: Any, verb: str, workflow: Workflow, data: dict[str, Any] | None = None) -> None:
    audit_record(project=project, actor=user, verb=verb, obj=workflow, data=data)


# ------------------------------------------------------------------ writes


def unique_workflow_slug(*, project: Project, name: str, slug: str | None = None) -> str:
    """``slug`` (or ``slugify(name)``) made unique in ``project`` by a ``-2``, ``-3`` … suffix."""
    base = slugify(slug or name)[:56] or "workflow"
    taken = set(Workflow.objects.filter(project=project, slug__startswith=base).values_list("slug", flat=True))
    if base not in taken:
        return base
    n = 2
    while f"{base}-{n}" in taken:
        n += 1
    return f"{base}-{n}"


def workflow_create(
    *,
    project: Project,
    user: Any,
    name: str,
    slug: str | None = None,
    graph: dict[str, Any] | None = None,
    description: str = "",
    settings: dict[str, Any] | None = None,
    audit_verb: str = "workflow.create",
    audit_data: dict[str, Any] | None = None,
) -> Workflow:
    """Create a workflow with ``graph`` (default: empty) as its draft, revision 1.

    ``slug`` defaults to ``slugify(name)`` and is made unique in the project.
    ``settings`` may set ``max_concurrency``, ``budget_tokens``, ``budget_usd``, ``timeout_s``.
    Raises :class:`GraphShapeError` for a malformed graph.
    """
    name = (name or "").strip()
    if not name:
        raise WorkflowError("A workflow needs a name.")
    draft = _checked_shape(graph) if graph is not None else empty_graph()
    _check_secret_save(project=project, user=user, graph=draft, stored=None)
    settings = settings or {}
    for _attempt in range(3):
        try:
            with transaction.atomic():
                workflow = Workflow.objects.create(
                    project=project,
                    slug=unique_workflow_slug(project=project, name=name, slug=slug),
                    name=name[:200],
                    description=description,
                    draft_graph=draft,
                    draft_revision=1,
                    created_by=user if getattr(user, "is_authenticated", False) else None,
                    **{k: settings[k] for k in SETTINGS_KEYS if k in settings},
                )
                _audit(
                    project=project,
                    user=user,
                    verb=audit_verb,
                    workflow=workflow,
                    data={"slug": workflow.slug, "nodes": len(draft["nodes"]), **(audit_data or {})},
                )
                return workflow
        except IntegrityError:
            continue  # a concurrent create took the slug: pick the next one
    raise WorkflowError("Could not find a free slug for this workflow; try another name.")


def workflow_draft_save(*, workflow: Workflow, user: Any, graph: dict[str, Any], base_revision: int) -> Workflow:
    """Replace the draft graph when ``base_revision`` is the current revision.

    Locks the row (``select_for_update``), compares revisions, stores the
    normalized graph and increments ``draft_revision``. Returns the updated
    workflow. Raises :class:`SecretUseForbiddenError` when the save adds or
    changes a node naming a secret ``user`` may not use, :class:`DraftConflictError` (nothing written) when the
    draft moved on since ``base_revision``; :class:`GraphShapeError` for a
    malformed document. Published versions are never touched.
    """
    draft = _checked_shape(graph)
    with transaction.atomic():
        locked = Workflow.objects.select_for_update().get(pk=workflow.pk)
        if int(base_revision) != locked.draft_revision:
            raise DraftConflictError(
                base_revision=int(base_revision),
                current_revision=locked.draft_revision,
                current_graph=locked.draft_graph,
            )
        _check_secret_save(project=locked.project, user=user, graph=draft, stored=locked.draft_graph)
        locked.draft_graph = draft
        locked.draft_revision += 1
        locked.save(update_fields=["draft_graph", "draft_revision", "updated_at"])
        _audit(
            project=locked.project,
            user=user,
            verb="workflow.draft_save",
            workflow=locked,
            data={"revision": locked.draft_revision, "nodes": len(draft["nodes"]), "edges": len(draft["edges"])},
        )
    workflow.draft_graph = locked.draft_graph
    workflow.draft_revision = locked.draft_revision
    workflow.updated_at = locked.updated_at
    return workflow


def workflow_update_settings(*, workflow: Workflow, user: Any, **changes: Any) -> Workflow:
    """Change name, description, max_concurrency or budgets; audited. Unknown keys raise ``TypeError``."""
    allowed = {"name", "description", *SETTINGS_KEYS}
    unknown = set(changes) - allowed
    if unknown:
        raise TypeError(f"Unknown workflow settings: {sorted(unknown)}")
    with transaction.atomic():
        locked = Workflow.objects.select_for_update().get(pk=workflow.pk)
        for key, value in changes.items():
            setattr(locked, key, value)
        locked.save(update_fields=[*changes, "updated_at"])
        _audit(
            project=locked.project, user=user, verb="workflow.update", workflow=locked, data={"fields": sorted(changes)}
        )
    return locked


class SuiteGateError(WorkflowError):
    """The workflow's test suite has not passed on this draft (``code``: ``suite_not_run``,
    ``suite_running``, ``suite_failed``), or ``override_forbidden``: only admins and owners may
    publish past it with a reason."""

    code = "suite_failed"

    def __init__(self, message: str, *, code: str, suite_run_id: int | None = None, status_code: int = 400):
        super().__init__(message)
        self.code = code
        self.suite_run_id = suite_run_id
        self.status_code = status_code


def _check_suite_gate(*, workflow: Workflow, graph: dict[str, Any], user: Any, override_reason: str) -> None:
    """Refuse to publish a draft its test suite has not passed, unless an admin gives a reason (audited)."""
    from agents.evaluations.services import suite_gate
    from studio.selectors import has_project_perm

    gate = suite_gate(workflow=workflow, graph=graph)
    if gate.ok:
        return
    suite_run_id = gate.suite_run.pk if gate.suite_run is not None else None
    reason = (override_reason or "").strip()
    if not reason:
        raise SuiteGateError(gate.message, code=gate.code, suite_run_id=suite_run_id)
    if user is None or not has_project_perm(user, workflow.project, "manage"):
        raise SuiteGateError(
            "Only the project's admins and owners may publish past a failing test suite.",
            code="override_forbidden", suite_run_id=suite_run_id, status_code=403,
        )
    _audit(project=workflow.project, user=user, verb="workflow.publish_override", workflow=workflow,
           data={"reason": reason[:1000], "gate": gate.code, "suite_run": suite_run_id})


def workflow_publish(
    *, workflow: Workflow, user: Any, note: str = "", base_revision: int | None = None, override_reason: str = ""
) -> WorkflowVersion:
    """Publish the current draft as the next immutable version (1, 2, 3 …).

    Runs the engine's full check first, and the secret check for ``user``
    (the publisher vouches for every secret the version uses). Raises
    :class:`GraphNotExecutableError` (with every issue) for a graph that
    could not run (a missing secret included), :class:`SecretUseForbiddenError`
    when its only problem is a secret ``user`` may not use, and :class:`DraftConflictError` when ``base_revision`` is
    given and stale (so you publish exactly what you were looking at).
    A workflow with a test suite publishes only a draft its suite passed on
    (:class:`SuiteGateError` otherwise); an admin may pass ``override_reason``
    to publish anyway, recorded in the audit log.
    """
    from agents.evaluations.services import suite_runs_refresh_for

    suite_runs_refresh_for(workflow=workflow)  # evaluate finished cases outside the lock (and its rollback)
    with transaction.atomic():
        locked = Workflow.objects.select_for_update().select_related("project").get(pk=workflow.pk)
        if base_revision is not None and int(base_revision) != locked.draft_revision:
            raise DraftConflictError(
                base_revision=int(base_revision),
                current_revision=locked.draft_revision,
                current_graph=locked.draft_graph,
            )
        graph = normalize_graph(locked.draft_graph) if not check_graph_shape(locked.draft_graph) else locked.draft_graph
        issues = engine_issues(graph, project_id=locked.project_id)
        secret_problems = [] if user is None else secret_issues(project=locked.project, user=user, graph=graph)
        if secret_problems and not issues and all(i.code == SecretUseForbiddenError.code for i in secret_problems):
            raise SecretUseForbiddenError(
                "Not published: the graph names a secret you may not use.", issues=secret_problems
            )
        issues += secret_problems
        if issues:
            raise GraphNotExecutableError(
                f"The draft cannot be published: {len(issues)} problem(s) to fix first.", issues=issues
            )
        _check_suite_gate(workflow=locked, graph=graph, user=user, override_reason=override_reason)
        number = (locked.versions.aggregate(m=Max("version"))["m"] or 0) + 1
        version = WorkflowVersion.objects.create(
            workflow=locked,
            version=number,
            graph=graph,
            note=(note or "")[:500],
            created_by=user if getattr(user, "is_authenticated", False) else None,
        )
        locked.save(update_fields=["updated_at"])
        _audit(
            project=locked.project,
            user=user,
            verb="workflow.publish",
            workflow=locked,
            data={"version": number, "note": version.note, "draft_revision": locked.draft_revision},
        )
    return version


def workflow_restore(*, workflow: Workflow, version: WorkflowVersion, user: Any) -> Workflow:
    """Copy a published version's graph into the draft (new revision).

    The version itself is untouched. Editors holding the old revision get a
    draft conflict on their next save instead of overwriting the restore.
    Raises ``ValueError`` when ``version`` belongs to another workflow.
    """
    if version.workflow_id != workflow.pk:
        raise ValueError("That version belongs to another workflow.")
    with transaction.atomic():
        locked = Workflow.objects.select_for_update().select_related("project").get(pk=workflow.pk)
        _check_secret_save(project=locked.project, user=user, graph=version.graph, stored=locked.draft_graph)
        locked.draft_graph = copy.deepcopy(version.graph)
        locked.draft_revision += 1
        locked.save(update_fields=["draft_graph", "draft_revision", "updated_at"])
        _audit(
            project=locked.project,
            user=user,
            verb="workflow.restore",
            workflow=locked,
            data={"version": version.version, "revision": locked.draft_revision},
        )
    return locked


# ------------------------------------------------------------------- diff


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict) and value:
        out: dict[str, Any] = {}
        for key, item in value.items():
            out.update(_flatten(item, f"{prefix}.{key}" if prefix else str(key)))
        return out
    return {prefix: value}


def _field_changes(a: dict[str, Any], b: dict[str, Any]) -> list[dict[str, Any]]:
    flat_a, flat_b = _flatten(a), _flatten(b)
    changes = []
    for key in sorted(set(flat_a) | set(flat_b)):
        if key == "":
            continue
        if flat_a.get(key, _MISSING) != flat_b.get(key, _MISSING):
            changes.append({"path": key, "before": flat_a.get(key), "after": flat_b.get(key)})
    return changes


_MISSING = object()


def _canonical_config(node: dict[str, Any]) -> dict[str, Any]:
    """The node's config with its type's defaults filled in (so ``{}`` and an explicit default
    compare equal); the raw config when the type is unknown or the config invalid."""
    config = node.get("config") or {}
    try:
        from agents.engine.nodes import get_node_type

        node_type = get_node_type(str(node.get("type")))
        if node_type is None:
            return config
        return dict(node_type.parse_config(config).model_dump(mode="json"))
    except Exception:  # noqa: BLE001 - an invalid config is compared as written
        return config


def _edge_key(edge: dict[str, Any]) -> str:
    return f"{edge.get('source')}.{edge.get('source_port')}->{edge.get('target')}.{edge.get('target_port')}"


def workflow_version_diff(a_graph: dict[str, Any], b_graph: dict[str, Any]) -> dict[str, Any]:
    """What changed from graph ``a`` to graph ``b``.

    Returns ``{"nodes": {"added": [node], "removed": [node], "changed":
    [{"id", "label", "type", "changes": [{"path", "before", "after"}]}],
    "moved": [id]}, "edges": {"added": [edge], "removed": [edge]},
    "summary": {...counts}}``. Nodes are matched by id; ``changes`` paths are
    dotted (``config.temperature``, ``label``); a position change alone counts
    as "moved", not "changed". Edges are matched by their endpoints
    (``source.port->target.port``), so re-created edges with new ids are equal.
    """
    nodes_a = {n.get("id"): n for n in a_graph.get("nodes", []) if isinstance(n, dict)}
    nodes_b = {n.get("id"): n for n in b_graph.get("nodes", []) if isinstance(n, dict)}
    added = [nodes_b[i] for i in nodes_b if i not in nodes_a]
    removed = [nodes_a[i] for i in nodes_a if i not in nodes_b]
    changed, moved = [], []
    for node_id in nodes_a.keys() & nodes_b.keys():
        before, after = nodes_a[node_id], nodes_b[node_id]
        changes = _field_changes(
            {"type": before.get("type"), "label": before.get("label", ""), "config": _canonical_config(before)},
            {"type": after.get("type"), "label": after.get("label", ""), "config": _canonical_config(after)},
        )
        if changes:
            changed.append(
                {"id": node_id, "label": after.get("label", ""), "type": after.get("type"), "changes": changes}
            )
        if (before.get("position") or {}) != (after.get("position") or {}):
            moved.append(node_id)
    changed.sort(key=lambda c: str(c["id"]))
    moved.sort()
    edges_a = {_edge_key(e): e for e in a_graph.get("edges", []) if isinstance(e, dict)}
    edges_b = {_edge_key(e): e for e in b_graph.get("edges", []) if isinstance(e, dict)}
    edges_added = [edges_b[k] for k in sorted(edges_b.keys() - edges_a.keys())]
    edges_removed = [edges_a[k] for k in sorted(edges_a.keys() - edges_b.keys())]
    return {
        "nodes": {"added": added, "removed": removed, "changed": changed, "moved": moved},
        "edges": {"added": edges_added, "removed": edges_removed},
        "summary": {
            "nodes_added": len(added),
            "nodes_removed": len(removed),
            "nodes_changed": len(changed),
            "nodes_moved": len(moved),
            "edges_added": len(edges_added),
            "edges_removed": len(edges_removed),
            "identical": not (added or removed or changed or edges_added or edges_removed),
        },
    }


# --------------------------------------------------------------- templates


@dataclass(frozen=True)
class WorkflowTemplate:
    """A pattern template shipped in ``agents/workflow_templates/<slug>.json``."""

    slug: str
    name: str
    description: str
    graph: dict[str, Any]
    category: str = ""
    tags: tuple[str, ...] = field(default_factory=tuple)

    @property
    def node_count(self) -> int:
        return len(self.graph.get("nodes", []))


@lru_cache(maxsize=1)
def _load_templates(mtimes: tuple[tuple[str, float], ...]) -> tuple[WorkflowTemplate, ...]:
    found = []
    for name, _mtime in mtimes:
        path = TEMPLATES_DIR / name
        data = json.loads(path.read_text(encoding="utf-8"))
        found.append(
            WorkflowTemplate(
                slug=str(data.get("slug") or path.stem),
                name=str(data.get("name") or path.stem),
                description=str(data.get("description", "")),
                graph=data.get("graph") or empty_graph(),
                category=str(data.get("category") or data.get("pattern") or ""),
                tags=tuple(data.get("tags") or ()),
            )
        )
    return tuple(sorted(found, key=lambda t: t.name.lower()))


def workflow_templates() -> list[WorkflowTemplate]:
    """Every template in ``agents/workflow_templates/`` sorted by name (re-read when a file changes)."""
    if not TEMPLATES_DIR.is_dir():
        return []
    mtimes = tuple(sorted((p.name, p.stat().st_mtime) for p in TEMPLATES_DIR.glob("*.json")))
    return list(_load_templates(mtimes))


def workflow_template(slug: str) -> WorkflowTemplate:
    """The template ``slug``. Raises :class:`TemplateNotFoundError`."""
    for template in workflow_templates():
        if template.slug == slug:
            return template
    raise TemplateNotFoundError(f"There is no template {slug!r}.")


def workflow_from_template(*, project: Project, user: Any, template_slug: str, name: str = "") -> Workflow:
    """Create a workflow in ``project`` whose draft is a copy of the template's graph.

    Raises :class:`TemplateNotFoundError` or :class:`GraphShapeError`.
    """
    template = workflow_template(template_slug)
    return workflow_create(
        project=project,
        user=user,
        name=name or template.name,
        graph=copy.deepcopy(template.graph),
        description=template.description,
        audit_verb="workflow.create",
        audit_data={"template": template.slug},
    )


def new_element_id(prefix: str = "n") -> str:
    """A short random id for a node (``n_…``) or an edge (``e_…``)."""
    return f"{prefix}_{uuid.uuid4().hex[:10]}"


# ------------------------------------------------------------ trace ingest

MAX_INGEST_SPANS = 2000


def workflow_trace_ingest(*, workflow: Workflow, user: Any, payload: dict[str, Any]) -> Any:
    """Record the trace an exported Python script sends back (``--studio-url``).

    ``payload``: ``{"status", "error", "inputs", "outputs", "steps": [...],
    "spans": [{"node_id", "model", "input", "output", "input_tokens",
    "output_tokens", "latency_ms" (ms), "started_at" (epoch seconds)}]}``.
    Creates one ``traces.Trace`` (named after the workflow, ``run_id`` empty:
    the run happened outside the studio) with one ``Span`` per model call.
    Costs are recorded as unknown (``cost_usd`` None, ``price_source``
    "unknown"): the script does not know the studio's prices. Inputs and
    outputs are redacted of credential patterns and the project's secrets.
    Raises ``ValueError`` for more than ``MAX_INGEST_SPANS`` spans.
    """
    import datetime as dt

    from traces.models import Span, SpanStatus, Trace, TraceSource
    from traces.recording import project_secret_values
    from traces.redaction import redact
    from traces.services import trace_finish, trace_start

    spans = payload.get("spans") or []
    if len(spans) > MAX_INGEST_SPANS:
        raise ValueError(f"At most {MAX_INGEST_SPANS} spans per trace.")
    secrets = project_secret_values(workflow.project_id)
    failed = payload.get("status") == "failed"

    def when(value: Any) -> dt.datetime:
        try:
            return dt.datetime.fromtimestamp(float(value), tz=dt.UTC)
        except (TypeError, ValueError, OverflowError, OSError):
            return dt.datetime.now(dt.UTC)

    with transaction.atomic():
        trace = trace_start(project_id=workflow.project_id, name=f"{workflow.slug} (python export)")
        Trace.objects.filter(pk=trace.pk).update(source=TraceSource.EXTERNAL)
        rows = []
        for span in spans:
            started = when(span.get("started_at"))
            latency = float(span.get("latency_ms") or 0)
            rows.append(
                Span(
                    trace=trace,
                    project_id=workflow.project_id,
                    kind="chat",
                    name=str(span.get("node_id", ""))[:200],
                    model=str(span.get("model", ""))[:200],
                    node_id=str(span.get("node_id", ""))[:64],
                    input=redact(span.get("input") or {}, secrets),
                    output=redact(span.get("output") or {}, secrets),
                    input_tokens=max(0, int(span.get("input_tokens") or 0)),
                    output_tokens=max(0, int(span.get("output_tokens") or 0)),
                    cost_usd=None,
                    price_source="unknown",
                    latency_ms=latency,
                    status=SpanStatus.OK,
                    started_at=started,
                    ended_at=started + dt.timedelta(milliseconds=latency),
                )
            )
        Span.objects.bulk_create(rows)
        trace_finish(trace)
        _audit(
            project=workflow.project,
            user=user,
            verb="workflow.trace_ingest",
            workflow=workflow,
            data={
                "trace_id": trace.pk,
                "spans": len(rows),
                "status": "failed" if failed else "succeeded",
                "steps": len(payload.get("steps") or []),
                "error": str(payload.get("error") or "")[:500],
            },
        )
    return trace
