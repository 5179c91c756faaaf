"""How LiteLLM's exceptions become GatewayErrors: transient or not, with a stable code."""

from __future__ import annotations

import os

import pytest

from traces.errors import GatewayError, classify_exception

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
litellm = pytest.importorskip("litellm")

P, M = "openai", "openai/smollm2"


def chained(outer: BaseException, cause: BaseException) -> BaseException:
    outer.__cause__ = cause
    return outer


@pytest.mark.parametrize(
    ("exc", "code", "transient"),
    [
        (litellm.RateLimitError("slow down", P, M), "rate_limited", True),
        (litellm.Timeout("took too long", M, P), "timeout", True),
        (litellm.InternalServerError("boom", P, M), "server_error", True),
        (litellm.ServiceUnavailableError("overloaded", P, M), "server_error", True),
        (litellm.BadGatewayError("bad gateway", P, M), "server_error", True),
        (litellm.AuthenticationError("Incorrect API key", P, M), "auth", False),
        (litellm.NotFoundError("no such model", M, P), "not_found", False),
        (litellm.BadRequestError("bad", M, P), "bad_request", False),
        (litellm.ContextWindowExceededError("too long", M, P), "context_window_exceeded", False),
        (litellm.APIError(503, "unavailable", P, M), "server_error", True),
        (litellm.APIError(429, "quota", P, M), "rate_limited", True),
        (litellm.InternalServerError("Missing credentials. Please pass an `api_key`", P, M), "auth", False),
        (litellm.InternalServerError("1 validation error: response_format", P, M), "bad_request", False),
        (
            chained(litellm.InternalServerError("Connection error.", P, M), ConnectionRefusedError(111, "refused")),
            "unreachable",
            True,
        ),
        (
            chained(litellm.APIConnectionError("No module named 'mcp'", P, M), ModuleNotFoundError("mcp")),
            "llm_error",
            False,
        ),
        (ValueError("something else"), "llm_error", False),
    ],
    ids=lambda value: value if isinstance(value, str) else None,
)
def test_provider_exceptions_map_to_codes_and_transience(exc, code, transient):
    error = classify_exception(exc, api_base="http://127.0.0.1:9/v1")

    assert isinstance(error, GatewayError)
    assert (error.code, error.transient) == (code, transient)
    assert str(error)


def test_messages_name_the_server_and_drop_litellms_prefixes():
    exc = chained(litellm.InternalServerError("Connection error.", P, M), ConnectionRefusedError(111, "refused"))

    message = str(classify_exception(exc, api_base="http://127.0.0.1:9/v1"))

    assert "http://127.0.0.1:9/v1" in message and "litellm.InternalServerError" not in message
