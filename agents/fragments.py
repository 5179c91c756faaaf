"""HTML fragments of a run's live view, shared by the run page and ``RunConsumer``.

The run page renders its state server-side; afterwards every run event becomes
one websocket message of ``hx-swap-oob`` fragments (``templates/agents/partials``,
each named like its root id prefix):

- ``run-cursor-<run>``: the last seq applied (the browser reconnects from it and
  drops a message it already applied);
- ``run-header-<run>``: status, tokens, cost (USD), duration;
- ``node-status-<node>``: a node's badge on the graph;
- ``step-card-<node>[--<iteration>]``: one step (created in ``#step-list-<run>``
  when missing: ``static/js/run.js`` adds a placeholder the swap replaces);
- ``step-stream-<node>[--<iteration>]``: streamed text appended while running;
- ``run-outputs-<run>`` and ``run-actions-<run>``: the final outputs; the
  Cancel button disappears once the run is terminal.

This module only formats: it holds no rule about runs. Tokens are counts,
costs USD (``None`` = unknown price), durations milliseconds.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import threading
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.html import escape, format_html
from django.utils.safestring import SafeString, mark_safe
from django.utils.timesince import timesince

from agents.models import TERMINAL_RUN_STATUSES, Run, RunEvent, Step

_SAFE_PART = re.compile(r"[A-Za-z0-9_]+(?:-[A-Za-z0-9_]+)*")

# ------------------------------------------------------------------ formatting


def dom_part(value: str) -> str:
    """``value`` made safe for an HTML id and a CSS selector, without collisions.

    Plain ids (letters, digits, ``_`` and single inner hyphens) are kept as they
    are; anything else is replaced by ``_`` and suffixed with a hash of the
    original, so ``a.b`` and ``a:b`` stay distinct. The result never contains
    ``--``, which :func:`dom_key` uses as its separator.
    """
    if _SAFE_PART.fullmatch(value):
        return value
    digest = hashlib.sha256(value.encode()).hexdigest()[:8]
    return re.sub(r"[^A-Za-z0-9_]", "_", value) + "_" + digest


def dom_key(node_id: str, iteration: str = "") -> str:
    """The id suffix of a node (``llm-1``) or a step (``llm-1--3`` for iteration 3)."""
    key = dom_part(str(node_id))
    return f"{key}--{dom_part(str(iteration))}" if iteration not in ("", None) else key


def format_tokens(count: int | None) -> str:
    """``1,234`` (tokens are counts)."""
    return f"{int(count or 0):,}"


def format_usd(value: Any, *, unknown: bool = False) -> str:
    """USD with enough decimals to show LLM-sized amounts: ``$0.0042``, ``$1.27``.

    ``None`` (price unknown) is ``unknown``; a known total with some unknown
    calls is prefixed ``≥``.
    """
    if value is None or value == "":
        return "unknown"
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        return "unknown"
    if amount == 0:
        text = "$0.00"
    elif abs(amount) >= 1:
        text = f"${amount:,.2f}"
    elif abs(amount) >= Decimal("0.01"):
        text = f"${amount:.3f}"
    else:
        text = "$" + f"{amount:.6f}".rstrip("0").rstrip(".")
        if text in ("$0", "$-0"):
            text = "<$0.000001"
    return f"≥ {text}" if unknown else text


def format_duration(ms: float | None) -> str:
    """``850 ms``, ``2.4 s``, ``3 m 05 s``, ``1 h 02 m``; ``—`` when unknown."""
    if ms is None:
        return "—"
    ms = float(ms)
    if ms < 1000:
        return f"{ms:.0f} ms"
    seconds = ms / 1000
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes} m {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} m"


_JSON_TOKEN = re.compile(
    r'(?P<key>"(?:\\.|[^"\\])*")(?=\s*:)|(?P<str>"(?:\\.|[^"\\])*")'
    r"|(?P<lit>\b(?:true|false|null)\b)|(?P<num>-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)"
)


def pretty_json(value: Any) -> SafeString:
    """Indented JSON as HTML with ``<span class="j-key|j-str|j-num|j-lit">`` tokens
    for highlighting; everything is escaped (non-JSON values via ``str``)."""
    text = json.dumps(value, indent=2, ensure_ascii=False, default=str)
    out: list[str] = []
    end = 0
    for match in _JSON_TOKEN.finditer(text):
        out.append(escape(text[end : match.start()]))
        kind = match.lastgroup or "str"
        out.append(f'<span class="j-{kind}">{escape(match.group())}</span>')
        end = match.end()
    out.append(escape(text[end:]))
    return mark_safe("".join(out))  # noqa: S308 - every piece is escaped above


def ago(when: dt.datetime | None) -> str:
    """``just now``, ``5 minutes ago``, ``2 days ago`` (``""`` for None)."""
    if when is None:
        return ""
    if (timezone.now() - when).total_seconds() < 60:
        return "just now"
    return timesince(when).split(",")[0] + " ago"


def is_empty(value: Any) -> bool:
    return value is None or value == {} or value == [] or value == ""


# ------------------------------------------------------------------ errors in words

#: One plain sentence per error code (engine, runtime and services codes); the raw code and message
#: stay available, folded, under "Details".
ERROR_SENTENCES: dict[str, str] = {
    "unreachable": "The model server could not be reached.",
    "timeout": "A step took longer than its time limit.",
    "run_timeout": "The run took longer than its time limit.",
    "cancelled": "The run was cancelled.",
    "worker_lost": "The worker running this run stopped; the run could not finish.",
    "auth": "The model provider refused the credentials.",
    "empty_response": "The model returned an empty answer.",
    "invalid_output": "A step's output did not match its output fields.",
    "invalid_inputs": "The inputs did not match the workflow's input fields.",
    "invalid_graph": "The workflow graph is not valid.",
    "engine_error": "The engine hit an unexpected error.",
    "not_configured": "A node needs a service this studio has not set up.",
    "template_error": "A template could not be rendered with the values it got.",
    "output_too_large": "A step's output was larger than allowed.",
    "invalid_expression": "A router expression is not valid.",
    "expression_error": "A router expression failed on the values it got.",
    "forbidden_host": "An HTTP request was refused: its address is not allowed.",
    "egress_refused": "A call was refused: its address is not on the studio's allowed list.",
    "invalid_url": "An HTTP request had an invalid URL.",
    "http_status": "An API answered with an error status.",
    "tool_not_found": "A tool the agent called does not exist.",
    "tool_error": "A tool call failed.",
    "tool_failed": "A tool call failed.",
    "too_many_items": "A parallel node got more items than its limit.",
    "secret_not_found": "A secret the workflow uses does not exist.",
    "secret_forbidden": "A secret the workflow uses is not allowed here.",
    "secret_not_allowed": "A secret the workflow uses is not allowed here.",
    "secret_unreadable": "A secret could not be read.",
    "prompt_not_found": "A prompt version the workflow uses does not exist.",
    "workflow_not_found": "A sub-workflow the workflow calls does not exist.",
    "subworkflow": "A sub-workflow failed.",
    "no_route": "The router chose no route and there is no default.",
    "no_input": "A node received no input.",
    "missing_output": "An output received no value: the branch feeding it was skipped.",
    "max_iterations": "A loop reached its maximum number of rounds.",
    "invalid_decision": "The edited approval data did not fit the reviewed fields.",
    "invalid_config": "A node's configuration is not valid.",
    "unknown_endpoint": "A node names a model endpoint that does not exist.",
    "endpoint_inactive": "A node's model endpoint is switched off.",
    "endpoint_project_mismatch": "A node's model endpoint belongs to another project.",
    "budget_exceeded": "The run reached its budget.",
    "rate_limited": "The model provider is rate-limiting requests.",
}


def error_sentence(code: str, *, fallback: str = "The run failed.") -> str:
    """A human sentence for an error ``code`` (``fallback`` for an unknown or empty code)."""
    return ERROR_SENTENCES.get(code or "", fallback)


def run_node_statuses(run: Run, steps: Iterable[Step]) -> dict[str, str]:
    """Node id → the status its graph node shows.

    The latest step's status, except: a step that failed because the run was cancelled, or was still
    pending, running or waiting when it was, shows ``cancelled``; once a run has failed or was cancelled, a node that never got a step shows
    ``not-run`` (stopped by the failure, not failed itself).
    """
    statuses: dict[str, str] = {}
    for step in steps:
        cancelled = step.status == "failed" and step.error_code == "cancelled"
        stopped = run.status == "cancelled" and step.status in ("pending", "running", "waiting")
        statuses[step.node_id] = "cancelled" if cancelled or stopped else step.status
    if run.status in ("failed", "cancelled"):
        for node in (run.graph or {}).get("nodes") or []:
            if isinstance(node, Mapping) and str(node.get("id")) not in statuses:
                statuses[str(node.get("id"))] = "not-run"
    return statuses


# ------------------------------------------------------------------ view models


@dataclass
class StepView:
    """What a step card shows."""

    key: str
    node_id: str
    iteration: str
    label: str
    node_type: str
    status: str
    inputs: SafeString | None = None
    outputs: SafeString | None = None
    error: str = ""
    error_code: str = ""
    input_tokens: int = 0
    output_tokens: int = 0
    cost: str = "$0.00"
    duration: str = "—"
    reused: bool = False
    attempt: int = 1
    stream_text: str = ""

    @property
    def tokens(self) -> str:
        return f"{format_tokens(self.input_tokens)} in · {format_tokens(self.output_tokens)} out"

    @property
    def has_tokens(self) -> bool:
        return bool(self.input_tokens or self.output_tokens)

    @property
    def is_running(self) -> bool:
        return self.status == "running"

    @property
    def icon(self) -> SafeString:
        return node_icon(self.node_type)

    @property
    def error_title(self) -> str:
        """The error in one human sentence (the code and raw message go under "Details")."""
        return error_sentence(self.error_code, fallback="This step failed.")

    @property
    def can_rerun_from(self) -> bool:
        """A finished step a new run can restart from (the run page's "Rerun from here")."""
        return self.status in ("succeeded", "failed", "cancelled") and self.node_type != "input"

    @classmethod
    def from_step(cls, step: Step) -> StepView:
        done = step.status not in ("pending", "running")
        return cls(
            key=dom_key(step.node_id, step.iteration),
            node_id=step.node_id,
            iteration=step.iteration,
            label=step.label or step.node_id,
            node_type=step.node_type,
            status="cancelled" if step.status == "failed" and step.error_code == "cancelled" else step.status,
            inputs=None if is_empty(step.inputs) else pretty_json(step.inputs),
            outputs=None if is_empty(step.outputs) else pretty_json(step.outputs),
            error=step.error,
            error_code=step.error_code,
            input_tokens=step.input_tokens,
            output_tokens=step.output_tokens,
            cost=format_usd(step.cost_usd),
            duration=format_duration(step.duration_ms) if done else "—",
            reused=step.reused,
            attempt=step.attempt,
        )

    @classmethod
    def from_payload(cls, payload: Mapping[str, Any], *, inputs: Any = None) -> StepView:
        """From a ``step.started``/``step.finished`` payload; ``inputs`` fills in
        what ``step.finished`` does not repeat."""
        node_id = str(payload.get("node_id", ""))
        iteration = str(payload.get("iteration") or "")
        step_inputs = payload.get("inputs", inputs)
        status = str(payload.get("status") or "running")
        if status == "failed" and payload.get("error_code") == "cancelled":
            status = "cancelled"
        finished = status not in ("pending", "running")
        return cls(
            key=dom_key(node_id, iteration),
            node_id=node_id,
            iteration=iteration,
            label=str(payload.get("label") or node_id),
            node_type=str(payload.get("node_type") or ""),
            status=status,
            inputs=None if is_empty(step_inputs) else pretty_json(step_inputs),
            outputs=None if is_empty(payload.get("outputs")) else pretty_json(payload.get("outputs")),
            error=str(payload.get("error") or ""),
            error_code=str(payload.get("error_code") or ""),
            input_tokens=int(payload.get("input_tokens") or 0),
            output_tokens=int(payload.get("output_tokens") or 0),
            cost=format_usd(payload.get("cost_usd")) if finished else "$0.00",
            duration=format_duration(payload.get("duration_ms")) if finished else "—",
            reused=bool(payload.get("reused")),
        )


@dataclass
class RunView:
    """What the run header and outputs panel show."""

    run: Run
    status: str
    input_tokens: int
    output_tokens: int
    cost: str
    duration: str
    outputs: SafeString | None
    error: str
    error_code: str
    failed_node: str
    output_values: dict[str, Any] | None = None
    cancelled_by: str = ""

    @property
    def pk(self) -> int:
        return self.run.pk

    @property
    def error_title(self) -> str:
        """The run's error in one human sentence (the code and raw message go under "Details")."""
        return error_sentence(self.error_code)

    @property
    def failed_label(self) -> str:
        """The label of the node that made the run fail ("" when none)."""
        for node in (self.run.graph or {}).get("nodes") or []:
            if isinstance(node, Mapping) and node.get("id") == self.failed_node:
                return str(node.get("label") or self.failed_node)
        return self.failed_node

    @property
    def output_items(self) -> list[tuple[str, Any]]:
        """(name, value) of each output field, for the outputs panel."""
        return list((self.output_values or {}).items())

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL_RUN_STATUSES

    @property
    def total_tokens(self) -> str:
        return format_tokens(self.input_tokens + self.output_tokens)

    @property
    def created_ago(self) -> str:
        return ago(self.run.created_at)

    @property
    def tokens_in(self) -> str:
        return format_tokens(self.input_tokens)

    @property
    def tokens_out(self) -> str:
        return format_tokens(self.output_tokens)

    @property
    def started_at_iso(self) -> str:
        started = self.run.started_at
        return started.isoformat() if started and not self.is_terminal else ""

    @classmethod
    def from_run(cls, run: Run, event_type: str = "", payload: Mapping[str, Any] | None = None) -> RunView:
        """From the run row; a ``run.*`` event's payload wins for the fields it carries
        (so a replayed ``run.started`` shows *running* until its ``run.finished``)."""
        payload = payload or {}
        view = cls(
            run=run,
            status=run.status,
            input_tokens=run.input_tokens,
            output_tokens=run.output_tokens,
            cost=format_usd(run.cost_usd, unknown=run.cost_unknown),
            duration=format_duration(run.duration_ms) if run.is_terminal else "—",
            outputs=None if is_empty(run.outputs) else pretty_json(run.outputs),
            error=run.error,
            error_code=run.error_code,
            failed_node=run.failed_node,
            output_values=run.outputs if isinstance(run.outputs, dict) else None,
        )
        if event_type.startswith("run.") and payload.get("status"):
            view.status = str(payload["status"])
        if event_type == "run.finished":
            view.input_tokens = int(payload.get("input_tokens", view.input_tokens) or 0)
            view.output_tokens = int(payload.get("output_tokens", view.output_tokens) or 0)
            if "cost_usd" in payload:
                unknown = bool(payload.get("cost_unknown"))
                view.cost = format_usd(payload.get("cost_usd"), unknown=unknown)
            if "duration_ms" in payload:
                view.duration = format_duration(payload.get("duration_ms"))
            if "outputs" in payload:
                view.outputs = None if is_empty(payload["outputs"]) else pretty_json(payload["outputs"])
                if isinstance(payload["outputs"], dict):
                    view.output_values = payload["outputs"]
            view.error = str(payload.get("error") or view.error)
            view.error_code = str(payload.get("error_code") or view.error_code)
        elif not view.is_terminal:
            view.duration = "—"
        return view


# ------------------------------------------------------------------ graph


NODE_W, NODE_H = 196, 62
PAD = 28


# Small 16x16 stroke icons (inline SVG paths) per node type.
_ICON_PATHS: dict[str, str] = {
    "input": '<path d="M2 8h8M7 5l3 3-3 3"/><path d="M10 2h3a1 1 0 0 1 1 1v10a1 1 0 0 1-1 1h-3"/>',
    "output": '<path d="M6 8h8M11 5l3 3-3 3"/><path d="M6 2H3a1 1 0 0 0-1 1v10a1 1 0 0 0 1 1h3"/>',
    "llm": '<path d="M8 1.5l1.6 3.9 3.9 1.6-3.9 1.6L8 12.5 6.4 8.6 2.5 7l3.9-1.6z"/><path d="M13 11.5l.6 1.4 1.4.6-1.4.6-.6 1.4-.6-1.4-1.4-.6 1.4-.6z"/>',
    "agent": '<rect x="3" y="5" width="10" height="8" rx="2"/><path d="M8 2v3M6 9h.01M10 9h.01"/>',
    "router": '<path d="M2 8h4l3-4h5M9 12h5M6 8l3 4"/><path d="M12 2l2 2-2 2M12 10l2 2-2 2"/>',
    "parallel": '<path d="M2 8h3M5 8l3-4h6M5 8l3 4h6M5 8h9"/>',
    "join": '<path d="M2 4h6l3 4M2 12h6l3-4M2 8h12"/>',
    "supervisor": '<circle cx="8" cy="4" r="2"/><circle cx="3.5" cy="12" r="1.5"/><circle cx="8" cy="12" r="1.5"/><circle cx="12.5" cy="12" r="1.5"/><path d="M8 6v4.5M8 8H3.5v2.5M8 8h4.5v2.5"/>',
    "loop": '<path d="M13 6A5 5 0 1 0 13.5 10"/><path d="M13.5 2.5V6H10"/>',
    "subworkflow": '<rect x="2" y="2" width="5" height="5" rx="1"/><rect x="9" y="9" width="5" height="5" rx="1"/><path d="M4.5 7v4.5H9"/>',
    "http": '<circle cx="8" cy="8" r="6"/><path d="M2 8h12M8 2c2 2 2 10 0 12M8 2c-2 2-2 10 0 12"/>',
    "tool": '<path d="M10.5 2.5a3 3 0 0 0-3.7 3.9L2.5 10.7a1.2 1.2 0 0 0 1.8 1.8l4.3-4.3a3 3 0 0 0 3.9-3.7L10.5 6.5 9 5l1.5-2.5z"/>',
    "guardrail": '<path d="M8 1.5l5.5 2v4c0 3.3-2.3 5.9-5.5 7-3.2-1.1-5.5-3.7-5.5-7v-4z"/><path d="M5.5 8l2 2 3-3.5"/>',
    "template": '<path d="M5 3L2 8l3 5M11 3l3 5-3 5M9.5 2.5l-3 11"/>',
    "approval": '<circle cx="8" cy="5" r="2.5"/><path d="M3 14c0-2.8 2.2-4.5 5-4.5"/><path d="M10 12l1.5 1.5L14.5 10"/>',
}
_DEFAULT_ICON = '<rect x="2.5" y="2.5" width="11" height="11" rx="2"/>'


def node_icon(node_type: str) -> SafeString:
    """A 16x16 inline SVG icon for a node type (trusted, constant markup)."""
    paths = _ICON_PATHS.get(node_type, _DEFAULT_ICON)
    return mark_safe(  # noqa: S308 - constant markup from this module
        '<svg class="icon" viewBox="0 0 16 16" width="16" height="16" fill="none" stroke="currentColor" '
        f'stroke-width="1.4" stroke-linecap="round" stroke-linejoin="round" aria-hidden="true">{paths}</svg>'
    )


@dataclass
class GraphNode:
    node_id: str
    key: str
    label: str
    type: str
    x: float
    y: float
    status: str = ""
    icon: SafeString = field(default_factory=lambda: SafeString(""))


@dataclass
class GraphView:
    nodes: list[GraphNode]
    edges: list[dict[str, Any]]
    width: float
    height: float
    dom_id: str

    @property
    def is_empty(self) -> bool:
        return not self.nodes


def _auto_layout(node_ids: list[str], edges: list[tuple[str, str]]) -> dict[str, tuple[float, float]]:
    """Left-to-right layers by longest path from the sources (for graphs without positions)."""
    incoming: dict[str, list[str]] = {n: [] for n in node_ids}
    for source, target in edges:
        if source in incoming and target in incoming:
            incoming[target].append(source)
    depth: dict[str, int] = {}

    def layer(node: str, seen: frozenset[str]) -> int:
        if node in depth:
            return depth[node]
        parents = [p for p in incoming[node] if p not in seen]
        depth[node] = 1 + max((layer(p, seen | {node}) for p in parents), default=-1)
        return depth[node]

    rows: dict[int, int] = {}
    positions: dict[str, tuple[float, float]] = {}
    for node in node_ids:
        column = layer(node, frozenset())
        row = rows.get(column, 0)
        rows[column] = row + 1
        positions[node] = (column * (NODE_W + 72), row * (NODE_H + 40))
    return positions


def graph_view(graph: Mapping[str, Any] | None, *, statuses: Mapping[str, str] | None = None, dom_id: str = "graph") -> GraphView:
    """Lay out a graph document for read-only drawing.

    Nodes sit at their ``position`` (``{"x", "y"}`` canvas pixels), shifted so
    the top-left node is at the padding; a graph without positions is laid out
    in layers. Edges are cubic curves from the source's right side to the
    target's left side. ``statuses`` maps node id → the status to badge.
    """
    graph = graph or {}
    statuses = statuses or {}
    raw_nodes = [n for n in graph.get("nodes") or [] if isinstance(n, Mapping) and n.get("id") is not None]
    raw_edges = [e for e in graph.get("edges") or [] if isinstance(e, Mapping)]
    ids = [str(n["id"]) for n in raw_nodes]

    def position(node: Mapping[str, Any]) -> tuple[float, float] | None:
        pos = node.get("position")
        if isinstance(pos, Mapping):
            try:
                return float(pos.get("x", 0)), float(pos.get("y", 0))
            except (TypeError, ValueError):
                return None
        return None

    placed = {str(n["id"]): position(n) for n in raw_nodes}
    if any(p is None for p in placed.values()) or len({p for p in placed.values()}) < len(placed):
        placed = dict(_auto_layout(ids, [(str(e.get("source")), str(e.get("target"))) for e in raw_edges]))
    min_x = min((p[0] for p in placed.values() if p), default=0)
    min_y = min((p[1] for p in placed.values() if p), default=0)

    nodes: list[GraphNode] = []
    by_id: dict[str, GraphNode] = {}
    for raw in raw_nodes:
        node_id = str(raw["id"])
        x, y = placed[node_id] or (0, 0)
        node_type = str(raw.get("type") or "")
        node = GraphNode(
            node_id=node_id,
            key=dom_key(node_id),
            label=str(raw.get("label") or node_id),
            type=node_type,
            x=x - min_x + PAD,
            y=y - min_y + PAD,
            status=statuses.get(node_id, ""),
            icon=node_icon(node_type),
        )
        nodes.append(node)
        by_id[node_id] = node

    edges: list[dict[str, Any]] = []
    for raw in raw_edges:
        source, target = by_id.get(str(raw.get("source"))), by_id.get(str(raw.get("target")))
        if source is None or target is None:
            continue
        x1, y1 = source.x + NODE_W, source.y + NODE_H / 2
        x2, y2 = target.x, target.y + NODE_H / 2
        bend = max(40.0, abs(x2 - x1) / 2)
        ports = f"{raw.get('source_port') or ''} → {raw.get('target_port') or ''}".strip(" →")
        edges.append(
            {
                "d": f"M {x1:.1f} {y1:.1f} C {x1 + bend:.1f} {y1:.1f}, {x2 - bend:.1f} {y2:.1f}, {x2:.1f} {y2:.1f}",
                "title": ports,
                "active": statuses.get(source.node_id) in ("succeeded", "running"),
            }
        )
    width = max((n.x for n in nodes), default=0) + NODE_W + PAD
    height = max((n.y for n in nodes), default=0) + NODE_H + PAD
    return GraphView(nodes=nodes, edges=edges, width=width, height=height, dom_id=dom_id)


def latest_statuses(steps: Iterable[Step]) -> dict[str, str]:
    """Node id → the status of its latest step (steps in execution order)."""
    return {step.node_id: step.status for step in steps}


# ------------------------------------------------------------------ events → HTML


def event_dict(event: RunEvent | Mapping[str, Any]) -> dict[str, Any]:
    """``{"run_id", "seq", "type", "payload"}`` of a stored or live event."""
    if isinstance(event, RunEvent):
        return {"run_id": event.run_id, "seq": event.seq, "type": event.type, "payload": event.payload}
    return {
        "run_id": event.get("run_id"),
        "seq": event.get("seq"),
        "type": str(event.get("type") or ""),
        "payload": event.get("payload") if isinstance(event.get("payload"), Mapping) else {},
    }


def _partial(name: str, context: dict[str, Any]) -> str:
    return render_to_string(f"agents/partials/{name}.html", {"oob": True, **context})


def render_event_html(run: Run, event: RunEvent | Mapping[str, Any]) -> str:
    """The ``hx-swap-oob`` fragments that apply one run event to the run page.

    Reads the run row (live totals) and, for ``step.finished``, the step's
    inputs; both are committed before the event is sent. Returns ``""`` for
    an event that changes nothing on the page.
    """
    data = event_dict(event)
    kind, payload, seq = data["type"], data["payload"], data["seq"]

    if kind == "step.token":
        text = str(payload.get("text") or "")
        if not text:
            return ""
        key = dom_key(str(payload.get("node_id", "")), str(payload.get("iteration") or ""))
        return format_html('<div hx-swap-oob="beforeend:#step-stream-{}">{}</div>', key, text)

    parts: list[str] = []
    if seq is not None:
        parts.append(_partial("run-cursor", {"run_pk": run.pk, "seq": seq}))

    fresh = (
        Run.objects.select_related("workflow__project", "version", "created_by").filter(pk=run.pk).first() or run
    )
    if kind in ("step.started", "step.finished"):
        inputs = None
        if kind == "step.finished" and "inputs" not in payload and payload.get("step_id") is not None:
            inputs = Step.objects.filter(run_id=run.pk, pk=payload["step_id"]).values_list("inputs", flat=True).first()
        step = StepView.from_payload(payload, inputs=inputs)
        parts.append(_partial("step-card", {"step": step, "run_pk": run.pk}))
        parts.append(_partial("node-status", {"key": dom_key(step.node_id), "status": step.status,
                                                "node_id": step.node_id}))
    if kind.startswith("run.") or kind == "step.finished":
        view = RunView.from_run(fresh, kind, payload)
        if view.status == "cancelled":
            from agents.selectors import run_cancelled_by

            view.cancelled_by = run_cancelled_by(run=fresh)
        parts.append(_partial("run-header", {"run": view}))
        if view.is_terminal and kind == "run.finished":
            parts.append(_partial("run-outputs", {"run": view}))
            if view.status in ("failed", "cancelled"):
                # Nodes the failure (or the cancel) stopped before they started: "not run", not failed;
                # steps a cancel interrupted: "cancelled".
                shown = run_node_statuses(fresh, Step.objects.filter(run_id=run.pk).order_by("started_at", "id"))
                for node_id, status in shown.items():
                    if status in ("not-run", "cancelled"):
                        parts.append(
                            _partial("node-status", {"key": dom_key(node_id), "status": status, "node_id": node_id})
                        )
        if kind in ("run.finished", "run.cancel_requested"):
            parts.append(_partial("run-actions", {"run": view, "can_cancel": False}))
    return "".join(parts)


_RENDERED_MAX = 4096
_rendered: OrderedDict[tuple[int, int], str] = OrderedDict()
_rendered_lock = threading.Lock()


def render_event_html_once(run: Run, event: RunEvent | Mapping[str, Any]) -> str:
    """:func:`render_event_html`, rendered once per stored event in this process, not once per socket.

    Every socket watching a run (and every replay) gets the same fragments
    for a given ``(run, seq)``; the last few thousand are kept (LRU).
    Ephemeral events (``seq`` None: token deltas) are formatted each time —
    a string format, no query.
    """
    seq = event_dict(event)["seq"]
    if not isinstance(seq, int):
        return render_event_html(run, event)
    key = (run.pk, seq)
    with _rendered_lock:
        if key in _rendered:
            _rendered.move_to_end(key)
            return _rendered[key]
    html = render_event_html(run, event)
    with _rendered_lock:
        _rendered[key] = html
        while len(_rendered) > _RENDERED_MAX:
            _rendered.popitem(last=False)
    return html
