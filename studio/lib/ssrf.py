"""Egress guard: may the studio connect to this URL? (SSRF protection, pure Python.)

:func:`check_url` parses a URL, resolves its host and refuses it when *any*
resolved address is not a public unicast address — private, loopback,
link-local, cloud metadata, unspecified, multicast, reserved, shared
(100.64/10), or an IPv6 form that carries such an IPv4 address
(IPv4-mapped, IPv4-compatible, IPv4-translated, 6to4, NAT64, Teredo) —
unless an administrator allowed the host (and port: see :func:`host_allowed`).

The caller must then connect to one of the returned addresses and to
nothing else (no second DNS lookup), so that a name resolving differently a
moment later (DNS rebinding) cannot redirect the connection. Every redirect
hop is a new URL to check.

Errors: :class:`EgressRefused` (a ``PermissionError``) for a refused or
malformed URL, ``ConnectionError`` when the host does not resolve.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Iterable
from urllib.parse import urlsplit

IP = ipaddress.IPv4Address | ipaddress.IPv6Address

SCHEMES = {"http": 80, "https": 443}

#: Instance metadata services: AWS/GCP/Azure/OpenStack (IPv4 and AWS's IPv6),
#: AWS ECS task metadata, Alibaba Cloud, Oracle Cloud.
METADATA_ADDRESSES: frozenset[IP] = frozenset(
    ipaddress.ip_address(a)
    for a in ("169.254.169.254", "fd00:ec2::254", "169.254.170.2", "100.100.100.200", "192.0.0.192")
)

_SHARED = ipaddress.ip_network("100.64.0.0/10")  # carrier-grade NAT (RFC 6598)
_NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))
_IPV4_TRANSLATED = ipaddress.ip_network("::ffff:0:0:0/96")  # SIIT (RFC 2765)
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")  # deprecated ::a.b.c.d
_SITE_LOCAL = ipaddress.ip_network("fec0::/10")

# A hostname after IDNA: letters, digits, hyphens, underscores and dots.
_HOSTNAME = re.compile(r"^[a-z0-9_](?:[a-z0-9_.-]{0,251}[a-z0-9_.])?$")
# Legacy IPv4 spellings resolvers accept: 2130706433, 0x7f.1, 0177.0.0.1.
_LEGACY_IPV4 = re.compile(r"^(?:0x[0-9a-f]*|[0-9]+)(?:\.(?:0x[0-9a-f]*|[0-9]+)){0,3}$")


#: Ports an allow-list entry without a port opens: the web's defaults.
DEFAULT_PORTS = frozenset({80, 443})


class EgressRefused(PermissionError):
    """The URL may not be fetched: its scheme, form, or an address its host
    resolves to is refused. The message says which and why."""


def normalize_host(host: str) -> str:
    """Lower case, brackets and one trailing dot removed: how hosts are
    compared with the allow-list (``Example.COM.`` → ``example.com``,
    ``[::1]`` → ``::1``)."""
    name = host.strip().lower()
    if name.startswith("[") and name.endswith("]"):
        name = name[1:-1]
    return name[:-1] if name.endswith(".") and not name.endswith("..") else name


def parse_allow_entry(entry: str) -> tuple[str, int | None]:
    """``(host, port or None)`` of an egress allow-list entry: ``host``,
    ``host:port``, ``[IPv6]``, ``[IPv6]:port`` or a bare IPv6 address
    (``::1``); the host normalized (:func:`normalize_host`, IDNA). Raises
    ``ValueError`` for anything else (a scheme, a path, a bad port)."""
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
    name = normalize_host(host)
    if not name:
        raise ValueError(f"{entry!r} has no host")
    if ":" in name:
        ipaddress.IPv6Address(name)  # ValueError when it is not one
    elif not name.isascii():
        try:
            name = name.encode("idna").decode("ascii")
        except UnicodeError:
            raise ValueError(f"{entry!r} is not a valid hostname") from None
    return name, port


def normalize_allow_entry(entry: str) -> str:
    """The canonical spelling of an allow-list entry: ``intranet.example``,
    ``10.0.0.5:8080``, ``::1``, ``[fd00::5]:8443``. Raises ``ValueError``."""
    host, port = parse_allow_entry(entry)
    if port is None:
        return host
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def host_allowed(host: str, port: int, allowed_hosts: Iterable[str]) -> bool:
    """Whether the allow-list ``allowed_hosts`` lets the studio reach
    ``host`` (normalized) on ``port``: an entry ``host:port`` allows that
    port only; an entry without a port allows :data:`DEFAULT_PORTS` (80 and
    443) only — never every port. Malformed entries allow nothing. The
    engine's static check (``agents.engine.nodes.netguard``) applies the
    same rule."""
    name = normalize_host(host)
    for entry in allowed_hosts:
        try:
            allowed_host, allowed_port = parse_allow_entry(entry)
        except ValueError:
            continue
        if allowed_host == name and (port == allowed_port if allowed_port is not None else port in DEFAULT_PORTS):
            return True
    return False


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> tuple[ipaddress.IPv4Address, str] | None:
    """The IPv4 address an IPv6 address carries, with the form's name."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped, "IPv4-mapped"
    if ip.sixtofour is not None:
        return ip.sixtofour, "6to4"
    if ip.teredo is not None:
        return ip.teredo[1], "Teredo"
    low32 = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip in _IPV4_TRANSLATED:
        return low32, "IPv4-translated"
    for network in _NAT64:
        if ip in network:
            return low32, "NAT64"
    if ip in _IPV4_COMPATIBLE and int(ip) > 1:  # ::a.b.c.d (not :: or ::1)
        return low32, "IPv4-compatible"
    return None


def address_refusal(ip: IP) -> str | None:
    """Why the studio may not connect to ``ip`` (e.g. ``"loopback"``), or
    ``None`` when it is a public unicast address."""
    if ip in METADATA_ADDRESSES:
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
            return None  # IPv4-mapped, 6to4 or NAT64 form of a public IPv4 address
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


def _literal_ip(host: str) -> IP | None:
    """``host`` as an IP address when it is one, legacy IPv4 spellings included."""
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    if _LEGACY_IPV4.match(host):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            raise EgressRefused(f"{host!r} is neither a hostname nor a valid IP address") from None
    return None


def parse_url(url: str) -> tuple[str, str, int]:
    """``(scheme, host, port)`` of an http(s) URL; ``host`` normalized (IDNA,
    lower case, no brackets) and ``port`` defaulted by scheme. Raises
    :class:`EgressRefused` for anything else: another scheme, userinfo
    (``http://a@b``), whitespace, control characters or backslashes, an
    empty or malformed host, a bad port."""
    if not isinstance(url, str) or not url:
        raise EgressRefused("the URL is empty")
    if any(c.isspace() or ord(c) < 0x20 or ord(c) == 0x7F or c == "\\" for c in url):
        raise EgressRefused("the URL contains whitespace, control characters or backslashes")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise EgressRefused(f"invalid URL: {exc}") from None
    scheme = parts.scheme.lower()
    if scheme not in SCHEMES:
        raise EgressRefused(f"scheme {parts.scheme!r} is not allowed; use http or https")
    if "@" in parts.netloc:
        raise EgressRefused("URLs with credentials (user@host) are not allowed; send them in a header")
    host = normalize_host(parts.hostname or "")
    if not host:
        raise EgressRefused("the URL has no host")
    if ":" in host:  # IPv6 literal: only inside brackets
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise EgressRefused(f"{host!r} is not a valid IPv6 address") from None
    else:
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError:
            raise EgressRefused(f"{host!r} is not a valid hostname") from None
        if not _HOSTNAME.match(host) or ".." in host:
            raise EgressRefused(f"{host!r} is not a valid hostname")
    return scheme, host, port if port is not None else SCHEMES[scheme]


def resolve(host: str, port: int) -> list[IP]:
    """Every address ``host`` resolves to (``socket.getaddrinfo``, TCP), in
    resolver order without duplicates. Raises ``ConnectionError`` when it
    does not resolve."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError) as exc:
        raise ConnectionError(f"cannot resolve host {host!r}: {exc}") from None
    found: list[IP] = []
    for family, _, _, _, sockaddr in infos:
        if family not in (socket.AF_INET, socket.AF_INET6):
            continue
        ip = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        if ip not in found:
            found.append(ip)
    if not found:
        raise ConnectionError(f"host {host!r} has no IPv4 or IPv6 address")
    return found


def check_url(url: str, *, allowed_hosts: Iterable[str] = ()) -> list[IP]:
    """The addresses the studio may connect to for ``url``.

    Resolves the host (an IP literal, legacy spellings like ``2130706433``
    or ``0x7f.1`` included, is taken as is) and returns every address,
    refusing the URL when any of them is refused by :func:`address_refusal`
    — unless :func:`host_allowed` says the allow-list ``allowed_hosts``
    lets this host through on this port (then any address is accepted).
    Connect only to the returned addresses.

    Raises :class:`EgressRefused` (``PermissionError``) with the reason, or
    ``ConnectionError`` when the host does not resolve. Blocks on DNS: call
    it from a thread in async code.
    """
    scheme, host, port = parse_url(url)
    literal = _literal_ip(host)
    addresses = [literal] if literal is not None else resolve(host, port)
    if host_allowed(host, port, allowed_hosts):
        return addresses
    for ip in addresses:
        reason = address_refusal(ip)
        if reason is not None:
            shown = f"[{host}]" if ":" in host else host
            if literal is None:
                what = f"{host} resolves to {ip}, which is"
            else:
                what = f"{host} is" if str(literal) == host else f"{host} (= {literal}) is"
            raise EgressRefused(
                f"refused {scheme}://{shown}:{port}: {what} not allowed ({reason}); "
                "an administrator may allow this host on the egress allow-list"
            )
    return addresses


__all__ = [
    "DEFAULT_PORTS",
    "IP",
    "METADATA_ADDRESSES",
    "EgressRefused",
    "address_refusal",
    "check_url",
    "host_allowed",
    "normalize_allow_entry",
    "normalize_host",
    "parse_allow_entry",
    "parse_url",
    "resolve",
]
