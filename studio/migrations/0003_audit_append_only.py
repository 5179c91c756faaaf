"""Audit log: keep the actor's username beside the foreign key, then make the table append-only.

Order matters: the backfill updates existing rows, so it runs before the
triggers (``studio.db_triggers``) that refuse any later UPDATE or DELETE.
"""

from django.db import migrations, models


def backfill(apps, schema_editor):  # type: ignore[no-untyped-def]
    """Copy actor usernames; rewrite old bare object types ("workflow") as app_label.model."""
    alias = schema_editor.connection.alias
    AuditEvent = apps.get_model("studio", "AuditEvent")
    events = AuditEvent.objects.using(alias)
    for event_id, username in events.filter(actor__isnull=False).values_list("pk", "actor__username"):
        events.filter(pk=event_id).update(actor_username=username)
    labels: dict[str, set[str]] = {}
    for model in apps.get_models():
        labels.setdefault(model._meta.model_name, set()).add(model._meta.label_lower)
    for bare in events.exclude(object_type="").exclude(object_type__contains=".").values_list("object_type", flat=True).distinct():
        found = labels.get(bare, set())
        if len(found) == 1:
            events.filter(object_type=bare).update(object_type=found.pop())


def install_triggers(apps, schema_editor):  # type: ignore[no-untyped-def]
    from studio.db_triggers import install_audit_triggers

    install_audit_triggers(schema_editor.connection)


def drop_triggers(apps, schema_editor):  # type: ignore[no-untyped-def]
    from studio.db_triggers import drop_audit_triggers

    drop_audit_triggers(schema_editor.connection)


class Migration(migrations.Migration):

    dependencies = [
        ("studio", "0002_egress_allowed_host"),
    ]

    operations = [
        migrations.AddField(
            model_name="auditevent",
            name="actor_username",
            field=models.CharField(
                blank=True,
                help_text="The actor's username when the event was recorded (kept if the user is deleted).",
                max_length=150,
            ),
        ),
        migrations.AlterField(
            model_name="auditevent",
            name="object_type",
            field=models.CharField(blank=True, help_text="app_label.model, e.g. agents.workflow", max_length=64),
        ),
        migrations.RunPython(backfill, migrations.RunPython.noop),
        migrations.RunPython(install_triggers, drop_triggers),
    ]
