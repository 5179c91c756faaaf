"""The engine's ``HttpClient``: SSRF-guarded, size-capped, at most once for side effects.

* Every address is checked before connecting, on every redirect hop, and the
  connection is pinned to the checked address (:mod:`agents.effects.transport`).
* Redirects are followed here, at most :attr:`GuardedHttpClient.max_redirects`;
  a hop to another origin keeps only harmless headers (a secret in
  ``X-Api-Key`` must not follow a redirect to somewhere else).
* ``request.timeout_s`` bounds the whole call, redirects included; the body is
  capped at :attr:`GuardedHttpClient.max_response_bytes` (after decompression).
* POST, PUT, PATCH and DELETE run at most once per (run, step): a
  :class:`~agents.models.SideEffect` row is committed before the request
  leaves. A resumed or retried step finding it refuses to send again, unless
  the request carries an ``Idempotency-Key`` header (the API then
  deduplicates) or the earlier attempt never connected.

Errors: ``PermissionError`` (:class:`studio.lib.ssrf.EgressRefused`) for a
refused address; ``ConnectionError`` and ``TimeoutError`` (transient);
:class:`~agents.engine.nodes.NodeError` with code ``already_sent``,
``too_many_redirects`` or ``response_too_large``. A 4xx/5xx answer is
returned as a response: the ``http`` node fails on it (429 and 5xx as
transient).
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass
from typing import Any

import httpx
from asgiref.sync import sync_to_async
from django.db import transaction
from django.utils import timezone

from agents.effects.transport import egress_allowed_hosts, pinned_client
from agents.engine.nodes import NodeError
from agents.engine.protocols import HttpRequest, HttpResponse
from agents.models import SideEffect, SideEffectStatus
from studio.lib.ssrf import EgressRefused

log = logging.getLogger(__name__)

SIDE_EFFECTING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
#: Headers that may follow a redirect to another origin.
CROSS_ORIGIN_HEADERS = frozenset({"accept", "accept-language", "user-agent", "content-type"})
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
IDEMPOTENCY_HEADER = "idempotency-key"


class _NotSent(Exception):
    """The first hop never connected: the request did not leave."""

    def __init__(self, error: BaseException):
        super().__init__(str(error))
        self.error = error


def _without_query(url: str) -> str:
    return url.split("?", 1)[0].split("#", 1)[0]


def _has_idempotency_key(headers: dict[str, str]) -> bool:
    return any(name.lower() == IDEMPOTENCY_HEADER and str(value).strip() for name, value in headers.items())


def _decode(content: bytes, response: httpx.Response) -> Any:
    """Decoded JSON when the response says JSON (and is), else text."""
    content_type = response.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    text = content.decode(response.charset_encoding or "utf-8", errors="replace")
    if content and (content_type == "application/json" or content_type.endswith("+json")):
        try:
            return json.loads(text)
        except ValueError:
            return text
    return text


@dataclass
class GuardedHttpClient:
    """``HttpClient`` for the runs of project ``project_id``.

    ``run_id``/``attempt`` identify the run for the side-effect ledger (none:
    no ledger, e.g. outside a run). ``allowed_hosts`` overrides the
    admin-managed allow-list (read per request from
    ``EgressAllowedHost``); ``transport`` replaces the connecting transport
    (tests). Sizes in bytes, times in seconds.
    """

    project_id: int | None
    run_id: int | None = None
    attempt: int = 0
    max_redirects: int = 5
    max_response_bytes: int = 5 * 1024 * 1024
    allowed_hosts: list[str] | None = None
    transport: httpx.AsyncBaseTransport | None = None

    async def request(self, request: HttpRequest) -> HttpResponse:
        """Send ``request`` (guarded, redirects followed, body capped) and
        return status, headers (lower-case names) and body (decoded JSON or
        text). Raises as described in the module docstring."""
        method = request.method.upper()
        allowed = self.allowed_hosts
        if allowed is None:
            allowed = await sync_to_async(egress_allowed_hosts)(self.project_id)
        ledger_id: int | None = None
        if method in SIDE_EFFECTING and self.run_id is not None:
            key = request.idempotency_key or f"{method} {_without_query(request.url)}"
            keyed = _has_idempotency_key(request.headers)
            ledger_id = await sync_to_async(self._ledger_begin)(key, method, request.url, keyed)
        try:
            async with asyncio.timeout(request.timeout_s):
                status, headers, body = await self._send(method, request, allowed)
        except _NotSent as exc:
            if ledger_id is not None:
                await sync_to_async(self._ledger_end)(ledger_id, SideEffectStatus.NOT_SENT, None)
            raise self._mapped(exc.error, method, request) from None
        except (httpx.HTTPError, TimeoutError, ConnectionError) as exc:
            raise self._mapped(exc, method, request) from None
        if ledger_id is not None:
            await sync_to_async(self._ledger_end)(ledger_id, SideEffectStatus.ANSWERED, status)
        return HttpResponse(status=status, headers=headers, body=body)

    async def _send(self, method: str, request: HttpRequest, allowed: list[str]) -> tuple[int, dict[str, str], Any]:
        timeout = httpx.Timeout(request.timeout_s)
        async with pinned_client(allowed_hosts=allowed, timeout=timeout, inner=self.transport) as client:
            body: dict[str, Any] = {"json": request.json} if request.json is not None else {}
            outgoing = client.build_request(method, request.url, headers=request.headers, **body)
            for hop in range(self.max_redirects + 1):
                try:
                    response = await client.send(outgoing, stream=True)
                except (httpx.ConnectError, httpx.ConnectTimeout, EgressRefused, ConnectionError) as exc:
                    if hop == 0:
                        raise _NotSent(exc) from exc
                    raise
                try:
                    if response.status_code in REDIRECT_STATUSES and response.next_request is not None:
                        if hop == self.max_redirects:
                            raise NodeError(
                                f"{method} {_without_query(request.url)}: more than {self.max_redirects} redirects",
                                code="too_many_redirects",
                            )
                        outgoing = self._next_hop(outgoing, response.next_request)
                        continue
                    content = await self._read_capped(response, method, request.url)
                    return response.status_code, dict(response.headers), _decode(content, response)
                finally:
                    await response.aclose()
        raise AssertionError("unreachable")  # pragma: no cover

    @staticmethod
    def _next_hop(sent: httpx.Request, following: httpx.Request) -> httpx.Request:
        """The next request; to another origin only harmless headers go along."""
        same_origin = (sent.url.scheme, sent.url.host, sent.url.port) == (
            following.url.scheme, following.url.host, following.url.port,
        )
        if not same_origin:
            for name in list(following.headers.keys()):
                if name.lower() not in CROSS_ORIGIN_HEADERS | {"host", "content-length", "transfer-encoding"}:
                    del following.headers[name]
        return following

    async def _read_capped(self, response: httpx.Response, method: str, url: str) -> bytes:
        declared = response.headers.get("content-length", "")
        too_large = NodeError(
            f"{method} {_without_query(url)}: the response is larger than {self.max_response_bytes} bytes",
            code="response_too_large",
        )
        if declared.isdigit() and int(declared) > self.max_response_bytes:
            raise too_large
        chunks: list[bytes] = []
        size = 0
        async for chunk in response.aiter_bytes():
            size += len(chunk)
            if size > self.max_response_bytes:
                raise too_large
            chunks.append(chunk)
        return b"".join(chunks)

    @staticmethod
    def _mapped(exc: BaseException, method: str, request: HttpRequest) -> BaseException:
        where = f"{method} {_without_query(request.url)}"
        if isinstance(exc, PermissionError | NodeError):
            return exc
        if isinstance(exc, TimeoutError | httpx.TimeoutException):
            return TimeoutError(f"{where} timed out after {request.timeout_s:g} s")
        if isinstance(exc, httpx.DecodingError):
            return NodeError(f"{where}: the response could not be decoded: {exc}", code="invalid_response")
        if isinstance(exc, ConnectionError):
            return ConnectionError(f"{where}: {exc}")
        return ConnectionError(f"{where}: {type(exc).__name__}: {exc}")

    # ----------------------------------------------------------- the side-effect ledger

    def _ledger_begin(self, key: str, method: str, url: str, keyed: bool) -> int:
        """Commit "about to send" before the request leaves; refuse a resend.

        Raises :class:`NodeError` (``already_sent``) when an earlier attempt
        may have sent it and the request has no ``Idempotency-Key``.
        """
        with transaction.atomic():
            row, created = SideEffect.objects.select_for_update().get_or_create(
                run_id=self.run_id, key=key,
                defaults={"method": method, "url": _without_query(url), "attempt": self.attempt},
            )
            if created:
                return row.pk
            if row.status != SideEffectStatus.NOT_SENT and not keyed:
                outcome = (
                    f"it was answered with HTTP {row.response_status}"
                    if row.status == SideEffectStatus.ANSWERED
                    else "its outcome is unknown (the worker stopped or the connection broke)"
                )
                raise NodeError(
                    f"{row.method} {row.url} was already sent by an earlier attempt of this step and {outcome}. "
                    "A side-effecting request is sent at most once; to allow resending, give the request an "
                    "Idempotency-Key header the API honours, then run the workflow again.",
                    code="already_sent",
                )
            row.status = SideEffectStatus.SENDING
            row.sends += 1
            row.attempt = self.attempt
            row.method, row.url = method, _without_query(url)
            row.save(update_fields=["status", "sends", "attempt", "method", "url", "updated_at"])
            return row.pk

    @staticmethod
    def _ledger_end(ledger_id: int, status: str, response_status: int | None) -> None:
        SideEffect.objects.filter(pk=ledger_id).update(
            status=status, response_status=response_status, updated_at=timezone.now()
        )
