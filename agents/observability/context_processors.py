"""Template context shared by every project page, whichever app renders it."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from agents.services.budgets import budget_banner as _budget_banner
from studio.selectors import projects_visible


def budget_banner(request: HttpRequest) -> dict[str, Any]:
    """``budget_banner`` (``{"level", "text"}`` or None, see :func:`agents.services.budgets.budget_banner`)
    for a page under ``/p/<project_slug>/`` the signed-in user may see; pages of agents, prompts and
    settings alike. Anonymous requests, pages outside a project and projects the user is not a member of
    get None (nothing is revealed). Lazy: computed only when a template reads it."""
    match = getattr(request, "resolver_match", None)
    slug = match.kwargs.get("project_slug") if match else None
    user = getattr(request, "user", None)
    if not slug or user is None or not user.is_authenticated:
        return {"budget_banner": None}
    cache: dict[str, Any] = {}

    def compute() -> dict[str, Any] | None:
        if "value" not in cache:
            project = projects_visible(user).filter(slug=slug).first()
            cache["value"] = _budget_banner(project) if project is not None else None
        return cache["value"]

    return {"budget_banner": compute}
