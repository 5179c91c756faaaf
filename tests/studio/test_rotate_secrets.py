"""``manage.py rotate_secrets`` re-encrypts every secret under the newest key; old keys can then go."""

from __future__ import annotations

import io

import pytest
from cryptography.fernet import Fernet
from django.core.management import CommandError, call_command
from django.test import override_settings

from studio.crypto import secret_create, secret_reveal
from studio.models import AuditEvent, Secret

pytestmark = pytest.mark.django_db


def test_rotation_moves_every_secret_to_the_new_key(project):
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    with override_settings(FERNET_KEYS=[old]):
        secret_create(project=project, name="A", value="alpha")
        secret_create(project=project, name="B", value="beta")
    out = io.StringIO()
    with override_settings(FERNET_KEYS=[new, old]):
        call_command("rotate_secrets", stdout=out)
    assert "Re-encrypted 2 secrets" in out.getvalue()
    with override_settings(FERNET_KEYS=[new]):  # the old key is gone: everything still decrypts
        assert sorted(secret_reveal(s) for s in Secret.objects.all()) == ["alpha", "beta"]
    assert AuditEvent.objects.filter(verb="secret.rotate_all", data__secrets=2).exists()


def test_a_secret_no_key_decrypts_fails_naming_it_not_its_value(project):
    with override_settings(FERNET_KEYS=[Fernet.generate_key().decode()]):
        secret_create(project=project, name="LOST", value="hidden-value")
    with override_settings(FERNET_KEYS=[Fernet.generate_key().decode()]), pytest.raises(CommandError) as info:
        call_command("rotate_secrets")
    assert "LOST" in str(info.value) and "hidden-value" not in str(info.value)


def test_unknown_project_is_a_clear_error(project):
    with pytest.raises(CommandError, match="No project with the slug 'nope'"):
        call_command("rotate_secrets", "--project", "nope")
