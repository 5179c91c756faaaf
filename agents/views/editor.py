"""The visual builder: the canvas page, its HTMX panels, version history and templates.

The canvas (``static/canvas/*.js``) talks JSON to ``agents.api.workflows``
(draft autosave with ``base_revision``, validation, publish); panels and forms
are HTMX partials rendered here (``templates/agents/partials/editor-*.html``).
Every object is fetched through the ``access_*`` selectors.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db.models import Max
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from pydantic import ValidationError

from agents.fragments import RunView, StepView, dom_key, node_icon, pretty_json
from agents.models import Run, RunStatus, Workflow
from agents.selectors import access_run, access_workflow, access_workflow_version, can_edit, can_run, runs_visible
from agents.services import workflows as svc
from agents.services.diff import run_diff
from studio.lib.documents import DocumentTooDeep, loads_json
from studio.lib.jsonsafe import positive_int
from studio.models import Project
from studio.selectors import access_project, projects_visible, user_role

KIND_ORDER = ["io", "llm", "logic", "data", "integration", "human"]
KIND_TITLES = {
    "io": "Inputs & outputs",
    "llm": "Models & agents",
    "logic": "Logic",
    "data": "Data",
    "integration": "Integrations",
    "human": "Human in the loop",
}
#: Config keys every node type has; shown under "Errors & retries".
COMMON_KEYS = ("retry", "timeout_s", "on_error", "default_outputs")
LONG_TEXT_KEYS = {"instructions", "template", "content", "expression", "condition", "body", "system", "prompt_text"}
FIELD_TYPES = ["str", "int", "float", "bool", "list", "object", "enum"]
ITEM_TYPES = ["", "str", "int", "float", "bool", "object"]


def _page(request: HttpRequest, template: str, context: dict[str, Any], status: int = 200) -> HttpResponse:
    project = context.get("project")
    context = {
        "nav_projects": projects_visible(request.user),
        "role": user_role(request.user, project) if project else None,
        **context,
    }
    return render(request, template, context, status=status)


def _workflow(
    request: HttpRequest, project_slug: str, workflow_slug: str, perm: str = "view"
) -> tuple[Project, Workflow]:
    project = access_project(user=request.user, slug=project_slug)
    return project, access_workflow(user=request.user, project=project, slug=workflow_slug, perm=perm)


# ---------------------------------------------------------------- the editor


def editor_context(request: HttpRequest, project: Project, workflow: Workflow) -> dict[str, Any]:
    """Everything the canvas needs at load time, as one JSON blob (``json_script``)."""
    args = [project.slug, workflow.slug]
    run_marker, node_marker = 987654321, "NODE_MARKER"

    def run_url(name: str, *extra: Any) -> str:
        url = reverse(name, args=[run_marker, *extra])
        return url.replace(str(run_marker), "{run}").replace(node_marker, "{node}")

    catalog = svc.node_catalog_with_ports()
    latest = workflow.versions.aggregate(m=Max("version"))["m"]
    return {
        "workflow": {
            "id": workflow.pk,
            "slug": workflow.slug,
            "name": workflow.name,
            "project": project.slug,
            "draft_revision": workflow.draft_revision,
            "latest_version": latest,
        },
        "graph": workflow.draft_graph,
        "ports": svc.graph_ports(workflow.draft_graph),
        "catalog": [
            {
                **{k: e[k] for k in ("type", "kind", "title", "description", "default_config", "default_ports")},
                "icon": str(node_icon(e["type"])),
            }
            for e in catalog
        ],
        "kinds": [{"kind": k, "title": KIND_TITLES.get(k, k.title())} for k in KIND_ORDER],
        "can_edit": can_edit(user=request.user, workflow=workflow),
        "can_run": can_run(user=request.user, workflow=workflow),
        "urls": {
            "api": f"/api/v1/workflows/{workflow.pk}/",
            "draft": f"/api/v1/workflows/{workflow.pk}/draft/",
            "validate": f"/api/v1/workflows/{workflow.pk}/validate/",
            "publish": f"/api/v1/workflows/{workflow.pk}/publish/",
            "ports": "/api/v1/node-ports/",
            "export": f"/api/v1/workflows/{workflow.pk}/export/",
            "import": f"/api/v1/projects/{project.slug}/workflows/import/",
            "inspector": reverse("editor-inspector", args=args),
            "run_form": reverse("editor-run", args=args),
            "runs": reverse("editor-runs", args=args),
            "step": run_url("editor-step", node_marker),
            "run_live": run_url("editor-run-live"),
            "history": reverse("workflow-history", args=args),
        },
        "user": request.user.get_username(),
    }


@login_required
@require_GET
def workflow_editor(request: HttpRequest, project_slug: str, workflow_slug: str) -> HttpResponse:
    """The canvas page. Viewers get it read-only (no palette, no saving)."""
    project, workflow = _workflow(request, project_slug, workflow_slug)
    return _page(
        request,
        "agents/workflow_editor.html",
        {
            "project": project,
            "workflow": workflow,
            "boot": editor_context(request, project, workflow),
        },
    )


# ---------------------------------------------------------------- inspector


def _schema_kind(name: str, prop: dict[str, Any]) -> tuple[str, bool]:
    """How a config property is edited (``signature``, ``messages``, ``prompt``, ``endpoint``, ``enum``,
    ``text``, ``longtext``, ``number``, ``integer``, ``bool``, ``json``) and whether it is nullable."""
    nullable = False
    options = prop.get("anyOf")
    if options:
        non_null = [o for o in options if o.get("type") != "null"]
        nullable = len(non_null) < len(options)
        prop = non_null[0] if len(non_null) == 1 else {"type": "json"}
    ref = prop.get("$ref", "") or prop.get("items", {}).get("$ref", "")
    if ref.endswith("/FieldSpec"):
        return "signature", nullable
    if ref.endswith("/Message"):
        return "messages", nullable
    if ref.endswith("/PromptSource"):
        return "prompt", nullable
    if name == "endpoint":
        return "endpoint", nullable
    if "enum" in prop:
        return "enum", nullable
    kind = prop.get("type")
    if kind == "string":
        return ("longtext" if name in LONG_TEXT_KEYS else "text"), nullable
    if kind == "integer":
        return "integer", nullable
    if kind == "number":
        return "number", nullable
    if kind == "boolean":
        return "bool", nullable
    return "json", nullable


def _resolved(prop: dict[str, Any]) -> dict[str, Any]:
    for option in prop.get("anyOf", []):
        if option.get("type") != "null":
            return option
    return prop


def _label(name: str) -> str:
    return {
        "timeout_s": "Timeout (s)",
        "on_error": "On error",
        "default_outputs": "Default outputs",
        "inputs": "Input fields",
        "outputs": "Output fields",
        "fields": "Fields",
    }.get(name, name.replace("_", " ").capitalize())


class InspectorForm:
    """A form generated from a node type's config JSON Schema.

    Reads the current node (``node``) and, when posted, the form fields; builds
    the config, validates it with the node type's pydantic model, and keeps
    per-property and per-row error messages for inline display.
    """

    def __init__(self, *, node: dict[str, Any], node_type: Any, project: Project, data: Any = None):
        self.node = node
        self.node_type = node_type
        self.project = project
        self.schema = node_type.Config.model_json_schema()
        self.errors: dict[str, list[str]] = {}
        self.row_errors: dict[str, dict[int, list[str]]] = {}
        self.problems: list[str] = []
        self.label = node.get("label", "")
        self.config: dict[str, Any] = dict(node.get("config") or {})
        self.valid = False
        self.ports: dict[str, Any] = {}
        self.opened = data is None
        if data is not None:
            self.label = str(data.get("label", self.label))[:200]
            self.config = self._read(data)
            action = data.get("_action", "")
            if action:
                self._apply_action(action)
        self._validate()

    # ----------------------------------------------------------- form kinds

    def _flat_columns(self, ref: str) -> list[dict[str, Any]] | None:
        """The columns of a ``$defs`` object whose properties are all scalars (text, number, yes/no, choice)."""
        definition = self.schema.get("$defs", {}).get(ref.rsplit("/", 1)[-1], {})
        props = definition.get("properties") or {}
        columns = []
        for col, spec in props.items():
            kind = (
                "enum"
                if "enum" in spec
                else {"string": "text", "integer": "integer", "number": "number", "boolean": "bool"}.get(
                    spec.get("type", "")
                )
            )
            if kind is None:
                return None
            columns.append(
                {
                    "name": col,
                    "label": _label(col),
                    "kind": kind,
                    "choices": spec.get("enum", []),
                    "default": spec.get("default", False if kind == "bool" else ""),
                    "required": col in (definition.get("required") or []),
                    "help": spec.get("description", ""),
                    "min": spec.get("minimum"),
                    "max": spec.get("maximum"),
                }
            )
        return columns or None

    def _kind(self, name: str, prop: dict[str, Any]) -> tuple[str, bool]:
        """:func:`_schema_kind`, with JSON boxes made forms where the shape allows: a list of flat objects is
        ``rows`` (one row per item, typed inputs), one flat object is ``object`` (typed inputs, switched off = none)."""
        kind, nullable = _schema_kind(name, prop)
        if kind != "json":
            return kind, nullable
        plain = next((o for o in prop.get("anyOf", [prop]) if o.get("type") != "null"), prop)
        if plain.get("type") == "array" and "$ref" in plain.get("items", {}):
            if self._flat_columns(plain["items"]["$ref"]):
                return "rows", nullable
        elif "$ref" in plain and self._flat_columns(plain["$ref"]):
            return "object", nullable
        return kind, nullable

    def columns(self, name: str) -> list[dict[str, Any]]:
        """The typed columns of a ``rows`` or ``object`` property."""
        prop = self.schema["properties"][name]
        plain = next((o for o in prop.get("anyOf", [prop]) if o.get("type") != "null"), prop)
        return self._flat_columns(plain.get("$ref") or plain.get("items", {}).get("$ref", "")) or []

    @staticmethod
    def _typed(column: dict[str, Any], raw: Any) -> Any:
        if column["kind"] == "bool":
            return raw in ("on", "true", "1")
        text = str(raw if raw is not None else "").strip()
        if column["kind"] in ("integer", "number"):
            if text == "":
                return column["default"] if column["default"] != "" else None
            try:
                return int(text) if column["kind"] == "integer" else float(text)
            except ValueError:
                return text  # pydantic reports it inline
        return text

    def _read_json_view(self, data: Any, name: str) -> tuple[bool, Any]:
        """(used, value) of the property's "Edit as JSON" box."""
        if not data.get(f"cfg-{name}-asjson"):
            return False, None
        raw = str(data.get(f"cfg-{name}-json", "")).strip()
        try:
            return True, loads_json(raw) if raw else None
        except json.JSONDecodeError as exc:
            self.errors.setdefault(name, []).append(
                f"Not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})."
            )
        except DocumentTooDeep as exc:
            self.errors.setdefault(name, []).append(str(exc))
        return True, self.config.get(name)

    # --------------------------------------------------------------- reading

    def _read(self, data: Any) -> dict[str, Any]:
        config: dict[str, Any] = {}
        for name, prop in self.schema.get("properties", {}).items():
            kind, nullable = self._kind(name, prop)
            key = f"cfg-{name}"
            if kind == "signature":
                config[name] = self._read_rows(
                    data, name, ("name", "type", "description", "required", "choices", "items", "default")
                )
                config[name] = [self._clean_field(row) for row in config[name]]
            elif kind == "messages":
                config[name] = [
                    {"role": r.get("role") or "user", "content": r.get("content", "")}
                    for r in self._read_rows(data, name, ("role", "content"))
                ]
            elif kind in ("rows", "object"):
                used, value = self._read_json_view(data, name)
                if used:
                    config[name] = value
                elif kind == "rows":
                    columns = self.columns(name)
                    rows = self._read_rows(data, name, tuple(c["name"] for c in columns))
                    config[name] = [
                        {
                            c["name"]: self._typed(c, row.get(c["name"]))
                            for c in columns
                            if c["kind"] == "bool" or str(row.get(c["name"], "")).strip() != "" or c["required"]
                        }
                        for row in rows
                    ]
                elif data.get(f"{key}-on"):
                    config[name] = {
                        c["name"]: self._typed(c, data.get(f"{key}-{c['name']}")) for c in self.columns(name)
                    }
                else:
                    config[name] = None
            elif kind == "prompt":
                slug = data.get(f"{key}-slug", "")
                pointer = data.get(f"{key}-pointer", "").strip()
                if not slug:
                    config[name] = None
                elif positive_int(pointer) is not None:
                    config[name] = {"slug": slug, "version": positive_int(pointer)}
                else:
                    config[name] = {"slug": slug, "label": pointer or "production"}
            elif kind == "bool":
                config[name] = data.get(key) in ("on", "true", "1")
            elif kind in ("integer", "number"):
                raw = str(data.get(key, "")).strip()
                if raw == "":
                    config[name] = None if nullable else _resolved(prop).get("default", prop.get("default"))
                else:
                    try:
                        config[name] = int(raw) if kind == "integer" else float(raw)
                    except ValueError:
                        config[name] = raw  # pydantic reports it inline
            elif kind == "json":
                raw = str(data.get(key, "")).strip()
                if raw == "":
                    kind_of = _resolved(prop).get("type")
                    empty = [] if kind_of == "array" else ({} if kind_of == "object" else None)
                    config[name] = None if nullable else prop.get("default", empty)
                else:
                    try:
                        config[name] = loads_json(raw)
                    except json.JSONDecodeError as exc:
                        self.errors.setdefault(name, []).append(
                            f"Not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})."
                        )
                        config[name] = self.config.get(name)
                    except DocumentTooDeep as exc:
                        self.errors.setdefault(name, []).append(str(exc))
                        config[name] = self.config.get(name)
            else:
                value = data.get(key, "")
                config[name] = None if (nullable and value == "") else value
        return {k: v for k, v in config.items() if v is not None or k in self.config or k == "prompt"}

    @staticmethod
    def _read_rows(data: Any, name: str, columns: tuple[str, ...]) -> list[dict[str, Any]]:
        count = int(data.get(f"cfg-{name}-count", 0) or 0)
        rows = []
        for i in range(min(count, 200)):
            if data.get(f"cfg-{name}-{i}-delete"):
                continue
            rows.append({c: data.get(f"cfg-{name}-{i}-{c}", "") for c in columns})
        return rows

    @staticmethod
    def _clean_field(row: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": row.get("name", "").strip(),
            "type": row.get("type") or "str",
            "description": row.get("description", "").strip(),
            "required": row.get("required") in ("on", "true", "1"),
        }
        if out["type"] == "enum":
            out["choices"] = [c.strip() for c in str(row.get("choices", "")).split(",") if c.strip()]
        if out["type"] == "list" and row.get("items"):
            out["items"] = row["items"]
        raw_default = str(row.get("default", "")).strip()
        if raw_default and not out["required"]:
            try:
                out["default"] = loads_json(raw_default)
            except (json.JSONDecodeError, DocumentTooDeep):
                out["default"] = raw_default
        return out

    def _apply_action(self, action: str) -> None:
        verb, _, name = action.partition(":")
        if verb == "add" and isinstance(self.config.get(name), list):
            kind, _ = self._kind(name, self.schema["properties"].get(name, {}))
            if kind == "rows":
                blank: dict[str, Any] = {
                    c["name"]: c["default"] if c["default"] != "" or not c["choices"] else c["choices"][0]
                    for c in self.columns(name)
                }
            elif kind == "messages":
                blank = {"role": "user", "content": ""}
            else:
                blank = {"name": "", "type": "str", "description": "", "required": True}
            self.config[name] = [*self.config[name], blank]

    # ------------------------------------------------------------ validation

    def _validate(self) -> None:
        try:
            parsed = self.node_type.parse_config(self.config)
        except ValidationError as exc:
            for error in exc.errors():
                loc = list(error["loc"])
                prop = str(loc[0]) if loc else "__all__"
                message = error["msg"].removeprefix("Value error, ")
                if len(loc) >= 2 and isinstance(loc[1], int):
                    where = f"{loc[2]}: " if len(loc) > 2 else ""
                    self.row_errors.setdefault(prop, {}).setdefault(loc[1], []).append(where + message)
                else:
                    suffix = "." + ".".join(str(p) for p in loc[1:]) if len(loc) > 1 else ""
                    self.errors.setdefault(prop, []).append((suffix.lstrip(".") + ": " if suffix else "") + message)
            return
        if self.errors:
            return
        node = {
            "id": self.node.get("id", "node"),
            "type": self.node["type"],
            "label": self.label,
            "config": self.normalized(parsed),
        }
        self.ports = svc.node_ports_of(node)
        if self.ports["error"]:
            self.errors.setdefault("__all__", []).append(self.ports["error"])
            return
        self.problems = [p.message for p in self.node_type.check(parsed)]
        self.config = node["config"]
        self.valid = True

    def normalized(self, parsed: Any) -> dict[str, Any]:
        """The config as stored: JSON-ready, the common settings left out while at their defaults."""
        data = parsed.model_dump(mode="json")
        defaults = {"retry": None, "timeout_s": None, "on_error": "fail", "default_outputs": None}
        return {
            k: v
            for k, v in data.items()
            if not (k in defaults and v == defaults[k] and k not in (self.node.get("config") or {}))
        }

    # --------------------------------------------------------------- display

    def sections(self) -> list[dict[str, Any]]:
        """The properties to render, main ones first, then the common ones (``advanced``)."""
        out = []
        for name, prop in self.schema.get("properties", {}).items():
            kind, nullable = self._kind(name, prop)
            value = self.config.get(name, _resolved(prop).get("default", prop.get("default")))
            field: dict[str, Any] = {
                "name": name,
                "label": _label(name),
                "kind": kind,
                "nullable": nullable,
                "value": value,
                "advanced": name in COMMON_KEYS,
                "errors": self.errors.get(name, []),
                "row_errors": self.row_errors.get(name, {}),
                "help": _resolved(prop).get("description", ""),
            }
            if kind == "enum":
                field["choices"] = _resolved(prop)["enum"]
            if kind == "json":
                field["text"] = "" if value in (None, {}, []) else json.dumps(value, indent=2, ensure_ascii=False)
            if kind == "signature":
                field["rows"] = [
                    {
                        **{"description": "", "required": True, "choices": [], "items": None, "default": None},
                        **row,
                        "choices_text": ", ".join(row.get("choices") or []),
                        "default_text": "" if row.get("default") is None else json.dumps(row.get("default")),
                        "errors": self.row_errors.get(name, {}).get(i, []),
                    }
                    for i, row in enumerate(value or [])
                ]
            if kind in ("rows", "object"):
                columns = self.columns(name)
                field["columns"] = columns
                field["text"] = "" if value in (None, {}, []) else json.dumps(value, indent=2, ensure_ascii=False)
                if kind == "rows":
                    field["rows"] = [
                        {
                            "cells": [{**c, "value": (row or {}).get(c["name"], c["default"])} for c in columns],
                            "errors": self.row_errors.get(name, {}).get(i, []),
                        }
                        for i, row in enumerate(value if isinstance(value, list) else [])
                    ]
                else:
                    field["on"] = isinstance(value, dict)
                    field["cells"] = [
                        {
                            **c,
                            "value": (value or {}).get(c["name"], c["default"])
                            if isinstance(value, dict)
                            else c["default"],
                        }
                        for c in columns
                    ]
            if kind == "messages":
                field["rows"] = [
                    {**row, "errors": self.row_errors.get(name, {}).get(i, [])} for i, row in enumerate(value or [])
                ]
            if kind == "prompt":
                value = value or {}
                field["slug"] = value.get("slug", "")
                field["pointer"] = str(value.get("version") or value.get("label") or "production")
            out.append(field)
        return out

    @property
    def general_errors(self) -> list[str]:
        """Errors that belong to no single property."""
        return self.errors.get("__all__", [])

    def error_ids(self) -> list[tuple[str, list[str]]]:
        """Every error container id with its messages (empty to clear), for out-of-band swaps."""
        ids: list[tuple[str, list[str]]] = [("insp-err-__all__", self.errors.get("__all__", []))]
        for name, prop in self.schema.get("properties", {}).items():
            ids.append((f"insp-err-{name}", self.errors.get(name, [])))
            kind, _ = self._kind(name, prop)
            if kind in ("signature", "messages", "rows"):
                for i in range(len(self.config.get(name) or [])):
                    ids.append((f"insp-err-{name}-{i}", self.row_errors.get(name, {}).get(i, [])))
        return ids

    def result(self) -> dict[str, Any]:
        """What the canvas applies to the node (only when valid)."""
        return {
            "node_id": self.node.get("id"),
            "valid": self.valid,
            "label": self.label,
            "opened": self.opened,
            "config": self.config if self.valid else None,
            "ports": self.ports if self.valid else None,
            "problems": self.problems,
        }


def _script_json(value: Any) -> SafeString:
    """JSON safe to embed in a ``<script type="application/json">`` (``<``, ``>``, ``&`` escaped)."""
    text = json.dumps(value, ensure_ascii=False)
    return mark_safe(text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026"))  # noqa: S308


def _project_choices(project: Project) -> dict[str, Any]:
    from prompts.models import Prompt, PromptLabel
    from traces.models import ModelEndpoint

    endpoints = list(
        ModelEndpoint.objects.filter(project=project, is_active=True).order_by("name").values("slug", "name", "model")
    )
    prompts = list(Prompt.objects.filter(project=project).order_by("name").values("id", "slug", "name"))
    labels: dict[int, list[str]] = {}
    for prompt_id, label in PromptLabel.objects.filter(prompt__project=project).values_list("prompt_id", "name"):
        labels.setdefault(prompt_id, []).append(label)
    for prompt in prompts:
        prompt["labels"] = sorted(labels.get(prompt["id"], []))
    return {"endpoints": endpoints, "prompts": prompts}


@login_required
@require_POST
def editor_inspector(request: HttpRequest, project_slug: str, workflow_slug: str) -> HttpResponse:
    """The node configuration form (HTMX).

    ``_open=1`` with ``node`` (the node's JSON from the canvas) renders the form;
    otherwise the posted fields are validated and, with ``_swap=errors``, only the
    inline error containers and the result are swapped out of band (the form being
    typed in is left alone). The result (``#inspector-result``) carries the
    normalized config and ports the canvas applies when valid.
    """
    project, workflow = _workflow(request, project_slug, workflow_slug)
    try:
        node = loads_json(request.POST.get("node", ""))
        assert isinstance(node, dict) and isinstance(node.get("type"), str)
    except (json.JSONDecodeError, AssertionError, DocumentTooDeep):
        return HttpResponse("The node could not be read (invalid JSON, or nested too deeply).", status=400)
    from agents.engine.nodes import get_node_type

    node_type = get_node_type(node["type"])
    editable = can_edit(user=request.user, workflow=workflow)
    if node_type is None:
        return render(request, "agents/partials/editor-inspector.html", {"unknown_type": node["type"], "node": node})
    data = None if request.POST.get("_open") or not editable else request.POST
    form = InspectorForm(node=node, node_type=node_type, project=project, data=data)
    choices = _project_choices(project)
    context = {
        "form": form,
        "node": node,
        "node_type": node_type,
        "workflow": workflow,
        "project": project,
        "editable": editable,
        "choices": choices,
        "endpoint_slugs": [e["slug"] for e in choices["endpoints"]],
        "prompt_slugs": [p["slug"] for p in choices["prompts"]],
        "field_types": FIELD_TYPES,
        "item_types": ITEM_TYPES,
        "result_json": _script_json(form.result()),
        "icon": node_icon(node["type"]),
        "node_json": json.dumps({**node, "label": form.label, "config": form.config}),
    }
    if request.POST.get("_swap") == "errors":
        return render(request, "agents/partials/editor-inspector-errors.html", context)
    return render(request, "agents/partials/editor-inspector.html", context)


# ---------------------------------------------------------------------- runs


def _input_specs(graph: dict[str, Any]) -> list[Any]:
    from agents.engine import input_signature

    try:
        return list(input_signature(graph).fields)
    except Exception:  # noqa: BLE001 - an invalid input node: no form, the run will report it
        return []


@login_required
@require_http_methods(["GET", "POST"])
def editor_run(request: HttpRequest, project_slug: str, workflow_slug: str) -> HttpResponse:
    """GET: the inputs form built from the draft's input signature. POST: start a run of the draft.

    Bad inputs or an invalid graph re-render the form with the reasons (400).
    A started run renders the live panel the canvas subscribes to.
    """
    from agents.services.budgets import ProjectBudgetExceededError
    from agents.services.runs import GraphInvalidError, RunInputError, run_start
    from agents.views.pages import RunInputsForm

    project, workflow = _workflow(request, project_slug, workflow_slug)
    allowed = can_run(user=request.user, workflow=workflow)
    specs = _input_specs(workflow.draft_graph)
    form = RunInputsForm(specs, request.POST if request.method == "POST" else None)
    context: dict[str, Any] = {"form": form, "project": project, "workflow": workflow, "can_run": allowed, "issues": []}
    if request.method == "GET":
        return render(request, "agents/partials/editor-run-form.html", context)
    if not allowed:
        raise PermissionDenied("You may not run this workflow.")
    if form.is_valid():
        try:
            run = run_start(workflow=workflow, user=request.user, inputs=form.inputs())
        except ProjectBudgetExceededError as exc:
            form.add_error(None, str(exc))
        except RunInputError as exc:
            form.add_service_errors(exc.errors)
        except GraphInvalidError as exc:
            context["issues"] = [{"message": i.message, "node_id": i.node_id} for i in exc.issues]
        else:
            return _run_live(request, run)
    return render(request, "agents/partials/editor-run-form.html", context, status=400)


def _run_live(request: HttpRequest, run: Run) -> HttpResponse:
    """The editor's live panel of ``run``: it follows the run over the same websocket fragments as the
    run page (``agents.fragments``); ``static/canvas/editor.js`` paints the canvas from them."""
    nodes = [
        {"id": str(n.get("id")), "key": dom_key(str(n.get("id")))}
        for n in run.graph.get("nodes", [])
        if n.get("id") is not None
    ]
    return render(
        request,
        "agents/partials/editor-run-live.html",
        {"run": RunView.from_run(run), "run_obj": run, "nodes": nodes},
    )


@login_required
@require_GET
def editor_run_live(request: HttpRequest, run_id: int) -> HttpResponse:
    """The live panel of an earlier run (the Runs tab's "show on canvas"): replays its events."""
    return _run_live(request, access_run(user=request.user, pk=run_id))


@login_required
@require_GET
def editor_step(request: HttpRequest, run_id: int, node_id: str) -> HttpResponse:
    """One node's step(s) in a run: inputs, outputs, tokens, cost, duration; rerun and approval actions."""
    return _step_panel(request, access_run(user=request.user, pk=run_id), node_id)


def _step_panel(request: HttpRequest, run: Run, node_id: str) -> HttpResponse:
    steps = [StepView.from_step(s) for s in run.steps.filter(node_id=node_id).order_by("started_at", "id")]
    node = next((n for n in run.graph.get("nodes", []) if n.get("id") == node_id), None)
    if node is None:
        raise Http404("No such node in this run.")
    waiting = [s for s in steps if s.status == "waiting"]
    allowed = can_run(user=request.user, workflow=run.workflow)
    return render(
        request,
        "agents/partials/editor-step.html",
        {
            "run": run,
            "node": node,
            "steps": steps,
            "can_run": allowed,
            "can_decide": bool(waiting) and node.get("type") == "approval" and allowed,
            "waiting_iteration": waiting[0].iteration if waiting else "",
        },
    )


@login_required
@require_POST
def editor_rerun(request: HttpRequest, run_id: int, node_id: str) -> HttpResponse:
    """Rerun from ``node_id``: a new run reusing every finished step upstream of it."""
    from agents.services.budgets import ProjectBudgetExceededError
    from agents.services.runs import GraphInvalidError, RunInputError, run_rerun_from

    run = access_run(user=request.user, pk=run_id, perm="run")
    try:
        new_run = run_rerun_from(run=run, node_id=node_id, user=request.user)
    except (ValueError, RunInputError, GraphInvalidError, ProjectBudgetExceededError) as exc:
        return HttpResponse(f'<p class="field__error" role="alert">{escape(str(exc))}</p>', status=400)
    if request.POST.get("from") == "run-page":  # the run page's button: open the new run's page
        response = HttpResponse(status=204)
        response["HX-Redirect"] = reverse("run-detail", args=[new_run.pk])
        return response
    return render(
        request, "agents/partials/editor-run-live.html", {"run": RunView.from_run(new_run), "run_obj": new_run}
    )


@login_required
@require_POST
def editor_approval(request: HttpRequest, run_id: int, node_id: str) -> HttpResponse:
    """Approve or reject the waiting approval step of ``node_id``; the run resumes on its own."""
    from agents.services.approvals import ApprovalDataError, approval_decide
    from agents.services.runs import RunStateError

    run = access_run(user=request.user, pk=run_id, perm="run")
    from_page = request.POST.get("from") == "run-page"
    decision = request.POST.get("decision")
    data: Any = None
    problem = "" if decision in ("approve", "reject") else "Choose approve or reject."
    raw = str(request.POST.get("data", "")).strip()
    if not problem and decision == "approve" and raw:
        try:
            data = loads_json(raw)
        except (json.JSONDecodeError, DocumentTooDeep) as exc:
            problem = f"The edited data is not valid JSON: {exc}"
        else:
            reviewed = run.steps.filter(node_id=node_id, iteration=request.POST.get("iteration", ""))
            data = None if data == reviewed.values_list("inputs", flat=True).first() else data  # unchanged: no edit
    if not problem:
        try:
            approval_decide(
                run=run,
                node_id=node_id,
                iteration=request.POST.get("iteration", ""),
                approved=decision == "approve",
                data=data,
                comment=request.POST.get("comment", "")[:2000],
                user=request.user,
            )
        except (ApprovalDataError, RunStateError, ValueError) as exc:
            problem = str(exc)
    if from_page:  # the run page's form: back to the run page, which follows the resumed run live
        if problem:
            messages.error(request, f"Not decided: {problem}")
        else:
            messages.success(request, "Approved — the run goes on." if decision == "approve" else "Rejected.")
        return redirect(reverse("run-detail", args=[run.pk]))
    if problem:
        return HttpResponse(f'<p class="field__error" role="alert">{escape(problem)}</p>', status=400)
    run.refresh_from_db()
    return _step_panel(request, run, node_id)


def _parse_date(value: str) -> dt.date | None:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        return None


@login_required
@require_GET
def editor_runs(request: HttpRequest, project_slug: str, workflow_slug: str) -> HttpResponse:
    """Run history of the workflow, filtered by status, version (``draft`` or a number) and date range."""
    project, workflow = _workflow(request, project_slug, workflow_slug)
    runs = runs_visible(user=request.user, workflow=workflow)
    status, version = request.GET.get("status", ""), request.GET.get("version", "")
    since, until = _parse_date(request.GET.get("since", "")), _parse_date(request.GET.get("until", ""))
    if status in RunStatus.values:
        runs = runs.filter(status=status)
    if version == "draft":
        runs = runs.filter(version__isnull=True)
    elif positive_int(version) is not None:
        runs = runs.filter(version__version=positive_int(version))
    if since:
        runs = runs.filter(created_at__date__gte=since)
    if until:
        runs = runs.filter(created_at__date__lte=until)
    rows = [RunView.from_run(r) for r in runs.select_related("version", "created_by")[:50]]
    versions = list(workflow.versions.order_by("-version").values_list("version", flat=True))
    return render(
        request,
        "agents/partials/editor-runs.html",
        {
            "project": project,
            "workflow": workflow,
            "runs": rows,
            "statuses": RunStatus.choices,
            "versions": versions,
            "filters": {
                "status": status,
                "version": version,
                "since": request.GET.get("since", ""),
                "until": request.GET.get("until", ""),
            },
        },
    )


@login_required
@require_GET
def editor_run_diff(request: HttpRequest, project_slug: str, workflow_slug: str) -> HttpResponse:
    """Two runs side by side, node by node: status, outputs, tokens, cost and duration."""
    _project, workflow = _workflow(request, project_slug, workflow_slug)
    ids = [int(x) for x in request.GET.getlist("run") if positive_int(x, maximum=2**63 - 1) is not None][:2]
    if len(ids) != 2:
        return HttpResponse('<p class="muted">Tick two runs to compare them.</p>')
    run_a, run_b = (access_run(user=request.user, pk=pk) for pk in ids)
    if run_a.workflow_id != workflow.pk or run_b.workflow_id != workflow.pk:
        raise Http404("Those runs are not of this workflow.")
    # One diff for the API and the editor: rows keyed by (node, iteration), reused is its own state.
    steps_a = {(s.node_id, s.iteration): s for s in run_a.steps.all()}
    steps_b = {(s.node_id, s.iteration): s for s in run_b.steps.all()}
    labels = {
        str(n.get("id")): str(n.get("label") or n.get("id"))
        for graph in (run_b.graph, run_a.graph)
        for n in (graph or {}).get("nodes") or []
        if isinstance(n, dict)
    }
    rows = []
    for row in run_diff(run_a, run_b)["steps"]:
        key = (row["node_id"], row["iteration"])
        a, b = steps_a.get(key), steps_b.get(key)
        rows.append(
            {
                "key": dom_key(row["node_id"], row["iteration"]),
                "node_id": row["node_id"],
                "label": labels.get(row["node_id"], row["node_id"]),
                "iteration": row["iteration"],
                "state": row["state"],
                "a": StepView.from_step(a) if a else None,
                "b": StepView.from_step(b) if b else None,
                "same": row["state"] in ("unchanged", "reused"),
            }
        )
    return render(
        request,
        "agents/partials/editor-run-diff.html",
        {
            "a": RunView.from_run(run_a),
            "b": RunView.from_run(run_b),
            "pair": [RunView.from_run(run_a), RunView.from_run(run_b)],
            "parent_of_other": run_a.pk
            if run_b.parent_run_id == run_a.pk
            else (run_b.pk if run_a.parent_run_id == run_b.pk else None),
            "rows": rows,
            "graph_diff": svc.workflow_version_diff(run_a.graph, run_b.graph)["summary"],
            "inputs_a": pretty_json(run_a.inputs),
            "inputs_b": pretty_json(run_b.inputs),
        },
    )


# ------------------------------------------------------------------- history


def graph_svg(
    graph: dict[str, Any],
    *,
    marks: dict[str, str] | None = None,
    width: int = 520,
    height: int = 260,
    edge_marks: dict[str, str] | None = None,
) -> SafeString:
    """A small SVG picture of a graph (gallery previews, visual diffs).

    ``marks`` maps node ids to a CSS class suffix (``added``, ``removed``,
    ``changed``); ``edge_marks`` maps ``source.port->target.port`` keys likewise.
    Nodes are drawn at their canvas positions, scaled to fit; labels are escaped.
    """
    marks, edge_marks = marks or {}, edge_marks or {}
    nodes = [n for n in graph.get("nodes", []) if isinstance(n, dict) and "id" in n]
    if not nodes:
        empty = (
            f'<svg class="graph-svg" viewBox="0 0 {int(width)} {int(height)}" role="img" aria-label="Empty graph">'
            '<text x="50%" y="50%" text-anchor="middle" class="graph-svg__empty">Empty canvas</text></svg>'
        )
        return mark_safe(empty)  # noqa: S308 - integers and constant text only

    def coord(node: dict[str, Any], axis: str) -> float:
        try:
            return float((node.get("position") or {}).get(axis, 0))
        except (TypeError, ValueError):
            return 0.0

    pos = {n["id"]: (coord(n, "x"), coord(n, "y")) for n in nodes}
    xs, ys = [p[0] for p in pos.values()], [p[1] for p in pos.values()]
    node_w, node_h, pad = 180.0, 64.0, 24.0
    span_x, span_y = max(xs) - min(xs) + node_w, max(ys) - min(ys) + node_h
    scale = min((width - 2 * pad) / span_x, (height - 2 * pad) / span_y, 1.0)
    off_x = (width - span_x * scale) / 2 - min(xs) * scale
    off_y = (height - span_y * scale) / 2 - min(ys) * scale
    w, h = node_w * scale, node_h * scale
    parts = [f'<svg class="graph-svg" viewBox="0 0 {width} {height}" role="img" aria-label="Graph preview">']
    for edge in graph.get("edges", []):
        if edge.get("source") not in pos or edge.get("target") not in pos:
            continue
        (sx, sy), (tx, ty) = pos[edge["source"]], pos[edge["target"]]
        x1, y1 = sx * scale + off_x + w, sy * scale + off_y + h / 2
        x2, y2 = tx * scale + off_x, ty * scale + off_y + h / 2
        mid = (x1 + x2) / 2
        key = f"{edge.get('source')}.{edge.get('source_port')}->{edge.get('target')}.{edge.get('target_port')}"
        cls = f" graph-svg__edge--{edge_marks[key]}" if key in edge_marks else ""
        parts.append(
            f'<path class="graph-svg__edge{cls}" d="M{x1:.1f},{y1:.1f} C{mid:.1f},{y1:.1f} {mid:.1f},{y2:.1f} {x2:.1f},{y2:.1f}"/>'
        )
    font = max(8.0, min(15.0, 13 * scale * 1.9))
    for node in nodes:
        x, y = pos[node["id"]]
        cls = f" graph-svg__node--{marks[node['id']]}" if node["id"] in marks else ""
        full = str(node.get("label") or node["id"])
        label = escape(full if len(full) <= 22 else full[:21] + "…")
        kind = escape(str(node.get("type", "")))
        parts.append(
            f'<g class="graph-svg__node graph-svg__node--t-{kind}{cls}"><title>{label} ({kind})</title>'
            f'<rect x="{x * scale + off_x:.1f}" y="{y * scale + off_y:.1f}" width="{w:.1f}" height="{h:.1f}" rx="{6 * scale + 2:.1f}"/>'
            f'<text x="{x * scale + off_x + w / 2:.1f}" y="{y * scale + off_y + h / 2 + font / 3:.1f}" font-size="{font:.1f}" text-anchor="middle">{label}</text></g>'
        )
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 - every interpolated string is escaped above


def _edge_key(edge: dict[str, Any]) -> str:
    return f"{edge.get('source')}.{edge.get('source_port')}->{edge.get('target')}.{edge.get('target_port')}"


@login_required
@require_GET
def workflow_history(request: HttpRequest, project_slug: str, workflow_slug: str) -> HttpResponse:
    """Published versions (who, when, note) and a visual + JSON diff of any two (``?a=&b=``, ``draft`` allowed)."""
    project, workflow = _workflow(request, project_slug, workflow_slug)
    versions = list(workflow.versions.select_related("created_by").order_by("-version"))
    default_a = str(versions[0].version) if versions else "draft"
    a, b = request.GET.get("a", default_a), request.GET.get("b", "draft")

    def graph_for(ref: str) -> dict[str, Any]:
        if ref == "draft":
            return workflow.draft_graph
        if positive_int(ref) is None:
            raise Http404("Unknown version.")
        return access_workflow_version(user=request.user, workflow=workflow, version=int(ref)).graph

    graph_a, graph_b = graph_for(a), graph_for(b)
    diff = svc.workflow_version_diff(graph_a, graph_b)
    marks_a = {n["id"]: "removed" for n in diff["nodes"]["removed"]}
    marks_b = {n["id"]: "added" for n in diff["nodes"]["added"]}
    for change in diff["nodes"]["changed"]:
        marks_a[change["id"]] = marks_b[change["id"]] = "changed"
    edges_a = {_edge_key(e): "removed" for e in diff["edges"]["removed"]}
    edges_b = {_edge_key(e): "added" for e in diff["edges"]["added"]}
    return _page(
        request,
        "agents/workflow_history.html",
        {
            "project": project,
            "workflow": workflow,
            "versions": versions,
            "a": a,
            "b": b,
            "svg_a": graph_svg(graph_a, marks=marks_a, edge_marks=edges_a, width=560, height=300),
            "svg_b": graph_svg(graph_b, marks=marks_b, edge_marks=edges_b, width=560, height=300),
            "diff": diff,
            "diff_json": json.dumps(diff, indent=2, ensure_ascii=False),
            "can_edit": can_edit(user=request.user, workflow=workflow),
        },
    )


@login_required
@require_POST
def workflow_restore(request: HttpRequest, project_slug: str, workflow_slug: str) -> HttpResponse:
    """Restore a version into the draft, then open the editor."""
    project, workflow = _workflow(request, project_slug, workflow_slug, perm="change")
    number = request.POST.get("version", "")
    if positive_int(number) is None:
        raise Http404("Unknown version.")
    version = access_workflow_version(user=request.user, workflow=workflow, version=int(number))
    try:
        svc.workflow_restore(workflow=workflow, version=version, user=request.user)
    except svc.SecretUseForbiddenError as exc:
        messages.error(request, exc.message)
        return redirect(reverse("workflow-history", args=[project.slug, workflow.slug]))
    messages.success(request, f"Version {version.version} restored into the draft.")
    return redirect(reverse("workflow-editor", args=[project.slug, workflow.slug]))


# ----------------------------------------------------------------- templates


@login_required
@require_GET
def template_gallery(request: HttpRequest) -> HttpResponse:
    """Every workflow template with its description and a preview; "use" creates a workflow in a project."""
    projects = [p for p in projects_visible(request.user) if user_role(request.user, p) in ("owner", "admin", "editor")]
    templates = [{"t": t, "svg": graph_svg(t.graph, width=360, height=170)} for t in svc.workflow_templates()]
    chosen = request.GET.get("project", "")
    return _page(
        request, "agents/template_gallery.html", {"templates": templates, "projects": projects, "chosen": chosen}
    )


@login_required
@require_POST
def template_use(request: HttpRequest, template_slug: str) -> HttpResponse:
    """Create a workflow from a template in the chosen project and open it in the editor."""
    project = access_project(user=request.user, slug=request.POST.get("project", ""), perm="change")
    try:
        workflow = svc.workflow_from_template(
            project=project, user=request.user, template_slug=template_slug, name=request.POST.get("name", "").strip()
        )
    except svc.TemplateNotFoundError as exc:
        raise Http404(str(exc)) from None
    messages.success(request, f"Created “{workflow.name}” from a template.")
    return redirect(reverse("workflow-editor", args=[project.slug, workflow.slug]))


@login_required
@require_POST
def workflow_new(request: HttpRequest, project_slug: str) -> HttpResponse:
    """Create an empty workflow with the posted name (and optional description, at most 2,000 characters)
    and open the editor on it (no name: back with a message)."""
    project = access_project(user=request.user, slug=project_slug, perm="change")
    name = request.POST.get("name", "").strip()[:200]
    if not name:
        messages.error(request, "Give the new workflow a name.")
        return redirect(reverse("project-home", args=[project.slug]))
    description = request.POST.get("description", "").strip()[:2000]
    workflow = svc.workflow_create(project=project, user=request.user, name=name, description=description)
    return redirect(reverse("workflow-editor", args=[project.slug, workflow.slug]))
