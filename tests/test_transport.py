"""The in-memory connection pair (``realtime.transport.memory_pair``): bounded buffers, order, and closes that wake
a waiting sender. In-process only, each test bounded in time."""

from __future__ import annotations

import asyncio

import pytest
from websockets.exceptions import ConnectionClosed, ConnectionClosedError

from realtime.transport import MAX_QUEUED_FRAMES, MemoryConnection, memory_pair

LIMIT_S = 5.0


async def _settle() -> None:
    for _ in range(50):  # let every runnable task run as far as it can
        await asyncio.sleep(0)


async def _read(conn: MemoryConnection, count: int) -> list[str | bytes]:
    frames: list[str | bytes] = []
    async for frame in conn:
        frames.append(frame)
        if len(frames) == count:
            break
    return frames


async def test_a_stalled_reader_holds_at_most_max_queued_frames_and_stops_the_sender() -> None:
    a, b = memory_pair(max_queued=8)

    async def send_all() -> None:
        for i in range(100):
            await a.send(f"frame {i}")

    sender = asyncio.create_task(send_all())
    async with asyncio.timeout(LIMIT_S):
        await _settle()
        assert b.queued == 8 and not sender.done()  # the sender waits: memory does not grow
        frames = await _read(b, 100)  # the reader catches up: everything arrives, in order
        await sender
    assert frames == [f"frame {i}" for i in range(100)]
    assert b.queued == 0


async def test_the_default_bound() -> None:
    a, b = memory_pair()
    async with asyncio.timeout(LIMIT_S):
        for i in range(MAX_QUEUED_FRAMES):
            await a.send(str(i))
        blocked = asyncio.create_task(a.send("one too many"))
        await _settle()
        assert not blocked.done() and b.queued == MAX_QUEUED_FRAMES
        assert await _read(b, 1) == ["0"]
        await blocked
    assert b.queued == MAX_QUEUED_FRAMES


@pytest.mark.parametrize("closer", ["sender", "reader"])
async def test_a_close_wakes_a_sender_waiting_on_a_full_buffer(closer: str) -> None:
    a, b = memory_pair(max_queued=2)
    await a.send("1")
    await a.send("2")
    blocked = asyncio.create_task(a.send("3"))
    await _settle()
    assert not blocked.done()
    async with asyncio.timeout(LIMIT_S):
        await (a if closer == "sender" else b).close(1011, "going away")
        with pytest.raises(ConnectionClosed):
            await blocked
        with pytest.raises(ConnectionClosedError):  # what was sent before the close is still read, then the error
            await _read(b, 3)
    with pytest.raises(ConnectionClosed):
        await a.send("after the close")


async def test_concurrent_senders_keep_their_call_order_through_a_full_buffer() -> None:
    a, b = memory_pair(max_queued=1)
    senders = [asyncio.create_task(a.send(str(i))) for i in range(20)]
    async with asyncio.timeout(LIMIT_S):
        await _settle()
        assert b.queued == 1
        frames = await _read(b, 20)
        await asyncio.gather(*senders)
    assert frames == [str(i) for i in range(20)]


async def test_a_normal_close_ends_the_reader_after_the_frames_sent_before() -> None:
    a, b = memory_pair(max_queued=4)
    async with asyncio.timeout(LIMIT_S):
        await a.send("last words")
        await a.close()
        assert [f async for f in b] == ["last words"]
        assert [f async for f in a] == []
    assert (a.close_code, b.close_code) == (1000, 1000)


def test_a_bound_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        memory_pair(max_queued=0)


@pytest.mark.parametrize(
    ("close_code", "fatal"), [(1008, True), (4001, True), (1000, False), (1011, False), (None, False)]
)
def test_only_policy_and_authentication_closes_are_fatal(close_code: int | None, fatal: bool) -> None:
    from realtime.transport import is_fatal_close

    assert is_fatal_close(close_code) is fatal


def test_a_refused_key_permission_or_endpoint_is_fatal_a_busy_server_is_not() -> None:
    from realtime.transport import is_fatal_handshake

    assert [is_fatal_handshake(s) for s in (401, 403, 404, 429, 500, None)] == [True] * 3 + [False] * 3
