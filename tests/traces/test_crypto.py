"""Secrets at rest (studio.crypto): Fernet round trip, key rotation, clear errors."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet

from studio.crypto import (
    SecretDecryptError,
    decrypt,
    encrypt,
    rotate,
    secret_create,
    secret_reveal,
    secret_set_value,
    secrets_rotate,
)
from studio.models import Secret

OLD, NEW = Fernet.generate_key().decode(), Fernet.generate_key().decode()


@pytest.fixture
def old_key_only(settings):
    settings.FERNET_KEYS = [OLD]
    return settings


def test_round_trip_and_the_ciphertext_hides_the_value(old_key_only):
    token = encrypt("pässwörd with spaces")

    assert decrypt(token) == "pässwörd with spaces"
    assert "pässwörd" not in token and token != encrypt("pässwörd with spaces")


def test_after_rotation_old_tokens_decrypt_and_new_ones_use_the_first_key(settings):
    settings.FERNET_KEYS = [OLD]
    old_token = encrypt("v")
    settings.FERNET_KEYS = [NEW, OLD]

    rotated = rotate(old_token)

    assert decrypt(old_token) == "v" and decrypt(rotated) == "v"
    settings.FERNET_KEYS = [NEW]
    assert decrypt(rotated) == "v" and decrypt(encrypt("w")) == "w"
    with pytest.raises(SecretDecryptError, match="FERNET_KEYS"):
        decrypt(old_token)


@pytest.mark.parametrize("garbage", ["", "not-a-token", "gAAAAABk" + "A" * 80])
def test_garbage_raises_secret_decrypt_error(old_key_only, garbage):
    with pytest.raises(SecretDecryptError):
        decrypt(garbage)


def test_a_malformed_key_setting_is_a_clear_error(settings):
    settings.FERNET_KEYS = ["not-a-fernet-key"]

    with pytest.raises(SecretDecryptError, match="malformed"):
        encrypt("x")


@pytest.mark.django_db
def test_secret_helpers_store_only_ciphertext(old_key_only, project):
    secret = secret_create(project=project, name="OPENAI_KEY", value="sk-test-123456789")

    stored = Secret.objects.get(pk=secret.pk)
    assert "sk-test" not in stored.ciphertext and secret_reveal(stored) == "sk-test-123456789"
    secret_set_value(secret=stored, value="new-value")
    stored.save()
    assert secret_reveal(Secret.objects.get(pk=secret.pk)) == "new-value"
    with pytest.raises(ValueError):
        secret_set_value(secret=stored, value="")


@pytest.mark.django_db
def test_reveal_errors_name_the_secret_never_the_value(settings, project):
    settings.FERNET_KEYS = [OLD]
    secret = secret_create(project=project, name="DB_PASSWORD", value="correct-horse")
    settings.FERNET_KEYS = [NEW]

    with pytest.raises(SecretDecryptError) as caught:
        secret_reveal(secret)

    assert "DB_PASSWORD" in str(caught.value) and "correct-horse" not in str(caught.value)


@pytest.mark.django_db
def test_secrets_rotate_reencrypts_every_secret_with_the_new_key(settings, project):
    settings.FERNET_KEYS = [OLD]
    secret_create(project=project, name="A", value="alpha")
    secret_create(project=project, name="B", value="beta")
    settings.FERNET_KEYS = [NEW, OLD]

    assert secrets_rotate() == 2

    settings.FERNET_KEYS = [NEW]
    assert sorted(secret_reveal(s) for s in Secret.objects.all()) == ["alpha", "beta"]
