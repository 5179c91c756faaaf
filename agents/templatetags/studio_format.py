"""Template filters for showing run data: ``pretty_json`` and ``is_text``."""

from __future__ import annotations

from typing import Any

from django import template
from django.utils.safestring import SafeString

from agents.fragments import pretty_json as _pretty_json

register = template.Library()


@register.filter
def pretty_json(value: Any) -> SafeString:
    """Indented, escaped, highlighted JSON (see ``agents.fragments.pretty_json``)."""
    return _pretty_json(value)


@register.filter
def is_text(value: Any) -> bool:
    """True for a string or a plain number/boolean (shown as prose rather than JSON)."""
    return isinstance(value, str | int | float | bool)
