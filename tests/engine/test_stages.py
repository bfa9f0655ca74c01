"""The local engine's speech stages on real models: Silero VAD, Whisper tiny.en, Piper and espeak-ng.

Speech is made at test time with espeak-ng (tests/audio.py); the models load once per session.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import numpy as np
import pytest

from local_engine import models, tts
from local_engine.asr import WhisperTranscriber
from local_engine.models import ModelError
from local_engine.stages import VadSpeechStarted, VadSpeechStopped
from local_engine.tts import EspeakSynthesizer, PiperSynthesizer, SynthesisError, load_synthesizer
from local_engine.vad import SileroVad, SileroVadStream
from tests.audio import noise, silence, speak_pcm, word_errors, words

pytestmark = pytest.mark.models

SENTENCES = (
    "What time is it in Paris right now?",
    "Tell me a joke about cats.",
    "How far away is the moon?",
)


def active_span_ms(pcm: bytes, level: int = 300) -> tuple[float, float]:
    """First and last ms where the signal is above ``level`` (where espeak actually speaks)."""
    loud = np.flatnonzero(np.abs(np.frombuffer(pcm, dtype="<i2")) > level)
    return loud[0] / 24, loud[-1] / 24


def feed_all(stream: SileroVadStream, audio: bytes, chunk: int) -> list[object]:
    events: list[object] = []
    for i in range(0, len(audio), chunk):
        events += stream.feed(audio[i : i + chunk])
    return events


def duration_s(pcm: bytes) -> float:
    return len(pcm) / 48_000


def rms_dbfs(pcm: bytes) -> float:
    x = np.frombuffer(pcm, dtype="<i2").astype(np.float64)
    return 20 * np.log10(max(np.sqrt(np.mean(x**2)), 1e-9) / 32768)


# ---------------------------------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="session")
def vad_model() -> SileroVad:
    return SileroVad.shared()


@pytest.fixture(scope="session")
def transcriber() -> Iterator[WhisperTranscriber]:
    asr = WhisperTranscriber()
    yield asr
    asr.close()


@pytest.fixture(scope="session")
def piper() -> Iterator[PiperSynthesizer]:
    synth = PiperSynthesizer()
    synth.start()
    yield synth
    synth.close()


async def collect(chunks: AsyncIterator[bytes]) -> list[bytes]:
    return [chunk async for chunk in chunks]


# ---------------------------------------------------------------------------------------------------- VAD


def test_vad_finds_each_utterance_within_100_ms(vad_model: SileroVad) -> None:
    first, second = speak_pcm(SENTENCES[0]), speak_pcm(SENTENCES[1])
    audio = silence(1000) + first + silence(1500) + second + silence(1500)
    offsets = (1000.0, 1000 + duration_s(first) * 1000 + 1500)
    expected: list[tuple[float, float]] = []
    for offset, pcm in zip(offsets, (first, second), strict=True):
        start, end = active_span_ms(pcm)
        expected.append((offset + start - 300, offset + end + 500))

    events = feed_all(SileroVadStream(vad_model), audio, 8192)

    kinds = [type(e).__name__ for e in events]
    assert kinds == ["VadSpeechStarted", "VadSpeechStopped"] * 2, events
    for (want_start, want_end), started, stopped in zip(expected, events[0::2], events[1::2], strict=True):
        assert abs(started.audio_start_ms - want_start) <= 100, (started, want_start)  # type: ignore[attr-defined]
        assert abs(stopped.audio_end_ms - want_end) <= 100, (stopped, want_end)  # type: ignore[attr-defined]


def test_vad_events_do_not_depend_on_chunk_size(vad_model: SileroVad) -> None:
    audio = silence(700) + speak_pcm(SENTENCES[1]) + silence(900)
    reference = feed_all(SileroVadStream(vad_model), audio, 8192)
    assert len(reference) == 2
    for chunk in (2, 962, 4800, len(audio)):
        assert feed_all(SileroVadStream(vad_model), audio, chunk) == reference, chunk


def test_vad_ends_the_turn_in_the_chunk_that_completes_the_silence(vad_model: SileroVad) -> None:
    # silence_duration_ms of 500 is 8000 samples at 16 kHz, 320 past a frame boundary: fed up to 2 ms past the
    # end of the silence, the last whole frame ends before it, and only the look-ahead judges the rest.
    audio = silence(500) + speak_pcm(SENTENCES[0]) + silence(1200)
    reference = feed_all(SileroVadStream(vad_model), audio, 8192)
    assert len(reference) == 2
    stopped = reference[1]
    assert isinstance(stopped, VadSpeechStopped)
    stream = SileroVadStream(vad_model)
    upto = (stopped.audio_end_ms + 2) * 48  # bytes of PCM16 24 kHz
    events = stream.feed(audio[:upto])
    assert events == reference
    assert stream.processed_ms < stopped.audio_end_ms  # the model's whole frames did not reach it


def test_vad_ignores_silence_and_low_noise(vad_model: SileroVad) -> None:
    stream = SileroVadStream(vad_model)
    assert feed_all(stream, silence(3000) + noise(4000, -45.0) + noise(3000, -60.0, seed=1), 8192) == []


def test_vad_prefix_padding_is_clamped_and_reset_forgets_speech(vad_model: SileroVad) -> None:
    stream = SileroVadStream(vad_model, prefix_padding_ms=300, silence_duration_ms=200)
    speech = speak_pcm(SENTENCES[0])
    half = len(speech) // 4 * 2
    started = stream.feed(speech[:half])
    assert len(started) == 1
    assert isinstance(started[0], VadSpeechStarted)
    assert started[0].audio_start_ms == 0  # onset near 0 ms, minus 300 ms, clamped
    stream.reset()
    assert not stream.in_speech
    # Still speaking after the reset: a new turn starts, then stops after the trailing silence.
    after = stream.feed(speech[half:] + silence(800))
    assert [type(e).__name__ for e in after] == ["VadSpeechStarted", "VadSpeechStopped"]
    with pytest.raises(ValueError, match="even"):
        stream.feed(b"\x00")


# ---------------------------------------------------------------------------------------------------- ASR


async def test_asr_transcribes_spoken_sentences(transcriber: WhisperTranscriber) -> None:
    # Shaped as server VAD commits a turn (prefix padding before, silence after); both at once: the
    # single-thread executor queues them.
    clips = [silence(300) + speak_pcm(s) + silence(500) for s in SENTENCES]
    results = await asyncio.gather(*(transcriber.transcribe(clip) for clip in clips))
    errors = sum(word_errors(words(sentence), words(text)) for sentence, text in zip(SENTENCES, results, strict=True))
    total = sum(len(words(sentence)) for sentence in SENTENCES)
    # Whisper tiny.en on espeak's robotic voice: about 9% word error rate over 24 questions
    # (python -m bench.local_latency); a clip here may lose a word or two, not the sense.
    assert errors / total <= 0.25, list(zip(SENTENCES, results, strict=True))
    assert all(text == text.strip() for text in results)
    assert "paris" in words(results[0]) and "cats" in words(results[1]) and "moon" in words(results[2])


async def test_asr_returns_nothing_for_silence(transcriber: WhisperTranscriber) -> None:
    assert await transcriber.transcribe(silence(1000)) == ""
    assert await transcriber.transcribe(b"") == ""


# ---------------------------------------------------------------------------------------------------- TTS


async def test_piper_speaks_24khz_audio_that_whisper_understands(
    piper: PiperSynthesizer, transcriber: WhisperTranscriber
) -> None:
    chunks = await collect(piper.synthesize("The quick brown fox jumps over the lazy dog."))
    assert chunks and all(0 < len(c) <= 4800 and len(c) % 2 == 0 for c in chunks)
    audio = b"".join(chunks)
    assert 0.3 <= duration_s(audio) <= 10.0
    assert rms_dbfs(audio) > -35.0
    assert "lazy dog" in " ".join(words(await transcriber.transcribe(audio)))


async def test_piper_closing_early_then_speaking_again(piper: PiperSynthesizer) -> None:
    long_text = " ".join(f"This is sentence number {n} of a long answer." for n in range(1, 9))
    stream = piper.synthesize(long_text)
    first = await anext(stream)
    assert first
    await stream.aclose()  # barge-in
    again = b"".join(await collect(piper.synthesize("Hello there.")))
    # Only the new utterance comes back: short, not the rest of the long one.
    assert 0.3 <= duration_s(again) <= 2.5


async def test_piper_worker_death_fails_the_call_then_restarts(piper: PiperSynthesizer) -> None:
    stream = piper.synthesize("One sentence. Another sentence. And a third one to be sure.")
    await anext(stream)
    old_pid = piper.pid
    assert piper._worker is not None
    piper._worker.process.kill()
    with pytest.raises(SynthesisError, match="stopped"):
        async for _ in stream:
            pass
    audio = b"".join(await collect(piper.synthesize("Back again.")))
    assert duration_s(audio) >= 0.3
    assert piper.pid != old_pid


async def test_espeak_synthesizer_and_fallback(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken() -> tuple[Path, Path]:
        raise ModelError("no voice here")

    monkeypatch.setattr(tts, "piper_voice_paths", broken)
    synth = await load_synthesizer("piper")
    assert isinstance(synth, EspeakSynthesizer)
    chunks = await collect(synth.synthesize("What time is it?"))
    assert all(0 < len(c) <= 4800 and len(c) % 2 == 0 for c in chunks)
    audio = b"".join(chunks)
    assert 0.3 <= duration_s(audio) <= 10.0
    assert rms_dbfs(audio) > -35.0
    stream = synth.synthesize("One two three. Four five six. Seven eight nine.")
    await anext(stream)
    await stream.aclose()  # kills espeak-ng without hanging


# ---------------------------------------------------------------------------------------------------- model files


def test_hash_mismatch_raises_model_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(models, "SILERO_VAD_SHA256", "0" * 64)
    with pytest.raises(ModelError, match=r"silero_vad_v6\.onnx.*4cbf549b8326.*expected 000000000000"):
        SileroVad()
    monkeypatch.setitem(models.PIPER_VOICE_SHA256, "model", "f" * 64)
    with pytest.raises(ModelError, match="expected ffffffffffff"):
        PiperSynthesizer()
    monkeypatch.setitem(models.WHISPER_TINY_EN_SHA256, "model.bin", "a" * 64)
    with pytest.raises(ModelError, match=r"model\.bin"):
        models.whisper_model_dir()


def test_missing_files_and_hub_names_are_refused(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="missing"):
        models.verify_file(tmp_path / "gone.onnx", "0" * 64, "test model")
    monkeypatch.setenv(models.LOCAL_ASR_MODEL_ENV, "small.en")
    with pytest.raises(ModelError, match="not a directory"):
        models.whisper_model_dir()
    monkeypatch.setenv(models.LOCAL_ASR_MODEL_ENV, str(tmp_path))
    with pytest.raises(ModelError, match=r"no model\.bin"):
        models.whisper_model_dir()


def test_a_beam_narrower_than_one_is_refused_before_the_model_loads() -> None:
    with pytest.raises(ValueError, match="beam_size"):
        WhisperTranscriber("/nonexistent", beam_size=0)


EXIT_WHILE_DECODING = """
import asyncio, sys
import numpy as np
from local_engine.asr import WhisperTranscriber

transcriber = WhisperTranscriber()
pcm = (np.random.default_rng(1).standard_normal(24000 * 4) * 3000).astype("<i2").tobytes()

async def main():
    for _ in range(5):  # each stream's hypothesis: a decode and an alignment on the worker thread
        stream = transcriber.stream(language=None, prompt=None)
        stream.push(pcm)
        asyncio.ensure_future(stream.hypothesis())
    await asyncio.sleep(float(sys.argv[1]))

asyncio.run(main())
print("exiting", flush=True)
"""


@pytest.mark.parametrize("after_s", [0.15, 0.3])
def test_a_process_that_exits_while_whisper_decodes_exits_cleanly(after_s: float) -> None:
    """CTranslate2 aborts the process ("terminate called without an active exception", status 134) when the
    interpreter ends while it decodes on the worker thread: the worker lets its decode finish at exit."""
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", EXIT_WHILE_DECODING, str(after_s)], capture_output=True,
                          text=True, timeout=120, cwd=Path(__file__).resolve().parents[2])  # fmt: skip
    assert done.returncode == 0, done.stderr[-500:]
    assert "exiting" in done.stdout and "terminate called" not in done.stderr
