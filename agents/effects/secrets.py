"""The engine's ``SecretStore``: a project's secrets, decrypted on demand.

For a run (``run_id`` set) each secret is checked before it is decrypted:
the run's starter or the publisher of its version must be allowed to use it
(``agents.services.secrets.run_secret_allowed``), so a grant revoked while a
run waits or resumes takes effect. Values are never logged, cached on the
object or put in an exception message.
"""

from __future__ import annotations

from dataclasses import dataclass

from asgiref.sync import sync_to_async

from studio.crypto import secret_reveal
from studio.models import Secret


@dataclass(frozen=True)
class DjangoSecretStore:
    """Secrets of project ``project_id`` (``studio.models.Secret``), for run ``run_id`` if given."""

    project_id: int
    run_id: int | None = None

    async def get_secret(self, name: str) -> str:
        """The decrypted value of secret ``name``.

        Raises ``LookupError`` when the project has no such secret,
        ``PermissionError`` when the run may not use it, and
        :class:`studio.crypto.SecretDecryptError` (naming the secret, never
        its value) when it cannot be decrypted with the configured keys.
        """
        return await sync_to_async(self.reveal)(name)

    def reveal(self, name: str) -> str:
        """Synchronous :meth:`get_secret`."""
        if self.run_id is not None:
            from agents.models import Run
            from agents.services.secrets import run_secret_allowed

            run = Run.objects.select_related("project", "created_by", "version__created_by").get(pk=self.run_id)
            return secret_reveal(run_secret_allowed(run, name))
        secret = Secret.objects.filter(project_id=self.project_id, name=name).first()
        if secret is None:
            raise LookupError(f"secret {name!r} does not exist in this project")
        return secret_reveal(secret)
