"""Someone without an account opens an invitation link, creates an account and joins in one step."""

from __future__ import annotations

import datetime
import html

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.utils import timezone

from studio.models import AuditEvent, Invitation, Membership
from studio.workspace import services as svc

pytestmark = pytest.mark.django_db
FORM = {
    "username": "newbie",
    "email": "newbie@example.com",
    "password1": "a-long-pass-9731",
    "password2": "a-long-pass-9731",
}


def text(response) -> str:
    return html.unescape(response.content.decode())


def test_a_visitor_creates_an_account_and_joins_with_the_invitations_role(project, alice):
    invitation, token = svc.invitation_create(project=project, actor=alice, role="viewer", email="newbie@example.com")
    visitor = Client()
    shown = visitor.get(f"/invite/{token}/")
    assert (
        shown.status_code == 200
        and "Join Acme" in text(shown)
        and "invited you as <strong>viewer</strong>" in text(shown)
    )
    assert 'value="newbie@example.com"' in text(shown)
    joined = visitor.post(f"/invite/{token}/", FORM)
    assert joined.status_code == 302 and joined["Location"] == "/p/acme/"
    user = get_user_model().objects.get(username="newbie")
    assert Membership.objects.get(project=project, user=user).role == "viewer"
    assert visitor.get("/p/acme/").status_code == 200  # signed in
    assert Invitation.objects.get(pk=invitation.pk).used_by == user
    assert AuditEvent.objects.filter(verb="user.signup", actor=user, project=project).exists()

    again = Client().post(f"/invite/{token}/", {**FORM, "username": "second"})
    assert again.status_code == 410 and "already been used" in text(again)
    assert not get_user_model().objects.filter(username="second").exists()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"password2": "different-9731"}, "The two password fields didn"),
        ({"password1": "123", "password2": "123"}, "too short"),
        ({"username": "ALICE"}, "A user with that username already exists."),
        ({"email": "not-an-email"}, "Enter a valid email address."),
    ],
)
def test_bad_signups_are_form_errors_and_create_nothing(project, alice, change, message):
    invitation, token = svc.invitation_create(project=project, actor=alice, role="runner")
    response = Client().post(f"/invite/{token}/", {**FORM, **change})
    assert response.status_code == 400 and message in text(response)
    assert not get_user_model().objects.filter(username="newbie").exists()
    assert Invitation.objects.get(pk=invitation.pk).used_at is None


def test_an_expired_link_offers_no_signup(project, alice):
    invitation, token = svc.invitation_create(project=project, actor=alice, role="viewer")
    Invitation.objects.filter(pk=invitation.pk).update(expires_at=timezone.now() - datetime.timedelta(seconds=1))
    response = Client().post(f"/invite/{token}/", FORM)
    assert response.status_code == 410 and "It has expired." in text(response)
    assert "Create account" not in text(response)
    assert not get_user_model().objects.filter(username="newbie").exists()
    assert Client().get("/invite/not-a-token/").status_code == 404
