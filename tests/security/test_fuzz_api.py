"""Fuzzing the REST API against its own OpenAPI schema (issue 7: "0 responses >= 500").

* schemathesis generates requests for every operation of ``/api/schema/`` —
  schema-conforming (positive) and schema-violating (negative) ones — sent
  through Django's WSGI handler in this process (so inside the test's
  transaction), authenticated with a project owner's API key, with the path
  parameters pointing at real objects so the bodies reach the views.
* Hand-made bad documents (lone surrogates, ``1e30``, ``1e308``, ``NaN``,
  1,000-deep nesting, ``http:/x`` URLs, huge strings) are sent to every
  POST/PUT route, as the whole body and as the value of each field.

Budget: ``STUDIO_FUZZ_EXAMPLES`` examples per operation and mode (default 4;
the whole file takes about a minute on 2 cores, deadline off). Every
response must be < 500.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from django.core.handlers.wsgi import WSGIHandler
from django.test import Client

from agents.models import Run, RunStatus, Workflow, WorkflowVersion
from studio.models import ApiKey, Membership, Project, Role, Variable
from tests.conftest import UserFactory, demo_graph

EXAMPLES = int(os.environ.get("STUDIO_FUZZ_EXAMPLES", "4"))
#: Operations that never end on their own for a live run; the fixture's run is finished, so they return at once.
STREAMING = {"/api/v1/runs/{run_id}/events"}


@pytest.fixture
def world(project: Project, alice: Any) -> dict[str, Any]:
    """A project owner's API key and real objects for every path parameter."""
    workflow = Workflow.objects.create(
        project=project, slug="qa", name="QA", draft_graph=demo_graph("question-answering")
    )
    WorkflowVersion.objects.create(workflow=workflow, version=1, graph=workflow.draft_graph)
    run = Run.objects.create(
        project=project,
        workflow=workflow,
        graph=workflow.draft_graph,
        inputs={"question": "hi"},
        status=RunStatus.SUCCEEDED,
    )
    raw = ApiKey.generate()
    ApiKey.objects.create(
        project=project, name="fuzz", prefix=raw[:8], hashed_key=ApiKey.hash(raw), role=Role.OWNER, user=alice
    )
    # Objects the fuzzer may delete or change freely (never the key it authenticates with, nor alice).
    spare = ApiKey.generate()
    spare_key = ApiKey.objects.create(
        project=project, name="spare", prefix=spare[:8], hashed_key=ApiKey.hash(spare), role=Role.VIEWER, user=alice
    )
    spare_member = Membership.objects.create(project=project, user=UserFactory(username="dave"), role=Role.VIEWER)
    Variable.objects.create(project=project, name="spare_var", type="str", value="x")
    from studio.crypto import secret_create

    secret_create(project=project, name="SPARE", value="spare-value")
    from traces.models import ModelEndpoint

    # loopback, not allow-listed: Test connection is refused by the egress guard at once (no call leaves)
    spare_endpoint = ModelEndpoint.objects.create(
        project=project, slug="spare", name="Spare", model="openai/spare", api_base="http://127.0.0.1:9/v1"
    )
    from agents.models import McpServer

    spare_server = McpServer.objects.create(project=project, slug="spare", name="Spare", url="http://127.0.0.1:9/mcp")
    from agents.services.workflows import workflow_templates

    templates = workflow_templates()
    return {
        "key": raw,
        "params": {
            "project": project.slug,
            "project_slug": project.slug,
            "workflow_slug": workflow.slug,
            "id": workflow.pk,
            "pk": workflow.pk,
            "version": 1,
            "run_id": run.pk,
            "other_id": run.pk,
            "node_id": "answerer",
            "key_id": spare_key.pk,
            "member_id": spare_member.pk,
            "name": "spare_var",
            "secret_name": "SPARE",
            "endpoint_id": spare_endpoint.pk,
            "server_id": spare_server.pk,
            "slug": templates[0].slug if templates else "sequential",
        },
    }


def api_schema() -> dict[str, Any]:
    response = Client().get("/api/schema/", {"format": "json"})
    assert response.status_code == 200
    return json.loads(response.content)


def operations(schema: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method.upper(), path, op)
        for path, item in schema["paths"].items()
        for method, op in item.items()
        if method in {"get", "post", "put", "patch", "delete"}
    ]


@contextmanager
def wsgi_app() -> Iterator[WSGIHandler]:
    """Django's WSGI handler, keeping the test's database connection open between requests
    (as Django's test client does, which reconnects the signal after each of its own requests):
    the fuzzed requests run inside the test's transaction."""
    from django.core import signals
    from django.db import close_old_connections

    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    try:
        yield WSGIHandler()
    finally:
        signals.request_started.connect(close_old_connections)
        signals.request_finished.connect(close_old_connections)


def test_schemathesis_finds_no_server_error(world: dict[str, Any]) -> None:
    import schemathesis
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis.errors import Unsatisfiable
    from schemathesis.generation import GenerationMode

    document = api_schema()
    schema = schemathesis.openapi.from_dict(document)
    headers = {"Authorization": f"Bearer {world['key']}"}
    server_errors: list[str] = []
    statuses: Counter[int] = Counter()
    answered: set[str] = set()
    count = 0
    with wsgi_app() as app:
        for result in schema.get_all_operations():
            operation = result.ok()
            names = {p.name for p in operation.path_parameters}
            path_parameters = {name: value for name, value in world["params"].items() if name in names}
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                strategy = operation.as_strategy(generation_mode=mode, path_parameters=path_parameters, headers=headers)

                @settings(
                    max_examples=EXAMPLES,
                    deadline=None,
                    database=None,
                    derandomize=True,
                    phases=[Phase.explicit, Phase.generate],
                    suppress_health_check=list(HealthCheck),
                )
                @given(case=strategy)
                def send(case: Any) -> None:
                    nonlocal count
                    response = case.call(app=app)
                    count += 1
                    statuses[response.status_code] += 1
                    if response.status_code < 300:
                        answered.add(f"{case.method} {case.operation.path}")
                    if response.status_code >= 500:
                        server_errors.append(
                            f"{case.method} {case.formatted_path} query={case.query} body={case.body!r:.300} "
                            f"→ {response.status_code} {response.text[:300]}"
                        )

                try:
                    send()
                except Unsatisfiable:  # nothing to generate in this mode (e.g. no parameter to violate)
                    continue
    assert count > 0
    assert not server_errors, "\n".join(server_errors)
    # The key really authenticates and the fixed parameters reach the views: most operations answered 2xx once.
    assert len(answered) >= len(operations(document)) // 2, (sorted(answered), statuses)


# ------------------------------------------------------------ hand-made bad documents


def _deep(levels: int) -> str:
    return "[" * levels + "]" * levels


BAD_VALUES: dict[str, str] = {
    "lone_surrogate": '"\\ud800"',
    "low_surrogate_key": '{"\\udc00": 1}',
    "nul": '"a\\u0000b"',
    "1e30": "1e30",
    "1e30_string": '"1e30"',
    "1e308": "1e308",
    "-1e308": "-1e308",
    "1e400": "1e400",
    "NaN": "NaN",
    "Infinity": "-Infinity",
    "huge_int": "9" * 30,
    "deep_1000": _deep(1000),
    "deep_object_600": '{"a":' * 600 + "1" + "}" * 600,
    "bad_url": '"http:/x"',
}
#: Sent as the whole body only (sending them as every field of every route would be slow, not stronger).
WHOLE_BODIES: dict[str, str] = {
    "huge_string": '"' + "x" * 2_000_000 + '"',
    "huge_body": '{"graph": "' + "x" * 6 * 1024 * 1024 + '"}',
}


def _bad_graph(kind: str) -> dict[str, Any]:
    graph = demo_graph("question-answering")
    node = graph["nodes"][0]
    if kind == "bad_url":
        graph["nodes"].append(
            {"id": "h", "type": "http", "label": "h", "config": {"url": "http:/x"}, "position": {"x": 0, "y": 0}}
        )
    elif kind == "position":
        node["position"] = {"x": 1e308, "y": -1e308}
    elif kind == "long_label":
        node["label"] = "L" * 100_000
    return graph


def _write_routes(schema: dict[str, Any], params: dict[str, Any]) -> list[tuple[str, str, list[str]]]:
    """``(method, url, body field names)`` of every POST/PUT operation with its path filled in."""
    routes = []
    for method, path, op in operations(schema):
        if method not in {"POST", "PUT", "PATCH"}:
            continue
        url = path
        for name, value in params.items():
            url = url.replace("{" + name + "}", str(value))
        content = op.get("requestBody", {}).get("content", {}).get("application/json", {})
        ref = content.get("schema", {}).get("$ref", "")
        component = schema["components"]["schemas"].get(ref.rsplit("/", 1)[-1], {}) if ref else {}
        routes.append((method, url, sorted(component.get("properties", {}))))
    return routes


def test_hand_made_bad_documents_never_get_a_server_error(world: dict[str, Any]) -> None:
    schema = api_schema()
    routes = _write_routes(schema, world["params"])
    assert len(routes) >= 10
    client = Client(HTTP_AUTHORIZATION=f"Bearer {world['key']}")
    failures: list[str] = []
    sent = 0
    for method, url, fields in routes:
        send = client.put if method == "PUT" else client.post
        bodies = list(BAD_VALUES.items()) + list(WHOLE_BODIES.items())
        bodies += [
            (f"{field}={name}", "{" + json.dumps(field) + ": " + text + "}")
            for field in fields
            for name, text in BAD_VALUES.items()
        ]
        for kind in ("bad_url", "position", "long_label"):
            graph = json.dumps(_bad_graph(kind))
            bodies.append((f"graph:{kind}", '{"graph": ' + graph + ', "base_revision": 1}'))
            bodies.append(
                (
                    f"import:{kind}",
                    '{"document": {"studio_export": 1, "workflow": {"name": "x"}, "graph": ' + graph + "}}",
                )
            )
        for name, text in bodies:
            response = send(url, data=text.encode(), content_type="application/json")
            sent += 1
            if response.status_code >= 500:
                failures.append(f"{method} {url} [{name}] → {response.status_code}")
            elif response.status_code == 400 and name != "bad_url":
                assert response["Content-Type"] == "application/json", (url, name, response.content[:300])
                assert response.json().get("detail"), (url, name)
    assert sent > 100
    assert not failures, "\n".join(failures)


def test_a_bad_document_as_yaml_import_is_a_400(world: dict[str, Any]) -> None:
    client = Client(HTTP_AUTHORIZATION=f"Bearer {world['key']}")
    for text in (
        'studio_export: 1\nworkflow: {name: "\\ud800"}\ngraph: {schema: 1, nodes: [], edges: []}\n',
        "studio_export: 1\nworkflow: {name: x, settings: {budget_usd: 1e30}}\ngraph: {schema: 1, nodes: [], edges: []}\n",
    ):
        response = client.post(
            "/api/v1/projects/acme/workflows/import/", data=text.encode(), content_type="application/yaml"
        )
        assert 400 <= response.status_code < 500, (text[:80], response.status_code)


@pytest.mark.parametrize(
    ("method", "url", "wrap"),
    [
        ("PUT", "/api/v1/workflows/{id}/draft/", lambda g: {"graph": g, "base_revision": 1}),
        ("POST", "/api/v1/workflows/{id}/validate/", lambda g: {"graph": g}),
        ("POST", "/api/v1/projects/acme/workflows/", lambda g: {"name": "x", "graph": g}),
        (
            "POST",
            "/api/v1/projects/acme/workflows/import/",
            lambda g: {"document": {"studio_export": 1, "workflow": {"name": "x"}, "graph": g}},
        ),
    ],
)
def test_an_http_x_url_in_a_graph_is_a_4xx(world: dict[str, Any], method: str, url: str, wrap: Any) -> None:
    client = Client(HTTP_AUTHORIZATION=f"Bearer {world['key']}")
    send = client.put if method == "PUT" else client.post
    body = json.dumps(wrap(_bad_graph("bad_url")))
    response = send(url.replace("{id}", str(world["params"]["id"])), data=body, content_type="application/json")
    assert response.status_code < 500
