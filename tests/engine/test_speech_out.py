"""Speech output: the first clause spoken on its own, Piper on one core, ``speed`` as Piper's length scale."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from local_engine.tts import PIPER_THREADS, EspeakSynthesizer, PiperSynthesizer, _Worker, first_clause

pytestmark = pytest.mark.models

BYTES_PER_S = 48_000


@pytest.fixture(scope="module")
def piper() -> Iterator[PiperSynthesizer]:
    synth = PiperSynthesizer()
    synth.start()
    yield synth
    synth.close()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "Sure, here is how you bake bread: mix flour and water.",
            ("Sure, here is how you bake bread:", "mix flour and water."),
        ),
        ("Well, I think so, but check the label first.", ("Well, I think so,", "but check the label first.")),
        ("Paris is the capital of France.", ("Paris is the capital of France.", "")),
        ("It is cold - take a coat with you.", ("It is cold", "take a coat with you.")),
        ("Yes, it is.", ("Yes, it is.", "")),
        ("I heard: the sky is blue.", ("I heard:", "the sky is blue.")),
    ],
)
def test_first_clause(text: str, expected: tuple[str, str]) -> None:
    assert first_clause(text) == expected


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def test_piper_speaks_the_first_clause_first_and_mostly_on_one_core(piper: PiperSynthesizer) -> None:
    text = ("Sure, here is a longer answer that goes on for quite a while, with several clauses in it, "
            "so that the voice has plenty to read before it is done speaking.")  # fmt: skip
    assert piper.pid is not None
    cpu_before, started = cpu_seconds(piper.pid), time.perf_counter()
    first_audio: float | None = None
    audio = b""
    async for chunk in piper.synthesize(text):
        first_audio = first_audio or time.perf_counter() - started
        audio += chunk
    wall = time.perf_counter() - started
    cpu = cpu_seconds(piper.pid) - cpu_before
    assert first_audio is not None and len(audio) / BYTES_PER_S > 4.0
    # The first clause ("Sure, here is a longer answer that goes on for quite a while,") is read alone.
    assert first_audio < wall / 2, (first_audio, wall)
    # One core, but for the first clause on two threads (a short request): never both cores for long.
    assert PIPER_THREADS == 1 and cpu <= wall * 1.25 + 0.05, (cpu, wall)


async def test_only_a_sentences_first_clause_is_urgent(
    piper: PiperSynthesizer, monkeypatch: pytest.MonkeyPatch
) -> None:
    sent: list[dict[str, object]] = []
    send = _Worker.send

    def record(worker: _Worker, message: dict[str, object]) -> None:
        sent.append(message)
        send(worker, message)

    monkeypatch.setattr(_Worker, "send", record)
    text = "Here is the answer you asked for, and it is long enough to be read in two requests."
    head, tail = first_clause(text)
    async for _chunk in piper.synthesize(text):
        pass
    requests = [(m["text"], m.get("urgent", False)) for m in sent if "text" in m]
    assert tail and requests == [(head, True), (tail, False)]


async def test_speed_sets_pipers_length_scale(piper: PiperSynthesizer) -> None:
    text = "The quick brown fox jumps over the lazy dog."
    normal = b"".join([c async for c in piper.synthesize(text)])
    fast = b"".join([c async for c in piper.synthesize(text, speed=1.5)])
    slow = b"".join([c async for c in piper.synthesize(text, speed=0.5)])
    assert len(fast) < 0.8 * len(normal) < 0.8 * 0.8 * len(slow)


async def test_every_voice_name_gets_the_installed_voice(piper: PiperSynthesizer) -> None:
    assert piper.voices == ("joe",)
    named = b"".join([c async for c in piper.synthesize("Hello there.", voice="alloy")])
    assert len(named) / BYTES_PER_S > 0.3


async def test_espeak_speed() -> None:
    espeak = EspeakSynthesizer()
    normal = b"".join([c async for c in espeak.synthesize("One two three four five six.")])
    fast = b"".join([c async for c in espeak.synthesize("One two three four five six.", speed=1.5)])
    assert len(fast) < 0.85 * len(normal)


async def test_a_reply_is_synthesized_only_a_little_ahead_of_playback(monkeypatch: pytest.MonkeyPatch) -> None:
    from local_engine import runner
    from local_engine.stages import TextPiece
    from tests.engine.fakes import MS_PER_CHAR, ScriptedReplies, open_session

    sentence = "x" * (500 // MS_PER_CHAR - 1) + "."  # 500 ms of tone each
    replies = ScriptedReplies(parts=[TextPiece(f"{sentence} ") for _ in range(4)])

    async def elapsed_s() -> float:
        h = await open_session(replies=replies)
        await h.send({"type": "response.create"})
        await h.until("response.output_audio.delta")
        started = time.perf_counter()
        await h.until("response.done", within_s=10)
        return time.perf_counter() - started

    assert await elapsed_s() < 0.5  # 2 s of audio, all within the lead: made at once
    monkeypatch.setattr(runner, "SPEECH_LEAD_MS", 100)
    assert await elapsed_s() > 1.2  # the 4th sentence waits until 1.5 s - 0.1 s of audio have been played
