"""Depth limits on the documents the studio parses (API bodies, imports, graphs).

A document nested hundreds of levels deep parses (Python's JSON decoder
stops near 1,000) and then breaks whatever walks it recursively — a deep
copy, a serializer, a template — with a ``RecursionError``: a 500. So every
document is refused past :data:`MAX_DEPTH` levels with a clear message, by
:func:`loads_json` (text) and :func:`check_depth` (an already parsed value).

Errors: :class:`DocumentTooDeep` (a ``ValueError``).
"""

from __future__ import annotations

import json
from typing import Any

#: Deepest nesting of objects and lists a document may have (a workflow
#: graph with loop bodies inside parallel bodies needs about 20).
MAX_DEPTH = 100


class DocumentTooDeep(ValueError):
    """The document nests objects/lists deeper than the limit."""

    def __init__(self, limit: int):
        super().__init__(f"The document is nested deeper than {limit} levels.")
        self.limit = limit


def check_depth(value: Any, *, limit: int = MAX_DEPTH) -> None:
    """Raise :class:`DocumentTooDeep` when ``value`` (dicts and lists, any
    other value is a leaf) nests deeper than ``limit``. Iterative: never
    recurses itself, whatever the depth."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children = list(item.values())
        elif isinstance(item, (list, tuple)):
            children = list(item)
        else:
            continue
        if depth > limit:
            raise DocumentTooDeep(limit)
        stack += [(child, depth + 1) for child in children if isinstance(child, (dict, list, tuple))]


def loads_json(text: str | bytes, *, limit: int = MAX_DEPTH) -> Any:
    """``json.loads(text)``, refusing a document deeper than ``limit`` with
    :class:`DocumentTooDeep` (the decoder's own ``RecursionError`` included).
    Raises ``json.JSONDecodeError`` for invalid JSON."""
    try:
        value = json.loads(text)
    except RecursionError:
        raise DocumentTooDeep(limit) from None
    check_depth(value, limit=limit)
    return value


__all__ = ["MAX_DEPTH", "DocumentTooDeep", "check_depth", "loads_json"]
