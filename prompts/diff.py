"""Word-level diff of two prompt versions (pure Python, no I/O).

A message's content is split into words, runs of whitespace and single
punctuation marks; :func:`word_diff` aligns them with
:class:`difflib.SequenceMatcher` and returns ``(op, text)`` pieces where
``op`` is ``"equal"``, ``"delete"`` (only in the old text) or ``"insert"``
(only in the new text). Messages are paired by position; a message present
on one side only is all deleted or all inserted.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from typing import Any

_TOKEN = re.compile(r"\s+|\w+|[^\w\s]")


def word_diff(old: str, new: str) -> list[tuple[str, str]]:
    """``(op, text)`` pieces turning ``old`` into ``new``; joining the
    non-insert pieces gives ``old``, the non-delete pieces ``new``."""
    a, b = _TOKEN.findall(old), _TOKEN.findall(new)
    pieces: list[tuple[str, str]] = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes():
        if tag == "equal":
            pieces.append(("equal", "".join(a[i1:i2])))
            continue
        if i2 > i1:
            pieces.append(("delete", "".join(a[i1:i2])))
        if j2 > j1:
            pieces.append(("insert", "".join(b[j1:j2])))
    return pieces


@dataclass
class MessageDiff:
    """One message position: the roles on each side (None when absent) and the content's pieces."""

    old_role: str | None
    new_role: str | None
    pieces: list[tuple[str, str]]


def messages_diff(old: list[dict[str, Any]], new: list[dict[str, Any]]) -> list[MessageDiff]:
    """The word-level diff of two versions' ``messages``, message by message."""
    out = []
    for index in range(max(len(old), len(new))):
        before = old[index] if index < len(old) else None
        after = new[index] if index < len(new) else None
        out.append(
            MessageDiff(
                old_role=before["role"] if before else None,
                new_role=after["role"] if after else None,
                pieces=word_diff(before["content"] if before else "", after["content"] if after else ""),
            )
        )
    return out
