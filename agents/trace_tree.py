"""A run's trace as a tree: run → step → model call / tool call / HTTP call / sub-workflow (→ its run …).

Only model calls are stored as :class:`~traces.models.Span` rows (written by
the gateway during the run). The run and step nodes are *derived* at read
time from the ``Run`` and ``Step`` rows the run path writes anyway, with
stable span ids (:func:`traces.tokens.derived_span_id`) that the model-call
spans already name as their parent: recording a step span would be one more
INSERT per step on the run path for data the step row already holds. A
``tool`` step is the tool call (``execute_tool``), an ``http`` step the
HTTP call, an ``agent``/``supervisor`` step an ``invoke_agent``, a
``subworkflow`` step holds its child run's tree. See README "Observability".
"""

from __future__ import annotations

from typing import Any

from agents.models import Run, Step, SubworkflowCall
from traces.models import Span, SpanKind, Trace
from traces.otel.export import emit, export_enabled
from traces.selectors import TraceNode, build_tree, span_node
from traces.tokens import derived_span_id

#: Step span kind by node type; any other node type is a plain ``step``.
STEP_KINDS: dict[str, str] = {
    "agent": SpanKind.INVOKE_AGENT,
    "supervisor": SpanKind.INVOKE_AGENT,
    "tool": SpanKind.EXECUTE_TOOL,
    "http": SpanKind.HTTP,
    "subworkflow": SpanKind.SUBWORKFLOW,
}

#: How deep sub-workflow runs are expanded (deeper children are left as a step without children).
MAX_SUBWORKFLOW_DEPTH = 8


def trace_tree(run: Run, *, _depth: int = 0) -> TraceNode:
    """The run's trace tree: the root node is the run (kind ``workflow``).

    The caller has checked the user may view ``run`` (e.g.
    :func:`agents.selectors.access_run`); child runs of sub-workflow steps
    belong to the same project and are included. Three queries per run
    (steps, spans, sub-workflow calls). Node times are datetimes, the
    run's and steps' ``status`` their own status values.
    """
    root = TraceNode(
        span_id=derived_span_id("run", run.pk),
        parent_span_id="",
        kind=SpanKind.WORKFLOW,
        name=f"{run.workflow.slug} run {run.pk}" if run.workflow_id else f"run {run.pk}",
        started_at=run.started_at or run.created_at,
        ended_at=run.finished_at,
        status=run.status,
        ref=run,
        attributes={"studio.run_id": run.pk, "studio.session_id": run.session_id},
    )
    steps = list(Step.objects.filter(run_id=run.pk).order_by("started_at", "id"))
    nodes = [_step_node(step, root.span_id) for step in steps]
    _nest_child_steps(nodes)
    spans = Span.objects.filter(run_id=run.pk, project_id=run.project_id).select_related("endpoint")
    nodes.extend(span_node(span) for span in spans.order_by("started_at", "id"))
    if _depth < MAX_SUBWORKFLOW_DEPTH:
        by_step = {(n.ref.node_id, n.ref.iteration): n for n in nodes if isinstance(n.ref, Step)}
        calls = SubworkflowCall.objects.filter(parent_run_id=run.pk).select_related("child_run__workflow")
        for call in calls:
            parent = by_step.get((call.node_id, call.iteration))
            child = trace_tree(call.child_run, _depth=_depth + 1)
            child.parent_span_id = parent.span_id if parent is not None else root.span_id
            nodes.append(child)
    for top in build_tree(nodes):
        top.parent_span_id = root.span_id
        root.children.append(top)
    return root


def _nest_child_steps(nodes: list[TraceNode]) -> None:
    """Parent a child step (an agent's HTTP or agent tool, a loop or parallel body: node id
    ``{parent}.{name}``, iteration ``{parent iteration}/{key}``) to its parent step."""
    by_key = {(n.ref.node_id, n.ref.iteration): n for n in nodes}
    for node in nodes:
        node_id, iteration = node.ref.node_id, node.ref.iteration
        if "." not in node_id:
            continue
        parent_id = node_id.rsplit(".", 1)[0]
        parts = iteration.split("/") if iteration else []
        for size in range(len(parts) - 1, -1, -1):
            parent = by_key.get((parent_id, "/".join(parts[:size])))
            if parent is not None and parent is not node:
                node.parent_span_id = parent.span_id
                break


def _step_node(step: Step, run_span_id: str) -> TraceNode:
    label = step.label or step.node_id
    return TraceNode(
        span_id=derived_span_id("step", step.pk),
        parent_span_id=run_span_id,
        kind=STEP_KINDS.get(step.node_type, SpanKind.STEP),
        name=f"{label}[{step.iteration}]" if step.iteration else label,
        started_at=step.started_at,
        ended_at=step.finished_at,
        status=step.status,
        ref=step,
        attributes=_step_attributes(step),
    )


def _step_attributes(step: Step) -> dict[str, Any]:
    return {"studio.node_id": step.node_id, "studio.node_type": step.node_type, "studio.step_id": step.pk}


def export_run_tree(run_id: int) -> None:
    """Export a finished run's run and step spans over OTLP (its model calls went out when recorded).

    No-op when export is off (:func:`traces.otel.export.export_enabled`).
    Sub-workflow runs export their own tree when they finish.
    """
    if not export_enabled():
        return
    run = Run.objects.select_related("workflow").filter(pk=run_id).first()
    if run is None or run.trace_id is None:
        return
    trace_hex = Trace.objects.filter(pk=run.trace_id).values_list("otel_trace_id", flat=True).first()
    if not trace_hex:
        return
    root = trace_tree(run, _depth=MAX_SUBWORKFLOW_DEPTH)  # no child runs: they export themselves
    failed = ("failed", "cancelled")
    emit(
        trace_hex=trace_hex,
        span_hex=root.span_id,
        parent_hex="",
        name=root.name,
        kind=root.kind,
        started_at=root.started_at,
        ended_at=root.ended_at,
        attributes={
            "studio.run_id": run.pk,
            "studio.session_id": run.session_id or None,
            "studio.workflow": run.workflow.slug,
            "studio.cost_usd": float(run.cost_usd),
            "gen_ai.usage.input_tokens": run.input_tokens,
            "gen_ai.usage.output_tokens": run.output_tokens,
            "studio.project_id": run.project_id,
        },
        error=run.error if run.status in failed else "",
    )
    for node in root.walk():
        step = node.ref
        if not isinstance(step, Step) or node.started_at is None:
            continue
        emit(
            trace_hex=trace_hex,
            span_hex=node.span_id,
            parent_hex=node.parent_span_id,
            name=node.name,
            kind=node.kind,
            started_at=node.started_at,
            ended_at=node.ended_at,
            attributes={
                **node.attributes,
                "studio.run_id": run.pk,
                "studio.cost_usd": float(step.cost_usd) if step.cost_usd is not None else None,
                "gen_ai.usage.input_tokens": step.input_tokens,
                "gen_ai.usage.output_tokens": step.output_tokens,
            },
            error=step.error if step.status == "failed" else "",
        )
