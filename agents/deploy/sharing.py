"""Share links: opt-in public pages that run a workflow's live version without signing in.

An editor creates a link (:func:`share_link_create`, audited); its token is
unguessable (``secrets.token_urlsafe(24)``). A visitor's run executes as the
link's creator, on the live version, and gets its own unguessable run token:
the answer page reads only runs started through the same link with that
token. Runs per client IP address and link are capped at
``STUDIO_SHARE_RUNS_PER_MINUTE`` (a Redis counter through Django's cache).
Revoking (:func:`share_link_revoke`) makes every URL of the link a 404.
"""

from __future__ import annotations

import secrets
import time
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

from agents.deploy.models import SharedRun, ShareLink
from agents.deploy.selectors import deployment_live
from agents.models import Run, Workflow
from agents.services.runs import run_start
from studio.services import audit_record


class ShareUnavailableError(Exception):
    """The shared workflow cannot run now (no live version)."""


class ShareRateLimitedError(Exception):
    """Too many runs from this address through this link in the last minute."""


def share_link_create(*, workflow: Workflow, user: Any) -> ShareLink:
    """A new public link to the workflow. Audited ``share.create``."""
    with transaction.atomic():
        link = ShareLink.objects.create(
            workflow=workflow,
            token=secrets.token_urlsafe(24),
            created_by=user if getattr(user, "is_authenticated", False) else None,
        )
        audit_record(
            project=workflow.project, actor=user, verb="share.create", obj=link, data={"workflow": workflow.slug}
        )
    return link


def share_link_revoke(*, link: ShareLink, user: Any) -> None:
    """Revoke a link (its pages and answers become 404). Audited ``share.revoke``."""
    with transaction.atomic():
        ShareLink.objects.filter(pk=link.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
        audit_record(
            project=link.workflow.project,
            actor=user,
            verb="share.revoke",
            obj=link,
            data={"workflow": link.workflow.slug},
        )


def share_link_active(token: str) -> ShareLink | None:
    """The unrevoked link with ``token`` whose workflow is not deleted, or None."""
    return (
        ShareLink.objects.select_related("workflow", "workflow__project", "created_by")
        .filter(token=token, revoked_at__isnull=True, workflow__deleted_at__isnull=True)
        .first()
    )


def shared_run(link: ShareLink, run_token: str) -> Run | None:
    """The run started through ``link`` with ``run_token``, or None."""
    found = SharedRun.objects.select_related("run").filter(link=link, token=run_token).first()
    return found.run if found is not None else None


def share_run_start(*, link: ShareLink, inputs: dict[str, Any], client_ip: str) -> SharedRun:
    """Start a run of the live version for a visitor. Raises :class:`ShareRateLimitedError`,
    :class:`ShareUnavailableError` and ``run_start``'s errors (``RunInputError``, ``GraphInvalidError``)."""
    key = f"studio:share:{link.pk}:{client_ip}:{int(time.time() // 60)}"
    cache.add(key, 0, timeout=120)
    try:
        count = cache.incr(key)
    except ValueError:
        cache.add(key, 1, timeout=120)
        count = 1
    if count > settings.STUDIO_SHARE_RUNS_PER_MINUTE:
        raise ShareRateLimitedError(f"At most {settings.STUDIO_SHARE_RUNS_PER_MINUTE} runs a minute; try again soon.")
    deployment = deployment_live(workflow=link.workflow)
    if deployment is None:
        raise ShareUnavailableError("This workflow is not available right now.")
    with transaction.atomic():
        run = run_start(workflow=link.workflow, user=link.created_by, inputs=inputs, version=deployment.version)
        return SharedRun.objects.create(link=link, run=run, token=secrets.token_urlsafe(24))
