"""The OpenID Connect backend's rules (users mapped by verified e-mail) and SSO off by default."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client, override_settings

from studio.auth_backends import StudioOIDCBackend, oidc_username
from studio.models import AuditEvent
from tests.conftest import UserFactory

pytestmark = pytest.mark.django_db

OIDC = {
    "OIDC_ENABLED": True,
    "OIDC_RP_CLIENT_ID": "studio",
    "OIDC_RP_CLIENT_SECRET": "s",
    "OIDC_OP_TOKEN_ENDPOINT": "http://127.0.0.1:9/token",
    "OIDC_OP_USER_ENDPOINT": "http://127.0.0.1:9/me",
    "OIDC_OP_JWKS_ENDPOINT": "http://127.0.0.1:9/jwks",
    "OIDC_RP_SIGN_ALGO": "RS256",
    "OIDC_USERNAME_ALGO": "studio.auth_backends.oidc_username",
}


class _Backend(StudioOIDCBackend):
    """The real backend with the provider's userinfo answer given (no provider in this unit test)."""

    claims: dict[str, Any] = {}

    def get_userinfo(self, access_token: str, id_token: str, payload: dict[str, Any]) -> dict[str, Any]:
        return self.claims


def _sign_in(claims: dict[str, Any], **extra: Any) -> Any:
    with override_settings(**OIDC, **extra):
        backend = _Backend()
        backend.claims = claims
        return backend.get_or_create_user("access", "id", {"sub": claims.get("sub", "x")})


def test_sso_is_off_by_default_and_its_routes_answer_404():
    client = Client()
    assert "Sign in with" not in client.get("/login/").content.decode()
    assert client.get("/oidc/authenticate/").status_code == 404
    assert client.get("/oidc/callback/?code=x&state=y").status_code == 404


def test_a_verified_email_signs_in_the_one_active_account_with_it():
    ada = UserFactory(username="ada", email="ada@example.com")
    assert _sign_in({"sub": "s1", "email": "ADA@example.com", "email_verified": True}) == ada
    assert AuditEvent.objects.get(verb="user.sso_login").actor == ada


@pytest.mark.parametrize(
    "claims",
    [{"email": "ada@example.com", "email_verified": False}, {"email_verified": True}, {"email": ""}],
)
def test_an_unverified_or_missing_email_is_refused(claims):
    UserFactory(username="ada", email="ada@example.com")
    with pytest.raises(Exception, match="Claims verification failed"):
        _sign_in(claims)


def test_inactive_unknown_and_ambiguous_emails_sign_nobody_in():
    UserFactory(username="old", email="old@example.com", is_active=False)
    assert _sign_in({"email": "old@example.com"}) is None
    assert _sign_in({"email": "new@example.com"}) is None
    UserFactory(username="twin1", email="twin@example.com")
    UserFactory(username="twin2", email="twin@example.com")
    with pytest.raises(Exception, match="Multiple users"):
        _sign_in({"email": "twin@example.com"})
    with pytest.raises(Exception, match="deactivated"):  # authenticate() turns it into "not signed in"
        _sign_in({"email": "old@example.com"}, OIDC_CREATE_USER=True)  # no second account
    assert not AuditEvent.objects.filter(verb__startswith="user.sso").exists()


def test_with_oidc_create_user_an_account_is_made_without_a_password_or_staff():
    UserFactory(username="ada", email="someone@example.com")
    user = _sign_in({"sub": "s9", "email": "ada@corp.example", "preferred_username": "ada"}, OIDC_CREATE_USER=True)
    assert user.username == "ada-2" and user.email == "ada@corp.example"
    assert not user.has_usable_password() and not user.is_staff and not user.is_superuser
    assert AuditEvent.objects.get(verb="user.sso_create").data == {"email": "ada@corp.example", "sub": "s9"}


def test_usernames_are_cleaned_and_unique():
    assert oidc_username("x y!@example.com", {}) == "xy"
    UserFactory(username="xy")
    assert oidc_username("x y!@example.com", {}) == "xy-2"
    assert oidc_username(None, {}) == "user"
