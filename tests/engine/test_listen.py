"""Turn detection and recognition during speech through the runner, on the real models (Silero VAD, Whisper
tiny.en); replies and speech are the stand-ins of tests/engine/fakes.py.

Speech is made at test time with espeak-ng; audio is appended in 170 ms chunks at real-time pace."""

from __future__ import annotations

import asyncio
import base64
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile
import soxr

from local_engine.asr import WhisperTranscriber
from local_engine.runner import EngineStages
from local_engine.turn import SemanticVadStream
from local_engine.vad import SileroVad, SileroVadStream
from tests.audio import silence, speak_pcm, words
from tests.engine.fakes import Harness, ScriptedReplies, ToneSynthesizer

pytestmark = pytest.mark.models

CHUNK = 8192  # bytes, about 170 ms
LOUD = 328  # -40 dBFS


def speak_ssml(ssml: str) -> bytes:
    """SSML (``<break time="900ms"/>`` for a pause inside a sentence) spoken by espeak-ng, PCM16 24 kHz."""
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "speech.wav"
        subprocess.run(["espeak-ng", "-m", "-v", "en-us", "-s", "150", "-w", str(wav), "--", ssml],
                       check=True, capture_output=True)  # fmt: skip
        data, rate = soundfile.read(wav, dtype="float32")
    pcm = np.clip(soxr.resample(data, rate, 24_000) * 32768, -32768, 32767)
    return pcm.astype("<i2").tobytes()


def last_voiced_ms(pcm: bytes) -> float:
    loud = np.flatnonzero(np.abs(np.frombuffer(pcm, dtype="<i2").astype(np.int32)) > LOUD)
    return float(loud[-1] + 1) / 24


@pytest.fixture(scope="module")
def transcriber() -> Iterator[WhisperTranscriber]:
    model = WhisperTranscriber()
    yield model
    model.close()


def real_stages(
    transcriber: WhisperTranscriber,
    synthesizer: ToneSynthesizer | None = None,
    replies: ScriptedReplies | None = None,
) -> EngineStages:
    vad_model = SileroVad.shared()
    return EngineStages(
        vad=lambda t, p, s: SileroVadStream(vad_model, t, p, s),
        semantic_vad=lambda e, t, p: SemanticVadStream(vad_model, e, threshold=t, prefix_padding_ms=p),
        transcriber=transcriber,
        synthesizer=synthesizer or ToneSynthesizer(),
        replies=replies or ScriptedReplies(),
    )


async def talk(h: Harness, turn_detection: dict[str, Any], audio: bytes) -> None:
    session = {"type": "realtime", "audio": {"input": {"transcription": {"model": "whisper-1"},
                                                       "turn_detection": turn_detection}}}  # fmt: skip
    await h.send({"type": "session.update", "session": session})
    for offset in range(0, len(audio), CHUNK):
        chunk = audio[offset : offset + CHUNK]
        await h.send({"type": "input_audio_buffer.append", "audio": base64.b64encode(chunk).decode()})
        await asyncio.sleep(0.17)


async def test_semantic_vad_ends_a_finished_question_soon_and_streams_its_words(
    transcriber: WhisperTranscriber,
) -> None:
    h = Harness(real_stages(transcriber))
    await h.session.open()
    # Long enough (about 7 s) for several decodes while it is spoken, also on a busy machine, and with no pause
    # inside: "... the moon is from the earth and how long ..." had one of 140 ms after a question that could end
    # there, which may end the turn.
    speech = speak_pcm(
        "Could you tell me how many days a rocket with three people on board needs to fly all the way from the "
        "earth to the moon?"
    )
    lead = silence(500)
    await talk(h, {"type": "semantic_vad", "eagerness": "medium"}, lead + speech + silence(2000))
    completed = await h.until("conversation.item.input_audio_transcription.completed", within_s=10)
    stopped = h.of("input_audio_buffer.speech_stopped")
    assert len(stopped) == 1
    end_of_speech_ms = 500 + last_voiced_ms(speech)
    assert stopped[0]["audio_end_ms"] - end_of_speech_ms <= 450, (stopped, end_of_speech_ms)
    assert {"days", "rocket", "people", "moon"} <= set(words(completed["transcript"])), completed["transcript"]
    deltas = h.of("conversation.item.input_audio_transcription.delta")
    assert "".join(d["delta"] for d in deltas) == completed["transcript"]
    first_delta = h.events.index(deltas[0])
    assert first_delta < h.events.index(stopped[0]), "no words were sent while the user spoke"
    await h.session.close()


async def test_semantic_vad_waits_through_a_pause_after_a_word_a_sentence_does_not_end_on(
    transcriber: WhisperTranscriber,
) -> None:
    h = Harness(real_stages(transcriber))
    await h.session.open()
    speech = speak_ssml('<speak>I would like to know the <break time="900ms"/> weather in Rome today.</speak>')
    await talk(h, {"type": "semantic_vad"}, silence(500) + speech + silence(2000))
    completed = await h.until("conversation.item.input_audio_transcription.completed", within_s=10)
    assert len(h.of("input_audio_buffer.speech_stopped")) == 1
    assert {"know", "today"} <= set(words(completed["transcript"])), completed["transcript"]
    await h.session.close()


async def test_server_vad_still_ends_the_turn_after_exactly_its_silence(transcriber: WhisperTranscriber) -> None:
    h = Harness(real_stages(transcriber))
    await h.session.open()
    speech = speak_pcm("Why is the sky blue?")
    started = time.perf_counter()
    await talk(h, {"type": "server_vad", "silence_duration_ms": 500}, silence(500) + speech + silence(1200))
    completed = await h.until("conversation.item.input_audio_transcription.completed", within_s=10)
    stopped = h.of("input_audio_buffer.speech_stopped")
    assert len(stopped) == 1
    silence_heard = stopped[0]["audio_end_ms"] - (500 + last_voiced_ms(speech))
    assert 440 <= silence_heard <= 600, silence_heard  # 500 ms after Silero's last speech frame
    assert "sky" in words(completed["transcript"]) and time.perf_counter() - started < 15
    await h.session.close()


async def test_server_vad_readies_the_reply_and_its_first_speech_during_the_silence(
    transcriber: WhisperTranscriber,
) -> None:
    replies = ScriptedReplies()
    # Each 100 ms of speech takes 250 ms to make: spoken after the turn ends, the first audio would come late.
    synthesizer = ToneSynthesizer(delay_s=0.25)
    h = Harness(real_stages(transcriber, synthesizer, replies))
    await h.session.open()
    await talk(h, {"type": "server_vad", "silence_duration_ms": 1000},
               silence(500) + speak_pcm("Why is the sky blue?") + silence(2000))  # fmt: skip
    first_audio = await h.until("response.output_audio.delta", within_s=10)
    [stopped] = h.of("input_audio_buffer.speech_stopped")
    (first_text, began), *_ = synthesizer.calls
    assert first_text == "Hi there." and began < h.sent_at(stopped)  # spoken during the silence
    assert h.sent_at(first_audio) - h.sent_at(stopped) < 0.2
    [request] = replies.requests  # made once, during the silence, and used
    [completed] = h.of("conversation.item.input_audio_transcription.completed")
    assert request.history[-1]["content"][0]["transcript"] == completed["transcript"]
    assert "sky" in words(completed["transcript"])
    await h.session.close()


async def test_a_reply_readied_in_a_pause_is_dropped_when_the_user_goes_on(transcriber: WhisperTranscriber) -> None:
    replies = ScriptedReplies()
    h = Harness(real_stages(transcriber, replies=replies))
    await h.session.open()
    speech = speak_ssml('<speak>I would like to know the <break time="700ms"/> weather in Rome today.</speak>')
    await talk(h, {"type": "server_vad", "silence_duration_ms": 1200}, silence(500) + speech + silence(2000))
    await h.until("response.done", within_s=10)
    assert len(h.of("input_audio_buffer.speech_stopped")) == len(h.of("response.created")) == 1
    foreseen, answered = replies.requests  # one readied in the pause, one for the whole sentence
    assert "today" not in words(foreseen.history[-1]["content"][0]["transcript"])
    assert {"know", "today"} <= set(words(answered.history[-1]["content"][0]["transcript"]))
    assert len(h.of("response.output_audio.delta")) > 0
    await h.session.close()
