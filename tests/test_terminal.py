"""The terminal's audio state (realtime.playback) on a fake device driven by a virtual clock, the terminal chat
(realtime.terminal.MicChat) with a fake client, the session's use of the player's position for truncation, and
the one-line message when PortAudio is missing."""

from __future__ import annotations

import asyncio
import base64
import io
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
import pytest

from realtime.config import SessionOptions
from realtime.events import (
    AppEvent,
    AssistantTextDone,
    AudioDelta,
    Interrupted,
    ResponseDoneEvent,
    ResponseStarted,
    SpeechStarted,
    SpeechStopped,
    TextDelta,
    ToolCallFinished,
    ToolCallStarted,
    UserTranscript,
)
from realtime.playback import EchoGate, Playback, PushToTalk
from realtime.session import RealtimeSession
from realtime.terminal import MicChat, MicOptions

ROOT = Path(__file__).resolve().parents[1]
BLOCK_MS = 20
BLOCK = BLOCK_MS * 48


def tone(ms: int, level: int = 8000) -> bytes:
    return np.full(ms * 24, level, dtype="<i2").tobytes()


class FakeDevice:
    """An output device that asks for a block every 20 ms of virtual time; each block sounds ``latency_s`` after
    the callback (as PortAudio reports it). ``played`` is everything it output, in order."""

    def __init__(self, playback: Playback, latency_s: float = 0.05) -> None:
        self.playback = playback
        self.latency_s = latency_s
        self.ms = 100_000  # integer ms, so block times are exact
        self.played = bytearray()

    @property
    def now(self) -> float:
        return self.ms / 1000

    @now.setter
    def now(self, value: float) -> None:
        self.ms = round(value * 1000)

    def clock(self) -> float:
        return self.now

    def run(self, ms: int) -> None:
        for _ in range(ms // BLOCK_MS):
            self.played += self.playback.read(BLOCK, self.now, self.latency_s)
            self.ms += BLOCK_MS


def test_the_device_gets_the_queue_in_order_then_zeros() -> None:
    playback = Playback()
    device = FakeDevice(playback)
    playback.feed("a", tone(30, 100))
    playback.feed("a", tone(30, 200))
    device.run(100)
    samples = np.frombuffer(bytes(device.played), dtype="<i2")
    assert list(samples[: 30 * 24]) == [100] * 720 and list(samples[720:1440]) == [200] * 720
    assert not samples[1440:].any() and len(samples) == 100 * 24
    assert playback.queued_ms() == 0


def test_played_ms_counts_what_sounded_after_the_devices_latency() -> None:
    playback = Playback()
    device = FakeDevice(playback, latency_s=0.05)
    playback.feed("a", tone(1000))
    device.run(200)  # 200 ms handed to the device; the first block sounds 50 ms after it was handed
    assert playback.played_ms("a", device.now) == 150
    assert playback.cut_ms("a") == 200  # all that was handed sounds, since the stream is not aborted
    assert playback.played_ms("a", device.now + 0.01) == 160  # a block in progress counts in part
    assert playback.first_heard_at("a") == pytest.approx(100.05)
    assert playback.played_ms("b", device.now) == 0 and playback.first_heard_at("b") is None


def test_played_ms_is_per_item_and_survives_the_history_window() -> None:
    playback = Playback()
    device = FakeDevice(playback, latency_s=0.0)
    playback.feed("a", tone(100))
    playback.feed("b", tone(3000))
    device.run(3100)  # longer than the block history: a's blocks are folded into its total
    assert playback.played_ms("a", device.now) == 100
    assert playback.played_ms("b", device.now) == 3000


def test_flush_drops_the_queue_and_fades_out_instead_of_clicking() -> None:
    playback = Playback(fade_ms=5)
    device = FakeDevice(playback)
    playback.feed("a", tone(1000))
    device.run(100)
    dropped = playback.flush()
    assert dropped == 900 * 48 and playback.queued_ms() == 0
    device.run(100)
    after = np.frombuffer(bytes(device.played[100 * 48 :]), dtype="<i2")
    ramp = after[: 5 * 24]
    assert ramp[0] == 8000 and 0 <= ramp[-1] < 200 and all(np.diff(ramp.astype(int)) <= 0)
    assert not after[5 * 24 :].any()
    assert playback.cut_ms("a") == 100  # the faded tail is not counted as the item's audio
    playback.feed("b", tone(40))  # the next answer plays normally
    device.run(40)
    assert np.frombuffer(bytes(device.played[-40 * 48 :]), dtype="<i2").tolist() == [8000] * 960


def test_sounding_lasts_until_the_device_has_played_the_last_block() -> None:
    playback = Playback()
    device = FakeDevice(playback, latency_s=0.05)
    assert not playback.sounding(device.now)
    playback.feed("a", tone(40))
    assert playback.sounding(device.now)  # queued
    device.run(40)
    assert playback.sounding(device.now)  # handed, still in the device
    assert playback.sounding_until() == pytest.approx(100.09)
    device.run(60)
    assert not playback.sounding(device.now)


def test_feed_is_bounded() -> None:
    playback = Playback(max_queued_s=0.1)
    playback.feed("a", tone(80))
    playback.feed("a", tone(80) + b"\x01")  # odd byte dropped, then cut at the bound
    assert playback.queued_ms() == 100 and playback.dropped_bytes == 60 * 48


def test_push_to_talk_toggles() -> None:
    ptt = PushToTalk()
    assert ptt.press(1.0) == "start" and ptt.talking
    assert ptt.press(3.5) == "stop" and not ptt.talking and ptt.last_turn_s == 2.5
    assert ptt.press(4.0) == "start" and ptt.turns == 1


def test_echo_gate_mutes_the_mic_while_the_answer_sounds_and_a_tail_after() -> None:
    playback = Playback()
    device = FakeDevice(playback, latency_s=0.05)
    gate = EchoGate(tail_ms=300)
    mic = bytes(BLOCK)
    assert gate.pass_block(mic, device.now, playback)
    playback.feed("a", tone(200))
    assert not gate.pass_block(mic, device.now, playback)
    device.run(200)
    end = playback.sounding_until()  # 100.25
    assert not gate.open(end - 0.01, playback)
    assert not gate.open(end + 0.29, playback)
    assert gate.open(end + 0.31, playback)
    assert gate.muted_bytes == len(mic)


# ---------------------------------------------------------------------------------------------- MicChat


class FakeClient:
    """The client surface MicChat uses; events are pushed by the test, actions recorded."""

    def __init__(self) -> None:
        self.session = RealtimeSession(SessionOptions())
        self.queue: asyncio.Queue[AppEvent | None] = asyncio.Queue()
        self.calls: list[str] = []
        self.sent = bytearray()

    def events(self) -> AsyncIterator[AppEvent]:
        async def iterate() -> AsyncIterator[AppEvent]:
            while (event := await self.queue.get()) is not None:
                yield event

        return iterate()

    async def append_audio(self, pcm: bytes) -> None:
        self.sent += pcm

    async def commit(self) -> None:
        self.calls.append("commit")

    async def create_response(self) -> None:
        self.calls.append("create_response")

    async def cancel(self) -> None:
        self.calls.append("cancel")

    async def clear_audio(self) -> None:
        self.calls.append("clear_audio")


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_mic_chat_barge_in_flushes_and_a_cut_answer_never_plays_again() -> None:
    playback = Playback()
    device = FakeDevice(playback)
    out = io.StringIO()
    chat = MicChat(playback, MicOptions(), out=out, clock=device.clock)
    client = FakeClient()
    task = asyncio.create_task(chat.run(client))
    await settle()
    assert client.session.played_ms == playback.cut_ms  # the session truncates at what the device played
    for event in (
        UserTranscript("u1", "tell me a story"),
        ResponseStarted("r1", "t1"),
        AudioDelta("r1", "i1", "t1", tone(2000)),
        TextDelta("r1", "i1", "Once upon"),
        TextDelta("r1", "i1", " a time"),
    ):
        client.queue.put_nowait(event)
    await settle()
    device.run(500)
    client.queue.put_nowait(SpeechStarted("u2", 5000))
    await settle()
    assert playback.queued_ms() == 0  # flushed on speech_started, before any Interrupted
    client.queue.put_nowait(Interrupted("r1", "i1", "t1", 500, "Once..."))
    client.queue.put_nowait(AudioDelta("r1", "i1", "t1", tone(100)))  # late audio of the cut answer
    client.queue.put_nowait(ResponseDoneEvent("r1", "cancelled"))
    await settle()
    assert playback.queued_ms() == 0
    client.queue.put_nowait(None)
    await asyncio.wait_for(task, 1)
    text = out.getvalue()
    assert "you: tell me a story" in text and "assistant: Once upon a time" in text
    assert "[interrupted after 0.5 s]" in text


async def test_mic_chat_a_model_that_yields_by_itself_stops_the_player_on_interrupted_alone() -> None:
    # A protocol with no speech_started (the model yields and the client reports Interrupted): same cut.
    playback = Playback()
    device = FakeDevice(playback)
    chat = MicChat(playback, MicOptions(), out=io.StringIO(), clock=device.clock)
    chat.handle(ResponseStarted("r1", "t1"))
    chat.handle(AudioDelta("r1", "i1", "t1", tone(2000)))
    device.run(300)
    chat.handle(Interrupted("r1", "i1", "t1", None))
    assert playback.queued_ms() == 0
    chat.handle(AudioDelta("r1", "i1", "t1", tone(100)))
    assert playback.queued_ms() == 0
    chat.handle(ResponseStarted("r2", "t2"))
    chat.handle(AudioDelta("r2", "i2", "t2", tone(100)))  # the next answer plays
    assert playback.queued_ms() == 100


async def test_mic_chat_speech_while_nothing_sounds_cuts_nothing() -> None:
    playback = Playback()
    chat = MicChat(playback, MicOptions(), out=io.StringIO(), clock=lambda: 0.0)
    chat.handle(ResponseStarted("r1", "t1"))
    chat.handle(SpeechStarted("u2", 0))  # nothing queued or sounding: the answer to come is not cut
    chat.handle(AudioDelta("r1", "i1", "t1", tone(100)))
    assert playback.queued_ms() == 100


async def test_mic_chat_prints_tools_and_latency_to_the_speaker() -> None:
    playback = Playback()
    device = FakeDevice(playback, latency_s=0.05)
    out = io.StringIO()
    chat = MicChat(playback, MicOptions(), out=out, clock=device.clock)
    chat.handle(SpeechStopped("u1", 1000))
    device.now += 0.3
    chat.handle(ResponseStarted("r1", "t1"))
    chat.handle(AudioDelta("r1", "i1", "t1", tone(100)))
    device.run(100)
    chat.handle(ToolCallStarted("c1", "calculate", '{"expression": "2+2"}'))
    chat.handle(ToolCallFinished("c1", "calculate", "{}", '{"result": 4}', True, 1.0))
    chat.handle(ResponseDoneEvent("r1", "completed", latency_ms=280.0))
    text = out.getvalue()
    assert '[tool] calculate({"expression": "2+2"})' in text and '[tool] calculate -> {"result": 4}' in text
    assert "(latency: 280 ms to the answer's first audio, 350 ms to the speaker)" in text


async def test_a_streamed_answer_is_printed_once_even_when_a_line_cuts_in() -> None:
    out = io.StringIO()
    chat = MicChat(Playback(), MicOptions(), out=out, clock=lambda: 0.0)
    chat.handle(TextDelta("r1", "i1", "12 times"))
    chat.handle(ToolCallStarted("c1", "calculate", "{}"))  # a line printed while the answer streams
    chat.handle(TextDelta("r1", "i1", " 7 is 84."))
    chat.handle(AssistantTextDone("r1", "i1", "12 times 7 is 84."))
    chat.handle(AssistantTextDone("r2", "i2", "Typed answer."))  # never streamed: printed whole
    assert out.getvalue().count("12 times") == 1 and "assistant: Typed answer." in out.getvalue()


async def test_push_to_talk_sends_the_mic_only_during_the_turn_and_commits_it() -> None:
    playback = Playback()
    device = FakeDevice(playback)
    chat = MicChat(playback, MicOptions(push_to_talk=True), out=io.StringIO(), clock=device.clock)
    client = FakeClient()
    keys: asyncio.Queue[str] = asyncio.Queue()

    async def key_source() -> AsyncIterator[str]:
        while True:
            yield await keys.get()

    task = asyncio.create_task(chat.run(client, key_source()))
    await settle()
    chat.on_input(b"\x01\x00" * 10, device.now)  # before the turn: not sent
    playback.feed("i0", tone(1000))  # an answer is playing
    await settle()
    keys.put_nowait("\n")  # start: the answer stops
    await settle()
    assert client.calls == ["cancel", "clear_audio"] and playback.queued_ms() == 0
    chat.on_input(b"\x02\x00" * 10, device.now)
    await settle()
    keys.put_nowait(" ")  # stop: the turn is sent
    await settle()
    chat.on_input(b"\x03\x00" * 10, device.now)  # after the turn: not sent
    await settle()
    assert client.calls == ["cancel", "clear_audio", "commit", "create_response"]
    assert bytes(client.sent) == b"\x02\x00" * 10
    keys.put_nowait("q")
    await asyncio.wait_for(task, 1)


async def test_echo_gate_keeps_the_answer_out_of_the_microphone() -> None:
    playback = Playback()
    device = FakeDevice(playback, latency_s=0.05)
    chat = MicChat(playback, MicOptions(echo="gate", tail_ms=300), out=io.StringIO(), clock=device.clock)
    client = FakeClient()
    task = asyncio.create_task(chat.run(client))
    await settle()
    playback.feed("a", tone(100))
    chat.on_input(b"\x01\x00", device.now)  # the answer sounds: muted
    device.run(200)
    chat.on_input(b"\x02\x00", device.now)  # 50 ms after its end: still the tail
    device.now += 0.3
    chat.on_input(b"\x03\x00", device.now)  # past the tail
    await settle()
    assert bytes(client.sent) == b"\x03\x00"
    client.queue.put_nowait(None)
    await asyncio.wait_for(task, 1)


# ---------------------------------------------------------------------------------------------- the session


def test_session_truncates_at_the_position_the_player_reports() -> None:
    now = [10.0]
    session = RealtimeSession(SessionOptions(turn_detection="server_vad"), clock=lambda: now[0])
    session.played_ms = lambda item_id: 420 if item_id == "i1" else None
    session.receive({"type": "response.created", "response": {"id": "r1", "object": "realtime.response"}})
    audio = base64.b64encode(bytes(48 * 2000)).decode()
    session.receive({"type": "response.output_audio.delta", "response_id": "r1", "item_id": "i1",
                     "output_index": 0, "content_index": 0, "delta": audio, "event_id": "e1"})  # fmt: skip
    now[0] += 1.5  # the wall-time estimate would say 1500 ms
    session.data_to_send()
    session.receive({"type": "input_audio_buffer.speech_started", "item_id": "u2", "audio_start_ms": 100,
                     "event_id": "e2"})  # fmt: skip
    [truncate] = [e for e in session.data_to_send() if e["type"] == "conversation.item.truncate"]
    assert truncate["audio_end_ms"] == 420 and truncate["item_id"] == "i1"
    [interrupted] = [e for e in session.events_received() if isinstance(e, Interrupted)]
    assert interrupted.audio_end_ms == 420


# ---------------------------------------------------------------------------------------------- install


def test_missing_portaudio_is_one_line_naming_the_package(tmp_path: Path) -> None:
    # sounddevice raises OSError("PortAudio library not found") at import when libportaudio2 is missing.
    (tmp_path / "sounddevice.py").write_text('raise OSError("PortAudio library not found")\n')
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "AZURE_", "LOCAL_"))}
    env["PYTHONPATH"] = f"{tmp_path}{os.pathsep}{ROOT}"
    for args in (["--mic", "--provider", "local"], ["--list-devices"]):
        done = subprocess.run(
            [sys.executable, "-m", "cli", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 2, done.stderr
        assert done.stderr.strip().count("\n") == 0, done.stderr
        assert "apt install libportaudio2" in done.stderr and "brew install portaudio" in done.stderr


def test_the_trace_writes_every_app_event_even_one_carrying_tool_calls(tmp_path: Path) -> None:
    import json

    from realtime.events import PendingToolCall, ToolCallsRequested
    from realtime.terminal import _Trace

    trace = _Trace(tmp_path / "trace.jsonl", lambda: 1.5)
    trace.event(ToolCallsRequested((PendingToolCall("call_1", "calculate", '{"expression": "2+2"}'),), "resp_1"))
    trace.close()
    (line,) = (tmp_path / "trace.jsonl").read_text().splitlines()
    written = json.loads(line)
    assert written["type"] == "app.tool.calls" and written["calls"][0]["name"] == "calculate"
