"""Gateway errors and how provider exceptions map onto them.

Exceptions are classified by class name along their MRO and ``__cause__``
chain and by HTTP status, not by importing litellm (only the gateway may):
LiteLLM and the OpenAI SDK share the names (``RateLimitError``,
``APIConnectionError`` …), and both wrap the transport error (httpx,
aiohttp, ``ConnectionRefusedError``) as the cause.

Two quirks measured with litellm 1.106.2 against llama-cpp-python 0.3.36:

- a refused connection surfaces as ``litellm.InternalServerError`` (500,
  "Connection error.") caused by ``openai.APIConnectionError`` — so the
  cause chain decides, not the outer class;
- llama-cpp-python answers request validation errors with HTTP 500 (e.g.
  ``response_format`` type ``json_schema``); those are not transient.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from studio.lib.ssrf import EgressRefused

TIMEOUT_NAMES = frozenset({"Timeout", "APITimeoutError", "TimeoutException", "TimeoutError", "ReadTimeout"})
# Transport failures only: LiteLLM also raises its APIConnectionError for unrelated internal
# errors (an ImportError, say), so that name alone does not mean "the server is down".
CONNECTION_NAMES = frozenset(
    {
        "ConnectError",
        "ClientConnectorError",
        "ConnectionError",
        "ServerDisconnectedError",
        "RemoteProtocolError",
        "ClientOSError",
        "ReadError",
    }
)
# (class name, code, transient), checked in this order on the outer exception's MRO.
NAMED_ERRORS: tuple[tuple[str, str, bool], ...] = (
    ("ContextWindowExceededError", "context_window_exceeded", False),
    ("ContentPolicyViolationError", "content_policy", False),
    ("RateLimitError", "rate_limited", True),
    ("AuthenticationError", "auth", False),
    ("PermissionDeniedError", "auth", False),
    ("NotFoundError", "not_found", False),
    ("UnprocessableEntityError", "bad_request", False),
    ("BadRequestError", "bad_request", False),
)
STATUS_ERRORS = {
    400: ("bad_request", False),
    401: ("auth", False),
    403: ("auth", False),
    404: ("not_found", False),
    408: ("timeout", True),
    409: ("conflict", True),
    422: ("bad_request", False),
    429: ("rate_limited", True),
}
MAX_DETAIL = 600
_LITELLM_PREFIX = re.compile(r"^(litellm\.\w+:\s*)?(\w+(Error|Timeout):\s*)?(\w+Exception\s*-\s*)?")


class GatewayError(Exception):
    """A model call failed.

    ``transient``: worth retrying later (rate limit, timeout, server down,
    5xx). ``code``: a stable machine name (``rate_limited``, ``timeout``,
    ``unreachable``, ``server_error``, ``auth``, ``bad_request``,
    ``not_found``, ``context_window_exceeded`` …). ``span_id``: the error
    span recorded for the call, once recorded.
    """

    def __init__(self, message: str, transient: bool = False, code: str = "llm_error") -> None:
        super().__init__(message)
        self.message = message
        self.transient = transient
        self.code = code
        self.span_id: int | None = None

    def __str__(self) -> str:
        return self.message


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _names(exc: BaseException) -> set[str]:
    return {cls.__name__ for cls in type(exc).__mro__}


def _detail(exc: BaseException) -> str:
    # LiteLLM prefixes "litellm.InternalServerError: InternalServerError: OpenAIException - ".
    text = _LITELLM_PREFIX.sub("", str(exc).strip()) or type(exc).__name__
    return text[:MAX_DETAIL]


def classify_exception(exc: BaseException, *, api_base: str = "") -> GatewayError:
    """The :class:`GatewayError` for a provider/transport exception (never raises)."""
    where = f" at {api_base}" if api_base else ""
    refused = next((item for item in _chain(exc) if isinstance(item, EgressRefused)), None)
    if refused is not None:  # studio.lib.ssrf: the address the api_base resolves to is not allowed
        return GatewayError(
            f"The egress guard refused the model server{where}: {refused}. "
            "A superuser can allow its host under Egress allowed hosts.",
            False,
            "egress_refused",
        )
    chain_names = set().union(*(_names(item) for item in _chain(exc)))
    if chain_names & TIMEOUT_NAMES:
        return GatewayError(f"The model{where} did not answer in time: {_detail(exc)}", True, "timeout")
    if chain_names & CONNECTION_NAMES:
        hint = " Is it running? (`python manage.py serve_model` starts the local one.)" if api_base else ""
        return GatewayError(
            f"The model server{where} is unreachable: {_detail(exc).rstrip('.')}.{hint}", True, "unreachable"
        )
    outer = _names(exc)
    if "APIConnectionError" in outer and not any(isinstance(item, OSError) for item in _chain(exc)):
        return GatewayError(f"The model call{where} failed inside LiteLLM: {_detail(exc)}", False, "llm_error")
    for name, code, transient in NAMED_ERRORS:
        if name in outer:
            return GatewayError(f"The model{where} refused the call ({code}): {_detail(exc)}", transient, code)
    return _classify_by_status(exc, where)


def _classify_by_status(exc: BaseException, where: str) -> GatewayError:
    status = getattr(exc, "status_code", None)
    detail = _detail(exc)
    if "Missing credentials" in detail:
        return GatewayError(f"No API key for the model{where}: {detail}", False, "auth")
    if isinstance(status, int) and status in STATUS_ERRORS:
        code, transient = STATUS_ERRORS[status]
        return GatewayError(f"The model{where} answered HTTP {status}: {detail}", transient, code)
    if isinstance(status, int) and status >= 500:
        if "validation error" in detail.lower():  # llama-cpp-python: a bad request sent as HTTP 500
            return GatewayError(f"The model server{where} rejected the request: {detail}", False, "bad_request")
        return GatewayError(f"The model server{where} failed (HTTP {status}): {detail}", True, "server_error")
    if {"ServiceUnavailableError", "InternalServerError", "BadGatewayError"} & _names(exc):
        return GatewayError(f"The model server{where} failed: {detail}", True, "server_error")
    return GatewayError(f"The model call{where} failed: {type(exc).__name__}: {detail}", False, "llm_error")
