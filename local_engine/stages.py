"""The local engine's stages behind small interfaces: VAD, speech recognition, reply generation, speech synthesis.

Each stage can be swapped for a better model without touching the protocol code
(``local_engine.realtime_front``, ``local_engine.live_front``).
Audio everywhere is PCM16 little-endian mono at 24000 Hz (:data:`realtime.protocol.SAMPLE_RATE`), as bytes of
even length; a stage that needs another rate resamples inside itself.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

__all__ = [
    "FunctionCall",
    "Heard",
    "ReplyError",
    "ReplyGenerator",
    "ReplyPart",
    "ReplyRequest",
    "StreamingTranscriber",
    "Synthesizer",
    "TextPiece",
    "Transcriber",
    "TranscriptStream",
    "TurnJudge",
    "VadSpeechStarted",
    "VadSpeechStopped",
    "VadStream",
]


# ------------------------------------------------------------------------------------------------------ VAD


@dataclass(frozen=True, slots=True)
class VadSpeechStarted:
    """Speech began. ``audio_start_ms``: ms from the start of the stream, already moved back by
    ``prefix_padding_ms`` (clamped at 0), as ``input_audio_buffer.speech_started`` reports it."""

    audio_start_ms: int


@dataclass(frozen=True, slots=True)
class VadSpeechStopped:
    """Speech ended. ``audio_end_ms``: ms from the start of the stream where the committed audio ends; it
    includes ``silence_duration_ms`` of trailing silence, as ``input_audio_buffer.speech_stopped`` reports it."""

    audio_end_ms: int


class VadStream(Protocol):
    """Turn detection over one session's input audio (``server_vad`` of ``audio.input.turn_detection``)."""

    def feed(self, pcm: bytes) -> list[VadSpeechStarted | VadSpeechStopped]:
        """Push PCM16 24 kHz audio (any even length); returns the speech boundaries it completed, in order."""
        ...

    def reset(self) -> None:
        """Forget any speech in progress (``input_audio_buffer.clear``). Stream time keeps counting."""
        ...


@runtime_checkable
class TurnJudge(VadStream, Protocol):
    """A :class:`VadStream` that asks before a pause ends the turn (``semantic_vad``): after each feed the runner
    calls :meth:`due_check`, and when a check is due, :meth:`settle` off the feeding path."""

    def due_check(self) -> int | None:
        """The index of the check due now, when a pause reached a check not handed out yet; else ``None``."""
        ...

    async def settle(self, check: int, transcript: Awaitable[str]) -> VadSpeechStopped | None:
        """Judge the pause (``transcript``: the words so far); the turn's end when it is over, else ``None``."""
        ...


# ------------------------------------------------------------------------------------------------------ ASR


class Transcriber(Protocol):
    """Speech recognition of one committed utterance."""

    async def transcribe(self, pcm: bytes, *, language: str | None = None, prompt: str | None = None) -> str:
        """The words in ``pcm`` (PCM16 24 kHz), stripped; ``""`` for silence. Runs off the event loop."""
        ...


class Heard(str):
    """The words recognised so far in an utterance (a ``str``), with how their end sits in the audio.

    ``last_word_ms``: how long before the end of the voiced audio the last word began (ms, from the recognizer's
    word alignment), ``None`` when unknown. A :class:`TranscriptStream`'s :meth:`~TranscriptStream.hypothesis` may
    return one; a plain ``str`` means nothing is known beyond the text."""

    last_word_ms: float | None

    def __new__(cls, text: str, last_word_ms: float | None = None) -> Heard:
        heard = super().__new__(cls, text)
        heard.last_word_ms = last_word_ms
        return heard


class TranscriptStream(Protocol):
    """The transcript of one utterance while it is spoken (see :class:`StreamingTranscriber`)."""

    def push(self, pcm: bytes) -> None:
        """Add the next audio of the utterance (PCM16 24 kHz, even length); never blocks."""
        ...

    def deltas(self) -> str:
        """Words confirmed since the last call (``""`` when none)."""
        ...

    async def hypothesis(self) -> str:
        """The transcript of everything pushed so far; a :class:`Heard` when the recognizer measured its end (pass
        it on as it is: ``semantic_vad``'s judge reads it)."""
        ...

    async def finish(self) -> str:
        """The whole transcript; afterwards :meth:`deltas` gives the rest, so all deltas add up to it."""
        ...

    def close(self) -> None:
        """Drop queued work."""
        ...


@runtime_checkable
class StreamingTranscriber(Protocol):
    """A :class:`Transcriber` that can also transcribe an utterance while it is spoken."""

    def stream(self, *, language: str | None = None, prompt: str | None = None) -> TranscriptStream:
        """A new :class:`TranscriptStream` for one utterance."""
        ...


# ------------------------------------------------------------------------------------------------------ TTS


class Synthesizer(Protocol):
    """Text to speech."""

    def synthesize(self, text: str, *, voice: str | None = None) -> AsyncIterator[bytes]:
        """Speech for ``text`` as PCM16 24 kHz chunks (even byte lengths) as soon as each is ready. Closing the
        iterator early (barge-in, ``response.cancel``) stops the work. Runs off the event loop."""
        ...


# ------------------------------------------------------------------------------------------------------ replies


@dataclass(frozen=True, slots=True)
class ReplyRequest:
    """What a reply is generated from.

    ``instructions``: the session's (or the response's) instructions. ``history``: the conversation so far as GA
    conversation items (dicts: ``message`` with ``content`` parts of type ``input_text``/``input_audio`` (with
    ``transcript``)/``output_text``/``output_audio`` (with ``transcript``), ``function_call``,
    ``function_call_output``), oldest first, the newest last. ``tools``: GA function tool definitions
    (``{"type": "function", "name", "description", "parameters"}``). ``tool_choice``: ``auto``, ``none``,
    ``required`` or a named function."""

    instructions: str = ""
    history: list[dict[str, Any]] = field(default_factory=list)
    tools: list[dict[str, Any]] = field(default_factory=list)
    tool_choice: str | dict[str, Any] = "auto"


@dataclass(frozen=True, slots=True)
class TextPiece:
    """A piece of the assistant's reply text, in order."""

    text: str


@dataclass(frozen=True, slots=True)
class FunctionCall:
    """The model calls a tool: ``arguments`` is a JSON object as a string. ``call_id`` may be empty (the engine
    then makes one)."""

    name: str
    arguments: str
    call_id: str = ""


ReplyPart = TextPiece | FunctionCall


class ReplyGenerator(Protocol):
    """Makes the assistant's reply: text pieces, and function calls for the session's tools."""

    @property
    def label(self) -> str:
        """For people: what generates the replies (``built-in offline responder``, ``llama3.2 at http://...``)."""
        ...

    def generate(self, request: ReplyRequest) -> AsyncIterator[ReplyPart]:
        """Stream the reply. Closing the iterator early stops generation. Errors raise
        :class:`ReplyError` with a message for a person (never a key)."""
        ...


class ReplyError(RuntimeError):
    """The reply generator failed (endpoint down, bad answer); the response ends with status ``failed``."""
