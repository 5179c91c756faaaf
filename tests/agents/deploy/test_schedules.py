"""Cron schedules: next times in a time zone, the tick, overlap policy, no pile-up, pause/resume, bad input."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from agents.deploy.models import Deployment, OverlapPolicy, Schedule
from agents.deploy.schedules import (
    ScheduleConfigError,
    next_times,
    parse_cron,
    parse_timezone,
    schedule_save,
    schedules_tick,
)
from agents.models import Run, RunStatus, Workflow, WorkflowVersion
from studio.models import AuditEvent
from tests.conftest import demo_graph

pytestmark = pytest.mark.django_db
UTC = dt.UTC


@pytest.fixture
def qa(project):
    graph = demo_graph("question-answering")
    workflow = Workflow.objects.create(project=project, slug="qa", name="QA", draft_graph=graph)
    version = WorkflowVersion.objects.create(workflow=workflow, version=1, graph=graph)
    Deployment.objects.create(workflow=workflow, version=version)
    return workflow


def every_minute(qa, alice, overlap=OverlapPolicy.SKIP):
    return schedule_save(
        workflow=qa,
        user=alice,
        data={"name": "minutely", "cron": "* * * * *", "inputs": {"question": "Status?"}, "overlap": overlap},
    )


def test_next_times_follow_the_cron_in_its_time_zone():
    after = dt.datetime(2026, 11, 28, 10, 7, 30, tzinfo=UTC)
    assert next_times(parse_cron("*/15 * * * *"), parse_timezone("UTC"), after, 3) == [
        dt.datetime(2026, 11, 28, 10, 15, tzinfo=UTC),
        dt.datetime(2026, 11, 28, 10, 30, tzinfo=UTC),
        dt.datetime(2026, 11, 28, 10, 45, tzinfo=UTC),
    ]
    # 09:00 on weekdays in Paris (UTC+1 in winter): Saturday the 28th → Monday the 30th, 08:00 UTC
    paris = next_times(parse_cron("0 9 * * mon-fri"), parse_timezone("Europe/Paris"), after, 2)
    assert paris == [dt.datetime(2026, 11, 30, 8, 0, tzinfo=UTC), dt.datetime(2026, 12, 1, 8, 0, tzinfo=UTC)]
    with pytest.raises(ScheduleConfigError, match="never occurs"):
        parse_cron("0 0 31 2 *")  # February 31st


def test_the_tick_starts_a_run_once_per_due_time_with_the_fixed_inputs(qa, alice):
    schedule = every_minute(qa, alice)
    now = schedule.next_run_at
    started = schedules_tick(now=now)
    assert len(started) == 1
    run = started[0]
    assert (run.inputs, run.version.version) == ({"question": "Status?"}, 1)
    assert schedules_tick(now=now) == []  # the same due time never fires twice
    schedule.refresh_from_db()
    assert schedule.next_run_at == now + dt.timedelta(minutes=1)
    assert (schedule.last_outcome, schedule.last_run) == ("started", run)


def test_skip_policy_skips_while_the_previous_run_is_going_and_queue_starts_anyway(qa, alice):
    skip = every_minute(qa, alice)
    first = schedules_tick(now=skip.next_run_at)[0]
    assert first.status == RunStatus.QUEUED
    skip.refresh_from_db()
    assert schedules_tick(now=skip.next_run_at) == []
    skip.refresh_from_db()
    assert skip.last_outcome.startswith("skipped_overlap")
    Run.objects.filter(pk=first.pk).update(status=RunStatus.SUCCEEDED)
    assert len(schedules_tick(now=skip.next_run_at)) == 1
    skip.delete()
    queue = every_minute(qa, alice, overlap=OverlapPolicy.QUEUE)
    one = schedules_tick(now=queue.next_run_at)
    queue.refresh_from_db()
    two = schedules_tick(now=queue.next_run_at)
    assert len(one) == len(two) == 1


def test_missed_times_after_downtime_fire_once_not_piled_up(qa, alice):
    schedule = every_minute(qa, alice)
    Schedule.objects.filter(pk=schedule.pk).update(next_run_at=timezone.now() - dt.timedelta(days=1))
    now = timezone.now()
    assert len(schedules_tick(now=now)) == 1
    schedule.refresh_from_db()
    assert schedule.next_run_at > now
    assert schedules_tick(now=now) == []


def test_the_api_creates_shows_next_runs_pauses_and_resumes(qa, alice):
    client = APIClient()
    client.force_authenticate(alice)
    created = client.post(
        f"/api/v1/workflows/{qa.pk}/schedules",
        {"name": "daily", "cron": "30 7 * * *", "timezone": "Asia/Tokyo", "inputs": {"question": "Summary?"}},
        format="json",
    )
    assert created.status_code == 201, created.json()
    body = created.json()
    assert len(body["next_runs"]) == 5
    assert body["next_runs"][0].endswith("22:30:00+00:00")  # 07:30 in Tokyo
    url = f"/api/v1/workflows/{qa.pk}/schedules/{body['id']}"
    paused = client.patch(url, {"paused": True}, format="json").json()
    assert paused["paused"] is True and paused["next_runs"] == [] and paused["next_run_at"] is None
    assert schedules_tick(now=timezone.now() + dt.timedelta(days=2)) == []
    resumed = client.patch(url, {"paused": False}, format="json").json()
    assert resumed["next_run_at"] is not None
    verbs = set(AuditEvent.objects.filter(verb__startswith="schedule.").values_list("verb", flat=True))
    assert verbs == {"schedule.create", "schedule.pause", "schedule.resume"}
    assert client.delete(url).status_code == 204


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"cron": "every day", "timezone": "UTC"}, "cron"),
        ({"cron": "61 * * * *", "timezone": "UTC"}, "cron"),
        ({"cron": "-1 * * * *", "timezone": "UTC"}, "cron"),
        ({"cron": ", */ * * *", "timezone": "UTC"}, "cron"),
        ({"cron": "* * * * *", "timezone": "Mars/Olympus"}, "timezone"),
        ({"cron": "* * * * *", "timezone": "../../etc/passwd"}, "timezone"),
        ({"cron": "* * * * *", "inputs": {"question": 5, "extra": 1}}, "inputs"),
    ],
)
def test_bad_cron_time_zone_or_inputs_is_a_clear_error(qa, alice, body, field):
    client = APIClient()
    client.force_authenticate(alice)
    response = client.post(f"/api/v1/workflows/{qa.pk}/schedules", {"name": "x", **body}, format="json")
    assert response.status_code == 400
    assert field in response.json()["errors"]
    assert not Schedule.objects.exists()
