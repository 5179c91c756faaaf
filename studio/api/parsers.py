"""The API's JSON parser: refuses, with a 400 naming the field, what the studio could not store or show."""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from rest_framework.parsers import JSONParser

from studio.api.errors import ApiError
from studio.lib.jsonsafe import JsonValueError, loads_strict


class StrictJSONParser(JSONParser):
    """``application/json`` bodies parsed with :func:`studio.lib.jsonsafe.loads_strict`.

    Lone surrogates, NUL characters, ``NaN``/``Infinity``, numbers that
    overflow a double or a 64-bit integer, and nesting deeper than
    ``STUDIO_JSON_MAX_DEPTH`` are refused before any view runs: 400
    ``{"detail", "code": "invalid_json", "errors": {<path>: [<message>]}}``.
    """

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        raw = stream.read() if stream is not None else b""
        try:
            return loads_strict(raw, max_depth=getattr(settings, "STUDIO_JSON_MAX_DEPTH", 100))
        except JsonValueError as exc:
            field = exc.path or "body"
            raise ApiError(f"{field} {exc.message}.", code="invalid_json", errors={field: [exc.message]}) from None
        except UnicodeDecodeError as exc:
            raise ApiError(f"The body is not UTF-8 (byte {exc.start}).", code="invalid_json") from None
        except json.JSONDecodeError as exc:
            raise ApiError(
                f"Invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}.", code="invalid_json"
            ) from None
