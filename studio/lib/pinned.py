"""An httpx transport that connects only to addresses the egress guard checked.

Every request (each redirect hop is a request) goes through
:func:`studio.lib.ssrf.check_url`; the connection is then opened to the
checked IP address itself — the URL's host is replaced by the address, while
the ``Host`` header and the TLS SNI name (and so certificate verification)
keep the original hostname. No second DNS lookup happens, so a name that
resolves to a public address for the check and to 127.0.0.1 a moment later
(DNS rebinding) cannot steer the connection.

Used by http nodes, MCP servers (``agents.effects``) and the LLM gateway's
calls to an endpoint's ``api_base`` (``traces.openai_compat``).
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Iterable

import anyio
import httpx

from studio.lib.ssrf import check_url


def _is_ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


class PinnedTransport(httpx.AsyncBaseTransport):
    """Checks each request's URL with the egress guard and connects to a checked address.

    ``allowed_hosts`` are the hosts that may resolve to refused addresses.
    ``inner`` is the transport that really connects (default: a plain
    ``httpx.AsyncHTTPTransport`` without retries). When a host resolves to
    several addresses they are tried in order while the connection fails.

    Raises :class:`studio.lib.ssrf.EgressRefused` (a ``PermissionError``) for
    a refused URL and ``ConnectionError`` for a host that does not resolve;
    httpx errors of the inner transport pass through.
    """

    def __init__(self, *, allowed_hosts: Iterable[str] = (), inner: httpx.AsyncBaseTransport | None = None):
        self.allowed_hosts = tuple(allowed_hosts)
        self.inner = inner if inner is not None else httpx.AsyncHTTPTransport(retries=0)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        check = functools.partial(check_url, str(url), allowed_hosts=self.allowed_hosts)
        addresses = check() if _is_ip_literal(url.host) else await anyio.to_thread.run_sync(check)  # DNS: a thread
        hostname = url.raw_host.decode("ascii")
        failure: httpx.ConnectError | None = None
        for address in addresses:
            extensions = dict(request.extensions)
            if url.scheme == "https":
                extensions["sni_hostname"] = hostname
            pinned = httpx.Request(
                request.method,
                url.copy_with(host=str(address)),
                headers=request.headers,  # carries Host: the original name
                stream=request.stream,
                extensions=extensions,
            )
            try:
                return await self.inner.handle_async_request(pinned)
            except httpx.ConnectError as exc:  # nothing was sent: try the next address
                failure = exc
        assert failure is not None
        raise failure

    async def aclose(self) -> None:
        await self.inner.aclose()


def pinned_client(
    *,
    allowed_hosts: Iterable[str],
    timeout: httpx.Timeout | float | None,
    headers: dict[str, str] | None = None,
    inner: httpx.AsyncBaseTransport | None = None,
) -> httpx.AsyncClient:
    """An ``httpx.AsyncClient`` over :class:`PinnedTransport`: no environment
    proxies (a proxy would resolve names itself), redirects not followed."""
    return httpx.AsyncClient(
        transport=PinnedTransport(allowed_hosts=allowed_hosts, inner=inner),
        timeout=timeout,
        headers=headers,
        follow_redirects=False,
        trust_env=False,
    )
