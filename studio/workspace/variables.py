"""Project variables: named values that are not secret, read as ``{{ vars.<name> }}`` in runs.

A variable has a ``name`` (a template identifier: letters, digits and
underscores, not starting with a digit, not a keyword and not a name a
mapping already answers, like ``items``), a ``type`` (``str``, ``int``,
``float``, ``bool``, ``object``) and a ``value`` of that type, stored as
JSON. Values come from the API as JSON (strictly typed: ``"3"`` is not an
``int``) or from the page's form as text (parsed by type). Every change is
audited with the value (variables are not secret).

Services are keyword-only and atomic; they raise
:class:`studio.workspace.services.WorkspaceError` (field, stable ``code``)
and write nothing then. The caller fetched the project with
``access_project(perm="manage")``.
"""

from __future__ import annotations

import json
import keyword
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, transaction

from studio.lib.jsonsafe import MAX_INT, MIN_INT, JsonValueError, json_problem, loads_strict
from studio.models import Project, Variable, VariableType
from studio.services import audit_record
from studio.workspace.services import WorkspaceError

NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
#: Longest ``str`` value (characters) and largest ``object`` value (bytes of compact JSON).
MAX_STR_CHARS = 10_000
MAX_OBJECT_BYTES = 64 * 1024
MAX_DESCRIPTION = 500
#: ``vars.true`` … would not read a variable in a template.
_TEMPLATE_WORDS = frozenset({"true", "false", "none", "True", "False", "None", "and", "or", "not", "in", "is", "if"})
_TRUE = frozenset({"true", "1", "yes", "on"})
_FALSE = frozenset({"false", "0", "no", "off"})
TYPES = tuple(t.value for t in VariableType)


def check_name(value: Any) -> str:
    """A valid variable name, or :class:`WorkspaceError` (field ``name``) saying why."""
    name = str(value or "").strip()
    if not NAME.match(name):
        raise WorkspaceError(
            "Use 1 to 64 letters, digits and underscores, not starting with a digit (e.g. api_base).", field="name"
        )
    if keyword.iskeyword(name) or name in _TEMPLATE_WORDS or hasattr(dict, name):
        raise WorkspaceError(
            f"{name!r} is a reserved word in templates ({{{{ vars.{name} }}}} would not read it): choose another.",
            field="name",
        )
    return name


def _type(value: Any) -> str:
    kind = str(value or "").strip()
    if kind not in TYPES:
        raise WorkspaceError(f"Choose a type: {', '.join(TYPES)}.", field="type")
    return kind


def _int(value: int) -> int:
    if not MIN_INT <= value <= MAX_INT:
        raise WorkspaceError("The number is too large.", field="value")
    return value


def check_value(kind: str, value: Any, *, text: bool = False) -> Any:
    """``value`` as a stored value of type ``kind``.

    ``text``: the value comes from a form field and is parsed (``int``:
    ``42``; ``float``: ``0.5``; ``bool``: true/false, yes/no, 1/0, on/off;
    ``object``: a JSON object). Otherwise it is a JSON value and must already
    have the type (an ``int`` is accepted as a ``float``). Limits: text up to
    :data:`MAX_STR_CHARS` characters, objects up to :data:`MAX_OBJECT_BYTES`
    bytes of JSON. Raises :class:`WorkspaceError` (field ``value``).
    """
    kind = _type(kind)
    if text:
        value = "" if value is None else str(value)
        if kind != VariableType.STR and not value.strip():
            raise WorkspaceError(f"Enter a value of type {kind}.", field="value")
    if kind == VariableType.STR:
        if not isinstance(value, str):
            raise WorkspaceError("Enter text (a JSON string).", field="value")
        if len(value) > MAX_STR_CHARS:
            raise WorkspaceError(f"At most {MAX_STR_CHARS:,} characters.", field="value")
        problem = json_problem(value)
        if problem is not None:
            raise WorkspaceError(f"The text {problem.message}.", field="value")
        return value
    if kind == VariableType.INT:
        if text:
            try:
                return _int(int(value.strip()))
            except ValueError:
                raise WorkspaceError("Enter a whole number, like 42.", field="value") from None
        if isinstance(value, bool) or not isinstance(value, int):
            raise WorkspaceError("Enter a whole number (a JSON integer, like 42).", field="value")
        return _int(value)
    if kind == VariableType.FLOAT:
        if text:
            try:
                number = float(value.strip())
            except ValueError:
                raise WorkspaceError("Enter a number, like 0.75.", field="value") from None
        elif isinstance(value, bool) or not isinstance(value, (int, float)):
            raise WorkspaceError("Enter a number (a JSON number, like 0.75).", field="value")
        else:
            number = float(value) if abs(value) < 2**1023 else math.inf
        if not math.isfinite(number):
            raise WorkspaceError("Enter a finite number.", field="value")
        return number
    if kind == VariableType.BOOL:
        if text:
            word = value.strip().lower()
            if word in _TRUE or word in _FALSE:
                return word in _TRUE
            raise WorkspaceError("Enter true or false.", field="value")
        if not isinstance(value, bool):
            raise WorkspaceError("Enter true or false (a JSON boolean).", field="value")
        return value
    # object
    if text:
        try:
            value = loads_strict(value)
        except (ValueError, JsonValueError) as exc:
            raise WorkspaceError(f'Enter a JSON object, like {{"team": "search"}} ({exc}).', field="value") from None
    if not isinstance(value, dict):
        raise WorkspaceError('Enter a JSON object, like {"team": "search"}.', field="value")
    problem = json_problem(value)
    if problem is not None:
        raise WorkspaceError(f"The object {problem}.", field="value")
    if len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()) > MAX_OBJECT_BYTES:
        raise WorkspaceError(f"At most {MAX_OBJECT_BYTES // 1024} KiB of JSON.", field="value")
    return value


def _description(value: Any) -> str:
    text = str(value or "").strip()
    if len(text) > MAX_DESCRIPTION:
        raise WorkspaceError(f"At most {MAX_DESCRIPTION} characters.", field="description")
    return text


def _audit_value(value: Any) -> Any:
    """The value as the audit log keeps it (long text and objects shortened to 500 characters of JSON)."""
    shown = json.dumps(value, ensure_ascii=False)
    return value if len(shown) <= 500 else shown[:500] + "…"


@transaction.atomic
def variable_create(
    *, project: Project, actor: Any, name: Any, type: Any, value: Any, description: Any = "", text: bool = False
) -> Variable:
    """Create a variable; ``text``: ``value`` comes from a form (see :func:`check_value`).

    Raises :class:`WorkspaceError`: bad name, a name already used in the
    project (any case: ``duplicate``), unknown type, a value not of the type.
    """
    name = check_name(name)
    kind = _type(type)
    clean = check_value(kind, value, text=text)
    description = _description(description)
    taken = Variable.objects.filter(project=project, name__iexact=name).first()
    if taken is not None:
        raise WorkspaceError(
            f"A variable named {taken.name} already exists: change its value instead.", field="name", code="duplicate"
        )
    try:
        with transaction.atomic():
            variable = Variable.objects.create(
                project=project,
                name=name,
                type=kind,
                value=clean,
                description=description,
                created_by=actor if getattr(actor, "pk", None) else None,
            )
    except IntegrityError:
        raise WorkspaceError(f"A variable named {name} already exists.", field="name", code="duplicate") from None
    audit_record(
        project=project,
        actor=actor,
        verb="variable.create",
        obj=variable,
        data={"name": name, "type": kind, "value": _audit_value(clean)},
    )
    return variable


_UNSET: Any = object()


@transaction.atomic
def variable_update(
    *,
    variable: Variable,
    actor: Any,
    type: Any = _UNSET,
    value: Any = _UNSET,
    description: Any = _UNSET,
    text: bool = False,
) -> Variable:
    """Change a variable's type, value and/or description (its name stays).

    A new type needs a value of that type (the current one is checked
    against it when no value is given). Audited with what changed, before
    and after. Raises :class:`WorkspaceError`.
    """
    locked = Variable.objects.select_for_update().select_related("project").get(pk=variable.pk)
    kind = locked.type if type is _UNSET else _type(type)
    if value is _UNSET:
        try:
            clean = check_value(kind, locked.value)
        except WorkspaceError:
            raise WorkspaceError(
                f"The current value is not of type {kind}: give a new value with the new type.", field="value"
            ) from None
    else:
        clean = check_value(kind, value, text=text)
    new_description = locked.description if description is _UNSET else _description(description)
    before = {"type": locked.type, "value": locked.value, "description": locked.description}
    after = {"type": kind, "value": clean, "description": new_description}
    # 1 == 1.0 == True in Python: a value of another JSON type is a change too.
    changed = sorted(k for k in after if before[k] != after[k] or before[k].__class__ is not after[k].__class__)
    if not changed:
        return locked
    locked.type, locked.value, locked.description = kind, clean, new_description
    locked.save(update_fields=["type", "value", "description", "updated_at"])
    audit_record(
        project=locked.project,
        actor=actor,
        verb="variable.update",
        obj=locked,
        data={
            "name": locked.name,
            "fields": changed,
            **{f"from_{k}": _audit_value(before[k]) for k in changed},
            **{f"to_{k}": _audit_value(after[k]) for k in changed},
        },
    )
    return locked


@transaction.atomic
def variable_delete(*, variable: Variable, actor: Any) -> None:
    """Delete a variable no workflow reads.

    Raises :class:`WorkspaceError` (code ``in_use``, status 409) naming the workflows.
    """
    usages = variable_usages(variable)
    if usages:
        where = ", ".join(usage.label for usage in usages[:5])
        raise WorkspaceError(f"{variable.name} is read by {where}: remove it there first.", code="in_use", status=409)
    audit_record(
        project=variable.project,
        actor=actor,
        verb="variable.delete",
        obj=variable,
        data={"name": variable.name, "type": variable.type, "value": _audit_value(variable.value)},
    )
    variable.delete()


# ------------------------------------------------------------------ where each is used


@dataclass(frozen=True)
class VariableUsage:
    """One place that reads a variable: a ``label`` for people and a ``url``."""

    label: str
    url: str = ""


VariableUsageFinder = Callable[[Variable], list[VariableUsage]]
_finders: list[VariableUsageFinder] = []


def register_variable_usage(finder: VariableUsageFinder) -> None:
    """Add a finder (``agents`` registers the workflows'); idempotent."""
    if finder not in _finders:
        _finders.append(finder)


def variable_usages(variable: Variable) -> list[VariableUsage]:
    """Every registered place that reads ``variable``."""
    return [usage for finder in _finders for usage in finder(variable)]
