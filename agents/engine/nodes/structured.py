"""Shared pieces of model-calling nodes: chat messages, rendering, and asking
for structured output with one corrective retry."""

from __future__ import annotations

import json
import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from agents.engine.errors import SignatureError, TemplateError
from agents.engine.nodes.base import ConfigProblem, NodeContext, NodeError
from agents.engine.protocols import LLMRequest
from agents.engine.signature import FieldSpec, Signature
from agents.engine.templating import render, template_problems


class Message(BaseModel):
    """A chat message whose ``content`` is a Jinja2 template."""

    model_config = ConfigDict(extra="forbid")

    role: Literal["system", "user", "assistant"] = "user"
    content: str = ""


def text_output() -> list[FieldSpec]:
    """The default output signature of a plain completion: ``text: str``."""
    return [FieldSpec(name="text", description="The model's answer")]


def is_plain_text(signature: Signature) -> bool:
    """True for the single-field ``text: str`` signature (no structured output)."""
    return len(signature) == 1 and signature.fields[0].name == "text" and signature.fields[0].type == "str"


def check_endpoint(endpoint: str) -> list[ConfigProblem]:
    """A model endpoint slug must be chosen."""
    return [] if endpoint.strip() else [ConfigProblem("choose a model endpoint")]


def check_template(what: str, source: str, inputs: Signature) -> list[ConfigProblem]:
    """Problems of a template that may read the node's input fields."""
    return [ConfigProblem(f"{what}: {p}") for p in template_problems(source, inputs.names())]


def render_or_fail(what: str, source: str, variables: dict[str, Any]) -> str:
    """Render ``source``; a template error becomes a ``template_error`` NodeError."""
    try:
        return render(source, variables)
    except TemplateError as exc:
        raise NodeError(f"{what}: {exc}", code="template_error") from None


def format_value(value: Any) -> str:
    """A value as the model sees it: strings as is, the rest as JSON."""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)


_KINDS: dict[str, str] = {
    "str": "text",
    "int": "a whole number",
    "float": "a number",
    "bool": "true or false",
    "list": "a list",
    "object": "an object",
}


def describe_fields(signature: Signature) -> str:
    """One line per field, its name quoted, the kind of value in words and the
    description: ``- "confidence" (a number): how sure, 0 to 1``; an enum
    lists its allowed values (``(one of "yes", "no")``). No sample values: a
    small model copies them into its answer."""
    lines = []
    for spec in signature.fields:
        if spec.type == "enum":
            kind = "one of " + ", ".join(f'"{choice}"' for choice in spec.choices)
        elif spec.type == "list" and spec.items:
            kind = f"a list of {_KINDS[spec.items].removeprefix('a ').removeprefix('an ')}s"
            kind = "a list of texts" if spec.items == "str" else kind
        else:
            kind = _KINDS[spec.type]
        line = f'- "{spec.name}" ({kind})'
        if spec.description:
            line += f": {spec.description}"
        lines.append(line)
    return "\n".join(lines)


_FENCE = re.compile(r"^```(?:json)?\s*(.*?)\s*```$", re.DOTALL)


def parse_json_answer(text: str) -> Any:
    """Decode a model's JSON answer, tolerating a code fence or prose around
    one object. Raises ``ValueError`` with a short reason."""
    stripped = text.strip()
    fenced = _FENCE.match(stripped)
    if fenced:
        stripped = fenced.group(1)
    try:
        return json.loads(stripped, strict=False)
    except json.JSONDecodeError as exc:
        start, end = stripped.find("{"), stripped.rfind("}")
        if 0 <= start < end:
            try:
                return json.loads(stripped[start : end + 1], strict=False)
            except json.JSONDecodeError:
                pass
        repaired = _repair(stripped)
        if repaired is not None:
            return repaired
        raise ValueError(f"the answer is not valid JSON ({exc.msg} at position {exc.pos})") from None


def _repair(text: str) -> dict[str, Any] | None:
    """An object recovered from an answer cut off by ``max_tokens`` (an unterminated
    string or brace), using the json-repair library; None when nothing object-like is
    there. The caller still validates it against the signature, so a repaired answer
    missing a required field is refused."""
    if not text.lstrip().startswith("{"):
        return None
    import json_repair

    value = json_repair.loads(text)
    return value if isinstance(value, dict) and value else None


def is_blank_text(value: Any) -> bool:
    """True for a string that says nothing: empty, or without a single letter
    or digit (``""``, ``"  "``, ``"{"``, ``"..."`` — what a small model writes
    when a grammar pushes it into a string it has nothing for)."""
    return isinstance(value, str) and not any(char.isalnum() for char in value)


def blank_required_text(data: dict[str, Any], signature: Signature) -> list[str]:
    """Names of the required ``str`` fields whose value in ``data`` is blank
    (:func:`is_blank_text`), in field order."""
    return [
        spec.name
        for spec in signature.fields
        if spec.required and spec.type == "str" and is_blank_text(data.get(spec.name))
    ]


def check_answer(text: str, signature: Signature) -> dict[str, Any]:
    """Parse and validate a structured answer (keys outside the signature are
    dropped); ``ValueError`` says what is wrong. A blank required text field
    (:func:`is_blank_text`) is an error too (``answer: must not be empty``),
    so the caller retries it like a schema mismatch."""
    data = parse_json_answer(text)
    if isinstance(data, dict) and len(signature):
        # Prompt-only endpoints sometimes add keys; they do no harm, drop them.
        data = {key: value for key, value in data.items() if key in signature}
    try:
        valid = signature.validate(data)
    except SignatureError as exc:
        raise ValueError("the answer does not match the schema: " + "; ".join(exc.messages)) from None
    blank = blank_required_text(valid, signature)
    if blank:
        raise ValueError(
            "the answer does not match the schema: "
            + "; ".join(f"{n}: must not be empty, write it in words" for n in blank)
        )
    return valid


async def ask_structured(
    ctx: NodeContext,
    *,
    endpoint: str,
    messages: list[dict[str, Any]],
    signature: Signature,
    params: dict[str, Any],
    prompt_version_id: int | None = None,
) -> dict[str, Any]:
    """Ask for a JSON object fitting ``signature`` (``schema`` =
    ``signature.json_schema()``). On invalid JSON or a schema mismatch, ask
    once more with the error appended to the conversation; both calls count
    towards the step's tokens and cost. Returns the validated outputs.
    Raises ``NodeError(code="invalid_output")`` after the second failure and
    lets ``LLMError`` through."""
    conversation = list(messages)
    schema = signature.json_schema()
    error = ""
    for attempt in (1, 2):
        response = await ctx.complete(
            LLMRequest(
                endpoint=endpoint,
                messages=conversation,
                node_id=ctx.node_id,
                iteration=ctx.iteration,
                schema=schema,
                params=dict(params),
                prompt_version_id=prompt_version_id,
            )
        )
        try:
            return check_answer(response.text, signature)
        except ValueError as exc:
            error = str(exc)
        if attempt == 1:
            conversation = [
                *conversation,
                {"role": "assistant", "content": response.text},
                {
                    "role": "user",
                    "content": f"That answer was rejected: {error}. Reply again with only "
                    "a JSON object that matches the schema.",
                },
            ]
    raise NodeError(
        f"the model's answer did not fit the output signature after 2 attempts: {error}",
        code="invalid_output",
    )
