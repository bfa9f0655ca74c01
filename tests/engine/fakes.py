"""Stand-in stages for the local engine's protocol tests: no models, instant and deterministic.

``EnergyVad`` finds speech by loudness (a tone is speech, zeros are silence), ``FixedTranscriber`` hears what the
test says was spoken, ``ToneSynthesizer`` speaks 20 ms of a 440 Hz tone per character, and ``ScriptedReplies``
answers with the parts a test gives it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import numpy as np

from local_engine.runner import EngineStages
from local_engine.stages import ReplyGenerator, ReplyPart, ReplyRequest, TextPiece, VadSpeechStarted, VadSpeechStopped

RATE = 24_000
MS_PER_CHAR = 20


def tone(ms: int, amplitude: int = 8000) -> bytes:
    t = np.arange(RATE * ms // 1000) / RATE
    return (amplitude * np.sin(2 * np.pi * 440 * t)).astype("<i2").tobytes()


def silence(ms: int) -> bytes:
    return bytes(RATE * ms // 1000 * 2)


class EnergyVad:
    """Speech = a 10 ms frame with RMS above 500. Same timing rules as server VAD."""

    def __init__(self, threshold: float, prefix_padding_ms: int, silence_duration_ms: int) -> None:
        self.padding, self.silence_ms = prefix_padding_ms, silence_duration_ms
        self._carry = b""
        self._ms = 0
        self._speaking = False
        self._quiet_since: int | None = None

    def feed(self, pcm: bytes) -> list[VadSpeechStarted | VadSpeechStopped]:
        out: list[VadSpeechStarted | VadSpeechStopped] = []
        data = self._carry + pcm
        frame = RATE // 100 * 2
        whole = len(data) // frame * frame
        self._carry = data[whole:]
        for i in range(0, whole, frame):
            samples = np.frombuffer(data[i : i + frame], "<i2").astype(np.float64)
            loud = float(np.sqrt(np.mean(samples**2))) > 500
            if loud:
                self._quiet_since = None
                if not self._speaking:
                    self._speaking = True
                    out.append(VadSpeechStarted(max(0, self._ms - self.padding)))
            elif self._speaking:
                self._quiet_since = self._ms if self._quiet_since is None else self._quiet_since
                if self._ms + 10 - self._quiet_since >= self.silence_ms:
                    self._speaking = False
                    out.append(VadSpeechStopped(self._ms + 10))
            self._ms += 10
        return out

    def reset(self) -> None:
        self._speaking, self._quiet_since = False, None


@dataclass
class FixedTranscriber:
    text: str = "hello there"
    delay_s: float = 0.0
    calls: list[int] = field(default_factory=list)

    async def transcribe(self, pcm: bytes, *, language: str | None = None, prompt: str | None = None) -> str:
        self.calls.append(len(pcm))
        await asyncio.sleep(self.delay_s)
        return self.text


class ToneSynthesizer:
    def __init__(self, delay_s: float = 0.0) -> None:
        self.delay_s = delay_s

    async def synthesize(self, text: str, *, voice: str | None = None) -> AsyncIterator[bytes]:
        pcm = tone(MS_PER_CHAR * len(text))
        for i in range(0, len(pcm), 4800):
            await asyncio.sleep(self.delay_s)
            yield pcm[i : i + 4800]


@dataclass
class ScriptedReplies:
    """Yields ``parts`` (or, per call, the next list of ``script``); records each request."""

    parts: list[ReplyPart] = field(default_factory=lambda: [TextPiece("Hi there. "), TextPiece("How can I help?")])
    delay_s: float = 0.0
    requests: list[ReplyRequest] = field(default_factory=list)
    label: str = "scripted replies"

    async def generate(self, request: ReplyRequest) -> AsyncIterator[ReplyPart]:
        self.requests.append(request)
        for part in self.parts:
            await asyncio.sleep(self.delay_s)
            yield part


def fake_stages(
    replies: ReplyGenerator | None = None,
    transcriber: FixedTranscriber | None = None,
    synthesizer: ToneSynthesizer | None = None,
) -> EngineStages:
    return EngineStages(
        vad=EnergyVad,
        transcriber=transcriber or FixedTranscriber(),
        synthesizer=synthesizer or ToneSynthesizer(),
        replies=replies or ScriptedReplies(),
    )
