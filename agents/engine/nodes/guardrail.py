"""``guardrail``: check a value (PII, regex, JSON Schema, LLM judge) and send
it down a ``pass`` or a ``fail`` branch."""

from __future__ import annotations

import json
import re
from typing import Any, Literal

import jsonschema
from pydantic import BaseModel, ConfigDict, Field

from agents.engine.nodes.base import ConfigProblem, NodeConfig, NodeContext, NodeOutput, NodeType
from agents.engine.nodes.registry import register
from agents.engine.nodes.structured import ask_structured, check_endpoint, format_value
from agents.engine.signature import FieldSpec, Signature

PiiKind = Literal["email", "phone", "card", "iban"]

_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
_PHONE = re.compile(r"(?<![\w+])\+?\(?\d[\d\s().-]{6,}\d(?!\w)")
_CARD = re.compile(r"(?<!\d)(?:\d[ -]?){12,18}\d(?!\d)")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}\b")


def _luhn(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char)
        if index % 2:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def _iban_ok(candidate: str) -> bool:
    text = candidate.replace(" ", "")
    rearranged = text[4:] + text[:4]
    number = "".join(str(int(c, 36)) for c in rearranged)
    return int(number) % 97 == 1


def find_pii(text: str, kinds: list[PiiKind]) -> list[str]:
    """Which kinds of personal data appear in ``text`` (in ``kinds`` order):
    e-mail addresses, phone numbers (9 to 15 digits, not a date), payment
    card numbers (13 to 19 digits passing the Luhn check) and IBANs (mod-97
    check). Digits inside a card number or an IBAN don't count as a phone."""
    cards = [m.span() for m in _CARD.finditer(text) if _luhn(re.sub(r"\D", "", m.group()))]
    ibans = [m.span() for m in _IBAN.finditer(text) if _iban_ok(m.group())]
    taken = cards + ibans

    def free(span: tuple[int, int]) -> bool:
        return not any(start < span[1] and span[0] < end for start, end in taken)

    found: dict[str, bool] = {
        "email": _EMAIL.search(text) is not None,
        "card": bool(cards),
        "iban": bool(ibans),
        "phone": any(_phone_like(m.group()) and free(m.span()) for m in _PHONE.finditer(text)),
    }
    return [kind for kind in kinds if found[kind]]


def _phone_like(candidate: str) -> bool:
    digits = re.sub(r"\D", "", candidate)
    if not 9 <= len(digits) <= 15 or _DATE.search(candidate):
        return False
    return not (len(digits) >= 13 and _luhn(digits))  # that is a card number


def _all_pii_kinds() -> list[PiiKind]:
    return ["email", "phone", "card", "iban"]


class Check(BaseModel):
    """One check. ``pii``: fails when any of ``pii_kinds`` appears.
    ``regex``: fails when ``pattern`` matches (or, with ``must_match``, when
    it does not). ``json_schema``: fails when the value (decoded if it is a
    JSON string) does not satisfy ``json_schema``. ``llm_judge``: the model
    decides whether the value meets ``criteria``."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["pii", "regex", "json_schema", "llm_judge"]
    pii_kinds: list[PiiKind] = Field(default_factory=_all_pii_kinds)
    pattern: str = ""
    must_match: bool = False
    json_schema: dict[str, Any] = Field(default_factory=dict)
    criteria: str = ""


def _default_inputs() -> list[FieldSpec]:
    return [FieldSpec(name="text")]


class GuardrailConfig(NodeConfig):
    """``inputs``: the fields; ``field``: the one checked and forwarded
    (default: the first). All ``checks`` run; the value leaves through
    ``pass`` when none failed, else through ``fail`` together with
    ``violations: list[str]``. ``endpoint``/``params`` serve ``llm_judge``."""

    inputs: list[FieldSpec] = Field(default_factory=_default_inputs)
    field: str | None = None
    checks: list[Check] = Field(default_factory=lambda: [Check(kind="pii")])
    endpoint: str = ""
    params: dict[str, Any] = Field(default_factory=dict)


def _checked(config: GuardrailConfig) -> FieldSpec:
    inputs = Signature(config.inputs)
    name = config.field or (inputs.names()[0] if len(inputs) else "")
    spec = inputs.get(name)
    return spec if spec is not None else FieldSpec(name="value", type="object")


@register
class GuardrailNode(NodeType):
    type = "guardrail"
    kind = "logic"
    title = "Guardrail"
    description = "Check a value for PII, a pattern, a JSON Schema or an LLM judge; pass or fail branch."
    Config = GuardrailConfig

    def ports(self, config: GuardrailConfig) -> tuple[Signature, Signature]:
        checked = _checked(config)
        branch = {"required": True, "default": None}
        return Signature(config.inputs), Signature(
            [
                checked.model_copy(update={"name": "pass", **branch}),
                checked.model_copy(update={"name": "fail", **branch}),
                FieldSpec(name="violations", type="list", items="str", description="Why it failed"),
            ]
        )

    def check(self, config: GuardrailConfig) -> list[ConfigProblem]:
        problems: list[ConfigProblem] = []
        if not config.inputs:
            problems.append(ConfigProblem("declare at least one input"))
        elif config.field and config.field not in Signature(config.inputs):
            problems.append(ConfigProblem(f"field {config.field!r} is not an input"))
        if not config.checks:
            problems.append(ConfigProblem("add at least one check"))
        for index, check in enumerate(config.checks, start=1):
            where = f"check {index} ({check.kind})"
            if check.kind == "regex":
                try:
                    re.compile(check.pattern)
                except re.error as exc:
                    problems.append(ConfigProblem(f"{where}: invalid pattern: {exc}"))
                if not check.pattern:
                    problems.append(ConfigProblem(f"{where}: the pattern is empty"))
            elif check.kind == "json_schema":
                try:
                    jsonschema.validators.validator_for(check.json_schema).check_schema(check.json_schema)
                except jsonschema.SchemaError as exc:
                    problems.append(ConfigProblem(f"{where}: invalid JSON Schema: {exc.message}"))
            elif check.kind == "llm_judge":
                problems += check_endpoint(config.endpoint)
                if not check.criteria.strip():
                    problems.append(ConfigProblem(f"{where}: describe the criteria"))
            elif check.kind == "pii" and not check.pii_kinds:
                problems.append(ConfigProblem(f"{where}: choose what personal data to look for"))
        return problems

    async def run(self, ctx: NodeContext, inputs: dict[str, Any]) -> NodeOutput:
        config: GuardrailConfig = ctx.config
        value = inputs.get(_checked(config).name)
        violations: list[str] = []
        for check in config.checks:
            violations += await self._violations(ctx, config, check, value)
        if violations:
            return ctx.result({"fail": value, "violations": violations}, passed=False)
        return ctx.result({"pass": value}, passed=True)

    async def _violations(self, ctx: NodeContext, config: GuardrailConfig, check: Check, value: Any) -> list[str]:
        text = format_value(value)
        if check.kind == "pii":
            return [f"contains personal data: {kind}" for kind in find_pii(text, check.pii_kinds)]
        if check.kind == "regex":
            matched = re.search(check.pattern, text) is not None
            if check.must_match and not matched:
                return [f"does not match the pattern {check.pattern!r}"]
            if not check.must_match and matched:
                return [f"matches the forbidden pattern {check.pattern!r}"]
            return []
        if check.kind == "json_schema":
            data = value
            if isinstance(value, str):
                try:
                    data = json.loads(value)
                except json.JSONDecodeError:
                    return ["is not valid JSON"]
            validator = jsonschema.validators.validator_for(check.json_schema)(check.json_schema)
            return [
                f"JSON Schema: {error.message}"
                for error in sorted(validator.iter_errors(data), key=lambda e: list(e.path))
            ]
        verdict = await ask_structured(
            ctx,
            endpoint=config.endpoint,
            messages=[
                {
                    "role": "system",
                    "content": "You check text against criteria. Criteria: "
                    + check.criteria
                    + '\nReply with a JSON object: {"ok": true|false, "reason": "..."}.',
                },
                {"role": "user", "content": text},
            ],
            signature=Signature(
                [
                    FieldSpec(name="ok", type="bool", description="true if the text meets the criteria"),
                    FieldSpec(name="reason", description="one short sentence"),
                ]
            ),
            params=config.params,
        )
        return [] if verdict["ok"] else [f"judge: {verdict['reason']}"]
