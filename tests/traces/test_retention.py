"""Trace retention: per project, in days; old traces and spans deleted in batches; others kept."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.management import call_command
from django.utils import timezone

from studio.models import AuditEvent
from tests.conftest import ProjectFactory
from traces.models import Span, Trace
from traces.services import retention_enforce, trace_start
from traces.tasks import enforce_retention

pytestmark = pytest.mark.django_db


def trace_with_spans(project, *, days_ago: float, spans: int = 3) -> Trace:  # type: ignore[no-untyped-def]
    started = timezone.now() - dt.timedelta(days=days_ago)
    trace = trace_start(project_id=project.pk, name=f"{days_ago} days")
    Trace.objects.filter(pk=trace.pk).update(started_at=started)
    Span.objects.bulk_create(Span(trace=trace, project=project, started_at=started) for _ in range(spans))
    return trace


def test_traces_older_than_the_retention_are_deleted_in_batches_and_recent_ones_kept(project):
    project.trace_retention_days = 30
    project.save(update_fields=["trace_retention_days"])
    old = [trace_with_spans(project, days_ago=40 + i) for i in range(3)]
    recent = trace_with_spans(project, days_ago=5)
    keeper = ProjectFactory(slug="keeper", name="Keeper")  # no retention: keeps everything
    ancient = trace_with_spans(keeper, days_ago=4000)

    deleted = retention_enforce(batch=2)  # 9 spans in batches of 2, 3 traces in batches of 2

    assert deleted == {"spans": 9, "traces": 3}
    assert not Trace.objects.filter(pk__in=[t.pk for t in old]).exists()
    assert set(Trace.objects.values_list("pk", flat=True)) == {recent.pk, ancient.pk}
    assert Span.objects.filter(trace=recent).count() == 3 and Span.objects.filter(trace=ancient).count() == 3
    event = AuditEvent.objects.get(project=project, verb="traces.retention")
    assert event.data["spans"] == 9 and event.data["days"] == 30


def test_the_beat_task_and_the_command_enforce_it_too(project, capsys):
    project.trace_retention_days = 1
    project.save(update_fields=["trace_retention_days"])
    trace_with_spans(project, days_ago=2, spans=2)

    assert enforce_retention() == {"spans": 2, "traces": 1}
    trace_with_spans(project, days_ago=3, spans=1)
    call_command("trace_retention")
    assert "deleted 1 spans and 1 traces" in capsys.readouterr().out
    assert not Trace.objects.exists()


def test_the_project_settings_page_sets_the_retention_and_refuses_a_bad_value(project, alice):
    from django.test import Client
    from django.urls import reverse

    client = Client()
    client.force_login(alice)
    url = reverse("project-settings", args=["acme"])
    form = {"name": "Acme", "max_running_runs": "4"}

    assert client.post(url, {**form, "trace_retention_days": "30"}).status_code == 302
    project.refresh_from_db()
    assert project.trace_retention_days == 30
    assert AuditEvent.objects.filter(
        project=project, verb="project.update", data__fields__contains=["trace_retention_days"]
    ).exists()
    bad = client.post(url, {**form, "trace_retention_days": "0"})
    assert bad.status_code == 400 and "Enter a number from 1 to 36500." in bad.content.decode()
    page = client.get(url).content.decode()
    assert 'name="trace_retention_days"' in page and 'value="30"' in page
    assert client.post(url, {**form, "trace_retention_days": ""}).status_code == 302
    project.refresh_from_db()
    assert project.trace_retention_days is None  # empty: keep everything
