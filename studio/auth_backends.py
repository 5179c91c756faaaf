"""Authentication backends: login throttling in front of Django's password check."""

from __future__ import annotations

from typing import Any

from axes.backends import AxesStandaloneBackend
from django.http import HttpRequest


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
