"""Redaction of secrets from what spans store (and from error messages).

Two layers:

1. Known values: the endpoint's own API key and the project's secret values
   (decrypted by the gateway just for this) are replaced wherever they occur
   inside any string. Values shorter than :data:`MIN_SECRET_LENGTH`
   characters are not searched for: they would shred ordinary text.
2. Patterns for credentials we do not know: ``sk-…``/``sk_…`` keys,
   ``Bearer …`` tokens, ``api_key=…``/``password: …`` assignments, and the
   value of any mapping key named like a credential (``api_key``,
   ``authorization``, ``password`` …).

Redaction is one-way and structural: dicts and lists are copied, strings are
rewritten, other JSON scalars pass through; anything not JSON-serialisable is
turned into ``str`` first.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

REDACTED = "[REDACTED]"
MIN_SECRET_LENGTH = 4

_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # OpenAI/Anthropic-style keys: sk-…, sk-proj-…, sk-ant-…
    (re.compile(r"\bsk-[A-Za-z0-9_\-]{8,}"), REDACTED),
    # Studio's own API keys: sk_ + 40 URL-safe characters.
    (re.compile(r"\bsk_[A-Za-z0-9_\-]{16,}"), REDACTED),
    (re.compile(r"(?i)\b(bearer)\s+[A-Za-z0-9._~+/=\-]{8,}"), r"\1 " + REDACTED),
    (
        re.compile(
            r"(?i)\b(api[_-]?key|x-api-key|access[_-]?token|auth[_-]?token|client[_-]?secret|password)"
            r"(\"?\s*[=:]\s*[\"']?)[^\s\"'&,;}]+"
        ),
        r"\1\2" + REDACTED,
    ),
)

_SENSITIVE_KEYS = frozenset(
    {
        "api_key",
        "apikey",
        "api-key",
        "x-api-key",
        "authorization",
        "password",
        "access_token",
        "auth_token",
        "client_secret",
        "secret",
        "token",
    }
)


def _known_values(secrets: Iterable[str]) -> list[str]:
    values = {value for value in secrets if isinstance(value, str) and len(value) >= MIN_SECRET_LENGTH}
    return sorted(values, key=len, reverse=True)  # longest first: a secret containing another


def redact_text(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` with known secret values and credential patterns replaced by ``[REDACTED]``."""
    return _redact_str(text, _known_values(secrets))


def _redact_str(text: str, known: list[str]) -> str:
    for value in known:
        if value in text:
            text = text.replace(value, REDACTED)
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def redact(value: Any, secrets: Iterable[str] = ()) -> Any:
    """A JSON-safe copy of ``value`` with every secret redacted.

    ``value`` is any nesting of dicts, lists/tuples, strings and scalars;
    ``secrets`` are plaintext values to remove wherever they occur.
    Returns the same shape (tuples become lists, unknown objects ``str``).
    """
    return _redact_any(value, _known_values(secrets))


def _redact_any(value: Any, known: list[str]) -> Any:
    if isinstance(value, str):
        return _redact_str(value, known)
    if isinstance(value, dict):
        return {str(key): _redact_item(str(key), item, known) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_redact_any(item, known) for item in value]
    if value is None or isinstance(value, bool | int | float):
        return value
    return _redact_str(str(value), known)


def _redact_item(key: str, item: Any, known: list[str]) -> Any:
    if isinstance(item, str) and item and key.lower() in _SENSITIVE_KEYS:
        return REDACTED
    return _redact_any(item, known)
