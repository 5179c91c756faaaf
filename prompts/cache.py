"""Label resolution through two caches, invalidated on commit and pushed to every process.

A run resolves ``(project, slug, label)`` to the version the label points at
on every ``llm`` node it executes, so the lookup is cached:

1. **In-process** (a dict per process): a hit costs a dict lookup (goal: p50
   ≤ 0.5 ms). It is used only while this process's *listener* is subscribed
   to the invalidation channel (see below) — a process that could miss an
   invalidation does not trust its own copy — and each entry also expires
   after ``settings.STUDIO_PROMPT_CACHE_TTL_S`` (default 300 s) as a last
   safety net.
2. **Redis** (queue mode): key ``<prefix>:<project id>:<slug>:label:<name>``
   (``prefix`` is ``settings.STUDIO_PROMPT_CACHE_PREFIX``, ``prompt`` by
   default) holding ``<stamp>|<json>``, where ``stamp`` is the label row's
   ``updated_at`` in µs and ``json`` the resolved version (goal: p50 ≤ 2 ms).
   Writes are compare-and-set on the stamp (a Lua script): a reader that read
   the database before a move committed can never overwrite the newer entry.
   Entries expire after the same TTL.
3. **PostgreSQL**, the source of truth, on a miss of both.

**Invalidation.** Every save or delete of a :class:`~prompts.models.PromptLabel`
(a label move, a new label, a deleted prompt or project) calls
:func:`label_changed`: at once, this process drops its copy and the Redis
key; after the transaction commits (``transaction.on_commit``) it writes the
committed pointer to Redis and publishes ``{"project", "slug", "label"}`` on
the channel ``<prefix>:invalidate``. Every web and worker process runs a
listener thread subscribed to that channel (started by the ASGI module, by
each Celery pool process on ``worker_process_init``, and lazily by the first
resolution in any other process); a message drops the process's copy, so a
promotion reaches a running worker as fast as Redis delivers the message (goal:
next run on the new version, p95 ≤ 1 s; no restart). The listener reconnects
on its own with a capped back-off; while it is not subscribed, the process
reads Redis and PostgreSQL, and it empties its copy every time it
(re)subscribes, so a message missed during an outage cannot leave a stale entry.

A version commit changes no label, so it invalidates nothing: pinned versions
are immutable and are not cached here.

**Quickstart** (no ``REDIS_URL``): one process, the in-process cache alone,
invalidated directly on commit.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
import time
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import transaction

log = logging.getLogger(__name__)

#: Set ``KEYS[1]`` to ``ARGV[1] .. "|" .. ARGV[2]`` (TTL ``ARGV[3]`` s) unless it holds a newer stamp.
_CAS_SCRIPT = """
local cur = redis.call('GET', KEYS[1])
if cur then
  local bar = string.find(cur, '|', 1, true)
  if bar then
    local stamp = tonumber(string.sub(cur, 1, bar - 1))
    if stamp and stamp > tonumber(ARGV[1]) then return 0 end
  end
end
redis.call('SET', KEYS[1], ARGV[1] .. '|' .. ARGV[2], 'EX', ARGV[3])
return 1
"""


@dataclass(frozen=True)
class ResolvedPrompt:
    """The prompt version a label points at, as a run needs it.

    ``version_id``: the :class:`~prompts.models.PromptVersion` pk (spans
    record it); ``version``: its number; ``messages``: ``[{"role",
    "content"}]`` with Jinja2 contents; ``variables``: declared names;
    ``model_config``: default sampling parameters. ``stamp``: the label row's
    ``updated_at`` in µs since the epoch (orders cache writes).
    """

    version_id: int
    version: int
    messages: list[dict[str, str]]
    variables: list[str]
    model_config: dict[str, Any]
    stamp: int

    def to_json(self) -> str:
        return json.dumps(
            {
                "version_id": self.version_id,
                "version": self.version,
                "messages": self.messages,
                "variables": self.variables,
                "model_config": self.model_config,
            },
            separators=(",", ":"),
        )

    @classmethod
    def from_raw(cls, raw: bytes | str) -> ResolvedPrompt:
        """Parse a Redis value ``<stamp>|<json>``; raises ``ValueError`` when malformed."""
        text = raw.decode() if isinstance(raw, bytes) else raw
        stamp, _, body = text.partition("|")
        data = json.loads(body)
        return cls(
            version_id=int(data["version_id"]),
            version=int(data["version"]),
            messages=list(data["messages"]),
            variables=list(data["variables"]),
            model_config=dict(data["model_config"]),
            stamp=int(stamp),
        )


def cache_key(project_id: int, slug: str, label: str) -> str:
    """The Redis key of a label: ``<prefix>:<project id>:<slug>:label:<name>``."""
    return f"{settings.STUDIO_PROMPT_CACHE_PREFIX}:{int(project_id)}:{slug}:label:{label}"


def channel_name() -> str:
    """The Redis pub/sub channel label changes are announced on: ``<prefix>:invalidate``."""
    return f"{settings.STUDIO_PROMPT_CACHE_PREFIX}:invalidate"


def _db_resolve(project_id: int, slug: str, label: str) -> ResolvedPrompt:
    from prompts.models import PromptLabel

    pointer = (
        PromptLabel.objects.select_related("version")
        .filter(prompt__project_id=project_id, prompt__slug=slug, name=label)
        .first()
    )
    if pointer is None:
        from prompts.models import Prompt

        if not Prompt.objects.filter(project_id=project_id, slug=slug).exists():
            raise LookupError(f'Prompt "{slug}" does not exist in this project.')
        raise LookupError(f'Prompt "{slug}" has no label "{label}".')
    version = pointer.version
    return ResolvedPrompt(
        version_id=int(version.pk),
        version=int(version.version),
        messages=list(version.messages),
        variables=list(version.variables),
        model_config=dict(version.model_config),
        stamp=int(pointer.updated_at.timestamp() * 1_000_000),
    )


class LabelCache:
    """One process's label cache and its invalidation listener (see the module docstring).

    ``redis_url`` empty: quickstart (in-process only, always trusted).
    Thread-safe; after a fork the child gets a fresh instance
    (:func:`label_cache` checks the pid).
    """

    def __init__(self, redis_url: str, *, ttl_s: float, channel: str) -> None:
        self.redis_url = redis_url
        self.ttl_s = ttl_s
        self.channel = channel
        self.pid = os.getpid()
        self._local: dict[tuple[int, str, str], tuple[float, ResolvedPrompt]] = {}
        self._lock = threading.Lock()
        #: Bumped by every invalidation: a fill that started before one is not stored.
        self._generation = 0
        #: The local copy is trusted only while this is True (always in quickstart).
        self.subscribed = not redis_url
        self._client: Any = None
        self._script: Any = None
        self._listener: threading.Thread | None = None
        self._stop = threading.Event()
        #: Set each time the listener (re)subscribes; tests and benchmarks wait on it.
        self.subscribed_event = threading.Event()
        #: The listener's Redis client name (``CLIENT LIST``), unique per instance.
        self.listener_name = f"prompt-cache-listener-{self.pid}-{id(self):x}"
        if not redis_url:
            self.subscribed_event.set()

    # ------------------------------------------------------------ reading

    def get_local(self, project_id: int, slug: str, label: str) -> ResolvedPrompt | None:
        """The in-process copy, or None (absent, expired, or not trusted now). No I/O."""
        if not self.subscribed:
            return None
        entry = self._local.get((project_id, slug, label))
        if entry is None or entry[0] < time.monotonic():
            return None
        return entry[1]

    def resolve(self, project_id: int, slug: str, label: str) -> ResolvedPrompt:
        """The version ``label`` points at: in-process copy, else Redis, else PostgreSQL.

        Sync (database access). Raises ``LookupError`` naming the missing
        prompt or label. A Redis failure is logged and falls through to
        PostgreSQL; it never fails a run.
        """
        hit = self.get_local(project_id, slug, label)
        if hit is not None:
            return hit
        self.ensure_listener()
        generation = self._generation
        key = cache_key(project_id, slug, label)
        client = self._redis()
        if client is not None:
            try:
                raw = client.get(key)
            except Exception:
                log.warning("prompt cache: Redis read failed", exc_info=True)
                raw = None
            if raw:
                try:
                    found = ResolvedPrompt.from_raw(raw)
                except (ValueError, KeyError, TypeError):
                    found = None
                if found is not None:
                    self._store_local(project_id, slug, label, found, generation)
                    return found
        found = _db_resolve(project_id, slug, label)
        self._store_redis(key, found)
        self._store_local(project_id, slug, label, found, generation)
        return found

    def _store_local(self, project_id: int, slug: str, label: str, found: ResolvedPrompt, generation: int) -> None:
        with self._lock:
            if generation == self._generation and self.subscribed:
                self._local[(project_id, slug, label)] = (time.monotonic() + self.ttl_s, found)

    def _store_redis(self, key: str, found: ResolvedPrompt) -> None:
        client = self._redis()
        if client is None:
            return
        try:
            self._script(keys=[key], args=[found.stamp, found.to_json(), max(1, int(self.ttl_s))])
        except Exception:
            log.warning("prompt cache: Redis write failed", exc_info=True)

    def _redis(self) -> Any:
        if not self.redis_url:
            return None
        if self._client is None:
            import redis

            client = redis.Redis.from_url(self.redis_url, socket_timeout=2, socket_connect_timeout=2)
            self._script = client.register_script(_CAS_SCRIPT)
            self._client = client
        return self._client

    # ------------------------------------------------------- invalidation

    def drop_local(self, project_id: int | None = None, slug: str | None = None, label: str | None = None) -> None:
        """Forget this process's copy of one label (all of them when ``project_id`` is None)."""
        with self._lock:
            self._generation += 1
            if project_id is None or slug is None or label is None:
                self._local.clear()
            else:
                self._local.pop((project_id, slug, label), None)

    def label_changed(self, project_id: int, slug: str, label: str) -> None:
        """A label row was written or deleted (inside the writer's transaction).

        Drops the local copy and the Redis key now, and after commit re-reads
        the committed pointer into Redis and publishes the change to every
        process (:meth:`publish`). Never raises for a Redis failure.
        """
        self.drop_local(project_id, slug, label)
        client = self._redis()
        if client is not None:
            try:
                client.delete(cache_key(project_id, slug, label))
            except Exception:
                log.warning("prompt cache: Redis delete failed", exc_info=True)
        transaction.on_commit(lambda: self.committed(project_id, slug, label))

    def committed(self, project_id: int, slug: str, label: str) -> None:
        """After a label change committed: refresh Redis, drop local copies here and in every process."""
        self.drop_local(project_id, slug, label)
        client = self._redis()
        if client is None:
            return
        key = cache_key(project_id, slug, label)
        try:
            self._store_redis(key, _db_resolve(project_id, slug, label))
        except LookupError:  # the label (or its prompt) is gone
            try:
                client.delete(key)
            except Exception:
                log.warning("prompt cache: Redis delete failed", exc_info=True)
        self.publish(project_id, slug, label)

    def publish(self, project_id: int, slug: str, label: str) -> None:
        """Announce a label change on :func:`channel_name` (never raises)."""
        client = self._redis()
        if client is None:
            return
        message = json.dumps({"project": project_id, "slug": slug, "label": label})
        try:
            client.publish(self.channel, message)
        except Exception:
            log.warning("prompt cache: could not publish a label change", exc_info=True)

    def apply_message(self, data: bytes | str) -> None:
        """Handle one invalidation message: drop the named label (everything when it is malformed)."""
        try:
            body = json.loads(data)
            self.drop_local(int(body["project"]), str(body["slug"]), str(body["label"]))
        except (ValueError, KeyError, TypeError):
            self.drop_local()

    # ----------------------------------------------------------- listener

    def ensure_listener(self) -> None:
        """Start this process's listener thread once (no-op in quickstart or when running)."""
        if not self.redis_url or (self._listener is not None and self._listener.is_alive()):
            return
        with self._lock:
            if self._listener is not None and self._listener.is_alive():
                return
            self._stop.clear()
            self._listener = threading.Thread(target=self._listen, name="prompt-cache-listener", daemon=True)
            self._listener.start()

    def stop_listener(self) -> None:
        """Stop the listener (tests); the local copy stops being trusted."""
        self._stop.set()
        if self._listener is not None:
            self._listener.join(timeout=5)
        self._set_subscribed(False)

    def _set_subscribed(self, value: bool) -> None:
        with self._lock:
            # Whatever happened while not subscribed is unknown: start empty either way.
            self._generation += 1
            self._local.clear()
            self.subscribed = value
        if value:
            self.subscribed_event.set()
        else:
            self.subscribed_event.clear()

    def _listen(self) -> None:
        import redis

        backoff = 0.1
        while not self._stop.is_set():
            pubsub = None
            try:
                client = redis.Redis.from_url(
                    self.redis_url,
                    socket_connect_timeout=2,
                    socket_keepalive=True,
                    health_check_interval=5,
                    client_name=self.listener_name,
                )
                pubsub = client.pubsub(ignore_subscribe_messages=False)
                pubsub.subscribe(self.channel)
                while not self._stop.is_set():
                    message = pubsub.get_message(timeout=1.0)
                    if message is None:
                        continue
                    if message["type"] == "subscribe":
                        self._set_subscribed(True)
                        backoff = 0.1
                    elif message["type"] == "message":
                        self.apply_message(message["data"])
            except Exception:
                if self.subscribed:
                    log.warning("prompt cache: listener lost Redis; reconnecting", exc_info=True)
                self._set_subscribed(False)
                self._stop.wait(backoff)
                backoff = min(backoff * 2, 5.0)
            finally:
                if pubsub is not None:
                    with contextlib.suppress(Exception):
                        pubsub.close()


_cache: LabelCache | None = None
_cache_lock = threading.Lock()


def label_cache() -> LabelCache:
    """This process's :class:`LabelCache` (a new one after a fork: threads do not survive it)."""
    global _cache
    cache = _cache
    if cache is not None and cache.pid == os.getpid():
        return cache
    with _cache_lock:
        if _cache is None or _cache.pid != os.getpid():
            _cache = LabelCache(
                settings.REDIS_URL,
                ttl_s=float(settings.STUDIO_PROMPT_CACHE_TTL_S),
                channel=channel_name(),
            )
        return _cache


def prompt_label_resolve(*, project_id: int, slug: str, label: str) -> ResolvedPrompt:
    """The version ``label`` of prompt ``slug`` points at in project ``project_id``, cached.

    Internal (the run was already authorised for its project). Sync; raises
    ``LookupError`` naming the missing prompt or label.
    """
    return label_cache().resolve(project_id, slug, label)


def start_listener(**_: Any) -> None:
    """Start this process's invalidation listener (a Celery/ASGI start hook; no-op in quickstart)."""
    label_cache().ensure_listener()
