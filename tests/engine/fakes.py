"""Stand-in stages for the local engine's protocol tests: no models, instant and deterministic.

``EnergyVad`` finds speech by loudness (a tone is speech, zeros are silence), ``FixedTranscriber`` hears what the
test says was spoken, ``ToneSynthesizer`` speaks 20 ms of a 440 Hz tone per character, and ``ScriptedReplies``
answers with the parts a test gives it.
"""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from local_engine.core import Limits
from local_engine.runner import EngineSession, EngineStages
from local_engine.stages import (
    ReplyGenerator,
    ReplyPart,
    ReplyRequest,
    TextPiece,
    Transcriber,
    VadSpeechStarted,
    VadSpeechStopped,
    VadStream,
)

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
        frames = np.frombuffer(data[:whole], "<i2").astype(np.float64).reshape(-1, frame // 2)
        for loud in np.sqrt(np.mean(frames**2, axis=1)) > 500:
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
        self.calls: list[tuple[str, float]] = []  # (text, time.perf_counter() when its synthesis began)

    async def synthesize(self, text: str, *, voice: str | None = None) -> AsyncIterator[bytes]:
        self.calls.append((text, time.perf_counter()))
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
    transcriber: Transcriber | None = None,
    synthesizer: ToneSynthesizer | None = None,
    vad: Callable[[float, int, int], VadStream] = EnergyVad,
    limits: Limits | None = None,
) -> EngineStages:
    return EngineStages(
        limits=limits or Limits(),
        vad=vad,
        transcriber=transcriber or FixedTranscriber(),
        synthesizer=synthesizer or ToneSynthesizer(),
        replies=replies or ScriptedReplies(),
    )


@dataclass
class SerialTranscriber:
    """Serves one job at a time (as Whisper's single worker does), taking ``s_per_audio_s`` per second of audio;
    records when each job finished (loop time)."""

    text: str = "noise"
    s_per_audio_s: float = 0.005
    finished: list[tuple[int, float]] = field(default_factory=list)
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def transcribe(self, pcm: bytes, *, language: str | None = None, prompt: str | None = None) -> str:
        async with self._lock:
            await asyncio.sleep(len(pcm) / (RATE * 2) * self.s_per_audio_s)
            self.finished.append((len(pcm), asyncio.get_running_loop().time()))
        return self.text


class BusyVad(EnergyVad):
    """:class:`EnergyVad` that also holds the thread ``s_per_audio_s`` per second of audio fed, as a neural VAD's
    inference does."""

    s_per_audio_s = 0.002

    def feed(self, pcm: bytes) -> list[VadSpeechStarted | VadSpeechStopped]:
        time.sleep(len(pcm) / (RATE * 2) * self.s_per_audio_s)
        return super().feed(pcm)


class Harness:
    """One :class:`EngineSession` with fake stages, recording the events it sends; :meth:`until` waits for an
    event without polling (each sent event wakes it)."""

    def __init__(self, stages: EngineStages | None = None, **fakes: Any) -> None:
        self.events: list[dict[str, Any]] = []
        self.times: list[float] = []  # when each event was sent (time.perf_counter())
        self._arrived = asyncio.Event()
        self.stages = stages or fake_stages(**fakes)
        self.session = EngineSession(self.stages, self._record)

    async def _record(self, event: dict[str, Any]) -> None:
        self.events.append(event)
        self.times.append(time.perf_counter())
        self._arrived.set()

    async def send(self, event: dict[str, Any] | str) -> None:
        await self.session.handle(event)

    async def append(self, pcm: bytes, chunk: int = 8192) -> None:
        for i in range(0, len(pcm), chunk):
            await self.send(
                {"type": "input_audio_buffer.append", "audio": base64.b64encode(pcm[i : i + chunk]).decode()}
            )

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["type"] == kind]

    def types(self) -> list[str]:
        return [e["type"] for e in self.events]

    def sent_at(self, event: dict[str, Any]) -> float:
        """When ``event`` (one of :attr:`events`) was sent."""
        return self.times[next(i for i, e in enumerate(self.events) if e is event)]

    async def until(self, kind: str, count: int = 1, within_s: float = 5.0) -> dict[str, Any]:
        """The ``count``-th event of ``kind``, waiting for it (each event the session sends wakes the wait)."""
        async with asyncio.timeout(within_s):
            while len(self.of(kind)) < count:
                self._arrived.clear()
                await self._arrived.wait()
        return self.of(kind)[count - 1]

    def errors(self) -> list[dict[str, Any]]:
        return [e["error"] for e in self.of("error")]


async def open_session(stages: EngineStages | None = None, **fakes: Any) -> Harness:
    h = Harness(stages, **fakes)
    await h.session.open()
    return h
