"""How to ask an endpoint for JSON matching a schema, and how to read the answer.

Three ways, chosen per endpoint (``ModelEndpoint.structured_output``):

- ``json_schema`` (OpenAI, vLLM, most hosted APIs):
  ``response_format={"type": "json_schema", "json_schema": {"name": "output",
  "schema": schema, "strict": True}}``. OpenAI's strict mode wants
  ``additionalProperties: false`` and every property required.
- ``json_object_schema`` (llama.cpp / llama-cpp-python server):
  ``response_format={"type": "json_object", "schema": schema}``. The server
  compiles the schema to a grammar, so even SmolLM2-135M answers valid JSON
  with the right types, enums and required keys (numeric ranges are not
  enforced by llama-cpp-python 0.3.36's grammar). llama-cpp-python rejects ``"type": "json_schema"`` (with an
  HTTP 500). LiteLLM passes the extra ``schema`` key through unchanged
  (verified with litellm 1.106.2, see tests/traces/test_gateway.py).
  Free text fields get a grammar-only ``pattern`` (:data:`TEXT_START_PATTERN`)
  so the first character is a letter or digit (any non-ASCII character too,
  for other scripts), never whitespace or ASCII punctuation: without it,
  the 135M model at temperature 0 answers ``{"facts": "{ { "}`` to the demo's
  facts agent and ``");} The answer is: {"`` to its open-questions agent, and
  a retry with the error gives the same (measured with llama-cpp-python 0.3.x,
  temperature 0, seed 1234). The schema the caller validates with is
  unchanged.
- ``prompt_only``: the schema goes into the system message; nothing holds
  the model to it, so callers must validate.

The gateway only decodes JSON; validating against the schema (and retrying
with the validation error) is the caller's job.
"""

from __future__ import annotations

import json
from typing import Any

from traces.models import StructuredOutput

SCHEMA_INSTRUCTIONS = (
    "Answer with a single JSON value that matches this JSON Schema, and nothing else "
    "(no prose, no code fences):\n{schema}"
)


# llama.cpp's grammar compiler (llama_cpp/llama_grammar.py) copies a pattern's
# character classes into GBNF raw, inside the JSON string's quotes: the classes
# must therefore exclude '"', '\\' and line breaks themselves, or the grammar
# would let the model end the string early or emit invalid JSON.
TEXT_START_PATTERN = r'^[^ -/:-@\[-`{-~\t\n\r][^"\\\n\r]*$'
_TEXT_CONSTRAINTS = ("pattern", "enum", "const", "format", "maxLength")


def with_text_patterns(schema: Any) -> Any:
    """A copy of ``schema`` in which every plain ``string`` schema (no pattern,
    enum, const, format or maxLength of its own) carries :data:`TEXT_START_PATTERN`.

    Used only for ``json_object_schema`` endpoints, whose server compiles the
    schema to a grammar; the pattern then means "a non-empty text that starts
    with a letter or digit", never a JSON fragment like ``"{"``. Nested ``properties``,
    ``items``, ``anyOf``/``oneOf``/``allOf`` and ``$defs`` are followed.
    """
    if isinstance(schema, list):
        return [with_text_patterns(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    # Every value is walked: sub-schemas sit under properties, items, anyOf, $defs, ...
    out = {key: with_text_patterns(value) for key, value in schema.items()}
    if schema.get("type") == "string" and not any(key in schema for key in _TEXT_CONSTRAINTS):
        out["pattern"] = TEXT_START_PATTERN
    return out


def response_format_for(mode: str, schema: dict[str, Any]) -> dict[str, Any] | None:
    """The ``response_format`` request parameter for ``mode``, or ``None`` for ``prompt_only``.

    Raises ``ValueError`` for an unknown mode.
    """
    if mode == StructuredOutput.JSON_SCHEMA:
        return {"type": "json_schema", "json_schema": {"name": "output", "schema": schema, "strict": True}}
    if mode == StructuredOutput.JSON_OBJECT_SCHEMA:
        return {"type": "json_object", "schema": with_text_patterns(schema)}
    if mode == StructuredOutput.PROMPT_ONLY:
        return None
    raise ValueError(f"Unknown structured output mode {mode!r}.")


def with_schema_instructions(messages: list[dict[str, Any]], schema: dict[str, Any]) -> list[dict[str, Any]]:
    """A copy of ``messages`` whose system message ends with the schema instructions.

    A system message is inserted first when there is none. Only string
    contents are extended; other message contents are left as they are.
    """
    note = SCHEMA_INSTRUCTIONS.format(schema=json.dumps(schema, separators=(",", ":")))
    out = [dict(message) for message in messages]
    for message in out:
        if message.get("role") == "system" and isinstance(message.get("content"), str):
            message["content"] = f"{message['content']}\n\n{note}"
            return out
    return [{"role": "system", "content": note}, *out]


def parse_json_output(text: str) -> tuple[Any | None, str]:
    """Decode the model's answer as JSON: ``(value, "")`` or ``(None, error)``.

    Tolerates what small models and prompt-only endpoints add around the
    JSON: surrounding whitespace, a Markdown code fence, or prose before the
    first ``{``/``[`` and after the matching last ``}``/``]``.
    """
    candidate = _strip_fence(text.strip())
    try:
        return json.loads(candidate, strict=False), ""
    except json.JSONDecodeError as exc:
        first_error = f"The answer is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}."
    inner = _outermost_json(candidate)
    if inner is not None:
        try:
            return json.loads(inner, strict=False), ""
        except json.JSONDecodeError:
            pass
    return None, first_error


def _strip_fence(text: str) -> str:
    if text.startswith("```"):
        text = text.split("\n", 1)[1] if "\n" in text else ""
        if text.rstrip().endswith("```"):
            text = text.rstrip()[:-3]
    return text.strip()


def _outermost_json(text: str) -> str | None:
    starts = [i for i in (text.find("{"), text.find("[")) if i >= 0]
    if not starts:
        return None
    start = min(starts)
    end = text.rfind("}" if text[start] == "{" else "]")
    return text[start : end + 1] if end > start else None
