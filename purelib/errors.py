"""The errors of :mod:`purelib` (re-exported by ``agents.engine.errors``).

Each carries plain-English messages meant to be shown to a builder as is.
"""

from __future__ import annotations


class EngineError(Exception):
    """Base class of the engine's own errors (and of these, which the engine raises too)."""


class SignatureError(EngineError, ValueError):
    """Data or a field declaration does not fit a signature.

    ``field_errors`` maps a field name (``""`` for the whole object) to its
    messages, e.g. ``{"age": ["Input should be a valid integer"]}``.
    """

    def __init__(self, field_errors: dict[str, list[str]]):
        self.field_errors = field_errors
        super().__init__("; ".join(self.messages))

    @property
    def messages(self) -> list[str]:
        """One line per problem: ``"age: Input should be a valid integer"``."""
        out: list[str] = []
        for name, problems in self.field_errors.items():
            for problem in problems:
                out.append(f"{name}: {problem}" if name else problem)
        return out


class TemplateError(EngineError, ValueError):
    """A Jinja2 template or expression does not parse or fails to render
    (a missing variable is always an error)."""
