"""``guardrail``: check a value (PII, regex, JSON Schema, LLM judge) and send
it down a ``pass`` or a ``fail`` branch.

The CPU-bound checks (PII, regex, JSON Schema) run in a worker thread, never
on the event loop (in quickstart the loop also serves every HTTP request),
and within a time limit: the node's ``timeout_s``, else
:data:`CHECK_TIME_LIMIT_S`. Regular expressions — the user's, the PII
detector's and JSON Schema ``pattern`` keywords — run on the ``regex`` module,
which releases the GIL while matching and stops a match at a timeout (a
catastrophic pattern like ``(a|a)+$`` fails the step with code ``timeout``).
JSON Schemas are checked with a ``referencing.Registry`` that retrieves
nothing: a ``$ref`` outside the schema (``http://…``, a relative reference
under a remote ``$id``) is refused when the graph is validated and can never
be fetched at run time.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import json
import re
import time
from collections.abc import Callable
from typing import Any, Literal, TypeVar
from urllib.parse import urlsplit

import jsonschema
import jsonschema._keywords
import jsonschema._legacy_keywords
import jsonschema._utils
import referencing
import referencing.exceptions
import regex
from pydantic import BaseModel, ConfigDict, Field

from agents.engine.nodes.base import ConfigProblem, NodeConfig, NodeContext, NodeError, NodeOutput, NodeType
from agents.engine.nodes.registry import register
from agents.engine.nodes.structured import ask_structured, check_endpoint, format_value
from agents.engine.signature import FieldSpec, Signature

PiiKind = Literal["email", "phone", "card", "iban"]
T = TypeVar("T")

#: Seconds the CPU-bound checks of one guardrail step may take together when
#: the node sets no ``timeout_s``.
CHECK_TIME_LIMIT_S = 10.0
#: At most this many JSON Schema errors are reported per check.
MAX_SCHEMA_ERRORS = 20

# The PII patterns are linear in the text's length: an e-mail match may only
# start where a run of local-part characters starts (without the look-behind,
# 60,000 letters took ~9 s: every start position rescanned the rest).
_EMAIL = regex.compile(r"(?<![A-Za-z0-9._%+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
_PHONE = regex.compile(r"(?<![\w+])\+?\(?\d[\d\s().-]{6,}\d(?!\w)")
_CARD = regex.compile(r"(?<!\d)(?:\d[ -]?){12,18}\d(?!\d)")
_DATE = regex.compile(r"\d{4}-\d{2}-\d{2}")
_IBAN = regex.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}\b")


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
    check). Digits inside a card number or an IBAN don't count as a phone.
    Linear in ``len(text)``."""
    cards = [m.span() for m in _CARD.finditer(text) if _luhn(re.sub(r"\D", "", m.group()))]
    ibans = [m.span() for m in _IBAN.finditer(text) if _iban_ok(m.group())]
    taken: list[list[int]] = []  # card and IBAN spans, merged: sorted and disjoint
    for start, end in sorted(cards + ibans):
        if taken and start < taken[-1][1]:
            taken[-1][1] = max(taken[-1][1], end)
        else:
            taken.append([start, end])
    phone = False
    index = 0
    for match in _PHONE.finditer(text):  # matches come in order: one pass over ``taken``
        start, end = match.span()
        while index < len(taken) and taken[index][1] <= start:
            index += 1
        if (index == len(taken) or taken[index][0] >= end) and _phone_like(match.group()):
            phone = True
            break
    found: dict[str, bool] = {
        "email": _EMAIL.search(text) is not None,
        "card": bool(cards),
        "iban": bool(ibans),
        "phone": phone,
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


# ------------------------------------------------------------ JSON Schema

#: Keywords whose values are data, not schemas: a "$ref" inside them is no reference.
_DATA_KEYWORDS = frozenset({"enum", "const", "default", "examples"})
_REF_KEYWORDS = ("$ref", "$dynamicRef", "$recursiveRef")


#: The only registry a user's schema is validated with: an empty one, whose
#: default ``retrieve`` raises ``NoSuchResource`` — it never fetches anything
#: (without a registry jsonschema falls back to fetching any URL).
NO_REMOTE_SCHEMAS: referencing.Registry[Any] = referencing.Registry()


def schema_problems(schema: Any) -> list[str]:
    """Why ``schema`` (a user's JSON Schema) may not be used, empty when fine.

    Refuses a ``$ref``/``$dynamicRef``/``$recursiveRef`` that does not point
    inside the schema itself (it must start with ``#``: a URL, or a relative
    reference that a ``$id`` would turn into one, is refused), an absolute
    ``$id``/``id`` URI (``https://…``, which makes relative references
    remote), a ``pattern`` or ``patternProperties`` key that does not compile,
    and a schema that is not valid for its draft. Walks the schema
    iteratively (no recursion limit)."""
    problems: list[str] = []
    stack: list[tuple[Any, str]] = [(schema, "")]
    while stack:
        node, path = stack.pop()
        if isinstance(node, list):
            stack += [(item, f"{path}/{i}") for i, item in reversed(list(enumerate(node)))]
            continue
        if not isinstance(node, dict):
            continue
        where = path or "/"
        for keyword in _REF_KEYWORDS:
            ref = node.get(keyword)
            if isinstance(ref, str) and not ref.startswith("#"):
                problems.append(
                    f"{keyword} {ref!r} at {where} points outside the schema; only references inside it "
                    "(starting with #) are allowed — the studio never fetches schemas"
                )
        for keyword in ("$id", "id"):
            ident = node.get(keyword)
            if isinstance(ident, str) and (urlsplit(ident).scheme or ident.startswith("//")):
                problems.append(
                    f"{keyword} {ident!r} at {where} is an absolute URI; remove it "
                    "(references are resolved inside the schema only)"
                )
        patterns = [node["pattern"]] if isinstance(node.get("pattern"), str) else []
        if isinstance(node.get("patternProperties"), dict):
            patterns += [key for key in node["patternProperties"] if isinstance(key, str)]
        for pattern in patterns:
            try:
                regex.compile(pattern)
            except regex.error as exc:
                problems.append(f"pattern {pattern!r} at {where} is not a valid regular expression: {exc}")
        for key, item in reversed(list(node.items())):
            if key not in _DATA_KEYWORDS:
                stack.append((item, f"{path}/{key}"))
    if problems:
        return problems
    try:
        jsonschema.validators.validator_for(schema).check_schema(schema)
    except jsonschema.SchemaError as exc:
        return [f"invalid JSON Schema: {exc.message}"]
    except Exception as exc:  # noqa: BLE001 - e.g. an unhashable "$schema"; report, never raise
        return [f"invalid JSON Schema: {type(exc).__name__}: {exc}"]
    return []


#: When set (in a worker thread running a check), the absolute
#: ``time.monotonic()`` by which every regular expression must have finished.
_DEADLINE: contextvars.ContextVar[float | None] = contextvars.ContextVar("guardrail_deadline", default=None)


def _search(pattern: str, text: str) -> Any:
    """``regex.search`` within what is left until :data:`_DEADLINE` (raises
    ``TimeoutError`` past it); releases the GIL while it matches."""
    deadline = _DEADLINE.get()
    timeout = None if deadline is None else max(deadline - time.monotonic(), 0.001)
    return regex.search(pattern, text, timeout=timeout)


class _TimedRe:
    """Stands in for the ``re`` module inside jsonschema's keyword modules,
    whose only use of it is ``re.search`` (``pattern``,
    ``patternProperties``, ``additionalProperties``,
    ``unevaluatedProperties``): while a guardrail check runs, the search goes
    through :func:`_search` and so stops at the check's deadline. Anything
    else is the real ``re``."""

    def __getattr__(self, name: str) -> Any:
        return getattr(re, name)

    @staticmethod
    def search(pattern: str, string: str, flags: int = 0) -> Any:
        if _DEADLINE.get() is None or flags:
            return re.search(pattern, string, flags)
        return _search(pattern, string)


for _module in (jsonschema._keywords, jsonschema._utils, jsonschema._legacy_keywords):
    _module.re = _TimedRe()


def schema_violations(schema: dict[str, Any], data: Any) -> list[str]:
    """The first :data:`MAX_SCHEMA_ERRORS` errors of ``data`` against the
    user's ``schema``, with no reference ever retrieved. Raises
    ``TimeoutError`` when a ``pattern`` outlives the check's deadline."""
    validator = jsonschema.validators.validator_for(schema)(schema, registry=NO_REMOTE_SCHEMAS)
    errors: list[jsonschema.ValidationError] = []
    try:
        for error in validator.iter_errors(data):
            errors.append(error)
            if len(errors) == MAX_SCHEMA_ERRORS:
                break
    except referencing.exceptions.Unresolvable as exc:
        ref = getattr(exc, "ref", None) or str(exc)
        return [f"JSON Schema: the reference {ref!r} cannot be resolved inside the schema (nothing is fetched)"]
    return [f"JSON Schema: {error.message}" for error in sorted(errors, key=lambda e: [str(p) for p in e.path])]


async def _off_loop(where: str, deadline: float, limit: float, fn: Callable[[], T]) -> T:
    """Run the CPU-bound ``fn`` in a worker thread with :data:`_DEADLINE`
    set; a ``NodeError(code="timeout")`` when it is not done by ``deadline``
    (the thread stops at its next regular-expression step)."""

    def work() -> T:
        _DEADLINE.set(deadline)
        return fn()

    too_slow = NodeError(f"{where}: the checks did not finish within {limit:g} s and were stopped", code="timeout")
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise too_slow
    try:
        return await asyncio.wait_for(asyncio.to_thread(work), remaining)
    except TimeoutError:
        raise too_slow from None


def _cpu_check(check: Check, value: Any, where: str, limit: float) -> list[str]:
    """The violations of one PII, regex or JSON Schema check (in a worker
    thread). Raises ``NodeError(code="timeout")`` past the deadline, naming
    the ``limit`` in seconds."""
    text = format_value(value)
    try:
        if check.kind == "pii":
            return [f"contains personal data: {kind}" for kind in find_pii(text, check.pii_kinds)]
        if check.kind == "regex":
            matched = _search(check.pattern, text) is not None
            if check.must_match and not matched:
                return [f"does not match the pattern {check.pattern!r}"]
            if not check.must_match and matched:
                return [f"matches the forbidden pattern {check.pattern!r}"]
            return []
        data = value
        if isinstance(value, str):
            try:
                data = json.loads(value)
            except (json.JSONDecodeError, RecursionError):
                return ["is not valid JSON"]
        return schema_violations(check.json_schema, data)
    except TimeoutError:
        raise NodeError(
            f"{where}: stopped by the time limit of {limit:g} s — the pattern takes too long on this value "
            "(a pattern like (a|a)+$ backtracks exponentially); simplify it or raise timeout_s",
            code="timeout",
        ) from None


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
                    regex.compile(check.pattern)
                except regex.error as exc:
                    problems.append(ConfigProblem(f"{where}: invalid pattern: {exc}"))
                if not check.pattern:
                    problems.append(ConfigProblem(f"{where}: the pattern is empty"))
            elif check.kind == "json_schema":
                problems += [ConfigProblem(f"{where}: {problem}") for problem in schema_problems(check.json_schema)]
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
        limit = config.timeout_s or CHECK_TIME_LIMIT_S
        # A little before the step's own timeout, so that the error can say which check was too slow.
        deadline = time.monotonic() + limit - min(limit / 10, 0.5)
        violations: list[str] = []
        for index, check in enumerate(config.checks, start=1):
            where = f"check {index} ({check.kind})"
            if check.kind == "llm_judge":
                violations += await self._judge(ctx, config, check, value)
            else:
                violations += await _off_loop(
                    where, deadline, limit, functools.partial(_cpu_check, check, value, where, limit)
                )
        if violations:
            return ctx.result({"fail": value, "violations": violations}, passed=False)
        return ctx.result({"pass": value}, passed=True)

    async def _judge(self, ctx: NodeContext, config: GuardrailConfig, check: Check, value: Any) -> list[str]:
        text = format_value(value)
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
