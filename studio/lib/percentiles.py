"""Percentiles the way PostgreSQL's ``percentile_cont`` computes them: in SQL, and in Python for SQLite.

Both interpolate linearly between the closest ranks (the "R-7" rule of
Hyndman & Fan, 1996, which ``percentile_cont`` implements), so a page shows the
same p50/p95 in quickstart (SQLite) and on PostgreSQL.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Aggregate, FloatField


class Percentile(Aggregate):  # type: ignore[misc]  # django ships no type stubs here
    """PostgreSQL ``percentile_cont(fraction) WITHIN GROUP (ORDER BY expr)``; ``fraction`` in 0-1."""

    function = "percentile_cont"
    template = "%(function)s(%(fraction)s) WITHIN GROUP (ORDER BY %(expressions)s)"
    output_field = FloatField()

    def __init__(self, expression: Any, fraction: float, **extra: Any) -> None:
        super().__init__(expression, fraction=float(fraction), **extra)


def percentile(values: list[float], fraction: float) -> float | None:
    """The ``fraction`` (0-1) percentile of sorted ``values`` by linear interpolation between closest
    ranks (what ``percentile_cont`` does); None when ``values`` is empty."""
    if not values:
        return None
    pos = (len(values) - 1) * fraction
    low = int(pos)
    high = min(low + 1, len(values) - 1)
    return values[low] + (values[high] - values[low]) * (pos - low)
