"""The SDK client cache: one client per event loop and endpoint, nothing kept past its loop."""

from __future__ import annotations

import asyncio

from traces import openai_compat


async def _client(api_base: str) -> object:
    return openai_compat.client_for(api_base, "key-for-tests")


def test_one_client_per_loop_and_endpoint_and_none_kept_after_the_loop_closes():
    first_loop = asyncio.new_event_loop()
    first = first_loop.run_until_complete(_client("http://127.0.0.1:9/v1"))
    assert first_loop.run_until_complete(_client("http://127.0.0.1:9/v1")) is first
    first_loop.close()

    second_loop = asyncio.new_event_loop()
    try:
        second = second_loop.run_until_complete(_client("http://127.0.0.1:9/v1"))
        assert second is not first  # a connection pool belongs to one loop
        assert first_loop not in openai_compat._clients and second_loop in openai_compat._clients
    finally:
        second_loop.close()


def test_the_client_dropped_past_the_per_loop_limit_is_closed():
    async def fill() -> tuple[object, object]:
        oldest = openai_compat.client_for("http://127.0.0.1:9/v0", "key-for-tests")
        for n in range(1, openai_compat.MAX_CLIENTS_PER_LOOP + 1):
            openai_compat.client_for(f"http://127.0.0.1:9/v{n}", "key-for-tests")
        await asyncio.gather(*openai_compat._closing)
        return oldest, openai_compat._clients[asyncio.get_running_loop()]

    loop = asyncio.new_event_loop()
    try:
        oldest, per_loop = loop.run_until_complete(fill())
        assert oldest not in per_loop.values() and len(per_loop) == openai_compat.MAX_CLIENTS_PER_LOOP
        assert oldest.is_closed()
    finally:
        loop.close()
