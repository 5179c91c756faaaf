"""The admin console manages the egress allow-list and MCP servers; run records are read-only."""

from __future__ import annotations

import pytest
from django.test import Client

import agents.admin_effects  # noqa: F401 - registers the models (agents.admin imports it too)
from studio.models import EgressAllowedHost
from tests.conftest import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(project):
    admin = UserFactory(username="root-admin", is_staff=True, is_superuser=True)
    client = Client()
    client.force_login(admin)
    return client, admin


def test_an_admin_adds_an_allowed_host_and_is_recorded_as_its_creator(admin_client, project):
    client, admin = admin_client
    assert client.get("/admin/studio/egressallowedhost/").status_code == 200
    response = client.post("/admin/studio/egressallowedhost/add/",
                           {"project": project.pk, "host": "Intranet.Example.", "note": "wiki"})
    assert response.status_code == 302, response.content[:500]
    row = EgressAllowedHost.objects.get()
    assert (row.host, row.project, row.created_by) == ("intranet.example", project, admin)


def test_a_host_with_a_scheme_or_port_is_refused(admin_client, project):
    client, _ = admin_client
    response = client.post("/admin/studio/egressallowedhost/add/", {"host": "http://intranet.example:8080"})
    assert response.status_code == 200 and b"bare hostname or IP address, optionally with a port" in response.content
    assert not EgressAllowedHost.objects.exists()


def test_effect_models_have_admin_pages(admin_client):
    client, _ = admin_client
    for path in ["/admin/agents/mcpserver/add/", "/admin/agents/approvaldecision/", "/admin/agents/sideeffect/",
                 "/admin/agents/subworkflowcall/"]:
        assert client.get(path).status_code == 200, path
    assert client.get("/admin/agents/sideeffect/add/").status_code == 403
