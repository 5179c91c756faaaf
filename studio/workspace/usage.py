"""Where a secret is used, answered by the apps that own the users.

``studio`` cannot import the apps above it (endpoints live in ``traces``,
workflows and MCP servers in ``agents``), so each registers a finder in its
``AppConfig.ready()``: ``register_secret_usage(finder)`` where
``finder(secret) -> list[SecretUsage]``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from studio.models import Project, Secret


@dataclass(frozen=True)
class SecretUsage:
    """One place that uses a secret: ``kind`` (endpoint, workflow, mcp server), a ``label`` for people, a ``url``."""

    kind: str
    label: str
    url: str = ""


SecretUsageFinder = Callable[["Secret"], list[SecretUsage]]
_finders: list[SecretUsageFinder] = []


def register_secret_usage(finder: SecretUsageFinder) -> None:
    """Add a finder (idempotent: the same function is registered once)."""
    if finder not in _finders:
        _finders.append(finder)


def secret_usages(secret: Secret) -> list[SecretUsage]:
    """Every registered place that uses ``secret``, in registration order."""
    found: list[SecretUsage] = []
    for finder in _finders:
        found.extend(finder(secret))
    return found


WorkflowLister = Callable[["Project"], list[tuple[str, str]]]
_workflow_listers: list[WorkflowLister] = []


def register_workflow_lister(lister: WorkflowLister) -> None:
    """``lister(project) -> [(slug, name)]`` of the project's workflows (``agents`` registers it)."""
    if lister not in _workflow_listers:
        _workflow_listers.append(lister)


def project_workflow_choices(project: Project) -> list[tuple[str, str]]:
    """``[(slug, name)]`` of the project's workflows, for the API key page's curl line."""
    return [choice for lister in _workflow_listers for choice in lister(project)]


RunBodyProvider = Callable[["Project", str], dict[str, Any]]
_run_bodies: list[RunBodyProvider] = []


def register_example_run_body(provider: RunBodyProvider) -> None:
    """``provider(project, workflow_slug) -> {"inputs": {...}, "draft"?: true}`` (``agents`` registers it)."""
    if provider not in _run_bodies:
        _run_bodies.append(provider)


def workflow_example_run_body(project: Project, workflow_slug: str) -> dict[str, Any]:
    """A body that starts a run of the workflow: sample inputs fitting its signature (``{"inputs": {}}`` when unknown)."""
    for provider in _run_bodies:
        found = provider(project, workflow_slug)
        if found:
            return found
    return {"inputs": {}}
