"""Deterministic evaluators ("checks") as pure functions: no Django, no I/O.

A check has a ``kind`` and a ``config``; :func:`config_problems` says what is
wrong with a config before it is stored (a regex that does not compile, a
JSON Schema with a remote ``$ref``, an expression that does not parse…), and
:func:`evaluate` judges one finished run (:class:`Observed`) and returns a
:class:`CheckResult`. The LLM judge needs the gateway and the prompt
registry, so it lives in ``agents.evaluations.judge``; only its config shape
is checked here.

Which value is checked: the output field named by ``config["field"]``; with
no field, the only output when there is one, else all outputs as a dict.
The reference value (``exact_match``, ``contains``, ``not_contains``,
``numeric_tolerance``): ``config["value"]`` when set, else the case's
expected value of the same field.

Regular expressions and JSON Schema ``pattern`` keywords run on the
``regex`` module under a deadline (:data:`CHECK_TIME_LIMIT_S`), with the
guardrail node's helpers; schemas are validated with its registry that
fetches nothing.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import regex

from agents.engine import templating
from agents.engine.errors import TemplateError
from agents.engine.nodes.guardrail import _DEADLINE, _search, schema_problems, schema_violations

T = TypeVar("T")

#: Seconds a regular expression or a JSON Schema check may take on one output.
CHECK_TIME_LIMIT_S = 1.0

KINDS = (
    "exact_match",
    "contains",
    "not_contains",
    "regex",
    "json_schema",
    "numeric_tolerance",
    "expression",
    "cost_ceiling",
    "latency_ceiling",
    "llm_judge",
)

#: Variables a judge's rubric prompt may use; it must use ``output``.
JUDGE_VARIABLES = ("inputs", "output", "expected")
JUDGE_SCALES = ("pass_fail", "1-5")


@dataclass(frozen=True)
class Observed:
    """What a check looks at: the run's ``outputs`` and status, the case's ``inputs`` and ``expected``,
    the run's cost in USD (None: unknown) and duration in ms."""

    outputs: dict[str, Any]
    inputs: dict[str, Any] = field(default_factory=dict)
    expected: dict[str, Any] = field(default_factory=dict)
    status: str = "succeeded"
    error: str = ""
    cost_usd: float | None = 0.0
    duration_ms: float | None = None


@dataclass(frozen=True)
class CheckResult:
    """``passed``; ``value``: 1.0/0.0, or the judge's score; ``label``: ``pass``/``fail`` or the
    judge's; ``message`` says why it failed (empty on a pass)."""

    passed: bool
    value: float | None = None
    label: str = ""
    message: str = ""

    def as_dict(self, name: str, kind: str) -> dict[str, Any]:
        return {
            "name": name,
            "kind": kind,
            "passed": self.passed,
            "value": self.value,
            "label": self.label,
            "message": self.message,
        }


def verdict(passed: bool, message: str = "") -> CheckResult:
    return CheckResult(
        passed=passed,
        value=1.0 if passed else 0.0,
        label="pass" if passed else "fail",
        message="" if passed else message,
    )


def _number(config: dict[str, Any], key: str, problems: list[str], *, required: bool = True) -> None:
    value = config.get(key)
    if value is None or value == "":
        if required:
            problems.append(f"{key}: required")
        return
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
        problems.append(f"{key}: a number ≥ 0")


def config_problems(kind: str, config: Any) -> list[str]:
    """Why ``config`` is not a valid configuration of a ``kind`` check (empty when fine).

    Each problem names its key. Never raises.
    """
    if kind not in KINDS:
        return [f"kind: unknown check kind {kind!r} (one of {', '.join(KINDS)})"]
    if not isinstance(config, dict):
        return ["config: must be a JSON object"]
    problems: list[str] = []
    if "field" in config and config["field"] not in (None, "") and not isinstance(config["field"], str):
        problems.append("field: the name of an output field")
    if kind == "regex":
        pattern = config.get("pattern")
        if not isinstance(pattern, str) or not pattern:
            problems.append("pattern: required")
        else:
            try:
                regex.compile(pattern)
            except regex.error as exc:
                problems.append(f"pattern: {pattern!r} is not a valid regular expression: {exc}")
    elif kind == "json_schema":
        schema = config.get("schema")
        if not isinstance(schema, dict):
            problems.append("schema: a JSON Schema object")
        else:
            problems += [f"schema: {p}" for p in schema_problems(schema)]
    elif kind == "numeric_tolerance":
        _number(config, "tolerance", problems)
        value = config.get("value")
        if value not in (None, "") and (
            isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value)
        ):
            problems.append("value: a number")
    elif kind == "expression":
        source = config.get("expression")
        if not isinstance(source, str):
            problems.append("expression: required")
        else:
            problems += [
                f"expression: {p}"
                for p in templating.expression_problems(source, ["inputs", "outputs", "expected", "output"])
            ]
    elif kind == "cost_ceiling":
        _number(config, "max_usd", problems)
    elif kind == "latency_ceiling":
        _number(config, "max_ms", problems)
    elif kind in ("contains", "not_contains") and "value" in config and not isinstance(config["value"], str):
        problems.append("value: text")
    elif kind == "llm_judge":
        if not isinstance(config.get("prompt"), str) or not config.get("prompt"):
            problems.append("prompt: the slug of a prompt in the registry")
        if config.get("scale", "pass_fail") not in JUDGE_SCALES:
            problems.append(f"scale: one of {', '.join(JUDGE_SCALES)}")
        if not isinstance(config.get("endpoint"), str) or not config.get("endpoint"):
            problems.append("endpoint: the slug of a model endpoint")
        threshold = config.get("threshold", 3)
        if isinstance(threshold, bool) or not isinstance(threshold, int | float) or not 1 <= threshold <= 5:
            problems.append("threshold: a number from 1 to 5")
    return problems


def actual_value(config: dict[str, Any], outputs: dict[str, Any]) -> Any:
    """The output the check looks at (see the module docstring)."""
    name = config.get("field")
    if name:
        return outputs.get(name)
    if len(outputs) == 1:
        return next(iter(outputs.values()))
    return outputs


def reference_value(config: dict[str, Any], observed: Observed) -> Any:
    """The value compared against: ``config["value"]``, else the expected value of the same field."""
    if config.get("value") not in (None, ""):
        return config["value"]
    name = config.get("field")
    if name:
        return observed.expected.get(name)
    if len(observed.expected) == 1:
        return next(iter(observed.expected.values()))
    return observed.expected or None


def as_text(value: Any) -> str:
    """A value as the text a person reads: strings as they are, the rest as JSON."""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)


def _short(value: Any, limit: int = 120) -> str:
    text = as_text(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _within_deadline(fn: Callable[[], T]) -> T:
    """Run ``fn`` with the guardrail's regex deadline set :data:`CHECK_TIME_LIMIT_S` from now."""
    token = _DEADLINE.set(time.monotonic() + CHECK_TIME_LIMIT_S)
    try:
        return fn()
    finally:
        _DEADLINE.reset(token)


def evaluate(kind: str, config: dict[str, Any], observed: Observed) -> CheckResult:
    """Judge one finished run with a deterministic check. Never raises: a bad config, a failed run
    or a check past its time limit is a failed result whose message says so."""
    problems = config_problems(kind, config)
    if problems:
        return verdict(False, "invalid check: " + "; ".join(problems))
    if kind == "llm_judge":
        return verdict(False, "the LLM judge is evaluated by agents.evaluations.judge")
    if kind == "cost_ceiling":
        if observed.cost_usd is None:
            return verdict(False, "the run's cost is unknown (an endpoint without a price)")
        limit = float(config["max_usd"])
        return verdict(observed.cost_usd <= limit, f"cost ${observed.cost_usd:.6f} is over ${limit:.6f}")
    if kind == "latency_ceiling":
        if observed.duration_ms is None:
            return verdict(False, "the run's duration is unknown")
        limit = float(config["max_ms"])
        return verdict(observed.duration_ms <= limit, f"took {observed.duration_ms:.0f} ms, over {limit:.0f} ms")
    if observed.status != "succeeded":
        return verdict(False, f"the run {observed.status}: {observed.error or 'no outputs'}")
    actual = actual_value(config, observed.outputs)
    try:
        return _evaluate_value(kind, config, observed, actual)
    except TimeoutError:
        return verdict(False, f"the check did not finish within {CHECK_TIME_LIMIT_S:g} s and was stopped")


def _evaluate_value(kind: str, config: dict[str, Any], observed: Observed, actual: Any) -> CheckResult:
    if kind == "exact_match":
        expected = reference_value(config, observed)
        if expected is None:
            return verdict(False, "no expected value: set the check's value or the case's expected output")
        same = actual == expected if not isinstance(expected, str) else as_text(actual).strip() == expected.strip()
        return verdict(same, f"expected {_short(expected)}, got {_short(actual)}")
    if kind in ("contains", "not_contains"):
        needle = reference_value(config, observed)
        if needle in (None, ""):
            return verdict(False, "no text to look for: set the check's value or the case's expected output")
        needle_text = as_text(needle)
        haystack = as_text(actual)
        if not config.get("case_sensitive"):
            needle_text, haystack = needle_text.casefold(), haystack.casefold()
        found = needle_text in haystack
        if kind == "contains":
            return verdict(found, f"{_short(as_text(needle))!r} not found in {_short(actual)!r}")
        return verdict(not found, f"{_short(as_text(needle))!r} found in {_short(actual)!r}")
    if kind == "regex":
        matched = _within_deadline(lambda: _search(config["pattern"], as_text(actual)))
        return verdict(matched is not None, f"{_short(actual)!r} does not match /{config['pattern']}/")
    if kind == "json_schema":
        errors = _within_deadline(lambda: schema_violations(config["schema"], actual))
        return verdict(not errors, "; ".join(errors[:3]))
    if kind == "numeric_tolerance":
        expected = reference_value(config, observed)
        try:
            got, want = float(actual), float(expected)
        except (TypeError, ValueError):
            return verdict(False, f"not numbers: got {_short(actual)}, expected {_short(expected)}")
        tolerance = float(config["tolerance"])
        return verdict(abs(got - want) <= tolerance, f"{got:g} is not within {tolerance:g} of {want:g}")
    if kind == "expression":
        variables = {
            "inputs": observed.inputs,
            "outputs": observed.outputs,
            "expected": observed.expected,
            "output": actual,
        }
        try:
            result = templating.evaluate(config["expression"], variables)
        except TemplateError as exc:
            return verdict(False, f"the expression failed: {exc}")
        return verdict(bool(result), f"{config['expression']} is false")
    return verdict(False, f"unknown check kind {kind!r}")


def diff_text(expected: Any, actual: Any) -> list[tuple[str, str]]:
    """A word-level diff of two values as ``[(op, text)]`` (op: ``=``, ``-`` expected only, ``+`` actual only)."""
    import difflib

    a, b = as_text(expected).split(), as_text(actual).split()
    out: list[tuple[str, str]] = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes():
        if op == "equal":
            out.append(("=", " ".join(a[i1:i2])))
            continue
        if i2 > i1:
            out.append(("-", " ".join(a[i1:i2])))
        if j2 > j1:
            out.append(("+", " ".join(b[j1:j2])))
    return out
