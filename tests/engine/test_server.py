"""The local engine's websocket edge with stand-in stages: which paths and headers get which dialect, plain HTTP
answers, and bad frames that leave the connection usable."""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
import websockets
from websockets.datastructures import Headers

from local_engine.server import LocalRealtimeServer, dialect_of
from tests.engine.fakes import fake_stages


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
