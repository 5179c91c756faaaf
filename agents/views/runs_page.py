"""The project's Runs page (``/p/<project>/runs/``): every run of the project, filtered.

Filters (GET, all optional): ``workflow`` (slug), ``status``, ``version`` (a number, or ``draft``),
``since`` / ``until`` (dates, inclusive, UTC), ``user`` (username of who started it), ``cost_min`` /
``cost_max`` (USD). A bad value is shown next to its field and that filter is not applied.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from django import forms
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_GET

from agents.fragments import RunView
from agents.models import RunStatus
from agents.selectors import runs_visible, workflows_visible
from agents.views.pages import _page
from studio.selectors import access_project

PAGE_SIZE = 100


class RunFilterForm(forms.Form):
    """The Runs page's filters; every field is optional."""

    workflow = forms.CharField(required=False, max_length=200)
    status = forms.ChoiceField(required=False, choices=[("", "any"), *RunStatus.choices])
    version = forms.RegexField(
        required=False, regex=r"^(draft|[1-9][0-9]{0,6})$", error_messages={"invalid": "A number, or “draft”."}
    )
    since = forms.DateField(required=False)
    until = forms.DateField(required=False)
    user = forms.CharField(required=False, max_length=150)
    cost_min = forms.DecimalField(required=False, min_value=Decimal(0), max_digits=14, decimal_places=8)
    cost_max = forms.DecimalField(required=False, min_value=Decimal(0), max_digits=14, decimal_places=8)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("since") and data.get("until") and data["since"] > data["until"]:
            self.add_error("until", "Must be on or after the start date.")
        if (
            data.get("cost_min") is not None
            and data.get("cost_max") is not None
            and data["cost_min"] > data["cost_max"]
        ):
            self.add_error("cost_max", "Must be at least the minimum.")
        return data


def _filtered(runs: Any, form: RunFilterForm) -> Any:
    data = (
        form.cleaned_data if form.is_valid() else {k: v for k, v in form.cleaned_data.items() if k not in form.errors}
    )
    if data.get("workflow"):
        runs = runs.filter(workflow__slug=data["workflow"])
    if data.get("status"):
        runs = runs.filter(status=data["status"])
    if data.get("version") == "draft":
        runs = runs.filter(version__isnull=True)
    elif data.get("version"):
        runs = runs.filter(version__version=int(data["version"]))
    if data.get("since"):
        runs = runs.filter(created_at__gte=dt.datetime.combine(data["since"], dt.time.min, tzinfo=dt.UTC))
    if data.get("until"):
        runs = runs.filter(
            created_at__lt=dt.datetime.combine(data["until"] + dt.timedelta(days=1), dt.time.min, tzinfo=dt.UTC)
        )
    if data.get("user"):
        runs = runs.filter(created_by__username=data["user"])
    if data.get("cost_min") is not None:
        runs = runs.filter(cost_usd__gte=data["cost_min"])
    if data.get("cost_max") is not None:
        runs = runs.filter(cost_usd__lte=data["cost_max"])
    return runs


@login_required
@require_GET
def project_runs(request: HttpRequest, project_slug: str) -> HttpResponse:
    """Every run of the project the user may see, newest first (100 a page), with filters."""
    project = access_project(user=request.user, slug=project_slug)
    form = RunFilterForm(request.GET or None)
    if form.is_bound:
        form.is_valid()
    else:
        form.cleaned_data = {}
    runs = runs_visible(user=request.user, project=project).select_related("workflow", "version", "created_by")
    runs = _filtered(runs, form).order_by("-created_at", "-id")
    rows = [RunView.from_run(run) for run in runs[: PAGE_SIZE + 1]]
    context = {
        "project": project,
        "form": form,
        "rows": rows[:PAGE_SIZE],
        "more": len(rows) > PAGE_SIZE,
        "workflows": list(
            workflows_visible(user=request.user, project=project).order_by("name").values("slug", "name")
        ),
        "filtered": bool(request.GET),
    }
    return _page(request, "agents/project_runs.html", context)
