"""Finding every ``secret("NAME")`` of a graph, and whether it sits where secrets resolve (http headers)."""

from __future__ import annotations

from agents.engine.secretrefs import graph_secret_refs


def test_secrets_are_found_in_http_nodes_agent_tools_and_anywhere_else():
    graph = {
        "nodes": [
            {
                "id": "call",
                "type": "http",
                "label": "Call",
                "config": {"url": "https://x.test/", "headers": {"Authorization": 'Bearer {{ secret("A") }}'}},
            },
            {
                "id": "bot",
                "type": "agent",
                "label": "",
                "config": {
                    "tools": [
                        {
                            "kind": "http",
                            "name": "lookup",
                            "request": {"url": "https://y.test/", "headers": {"X-Key": '{{ secret("B") }}'}},
                        },
                        {
                            "kind": "agent",
                            "name": "helper",
                            "agent": {
                                "tools": [
                                    {
                                        "kind": "http",
                                        "name": "deep",
                                        "request": {
                                            "headers": {"X-Deep": '{{ secret("C") }}'},
                                            "body": {"k": '{{ secret("D") }}'},
                                        },
                                    }
                                ]
                            },
                        },
                    ]
                },
            },
            {"id": "fmt", "type": "template", "label": "", "config": {"template": 'x {{ secret("E") }}'}},
        ]
    }

    found = {(ref.node_id, ref.name, ref.in_header) for ref in graph_secret_refs(graph)}

    assert found == {
        ("call", "A", True),
        ("bot", "B", True),
        ("bot", "C", True),
        ("bot", "D", False),
        ("fmt", "E", False),
    }
    call = next(ref for ref in graph_secret_refs(graph) if ref.name == "A")
    assert call.describe_node() == 'Node "Call" (call)' and call.where == "headers.Authorization"


def test_a_malformed_graph_has_no_references():
    assert graph_secret_refs({"nodes": "nope"}) == []
    assert graph_secret_refs(None) == []
