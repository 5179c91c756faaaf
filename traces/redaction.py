"""Redaction of secrets: one helper for spans, run data and error messages.

Two layers:

1. Known values: secret values the caller knows (the endpoint's own API key,
   the project's secret values, the values a run resolved) are replaced
   wherever they occur inside any string — and so are their common encodings
   (:func:`secret_variants`: JSON-escaped, URL-encoded, HTML-escaped and
   base64, the last at any byte alignment, so the value inside an encoded
   ``user:secret`` is found too). Values shorter than
   :data:`MIN_SECRET_LENGTH` characters are not searched for: they would
   shred ordinary text.
2. Patterns for credentials we do not know (spans only, ``patterns=True``):
   ``sk-…``/``sk_…`` keys, ``Bearer …`` tokens, ``api_key=…``/``password: …``
   assignments, and the value of any mapping key named like a credential
   (``api_key``, ``authorization``, ``password`` …). Run data (step outputs,
   run outputs, events) gets only the first layer: a workflow may
   legitimately produce text that looks like a credential.

Redaction is one-way and structural: dicts and lists are copied, strings
(mapping keys included) are rewritten, other scalars pass through.
:class:`Redactor` holds a set of values (it can grow, e.g. while a run
resolves secrets); :func:`redact` and :func:`redact_text` are the one-shot
forms the gateway uses for spans.
"""

from __future__ import annotations

import base64
import html
import json
import re
import threading
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote, quote_plus

REDACTED = "[REDACTED]"
MIN_SECRET_LENGTH = 4
#: Encoded forms (base64 pieces …) shorter than this are not searched for.
MIN_ENCODED_LENGTH = 8

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


def _base64_cores(raw: bytes) -> set[str]:
    """The base64 characters that encode ``raw`` wherever it sits in a longer byte string.

    Base64 works on 3-byte groups, so the encoding of a value depends on its
    offset (mod 3) in the encoded data: for each offset, keep only the
    characters determined by ``raw`` alone (e.g. ``dXNlcjpz…`` of
    ``user:secret`` still contains the core of ``secret``).
    """
    cores = set()
    for offset, skip in ((0, 0), (1, 2), (2, 3)):
        encoded = base64.b64encode(b"\0" * offset + raw).decode("ascii")
        core = encoded[skip : ((offset + len(raw)) * 8) // 6]
        if len(core) >= MIN_ENCODED_LENGTH:
            cores.add(core)
            cores.add(core.translate(str.maketrans("+/", "-_")))  # urlsafe alphabet
    return cores


def secret_variants(value: str) -> set[str]:
    """``value`` and the forms it takes when an API echoes it back encoded.

    JSON-escaped (ASCII and not), URL-encoded (``%20`` and ``+``),
    HTML-escaped, and base64 at every alignment (see :func:`_base64_cores`).
    Empty for a value shorter than :data:`MIN_SECRET_LENGTH`.
    """
    if not isinstance(value, str) or len(value) < MIN_SECRET_LENGTH:
        return set()
    variants = {
        value,
        json.dumps(value)[1:-1],
        json.dumps(value, ensure_ascii=False)[1:-1],
        quote(value, safe=""),
        quote(value),
        quote_plus(value, safe=""),
        html.escape(value),
    }
    variants |= _base64_cores(value.encode("utf-8"))
    return {v for v in variants if len(v) >= MIN_SECRET_LENGTH}


class Redactor:
    """Replaces known secret values (and their encodings) with ``[REDACTED]``.

    ``values``: plaintext secrets; more can be added with :meth:`add` (thread
    safe). ``patterns``: also apply the credential patterns and mask the
    values of credential-named keys (what spans get). Never put a Redactor's
    values in a log line or a repr: its repr shows only how many it holds.
    """

    def __init__(self, values: Iterable[str] = (), *, patterns: bool = False) -> None:
        self.patterns = patterns
        self._lock = threading.Lock()
        self._plain: frozenset[str] = frozenset()
        self._variants: tuple[str, ...] = ()
        self._regex: re.Pattern[str] | None = None
        self.add(*values)

    def __repr__(self) -> str:
        return f"<Redactor of {len(self._plain)} value(s)>"

    def __bool__(self) -> bool:
        return bool(self._variants) or self.patterns

    def add(self, *values: str) -> None:
        """Also redact ``values`` from now on (short or empty values are ignored)."""
        expanded: set[str] = set()
        for value in values:
            if isinstance(value, str):
                expanded |= {value, value.strip(), *_json_leaves(value)}
        fresh = {v for v in expanded if len(v) >= MIN_SECRET_LENGTH} - self._plain
        if not fresh:
            return
        with self._lock:
            plain = self._plain | fresh
            variants: set[str] = set()
            for value in plain:
                variants |= secret_variants(value)
            ordered = tuple(sorted(variants, key=len, reverse=True))  # longest first: a secret containing another
            self._regex = re.compile("|".join(re.escape(v) for v in ordered))
            self._variants, self._plain = ordered, plain

    @property
    def variants(self) -> tuple[str, ...]:
        """Every string searched for, longest first."""
        return self._variants

    def text(self, text: str) -> str:
        """``text`` with every known value (and, with ``patterns``, every credential pattern) replaced."""
        regex = self._regex
        if regex is not None and text:
            text = regex.sub(REDACTED, text)
        if self.patterns:
            for pattern, replacement in _PATTERNS:
                text = pattern.sub(replacement, text)
        return text

    def value(self, value: Any) -> Any:
        """A copy of ``value`` (dicts, lists/tuples, strings, scalars) with every string redacted.

        Tuples become lists; mapping keys are redacted too; other objects
        pass through unchanged.
        """
        if not self:
            return value
        return self._any(value)

    def _any(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {self.text(str(key)): self._item(str(key), item) for key, item in value.items()}
        if isinstance(value, list | tuple):
            return [self._any(item) for item in value]
        return value

    def _item(self, key: str, item: Any) -> Any:
        if self.patterns and isinstance(item, str) and item and key.lower() in _SENSITIVE_KEYS:
            return REDACTED
        return self._any(item)

    def pending_prefix(self, text: str) -> int:
        """Length of the longest end of ``text`` that could be the start of a known value.

        A stream of text deltas holds that many characters back until the
        next delta shows whether a secret is being spelled out across them.
        """
        longest = 0
        for variant in self._variants:
            for size in range(min(len(variant) - 1, len(text)), longest, -1):
                if text.endswith(variant[:size]):
                    longest = size
                    break
        return longest


#: A JSON leaf like this is a plain header value (``application/json``, ``keep-alive``), not a credential.
_PLAIN_HEADER_VALUE = re.compile(r"^[a-z0-9/.+;=, *-]*$")


def _json_leaves(value: str) -> list[str]:
    """String leaves of a secret that holds a JSON object (e.g. an MCP server's headers).

    Each header value is sent, and may be echoed, on its own — and so may the
    token after a scheme (``Bearer <token>``). Lower-case leaves without
    capitals (``application/json``) are plain header values and are left out.
    """
    if not value.lstrip().startswith("{"):
        return []
    try:
        parsed = json.loads(value)
    except ValueError:
        return []
    leaves: list[str] = []

    def walk(item: Any) -> None:
        if isinstance(item, str):
            for part in {item, item.split()[-1] if item.split() else item}:
                if not _PLAIN_HEADER_VALUE.match(part) or (len(part) >= 16 and any(c.isdigit() for c in part)):
                    leaves.append(part)
        elif isinstance(item, dict):
            for child in item.values():
                walk(child)
        elif isinstance(item, list):
            for child in item:
                walk(child)

    walk(parsed)
    return leaves


def redact_text(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` with known secret values and credential patterns replaced by ``[REDACTED]``."""
    return Redactor(secrets, patterns=True).text(text)


def redact(value: Any, secrets: Iterable[str] = ()) -> Any:
    """A JSON-safe copy of ``value`` with every secret redacted (known values and patterns).

    ``value`` is any nesting of dicts, lists/tuples, strings and scalars;
    ``secrets`` are plaintext values to remove wherever they occur.
    Returns the same shape (tuples become lists, unknown objects ``str``).
    """
    return Redactor(secrets, patterns=True).value(_json_safe(value))


def _json_safe(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(key): _json_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(item) for item in value]
    if value is None or isinstance(value, str | bool | int | float):
        return value
    return str(value)
