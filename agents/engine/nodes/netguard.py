"""Static SSRF guard for URLs written into node configs.

The engine refuses a *literal* host that is private, loopback, link-local,
multicast, reserved or a cloud metadata name. The runtime's ``HttpClient``
checks again after DNS resolution and on every redirect.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from urllib.parse import urlsplit

_METADATA_NAMES = frozenset(
    {"localhost", "metadata", "metadata.google.internal", "instance-data", "metadata.azure.com"}
)


def _parse_ip(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    # Legacy IPv4 spellings a resolver accepts: 2130706433, 0x7f.1, 017700000001.
    if host and all(c in "0123456789abcdefx." for c in host) and any(c.isdigit() for c in host):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            return None
    return None


#: Hosts an administrator allowed (the runtime's allow-list), set with :func:`allowed_hosts`.
_allowed: ContextVar[frozenset[str]] = ContextVar("studio_allowed_hosts", default=frozenset())


@contextmanager
def allowed_hosts(hosts: Iterable[str]) -> Iterator[None]:
    """Within this block, the static check accepts ``hosts`` (exact names or IP
    literals, case-insensitive) — the admin's allow-list. The runtime's
    ``HttpClient`` still checks every resolved address against the same list."""
    token = _allowed.set(frozenset(h.strip().strip("[]").lower().rstrip(".") for h in hosts))
    try:
        yield
    finally:
        _allowed.reset(token)


def forbidden_host_reason(host: str) -> str | None:
    """Why ``host`` (a hostname or IP literal, brackets allowed) is refused,
    or ``None`` when it may be called. IPv4-mapped, 6to4 and Teredo IPv6
    addresses are judged by the IPv4 address they carry. Hosts allowed with
    :func:`allowed_hosts` pass."""
    name = host.strip().strip("[]").lower().rstrip(".")
    if name in _allowed.get():
        return None
    if "%" in name:
        name = name.split("%", 1)[0]  # IPv6 zone id
    if name in _METADATA_NAMES or name.endswith(".localhost") or name.endswith(".internal"):
        return f"{host!r} is a local or metadata host"
    ip = _parse_ip(name)
    if ip is None:
        return None
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = ip.ipv4_mapped or ip.sixtofour or (ip.teredo[1] if ip.teredo else None)
        if embedded is not None:
            ip = embedded
    if not ip.is_global or ip.is_multicast:
        return f"{host!r} is a private, loopback, link-local or reserved address"
    return None


def url_problems(url_template: str) -> list[str]:
    """Static problems of a URL template: not http(s), or a literal host
    that :func:`forbidden_host_reason` refuses. A host written as a template
    expression is left to the runtime's check."""
    if not url_template.strip():
        return ["the URL is empty"]
    head = url_template.split("{{", 1)[0].split("{%", 1)[0]
    templated = head != url_template
    try:
        parts = urlsplit(url_template if not templated else head)
    except ValueError as exc:
        return [f"invalid URL: {exc}"]
    if not parts.scheme:
        return [] if templated and "://" not in head else ["the URL must start with http:// or https://"]
    if parts.scheme not in ("http", "https"):
        return [f"scheme {parts.scheme!r} is not allowed; use http or https"]
    netloc_done = "/" in head.split("://", 1)[1] or not templated
    if not netloc_done:
        return []  # the host is (partly) a template expression
    host = parts.hostname or ""
    if not host:
        return ["the URL has no host"]
    reason = forbidden_host_reason(host)
    return [f"refused host: {reason}"] if reason else []


def rendered_url_problem(url: str) -> str | None:
    """The run-time check of a rendered URL (same rules, no templates)."""
    problems = url_problems(url.replace("{{", "").replace("{%", ""))
    return problems[0] if problems else None
