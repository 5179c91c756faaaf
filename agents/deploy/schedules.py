"""Cron schedules of deployed workflows, fired by a tick on Celery beat.

The beat entry ``deploy-schedules-tick`` (``studio/celery.py``, every
``STUDIO_SCHEDULE_TICK_SECONDS``, 15) calls :func:`schedules_tick`, which
locks every due, unpaused schedule (``SKIP LOCKED``: two ticks never fire the
same one), moves its ``next_run_at`` to the next cron time after *now* (so a
studio that was down for a day fires a missed schedule once, not once per
missed minute), then — unless the overlap policy is ``skip`` and its last
run is still going — starts a run of the live version with the schedule's
fixed inputs, as the schedule's creator. In quickstart mode the in-process
executor's sweeper calls the same tick.

Cron expressions are parsed with Celery's ``crontab`` (five fields, ranges,
steps, lists, names); when both day-of-month and day-of-week are restricted a
day matches either (as in Vixie cron). Times are wall-clock times in the
schedule's IANA time zone.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from celery.schedules import ParseException, crontab
from django.db import transaction
from django.utils import timezone

from agents.deploy.models import OverlapPolicy, Schedule
from agents.deploy.selectors import deployment_live, live_version
from agents.engine import InputValidationError, check_inputs
from agents.models import Run, Workflow
from agents.services.runs import GraphInvalidError, RunInputError, run_start
from studio.lib.jsonsafe import json_problem
from studio.services import audit_record

#: How far ahead :func:`next_times` looks before giving up (a cron like "0 0 31 2 *" never fires).
HORIZON = dt.timedelta(days=4 * 366)


class ScheduleConfigError(ValueError):
    """A schedule's settings are invalid. ``errors`` maps field → message."""

    def __init__(self, errors: dict[str, str]):
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


def parse_cron(expression: str) -> crontab:
    """Celery's ``crontab`` for a five-field expression. Raises :class:`ScheduleConfigError` naming ``cron``."""
    fields = (expression or "").split()
    if len(fields) != 5:
        raise ScheduleConfigError(
            {"cron": "Five fields: minute hour day-of-month month day-of-week (e.g. */5 * * * *)."}
        )
    minute, hour, day_of_month, month, day_of_week = fields
    try:
        return crontab(
            minute=minute, hour=hour, day_of_month=day_of_month, month_of_year=month, day_of_week=day_of_week
        )
    except (ValueError, TypeError, KeyError, IndexError, ParseException) as exc:
        raise ScheduleConfigError({"cron": f"Not a cron expression: {exc}"}) from None


def parse_timezone(name: str) -> ZoneInfo:
    """The IANA time zone ``name``. Raises :class:`ScheduleConfigError` naming ``timezone``."""
    try:
        if not name or len(name) > 64 or name.startswith(("/", ".")):
            raise ZoneInfoNotFoundError(name)
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ScheduleConfigError(
            {"timezone": f"Unknown time zone {name!r} (use an IANA name like Europe/Paris)."}
        ) from None


def next_times(cron: crontab, zone: ZoneInfo, after: dt.datetime, count: int = 5) -> list[dt.datetime]:
    """The next ``count`` fire times strictly after ``after`` (aware), in UTC; fewer if none within
    :data:`HORIZON`. Walks the wall clock in ``zone``: month, then day, hour and minute."""
    found: list[dt.datetime] = []
    local = after.astimezone(zone).replace(second=0, microsecond=0, tzinfo=None) + dt.timedelta(minutes=1)
    limit = local + HORIZON
    dom_any = cron._orig_day_of_month == "*"
    dow_any = cron._orig_day_of_week == "*"
    while local < limit and len(found) < count:
        if local.month not in cron.month_of_year:
            local = (local.replace(day=1, hour=0, minute=0) + dt.timedelta(days=32)).replace(day=1)
            continue
        dom_ok = local.day in cron.day_of_month
        dow_ok = (local.isoweekday() % 7) in cron.day_of_week
        day_ok = dom_ok or dow_ok if not (dom_any or dow_any) else dom_ok and dow_ok
        if not day_ok:
            local = local.replace(hour=0, minute=0) + dt.timedelta(days=1)
            continue
        if local.hour not in cron.hour:
            local = local.replace(minute=0) + dt.timedelta(hours=1)
            continue
        if local.minute not in cron.minute:
            local += dt.timedelta(minutes=1)
            continue
        found.append(local.replace(tzinfo=zone).astimezone(dt.UTC))
        local += dt.timedelta(minutes=1)
    return found


def _next_after(schedule: Schedule, now: dt.datetime) -> dt.datetime | None:
    times = next_times(parse_cron(schedule.cron), parse_timezone(schedule.timezone), now, count=1)
    return times[0] if times else None


def _check(workflow: Workflow, data: dict[str, Any]) -> dict[str, Any]:
    errors: dict[str, str] = {}
    name = str(data.get("name", "")).strip()
    if not name or len(name) > 100:
        errors["name"] = "1 to 100 characters."
    for key, check in (("cron", parse_cron), ("timezone", parse_timezone)):
        try:
            check(data.get(key, "UTC" if key == "timezone" else ""))
        except ScheduleConfigError as exc:
            errors.update(exc.errors)
    inputs = data.get("inputs", {})
    version = live_version(workflow=workflow) or workflow.versions.order_by("-version").first()
    if not isinstance(inputs, dict) or json_problem(inputs) is not None:
        errors["inputs"] = "A JSON object of the workflow's inputs."
    elif version is not None:
        try:
            check_inputs(version.graph, inputs)
        except InputValidationError as exc:
            errors["inputs"] = "; ".join(f"{k or 'inputs'}: {', '.join(v)}" for k, v in exc.field_errors.items())
    if data.get("overlap", OverlapPolicy.SKIP) not in OverlapPolicy.values:
        errors["overlap"] = "skip or queue."
    if errors:
        raise ScheduleConfigError(errors)
    return {
        "name": name,
        "cron": " ".join(str(data["cron"]).split()),
        "timezone": data.get("timezone", "UTC"),
        "inputs": inputs,
        "overlap": data.get("overlap", OverlapPolicy.SKIP),
        "paused": bool(data.get("paused")),
    }


def schedule_save(*, workflow: Workflow, user: Any, data: dict[str, Any], schedule: Schedule | None = None) -> Schedule:
    """Create (``schedule`` None) or change a schedule from ``data`` (``name``, ``cron``, ``timezone``,
    ``inputs``, ``overlap``, ``paused``); computes ``next_run_at``. Audited ``schedule.create`` /
    ``schedule.update`` / ``schedule.pause`` / ``schedule.resume``. Raises :class:`ScheduleConfigError`."""
    if schedule is not None:
        data = {
            **{f: getattr(schedule, f) for f in ("name", "cron", "timezone", "inputs", "overlap", "paused")},
            **data,
        }
    clean = _check(workflow, data)
    now = timezone.now()
    with transaction.atomic():
        verb = "schedule.create"
        if schedule is None:
            schedule = Schedule(
                workflow=workflow, created_by=user if getattr(user, "is_authenticated", False) else None
            )
        elif clean["paused"] != schedule.paused:
            verb = "schedule.pause" if clean["paused"] else "schedule.resume"
        else:
            verb = "schedule.update"
        for field, value in clean.items():
            setattr(schedule, field, value)
        schedule.next_run_at = None if schedule.paused else _next_after(schedule, now)
        schedule.save()
        audit_record(
            project=workflow.project,
            actor=user,
            verb=verb,
            obj=schedule,
            data={"workflow": workflow.slug, "cron": schedule.cron, "timezone": schedule.timezone},
        )
    return schedule


def schedule_delete(*, schedule: Schedule, user: Any) -> None:
    """Delete a schedule. Audited ``schedule.delete``."""
    with transaction.atomic():
        audit_record(
            project=schedule.workflow.project,
            actor=user,
            verb="schedule.delete",
            obj=schedule,
            data={"workflow": schedule.workflow.slug, "name": schedule.name},
        )
        schedule.delete()


def schedules_tick(*, now: dt.datetime | None = None) -> list[Run]:
    """Fire every due schedule once (see the module docstring); returns the runs started."""
    now = now or timezone.now()
    due = list(
        Schedule.objects.filter(paused=False, next_run_at__lte=now, workflow__deleted_at__isnull=True).values_list(
            "pk", flat=True
        )
    )
    started: list[Run] = []
    for pk in due:
        with transaction.atomic():
            schedule = (
                Schedule.objects.select_for_update(skip_locked=True, of=("self",))
                .select_related("workflow", "workflow__project", "created_by", "last_run")
                .filter(pk=pk, paused=False, next_run_at__lte=now)
                .first()
            )
            if schedule is None:
                continue  # another tick has it, or it changed
            schedule.next_run_at = _next_after(schedule, now)
            schedule.last_fired_at = now
            run = _fire(schedule)
            if run is not None:
                schedule.last_run = run
                started.append(run)
            schedule.save(update_fields=["next_run_at", "last_fired_at", "last_outcome", "last_run"])
    return started


def _fire(schedule: Schedule) -> Run | None:
    last = schedule.last_run
    if schedule.overlap == OverlapPolicy.SKIP and last is not None and not last.is_terminal:
        schedule.last_outcome = f"skipped_overlap: run {last.pk} still {last.status}"
        return None
    deployment = deployment_live(workflow=schedule.workflow)
    if deployment is None:
        schedule.last_outcome = "not_deployed"
        return None
    try:
        with transaction.atomic():
            run = run_start(
                workflow=schedule.workflow, user=schedule.created_by, inputs=schedule.inputs, version=deployment.version
            )
    except (RunInputError, GraphInvalidError) as exc:
        schedule.last_outcome = f"invalid: {exc}"[:200]
        return None
    schedule.last_outcome = "started"
    return run
