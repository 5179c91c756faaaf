"""Comparing two runs step by step (a read: no writes despite living in services)."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from agents.models import Run, Step

RUN_FIELDS = ("status", "inputs", "outputs", "error_code", "input_tokens", "output_tokens", "cost_usd", "duration_ms")
STEP_FIELDS = ("status", "inputs", "outputs", "error", "input_tokens", "output_tokens", "cost_usd", "duration_ms")
NUMERIC = frozenset({"input_tokens", "output_tokens", "cost_usd", "duration_ms"})
#: Fields whose difference makes a step "changed" (durations always differ a little).
MATERIAL = frozenset(STEP_FIELDS) - {"duration_ms"}


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, float):
        return round(value, 3)
    return value


def _same(a: Any, b: Any) -> bool:
    return json.dumps(a, sort_keys=True, default=str) == json.dumps(b, sort_keys=True, default=str)


def _field(name: str, a: Any, b: Any) -> dict[str, Any]:
    """``{"a", "b", "changed"}``, plus ``delta`` (b - a) for numbers and
    ``keys_changed`` for objects (inputs, outputs)."""
    out: dict[str, Any] = {"a": _plain(a), "b": _plain(b), "changed": not _same(_plain(a), _plain(b))}
    if name in NUMERIC and a is not None and b is not None:
        delta = Decimal(str(b)) - Decimal(str(a))
        out["delta"] = (
            str(delta) if name == "cost_usd" else (int(delta) if "tokens" in name else round(float(delta), 3))
        )
    if isinstance(a, dict) and isinstance(b, dict):
        out["keys_changed"] = sorted(k for k in set(a) | set(b) if k not in a or k not in b or not _same(a[k], b[k]))
    return out


def _step_values(step: Step | None) -> dict[str, Any]:
    if step is None:
        return dict.fromkeys(STEP_FIELDS)
    return {name: getattr(step, name) for name in STEP_FIELDS}


#: Fields that a reused step may differ in: it made no model call (0 tokens, $0) and took no time.
USAGE = frozenset({"input_tokens", "output_tokens", "cost_usd", "duration_ms"})
STATES = ("unchanged", "changed", "reused", "only_a", "only_b")


def step_state(step_a: Step | None, step_b: Step | None, changed_fields: list[str]) -> str:
    """How a step compares across two runs, one of :data:`STATES`.

    ``only_a``/``only_b``: the (node, iteration) ran in one run only.
    ``reused``: either side's outputs were copied from an earlier run (resume,
    rerun from a node) and nothing but usage (tokens, cost, duration) differs
    — a reused step's tokens are 0 because it made no call, not because it
    changed. ``changed``: a material field (status, inputs, outputs, error,
    or usage of two steps that both ran) differs. Else ``unchanged``.
    """
    if step_a is None:
        return "only_b"
    if step_b is None:
        return "only_a"
    material = [name for name in changed_fields if name in MATERIAL]
    if step_a.reused or step_b.reused:
        return "changed" if any(name not in USAGE for name in material) else "reused"
    return "changed" if material else "unchanged"


def run_diff(a: Run, b: Run) -> dict[str, Any]:
    """Compare already-accessed runs ``a`` and ``b``.

    Steps are keyed by (node_id, iteration) — loop rounds, fan-out items and
    container children are rows of their own — in ``a``'s execution order,
    then steps only ``b`` has. Returns::

        {"a": {"id", "workflow", "version"}, "b": {...},
         "run": {field: {"a", "b", "changed", "delta"?, "keys_changed"?}},
         "steps": [{"node_id", "iteration", "node_type", "label", "presence": "both"|"only_a"|"only_b",
                    "state": "unchanged"|"changed"|"reused"|"only_a"|"only_b",
                    "reused": {"a": bool, "b": bool},
                    "changed": bool, "changed_fields": [...], "fields": {field: {...}}}],
         "summary": {"steps": n, "changed": n, "unchanged": n, "reused": n, "only_a": n, "only_b": n}}

    Fields: status, inputs, outputs, error, input/output tokens, cost (USD,
    as a decimal string), duration (ms). ``delta`` is b - a for numbers,
    ``keys_changed`` the differing keys of inputs/outputs. ``state`` is
    :func:`step_state`; ``changed`` is true for ``changed``, ``only_a`` and
    ``only_b`` (a reused step is not changed). Every differing field,
    duration included, is listed in ``changed_fields``.
    """
    steps_a = {(s.node_id, s.iteration): s for s in a.steps.order_by("started_at", "id")}
    steps_b = {(s.node_id, s.iteration): s for s in b.steps.order_by("started_at", "id")}
    keys = list(steps_a) + [key for key in steps_b if key not in steps_a]
    rows: list[dict[str, Any]] = []
    for key in keys:
        step_a, step_b = steps_a.get(key), steps_b.get(key)
        values_a, values_b = _step_values(step_a), _step_values(step_b)
        fields = {name: _field(name, values_a[name], values_b[name]) for name in STEP_FIELDS}
        changed_fields = [name for name, diff in fields.items() if diff["changed"]]
        presence = "both" if step_a and step_b else ("only_a" if step_a else "only_b")
        state = step_state(step_a, step_b, changed_fields)
        any_step = step_a or step_b
        assert any_step is not None
        rows.append(
            {
                "node_id": key[0],
                "iteration": key[1],
                "node_type": any_step.node_type,
                "label": any_step.label,
                "presence": presence,
                "state": state,
                "reused": {"a": bool(step_a and step_a.reused), "b": bool(step_b and step_b.reused)},
                "changed": state in ("changed", "only_a", "only_b"),
                "changed_fields": changed_fields,
                "fields": fields,
            }
        )
    run_fields = {name: _field(name, getattr(a, name), getattr(b, name)) for name in RUN_FIELDS}
    return {
        "a": {"id": a.pk, "workflow": a.workflow.slug, "version": a.version.version if a.version else None},
        "b": {"id": b.pk, "workflow": b.workflow.slug, "version": b.version.version if b.version else None},
        "run": run_fields,
        "steps": rows,
        "summary": {"steps": len(rows), **{state: sum(1 for row in rows if row["state"] == state) for state in STATES}},
    }
