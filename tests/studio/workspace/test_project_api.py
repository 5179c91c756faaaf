"""The project settings API: every member reads, admins and owners change (budgets in tokens and USD)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.urls import reverse

from studio.models import AuditEvent, Project

pytestmark = pytest.mark.django_db


def test_members_read_and_admins_change_the_settings(project, alice, bob, login):
    url = reverse("api-project", args=["acme"])
    read = login(bob).get(url)
    assert read.status_code == 200 and read.json()["slug"] == "acme" and read.json()["archived"] is False
    assert login(bob).patch(url, {"name": "X"}, content_type="application/json").status_code == 403
    changed = login(alice).patch(
        url,
        {"default_budget_usd": "0.50", "default_budget_tokens": 20000, "default_timeout_s": 600, "name": "Acme 2"},
        content_type="application/json",
    )
    assert changed.status_code == 200, changed.content
    body = changed.json()
    assert (body["name"], body["default_budget_tokens"], body["default_timeout_s"]) == ("Acme 2", 20000, 600)
    project.refresh_from_db()
    assert project.default_budget_usd == Decimal("0.5")
    event = AuditEvent.objects.get(verb="project.update")
    assert event.actor == alice and set(event.data["fields"]) >= {"default_budget_usd", "name"}
    cleared = login(alice).patch(url, {"default_budget_usd": None}, content_type="application/json")
    assert cleared.status_code == 200 and cleared.json()["default_budget_usd"] is None


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"default_budget_usd": "-1"}, "default_budget_usd"),
        ({"max_running_runs": 0}, "max_running_runs"),
        ({"name": "  "}, "name"),
        ({"default_timeout_s": "soon"}, "default_timeout_s"),
    ],
)
def test_bad_settings_are_a_400_naming_the_field_and_change_nothing(project, alice, login, body, field):
    response = login(alice).patch(reverse("api-project", args=["acme"]), body, content_type="application/json")
    assert response.status_code == 400 and field in response.json().get("errors", {}), response.json()
    assert Project.objects.get(pk=project.pk).name == "Acme" and not AuditEvent.objects.exists()
