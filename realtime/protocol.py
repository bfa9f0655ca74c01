"""Realtime protocol models in the GA shape, shared by the client and the local engine.

Source: OpenAI Realtime API reference (client and server events, GA `session.type = "realtime"`), the
`openai.types.realtime` models of the `openai` Python package (https://github.com/openai/openai-python).

Parsing is lenient on purpose: unknown fields are kept (``extra="allow"``), explicit ``null`` is accepted for
every optional field, and an unknown event ``type`` parses to the base :class:`ServerEvent` /
:class:`ClientEvent` instead of failing. Serialising (:meth:`Model.to_wire`) emits fields that were set, or
that have a non-``None`` default, so an explicit ``turn_detection=None`` (push-to-talk) goes out as ``null``
while fields nobody set stay off the wire.

Audio on the wire is PCM16 little-endian mono at :data:`SAMPLE_RATE` Hz, base64 in JSON.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic_core import from_json

__all__ = [
    "BYTES_PER_MS",
    "MAX_APPEND_BYTES",
    "SAMPLE_RATE",
    "AudioConfig",
    "AudioFormat",
    "AudioInputConfig",
    "AudioOutputConfig",
    "ClientEvent",
    "ContentPart",
    "ConversationItem",
    "ConversationItemCreate",
    "ConversationItemDelete",
    "ConversationItemTruncate",
    "Dialect",
    "ErrorDetail",
    "ErrorEvent",
    "FunctionTool",
    "InputAudioBufferAppend",
    "InputAudioBufferClear",
    "InputAudioBufferCommit",
    "InputTranscription",
    "Model",
    "NoiseReduction",
    "ProtocolError",
    "Reasoning",
    "ReasoningEffort",
    "ResponseCancel",
    "ResponseCreate",
    "ResponseObject",
    "ResponseParams",
    "ServerEvent",
    "SessionConfig",
    "SessionUpdate",
    "TurnDetection",
    "Usage",
    "ValidationError",
    "parse_client_event",
    "parse_server_event",
]

Dialect = Literal["ga", "beta"]
"""``ga``: OpenAI ``gpt-realtime*`` and Azure's GA v1 endpoint. ``beta``: Azure ``*-preview`` api-versions."""

ReasoningEffort = Literal["minimal", "low", "medium", "high", "xhigh"]
"""``session.reasoning.effort`` of reasoning Realtime models (``openai.types.realtime.RealtimeReasoningEffort``)."""

SAMPLE_RATE = 24_000
"""Hz. The only PCM rate the Realtime API accepts for ``audio/pcm`` (API reference, ``RealtimeAudioFormats``)."""
BYTES_PER_MS = SAMPLE_RATE * 2 // 1000
"""48 bytes of PCM16 mono per millisecond at 24 kHz."""
MAX_APPEND_BYTES = 15 * 1024 * 1024
"""Largest decoded audio payload of one ``input_audio_buffer.append`` (API reference: 15 MiB)."""


class ProtocolError(ValueError):
    """A frame that is not a JSON object with a string ``type``. ``code`` follows the error codes of the API."""

    def __init__(self, message: str, code: str = "invalid_request_error") -> None:
        super().__init__(message)
        self.code = code


class Model(BaseModel):
    """Base of every protocol model: lenient in, explicit out (see the module docstring)."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    @model_validator(mode="after")
    def _defaults_are_set(self) -> Model:
        # A field with a non-None default counts as set, so it is serialised; None defaults stay unset.
        for name in type(self).model_fields:
            if name not in self.model_fields_set and getattr(self, name) is not None:
                self.model_fields_set.add(name)
        return self

    def to_wire(self) -> dict[str, Any]:
        """The JSON-ready dict of what was set (including explicit ``None``), extras kept."""
        return self.model_dump(mode="json", exclude_unset=True)


# ---------------------------------------------------------------------------------------------------- config


class AudioFormat(Model):
    """``{"type": "audio/pcm", "rate": 24000}``; ``audio/pcmu`` and ``audio/pcma`` are G.711 at 8 kHz."""

    type: Literal["audio/pcm", "audio/pcmu", "audio/pcma"] = "audio/pcm"
    rate: int | None = None


class TurnDetection(Model):
    """``audio.input.turn_detection``: ``server_vad`` (threshold 0..1, paddings in ms) or ``semantic_vad``."""

    type: Literal["server_vad", "semantic_vad"] = "server_vad"
    threshold: float | None = None
    prefix_padding_ms: int | None = None
    silence_duration_ms: int | None = None
    idle_timeout_ms: int | None = None
    eagerness: Literal["low", "medium", "high", "auto"] | None = None
    create_response: bool | None = None
    interrupt_response: bool | None = None


class InputTranscription(Model):
    """``audio.input.transcription``: the model that transcribes the user's audio (``gpt-realtime-whisper`` and
    others). ``delay`` (``gpt-realtime-whisper`` only): how long it waits before writing text, ``minimal`` to
    ``xhigh``; ``keywords``/``languages`` (``gpt-transcribe``, ``gpt-live-transcribe``): words to expect and the
    possible ISO-639-1 languages (``openai.types.realtime.AudioTranscription``)."""

    model: str | None = None
    language: str | None = None
    prompt: str | None = None
    delay: str | None = None
    keywords: list[str] | None = None
    languages: list[str] | None = None


class NoiseReduction(Model):
    """Input noise reduction (``audio.input.noise_reduction``)."""

    type: Literal["near_field", "far_field"] = "near_field"


class AudioInputConfig(Model):
    """The input side of ``session.audio``: format, transcription, turn detection, noise reduction."""

    format: AudioFormat | None = None
    transcription: InputTranscription | None = None
    turn_detection: TurnDetection | None = None
    noise_reduction: NoiseReduction | None = None


class AudioOutputConfig(Model):
    """The output side of ``session.audio``: format, voice, speed."""

    format: AudioFormat | None = None
    voice: str | None = None
    speed: float | None = None


class AudioConfig(Model):
    """``session.audio``: input and output."""

    input: AudioInputConfig | None = None
    output: AudioOutputConfig | None = None


class FunctionTool(Model):
    """A function the model may call: ``parameters`` is a JSON Schema object."""

    type: Literal["function"] = "function"
    name: str
    description: str | None = None
    parameters: dict[str, Any] | None = None


class Reasoning(Model):
    """``session.reasoning`` of reasoning Realtime models such as ``gpt-realtime-2``
    (``openai.types.realtime.RealtimeReasoning``). ``effort``: one of :data:`ReasoningEffort` (kept a plain
    string when parsing, so a value added later does not break ``session.created``); unset: the model's default."""

    effort: str | None = None


class SessionConfig(Model):
    """The GA session object of ``session.update`` / ``session.created`` / ``session.updated``. ``reasoning``
    and ``parallel_tool_calls`` are accepted only by reasoning models (``gpt-realtime-2`` and later, see
    ``realtime.model_lifecycle.accepts_reasoning``); older models get neither."""

    type: Literal["realtime"] = "realtime"
    id: str | None = None
    model: str | None = None
    instructions: str | None = None
    output_modalities: list[Literal["text", "audio"]] | None = None
    audio: AudioConfig | None = None
    tools: list[FunctionTool] | None = None
    tool_choice: str | dict[str, Any] | None = None
    max_output_tokens: int | Literal["inf"] | None = None
    reasoning: Reasoning | None = None
    parallel_tool_calls: bool | None = None


# ---------------------------------------------------------------------------------------------------- items


class ContentPart(Model):
    """One content part. GA types: ``input_text``, ``input_audio``, ``output_text``, ``output_audio``."""

    type: str
    text: str | None = None
    audio: str | None = None
    transcript: str | None = None


class ConversationItem(Model):
    """A conversation item: ``message`` (role system/user/assistant), ``function_call`` or
    ``function_call_output``. ``arguments`` and ``output`` are JSON strings."""

    type: Literal["message", "function_call", "function_call_output"] | str = "message"
    id: str | None = None
    object: str | None = None
    status: str | None = None
    role: Literal["system", "user", "assistant"] | None = None
    content: list[ContentPart] | None = None
    call_id: str | None = None
    name: str | None = None
    arguments: str | None = None
    output: str | None = None


class ResponseParams(Model):
    """The ``response`` of ``response.create`` (per-response overrides; all optional)."""

    output_modalities: list[Literal["text", "audio"]] | None = None
    instructions: str | None = None
    conversation: str | None = None
    input: list[ConversationItem] | None = None
    tools: list[FunctionTool] | None = None
    tool_choice: str | dict[str, Any] | None = None
    max_output_tokens: int | Literal["inf"] | None = None
    metadata: dict[str, str] | None = None


# ---------------------------------------------------------------------------------------------------- client


class ClientEvent(Model):
    """A client event. ``event_id`` is optional; the server echoes it as ``error.event_id`` on failure."""

    TYPE: ClassVar[str] = ""
    type: str
    event_id: str | None = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.TYPE:
            CLIENT_EVENTS[cls.TYPE] = cls


CLIENT_EVENTS: dict[str, type[ClientEvent]] = {}


class SessionUpdate(ClientEvent):
    """``session.update``: change the session's configuration."""

    TYPE = "session.update"
    type: Literal["session.update"] = "session.update"
    session: SessionConfig


class InputAudioBufferAppend(ClientEvent):
    """``audio``: base64 of PCM16 at the session's input rate; at most :data:`MAX_APPEND_BYTES` decoded."""

    TYPE = "input_audio_buffer.append"
    type: Literal["input_audio_buffer.append"] = "input_audio_buffer.append"
    audio: str


class InputAudioBufferCommit(ClientEvent):
    """``input_audio_buffer.commit``: end the user's turn (at least 100 ms of audio)."""

    TYPE = "input_audio_buffer.commit"
    type: Literal["input_audio_buffer.commit"] = "input_audio_buffer.commit"


class InputAudioBufferClear(ClientEvent):
    """``input_audio_buffer.clear``: drop the audio appended so far."""

    TYPE = "input_audio_buffer.clear"
    type: Literal["input_audio_buffer.clear"] = "input_audio_buffer.clear"


class ConversationItemCreate(ClientEvent):
    """``conversation.item.create``: add an item (message, function call output) to the conversation."""

    TYPE = "conversation.item.create"
    type: Literal["conversation.item.create"] = "conversation.item.create"
    previous_item_id: str | None = None
    item: ConversationItem


class ConversationItemTruncate(ClientEvent):
    """Trims an assistant audio item to ``audio_end_ms`` (integer ms, at most the item's audio duration)."""

    TYPE = "conversation.item.truncate"
    type: Literal["conversation.item.truncate"] = "conversation.item.truncate"
    item_id: str
    content_index: int = 0
    audio_end_ms: int = Field(ge=0)


class ConversationItemDelete(ClientEvent):
    """``conversation.item.delete``: remove an item."""

    TYPE = "conversation.item.delete"
    type: Literal["conversation.item.delete"] = "conversation.item.delete"
    item_id: str


class ResponseCreate(ClientEvent):
    """``response.create``: ask for a response (with optional per-response settings)."""

    TYPE = "response.create"
    type: Literal["response.create"] = "response.create"
    response: ResponseParams | None = None


class ResponseCancel(ClientEvent):
    """``response.cancel``: stop the active response."""

    TYPE = "response.cancel"
    type: Literal["response.cancel"] = "response.cancel"
    response_id: str | None = None


# ---------------------------------------------------------------------------------------------------- server


class ServerEvent(Model):
    """A server event. Subclasses type the events we read; anything else parses to this base class."""

    TYPE: ClassVar[str] = ""
    type: str
    event_id: str | None = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.TYPE:
            SERVER_EVENTS[cls.TYPE] = cls


SERVER_EVENTS: dict[str, type[ServerEvent]] = {}


class ErrorDetail(Model):
    """``error`` of an error event. ``event_id`` echoes the client event that caused it, when it had one."""

    type: str | None = None
    code: str | None = None
    message: str | None = None
    param: str | None = None
    event_id: str | None = None


class ErrorEvent(ServerEvent):
    """``error``: the service's error event (``error.type``, ``code``, ``message``, ``param``, ``event_id``)."""

    TYPE = "error"
    error: ErrorDetail


class Usage(Model):
    """``response.usage``: token counts with ``input_token_details``/``output_token_details`` (text, audio,
    cached) kept as dicts."""

    total_tokens: int | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    input_token_details: dict[str, Any] | None = None
    output_token_details: dict[str, Any] | None = None


class ResponseObject(Model):
    """The ``response`` of ``response.created`` / ``response.done``. ``status``: ``in_progress``,
    ``completed``, ``cancelled``, ``failed``, ``incomplete``."""

    id: str | None = None
    status: str | None = None
    status_details: dict[str, Any] | None = None
    output: list[ConversationItem] | None = None
    usage: Usage | None = None


class _SessionEvent(ServerEvent):
    session: SessionConfig


class SessionCreated(_SessionEvent):
    TYPE = "session.created"


class SessionUpdated(_SessionEvent):
    TYPE = "session.updated"


class _ResponseEvent(ServerEvent):
    response: ResponseObject


class ResponseCreated(_ResponseEvent):
    TYPE = "response.created"


class ResponseDone(_ResponseEvent):
    TYPE = "response.done"


class _OutputItemEvent(ServerEvent):
    response_id: str | None = None
    output_index: int | None = None
    item: ConversationItem


class ResponseOutputItemAdded(_OutputItemEvent):
    TYPE = "response.output_item.added"


class ResponseOutputItemDone(_OutputItemEvent):
    TYPE = "response.output_item.done"


class _ItemEvent(ServerEvent):
    previous_item_id: str | None = None
    item: ConversationItem


class ConversationItemAdded(_ItemEvent):
    TYPE = "conversation.item.added"


class ConversationItemCreated(_ItemEvent):
    """Beta name of ``conversation.item.added``; GA servers may still send it."""

    TYPE = "conversation.item.created"


class ConversationItemDone(_ItemEvent):
    TYPE = "conversation.item.done"


class _DeltaEvent(ServerEvent):
    response_id: str | None = None
    item_id: str
    output_index: int | None = None
    content_index: int | None = None
    delta: str


class ResponseOutputAudioDelta(_DeltaEvent):
    """``delta``: base64 PCM16 at the session's output rate."""

    TYPE = "response.output_audio.delta"


class ResponseOutputAudioTranscriptDelta(_DeltaEvent):
    TYPE = "response.output_audio_transcript.delta"


class ResponseOutputTextDelta(_DeltaEvent):
    TYPE = "response.output_text.delta"


class _PartDoneEvent(ServerEvent):
    response_id: str | None = None
    item_id: str
    output_index: int | None = None
    content_index: int | None = None


class ResponseOutputAudioDone(_PartDoneEvent):
    TYPE = "response.output_audio.done"


class ResponseOutputAudioTranscriptDone(_PartDoneEvent):
    TYPE = "response.output_audio_transcript.done"
    transcript: str | None = None


class ResponseOutputTextDone(_PartDoneEvent):
    TYPE = "response.output_text.done"
    text: str | None = None


class _ContentPartEvent(ServerEvent):
    response_id: str | None = None
    item_id: str
    output_index: int | None = None
    content_index: int | None = None
    part: ContentPart


class ResponseContentPartAdded(_ContentPartEvent):
    """A content part of an output item begins (``part.type``: ``audio`` or ``text``, empty so far)."""

    TYPE = "response.content_part.added"


class ResponseContentPartDone(_ContentPartEvent):
    """A content part of an output item is complete (``part`` carries its whole transcript or text)."""

    TYPE = "response.content_part.done"


class ResponseFunctionCallArgumentsDelta(ServerEvent):
    TYPE = "response.function_call_arguments.delta"
    response_id: str | None = None
    item_id: str | None = None
    call_id: str | None = None
    delta: str = ""


class ResponseFunctionCallArgumentsDone(ServerEvent):
    TYPE = "response.function_call_arguments.done"
    response_id: str | None = None
    item_id: str | None = None
    output_index: int | None = None
    call_id: str
    name: str | None = None
    arguments: str = ""


class InputAudioBufferSpeechStarted(ServerEvent):
    TYPE = "input_audio_buffer.speech_started"
    audio_start_ms: int | None = None
    item_id: str | None = None


class InputAudioBufferSpeechStopped(ServerEvent):
    TYPE = "input_audio_buffer.speech_stopped"
    audio_end_ms: int | None = None
    item_id: str | None = None


class InputAudioBufferCommitted(ServerEvent):
    TYPE = "input_audio_buffer.committed"
    previous_item_id: str | None = None
    item_id: str | None = None


class InputAudioBufferCleared(ServerEvent):
    TYPE = "input_audio_buffer.cleared"


class InputAudioTranscriptionDelta(ServerEvent):
    TYPE = "conversation.item.input_audio_transcription.delta"
    item_id: str
    content_index: int | None = None
    delta: str = ""


class InputAudioTranscriptionCompleted(ServerEvent):
    TYPE = "conversation.item.input_audio_transcription.completed"
    item_id: str
    content_index: int | None = None
    transcript: str = ""


class InputAudioTranscriptionFailed(ServerEvent):
    TYPE = "conversation.item.input_audio_transcription.failed"
    item_id: str
    content_index: int | None = None
    error: ErrorDetail | None = None


class ConversationItemTruncated(ServerEvent):
    TYPE = "conversation.item.truncated"
    item_id: str
    content_index: int | None = None
    audio_end_ms: int | None = None


class ConversationItemDeleted(ServerEvent):
    TYPE = "conversation.item.deleted"
    item_id: str


class RateLimitsUpdated(ServerEvent):
    TYPE = "rate_limits.updated"
    rate_limits: list[dict[str, Any]] | None = None


# ---------------------------------------------------------------------------------------------------- parsing


def _load(frame: str | bytes | dict[str, Any]) -> dict[str, Any]:
    if isinstance(frame, dict):
        data: Any = frame
    else:
        try:
            data = from_json(frame)  # pydantic-core's parser: ~5x faster than json.loads on audio deltas
        except (ValueError, UnicodeDecodeError) as exc:
            raise ProtocolError(f"frame is not valid JSON: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("type"), str):
        raise ProtocolError("event must be a JSON object with a string 'type'")
    return data


def parse_server_event(frame: str | bytes | dict[str, Any]) -> ServerEvent:
    """Parse one GA server event (a JSON text frame or a decoded dict).

    Unknown types give a plain :class:`ServerEvent`. Raises :class:`ProtocolError` for a frame that is not a
    JSON object with a ``type``, and :class:`pydantic.ValidationError` when a known event lacks a required
    field or has one of the wrong type.
    """
    data = _load(frame)
    return SERVER_EVENTS.get(data["type"], ServerEvent).model_validate(data)


def parse_client_event(frame: str | bytes | dict[str, Any]) -> ClientEvent:
    """Parse one GA client event; the local engine's entry point. Same errors as :func:`parse_server_event`;
    an unknown type gives a plain :class:`ClientEvent` (the caller answers with an error event)."""
    data = _load(frame)
    return CLIENT_EVENTS.get(data["type"], ClientEvent).model_validate(data)
