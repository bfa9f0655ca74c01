"""Recognition while the user speaks (LocalAgreement-2) and fair sharing of the Whisper worker.

Speech is made at test time with espeak-ng (tests/audio.py)."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator

import numpy as np
import pytest

from local_engine import asr
from local_engine.asr import (
    MAX_WINDOW_S,
    MODEL_RATE,
    Decoded,
    WhisperTranscriber,
    Word,
    repeated_phrase,
    split_windows,
    window_frames,
)
from local_engine.stages import Heard
from local_engine.turn import SHORT_LAST_WORD_MS, heard_cue, transcript_cue
from tests.audio import silence, speak_pcm, word_errors, words

pytestmark = pytest.mark.models

CHUNK = 8192  # bytes: about 170 ms, what the browser recorder sends


@pytest.fixture(scope="module")
def transcriber() -> Iterator[WhisperTranscriber]:
    model = WhisperTranscriber()
    yield model
    model.close()


async def push_in_real_time(stream: asr.TranscriptionStream, pcm: bytes, *, pace: float = 0.5) -> list[str]:
    """Push ``pcm`` in 170 ms chunks at ``pace`` times real time; returns the deltas seen meanwhile."""
    deltas: list[str] = []
    for offset in range(0, len(pcm), CHUNK):
        stream.push(pcm[offset : offset + CHUNK])
        await asyncio.sleep(0.17 * pace)
        if delta := stream.deltas():
            deltas.append(delta)
    return deltas


async def test_stream_confirms_words_while_speaking_and_deltas_add_up_to_the_transcript(
    transcriber: WhisperTranscriber,
) -> None:
    text = "Could you tell me how far away the moon is from the earth, and how long it takes to fly there?"
    stream = transcriber.stream()
    during = await push_in_real_time(stream, silence(300) + speak_pcm(text) + silence(500), pace=1.0)
    transcript = await stream.finish()
    rest = stream.deltas()
    assert during, "no words were confirmed while the user spoke"
    assert "".join(during) + rest == transcript
    assert word_errors(words(text), words(transcript)) <= 3, transcript


async def test_hypothesis_at_a_pause_is_reused_by_finish(transcriber: WhisperTranscriber) -> None:
    stream = transcriber.stream()
    stream.push(silence(300) + speak_pcm("What is the capital of Canada?") + silence(200))
    heard = await stream.hypothesis()
    decodes = len(transcriber.decode_ms)
    started = time.perf_counter()
    assert await stream.finish() == heard
    assert len(transcriber.decode_ms) == decodes and time.perf_counter() - started < 0.05
    assert "canada" in words(heard)


async def test_a_hypothesis_of_all_the_words_stands_as_the_decode_at_the_pause(transcriber: WhisperTranscriber) -> None:
    stream = transcriber.stream()
    before = len(transcriber.decode_ms)
    stream.push(silence(300) + speak_pcm("What is the capital of Canada?") + silence(300))  # a hypothesis starts
    deadline = time.perf_counter() + 10
    while len(transcriber.decode_ms) == before and time.perf_counter() < deadline:  # noqa: ASYNC110 (a worker thread)
        await asyncio.sleep(0.01)
    assert len(transcriber.decode_ms) == before + 1
    heard = await stream.hypothesis()
    assert len(transcriber.decode_ms) == before + 1  # no second decode of the same audio
    assert "canada" in words(heard) and heard.last_word_ms is not None, heard


async def test_a_hypothesis_leaves_out_the_word_whisper_puts_in_the_silence_after_a_cut_phrase(
    transcriber: WhisperTranscriber,
) -> None:
    # Whisper tiny.en writes "I need a recipe for it." for this audio; the "it" lies in the silence.
    stream = transcriber.stream()
    stream.push(silence(300) + speak_pcm("I need a recipe for") + silence(200))
    heard = await stream.hypothesis()
    assert words(heard) == ["i", "need", "a", "recipe", "for"], heard
    assert transcript_cue(heard) == "unfinished"


def test_a_finished_questions_last_word_is_long_and_a_cut_phrases_is_not(transcriber: WhisperTranscriber) -> None:
    def heard(text: str) -> Heard:
        audio = asr.to_model_rate(silence(300) + speak_pcm(text) + silence(150))
        return transcriber.decode(audio, align=True).heard()

    for question in ("How far away is the moon?", "What is the capital of Canada?"):
        words_heard = heard(question)
        assert heard_cue(words_heard) == "finished", words_heard
        assert words_heard.last_word_ms is not None and words_heard.last_word_ms >= SHORT_LAST_WORD_MS, words_heard
    cut = heard("I am looking for a good place to")  # tiny.en writes "... a good place too."
    assert heard_cue(cut) != "finished", cut


def test_heard_drops_the_words_aligned_after_the_voice() -> None:
    spoken = (Word(" I", 0.0, 0.52, 0.8), Word(" need", 0.52, 0.76, 0.9), Word(" a", 0.76, 0.88, 0.6),
              Word(" recipe", 0.88, 1.24, 0.95), Word(" for", 1.24, 1.56, 0.99))  # fmt: skip
    added = (Word(" it", 1.56, 2.02, 0.85), Word(".", 2.02, 2.02, 0.81))
    heard = Decoded(" I need a recipe for it.", (), spoken + added, voiced_end=1.54).heard()
    assert heard == " I need a recipe for"
    assert heard.last_word_ms == pytest.approx(300.0)
    question = (*spoken[:4], Word("?", 1.24, 1.3, 0.9), Word(" It", 1.3, 1.5, 0.5), Word(".", 1.5, 1.5, 0.5))
    heard = Decoded(" I need a recipe? It.", (), question, voiced_end=1.32).heard()
    assert heard == " I need a recipe?"  # the punctuation after the last word heard stays
    assert heard.last_word_ms == pytest.approx(440.0)
    kept = Decoded(" I need a recipe for", (), spoken, voiced_end=1.8).heard()
    assert kept == " I need a recipe for" and kept.last_word_ms == pytest.approx(560.0)
    assert Decoded(" Hello.", ()).heard() == " Hello." and Decoded(" Hello.", ()).heard().last_word_ms is None
    assert Decoded(" it.", (), added, voiced_end=1.54).heard() == ""


def test_a_phrase_whisper_wrote_again_is_kept_once() -> None:
    assert repeated_phrase(["Sound", "good", "sound", "good"]) == 2
    assert repeated_phrase([" Where", " is", " Lisbon?", " Where", " is", " Lisbon?", " Where", " is"]) == 3
    assert repeated_phrase(["No,", "no."]) is None  # one word said twice is speech
    assert repeated_phrase(["I", "think", "I", "think", "so"]) is None and repeated_phrase([]) is None
    first = (Word(" Speak", 0.1, 0.4, 0.9), Word(" more", 0.4, 0.6, 0.9), Word(" slowly.", 0.6, 1.1, 0.9))
    again = (Word(" Speak", 1.1, 1.15, 0.5), Word(" more", 1.15, 1.2, 0.5), Word(" slowly.", 1.2, 1.25, 0.5))
    decoded = Decoded(" Speak more slowly. Speak more slowly.", (), first + again, voiced_end=1.3)
    heard = decoded.heard()
    assert heard == " Speak more slowly." and heard.last_word_ms == pytest.approx(700.0)
    assert decoded.final_text() == " Speak more slowly."
    assert Decoded(" Hello. Hello.", ()).final_text() == " Hello. Hello."  # not aligned: as written


async def test_silence_gives_an_empty_transcript(transcriber: WhisperTranscriber) -> None:
    stream = transcriber.stream()
    stream.push(silence(1500))
    assert await stream.finish() == "" and stream.deltas() == ""


def test_window_sizes_and_long_audio_split_at_quiet_points() -> None:
    assert window_frames(5 * MODEL_RATE) == 1000 and window_frames(12 * MODEL_RATE) == 2000
    assert window_frames(25 * MODEL_RATE) == 3000
    rng = np.random.default_rng(0)
    audio = rng.normal(0, 0.1, 70 * MODEL_RATE).astype(np.float32)
    audio[26 * MODEL_RATE : 26 * MODEL_RATE + MODEL_RATE // 5] = 0.0  # a quiet spot near the first limit
    pieces = split_windows(audio)
    assert sum(p.size for p in pieces) == audio.size
    assert all(p.size <= MAX_WINDOW_S * MODEL_RATE for p in pieces)
    assert 26 * MODEL_RATE <= pieces[0].size <= 26 * MODEL_RATE + MODEL_RATE // 5


async def test_one_sessions_long_recording_does_not_hold_up_another(transcriber: WhisperTranscriber) -> None:
    rng = np.random.default_rng(1)
    noise = rng.normal(0.0, 3000.0, 24_000 * 90).astype("<i2").tobytes()  # 90 s of noise: 4 windows
    question = silence(300) + speak_pcm("What is the capital of Canada?")
    alone_started = time.perf_counter()
    await transcriber.transcribe(question)
    alone = time.perf_counter() - alone_started

    hog = asyncio.ensure_future(transcriber.transcribe(noise))
    await asyncio.sleep(0.05)  # the long job is running
    started = time.perf_counter()
    heard = await transcriber.transcribe(question)
    waited = time.perf_counter() - started
    hog_done = hog.done()
    await hog
    assert "canada" in words(heard)
    # Served between the long recording's windows (first-come-first-served would finish all 4 first).
    assert not hog_done, (waited, alone)


def test_the_worker_serves_owners_in_turn_and_final_work_first() -> None:
    worker = asr._FairWorker()
    gate = threading.Event()
    order: list[str] = []

    def job(name: str) -> None:
        gate.wait(5)
        order.append(name)

    try:
        first = worker.submit("a", asr._FINAL, lambda: job("a0"))
        time.sleep(0.05)  # a0 is running and holds the worker
        futures = [
            worker.submit("a", asr._FINAL, lambda: job("a1")),
            worker.submit("a", asr._FINAL, lambda: job("a2")),
            worker.submit("b", asr._PARTIAL, lambda: job("b-partial-old")),
            worker.submit("b", asr._PARTIAL, lambda: job("b-partial")),
            worker.submit("c", asr._FINAL, lambda: job("c1")),
        ]
        gate.set()
        first.result(5)
        for future in futures[:2] + futures[3:]:
            future.result(5)
        assert futures[2].cancelled()  # replaced by b's newer partial request
        assert order == ["a0", "c1", "a1", "a2", "b-partial"]
    finally:
        worker.close()
