"""Creating, configuring, archiving and deleting a project; the role table; styled error pages."""

from __future__ import annotations

import html
from decimal import Decimal

import pytest
from django.test import override_settings
from django.urls import reverse

from agents.models import Workflow
from studio.models import PERM_MIN_ROLE, ROLE_TABLE, AuditEvent, Membership, Project, Role, role_allows
from tests.conftest import UserFactory, demo_graph

pytestmark = pytest.mark.django_db


def page_text(response) -> str:
    return html.unescape(response.content.decode())


def test_role_table_is_the_ladder_every_check_uses():
    assert [row[0] for row in ROLE_TABLE] == [Role.VIEWER, Role.RUNNER, Role.EDITOR, Role.ADMIN, Role.OWNER]
    for index, (role, perm, _text) in enumerate(ROLE_TABLE):
        assert PERM_MIN_ROLE[perm] == role
        assert role_allows(role, perm)
        if index:
            assert not role_allows(ROLE_TABLE[index - 1][0], perm)


def test_any_signed_in_user_creates_a_project_and_owns_it(charlie, login):
    response = login(charlie).post(reverse("project-new"), {"name": "Support bots", "description": "Tier 1"})
    project = Project.objects.get(slug="support-bots")
    assert response.status_code == 302 and response["Location"] == reverse("project-home", args=["support-bots"])
    assert Membership.objects.get(project=project, user=charlie).role == Role.OWNER
    assert AuditEvent.objects.filter(project=project, verb="project.create", actor=charlie).exists()


def test_duplicate_slug_and_empty_name_are_clear_400s(project, charlie, login):
    client = login(charlie)
    duplicate = client.post(reverse("project-new"), {"name": "Acme"})
    assert duplicate.status_code == 400 and "already exists" in page_text(duplicate)
    empty = client.post(reverse("project-new"), {"name": "  "})
    assert empty.status_code == 400 and "Enter a name" in page_text(empty)
    assert Project.objects.count() == 1


@override_settings(STUDIO_PROJECT_CREATORS="staff")
def test_only_staff_create_projects_when_the_site_says_so(charlie, login):
    assert login(charlie).post(reverse("project-new"), {"name": "Nope"}).status_code == 403
    staff = UserFactory(username="stan", is_staff=True)
    assert login(staff).post(reverse("project-new"), {"name": "Yes"}).status_code == 302
    assert list(Project.objects.values_list("slug", flat=True)) == ["yes"]


def test_admin_saves_settings_and_runs_use_project_defaults(project, dave, login):
    response = login(dave).post(
        reverse("project-settings", args=["acme"]),
        {
            "name": "Acme Corp",
            "description": "d",
            "max_running_runs": "3",
            "default_budget_tokens": "5000",
            "default_budget_usd": "0.25",
            "default_timeout_s": "90",
        },
    )
    assert response.status_code == 302
    project.refresh_from_db()
    assert (project.name, project.max_running_runs, project.default_budget_tokens) == ("Acme Corp", 3, 5000)
    assert project.default_budget_usd == Decimal("0.25") and project.default_timeout_s == 90
    from agents.services.runs import run_start

    workflow = Workflow.objects.create(
        project=project, slug="qa", name="QA", draft_graph=demo_graph("question-answering")
    )
    run = run_start(workflow=workflow, user=dave, inputs={"question": "Hi?"})
    assert (run.budget_tokens, run.budget_usd, run.timeout_s) == (5000, Decimal("0.25"), 90)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("max_running_runs", "0", "from 1 to"),
        ("default_budget_usd", "1e30", "at most"),
        ("default_budget_usd", "abc", "amount in USD"),
        ("default_budget_tokens", "-5", "from 1 to"),
        ("name", "", "Enter a name"),
    ],
)
def test_bad_settings_are_refused_and_nothing_is_half_saved(project, alice, login, field, value, message):
    data = {
        "name": "Renamed",
        "description": "",
        "max_running_runs": "5",
        "default_budget_tokens": "",
        "default_budget_usd": "",
        "default_timeout_s": "",
        field: value,
    }
    response = login(alice).post(reverse("project-settings", args=["acme"]), data)
    assert response.status_code == 400 and message in page_text(response)
    project.refresh_from_db()
    assert project.name == "Acme" and project.max_running_runs == 8


def test_settings_pages_are_for_admins_and_owners_only(project, bob, erin, charlie, login):
    for name in (
        "project-settings",
        "project-members",
        "project-keys",
        "project-secrets",
        "project-endpoints",
        "project-mcp",
        "audit-log",
    ):
        url = reverse(name, args=["acme"])
        assert login(bob).get(url).status_code == 403, name
        assert login(erin).get(url).status_code == 403, name
        assert login(charlie).get(url).status_code == 404, name


def test_archived_project_refuses_runs_and_edits_until_unarchived(project, alice, login):
    workflow = Workflow.objects.create(
        project=project, slug="qa", name="QA", draft_graph=demo_graph("question-answering")
    )
    client = login(alice)
    assert client.post(reverse("project-archive", args=["acme"]), {"archived": "1"}).status_code == 302
    response = client.post(reverse("workflow-run", args=["acme", "qa"]), {"input-question": "Hi?"})
    assert response.status_code == 403
    assert not workflow.runs.exists()
    client.post(reverse("project-archive", args=["acme"]), {"archived": "0"})
    assert client.post(reverse("workflow-run", args=["acme", "qa"]), {"input-question": "Hi?"}).status_code == 302


def test_delete_needs_the_owner_and_the_typed_slug(project, alice, dave, login):
    assert login(dave).post(reverse("project-delete", args=["acme"]), {"confirm": "acme"}).status_code == 403
    wrong = login(alice).post(reverse("project-delete", args=["acme"]), {"confirm": "acm"})
    assert wrong.status_code == 400 and "Type the project's slug" in page_text(wrong)
    assert Project.objects.filter(slug="acme").exists()
    Workflow.objects.create(project=project, slug="qa", name="QA", draft_graph=demo_graph("question-answering"))
    assert login(alice).post(reverse("project-delete", args=["acme"]), {"confirm": "acme"}).status_code == 302
    assert not Project.objects.filter(slug="acme").exists()
    assert AuditEvent.objects.filter(verb="project.delete", data__slug="acme", actor=alice).exists()


@override_settings(DEBUG=False)
def test_403_and_404_pages_are_styled(project, bob, charlie, login):
    forbidden = login(bob).get(reverse("project-settings", args=["acme"]))
    assert forbidden.status_code == 403 and "Your role does not allow this" in page_text(forbidden)
    missing = login(charlie).get("/p/acme/")
    assert missing.status_code == 404 and "This page does not exist" in page_text(missing)
    assert "studio.css" in page_text(missing)


def test_500_page_renders_without_a_request_context():
    from django.template import loader

    text = loader.get_template("500.html").render({})
    assert "Something went wrong on our side" in text and "studio.css" in text


def test_password_reset_sends_a_link_that_sets_a_new_password(alice, client, mailoutbox):
    alice.email = "alice@example.com"
    alice.save()
    response = client.post(reverse("password_reset"), {"email": "alice@example.com"})
    assert response.status_code == 302 and len(mailoutbox) == 1
    link = next(line for line in mailoutbox[0].body.splitlines() if "/password-reset/" in line)
    path = link.split("://", 1)[1].split("/", 1)[1]
    form = client.get("/" + path, follow=True)
    assert "Choose a new password" in page_text(form)
    done = client.post(
        form.redirect_chain[-1][0], {"new_password1": "a-new-Pass-4321", "new_password2": "a-new-Pass-4321"}
    )
    assert done.status_code == 302
    alice.refresh_from_db()
    assert alice.check_password("a-new-Pass-4321")


def test_deleting_a_project_deletes_runs_versions_prompts_endpoints_and_secrets(project, alice, login, seeded_prompt):
    from agents.models import McpServer, Run, RunStatus, WorkflowVersion
    from studio.models import Secret
    from studio.workspace.services import secret_create
    from traces.services import endpoint_ensure_local

    workflow = Workflow.objects.create(
        project=project, slug="qa", name="QA", draft_graph=demo_graph("question-answering")
    )
    version = WorkflowVersion.objects.create(workflow=workflow, version=1, graph=workflow.draft_graph)
    Run.objects.create(
        project=project, workflow=workflow, version=version, graph=version.graph, status=RunStatus.SUCCEEDED
    )
    secret = secret_create(project=project, actor=alice, name="TOKEN", value="v")
    endpoint = endpoint_ensure_local(project=project)
    endpoint.api_key_secret = secret
    endpoint.save()
    McpServer.objects.create(
        project=project, slug="m", name="M", url="https://mcp.example.com/mcp", headers_secret=secret
    )
    response = login(alice).post(reverse("project-delete", args=["acme"]), {"confirm": "acme"})
    assert response.status_code == 302
    assert not Project.objects.exists() and not Run.objects.exists() and not Secret.objects.exists()
