"""The LLM judge: a rubric prompt version from the registry asks a model to grade a run's output.

The rubric (a prompt version declaring ``output`` and optionally ``inputs``
and ``expected``; a variable typed ``str`` gets the value as text, JSON for
an object) is rendered with the case, sent through the one gateway
(``traces.gateway.complete``) with a JSON Schema for the verdict — a span in
the run's trace, its tokens and cost (USD) recorded like any call — and the
answer becomes a :class:`~agents.evaluations.checks.CheckResult`:

* scale ``pass_fail``: ``{"passed": bool, "reason": str}`` → value 1.0 / 0.0;
* scale ``1-5``: ``{"score": 1..5, "reason": str}`` → value = score, passed
  when ``score >= threshold`` (default 3).
"""

from __future__ import annotations

from typing import Any

from asgiref.sync import async_to_sync

from agents.evaluations.checks import CheckResult, Observed, actual_value, as_text, verdict
from agents.models import Run

_PASS_FAIL = {
    "type": "object",
    "properties": {"passed": {"type": "boolean"}, "reason": {"type": "string"}},
    "required": ["passed", "reason"],
}
_ONE_TO_FIVE = {
    "type": "object",
    "properties": {"score": {"type": "integer", "enum": [1, 2, 3, 4, 5]}, "reason": {"type": "string"}},
    "required": ["score", "reason"],
}


def judge(*, project_id: int, run: Run, config: dict[str, Any], observed: Observed) -> CheckResult:
    """Grade ``observed`` with the judge ``config`` (``prompt``, ``label``/``version``, ``endpoint``,
    ``scale``, ``threshold``, ``field``). Never raises: a missing prompt or endpoint, a model error
    or an unreadable verdict is a failed result saying so."""
    from prompts.selectors import prompt_version_resolve
    from prompts.services import PromptError, prompt_version_render
    from traces import gateway
    from traces.errors import GatewayError
    from traces.models import ModelEndpoint

    if observed.status != "succeeded":
        return verdict(False, f"the run {observed.status}: {observed.error or 'no outputs'}")
    try:
        version = prompt_version_resolve(
            project_id=project_id, slug=config["prompt"], label=config.get("label"), version=config.get("version")
        )
    except LookupError as exc:
        return verdict(False, f"judge: {exc}")
    endpoint = ModelEndpoint.objects.filter(project_id=project_id, slug=config["endpoint"], is_active=True).first()
    if endpoint is None:
        return verdict(False, f"judge: no active model endpoint {config['endpoint']!r}")
    values = {
        "inputs": observed.inputs,
        "output": actual_value(config, observed.outputs),
        "expected": observed.expected,
    }
    # A variable declared as text gets the value as text (JSON for objects); one declared as an
    # object, list or number gets the value itself.
    types = {f["name"]: f.get("type", "str") for f in version.variable_fields()}
    variables = {
        name: as_text(values[name]) if types.get(name, "str") == "str" else values[name]
        for name in version.variables
        if name in values
    }
    try:
        messages = prompt_version_render(version=version, variables=variables)
    except PromptError as exc:
        return verdict(False, f"judge: the rubric {version} cannot be rendered: {exc}")
    scale = config.get("scale", "pass_fail")
    schema = _ONE_TO_FIVE if scale == "1-5" else _PASS_FAIL
    context = gateway.SpanContext(
        project_id=project_id,
        trace_id=run.trace_id,
        run_id=run.pk,
        name=f"judge:{config['prompt']}",
        replay=run.replay,  # a replayed case's judge is answered from the recording too
    )
    try:
        completion = async_to_sync(gateway.complete)(
            endpoint=endpoint,
            messages=messages,
            schema=schema,
            params=dict(version.model_config or {}),
            context=context,
            prompt_version_id=version.pk,
        )
    except GatewayError as exc:
        return verdict(False, f"judge: the model call failed: {exc}")
    parsed = completion.parsed if isinstance(completion.parsed, dict) else {}
    reason = str(parsed.get("reason", ""))[:500]
    if scale == "1-5":
        score = parsed.get("score")
        if isinstance(score, bool) or not isinstance(score, int) or not 1 <= score <= 5:
            return verdict(False, f"judge: no score from 1 to 5 in its answer {completion.text[:200]!r}")
        threshold = float(config.get("threshold", 3))
        passed = score >= threshold
        return CheckResult(
            passed=passed,
            value=float(score),
            label=str(score),
            message="" if passed else f"judged {score}/5 (< {threshold:g}): {reason}",
        )
    if not isinstance(parsed.get("passed"), bool):
        return verdict(False, f"judge: no pass/fail verdict in its answer {completion.text[:200]!r}")
    return verdict(parsed["passed"], f"judged fail: {reason}")
