"""Every pattern template (and the demo's workflows) runs end to end on a Celery worker
with the local model — and gives real answers: no output copies the prompt's own
instructions, field descriptions or examples."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from agents.engine import input_signature
from agents.models import RunStatus, Step, Workflow
from agents.services.approvals import approval_decide
from agents.services.runs import run_start, run_wait
from agents.workflow_templates import workflow_templates
from tests.conftest import demo_graph
from traces.models import Span

SAMPLE_TEXT = "How can a small bakery cut its energy bill?"


def sample_inputs(graph: dict[str, Any]) -> dict[str, Any]:
    """One plausible value per input field of the template."""
    values: dict[str, Any] = {}
    for spec in input_signature(graph).fields:
        values[spec.name] = {
            "str": SAMPLE_TEXT,
            "int": 3,
            "float": 0.5,
            "bool": True,
            "list": ["solar panels", "better insulation"],
            "object": {"topic": SAMPLE_TEXT},
            "enum": (spec.choices or ["a"])[0],
        }[spec.type]
    return values


def _normal(text: str) -> str:
    return " ".join(text.lower().split()).strip(" .")


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def _choices(schema: dict[str, Any] | None) -> set[str]:
    """Enum values anywhere in a JSON Schema: picking one is the answer, not an echo."""
    found: set[str] = set()
    if isinstance(schema, dict):
        found.update(str(choice) for choice in schema.get("enum", []))
        for value in schema.values():
            if isinstance(value, dict):
                found |= _choices(value)
    return found


def prompt_echoes(outputs: dict[str, Any], requests: list[dict[str, Any]]) -> list[str]:
    """The output strings that repeat the prompt's own text instead of answering.

    ``requests`` are the model calls of the step as recorded on their spans
    (``{"messages", "schema", ...}``). The prompt's own text is every system
    message — the node's instructions, the output fields and their
    descriptions, any example. An output string (of two words or more) equal
    to that text or contained in it verbatim (case and spacing aside) is an
    echo. Enum choices are answers, not echoes; inputs live in the user
    message, so repeating them is not counted here.
    """
    own = "\n".join(
        _normal(str(message.get("content") or ""))
        for request in requests
        for message in request.get("messages", [])
        if message.get("role") == "system"
    )
    choices = set().union(*(_choices(request.get("schema")) for request in requests)) if requests else set()
    echoes = []
    for value in _strings(outputs):
        text = _normal(value)
        if value in choices or len(text.split()) < 2:
            continue
        if text in own:
            echoes.append(value)
    return echoes


def step_echoes(run_id: int) -> list[str]:
    """``node[iteration]: 'value'`` for every step output of the run that echoes its prompt."""
    problems = []
    for step in Step.objects.filter(run_id=run_id).order_by("id"):
        requests = [span.input for span in Span.objects.filter(run_id=run_id, step_id=step.pk)]
        if not requests:
            requests = [span.input for span in Span.objects.filter(run_id=run_id, node_id=step.node_id)]
        problems += [f"{step.node_id}[{step.iteration}]: {value!r}" for value in prompt_echoes(step.outputs, requests)]
    return problems


# ------------------------------------------------------------------ the check itself (no model)


OLD_PROMPT = {
    "messages": [
        {
            "role": "system",
            "content": "Answer the question.\n\nReply with a JSON object with these fields:\n"
            "- answer (str): A short answer\n- verdict (enum(yes|no))\n\n"
            "Write text values as plain sentences, for example: "
            '{"answer": "First sentence. Second sentence.", "verdict": "yes"}',
        },
        {"role": "user", "content": "question: Is the sky blue on a clear day?"},
    ],
    "schema": {
        "type": "object",
        "properties": {"answer": {"type": "string"}, "verdict": {"type": "string", "enum": ["yes", "no"]}},
    },
}


@pytest.mark.parametrize(
    ("outputs", "echoes"),
    [
        ({"answer": "First sentence. Second sentence.", "verdict": "yes"}, ["First sentence. Second sentence."]),
        ({"answer": "a short answer.", "verdict": "no"}, ["a short answer."]),
        ({"answer": "Answer the question", "verdict": "no"}, ["Answer the question"]),
        ({"answer": "Yes, because of Rayleigh scattering.", "verdict": "yes"}, []),
        ({"answer": "Is the sky blue on a clear day?", "verdict": "yes"}, []),  # repeats the input, not the prompt
        ({"answer": "Yes.", "verdict": "yes"}, []),
    ],
)
def test_an_output_that_repeats_the_prompt_is_an_echo(outputs, echoes):
    assert prompt_echoes(outputs, [OLD_PROMPT]) == echoes


# ------------------------------------------------------------------ on the local model

CASES = [pytest.param(t["slug"], t["graph"], id=t["slug"]) for t in workflow_templates()] + [
    pytest.param(f"demo-{name}", demo_graph(name), id=f"demo-{name}")
    for name in ("question-answering", "research-brief")
]


@pytest.mark.django_db(transaction=True)
@pytest.mark.worker
@pytest.mark.model
@pytest.mark.timeout(1800)  # a loaded 2-core machine serves the 135M model at ~1 token/s
@pytest.mark.parametrize(("slug", "graph"), CASES)
def test_pattern_template_runs_on_the_local_model(
    slug, graph, project, alice, local_endpoint, seeded_prompt, local_model, celery_worker_proc
):
    assert local_endpoint.pinned_params == {"temperature": 0, "seed": 1234}  # reproducible answers
    workflow = Workflow.objects.create(project=project, slug=slug, name=slug, draft_graph=graph)
    run = run_start(workflow=workflow, user=alice, inputs=sample_inputs(graph))
    run = run_wait(run.pk, timeout_s=1700)
    if slug == "approval":
        # The run waits for a person; a rejection ends it without calling the (placeholder) API.
        assert run.status == RunStatus.WAITING, f"{run.error_code}: {run.error}"
        approval_decide(run=run, node_id="approval", approved=False, comment="Too curt, rewrite it.", user=alice)
        run = run_wait(run.pk, timeout_s=600)
        assert run.status == RunStatus.SUCCEEDED, f"{run.error_code}: {run.error}"
        assert run.outputs == {"status": None, "comment": "Too curt, rewrite it."}
        assert Step.objects.get(run=run, node_id="send").status == "skipped"
        return
    assert run.status == RunStatus.SUCCEEDED, f"{run.error_code}: {run.error}"
    assert run.outputs and all(value not in (None, "") for value in run.outputs.values())
    assert all(re.search(r"\w", value) for value in _strings(run.outputs)), run.outputs
    assert run.input_tokens > 0 and run.output_tokens > 0
    assert step_echoes(run.pk) == []
