"""The engine's one Jinja2 sandbox: templates and expressions.

Everything a builder writes that gets evaluated — prompt messages, agent
instructions, ``template`` nodes, router and loop conditions, http URLs and
headers — goes through :data:`ENV`, an ``ImmutableSandboxedEnvironment`` with
``StrictUndefined``: unsafe attributes are refused, data cannot be mutated,
and a missing variable is an error, never an empty string. Nothing is ever
passed to Python's ``eval``.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import jinja2
from jinja2 import meta, nodes
from jinja2.sandbox import ImmutableSandboxedEnvironment

from agents.engine.errors import TemplateError

#: Names every template may use without declaring them.
BUILTIN_NAMES = frozenset({"range", "dict", "lipsum", "cycler", "joiner", "namespace", "secret"})


def _tojson(value: Any, indent: int | None = None) -> str:
    # Jinja's own tojson escapes <, >, & for HTML; prompts want plain JSON.
    return json.dumps(value, ensure_ascii=False, indent=indent, default=str)


#: Largest string or list a template may build with ``*`` (items/characters).
MAX_REPEAT = 100_000


class _Sandbox(ImmutableSandboxedEnvironment):
    """Also refuses ``*`` and ``**`` that would build huge values
    (``"a" * 10**12`` would otherwise exhaust the worker's memory)."""

    intercepted_binops = frozenset({"*", "**"})

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if operator == "**":
            if isinstance(right, int) and abs(right) > 1000:
                raise jinja2.exceptions.SecurityError("exponent too large")
            return left**right
        for seq, count in ((left, right), (right, left)):
            if isinstance(seq, (str, list, tuple)) and isinstance(count, int):
                if len(seq) * count > MAX_REPEAT:
                    raise jinja2.exceptions.SecurityError("result too large")
        return left * right


ENV = _Sandbox(
    undefined=jinja2.StrictUndefined,
    autoescape=False,
    keep_trailing_newline=True,
)
ENV.filters["tojson"] = _tojson


@functools.lru_cache(maxsize=512)
def _compile_template(source: str) -> jinja2.Template:
    return ENV.from_string(source)


@functools.lru_cache(maxsize=512)
def _compile_expression(source: str) -> Callable[..., Any]:
    return ENV.compile_expression(source, undefined_to_none=False)


def _describe(exc: Exception) -> str:
    if isinstance(exc, jinja2.TemplateSyntaxError):
        return f"syntax error on line {exc.lineno}: {exc.message}"
    if isinstance(exc, jinja2.UndefinedError):
        return f"undefined variable: {exc.message}"
    if isinstance(exc, jinja2.exceptions.SecurityError):
        return f"not allowed: {exc}"
    return f"{type(exc).__name__}: {exc}"


def _context(variables: Mapping[str, Any], secrets: Mapping[str, str] | None) -> dict[str, Any]:
    context = dict(variables)

    def secret(name: str) -> str:
        if secrets is None or name not in secrets:
            raise TemplateError(f"secret {name!r} is not available here")
        return secrets[name]

    context["secret"] = secret
    return context


def render(source: str, variables: Mapping[str, Any], *, secrets: Mapping[str, str] | None = None) -> str:
    """Render the template ``source`` with ``variables``.

    ``secret("NAME")`` returns ``secrets["NAME"]`` (resolved beforehand by the
    caller, see :func:`secret_names`). Raises :class:`TemplateError` for a
    syntax error, an undefined variable or a refused operation.
    """
    try:
        return _compile_template(source).render(_context(variables, secrets))
    except TemplateError:
        raise
    except Exception as exc:  # noqa: BLE001 - user templates may raise anything (1/0, bad types)
        raise TemplateError(_describe(exc)) from None


def evaluate(source: str, variables: Mapping[str, Any]) -> Any:
    """Evaluate the Jinja2 expression ``source`` (e.g. ``score > 0.5 and
    "refund" in text | lower``) over ``variables``. Raises
    :class:`TemplateError`."""
    try:
        return _compile_expression(source)(**_context(variables, None))
    except TemplateError:
        raise
    except Exception as exc:  # noqa: BLE001 - user templates may raise anything (1/0, bad types)
        raise TemplateError(_describe(exc)) from None


def template_variables(source: str) -> set[str]:
    """Names a template reads from its context (built-ins excluded).
    Raises :class:`TemplateError` when it does not parse."""
    try:
        ast = ENV.parse(source)
        ENV.compile(source)  # unknown filters and tests only show up when compiling
    except jinja2.TemplateSyntaxError as exc:  # TemplateAssertionError included
        raise TemplateError(_describe(exc)) from None
    return set(meta.find_undeclared_variables(ast)) - BUILTIN_NAMES


def template_problems(source: str, allowed: Iterable[str] | None = None) -> list[str]:
    """Static problems of a template: a syntax error, or (when ``allowed`` is
    given) variables that are not among ``allowed``. Empty when fine."""
    try:
        used = template_variables(source)
    except TemplateError as exc:
        return [str(exc)]
    if allowed is None:
        return []
    unknown = sorted(used - set(allowed))
    return [f"uses undefined variable {name!r}" for name in unknown]


def expression_problems(source: str, allowed: Iterable[str] | None = None) -> list[str]:
    """Static problems of an expression (see :func:`template_problems`)."""
    if not source.strip():
        return ["the expression is empty"]
    try:
        _compile_expression(source)
    except Exception as exc:  # noqa: BLE001 - report any parse failure as a problem
        return [_describe(exc)]
    return template_problems("{{ (" + source + ") }}", allowed)


def secret_names(source: str) -> tuple[set[str], list[str]]:
    """The secret names a template reads with ``secret("NAME")``, and
    problems (a ``secret(...)`` whose argument is not a string literal, or a
    syntax error). The caller fetches those secrets before rendering."""
    try:
        ast = ENV.parse(source)
    except jinja2.TemplateSyntaxError as exc:
        return set(), [_describe(exc)]
    names: set[str] = set()
    problems: list[str] = []
    for call in ast.find_all(nodes.Call):
        if isinstance(call.node, nodes.Name) and call.node.name == "secret":
            args = call.args
            if len(args) == 1 and isinstance(args[0], nodes.Const) and isinstance(args[0].value, str):
                names.add(args[0].value)
            else:
                problems.append('secret(...) takes one literal name, e.g. secret("API_KEY")')
    return names, problems
