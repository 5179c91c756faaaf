"""Export a workflow to a readable, standalone Python script.

The script imports only ``litellm``, ``pydantic`` and the standard library
(plus ``jinja2``, which litellm itself depends on, for prompts that use
Jinja2 statements). It contains:

- one pydantic model per node signature (``WriterInputs``/``WriterOutputs``);
- one ``async`` function per node;
- ``run_workflow(inputs)``, which executes the nodes in topological levels,
  running the nodes of one level together with ``asyncio.gather``;
- ``main()``: ``--input JSON``, ``--model``, ``--api-base``, and
  ``--studio-url`` + ``--api-key`` to send the run's trace (the run, its
  steps and model calls as OpenTelemetry spans, OTLP JSON) to the studio's
  OTLP receiver ``<studio>/api/v1/otel/v1/traces``.

Prompts referenced by ``llm`` nodes are resolved at export time (the exact
version is inlined and named in a comment). Model endpoints are inlined as
LiteLLM model strings and API bases; API keys are never written: LiteLLM
reads the provider's usual environment variables (``OPENAI_API_KEY`` …).

Logic nodes are translated too, with the engine's semantics:

- ``router``: expression mode becomes an ``if``/``elif`` chain — only for
  conditions in a safe subset (comparisons, and/or/not, ``in``, literals,
  field names; see :func:`python_condition`); llm mode asks the model for an
  enum over the route names. Only the chosen port is emitted, and ``wire``
  skips every node fed only by the other routes (a ``join`` takes what ran).
- ``join`` (first/object/list/concat); ``loop`` (bounded by
  ``max_iterations``, ``until`` through the same subset); ``parallel``
  (items and branches, ``asyncio.gather`` under a semaphore); loop and
  parallel bodies (one node or a sub-graph) get their own functions.
- ``guardrail``: PII (the studio's detector, copied), regex, a JSON Schema
  subset (stdlib only) and the LLM judge.

Anything else (supervisor, subworkflow, http, tool, approval, agent tools,
conditions outside the subset, unsupported JSON Schema keywords) produces a
function that raises ``NotImplementedError`` with the reason, and the header
lists those nodes — the script never silently skips a node. Retries,
timeouts and ``on_error`` settings are not translated.

Every user string (workflow name and description, node labels and ids,
router and loop conditions, prompts, patterns …) reaches the script only as a
Python literal built by ``repr`` (:func:`_literal`, :func:`_text`), inside a
comment only as such a literal (:func:`_comment`: no line break can survive
it), and inside a docstring only when it cannot end or escape it
(:func:`_docstring`). Identifiers are ASCII, derived from labels. So no
label, condition or description can add code to the script, or stop it from
compiling.
"""

from __future__ import annotations

import keyword
import math
import re
import textwrap
import unicodedata
from typing import Any

from agents.models import Workflow

SUPPORTED = {
    "input",
    "output",
    "llm",
    "agent",
    "template",
    "router",
    "join",
    "loop",
    "parallel",
    "guardrail",
    "approval",
}
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
# The iteration key of the step being run ("" at the top level, "2" in loop round 2 ...).
ITERATION: contextvars.ContextVar[str] = contextvars.ContextVar("iteration", default="")
# Nodes that emit only some of their output ports (the chosen route, pass or fail).
BRANCHING = {"router", "guardrail", "approval"}
APPROVAL: dict[str, Any] = {"decision": None, "comment": ""}  # --approve / --reject decide every approval


def ask_approval(node_id: str, title: str, instructions: str, values: dict[str, Any]) -> tuple[bool, str]:
    """A person's decision on an approval node: (approved, comment).

    ``--approve`` or ``--reject`` (with ``--comment``) decide every approval of the run; without them
    the reviewer is asked on the console (``y`` approves, anything else rejects).
    """
    if APPROVAL["decision"] is not None:
        return bool(APPROVAL["decision"]), str(APPROVAL["comment"])
    print(f"Approval needed: {title} ({node_id})", file=sys.stderr)
    if instructions:
        print(instructions, file=sys.stderr)
    print(json.dumps(values, indent=2, ensure_ascii=False), file=sys.stderr)
    print("Approve? [y/N] ", end="", file=sys.stderr, flush=True)  # prompts on stderr: stdout is the result
    approved = sys.stdin.readline().strip().lower() in ("y", "yes")
    print("Comment (optional): ", end="", file=sys.stderr, flush=True)
    return approved, sys.stdin.readline().strip()


def render(source: str, variables: dict[str, Any]) -> str:
    """Render a prompt template like the studio does: Jinja2 sandbox, strict variables, vars.<name>."""
    variables = {**variables, "vars": VARS}
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


KINDS = {str: "text", int: "a whole number", float: "a number", bool: "true or false"}


def describe_fields(model: type[BaseModel]) -> str:
    """One line per output field, like the studio's engine: name, kind of value, description.
    No sample values (a small model copies them into its answer)."""
    lines = []
    for name, info in model.model_fields.items():
        annotation = info.annotation
        choices = getattr(annotation, "__args__", ()) if getattr(annotation, "__origin__", None) is Literal else ()
        if choices:
            kind = "one of " + ", ".join(f'"{choice}"' for choice in choices)
        elif getattr(annotation, "__origin__", None) is list:
            kind = "a list"
        elif isinstance(annotation, type) and issubclass(annotation, dict):
            kind = "an object"
        else:
            kind = KINDS.get(annotation, "text") if isinstance(annotation, type) else "a value"
        line = f'- "{info.alias or name}" ({kind})'
        if info.description:
            line += f": {info.description}"
        lines.append(line)
    return "\\n".join(lines)


def blank_required_text(answer: BaseModel) -> list[str]:
    """Required text fields the model left blank: empty, or without a letter or digit ("{", "...").
    Like the studio's engine, a blank answer is retried like a schema error."""
    return [
        info.alias or name
        for name, info in type(answer).model_fields.items()
        if info.is_required() and isinstance(getattr(answer, name), str)
        and not any(char.isalnum() for char in getattr(answer, name))
    ]


# Like the studio's gateway: on grammar endpoints (llama.cpp), free text must start with a
# letter or digit, or a small model answers JSON fragments such as "{" (traces/structured.py).
TEXT_START_PATTERN = r'^[^ -/:-@\\[-`{-~\\t\\n\\r][^"\\\\\\n\\r]*$'


def with_text_patterns(schema: Any) -> Any:
    """A copy of ``schema`` whose plain string schemas carry ``TEXT_START_PATTERN`` (grammar only)."""
    if isinstance(schema, list):
        return [with_text_patterns(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out = {key: with_text_patterns(value) for key, value in schema.items()}
    if schema.get("type") == "string" and not any(k in schema for k in ("pattern", "enum", "const", "format", "maxLength")):
        out["pattern"] = TEXT_START_PATTERN
    return out


async def call_model(node_id: str, endpoint: str, messages: list[dict[str, Any]],
                     schema: dict[str, Any] | None = None, params: dict[str, Any] | None = None) -> str:
    """One chat completion through LiteLLM; records a span with tokens and latency."""
    target = ENDPOINTS.get(endpoint, {"model": endpoint, "api_base": None, "structured_output": "json_schema", "params": {}})
    model = OVERRIDE["model"] or target["model"]
    api_base = OVERRIDE["api_base"] or target["api_base"]
    # The endpoint's pinned parameters (e.g. temperature 0 and a seed) win over the node's.
    kwargs: dict[str, Any] = {"model": model, "messages": messages, **(params or {}), **target.get("params", {})}
    if api_base:
        kwargs["api_base"] = api_base
        kwargs.setdefault("api_key", os.environ.get("OPENAI_API_KEY") or "not-needed")
    if schema is not None:
        how = target["structured_output"]
        if how == "json_object_schema":
            kwargs["response_format"] = {"type": "json_object", "schema": with_text_patterns(schema)}
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
        "node_id": node_id, "iteration": ITERATION.get(), "model": model,
        "input": {"messages": messages}, "output": {"text": text},
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
        return json.loads(stripped, strict=False)  # small models put raw newlines in strings
    except json.JSONDecodeError:
        start, end = stripped.find("{"), stripped.rfind("}")
        if 0 <= start < end:
            return json.loads(stripped[start:end + 1], strict=False)
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
            answer = output_model.model_validate(parse_json_answer(text))
            blank = blank_required_text(answer)
            if not blank:
                return answer
            error = "; ".join(f"{name}: must not be empty, write it in words" for name in blank)
        except (ValueError, ValidationError) as exc:
            error = str(exc).splitlines()[0]
        if attempt == 1:
            conversation = [*conversation, {"role": "assistant", "content": text}, {
                "role": "user",
                "content": f"That answer was rejected: {error}. Reply again with only a JSON object that matches the schema.",
            }]
    raise RuntimeError(f"node {node_id}: the model's answer did not fit the output signature: {error}")


def wire(results: dict[str, dict[str, Any] | None], sources: dict[str, tuple[str, str]],
         required: tuple[str, ...] = (), mode: str = "node") -> dict[str, Any] | None:
    """A node's inputs: ``{input port: (source node, source port)}`` over the edges whose source ran
    and emitted that port (a router emits only its chosen route). Like the studio's engine:

    - ``node``: skipped (None) when no edge carries a value, or a required input gets none;
    - ``join``: skipped only when no edge carries a value (it takes what ran);
    - ``output``: a required field without a value fails the run.
    """
    raw = {}
    for port, (source, source_port) in sources.items():
        emitted = results.get(source)
        if emitted is not None and source_port in emitted:
            raw[port] = emitted[source_port]
    missing = [port for port in required if port in sources and port not in raw]
    if mode == "output":
        if missing:
            raise RuntimeError(f"missing_output: no value reached the output field(s) {', '.join(missing)}")
        return raw
    if sources and (not raw or (mode == "node" and missing)):
        return None
    return raw


async def step(node_id: str, node_type: str, func: Any, inputs_model: type[BaseModel],
               raw: dict[str, Any] | None, iteration: str = "") -> dict[str, Any] | None:
    """Validate a node's inputs, run it, record the step (inputs, outputs, tokens, duration).

    ``raw`` None means the node is skipped (its branch did not run): recorded, and it emits nothing.
    """
    if raw is None:
        STEPS.append({"node_id": node_id, "iteration": iteration, "node_type": node_type, "status": "skipped",
                      "started_at": time.time()})
        return None
    started = time.time()
    first_span = len(SPANS)
    token = ITERATION.set(iteration)
    try:
        inputs = inputs_model.model_validate(raw)
        outputs = await func(inputs)
    finally:
        ITERATION.reset(token)
    spans = [s for s in SPANS[first_span:] if s["node_id"] == node_id and s["iteration"] == iteration]
    data = outputs.model_dump(by_alias=True, exclude_unset=node_type in BRANCHING)
    STEPS.append({
        "node_id": node_id, "iteration": iteration, "node_type": node_type, "status": "succeeded",
        "inputs": inputs.model_dump(by_alias=True), "outputs": data, "started_at": started,
        "input_tokens": sum(s["input_tokens"] for s in spans),
        "output_tokens": sum(s["output_tokens"] for s in spans),
        "duration_ms": round((time.time() - started) * 1000, 1),
    })
    return data


def _otlp_value(value: Any) -> dict[str, Any]:
    if isinstance(value, bool):
        return {"boolValue": value}
    if isinstance(value, int):
        return {"intValue": str(value)}
    if isinstance(value, float):
        return {"doubleValue": value}
    return {"stringValue": value if isinstance(value, str) else json.dumps(value, default=str)}


def _otlp_span(trace_id: str, span_id: str, parent: str, name: str, start: float, end: float,
               attributes: dict[str, Any], error: str = "") -> dict[str, Any]:
    return {
        "traceId": trace_id, "spanId": span_id, "parentSpanId": parent, "name": name[:200],
        "startTimeUnixNano": str(int(start * 1e9)), "endTimeUnixNano": str(int(max(end, start) * 1e9)),
        "attributes": [{"key": k, "value": _otlp_value(v)} for k, v in attributes.items() if v is not None],
        "status": {"code": 2, "message": error} if error else {"code": 1},
    }


def trace_spans(started: float, error: str = "") -> tuple[str, list[dict[str, Any]]]:
    """The run as OpenTelemetry spans (OTLP JSON): the run, one span per step, one per model call."""
    trace_id, root = os.urandom(16).hex(), os.urandom(8).hex()
    ended = time.time()
    spans = [_otlp_span(trace_id, root, "", f"{WORKFLOW['slug']} (python export)", started, ended, {
        "studio.span_kind": "workflow", "studio.workflow": WORKFLOW["slug"],
        "studio.workflow_version": WORKFLOW.get("version"),
    }, error)]
    step_ids: dict[tuple[str, str], str] = {}
    for item in STEPS:
        span_id = os.urandom(8).hex()
        step_ids[(item["node_id"], item.get("iteration", ""))] = span_id
        begin = item.get("started_at") or started
        name = item["node_id"] + (f"[{item['iteration']}]" if item.get("iteration") else "")
        spans.append(_otlp_span(trace_id, span_id, root, name, begin, begin + item.get("duration_ms", 0) / 1000, {
            "studio.span_kind": "step", "studio.node_id": item["node_id"], "studio.node_type": item["node_type"],
            "studio.step_status": item["status"],
        }))
    for call in SPANS:
        parent = step_ids.get((call["node_id"], call["iteration"]), root)
        spans.append(_otlp_span(trace_id, os.urandom(8).hex(), parent, f"chat {call['model']}", call["started_at"],
                                call["started_at"] + call["latency_ms"] / 1000, {
            "gen_ai.operation.name": "chat", "gen_ai.request.model": call["model"],
            "gen_ai.usage.input_tokens": call["input_tokens"], "gen_ai.usage.output_tokens": call["output_tokens"],
            "gen_ai.input.messages": call["input"]["messages"],
            "gen_ai.output.messages": [{"role": "assistant", "content": call["output"]["text"]}],
            "studio.node_id": call["node_id"],
        }))
    return trace_id, spans


def send_trace(studio_url: str, api_key: str, started: float, error: str = "") -> None:
    """Send the run (the run, its steps and model calls) to the studio's OTLP receiver as OTLP JSON."""
    trace_id, spans = trace_spans(started, error)
    body = json.dumps({"resourceSpans": [{
        "resource": {"attributes": [
            {"key": "service.name", "value": {"stringValue": f"{WORKFLOW['slug']} (python export)"}},
            {"key": "studio.project", "value": {"stringValue": WORKFLOW["project"]}},
        ]},
        "scopeSpans": [{"scope": {"name": "studio-python-export"}, "spans": spans}],
    }]}, default=str).encode()
    request = urllib.request.Request(
        studio_url.rstrip("/") + "/api/v1/otel/v1/traces", data=body, method="POST",
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {api_key}"},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            print(f"trace {trace_id} sent to the studio ({response.status})", file=sys.stderr)
    except urllib.error.HTTPError as exc:
        print(f"the studio refused the trace: HTTP {exc.code} {exc.reason}", file=sys.stderr)
    except urllib.error.URLError as exc:
        print(f"could not reach the studio: {exc.reason}", file=sys.stderr)
'''

MAIN = """

# -------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").strip().split("\\n", 1)[0])
    parser.add_argument("--input", default="{}", help="workflow inputs as a JSON object (or @file.json)")
    parser.add_argument("--model", help="LiteLLM model string for every model node, e.g. openai/gpt-4o-mini")
    parser.add_argument("--api-base", help="base URL of an OpenAI-compatible server for every model node")
    parser.add_argument("--studio-url", help="send the trace of this run to this studio")
    parser.add_argument("--api-key", default=os.environ.get("STUDIO_API_KEY"), help="studio API key (sk_...)")
    decide = parser.add_mutually_exclusive_group()
    decide.add_argument("--approve", action="store_true", help="approve every approval node (no prompt)")
    decide.add_argument("--reject", action="store_true", help="reject every approval node (no prompt)")
    parser.add_argument("--comment", default="", help="the reviewer's comment with --approve / --reject")
    args = parser.parse_args(argv)
    if args.approve or args.reject:
        APPROVAL["decision"], APPROVAL["comment"] = bool(args.approve), args.comment
    raw = args.input
    if raw.startswith("@"):
        with open(raw[1:], encoding="utf-8") as handle:
            raw = handle.read()
    inputs = json.loads(raw)
    OVERRIDE["model"], OVERRIDE["api_base"] = args.model, args.api_base
    error = ""
    outputs: dict[str, Any] = {}
    started = time.time()
    try:
        outputs = asyncio.run(run_workflow(inputs))
    except Exception as exc:  # report, send the partial trace, exit non-zero
        error = f"{type(exc).__name__}: {exc}"
        print(error, file=sys.stderr)
    if args.studio_url:
        if not args.api_key:
            print("--studio-url needs --api-key (or STUDIO_API_KEY)", file=sys.stderr)
        else:
            send_trace(args.studio_url, args.api_key, started, error)
    if error:
        return 1
    print(json.dumps(outputs, indent=2, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
"""


def _ident(text: str, prefix: str = "n") -> str:
    """An ASCII identifier from a label (accents folded: ``Résumé`` → ``resume``)."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    name = re.sub(r"[^0-9A-Za-z_]+", "_", ascii_text).strip("_").lower()[:60].rstrip("_") or prefix
    if name[0].isdigit() or keyword.iskeyword(name):
        name = f"{prefix}_{name}"
    return name


def _is_plain(text: str) -> bool:
    """True when ``text`` can sit inside a triple-quoted docstring as is: only
    printable characters and newlines, no quote and no backslash."""
    return all(char == "\n" or (char.isprintable() and char not in '"\\') for char in text)


def _docstring(text: str, indent: str = "") -> str:
    """A docstring literal for ``text`` (``indent``: of the lines after the
    first). Triple-quoted when :func:`_is_plain`; otherwise one ``repr``
    literal per line in parentheses — either way it cannot end early, hold an
    invalid escape or carry code."""
    if _is_plain(text):
        first, *rest = text.split("\n")
        lines = [first, *[indent + line if line else "" for line in rest]]
        if rest and not rest[-1]:
            lines[-1] = indent  # the closing quotes line up with the code
        return '"""' + "\n".join(lines) + '"""'
    lines = text.splitlines(keepends=True) or [""]
    return "(\n" + "".join(f"{indent}    {line!r}\n" for line in lines) + indent + ")"


def _comment(text: str, limit: int = 80) -> str:
    """``text`` for a ``#`` comment: as a ``repr`` literal (no line break can
    end the comment), shortened past ``limit`` characters."""
    return repr(text if len(text) <= limit else text[:limit] + "…")


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
    lines = [f"class {class_name}(BaseModel):", "    " + _docstring(doc, "    "), ""]
    lines.append('    model_config = ConfigDict(extra="forbid", populate_by_name=True)')
    if fields:
        lines.append("")
    taken = {spec["name"] for spec in fields}
    for index, spec in enumerate(fields, start=1):
        name = spec["name"]
        attr = name if name not in _BASEMODEL_NAMES and not keyword.iskeyword(name) else f"{name}_"
        if not name.isascii():  # Python folds identifiers (NFKC): two names could become one
            attr = f"field_{index}"
            while attr in taken:
                attr += "_"
        taken.add(attr)
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
            kwargs.insert(0, f"default={_literal(spec.get('default'))}")
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


def _variables(project_id: int, graph: dict[str, Any]) -> dict[str, Any]:
    """``{name: value}`` of the project variables ``graph`` reads (names it reads that the project lacks are left
    out: the script then fails on them like a run would)."""
    from agents.engine.varrefs import graph_variable_names
    from studio.models import Variable

    names = graph_variable_names(graph)
    if not names:
        return {}
    return dict(Variable.objects.filter(project_id=project_id, name__in=names).values_list("name", "value"))


def _endpoints(project_id: int, slugs: set[str]) -> dict[str, dict[str, Any]]:
    from traces.models import ModelEndpoint

    out: dict[str, dict[str, Any]] = {}
    # Only what can be a slug is looked up (a NUL or a lone surrogate cannot even be sent to PostgreSQL).
    candidates = [slug for slug in slugs if re.fullmatch(r"[-A-Za-z0-9_]{1,100}", slug)]
    for endpoint in ModelEndpoint.objects.filter(project_id=project_id, slug__in=candidates):
        out[endpoint.slug] = {
            "model": endpoint.model,
            "api_base": endpoint.api_base or None,
            "structured_output": endpoint.structured_output,
            "params": dict(endpoint.pinned_params or {}),
        }
    for slug in slugs - set(out):
        out[slug] = {"model": slug, "api_base": None, "structured_output": "json_schema", "params": {}}
    return out


class Untranslatable(Exception):
    """A node config the Python export cannot translate; the node's function raises instead."""


_COMPARE_OPS = {"eq": "==", "ne": "!=", "lt": "<", "lteq": "<=", "gt": ">", "gteq": ">=", "in": "in", "notin": "not in"}
_SUBSET = "only comparisons, and/or/not, in, literals and field names are translated"


def python_condition(source: str, variables: str = "v") -> str:
    """The Python form of the Jinja2 expression ``source`` over the dict ``variables``.

    Parsed with Jinja2's own parser (so precedence and literals mean what they
    mean in the studio), then translated node by node from a small whitelist:
    comparisons (``== != < <= > >= in``, ``not in``), ``and``/``or``/``not``,
    literals (strings, numbers, true/false/none, lists of those) and field
    names. Anything else (filters, tests, calls, attributes, arithmetic)
    raises :class:`Untranslatable`. The result is never ``eval``-ed here.
    """
    import jinja2
    from jinja2 import nodes

    if not source.strip():
        raise Untranslatable("the expression is empty")
    try:
        tree = jinja2.Environment(autoescape=True).parse("{{ (" + source + ") }}")
    except jinja2.TemplateSyntaxError as exc:
        raise Untranslatable(f"the expression {source!r} does not parse: {exc.message}") from None
    body = tree.body
    if len(body) != 1 or not isinstance(body[0], nodes.Output) or len(body[0].nodes) != 1:
        raise Untranslatable(f"{source!r} is not a single expression")

    def convert(node: Any, inner: bool) -> str:
        def wrap(text: str) -> str:
            return f"({text})" if inner else text

        if isinstance(node, nodes.Const) and (node.value is None or isinstance(node.value, (str, int, float, bool))):
            return _literal(node.value)
        if isinstance(node, nodes.Name) and node.ctx == "load":
            return f"{variables}[{node.name!r}]"
        if isinstance(node, (nodes.List, nodes.Tuple)):
            items = ", ".join(convert(item, True) for item in node.items)
            return f"[{items}]" if isinstance(node, nodes.List) else f"({items}{',' if len(node.items) == 1 else ''})"
        if (
            isinstance(node, nodes.Neg)
            and isinstance(node.node, nodes.Const)
            and isinstance(node.node.value, (int, float))
        ):
            return _literal(-node.node.value)
        if isinstance(node, nodes.Not):
            return wrap(f"not {convert(node.node, True)}")
        if isinstance(node, nodes.And):
            return wrap(f"{convert(node.left, True)} and {convert(node.right, True)}")
        if isinstance(node, nodes.Or):
            return wrap(f"{convert(node.left, True)} or {convert(node.right, True)}")
        if isinstance(node, nodes.Compare) and all(op.op in _COMPARE_OPS for op in node.ops):
            parts = [convert(node.expr, True)]
            for op in node.ops:
                parts += [_COMPARE_OPS[op.op], convert(op.expr, True)]
            return wrap(" ".join(parts))
        what = type(node).__name__
        if isinstance(node, nodes.Filter):
            what = f"the filter {node.name!r}"
        elif isinstance(node, nodes.Test):
            what = f"the test {node.name!r}"
        elif isinstance(node, nodes.Compare):
            what = "the comparison " + ", ".join(op.op for op in node.ops if op.op not in _COMPARE_OPS)
        raise Untranslatable(f"{source!r} uses {what}; {_SUBSET}")

    return convert(body[0].nodes[0], False)


_SCHEMA_KEYWORDS = {
    "type", "enum", "const", "minLength", "maxLength", "pattern", "minimum", "maximum", "exclusiveMinimum",
    "exclusiveMaximum", "required", "properties", "additionalProperties", "items", "minItems", "maxItems",
    "title", "description", "$schema", "default",
}  # fmt: skip


def _check_schema_subset(schema: Any, where: str) -> None:
    if not isinstance(schema, dict):
        raise Untranslatable(f"{where}: only object schemas are translated")
    unknown = sorted(set(schema) - _SCHEMA_KEYWORDS)
    if unknown:
        raise Untranslatable(f"{where}: JSON Schema keyword(s) {', '.join(unknown)} are not translated")
    if not isinstance(schema.get("additionalProperties", False), bool):
        raise Untranslatable(f"{where}: additionalProperties must be true or false to be translated")
    for sub in (schema.get("properties") or {}).values():
        _check_schema_subset(sub, where)
    if "items" in schema:
        _check_schema_subset(schema["items"], where)


GUARDRAIL_RUNTIME = '''

# --------------------------------------------------------------- guardrail
# The studio's checks, with the standard library only.

def json_schema_violations(value: Any, schema: dict[str, Any]) -> list[str]:
    """Check ``value`` (decoded first if it is a JSON string) against a JSON Schema subset."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            return ["is not valid JSON"]
    return [f"JSON Schema: {error}" for error in schema_errors(value, schema, "")]


def schema_errors(value: Any, schema: dict[str, Any], path: str) -> list[str]:
    """type, enum, const, string/number/array bounds, pattern, required, properties, additionalProperties, items."""
    where = f" at {path}" if path else ""
    types = {"string": str, "integer": int, "number": (int, float), "boolean": bool,
             "object": dict, "array": list, "null": type(None)}
    if "type" in schema:
        kinds = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        fits = any(isinstance(value, types[k]) and not (k in ("integer", "number") and isinstance(value, bool))
                   for k in kinds)
        if not fits:
            return [f"{value!r} is not of type {' or '.join(map(repr, kinds))}{where}"]
    errors = []
    if "enum" in schema and value not in schema["enum"]:
        errors.append(f"{value!r} is not one of {schema['enum']!r}{where}")
    if "const" in schema and value != schema["const"]:
        errors.append(f"{schema['const']!r} was expected{where}")
    if isinstance(value, str):
        if len(value) < schema.get("minLength", 0):
            errors.append(f"{value!r} is too short{where}")
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            errors.append(f"{value!r} is too long{where}")
        if "pattern" in schema and not re.search(schema["pattern"], value):
            errors.append(f"{value!r} does not match {schema['pattern']!r}{where}")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        for key, ok in (("minimum", lambda x, b: x >= b), ("maximum", lambda x, b: x <= b),
                        ("exclusiveMinimum", lambda x, b: x > b), ("exclusiveMaximum", lambda x, b: x < b)):
            if key in schema and not ok(value, schema[key]):
                errors.append(f"{value!r} breaks {key} {schema[key]!r}{where}")
    if isinstance(value, dict):
        for name in schema.get("required", []):
            if name not in value:
                errors.append(f"{name!r} is a required property{where}")
        properties = schema.get("properties", {})
        for name, item in value.items():
            if name in properties:
                errors += schema_errors(item, properties[name], f"{path}.{name}" if path else name)
            elif schema.get("additionalProperties") is False:
                errors.append(f"additional property {name!r} is not allowed{where}")
    if isinstance(value, list):
        if len(value) < schema.get("minItems", 0):
            errors.append(f"the list is too short{where}")
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            errors.append(f"the list is too long{where}")
        if "items" in schema:
            for index, item in enumerate(value):
                errors += schema_errors(item, schema["items"], f"{path}[{index}]")
    return errors


class JudgeVerdict(BaseModel):
    """The LLM judge's answer."""

    ok: bool = Field(description="true if the text meets the criteria")
    reason: str = Field(description="one short sentence")
'''


def _pii_runtime() -> str:
    """The studio's PII detector (``agents.engine.nodes.guardrail``), copied verbatim."""
    import inspect

    from agents.engine.nodes import guardrail as g

    lines = ["\n# Personal data patterns, as in the studio."]
    for name in ("_EMAIL", "_PHONE", "_CARD", "_DATE", "_IBAN"):
        lines.append(f"{name} = re.compile({getattr(g, name).pattern!r})")
    source = "\n".join(lines) + "\n"
    for fn in (g._luhn, g._iban_ok, g.find_pii, g._phone_like):
        source += "\n\n" + inspect.getsource(fn).replace("PiiKind", "str")
    return source


class _Emitter:
    """Builds the script's signatures, node functions and graph runners (bodies of loops and
    parallels get their own runner, recursively)."""

    def __init__(self, project_id: int) -> None:
        self.project_id = project_id
        self.used: set[str] = set()
        self.signatures: list[str] = []
        self.functions: list[str] = []
        self.runners: list[str] = []
        self.unsupported: list[str] = []  # "label (id): reason"
        self.endpoint_slugs: set[str] = set()
        self.guardrail = False
        self.pii = False
        self.classes: dict[str, str] = {}  # node function name -> class name prefix

    def cls(self, fn: str) -> str:
        """The unique class-name prefix of the node whose function is ``node_<fn>``."""
        if fn not in self.classes:
            base = _pascal(fn)
            candidate, n = base, 2
            while candidate in self.classes.values():
                candidate, n = f"{base}{n}", n + 1
            self.classes[fn] = candidate
        return self.classes[fn]

    def name(self, text: str) -> str:
        base = _ident(text)
        candidate, n = base, 2
        while candidate in self.used:
            candidate, n = f"{base}_{n}", n + 1
        self.used.add(candidate)
        return candidate

    # ------------------------------------------------------------- graphs

    def graph(self, graph: dict[str, Any], prefix: str, runner: str, doc: str) -> None:
        """Emit every node of ``graph`` and ``runner``, which runs it (step ids ``prefix + id``)."""
        nodes = {n["id"]: n for n in graph.get("nodes", [])}
        levels = _levels(graph)
        order = [i for level in levels for i in level]
        names = {i: self.name(f"{prefix.replace('.', '_')}{nodes[i].get('label') or i}") for i in order}
        for node_id in order:
            self.node(nodes[node_id], prefix + node_id, names[node_id])
        incoming: dict[str, list[dict[str, Any]]] = {}
        for edge in graph.get("edges", []):
            incoming.setdefault(edge["target"], []).append(edge)
        top = not prefix
        lines = [
            f"async def {runner}(inputs: dict[str, Any]{'' if top else ', iteration: str'}) -> dict[str, Any]:",
            "    "
            + _docstring(
                f"{doc}\n\nNodes run in dependency order, those of one level concurrently. A node fed only by\n"
                "branches that did not run (a router's other routes) is skipped, like in the studio.\n",
                "    ",
            ),
            "    results: dict[str, dict[str, Any] | None] = {}",
        ]
        final = "{}"
        suffix = "" if top else ", iteration"
        for number, level in enumerate(levels, start=1):
            calls = []
            pad = " " * (12 if len(level) > 1 else 8)
            for node_id in level:
                node = nodes[node_id]
                cls = self.cls(names[node_id])
                if node["type"] == "input":
                    raw = "inputs"
                else:
                    edges = incoming.get(node_id, [])
                    required = [
                        f["name"] for f in _ports(node)[0] if f.get("required", True) and node["type"] != "join"
                    ]
                    pairs = [f"{e['target_port']!r}: ({e['source']!r}, {e['source_port']!r})" for e in edges]
                    mode = {"join": "join", "output": "output"}.get(node["type"], "node")
                    extra = ""
                    if required and any(e["target_port"] in required for e in edges):
                        extra += f", required={tuple(required)!r}"
                    if mode != "node":
                        extra += f", mode={mode!r}"
                    raw = "wire(results, {" + ", ".join(pairs) + "}" + extra + ")"
                    head = f"step({prefix + node_id!r}, {node['type']!r}, node_{names[node_id]}, {cls}Inputs, "
                    if len(pad) + len(node_id) + 24 + len(head) + len(raw) + len(suffix) > 110:
                        raw = "wire(results, {\n" + "".join(f"{pad}    {p},\n" for p in pairs) + pad + "}" + extra + ")"
                calls.append(
                    f"step({prefix + node_id!r}, {node['type']!r}, node_{names[node_id]}, {cls}Inputs, {raw}{suffix})"
                )
                if node["type"] == "output":
                    final = f"results[{node_id!r}] or {{}}"
            titles = ", ".join(_comment(nodes[i].get("label") or i, 40) for i in level)
            lines.append(f"    # level {number}: {titles}")
            if len(calls) == 1:
                lines.append(f"    results[{level[0]!r}] = await {calls[0]}")
            else:
                targets = ", ".join(f"results[{i!r}]" for i in level)
                lines.append(f"    {targets} = await asyncio.gather(")
                lines += [f"        {call}," for call in calls]
                lines.append("    )")
        lines.append(f"    return {final}")
        self.runners.append("\n".join(lines) + "\n")

    def body(self, body: dict[str, Any], container_id: str, container_name: str, what: str) -> tuple[str, list[str]]:
        """Emit a loop/parallel body; returns (its runner's name, its input names)."""
        runner = self.name(f"run_{container_name}_{what}")
        if body.get("graph") is not None:
            graph = body["graph"]
            self.graph(
                graph, f"{container_id}.", runner, f"The {what} of {container_id}: a sub-graph, run once per call."
            )
            first = next(n for n in graph["nodes"] if n["type"] == "input")
            names = [f["name"] for f in (first.get("config") or {}).get("fields", [])]
            return runner, names
        node = dict(body["node"])
        node.setdefault("id", "body")
        child_id = f"{container_id}.{node['id']}"
        child = self.name(f"{container_name}_{node.get('label') or node['id']}")
        self.node(node, child_id, child)
        inputs, _ = _ports(node)
        names = [f["name"] for f in inputs]
        doc = _docstring(f"The {what} of {container_id}: the {node['type']} node {child_id}.", "    ")
        self.runners.append(
            f"async def {runner}(inputs: dict[str, Any], iteration: str) -> dict[str, Any]:\n"
            f"    {doc}\n"
            f"    outputs = await step({child_id!r}, {node['type']!r}, node_{child}, {self.cls(child)}Inputs, inputs, iteration)\n"
            "    return outputs or {}\n"
        )
        return runner, names

    # -------------------------------------------------------------- nodes

    def node(self, node: dict[str, Any], node_id: str, fn: str) -> None:
        kind = node["type"]
        inputs, outputs = _ports(node)
        cls = self.cls(fn)
        title = node.get("label") or node_id
        if kind == "input":
            inputs = outputs  # the run's inputs enter through the input node
        elif kind == "output":
            outputs = inputs  # and its outputs leave through the output node
        elif kind in ("router", "guardrail", "approval"):  # only the chosen ports are emitted
            outputs = [{**f, "required": False, "default": None} for f in outputs]
        self.signatures.append("\n" + _model_source(f"{cls}Inputs", inputs, f"Inputs of {title}."))
        self.signatures.append("\n" + _model_source(f"{cls}Outputs", outputs, f"Outputs of {title}."))
        head = (
            f"async def node_{fn}(inputs: {cls}Inputs) -> {cls}Outputs:\n"
            f"    {_docstring(f'The {kind} node {title!r} ({node_id}).', '    ')}\n"
        )
        try:
            body = self.node_body(node, node_id, fn, cls, inputs)
        except Untranslatable as exc:
            reason = str(exc)
            self.unsupported.append(f"{node.get('label') or node_id} ({node_id}, {kind}): {reason}")
            message = f"The Python export does not translate this {kind} node: {reason}; run it in the studio."
            body = f"    message = {_text(message)}\n    raise NotImplementedError(message)\n"
        self.functions.append("\n" + head + body)

    def node_body(self, node: dict[str, Any], node_id: str, fn: str, cls: str, inputs: list[dict[str, Any]]) -> str:
        kind, config = node["type"], node.get("config") or {}
        if kind in ("input", "output"):
            return f"    return {cls}Outputs.model_validate(inputs.model_dump(by_alias=True))\n"
        if kind == "template":
            return (
                f"    template = {_text(config.get('template', ''))}\n"
                f"    return {cls}Outputs(text=render(template, inputs.model_dump(by_alias=True)))\n"
            )
        if kind in ("llm", "agent"):
            return self.llm(node, node_id, cls)
        if kind == "router":
            return self.router(config, node_id, fn, cls, inputs)
        if kind == "join":
            return self.join(config, cls)
        if kind == "loop":
            return self.loop(config, node_id, fn, cls)
        if kind == "parallel":
            return self.parallel(config, node_id, fn, cls)
        if kind == "guardrail":
            return self.guardrail_body(config, node_id, cls, inputs)
        if kind == "approval":
            return self.approval(node, node_id, cls)
        raise Untranslatable(f"{kind!r} nodes are not translated yet")

    def approval(self, node: dict[str, Any], node_id: str, cls: str) -> str:
        """A person decides: ``--approve`` / ``--reject`` or a console prompt. Approved: the reviewed values
        and the comment go on; rejected: only ``rejected`` and ``comment`` (the approved path is skipped)."""
        config = node.get("config") or {}
        return (
            "    values = inputs.model_dump(by_alias=True)\n"
            f"    instructions = render({_text(config.get('instructions', ''))}, values).strip()\n"
            f"    approved, comment = ask_approval({node_id!r}, {_text(node.get('label') or node_id)}, instructions, values)\n"
            "    if not approved:\n"
            '        comment = comment or "Rejected."\n'
            f'        return {cls}Outputs.model_validate({{"rejected": comment, "comment": comment}})\n'
            f'    return {cls}Outputs.model_validate({{**values, "comment": comment}})\n'
        )

    def llm(self, node: dict[str, Any], node_id: str, cls: str) -> str:
        kind, config = node["type"], node.get("config") or {}
        endpoint = config.get("endpoint", "")
        self.endpoint_slugs.add(endpoint)
        if kind == "agent" and config.get("tools"):
            raise Untranslatable("agent tools are not translated")
        params = dict(config.get("params") or {})
        outputs = config.get("outputs") or [{"name": "text", "type": "str"}]
        plain = len(outputs) == 1 and outputs[0]["name"] == "text" and outputs[0].get("type", "str") == "str"
        body = "    variables = inputs.model_dump(by_alias=True)\n"
        if kind == "agent":
            body += (
                f"    instructions = render({_text(config.get('instructions', ''))}, variables).strip()\n"
                '    system = instructions + ("\\n\\n" if instructions else "") + "Reply with a JSON object with these fields:\\n"\n'
                f"    system += describe_fields({cls}Outputs)\n"
                '    user = "\\n".join(f"{name}: {format_value(value)}" for name, value in variables.items())\n'
                '    messages = [{"role": "system", "content": system}, {"role": "user", "content": user}]\n'
            )
            plain = False
        else:
            source = ""
            if config.get("prompt"):
                templates, prompt_params, where = _resolve_prompt(self.project_id, config["prompt"])
                params = {**prompt_params, **params}
                source = f"    # Messages of {_comment(where)}, as exported.\n"
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
        return body

    def router(self, config: dict[str, Any], node_id: str, fn: str, cls: str, inputs: list[dict[str, Any]]) -> str:
        routes = config.get("routes") or []
        default = config.get("default_route", "otherwise")
        forward = config.get("forward") or (inputs[0]["name"] if inputs else "value")
        names = [r["name"] for r in routes]
        if config.get("mode", "expression") == "llm":
            endpoint = config.get("endpoint", "")
            self.endpoint_slugs.add(endpoint)
            choices = names + ([default] if default and default not in names else [])
            self.signatures.append(
                f"\nclass {cls}Route(BaseModel):\n"
                f"    {_docstring(f'The route {node_id} picks.', '    ')}\n\n"
                f"    route: Literal[{', '.join(repr(c) for c in choices)}]\n"
            )
            lines = [f"- {r['name']}: {r['description']}" if r.get("description") else f"- {r['name']}" for r in routes]
            if default and default not in names:
                lines.append(f"- {default}: none of the above")
            return (
                "    # An LLM classifier picks the route; its answer is an enum over the route names.\n"
                "    variables = inputs.model_dump(by_alias=True)\n"
                f"    system = render({_text(config.get('instructions', ''))}, variables).strip()\n"
                f"    routes = {_literal(lines, indent=4)}\n"
                '    system += ("\\n\\n" if system else "") + "Pick the route that fits best:\\n" + "\\n".join(routes)\n'
                "    system += '\\nReply with a JSON object: {\"route\": <route name>}.'\n"
                '    user = "\\n".join(f"{name}: {format_value(value)}" for name, value in variables.items())\n'
                '    messages = [{"role": "system", "content": system}, {"role": "user", "content": user}]\n'
                f"    params = {_literal(dict(config.get('params') or {}), indent=4)}\n"
                f"    answer = await ask_structured({node_id!r}, {endpoint!r}, messages, {cls}Route, params)\n"
                "    route = answer.route  # type: ignore[attr-defined]\n"
                f"    # Only the chosen route's port carries the value ({forward!r}); the other branches are skipped.\n"
                f"    return {cls}Outputs.model_validate({{route: variables[{forward!r}]}})\n"
            )
        body = "    v = inputs.model_dump(by_alias=True)\n    # The routes are tried in order; the first whose condition holds wins.\n"
        for index, route in enumerate(routes):
            try:
                condition = python_condition(route.get("when", ""))
            except Untranslatable as exc:
                raise Untranslatable(f"route {route['name']!r}: {exc}") from None
            keyword_ = "if" if index == 0 else "elif"
            body += (
                f"    {keyword_} {condition}:  # {_comment(route.get('when', ''))}\n        route = {route['name']!r}\n"
            )
        fallback = (
            f"        route = {default!r}\n"
            if default
            else '        raise RuntimeError("no route condition is true and there is no default route")\n'
        )
        body += ("    else:\n" + fallback) if routes else fallback.replace("        ", "    ", 1)
        body += f"    # Only the chosen route's port carries the value ({forward!r}); the other branches are skipped.\n"
        body += f"    return {cls}Outputs.model_validate({{route: v[{forward!r}]}})\n"
        return body

    def join(self, config: dict[str, Any], cls: str) -> str:
        mode = config.get("mode", "object")
        names = tuple(f["name"] for f in config.get("inputs") or [{"name": "a"}, {"name": "b"}])
        body = (
            "    v = inputs.model_dump(by_alias=True)\n"
            "    # The branches that ran, in port order (a branch that was skipped gives None).\n"
            f"    active = [(name, v[name]) for name in {names!r} if v.get(name) is not None]\n"
        )
        if mode == "first":
            return body + (
                "    if not active:\n"
                '        raise RuntimeError("no branch produced a value")\n'
                f"    return {cls}Outputs.model_validate({{'value': active[0][1]}})\n"
            )
        if mode == "object":
            return body + f"    return {cls}Outputs(merged=dict(active))\n"
        if mode == "list":
            return body + f"    return {cls}Outputs(items=[value for _, value in active])\n"
        separator = config.get("separator", "\n\n")
        return body + f"    return {cls}Outputs(text={separator!r}.join(str(value) for _, value in active))\n"

    def loop(self, config: dict[str, Any], node_id: str, fn: str, cls: str) -> str:
        if not config.get("body") or not config.get("max_iterations"):
            raise Untranslatable("the loop needs a body and max_iterations")
        until = config.get("until", "")
        condition = python_condition(until) if until else ""
        runner, body_inputs = self.body(config["body"], node_id, fn, "body")
        rounds = int(config["max_iterations"])
        state_names = tuple(n for n in body_inputs if n != "iteration")
        lines = [
            f"    # Runs the body at most {rounds} times" + (f", until {_comment(until)}." if until else "."),
            "    state = inputs.model_dump(by_alias=True)",
            "    outputs: dict[str, Any] = {}",
            "    iteration = 0",
            f"    for iteration in range(1, {rounds + 1}):",
            "        # The body's inputs come from the state; its outputs feed the next round.",
            f"        round_inputs = {{name: state[name] for name in {state_names!r} if name in state}}",
        ]
        if "iteration" in body_inputs:
            lines.append('        round_inputs["iteration"] = iteration')
        lines += [f"        outputs = await {runner}(round_inputs, str(iteration))", "        state.update(outputs)"]
        if condition:
            lines += [
                '        v = {**state, "iteration": iteration}',
                f"        if {condition}:  # until: {_comment(until)}",
                "            break",
            ]
            if config.get("on_max") == "fail":  # for ... else: the condition never held
                lines += [
                    "    else:",
                    f'        raise RuntimeError("the exit condition did not hold within {rounds} iterations")',
                ]
        lines.append(f'    return {cls}Outputs.model_validate({{**outputs, "iterations": iteration}})')
        return "\n".join(lines) + "\n"

    def parallel(self, config: dict[str, Any], node_id: str, fn: str, cls: str) -> str:
        limit = int(config.get("max_concurrency", 4))
        if config.get("mode", "items") == "branches":
            lines = [
                "    # Every branch runs on the context fields at once; one output object per branch.",
                "    context = inputs.model_dump(by_alias=True)",
                f"    limit = asyncio.Semaphore({limit})",
                "",
                "    async def branch(run: Any, names: tuple[str, ...], key: str) -> dict[str, Any]:",
                "        async with limit:",
                "            return await run({name: context[name] for name in names if name in context}, key)",
                "",
                "    results = await asyncio.gather(",
            ]
            branch_names = []
            for item in config.get("branches") or []:
                runner, names = self.body(item["body"], node_id, fn, f"branch_{item['name']}")
                lines.append(f"        branch({runner}, {tuple(names)!r}, {item['name']!r}),")
                branch_names.append(item["name"])
            lines.append("    )")
            lines.append(
                f"    return {cls}Outputs.model_validate(dict(zip({tuple(branch_names)!r}, results, strict=True)))"
            )
            return "\n".join(lines) + "\n"
        if not config.get("body"):
            raise Untranslatable("the parallel node needs a body")
        runner, names = self.body(config["body"], node_id, fn, "body")
        item_input = config.get("item_input", "item")
        collect = config.get("collect")
        drop = config.get("on_item_error") == "drop"
        lines = [
            f"    # The body runs once per item ({item_input!r} gets the item, the context goes along),",
            f"    # at most {limit} at a time; the results keep the items' order.",
            "    values = inputs.model_dump(by_alias=True)",
            '    items = values.pop("items") or []',
            "    if len(items) > 1000:",
            '        raise RuntimeError(f"{len(items)} items is more than the limit of 1000")',
            f"    limit = asyncio.Semaphore({limit})",
            "",
            f"    async def one(index: int, item: Any) -> dict[str, Any]{' | None' if drop else ''}:",
            f"        body_inputs = {{**values, {item_input!r}: item}}",
            "        async with limit:",
        ]
        call = f"await {runner}({{name: body_inputs[name] for name in {tuple(names)!r} if name in body_inputs}}, str(index))"
        if drop:
            lines += [
                "            try:",
                f"                return {call}",
                "            except Exception as exc:  # on_item_error: drop the failed item",
                '                print(f"item {index} dropped: {exc}", file=sys.stderr)',
                "                return None",
            ]
        else:
            lines.append(f"            return {call}")
        lines += ["", "    outcomes = await asyncio.gather(*(one(i, item) for i, item in enumerate(items, start=1)))"]
        kept = "[o for o in outcomes if o is not None]" if drop else "list(outcomes)"
        if collect:
            lines.append(f"    results = [o.get({collect!r}) for o in {kept}]  # collect: {collect!r}")
        else:
            lines.append(f"    results = {kept}")
        lines.append(f"    return {cls}Outputs(results=results)")
        return "\n".join(lines) + "\n"

    def guardrail_body(self, config: dict[str, Any], node_id: str, cls: str, inputs: list[dict[str, Any]]) -> str:
        field = config.get("field") or (inputs[0]["name"] if inputs else "value")
        checks = config.get("checks")
        if checks is None:
            checks = [{"kind": "pii"}]
        lines = [
            "    v = inputs.model_dump(by_alias=True)",
            f"    value = v[{field!r}]",
            "    text = format_value(value)",
            "    violations: list[str] = []",
        ]
        for index, check in enumerate(checks, start=1):
            kind = check.get("kind")
            if kind == "pii":
                kinds = check.get("pii_kinds") or ["email", "phone", "card", "iban"]
                self.pii = True
                lines += [
                    f"    # check {index}: no personal data ({', '.join(map(repr, kinds))})",
                    f'    violations += [f"contains personal data: {{kind}}" for kind in find_pii(text, {kinds!r})]',
                ]
            elif kind == "regex":
                pattern = check.get("pattern", "")
                if check.get("must_match"):
                    lines += [
                        f"    # check {index}: must match {pattern!r}",
                        f"    if re.search({pattern!r}, text) is None:",
                        f"        violations.append({'does not match the pattern ' + repr(pattern)!r})",
                    ]
                else:
                    lines += [
                        f"    # check {index}: must not match {pattern!r}",
                        f"    if re.search({pattern!r}, text) is not None:",
                        f"        violations.append({'matches the forbidden pattern ' + repr(pattern)!r})",
                    ]
            elif kind == "json_schema":
                schema = check.get("json_schema") or {}
                _check_schema_subset(schema, f"check {index} (json_schema)")
                lines += [
                    f"    # check {index}: the value fits a JSON Schema",
                    f"    violations += json_schema_violations(value, {_literal(schema, indent=4)})",
                ]
            elif kind == "llm_judge":
                endpoint = config.get("endpoint", "")
                self.endpoint_slugs.add(endpoint)
                system = (
                    "You check text against criteria. Criteria: "
                    + check.get("criteria", "")
                    + '\nReply with a JSON object: {"ok": true|false, "reason": "..."}.'
                )
                lines += [
                    f"    # check {index}: an LLM judge decides whether the value meets the criteria",
                    f"    system = {_text(system)}",
                    '    messages = [{"role": "system", "content": system}, {"role": "user", "content": text}]',
                    f"    verdict = await ask_structured({node_id!r}, {endpoint!r}, messages, JudgeVerdict, "
                    f"{_literal(dict(config.get('params') or {}))})",
                    "    if not verdict.ok:  # type: ignore[attr-defined]",
                    '        violations.append(f"judge: {verdict.reason}")  # type: ignore[attr-defined]',
                ]
            else:
                raise Untranslatable(f"check {index}: unknown kind {kind!r}")
        self.guardrail = True
        lines += [
            "    # The value leaves through 'pass', or through 'fail' with the violations.",
            "    if violations:",
            f'        return {cls}Outputs.model_validate({{"fail": value, "violations": violations}})',
            f'    return {cls}Outputs.model_validate({{"pass": value}})',
        ]
        return "\n".join(lines) + "\n"


def _text(value: str, indent: int = 4) -> str:
    """A string literal; a long one is split into adjacent literals, one per line, in parentheses."""
    if len(repr(value)) <= 80:
        return repr(value)
    chunks = re.findall(r".{1,60}(?:\s+|$)|.{1,60}", value, re.DOTALL)
    pad = " " * (indent + 4)
    return "(\n" + "".join(f"{pad}{chunk!r}\n" for chunk in chunks if chunk) + " " * indent + ")"


def _literal(value: Any, indent: int = 0) -> str:
    """A Python literal of the JSON value ``value`` (dicts and lists laid out
    one item per line, 4 spaces deeper each level; ``indent``: of the lines
    after the first). Strings through ``repr``; ``inf``/``nan`` as
    ``float("inf")``; anything not JSON as the ``repr`` of its ``str``."""
    pad = " " * indent
    if isinstance(value, dict) and value:
        items = [f"{pad}    {_literal(str(k))}: {_literal(v, indent + 4)}" for k, v in value.items()]
        return "{\n" + ",\n".join(items) + f"\n{pad}}}"
    if isinstance(value, (list, tuple)) and value:
        items = [f"{pad}    {_literal(v, indent + 4)}" for v in value]
        return "[\n" + ",\n".join(items) + f"\n{pad}]"
    if isinstance(value, dict):
        return "{}"
    if isinstance(value, (list, tuple)):
        return "[]"
    if value is None or isinstance(value, (bool, int, str)):
        return repr(value)
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else f"float({str(value)!r})"
    return repr(str(value))


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
    ruff-clean; it is not executed here. Nodes it cannot translate get a
    function that raises ``NotImplementedError`` with the reason.
    """
    graph = graph if graph is not None else workflow.draft_graph
    emitter = _Emitter(workflow.project_id)
    emitter.used.add("workflow")  # run_workflow
    emitter.graph(graph, "", "run_workflow", "Run the workflow on ``inputs`` and return its outputs.")
    endpoints = _endpoints(workflow.project_id, emitter.endpoint_slugs - {""})

    out: list[str] = []
    label = f"version {version}" if version else "draft"
    out.append("#!/usr/bin/env python3")
    doc = [f"{workflow.name} - exported from Studio ({workflow.project.slug}/{workflow.slug}, {label}).\n"]
    if workflow.description:
        doc.append(workflow.description.strip() + "\n")
    doc.append("Runs the workflow from the command line; needs `pip install litellm pydantic`.\n")
    doc.append(f"    python {_ident(workflow.slug, 'workflow')}.py --input '{{...}}' [--model M] [--api-base URL]")
    doc.append("        [--studio-url URL --api-key sk_...]  # send the trace back to the studio\n")
    doc.append("API keys come from the provider's usual environment variables (OPENAI_API_KEY ...).")
    if emitter.unsupported:
        doc.append("\nNot translated (these nodes raise NotImplementedError):")
        for line in emitter.unsupported:
            doc += textwrap.wrap(line, 100, initial_indent="- ", subsequent_indent="  ")
    out.append(_docstring("\n".join(doc) + "\n") + "\n")
    out.append("from __future__ import annotations\n")
    out.append(
        "import argparse\nimport asyncio\nimport contextvars\nimport json\nimport os\nimport re\nimport sys\nimport time\nimport urllib.error\nimport urllib.request\nfrom typing import Any, Literal\n"
    )
    out.append("# Use LiteLLM's bundled price map instead of fetching one from the network at import time.")
    out.append('os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")\n')
    out.append(
        "import litellm  # noqa: E402\nfrom pydantic import BaseModel, ConfigDict, Field, ValidationError  # noqa: E402\n"
    )
    out.append("litellm.suppress_debug_info = True\n")
    out.append("WORKFLOW = " + _literal({"project": workflow.project.slug, "slug": workflow.slug, "version": version}))
    out.append("# Model endpoints by slug (LiteLLM model string, API base, how it takes a JSON Schema, pinned params).")
    out.append("ENDPOINTS: dict[str, dict[str, Any]] = " + _literal(endpoints) + "\n")
    out.append("# Project variables the graph reads ({{ vars.<name> }}), with their values at export time.")
    out.append("VARS: dict[str, Any] = " + _literal(_variables(workflow.project_id, graph)) + "\n")
    out.append("# Literal is used by enum fields of some signatures.")
    out.append("_ = Literal\n")
    out.append(RUNTIME.strip("\n") + "\n")
    if emitter.guardrail:
        out.append(GUARDRAIL_RUNTIME.rstrip("\n") + "\n")
        if emitter.pii:
            out.append(_pii_runtime().rstrip("\n") + "\n")
    out.append("\n# -------------------------------------------------------------- signatures\n")
    out += emitter.signatures
    out.append("\n# ------------------------------------------------------------------- nodes\n")
    out += emitter.functions
    out.append("\n# ---------------------------------------------------------------- workflow\n")
    out += ["\n" + runner.rstrip("\n") for runner in emitter.runners]
    out.append(MAIN.rstrip("\n"))
    return "\n".join(out) + "\n"
