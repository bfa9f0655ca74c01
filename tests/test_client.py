"""The websocket client against scripted servers of ours on loopback: each provider's URL and headers, the preview
dialect, a refused handshake, a server killed mid-response, and session renewal."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from types import SimpleNamespace
from typing import Any

import pytest

from realtime.client import ConnectionFailed, RealtimeClient
from realtime.config import Settings
from realtime.conversation import Conversation, ToolRunner
from realtime.events import (
    AppEvent,
    AudioDelta,
    Reconnected,
    Reconnecting,
    ResponseDoneEvent,
    SessionReady,
    TextDelta,
    ToolCallFinished,
)
from realtime.providers import build_provider
from realtime.session import PendingToolCall, ToolOutput
from tests.scripted_server import ScriptedServer

SECRET = "test-key-FAKE-client-0123456789abcdef"


def settings(**values: Any) -> Settings:
    return Settings(_env_file=None, **values)


async def until(events: AsyncIterator[AppEvent], kind: type, limit_s: float = 5.0) -> list[AppEvent]:
    """Collect events up to and including the first of ``kind``."""
    seen: list[AppEvent] = []
    async with asyncio.timeout(limit_s):
        async for event in events:
            seen.append(event)
            if isinstance(event, kind):
                return seen
    raise AssertionError(f"events ended before {kind.__name__}: {seen}")


async def one_turn(client: RealtimeClient) -> list[AppEvent]:
    events = client.events()
    await client.send_text("hi")
    return await until(events, ResponseDoneEvent)


async def test_openai_bearer_header_and_path() -> None:
    async with ScriptedServer() as server:
        s = settings(openai_api_key=SECRET, openai_base_url=f"ws://{server.base}/v1")
        async with RealtimeClient(s) as client:
            seen = await one_turn(client)
        (conn,) = server.connections
        assert conn.path == "/v1/realtime?model=gpt-realtime-2.1"
        assert conn.headers["authorization"] == f"Bearer {SECRET}" and "openai-beta" not in conn.headers
        assert SECRET not in conn.path
        assert conn.types()[:3] == ["session.update", "conversation.item.create", "response.create"]
        assert sum(len(e.pcm) for e in seen if isinstance(e, AudioDelta)) == 3 * 4800
        assert any(isinstance(e, SessionReady) for e in seen)


async def test_azure_api_key_on_the_ga_path() -> None:
    async with ScriptedServer() as server:
        s = settings(
            azure_openai_endpoint=f"http://{server.base}", azure_openai_deployment="rt-dep", azure_openai_api_key=SECRET
        )
        async with RealtimeClient(s) as client:
            await one_turn(client)
        (conn,) = server.connections
        assert conn.path == "/openai/v1/realtime?model=rt-dep"
        assert conn.headers["api-key"] == SECRET and "authorization" not in conn.headers


async def test_azure_preview_path_speaks_the_beta_dialect() -> None:
    async with ScriptedServer() as server:
        s = settings(
            azure_openai_endpoint=f"http://{server.base}",
            azure_openai_deployment="rt-dep",
            azure_openai_api_key=SECRET,
            azure_openai_api_version="2025-04-01-preview",
        )
        async with RealtimeClient(s) as client:
            seen = await one_turn(client)
        (conn,) = server.connections
        assert conn.path == "/openai/realtime?api-version=2025-04-01-preview&deployment=rt-dep"
        update = conn.received[0]["session"]
        assert update["input_audio_format"] == "pcm16" and "audio" not in update and "modalities" in update
        # beta deltas (response.audio.delta...) reach the app as the same app events
        assert any(isinstance(e, AudioDelta) for e in seen)
        assert "".join(e.delta for e in seen if isinstance(e, TextDelta)) == "Hello from the script."


async def test_azure_entra_token_fetched_at_every_connect() -> None:
    tokens = iter(["tok-1", "tok-2", "tok-3"])

    class FakeCredential:
        async def get_token(self, *scopes: str, **_: Any) -> Any:
            return SimpleNamespace(token=next(tokens))

    async with ScriptedServer(drop_after_first_delta=True) as server:
        s = settings(azure_openai_endpoint=f"http://{server.base}", azure_openai_deployment="d")
        provider = build_provider(s, credential=FakeCredential())
        async with RealtimeClient(s, provider=provider, reconnect_delays=(0.05,)) as client:
            events = client.events()
            await client.send_text("hi")
            await until(events, Reconnected)
        assert [c.headers["authorization"] for c in server.connections] == ["Bearer tok-1", "Bearer tok-2"]
        assert all("api-key" not in c.headers for c in server.connections)


async def test_refused_handshake_is_a_clear_error_without_the_key() -> None:
    async with ScriptedServer(reject_status=401) as server:
        s = settings(openai_api_key=SECRET, openai_base_url=f"ws://{server.base}/v1")
        with pytest.raises(ConnectionFailed, match="HTTP 401") as info:
            await RealtimeClient(s).connect()
        assert SECRET not in str(info.value)


async def test_unreachable_server_fails_fast() -> None:
    s = settings(openai_api_key=SECRET, openai_base_url="ws://127.0.0.1:9/v1")
    with pytest.raises(ConnectionFailed, match="cannot connect"):
        await RealtimeClient(s).connect()


async def test_server_killed_mid_response_reconnects_replays_and_carries_on() -> None:
    async with ScriptedServer(drop_after_first_delta=True) as server:
        s = settings(openai_api_key=SECRET, openai_base_url=f"ws://{server.base}/v1")
        async with RealtimeClient(s, reconnect_delays=(0.05, 0.1)) as client:
            events = client.events()
            await client.send_text("remember 42")
            seen = await until(events, Reconnected)
            assert any(isinstance(e, Reconnecting) for e in seen)
            cut = [e for e in seen if isinstance(e, ResponseDoneEvent)]
            assert cut and cut[0].status == "cancelled"  # the app is told the old response ended
            seen = await until(events, ResponseDoneEvent)  # the re-asked answer arrives on the new connection
            assert seen[-1].status == "completed"  # type: ignore[attr-defined]
            seen = await one_turn(client)  # and the conversation goes on
            assert seen[-1].status == "completed"  # type: ignore[attr-defined]
        _first, second = server.connections
        assert second.types()[:3] == ["session.update", "conversation.item.create", "response.create"]
        assert second.received[1]["item"]["content"][0]["text"] == "remember 42"


async def test_session_expired_renews_the_session() -> None:
    async with ScriptedServer(expire_after_updates=1) as server:
        s = settings(openai_api_key=SECRET, openai_base_url=f"ws://{server.base}/v1")
        async with RealtimeClient(s, reconnect_delays=(0.05,)) as client:
            events = client.events()
            (reconnected,) = [e for e in await until(events, Reconnected) if isinstance(e, Reconnected)]
            assert reconnected.renewed
            await one_turn(client)
        assert len(server.connections) == 2


async def test_scheduled_renewal_before_the_time_cap() -> None:
    async with ScriptedServer() as server:
        s = settings(openai_api_key=SECRET, openai_base_url=f"ws://{server.base}/v1", realtime_session_renew_s=0.2)
        async with RealtimeClient(s, reconnect_delays=(0.05,)) as client:
            client._renew_after_s = 0.2  # below the 1 s floor used in production
            events = client.events()
            seen = await until(events, Reconnected, limit_s=5)
            assert seen[-1].renewed  # type: ignore[attr-defined]


async def test_tools_run_off_the_receive_loop_and_one_response_follows() -> None:
    class SlowTools:
        def definitions(self) -> list[dict[str, Any]]:
            return [{"type": "function", "name": "slow", "parameters": {"type": "object"}}]

        async def call_many(self, calls: Sequence[PendingToolCall]) -> list[ToolOutput]:
            await asyncio.sleep(0.2)
            return [ToolOutput(c.call_id, '{"ok": 1}', True, 200.0) for c in calls]

    async with ScriptedServer() as server:
        s = settings(openai_api_key=SECRET, openai_base_url=f"ws://{server.base}/v1")
        runner = SlowTools()
        client = RealtimeClient(s, tools=runner.definitions())
        Conversation(client, runner)
        async with client:
            assert client.session.tools[0]["name"] == "slow"
            client.session.receive({"type": "response.created", "response": {"id": "r_local"}})
            client.session.receive(
                {
                    "type": "response.done",
                    "response": {
                        "id": "r_local",
                        "status": "completed",
                        "output": [
                            {"type": "function_call", "call_id": "c1", "name": "slow", "arguments": "{}"},
                            {"type": "function_call", "call_id": "c2", "name": "slow", "arguments": "{}"},
                        ],
                    },
                }
            )
            events = client.events()
            await client.send_tool_outputs([])  # hands the app the events the injected frames produced
            first = await until(events, ResponseDoneEvent)  # the injected response.done, with its 2 calls
            assert first[-1].function_calls == 2  # type: ignore[attr-defined]
            follow_up = await until(events, ResponseDoneEvent)  # the server's answer to the one response.create
            assert [e.call_id for e in follow_up if isinstance(e, ToolCallFinished)] == ["c1", "c2"]
            assert follow_up[-1].status == "completed"  # type: ignore[attr-defined]
        sent = server.connections[0].types()
        assert sent.count("response.create") == 1
        outputs = [e for e in server.connections[0].received if e["type"] == "conversation.item.create"]
        assert [o["item"]["call_id"] for o in outputs] == ["c1", "c2"]


# ---------------------------------------------------------------------------------------- in memory, no socket


def local_in_process() -> Settings:
    return settings(realtime_provider="local")


async def test_one_turn_in_memory_with_no_socket() -> None:
    server = ScriptedServer()  # never listens: served only through its in-memory connector
    client = RealtimeClient(local_in_process(), connector=server.connector())
    assert client.provider.in_process
    async with client:
        seen = await one_turn(client)
    (conn,) = server.connections
    assert conn.path == "/v1/realtime?model=local"
    assert conn.types()[:3] == ["session.update", "conversation.item.create", "response.create"]
    assert sum(len(e.pcm) for e in seen if isinstance(e, AudioDelta)) == 3 * 4800
    assert server.port == 0


async def test_in_memory_server_dropping_mid_response_reconnects_and_replays() -> None:
    server = ScriptedServer(drop_after_first_delta=True)
    async with RealtimeClient(local_in_process(), connector=server.connector(), reconnect_delays=(0.01,)) as client:
        events = client.events()
        await client.send_text("remember 42")
        await until(events, Reconnected)
        assert (await until(events, ResponseDoneEvent))[-1].status == "completed"  # type: ignore[attr-defined]
    _first, second = server.connections
    assert second.received[1]["item"]["content"][0]["text"] == "remember 42"


async def test_in_process_url_without_an_in_memory_connector_is_a_clear_error() -> None:
    with pytest.raises(ConnectionFailed, match="memory_connector"):
        await RealtimeClient(local_in_process()).connect()


async def test_memory_pair_closing_ends_the_other_side_like_websockets() -> None:
    from websockets.exceptions import ConnectionClosed, ConnectionClosedError

    from realtime.transport import memory_pair

    a, b = memory_pair()
    await a.send("one")
    await a.close()
    assert [frame async for frame in b] == ["one"]  # what was sent before the close is still read
    assert (a.close_code, b.close_code) == (1000, 1000)
    with pytest.raises(ConnectionClosed):
        await b.send("late")
    c, d = memory_pair()
    await d.close(1011, "boom")
    with pytest.raises(ConnectionClosedError):
        async for _ in c:
            pass
    assert (c.close_code, c.close_reason) == (1011, "boom")


# ---------------------------------------------------------------------------------------- the conversation layer


class BrokenTools:
    def __init__(self, fail: BaseException | None = None, delay_s: float = 0.0) -> None:
        self.fail, self.delay_s = fail, delay_s

    def definitions(self) -> list[dict[str, Any]]:
        return [{"type": "function", "name": "broken", "parameters": {"type": "object"}}]

    async def call_many(self, calls: Sequence[PendingToolCall]) -> list[ToolOutput]:
        await asyncio.sleep(self.delay_s)
        if self.fail is not None:
            raise self.fail
        return [ToolOutput(c.call_id, "{}") for c in calls]


@pytest.mark.parametrize(
    ("runner", "expected"),
    [(None, "no tool named 'broken'"), (BrokenTools(RuntimeError("x")), "failed (RuntimeError)"),
     (BrokenTools(delay_s=5.0), "timed out")],
)  # fmt: skip
async def test_the_conversation_answers_every_call_even_when_its_runner_cannot(
    runner: ToolRunner | None, expected: str
) -> None:
    server = ScriptedServer()
    client = RealtimeClient(local_in_process(), tools=BrokenTools().definitions(), connector=server.connector())
    Conversation(client, runner, timeout_s=0.1)
    async with client:
        events = client.events()
        client.session.receive({"type": "response.created", "response": {"id": "r1"}})
        client.session.receive({"type": "response.done", "response": {"id": "r1", "status": "completed", "output": [
            {"type": "function_call", "call_id": "c1", "name": "broken", "arguments": "{}"}]}})  # fmt: skip
        await client.send_tool_outputs([])
        seen = await until(events, ToolCallFinished)
    (finished,) = [e for e in seen if isinstance(e, ToolCallFinished)]
    assert not finished.ok and expected in finished.output
    assert server.connections[0].types().count("response.create") == 1


def test_the_client_library_does_not_import_the_tools() -> None:
    import realtime.client

    assert "tools" not in realtime.client.__dict__
    assert not hasattr(realtime.client, "ToolRunner") and not hasattr(RealtimeClient, "_run_tools")


async def test_a_bad_session_update_changes_nothing_and_later_updates_work() -> None:
    from pydantic import ValidationError

    server = ScriptedServer()
    async with RealtimeClient(local_in_process(), connector=server.connector()) as client:
        before = client.options
        with pytest.raises(ValidationError):
            await client.update_session(turn_detection="sometimes")
        assert client.options == before
        await client.update_session(voice="verse")  # raised before the fix: the bad value had been stored
        assert client.options.voice == "verse" and client.options.turn_detection == before.turn_detection
