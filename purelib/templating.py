"""The engine's one Jinja2 sandbox: templates and expressions.

Everything a builder writes that gets evaluated — prompt messages, agent
instructions, ``template`` nodes, router and loop conditions, http URLs and
headers — goes through :data:`ENV`, an ``ImmutableSandboxedEnvironment`` with
``StrictUndefined``: unsafe attributes are refused, data cannot be mutated,
and a missing variable is an error, never an empty string. Nothing is ever
passed to Python's ``eval``. Sizes are capped: the rendered output, and every
string, list or integer an operation builds on the way, stay under
:data:`MAX_OUTPUT_CHARS` (:class:`_Sandbox` says how).
"""

from __future__ import annotations

import contextlib
import functools
import json
import re
import types
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextvars import ContextVar
from typing import Any

import jinja2
import jinja2.utils
from jinja2 import meta, nodes
from jinja2.compiler import CodeGenerator, Frame
from jinja2.sandbox import ImmutableSandboxedEnvironment, SandboxedFormatter
from markupsafe import Markup

from purelib.errors import TemplateError

#: Names every template may use without declaring them (``vars``: the project's variables).
BUILTIN_NAMES = frozenset({"range", "dict", "lipsum", "cycler", "joiner", "namespace", "secret", "vars"})

#: The project variables of the run being executed (``{{ vars.<name> }}``), set by :func:`project_variables`.
_variables: ContextVar[Mapping[str, Any] | None] = ContextVar("studio_project_variables", default=None)


@contextlib.contextmanager
def project_variables(values: Mapping[str, Any] | None) -> Iterator[None]:
    """Make ``values`` (name → JSON value) the ``vars`` of every template and
    expression rendered in this context — and in the tasks it starts, which
    copy the context. Outside of one, ``vars`` is empty (a ``vars.<name>``
    then fails like any undefined variable)."""
    token = _variables.set(dict(values or {}))
    try:
        yield
    finally:
        _variables.reset(token)


def _tojson(value: Any, indent: int | None = None) -> str:
    # Jinja's own tojson escapes <, >, & for HTML; prompts want plain JSON.
    if indent is not None and not 0 <= int(indent) <= 16:
        raise jinja2.exceptions.SecurityError("tojson: indent must be between 0 and 16")
    return json.dumps(value, ensure_ascii=False, indent=indent, default=str)


#: Largest string or list a template may build with ``*`` (items/characters).
MAX_REPEAT = 100_000
#: Most characters a template may render, and the largest string, list or
#: dict (characters/items) any operation inside a template may build.
MAX_OUTPUT_CHARS = 1_000_000
#: Largest integer (in bits) arithmetic inside a template may build.
MAX_INT_BITS = 100_000

# A %-format directive: %[(key)][flags][width][.precision]type
_PERCENT_SPEC = re.compile(r"%(?:\([^)]*\))?[#0 +-]*(\*|\d+)?(?:\.(\*|\d+))?")
# The width and precision of a str.format spec: [[fill]align][sign][z][#][0][width][,_][.precision][type]
_FORMAT_SPEC = re.compile(r"(?:.?[<>=^])?[+\- ]?z?#?0?(\d+)?[,_]?(?:\.(\d+))?", re.DOTALL)


def _too_large(what: str) -> jinja2.exceptions.SecurityError:
    return jinja2.exceptions.SecurityError(f"{what} would be larger than {MAX_OUTPUT_CHARS:,} characters or items")


def _check_size(value: Any, what: str = "the result") -> Any:
    """``value`` itself when its size is within the caps; raises ``SecurityError`` otherwise."""
    if isinstance(value, (str, bytes, list, tuple, dict, set, frozenset)) and len(value) > MAX_OUTPUT_CHARS:
        raise _too_large(what)
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > MAX_INT_BITS:
        raise jinja2.exceptions.SecurityError(f"{what} would be an integer of more than {MAX_INT_BITS:,} bits")
    return value


def _check_estimate(size: int, what: str) -> None:
    if size > MAX_OUTPUT_CHARS:
        raise _too_large(what)


def _check_percent_format(template: str) -> None:
    """Refuse a %-format whose width or precision is ``*`` or beyond the cap."""
    for match in _PERCENT_SPEC.finditer(template):
        for number in match.groups():
            if number == "*" or (number is not None and int(number) > MAX_OUTPUT_CHARS):
                raise jinja2.exceptions.SecurityError("a %-format width or precision is too large")


def _check_format_spec(spec: str) -> None:
    match = _FORMAT_SPEC.match(spec)
    if match is not None:
        for number in match.groups():
            if number is not None and int(number) > MAX_OUTPUT_CHARS:
                raise jinja2.exceptions.SecurityError("a format width or precision is too large")


def _length(value: Any) -> int:
    return len(value) if isinstance(value, (str, bytes)) else 0


def _join_estimate(separator: Any, items: list[Any]) -> int:
    return _length(str(separator)) * max(len(items) - 1, 0) + sum(_length(item) for item in items)


def _replace_estimate(text: str, old: str, new: str, count: int | None) -> int:
    occurrences = text.count(old) if old else len(text) + 1
    if count is not None and count >= 0:
        occurrences = min(occurrences, count)
    return len(text) + occurrences * max(len(new) - len(old), 0)


# ---------------------------------------------------------------- filters
# Each pre-check takes the filter's own arguments (without Jinja's context
# argument), refuses what would build a value past the cap *before* it is
# built, and returns the arguments to call the filter with (an iterator it
# had to read is passed on as a list).


def _pre_center(value: Any, width: int = 80, *a: Any, **k: Any) -> tuple[tuple[Any, ...], dict[str, Any]]:
    _check_estimate(int(width), "center()")
    return (value, width, *a), k


def _pre_indent(s: Any, width: Any = 4, *a: Any, **k: Any) -> tuple[tuple[Any, ...], dict[str, Any]]:
    pad = len(width) if isinstance(width, str) else int(width)
    text = str(s)
    _check_estimate(len(text) + (text.count("\n") + 1) * pad, "indent()")
    return (s, width, *a), k


def _pre_wordwrap(s: Any, width: int = 79, *a: Any, **k: Any) -> tuple[tuple[Any, ...], dict[str, Any]]:
    wrapstring = k.get("wrapstring", a[1] if len(a) > 1 else None)
    text = str(s)
    lines = len(text) // max(int(width), 1) + text.count("\n") + 1
    _check_estimate(len(text) + lines * (len(str(wrapstring)) if wrapstring is not None else 1), "wordwrap()")
    return (s, width, *a), k


def _pre_replace(s: Any, old: Any, new: Any, count: int | None = None) -> tuple[tuple[Any, ...], dict[str, Any]]:
    _check_estimate(_replace_estimate(str(s), str(old), str(new), count), "replace()")
    return (s, old, new, count), {}


def _pre_format(value: Any, *a: Any, **k: Any) -> tuple[tuple[Any, ...], dict[str, Any]]:
    _check_percent_format(str(value))
    return (value, *a), k


def _pre_join(value: Any, d: Any = "", *a: Any, **k: Any) -> tuple[tuple[Any, ...], dict[str, Any]]:
    items = list(value)
    _check_size(items, "join()")
    _check_estimate(_join_estimate(d, items), "join()")
    return (items, d, *a), k


def _pre_batch(value: Any, linecount: int, fill_with: Any = None) -> tuple[tuple[Any, ...], dict[str, Any]]:
    if fill_with is not None:
        _check_estimate(int(linecount), "batch()")
    return (value, linecount, fill_with), {}


def _pre_slice(value: Any, slices: int, fill_with: Any = None) -> tuple[tuple[Any, ...], dict[str, Any]]:
    _check_estimate(int(slices), "slice()")
    return (value, slices, fill_with), {}


def _pre_sum(iterable: Any, *a: Any, **k: Any) -> tuple[tuple[Any, ...], dict[str, Any]]:
    items = list(iterable)
    start = k.get("start", a[1] if len(a) > 1 else 0)
    if isinstance(start, (str, list, tuple)):
        _check_estimate(len(start) + sum(len(i) for i in items if isinstance(i, (str, list, tuple))), "sum()")
    return (items, *a), k


_PRE_CHECKS: dict[str, Callable[..., tuple[tuple[Any, ...], dict[str, Any]]]] = {
    "center": _pre_center,
    "indent": _pre_indent,
    "wordwrap": _pre_wordwrap,
    "replace": _pre_replace,
    "format": _pre_format,
    "join": _pre_join,
    "batch": _pre_batch,
    "slice": _pre_slice,
    "sum": _pre_sum,
}


def _capped_filter(name: str, func: Callable[..., Any]) -> Callable[..., Any]:
    """``func`` with its pre-check (if any) and the size check of its result."""
    passes_context = getattr(func, "jinja_pass_arg", None) is not None
    pre = _PRE_CHECKS.get(name)

    @functools.wraps(func)
    def capped(*args: Any, **kwargs: Any) -> Any:
        if pre is not None:
            head, rest = (args[:1], args[1:]) if passes_context else ((), args)
            rest, kwargs = pre(*rest, **kwargs)
            args = (*head, *rest)
        result = func(*args, **kwargs)
        if isinstance(result, types.GeneratorType):  # batch, slice: a list each step, checked as it goes
            return (_check_size(item, f"{name}()") for item in result)
        return _check_size(result, f"{name}()")

    return capped


def _lipsum(n: int = 5, html: bool = True, min: int = 20, max: int = 100) -> str:
    if int(n) * int(max) > MAX_OUTPUT_CHARS // 10:
        raise _too_large("lipsum()")
    text = jinja2.utils.generate_lorem_ipsum(n=n, html=html, min=min, max=max)
    _check_size(text, "lipsum()")
    return text


# ------------------------------------------------------------ method calls


def _pre_method(obj: Any, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, ...]:
    """Refuse a str/bytes/int method call that would build a value past the
    cap (``"a".ljust(10**9)``); returns the (possibly materialised) args."""
    if isinstance(obj, (str, bytes)):
        if name in ("center", "ljust", "rjust", "zfill") and args:
            _check_estimate(int(args[0]), f"{name}()")
        elif name == "expandtabs":
            tabsize = int(args[0] if args else kwargs.get("tabsize", 8))
            tab = "\t" if isinstance(obj, str) else b"\t"
            _check_estimate(len(obj) + obj.count(tab) * tabsize, "expandtabs()")  # type: ignore[arg-type]
        elif name == "replace" and len(args) >= 2 and isinstance(obj, str):
            count = args[2] if len(args) > 2 else kwargs.get("count")
            _check_estimate(_replace_estimate(obj, str(args[0]), str(args[1]), count), "replace()")
        elif name == "join" and args:
            items = list(args[0])
            _check_estimate(_join_estimate(obj, items), "join()")
            return (items, *args[1:])
        elif name == "translate" and args and isinstance(args[0], dict):
            longest = max((_length(v) for v in args[0].values()), default=1)
            _check_estimate(len(obj) * max(longest, 1), "translate()")
    elif isinstance(obj, int) and name == "to_bytes":
        length = args[0] if args else kwargs.get("length", 1)
        _check_estimate(int(length), "to_bytes()")
    return args


class _CappedFormatter(SandboxedFormatter):
    """``str.format`` in the sandbox, refusing huge widths and precisions."""

    def format_field(self, value: Any, format_spec: str) -> Any:
        _check_format_spec(format_spec)
        return _check_size(super().format_field(value, format_spec), "format()")


def _capped_join(pieces: Iterable[Any]) -> str:
    """``"".join`` of what a block, a macro or ``~`` produced, up to the cap."""
    parts: list[str] = []
    size = 0
    for piece in pieces:
        text = str(piece)
        size += len(text)
        if size > MAX_OUTPUT_CHARS:
            raise _too_large("the text")
        parts.append(text)
    return "".join(parts)


class _CappedBuffer(list[Any]):
    """The list a block, a macro or a filter block writes its output into:
    refuses to hold more than :data:`MAX_OUTPUT_CHARS` characters."""

    size = 0

    def append(self, piece: Any) -> None:
        self.size += len(piece) if isinstance(piece, str) else len(str(piece))
        if self.size > MAX_OUTPUT_CHARS:
            raise _too_large("the text")
        super().append(piece)

    def extend(self, pieces: Iterable[Any]) -> None:
        for piece in pieces:
            self.append(piece)


class _CappedCodeGenerator(CodeGenerator):
    """Compiles ``a ~ b`` into a size-checked join (Jinja would call
    ``str_join`` directly) and gives blocks a :class:`_CappedBuffer`."""

    def buffer(self, frame: Frame) -> None:
        frame.buffer = self.temporary_identifier()
        self.writeline(f"{frame.buffer} = environment.new_buffer()")

    def visit_Concat(self, node: nodes.Concat, frame: Frame) -> None:
        self.write("environment.concat((")
        for arg in node.nodes:
            self.visit(arg, frame)
            self.write(", ")
        self.write("))")


class _Sandbox(ImmutableSandboxedEnvironment):
    """Also caps the size of everything a template builds: ``*`` and ``**``
    (``"a" * 10**12`` would otherwise exhaust the worker's memory), ``+``,
    ``%``, ``~``, every filter's result (with pre-checks for ``center``,
    ``indent``, ``wordwrap``, ``replace``, ``format``, ``join``, ``batch``,
    ``slice`` and ``sum``, which would build the huge value before any check
    could see it), ``str.format`` widths, string methods (``ljust``,
    ``expandtabs`` …), ``lipsum``, blocks, macros, and the rendered output
    (:data:`MAX_OUTPUT_CHARS`)."""

    code_generator_class = _CappedCodeGenerator
    intercepted_binops = frozenset({"*", "**", "+", "%"})
    concat = staticmethod(_capped_join)
    new_buffer = _CappedBuffer

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if operator == "**":
            if isinstance(right, int) and abs(right) > 1000:
                raise jinja2.exceptions.SecurityError("exponent too large")
            if isinstance(left, int) and isinstance(right, int) and left.bit_length() * right > MAX_INT_BITS:
                raise jinja2.exceptions.SecurityError(f"the power would have more than {MAX_INT_BITS:,} bits")
            return _check_size(left**right)
        if operator == "+":
            if isinstance(left, (str, list, tuple)) and isinstance(right, (str, list, tuple)):
                _check_estimate(len(left) + len(right), "the sum")
            return _check_size(left + right)
        if operator == "%":
            if isinstance(left, str):
                _check_percent_format(left)
            return _check_size(left % right)
        for seq, count in ((left, right), (right, left)):
            if isinstance(seq, (str, bytes, list, tuple)) and isinstance(count, int):
                if len(seq) * count > MAX_REPEAT:
                    raise jinja2.exceptions.SecurityError("result too large")
        if isinstance(left, int) and isinstance(right, int) and left.bit_length() + right.bit_length() > MAX_INT_BITS:
            raise jinja2.exceptions.SecurityError(f"the product would have more than {MAX_INT_BITS:,} bits")
        return left * right

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        owner = getattr(__obj, "__self__", None)
        if owner is not None and not isinstance(owner, types.ModuleType):
            args = _pre_method(owner, getattr(__obj, "__name__", ""), args, kwargs)
        return _check_size(super().call(__context, __obj, *args, **kwargs))

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        wrapped = super().wrap_str_format(value)
        if wrapped is None or isinstance(value.__self__, Markup):
            return wrapped
        text: str = value.__self__
        formatter = _CappedFormatter(self)
        is_format_map = value.__name__ == "format_map"

        def capped(*args: Any, **kwargs: Any) -> str:
            if is_format_map:
                if kwargs or len(args) != 1:
                    raise TypeError("format_map() takes exactly one argument")
                kwargs, args = args[0], ()
            result = str(formatter.vformat(text, args, kwargs))
            _check_size(result, "format()")
            return result

        return capped


ENV = _Sandbox(
    undefined=jinja2.StrictUndefined,
    autoescape=False,
    keep_trailing_newline=True,
)
ENV.filters["tojson"] = _tojson
ENV.filters.update({name: _capped_filter(name, func) for name, func in ENV.filters.items()})
ENV.globals["lipsum"] = _lipsum


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
    context["vars"] = _variables.get() or {}  # reserved: a port named "vars" is shadowed

    def secret(name: str) -> str:
        if secrets is None or name not in secrets:
            raise TemplateError(f"secret {name!r} is not available here")
        return secrets[name]

    context["secret"] = secret
    return context


def _render_capped(template: jinja2.Template, context: dict[str, Any]) -> str:
    """Render piece by piece, stopping as soon as the output passes :data:`MAX_OUTPUT_CHARS`."""
    return _capped_join(template.generate(context))


def render(source: str, variables: Mapping[str, Any], *, secrets: Mapping[str, str] | None = None) -> str:
    """Render the template ``source`` with ``variables``.

    ``secret("NAME")`` returns ``secrets["NAME"]`` (resolved beforehand by the
    caller, see :func:`secret_names`). Raises :class:`TemplateError` for a
    syntax error, an undefined variable or a refused operation — including
    output, or any value built on the way, past :data:`MAX_OUTPUT_CHARS`.
    """
    try:
        return _render_capped(_compile_template(source), _context(variables, secrets))
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


def variable_names(source: str, *, expression: bool = False) -> tuple[set[str], list[str]]:
    """The project variables ``source`` reads — ``vars.NAME`` or ``vars["NAME"]`` —
    and problems (a syntax error). ``expression``: ``source`` is a condition
    (router ``when``, loop ``until``) rather than a template. A ``vars[...]``
    with a computed key is not reported (it is checked when it runs)."""
    text = "{{ (" + source + ") }}" if expression else source
    try:
        ast = ENV.parse(text)
    except jinja2.TemplateSyntaxError as exc:
        return set(), [_describe(exc)]
    names: set[str] = set()
    for found in ast.find_all((nodes.Getattr, nodes.Getitem)):
        if isinstance(found, nodes.Getattr):
            target, key = found.node, found.attr
        elif isinstance(found, nodes.Getitem) and isinstance(found.arg, nodes.Const):
            target, key = found.node, found.arg.value
        else:
            continue
        if isinstance(target, nodes.Name) and target.name == "vars" and target.ctx == "load" and isinstance(key, str):
            names.add(key)
    return names, []
