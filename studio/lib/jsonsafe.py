"""Strict JSON at the studio's boundaries: what is parsed here can always be stored and shown.

Python's ``json`` accepts things PostgreSQL, SQLite, browsers and the
studio's pages cannot all hold: lone UTF-16 surrogates (``"\\ud800"``: a
``str`` that cannot be encoded as UTF-8), ``NaN``/``Infinity``, numbers that
overflow a double (``1e400`` → ``inf``) or a 64-bit integer, and documents
nested thousands of levels deep (``RecursionError`` later). Every boundary —
the API's JSON parser, forms, imports, trace ingest, run inputs — checks a
document with :func:`json_problem` (or parses with :func:`loads_strict`) and
answers 400 naming the field.

Pure Python, no Django: usable from services, forms and the DRF parser.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator
from typing import Any

from studio.lib.documents import MAX_DEPTH  # deepest nesting of objects/arrays (the top level is depth 1)

#: Integers must fit a signed 64-bit column (PostgreSQL bigint, SQLite INTEGER).
MAX_INT = 2**63 - 1
MIN_INT = -(2**63)
#: Longest string accepted anywhere in a document (characters).
MAX_STRING = 1_000_000

_SURROGATE = re.compile("[\ud800-\udfff]")


class JsonValueError(ValueError):
    """A value no boundary may accept.

    ``path`` is where it was found (``inputs.question``, ``graph.nodes[2].label``;
    ``""`` for the document itself); ``message`` says why, without echoing the
    value. ``str()`` is ``"<path>: <message>"``.
    """

    def __init__(self, path: str, message: str):
        super().__init__(f"{path or 'document'}: {message}")
        self.path = path
        self.message = message


def _join(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


def _str_problem(value: str) -> str | None:
    if _SURROGATE.search(value):
        return "contains a lone UTF-16 surrogate (not valid Unicode text)"
    if "\x00" in value:
        return "contains a NUL character"
    if len(value) > MAX_STRING:
        return f"is longer than {MAX_STRING} characters"
    return None


def _scalar_problem(value: Any) -> str | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        if not MIN_INT <= value <= MAX_INT:
            return "is an integer out of range (must fit in 64 bits)"
        return None
    if isinstance(value, float):
        if not math.isfinite(value):
            return "is not a finite number"
        return None
    if isinstance(value, str):
        return _str_problem(value)
    return None


def json_problem(value: Any, *, path: str = "", max_depth: int = MAX_DEPTH) -> JsonValueError | None:
    """The first unacceptable value in ``value`` (a parsed JSON document), or ``None``.

    Checks keys and values without recursion: lone surrogates and NUL
    characters in strings, strings over :data:`MAX_STRING` characters,
    non-finite floats, integers outside 64 bits, nesting deeper than
    ``max_depth``. ``path`` prefixes the reported location.
    """
    stack: list[tuple[Any, str, int]] = [(value, path, 1)]
    while stack:
        item, where, depth = stack.pop()
        if isinstance(item, dict):
            if depth > max_depth:
                return JsonValueError(where, f"is nested deeper than {max_depth} levels")
            for key, child in item.items():
                key_s = key if isinstance(key, str) else str(key)
                problem = _str_problem(key_s)
                if problem:
                    return JsonValueError(where, f"has a key that {problem}")
                stack.append((child, _join(where, key_s), depth + 1))
        elif isinstance(item, (list, tuple)):
            if depth > max_depth:
                return JsonValueError(where, f"is nested deeper than {max_depth} levels")
            for index, child in enumerate(item):
                stack.append((child, _join(where, index), depth + 1))
        else:
            problem = _scalar_problem(item)
            if problem:
                return JsonValueError(where, problem)
    return None


def check_json(value: Any, *, path: str = "", max_depth: int = MAX_DEPTH) -> Any:
    """Return ``value`` unchanged, or raise :class:`JsonValueError` (see :func:`json_problem`)."""
    problem = json_problem(value, path=path, max_depth=max_depth)
    if problem is not None:
        raise problem
    return value


def _constant(name: str) -> float:
    # NaN/Infinity are not JSON; parse them as floats so the check below reports where they are.
    return float(name)


def _max_depth_of_text(text: str, limit: int) -> int | None:
    """Position of the first bracket nested deeper than ``limit`` in JSON text (strings skipped), else None."""
    depth = 0
    in_string = False
    escaped = False
    for index, char in enumerate(text):
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            if depth > limit:
                return index
        elif char in "]}":
            depth -= 1
    return None


def loads_strict(text: str | bytes, *, max_depth: int = MAX_DEPTH) -> Any:
    """Parse JSON text that can be stored and shown anywhere in the studio.

    Refuses (``JsonValueError`` naming the path) ``NaN``/``Infinity``, numbers
    that overflow, lone surrogates, NULs, over-deep nesting (checked on the
    text before parsing, so no ``RecursionError``). Raises
    ``json.JSONDecodeError`` (a ``ValueError``) for syntax errors and
    ``UnicodeDecodeError`` for bytes that are not UTF-8.
    """
    if isinstance(text, (bytes, bytearray)):
        text = bytes(text).decode("utf-8")
    position = _max_depth_of_text(text, max_depth)
    if position is not None:
        raise JsonValueError("", f"is nested deeper than {max_depth} levels (at character {position})")
    try:
        value = json.loads(text, parse_constant=_constant)
    except ValueError as exc:  # int("9" * 5000): Python's digit limit
        if isinstance(exc, (json.JSONDecodeError, JsonValueError)):
            raise
        raise JsonValueError("", "has a number too large to read") from None
    return check_json(value, max_depth=max_depth)


def iter_paths(value: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    """Every ``(path, scalar)`` of a JSON document, depth first (for tests and error reports)."""
    stack: list[tuple[Any, str]] = [(value, path)]
    while stack:
        item, where = stack.pop()
        if isinstance(item, dict):
            stack.extend((child, _join(where, str(key))) for key, child in item.items())
        elif isinstance(item, list):
            stack.extend((child, _join(where, index)) for index, child in enumerate(item))
        else:
            yield where, item


# ------------------------------------------------------------ field bounds
# The largest values every column and page can hold, shared by serializers, forms and imports.

#: ``PositiveIntegerField`` holds 0 … 2**31 - 1 on PostgreSQL (token counts, budgets in tokens, timeouts).
MAX_POSITIVE_INT = 2**31 - 1
#: ``budget_usd`` columns are ``DECIMAL(12, 6)``: at most 999,999.999999 USD.
MAX_BUDGET_USD = "999999.999999"
#: A span's latency in milliseconds: at most 30 days.
MAX_LATENCY_MS = 30 * 24 * 3600 * 1000.0
#: Epoch seconds accepted for a timestamp: 1970-01-01 … 2100-01-01.
MAX_EPOCH_S = 4_102_444_800.0
#: A node's canvas coordinate (pixels), either sign.
MAX_POSITION = 1_000_000.0


def positive_int(text: str, *, maximum: int = MAX_POSITIVE_INT) -> int | None:
    """``text`` as an int when it is 1-19 ASCII digits not above ``maximum``, else ``None``.

    For ids and version numbers from URLs and forms: ``str.isdigit()`` also
    accepts ``"²"`` (then ``int()`` raises) and any length.
    """
    if not (text.isascii() and text.isdigit()) or len(text) > 19:
        return None
    value = int(text)
    return value if value <= maximum else None
