"""An invitation made with an e-mail address is e-mailed with its single-use link (console backend by default)."""

from __future__ import annotations

import html
import re

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse

from studio.models import AuditEvent, Invitation, Membership
from studio.workspace import services as svc

pytestmark = pytest.mark.django_db


def test_the_link_is_emailed_once_and_joins_once(project, alice, charlie, login, mailoutbox):
    response = login(alice).post(
        reverse("invitation-create", args=["acme"]), {"role": "runner", "days": "3", "email": "carl@example.com"}
    )
    assert response.status_code == 200
    text = html.unescape(response.content.decode())
    assert "E-mailed to carl@example.com." in text
    (mail,) = mailoutbox
    assert mail.to == ["carl@example.com"] and mail.from_email == settings.DEFAULT_FROM_EMAIL
    assert mail.subject == "alice invites you to Acme on Studio"
    assert "as runner" in mail.body
    link = re.search(r"http://testserver/invite/(\S+)/", mail.body)
    assert link is not None and link.group(0) == response.context["new_link"]
    token = link.group(1)
    invitation = Invitation.objects.get(project=project)
    assert token not in invitation.hashed_token

    event = AuditEvent.objects.get(verb="invitation.email")
    assert event.actor == alice and event.data == {"email": "carl@example.com", "sent": True}
    assert token not in str(event.data) and not AuditEvent.objects.filter(data__icontains=token).exists()

    carl = Client()
    carl.force_login(charlie)
    assert carl.post(f"/invite/{token}/").status_code == 302
    assert Membership.objects.get(project=project, user=charlie).role == "runner"
    again = carl.post(f"/invite/{token}/")
    assert again.status_code == 410 and "already been used" in html.unescape(again.content.decode())


def test_no_address_no_mail_and_a_bad_address_is_a_form_error(project, alice, login, mailoutbox):
    plain = login(alice).post(reverse("invitation-create", args=["acme"]), {"role": "viewer", "days": "7"})
    assert plain.status_code == 200 and mailoutbox == []
    assert "E-mailed" not in plain.content.decode()
    bad = login(alice).post(
        reverse("invitation-create", args=["acme"]), {"role": "viewer", "days": "7", "email": "carl@"}
    )
    assert bad.status_code == 400 and "Enter an e-mail address" in html.unescape(bad.content.decode())
    assert Invitation.objects.count() == 1 and mailoutbox == []


def test_a_failing_mail_backend_still_shows_the_link(project, alice, login, settings, mailoutbox):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", 9, 2  # nothing listens
    response = login(alice).post(
        reverse("invitation-create", args=["acme"]), {"role": "viewer", "days": "7", "email": "carl@example.com"}
    )
    assert response.status_code == 200
    text = html.unescape(response.content.decode())
    assert "could not be sent: send the link yourself" in text and response.context["new_link"] in text
    assert AuditEvent.objects.get(verb="invitation.email").data == {"email": "carl@example.com", "sent": False}


def test_the_service_sends_nothing_without_an_address(project, alice, mailoutbox):
    invitation, _token = svc.invitation_create(project=project, actor=alice, role="viewer")
    assert svc.invitation_send(invitation=invitation, link="http://x/invite/t/", actor=alice) is False
    assert mailoutbox == []
