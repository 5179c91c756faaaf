"""Writes of prompts: create a prompt, commit a version, move a label (recorded).

Every write is atomic and audited through :func:`studio.services.audit_record`.
Bad input raises :class:`PromptError` (``code``, ``field``, ``status_code``
400) before anything is stored; a stale label move raises
:class:`PromptConflictError` (409). Permission is checked by the caller
(``access_*`` with ``change``) except for protected labels, which need the
``manage`` permission (admin, owner) and are checked here, where the rule lives.

Templates are parsed by the engine's one sandbox
(:mod:`agents.engine.templating`, pure Python, no Django): the same parser
that renders them in a run.
"""

from __future__ import annotations

import re
from typing import Any

from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils.text import slugify
from pydantic import ValidationError

from prompts.models import Prompt, PromptLabel, PromptLabelMove, PromptVersion
from prompts.usage import prompt_uses
from purelib.errors import SignatureError, TemplateError
from purelib.signature import FieldSpec, Signature, is_compatible
from purelib.templating import render, template_variables
from studio.models import Project
from studio.selectors import has_project_perm
from studio.services import audit_record

#: A label name: lower-case letters, digits, ``_``, ``.``, ``-``; 1 to 36 characters.
LABEL_NAME = re.compile(r"[a-z0-9_.-]{1,36}")
#: Labels only admins and owners may move, unless a prompt says otherwise (``Prompt.protected_labels``).
PROTECTED_LABELS = frozenset({"production"})
#: Keys a typed variable may have (every prompt variable is required: no ``required``/``default``).
VARIABLE_KEYS = frozenset({"name", "type", "description", "items", "choices"})
#: Roles a chat message may have.
MESSAGE_ROLES = ("system", "user", "assistant")
_VARIABLE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")


class PromptError(Exception):
    """Bad input for a prompt write; nothing was stored.

    ``code`` is stable (``invalid_template``, ``undeclared_variable`` …),
    ``field`` names the offending input field, ``status_code`` is the HTTP
    status an API answers with.
    """

    status_code = 400

    def __init__(self, message: str, *, code: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.field = field


class PromptConflictError(PromptError):
    """The state changed meanwhile (a stale label move, a taken slug): HTTP 409."""

    status_code = 409


class PromptContractError(PromptConflictError):
    """A label move would break published workflows (HTTP 409, ``label_breaks_workflows``).

    ``affected``: one ``{"workflow_id", "workflow", "workflow_version",
    "node_id", "node", "missing": [names]}`` per node whose inputs do not
    provide every variable the new version declares.
    """

    def __init__(self, message: str, *, affected: list[dict[str, Any]]) -> None:
        super().__init__(message, code="label_breaks_workflows", field="version")
        self.affected = affected


def check_label_name(name: str) -> str:
    """``name`` when it matches :data:`LABEL_NAME`; raises :class:`PromptError` (field ``label``)."""
    if not isinstance(name, str) or not LABEL_NAME.fullmatch(name):
        raise PromptError(
            f"Label name {name!r} is invalid: use 1 to 36 of a-z, 0-9, '_', '.', '-'.",
            code="invalid_label",
            field="label",
        )
    return name


def check_prompt_content(*, messages: Any, variables: Any, model_config: Any) -> tuple[list[dict[str, str]], list[str]]:
    """Validate a version's content; returns ``(messages, variables)`` normalised.

    ``messages``: a non-empty list of ``{"role": system|user|assistant,
    "content": str}``, each content a Jinja2 template that parses.
    ``variables``: distinct identifiers; every variable a template reads must
    be declared and every declared variable must be read by some message.
    ``model_config``: a JSON object. Raises :class:`PromptError` naming the
    field (``messages[2].content``, ``variables``, ``model_config``).
    """
    if not isinstance(messages, list) or not messages:
        raise PromptError("Give at least one message.", code="invalid_messages", field="messages")
    clean: list[dict[str, str]] = []
    used: set[str] = set()
    for index, message in enumerate(messages):
        where = f"messages[{index}]"
        if not isinstance(message, dict) or set(message) - {"role", "content"}:
            raise PromptError(f'{where}: a message is {{"role", "content"}}.', code="invalid_messages", field=where)
        role, content = message.get("role"), message.get("content")
        if role not in MESSAGE_ROLES:
            raise PromptError(
                f"{where}.role must be one of {', '.join(MESSAGE_ROLES)}.",
                code="invalid_messages",
                field=f"{where}.role",
            )
        if not isinstance(content, str) or not content.strip():
            raise PromptError(
                f"{where}.content must be a non-empty string.", code="invalid_messages", field=f"{where}.content"
            )
        try:
            used |= template_variables(content)
        except TemplateError as exc:
            raise PromptError(
                f"{where}.content does not parse: {exc}", code="invalid_template", field=f"{where}.content"
            ) from None
        clean.append({"role": role, "content": content})
    if not isinstance(variables, list) or not all(isinstance(v, str) for v in variables):
        raise PromptError("variables must be a list of names.", code="invalid_variables", field="variables")
    bad = [v for v in variables if not _VARIABLE_NAME.fullmatch(v)]
    if bad:
        raise PromptError(
            f"Invalid variable name(s): {', '.join(map(repr, bad))}.", code="invalid_variables", field="variables"
        )
    if len(set(variables)) != len(variables):
        raise PromptError("variables must be distinct.", code="invalid_variables", field="variables")
    undeclared = sorted(used - set(variables))
    if undeclared:
        raise PromptError(
            f"The messages use undeclared variable(s): {', '.join(undeclared)}.",
            code="undeclared_variable",
            field="variables",
        )
    unused = [v for v in variables if v not in used]
    if unused:
        raise PromptError(
            f"Declared variable(s) no message uses: {', '.join(unused)}.", code="unused_variable", field="variables"
        )
    if not isinstance(model_config, dict):
        raise PromptError("model_config must be a JSON object.", code="invalid_model_config", field="model_config")
    return clean, list(variables)


@transaction.atomic
def prompt_create(*, project: Project, user: Any, name: str, slug: str | None = None, description: str = "") -> Prompt:
    """Create an empty prompt (no version yet) in ``project``.

    ``slug`` defaults to ``slugify(name)``. Raises :class:`PromptError`
    (blank name or slug) or :class:`PromptConflictError` (slug taken).
    """
    name = (name or "").strip()
    if not name:
        raise PromptError("Give the prompt a name.", code="invalid_name", field="name")
    slug = slugify(slug or name)[:64]
    if not slug:
        raise PromptError("The slug must contain letters or digits.", code="invalid_slug", field="slug")
    if Prompt.objects.filter(project=project, slug=slug).exists():
        raise PromptConflictError(f'A prompt "{slug}" already exists in this project.', code="slug_taken", field="slug")
    try:
        with transaction.atomic():
            prompt = Prompt.objects.create(project=project, slug=slug, name=name[:200], description=description)
    except IntegrityError:  # created concurrently
        raise PromptConflictError(
            f'A prompt "{slug}" already exists in this project.', code="slug_taken", field="slug"
        ) from None
    audit_record(project=project, actor=user, verb="prompt.create", obj=prompt, data={"slug": slug})
    return prompt


@transaction.atomic
def prompt_version_commit(
    *,
    prompt: Prompt,
    user: Any,
    messages: Any,
    variables: Any = None,
    model_config: Any = None,
    commit_message: str = "",
) -> PromptVersion:
    """Check the content (:func:`check_prompt_content`) and create the next
    immutable version (1, 2, 3 …) of ``prompt``. ``variables``: names (typed
    ``str``) or typed fields (:func:`check_variable_fields`). Raises
    :class:`PromptError`."""
    names, fields = check_variable_fields([] if variables is None else variables)
    clean, declared = check_prompt_content(
        messages=messages,
        variables=names,
        model_config={} if model_config is None else model_config,
    )
    if len(commit_message) > 500:
        raise PromptError(
            "commit_message is longer than 500 characters.", code="invalid_commit_message", field="commit_message"
        )
    Prompt.objects.select_for_update().filter(pk=prompt.pk).first()
    last = prompt.versions.aggregate(n=Max("version"))["n"] or 0
    version = PromptVersion.objects.create(
        prompt=prompt,
        version=last + 1,
        messages=clean,
        variables=declared,
        signature=fields,
        model_config=model_config or {},
        commit_message=commit_message,
        created_by=user if getattr(user, "pk", None) else None,
    )
    audit_record(
        project=prompt.project,
        actor=user,
        verb="prompt.commit",
        obj=version,
        data={"prompt": prompt.slug, "version": version.version},
    )
    return version


def variable_problems(*, version: PromptVersion, inputs: Any) -> tuple[list[str], list[str]]:
    """What a node with input fields ``inputs`` (``FieldSpec`` dicts) lacks to render ``version``.

    Returns ``(missing, mistyped)``: the names of declared variables no input
    provides, and ``"name (str, needs int)"`` for each input whose type does not
    fit the variable's (the edge rule, ``purelib.signature.is_compatible``:
    ``int`` fits ``float``, ``enum`` fits ``str``, nothing else converts).
    """
    given: dict[str, Any] = {}
    for item in inputs:
        if isinstance(item, dict) and isinstance(item.get("name"), str):
            given[item["name"]] = item
    missing: list[str] = []
    mistyped: list[str] = []
    for field in version.variable_fields():
        name = field["name"]
        if name not in given:
            missing.append(name)
            continue
        try:
            source = FieldSpec.model_validate({**given[name], "name": name})
            target = FieldSpec.model_validate({**field, "required": True})
        except ValidationError:
            continue  # a malformed field is the engine check's to report
        if not is_compatible(source, target):
            mistyped.append(f"{name} ({source.type_label()}, needs {target.type_label()})")
    return sorted(missing), mistyped


def check_label_move_contract(*, prompt: Prompt, label: str, version: PromptVersion) -> None:
    """Refuse to point ``label`` at ``version`` when a published workflow node using that label
    (each workflow's latest published version, :func:`prompts.usage.prompt_uses`) does not
    provide every variable ``version`` declares, with a fitting type (:func:`variable_problems`).
    Raises :class:`PromptContractError` listing every such workflow, node and variable; nothing moves."""
    affected = []
    for use in prompt_uses(prompt):
        if use.label != label:
            continue
        missing, mistyped = variable_problems(version=version, inputs=use.inputs)
        if not missing and not mistyped:
            continue
        parts = ([f"lacks {', '.join(missing)}"] if missing else []) + (
            [f"gives {', '.join(mistyped)}"] if mistyped else []
        )
        affected.append(
            {
                "workflow_id": use.workflow_id,
                "workflow": use.workflow_name,
                "workflow_version": use.workflow_version,
                "node_id": use.node_id,
                "node": use.node_label,
                "missing": missing,
                "mistyped": mistyped,
                "text": f"{use.describe()} {' and '.join(parts)}",
            }
        )
    if affected:
        raise PromptContractError(
            f'Label "{label}" was not moved: version {version.version} needs variable(s) that '
            f"{len(affected)} published workflow node(s) using it do not provide: "
            + "; ".join(item["text"] for item in affected)
            + ". Fix those inputs and publish, or commit a version that does not need them.",
            affected=affected,
        )


@transaction.atomic
def prompt_label_move(
    *,
    prompt: Prompt,
    label: str,
    version: PromptVersion,
    user: Any,
    expected_version: int | None = None,
    protected_ok: bool = False,
) -> PromptLabel:
    """Point ``label`` at ``version`` and record the move (who, from, to, when).

    ``expected_version``: the version number the caller saw the label on (0
    when it saw no such label); a different current version raises
    :class:`PromptConflictError` (``stale_label``) and nothing moves. A
    protected label (:data:`PROTECTED_LABELS`) needs the ``manage``
    permission (admin, owner) unless ``user`` is None (the system) or
    ``protected_ok`` (an import creating the label on the prompt it just
    created): ``PermissionDenied`` otherwise. Raises :class:`PromptError` for a bad
    label name or a version of another prompt, and :class:`PromptContractError`
    when the version needs variables a published workflow using the label does
    not provide (:func:`check_label_move_contract`).
    """
    check_label_name(label)
    if version.prompt_id != prompt.pk:
        raise PromptError("That version belongs to another prompt.", code="foreign_version", field="version")
    if (
        label in protected_labels(prompt)
        and user is not None
        and not protected_ok
        and not has_project_perm(user, prompt.project, "manage")
    ):
        raise PermissionDenied(f'Only admins and owners may move the protected label "{label}".')
    check_label_move_contract(prompt=prompt, label=label, version=version)
    pointer = (
        PromptLabel.objects.select_for_update().select_related("version").filter(prompt=prompt, name=label).first()
    )
    previous = pointer.version if pointer else None
    current = previous.version if previous else 0
    if expected_version is not None and expected_version != current:
        raise PromptConflictError(
            f'Label "{label}" is on version {current or "none"} now, not {expected_version}: reload and retry.',
            code="stale_label",
            field="expected_version",
        )
    if pointer is None:
        try:
            with transaction.atomic():
                pointer = PromptLabel.objects.create(prompt=prompt, name=label, version=version)
        except IntegrityError:  # another request created the label since we looked
            raise PromptConflictError(
                f'Label "{label}" was just created by someone else: reload and retry.',
                code="stale_label",
                field="expected_version",
            ) from None
    else:
        pointer.version = version
        pointer.save(update_fields=["version", "updated_at"])
    PromptLabelMove.objects.create(
        prompt=prompt,
        label=label,
        from_version=previous,
        to_version=version,
        moved_by=user if getattr(user, "pk", None) else None,
    )
    audit_record(
        project=prompt.project,
        actor=user,
        verb="prompt.label_move",
        obj=prompt,
        data={"label": label, "from": previous.version if previous else None, "to": version.version},
    )
    return pointer


def prompt_version_render(*, version: PromptVersion, variables: Any) -> list[dict[str, str]]:
    """Render every message of ``version`` with ``variables`` (a JSON object).

    Strict: a missing or extra variable, a value that does not fit its
    declared type (the engine's lax rules: ``"3"`` fits ``int``, ``3`` does
    not fit ``str``), or a template error, raises :class:`PromptError`
    (``missing_variable``, ``unknown_variable``, ``mistyped_variable`` with
    field ``variables.<name>``, ``render_error``). ``secret()`` is not
    available here. Returns ``[{"role", "content"}]``.
    """
    if not isinstance(variables, dict):
        raise PromptError("variables must be a JSON object.", code="invalid_variables", field="variables")
    declared = set(version.variables)
    missing = sorted(declared - set(variables))
    if missing:
        raise PromptError(f"Missing variable(s): {', '.join(missing)}.", code="missing_variable", field="variables")
    extra = sorted(set(variables) - declared)
    if extra:
        raise PromptError(
            f"Variable(s) this version does not declare: {', '.join(extra)}.",
            code="unknown_variable",
            field="variables",
        )
    variables = check_variable_values(version=version, variables=variables)
    out = []
    for index, message in enumerate(version.messages):
        try:
            content = render(message["content"], variables)
        except TemplateError as exc:
            raise PromptError(f"messages[{index}]: {exc}", code="render_error", field="variables") from None
        out.append({"role": message["role"], "content": content})
    return out


def check_variable_fields(variables: Any) -> tuple[list[str], list[dict[str, Any]]]:
    """Normalise a version's declared variables; returns ``(names, fields)``.

    ``variables``: a list whose items are names (typed ``str``) or typed
    fields ``{"name", "type"?, "description"?, "items"?, "choices"?}`` with the
    engine's signature types (``str``, ``int``, ``float``, ``bool``, ``list``,
    ``object``, ``enum``). ``fields`` are full dicts (``name``, ``type``,
    ``description``, plus ``items``/``choices`` when set). Raises
    :class:`PromptError` (``invalid_variables``, field ``variables`` or
    ``variables[i]``). Names are checked further by :func:`check_prompt_content`.
    """
    if not isinstance(variables, list):
        raise PromptError("variables must be a list.", code="invalid_variables", field="variables")
    names: list[str] = []
    fields: list[dict[str, Any]] = []
    for index, item in enumerate(variables):
        where = f"variables[{index}]"
        if isinstance(item, str):
            item = {"name": item}
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            raise PromptError(
                f"{where}: a variable is a name or {{name, type, description}}.", code="invalid_variables", field=where
            )
        unknown = sorted(set(item) - VARIABLE_KEYS)
        if unknown:
            raise PromptError(f"{where}: unknown key(s) {', '.join(unknown)}.", code="invalid_variables", field=where)
        name = item["name"]
        if not _VARIABLE_NAME.fullmatch(name):
            raise PromptError(f"Invalid variable name {name!r}.", code="invalid_variables", field=where)
        try:
            spec = FieldSpec.model_validate({**item, "required": True})
        except ValidationError as exc:
            first = exc.errors()[0]
            key = ".".join(str(part) for part in first["loc"])
            detail = f"{key}: {first['msg']}" if key else first["msg"]
            raise PromptError(f"{where} ({name}): {detail}.", code="invalid_variables", field=where) from None
        field = {"name": spec.name, "type": spec.type, "description": spec.description}
        if spec.items:
            field["items"] = spec.items
        if spec.choices:
            field["choices"] = list(spec.choices)
        names.append(name)
        fields.append(field)
    return names, fields


def check_variable_values(*, version: PromptVersion, variables: dict[str, Any]) -> dict[str, Any]:
    """``variables`` checked against the version's typed variables and coerced
    (lax rules of :meth:`purelib.signature.Signature.validate`).
    Raises :class:`PromptError` ``mistyped_variable`` naming the first bad
    variable (field ``variables.<name>``)."""
    signature = Signature([FieldSpec.model_validate({**f, "required": True}) for f in version.variable_fields()])
    try:
        return signature.validate(variables)
    except SignatureError as exc:
        name, problems = next(iter(exc.field_errors.items()))
        spec = signature.get(name)
        expected = spec.type_label() if spec else "?"
        raise PromptError(
            f"Variable {name!r} must be {expected}: {'; '.join(problems)}.",
            code="mistyped_variable",
            field=f"variables.{name}",
        ) from None


def protected_labels(prompt: Prompt) -> frozenset[str]:
    """The labels of ``prompt`` only admins and owners may move (``Prompt.protected_labels``)."""
    configured = prompt.protected_labels
    return frozenset(configured) if isinstance(configured, list) else PROTECTED_LABELS


@transaction.atomic
def prompt_protected_labels_set(*, prompt: Prompt, user: Any, labels: Any) -> list[str]:
    """Set which labels of ``prompt`` are protected. Needs ``manage`` (admin,
    owner): ``PermissionDenied`` otherwise. ``labels``: label names
    (:data:`LABEL_NAME`), at most 20; raises :class:`PromptError` (field
    ``protected_labels``). Audited; returns the sorted list stored."""
    if not has_project_perm(user, prompt.project, "manage"):
        raise PermissionDenied("Only admins and owners may change which labels are protected.")
    if not isinstance(labels, list) or len(labels) > 20:
        raise PromptError("Give at most 20 label names.", code="invalid_label", field="protected_labels")
    for name in labels:
        try:
            check_label_name(name)
        except PromptError as exc:
            raise PromptError(exc.message, code=exc.code, field="protected_labels") from None
    clean = sorted(set(labels))
    before = sorted(protected_labels(prompt))
    Prompt.objects.filter(pk=prompt.pk).update(protected_labels=clean)
    prompt.protected_labels = clean
    audit_record(
        project=prompt.project,
        actor=user,
        verb="prompt.protect",
        obj=prompt,
        data={"before": before, "after": clean},
    )
    return clean


def detect_variables(contents: list[str]) -> tuple[list[str], dict[str, str]]:
    """The variables the templates ``contents`` read, in order of first use (message, then
    position), and the parse error of each template that does not parse, keyed by its index
    as a string: ``(["topic", "words"], {"2": "unexpected end of template"})``. Pure; for the editor."""
    found: list[tuple[int, int, str]] = []
    errors: dict[str, str] = {}
    for index, content in enumerate(contents):
        try:
            names = template_variables(content)
        except TemplateError as exc:
            errors[str(index)] = str(exc)
            continue
        for name in names:
            position = content.find(name)
            found.append((index, position if position >= 0 else len(content), name))
    ordered: list[str] = []
    for _, _, name in sorted(found):
        if name not in ordered:
            ordered.append(name)
    return ordered, errors
