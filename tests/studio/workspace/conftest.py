"""Personas for project administration: alice owns acme, dave is its admin, erin an editor,
bob a viewer (from tests/conftest.py), charlie has no access."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from studio.models import Membership, Project, Role
from tests.conftest import UserFactory


@pytest.fixture
def dave(project: Project) -> Any:
    user = UserFactory(username="dave", email="dave@example.com")
    Membership.objects.create(project=project, user=user, role=Role.ADMIN)
    return user


@pytest.fixture
def erin(project: Project) -> Any:
    user = UserFactory(username="erin", email="erin@example.com")
    Membership.objects.create(project=project, user=user, role=Role.EDITOR)
    return user


@pytest.fixture
def login() -> Any:
    def make(user: Any) -> Client:
        client = Client()
        client.force_login(user)
        return client

    return make
