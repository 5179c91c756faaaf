"""Label resolution cache: in-process copy, Redis, push invalidation on commit (prompts.cache)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis
from django.conf import settings

from prompts.cache import LabelCache, ResolvedPrompt, cache_key, channel_name, label_cache, prompt_label_resolve
from prompts.models import Prompt, PromptVersion
from prompts.services import prompt_create, prompt_label_move, prompt_version_commit


def _wait_for(predicate: Callable[[], bool], what: str, timeout_s: float = 10.0) -> None:
    """Poll a state with a deadline (no fixed sleep); raises naming what never happened."""
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen within {timeout_s} s")
        time.sleep(0.01)


@pytest.fixture
def rconn() -> redis.Redis:
    return redis.Redis.from_url(settings.REDIS_URL)


@pytest.fixture
def greeting(project: Any, alice: Any) -> tuple[Prompt, PromptVersion, PromptVersion]:
    prompt = prompt_create(project=project, user=alice, name="Greeting")
    v1 = prompt_version_commit(
        prompt=prompt, user=alice, messages=[{"role": "user", "content": "Hi {{ name }}"}], variables=["name"]
    )
    v2 = prompt_version_commit(
        prompt=prompt, user=alice, messages=[{"role": "user", "content": "Hello there, {{ name }}"}], variables=["name"]
    )
    prompt_label_move(prompt=prompt, label="production", version=v1, user=alice)
    return prompt, v1, v2


@pytest.fixture
def other_process() -> Iterator[LabelCache]:
    """A second cache with its own listener: what another worker process holds."""
    cache = LabelCache(settings.REDIS_URL, ttl_s=300, channel=channel_name())
    cache.ensure_listener()
    assert cache.subscribed_event.wait(10), "the listener did not subscribe"
    yield cache
    cache.stop_listener()


@pytest.mark.django_db(transaction=True)
def test_label_move_reaches_another_process_on_commit(greeting, alice, other_process, rconn) -> None:
    prompt, v1, v2 = greeting
    project_id = prompt.project_id
    first = other_process.resolve(project_id, "greeting", "production")
    assert first.version == 1 and first.version_id == v1.pk
    assert other_process.get_local(project_id, "greeting", "production") == first  # an in-process hit now
    assert ResolvedPrompt.from_raw(rconn.get(cache_key(project_id, "greeting", "production"))).version == 1

    prompt_label_move(prompt=prompt, label="production", version=v2, user=alice, expected_version=1)

    # The publication drops the other process's copy; its next resolution reads the new pointer.
    _wait_for(lambda: other_process.get_local(project_id, "greeting", "production") is None, "invalidation")
    again = other_process.resolve(project_id, "greeting", "production")
    assert (again.version, again.version_id) == (2, v2.pk)
    assert again.messages == [{"role": "user", "content": "Hello there, {{ name }}"}]
    # Redis was refreshed on commit with the committed pointer.
    assert ResolvedPrompt.from_raw(rconn.get(cache_key(project_id, "greeting", "production"))).version == 2


@pytest.mark.django_db(transaction=True)
def test_a_move_that_rolls_back_invalidates_nothing_it_should_not(greeting, alice, other_process) -> None:
    from django.db import transaction

    prompt, _, v2 = greeting
    assert other_process.resolve(prompt.project_id, "greeting", "production").version == 1
    with pytest.raises(RuntimeError), transaction.atomic():
        prompt_label_move(prompt=prompt, label="production", version=v2, user=alice)
        raise RuntimeError("abort")
    # Nothing committed: whatever was dropped is read back as version 1 everywhere.
    assert other_process.resolve(prompt.project_id, "greeting", "production").version == 1
    assert prompt_label_resolve(project_id=prompt.project_id, slug="greeting", label="production").version == 1


@pytest.mark.django_db(transaction=True)
def test_a_stale_reader_cannot_overwrite_a_newer_redis_entry(greeting, alice, rconn) -> None:
    prompt, _, v2 = greeting
    old = label_cache().resolve(prompt.project_id, "greeting", "production")
    prompt_label_move(prompt=prompt, label="production", version=v2, user=alice)
    key = cache_key(prompt.project_id, "greeting", "production")
    assert ResolvedPrompt.from_raw(rconn.get(key)).version == 2
    # A reader that read the database before the move committed writes late: refused (older stamp).
    label_cache()._store_redis(key, old)
    assert ResolvedPrompt.from_raw(rconn.get(key)).version == 2


@pytest.mark.django_db(transaction=True)
def test_the_listener_reconnects_and_starts_empty(greeting, other_process, rconn) -> None:
    prompt = greeting[0]
    other_process.resolve(prompt.project_id, "greeting", "production")
    assert other_process.get_local(prompt.project_id, "greeting", "production") is not None
    clients = [c for c in rconn.client_list() if c.get("name") == other_process.listener_name]
    assert len(clients) == 1
    other_process.subscribed_event.clear()
    rconn.client_kill_filter(_id=clients[0]["id"])
    # It notices, resubscribes, and does not trust what it held before (a message may have been missed).
    assert other_process.subscribed_event.wait(15), "the listener did not come back"
    assert other_process.subscribed
    assert other_process.get_local(prompt.project_id, "greeting", "production") is None
    assert [c for c in rconn.client_list() if c.get("name") == other_process.listener_name]


@pytest.mark.django_db
def test_quickstart_uses_the_in_process_cache_alone(greeting, alice, django_capture_on_commit_callbacks) -> None:
    prompt = greeting[0]
    cache = LabelCache("", ttl_s=300, channel="unused")
    assert cache.subscribed  # no listener needed: one process
    assert cache.resolve(prompt.project_id, "greeting", "production").version == 1
    assert cache.get_local(prompt.project_id, "greeting", "production") is not None
    with django_capture_on_commit_callbacks(execute=True):
        cache.label_changed(prompt.project_id, "greeting", "production")
    assert cache.get_local(prompt.project_id, "greeting", "production") is None


@pytest.mark.django_db
def test_unknown_prompt_or_label_is_a_lookup_error_never_a_fallback(greeting) -> None:
    prompt = greeting[0]
    with pytest.raises(LookupError, match='no label "staging"'):
        prompt_label_resolve(project_id=prompt.project_id, slug="greeting", label="staging")
    with pytest.raises(LookupError, match='"nope" does not exist'):
        prompt_label_resolve(project_id=prompt.project_id, slug="nope", label="production")
