"""The run's redaction wrappers: events and token streams (no database)."""

from __future__ import annotations

from typing import Any

from asgiref.sync import async_to_sync

from agents.redaction import RedactingEventSink
from traces.redaction import Redactor


class _Sink:
    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []

    async def emit(self, type: str, payload: dict[str, Any]) -> None:
        self.events.append((type, payload))


def test_a_secret_split_over_token_deltas_is_never_streamed():
    inner = _Sink()
    sink = RedactingEventSink(inner, Redactor(["hunter2-secret"]))
    for piece in ["the key is hun", "ter2-sec", "ret, done"]:
        async_to_sync(sink.emit)("step.token", {"tokens": [{"node_id": "a", "iteration": "", "text": piece}]})

    streamed = "".join(p["tokens"][0]["text"] for _, p in inner.events)
    assert streamed == "the key is [REDACTED], done"


def test_other_events_are_redacted_whole():
    inner = _Sink()
    sink = RedactingEventSink(inner, Redactor(["hunter2-secret"]))
    async_to_sync(sink.emit)("step.log", {"node_id": "a", "message": "got hunter2-secret"})

    assert inner.events == [("step.log", {"node_id": "a", "message": "got [REDACTED]"})]
