"""Import and export of workflows as JSON or YAML.

The export envelope (schema-versioned so files keep working across studio
releases)::

    {"studio_export": 1, "kind": "workflow", "exported_at": "...",
     "workflow": {"name", "slug", "description",
                  "settings": {"max_concurrency", "budget_tokens", "budget_usd"}},
     "source": {"project": slug, "version": int | null},
     "graph": {"schema": 1, "nodes": [...], "edges": [...]}}

Project variables are exported by name only: ``"variables": [names]`` lists
the ``vars.<name>`` the graph reads (their values stay in the project); an
import says which of them the target project lacks.

Stored prompts the nodes use travel along: ``"prompts": [...]`` holds, per
``(slug, label | pinned version)``, the content of the version it points at
when exported; an import creates or reuses each prompt in the target project
and commits a version when the text differs
(``agents.services.prompt_interchange``).

Secret *values* are never exported: config keys that look like credentials
(``api_key``, ``password``, ``token``, ``Authorization`` …) holding a literal
string are blanked, and the export lists where. References to project secrets
by name (keys ending in ``_secret``, ``secret_name``, ``secret_ref``) are kept.

Importing parses with ``json.loads`` or ``yaml.safe_load`` only (no tags, no
aliases, at most ``studio.lib.documents.MAX_DEPTH`` levels deep), validates the envelope and the graph, migrates older envelopes
through :data:`MIGRATIONS`, and creates a *new* workflow with a unique slug.
Nothing in an imported document is ever executed or rendered.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import re
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import Any

import yaml
from django.db import transaction

from agents.engine.varrefs import graph_variable_names
from agents.models import Workflow
from agents.services.prompt_interchange import check_prompt_entries, export_prompts, import_prompts
from agents.services.workflows import check_graph_shape, normalize_graph, workflow_create
from prompts.services import PromptError
from studio.lib.documents import MAX_DEPTH, DocumentTooDeep, check_depth
from studio.lib.jsonsafe import MAX_BUDGET_USD, MAX_POSITIVE_INT, JsonValueError, json_problem, loads_strict
from studio.models import Project

EXPORT_SCHEMA = 1
MAX_DOCUMENT_BYTES = 4 * 1024 * 1024

_SECRETISH = re.compile(r"(pass(word|wd)?|api[_-]?key|token|secret|authorization|credential|private[_-]?key)", re.I)
_REFERENCE_SUFFIXES = ("_secret", "secret_name", "secret_ref", "_secret_name")


class InterchangeError(ValueError):
    """An import document is unusable. ``errors`` is a list of ``{"path", "message"}``
    (``path`` like ``graph.nodes[2].config``); ``str()`` is a one-line summary."""

    code = "invalid_import"

    def __init__(self, message: str, errors: list[dict[str, str]] | None = None):
        super().__init__(message)
        self.message = message
        self.errors = errors or []


# -------------------------------------------------------------------- export


def _scrub(value: Any, path: str, redacted: list[str]) -> Any:
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            key_s = str(key)
            sub = f"{path}.{key_s}"
            is_reference = key_s.lower().endswith(_REFERENCE_SUFFIXES)
            if _SECRETISH.search(key_s) and not is_reference and isinstance(item, str) and item and "{{" not in item:
                out[key] = ""
                redacted.append(sub)
            else:
                out[key] = _scrub(item, sub, redacted)
        return out
    if isinstance(value, list):
        return [_scrub(item, f"{path}[{i}]", redacted) for i, item in enumerate(value)]
    return value


def scrub_secrets(graph: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """A copy of ``graph`` with literal credential values blanked, and the paths blanked."""
    redacted: list[str] = []
    nodes = []
    for i, node in enumerate(graph.get("nodes", [])):
        node = copy.deepcopy(node)
        node["config"] = _scrub(node.get("config") or {}, f"graph.nodes[{i}].config", redacted)
        nodes.append(node)
    return {**graph, "nodes": nodes}, redacted


def _decimal_str(value: Decimal | None) -> str | None:
    return None if value is None else format(value.normalize(), "f")


def export_document(
    workflow: Workflow, *, graph: dict[str, Any] | None = None, version: int | None = None
) -> dict[str, Any]:
    """The export envelope of ``workflow`` (its draft, or ``graph`` of ``version``).

    Returns a JSON-ready dict; ``redacted`` lists the config paths whose literal
    credentials were blanked.
    """
    source_graph = graph if graph is not None else workflow.draft_graph
    if not check_graph_shape(source_graph):
        source_graph = normalize_graph(source_graph)
    clean, redacted = scrub_secrets(source_graph)
    doc: dict[str, Any] = {
        "studio_export": EXPORT_SCHEMA,
        "kind": "workflow",
        "exported_at": dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat(),
        "workflow": {
            "name": workflow.name,
            "slug": workflow.slug,
            "description": workflow.description,
            "settings": {
                "max_concurrency": workflow.max_concurrency,
                "budget_tokens": workflow.budget_tokens,
                "budget_usd": _decimal_str(workflow.budget_usd),
                "timeout_s": getattr(workflow, "timeout_s", None),
            },
        },
        "source": {"project": workflow.project.slug, "version": version},
        "graph": clean,
    }
    if redacted:
        doc["redacted"] = redacted
    names = graph_variable_names(clean)
    if names:
        doc["variables"] = names
    prompts = export_prompts(project_id=workflow.project_id, graph=clean)
    if prompts:
        doc["prompts"] = prompts
    return doc


def dump_json(doc: dict[str, Any]) -> str:
    """Pretty JSON (2-space indent, UTF-8, trailing newline)."""
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


def dump_yaml(doc: dict[str, Any]) -> str:
    """Block-style YAML via ``yaml.safe_dump`` (key order kept)."""
    return yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, default_flow_style=False, width=100)


# -------------------------------------------------------------------- import


def _migrate_0_to_1(doc: dict[str, Any]) -> dict[str, Any]:
    """Version 0 was a bare graph document with a top-level ``name``; wrap it."""
    graph = {k: doc[k] for k in ("schema", "nodes", "edges") if k in doc}
    return {
        "studio_export": 1,
        "kind": "workflow",
        "workflow": {"name": doc.get("name", "Imported workflow"), "description": doc.get("description", "")},
        "graph": graph,
    }


#: ``{from_version: function(doc) -> doc of from_version + 1}``; applied in order on import.
MIGRATIONS: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {0: _migrate_0_to_1}


_YAML_OPEN = (yaml.BlockMappingStartToken, yaml.BlockSequenceStartToken, yaml.FlowMappingStartToken,
              yaml.FlowSequenceStartToken)  # fmt: skip
_YAML_CLOSE = (yaml.BlockEndToken, yaml.FlowMappingEndToken, yaml.FlowSequenceEndToken)


def _check_yaml_tokens(text: str) -> None:
    """Refuse anchors and aliases, and nesting deeper than ``MAX_DEPTH``, while
    scanning — before anything is built, and stopping at the first problem
    (a deeply nested file used to take seconds to fail)."""
    depth = 0
    for token in yaml.scan(text, Loader=yaml.SafeLoader):
        line = token.start_mark.line + 1
        if isinstance(token, (yaml.AliasToken, yaml.AnchorToken)):
            # Aliases let a tiny file expand into a huge object ("billion laughs"); exports never use them.
            raise InterchangeError(
                f"YAML anchors and aliases are not accepted (line {line}).",
                [{"path": f"line {line}", "message": "anchor/alias"}],
            )
        if isinstance(token, _YAML_OPEN):
            depth += 1
            if depth > MAX_DEPTH:
                raise InterchangeError(
                    f"The document is nested deeper than {MAX_DEPTH} levels (line {line}).",
                    [{"path": f"line {line}", "message": f"nested deeper than {MAX_DEPTH} levels"}],
                )
        elif isinstance(token, _YAML_CLOSE):
            depth -= 1


def parse_document(text: str | bytes, *, fmt: str | None = None) -> Any:
    """Parse ``text`` as JSON (``fmt="json"``), YAML (``"yaml"``) or sniff (JSON first).

    Raises :class:`InterchangeError` with the line and column of a syntax error.
    """
    if isinstance(text, bytes):
        if len(text) > MAX_DOCUMENT_BYTES:
            raise InterchangeError(f"The file is larger than {MAX_DOCUMENT_BYTES // (1024 * 1024)} MiB.")
        try:
            text = text.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise InterchangeError(f"The file is not UTF-8 text (byte {exc.start}).") from None
    if len(text) > MAX_DOCUMENT_BYTES:
        raise InterchangeError(f"The document is larger than {MAX_DOCUMENT_BYTES // (1024 * 1024)} MiB.")
    if not text.strip():
        raise InterchangeError("The document is empty.")
    stripped = text.lstrip()
    if fmt == "json" or (fmt is None and stripped[:1] in "{["):
        try:
            return loads_strict(text)  # no NaN, lone surrogates, overflowing numbers or over-deep nesting
        except JsonValueError as exc:
            raise InterchangeError(
                f"{exc.path or 'The document'} {exc.message}.", [{"path": exc.path, "message": exc.message}]
            ) from None
        except json.JSONDecodeError as exc:
            if fmt == "json":
                raise InterchangeError(
                    f"Invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}.",
                    [{"path": f"line {exc.lineno}", "message": exc.msg}],
                ) from None
            # fall through: YAML is a superset of JSON and may still parse it
    try:
        _check_yaml_tokens(text)
        value = yaml.safe_load(text)
        check_depth(value)  # block nesting the token count may have missed
        return value
    except (DocumentTooDeep, RecursionError):
        message = f"The document is nested deeper than {MAX_DEPTH} levels."
        raise InterchangeError(message, [{"path": "", "message": message}]) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise InterchangeError(
            f"Invalid {'YAML' if fmt == 'yaml' else 'JSON/YAML'}{where}: {problem}.",
            [{"path": f"line {mark.line + 1}" if mark else "", "message": str(problem)}],
        ) from None


def _known_node_types() -> set[str] | None:
    try:
        from agents.engine.nodes import node_catalog
    except ImportError:  # engine not importable: skip the type check, shape still applies
        return None
    return {entry["type"] for entry in node_catalog()}


def check_document(doc: Any) -> tuple[dict[str, Any], list[str]]:
    """Validate and migrate an import envelope.

    Returns ``(envelope at EXPORT_SCHEMA, warnings)``. Raises
    :class:`InterchangeError` listing every problem with its path.
    """
    if not isinstance(doc, dict):
        raise InterchangeError(
            "The document must be an object (a studio export).", [{"path": "", "message": "not an object"}]
        )
    if "studio_export" not in doc and {"nodes", "edges"} <= set(doc):
        doc = {**doc, "studio_export": 0}
    version = doc.get("studio_export")
    if not isinstance(version, int) or isinstance(version, bool):
        raise InterchangeError(
            "This is not a studio export: 'studio_export' (the format version) is missing.",
            [{"path": "studio_export", "message": "missing or not an integer"}],
        )
    if version > EXPORT_SCHEMA:
        raise InterchangeError(
            f"This file was exported by a newer studio (format {version}; this one reads up to {EXPORT_SCHEMA}).",
            [{"path": "studio_export", "message": f"unsupported version {version}"}],
        )
    warnings: list[str] = []
    while version < EXPORT_SCHEMA:
        migrate = MIGRATIONS.get(version)
        if migrate is None:
            raise InterchangeError(
                f"No migration from export format {version}.", [{"path": "studio_export", "message": "no migration"}]
            )
        doc = migrate(doc)
        warnings.append(f"Migrated from export format {version} to {version + 1}.")
        version = doc["studio_export"]

    errors: list[dict[str, str]] = []
    if doc.get("kind", "workflow") != "workflow":
        errors.append({"path": "kind", "message": f"expected 'workflow', got {doc.get('kind')!r}"})
    meta = doc.get("workflow")
    if not isinstance(meta, dict):
        errors.append({"path": "workflow", "message": "missing workflow object (name, description, settings)"})
        meta = {}
    elif not isinstance(meta.get("name"), str) or not meta.get("name", "").strip():
        errors.append({"path": "workflow.name", "message": "a non-empty name is required"})
    settings = meta.get("settings") or {}
    if not isinstance(settings, dict):
        errors.append({"path": "workflow.settings", "message": "must be an object"})
        settings = {}
    for key in ("max_concurrency", "budget_tokens", "timeout_s"):
        value = settings.get(key)
        if value is not None and (
            not isinstance(value, int)
            or isinstance(value, bool)
            or value < 0
            or value > MAX_POSITIVE_INT
            or (key == "max_concurrency" and value < 1)
        ):
            errors.append(
                {"path": f"workflow.settings.{key}", "message": f"must be a positive integer up to {MAX_POSITIVE_INT}"}
            )
    if settings.get("budget_usd") is not None:
        try:
            budget = Decimal(str(settings["budget_usd"]))
            if not budget.is_finite() or not 0 <= budget <= Decimal(MAX_BUDGET_USD) or budget != round(budget, 6):
                raise InvalidOperation
        except (InvalidOperation, ValueError):
            errors.append(
                {
                    "path": "workflow.settings.budget_usd",
                    "message": f"must be a number from 0 to {MAX_BUDGET_USD} with at most 6 decimals",
                }
            )
    for key in ("name", "slug", "description"):
        bad = json_problem(meta.get(key), path=f"workflow.{key}")
        if bad is not None:
            errors.append({"path": bad.path, "message": bad.message})
    prompt_entries, prompt_errors = check_prompt_entries(doc.get("prompts"))
    errors += prompt_errors
    graph = doc.get("graph")
    for issue in check_graph_shape(graph):
        errors.append({"path": "graph" + (f".{issue.path}" if issue.path else ""), "message": issue.message})
    if not errors:
        known = _known_node_types()
        if known is not None:
            for i, node in enumerate(graph["nodes"]):
                if node["type"] not in known:
                    errors.append({"path": f"graph.nodes[{i}].type", "message": f"unknown node type {node['type']!r}"})
    if errors:
        first = errors[0]
        raise InterchangeError(
            f"The import has {len(errors)} problem(s); first: {first['path'] or 'document'}: {first['message']}.",
            errors,
        )
    if "prompts" in doc:
        doc = {**doc, "prompts": prompt_entries}
    return doc, warnings


def imported_name(*, project: Project, name: str) -> str:
    """The name an imported workflow gets: ``name`` when no workflow of the project has it, otherwise
    ``"<name> (imported)"`` (then ``"(imported 2)"``, …) so the copy is told apart from its original."""
    name = name.strip()[:180]
    taken = set(Workflow.objects.filter(project=project).values_list("name", flat=True))
    if name not in taken:
        return name
    candidate = f"{name} (imported)"
    n = 2
    while candidate in taken:
        candidate = f"{name} (imported {n})"
        n += 1
    return candidate


def import_document(
    *,
    project: Project,
    user: Any,
    text: str | bytes | None = None,
    doc: Any = None,
    fmt: str | None = None,
    name: str | None = None,
) -> tuple[Workflow, list[str]]:
    """Create a new workflow in ``project`` from an export (text or parsed ``doc``).

    The workflow gets a unique slug (the exported one when free). Returns
    ``(workflow, warnings)``; warnings include graph problems that would
    block publishing (a draft may be incomplete). Raises
    :class:`InterchangeError`. Never executes, renders or fetches anything.
    """
    if doc is None:
        if text is None:
            raise InterchangeError("Nothing to import.")
        doc = parse_document(text, fmt=fmt)
    envelope, warnings = check_document(doc)
    meta = envelope["workflow"]
    settings = meta.get("settings") or {}
    clean_settings: dict[str, Any] = {}
    if settings.get("max_concurrency"):
        clean_settings["max_concurrency"] = settings["max_concurrency"]
    if settings.get("budget_tokens") is not None:
        clean_settings["budget_tokens"] = settings["budget_tokens"]
    if settings.get("budget_usd") is not None:
        clean_settings["budget_usd"] = Decimal(str(settings["budget_usd"]))
    if settings.get("timeout_s") is not None:
        clean_settings["timeout_s"] = settings["timeout_s"]
    source = envelope.get("source") if isinstance(envelope.get("source"), dict) else {}
    with transaction.atomic():  # the prompts and the workflow, or nothing
        try:
            graph, prompt_warnings = import_prompts(
                project=project,
                user=user,
                entries=envelope.get("prompts") or [],
                graph=envelope["graph"],
                source=f'the import of workflow "{str(meta["name"])[:200]}"'
                + (f" from project {source['project']}" if isinstance(source.get("project"), str) else ""),
            )
        except PromptError as exc:  # e.g. a prompt created with the same slug meanwhile
            raise InterchangeError(
                f"A prompt could not be imported: {exc.message}", [{"path": "prompts", "message": exc.message}]
            ) from None
        warnings += prompt_warnings
        workflow = workflow_create(
            project=project,
            user=user,
            name=(name or "").strip() or imported_name(project=project, name=str(meta["name"])),
            slug=meta.get("slug") if isinstance(meta.get("slug"), str) else None,
            description=str(meta.get("description") or ""),
            graph=graph,
            settings=clean_settings,
            audit_verb="workflow.import",
            audit_data={"format_version": envelope["studio_export"]},
        )
    try:
        from agents.services.workflows import engine_issues

        problems = engine_issues(workflow.draft_graph, project_id=workflow.project_id)
    except ImportError:
        problems = []
    listed = envelope.get("variables")
    wanted = (
        {n for n in listed[:1000] if isinstance(n, str) and 0 < len(n) <= 64} if isinstance(listed, list) else set()
    )
    wanted |= set(graph_variable_names(workflow.draft_graph))
    if wanted:
        from studio.models import Variable

        have = set(Variable.objects.filter(project=project, name__in=wanted).values_list("name", flat=True))
        missing = sorted(wanted - have)[:50]
        if missing:
            warnings.append(
                "Missing project variables (add them under Settings → Variables): " + ", ".join(missing) + "."
            )
    warnings.extend(f"To fix before publishing: {p.message}" for p in problems)
    return workflow, warnings
