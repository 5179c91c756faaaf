"""Export a workflow to a readable, standalone Python script.

The script imports only ``litellm``, ``pydantic`` and the standard library
(plus ``jinja2``, which litellm itself depends on, for prompts that use
Jinja2 statements). It contains:

- one pydantic model per node signature (``WriterInputs``/``WriterOutputs``);
- one ``async`` function per node;
- ``run_workflow(inputs)``, which executes the nodes in topological levels,
  running the nodes of one level together with ``asyncio.gather``;
- ``main()``: ``--input JSON``, ``--model``, ``--api-base``, and
  ``--studio-url`` + ``--api-key`` to POST the run's trace to
  ``<studio>/api/v1/traces/ingest``.

Prompts referenced by ``llm`` nodes are resolved at export time (the exact
version is inlined and named in a comment). Model endpoints are inlined as
LiteLLM model strings and API bases; API keys are never written: LiteLLM
reads the provider's usual environment variables (``OPENAI_API_KEY`` …).

Node types the export does not translate yet (router, parallel, join, loop,
supervisor, subworkflow, http, tool, guardrail, approval) produce a function
that raises ``NotImplementedError`` naming the node, and the header lists
them — the script never silently skips a node.
"""

from __future__ import annotations

import json
import keyword
import re
from typing import Any

from agents.models import Workflow

SUPPORTED = {"input", "output", "llm", "agent", "template"}
_BASEMODEL_NAMES = {
    "model_config",
    "model_fields",
    "model_dump",
    "model_validate",
    "json",
    "dict",
    "copy",
    "schema",
    "construct",
    "validate",
    "fields",
    "parse_obj",
    "parse_raw",
    "model_computed_fields",
    "model_extra",
}

RUNTIME = '''
# ----------------------------------------------------------------- runtime

SPANS: list[dict[str, Any]] = []
STEPS: list[dict[str, Any]] = []
OVERRIDE: dict[str, str | None] = {"model": None, "api_base": None}


def render(source: str, variables: dict[str, Any]) -> str:
    """Render a prompt template like the studio does: Jinja2 sandbox, strict variables."""
    if "{%" not in source and "|" not in source:
        def value(match: re.Match[str]) -> str:
            path = match.group(1).split(".")
            if path[0] not in variables:
                raise KeyError(f"undefined variable: {path[0]!r}")
            current: Any = variables[path[0]]
            for part in path[1:]:
                current = current[part] if isinstance(current, dict) else getattr(current, part)
            return current if isinstance(current, str) else json.dumps(current, ensure_ascii=False)

        return re.sub(r"{{\\s*([A-Za-z_][A-Za-z0-9_.]*)\\s*}}", value, source)
    import jinja2  # installed with litellm
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    env = ImmutableSandboxedEnvironment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
    env.filters["tojson"] = lambda v, indent=None: json.dumps(v, ensure_ascii=False, indent=indent)
    return env.from_string(source).render(**variables)


def format_value(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)


def describe_fields(model: type[BaseModel]) -> str:
    lines = []
    for name, info in model.model_fields.items():
        line = f"- {info.alias or name} ({getattr(info.annotation, '__name__', info.annotation)})"
        if info.description:
            line += f": {info.description}"
        lines.append(line)
    return "\\n".join(lines)


async def call_model(node_id: str, endpoint: str, messages: list[dict[str, Any]],
                     schema: dict[str, Any] | None = None, params: dict[str, Any] | None = None) -> str:
    """One chat completion through LiteLLM; records a span with tokens and latency."""
    target = ENDPOINTS.get(endpoint, {"model": endpoint, "api_base": None, "structured_output": "json_schema"})
    model = OVERRIDE["model"] or target["model"]
    api_base = OVERRIDE["api_base"] or target["api_base"]
    kwargs: dict[str, Any] = {"model": model, "messages": messages, **(params or {})}
    if api_base:
        kwargs["api_base"] = api_base
        kwargs.setdefault("api_key", os.environ.get("OPENAI_API_KEY") or "not-needed")
    if schema is not None:
        how = target["structured_output"]
        if how == "json_object_schema":
            kwargs["response_format"] = {"type": "json_object", "schema": schema}
        elif how == "json_schema":
            kwargs["response_format"] = {"type": "json_schema", "json_schema": {"name": "output", "schema": schema}}
        else:
            messages = [*messages, {"role": "user", "content": "JSON Schema of the answer: " + json.dumps(schema)}]
            kwargs["messages"] = messages
    started = time.time()
    response = await litellm.acompletion(**kwargs)
    text = response.choices[0].message.content or ""
    usage = getattr(response, "usage", None)
    SPANS.append({
        "node_id": node_id, "model": model, "input": {"messages": messages}, "output": {"text": text},
        "input_tokens": getattr(usage, "prompt_tokens", 0) or 0,
        "output_tokens": getattr(usage, "completion_tokens", 0) or 0,
        "latency_ms": round((time.time() - started) * 1000, 1), "started_at": started,
    })
    return text


def parse_json_answer(text: str) -> Any:
    stripped = text.strip()
    fenced = re.match(r"^```(?:json)?\\s*(.*?)\\s*```$", stripped, re.DOTALL)
    if fenced:
        stripped = fenced.group(1)
    try:
        return json.loads(stripped)
    except json.JSONDecodeError:
        start, end = stripped.find("{"), stripped.rfind("}")
        if 0 <= start < end:
            return json.loads(stripped[start:end + 1])
        raise


async def ask_structured(node_id: str, endpoint: str, messages: list[dict[str, Any]],
                         output_model: type[BaseModel], params: dict[str, Any]) -> BaseModel:
    """Ask for JSON fitting ``output_model``; on a bad answer ask once more with the error."""
    schema = output_model.model_json_schema(by_alias=True)
    conversation = list(messages)
    error = ""
    for attempt in (1, 2):
        text = await call_model(node_id, endpoint, conversation, schema=schema, params=params)
        try:
            return output_model.model_validate(parse_json_answer(text))
        except (ValueError, ValidationError) as exc:
            error = str(exc).splitlines()[0]
        if attempt == 1:
            conversation = [*conversation, {"role": "assistant", "content": text}, {
                "role": "user",
                "content": f"That answer was rejected: {error}. Reply again with only a JSON object that matches the schema.",
            }]
    raise RuntimeError(f"node {node_id}: the model's answer did not fit the output signature: {error}")


async def step(node_id: str, node_type: str, func: Any, inputs_model: type[BaseModel], raw: dict[str, Any]) -> dict[str, Any]:
    """Validate a node's inputs, run it, record the step (inputs, outputs, tokens, duration)."""
    started = time.time()
    first_span = len(SPANS)
    inputs = inputs_model.model_validate(raw)
    outputs = await func(inputs)
    spans = SPANS[first_span:]
    data = outputs.model_dump(by_alias=True)
    STEPS.append({
        "node_id": node_id, "node_type": node_type, "status": "succeeded",
        "inputs": inputs.model_dump(by_alias=True), "outputs": data,
        "input_tokens": sum(s["input_tokens"] for s in spans if s["node_id"] == node_id),
        "output_tokens": sum(s["output_tokens"] for s in spans if s["node_id"] == node_id),
        "duration_ms": round((time.time() - started) * 1000, 1),
    })
    return data


def send_trace(studio_url: str, api_key: str, inputs: dict[str, Any], outputs: dict[str, Any], error: str = "") -> None:
    """POST the run (steps and model calls) to the studio's trace ingest endpoint."""
    body = json.dumps({
        "source": "python-export", "workflow": WORKFLOW, "inputs": inputs, "outputs": outputs,
        "status": "failed" if error else "succeeded", "error": error, "steps": STEPS, "spans": SPANS,
    }, default=str).encode()
    request = urllib.request.Request(
        studio_url.rstrip("/") + "/api/v1/traces/ingest", data=body, method="POST",
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {api_key}"},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            print(f"trace sent to the studio ({response.status})", file=sys.stderr)
    except urllib.error.HTTPError as exc:
        print(f"the studio refused the trace: HTTP {exc.code} {exc.reason}", file=sys.stderr)
    except urllib.error.URLError as exc:
        print(f"could not reach the studio: {exc.reason}", file=sys.stderr)
'''

MAIN = """

# -------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--input", default="{}", help="workflow inputs as a JSON object (or @file.json)")
    parser.add_argument("--model", help="LiteLLM model string for every model node, e.g. openai/gpt-4o-mini")
    parser.add_argument("--api-base", help="base URL of an OpenAI-compatible server for every model node")
    parser.add_argument("--studio-url", help="send the trace of this run to this studio")
    parser.add_argument("--api-key", default=os.environ.get("STUDIO_API_KEY"), help="studio API key (sk_...)")
    args = parser.parse_args(argv)
    raw = args.input
    if raw.startswith("@"):
        with open(raw[1:], encoding="utf-8") as handle:
            raw = handle.read()
    inputs = json.loads(raw)
    OVERRIDE["model"], OVERRIDE["api_base"] = args.model, args.api_base
    error = ""
    outputs: dict[str, Any] = {}
    try:
        outputs = asyncio.run(run_workflow(inputs))
    except Exception as exc:  # report, send the partial trace, exit non-zero
        error = f"{type(exc).__name__}: {exc}"
        print(error, file=sys.stderr)
    if args.studio_url:
        if not args.api_key:
            print("--studio-url needs --api-key (or STUDIO_API_KEY)", file=sys.stderr)
        else:
            send_trace(args.studio_url, args.api_key, inputs, outputs, error)
    if error:
        return 1
    print(json.dumps(outputs, indent=2, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
"""


def _ident(text: str, prefix: str = "n") -> str:
    name = re.sub(r"\W+", "_", text).strip("_").lower() or prefix
    if name[0].isdigit() or keyword.iskeyword(name):
        name = f"{prefix}_{name}"
    return name


def _pascal(text: str) -> str:
    return "".join(part.capitalize() for part in re.split(r"[^A-Za-z0-9]+", text) if part) or "Node"


def _py_type(spec: dict[str, Any]) -> str:
    kind = spec.get("type", "str")
    if kind == "enum":
        return "Literal[" + ", ".join(repr(c) for c in spec.get("choices", [])) + "]"
    if kind == "list":
        items = spec.get("items")
        return f"list[{_py_type({'type': items})}]" if items else "list[Any]"
    return {"str": "str", "int": "int", "float": "float", "bool": "bool", "object": "dict[str, Any]"}.get(kind, "Any")


def _model_source(class_name: str, fields: list[dict[str, Any]], doc: str) -> str:
    lines = [f"class {class_name}(BaseModel):", f'    """{doc}"""', ""]
    lines.append('    model_config = ConfigDict(extra="forbid", populate_by_name=True)')
    if fields:
        lines.append("")
    for spec in fields:
        name = spec["name"]
        attr = name if name not in _BASEMODEL_NAMES and not keyword.iskeyword(name) else f"{name}_"
        kwargs = []
        if attr != name:
            kwargs.append(f"alias={name!r}")
        if spec.get("description"):
            kwargs.append(f"description={spec['description']!r}")
        type_src = _py_type(spec)
        if spec.get("required", True):
            default_src = f" = Field({', '.join(kwargs)})" if kwargs else ""
        else:
            type_src += " | None"
            kwargs.insert(0, f"default={spec.get('default')!r}")
            default_src = f" = Field({', '.join(kwargs)})"
        lines.append(f"    {attr}: {type_src}{default_src}")
    return "\n".join(lines) + "\n"


def _levels(graph: dict[str, Any]) -> list[list[str]]:
    ids = [n["id"] for n in graph["nodes"]]
    indegree = {i: 0 for i in ids}
    successors: dict[str, set[str]] = {i: set() for i in ids}
    for edge in graph["edges"]:
        if (
            edge["source"] in indegree
            and edge["target"] in indegree
            and edge["target"] not in successors[edge["source"]]
        ):
            successors[edge["source"]].add(edge["target"])
            indegree[edge["target"]] += 1
    levels: list[list[str]] = []
    ready = [i for i in ids if indegree[i] == 0]
    while ready:
        levels.append(ready)
        following = []
        for node_id in ready:
            for child in sorted(successors[node_id], key=ids.index):
                indegree[child] -= 1
                if indegree[child] == 0:
                    following.append(child)
        ready = sorted(following, key=ids.index)
    placed = {i for level in levels for i in level}
    if len(placed) != len(ids):
        raise ValueError("The graph has a cycle; only acyclic graphs can be exported to Python.")
    return levels


def _resolve_prompt(project_id: int, prompt: dict[str, Any]) -> tuple[list[dict[str, str]], dict[str, Any], str]:
    from prompts.models import PromptLabel, PromptVersion

    slug, label, version = prompt.get("slug"), prompt.get("label"), prompt.get("version")
    if version:
        found = PromptVersion.objects.filter(prompt__project_id=project_id, prompt__slug=slug, version=version).first()
        where = f"prompt {slug} v{version}"
    else:
        label = label or "production"
        pointer = (
            PromptLabel.objects.select_related("version")
            .filter(prompt__project_id=project_id, prompt__slug=slug, name=label)
            .first()
        )
        found = pointer.version if pointer else None
        where = f"prompt {slug}@{label}" + (f" (v{found.version})" if found else "")
    if found is None:
        raise ValueError(f"{where} does not exist in this project; fix the node before exporting.")
    return list(found.messages), dict(found.model_config or {}), where


def _endpoints(project_id: int, slugs: set[str]) -> dict[str, dict[str, Any]]:
    from traces.models import ModelEndpoint

    out: dict[str, dict[str, Any]] = {}
    for endpoint in ModelEndpoint.objects.filter(project_id=project_id, slug__in=slugs):
        out[endpoint.slug] = {
            "model": endpoint.model,
            "api_base": endpoint.api_base or None,
            "structured_output": endpoint.structured_output,
        }
    for slug in slugs - set(out):
        out[slug] = {"model": slug, "api_base": None, "structured_output": "json_schema"}
    return out


def _node_function(node: dict[str, Any], names: dict[str, str], project_id: int) -> str:
    node_id, kind, config = node["id"], node["type"], node.get("config") or {}
    fn, cls = names[node_id], _pascal(names[node_id])
    title = f'{kind} node "{node.get("label") or node_id}" ({node_id})'
    head = f'async def node_{fn}(inputs: {cls}Inputs) -> {cls}Outputs:\n    """The {title}."""\n'
    if kind == "input":
        return head + f"    return {cls}Outputs.model_validate(inputs.model_dump(by_alias=True))\n"
    if kind == "output":
        return head + f"    return {cls}Outputs.model_validate(inputs.model_dump(by_alias=True))\n"
    if kind == "template":
        return head + (
            f"    template = {config.get('template', '')!r}\n"
            f"    return {cls}Outputs(text=render(template, inputs.model_dump(by_alias=True)))\n"
        )
    if kind in ("llm", "agent"):
        endpoint = config.get("endpoint", "")
        params = dict(config.get("params") or {})
        outputs = config.get("outputs") or [{"name": "text", "type": "str"}]
        plain = len(outputs) == 1 and outputs[0]["name"] == "text" and outputs[0].get("type", "str") == "str"
        body = "    variables = inputs.model_dump(by_alias=True)\n"
        if kind == "agent":
            body += (
                f"    instructions = render({config.get('instructions', '')!r}, variables).strip()\n"
                '    system = instructions + ("\\n\\n" if instructions else "") + "Reply with a JSON object with these fields:\\n"\n'
                f"    system += describe_fields({cls}Outputs)\n"
                '    user = "\\n".join(f"{name}: {format_value(value)}" for name, value in variables.items())\n'
                '    messages = [{"role": "system", "content": system}, {"role": "user", "content": user}]\n'
            )
            plain = False
        else:
            source = ""
            if config.get("prompt"):
                templates, prompt_params, where = _resolve_prompt(project_id, config["prompt"])
                params = {**prompt_params, **params}
                source = f"    # Messages of {where}, as exported.\n"
            else:
                templates = config.get("messages") or []
            body += source + "    templates = " + _literal(templates, indent=4) + "\n"
            body += (
                '    messages = [{"role": m["role"], "content": render(m["content"], variables)} for m in templates]\n'
            )
        body += f"    params = {_literal(params, indent=4)}\n"
        if plain:
            body += f"    text = await call_model({node_id!r}, {endpoint!r}, messages, params=params)\n"
            body += f"    return {cls}Outputs(text=text)\n"
        else:
            body += f"    return await ask_structured({node_id!r}, {endpoint!r}, messages, {cls}Outputs, params)  # type: ignore[return-value]\n"
        return head + body
    return head + (
        f"    raise NotImplementedError(\n"
        f'        "The Python export does not translate {kind!r} nodes yet; run this workflow in the studio."\n'
        f"    )\n"
    )


def _literal(value: Any, indent: int = 0) -> str:
    text = json.dumps(value, indent=4, ensure_ascii=False)
    text = text.replace(": true", ": True").replace(": false", ": False").replace(": null", ": None")
    text = re.sub(r"(?<=[\[ ,])true(?=[,\]\n])", "True", text)
    text = re.sub(r"(?<=[\[ ,])false(?=[,\]\n])", "False", text)
    text = re.sub(r"(?<=[\[ ,])null(?=[,\]\n])", "None", text)
    pad = " " * indent
    return text.replace("\n", "\n" + pad)


def _ports(node: dict[str, Any]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    from agents.services.workflows import node_ports_of

    ports = node_ports_of(node)
    if ports["error"]:
        raise ValueError(f"Node {node.get('label') or node['id']} ({node['id']}): {ports['error']}")
    return ports["inputs"], ports["outputs"]


def export_python(*, workflow: Workflow, graph: dict[str, Any] | None = None, version: int | None = None) -> str:
    """The standalone script for ``graph`` (default: the draft) of ``workflow``.

    Raises ``ValueError`` for a graph that cannot be translated (a cycle, an
    invalid node config, a missing prompt). The result compiles and is
    ruff-clean; it is not executed here.
    """
    graph = graph if graph is not None else workflow.draft_graph
    nodes = {n["id"]: n for n in graph.get("nodes", [])}
    levels = _levels(graph)
    names: dict[str, str] = {}
    for node_id, node in nodes.items():
        base = _ident(node.get("label") or node_id)
        candidate, n = base, 2
        while candidate in names.values():
            candidate, n = f"{base}_{n}", n + 1
        names[node_id] = candidate
    unsupported = sorted({n["type"] for n in nodes.values() if n["type"] not in SUPPORTED})
    endpoints = _endpoints(
        workflow.project_id,
        {str((n.get("config") or {}).get("endpoint") or "") for n in nodes.values() if n["type"] in ("llm", "agent")}
        - {""},
    )

    out: list[str] = []
    label = f"version {version}" if version else "draft"
    out.append("#!/usr/bin/env python3")
    out.append(f'"""{workflow.name} - exported from Studio ({workflow.project.slug}/{workflow.slug}, {label}).\n')
    if workflow.description:
        out.append(workflow.description.strip().replace('"""', "'''") + "\n")
    out.append("Runs the workflow from the command line; needs `pip install litellm pydantic`.\n")
    out.append(f"    python {workflow.slug.replace('-', '_')}.py --input '{{...}}' [--model M] [--api-base URL]")
    out.append("        [--studio-url URL --api-key sk_...]  # send the trace back to the studio\n")
    out.append("API keys come from the provider's usual environment variables (OPENAI_API_KEY ...).")
    if unsupported:
        out.append(f"\nNot translated yet (these nodes raise NotImplementedError): {', '.join(unsupported)}.")
    out.append('"""\n')
    out.append("from __future__ import annotations\n")
    out.append(
        "import argparse\nimport asyncio\nimport json\nimport os\nimport re\nimport sys\nimport time\nimport urllib.error\nimport urllib.request\nfrom typing import Any, Literal\n"
    )
    out.append("# Use LiteLLM's bundled price map instead of fetching one from the network at import time.")
    out.append('os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")\n')
    out.append(
        "import litellm  # noqa: E402\nfrom pydantic import BaseModel, ConfigDict, Field, ValidationError  # noqa: E402\n"
    )
    out.append("litellm.suppress_debug_info = True\n")
    out.append("WORKFLOW = " + _literal({"project": workflow.project.slug, "slug": workflow.slug, "version": version}))
    out.append("# Model endpoints by slug (LiteLLM model string, API base, how it takes a JSON Schema).")
    out.append("ENDPOINTS: dict[str, dict[str, Any]] = " + _literal(endpoints) + "\n")
    out.append("# Literal is used by enum fields of some signatures.")
    out.append("_ = Literal\n")
    out.append(RUNTIME.strip("\n") + "\n")
    out.append("\n# -------------------------------------------------------------- signatures\n")
    for node_id in [i for level in levels for i in level]:
        node = nodes[node_id]
        inputs, outputs = _ports(node)
        cls = _pascal(names[node_id])
        title = node.get("label") or node_id
        if node["type"] == "input":
            inputs = outputs  # the run's inputs enter through the input node
        elif node["type"] == "output":
            outputs = inputs  # and its outputs leave through the output node
        out.append("\n" + _model_source(f"{cls}Inputs", inputs, f"Inputs of {title}."))
        out.append("\n" + _model_source(f"{cls}Outputs", outputs, f"Outputs of {title}."))
    out.append("\n# ------------------------------------------------------------------- nodes\n")
    for node_id in [i for level in levels for i in level]:
        out.append("\n" + _node_function(nodes[node_id], names, workflow.project_id))
    out.append("\n# ---------------------------------------------------------------- workflow\n")
    out.append("\nasync def run_workflow(inputs: dict[str, Any]) -> dict[str, Any]:")
    out.append('    """Run every node in dependency order; nodes of one level run concurrently."""')
    out.append("    results: dict[str, dict[str, Any]] = {}")
    incoming: dict[str, list[dict[str, Any]]] = {}
    for edge in graph.get("edges", []):
        incoming.setdefault(edge["target"], []).append(edge)
    final = "{}"
    for number, level in enumerate(levels, start=1):
        calls = []
        for node_id in level:
            node = nodes[node_id]
            if node["type"] == "input":
                raw = "inputs"
            else:
                pairs = [
                    f"{e['target_port']!r}: results[{e['source']!r}][{e['source_port']!r}]"
                    for e in incoming.get(node_id, [])
                ]
                raw = "{" + ", ".join(pairs) + "}"
                if len(raw) > 60:
                    pad = " " * (12 if len(level) > 1 else 8)
                    raw = "{\n" + "".join(f"{pad}    {p},\n" for p in pairs) + pad + "}"
            cls = _pascal(names[node_id])
            calls.append(f"step({node_id!r}, {node['type']!r}, node_{names[node_id]}, {cls}Inputs, {raw})")
            if node["type"] == "output":
                final = f"results[{node_id!r}]"
        titles = ", ".join(nodes[i].get("label") or i for i in level)
        out.append(f"    # level {number}: {titles}")
        if len(calls) == 1:
            out.append(f"    results[{level[0]!r}] = await {calls[0]}")
        else:
            targets = ", ".join(f"results[{i!r}]" for i in level)
            out.append(f"    {targets} = await asyncio.gather(")
            for call in calls:
                out.append(f"        {call},")
            out.append("    )")
    out.append(f"    return {final}")
    out.append(MAIN.rstrip("\n"))
    return "\n".join(out) + "\n"
