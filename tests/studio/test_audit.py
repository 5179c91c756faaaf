"""The audit log is append-only in the database, keeps who did what, and has one writer.

Triggers refuse UPDATE and DELETE on PostgreSQL (the test database) and on
SQLite (quickstart; a migrated temporary file); the only update allowed is a
deleted user's or project's ON DELETE SET NULL, and the username stays.
"""

from __future__ import annotations

import os
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import IntegrityError, connection, transaction

from studio.models import AuditEvent, Project
from studio.services import audit_record, membership_set
from tests.conftest import ProjectFactory, UserFactory

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def event(project: Project, alice) -> AuditEvent:  # type: ignore[no-untyped-def]
    return audit_record(project=project, actor=alice, verb="workflow.publish", obj=project, data={"version": 1})


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE studio_auditevent SET verb = 'workflow.delete' WHERE id = %s",
        "UPDATE studio_auditevent SET data = '{}'::jsonb WHERE id = %s",
        "UPDATE studio_auditevent SET actor_username = 'someone-else' WHERE id = %s",
        "UPDATE studio_auditevent SET actor_id = (SELECT max(id) + 1 FROM auth_user) WHERE id = %s",
        "DELETE FROM studio_auditevent WHERE id = %s",
    ],
)
def test_the_database_refuses_updates_and_deletes_of_audit_events(event, sql):
    with pytest.raises(IntegrityError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, [event.pk])

    kept = AuditEvent.objects.get(pk=event.pk)
    assert (kept.verb, kept.data, kept.actor_username) == ("workflow.publish", {"version": 1}, "alice")


def test_the_orm_cannot_delete_audit_events_either(event):
    with pytest.raises(IntegrityError), transaction.atomic():
        AuditEvent.objects.filter(pk=event.pk).delete()
    with pytest.raises(ValueError, match="append-only"):
        event.save()

    assert AuditEvent.objects.filter(pk=event.pk).exists()


def test_deleting_a_user_keeps_their_username_on_their_events(project):
    dave = UserFactory(username="dave")
    membership = membership_set(project=project, user=dave, role="editor", actor=dave)
    recorded = audit_record(project=project, actor=dave, verb="workflow.draft_save", obj=membership)

    dave.delete()

    recorded.refresh_from_db()
    assert recorded.actor_id is None and recorded.actor_username == "dave"
    assert AuditEvent.objects.filter(actor_username="dave").count() == 2


def test_deleting_a_project_keeps_its_events(event):
    project = ProjectFactory(slug="doomed")
    doomed = audit_record(project=project, actor=None, verb="project.create", obj=project)

    project.delete()

    doomed.refresh_from_db()
    assert doomed.project_id is None and doomed.object_type == "studio.project" and doomed.verb == "project.create"


def test_audit_record_copies_the_username_and_uses_app_label_model(project, alice):
    recorded = audit_record(project=project, actor=alice, verb="project.update", obj=project)

    assert (recorded.actor_username, recorded.object_type, recorded.object_id) == (
        "alice",
        "studio.project",
        str(project.pk),
    )
    anonymous = audit_record(project=None, actor=None, verb="system.start")
    assert (anonymous.actor_id, anonymous.actor_username, anonymous.object_type) == (None, "", "")


def test_every_audit_write_goes_through_audit_record():
    writers = []
    for path in ROOT.glob("[asp]*/**/*.py"):
        if "migrations" in path.parts or (path.name == "services.py" and path.parent.name == "studio"):
            continue
        text = path.read_text()
        if re.search(
            r"(?<!class )AuditEvent\s*\(|AuditEvent\.objects\.(create|bulk_create|get_or_create|update_or_create)", text
        ):
            writers.append(str(path.relative_to(ROOT)))

    assert writers == []


def test_sqlite_refuses_updates_and_deletes_after_migrating(tmp_path):
    """Quickstart's SQLite gets its triggers from the same migration (a real ``migrate`` into a temporary file)."""
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE")}
    env["STUDIO_DATA_DIR"] = str(tmp_path)
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "studio", "-v0"], cwd=ROOT, env=env, check=True, timeout=300
    )
    db = sqlite3.connect(tmp_path / "studio.sqlite3")
    db.execute(
        "INSERT INTO auth_user (password, last_login, is_superuser, username, first_name, last_name, email, "
        "is_staff, is_active, date_joined) VALUES ('!', '2026-01-01', 0, 'erin', '', '', '', 0, 1, '2026-01-01')"
    )
    db.execute(
        "INSERT INTO studio_auditevent (actor_id, actor_username, verb, object_type, object_id, data, "
        "created_at) VALUES (1, 'erin', 'run.start', '', '', '{}', '2026-01-01')"
    )
    db.commit()

    for sql in (
        "UPDATE studio_auditevent SET verb = 'run.cancel'",
        "UPDATE studio_auditevent SET actor_id = 2",
        "DELETE FROM studio_auditevent",
    ):
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            db.execute(sql)
    db.execute("DELETE FROM auth_user")  # the user goes; SET NULL is the one update allowed
    db.execute("UPDATE studio_auditevent SET actor_id = NULL")
    assert db.execute("SELECT actor_id, actor_username, verb FROM studio_auditevent").fetchall() == [
        (None, "erin", "run.start")
    ]
