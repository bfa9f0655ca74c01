"""The protocol-neutral core of a local engine session: what every front end (Realtime, GPT-Live) shares.

A front end is a state machine with no I/O (:mod:`local_engine.realtime_front`, :mod:`local_engine.live_front`):
client frames and stage results go in, server events and the :data:`Command` s below come out, and
:class:`local_engine.runner.EngineSession` carries the commands out with the stages (VAD, speech recognition,
reply generation, speech synthesis) and feeds the results back. This module holds the commands, the per-session
:class:`Limits`, the client error every front end raises (:class:`ClientError`), the audio decoder and the id
maker. Audio is PCM16 little-endian mono at 24000 Hz (48 bytes per ms).
"""

from __future__ import annotations

import binascii
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from local_engine.stages import FunctionCall, ReplyRequest, VadSpeechStarted, VadSpeechStopped
from realtime.protocol import MAX_APPEND_BYTES

__all__ = [
    "MAX_ID_CHARS",
    "MAX_TOOL_NAME_CHARS",
    "Cancel",
    "ClientError",
    "Command",
    "ConfigureVad",
    "FeedVad",
    "FrontEnd",
    "Generate",
    "Json",
    "Limits",
    "Preview",
    "ResetVad",
    "Speak",
    "Transcribe",
    "VadParams",
    "WireEvent",
    "check_length",
    "decode_audio",
    "new_id",
    "semantic_vad",
]

Json = dict[str, Any]

MAX_ID_CHARS = 256
"""Longest client ``event_id`` echoed back, and longest ``item.id`` a client may choose."""
MAX_TOOL_NAME_CHARS = 64
"""Longest function tool name (the limit OpenAI's APIs put on function names)."""


@dataclass(frozen=True, slots=True)
class Limits:
    """Per-session bounds. Sizes in characters of text, ms of audio (48 bytes per ms)."""

    max_items: int = 200
    """Conversation items kept; the oldest are forgotten (the reply generator sees the rest)."""
    max_conversation_chars: int = 2_000_000
    """Text kept in the conversation (texts, transcripts, arguments, outputs); the oldest items are forgotten."""
    max_text_chars: int = 256 * 1024
    """One string of an item (text, transcript, function arguments or output); longer: ``string_above_max_length``."""
    max_instructions_chars: int = 64 * 1024
    """``instructions`` of ``session.update`` / ``response.create``; longer: ``string_above_max_length``."""
    max_tools: int = 128
    """Function tools of a session or response; more: ``array_above_max_length``."""
    max_buffer_ms: int = 10 * 60 * 1000
    """Input audio kept uncommitted; older audio is dropped, so memory stays bounded."""
    idle_keep_ms: int = 2000
    """With turn detection and no speech in progress, only this much recent audio is kept (prefix padding)."""
    min_commit_ms: int = 100
    """``input_audio_buffer.commit`` needs this much audio (else ``input_audio_buffer_commit_empty``)."""
    max_transcribe_ms: int = 30_000
    """Audio transcribed per user item (the first ms of it): bounds the recognizer's work per turn."""
    max_pending_transcriptions: int = 8
    """Transcriptions in progress per session; one more fails at once (``transcription_failed``)."""


# ------------------------------------------------------------------------------------------------------ commands


@dataclass(frozen=True, slots=True)
class VadParams:
    """Turn detection settings for a VAD stream: ``threshold`` 0..1, paddings in ms."""

    threshold: float
    prefix_padding_ms: int
    silence_duration_ms: int
    semantic: bool = False
    eagerness: str = "auto"


def semantic_vad(eagerness: str = "auto") -> VadParams:
    """The ``semantic_vad`` turn detection both front ends use (Realtime's ``turn_detection`` of that type,
    GPT-Live's always): the words recognised so far judge pauses; without it (``EngineStages.semantic_vad``
    unset) ``eagerness`` maps to how long a pause ends the turn (``low`` 1200 ms, ``medium``/``auto`` 700 ms,
    ``high`` 350 ms)."""
    silence = {"low": 1200, "medium": 700, "high": 350}.get(eagerness, 700)
    return VadParams(0.5, 300, silence, semantic=True, eagerness=eagerness)


@dataclass(frozen=True, slots=True)
class ConfigureVad:
    """Replace the session's VAD stream (``None``: no turn detection). Results of older streams are stale.
    ``start_ms``: the session's stream time where the new stream starts; its boundaries count from there, and
    :meth:`EngineState.vad_result` takes them in session time (add ``start_ms``)."""

    generation: int
    params: VadParams | None
    start_ms: int = 0


@dataclass(frozen=True, slots=True)
class FeedVad:
    """Feed appended audio to the VAD stream; answer with :meth:`EngineState.vad_result` (same ``generation``).
    ``end_ms``: stream time at the end of ``pcm``."""

    generation: int
    pcm: bytes
    end_ms: float


@dataclass(frozen=True, slots=True)
class ResetVad:
    """Make the VAD stream forget the speech in progress (``VadStream.reset``)."""

    generation: int


@dataclass(frozen=True, slots=True)
class Transcribe:
    """Recognise ``pcm`` (a user item's ``input_audio`` part); answer with :meth:`EngineState.transcribed` or
    :meth:`EngineState.transcription_failed`. ``job``: the id to cancel it by."""

    job: str
    item_id: str
    content_index: int
    pcm: bytes
    language: str | None = None
    prompt: str | None = None


@dataclass(frozen=True, slots=True)
class Generate:
    """Generate the reply of response ``job`` from ``request``; stream it back as sentences and function calls
    (:meth:`EngineState.reply_sentence`, :meth:`~EngineState.reply_function_call`), then
    :meth:`~EngineState.reply_done` or :meth:`~EngineState.reply_failed`."""

    job: str
    request: ReplyRequest


@dataclass(frozen=True, slots=True)
class Speak:
    """Synthesise one sentence of response ``job`` into item ``item_id``; stream the audio back with
    :meth:`EngineState.speech_audio`, then :meth:`~EngineState.speech_done` (or ``speech_failed``)."""

    job: str
    item_id: str
    text: str
    voice: str | None = None
    speed: float = 1.0


@dataclass(frozen=True, slots=True)
class Cancel:
    """Stop the work of ``job`` (a response's generation and speech, or a transcription); its later results
    are ignored."""

    job: str


Command = ConfigureVad | FeedVad | ResetVad | Transcribe | Generate | Speak | Cancel


# ------------------------------------------------------------------------------------------------------ state


@dataclass(frozen=True, slots=True)
class Preview:
    """What :meth:`EngineState.preview_reply` foresees: the reply's :class:`Generate`, and how it is spoken."""

    generate: Generate
    voice: str | None
    speed: float
    audio: bool


def new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(10)}"


class ClientError(Exception):
    """A client event the session refuses; becomes an ``error`` event (``type``/``code``/``message``/``param``)."""

    def __init__(
        self, message: str, code: str = "invalid_value", param: str | None = None, kind: str = "invalid_request_error"
    ) -> None:
        super().__init__(message)
        self.code, self.param, self.kind = code, param, kind


def check_length(value: object, kind: type[str] | type[list[Any]], limit: int, param: str) -> None:
    """Refuse a ``str`` or ``list`` ``value`` longer than ``limit`` (a value of another type is left to other
    checks) with the hosted service's error: code ``string_above_max_length`` or ``array_above_max_length``, and its
    wording ("Invalid 'param': string too long. Expected a string with maximum length N, but got ...")."""
    if not isinstance(value, kind) or len(value) <= limit:
        return
    noun, article = ("string", "a") if kind is str else ("array", "an")
    raise ClientError(
        f"Invalid '{param}': {noun} too long. Expected {article} {noun} with maximum length {limit}, but got "
        f"{article} {noun} with length {len(value)} instead.",
        f"{noun}_above_max_length",
        param,
    )


def decode_audio(data: object, param: str) -> bytes:
    """Base64 PCM16 of a client event, checked: at most 15 MiB decoded, an even number of bytes (else
    :class:`ClientError`)."""
    if not isinstance(data, str):
        raise ClientError(f"Invalid '{param}': expected a base64 string.", "invalid_type", param)
    if len(data) > (MAX_APPEND_BYTES // 3 + 1) * 4:
        raise ClientError(f"Invalid '{param}': more than 15 MiB of audio in one event.", "invalid_value", param)
    try:
        pcm = binascii.a2b_base64(data, strict_mode=True)  # str in: no copy to bytes first
    except (binascii.Error, ValueError):
        raise ClientError(f"Invalid '{param}': not base64.", "invalid_value", param) from None
    if len(pcm) % 2:
        raise ClientError(
            f"Invalid '{param}': PCM16 needs an even number of bytes (2 per sample).", "invalid_value", param
        )
    return pcm


class WireEvent(Protocol):
    """A server event model that renders itself as a wire dict (:class:`realtime.protocol.ServerEvent`)."""

    def to_wire(self) -> dict[str, Any]: ...


class FrontEnd(Protocol):
    """A protocol front end as :class:`local_engine.runner.EngineSession` drives it: client frames and stage results
    in, server events and :data:`Command` s out, no I/O. :class:`local_engine.realtime_front.EngineState` (Realtime)
    and :class:`local_engine.live_front.LiveState` (GPT-Live) are the two."""

    @property
    def session(self) -> Json:
        """The session object as the protocol shows it."""
        ...

    @property
    def items(self) -> Mapping[str, Json]:
        """The conversation the reply generator sees, oldest first."""
        ...

    @property
    def finished(self) -> tuple[int, str] | None:
        """``(close code, reason)`` once the connection should be closed by the server, else ``None``."""
        ...

    def open(self) -> None: ...
    def close(self) -> None: ...
    def receive(self, data: Json | str | bytes) -> None: ...
    def events_to_send(self) -> Sequence[WireEvent | Json]: ...
    def commands_to_run(self) -> list[Command]: ...
    def next_deadline(self) -> float | None:
        """Unix time at which :meth:`on_deadline` must be called (``None``: no deadline)."""
        ...

    def on_deadline(self) -> None: ...
    def transcription_hints(self) -> tuple[str | None, str | None]:
        """Language and prompt for the speech recognizer."""
        ...

    def vad_result(
        self, generation: int, end_ms: float, boundaries: Sequence[VadSpeechStarted | VadSpeechStopped]
    ) -> None: ...
    def speech_transcript_delta(self, delta: str) -> None: ...
    def preview_reply(self, transcript: str) -> Preview | None: ...
    def transcribed(self, job: str, text: str, audio_ms: float = 0.0, rest: str | None = None) -> None: ...
    def transcription_failed(self, job: str, message: str) -> None: ...
    def reply_sentence(self, response_id: str, sentence: str) -> None: ...
    def reply_function_call(self, response_id: str, call: FunctionCall) -> None: ...
    def reply_done(self, response_id: str) -> None: ...
    def reply_failed(self, response_id: str, message: str, code: str = "reply_failed") -> None: ...
    def speech_audio(self, response_id: str, item_id: str, pcm: bytes) -> None: ...
    def speech_done(self, response_id: str, item_id: str) -> None: ...
    def speech_failed(self, response_id: str, message: str) -> None: ...
