"""OpenID Connect sign-in routes: ``/oidc/authenticate/`` (to the provider) and ``/oidc/callback/``.

``mozilla-django-oidc``'s views, answering 404 while SSO is off (``OIDC_RP_CLIENT_ID``
unset): the routes always exist, the provider's settings only when configured.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponseBase
from mozilla_django_oidc.views import OIDCAuthenticationCallbackView, OIDCAuthenticationRequestView


def sso_enabled() -> bool:
    """Whether OpenID Connect sign-in is configured."""
    return bool(getattr(settings, "OIDC_ENABLED", False))


class SsoStartView(OIDCAuthenticationRequestView):
    """Redirect to the provider's authorization endpoint (state, nonce and PKCE kept in the session)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        if sso_enabled():
            super().__init__(*args, **kwargs)

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if not sso_enabled():
            raise Http404("Single sign-on is not configured.")
        return super().dispatch(request, *args, **kwargs)


class SsoCallbackView(OIDCAuthenticationCallbackView):
    """The provider's redirect back: the code is exchanged, the id token checked, the user signed in."""

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if not sso_enabled():
            raise Http404("Single sign-on is not configured.")
        return super().dispatch(request, *args, **kwargs)


def login_context(request: HttpRequest) -> dict[str, Any]:
    """Template context: ``sso_name`` (the button's provider name) when SSO is on, and ``sso_failed``."""
    if not sso_enabled():
        return {}
    return {
        "sso_name": getattr(settings, "OIDC_PROVIDER_NAME", "SSO"),
        "sso_failed": request.GET.get("sso") == "failed",
    }
