"""Login throttling with django-axes (issue 7, item 11): the login page, the admin login, bearer API keys.

Each test runs in its own transaction, so the attempts one test records never
lock another test out.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.test import Client

from studio.models import ApiKey, Role

PASSWORD = "pw-for-tests-only"  # tests.conftest.UserFactory's password


def wrong_logins(client: Client, url: str, username: str, times: int) -> list[int]:
    return [client.post(url, {"username": username, "password": f"wrong-{i}"}).status_code for i in range(times)]


def test_thirty_wrong_passwords_then_the_right_one_is_refused(alice: Any) -> None:
    client = Client()
    statuses = wrong_logins(client, "/login/", "alice", 30)
    assert statuses[0] == 200  # the form again, with its error
    assert statuses[-1] == 429
    response = client.post("/login/", {"username": "alice", "password": PASSWORD})
    assert response.status_code == 429
    assert "Too many failed sign-in attempts" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_the_admin_login_is_throttled_too(alice: Any) -> None:
    alice.is_staff = alice.is_superuser = True
    alice.save()
    client = Client()
    statuses = wrong_logins(client, "/admin/login/", "alice", settings.AXES_FAILURE_LIMIT)
    assert statuses[-1] == 429
    response = client.post("/admin/login/", {"username": "alice", "password": PASSWORD})
    assert response.status_code == 429
    assert "_auth_user_id" not in client.session


def test_an_admin_unlocks_the_account_with_axes_reset_username(alice: Any) -> None:
    client = Client()
    wrong_logins(client, "/login/", "alice", settings.AXES_FAILURE_LIMIT)
    assert client.post("/login/", {"username": "alice", "password": PASSWORD}).status_code == 429
    call_command("axes_reset_username", "alice")
    response = client.post("/login/", {"username": "alice", "password": PASSWORD})
    assert response.status_code == 302
    assert client.session["_auth_user_id"] == str(alice.pk)


def test_failures_below_the_limit_then_success_reset_the_count(alice: Any) -> None:
    client = Client()
    wrong_logins(client, "/login/", "alice", settings.AXES_FAILURE_LIMIT - 1)
    assert client.post("/login/", {"username": "alice", "password": PASSWORD}).status_code == 302
    client.logout()
    wrong_logins(client, "/login/", "alice", settings.AXES_FAILURE_LIMIT - 1)
    assert client.post("/login/", {"username": "alice", "password": PASSWORD}).status_code == 302


def test_a_locked_username_does_not_lock_the_same_user_from_another_address(alice: Any) -> None:
    attacker = Client(REMOTE_ADDR="203.0.113.9")
    wrong_logins(attacker, "/login/", "alice", settings.AXES_FAILURE_LIMIT)
    assert attacker.post("/login/", {"username": "alice", "password": PASSWORD}).status_code == 429
    owner = Client(REMOTE_ADDR="198.51.100.7")
    assert owner.post("/login/", {"username": "alice", "password": PASSWORD}).status_code == 302


def test_wrong_api_keys_are_locked_out_per_address(alice: Any, project: Any) -> None:
    raw = ApiKey.generate()
    ApiKey.objects.create(
        project=project, name="ci", prefix=raw[:8], hashed_key=ApiKey.hash(raw), role=Role.VIEWER, user=alice
    )
    url = "/api/v1/projects/acme/runs"
    assert Client(HTTP_AUTHORIZATION=f"Bearer {raw}").get(url).status_code == 200
    attacker = {"REMOTE_ADDR": "203.0.113.9"}
    statuses = [
        Client(HTTP_AUTHORIZATION=f"Bearer sk_wrong{i:04d}", **attacker).get(url).status_code
        for i in range(settings.AXES_FAILURE_LIMIT + 3)
    ]
    assert statuses[0] in (401, 403)
    assert statuses[-1] == 429
    locked = Client(HTTP_AUTHORIZATION=f"Bearer {raw}", **attacker).get(url)
    assert locked.status_code == 429  # even the right key, from the locked address
    assert locked.json()["code"] == "locked_out"
    # Another address is not affected; an admin reset frees the locked one.
    assert Client(HTTP_AUTHORIZATION=f"Bearer {raw}", REMOTE_ADDR="198.51.100.7").get(url).status_code == 200
    call_command("axes_reset_ip", "203.0.113.9")
    assert Client(HTTP_AUTHORIZATION=f"Bearer {raw}", **attacker).get(url).status_code == 200
