"""What the client trusts of its server, and its task lifecycle (realtime/client.py): the reconnect policy, fatal
closes, unreadable events, the session.created and answer timeouts, bounded events() queues, and close() ending
every task it started even when cancelled. All in memory (realtime.transport.memory_connector), no socket."""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import pytest

from realtime.client import ConnectionFailed, FatalConnectionError, RealtimeClient, ReconnectPolicy
from realtime.config import Settings
from realtime.events import AppEvent, RealtimeError, Reconnected, Reconnecting
from realtime.transport import Connection, memory_connector

Serve = Callable[[Connection, str, Mapping[str, str]], Awaitable[None]]
CREATED = json.dumps({"type": "session.created", "session": {"type": "realtime", "id": "s1"}})


def settings(**values: Any) -> Settings:
    return Settings(_env_file=None, realtime_provider="local", **values)


class Server:
    """Counts connections and serves each with ``behaviour(n, conn)`` (n: 1-based connection number)."""

    def __init__(self, behaviour: Callable[[int, Connection], Awaitable[None]]) -> None:
        self.behaviour = behaviour
        self.connections = 0
        self.received: list[dict[str, Any]] = []

    async def serve(self, conn: Connection, path: str, headers: Mapping[str, str]) -> None:
        self.connections += 1
        await self.behaviour(self.connections, conn)

    async def drain(self, conn: Connection) -> None:
        async for frame in conn:
            self.received.append(json.loads(frame))

    def client(self, **kwargs: Any) -> RealtimeClient:
        values = kwargs.pop("settings", {})
        return RealtimeClient(settings(**values), connector=memory_connector(self.serve), **kwargs)


async def collect(client: RealtimeClient, limit_s: float = 10.0) -> list[AppEvent]:
    """Every event until the client's iterators end."""
    seen: list[AppEvent] = []
    async with asyncio.timeout(limit_s):
        async for event in client.events():
            seen.append(event)
    return seen


FAST = ReconnectPolicy(max_attempts=4, base_s=0.01, max_s=0.05, healthy_after_s=10.0)


def test_backoff_grows_with_jitter_up_to_its_cap() -> None:
    policy = ReconnectPolicy(base_s=0.5, max_s=15.0)
    rng = random.Random(1)
    for attempt, full in [(1, 0.5), (2, 1.0), (3, 2.0), (4, 4.0), (5, 8.0), (6, 15.0), (9, 15.0)]:
        delays = [policy.delay(attempt, rng) for _ in range(50)]
        assert all(full / 2 <= d <= full for d in delays) and len(set(delays)) > 1
    assert ReconnectPolicy(delays=(0.1, 0.2)).delay(5) == 0.2


async def test_a_server_that_accepts_then_closes_is_retried_a_bounded_number_of_times_then_one_error() -> None:
    async def behaviour(n: int, conn: Connection) -> None:
        await conn.send(CREATED)
        await conn.close(1000)

    server = Server(behaviour)
    client = server.client(reconnect=FAST)
    await client.connect()
    events = await collect(client)
    errors = [e for e in events if isinstance(e, RealtimeError)]
    assert server.connections == 1 + FAST.max_attempts
    assert len(errors) == 1 and errors[0].fatal and "could not reconnect" in errors[0].message
    assert len([e for e in events if isinstance(e, Reconnecting)]) == FAST.max_attempts
    await client.close()


async def test_a_connection_that_stayed_healthy_resets_the_count() -> None:
    async def behaviour(n: int, conn: Connection) -> None:
        await conn.send(CREATED)
        if n % 2 and n < 6:
            await asyncio.sleep(0.15)  # healthy (healthy_after_s=0.1), then dropped
        await conn.close(1011)

    server = Server(behaviour)
    policy = ReconnectPolicy(max_attempts=2, base_s=0.01, max_s=0.01, healthy_after_s=0.1)
    client = server.client(reconnect=policy)
    await client.connect()
    await collect(client)
    # 1 healthy, 2 quick (count 1), 3 healthy (count 2, then reset), 4 quick (1), 5 healthy (2, reset), 6 and 7
    # quick (1, 2), then it gives up. Without the reset it would give up after connection 3.
    assert server.connections == 7
    await client.close()


@pytest.mark.parametrize("code", [1008, 4000, 4001, 4002, 4003])
async def test_a_fatal_close_stops_at_once_with_one_error(code: int) -> None:
    async def behaviour(n: int, conn: Connection) -> None:
        await conn.send(CREATED)
        await conn.close(code, "nope")

    server = Server(behaviour)
    client = server.client(reconnect=FAST)
    await client.connect()
    events = await collect(client)
    assert server.connections == 1
    errors = [e for e in events if isinstance(e, RealtimeError)]
    assert len(errors) == 1 and errors[0].fatal and f"code {code}" in errors[0].message
    assert not [e for e in events if isinstance(e, Reconnecting)]
    await client.close()


async def test_a_fatal_error_event_stops_at_once() -> None:
    async def behaviour(n: int, conn: Connection) -> None:
        await conn.send(CREATED)
        error = {"type": "invalid_request_error", "code": "invalid_api_key", "message": "Incorrect API key provided"}
        await conn.send(json.dumps({"type": "error", "error": error}))
        await conn.close(1000)

    server = Server(behaviour)
    client = server.client(reconnect=FAST)
    await client.connect()
    errors = [e for e in await collect(client) if isinstance(e, RealtimeError)]
    assert server.connections == 1 and len(errors) == 1 and errors[0].code == "invalid_api_key"
    await client.close()


async def test_a_fatal_error_before_session_created_fails_the_connect() -> None:
    async def behaviour(n: int, conn: Connection) -> None:
        error = {"type": "invalid_request_error", "code": "beta_api_shape_disabled", "message": "no beta"}
        await conn.send(json.dumps({"type": "error", "error": error}))
        await conn.close(4000)

    with pytest.raises(FatalConnectionError):
        await Server(behaviour).client().connect()


async def test_no_session_created_times_out_with_a_clear_error() -> None:
    async def behaviour(n: int, conn: Connection) -> None:
        await asyncio.sleep(10)

    client = Server(behaviour).client(settings={"realtime_session_timeout_s": 0.2})
    with pytest.raises(ConnectionFailed, match=r"no session\.created within 0\.2 s"):
        await client.connect()
    await client.close()


async def test_unreadable_events_are_reported_once_and_skipped_without_a_reconnect() -> None:
    async def behaviour(n: int, conn: Connection) -> None:
        await conn.send(CREATED)
        await conn.send(json.dumps({"type": "response.created", "response": {"id": "r1"}}))
        for i in range(20):
            await conn.send("not json" if i % 2 else '{"type": "response.output_audio.delta", "response_id": "r1"}')
            delta = {"type": "response.output_audio.delta", "response_id": "r1", "item_id": "i1", "output_index": 0,
                     "content_index": 0, "delta": "!!!not base64"}  # fmt: skip
            await conn.send(json.dumps(delta))
        await conn.send(json.dumps({"type": "response.done", "response": {"id": "r1", "status": "completed"}}))
        await asyncio.sleep(0.3)
        await conn.close(4001)  # ends the test

    server = Server(behaviour)
    client = server.client(reconnect=FAST)
    await client.connect()
    events = await collect(client)
    invalid = [e for e in events if isinstance(e, RealtimeError) and e.code == "invalid_server_event"]
    assert len(invalid) == 1 and not invalid[0].fatal
    assert server.connections == 1 and not [e for e in events if isinstance(e, Reconnecting)]
    await client.close()


async def test_an_answer_that_never_starts_ends_in_one_error_and_the_next_turn_can_ask() -> None:
    server: Server

    async def behaviour(n: int, conn: Connection) -> None:
        await conn.send(CREATED)
        await server.drain(conn)  # answers nothing

    server = Server(behaviour)
    client = server.client(settings={"realtime_response_timeout_s": 0.3})
    await client.connect()
    events = client.events()
    await client.send_text("hello?")
    seen: list[AppEvent] = []
    async with asyncio.timeout(5):
        async for event in events:
            seen.append(event)
            if isinstance(event, RealtimeError):
                break
    assert [e.code for e in seen if isinstance(e, RealtimeError)] == ["response_timeout"]
    await client.send_text("again?")
    await asyncio.sleep(0.05)
    assert [e["type"] for e in server.received].count("response.create") == 2
    await client.close()


async def test_a_slow_consumer_is_told_and_its_queue_stays_bounded() -> None:
    async def behaviour(n: int, conn: Connection) -> None:
        await conn.send(CREATED)
        await conn.send(json.dumps({"type": "response.created", "response": {"id": "r1"}}))
        for i in range(300):
            delta = {"type": "response.output_text.delta", "response_id": "r1", "item_id": "i1", "output_index": 0,
                     "content_index": 0, "delta": f"{i} "}  # fmt: skip
            await conn.send(json.dumps(delta))
        await asyncio.sleep(10)

    client = Server(behaviour).client(max_queued_events=50)
    await client.connect()
    events = client.events()  # nobody reads it for a while
    await asyncio.sleep(0.3)
    first = [await anext(events) for _ in range(52)]
    assert any(isinstance(e, RealtimeError) and e.code == "events_dropped" for e in first)
    await client.close()


async def test_close_ends_every_task_even_when_cancelled_mid_await() -> None:
    async def behaviour(n: int, conn: Connection) -> None:
        await conn.send(CREATED)
        await asyncio.sleep(30)  # never closes, never answers the close promptly

    before = asyncio.all_tasks()
    client = Server(behaviour).client()
    await client.connect()
    client.run_task(asyncio.sleep(30), name="tool")
    await asyncio.sleep(0.05)
    closing = asyncio.create_task(client.close())
    await asyncio.sleep(0)
    closing.cancel()  # the caller gives up while close() awaits
    with pytest.raises(asyncio.CancelledError):
        await closing
    await asyncio.sleep(0.1)
    left = [t for t in asyncio.all_tasks() - before if t is not asyncio.current_task() and not t.done()]
    left = [t for t in left if t.get_name() != "memory-connection"]  # the fake server's own task
    assert left == [], [t.get_name() for t in left]


async def test_a_late_subscriber_still_learns_why_the_client_stopped() -> None:
    async def behaviour(n: int, conn: Connection) -> None:
        await conn.send(CREATED)
        await conn.close(4000, "gone")

    client = Server(behaviour).client()
    await client.connect()
    await asyncio.sleep(0.1)
    events = await collect(client)
    assert [e.code for e in events if isinstance(e, RealtimeError)] == ["connection_closed"]
    await client.close()


async def test_a_renewal_is_not_a_failure() -> None:
    async def behaviour(n: int, conn: Connection) -> None:
        await conn.send(CREATED)
        if n < 4:
            expired = {"type": "invalid_request_error", "code": "session_expired", "message": "time is up"}
            await conn.send(json.dumps({"type": "error", "error": expired}))
        await asyncio.sleep(10)

    server = Server(behaviour)
    client = server.client(reconnect=ReconnectPolicy(max_attempts=1, base_s=0.01, max_s=0.01))
    await client.connect()
    events = client.events()
    renewed = 0
    async with asyncio.timeout(5):
        async for event in events:
            if isinstance(event, Reconnected):
                assert event.renewed
                renewed += 1
                if renewed == 3:
                    break
    assert server.connections == 4
    await client.close()
