"""Bearer API keys: ``Authorization: Bearer sk_…``, stored hashed, scoped to a project and role."""

from __future__ import annotations

import datetime as dt
from typing import Any

from axes.handlers.proxy import AxesProxyHandler
from django.conf import settings
from django.contrib.auth.signals import user_login_failed
from django.db import models
from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions
from rest_framework.request import Request

from studio.models import ApiKey
from studio.views import LOCKOUT_MESSAGE

#: What django-axes records for a failed bearer key: one pseudo-username, so failures count per IP address.
API_KEY_CREDENTIALS = {"username": "(api key)"}


class LockedOut(exceptions.APIException):
    """429 ``locked_out``: this client address failed too many times (django-axes)."""

    status_code = 429
    default_detail = LOCKOUT_MESSAGE
    default_code = "locked_out"

#: ``ApiKey.last_used_at`` is written at most once per this many seconds per key (an UPDATE
#: per request was 19 % of the API's CPU); so it is accurate to a minute.
LAST_USED_RESOLUTION_S = 60


def _touch(key: ApiKey) -> None:
    """Record that ``key`` was used now, unless that was already recorded less than a minute ago."""
    now = timezone.now()
    if key.last_used_at is not None and (now - key.last_used_at).total_seconds() < LAST_USED_RESOLUTION_S:
        return
    # Conditional: of two requests racing past the check above, only one writes.
    cutoff = now - dt.timedelta(seconds=LAST_USED_RESOLUTION_S)
    ApiKey.objects.filter(pk=key.pk).filter(
        models.Q(last_used_at__isnull=True) | models.Q(last_used_at__lt=cutoff)
    ).update(last_used_at=now)


class ApiKeyAuthentication(authentication.BaseAuthentication):
    """Authenticate ``Authorization: Bearer <key>``.

    On success ``request.auth`` is the :class:`ApiKey`; selectors cap the
    user's access to the key's project and role. Raises
    ``AuthenticationFailed`` for an unknown, revoked or expired key — an
    unknown one counted by django-axes against the client's IP address — and
    :class:`LockedOut` (429 ``locked_out``) once that address is locked.
    """

    keyword = "Bearer"

    def authenticate(self, request: Request) -> tuple[Any, ApiKey] | None:
        header = authentication.get_authorization_header(request).decode("latin-1")
        if not header.startswith(self.keyword + " "):
            return None
        raw = header[len(self.keyword) + 1 :].strip()
        if not raw.startswith("sk_"):
            return None
        http_request = request._request
        if settings.AXES_ENABLED and not AxesProxyHandler.is_allowed(http_request, API_KEY_CREDENTIALS):
            raise LockedOut()
        key = ApiKey.objects.select_related("user", "project").filter(hashed_key=ApiKey.hash(raw)).first()
        if key is None or not key.user.is_active:
            # Counted by django-axes per client IP address: after AXES_FAILURE_LIMIT failures every
            # bearer key from that address is refused with 429 until the cool-off or `axes_reset_ip`.
            user_login_failed.send(sender=type(self), credentials=API_KEY_CREDENTIALS, request=http_request)
            raise exceptions.AuthenticationFailed("Invalid or revoked API key.", code="invalid_api_key")
        if key.revoked_at is not None:
            raise exceptions.AuthenticationFailed("This API key was revoked.", code="revoked_api_key")
        if not key.is_usable(timezone.now()):
            raise exceptions.AuthenticationFailed("This API key has expired.", code="expired_api_key")
        _touch(key)
        user = key.user
        user._studio_api_key = key  # selectors cap access to the key's project and role
        return user, key

    def authenticate_header(self, request: Request) -> str:
        return self.keyword


class ApiKeyAuthenticationScheme(OpenApiAuthenticationExtension):  # type: ignore[no-untyped-call]
    target_class = "studio.api.auth.ApiKeyAuthentication"
    name = "apiKey"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {"type": "http", "scheme": "bearer", "description": "Project API key (sk_…)"}
