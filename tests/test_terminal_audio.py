"""``python -m cli --mic`` through a real audio stack with no sound card: sounddevice -> PortAudio -> ALSA's
``pulse`` device -> PulseAudio with null sinks (tests/pulse_audio.py), against the local engine started in the
program's process (Realtime protocol), as a user runs it.

A spoken question is played into the "microphone"; what the "speaker" played is recorded. The question must be
transcribed, the answer heard in the recording, and a second utterance played while the answer sounds must silence
the recording within 100 ms of the moment the program handled the turn detector's speech-started (or the
interruption), with ``conversation.item.truncate`` at the ms the device really played. Ctrl-C then ends it with
exit code 0. With the speaker fed back into the microphone (a loudspeaker, ``module-loopback``), ``--echo gate``
keeps the answer from interrupting itself, which it does without the gate.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile

from tests.audio import speak_wav
from tests.pulse_audio import RATE, PulseServer, Recorder, frame_levels, frame_sounding, missing_tools

pytestmark = pytest.mark.models
ROOT = Path(__file__).resolve().parents[1]
AUDIBLE_DBFS = -45.0
CUT_WITHIN_S = 0.100


@pytest.fixture(scope="session")
def pulse(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PulseServer]:
    missing = missing_tools()
    assert not missing, f"missing {missing}: run scripts/system-packages dev"
    server = PulseServer(tmp_path_factory.mktemp("pulse"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


class Program:
    """``python -m cli --mic`` as a child process, its output lines collected as they come."""

    def __init__(self, pulse: PulseServer, trace: Path, *args: str) -> None:
        env = {k: v for k, v in pulse.env.items() if not k.startswith(("OPENAI_", "AZURE_", "TAVILY_", "LOCAL_"))}
        env.update(PULSE_SINK="speaker", PULSE_SOURCE="mic_in.monitor", TOOLS_ENABLED="calculate",
                   PYTHONUNBUFFERED="1")  # fmt: skip
        self.process = subprocess.Popen(
            [sys.executable, "-m", "cli", "--mic", "--provider", "local", "--input-device", "pulse",
             "--output-device", "pulse", "--trace", str(trace), *args],
            cwd=ROOT, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        self.trace = trace
        self.lines: list[str] = []
        self.err: list[str] = []
        threading.Thread(target=self._collect, args=(self.process.stdout, self.lines), daemon=True).start()
        threading.Thread(target=self._collect, args=(self.process.stderr, self.err), daemon=True).start()

    @staticmethod
    def _collect(stream: Any, into: list[str]) -> None:
        for line in stream:
            into.append(line.rstrip("\n"))

    def wait_for(self, what: str, timeout_s: float) -> str:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for line in self.lines:
                if what in line:
                    return line
            assert self.process.poll() is None, f"the program ended: {self.lines} {self.err}"
            time.sleep(0.02)
        raise AssertionError(f"no line with {what!r} within {timeout_s} s: {self.lines} {self.err}")

    def events(self) -> list[dict[str, Any]]:
        if not self.trace.exists():
            return []
        return [json.loads(line) for line in self.trace.read_text().splitlines() if line.strip()]

    def wait_event(self, kind: str, timeout_s: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            found = [e for e in self.events() if e["type"] == kind]
            if found:
                return found[0]
            assert self.process.poll() is None, f"the program ended: {self.lines} {self.err}"
            time.sleep(0.02)
        raise AssertionError(f"no {kind} within {timeout_s} s: {self.lines} {self.err}")

    def key(self, text: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(text)
        self.process.stdin.flush()

    def interrupt(self) -> int:
        self.process.send_signal(signal.SIGINT)
        return self.process.wait(15)

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(5)


def test_mic_question_is_answered_aloud_and_talking_over_the_answer_cuts_it(pulse: PulseServer, tmp_path: Path) -> None:
    question = speak_wav("Tell me a story.", tmp_path / "question.wav")
    interruption = speak_wav("Wait, please stop there.", tmp_path / "stop.wav")
    recorder = Recorder(pulse)
    program = Program(pulse, tmp_path / "trace.jsonl")
    try:
        program.wait_for("Listening", 45)
        pulse.play(question).wait(15)
        heard = program.wait_for("you:", 20)
        assert "story" in heard.lower()
        first_audio = program.wait_event("app.audio.delta", 20)
        time.sleep(2.5)  # the story is long: it still sounds when the user talks over it
        talk_at = time.monotonic()
        talker = pulse.play(interruption)
        flush = program.wait_event("term.flush", 10)
        talker.wait(15)
        time.sleep(1.0)
        events = program.events()
        code = program.interrupt()
    finally:
        program.kill()
        recorder.stop()
    assert code == 0, (code, "\n".join(program.err))
    assert "bye" in "\n".join(program.err) and "Traceback" not in "\n".join(program.err)
    assert sum("use headphones" in line for line in program.lines) == 1  # said once, by default
    assert not [line for line in program.err if line.startswith("ALSA lib")]  # kept out of the transcript

    samples, t0 = recorder.samples()
    soundfile.write(str(tmp_path / "heard.wav"), samples.astype("<i2"), RATE, subtype="PCM_16")
    levels = frame_levels(samples)

    def frame_at(t: float) -> int:
        return int((t - t0) * 100)

    audible = levels > AUDIBLE_DBFS
    sounding = frame_sounding(samples)  # any sample not 0: the null sink plays exact zeros between sounds
    onset = int(np.argmax(sounding[frame_at(first_audio["t"]) :])) + frame_at(first_audio["t"])
    assert sounding[onset], "the answer was never heard"
    # The answer sounded for the 2.5 s before the user talked over it.
    assert audible[onset : frame_at(talk_at)].mean() > 0.5

    cut = next(e for e in events if e["type"] in ("app.speech.started", "app.interrupted") and e["t"] > talk_at)
    # The first moment from which the speaker plays exact zeros for 200 ms.
    silent = next(f for f in range(frame_at(cut["t"]) - 10, len(levels) - 20) if not sounding[f : f + 20].any())
    silent_from = t0 + silent / 100
    assert silent_from - cut["t"] < CUT_WITHIN_S, (silent_from - cut["t"], cut, flush)
    # The story does not come back: whatever sounds later is the next answer's audio (to the second question).
    story = first_audio["response_id"]
    later = [e["t"] for e in events if e["type"] == "app.audio.delta" and e["response_id"] != story]
    resumed = sounding[silent : frame_at(min(later)) if later else len(levels)]
    assert not resumed.any(), f"sound {np.nonzero(resumed)[0][:5] * 10} ms after the cut"

    # The truncation carries what the device played: the answer's sound from its first sample to the cut (frames of
    # exact zeros between are a device underrun's gap, not audio, and are not counted).
    interrupted = next(
        e for e in events if e["type"] == "app.interrupted" and e["response_id"] == first_audio["response_id"]
    )
    played_ms = int(sounding[onset:silent].sum()) * 10
    assert interrupted["audio_end_ms"] is not None
    assert abs(interrupted["audio_end_ms"] - played_ms) < 40, (interrupted, played_ms)
    print(
        f"cut {1000 * (silent_from - cut['t']):.0f} ms after {cut['type']}; truncate at "
        f"{interrupted['audio_end_ms']} ms, recording played {played_ms} ms; onset at {onset / 100:.2f} s"
    )


def test_mic_over_gpt_live_the_answer_is_heard_and_stops_when_the_model_yields(
    pulse: PulseServer, tmp_path: Path
) -> None:
    question = speak_wav("Tell me a story.", tmp_path / "question.wav")
    interruption = speak_wav("Wait, please stop there.", tmp_path / "stop.wav")
    recorder = Recorder(pulse)
    program = Program(pulse, tmp_path / "trace.jsonl", "--protocol", "live")
    try:
        program.wait_for("Listening", 45)
        pulse.play(question).wait(15)
        assert "story" in program.wait_for("you:", 20).lower()
        first_audio = program.wait_event("app.audio.delta", 20)
        time.sleep(2.5)
        talk_at = time.monotonic()
        pulse.play(interruption).wait(15)
        # GPT-Live has no speech_started: the model yields, the client says so (Interrupted), the player stops.
        deadline = time.monotonic() + 10
        while not [e for e in program.events() if e["type"] == "app.interrupted" and e["t"] > talk_at]:
            assert time.monotonic() < deadline, [e["type"] for e in program.events() if e["t"] > talk_at]
            time.sleep(0.1)
        time.sleep(1.0)
        events = program.events()
        code = program.interrupt()
    finally:
        program.kill()
        recorder.stop()
    assert code == 0, (code, "\n".join(program.err))
    samples, t0 = recorder.samples()
    soundfile.write(str(tmp_path / "heard.wav"), samples.astype("<i2"), RATE, subtype="PCM_16")
    levels = frame_levels(samples)
    sounding = frame_sounding(samples)

    def frame_at(t: float) -> int:
        return int((t - t0) * 100)

    onset = int(np.argmax(sounding[frame_at(first_audio["t"]) :])) + frame_at(first_audio["t"])
    assert (levels > AUDIBLE_DBFS)[onset : frame_at(talk_at)].mean() > 0.5, "the answer was not heard"
    cut = next(e for e in events if e["type"] == "app.interrupted" and e["t"] > talk_at)
    assert cut["audio_end_ms"] is None and cut["heard"]
    silent = next(f for f in range(frame_at(cut["t"]) - 10, len(levels) - 20) if not sounding[f : f + 20].any())
    assert t0 + silent / 100 - cut["t"] < CUT_WITHIN_S
    print(f"GPT-Live: silent {1000 * (t0 + silent / 100 - cut['t']):.0f} ms after app.interrupted")


@pytest.mark.parametrize("echo", ["gate", "none"])
def test_through_a_loudspeaker_the_echo_gate_keeps_the_answer_from_cutting_itself(
    pulse: PulseServer, tmp_path: Path, echo: str
) -> None:
    question = speak_wav("Tell me a story.", tmp_path / "question.wav")
    loopback = pulse.echo()
    program = Program(pulse, tmp_path / "trace.jsonl", "--echo", echo)
    try:
        program.wait_for("Listening", 45)
        pulse.play(question).wait(15)
        first_audio = program.wait_event("app.audio.delta", 20)
        time.sleep(4.0)
        events = program.events()
        code = program.interrupt()
    finally:
        program.kill()
        pulse.pactl("unload-module", loopback)
    assert code == 0, (code, "\n".join(program.err))
    cut = [e for e in events if e["type"] == "app.interrupted" and e["response_id"] == first_audio["response_id"]]
    if echo == "gate":
        assert not cut, "the answer cut itself through the echo"
        assert not [e for e in events if e["type"] == "app.speech.started" and e["t"] > first_audio["t"]]
    else:  # without the gate (and without headphones) the model hears itself: why the gate exists
        assert cut, "the echo never reached the turn detector: this test would prove nothing about the gate"


def test_push_to_talk_sends_only_the_turn_between_two_presses_and_it_is_answered(
    pulse: PulseServer, tmp_path: Path
) -> None:
    before = speak_wav("This is not for you.", tmp_path / "before.wav")
    question = speak_wav("What is twelve times seven?", tmp_path / "question.wav")
    program = Program(pulse, tmp_path / "trace.jsonl", "--push-to-talk")
    try:
        program.wait_for("Listening", 45)
        pulse.play(before).wait(15)  # no turn open: not sent
        program.key("\n")
        program.wait_for("[listening", 5)
        pulse.play(question).wait(15)
        program.key("\n")
        heard = program.wait_for("you:", 20)
        program.wait_for("84", 20)
        program.wait_event("app.audio.delta", 10)
        events = program.events()
        code = program.interrupt()
    finally:
        program.kill()
    assert code == 0, (code, "\n".join(program.err))
    assert "12" in heard and "7" in heard and "not for you" not in "\n".join(program.lines)
    # No turn detection under push-to-talk: the turn ended by the key, not by a detector.
    assert not [e for e in events if e["type"] == "app.speech.started"]
    assert sum(e["type"] == "term.turn_end" for e in events) == 1
