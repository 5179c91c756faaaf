"""Monthly project budgets: what was spent this month, warnings at thresholds, and the hard stop.

Spend = the sum of the known costs (USD) of the project's runs created since
the first of the current month (in the server's time zone); a call with an
unknown price adds nothing (it is flagged on the usage page, never priced at
$0 or guessed). Settings live on :class:`studio.models.Project`
(``budget_monthly_usd``, ``budget_warn_at``, ``budget_hard_stop``,
``budget_webhook_url``, ``budget_webhook_secret``).

Warnings: after each finished run, every threshold the month's spend has
reached and that has no :class:`BudgetAlert` this month gets one (unique per
project, month and percent, so concurrent workers warn once), an audit event
``budget.threshold``, and — when a webhook is set — a signed POST sent by a
Celery task on commit, through the egress guard.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import time
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Sum
from django.utils import timezone

from agents.models import BudgetAlert, Run
from studio.lib.signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, webhook_signature
from studio.models import Project
from studio.services import audit_record

log = logging.getLogger(__name__)

WEBHOOK_TIMEOUT_S = 10.0
SEND_WEBHOOK_TASK = "agents.tasks.send_budget_webhook"


class ProjectBudgetExceededError(Exception):
    """The project's monthly budget is spent and its hard stop is on: no new run starts."""

    code = "project_budget_exceeded"

    def __init__(self, *, spent: Decimal, budget: Decimal):
        super().__init__(
            f"This project's monthly budget of ${budget:,.2f} is spent (${spent:,.2f} this month): new runs are "
            "refused until the 1st. An admin can raise the budget or turn off the stop in the project settings."
        )
        self.spent, self.budget = spent, budget


def month_start(now: dt.datetime | None = None) -> dt.datetime:
    """Midnight of the first day of the current month, in the current time zone (aware)."""
    local = timezone.localtime(now or timezone.now())
    return local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def month_spend(project_id: int, *, now: dt.datetime | None = None) -> Decimal:
    """USD of known costs of the project's runs created this month."""
    total = Run.objects.filter(project_id=project_id, created_at__gte=month_start(now)).aggregate(
        total=Sum("cost_usd")
    )["total"]
    return total or Decimal("0")


def warn_percents(project: Project) -> list[int]:
    """The project's warning thresholds in percent, ascending."""
    return sorted({int(p) for p in (project.budget_warn_at or "").split(",") if p.strip().isdigit()})


@dataclass(frozen=True)
class BudgetStatus:
    """This month against the budget: ``spent`` and ``budget`` (USD), ``percent`` used (0-…),
    ``reached`` (the highest warning threshold reached, or None), ``stopped`` (hard stop in force)."""

    spent: Decimal
    budget: Decimal
    percent: float
    reached: int | None
    stopped: bool


def budget_status(project: Project, *, now: dt.datetime | None = None) -> BudgetStatus | None:
    """The project's budget status, or None when it has no monthly budget."""
    if project.budget_monthly_usd is None:
        return None
    spent = month_spend(project.pk, now=now)
    budget = project.budget_monthly_usd
    percent = float(spent / budget * 100) if budget > 0 else 100.0
    reached = max((p for p in warn_percents(project) if percent >= p), default=None)
    return BudgetStatus(
        spent=spent,
        budget=budget,
        percent=percent,
        reached=reached,
        stopped=project.budget_hard_stop and spent >= budget,
    )


def budget_check_start(project: Project) -> None:
    """Refuse a new run when the hard stop is on and the month's spend reached the budget.

    Raises :class:`ProjectBudgetExceededError`.
    """
    if not project.budget_hard_stop or project.budget_monthly_usd is None:
        return
    spent = month_spend(project.pk)
    if spent >= project.budget_monthly_usd:
        raise ProjectBudgetExceededError(spent=spent, budget=project.budget_monthly_usd)


def budget_alerts_after_run(project_id: int) -> list[BudgetAlert]:
    """Record each threshold the month's spend newly reached (see the module docstring); returns the new alerts."""
    project = Project.objects.filter(pk=project_id).first()
    if project is None or project.budget_monthly_usd is None:
        return []
    status = budget_status(project)
    if status is None or status.reached is None:
        return []
    month = month_start().date()
    created = []
    for percent in (p for p in warn_percents(project) if status.percent >= p):
        try:
            with transaction.atomic():
                alert = BudgetAlert.objects.create(
                    project=project,
                    month=month,
                    percent=percent,
                    spent_usd=status.spent,
                    budget_usd=status.budget,
                    webhook_status="pending" if project.budget_webhook_url else "",
                )
                audit_record(
                    project=project,
                    actor=None,
                    verb="budget.threshold",
                    obj=alert,
                    data={
                        "percent": percent,
                        "spent_usd": str(status.spent),
                        "budget_usd": str(status.budget),
                        "month": month.isoformat(),
                    },
                )
        except IntegrityError:  # another worker recorded it first
            continue
        created.append(alert)
        if project.budget_webhook_url:
            transaction.on_commit(lambda pk=alert.pk: _send_later(pk))
    return created


def _send_later(alert_id: int) -> None:
    from django.conf import settings

    if settings.QUEUE_MODE:
        from celery import current_app

        current_app.send_task(SEND_WEBHOOK_TASK, args=[alert_id])
    else:  # quickstart: one short request, off the request's own thread
        import threading

        threading.Thread(target=budget_webhook_send, args=(alert_id,), daemon=True).start()



def budget_webhook_send(alert_id: int) -> str:
    """POST the alert as JSON to the project's webhook (egress-guarded, no redirects, 10 s), signed when a
    signing secret is set; records and returns ``sent`` or ``failed: <reason>``. Idempotent: an alert
    already sent is not sent again."""
    from agents.effects.transport import egress_allowed_hosts, pinned_client
    from studio.crypto import SecretDecryptError, secret_reveal
    from studio.models import Secret

    alert = BudgetAlert.objects.select_related("project").filter(pk=alert_id).first()
    if alert is None or alert.webhook_status != "pending":
        return alert.webhook_status if alert else "missing"
    project = alert.project
    body = json.dumps(
        {
            "type": "budget.threshold",
            "project": project.slug,
            "month": alert.month.isoformat(),
            "percent": alert.percent,
            "spent_usd": str(alert.spent_usd),
            "budget_usd": str(alert.budget_usd),
            "hard_stop": project.budget_hard_stop,
        }
    ).encode()
    timestamp = str(int(time.time()))
    headers = {"Content-Type": "application/json", TIMESTAMP_HEADER: timestamp}
    if project.budget_webhook_secret:
        secret = Secret.objects.filter(project=project, name=project.budget_webhook_secret).first()
        try:
            if secret is None:
                raise SecretDecryptError("the signing secret is gone")
            headers[SIGNATURE_HEADER] = webhook_signature(secret_reveal(secret), timestamp, body)
        except SecretDecryptError as exc:
            return _webhook_done(alert, f"failed: {exc}")

    allowed = egress_allowed_hosts(project.pk)

    async def post() -> int:
        import httpx

        client = pinned_client(allowed_hosts=allowed, timeout=httpx.Timeout(WEBHOOK_TIMEOUT_S))
        async with client:
            response = await client.post(project.budget_webhook_url, content=body, headers=headers)
            return response.status_code

    try:
        status_code = asyncio.run(post())
    except Exception as exc:  # noqa: BLE001 - any failure is recorded on the alert, never raised into a worker
        return _webhook_done(alert, f"failed: {type(exc).__name__}: {exc}"[:300])
    return _webhook_done(alert, "sent" if 200 <= status_code < 300 else f"failed: HTTP {status_code}")


def _webhook_done(alert: BudgetAlert, status: str) -> str:
    BudgetAlert.objects.filter(pk=alert.pk).update(webhook_status=status[:300])
    if status != "sent":
        log.warning("budget webhook of project %s: %s", alert.project_id, status)
    return status


def budget_banner(project: Project) -> dict[str, Any] | None:
    """What the project's pages show: ``{"level": "warning"|"error", "text"}`` once a warning threshold
    is reached this month, else None."""
    status = budget_status(project)
    if status is None or status.reached is None:
        return None
    text = f"{status.percent:.0f} % of this month's budget is spent (${status.spent:,.2f} of ${status.budget:,.2f})."
    if status.stopped:
        return {"level": "error", "text": text + " New runs are refused until the 1st or until an admin raises it."}
    return {"level": "warning", "text": text}
