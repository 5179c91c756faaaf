"""Per prompt version, from the spans that record it (``traces.Span.prompt_version_id``):
calls, tokens, cost, latency p50/p95 and error rate — runs and playground calls alike.

Scores per version (:func:`prompt_version_scores`): the ``traces.Score``
rows judging a span that recorded the version, the step of such a span, or
its run (a run-level score counts for every version its run used).

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
from django.db.models import Count, Q, Sum

from prompts.models import Prompt
from studio.lib.percentiles import Percentile, percentile
from traces.models import Score, Span, SpanStatus


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
        aggregates |= {"p50": Percentile("latency_ms", 0.5), "p95": Percentile("latency_ms", 0.95)}
    rows = {row["prompt_version_id"]: row for row in spans.values("prompt_version_id").annotate(**aggregates)}
    if not postgres:
        latencies: dict[int, list[float]] = {}
        for pk, ms in spans.order_by("latency_ms").values_list("prompt_version_id", "latency_ms"):
            latencies.setdefault(pk, []).append(ms)
        for pk, row in rows.items():
            row["p50"] = percentile(latencies.get(pk, []), 0.5)
            row["p95"] = percentile(latencies.get(pk, []), 0.95)
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


@dataclass
class VersionScore:
    """One score name's judgements of one version: ``count`` scores, ``mean`` of their
    values (None when none has a value), ``passed``/``failed`` the scores labelled
    ``pass``/``fail``; ``pass_rate`` 0-1 over those two (None when neither)."""

    name: str
    count: int = 0
    value_sum: float = 0.0
    valued: int = 0
    passed: int = 0
    failed: int = 0

    @property
    def mean(self) -> float | None:
        return self.value_sum / self.valued if self.valued else None

    @property
    def pass_rate(self) -> float | None:
        judged = self.passed + self.failed
        return self.passed / judged if judged else None


def prompt_version_scores(prompt: Prompt) -> dict[int, list[VersionScore]]:
    """Version number -> its :class:`VersionScore` per score name (sorted by name), for every
    version of ``prompt`` (already accessed) with at least one score.

    A score counts for a version when it judges a span whose ``prompt_version_id``
    is the version, that span's step (``span_id`` empty) or that span's run
    (``step_id`` and ``span_id`` empty); each score counts once per version.
    """
    numbers = dict(prompt.versions.values_list("pk", "version"))
    spans = Span.objects.filter(project_id=prompt.project_id, prompt_version_id__in=list(numbers))
    by_span: dict[int, set[int]] = {}
    by_step: dict[int, set[int]] = {}
    by_run: dict[int, set[int]] = {}
    for span_pk, step_id, run_id, version_pk in spans.values_list("pk", "step_id", "run_id", "prompt_version_id"):
        by_span.setdefault(span_pk, set()).add(version_pk)
        if step_id is not None:
            by_step.setdefault(step_id, set()).add(version_pk)
        if run_id is not None:
            by_run.setdefault(run_id, set()).add(version_pk)
    if not by_span:
        return {}
    scores = Score.objects.filter(project_id=prompt.project_id).filter(
        Q(span_id__in=spans.values("pk"))
        | Q(span_id__isnull=True, step_id__in=spans.exclude(step_id__isnull=True).values("step_id"))
        | Q(span_id__isnull=True, step_id__isnull=True, run_id__in=spans.exclude(run_id__isnull=True).values("run_id"))
    )
    table: dict[int, dict[str, VersionScore]] = {}
    for name, value, label, run_id, step_id, span_id in scores.values_list(
        "name", "value", "label", "run_id", "step_id", "span_id"
    ):
        if span_id is not None:
            versions = by_span.get(span_id, set())
        elif step_id is not None:
            versions = by_step.get(step_id, set())
        else:
            versions = by_run.get(run_id, set())
        for version_pk in versions:
            row = table.setdefault(numbers[version_pk], {}).setdefault(name, VersionScore(name=name))
            row.count += 1
            if value is not None:
                row.value_sum += value
                row.valued += 1
            if label == "pass":
                row.passed += 1
            elif label == "fail":
                row.failed += 1
    return {number: [rows[name] for name in sorted(rows)] for number, rows in table.items()}
