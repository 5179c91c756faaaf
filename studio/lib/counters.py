"""Event counters shared by every process of the studio (web, Celery workers, beat).

In queue mode (``REDIS_URL`` set) a counter is a Redis integer (``INCRBY``:
atomic across processes, survives restarts of any one of them); in
quickstart mode everything runs in one process and a counter is an
in-memory integer. Read by the Prometheus ``/metrics`` page.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from django.conf import settings

log = logging.getLogger(__name__)

PREFIX = "studio:counter:"
_local: dict[str, int] = {}
_lock = threading.Lock()


def _client() -> Any:
    import redis

    return redis.Redis.from_url(settings.REDIS_URL, socket_timeout=2, socket_connect_timeout=2)


def counter_add(name: str, amount: int = 1) -> None:
    """Add ``amount`` (≥ 0) to counter ``name``. Never raises: a counter that cannot be written is logged."""
    if amount <= 0:
        return
    if not settings.REDIS_URL:
        with _lock:
            _local[name] = _local.get(name, 0) + amount
        return
    try:
        _client().incrby(PREFIX + name, amount)
    except Exception:
        log.warning("Could not add to counter %s", name, exc_info=True)


def counter_values(names: list[str]) -> dict[str, int]:
    """The current value of each counter (0 for one never added to). Raises on a Redis failure."""
    if not settings.REDIS_URL:
        with _lock:
            return {name: _local.get(name, 0) for name in names}
    raw = _client().mget([PREFIX + name for name in names])
    return {name: int(value or 0) for name, value in zip(names, raw, strict=True)}
