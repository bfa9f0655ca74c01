"""The local engine's GPT-Live edge with stand-in stages: the routes (a loopback websocket, and an in-memory connection
as the app's embedded engine makes), the official ``openai`` client's ``live.connect()``, ``session.close`` and expiry
closing the connection with 1000."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
import websockets
from openai import AsyncOpenAI
from openai.types.live import ServerEvent
from pydantic import TypeAdapter

from local_engine.live_session import LiveSettings
from local_engine.server import EngineHost, LocalRealtimeServer, is_live_path
from realtime.transport import memory_connector
from tests.engine.fakes import fake_stages, silence, tone

SERVER_EVENT: TypeAdapter[Any] = TypeAdapter(ServerEvent)


@pytest_asyncio.fixture(loop_scope="function")
async def server() -> AsyncIterator[LocalRealtimeServer]:
    async with LocalRealtimeServer("127.0.0.1", 0, stages=fake_stages(), live=LiveSettings()) as running:
        yield running


def b64(pcm: bytes) -> str:
    return base64.b64encode(pcm).decode()


@pytest.mark.parametrize(
    ("path", "live"),
    [
        ("/v1/live/sessions", True),
        ("/openai/v1/live/sessions?api-version=2026-09-01", True),
        ("/openai/v1/live", True),
        ("/v1/realtime?model=gpt-realtime", False),
        ("/v1/live", False),
    ],
)
def test_live_paths(path: str, live: bool) -> None:
    assert is_live_path(path) is live


async def _talk(ws: Any) -> list[dict[str, Any]]:
    """Start a session, say something (a tone, heard as the fake transcriber's words), keep appending silence until
    the answer's transcript is out, then close; every event checked against ``openai.types.live``."""
    events: list[dict[str, Any]] = []

    async def until(kind: str) -> dict[str, Any]:
        async with asyncio.timeout(10):
            while True:
                event = json.loads(await ws.recv())
                SERVER_EVENT.validate_python(event)
                events.append(event)
                assert event["type"] != "error", event
                if event["type"] == kind:
                    return event

    await ws.send(json.dumps({"type": "session.start", "session": {"model": "gpt-live-1"}}))
    await until("session.started")
    for chunk in (tone(600), silence(700)):
        for i in range(0, len(chunk), 4800):
            await ws.send(json.dumps({"type": "session.input_audio.append", "audio": b64(chunk[i : i + 4800])}))
    await until("session.input_transcript.delta")
    async with asyncio.timeout(10):
        while "How can I help?" not in "".join(
            e["delta"] for e in events if e["type"] == "session.output_transcript.delta"
        ):
            await ws.send(json.dumps({"type": "session.input_audio.append", "audio": b64(silence(100))}))
            await asyncio.sleep(0.01)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(0.05):
                    while True:
                        event = json.loads(await ws.recv())
                        SERVER_EVENT.validate_python(event)
                        events.append(event)
    await ws.send(json.dumps({"type": "session.close"}))
    closed = await until("session.closed")
    assert closed["reason"] == "close_requested"
    return events


@pytest.mark.parametrize("path", ["/v1/live/sessions", "/openai/v1/live/sessions?api-version=x", "/openai/v1/live"])
async def test_a_live_session_over_a_websocket(server: LocalRealtimeServer, path: str) -> None:
    headers = {"api-key": "test"} if path.startswith("/openai") else {"Authorization": "Bearer test"}
    async with websockets.connect(f"ws://127.0.0.1:{server.port}{path}", additional_headers=headers) as ws:
        events = await _talk(ws)
        with pytest.raises(websockets.ConnectionClosedOK):
            await asyncio.wait_for(ws.recv(), 5)
        assert ws.close_code == 1000
    transcript = "".join(e["delta"] for e in events if e["type"] == "session.output_transcript.delta")
    assert transcript == "Hi there. How can I help?"
    audio = b"".join(base64.b64decode(e["delta"]) for e in events if e["type"] == "session.output_audio.delta")
    assert any(audio) and not all(audio)  # speech and silence
    assert [e["delta"] for e in events if e["type"] == "session.input_transcript.delta"] == ["hello there"]


async def test_the_memory_url_of_the_embedded_engine() -> None:
    host = EngineHost(stages=fake_stages(), live=LiveSettings())
    host.start_loading()
    connect = memory_connector(host.serve_connection)
    conn = await connect("memory://local/v1/live/sessions", {})
    await conn.send(json.dumps({"type": "session.start", "session": {"model": "gpt-live-1"}}))
    started = json.loads(await anext(aiter(conn)))
    assert started["type"] == "session.started" and started["session"]["id"].startswith("sess_")
    await conn.close()
    await host.close_sessions()


async def test_expiry_closes_the_connection() -> None:
    settings = LiveSettings(session_s=1)
    async with LocalRealtimeServer("127.0.0.1", 0, stages=fake_stages(), live=settings) as srv:
        ws = await websockets.connect(f"ws://127.0.0.1:{srv.port}/v1/live/sessions")
        await ws.send(json.dumps({"type": "session.start", "session": {"model": "gpt-live-1"}}))
        started = json.loads(await ws.recv())
        assert started["type"] == "session.started"
        closed = json.loads(await asyncio.wait_for(ws.recv(), 5))  # no frame sent: the timer ends it
        assert closed["type"] == "session.closed" and closed["reason"] == "expired"
        assert time.time() >= started["session"]["expires_at"]
        with pytest.raises(websockets.ConnectionClosedOK):
            await asyncio.wait_for(ws.recv(), 5)
        assert ws.close_code == 1000


async def test_the_official_client_with_stand_in_stages(server: LocalRealtimeServer) -> None:
    client = AsyncOpenAI(base_url=f"http://127.0.0.1:{server.port}/v1", api_key="x")
    async with client.live.connect() as conn:
        await conn.session.start(session={"model": "gpt-live-1", "audio": {"output": {"voice": "cedar"}}})
        started = await asyncio.wait_for(conn.recv(), 5)
        assert started.type == "session.started" and started.session.audio is not None
        assert started.session.audio.output is not None and started.session.audio.output.voice == "cedar"
        spoken = await official_client_turn(conn, tone(600) + silence(700), "help")
        assert spoken == "Hi there. How can I help?"


async def official_client_turn(conn: Any, pcm: bytes, until_word: str, within_s: float = 10.0) -> str:
    """Append ``pcm``, then 100 ms of silence every 20 ms (the input clock must run) while a reader drains every
    event, until the output transcript holds ``until_word``; then ``session.close`` and ``session.closed``. Returns
    the output transcript."""
    events: list[Any] = []

    async def read() -> None:
        async for event in conn:
            events.append(event)
            if event.type == "session.closed":
                return

    def spoken() -> str:
        return "".join(e.delta for e in events if e.type == "session.output_transcript.delta")

    reader = asyncio.ensure_future(read())
    try:
        for i in range(0, len(pcm), 4800):
            await conn.session.input_audio.append(audio=b64(pcm[i : i + 4800]))
        async with asyncio.timeout(within_s):
            while until_word not in spoken():
                await conn.session.input_audio.append(audio=b64(silence(100)))
                await asyncio.sleep(0.02)
        await conn.session.close()
        await asyncio.wait_for(reader, 5)
    finally:
        reader.cancel()
    assert not [e for e in events if e.type == "error"]
    assert events[-1].type == "session.closed" and events[-1].reason == "close_requested"
    return spoken()


async def test_a_connection_that_never_starts_is_closed() -> None:
    settings = LiveSettings(start_timeout_s=0.3)
    async with LocalRealtimeServer("127.0.0.1", 0, stages=fake_stages(), live=settings) as srv:
        ws = await websockets.connect(f"ws://127.0.0.1:{srv.port}/v1/live/sessions")
        error = json.loads(await asyncio.wait_for(ws.recv(), 5))
        assert error["type"] == "error" and error["error"]["code"] == "session_start_timeout"
        with pytest.raises(websockets.ConnectionClosed):
            await asyncio.wait_for(ws.recv(), 5)
        assert ws.close_code == 1008
