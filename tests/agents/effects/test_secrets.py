"""DjangoSecretStore: a project's secrets, decrypted on demand, never leaked."""

from __future__ import annotations

import logging

import pytest
from asgiref.sync import async_to_sync

from agents.effects.secrets import DjangoSecretStore
from studio.crypto import secret_create
from studio.models import Project

pytestmark = pytest.mark.django_db(transaction=True)


def test_returns_the_decrypted_value_of_the_projects_secret(project):
    secret_create(project=project, name="API_KEY", value="sk-live-123")
    assert async_to_sync(DjangoSecretStore(project_id=project.pk).get_secret)("API_KEY") == "sk-live-123"


def test_a_missing_secret_or_another_projects_secret_is_a_lookup_error(project):
    other = Project.objects.create(slug="other", name="Other")
    secret_create(project=other, name="API_KEY", value="not-yours")
    store = DjangoSecretStore(project_id=project.pk)
    with pytest.raises(LookupError, match="'API_KEY' does not exist") as caught:
        async_to_sync(store.get_secret)("API_KEY")
    assert "not-yours" not in str(caught.value)


def test_the_value_is_never_logged_nor_kept_on_the_store(project, caplog):
    secret_create(project=project, name="TOKEN", value="tok-very-secret")
    store = DjangoSecretStore(project_id=project.pk)
    with caplog.at_level(logging.DEBUG):
        value = async_to_sync(store.get_secret)("TOKEN")
    assert value == "tok-very-secret"
    assert "tok-very-secret" not in caplog.text
    assert "tok-very-secret" not in repr(store)
