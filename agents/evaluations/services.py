"""Writes of evaluations: datasets and their rows, suites (cases x checks), suite runs, scores.

Every function is keyword-only, atomic and audited (``studio.services.audit_record``);
bad input raises :class:`EvaluationError` (a message, a stable ``code`` and
per-field or per-row ``errors``) and stores nothing. Callers fetch objects
through ``agents.selectors`` / ``agents.evaluations.selectors`` first.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.db.models import Max
from django.utils import timezone
from django.utils.text import slugify

from agents.engine.errors import GraphValidationError, SignatureError
from agents.engine.graph import input_signature, parse_graph
from agents.engine.signature import Signature, signature_of
from agents.evaluations import checks as check_fns
from agents.evaluations.models import (
    CaseResult,
    CaseStatus,
    CheckKind,
    Dataset,
    DatasetRow,
    DatasetVersion,
    Suite,
    SuiteCase,
    SuiteCheck,
    SuiteRun,
    SuiteRunStatus,
)
from agents.models import TERMINAL_RUN_STATUSES, Run, RunStatus, Workflow, WorkflowVersion
from agents.services.runs import GraphInvalidError, RunInputError, run_start
from studio.lib.jsonsafe import json_problem
from studio.models import Project
from studio.services import audit_record
from traces.models import ReplayMode, Score, ScoreSource

#: Rows one upload may hold.
MAX_UPLOAD_ROWS = 10_000
#: Cases one suite may hold, and checks.
MAX_CASES = 1_000
MAX_CHECKS = 50


class EvaluationError(Exception):
    """Bad input for an evaluation write: ``code`` is stable; ``errors`` a dict (field → message)
    or a list (``[{"row": n, "errors": {field: message}}]`` for uploads)."""

    def __init__(self, message: str, *, code: str, errors: Any = None, status: int = 400):
        super().__init__(message)
        self.message = message
        self.code = code
        self.errors = errors
        self.status = status


# ------------------------------------------------------------------ signatures


def workflow_input_fields(graph: dict[str, Any]) -> list[dict[str, Any]]:
    """The input node's fields of ``graph`` (list of field dicts).

    Raises :class:`EvaluationError` ``no_input_node`` when the graph has no
    ``input`` node (a suite or dataset needs one), ``invalid_graph`` when it
    cannot be read.
    """
    try:
        parsed = parse_graph(graph)
        if not any(node.type == "input" for node in parsed.nodes):
            raise EvaluationError(
                "The workflow has no input node: add one so that cases and dataset rows have inputs to give it.",
                code="no_input_node",
            )
        signature = input_signature(graph)
    except GraphValidationError as exc:
        raise EvaluationError(f"The workflow's graph cannot be read: {exc}", code="invalid_graph") from None
    return [spec.model_dump(mode="json") for spec in signature.fields]


def _signature(fields: list[dict[str, Any]]) -> Signature:
    return signature_of(fields)


def _check_inputs(signature: Signature, inputs: Any) -> tuple[dict[str, Any] | None, dict[str, str]]:
    """``inputs`` validated against ``signature``: (clean inputs, {}) or (None, {field: message})."""
    if not isinstance(inputs, dict):
        return None, {"inputs": "must be a JSON object"}
    unknown = sorted(set(inputs) - set(signature.names()))
    if unknown:
        return None, {name: f"not an input of the signature ({', '.join(signature.names())})" for name in unknown}
    try:
        clean = signature.validate(inputs)
    except SignatureError as exc:
        return None, {(name or "inputs"): "; ".join(problems) for name, problems in exc.field_errors.items()}
    bad = json_problem(clean)
    if bad is not None:
        return None, {bad.path or "inputs": bad.message}
    return clean, {}


def _check_expected(expected: Any) -> tuple[dict[str, Any] | None, dict[str, str]]:
    if expected in (None, ""):
        return {}, {}
    if not isinstance(expected, dict):
        return None, {"expected": "must be a JSON object of output field → value"}
    bad = json_problem(expected)
    if bad is not None:
        return None, {"expected": bad.message}
    return expected, {}


def _check_tags(tags: Any) -> tuple[list[str] | None, dict[str, str]]:
    if tags in (None, ""):
        return [], {}
    if isinstance(tags, str):
        tags = [t.strip() for t in tags.replace(";", ",").split(",")]
    if not isinstance(tags, list) or not all(isinstance(t, str) and len(t) <= 64 for t in tags):
        return None, {"tags": "a list of short texts (64 characters at most each)"}
    return [t for t in tags if t], {}


# ------------------------------------------------------------------ datasets


def _unique_dataset_slug(project: Project, name: str) -> str:
    base = slugify(name)[:56] or "dataset"
    taken = set(Dataset.objects.filter(project=project, slug__startswith=base).values_list("slug", flat=True))
    if base not in taken:
        return base
    n = 2
    while f"{base}-{n}" in taken:
        n += 1
    return f"{base}-{n}"


def dataset_create(*, project: Project, user: Any, name: str, workflow: Workflow, description: str = "") -> Dataset:
    """A new empty dataset (version 1) whose rows must fit ``workflow``'s input signature (its draft's).

    Raises :class:`EvaluationError` (``invalid_name``, ``no_input_node``).
    """
    name = (name or "").strip()
    if not name or len(name) > 200:
        raise EvaluationError(
            "Give the dataset a name (200 characters at most).",
            code="invalid_name",
            errors={"name": "required, 200 characters at most"},
        )
    fields = workflow_input_fields(workflow.draft_graph)
    with transaction.atomic():
        dataset = Dataset.objects.create(
            project=project,
            slug=_unique_dataset_slug(project, name),
            name=name,
            description=description[:2000],
            workflow=workflow,
            fields=fields,
            created_by=user if getattr(user, "pk", None) else None,
        )
        DatasetVersion.objects.create(dataset=dataset, number=1)
        audit_record(
            project=project,
            actor=user,
            verb="dataset.create",
            obj=dataset,
            data={"workflow": workflow.slug, "fields": [f["name"] for f in fields]},
        )
    return dataset


def _writable_version(dataset: Dataset) -> DatasetVersion:
    """The dataset's latest version, or — when a suite run used (locked) it — a new version copying its rows."""
    latest = DatasetVersion.objects.select_for_update().filter(dataset=dataset).order_by("-number").first()
    if latest is None:
        return DatasetVersion.objects.create(dataset=dataset, number=1)
    if not latest.is_locked:
        return latest
    fresh = DatasetVersion.objects.create(dataset=dataset, number=latest.number + 1)
    DatasetRow.objects.bulk_create(
        DatasetRow(
            version=fresh,
            position=row.position,
            inputs=row.inputs,
            expected=row.expected,
            tags=row.tags,
            source_run_id=row.source_run_id,
        )
        for row in latest.rows.all()
    )
    return fresh


def check_rows(dataset: Dataset, rows: list[dict[str, Any]], *, first_row: int = 1) -> list[dict[str, Any]]:
    """Validate ``rows`` (``{"inputs", "expected"?, "tags"?}`` each) against the dataset's signature.

    Returns the clean rows. Raises :class:`EvaluationError` ``invalid_rows``
    with ``errors = [{"row": n, "errors": {field: message}}]`` (``n``
    counted from ``first_row``) when any row is bad.
    """
    signature = _signature(dataset.fields)
    clean_rows: list[dict[str, Any]] = []
    problems: list[dict[str, Any]] = []
    for offset, row in enumerate(rows):
        errors: dict[str, str] = {}
        inputs, bad = _check_inputs(signature, row.get("inputs"))
        errors.update(bad)
        expected, bad = _check_expected(row.get("expected"))
        errors.update(bad)
        tags, bad = _check_tags(row.get("tags"))
        errors.update(bad)
        if errors:
            problems.append({"row": first_row + offset, "errors": errors})
        else:
            clean_rows.append(
                {"inputs": inputs, "expected": expected, "tags": tags, "source_run_id": row.get("source_run_id")}
            )
    if problems:
        raise EvaluationError(
            f"{len(problems)} row(s) do not fit the dataset's signature ({', '.join(signature.names())}); "
            "nothing was stored.",
            code="invalid_rows",
            errors=problems[:100],
        )
    return clean_rows


def dataset_rows_add(*, dataset: Dataset, user: Any, rows: list[dict[str, Any]], source: str = "api") -> DatasetVersion:
    """Append ``rows`` to the dataset (all or none; see :func:`check_rows`).

    A version already used by a suite run is never changed: the rows go to
    a new version that copies it. Returns the version written.
    """
    if not rows:
        raise EvaluationError("No rows to add.", code="no_rows")
    if len(rows) > MAX_UPLOAD_ROWS:
        raise EvaluationError(f"At most {MAX_UPLOAD_ROWS} rows at once.", code="too_many_rows")
    clean = check_rows(dataset, rows)
    with transaction.atomic():
        version = _writable_version(dataset)
        start = (version.rows.aggregate(m=Max("position"))["m"] or 0) + 1
        DatasetRow.objects.bulk_create(
            DatasetRow(
                version=version,
                position=start + i,
                inputs=row["inputs"],
                expected=row["expected"],
                tags=row["tags"],
                source_run_id=row["source_run_id"],
            )
            for i, row in enumerate(clean)
        )
        audit_record(
            project=dataset.project,
            actor=user,
            verb="dataset.rows_add",
            obj=dataset,
            data={"version": version.number, "rows": len(clean), "source": source},
        )
    return version


def parse_upload(dataset: Dataset, *, filename: str, content: bytes) -> list[dict[str, Any]]:
    """Rows from an uploaded ``.csv`` or ``.jsonl`` file (not yet validated against the signature).

    CSV: a header row naming input fields, ``expected.<field>`` columns and
    an optional ``tags`` column (comma- or semicolon-separated); ``list``
    and ``object`` inputs are JSON in their cell; an empty cell is a
    missing value. JSONL: one object per line, either ``{"inputs",
    "expected"?, "tags"?}`` or the inputs themselves. Raises
    :class:`EvaluationError` (``invalid_file``, ``invalid_columns``).
    """
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise EvaluationError("The file is not UTF-8 text.", code="invalid_file") from None
    name = (filename or "").lower()
    if name.endswith(".jsonl") or name.endswith(".ndjson"):
        return _parse_jsonl(text)
    if name.endswith(".csv"):
        return _parse_csv(dataset, text)
    raise EvaluationError("Upload a .csv or a .jsonl file.", code="invalid_file")


def _parse_jsonl(text: str) -> list[dict[str, Any]]:
    from studio.lib.jsonsafe import JsonValueError, loads_strict

    rows: list[dict[str, Any]] = []
    problems: list[dict[str, Any]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            value = loads_strict(line)
        except (JsonValueError, ValueError) as exc:
            problems.append({"row": number, "errors": {"line": f"not valid JSON: {exc}"}})
            continue
        if not isinstance(value, dict):
            problems.append({"row": number, "errors": {"line": "each line must be a JSON object"}})
            continue
        if "inputs" in value:
            rows.append({"inputs": value.get("inputs"), "expected": value.get("expected"), "tags": value.get("tags")})
        else:
            rows.append({"inputs": value})
    if problems:
        raise EvaluationError(
            f"{len(problems)} line(s) are not JSON objects; nothing was stored.",
            code="invalid_rows",
            errors=problems[:100],
        )
    return rows


def _parse_csv(dataset: Dataset, text: str) -> list[dict[str, Any]]:
    signature = _signature(dataset.fields)
    reader = csv.reader(io.StringIO(text))
    try:
        header = [cell.strip() for cell in next(reader)]
    except StopIteration:
        raise EvaluationError("The CSV file is empty.", code="invalid_file") from None
    except csv.Error as exc:
        raise EvaluationError(f"The CSV file cannot be read: {exc}", code="invalid_file") from None
    names = signature.names()
    unknown = [c for c in header if c not in names and c != "tags" and not c.startswith("expected.")]
    missing = [n for n in signature.required_names() if n not in header]
    duplicated = sorted({c for c in header if header.count(c) > 1})
    if unknown or missing or duplicated:
        errors: dict[str, str] = {}
        for column in unknown:
            errors[column or "(empty)"] = (
                f"not an input of the signature ({', '.join(names)}); "
                "expected values go in expected.<field> columns, tags in 'tags'"
            )
        for column in missing:
            errors[column] = "required input: the CSV has no such column"
        for column in duplicated:
            errors[column] = "column appears more than once"
        raise EvaluationError(
            f"The CSV columns do not match the signature ({', '.join(names)}); nothing was stored.",
            code="invalid_columns",
            errors=errors,
        )
    rows: list[dict[str, Any]] = []
    try:
        for record in reader:
            if not any(cell.strip() for cell in record):
                continue
            row: dict[str, Any] = {"inputs": {}, "expected": {}}
            for column, cell in zip(header, record, strict=False):
                if cell == "":
                    continue
                if column == "tags":
                    row["tags"] = cell
                elif column.startswith("expected."):
                    row["expected"][column.removeprefix("expected.")] = cell
                else:
                    spec = signature.get(column)
                    row["inputs"][column] = _cell_value(cell, spec.type if spec else "str")
            rows.append(row)
    except csv.Error as exc:
        raise EvaluationError(f"The CSV file cannot be read: {exc}", code="invalid_file") from None
    return rows


def _cell_value(cell: str, type_: str) -> Any:
    if type_ in ("list", "object"):
        try:
            return json.loads(cell)
        except ValueError:
            return cell  # the signature check names the field
    return cell


def dataset_upload(*, dataset: Dataset, user: Any, filename: str, content: bytes) -> DatasetVersion:
    """Parse and add an uploaded CSV/JSONL file's rows (all or none). Raises :class:`EvaluationError`."""
    rows = parse_upload(dataset, filename=filename, content=content)
    return dataset_rows_add(dataset=dataset, user=user, rows=rows, source=f"upload:{(filename or '')[-100:]}")


def dataset_add_run(*, dataset: Dataset, run: Run, user: Any, expected_from_outputs: bool = True) -> DatasetVersion:
    """Add a run's inputs (and, by default, its outputs as the expected values) as a row."""
    row = {
        "inputs": run.inputs,
        "expected": dict(run.outputs) if expected_from_outputs else {},
        "source_run_id": run.pk,
    }
    return dataset_rows_add(dataset=dataset, user=user, rows=[row], source=f"run:{run.pk}")


# ------------------------------------------------------------------ suites


def suite_ensure(*, workflow: Workflow) -> Suite:
    suite, _ = Suite.objects.get_or_create(workflow=workflow)
    return suite


def check_check(*, project: Project, name: Any, kind: Any, config: Any) -> dict[str, Any]:
    """A check's definition validated: ``{"name", "kind", "config"}``. The LLM judge's rubric prompt
    must exist in ``project``, declare ``output`` and no variable but ``inputs``, ``output``,
    ``expected``; its endpoint must exist. Raises :class:`EvaluationError` ``invalid_check``."""
    errors: dict[str, str] = {}
    if not isinstance(name, str) or not slugify(name) or slugify(name) != name or len(name) > 64:
        errors["name"] = "letters, digits, hyphens and underscores (64 at most), e.g. mentions-paris"
    if kind not in check_fns.KINDS:
        errors["kind"] = f"one of {', '.join(check_fns.KINDS)}"
    else:
        for problem in check_fns.config_problems(kind, config if config is not None else {}):
            key, _, message = problem.partition(": ")
            errors[key if message else "config"] = message or problem
    if not errors and kind == CheckKind.LLM_JUDGE:
        errors.update(_judge_problems(project, config))
    if errors:
        raise EvaluationError(
            "The check is not valid: " + "; ".join(f"{k}: {v}" for k, v in errors.items()),
            code="invalid_check",
            errors=errors,
        )
    return {"name": name, "kind": kind, "config": dict(config or {})}


def _judge_problems(project: Project, config: dict[str, Any]) -> dict[str, str]:
    from prompts.selectors import prompt_version_resolve
    from traces.models import ModelEndpoint

    errors: dict[str, str] = {}
    try:
        version = prompt_version_resolve(
            project_id=project.pk, slug=config["prompt"], label=config.get("label"), version=config.get("version")
        )
    except LookupError as exc:
        errors["prompt"] = str(exc)
    else:
        declared = set(version.variables)
        if "output" not in declared:
            errors["prompt"] = (
                f"{version} must use the variable 'output' (the answer being judged); "
                f"it may also use {', '.join(v for v in check_fns.JUDGE_VARIABLES if v != 'output')}"
            )
        elif declared - set(check_fns.JUDGE_VARIABLES):
            errors["prompt"] = (
                f"{version} uses {', '.join(sorted(declared - set(check_fns.JUDGE_VARIABLES)))}: "
                f"a judge's rubric may only use {', '.join(check_fns.JUDGE_VARIABLES)}"
            )
    if not ModelEndpoint.objects.filter(project=project, slug=config["endpoint"], is_active=True).exists():
        errors["endpoint"] = f"no active model endpoint {config['endpoint']!r} in this project"
    return errors


def check_case(
    *,
    signature: Signature,
    name: Any,
    inputs: Any,
    expected: Any = None,
    overrides: Any = None,
    check_names: set[str] | None = None,
) -> dict[str, Any]:
    """A case validated against the workflow's input signature. Raises :class:`EvaluationError` ``invalid_case``."""
    errors: dict[str, str] = {}
    if not isinstance(name, str) or not name.strip() or len(name) > 200:
        errors["name"] = "required, 200 characters at most"
    clean_inputs, bad = _check_inputs(signature, inputs)
    errors.update({f"inputs.{k}" if k != "inputs" else k: v for k, v in bad.items()})
    clean_expected, bad = _check_expected(expected)
    errors.update(bad)
    overrides = overrides or {}
    if not isinstance(overrides, dict) or not all(isinstance(v, dict) for v in overrides.values()):
        errors["overrides"] = 'a JSON object: check name → config keys, or {"skip": true}'
    elif check_names is not None and set(overrides) - check_names:
        errors["overrides"] = f"no such check: {', '.join(sorted(set(overrides) - check_names))}"
    if errors:
        raise EvaluationError(
            "The case is not valid: " + "; ".join(f"{k}: {v}" for k, v in errors.items()),
            code="invalid_case",
            errors=errors,
        )
    return {"name": name.strip(), "inputs": clean_inputs, "expected": clean_expected, "overrides": overrides}


def suite_check_add(*, workflow: Workflow, user: Any, name: Any, kind: Any, config: Any) -> SuiteCheck:
    """Add a check to the workflow's suite (created on first use). Raises :class:`EvaluationError`."""
    definition = check_check(project=workflow.project, name=name, kind=kind, config=config)
    with transaction.atomic():
        suite = suite_ensure(workflow=workflow)
        if suite.checks.filter(name=definition["name"]).exists():
            raise EvaluationError(
                f"The suite already has a check named {name!r}.",
                code="duplicate_check",
                errors={"name": "already used in this suite"},
            )
        if suite.checks.count() >= MAX_CHECKS:
            raise EvaluationError(f"A suite holds at most {MAX_CHECKS} checks.", code="too_many_checks")
        position = (suite.checks.aggregate(m=Max("position"))["m"] or 0) + 1
        check = SuiteCheck.objects.create(suite=suite, position=position, **definition)
        audit_record(
            project=workflow.project,
            actor=user,
            verb="suite.check_add",
            obj=suite,
            data={"workflow": workflow.slug, "check": check.name, "kind": check.kind},
        )
    return check


def suite_case_add(
    *,
    workflow: Workflow,
    user: Any,
    name: Any,
    inputs: Any,
    expected: Any = None,
    overrides: Any = None,
    dataset_row: DatasetRow | None = None,
) -> SuiteCase:
    """Add a case (inline inputs) to the workflow's suite. Raises :class:`EvaluationError`
    (``no_input_node``, ``invalid_case``)."""
    signature = _signature(workflow_input_fields(workflow.draft_graph))
    with transaction.atomic():
        suite = suite_ensure(workflow=workflow)
        case = check_case(
            signature=signature,
            name=name,
            inputs=inputs,
            expected=expected,
            overrides=overrides,
            check_names=set(suite.checks.values_list("name", flat=True)),
        )
        if suite.cases.count() >= MAX_CASES:
            raise EvaluationError(f"A suite holds at most {MAX_CASES} cases.", code="too_many_cases")
        position = (suite.cases.aggregate(m=Max("position"))["m"] or 0) + 1
        created = SuiteCase.objects.create(suite=suite, position=position, dataset_row=dataset_row, **case)
        audit_record(
            project=workflow.project,
            actor=user,
            verb="suite.case_add",
            obj=suite,
            data={"workflow": workflow.slug, "case": created.name},
        )
    return created


def suite_cases_from_dataset(*, workflow: Workflow, user: Any, version: DatasetVersion) -> list[SuiteCase]:
    """One case per row of a dataset version (inputs and expected copied). All or none."""
    signature = _signature(workflow_input_fields(workflow.draft_graph))
    rows = list(version.rows.all())
    if not rows:
        raise EvaluationError(f"{version} has no rows.", code="no_rows")
    prepared: list[tuple[DatasetRow, dict[str, Any]]] = []
    problems: list[dict[str, Any]] = []
    for row in rows:
        try:
            prepared.append(
                (
                    row,
                    check_case(
                        signature=signature,
                        name=f"{version.dataset.slug} #{row.position}",
                        inputs=row.inputs,
                        expected=row.expected,
                    ),
                )
            )
        except EvaluationError as exc:
            problems.append({"row": row.position, "errors": exc.errors})
    if problems:
        raise EvaluationError(
            "Some rows do not fit this workflow's input signature; no case was added.",
            code="invalid_rows",
            errors=problems[:100],
        )
    with transaction.atomic():
        suite = suite_ensure(workflow=workflow)
        if suite.cases.count() + len(prepared) > MAX_CASES:
            raise EvaluationError(f"A suite holds at most {MAX_CASES} cases.", code="too_many_cases")
        start = (suite.cases.aggregate(m=Max("position"))["m"] or 0) + 1
        created = SuiteCase.objects.bulk_create(
            SuiteCase(suite=suite, position=start + i, dataset_row=row, **case)
            for i, (row, case) in enumerate(prepared)
        )
        audit_record(
            project=workflow.project,
            actor=user,
            verb="suite.cases_from_dataset",
            obj=suite,
            data={
                "workflow": workflow.slug,
                "dataset": version.dataset.slug,
                "version": version.number,
                "cases": len(created),
            },
        )
    return created


def suite_replace(*, workflow: Workflow, user: Any, cases: Any, checks: Any) -> Suite:
    """Replace the suite's cases and checks at once (the API's PUT). All or none."""
    if not isinstance(cases, list) or not isinstance(checks, list):
        raise EvaluationError("cases and checks must be lists.", code="invalid_suite")
    if len(cases) > MAX_CASES or len(checks) > MAX_CHECKS:
        raise EvaluationError(f"At most {MAX_CASES} cases and {MAX_CHECKS} checks.", code="invalid_suite")
    signature = _signature(workflow_input_fields(workflow.draft_graph))
    clean_checks, clean_cases, problems = [], [], []
    for i, item in enumerate(checks):
        item = item if isinstance(item, dict) else {}
        try:
            clean_checks.append(
                check_check(
                    project=workflow.project,
                    name=item.get("name"),
                    kind=item.get("kind"),
                    config=item.get("config") or {},
                )
            )
        except EvaluationError as exc:
            problems.append({"check": i, "errors": exc.errors})
    names = [c["name"] for c in clean_checks]
    if len(set(names)) != len(names):
        problems.append({"checks": "check names must be unique"})
    for i, item in enumerate(cases):
        item = item if isinstance(item, dict) else {}
        try:
            clean_cases.append(
                check_case(
                    signature=signature,
                    name=item.get("name") or f"case {i + 1}",
                    inputs=item.get("inputs"),
                    expected=item.get("expected"),
                    overrides=item.get("overrides"),
                    check_names=set(names),
                )
            )
        except EvaluationError as exc:
            problems.append({"case": i, "errors": exc.errors})
    if problems:
        raise EvaluationError(
            "The suite is not valid; nothing was changed.", code="invalid_suite", errors=problems[:100]
        )
    with transaction.atomic():
        suite = suite_ensure(workflow=workflow)
        suite.checks.all().delete()
        suite.cases.all().delete()
        SuiteCheck.objects.bulk_create(SuiteCheck(suite=suite, position=i + 1, **c) for i, c in enumerate(clean_checks))
        SuiteCase.objects.bulk_create(SuiteCase(suite=suite, position=i + 1, **c) for i, c in enumerate(clean_cases))
        suite.save(update_fields=["updated_at"])
        audit_record(
            project=workflow.project,
            actor=user,
            verb="suite.replace",
            obj=suite,
            data={"workflow": workflow.slug, "cases": len(clean_cases), "checks": len(clean_checks)},
        )
    return suite


def suite_item_delete(
    *, workflow: Workflow, user: Any, check_id: int | None = None, case_id: int | None = None
) -> None:
    """Remove one check or one case of the workflow's suite (404-safe: a foreign id does nothing)."""
    suite = Suite.objects.filter(workflow=workflow).first()
    if suite is None:
        return
    with transaction.atomic():
        if check_id is not None:
            deleted, _ = suite.checks.filter(pk=check_id).delete()
            what = "check"
        else:
            deleted, _ = suite.cases.filter(pk=case_id).delete()
            what = "case"
        if deleted:
            audit_record(
                project=workflow.project,
                actor=user,
                verb=f"suite.{what}_delete",
                obj=suite,
                data={"workflow": workflow.slug, "id": check_id or case_id},
            )


# ------------------------------------------------------------------ suite runs


def graph_hash(graph: dict[str, Any]) -> str:
    """SHA-256 of the graph's canonical JSON, node positions left out (moving a node does not change
    what a suite run tested)."""
    doc = dict(graph)
    doc["nodes"] = [
        {k: v for k, v in node.items() if k != "position"} if isinstance(node, dict) else node
        for node in graph.get("nodes", [])
    ]
    return hashlib.sha256(json.dumps(doc, sort_keys=True, separators=(",", ":"), default=str).encode()).hexdigest()


def suite_run_start(
    *, workflow: Workflow, user: Any, version: WorkflowVersion | None = None, replay: str = ""
) -> SuiteRun:
    """Run every case of the workflow's suite against ``version`` (the draft when None).

    ``replay`` (deterministic replay, :mod:`traces.replay`): "" — the cases
    call the model and record every answer; ``replay`` — every model call is
    answered from the project's recordings (none made; a call without one
    fails its case, "no recording for this call"); ``fill`` — replay what is
    recorded, call and record the rest. The mode travels with each case's
    run row (``Run.replay``) to the workers.

    Each case is a normal run (queued, dispatched on commit to the workers,
    traced and costed); the project's running-runs cap bounds how many run
    at once. A case whose inputs no longer fit the signature is failed at
    once with the reason. Dataset versions the cases came from are locked.
    Raises :class:`EvaluationError` (``no_suite``, ``no_input_node``,
    ``invalid_graph``).
    """
    modes = {"": ReplayMode.RECORD, "replay": ReplayMode.REPLAY, "fill": ReplayMode.FILL}
    if replay not in modes:
        raise EvaluationError('replay must be "", "replay" or "fill".', code="bad_replay")
    suite = Suite.objects.filter(workflow=workflow).first()
    if suite is None or not suite.cases.exists() or not suite.checks.exists():
        raise EvaluationError("The workflow's suite needs at least one case and one check.", code="no_suite")
    graph = version.graph if version is not None else workflow.draft_graph
    workflow_input_fields(graph)
    with transaction.atomic():
        suite_run = SuiteRun.objects.create(
            suite=suite,
            workflow=workflow,
            version=version,
            graph_hash=graph_hash(graph),
            created_by=user if getattr(user, "pk", None) else None,
        )
        now = timezone.now()
        DatasetVersion.objects.filter(
            pk__in=suite.cases.filter(dataset_row__isnull=False).values("dataset_row__version"), locked_at__isnull=True
        ).update(locked_at=now)
        for case in suite.cases.order_by("position", "id"):
            result = CaseResult(
                suite_run=suite_run,
                case=case,
                name=case.name,
                position=case.position,
                inputs=case.inputs,
                expected=case.expected,
            )
            try:
                with transaction.atomic():
                    result.run = run_start(
                        workflow=workflow, user=user, inputs=case.inputs, version=version, replay=modes[replay]
                    )
            except RunInputError as exc:
                result.status = CaseStatus.FAILED
                result.error = "The inputs do not fit the signature: " + "; ".join(
                    f"{k}: {v}" for k, v in exc.errors.items()
                )
            except GraphInvalidError as exc:
                raise EvaluationError(
                    "The workflow's graph is invalid: " + "; ".join(i.message for i in exc.issues[:5]),
                    code="invalid_graph",
                    errors=[{"code": i.code, "message": i.message, "node_id": i.node_id} for i in exc.issues],
                ) from None
            result.save()
        audit_record(
            project=workflow.project,
            actor=user,
            verb="suite.run",
            obj=suite_run,
            data={
                "workflow": workflow.slug,
                "target": suite_run.target_label,
                "replay": replay,
                "cases": suite.cases.count(),
                "checks": suite.checks.count(),
            },
        )
    return suite_run


def _observed(result: CaseResult, run: Run) -> check_fns.Observed:
    return check_fns.Observed(
        outputs=dict(run.outputs or {}),
        inputs=dict(result.inputs),
        expected=dict(result.expected or {}),
        status=run.status,
        error=run.error,
        cost_usd=None if run.cost_unknown else float(run.cost_usd),
        duration_ms=run.duration_ms,
    )


def _evaluate_case(result: CaseResult, run: Run, suite_checks: list[SuiteCheck]) -> None:
    observed = _observed(result, run)
    outcomes: list[dict[str, Any]] = []
    for check in suite_checks:
        override = result.case.override_for(check.name) if result.case is not None else {}
        if override.get("skip"):
            continue
        config = {**check.config, **{k: v for k, v in override.items() if k != "skip"}}
        if check.kind == CheckKind.LLM_JUDGE:
            from agents.evaluations.judge import judge

            outcome = judge(project_id=run.project_id, run=run, config=config, observed=observed)
        else:
            outcome = check_fns.evaluate(check.kind, config, observed)
        outcomes.append(outcome.as_dict(check.name, check.kind))
    passed = run.status == RunStatus.SUCCEEDED and all(o["passed"] for o in outcomes)
    result.checks = outcomes
    result.outputs = dict(run.outputs or {})
    if run.status != RunStatus.SUCCEEDED and not result.error:
        result.error = f"The run {run.status}: {run.error or run.error_code or 'no outputs'}"
    result.status = CaseStatus.PASSED if passed else CaseStatus.FAILED
    result.cost_usd = None if run.cost_unknown else run.cost_usd
    result.duration_ms = run.duration_ms
    Score.objects.bulk_create(
        Score(
            project_id=run.project_id,
            run_id=run.pk,
            suite_run_id=result.suite_run_id,
            name=o["name"],
            value=o["value"],
            label=o["label"],
            comment=o["message"][:2000],
            source=ScoreSource.EVALUATOR,
        )
        for o in outcomes
    )


def suite_run_refresh(*, suite_run: SuiteRun) -> SuiteRun:
    """Evaluate every case whose run has finished and not been evaluated; finish the suite run when
    none is left. Idempotent and safe to call from several places at once (the page, the API, the
    CLI, the publish gate): each case is evaluated once, under a row lock."""
    if suite_run.status != SuiteRunStatus.RUNNING:
        return suite_run
    pending = list(
        CaseResult.objects.filter(
            suite_run=suite_run, status=CaseStatus.PENDING, run__status__in=TERMINAL_RUN_STATUSES
        ).values_list("pk", flat=True)
    )
    suite_checks = list(suite_run.suite.checks.order_by("position", "id"))
    for pk in pending:
        with transaction.atomic():
            result = (
                CaseResult.objects.select_for_update(skip_locked=True, of=("self",))
                .select_related("case", "run")
                .filter(pk=pk, status=CaseStatus.PENDING)
                .first()
            )
            if result is None or result.run is None:
                continue
            _evaluate_case(result, result.run, suite_checks)
            result.save()
    with transaction.atomic():
        locked = SuiteRun.objects.select_for_update().get(pk=suite_run.pk)
        if locked.status != SuiteRunStatus.RUNNING:
            return locked
        results = list(locked.results.select_related("run"))
        if any(r.status == CaseStatus.PENDING for r in results):
            return locked
        locked.passed_count = sum(r.status == CaseStatus.PASSED for r in results)
        locked.failed_count = len(results) - locked.passed_count
        locked.status = SuiteRunStatus.PASSED if locked.failed_count == 0 else SuiteRunStatus.FAILED
        locked.cost_unknown = any(r.run is not None and r.run.cost_unknown for r in results)
        locked.cost_usd = sum((r.run.cost_usd for r in results if r.run is not None), Decimal("0"))
        locked.finished_at = max(
            [r.run.finished_at for r in results if r.run and r.run.finished_at], default=timezone.now()
        )
        locked.duration_ms = (locked.finished_at - locked.created_at).total_seconds() * 1000
        locked.save()
        audit_record(
            project=locked.workflow.project,
            actor=None,
            verb="suite.run_finish",
            obj=locked,
            data={"status": locked.status, "passed": locked.passed_count, "failed": locked.failed_count},
        )
    return locked


# ------------------------------------------------------------------ the publish gate


@dataclass(frozen=True)
class GateVerdict:
    """Whether the suite lets the current draft be published: ``ok``; else ``code``
    (``suite_not_run``, ``suite_running``, ``suite_failed``), a ``message`` and the ``suite_run``."""

    ok: bool
    code: str = ""
    message: str = ""
    suite_run: SuiteRun | None = None


def suite_gate(*, workflow: Workflow, graph: dict[str, Any]) -> GateVerdict:
    """The publish gate: a workflow whose suite has cases may be published only when the latest suite
    run on exactly this draft (``graph``, positions aside) passed. A workflow without a suite (or
    without cases) is not gated. Finished case runs are evaluated first."""
    suite = Suite.objects.filter(workflow=workflow).first()
    if suite is None or not suite.cases.exists() or not suite.checks.exists():
        return GateVerdict(ok=True)
    latest = (
        SuiteRun.objects.filter(suite=suite, version__isnull=True, graph_hash=graph_hash(graph))
        .order_by("-created_at", "-id")
        .first()
    )
    if latest is None:
        return GateVerdict(
            ok=False,
            code="suite_not_run",
            message="Run the workflow's test suite on this draft first: publishing needs it to pass.",
        )
    latest = suite_run_refresh(suite_run=latest)
    if latest.status == SuiteRunStatus.RUNNING:
        return GateVerdict(
            ok=False,
            code="suite_running",
            suite_run=latest,
            message="The test suite is still running on this draft; publish when it has passed.",
        )
    if latest.status == SuiteRunStatus.FAILED:
        failing = [r.name for r in latest.results.exclude(status=CaseStatus.PASSED)[:5]]
        return GateVerdict(
            ok=False,
            code="suite_failed",
            suite_run=latest,
            message=f"The test suite fails on this draft ({latest.failed_count} failing case(s): "
            f"{', '.join(failing)}); fix them, or an admin may publish with a reason.",
        )
    return GateVerdict(ok=True, suite_run=latest)


# ------------------------------------------------------------------ scores and feedback


def score_add(
    *,
    run: Run,
    user: Any,
    name: str,
    value: float | None = None,
    label: str = "",
    comment: str = "",
    step_id: int | None = None,
    source: str = ScoreSource.HUMAN,
) -> Score:
    """A person's or an API client's score on a run (or one of its steps). Thumbs: ``value`` 1.0 / 0.0.

    Raises :class:`EvaluationError` (``invalid_score``) for a step of another run, no value and no
    label, or a name that is not a short slug.
    """
    errors: dict[str, str] = {}
    if not name or len(name) > 64 or slugify(name) != name:
        errors["name"] = "a short slug, e.g. thumbs or helpfulness"
    if value is None and not label:
        errors["value"] = "give a value or a label"
    if step_id is not None and not run.steps.filter(pk=step_id).exists():
        errors["step"] = "not a step of this run"
    if len(comment) > 5000:
        errors["comment"] = "5000 characters at most"
    if errors:
        raise EvaluationError("The score is not valid.", code="invalid_score", errors=errors)
    with transaction.atomic():
        score = Score.objects.create(
            project_id=run.project_id,
            run_id=run.pk,
            step_id=step_id,
            name=name,
            value=value,
            label=label[:64],
            comment=comment,
            source=source,
            created_by=user if getattr(user, "pk", None) else None,
        )
        audit_record(
            project=run.project,
            actor=user,
            verb="score.add",
            obj=run,
            data={"name": name, "value": value, "label": label[:64], "step": step_id},
        )
    return score


def suite_runs_refresh_for(*, workflow: Workflow) -> None:
    """Evaluate the finished cases of the workflow's running suite runs (see :func:`suite_run_refresh`)."""
    for suite_run in SuiteRun.objects.filter(workflow=workflow, status=SuiteRunStatus.RUNNING):
        suite_run_refresh(suite_run=suite_run)
