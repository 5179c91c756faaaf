"""Exceptions raised by the engine's public functions.

Each carries plain-English messages meant to be shown to a builder as is.
``EngineError``, ``SignatureError`` and ``TemplateError`` live in
:mod:`purelib.errors` (shared with ``prompts``) and are re-exported here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from purelib.errors import EngineError as EngineError
from purelib.errors import SignatureError as SignatureError
from purelib.errors import TemplateError as TemplateError

if TYPE_CHECKING:
    from agents.engine.graph import GraphIssue


class InputValidationError(SignatureError):
    """The inputs given to a run do not fit the workflow's input signature."""


class GraphValidationError(EngineError, ValueError):
    """A graph document has problems; ``issues`` lists every one of them."""

    def __init__(self, issues: list[GraphIssue]):
        self.issues = issues
        super().__init__("\n".join(issue.message for issue in issues))
