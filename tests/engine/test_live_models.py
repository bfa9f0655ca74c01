"""GPT-Live against the local engine with its real models (VAD, Whisper, Piper, the built-in
responder), through the official ``openai`` client over a loopback websocket: a spoken question (espeak-ng, made at
test time) gets input transcript fragments, an output transcript and speech. Every event is parsed by the client's
``openai.types.live`` models."""

from __future__ import annotations

import asyncio
import base64
from typing import Any

import pytest
from openai import AsyncOpenAI

from local_engine.server import LocalRealtimeServer
from tests.audio import silence, speak_pcm

pytestmark = [pytest.mark.models, pytest.mark.asyncio(loop_scope="session")]

FRAME = 4800  # 100 ms of PCM16 24 kHz


def b64(pcm: bytes) -> str:
    return base64.b64encode(pcm).decode()


async def test_a_spoken_question_through_the_official_client(engine: LocalRealtimeServer) -> None:
    """Client delegation (the default): the question needs a tool, so the model hands it to the client, says it
    will take a moment, and speaks the client's commentary."""
    client = AsyncOpenAI(base_url=f"http://127.0.0.1:{engine.port}/v1", api_key="x")
    events: list[Any] = []

    def text(kind: str) -> str:
        return "".join(e.delta for e in events if e.type == kind)

    async def keep_listening(until: Any) -> None:
        async with asyncio.timeout(60):
            while not until():
                await conn.session.input_audio.append(audio=b64(silence(100)))
                await asyncio.sleep(0.05)

    async with client.live.connect() as conn:

        async def read() -> None:
            async for event in conn:
                events.append(event)
                if event.type == "session.closed":
                    return

        reader = asyncio.ensure_future(read())
        try:
            await conn.session.start(session={"model": "gpt-live-1", "instructions": "Be brief."})
            pcm = silence(300) + speak_pcm("What is two plus two?")
            for i in range(0, len(pcm), FRAME):  # at about twice real time: the input clock is the audio
                await conn.session.input_audio.append(audio=b64(pcm[i : i + FRAME]))
                await asyncio.sleep(0.05)
            await keep_listening(lambda: any(e.type == "session.delegation.created" for e in events))
            [created] = [e for e in events if e.type == "session.delegation.created"]
            assert created.delegation.target == "client"
            await conn.session.commentary.append(delegation_id=created.delegation.id, content="Two plus two is four.")
            await keep_listening(lambda: "four" in text("session.output_transcript.delta"))
            await conn.session.close()
            await asyncio.wait_for(reader, 10)
        finally:
            reader.cancel()

    assert events[0].type == "session.started" and events[-1].type == "session.closed"
    assert not [e for e in events if e.type == "error"]
    heard = [e for e in events if e.type == "session.input_transcript.delta"]
    assert heard and "plus" in text("session.input_transcript.delta").lower()
    assert all(e.start_ms <= e.end_ms for e in heard)
    said = [e for e in events if e.type == "session.output_transcript.delta"]
    assert said and said[0].start_ms > heard[0].start_ms
    assert text("session.output_transcript.delta").endswith("One moment, please. Two plus two is four.")
    assert [e.type for e in events if e.type == "session.commentary.appended"] == ["session.commentary.appended"]
    audio = b"".join(base64.b64decode(e.delta) for e in events if e.type == "session.output_audio.delta")
    assert any(audio)  # speech among the silence frames


async def test_a_spoken_question_delegated_to_a_function_tool(engine: LocalRealtimeServer) -> None:
    client = AsyncOpenAI(base_url=f"http://127.0.0.1:{engine.port}/v1", api_key="x")
    time_tool: Any = {"type": "function", "name": "get_current_time", "description": "The current time in a time zone.",
                 "parameters": {"type": "object", "properties": {"timezone": {"type": "string"}}}}  # fmt: skip
    events: list[Any] = []

    def done_calls() -> list[Any]:
        return [e.event["item"] for e in events if e.type == "response.event"
                and e.event["type"] == "response.output_item.done"]  # fmt: skip

    def spoken() -> str:
        return "".join(e.delta for e in events if e.type == "session.output_transcript.delta")

    async with client.live.connect() as conn:

        async def read() -> None:
            async for event in conn:
                events.append(event)

        reader = asyncio.ensure_future(read())
        try:
            await conn.session.start(session={"model": "gpt-live-1", "delegation": {
                "type": "responses", "responses": {"model": "gpt-5.6-luna", "tools": [time_tool]}}})  # fmt: skip
            pcm = silence(300) + speak_pcm("What time is it in Tokyo?")
            for i in range(0, len(pcm), FRAME):
                await conn.session.input_audio.append(audio=b64(pcm[i : i + FRAME]))
                await asyncio.sleep(0.05)
            async with asyncio.timeout(60):
                while not any(e.type == "response.event" and e.event["type"] == "response.completed" for e in events):
                    await conn.session.input_audio.append(audio=b64(silence(100)))
                    await asyncio.sleep(0.05)
            [call] = done_calls()
            assert call["type"] == "function_call" and call["name"] == "get_current_time"
            assert "Tokyo" in call["arguments"]
            await conn.response.item.create(item={"type": "function_call_output", "call_id": call["call_id"],
                                                  "output": '{"time": "09:30"}'})  # fmt: skip
            await conn.response.create()
            async with asyncio.timeout(60):
                while "9" not in spoken():
                    await conn.session.input_audio.append(audio=b64(silence(100)))
                    await asyncio.sleep(0.05)
        finally:
            reader.cancel()
    delegations = [e for e in events if e.type == "session.delegation.created"]
    assert len(delegations) == 1 and delegations[0].delegation.target == "responses"
    texts = [e.event["delta"] for e in events if e.type == "response.event"
             and e.event["type"] == "response.output_text.delta"]  # fmt: skip
    assert texts and "9" in "".join(texts)
    assert not [e for e in events if e.type == "error"]
