"""Template and step size caps (issue 7, item 8).

Every payload here built a 16 to 20 MB string (or worse) inside the sandbox
before; each is now refused *before* the value is built: the test checks the
error and that the peak memory of the render stayed far below the payload's
size (tracemalloc).
"""

from __future__ import annotations

import re
import tracemalloc

import pytest

from agents.engine import Runtime, execute_graph
from agents.engine.errors import TemplateError
from agents.engine.templating import MAX_OUTPUT_CHARS, evaluate, render
from tests.agents.engine.engine_testkit import Kit, ScriptedLLM, edge, field_, io_graph, node

NS = "{% set ns = namespace(s='ab') %}"
LOOP_100 = '{% for i in range(100000) %}{{ "a" * 100 }}{% endfor %}'

PAYLOADS = {
    "center": '{{ "a"|center(20000000) }}',
    "center_through_map": '{{ ["a"]|map("center", 20000000)|list }}',
    "format_width": '{{ "{:>20000000}".format("a") }}',
    "format_map_width": '{{ "{x:>20000000}".format_map({"x": "a"}) }}',
    "format_precision": '{{ "{:.20000000f}".format(1.5) }}',
    "format_filter_width": '{{ "%20000000s"|format("a") }}',
    "percent_width": '{{ "%20000000s" % "a" }}',
    "percent_precision": '{{ "%.20000000f" % 1.5 }}',
    "percent_star": '{{ "%*s" % (20000000, "a") }}',
    "namespace_concat_doubling": NS + "{% for i in range(30) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s }}",
    "namespace_plus_doubling": NS + "{% for i in range(30) %}{% set ns.s = ns.s + ns.s %}{% endfor %}{{ ns.s }}",
    "namespace_list_doubling": "{% set ns = namespace(s=[1]) %}{% for i in range(30) %}"
    "{% set ns.s = ns.s + ns.s %}{% endfor %}{{ ns.s|length }}",
    "namespace_integer_squaring": "{% set ns = namespace(x=3) %}{% for i in range(40) %}"
    "{% set ns.x = ns.x * ns.x %}{% endfor %}{{ ns.x > 0 }}",
    "power_of_a_power": "{{ ((10 ** 1000) ** 1000) > 0 }}",
    "lipsum": "{{ lipsum(100000) }}",
    "indent": '{{ "a\nb"|indent(20000000) }}',
    "replace_filter": '{{ ("a" * 100000)|replace("a", "a" * 100) }}',
    "replace_method": '{{ ("a" * 100000).replace("a", "a" * 100) }}',
    "wordwrap": '{{ ("x " * 50000)|wordwrap(1, wrapstring="y" * 1000) }}',
    "ljust": '{{ "a".ljust(20000000) }}',
    "zfill": '{{ "1".zfill(20000000) }}',
    "expandtabs": '{{ "\t".expandtabs(20000000) }}',
    "translate": '{{ ("a" * 100000).translate({97: "b" * 1000}) }}',
    "join_method": '{{ ("a" * 100000).join(["b"] * 100) }}',
    "join_filter": '{{ range(100000)|join("a" * 1000) }}',
    "to_bytes": '{{ (1).to_bytes(20000000, "big")|length }}',
    "batch_fill": "{{ [1]|batch(20000000, 0)|list|length }}",
    "slice_fill": "{{ [1]|slice(20000000, 0)|list|length }}",
    "sum_of_lists": "{{ ([[1] * 100000] * 100)|sum(start=[])|length }}",
    "tojson_indent": '{{ {"a": [1, [2, [3]]]}|tojson(indent=10000000) }}',
    "loop_output": LOOP_100,
    "block_set": "{% set x %}" + LOOP_100 + "{% endset %}{{ x|length }}",
    "macro": "{% macro m() %}" + LOOP_100 + "{% endmacro %}{{ m()|length }}",
    "filter_block": "{% filter upper %}" + LOOP_100 + "{% endfilter %}",
    "nested_loops_in_a_block": '{% set x %}{% for i in range(100000) %}{% for j in range(100000) %}{{ "a" * 1000 }}'
    "{% endfor %}{% endfor %}{% endset %}{{ x|length }}",
}


@pytest.mark.parametrize("name", sorted(PAYLOADS))
def test_an_oversized_template_value_is_refused_before_it_is_built(name):
    tracemalloc.start()
    try:
        with pytest.raises(TemplateError) as refused:
            render(PAYLOADS[name], {})
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()

    assert re.search(r"^not allowed: .*(too large|larger than|more than 100,000 bits|indent must)", str(refused.value))
    # The payloads build 10 to 20 MB (or unbounded) values when nothing stops them.
    assert peak < 8 * 1024 * 1024, f"peak {peak:,} bytes"


def test_output_just_under_the_cap_still_renders():
    text = render('{% for i in range(9) %}{{ "a" * 100000 }}{% endfor %}{{ x|center(20) }}', {"x": "y"})

    assert len(text) == 900_000 + 20 < MAX_OUTPUT_CHARS


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ('{{ "%5s|%.2f" % ("a", 1.5) }}', "    a|1.50"),
        ('{{ "{:>5}|{x}".format("b", x=1) }}', "    b|1"),
        ('{{ "x"|center(5) }}|{{ "a\nb"|indent(2) }}', "  x  |a\n  b"),
        ('{{ [1, 2]|join(", ") }}; {{ "ab"|replace("a", "c") }}; {{ "a b"|wordwrap(1) }}', "1, 2; cb; a\nb"),
        ("{% set ns = namespace(s='a') %}{% set ns.s = ns.s ~ 'b' + 'c' %}{{ ns.s }}", "abc"),
        ("{% macro m(x) %}<{{ x }}>{% endmacro %}{{ m(1) }}{% filter upper %}up{% endfilter %}", "<1>UP"),
        (
            "{{ [[1], [2]]|sum(start=[]) }} {{ [1, 2, 3]|batch(2, 0)|list }} {{ 2 ** 10 }}",
            "[1, 2] [[1, 2], [3, 0]] 1024",
        ),
        ('{{ {"a": 1}|tojson(indent=2) }}', '{\n  "a": 1\n}'),
    ],
)
def test_ordinary_templates_are_unchanged(source, expected):
    assert render(source, {}) == expected


def test_expressions_are_capped_too():
    with pytest.raises(TemplateError, match="larger than"):
        evaluate('"a".ljust(20000000) == "a"', {})
    assert evaluate('"a".ljust(3) == "a  "', {}) is True


def template_graph(template: str, **config: object) -> dict:
    return io_graph(
        [node("t", "template", "Big", template=template, inputs=[field_("question")], **config)],
        [edge("in", "question", "t", "question"), edge("t", "text", "out", "answer")],
    )


def test_a_template_node_with_an_oversized_payload_fails_its_step(arun):
    kit = Kit(ScriptedLLM({}))

    result = arun(execute_graph(template_graph(PAYLOADS["center"]), {"question": "q"}, kit.runtime))

    assert (result.status, result.error_code, result.failed_node) == ("failed", "template_error", "t")
    assert "center() would be larger than 1,000,000 characters" in kit.steps.get("t").error


def _runtime_with_limit(kit: Kit, limit: int) -> Runtime:
    runtime = kit.runtime
    runtime.max_step_output_bytes = limit
    return runtime


def test_a_step_storing_more_than_the_limit_fails_with_output_too_large(arun):
    kit = Kit(ScriptedLLM({}))
    runtime = _runtime_with_limit(kit, 1000)

    result = arun(execute_graph(template_graph('{{ "é" * 600 }}'), {"question": "q"}, runtime))

    assert (result.status, result.error_code, result.failed_node) == ("failed", "output_too_large", "t")
    step = kit.steps.get("t")
    assert step.status == "failed" and step.outputs == {}
    assert "a step may store at most 1,000 bytes" in step.error and "STUDIO_MAX_STEP_OUTPUT_BYTES" in step.error


def test_a_step_under_the_limit_is_stored(arun):
    kit = Kit(ScriptedLLM({}))

    result = arun(execute_graph(template_graph('{{ "é" * 400 }}'), {"question": "q"}, _runtime_with_limit(kit, 1000)))

    assert result.status == "succeeded"
    assert kit.steps.get("t").outputs == {"text": "é" * 400}


def test_output_too_large_follows_on_error(arun):
    doc = template_graph('{{ "x" * 5000 }}', on_error="default", default_outputs={"text": "too big"})
    kit = Kit(ScriptedLLM({}))

    result = arun(execute_graph(doc, {"question": "q"}, _runtime_with_limit(kit, 1000)))

    assert result.outputs == {"answer": "too big"}
    assert kit.steps.get("t").error_code == "output_too_large"
