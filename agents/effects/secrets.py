"""The engine's ``SecretStore``: a project's secrets, decrypted on demand.

Values are never logged, cached on the object or put in an exception message.
"""

from __future__ import annotations

from dataclasses import dataclass

from asgiref.sync import sync_to_async

from studio.crypto import secret_reveal
from studio.models import Secret


@dataclass(frozen=True)
class DjangoSecretStore:
    """Secrets of project ``project_id`` (``studio.models.Secret``)."""

    project_id: int

    async def get_secret(self, name: str) -> str:
        """The decrypted value of secret ``name``.

        Raises ``LookupError`` when the project has no such secret and
        :class:`studio.crypto.SecretDecryptError` (naming the secret, never
        its value) when it cannot be decrypted with the configured keys.
        """
        return await sync_to_async(self.reveal)(name)

    def reveal(self, name: str) -> str:
        """Synchronous :meth:`get_secret`."""
        secret = Secret.objects.filter(project_id=self.project_id, name=name).first()
        if secret is None:
            raise LookupError(f"secret {name!r} does not exist in this project")
        return secret_reveal(secret)
