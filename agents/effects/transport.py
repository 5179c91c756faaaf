"""The egress allow-list of a project, and the pinned httpx transport (:mod:`studio.lib.pinned`).

An httpx transport that connects only to addresses the egress guard checked.

Every request (each redirect hop is a request) goes through
:func:`studio.lib.ssrf.check_url`; the connection is then opened to the
checked IP address itself — the URL's host is replaced by the address, while
the ``Host`` header and the TLS SNI name (and so certificate verification)
keep the original hostname. No second DNS lookup happens, so a name that
resolves to a public address for the check and to 127.0.0.1 a moment later
(DNS rebinding) cannot steer the connection.
"""

from __future__ import annotations

from django.db.models import Q

from studio.lib.pinned import PinnedTransport, pinned_client

__all__ = ["PinnedTransport", "egress_allowed_hosts", "pinned_client"]


def egress_allowed_hosts(project_id: int | None) -> list[str]:
    """Hosts an administrator allowed for ``project_id`` or for every
    project (``studio.models.EgressAllowedHost``), normalized."""
    from studio.models import EgressAllowedHost

    rows = EgressAllowedHost.objects.filter(Q(project__isnull=True) | Q(project_id=project_id))
    return sorted(set(rows.values_list("host", flat=True)))
