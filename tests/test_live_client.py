"""The client speaking GPT-Live to a scripted server of our own on loopback (tests/live_server.py): each provider's
URL and headers, ``session.start`` first, the input clock, typed turns answered aloud, delegated function calls,
errors, expiry and a dropped connection each followed by a seeded new session, a graceful close, and a hostile
server that never gets a key shown."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator, Sequence
from types import SimpleNamespace
from typing import Any

import pytest

from realtime.client import ConnectionFailed, FatalConnectionError, RealtimeClient, VoiceClient
from realtime.config import Settings
from realtime.conversation import Conversation
from realtime.events import (
    AppEvent,
    AssistantTextDone,
    AudioDelta,
    RealtimeError,
    Reconnected,
    Reconnecting,
    ResponseDoneEvent,
    ResponseStarted,
    TextDelta,
    ToolCallFinished,
    ToolCallsRequested,
    VoiceUsage,
)
from realtime.live_session import LiveSession
from realtime.providers import build_provider
from realtime.session import PendingToolCall, ToolOutput
from tests.live_server import REPLY, ScriptedLiveServer
from tests.scripted_server import ScriptedServer

SECRET = "test-key-FAKE-live-0123456789abcdef"


def settings(**values: Any) -> Settings:
    return Settings(_env_file=None, **values)


def openai_settings(server: ScriptedLiveServer, **values: Any) -> Settings:
    return settings(
        openai_api_key=SECRET, openai_base_url=f"ws://{server.base}/v1", openai_realtime_model="gpt-live-1", **values
    )


async def until(events: AsyncIterator[AppEvent], kind: type, limit_s: float = 8.0) -> list[AppEvent]:
    seen: list[AppEvent] = []
    async with asyncio.timeout(limit_s):
        async for event in events:
            seen.append(event)
            if isinstance(event, kind):
                return seen
    raise AssertionError(f"events ended before {kind.__name__}: {seen}")


async def answer(client: RealtimeClient, text: str = "hi") -> list[AppEvent]:
    events = client.events()
    await client.send_text(text)
    return await until(events, ResponseDoneEvent)


async def test_openai_url_headers_session_start_first_and_a_spoken_answer() -> None:
    async with ScriptedLiveServer() as server:
        async with VoiceClient(openai_settings(server)) as client:
            assert isinstance(client.session, LiveSession) and client.provider.protocol == "live"
            started = time.monotonic()
            seen = await answer(client)
            await asyncio.sleep(0.5)
            elapsed_ms = (time.monotonic() - started) * 1000
        (conn,) = server.connections
        assert conn.path == "/v1/live/sessions" and SECRET not in conn.path
        assert conn.headers["authorization"] == f"Bearer {SECRET}" and "openai-beta" not in conn.headers
        assert conn.types()[0] == "session.start" and conn.received[0]["session"]["model"] == "gpt-live-1"
        assert conn.commands()[1:3] == ["response.item.create", "response.create"]
        assert conn.commands()[-1] == "session.close" and conn.closed_sent == "close_requested"
        assert conn.appended_ms >= elapsed_ms - 400  # the input clock ran all along, though the user only typed
        assert [type(e) for e in seen if isinstance(e, ResponseStarted | ResponseDoneEvent)] == [
            ResponseStarted,
            ResponseDoneEvent,
        ]
        assert sum(len(e.pcm) for e in seen if isinstance(e, AudioDelta)) == 3 * 4800
        assert "".join(e.delta for e in seen if isinstance(e, TextDelta)) == REPLY
        assert [e.text for e in seen if isinstance(e, AssistantTextDone)] == [REPLY]
        done = seen[-1]
        assert isinstance(done, ResponseDoneEvent) and done.status == "completed" and done.latency_ms is not None


async def test_azure_api_key_deployment_in_session_model() -> None:
    async with ScriptedLiveServer() as server:
        s = settings(
            azure_openai_endpoint=f"http://{server.base}",
            azure_openai_deployment="gpt-live-1-prod",
            azure_openai_api_key=SECRET,
            azure_openai_api_version="2025-04-01-preview",
        )
        async with RealtimeClient(s) as client:
            await answer(client)
        (conn,) = server.connections
        assert conn.path == "/openai/v1/live/sessions"  # no api-version, no deployment in the URL
        assert conn.headers["api-key"] == SECRET and "authorization" not in conn.headers
        assert conn.received[0]["session"]["model"] == "gpt-live-1-prod"


async def test_azure_entra_token_fetched_at_every_connect_and_the_drop_is_reseeded() -> None:
    tokens = iter(["tok-1", "tok-2", "tok-3"])

    class FakeCredential:
        async def get_token(self, *scopes: str, **_: Any) -> Any:
            return SimpleNamespace(token=next(tokens))

    async with ScriptedLiveServer(drop_after_s=2.5) as server:
        s = settings(
            azure_openai_endpoint=f"http://{server.base}", azure_openai_deployment="gpt-live-1", voice_protocol="live"
        )
        provider = build_provider(s, credential=FakeCredential())
        async with RealtimeClient(s, provider=provider, reconnect_delays=(0.05,)) as client:
            events = client.events()
            await answer(client, "remember the word banana")
            seen = await until(events, Reconnected)
        assert [c.headers["authorization"] for c in server.connections] == ["Bearer tok-1", "Bearer tok-2"]
        assert all("api-key" not in c.headers for c in server.connections)
        assert sum(isinstance(e, Reconnecting) for e in seen) == 1
        seed = server.connections[1].received[0]["session"]["input"]
        assert [m["content"][0]["text"] for m in seed] == ["remember the word banana", REPLY]


class Calculator:
    def __init__(self) -> None:
        self.calls: list[PendingToolCall] = []

    def definitions(self) -> list[dict[str, Any]]:
        return [
            {
                "type": "function",
                "name": "calculate",
                "description": "Arithmetic.",
                "parameters": {"type": "object", "properties": {"expression": {"type": "string"}}},
            }
        ]

    async def call_many(self, calls: Sequence[PendingToolCall]) -> list[ToolOutput]:
        self.calls += calls
        results = {"1+1": 2, "2+2": 4}
        return [
            ToolOutput(c.call_id, json.dumps({"result": results[json.loads(c.arguments)["expression"]]})) for c in calls
        ]


async def test_two_function_calls_answered_with_two_outputs_and_one_response_create() -> None:
    runner = Calculator()
    async with ScriptedLiveServer() as server:
        s = openai_settings(server, live_hosted_web_search=True)
        async with RealtimeClient(s, tools=runner.definitions()) as client:
            Conversation(client, runner)
            events = client.events()
            await client.send_text("use your tools")
            seen = await until(events, ResponseDoneEvent)
        (conn,) = server.connections
        delegation = conn.received[0]["session"]["delegation"]
        assert delegation["responses"]["model"] == "gpt-5.6-luna"
        assert [t["type"] for t in delegation["responses"]["tools"]] == ["function", "web_search"]
        assert conn.commands()[1:6] == [
            "response.item.create",
            "response.create",
            "response.item.create",
            "response.item.create",
            "response.create",
        ]
        assert [
            e["item"]["call_id"] for e in conn.received if e.get("item", {}).get("type") == "function_call_output"
        ] == ["call_1", "call_2"]
        (requested,) = [e for e in seen if isinstance(e, ToolCallsRequested)]
        assert [c.call_id for c in requested.calls] == ["call_1", "call_2"] and len(runner.calls) == 2
        assert [e.ok for e in seen if isinstance(e, ToolCallFinished)] == [True, True]
        spoken = "".join(e.delta for e in seen if isinstance(e, TextDelta))
        assert '{"result": 2}' in spoken and '{"result": 4}' in spoken


async def test_an_error_mid_session_is_shown_and_the_session_goes_on() -> None:
    async with ScriptedLiveServer() as server:
        async with RealtimeClient(openai_settings(server)) as client:
            seen = await answer(client, "cause an error")
            again = await answer(client, "and now?")
        errors = [e for e in seen if isinstance(e, RealtimeError)]
        assert [(e.code, e.fatal) for e in errors] == [("invalid_audio", False)]
        assert any(isinstance(e, AudioDelta) for e in again) and len(server.connections) == 1


async def test_expiry_is_renewed_once_with_a_seeded_session() -> None:
    async with ScriptedLiveServer(expire_after_s=2.0) as server:
        async with RealtimeClient(openai_settings(server), reconnect_delays=(0.05,)) as client:
            events = client.events()
            await answer(client, "first question")
            seen = await until(events, Reconnected)
            more = await answer(client, "second question")
        reconnecting = [e for e in seen if isinstance(e, Reconnecting)]
        assert len(reconnecting) == 1 and reconnecting[0].delay_s == 0.0
        assert [e.renewed for e in seen if isinstance(e, Reconnected)] == [True]
        assert any(isinstance(e, VoiceUsage) for e in seen)
        assert len(server.connections) == 2 and server.connections[0].closed_sent == "expired"
        start = server.connections[1].received[0]
        assert start["type"] == "session.start"
        assert [m["content"][0]["text"] for m in start["session"]["input"]] == ["first question", REPLY]
        assert any(isinstance(e, AudioDelta) for e in more)


async def test_a_new_voice_starts_a_new_seeded_session() -> None:
    async with ScriptedLiveServer() as server:
        async with RealtimeClient(openai_settings(server), reconnect_delays=(0.05,)) as client:
            events = client.events()
            await answer(client)
            await client.update_session(turn_detection="push_to_talk", output_modalities=["text"])
            await client.commit()
            await client.cancel()
            await client.update_session(voice="marin")
            seen = await until(events, Reconnected)
        assert len(server.connections) == 2 and server.connections[0].commands()[-1] == "session.close"
        assert server.connections[1].received[0]["session"]["audio"]["output"]["voice"] == "marin"
        assert [e.renewed for e in seen if isinstance(e, Reconnected)] == [True]


async def test_history_added_before_connect_seeds_the_first_session() -> None:
    async with ScriptedLiveServer() as server:
        client = RealtimeClient(openai_settings(server))
        await client.add_items(
            [
                {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "My name is Ada."}]},
                {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Hi Ada."}]},
            ]
        )
        await client.connect()
        await client.close()
        seed = server.connections[0].received[0]["session"]["input"]
        assert [(m["role"], m["content"][0]["text"]) for m in seed] == [
            ("user", "My name is Ada."),
            ("assistant", "Hi Ada."),
        ]


async def test_realtime_history_added_before_connect_goes_out_after_the_session_update() -> None:
    async with ScriptedServer() as server:
        s = settings(openai_api_key=SECRET, openai_base_url=f"ws://{server.base}/v1")
        client = RealtimeClient(s)
        await client.add_items(
            [{"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Earlier."}]}]
        )
        await client.connect()
        await answer(client)
        await client.close()
        (conn,) = server.connections
        assert conn.types()[:4] == [
            "session.update",
            "conversation.item.create",
            "conversation.item.create",
            "response.create",
        ]
        assert conn.received[1]["item"]["content"][0]["text"] == "Earlier."


async def test_no_session_started_times_out() -> None:
    async with ScriptedLiveServer(never_start=True) as server:
        with pytest.raises(ConnectionFailed, match=r"no session\.started within 0\.5 s"):
            await RealtimeClient(openai_settings(server, realtime_session_timeout_s=0.5)).connect()


@pytest.mark.parametrize("mode", ["huge_frame", "garbage", "close_key"])
async def test_a_hostile_server_never_gets_a_key_shown(mode: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)  # websockets' own DEBUG lines echo the request headers: not ours to judge
    caplog.set_level(logging.DEBUG, logger="realtime")
    async with ScriptedLiveServer(hostile=mode) as server:
        client = RealtimeClient(openai_settings(server), reconnect_delays=(0.05,))
        events = client.events()
        await client.connect()
        if mode == "close_key":
            seen = await until(events, RealtimeError)
            last = seen[-1]
            assert isinstance(last, RealtimeError) and last.fatal and "1008" in last.message
        elif mode == "huge_frame":
            seen = await until(events, Reconnected)  # closed with 1009, then a new seeded session
        else:
            seen = await until(events, RealtimeError)
            await answer(client)  # the junk did not break the session
            assert [e.code for e in seen if isinstance(e, RealtimeError)] == ["invalid_server_event"]
        await client.close()
    shown = [getattr(e, "message", "") + getattr(e, "reason", "") for e in seen]
    assert not any(SECRET in text or SECRET[-12:] in text for text in shown)
    assert SECRET not in caplog.text and SECRET[-12:] not in caplog.text


async def test_a_bad_key_at_startup_is_fatal() -> None:
    class Refuse(ScriptedLiveServer):
        async def serve(self, ws: Any, path: str, headers: Any) -> None:
            await ws.recv()
            error = {"type": "invalid_request_error", "code": "invalid_api_key", "message": "Incorrect API key."}
            await ws.send(json.dumps({"type": "error", "event_id": "e1", "error": error}))
            await ws.close(1000)

    async with Refuse() as server:
        with pytest.raises(FatalConnectionError, match="Incorrect API key"):
            await RealtimeClient(openai_settings(server)).connect()
