"""Database triggers that make the audit log append-only.

``studio_auditevent`` refuses every DELETE and every UPDATE, at the database
level (raw SQL included), with one exception: ON DELETE SET NULL of
``actor_id`` or ``project_id`` (a user or project was deleted; the row keeps
``actor_username``). Anything else raises an integrity error:

* PostgreSQL: a plpgsql trigger function, ``RAISE … USING ERRCODE =
  'restrict_violation'`` (psycopg → ``django.db.IntegrityError``). It compares
  the whole row minus the two foreign keys as ``jsonb``, so columns added
  later are covered without touching the trigger.
* SQLite: ``CREATE TRIGGER … RAISE(ABORT, …)`` (``sqlite3.IntegrityError``).
  The UPDATE trigger lists the table's columns when it is installed.

``install_audit_triggers`` is idempotent. Migration
``studio.0003_audit_append_only`` calls it, and so does ``post_migrate``
(``studio.apps``): SQLite rebuilds a table (dropping its triggers) when a
later migration alters it. Other database vendors get no trigger (a warning
is logged); the model still refuses to save an existing row.
"""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger(__name__)

TABLE = "studio_auditevent"
TRIGGER = "studio_auditevent_append_only"
NULLABLE_FKS = ("actor_id", "project_id")
MESSAGE = "audit events are append-only"

_PG_FUNCTION = f"""
CREATE OR REPLACE FUNCTION {TRIGGER}() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'UPDATE'
       AND (to_jsonb(NEW) - 'actor_id' - 'project_id') = (to_jsonb(OLD) - 'actor_id' - 'project_id')
       AND (NEW.actor_id IS NULL OR NEW.actor_id = OLD.actor_id)
       AND (NEW.project_id IS NULL OR NEW.project_id = OLD.project_id) THEN
        RETURN NEW;  -- ON DELETE SET NULL of the actor or the project
    END IF;
    RAISE EXCEPTION '{MESSAGE}: % on {TABLE} refused', TG_OP USING ERRCODE = 'restrict_violation';
END;
$$ LANGUAGE plpgsql
"""


def _sqlite_statements(columns: list[str]) -> list[str]:
    kept = [c for c in columns if c not in NULLABLE_FKS]
    same = " AND ".join(f'NEW."{c}" IS OLD."{c}"' for c in kept)
    fks = " AND ".join(f'(NEW."{c}" IS OLD."{c}" OR NEW."{c}" IS NULL)' for c in NULLABLE_FKS)
    return [
        f"DROP TRIGGER IF EXISTS {TRIGGER}_update",
        f"DROP TRIGGER IF EXISTS {TRIGGER}_delete",
        f"CREATE TRIGGER {TRIGGER}_update BEFORE UPDATE ON {TABLE} WHEN NOT ({same} AND {fks}) "
        f"BEGIN SELECT RAISE(ABORT, '{MESSAGE}: UPDATE on {TABLE} refused'); END",
        f"CREATE TRIGGER {TRIGGER}_delete BEFORE DELETE ON {TABLE} "
        f"BEGIN SELECT RAISE(ABORT, '{MESSAGE}: DELETE on {TABLE} refused'); END",
    ]


def install_audit_triggers(connection: Any) -> bool:
    """Create (or replace) the append-only triggers on ``connection``'s database.

    Returns True when triggers were installed, False for a vendor without
    support (nothing done) or when the table does not exist yet.
    """
    with connection.cursor() as cursor:
        if TABLE not in connection.introspection.table_names(cursor):
            return False
        if connection.vendor == "postgresql":
            cursor.execute(_PG_FUNCTION)
            cursor.execute(f"DROP TRIGGER IF EXISTS {TRIGGER} ON {TABLE}")
            cursor.execute(
                f"CREATE TRIGGER {TRIGGER} BEFORE UPDATE OR DELETE ON {TABLE} FOR EACH ROW EXECUTE FUNCTION {TRIGGER}()"
            )
            return True
        if connection.vendor == "sqlite":
            columns = [c.name for c in connection.introspection.get_table_description(cursor, TABLE)]
            for statement in _sqlite_statements(columns):
                cursor.execute(statement)
            return True
    log.warning("No append-only trigger for the audit log on %s; only the model refuses updates.", connection.vendor)
    return False


def drop_audit_triggers(connection: Any) -> None:
    """Remove the triggers (the migration's reverse)."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(f"DROP TRIGGER IF EXISTS {TRIGGER} ON {TABLE}")
            cursor.execute(f"DROP FUNCTION IF EXISTS {TRIGGER}()")
        elif connection.vendor == "sqlite":
            cursor.execute(f"DROP TRIGGER IF EXISTS {TRIGGER}_update")
            cursor.execute(f"DROP TRIGGER IF EXISTS {TRIGGER}_delete")
