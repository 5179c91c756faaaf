"""http, MCP tool, sub-workflow, agent tools and supervisor nodes."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from agents.engine import RunResult, execute_graph, validate_graph
from agents.engine.nodes.netguard import forbidden_host_reason, url_problems
from agents.engine.protocols import HttpResponse, LLMResponse, McpTool, ToolCall
from agents.engine.subworkflows import find_subworkflow_cycle, subworkflow_refs
from tests.agents.engine.engine_testkit import (
    Kit,
    MemorySecrets,
    ScriptedHttp,
    ScriptedLLM,
    ScriptedMcp,
    agent,
    edge,
    field_,
    io_graph,
    node,
)


@pytest.mark.parametrize(
    "host",
    [
        "127.0.0.1",
        "localhost",
        "10.1.2.3",
        "192.168.0.1",
        "172.16.0.5",
        "169.254.169.254",
        "[::1]",
        "::ffff:127.0.0.1",
        "[::ffff:169.254.169.254]",
        "fd00:ec2::254",
        "0.0.0.0",  # noqa: S104 - a refused address, not a bind
        "2130706433",
        "0x7f.1",
        "metadata.google.internal",
        "api.localhost",
        "100.64.0.1",
    ],
)
def test_private_loopback_and_metadata_hosts_are_refused(host):
    assert forbidden_host_reason(host) is not None


@pytest.mark.parametrize("host", ["api.example.com", "93.184.216.34", "[2606:2800:220:1:248:1893:25c8:1946]"])
def test_public_hosts_are_allowed(host):
    assert forbidden_host_reason(host) is None


def test_url_problems_check_literal_hosts_and_schemes_only():
    assert url_problems("https://api.example.com/{{ path }}") == []
    assert url_problems("{{ base_url }}/v1") == []
    assert url_problems("https://{{ host }}/v1") == []
    assert url_problems("file:///etc/passwd")[0].startswith("scheme 'file'")
    assert url_problems("http://127.0.0.1:8000/admin")[0].startswith("refused host")


def http_graph(**config) -> dict:
    settings = {
        "method": "POST",
        "url": "https://api.example.com/items/{{ question }}",
        "headers": {"Authorization": 'Bearer {{ secret("API_TOKEN") }}'},
        "body": {"q": "{{ question }}", "n": "{{ n }}", "label": "n={{ n }}"},
        "inputs": [field_("question"), field_("n", "int")],
        **config,
    }
    return io_graph(
        [node("call", "http", "Call API", **settings)],
        [
            edge("in", "question", "call", "question"),
            edge("in", "n", "call", "n"),
            edge("call", "body", "out", "data"),
            edge("call", "status", "out", "status"),
        ],
        inputs=[field_("question"), field_("n", "int")],
        outputs=[field_("data", "object"), field_("status", "int")],
    )


def test_http_node_renders_the_request_with_secrets_and_typed_body(arun):
    http = ScriptedHttp(lambda r: HttpResponse(200, {"content-type": "application/json"}, {"ok": True}))
    kit = Kit(ScriptedLLM({}), extra={"http": http, "secrets": MemorySecrets({"API_TOKEN": "s3cret"})})
    assert validate_graph(http_graph()) == []

    result = arun(execute_graph(http_graph(), {"question": "owl", "n": 2}, kit.runtime))

    assert result.outputs == {"data": {"ok": True}, "status": 200}
    request = http.requests[0]
    assert request.url == "https://api.example.com/items/owl"
    assert request.headers == {"Authorization": "Bearer s3cret"}
    assert request.json == {"q": "owl", "n": 2, "label": "n=2"}
    assert request.idempotency_key == "call:"
    assert "s3cret" not in json.dumps([r.inputs for r in kit.steps.finished] + [r.outputs for r in kit.steps.finished])


def test_http_node_refuses_a_literal_private_host_before_the_run():
    issues = validate_graph(http_graph(url="http://169.254.169.254/latest/meta-data"))

    assert [i.code for i in issues] == ["forbidden_host"]


def test_http_node_leaves_a_rendered_host_to_the_guarded_client(arun):
    """The address check after DNS (with the admin's allow-list) is the HttpClient's; the
    client refusing it fails the step with its reason."""

    def refuse(request: object) -> HttpResponse:
        raise PermissionError("127.0.0.1 is a loopback address")

    http = ScriptedHttp(refuse)
    doc = http_graph(url="http://{{ question }}/x", headers={})
    kit = Kit(ScriptedLLM({}), extra={"http": http})

    result = arun(execute_graph(doc, {"question": "127.0.0.1", "n": 1}, kit.runtime))

    assert [r.url for r in http.requests] == ["http://127.0.0.1/x"]
    assert result.status == "failed"
    assert "loopback" in result.error


def test_secrets_are_only_allowed_in_headers():
    issues = validate_graph(http_graph(url='https://api.example.com/?key={{ secret("K") }}'))

    assert [i.message for i in issues] == ['Node "Call API" (call): url: secrets may only be used in headers.']


def test_http_5xx_is_transient_and_retried(arun):
    replies = [HttpResponse(503, {}, "busy"), HttpResponse(200, {}, {"ok": 1})]
    http = ScriptedHttp(lambda r: replies.pop(0))
    kit = Kit(ScriptedLLM({}), extra={"http": http, "secrets": MemorySecrets({"API_TOKEN": "t"})})

    result = arun(
        execute_graph(http_graph(retry={"attempts": 2, "backoff_ms": 1}), {"question": "a", "n": 1}, kit.runtime)
    )

    assert result.outputs == {"data": {"ok": 1}, "status": 200}
    assert len(http.requests) == 2


def test_a_missing_secret_fails_clearly(arun):
    kit = Kit(
        ScriptedLLM({}), extra={"http": ScriptedHttp(lambda r: HttpResponse(200, {}, {})), "secrets": MemorySecrets()}
    )

    result = arun(execute_graph(http_graph(), {"question": "a", "n": 1}, kit.runtime))

    assert result.error_code == "secret_not_found"
    assert "API_TOKEN" in result.error


def test_mcp_tool_node_calls_the_tool_with_its_inputs(arun):
    mcp = ScriptedMcp({"files": [McpTool("search")]}, lambda s, n, a: {"hits": [a["query"]]})
    doc = io_graph(
        [node("t", "tool", "Search", server="files", tool="search", inputs=[field_("query")])],
        [edge("in", "question", "t", "query"), edge("t", "result", "out", "hits")],
        outputs=[field_("hits", "object")],
    )
    kit = Kit(ScriptedLLM({}), extra={"mcp": mcp})

    result = arun(execute_graph(doc, {"question": "owls"}, kit.runtime))

    assert result.outputs == {"hits": {"hits": ["owls"]}}
    assert mcp.calls == [("files", "search", {"query": "owls"})]


class FakeSubworkflows:
    def __init__(self, result: RunResult):
        self.result = result
        self.calls: list[tuple[str, dict, str, str]] = []

    async def run(self, workflow_slug, inputs, *, node_id, iteration):
        self.calls.append((workflow_slug, inputs, node_id, iteration))
        return self.result


def sub_graph() -> dict:
    return io_graph(
        [
            node(
                "sub", "subworkflow", "Child", workflow="child", inputs=[field_("question")], outputs=[field_("answer")]
            )
        ],
        [edge("in", "question", "sub", "question"), edge("sub", "answer", "out", "answer")],
    )


def test_subworkflow_runs_the_child_and_counts_its_usage(arun):
    runner = FakeSubworkflows(
        RunResult(
            status="succeeded",
            outputs={"answer": "42", "other": 1},
            input_tokens=7,
            output_tokens=3,
            cost_usd=Decimal("0.01"),
        )
    )
    kit = Kit(ScriptedLLM({}), extra={"subworkflows": runner})

    result = arun(execute_graph(sub_graph(), {"question": "q"}, kit.runtime))

    assert result.outputs == {"answer": "42"}
    assert (result.input_tokens, result.output_tokens, result.cost_usd) == (7, 3, Decimal("0.01"))
    assert runner.calls == [("child", {"question": "q"}, "sub", "")]


def test_a_failed_subworkflow_fails_the_step(arun):
    runner = FakeSubworkflows(RunResult(status="failed", error="boom", error_code="llm_error"))
    kit = Kit(ScriptedLLM({}), extra={"subworkflows": runner})

    result = arun(execute_graph(sub_graph(), {"question": "q"}, kit.runtime))

    assert result.error_code == "llm_error" and "boom" in result.error


def test_subworkflow_refs_and_cycle_detection():
    a = sub_graph()
    graphs = {
        "child": {"schema": 1, "nodes": [node("x", "subworkflow", workflow="grandchild")], "edges": []},
        "grandchild": {"schema": 1, "nodes": [node("y", "subworkflow", workflow="root")], "edges": []},
    }

    assert subworkflow_refs(a) == ["child"]
    assert find_subworkflow_cycle("root", a, graphs.get) == ["root", "child", "grandchild", "root"]
    graphs["grandchild"] = {"schema": 1, "nodes": [], "edges": []}
    assert find_subworkflow_cycle("root", a, graphs.get) is None


def tool_agent_graph(tools: list[dict]) -> dict:
    return io_graph(
        [agent("qa", [field_("question")], [field_("answer")], label="Researcher", tools=tools, max_steps=3)],
        [edge("in", "question", "qa", "question"), edge("qa", "answer", "out", "answer")],
    )


def test_agent_calls_tools_in_a_bounded_loop(arun):
    tools = [
        {
            "kind": "http",
            "name": "weather",
            "description": "Weather for a city",
            "parameters": [field_("city")],
            "request": {"url": "https://api.example.com/weather/{{ city }}"},
        },
        {
            "kind": "agent",
            "name": "poet",
            "description": "Writes a verse",
            "agent": {"endpoint": "local", "inputs": [field_("task")], "outputs": [field_("result")]},
        },
        {"kind": "mcp", "server": "files", "tool": "search"},
    ]
    replies = [
        LLMResponse(
            text="", tool_calls=[ToolCall("c1", "weather", {"city": "Oslo"}), ToolCall("c2", "search", {"q": "x"})]
        ),
        LLMResponse(text="", tool_calls=[ToolCall("c3", "poet", {"task": "rain"})]),
        LLMResponse(text=json.dumps({"answer": "rainy"})),
    ]
    http = ScriptedHttp(lambda r: HttpResponse(200, {}, {"sky": "rain"}))
    mcp = ScriptedMcp({"files": [McpTool("search", "Search files", {"type": "object"})]}, lambda s, n, a: "found")
    kit = Kit(
        ScriptedLLM({"qa": replies, "qa.poet": [json.dumps({"result": "drip"})]}),
        extra={"http": http, "mcp": mcp},
    )
    assert validate_graph(tool_agent_graph(tools)) == []

    result = arun(execute_graph(tool_agent_graph(tools), {"question": "weather?"}, kit.runtime))

    assert result.outputs == {"answer": "rainy"}
    first = kit.llm.requests[0]
    assert [t["function"]["name"] for t in first.tools] == ["weather", "poet", "search"]
    assert first.schema is None
    assert http.requests[0].url == "https://api.example.com/weather/Oslo"
    assert kit.steps.get("qa.weather", "1.1").outputs["status"] == 200
    assert kit.steps.get("qa.poet", "2.1").outputs == {"result": "drip"}
    last = [r for r in kit.llm.requests if r.node_id == "qa"][-1]
    tool_messages = [m for m in last.messages if m["role"] == "tool"]
    assert [m["content"] for m in tool_messages] == [
        '{"status": 200, "body": {"sky": "rain"}}',
        "found",
        '{"result": "drip"}',
    ]
    assert kit.steps.get("qa").meta["tool_calls"][0] == {
        "step": 1,
        "name": "weather",
        "arguments": {"city": "Oslo"},
        "ok": True,
    }


def test_agent_tool_loop_ends_with_a_structured_answer_after_max_steps(arun):
    looping = LLMResponse(text="", tool_calls=[ToolCall("c", "nope", {})])
    kit = Kit(ScriptedLLM({"qa": [looping, looping, looping, json.dumps({"answer": "done"})]}))
    tools = [{"kind": "mcp", "server": "s", "tool": "t"}]
    kit.extra["mcp"] = ScriptedMcp({"s": [McpTool("t")]}, lambda *a: None)

    result = arun(execute_graph(tool_agent_graph(tools), {"question": "q"}, kit.runtime))

    assert result.outputs == {"answer": "done"}
    assert len(kit.llm.requests) == 4
    assert kit.llm.requests[-1].schema is not None and kit.llm.requests[-1].tools is None
    assert "no tool called 'nope'" in kit.llm.requests[1].messages[-1]["content"]


def supervisor_graph() -> dict:
    return io_graph(
        [
            node(
                "boss",
                "supervisor",
                "Boss",
                endpoint="local",
                instructions="Answer {{ task }}.",
                inputs=[field_("task")],
                outputs=[field_("answer")],
                workers=[
                    {"name": "researcher", "description": "finds facts"},
                    {"name": "critic", "description": "finds flaws"},
                ],
                max_rounds=3,
            )
        ],
        [edge("in", "question", "boss", "task"), edge("boss", "answer", "out", "answer")],
    )


def test_supervisor_plans_delegates_and_combines(arun):
    plans = [
        json.dumps({"done": False, "researcher": "find owl facts", "critic": ""}),
        json.dumps({"done": True, "researcher": "", "critic": "check the facts"}),
    ]
    kit = Kit(
        ScriptedLLM(
            {
                "boss.planner": plans,
                "boss.researcher": [json.dumps({"result": "owls hoot"})],
                "boss.critic": [json.dumps({"result": "fine"})],
                "boss.combine": [json.dumps({"answer": "Owls hoot."})],
            }
        )
    )
    assert validate_graph(supervisor_graph()) == []

    result = arun(execute_graph(supervisor_graph(), {"question": "owls"}, kit.runtime))

    assert result.outputs == {"answer": "Owls hoot."}
    assert kit.llm.nodes_called() == ["boss.planner", "boss.researcher", "boss.planner", "boss.critic", "boss.combine"]
    assert kit.steps.get("boss.researcher", "1").inputs == {"task": "find owl facts"}
    assert "owls hoot" in kit.steps.get("boss.planner", "2").inputs["progress"]
    assert kit.steps.get("boss").meta == {"rounds": 2, "subtasks": 2}
    assert result.input_tokens == 50


def test_a_host_the_admin_allowed_passes_the_static_check():
    doc = http_graph(url="http://127.0.0.1:9000/hook", headers={})

    assert [issue.code for issue in validate_graph(doc)] == ["forbidden_host"]
    assert validate_graph(doc, allowed_hosts=["127.0.0.1:9000"]) == []
    # An entry without a port opens 80 and 443 only; another port stays refused.
    assert [issue.code for issue in validate_graph(doc, allowed_hosts=["127.0.0.1", "127.0.0.1:9001"])] == [
        "forbidden_host"
    ]
    assert [issue.code for issue in validate_graph(doc)] == ["forbidden_host"]  # only within that call
