"""The audit log page: admins and owners only, filters, paging, CSV and JSON export."""

from __future__ import annotations

import json

import pytest
from django.urls import reverse

from studio.models import AuditEvent
from studio.services import audit_record

pytestmark = pytest.mark.django_db


@pytest.fixture
def events(project, alice, bob):
    for n in range(60):
        audit_record(project=project, actor=alice, verb="workflow.update", data={"n": n})
    audit_record(project=project, actor=bob, verb="membership.add", data={"user": "=cmd|calc"})


def test_audit_log_is_paged_and_filtered_by_actor_and_verb(project, alice, events, login):
    client = login(alice)
    first = client.get(reverse("audit-log", args=["acme"]))
    assert first.status_code == 200 and first.context["events"].paginator.count == 61
    assert len(first.context["events"].object_list) == 50
    by_bob = client.get(reverse("audit-log", args=["acme"]), {"actor": "bob"})
    assert [e.verb for e in by_bob.context["events"]] == ["membership.add"]
    by_verb = client.get(reverse("audit-log", args=["acme"]), {"verb": "membership"})
    assert by_verb.context["events"].paginator.count == 1
    bad_date = client.get(reverse("audit-log", args=["acme"]), {"since": "yesterday"})
    assert bad_date.status_code == 400 and "Enter a date" in bad_date.content.decode()


def test_audit_exports_csv_and_json_with_the_filters(project, alice, events, login):
    client = login(alice)
    as_json = client.get(reverse("audit-export", args=["acme", "json"]), {"actor": "bob"})
    rows = json.loads(as_json.content)
    assert [r["verb"] for r in rows] == ["membership.add"] and rows[0]["actor"] == "bob"
    as_csv = client.get(reverse("audit-export", args=["acme", "csv"]))
    text = b"".join(as_csv.streaming_content).decode()
    assert text.splitlines()[0] == "id,at,actor,verb,object_type,object_id,data"
    assert len(text.strip().splitlines()) == 62
    assert client.get(reverse("audit-export", args=["acme", "xml"])).status_code == 404


def test_audit_log_is_refused_below_admin(project, bob, charlie, login):
    assert login(bob).get(reverse("audit-log", args=["acme"])).status_code == 403
    assert login(bob).get(reverse("audit-export", args=["acme", "csv"])).status_code == 403
    assert login(charlie).get(reverse("audit-log", args=["acme"])).status_code == 404


def test_other_projects_events_never_show(project, alice, login):
    from tests.conftest import ProjectFactory

    other = ProjectFactory(slug="other")
    AuditEvent.objects.create(project=other, verb="secret.create")
    AuditEvent.objects.create(project=project, verb="workflow.create")
    response = login(alice).get(reverse("audit-log", args=["acme"]))
    events = list(response.context["events"])
    assert [e.verb for e in events if e.project_id == project.pk] == ["workflow.create"]
    assert all(e.project_id == project.pk for e in events)
