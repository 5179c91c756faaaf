"""The API's JSON parser: DRF's, with a depth limit (``studio.lib.documents``).

A body nested deeper than ``MAX_DEPTH`` levels is a 400 ``parse_error``
("The document is nested deeper than 100 levels."), never a
``RecursionError`` and a 500 further down.
"""

from __future__ import annotations

from typing import Any

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

from studio.lib.documents import DocumentTooDeep, check_depth


class DepthLimitedJSONParser(JSONParser):
    """``application/json`` bodies, at most ``MAX_DEPTH`` levels deep."""

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        try:
            data = super().parse(stream, media_type, parser_context)
            check_depth(data)
        except RecursionError:
            raise ParseError("JSON parse error - the document is nested too deeply.") from None
        except DocumentTooDeep as exc:
            raise ParseError(f"JSON parse error - {exc}") from None
        return data
