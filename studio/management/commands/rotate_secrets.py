"""``manage.py rotate_secrets``: re-encrypt every secret under the newest Fernet key.

Rotation: put a new key first in ``STUDIO_FERNET_KEYS`` (keep the old ones
after it), run this command, then drop the old keys. ``--project <slug>``
limits it to one project. Exits 1, naming the secret (never its value),
when a secret no longer decrypts with any configured key; the secrets before
it stay rotated (each row is rewritten on its own) and running it again is
harmless.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from studio.crypto import SecretDecryptError, secrets_rotate
from studio.models import Project, Secret
from studio.services import audit_record


class Command(BaseCommand):
    help = "Re-encrypt every secret with the first key of STUDIO_FERNET_KEYS."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--project", help="Only this project's secrets (slug).")

    def handle(self, *args: Any, **options: Any) -> None:
        rows = Secret.objects.all()
        project = None
        if options.get("project"):
            project = Project.objects.filter(slug=options["project"]).first()
            if project is None:
                raise CommandError(f"No project with the slug {options['project']!r}.")
            rows = rows.filter(project=project)
        try:
            count = secrets_rotate(rows)
        except SecretDecryptError as exc:
            raise CommandError(str(exc)) from None
        audit_record(project=project, actor=None, verb="secret.rotate_all", data={"secrets": count})
        self.stdout.write(f"Re-encrypted {count} secret{'s' if count != 1 else ''} with the current key.")
