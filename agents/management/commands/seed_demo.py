"""``manage.py seed_demo``: the demo project, its admin, the local model endpoint,
the demo workflows and a versioned prompt. Idempotent: run it as often as you
like; existing rows are left as they are.

The admin password is generated and printed once, when the user is created
(``--reset-admin-password`` prints a new one). There is no default password.
"""

from __future__ import annotations

import copy
import secrets
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandParser
from django.db import transaction

from agents.models import Workflow
from prompts.models import Prompt
from prompts.services import prompt_label_move, prompt_version_commit
from studio.models import Project, Role
from studio.services import membership_set, project_ensure
from traces.services import endpoint_ensure_local

PARAMS = {"temperature": 0.2, "max_tokens": 120}


def _field(name: str, type_: str, description: str) -> dict[str, Any]:
    return {"name": name, "type": type_, "description": description, "required": True}


def _agent(
    node_id: str,
    label: str,
    instructions: str,
    outputs: list[dict[str, Any]],
    x: int,
    y: int,
    inputs: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    return {
        "id": node_id,
        "type": "agent",
        "label": label,
        "position": {"x": x, "y": y},
        "config": {
            "endpoint": "local",
            "instructions": instructions,
            "inputs": inputs or [_field("topic", "str", "The topic")],
            "outputs": outputs,
            "params": PARAMS,
        },
    }


def _edge(source: str, source_port: str, target: str, target_port: str) -> dict[str, str]:
    return {
        "id": f"{source}.{source_port}->{target}.{target_port}",
        "source": source,
        "source_port": source_port,
        "target": target,
        "target_port": target_port,
    }


QUESTION_ANSWERING: dict[str, Any] = {
    "schema": 1,
    "nodes": [
        {
            "id": "input",
            "type": "input",
            "label": "Question",
            "position": {"x": 40, "y": 120},
            "config": {"fields": [_field("question", "str", "What you want to know")]},
        },
        {
            "id": "answerer",
            "type": "agent",
            "label": "Answerer",
            "position": {"x": 320, "y": 120},
            "config": {
                "endpoint": "local",
                "instructions": "Answer the question briefly and truthfully. Give your confidence between 0 and 1.",
                "inputs": [_field("question", "str", "The question")],
                "outputs": [
                    _field("answer", "str", "A short answer"),
                    _field("confidence", "float", "Confidence from 0 to 1"),
                ],
                "params": PARAMS,
            },
        },
        {
            "id": "output",
            "type": "output",
            "label": "Answer",
            "position": {"x": 620, "y": 120},
            "config": {
                "fields": [
                    _field("answer", "str", "The answer"),
                    _field("confidence", "float", "Confidence from 0 to 1"),
                ]
            },
        },
    ],
    "edges": [
        _edge("input", "question", "answerer", "question"),
        _edge("answerer", "answer", "output", "answer"),
        _edge("answerer", "confidence", "output", "confidence"),
    ],
}

RESEARCH_BRIEF: dict[str, Any] = {
    "schema": 1,
    "nodes": [
        {
            "id": "input",
            "type": "input",
            "label": "Topic",
            "position": {"x": 40, "y": 200},
            "config": {"fields": [_field("topic", "str", "What the brief is about")]},
        },
        _agent(
            "facts",
            "Facts",
            "List three key facts about the topic, in one short paragraph.",
            [_field("facts", "str", "Key facts")],
            320,
            40,
        ),
        _agent(
            "risks",
            "Risks",
            "List the main risks related to the topic, in one short paragraph.",
            [_field("risks", "str", "Main risks")],
            320,
            200,
        ),
        _agent(
            "questions",
            "Open questions",
            "List two open questions about the topic.",
            [_field("open_questions", "str", "Open questions")],
            320,
            360,
        ),
        {
            "id": "writer",
            "type": "llm",
            "label": "Writer",
            "position": {"x": 620, "y": 200},
            "config": {
                "endpoint": "local",
                "prompt": {"slug": "brief-writer", "label": "production"},
                "inputs": [
                    _field("topic", "str", "Topic"),
                    _field("facts", "str", "Facts"),
                    _field("risks", "str", "Risks"),
                    _field("open_questions", "str", "Open questions"),
                ],
                "params": {"temperature": 0.3, "max_tokens": 160},
            },
        },
        {
            "id": "output",
            "type": "output",
            "label": "Brief",
            "position": {"x": 900, "y": 200},
            "config": {"fields": [_field("brief", "str", "The research brief")]},
        },
    ],
    "edges": [
        _edge("input", "topic", "facts", "topic"),
        _edge("input", "topic", "risks", "topic"),
        _edge("input", "topic", "questions", "topic"),
        _edge("input", "topic", "writer", "topic"),
        _edge("facts", "facts", "writer", "facts"),
        _edge("risks", "risks", "writer", "risks"),
        _edge("questions", "open_questions", "writer", "open_questions"),
        _edge("writer", "text", "output", "brief"),
    ],
}

#: The variables both versions of the demo prompt declare.
# The demo suite of question-answering: checks any answer of the local model passes (it is 135M parameters).
QA_SUITE_CHECKS: list[dict[str, Any]] = [
    {"name": "answers", "kind": "regex", "config": {"field": "answer", "pattern": r"\w"}},
    {"name": "confidence-is-a-number", "kind": "expression", "config": {"expression": "outputs.confidence is number"}},
]
QA_SUITE_CASES: list[dict[str, Any]] = [
    {"name": "sky", "inputs": {"question": "What colour is the sky?"}},
    {"name": "france", "inputs": {"question": "What is the capital of France?"}},
]

BRIEF_VARIABLES = ["topic", "facts", "risks", "open_questions"]

BRIEF_WRITER_V1 = [
    {"role": "system", "content": "You write research briefs."},
    {
        "role": "user",
        "content": "Topic: {{ topic }}\nFacts: {{ facts }}\nRisks: {{ risks }}\n"
        "Open questions: {{ open_questions }}\nWrite a brief.",
    },
]
BRIEF_WRITER_V2 = [
    {"role": "system", "content": "You write short, clear research briefs for busy readers."},
    {
        "role": "user",
        "content": "Write a research brief of at most five sentences on {{ topic }}.\n"
        "Facts: {{ facts }}\nRisks: {{ risks }}\nOpen questions: {{ open_questions }}",
    },
]


class Command(BaseCommand):
    help = "Create the demo project, admin user, local model endpoint, workflows and prompt (idempotent)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--admin-username", default="admin")
        parser.add_argument("--reset-admin-password", action="store_true")

    @transaction.atomic
    def handle(self, *args: Any, **options: Any) -> None:
        project = project_ensure(slug="demo", name="Demo", description="Example workflows on the local model.")
        password = self._ensure_admin(project, options["admin_username"], options["reset_admin_password"])
        endpoint_ensure_local(project=project)
        self._ensure_prompt(project)
        for slug, name, description, graph in [
            (
                "question-answering",
                "Question answering",
                "One agent answers a question with its confidence.",
                QUESTION_ANSWERING,
            ),
            (
                "research-brief",
                "Research brief",
                "Three agents in parallel (facts, risks, open questions), then a writer merges them into a brief.",
                RESEARCH_BRIEF,
            ),
        ]:
            self._ensure_workflow(project, slug, name, description, graph)
        self._ensure_suite(project)
        self.stdout.write(self.style.SUCCESS("Demo project 'demo' is ready."))
        if password:
            self.stdout.write(
                self.style.WARNING(f"Admin login: {options['admin_username']} / {password}   (shown once; keep it)")
            )

    def _ensure_admin(self, project: Project, username: str, reset: bool) -> str | None:
        user_model = get_user_model()
        user = user_model.objects.filter(username=username).first()
        password = None
        if user is None:
            password = secrets.token_urlsafe(12)
            user = user_model.objects.create_superuser(username=username, email="", password=password)
        elif reset:
            password = secrets.token_urlsafe(12)
            user.set_password(password)
            user.save(update_fields=["password"])
        membership_set(project=project, user=user, role=Role.OWNER)
        return password

    def _ensure_prompt(self, project: Project) -> None:
        prompt, created = Prompt.objects.get_or_create(
            project=project,
            slug="brief-writer",
            defaults={"name": "Brief writer", "description": "Merges facts, risks and questions into a brief."},
        )
        if not created and prompt.versions.exists():
            return
        variables = BRIEF_VARIABLES
        prompt_version_commit(
            prompt=prompt,
            user=None,
            messages=BRIEF_WRITER_V1,
            variables=variables,
            model_config={"temperature": 0.3},
            commit_message="First draft",
        )
        v2 = prompt_version_commit(
            prompt=prompt,
            user=None,
            messages=BRIEF_WRITER_V2,
            variables=variables,
            model_config={"temperature": 0.3},
            commit_message="Shorter, for busy readers",
        )
        prompt_label_move(prompt=prompt, label="production", version=v2, user=None)

    def _ensure_suite(self, project: Project) -> None:
        """Give ``question-answering`` a small test suite that passes on the local model (once), so the
        publish gate and ``manage.py test_workflow`` work from the first ``make run``."""
        from agents.evaluations.models import Suite
        from agents.evaluations.services import suite_replace

        workflow = Workflow.objects.filter(project=project, slug="question-answering").first()
        if workflow is None or Suite.objects.filter(workflow=workflow).exists():
            return
        suite_replace(workflow=workflow, user=None, cases=QA_SUITE_CASES, checks=QA_SUITE_CHECKS)

    def _ensure_workflow(self, project: Project, slug: str, name: str, description: str,
                         graph: dict[str, Any]) -> None:
        from agents.deploy.selectors import deployment_live
        from agents.deploy.services import deployment_create
        from agents.services.workflows import workflow_create, workflow_publish

        workflow = Workflow.objects.filter(project=project, slug=slug).first()
        if workflow is None:
            workflow = workflow_create(project=project, user=None, name=name, slug=slug, graph=copy.deepcopy(graph),
                                       description=description)
            workflow_publish(workflow=workflow, user=None, note="Demo version")
        latest = workflow.versions.order_by("-version").first()
        if latest is not None and deployment_live(workflow=workflow) is None:
            # Deployed, so the invoke API works from the first `make run`.
            deployment_create(workflow=workflow, version=latest, user=None, note="Demo deployment")
