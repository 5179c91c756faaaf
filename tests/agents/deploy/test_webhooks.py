"""Inbound webhooks: HMAC signatures, replay window, input mapping, rate limit, delivery log."""

from __future__ import annotations

import json
import time

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from agents.deploy.models import Deployment, WebhookDelivery, WebhookTrigger
from agents.deploy.webhooks import webhook_create, webhook_signature
from agents.models import Run, Workflow, WorkflowVersion
from studio.crypto import decrypt
from studio.models import AuditEvent
from tests.conftest import demo_graph

pytestmark = pytest.mark.django_db


@pytest.fixture
def qa(project):
    graph = demo_graph("question-answering")
    workflow = Workflow.objects.create(project=project, slug="qa", name="QA", draft_graph=graph)
    version = WorkflowVersion.objects.create(workflow=workflow, version=1, graph=graph)
    Deployment.objects.create(workflow=workflow, version=version)
    return workflow


@pytest.fixture
def hook(qa, alice):
    cache.clear()
    return webhook_create(workflow=qa, user=alice, name="issues", input_map={"question": "body.issue.title"})


def deliver(trigger, secret, payload, *, timestamp=None, signature=None):
    body = json.dumps(payload).encode()
    timestamp = str(int(time.time())) if timestamp is None else timestamp
    signature = signature or webhook_signature(secret, timestamp, body)
    return APIClient().post(
        f"/api/v1/hooks/{trigger.token}",
        body,
        content_type="application/json",
        HTTP_X_STUDIO_TIMESTAMP=timestamp,
        HTTP_X_STUDIO_SIGNATURE=signature,
    )


def test_a_signed_delivery_maps_the_body_to_inputs_and_starts_a_run(hook):
    trigger, secret = hook
    response = deliver(trigger, secret, {"issue": {"title": "Why is the build red?"}})
    assert response.status_code == 202, response.json()
    run = Run.objects.get(pk=response.json()["run"])
    assert run.inputs == {"question": "Why is the build red?"}
    assert run.version.version == 1
    delivery = WebhookDelivery.objects.get()
    assert (delivery.status_code, delivery.outcome, delivery.run) == (202, "started", run)


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"signature": "sha256=" + "0" * 64}, "bad_signature"),
        ({"timestamp": str(int(time.time()) - 301)}, "stale_timestamp"),
        ({"timestamp": "yesterday"}, "bad_timestamp"),
    ],
)
def test_a_bad_signature_or_an_old_timestamp_starts_nothing(hook, change, code):
    trigger, secret = hook
    response = deliver(trigger, secret, {"issue": {"title": "x"}}, **change)
    assert response.status_code == 401
    assert response.json()["code"] == code
    assert Run.objects.count() == 0
    assert WebhookDelivery.objects.get().outcome == code


def test_a_replayed_request_with_another_body_fails_the_signature(hook):
    trigger, secret = hook
    timestamp = str(int(time.time()))
    signature = webhook_signature(secret, timestamp, json.dumps({"issue": {"title": "a"}}).encode())
    response = deliver(trigger, secret, {"issue": {"title": "b"}}, timestamp=timestamp, signature=signature)
    assert response.status_code == 401
    assert Run.objects.count() == 0


def test_missing_headers_unknown_tokens_and_bad_bodies_get_clear_errors(hook):
    trigger, secret = hook
    client = APIClient()
    assert client.post(f"/api/v1/hooks/{trigger.token}", {}, format="json").json()["code"] == "missing_signature"
    assert client.post("/api/v1/hooks/not-a-token", {}, format="json").status_code == 404
    response = deliver(trigger, secret, {"issue": {}})  # the expression finds no title: undefined → not a str
    assert response.status_code == 400
    assert response.json()["code"] in ("invalid_inputs", "invalid_mapping")
    assert Run.objects.count() == 0


def test_the_rate_limit_refuses_past_the_limit_and_logs_once(qa, alice):
    cache.clear()
    trigger, secret = webhook_create(
        workflow=qa, user=alice, name="tight", input_map={"question": "body.q"}, rate_limit_per_minute=2
    )
    answers = [deliver(trigger, secret, {"q": f"question {i}"}).status_code for i in range(4)]
    assert answers == [202, 202, 429, 429]
    assert Run.objects.count() == 2
    assert list(WebhookDelivery.objects.order_by("id").values_list("status_code", flat=True)) == [202, 202, 429]


def test_the_secret_is_stored_encrypted_shown_once_and_creation_is_audited(qa, alice):
    client = APIClient()
    client.force_authenticate(alice)
    created = client.post(
        f"/api/v1/workflows/{qa.pk}/webhooks", {"name": "ci", "input_map": {"question": "body.q"}}, format="json"
    )
    assert created.status_code == 201
    secret = created.json()["secret"]
    trigger = WebhookTrigger.objects.get()
    assert secret not in trigger.secret_ciphertext and decrypt(trigger.secret_ciphertext) == secret
    listed = client.get(f"/api/v1/workflows/{qa.pk}/webhooks").json()
    assert listed[0]["url"] == f"/api/v1/hooks/{trigger.token}" and "secret" not in listed[0]
    assert AuditEvent.objects.filter(verb="webhook.create").exists()
    assert secret not in json.dumps(list(AuditEvent.objects.values_list("data", flat=True)))
    deliver(trigger, secret, {"q": "hi"})
    log = client.get(f"/api/v1/workflows/{qa.pk}/webhooks/{trigger.pk}/deliveries").json()
    assert log[0]["outcome"] == "started" and log[0]["run"]
    assert client.delete(f"/api/v1/workflows/{qa.pk}/webhooks/{trigger.pk}").status_code == 204
    assert not WebhookTrigger.objects.exists()


@pytest.mark.parametrize(
    ("input_map", "field"),
    [
        ({"nope": "body.q"}, "input_map.nope"),
        ({"question": "body.q +"}, "input_map.question"),
        ({"question": "secret_thing"}, "input_map.question"),
    ],
)
def test_a_bad_input_map_is_refused_naming_the_field(qa, alice, input_map, field):
    client = APIClient()
    client.force_authenticate(alice)
    response = client.post(f"/api/v1/workflows/{qa.pk}/webhooks", {"name": "x", "input_map": input_map}, format="json")
    assert response.status_code == 400
    assert field in response.json()["errors"]
    assert not WebhookTrigger.objects.exists()


def test_viewers_cannot_manage_webhooks(qa, bob):
    client = APIClient()
    client.force_authenticate(bob)
    assert client.get(f"/api/v1/workflows/{qa.pk}/webhooks").status_code == 403
    assert client.post(f"/api/v1/workflows/{qa.pk}/webhooks", {"name": "x"}, format="json").status_code == 403
