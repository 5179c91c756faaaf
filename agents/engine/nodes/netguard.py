"""Static SSRF guard for URLs written into node configs.

The engine refuses a *literal* host that is private, loopback, link-local,
multicast, reserved, shared, a cloud metadata address or name — judged like
``studio.lib.ssrf.address_refusal`` judges a resolved address (the two are
kept in step by ``tests/studio/test_ssrf_rules_agree.py``). The runtime's
``HttpClient`` checks again after DNS resolution and on every redirect.

The admin's allow-list (set with :func:`allowed_hosts`) follows the same rule
as the runtime's (``studio.lib.ssrf.host_allowed``), so validate, publish and
run agree: an entry ``host:port`` allows that host on that port; an entry
without a port allows the host on the web's default ports, 80 and 443, only.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from urllib.parse import urlsplit

IP = ipaddress.IPv4Address | ipaddress.IPv6Address

_METADATA_NAMES = frozenset(
    {"localhost", "metadata", "metadata.google.internal", "instance-data", "metadata.azure.com"}
)
_METADATA_ADDRESSES: frozenset[IP] = frozenset(
    ipaddress.ip_address(a)
    for a in ("169.254.169.254", "fd00:ec2::254", "169.254.170.2", "100.100.100.200", "192.0.0.192")
)
_SHARED = ipaddress.ip_network("100.64.0.0/10")
_NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))
_IPV4_TRANSLATED = ipaddress.ip_network("::ffff:0:0:0/96")
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")
_SITE_LOCAL = ipaddress.ip_network("fec0::/10")

#: Ports an allow-list entry without a port opens.
DEFAULT_PORTS = frozenset({80, 443})
_SCHEME_PORTS = {"http": 80, "https": 443}


def _parse_ip(host: str) -> IP | None:
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


def _normalize(host: str) -> str:
    name = host.strip().lower()
    if name.startswith("[") and name.endswith("]"):
        name = name[1:-1]
    return name[:-1] if name.endswith(".") and not name.endswith("..") else name


def parse_allow_entry(entry: str) -> tuple[str, int | None]:
    """``(host, port or None)`` of an allow-list entry (``intranet.example``,
    ``10.0.0.5:8080``, ``[fd00::5]:8443``, ``::1``). Raises ``ValueError``."""
    text = entry.strip()
    if not text or any(c in text for c in "/@?#\\ \t"):
        raise ValueError(f"{entry!r} is not a host or host:port")
    port_text: str | None = None
    if text.startswith("["):
        end = text.find("]")
        if end < 0 or (text[end + 1 :] and not text[end + 1 :].startswith(":")):
            raise ValueError(f"{entry!r} is not a host or host:port")
        host, port_text = text[1:end], (text[end + 2 :] if text[end + 1 :] else None)
    elif text.count(":") == 1:
        host, port_text = text.split(":")
    else:
        host = text
    port = None
    if port_text is not None:
        if not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
            raise ValueError(f"{entry!r}: the port must be a number from 1 to 65535")
        port = int(port_text)
    name = _normalize(host)
    if not name:
        raise ValueError(f"{entry!r} has no host")
    if ":" in name:
        ipaddress.IPv6Address(name)  # ValueError when it is not one
    elif not name.isascii():
        name = name.encode("idna").decode("ascii")
    return name, port


#: Entries an administrator allowed (the runtime's allow-list), set with :func:`allowed_hosts`.
_allowed: ContextVar[tuple[tuple[str, int | None], ...]] = ContextVar("studio_allowed_hosts", default=())


@contextmanager
def allowed_hosts(hosts: Iterable[str]) -> Iterator[None]:
    """Within this block, the static check accepts the admin's allow-list
    ``hosts`` (``host`` or ``host:port`` entries; malformed ones are
    ignored). The runtime's ``HttpClient`` still checks every resolved
    address against the same list."""
    entries = []
    for entry in hosts:
        try:
            entries.append(parse_allow_entry(entry))
        except (ValueError, UnicodeError):
            continue
    token = _allowed.set(tuple(entries))
    try:
        yield
    finally:
        _allowed.reset(token)


def _is_allowed(name: str, port: int | None) -> bool:
    """``port`` None: the URL's port is unknown, only an entry for any default port matches."""
    for host, allowed_port in _allowed.get():
        if host != name:
            continue
        if allowed_port is None and (port is None or port in DEFAULT_PORTS):
            return True
        if allowed_port is not None and allowed_port == port:
            return True
    return False


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> tuple[ipaddress.IPv4Address, str] | None:
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped, "IPv4-mapped"
    if ip.sixtofour is not None:
        return ip.sixtofour, "6to4"
    if ip.teredo is not None:
        return ip.teredo[1], "Teredo"
    low32 = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip in _IPV4_TRANSLATED:
        return low32, "IPv4-translated"
    if any(ip in network for network in _NAT64):
        return low32, "NAT64"
    if ip in _IPV4_COMPATIBLE and int(ip) > 1:
        return low32, "IPv4-compatible"
    return None


def address_refusal(ip: IP) -> str | None:
    """Why the studio may not connect to ``ip``, or ``None`` for a public
    unicast address (the rule of ``studio.lib.ssrf.address_refusal``)."""
    if ip in _METADATA_ADDRESSES:
        return "cloud metadata"
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.scope_id:
            ip = ipaddress.IPv6Address(str(ip).split("%", 1)[0])
        embedded = _embedded_ipv4(ip)
        if embedded is not None:
            inner, form = embedded
            reason = address_refusal(inner)
            if reason is not None:
                return f"{form} form of {inner}, {reason}"
            if form in ("Teredo", "IPv4-compatible", "IPv4-translated"):
                return f"{form} tunnel address"
            return None
        if ip in _SITE_LOCAL:
            return "site-local"
    checks: list[tuple[bool, str]] = [
        (ip.is_unspecified, "unspecified"),
        (ip.is_loopback, "loopback"),
        (ip.is_link_local, "link-local"),
        (ip.is_multicast, "multicast"),
        (isinstance(ip, ipaddress.IPv4Address) and ip in _SHARED, "shared address space (100.64.0.0/10)"),
        (ip.is_private, "private"),
        (ip.is_reserved, "reserved"),
        (not ip.is_global, "not globally routable"),
    ]
    return next((reason for refused, reason in checks if refused), None)


def forbidden_host_reason(host: str, port: int | None = None) -> str | None:
    """Why ``host`` (a hostname or IP literal, brackets allowed) is refused on
    ``port`` (None: a default port), or ``None`` when it may be called.
    IPv6 forms carrying an IPv4 address are judged by that address. Entries
    allowed with :func:`allowed_hosts` pass."""
    name = _normalize(host)
    if _is_allowed(name, port):
        return None
    if "%" in name:
        name = name.split("%", 1)[0]  # IPv6 zone id
    if name in _METADATA_NAMES or name.endswith(".localhost") or name.endswith(".internal"):
        return f"{host!r} is a local or metadata host"
    ip = _parse_ip(name)
    if ip is None:
        return None
    reason = address_refusal(ip)
    if reason is None:
        return None
    return f"{host!r} is not a public address ({reason})"


def url_problems(url_template: str) -> list[str]:
    """Static problems of a URL template: not ``http(s)://host…``, or a
    literal host that :func:`forbidden_host_reason` refuses on the URL's
    port. A host (or port) written as a template expression is left to the
    runtime's check."""
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
    if parts.scheme.lower() not in _SCHEME_PORTS:
        return [f"scheme {parts.scheme!r} is not allowed; use http or https"]
    if "://" not in head:
        if templated and len(head) <= len(parts.scheme) + 2 and f"{parts.scheme}://".startswith(head):
            return []  # "http:{{ … }}": the rest is a template expression
        return [f"the URL must look like {parts.scheme}://host/… (found {url_template[:40]!r})"]
    netloc_done = "/" in head.split("://", 1)[1] or not templated
    if not netloc_done:
        return []  # the host is (partly) a template expression
    host = parts.hostname or ""
    if not host:
        return ["the URL has no host"]
    try:
        port = parts.port
    except ValueError as exc:
        return [f"invalid URL: {exc}"]
    reason = forbidden_host_reason(host, port if port is not None else _SCHEME_PORTS[parts.scheme.lower()])
    return [f"refused host: {reason}"] if reason else []


def rendered_url_problem(url: str) -> str | None:
    """The run-time check of a rendered URL (same rules, no templates)."""
    problems = url_problems(url.replace("{{", "").replace("{%", ""))
    return problems[0] if problems else None
