"""Members and invitations: pages, API and the rules (role above the actor's, last owner, single-use links)."""

from __future__ import annotations

import datetime
import html

import pytest
from django.urls import reverse
from django.utils import timezone

from studio.models import AuditEvent, Invitation, Membership, Role
from studio.workspace import services as svc
from tests.conftest import UserFactory

pytestmark = pytest.mark.django_db


def page_text(response) -> str:
    return html.unescape(response.content.decode())


def test_owner_adds_a_user_by_email_as_viewer_and_it_is_audited(project, alice, login):
    UserFactory(username="frank", email="Frank@Example.com")
    response = login(alice).post(
        reverse("project-members", args=["acme"]), {"user": "frank@example.com", "role": "viewer"}
    )
    assert response.status_code == 302
    membership = Membership.objects.get(project=project, user__username="frank")
    assert membership.role == Role.VIEWER
    event = AuditEvent.objects.get(verb="membership.add", object_id=str(membership.pk))
    assert event.actor == alice and event.data == {"user": "frank", "role": "viewer"}


@pytest.mark.parametrize(
    ("identifier", "message"),
    [
        ("nobody", "No account has the username or e-mail 'nobody'"),
        ("bob", "bob is already a member"),
        ("", "Enter a username"),
    ],
)
def test_adding_an_unknown_user_or_a_member_twice_is_a_clear_400(project, alice, bob, login, identifier, message):
    before = Membership.objects.count()
    response = login(alice).post(reverse("project-members", args=["acme"]), {"user": identifier, "role": "viewer"})
    assert response.status_code == 400
    assert message in page_text(response)
    assert Membership.objects.count() == before


def test_admin_cannot_give_admin_or_owner_and_nothing_is_saved(project, dave, login):
    UserFactory(username="frank")
    for role in ("admin", "owner"):
        response = login(dave).post(reverse("project-members", args=["acme"]), {"user": "frank", "role": role})
        assert response.status_code == 400
        assert "above your own" in page_text(response) or "Only an owner" in page_text(response)
    assert not Membership.objects.filter(user__username="frank").exists()


def test_admin_cannot_demote_or_remove_an_owner(project, alice, dave, login):
    owner = Membership.objects.get(user=alice)
    assert login(dave).post(reverse("member-role", args=["acme", owner.pk]), {"role": "viewer"}).status_code == 400
    assert login(dave).post(reverse("member-remove", args=["acme", owner.pk])).status_code == 400
    owner.refresh_from_db()
    assert owner.role == Role.OWNER


def test_viewer_and_editor_cannot_open_members_page_stranger_gets_404(project, bob, erin, charlie, login):
    url = reverse("project-members", args=["acme"])
    assert login(bob).get(url).status_code == 403
    assert login(erin).post(url, {"user": "bob", "role": "owner"}).status_code == 403
    assert login(charlie).get(url).status_code == 404


def test_last_owner_cannot_leave_or_be_demoted_but_can_after_transfer(project, alice, bob, login):
    client = login(alice)
    mine = Membership.objects.get(user=alice)
    response = client.post(reverse("member-role", args=["acme", mine.pk]), {"role": "admin"})
    assert mine.role == Role.OWNER and Membership.objects.get(pk=mine.pk).role == Role.OWNER
    with pytest.raises(svc.WorkspaceError, match="last owner"):
        svc.membership_remove(membership=mine, actor=alice)
    bob_membership = Membership.objects.get(user=bob)
    response = client.post(reverse("project-transfer", args=["acme"]), {"member": bob_membership.pk})
    assert response.status_code == 302
    assert Membership.objects.get(user=bob).role == Role.OWNER
    assert Membership.objects.get(user=alice).role == Role.ADMIN
    assert AuditEvent.objects.filter(verb="project.transfer", actor=alice).exists()
    response = client.post(reverse("project-leave", args=["acme"]))
    assert response.status_code == 302 and not Membership.objects.filter(user=alice).exists()


def test_members_page_lists_members_and_role_table(project, alice, bob, dave, login):
    html = login(alice).get(reverse("project-members", args=["acme"])).content.decode()
    for name in ("alice", "bob", "dave"):
        assert name in html
    assert "Also manages members below admin" in html


def test_invitation_link_is_shown_once_and_joins_once(project, alice, login, charlie):
    response = login(alice).post(reverse("invitation-create", args=["acme"]), {"role": "runner", "days": "3"})
    assert response.status_code == 200
    invitation = Invitation.objects.get(project=project)
    link = response.context["new_link"]
    token = link.rstrip("/").rsplit("/", 1)[1]
    assert token not in invitation.hashed_token and "shown once" in page_text(response)
    assert token not in login(alice).get(reverse("project-members", args=["acme"])).content.decode()

    guest = login(charlie)
    assert guest.get(link).status_code == 200
    assert guest.post(link).status_code == 302
    assert Membership.objects.get(project=project, user=charlie).role == Role.RUNNER
    second = login(UserFactory(username="grace"))
    response = second.post(link)
    assert response.status_code == 410 and "already been used" in page_text(response)
    assert not Membership.objects.filter(user__username="grace").exists()


def test_expired_and_revoked_invitations_are_refused(project, alice, charlie):
    invitation, token = svc.invitation_create(project=project, actor=alice, role="viewer", days=1)
    Invitation.objects.filter(pk=invitation.pk).update(expires_at=timezone.now() - datetime.timedelta(seconds=1))
    with pytest.raises(svc.WorkspaceError, match="expired"):
        svc.invitation_accept(token=token, user=charlie)
    other, token2 = svc.invitation_create(project=project, actor=alice, role="viewer", days=1)
    svc.invitation_revoke(invitation=other, actor=alice)
    with pytest.raises(svc.WorkspaceError, match="revoked"):
        svc.invitation_accept(token=token2, user=charlie)
    with pytest.raises(svc.WorkspaceError, match="not valid"):
        svc.invitation_accept(token="nope", user=charlie)
    assert not Membership.objects.filter(user=charlie).exists()


def test_admin_cannot_invite_an_admin_and_days_are_bounded(project, dave):
    with pytest.raises(svc.WorkspaceError, match="Only an owner"):
        svc.invitation_create(project=project, actor=dave, role="admin")
    with pytest.raises(svc.WorkspaceError, match="from 1 to 30") as info:
        svc.invitation_create(project=project, actor=dave, role="viewer", days=90)
    assert info.value.field == "days"
    assert not Invitation.objects.exists()


# ------------------------------------------------------------------ API


def test_api_lists_adds_changes_and_removes_members(project, alice, bob, login):
    client = login(alice)
    url = reverse("api-members", args=["acme"])
    listed = client.get(url).json()
    assert {m["username"]: m["role"] for m in listed} == {"alice": "owner", "bob": "viewer"}
    UserFactory(username="frank")
    created = client.post(url, {"user": "frank", "role": "runner"}, content_type="application/json")
    assert created.status_code == 201 and created.json()["role"] == "runner"
    member_url = reverse("api-member", args=["acme", created.json()["id"]])
    changed = client.patch(member_url, {"role": "editor"}, content_type="application/json")
    assert changed.status_code == 200 and changed.json()["role"] == "editor"
    assert client.delete(member_url).status_code == 204
    assert not Membership.objects.filter(user__username="frank").exists()


def test_api_errors_name_the_field_and_code(project, alice, dave, bob, login):
    url = reverse("api-members", args=["acme"])
    duplicate = login(alice).post(url, {"user": "bob", "role": "viewer"}, content_type="application/json")
    assert duplicate.status_code == 400 and duplicate.json()["code"] == "duplicate"
    assert duplicate.json()["errors"] == {"user": ["bob is already a member."]}
    too_high = login(dave).post(url, {"user": "bob", "role": "owner"}, content_type="application/json")
    assert too_high.status_code == 403 and too_high.json()["code"] == "role_too_high"
    bad_role = login(alice).post(url, {"user": "bob", "role": "king"}, content_type="application/json")
    assert bad_role.status_code == 400 and "role" in bad_role.json()["errors"]
    owner = Membership.objects.get(user=alice)
    last = login(alice).patch(
        reverse("api-member", args=["acme", owner.pk]), {"role": "viewer"}, content_type="application/json"
    )
    assert last.status_code == 409 and last.json()["code"] == "last_owner"
    assert login(bob).get(url).status_code == 403


def test_api_member_of_another_project_is_404(project, alice, login):
    from tests.conftest import ProjectFactory

    other = ProjectFactory(slug="other")
    stranger = Membership.objects.create(project=other, user=UserFactory(username="zed"), role=Role.VIEWER)
    response = login(alice).delete(reverse("api-member", args=["acme", stranger.pk]))
    assert response.status_code == 404
    assert Membership.objects.filter(pk=stranger.pk).exists()
