"""The per-workflow OpenAPI document and the ready-to-paste client snippets of the API tab.

:func:`workflow_openapi` describes one operation — invoking the workflow's
live version — with request and response bodies typed from its input and
output signatures (``agents.engine`` JSON Schemas), examples built from them,
the modes, ``Idempotency-Key`` and the error shape. OpenAPI 3.1, so the
schemas are plain JSON Schema (draft 2020-12) and validate real bodies as is.

:func:`invoke_snippets` gives ``curl``, Python (standard library only) and
JavaScript (``fetch``) calls that read the key from ``STUDIO_API_KEY``. User
strings reach them only as JSON / ``repr`` literals (shell-quoted for curl).
"""

from __future__ import annotations

import json
import shlex
from typing import Any

from django.conf import settings
from django.urls import reverse

from agents.engine import input_signature, output_signature
from agents.engine.signature import FieldSpec, Signature
from agents.models import RunStatus, Workflow, WorkflowVersion

#: The snippets wait up to this many seconds for the answer (then the API answers 202 with the run's URL).
SNIPPET_WAIT_S = 60

_SAMPLES: dict[str, Any] = {"int": 1, "float": 1.0, "bool": False, "list": [], "object": {}}


def _sample(spec: FieldSpec) -> Any:
    if spec.default is not None:
        return spec.default
    if spec.type == "enum" and spec.choices:
        return spec.choices[0]
    if spec.type == "str":
        return spec.description[:60] or f"<{spec.name}>"
    return _SAMPLES.get(spec.type, f"<{spec.name}>")


def signature_example(signature: Signature, *, required_only: bool = False) -> dict[str, Any]:
    """A value for every field (only the required ones when asked): default, first choice, or a sample."""
    return {spec.name: _sample(spec) for spec in signature.fields if spec.required or not required_only}


def invoke_path(workflow: Workflow) -> str:
    """The invoke URL's path: ``/api/v1/projects/<p>/workflows/<w>/invoke``."""
    return reverse("api-workflow-invoke", args=[workflow.project.slug, workflow.slug])


def workflow_openapi(*, workflow: Workflow, version: WorkflowVersion, server_url: str) -> dict[str, Any]:
    """The OpenAPI 3.1 document of invoking ``version`` (the live one) of ``workflow`` at ``server_url``.

    Raises ``agents.engine.GraphValidationError`` (a ``ValueError``) when the
    version's input or output node is invalid (a published version's is not).
    """
    inputs, outputs = input_signature(version.graph), output_signature(version.graph)
    example_inputs = signature_example(inputs, required_only=True)
    example_outputs = signature_example(outputs)
    error = {"$ref": "#/components/schemas/Error"}
    statuses = [choice.value for choice in RunStatus]

    def json_body(ref: str, description: str) -> dict[str, Any]:
        return {"description": description, "content": {"application/json": {"schema": {"$ref": ref}}}}

    return {
        "openapi": "3.1.0",
        "info": {
            "title": f"{workflow.name} (Studio workflow)",
            "version": str(version.version),
            "description": (workflow.description or "")
            + "\n\nInvoke the live version of this workflow. Authenticate with a project API key "
            "(Authorization: Bearer sk_…) of role runner or above.",
        },
        "servers": [{"url": server_url.rstrip("/")}],
        "security": [{"bearer": []}],
        "paths": {
            invoke_path(workflow): {
                "post": {
                    "operationId": f"invoke_{workflow.slug.replace('-', '_')}",
                    "summary": f"Invoke {workflow.name}",
                    "parameters": [
                        {
                            "name": "mode",
                            "in": "query",
                            "required": False,
                            "description": "sync (default): wait up to wait_s; async: 202 at once; stream: SSE",
                            "schema": {"type": "string", "enum": ["sync", "async", "stream"], "default": "sync"},
                        },
                        {
                            "name": "Idempotency-Key",
                            "in": "header",
                            "required": False,
                            "description": "A retried call with the same key returns the same run",
                            "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[!-~]+$"},
                        },
                    ],
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {"$ref": "#/components/schemas/InvokeRequest"},
                                "example": {"inputs": example_inputs},
                            }
                        },
                    },
                    "responses": {
                        "200": {
                            "description": "The run settled within wait_s (sync), or the event stream (stream)",
                            "content": {
                                "application/json": {
                                    "schema": {"$ref": "#/components/schemas/InvokeResult"},
                                    "example": {
                                        "run": 1,
                                        "status": "succeeded",
                                        "outputs": example_outputs,
                                        "cost_usd": "0.00001200",
                                        "cost_unknown": False,
                                        "input_tokens": 120,
                                        "output_tokens": 30,
                                        "error": "",
                                        "error_code": "",
                                        "url": "/api/v1/runs/1",
                                    },
                                },
                                "text/event-stream": {"schema": {"type": "string"}},
                            },
                        },
                        "202": json_body("#/components/schemas/InvokePending", "Still running: poll url"),
                        **{
                            code: {"description": what, "content": {"application/json": {"schema": error}}}
                            for code, what in (
                                ("400", "Invalid inputs, mode, wait_s or Idempotency-Key"),
                                ("401", "No or a bad API key"),
                                ("403", "Role below runner"),
                                ("404", "No such workflow (or not visible)"),
                                ("409", "Not deployed, or Idempotency-Key reused"),
                            )
                        },
                    },
                }
            }
        },
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "description": "A project API key (sk_…)"}
            },
            "schemas": {
                "Inputs": inputs.json_schema(),
                "Outputs": outputs.json_schema(),
                "InvokeRequest": {
                    "type": "object",
                    "properties": {
                        "inputs": {"$ref": "#/components/schemas/Inputs"},
                        "wait_s": {
                            "type": "number",
                            "minimum": 0,
                            "maximum": settings.STUDIO_INVOKE_MAX_WAIT_S,
                            "description": "Seconds to wait in sync mode",
                        },
                    },
                    "required": ["inputs"],
                    "additionalProperties": False,
                },
                "InvokeResult": {
                    "type": "object",
                    "properties": {
                        "run": {"type": "integer"},
                        "status": {"type": "string", "enum": statuses},
                        "outputs": {
                            "anyOf": [{"$ref": "#/components/schemas/Outputs"}, {"type": "object", "maxProperties": 0}],
                            "description": "The output signature's values ({} when the run failed)",
                        },
                        "cost_usd": {"type": "string", "description": "USD, a decimal string"},
                        "cost_unknown": {"type": "boolean"},
                        "input_tokens": {"type": "integer", "minimum": 0},
                        "output_tokens": {"type": "integer", "minimum": 0},
                        "error": {"type": "string"},
                        "error_code": {"type": "string"},
                        "url": {"type": "string"},
                    },
                    "required": ["run", "status", "outputs", "cost_usd", "input_tokens", "output_tokens", "url"],
                },
                "InvokePending": {
                    "type": "object",
                    "properties": {
                        "run": {"type": "integer"},
                        "status": {"type": "string", "enum": statuses},
                        "url": {"type": "string"},
                        "events_url": {"type": "string"},
                    },
                    "required": ["run", "status", "url", "events_url"],
                },
                "Error": {
                    "type": "object",
                    "properties": {"detail": {"type": "string"}, "code": {"type": "string"}, "errors": {}},
                    "required": ["detail", "code"],
                },
            },
        },
    }


def invoke_snippets(*, workflow: Workflow, version: WorkflowVersion, server_url: str) -> dict[str, str]:
    """``{"curl", "python", "javascript"}``: calls of the invoke API with example inputs; the key comes
    from the ``STUDIO_API_KEY`` environment variable (a placeholder in JavaScript)."""
    url = server_url.rstrip("/") + invoke_path(workflow)
    body = {"inputs": signature_example(input_signature(version.graph), required_only=True), "wait_s": SNIPPET_WAIT_S}
    body_json = json.dumps(body, ensure_ascii=False)
    curl = (
        f"curl -sS -X POST {shlex.quote(url)} \\\n"
        '  -H "Authorization: Bearer $STUDIO_API_KEY" \\\n'
        "  -H 'Content-Type: application/json' \\\n"
        f"  -d {shlex.quote(body_json)}"
    )
    python = (
        "import json, os, urllib.request\n\n"
        f"request = urllib.request.Request(\n    {url!r},\n"
        f"    data=json.dumps({body!r}).encode(),\n"
        '    headers={"Authorization": "Bearer " + os.environ["STUDIO_API_KEY"], '
        '"Content-Type": "application/json"},\n'
        '    method="POST",\n)\n'
        f"with urllib.request.urlopen(request, timeout={SNIPPET_WAIT_S + 30}) as response:\n"
        "    print(json.load(response))\n"
    )
    javascript = (
        "const STUDIO_API_KEY = process.env.STUDIO_API_KEY; // in a browser: your key as a string\n"
        f"fetch({json.dumps(url)}, {{\n"
        '  method: "POST",\n'
        '  headers: { "Authorization": "Bearer " + STUDIO_API_KEY, "Content-Type": "application/json" },\n'
        f"  body: JSON.stringify({body_json}),\n"
        "}).then((response) => response.json()).then((result) => console.log(result));\n"
    )
    return {"curl": curl, "python": python, "javascript": javascript}
