"""``manage.py test_workflow <workflow> --project <p> [--version N | --draft] [--junit FILE] [--json] [--replay[=fill]]``.

Runs the workflow's test suite through the same path as the UI (each case a
normal run on the workers; quickstart: in this process), waits for it, and
prints one line per failing case. Exit status: 0 when every case passed, 1
when one failed (or the wait timed out), 2 for bad arguments (no such
project, workflow or version, no suite, a workflow without an input node).
``--junit FILE`` writes JUnit XML: one ``testcase`` per case, a ``failure``
with the failing checks' messages. ``--replay`` answers every model call
from the project's recordings (zero model calls; a call with no recording
fails its case); ``--replay=fill`` records the calls that have none. Without
it the cases call the model and record their answers.
"""

from __future__ import annotations

import json
import sys
import time
import xml.etree.ElementTree as ET
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from agents.evaluations.models import CaseResult, CaseStatus, SuiteRun, SuiteRunStatus
from agents.evaluations.services import EvaluationError, suite_run_refresh, suite_run_start
from agents.models import Workflow
from studio.models import Project


def suite_run_as_dict(suite_run: SuiteRun, results: list[CaseResult]) -> dict[str, Any]:
    """The suite run as the ``--json`` output: totals (cost in USD, duration in ms) and every case."""
    return {
        "suite_run": suite_run.pk,
        "workflow": suite_run.workflow.slug,
        "target": suite_run.target_label,
        "status": suite_run.status,
        "passed": suite_run.passed_count,
        "failed": suite_run.failed_count,
        "cost_usd": None if suite_run.cost_unknown else str(suite_run.cost_usd),
        "duration_ms": suite_run.duration_ms,
        "cases": [
            {
                "name": r.name,
                "status": r.status,
                "run": r.run_id,
                "outputs": r.outputs,
                "checks": r.checks,
                "error": r.error,
            }
            for r in results
        ],
    }


def junit_xml(suite_run: SuiteRun, results: list[CaseResult], *, project_slug: str) -> bytes:
    """A JUnit XML report: one ``testsuite`` (the workflow), one ``testcase`` per case (time in seconds)."""
    failures = sum(r.status != CaseStatus.PASSED for r in results)
    root = ET.Element(
        "testsuites", name=f"{project_slug}/{suite_run.workflow.slug}", tests=str(len(results)), failures=str(failures)
    )
    suite_el = ET.SubElement(
        root,
        "testsuite",
        name=f"{suite_run.workflow.slug} ({suite_run.target_label})",
        tests=str(len(results)),
        failures=str(failures),
        errors="0",
        skipped="0",
        time=f"{(suite_run.duration_ms or 0) / 1000:.3f}",
    )
    for result in results:
        case_el = ET.SubElement(
            suite_el,
            "testcase",
            name=result.name,
            classname=f"{project_slug}.{suite_run.workflow.slug}",
            time=f"{(result.duration_ms or 0) / 1000:.3f}",
        )
        if result.status != CaseStatus.PASSED:
            lines = result.failure_messages()
            failure = ET.SubElement(
                case_el, "failure", message=(lines[0] if lines else "failed")[:500], type="check_failed"
            )
            failure.text = "\n".join(lines)
        if result.run_id:
            ET.SubElement(case_el, "system-out").text = json.dumps(
                {"run": result.run_id, "outputs": result.outputs}, ensure_ascii=False, default=str
            )
    return bytes(ET.tostring(root, encoding="utf-8", xml_declaration=True))


class Command(BaseCommand):
    help = "Run a workflow's test suite; exit 0 when every case passes, 1 otherwise."

    def create_parser(self, prog_name: str, subcommand: str, **kwargs: Any) -> CommandParser:
        # ``--version N`` is the workflow's version here, not Django's own ``--version`` flag.
        return super().create_parser(prog_name, subcommand, conflict_handler="resolve", **kwargs)

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("workflow", help="workflow slug")
        parser.add_argument("--project", required=True, help="project slug")
        target = parser.add_mutually_exclusive_group()
        target.add_argument("--version", type=int, help="a published version (default: the latest, else the draft)")
        target.add_argument("--draft", action="store_true", help="test the draft")
        parser.add_argument("--junit", metavar="FILE", help="write a JUnit XML report to FILE")
        parser.add_argument("--json", action="store_true", help="print the suite run as JSON")
        parser.add_argument(
            "--replay",
            nargs="?",
            const="on",
            choices=["on", "fill"],
            help="answer every model call from the project's recordings (no model call; a call without one "
            "fails its case); --replay=fill calls the model for those and records them",
        )
        parser.add_argument("--timeout", type=float, default=1800.0, help="seconds to wait for every case")

    def handle(self, *args: Any, **options: Any) -> None:
        project = Project.objects.filter(slug=options["project"]).first()
        if project is None:
            raise CommandError(f'Project "{options["project"]}" does not exist.', returncode=2)
        workflow = Workflow.objects.filter(project=project, slug=options["workflow"], deleted_at__isnull=True).first()
        if workflow is None:
            raise CommandError(
                f'Workflow "{options["workflow"]}" does not exist in project "{project.slug}".', returncode=2
            )
        if options["version"] is not None:
            version = workflow.versions.filter(version=options["version"]).first()
            if version is None:
                raise CommandError(f"Workflow {workflow.slug} has no version {options['version']}.", returncode=2)
        else:
            version = None if options["draft"] else workflow.versions.order_by("-version").first()
        try:
            replay = {None: "", "on": "replay", "fill": "fill"}[options["replay"]]
            suite_run = suite_run_start(workflow=workflow, user=None, version=version, replay=replay)
        except EvaluationError as exc:
            raise CommandError(exc.message, returncode=2) from exc
        deadline = time.monotonic() + options["timeout"]
        while suite_run.status == SuiteRunStatus.RUNNING:
            if time.monotonic() > deadline:
                raise CommandError(
                    f"suite run {suite_run.pk} still running after {options['timeout']:.0f} s", returncode=1
                )
            time.sleep(0.3)
            suite_run = suite_run_refresh(suite_run=suite_run)
        results = list(suite_run.results.order_by("position", "id"))
        if options["junit"]:
            with open(options["junit"], "wb") as handle:
                handle.write(junit_xml(suite_run, results, project_slug=project.slug))
        if options["json"]:
            self.stdout.write(json.dumps(suite_run_as_dict(suite_run, results), indent=2, default=str))
        else:
            for result in results:
                if result.status != CaseStatus.PASSED:
                    self.stdout.write(f"FAIL {result.name}: {' | '.join(result.failure_messages())}")
            cost = "unknown" if suite_run.cost_unknown else f"${suite_run.cost_usd:.6f}"
            self.stdout.write(
                f"suite run {suite_run.pk} ({suite_run.target_label}): {suite_run.status}, "
                f"{suite_run.passed_count} passed, {suite_run.failed_count} failed, cost {cost}, "
                f"{(suite_run.duration_ms or 0):.0f} ms"
            )
        if suite_run.status != SuiteRunStatus.PASSED:
            sys.exit(1)
