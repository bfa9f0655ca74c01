"""The local engine's runner (:class:`local_engine.runner.EngineSession`) with stand-in stages from
``tests.engine.fakes``: the commands carried out by tasks, the stages' results fed back, timing as it happens."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from local_engine.replies import OfflineResponder
from local_engine.runner import FairScheduler, SchedulerBusy
from local_engine.stages import TextPiece
from tests.engine.fakes import (
    MS_PER_CHAR,
    FixedTranscriber,
    ScriptedReplies,
    ToneSynthesizer,
    open_session,
    silence,
    tone,
)

TIME_TOOL = {"type": "function", "name": "get_current_time", "description": "The time now.",
             "parameters": {"type": "object", "properties": {"timezone": {"type": "string"}}}}  # fmt: skip


def user_text(text: str) -> dict[str, Any]:
    return {"type": "conversation.item.create",
            "item": {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}}  # fmt: skip


async def test_typed_turn_streams_text_and_audio_and_reports_usage() -> None:
    replies = ScriptedReplies()
    h = await open_session(replies=replies)
    await h.send(user_text("Hello!"))
    await h.send({"type": "response.create"})
    done = (await h.until("response.done"))["response"]
    assert done["status"] == "completed"
    assert [d["delta"] for d in h.of("response.output_audio_transcript.delta")] == ["Hi there.", " How can I help?"]
    audio = b"".join(base64.b64decode(d["delta"]) for d in h.of("response.output_audio.delta"))
    assert len(audio) == len("Hi there.How can I help?") * MS_PER_CHAR * 48
    assert all(len(base64.b64decode(d["delta"])) <= 100 * 48 for d in h.of("response.output_audio.delta"))
    [message] = done["output"]
    assert message["content"][0] == {"type": "output_audio", "transcript": "Hi there. How can I help?"}
    assert done["usage"]["output_tokens"] > 0 and done["usage"]["input_tokens"] > 0
    assert replies.requests[0].history[0]["content"][0]["text"] == "Hello!"
    order = ["response.created", "response.output_item.added", "response.content_part.added",
             "response.output_audio.delta", "response.output_audio.done", "response.output_item.done",
             "response.done"]  # fmt: skip
    firsts = [h.types().index(kind) for kind in order]
    assert firsts == sorted(firsts)
    assert h.of("rate_limits.updated")


async def test_one_response_at_a_time_and_cancel() -> None:
    h = await open_session(replies=ScriptedReplies([TextPiece(f"Sentence {i}. ") for i in range(50)], delay_s=0.01))
    await h.send(user_text("Talk."))
    await h.send({"type": "response.create"})
    await h.send({"type": "response.create", "event_id": "second"})
    [error] = h.errors()
    assert error["code"] == "conversation_already_has_active_response" and error["event_id"] == "second"
    await h.until("response.output_audio.delta")
    await h.send({"type": "response.cancel"})
    done = (await h.until("response.done"))["response"]
    assert done["status"] == "cancelled" and done["status_details"]["reason"] == "client_cancelled"
    assert done["output"][0]["status"] == "incomplete"
    await h.send({"type": "response.cancel", "event_id": "late"})
    assert h.errors()[-1]["code"] == "response_cancel_not_active"
    await h.send({"type": "response.create", "response": {"output_modalities": ["text"]}})  # not paced as speech
    assert (await h.until("response.done", 2))["response"]["status"] == "completed"


async def test_function_calls_then_outputs_then_the_spoken_result() -> None:
    h = await open_session(replies=OfflineResponder())
    await h.send({"type": "session.update", "session": {"type": "realtime", "tools": [TIME_TOOL]}})
    await h.send(user_text("What time is it in Tokyo?"))
    await h.send({"type": "response.create"})
    done = (await h.until("response.done"))["response"]
    calls = [o for o in done["output"] if o["type"] == "function_call"]
    assert [c["name"] for c in calls] == ["get_current_time"]
    args = h.of("response.function_call_arguments.done")[0]
    assert json.loads(args["arguments"]) == {"timezone": "Asia/Tokyo"} and args["call_id"] == calls[0]["call_id"]
    output = {"timezone": "Asia/Tokyo", "iso": "2026-11-25T09:41:00+09:00", "time": "09:41", "weekday": "Wednesday",
              "date": "2026-11-25", "utc_offset": "+09:00"}  # fmt: skip
    await h.send({"type": "conversation.item.create", "item": {"type": "function_call_output",
                  "call_id": calls[0]["call_id"], "output": json.dumps(output)}})  # fmt: skip
    assert len(h.of("response.created")) == 1  # an output never starts a response by itself
    await h.send({"type": "response.create"})
    second = (await h.until("response.done", 2))["response"]
    spoken = second["output"][0]["content"][0]["transcript"]
    assert "9:41" in spoken or "09:41" in spoken
    assert h.of("response.output_audio.delta")[-1]["response_id"] == second["id"]


async def test_a_reply_generator_failure_fails_the_response_not_the_session() -> None:
    class Broken:
        label = "broken"

        async def generate(self, request: Any) -> AsyncIterator[Any]:
            from local_engine.stages import ReplyError

            yield TextPiece("Starting. ")
            raise ReplyError("endpoint 127.0.0.1:9 refused the connection")

    h = await open_session(replies=Broken())
    await h.send(user_text("Hello"))
    await h.send({"type": "response.create"})
    done = (await h.until("response.done"))["response"]
    assert done["status"] == "failed" and "refused" in done["status_details"]["error"]["message"]
    assert done["output"][0]["status"] == "incomplete"


async def test_server_vad_turn_commits_transcribes_and_answers() -> None:
    transcriber = FixedTranscriber("what is the weather like today")
    replies = ScriptedReplies()
    h = await open_session(transcriber=transcriber, replies=replies)
    await h.send({"type": "session.update", "session": {"type": "realtime",
                  "audio": {"input": {"transcription": {"model": "whisper-1"}}}}})  # fmt: skip
    await h.append(silence(1000) + tone(800) + silence(700))
    started = h.of("input_audio_buffer.speech_started")[0]
    stopped = h.of("input_audio_buffer.speech_stopped")[0]
    assert started["audio_start_ms"] == 1000 - 300 and stopped["audio_end_ms"] == 1800 + 500
    assert started["item_id"] == stopped["item_id"] == h.of("input_audio_buffer.committed")[0]["item_id"]
    completed = await h.until("conversation.item.input_audio_transcription.completed")
    assert completed["transcript"] == "what is the weather like today" and completed["item_id"] == started["item_id"]
    assert transcriber.calls == [(2300 - 700) * 48]
    await h.until("response.done")
    assert replies.requests[0].history[0]["content"][0]["transcript"] == "what is the weather like today"


async def test_speech_during_a_reply_cancels_it_and_truncate_trims_the_item() -> None:
    long_reply = ScriptedReplies([TextPiece(f"This is sentence number {i}. ") for i in range(30)], delay_s=0.01)
    h = await open_session(replies=long_reply, synthesizer=ToneSynthesizer(delay_s=0.005))
    await h.append(tone(500) + silence(600))
    await h.until("response.output_audio.delta", 3)
    item_id = h.of("response.output_audio.delta")[0]["item_id"]
    await h.append(tone(300))
    done = (await h.until("response.done"))["response"]
    assert done["status"] == "cancelled" and done["status_details"]["reason"] == "turn_detected"
    received_ms = sum(len(base64.b64decode(d["delta"])) for d in h.of("response.output_audio.delta")) // 48
    await h.send({"type": "conversation.item.truncate", "item_id": item_id, "content_index": 0,
                  "audio_end_ms": received_ms + 500, "event_id": "too_far"})  # fmt: skip
    assert h.errors()[-1]["event_id"] == "too_far" and "already shorter" in h.errors()[-1]["message"]
    heard = received_ms // 2
    await h.send({"type": "conversation.item.truncate", "item_id": item_id, "content_index": 0, "audio_end_ms": heard})
    assert h.of("conversation.item.truncated")[0]["audio_end_ms"] == heard
    transcript = h.session.items[item_id]["content"][0]["transcript"]
    full = h.of("response.output_audio_transcript.done")[0]["transcript"]
    assert full.startswith(transcript) and len(transcript) < len(full)


async def test_close_stops_a_running_response() -> None:
    h = await open_session(replies=ScriptedReplies([TextPiece("Word. ")] * 500, delay_s=0.01))
    await h.send(user_text("Talk"))
    await h.send({"type": "response.create"})
    await h.until("response.output_audio.delta")
    await h.session.close()
    count = len(h.events)
    await asyncio.sleep(0.1)
    assert len(h.events) == count


async def test_a_chat_completions_model_s_tool_calls_become_function_call_items() -> None:
    from local_engine.replies import ChatCompletionsResponder
    from tests.chat_completions_fake import FakeChatCompletions

    async with FakeChatCompletions(mode="tools") as fake:
        h = await open_session(replies=ChatCompletionsResponder(fake.base_url, "llama3.2"))
        await h.send({"type": "session.update", "session": {"type": "realtime", "instructions": "Be brief.",
                      "tools": [TIME_TOOL]}})  # fmt: skip
        await h.send(user_text("What time is it in Tokyo, and what is 12 times 7?"))
        await h.send({"type": "response.create"})
        done = (await h.until("response.done"))["response"]
    calls = [(o["name"], json.loads(o["arguments"]), o["call_id"]) for o in done["output"]]
    assert calls == [("get_current_time", {"timezone": "Asia/Tokyo"}, "call_time_1"),
                     ("calculate", {"expression": "12 * 7"}, "call_calc_2")]  # fmt: skip
    sent = fake.requests[0].body
    assert sent["messages"][0] == {"role": "system", "content": "Be brief."}
    assert sent["messages"][-1]["content"] == "What time is it in Tokyo, and what is 12 times 7?"
    assert sent["tools"][0]["function"]["name"] == "get_current_time" and sent["stream"] is True


async def test_a_chat_completions_model_s_text_is_spoken() -> None:
    from local_engine.replies import ChatCompletionsResponder
    from tests.chat_completions_fake import FakeChatCompletions

    async with FakeChatCompletions(mode="text") as fake:
        h = await open_session(replies=ChatCompletionsResponder(fake.base_url, "llama3.2"))
        await h.send(user_text("Hi"))
        await h.send({"type": "response.create"})
        done = (await h.until("response.done"))["response"]
    assert done["output"][0]["content"][0]["transcript"] == "Hello there! How can I help?"
    assert h.of("response.output_audio.delta")


async def test_a_response_waiting_for_the_user_s_words_can_be_cancelled() -> None:
    h = await open_session(transcriber=FixedTranscriber("slow words", delay_s=2.0))
    await h.send(
        {"type": "session.update", "session": {"type": "realtime", "audio": {"input": {"turn_detection": None}}}}
    )
    await h.append(tone(500))
    await h.send({"type": "input_audio_buffer.commit"})
    await h.send({"type": "response.create"})
    await asyncio.sleep(0.05)
    await h.send({"type": "response.cancel"})
    done = (await h.until("response.done", within_s=1.0))["response"]
    assert done["status"] == "cancelled" and done["output"] == []


async def test_a_vad_stream_made_mid_session_reports_in_the_session_s_time() -> None:
    h = await open_session(transcriber=FixedTranscriber("hello"))
    await h.append(silence(5000))
    await h.send({"type": "session.update", "session": {"type": "realtime", "audio": {"input": {"turn_detection": {
        "type": "server_vad", "silence_duration_ms": 400, "prefix_padding_ms": 200}}}}})  # fmt: skip
    await h.append(silence(1000) + tone(800) + silence(600))
    started = await h.until("input_audio_buffer.speech_started")
    stopped = await h.until("input_audio_buffer.speech_stopped")
    assert (started["audio_start_ms"], stopped["audio_end_ms"]) == (5800, 7200)


async def test_the_fair_scheduler_serves_sessions_in_turn_and_survives_cancellation() -> None:
    turns = FairScheduler(slots=1, max_queued=2)
    order: list[str] = []
    release = asyncio.Event()

    async def job(session: str, name: str) -> None:
        async with turns.turn(session):
            order.append(name)
            await release.wait()

    first = asyncio.ensure_future(job("a", "a1"))
    await asyncio.sleep(0)
    queued = [asyncio.ensure_future(job("a", n)) for n in ("a2", "a3")]
    others = [asyncio.ensure_future(job("b", "b1")), asyncio.ensure_future(job("c", "c1"))]
    await asyncio.sleep(0)
    with pytest.raises(SchedulerBusy):
        await job("a", "a4")  # two of a's jobs already wait
    others[1].cancel()  # c gives up while waiting
    release.set()
    await asyncio.gather(first, *queued, others[0])
    assert order == ["a1", "b1", "a2", "a3"]
    assert (turns.waiting, turns.running, turns.sessions) == (0, 0, 0)


async def test_a_synthesizer_failure_fails_the_response_and_the_session_goes_on() -> None:
    class Broken:
        async def synthesize(self, text: str, *, voice: str | None = None) -> AsyncIterator[bytes]:
            yield b"\x00\x00" * 2400
            raise RuntimeError("piper exited")

    h = await open_session(synthesizer=Broken())
    await h.send(user_text("Hello"))
    await h.send({"type": "response.create"})
    done = (await h.until("response.done"))["response"]
    assert done["status"] == "failed" and done["output"][0]["status"] == "incomplete"
    await h.send({"type": "response.create", "response": {"output_modalities": ["text"]}})
    assert (await h.until("response.done", 2))["response"]["status"] == "completed"
