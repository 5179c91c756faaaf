"""Reads of prompts, filtered by permission, and label resolution."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.http import Http404

from prompts.models import Prompt, PromptVersion
from studio.models import Project
from studio.selectors import check_object_access, visible_in_projects


def access_prompt(
    *, user: Any, perm: str = "view", pk: int | None = None, project: Project | None = None, slug: str | None = None
) -> Prompt:
    """Fetch a prompt by pk or project + slug. Raises Http404 / PermissionDenied."""
    qs = Prompt.objects.select_related("project")
    prompt = qs.filter(pk=pk).first() if pk is not None else qs.filter(project=project, slug=slug).first()
    if prompt is None:
        raise Http404("Prompt not found.")
    return check_object_access(user, prompt, prompt.project, perm)


def prompts_visible(*, user: Any, project: Project | None = None) -> QuerySet[Prompt]:
    qs = visible_in_projects(user, Prompt.objects.select_related("project"))
    return qs.filter(project=project) if project is not None else qs


def prompt_version_resolve(
    *, project_id: int, slug: str, label: str | None = None, version: int | None = None
) -> PromptVersion:
    """The version a node means: by pinned ``version`` or by ``label``.

    Internal (the run was already authorised for its project). Raises
    ``LookupError`` naming what is missing.
    """
    prompt = Prompt.objects.filter(project_id=project_id, slug=slug).first()
    if prompt is None:
        raise LookupError(f'Prompt "{slug}" does not exist in this project.')
    if version is not None:
        found = prompt.versions.filter(version=version).first()
        if found is None:
            raise LookupError(f'Prompt "{slug}" has no version {version}.')
        return found
    name = label or "production"
    pointer = prompt.labels.select_related("version").filter(name=name).first()
    if pointer is None:
        raise LookupError(f'Prompt "{slug}" has no label "{name}".')
    return pointer.version


def prompt_version_get(*, prompt: Prompt, version: int | None = None, label: str | None = None) -> PromptVersion:
    """The version of an already accessed ``prompt`` by number or by label;
    the latest when neither is given. Never falls back: an unknown label or
    version raises ``LookupError`` naming it (also when the prompt has no
    version yet)."""
    if version is not None:
        found = prompt.versions.filter(version=version).first()
        if found is None:
            raise LookupError(f'Prompt "{prompt.slug}" has no version {version}.')
        return found
    if label is not None:
        pointer = prompt.labels.select_related("version").filter(name=label).first()
        if pointer is None:
            raise LookupError(f'Prompt "{prompt.slug}" has no label "{label}".')
        return pointer.version
    latest = prompt.versions.order_by("-version").first()
    if latest is None:
        raise LookupError(f'Prompt "{prompt.slug}" has no version yet.')
    return latest
