"""The trace explorer's filters (a validated query string) and its keyset cursor.

Every filter is optional; a bad value is a form error (the page answers 400
and shows it), never a 500. Units: cost in USD, latency in ms, tokens as
counts (input + output), dates as ``YYYY-MM-DD`` in the server's time zone
(``to`` is inclusive).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django import forms
from django.utils import timezone

from agents.models import RunStatus

PAGE_SIZE = 50
MAX_PAGE_SIZE = 200


class ExplorerFilterForm(forms.Form):
    """Explorer filters; every field optional (see the module docstring for units)."""

    workflow = forms.SlugField(required=False, max_length=64)
    version = forms.IntegerField(required=False, min_value=0, help_text="0 = draft runs")
    node_type = forms.SlugField(required=False, max_length=32)
    endpoint = forms.CharField(required=False, max_length=200, help_text="endpoint slug or model string")
    status = forms.ChoiceField(required=False, choices=[("", "any"), *RunStatus.choices])
    error_code = forms.CharField(required=False, max_length=64)
    cost_min = forms.DecimalField(required=False, min_value=0, max_digits=14, decimal_places=8)
    cost_max = forms.DecimalField(required=False, min_value=0, max_digits=14, decimal_places=8)
    latency_min = forms.IntegerField(required=False, min_value=0, max_value=10**9, help_text="ms")
    latency_max = forms.IntegerField(required=False, min_value=0, max_value=10**9, help_text="ms")
    tokens_min = forms.IntegerField(required=False, min_value=0, max_value=2**31)
    tokens_max = forms.IntegerField(required=False, min_value=0, max_value=2**31)
    date_from = forms.DateField(required=False)
    date_to = forms.DateField(required=False)
    session = forms.CharField(required=False, max_length=200)
    user = forms.CharField(required=False, max_length=150, help_text="username of who started the run")
    key = forms.CharField(required=False, max_length=100, help_text="API key name or prefix the run was started with")
    q = forms.CharField(required=False, max_length=200, help_text="text in inputs or outputs")
    source = forms.ChoiceField(required=False, choices=[("", "workflow runs"), ("external", "external traces (OTLP)")])

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        for low, high in (
            ("cost_min", "cost_max"),
            ("latency_min", "latency_max"),
            ("tokens_min", "tokens_max"),
            ("date_from", "date_to"),
        ):
            if data.get(low) is not None and data.get(high) is not None and data[low] > data[high]:
                self.add_error(high, "Must not be below the lower bound.")
        return data

    def filters(self) -> ExplorerFilters:
        """The cleaned values (call after ``is_valid()``)."""
        data = {k: v for k, v in self.cleaned_data.items() if v not in (None, "")}
        return ExplorerFilters(**data)


@dataclass(frozen=True)
class ExplorerFilters:
    """Cleaned explorer filters; ``None``/absent means no filter on that field."""

    workflow: str | None = None
    version: int | None = None
    node_type: str | None = None
    endpoint: str | None = None
    status: str | None = None
    error_code: str | None = None
    cost_min: Decimal | None = None
    cost_max: Decimal | None = None
    latency_min: int | None = None
    latency_max: int | None = None
    tokens_min: int | None = None
    tokens_max: int | None = None
    date_from: dt.date | None = None
    date_to: dt.date | None = None
    session: str | None = None
    user: str | None = None
    key: str | None = None
    q: str | None = None
    source: str | None = None

    def count(self) -> int:
        """How many filters are set (for the "N filters" chip)."""
        return sum(1 for value in self.__dict__.values() if value is not None)


def day_start(day: dt.date) -> dt.datetime:
    """Midnight of ``day`` in the current time zone (aware)."""
    return timezone.make_aware(dt.datetime.combine(day, dt.time.min))


@dataclass(frozen=True)
class Cursor:
    """Keyset position after the last row shown: runs are ordered by (created_at, id) descending."""

    created_at: dt.datetime
    pk: int

    def encode(self) -> str:
        raw = f"{self.created_at.isoformat()}|{self.pk}".encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def decode(cls, text: str) -> Cursor:
        """Raises ``ValueError`` for anything that is not a cursor this page made."""
        if not text or len(text) > 200:
            raise ValueError("Bad cursor.")
        try:
            raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode()
            when, pk = raw.rsplit("|", 1)
            created_at = dt.datetime.fromisoformat(when)
            number = int(pk)
        except (ValueError, binascii.Error, UnicodeDecodeError):
            raise ValueError("Bad cursor.") from None
        if created_at.tzinfo is None or number < 1:
            raise ValueError("Bad cursor.")
        return cls(created_at=created_at, pk=number)
