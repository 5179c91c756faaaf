"""The deterministic checks: pure functions over a finished run's outputs (no database, no model)."""

from __future__ import annotations

import pytest

from agents.evaluations.checks import Observed, config_problems, diff_text, evaluate

OK = Observed(
    outputs={"answer": "Paris is the capital of France.", "confidence": 0.8},
    inputs={"question": "Capital of France?"},
    expected={"answer": "Paris"},
    cost_usd=0.0012,
    duration_ms=850.0,
)


@pytest.mark.parametrize(
    ("kind", "config", "passed"),
    [
        ("contains", {"field": "answer"}, True),  # the case's expected answer
        ("contains", {"field": "answer", "value": "berlin"}, False),
        ("not_contains", {"field": "answer", "value": "Berlin"}, True),
        ("not_contains", {"field": "answer", "value": "paris"}, False),  # case-insensitive by default
        ("exact_match", {"field": "answer", "value": "Paris is the capital of France."}, True),
        ("exact_match", {"field": "answer"}, False),
        ("regex", {"field": "answer", "pattern": r"^Paris\b"}, True),
        ("regex", {"field": "answer", "pattern": r"^\d+$"}, False),
        ("json_schema", {"schema": {"type": "object", "required": ["answer", "confidence"]}}, True),
        ("json_schema", {"field": "confidence", "schema": {"type": "number", "maximum": 0.5}}, False),
        ("numeric_tolerance", {"field": "confidence", "value": 0.75, "tolerance": 0.1}, True),
        ("numeric_tolerance", {"field": "confidence", "value": 0.2, "tolerance": 0.1}, False),
        ("expression", {"expression": "outputs.confidence >= 0.5 and 'Paris' in output.answer"}, True),
        ("expression", {"expression": "outputs.confidence > 0.9"}, False),
        ("cost_ceiling", {"max_usd": 0.01}, True),
        ("cost_ceiling", {"max_usd": 0.001}, False),
        ("latency_ceiling", {"max_ms": 1000}, True),
        ("latency_ceiling", {"max_ms": 500}, False),
    ],
)
def test_checks_pass_and_fail_on_the_outputs(kind, config, passed):
    result = evaluate(kind, config, OK)
    assert result.passed is passed
    assert result.value == (1.0 if passed else 0.0)
    assert (result.message == "") is passed


def test_a_failed_run_fails_every_output_check_with_its_error():
    failed = Observed(outputs={}, status="failed", error="the model server is down")
    result = evaluate("contains", {"value": "x"}, failed)
    assert not result.passed
    assert "the model server is down" in result.message


def test_an_unknown_cost_fails_the_cost_ceiling_instead_of_counting_zero():
    result = evaluate("cost_ceiling", {"max_usd": 1}, Observed(outputs={"a": 1}, cost_usd=None))
    assert not result.passed and "unknown" in result.message


def test_a_catastrophic_regex_is_stopped_at_the_time_limit():
    text = "a" * 5000 + "!"
    result = evaluate("regex", {"pattern": r"^(a|a)+$"}, Observed(outputs={"text": text}))
    assert not result.passed
    assert "did not finish within 1 s" in result.message


@pytest.mark.parametrize(
    ("kind", "config", "problem"),
    [
        ("regex", {"pattern": "(unclosed"}, "not a valid regular expression"),
        ("json_schema", {"schema": {"$ref": "http://127.0.0.1:9/schema.json"}}, "points outside the schema"),
        ("expression", {"expression": "outputs.x >"}, "expression"),
        ("numeric_tolerance", {"value": 1}, "tolerance: required"),
        ("cost_ceiling", {"max_usd": -1}, "max_usd"),
        ("llm_judge", {"endpoint": "local"}, "prompt"),
        ("nope", {}, "unknown check kind"),
    ],
)
def test_bad_check_configs_are_named(kind, config, problem):
    problems = config_problems(kind, config)
    assert any(problem in p for p in problems), problems


def test_diff_marks_removed_and_added_words():
    assert diff_text({"answer": "Paris"}, {"answer": "Lyon"}) == [
        ("=", '{"answer":'),
        ("-", '"Paris"}'),
        ("+", '"Lyon"}'),
    ]
