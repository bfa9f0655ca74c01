"""The local engine against the official ``openai`` client, GA and preview: a spoken WAV (espeak-ng, made at test
time) through server VAD, the user's transcript, a spoken reply, tools, barge-in. Every server event is checked
against the ``openai`` package's own types (a discriminated union on ``type``)."""

from __future__ import annotations

import asyncio
import base64
import json
from typing import Annotated, Any, Union, get_args

import pytest
import websockets
from openai import AsyncOpenAI
from openai.types.beta.realtime import realtime_server_event as beta_server
from openai.types.realtime import realtime_server_event as ga_server
from pydantic import Field, TypeAdapter

from local_engine.server import LocalRealtimeServer
from tests.audio import silence, speak_pcm

pytestmark = [pytest.mark.models, pytest.mark.asyncio(loop_scope="session")]


def union(annotated: Any) -> TypeAdapter[Any]:
    members = get_args(get_args(annotated)[0])
    return TypeAdapter(Annotated[Union[members], Field(discriminator="type")])  # type: ignore[arg-type]  # noqa: UP007


GA = union(ga_server.RealtimeServerEvent)
BETA = union(beta_server.RealtimeServerEvent)
TIME_TOOL = {"type": "function", "name": "get_current_time", "description": "The current time in a time zone.",
             "parameters": {"type": "object", "properties": {"timezone": {"type": "string"}}}}  # fmt: skip
CHUNK = 8192  # what the browser sends: 4096 samples, about 171 ms


class Events:
    """Raw server events of one connection, each validated against the ``openai`` package's types on arrival."""

    def __init__(self, adapter: TypeAdapter[Any]) -> None:
        self.adapter = adapter
        self.items: list[dict[str, Any]] = []

    def add(self, raw: bytes | str) -> dict[str, Any]:
        event = json.loads(raw)
        self.adapter.validate_python(event)  # raises on any event the real service could not have sent
        self.items.append(event)
        return event

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [e for e in self.items if e["type"] == kind]


async def read_until(recv: Any, events: Events, kind: str, count: int = 1, within_s: float = 60.0) -> dict[str, Any]:
    async with asyncio.timeout(within_s):
        while len(events.of(kind)) < count:
            event = events.add(await recv())
            assert event["type"] != "error", event
    return events.of(kind)[count - 1]


def chunks(pcm: bytes) -> list[str]:
    return [base64.b64encode(pcm[i : i + CHUNK]).decode() for i in range(0, len(pcm), CHUNK)]


async def test_ga_spoken_turn_with_the_openai_client(engine: LocalRealtimeServer) -> None:
    client = AsyncOpenAI(api_key="x", websocket_base_url=f"ws://127.0.0.1:{engine.port}/v1")
    events = Events(GA)
    async with client.realtime.connect(model="gpt-realtime") as conn:
        await conn.session.update(
            session={
                "type": "realtime",
                "instructions": "Be brief.",
                "tools": [TIME_TOOL],  # type: ignore[list-item]
                "audio": {
                    "input": {
                        "transcription": {"model": "whisper-1"},
                        "turn_detection": {"type": "server_vad", "silence_duration_ms": 500},
                    }
                },
            }
        )
        updated = await read_until(conn.recv_bytes, events, "session.updated")
        assert updated["session"]["tools"][0]["name"] == "get_current_time"
        for audio in chunks(silence(500) + speak_pcm("Hello there, can you hear me?") + silence(1200)):
            await conn.input_audio_buffer.append(audio=audio)
        started = await read_until(conn.recv_bytes, events, "input_audio_buffer.speech_started")
        stopped = await read_until(conn.recv_bytes, events, "input_audio_buffer.speech_stopped")
        assert 100 <= started["audio_start_ms"] <= 500 < stopped["audio_end_ms"]
        done = await read_until(conn.recv_bytes, events, "response.done")
        await read_until(conn.recv_bytes, events, "conversation.item.input_audio_transcription.completed")
    transcript = events.of("conversation.item.input_audio_transcription.completed")[0]["transcript"].lower()
    assert "hello" in transcript and "hear me" in transcript
    assert events.of("conversation.item.input_audio_transcription.completed")[0]["item_id"] == started["item_id"]
    assert done["response"]["status"] == "completed" and done["response"]["usage"]["total_tokens"] > 0
    answer = b"".join(base64.b64decode(e["delta"]) for e in events.of("response.output_audio.delta"))
    assert len(answer) > 24_000 * 2  # more than a second of speech
    spoken = "".join(e["delta"] for e in events.of("response.output_audio_transcript.delta"))
    assert "hello there" in spoken.lower()  # the built-in responder repeats what it heard
    assert events.of("session.created")[0]["session"]["type"] == "realtime"


async def test_preview_dialect_spoken_turn_validates_against_the_beta_types(engine: LocalRealtimeServer) -> None:
    url = f"ws://127.0.0.1:{engine.port}/openai/realtime?api-version=2025-04-01-preview&deployment=local"
    events = Events(BETA)
    async with websockets.connect(url, additional_headers={"api-key": "x"}, max_size=None) as ws:
        session = {"modalities": ["audio", "text"], "voice": "alloy", "input_audio_format": "pcm16",
                   "output_audio_format": "pcm16", "input_audio_transcription": {"model": "whisper-1"},
                   "turn_detection": {"type": "server_vad", "threshold": 0.5, "silence_duration_ms": 500}}  # fmt: skip
        await ws.send(json.dumps({"type": "session.update", "session": session}))
        updated = await read_until(ws.recv, events, "session.updated")
        assert updated["session"]["input_audio_format"] == "pcm16" and "audio" not in updated["session"]
        for audio in chunks(speak_pcm("What is the weather like today?") + silence(1200)):
            await ws.send(json.dumps({"type": "input_audio_buffer.append", "audio": audio}))
        await read_until(ws.recv, events, "response.done")
        await read_until(ws.recv, events, "conversation.item.input_audio_transcription.completed")
    assert "weather" in events.of("conversation.item.input_audio_transcription.completed")[0]["transcript"].lower()
    assert events.of("conversation.item.created") and events.of("response.audio.delta")
    assert events.of("response.audio_transcript.done")[0]["transcript"]
    assert not events.of("response.output_audio.delta") and not events.of("conversation.item.added")


async def test_ga_typed_tool_turn_speaks_the_tool_result(engine: LocalRealtimeServer) -> None:
    client = AsyncOpenAI(api_key="x", websocket_base_url=f"ws://127.0.0.1:{engine.port}/v1")
    events = Events(GA)
    async with client.realtime.connect(model="gpt-realtime") as conn:
        await conn.session.update(session={"type": "realtime", "tools": [TIME_TOOL]})  # type: ignore[list-item]
        await conn.conversation.item.create(
            item={"type": "message", "role": "user", "content": [{"type": "input_text", "text": "What time is it?"}]}
        )
        await conn.response.create()
        first = await read_until(conn.recv_bytes, events, "response.done")
        [call] = [o for o in first["response"]["output"] if o["type"] == "function_call"]
        assert call["name"] == "get_current_time"
        output = {"timezone": "UTC", "iso": "2026-11-24T23:59:00+00:00", "time": "23:59", "date": "2026-11-24",
                  "weekday": "Tuesday", "utc_offset": "+00:00"}  # fmt: skip
        await conn.conversation.item.create(
            item={"type": "function_call_output", "call_id": call["call_id"], "output": json.dumps(output)}
        )
        await conn.response.create()
        second = await read_until(conn.recv_bytes, events, "response.done", 2)
    said = second["response"]["output"][0]["content"][0]["transcript"]
    assert "23:59" in said or "11:59" in said, said
    assert any(e["response_id"] == second["response"]["id"] for e in events.of("response.output_audio.delta"))


async def test_ga_barge_in_cancels_and_truncate_trims(engine: LocalRealtimeServer) -> None:
    client = AsyncOpenAI(api_key="x", websocket_base_url=f"ws://127.0.0.1:{engine.port}/v1")
    events = Events(GA)
    async with client.realtime.connect(model="gpt-realtime") as conn:
        await conn.conversation.item.create(
            item={
                "type": "message",
                "role": "user",
                "content": [{"type": "input_text", "text": "Tell me a long story."}],
            }
        )
        await conn.response.create()
        first = await read_until(conn.recv_bytes, events, "response.output_audio.delta")
        for audio in chunks(speak_pcm("Stop please.")):
            await conn.input_audio_buffer.append(audio=audio)
        await read_until(conn.recv_bytes, events, "input_audio_buffer.speech_started")
        done = await read_until(conn.recv_bytes, events, "response.done")
        assert done["response"]["status"] == "cancelled"
        assert done["response"]["status_details"]["reason"] == "turn_detected"
        await conn.conversation.item.truncate(item_id=first["item_id"], content_index=0, audio_end_ms=40)
        truncated = await read_until(conn.recv_bytes, events, "conversation.item.truncated")
        assert truncated["audio_end_ms"] == 40
        await conn.send({"type": "not.an.event"})  # type: ignore[arg-type]
        error = json.loads(await conn.recv_bytes())
        assert error["type"] == "error" and error["error"]["param"] == "type"
        await conn.session.update(session={"type": "realtime", "instructions": "Still here."})
        await read_until(conn.recv_bytes, events, "session.updated")
