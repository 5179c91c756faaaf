"""Per prompt version, from the spans that record it (``traces.Span.prompt_version_id``):
calls, tokens, cost, latency p50/p95 and error rate — runs and playground calls alike.

Percentiles are PostgreSQL's ``percentile_cont`` (linear interpolation) in
the query; on other databases (the quickstart's SQLite) the same
interpolation in Python over the version's latencies. Cost sums the known
costs only and counts the calls whose price was unknown, so an unknown price
is never shown as $0.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db import connection
from django.db.models import Aggregate, Count, FloatField, Q, Sum

from prompts.models import Prompt
from traces.models import Span, SpanStatus


class _Percentile(Aggregate):
    """PostgreSQL ``percentile_cont(fraction) WITHIN GROUP (ORDER BY expr)`` (the usage page has
    the same aggregate in ``agents``, which ``prompts`` may not import)."""

    function = "percentile_cont"
    template = "%(function)s(%(fraction)s) WITHIN GROUP (ORDER BY %(expressions)s)"
    output_field = FloatField()

    def __init__(self, expression: Any, fraction: float, **extra: Any) -> None:
        super().__init__(expression, fraction=float(fraction), **extra)


def _percentile(values: list[float], fraction: float) -> float | None:
    """Linear interpolation between closest ranks of sorted ``values``; None when empty."""
    if not values:
        return None
    pos = (len(values) - 1) * fraction
    low = int(pos)
    high = min(low + 1, len(values) - 1)
    return values[low] + (values[high] - values[low]) * (pos - low)


@dataclass(frozen=True)
class VersionMetrics:
    """One version's calls. Tokens are counts; ``cost_usd`` the sum of known costs in USD and
    ``unknown_cost_calls`` the calls without a price; latencies in ms (None without calls);
    ``error_rate`` 0-1."""

    version: int
    calls: int = 0
    errors: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: Decimal = Decimal("0")
    unknown_cost_calls: int = 0
    p50_ms: float | None = None
    p95_ms: float | None = None

    @property
    def error_rate(self) -> float:
        return self.errors / self.calls if self.calls else 0.0

    @property
    def cost_text(self) -> str:
        """``$0.001200``, ``$0.001200 + 3 unknown``, ``unknown`` (every call unpriced) or ``—``."""
        if not self.calls:
            return "—"
        if self.unknown_cost_calls == self.calls:
            return "unknown"
        known = f"${self.cost_usd:.6f}"
        return f"{known} + {self.unknown_cost_calls} unknown" if self.unknown_cost_calls else known


def prompt_version_metrics(prompt: Prompt) -> list[VersionMetrics]:
    """:class:`VersionMetrics` of every version of ``prompt`` (already accessed), newest first;
    a version never called has ``calls`` 0."""
    numbers = dict(prompt.versions.values_list("pk", "version"))
    spans = Span.objects.filter(project_id=prompt.project_id, prompt_version_id__in=list(numbers))
    postgres = connection.vendor == "postgresql"
    aggregates: dict[str, Any] = {
        "calls": Count("id"),
        "errors": Count("id", filter=Q(status=SpanStatus.ERROR)),
        "tokens_in": Sum("input_tokens"),
        "tokens_out": Sum("output_tokens"),
        "cost_sum": Sum("cost_usd"),
        "unknown_cost_calls": Count("id", filter=Q(cost_usd__isnull=True)),
    }
    if postgres:
        aggregates |= {"p50": _Percentile("latency_ms", 0.5), "p95": _Percentile("latency_ms", 0.95)}
    rows = {row["prompt_version_id"]: row for row in spans.values("prompt_version_id").annotate(**aggregates)}
    if not postgres:
        latencies: dict[int, list[float]] = {}
        for pk, ms in spans.order_by("latency_ms").values_list("prompt_version_id", "latency_ms"):
            latencies.setdefault(pk, []).append(ms)
        for pk, row in rows.items():
            row["p50"] = _percentile(latencies.get(pk, []), 0.5)
            row["p95"] = _percentile(latencies.get(pk, []), 0.95)
    out = []
    for pk, number in sorted(numbers.items(), key=lambda item: -item[1]):
        row = rows.get(pk)
        if row is None:
            out.append(VersionMetrics(version=number))
            continue
        out.append(
            VersionMetrics(
                version=number,
                calls=row["calls"],
                errors=row["errors"],
                input_tokens=row["tokens_in"] or 0,
                output_tokens=row["tokens_out"] or 0,
                cost_usd=row["cost_sum"] or Decimal("0"),
                unknown_cost_calls=row["unknown_cost_calls"],
                p50_ms=row["p50"],
                p95_ms=row["p95"],
            )
        )
    return out
