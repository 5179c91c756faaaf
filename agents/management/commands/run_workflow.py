"""``manage.py run_workflow <workflow> --project <slug> --input '<json>' --json``.

Runs through the same path as the UI: ``run_start`` (validation, the run row,
dispatch on commit to a Celery worker in queue mode or in-process in
quickstart), then waits for the run and prints it. Exit status: 0 when the run
succeeded, 1 when it failed or was cancelled (reason on stderr), 2 for bad
arguments (unknown project/workflow, invalid JSON or inputs).
"""

from __future__ import annotations

import json
import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from agents.models import Run, RunStatus, Workflow
from agents.services.budgets import ProjectBudgetExceededError
from agents.services.runs import GraphInvalidError, RunInputError, run_start, run_wait
from studio.models import Project


def run_as_dict(run: Run) -> dict[str, Any]:
    """The printed shape: run, status, outputs, steps (tokens, USD cost, ms), totals."""
    return {
        "run": run.pk,
        "status": run.status,
        "outputs": run.outputs,
        "error": run.error or None,
        "error_code": run.error_code or None,
        "steps": [
            {
                "node": step.node_id, "iteration": step.iteration, "type": step.node_type, "status": step.status,
                "input_tokens": step.input_tokens, "output_tokens": step.output_tokens,
                "cost_usd": None if step.cost_usd is None else float(step.cost_usd),
                "duration_ms": round(step.duration_ms, 1), "reused": step.reused,
            }
            for step in run.steps.order_by("started_at", "id")
        ],
        "input_tokens": run.input_tokens,
        "output_tokens": run.output_tokens,
        "cost_usd": float(run.cost_usd),
        "cost_unknown": run.cost_unknown,
        "duration_ms": run.duration_ms,
    }


class Command(BaseCommand):
    help = "Run a workflow (its latest published version, or the draft) and print the run."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("workflow", help="workflow slug")
        parser.add_argument("--project", required=True, help="project slug")
        parser.add_argument("--input", default="{}", help="inputs as a JSON object")
        parser.add_argument("--json", action="store_true", help="print the run as JSON")
        parser.add_argument("--draft", action="store_true", help="run the draft instead of the latest version")
        parser.add_argument("--timeout", type=float, default=900.0, help="seconds to wait for the run")

    def handle(self, *args: Any, **options: Any) -> None:
        project = Project.objects.filter(slug=options["project"]).first()
        if project is None:
            raise CommandError(f'Project "{options["project"]}" does not exist.', returncode=2)
        workflow = Workflow.objects.filter(project=project, slug=options["workflow"]).first()
        if workflow is None:
            raise CommandError(f'Workflow "{options["workflow"]}" does not exist in project "{project.slug}".',
                               returncode=2)
        try:
            inputs = json.loads(options["input"])
        except json.JSONDecodeError as exc:
            raise CommandError(f"--input is not valid JSON: {exc}", returncode=2) from exc
        version = None if options["draft"] else workflow.versions.order_by("-version").first()
        try:
            run = run_start(workflow=workflow, user=None, inputs=inputs, version=version)
        except ProjectBudgetExceededError as exc:
            raise CommandError(str(exc), returncode=1) from exc
        except RunInputError as exc:
            raise CommandError(f"Invalid inputs: {exc}", returncode=2) from exc
        except GraphInvalidError as exc:
            raise CommandError(f"The workflow's graph is invalid: {exc}", returncode=2) from exc
        try:
            run = run_wait(run.pk, timeout_s=options["timeout"])
        except TimeoutError as exc:
            raise CommandError(str(exc), returncode=1) from exc
        data = run_as_dict(run)
        if options["json"]:
            self.stdout.write(json.dumps(data, indent=2, default=str))
        else:
            self.stdout.write(f"run {run.pk}: {run.status}")
            for key, value in run.outputs.items():
                self.stdout.write(f"  {key}: {value}")
            self.stdout.write(f"  tokens {run.input_tokens}+{run.output_tokens}, cost ${run.cost_usd}")
        if run.status != RunStatus.SUCCEEDED:
            sys.stderr.write(f"Run {run.pk} {run.status}: {run.error or 'no reason recorded'}\n")
            sys.exit(1)
