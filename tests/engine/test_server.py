"""The local engine's websocket edge with stand-in stages: which paths and headers get which dialect, plain HTTP
answers, and bad frames that leave the connection usable."""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
import websockets
from websockets.datastructures import Headers

from local_engine.server import MAX_FRAME_BYTES, EngineHost, LocalRealtimeServer, dialect_of
from local_engine.stages import TextPiece
from realtime.transport import MemoryConnection, memory_pair
from tests.engine.fakes import ScriptedReplies, fake_stages


@pytest_asyncio.fixture(loop_scope="function")
async def server() -> AsyncIterator[LocalRealtimeServer]:
    async with LocalRealtimeServer("127.0.0.1", 0, stages=fake_stages()) as running:
        yield running


@pytest.mark.parametrize(
    ("path", "headers", "expected"),
    [
        ("/v1/realtime?model=gpt-realtime", {}, ("ga", "gpt-realtime")),
        ("/openai/v1/realtime?model=my-deployment", {}, ("ga", "my-deployment")),
        ("/openai/realtime?api-version=2025-04-01-preview&deployment=dep", {}, ("beta", "dep")),
        ("/v1/realtime?model=gpt-4o-realtime-preview", {"OpenAI-Beta": "realtime=v1"},
         ("beta", "gpt-4o-realtime-preview")),
        ("/somewhere/else", {}, None),
    ],
)  # fmt: skip
def test_paths_and_headers_choose_the_dialect(
    path: str, headers: dict[str, str], expected: tuple[str, str] | None
) -> None:
    assert dialect_of(path, Headers(headers)) == expected


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


async def test_plain_http_gets_a_health_answer_and_unknown_paths_404(server: LocalRealtimeServer) -> None:
    assert await asyncio.to_thread(_get, f"http://127.0.0.1:{server.port}/") == (200, "Realtime local engine: ok\n")
    assert (await asyncio.to_thread(_get, f"http://127.0.0.1:{server.port}/nope"))[0] == 404
    with pytest.raises(websockets.InvalidStatus):
        await websockets.connect(f"ws://127.0.0.1:{server.port}/not/realtime")


async def test_beta_header_gets_beta_event_names(server: LocalRealtimeServer) -> None:
    url = f"ws://127.0.0.1:{server.port}/v1/realtime?model=gpt-4o-realtime-preview"
    async with websockets.connect(url, additional_headers={"OpenAI-Beta": "realtime=v1"}) as ws:
        created = json.loads(await ws.recv())
        assert created["type"] == "session.created" and created["session"]["input_audio_format"] == "pcm16"
        item = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi"}]}
        await ws.send(json.dumps({"type": "conversation.item.create", "item": item}))
        await ws.send(json.dumps({"type": "response.create"}))
        kinds = []
        while "response.done" not in kinds:
            kinds.append(json.loads(await ws.recv())["type"])
    assert "conversation.item.created" in kinds and "response.audio.delta" in kinds
    assert "conversation.item.added" not in kinds and "response.output_audio.delta" not in kinds


async def test_bad_frames_get_errors_on_a_connection_that_stays_open(server: LocalRealtimeServer) -> None:
    async with websockets.connect(f"ws://127.0.0.1:{server.port}/v1/realtime?model=gpt-realtime") as ws:
        assert json.loads(await ws.recv())["type"] == "session.created"
        await ws.send("{broken")
        assert json.loads(await ws.recv())["error"]["code"] == "invalid_json"
        await ws.send(b"\xff\xfe binary")
        assert json.loads(await ws.recv())["type"] == "error"
        await ws.send(json.dumps({"type": "session.update", "session": {"type": "realtime", "instructions": "ok"}}))
        assert json.loads(await ws.recv())["type"] == "session.updated"


# ---------------------------------------------------------------------------------------------------- in memory


async def _connect(
    host: EngineHost, path: str = "/v1/realtime?model=gpt-realtime", **headers: str
) -> tuple[MemoryConnection, asyncio.Task[None]]:
    client, server_side = memory_pair()
    task = asyncio.ensure_future(host.serve_connection(server_side, path, Headers(headers)))
    return client, task


async def _next(client: MemoryConnection) -> dict[str, Any]:
    async with asyncio.timeout(5):
        async for frame in client:
            event: dict[str, Any] = json.loads(frame)
            return event
    raise AssertionError("the connection closed")


async def test_an_in_memory_connection_is_served_like_a_websocket() -> None:
    host = EngineHost(stages=fake_stages())
    host.start_loading()
    client, task = await _connect(host, "/openai/realtime?api-version=2025-04-01-preview&deployment=dep")
    assert (await _next(client))["session"]["input_audio_format"] == "pcm16"  # the preview dialect, as on a socket
    item = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi"}]}
    await client.send(json.dumps({"type": "conversation.item.create", "item": item}))
    await client.send(json.dumps({"type": "response.create"}))
    kinds = []
    while "response.done" not in kinds:
        kinds.append((await _next(client))["type"])
    assert "response.audio.delta" in kinds
    await client.close()
    await task
    assert host.sessions == set()


async def test_a_frame_larger_than_the_limit_closes_the_connection_with_1009() -> None:
    host = EngineHost(stages=fake_stages())
    host.start_loading()
    client, task = await _connect(host)
    await _next(client)
    audio = "A" * (MAX_FRAME_BYTES + 1)
    await client.send(json.dumps({"type": "input_audio_buffer.append", "audio": audio}))
    async with asyncio.timeout(5):
        await task
    assert client.close_code == 1009 and host.sessions == set()


async def test_sessions_past_the_limit_are_refused_with_1013() -> None:
    host = EngineHost(stages=fake_stages(), max_sessions=2)
    host.start_loading()
    first, second = await _connect(host), await _connect(host)
    await _next(first[0]), await _next(second[0])
    third, task = await _connect(host)
    async with asyncio.timeout(5):
        await task
    assert third.close_code == 1013 and len(host.sessions) == 2
    for client, running in (first, second):
        await client.close()
        await running
    assert host.sessions == set()


async def test_abrupt_disconnects_mid_response_leave_nothing_running() -> None:
    stages = fake_stages(replies=ScriptedReplies([TextPiece("Word. ")] * 50, delay_s=0.001))
    host = EngineHost(stages=stages)
    host.start_loading()
    await host.ready()
    baseline = len(asyncio.all_tasks())
    for _ in range(200):
        client, task = await _connect(host)
        await _next(client)
        item = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "talk"}]}
        await client.send(json.dumps({"type": "conversation.item.create", "item": item}))
        await client.send(json.dumps({"type": "response.create"}))
        while (await _next(client))["type"] != "response.output_audio.delta":
            pass
        await client.close(1006, "gone")
        await task
    assert host.sessions == set() and len(asyncio.all_tasks()) == baseline
