"""Authentication backends: login throttling in front of Django's password check, and OpenID Connect."""

from __future__ import annotations

import re
from typing import Any

from axes.backends import AxesStandaloneBackend
from django.conf import settings
from django.core.exceptions import SuspiciousOperation
from django.http import HttpRequest
from mozilla_django_oidc.auth import OIDCAuthenticationBackend
from mozilla_django_oidc.utils import import_from_settings


class LoginThrottleBackend(AxesStandaloneBackend):
    """django-axes' lockout check, listed first in ``AUTHENTICATION_BACKENDS``.

    Refuses a login (the login page, the admin login) for a username and IP
    address that failed ``AXES_FAILURE_LIMIT`` times, even with the right
    password, until the cool-off passes or an admin resets it
    (``manage.py axes_reset_username``). A call without a request (the test
    client's ``login()``, a shell) is not an attempt over the network and is
    not throttled. Never authenticates anyone itself: returns ``None`` or
    raises ``AxesBackendPermissionDenied``.
    """

    def authenticate(  # type: ignore[override]
        self, request: HttpRequest | None, username: str | None = None, password: str | None = None, **kwargs: Any
    ) -> None:
        if request is None:
            return None
        return super().authenticate(request, username, password, **kwargs)  # type: ignore[no-any-return]


def oidc_username(email: str | None, claims: dict[str, Any] | None = None) -> str:
    """The username of an account created at its first SSO sign-in: the provider's
    ``preferred_username``, else the e-mail's local part — cleaned to Django's username
    characters, at most 150, and made unique with ``-2``, ``-3`` …"""
    from django.contrib.auth import get_user_model

    claims = claims or {}
    wanted = str(claims.get("preferred_username") or (email or "").split("@")[0] or "user")
    base = re.sub(r"[^\w.@+-]", "", wanted)[:140] or "user"
    users = get_user_model().objects
    name, n = base, 1
    while users.filter(username__iexact=name).exists():
        n += 1
        name = f"{base}-{n}"
    return name


class StudioOIDCBackend(OIDCAuthenticationBackend):
    """OpenID Connect sign-in (``mozilla-django-oidc``), on when ``OIDC_RP_CLIENT_ID`` is set.

    The provider's e-mail claim must be present and not ``email_verified: false``. It is
    matched (case-insensitively) against *active* accounts: exactly one — that account
    signs in; several — refused (ambiguous); none — refused, unless ``OIDC_CREATE_USER``
    is on and no deactivated account has that e-mail, then an account is created (username from :func:`oidc_username`, no usable
    password). Staff and superuser flags are never given by the provider. Every SSO
    sign-in and account creation is audited (``user.sso_login``, ``user.sso_create``).
    """

    @staticmethod
    def get_settings(attr: str, *args: Any) -> Any:
        if attr == "OIDC_CREATE_USER":  # mozilla-django-oidc defaults to True: here only when asked for
            return bool(getattr(settings, "OIDC_CREATE_USER", False))
        return import_from_settings(attr, *args)

    def verify_claims(self, claims: dict[str, Any]) -> bool:
        return bool(claims.get("email")) and claims.get("email_verified", True) is not False

    def filter_users_by_claims(self, claims: dict[str, Any]) -> Any:
        return super().filter_users_by_claims(claims).filter(is_active=True)

    def create_user(self, claims: dict[str, Any]) -> Any:
        if self.UserModel.objects.filter(email__iexact=claims.get("email"), is_active=False).exists():
            raise SuspiciousOperation("The account with this e-mail is deactivated")  # no second account
        user = super().create_user(claims)
        user.set_unusable_password()
        user.save(update_fields=["password"])
        _audit(user, "user.sso_create", claims)
        return user

    def get_or_create_user(self, access_token: str, id_token: str, payload: dict[str, Any]) -> Any:
        user = super().get_or_create_user(access_token, id_token, payload)
        if user is not None:
            _audit(user, "user.sso_login", payload)
        return user


def _audit(user: Any, verb: str, claims: dict[str, Any]) -> None:
    from studio.services import audit_record

    audit_record(
        project=None, actor=user, verb=verb, obj=user, data={"email": user.email, "sub": str(claims.get("sub", ""))}
    )
