"""Secrets at rest: Fernet encryption with rotatable keys.

``settings.FERNET_KEYS`` is a list of urlsafe-base64 Fernet keys. The first
key encrypts; every key decrypts (``cryptography.fernet.MultiFernet``). To
rotate: put a new key first, keep the old ones after it, run
:func:`secrets_rotate` (re-encrypts every stored secret with the new key),
then drop the old keys.

Values never reach a log, an exception message or a repr: errors name the
secret, never its value.
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING, Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings

if TYPE_CHECKING:
    from django.db.models import QuerySet

    from studio.models import Project, Secret


class SecretDecryptError(Exception):
    """A ciphertext could not be decrypted with any key in ``settings.FERNET_KEYS``.

    Usually the key that encrypted it was removed from ``FERNET_KEYS`` (a
    rotation finished too early) or the stored value was tampered with.
    """


@lru_cache(maxsize=8)
def _multifernet(keys: tuple[str, ...]) -> MultiFernet:
    if not keys:
        raise SecretDecryptError("settings.FERNET_KEYS is empty: no key to encrypt or decrypt secrets.")
    try:
        return MultiFernet([Fernet(key.encode()) for key in keys])
    except ValueError as exc:  # malformed key: say which position, never the key itself
        raise SecretDecryptError(f"settings.FERNET_KEYS holds a malformed Fernet key: {exc}") from None


def _fernet() -> MultiFernet:
    # Keyed on the current setting so override_settings (tests, rotation) takes effect.
    return _multifernet(tuple(settings.FERNET_KEYS))


def encrypt(plaintext: str) -> str:
    """Encrypt ``plaintext`` with the first key of ``settings.FERNET_KEYS``.

    Returns a Fernet token (ASCII, urlsafe base64; it embeds a timestamp and
    an HMAC). Raises ``TypeError`` for a non-string and
    :class:`SecretDecryptError` when the key setting is empty or malformed.
    """
    if not isinstance(plaintext, str):
        raise TypeError("encrypt() takes a str.")
    return _fernet().encrypt(plaintext.encode("utf-8")).decode("ascii")


def decrypt(ciphertext: str) -> str:
    """Decrypt a token made by :func:`encrypt` with any key of ``settings.FERNET_KEYS``.

    Raises :class:`SecretDecryptError` when no key fits or the token is not
    a Fernet token.
    """
    try:
        return _fernet().decrypt(ciphertext.encode("ascii")).decode("utf-8")
    except (InvalidToken, UnicodeError, AttributeError, TypeError):
        raise SecretDecryptError(
            "The secret cannot be decrypted with any key in FERNET_KEYS (was the key that encrypted it removed?)."
        ) from None


def rotate(ciphertext: str) -> str:
    """Re-encrypt ``ciphertext`` with the first (current) key.

    Raises :class:`SecretDecryptError` when no key in ``FERNET_KEYS`` fits.
    """
    try:
        return _fernet().rotate(ciphertext.encode("ascii")).decode("ascii")
    except (InvalidToken, UnicodeError, AttributeError, TypeError):
        raise SecretDecryptError("The secret cannot be rotated: no key in FERNET_KEYS decrypts it.") from None


def secret_set_value(*, secret: Secret, value: str) -> None:
    """Encrypt ``value`` into ``secret.ciphertext``; the caller saves the row.

    Raises ``ValueError`` for an empty value.
    """
    if not value:
        raise ValueError("A secret value cannot be empty.")
    secret.ciphertext = encrypt(value)


def secret_reveal(secret: Secret) -> str:
    """The decrypted value of ``secret``. Never log or return it to a client.

    Raises :class:`SecretDecryptError` naming the secret (not its value).
    """
    try:
        return decrypt(secret.ciphertext)
    except SecretDecryptError as exc:
        raise SecretDecryptError(f"Secret {secret.name!r} (id {secret.pk}): {exc}") from None


def secret_create(*, project: Project, name: str, value: str, created_by: Any = None) -> Secret:
    """Create and save a project secret holding ``value`` encrypted.

    Raises ``ValueError`` for an empty value and ``IntegrityError`` when the
    project already has a secret with that name.
    """
    from studio.models import Secret

    secret = Secret(project=project, name=name, created_by=created_by)
    secret_set_value(secret=secret, value=value)
    secret.save()
    return secret


def secrets_rotate(queryset: QuerySet[Secret] | None = None) -> int:
    """Re-encrypt every secret (or those in ``queryset``) with the current key.

    Returns the number of rows rewritten. Raises :class:`SecretDecryptError`
    (before writing that row) if a secret no longer decrypts.
    """
    from studio.models import Secret

    rows = Secret.objects.all() if queryset is None else queryset
    count = 0
    for secret in rows.only("pk", "name", "ciphertext").iterator():
        try:
            new = rotate(secret.ciphertext)
        except SecretDecryptError as exc:
            raise SecretDecryptError(f"Secret {secret.name!r} (id {secret.pk}): {exc}") from None
        Secret.objects.filter(pk=secret.pk).update(ciphertext=new)
        count += 1
    return count
