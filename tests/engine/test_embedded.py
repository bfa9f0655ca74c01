"""The client and the engine in one process through the transport seam: no socket, the engine's one code path
(``EngineHost.serve_connection``) behind ``realtime.transport.memory_connector``."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosedError

from local_engine import embedded
from realtime.client import RealtimeClient
from realtime.config import Settings
from realtime.events import AppEvent, AssistantTextDone, AudioDelta, ResponseDoneEvent
from realtime.transport import memory_connector
from tests.engine.fakes import fake_stages


async def test_a_typed_turn_with_the_embedded_engine_in_memory(monkeypatch: Any) -> None:
    def no_sockets(*_: object, **__: object) -> None:
        raise AssertionError("the embedded engine opened a socket")

    engine = await embedded.start(fake_stages())
    settings = Settings(_env_file=None, realtime_provider="local")
    client = RealtimeClient(settings, connector=memory_connector(engine.serve_connection))
    assert client.provider.in_process
    monkeypatch.setattr(socket, "socket", no_sockets)
    seen: list[AppEvent] = []
    async with client:
        events = client.events()
        await client.send_text("hello")
        async with asyncio.timeout(10):
            async for event in events:
                seen.append(event)
                if isinstance(event, ResponseDoneEvent):
                    break
        assert len(engine.sessions) == 1
    monkeypatch.undo()
    assert [e.text for e in seen if isinstance(e, AssistantTextDone)] == ["Hi there. How can I help?"]
    assert sum(len(e.pcm) for e in seen if isinstance(e, AudioDelta)) > 0
    assert seen[-1].status == "completed"  # type: ignore[attr-defined]
    for _ in range(50):  # the client's close ends the engine's session too
        if not engine.sessions:
            break
        await asyncio.sleep(0.01)
    assert not engine.sessions
    await engine.close()


async def test_the_embedded_engine_refuses_a_path_it_does_not_serve() -> None:
    engine = await embedded.start(fake_stages())
    conn = await memory_connector(engine.serve_connection)("memory://local/not/realtime", {})
    with pytest.raises(ConnectionClosedError):  # as a websocket client sees a policy close
        async for _ in conn:
            pass
    assert (conn.close_code, conn.close_reason) == (1008, "not a Realtime endpoint")
