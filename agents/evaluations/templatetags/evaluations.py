"""``{% run_evaluations run %}``: a run's scores, thumbs up/down and "Add to dataset", for the run page."""

from __future__ import annotations

from typing import Any

from django import template

from agents.evaluations.selectors import datasets_of, scores_for_run
from agents.selectors import can_run
from studio.selectors import has_project_perm

register = template.Library()


@register.inclusion_tag("evaluations/partials/run-evaluations.html", takes_context=True)
def run_evaluations(context: dict[str, Any], run: Any) -> dict[str, Any]:
    """The run's scores (evaluator, human, API), the feedback form (runners) and the datasets of its
    project (editors) — the run was already accessed by the page's view."""
    user = context["request"].user
    run = getattr(run, "run", run)  # the run page passes a RunView wrapping the Run
    may_edit = has_project_perm(user, run.project, "change")
    return {
        "run": run,
        "scores": scores_for_run(run_id=run.pk, project_id=run.project_id),
        "can_feedback": can_run(user=user, workflow=run.workflow),
        "datasets": list(datasets_of(project=run.project)) if may_edit else [],
        "csrf_token": context.get("csrf_token"),
    }


@register.filter
def compact_json(value: Any) -> str:
    """A value as one line of JSON (strings as they are), for check configs and outputs in tables."""
    from agents.evaluations.checks import as_text

    return as_text(value)
