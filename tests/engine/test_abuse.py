"""Races and abuse against one engine session and between sessions (runner with stand-in stages): each case
left a session stuck, answered with a traceback, held the event loop, or let one session slow the others."""

from __future__ import annotations

import asyncio
import base64
import gc
import logging
import tracemalloc
from typing import Any

import pytest

from local_engine.runner import speech_pieces
from local_engine.stages import FunctionCall, TextPiece, VadSpeechStarted, VadSpeechStopped
from tests.engine.fakes import (
    BusyVad,
    FixedTranscriber,
    ScriptedReplies,
    SerialTranscriber,
    fake_stages,
    open_session,
    silence,
    tone,
)

PUSH_TO_TALK = {"type": "session.update", "session": {"type": "realtime", "audio": {"input": {"turn_detection": None}}}}
WITH_TRANSCRIPTS = {"type": "session.update", "session": {"type": "realtime", "audio": {"input": {
    "turn_detection": None, "transcription": {"model": "whisper-1"}}}}}  # fmt: skip


def user_text(text: str, **extra: Any) -> dict[str, Any]:
    return {"type": "conversation.item.create", **extra,
            "item": {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}}  # fmt: skip


def b64(pcm: bytes) -> str:
    return base64.b64encode(pcm).decode()


async def test_response_cancel_right_after_response_create_never_wedges_the_session() -> None:
    h = await open_session()
    await h.send(user_text("Hi"))
    for i in range(30):
        await h.send({"type": "response.create"})
        await h.send({"type": "response.cancel"})
        await h.until("response.done", i + 1, within_s=2)
    assert not [e for e in h.errors() if e["code"] == "conversation_already_has_active_response"]
    await h.send({"type": "response.create"})
    assert (await h.until("response.done", 31))["response"]["status"] == "completed"


async def test_two_turns_in_one_append_do_not_wedge_the_session() -> None:
    """Audio faster than real time: both turns' speech start and stop land in one append."""
    h = await open_session()
    turns = silence(300) + (tone(600) + silence(700)) * 2
    await h.send({"type": "input_audio_buffer.append", "audio": b64(turns)})
    second = await h.until("response.done", 2, within_s=2)
    assert [e["response"]["status"] for e in h.of("response.done")] == ["cancelled", "completed"]
    assert second["response"]["id"] == h.of("response.created")[1]["response"]["id"]
    await h.send(user_text("and now?"))
    await h.send({"type": "response.create"})
    assert (await h.until("response.done", 3, within_s=2))["response"]["status"] == "completed"
    assert h.errors() == []


async def test_an_extra_response_create_is_refused_and_the_session_stays_usable() -> None:
    h = await open_session(replies=ScriptedReplies([TextPiece("Word. ")] * 5, delay_s=0.01))
    await h.send(user_text("Talk"))
    await h.send({"type": "response.create"})
    await h.send({"type": "response.create", "event_id": "extra"})
    [error] = h.errors()
    assert error["code"] == "conversation_already_has_active_response" and error["event_id"] == "extra"
    assert (await h.until("response.done"))["response"]["status"] == "completed"
    await h.send({"type": "response.create"})
    assert (await h.until("response.done", 2))["response"]["status"] == "completed"


async def test_session_update_with_null_audio_is_a_clean_request_error(caplog: pytest.LogCaptureFixture) -> None:
    h = await open_session()
    with caplog.at_level(logging.WARNING):
        await h.send({"type": "session.update", "event_id": "n", "session": {"type": "realtime", "audio": None}})
    [error] = h.errors()
    assert error["type"] == "invalid_request_error" and error["param"] == "session.audio"
    assert error["event_id"] == "n" and not caplog.records  # no traceback in the log


async def test_odd_length_audio_in_an_item_is_refused_at_once() -> None:
    h = await open_session()
    content = [{"type": "input_audio", "audio": b64(b"\x01\x02\x03")}]
    await h.send({"type": "conversation.item.create", "event_id": "odd",
                  "item": {"type": "message", "role": "user", "content": content}})  # fmt: skip
    [error] = h.errors()
    assert error["code"] == "invalid_value" and error["event_id"] == "odd"
    assert h.of("conversation.item.added") == [] and h.session.items == {}


async def test_huge_instructions_are_refused_and_never_echoed() -> None:
    h = await open_session()
    await h.send({"type": "session.update", "event_id": "big", "session": {"type": "realtime",
                  "instructions": "x" * 5_000_000}})  # fmt: skip
    [error] = h.errors()
    assert error["code"] == "string_above_max_length" and error["param"] == "session.instructions"
    assert len(error["message"]) < 300 and h.of("session.updated") == []


async def test_sizes_of_tools_and_items_are_bounded() -> None:
    h = await open_session()
    tool = {"type": "function", "name": "t", "parameters": {"type": "object"}}
    await h.send({"type": "session.update", "session": {"type": "realtime", "tools": [tool] * 1000}})
    await h.send(user_text("y" * 1_000_000))
    assert [e["code"] for e in h.errors()] == ["array_above_max_length", "string_above_max_length"]
    assert h.session.items == {} and h.session.session["tools"] == []


async def test_items_inserted_at_the_root_are_capped_too() -> None:
    h = await open_session()
    for i in range(200):
        await h.send(user_text(f"message {i}"))
    for i in range(50):
        await h.send(user_text(f"early {i}", previous_item_id="root"))
    assert len(h.session.items) == 200


async def test_the_transcript_of_an_audio_part_goes_to_that_part() -> None:
    h = await open_session(transcriber=FixedTranscriber("a bird sings"))
    await h.send(WITH_TRANSCRIPTS)
    content = [{"type": "input_text", "text": "Listen:"}, {"type": "input_audio", "audio": b64(tone(500))}]
    await h.send({"type": "conversation.item.create", "item": {"type": "message", "role": "user", "content": content}})
    completed = await h.until("conversation.item.input_audio_transcription.completed")
    [item] = h.session.items.values()
    assert item["content"][0] == {"type": "input_text", "text": "Listen:"}
    assert item["content"][1]["transcript"] == "a bird sings" and completed["content_index"] == 1


async def test_one_session_s_long_noisy_turns_barely_delay_another_session_s_transcript() -> None:
    """Session A commits 3 x 60 s of noise, then session B 1 s of speech; one recognizer serves both. B's words
    come after at most one piece of A's audio (sessions served in turn, a turn's audio capped at 30 s and
    recognised in pieces of 10 s), not after all three minutes."""
    transcriber = SerialTranscriber(s_per_audio_s=0.01)
    stages = fake_stages(transcriber=transcriber)
    a, b = await open_session(stages), await open_session(stages)
    for h in (a, b):
        await h.send(WITH_TRANSCRIPTS)
    noise = (tone(60_000, amplitude=3000)[::2] * 2)[: 60_000 * 48]
    for _ in range(3):
        await a.send({"type": "input_audio_buffer.append", "audio": b64(noise)})
        await a.send({"type": "input_audio_buffer.commit"})
    await b.append(tone(1000))
    loop = asyncio.get_running_loop()
    start = loop.time()
    await b.send({"type": "input_audio_buffer.commit"})
    await b.until("conversation.item.input_audio_transcription.completed", within_s=10)
    waited = loop.time() - start
    one_piece = 10 * 0.01  # a turn is recognised in pieces of at most 10 s, each a turn at the recognizer
    assert waited < one_piece + 0.25, f"B waited {waited:.2f} s"
    assert max(size for size, _at in transcriber.finished) <= 10_000 * 48
    await a.until("conversation.item.input_audio_transcription.completed", 3, within_s=10)
    for h in (a, b):
        await h.session.close()


async def test_a_huge_append_does_not_hold_the_event_loop() -> None:
    """A 15 MiB append (327 s of audio) through a VAD that takes 2 ms per second of audio (0.65 s in all): the
    loop keeps turning (other sessions are served) while it is processed. What is left in one piece is decoding
    the base64 (about 0.12 s here)."""
    h = await open_session(vad=BusyVad)
    gaps: list[float] = []
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()

    async def ticker() -> None:
        last = loop.time()
        while not stop.is_set():
            await asyncio.sleep(0.001)
            now = loop.time()
            gaps.append(now - last)
            last = now

    append = {"type": "input_audio_buffer.append", "audio": b64(silence(327_000))}
    ticking = asyncio.ensure_future(ticker())
    await asyncio.sleep(0.01)
    await h.send(append)
    stop.set()
    await ticking
    assert h.errors() == []
    assert max(gaps) < 0.5, f"the loop was held {max(gaps):.2f} s"


async def test_several_function_calls_in_one_response_flow_through_the_runner() -> None:
    calls = [FunctionCall("get_current_time", '{"timezone": "Asia/Tokyo"}', "call_1"),
             FunctionCall("calculate", '{"expression": "12 * 7"}', "call_2")]  # fmt: skip
    h = await open_session(replies=ScriptedReplies([TextPiece("Checking. "), *calls]))
    await h.send(user_text("Time in Tokyo and 12 times 7?"))
    await h.send({"type": "response.create"})
    done = (await h.until("response.done"))["response"]
    assert [(o["type"], o.get("call_id")) for o in done["output"]] == [
        ("message", None), ("function_call", "call_1"), ("function_call", "call_2")]  # fmt: skip
    assert [e["output_index"] for e in h.of("response.function_call_arguments.done")] == [1, 2]
    assert len(h.of("response.done")) == 1


async def test_memory_stays_flat_over_many_sessions() -> None:
    """200 sessions opened, used for a turn and closed: no task, queue or tracked state is left behind."""
    stages = fake_stages(transcriber=FixedTranscriber("hi"))
    baseline_tasks = len(asyncio.all_tasks())

    async def one_session() -> None:
        h = await open_session(stages)
        await h.send(PUSH_TO_TALK)
        await h.append(tone(300))
        await h.send({"type": "input_audio_buffer.commit"})
        await h.send({"type": "response.create"})
        await h.until("response.done")
        await h.session.close()
        assert h.session.running_jobs == 0

    for _ in range(20):
        await one_session()
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    for _ in range(200):
        await one_session()
    gc.collect()
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    grown = sum(stat.size_diff for stat in after.compare_to(before, "filename"))
    assert grown < 512 * 1024, f"{grown} bytes more after 200 sessions"
    assert len(asyncio.all_tasks()) == baseline_tasks
    turns = stages.recognizer_turns
    assert turns.waiting == 0 and turns.running == 0 and turns.sessions == 0


async def test_a_recording_with_no_speech_costs_the_recognizer_nothing() -> None:
    transcriber = FixedTranscriber("words Whisper invents for noise")
    h = await open_session(transcriber=transcriber)
    await h.send(WITH_TRANSCRIPTS)
    await h.send({"type": "input_audio_buffer.append", "audio": b64(silence(30_000))})
    await h.send({"type": "input_audio_buffer.commit"})
    completed = await h.until("conversation.item.input_audio_transcription.completed")
    assert completed["transcript"] == "" and transcriber.calls == []


@pytest.mark.parametrize(
    ("boundaries", "total_ms", "pieces"),
    [
        ([], 30_000, []),
        ([VadSpeechStarted(700), VadSpeechStopped(2300)], 3000, [(700, 2300)]),
        ([VadSpeechStarted(0), VadSpeechStopped(4000), VadSpeechStarted(6000), VadSpeechStopped(9000),
          VadSpeechStarted(12_000), VadSpeechStopped(15_000)], 16_000, [(0, 9000), (12_000, 15_000)]),
        ([VadSpeechStarted(1000)], 26_000, [(1000, 11_000), (11_000, 21_000), (21_000, 26_000)]),
    ],
)  # fmt: skip
def test_speech_is_recognised_in_pieces_cut_at_pauses(
    boundaries: list[VadSpeechStarted | VadSpeechStopped], total_ms: int, pieces: list[tuple[int, int]]
) -> None:
    assert speech_pieces(boundaries, total_ms) == pieces
