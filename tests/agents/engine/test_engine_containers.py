"""Loop and parallel: bodies, iteration keys, concurrency limits."""

from __future__ import annotations

import json

from agents.engine import execute_graph, validate_graph
from tests.agents.engine.engine_testkit import (
    Kit,
    MemoryStepStore,
    ScriptedLLM,
    agent,
    edge,
    field_,
    graph,
    io_graph,
    node,
)


def summarizer_body() -> dict:
    return {
        "node": {
            "id": "sum",
            "type": "agent",
            "label": "Summarize",
            "config": {
                "endpoint": "local",
                "instructions": "Summarize.",
                "inputs": [field_("item"), field_("style")],
                "outputs": [field_("summary")],
            },
        }
    }


def fanout_graph(**config) -> dict:
    return io_graph(
        [
            node(
                "fan",
                "parallel",
                "Fan out",
                body=summarizer_body(),
                context=[field_("style")],
                collect="summary",
                **config,
            )
        ],
        [
            edge("in", "docs", "fan", "items"),
            edge("in", "style", "fan", "style"),
            edge("fan", "results", "out", "summaries"),
        ],
        inputs=[field_("docs", "list", items="str"), field_("style")],
        outputs=[field_("summaries", "list", items="str")],
    )


def echo_summary(request):
    item = request.messages[1]["content"].split("\n")[0].removeprefix("item: ")
    return json.dumps({"summary": item.upper()})


def test_parallel_runs_the_body_per_item_and_keeps_item_order(arun):
    assert validate_graph(fanout_graph()) == []
    kit = Kit(ScriptedLLM(echo_summary, delay_s=0.1))

    result = arun(execute_graph(fanout_graph(), {"docs": ["a", "b", "c"], "style": "terse"}, kit.runtime))

    assert result.outputs == {"summaries": ["A", "B", "C"]}
    assert [k for k in kit.steps.records if k[0] == "fan.sum"] == [("fan.sum", "1"), ("fan.sum", "2"), ("fan.sum", "3")]
    assert kit.steps.get("fan.sum", "2").inputs == {"item": "b", "style": "terse"}
    starts = sorted(start for _, start, _ in kit.llm.calls)
    ends = sorted(end for _, _, end in kit.llm.calls)
    assert starts[-1] < ends[0]  # all three ran at the same time
    assert result.input_tokens == 30


def test_parallel_respects_its_concurrency_limit(arun):
    kit = Kit(ScriptedLLM(echo_summary, delay_s=0.05))

    arun(execute_graph(fanout_graph(max_concurrency=1), {"docs": ["a", "b"], "style": "x"}, kit.runtime))

    (_, _, first_end), (_, second_start, _) = sorted(kit.llm.calls, key=lambda c: c[1])
    assert second_start >= first_end


def test_parallel_with_max_concurrency_one_at_run_level_does_not_deadlock(arun):
    kit = Kit(ScriptedLLM(echo_summary))

    result = arun(execute_graph(fanout_graph(), {"docs": ["a", "b"], "style": "x"}, kit.runtime, max_concurrency=1))

    assert result.outputs == {"summaries": ["A", "B"]}


def test_a_failed_item_fails_the_parallel_step_naming_the_item(arun):
    def script(request):
        return "broken" if "item: b" in request.messages[1]["content"] else echo_summary(request)

    kit = Kit(ScriptedLLM(script))

    result = arun(execute_graph(fanout_graph(), {"docs": ["a", "b"], "style": "x"}, kit.runtime))

    assert result.status == "failed" and result.failed_node == "fan"
    assert "item 2:" in result.error
    assert result.error_code == "invalid_output"


def test_failed_items_can_be_dropped(arun):
    def script(request):
        return "broken" if "item: b" in request.messages[1]["content"] else echo_summary(request)

    kit = Kit(ScriptedLLM(script))

    result = arun(
        execute_graph(fanout_graph(on_item_error="drop"), {"docs": ["a", "b", "c"], "style": "x"}, kit.runtime)
    )

    assert result.outputs == {"summaries": ["A", "C"]}
    assert kit.steps.get("fan").meta["failed_items"] == ["2"]


def test_rerunning_a_parallel_reuses_finished_items(arun):
    first = Kit(ScriptedLLM(echo_summary))
    arun(execute_graph(fanout_graph(), {"docs": ["a", "b"], "style": "x"}, first.runtime))
    stored = [r for r in first.steps.records.values() if r.node_id != "fan" and r.node_id != "out"]
    kit = Kit(ScriptedLLM(echo_summary), steps=MemoryStepStore(stored))

    result = arun(execute_graph(fanout_graph(), {"docs": ["a", "b", "c"], "style": "x"}, kit.runtime))

    assert result.outputs == {"summaries": ["A", "B", "C"]}
    assert len(kit.llm.requests) == 1


def test_parallel_branches_mode_runs_every_branch_on_the_same_inputs(arun):
    def branch(name):
        return {
            "name": name,
            "body": {
                "node": {
                    "id": name,
                    "type": "agent",
                    "config": {
                        "endpoint": "local",
                        "inputs": [field_("question")],
                        "outputs": [field_("answer")],
                    },
                }
            },
        }

    doc = io_graph(
        [
            node(
                "p",
                "parallel",
                "Panel",
                mode="branches",
                context=[field_("question")],
                branches=[branch("pro"), branch("con")],
            ),
            node("j", "join", "J", mode="object", inputs=[field_("pro", "object"), field_("con", "object")]),
        ],
        [
            edge("in", "question", "p", "question"),
            edge("p", "pro", "j", "pro"),
            edge("p", "con", "j", "con"),
            edge("j", "merged", "out", "views"),
        ],
        outputs=[field_("views", "object")],
    )
    assert validate_graph(doc) == []
    kit = Kit(ScriptedLLM(lambda r: json.dumps({"answer": r.node_id})))

    result = arun(execute_graph(doc, {"question": "q"}, kit.runtime))

    assert result.outputs == {"views": {"pro": {"answer": "p.pro"}, "con": {"answer": "p.con"}}}


def critique_loop(**config) -> dict:
    body = graph(
        [
            node("bin", "input", fields=[field_("topic"), field_("feedback", required=False, default="none yet")]),
            agent("writer", [field_("topic"), field_("feedback")], [field_("draft")], label="Writer"),
            agent("critic", [field_("draft")], [field_("feedback"), field_("approved", "bool")], label="Critic"),
            node("bout", "output", fields=[field_("draft"), field_("feedback"), field_("approved", "bool")]),
        ],
        [
            edge("bin", "topic", "writer", "topic"),
            edge("bin", "feedback", "writer", "feedback"),
            edge("writer", "draft", "critic", "draft"),
            edge("writer", "draft", "bout", "draft"),
            edge("critic", "feedback", "bout", "feedback"),
            edge("critic", "approved", "bout", "approved"),
        ],
    )
    settings = {"max_iterations": 3, "until": "approved", **config}
    return io_graph(
        [node("loop", "loop", "Refine", inputs=[field_("topic")], body={"graph": body}, **settings)],
        [edge("in", "question", "loop", "topic"), edge("loop", "draft", "out", "answer")],
    )


def critic_approves_on(round_: int):
    rounds = {"n": 0}

    def script(request):
        if request.node_id == "loop.writer":
            rounds["n"] += 1
            return json.dumps({"draft": f"draft {rounds['n']}"})
        return json.dumps({"feedback": "better", "approved": rounds["n"] >= round_})

    return script


def test_loop_repeats_until_the_exit_condition_and_records_each_round(arun):
    assert validate_graph(critique_loop()) == []
    kit = Kit(ScriptedLLM(critic_approves_on(2)))

    result = arun(execute_graph(critique_loop(), {"question": "owls"}, kit.runtime))

    assert result.outputs == {"answer": "draft 2"}
    assert kit.steps.get("loop").outputs["iterations"] == 2
    assert kit.steps.get("loop.writer", "1").inputs == {"topic": "owls", "feedback": "none yet"}
    assert kit.steps.get("loop.writer", "2").inputs == {"topic": "owls", "feedback": "better"}
    assert kit.steps.status("loop.writer", "3") == "absent"


def test_loop_stops_at_max_iterations(arun):
    kit = Kit(ScriptedLLM(critic_approves_on(99)))

    result = arun(execute_graph(critique_loop(), {"question": "owls"}, kit.runtime))

    assert result.outputs == {"answer": "draft 3"}

    kit = Kit(ScriptedLLM(critic_approves_on(99)))
    result = arun(execute_graph(critique_loop(on_max="fail"), {"question": "owls"}, kit.runtime))
    assert result.error_code == "max_iterations"


def test_a_loop_without_max_iterations_is_a_validation_error():
    doc = critique_loop()
    del doc["nodes"][1]["config"]["max_iterations"]

    assert [i.message for i in validate_graph(doc)] == ['Node "Refine" (loop): max_iterations is required (1 to 100).']


def test_a_loop_exit_condition_that_does_not_parse_is_a_validation_error():
    assert [i.code for i in validate_graph(critique_loop(until="approved =="))] == ["invalid_expression"]


def test_an_invalid_body_is_reported_on_the_container():
    doc = critique_loop()
    doc["nodes"][1]["config"]["body"]["graph"]["nodes"][1]["config"]["endpoint"] = ""

    issues = validate_graph(doc)

    assert [i.code for i in issues] == ["invalid_config"]
    assert 'body: Node "Writer" (writer): choose a model endpoint' in issues[0].message


def test_nested_iterations_join_keys_with_a_slash(arun):
    inner = {
        "node": {"id": "sum", "type": "template", "config": {"template": "{{ item }}!", "inputs": [field_("item")]}}
    }
    fan = graph(
        [
            node("fin", "input", fields=[field_("docs", "list", items="str")]),
            node("fan", "parallel", body=inner, collect="text"),
            node("fout", "output", fields=[field_("docs", "list", items="str")]),
        ],
        [edge("fin", "docs", "fan", "items"), edge("fan", "results", "fout", "docs")],
    )
    doc = io_graph(
        [
            node(
                "loop", "loop", "L", inputs=[field_("docs", "list", items="str")], body={"graph": fan}, max_iterations=2
            )
        ],
        [edge("in", "docs", "loop", "docs"), edge("loop", "docs", "out", "docs")],
        inputs=[field_("docs", "list", items="str")],
        outputs=[field_("docs", "list", items="str")],
    )
    assert validate_graph(doc) == []
    kit = Kit(ScriptedLLM({}))

    result = arun(execute_graph(doc, {"docs": ["a", "b"]}, kit.runtime))

    assert result.outputs == {"docs": ["a!!", "b!!"]}
    assert kit.steps.get("loop.fan.sum", "2/1").outputs == {"text": "a!!"}
    assert kit.steps.get("loop.fan", "2").status == "succeeded"


def test_a_loop_body_may_read_the_round_number(arun):
    body = {
        "node": {
            "id": "t",
            "type": "template",
            "config": {"template": "{{ text }}{{ iteration }}", "inputs": [field_("text"), field_("iteration", "int")]},
        }
    }
    doc = io_graph(
        [node("loop", "loop", "L", inputs=[field_("text")], body=body, max_iterations=3, until="iteration == 2")],
        [edge("in", "question", "loop", "text"), edge("loop", "text", "out", "answer")],
    )
    assert validate_graph(doc) == []
    kit = Kit(ScriptedLLM({}))

    result = arun(execute_graph(doc, {"question": "a"}, kit.runtime))

    assert result.outputs == {"answer": "a12"}
