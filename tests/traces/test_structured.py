"""Structured output: request shapes per endpoint mode and lenient JSON decoding."""

from __future__ import annotations

import re

import pytest

from traces.models import StructuredOutput
from traces.structured import TEXT_START_PATTERN, parse_json_output, response_format_for, with_schema_instructions

SCHEMA = {"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]}


def test_response_format_per_mode():
    assert response_format_for(StructuredOutput.JSON_SCHEMA, SCHEMA) == {
        "type": "json_schema",
        "json_schema": {"name": "output", "schema": SCHEMA, "strict": True},
    }
    assert response_format_for(StructuredOutput.JSON_OBJECT_SCHEMA, SCHEMA) == {"type": "json_object", "schema": SCHEMA}
    assert response_format_for(StructuredOutput.PROMPT_ONLY, SCHEMA) is None
    with pytest.raises(ValueError):
        response_format_for("xml", SCHEMA)


def test_schema_instructions_extend_the_system_message_without_touching_the_input():
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}]

    out = with_schema_instructions(messages, SCHEMA)

    assert out[0]["content"].startswith("Be brief.\n\n") and '"required":["a"]' in out[0]["content"]
    assert messages[0]["content"] == "Be brief." and out[1] == messages[1]


def test_schema_instructions_add_a_system_message_when_there_is_none():
    out = with_schema_instructions([{"role": "user", "content": "Hi"}], SCHEMA)

    assert [m["role"] for m in out] == ["system", "user"]


@pytest.mark.parametrize(
    "text",
    ['{"a": 1}', '  {"a": 1}\n', '```json\n{"a": 1}\n```', 'Sure! Here it is: {"a": 1} Hope this helps.'],
)
def test_json_is_decoded_from_what_small_models_wrap_around_it(text):
    assert parse_json_output(text) == ({"a": 1}, "")


def test_non_json_gives_none_and_a_reason():
    parsed, error = parse_json_output("The answer is one.")

    assert parsed is None and "not valid JSON" in error


def test_json_object_schema_requests_hold_free_text_to_start_with_a_word():
    schema = {
        "type": "object",
        "properties": {
            "facts": {"type": "string"},
            "tone": {"type": "string", "enum": ["calm", "loud"]},
            "tags": {"type": "array", "items": {"type": "string"}},
            "score": {"type": "number"},
        },
        "required": ["facts"],
    }

    sent = response_format_for(StructuredOutput.JSON_OBJECT_SCHEMA, schema)["schema"]

    assert sent["properties"]["facts"]["pattern"] == TEXT_START_PATTERN
    assert sent["properties"]["tags"]["items"]["pattern"] == TEXT_START_PATTERN
    assert "pattern" not in sent["properties"]["tone"] and "pattern" not in sent["properties"]["score"]
    assert "pattern" not in schema["properties"]["facts"]  # the caller's schema is untouched
    assert response_format_for(StructuredOutput.JSON_SCHEMA, schema)["json_schema"]["schema"] == schema


@pytest.mark.parametrize("text", ["Solar panels cut costs.", "3 facts", "Ünïcode first", "a"])
def test_text_start_pattern_accepts_plain_text(text):
    assert re.fullmatch(TEXT_START_PATTERN, text)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "{",
        "{ { ",
        ");} The answer",
        "?",
        "- item",
        " leading space",
        "[1]",
        'say "hi"',
        "back\\slash",
        "two\nlines",
    ],
)
def test_text_start_pattern_refuses_json_fragments_and_what_would_break_the_string(text):
    assert not re.fullmatch(TEXT_START_PATTERN, text)
