"""GPT-Live protocol models: the client events we send and the server events we read, with their own registry.

Source: OpenAI GPT-Live API reference and guides (developers.openai.com, guides ``live``, ``voice-websockets?api=live``,
``live-conversations``, ``live-delegation``) and the ``openai`` Python package's ``openai.types.live`` models (the
ground truth for names; ``tests/test_conformance_live.py`` validates every event we build against them).

These models share nothing with the Realtime ones but the lenient-in, explicit-out base
(:class:`realtime.protocol.Model`): GPT-Live reuses type strings of the Realtime protocol (``error``,
``session.update``, ``response.create``) with other fields, so each protocol keeps its own registry
(:data:`LIVE_CLIENT_EVENTS`, :data:`LIVE_SERVER_EVENTS`) and a GPT-Live model never replaces a Realtime entry.

Audio on the wire is base64 of raw PCM16 little-endian mono at :data:`SAMPLE_RATE` Hz (``audio/pcm``, 24 kHz, the
default ``session.audio.format``), in both directions.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field
from pydantic_core import from_json

from realtime.protocol import SAMPLE_RATE, Model, ProtocolError

__all__ = [
    "LIVE_CLIENT_EVENTS",
    "LIVE_SERVER_EVENTS",
    "MAX_INPUT_ITEMS",
    "MAX_INPUT_TOKENS",
    "SAMPLE_RATE",
    "DelegationCreated",
    "InputAudioAppend",
    "InputTranscriptDelta",
    "LiveClientEvent",
    "LiveError",
    "LiveErrorEvent",
    "LiveServerEvent",
    "OutputAudioDelta",
    "OutputTranscriptDelta",
    "ResponseCreate",
    "ResponseEventEnvelope",
    "ResponseItemCreate",
    "SessionClose",
    "SessionClosed",
    "SessionStart",
    "SessionStarted",
    "SessionUsageUpdated",
    "parse_live_server_event",
]

MAX_INPUT_ITEMS = 128
"""Most messages ``session.input`` takes (``openai.types.live.SessionConfig.input``)."""
MAX_INPUT_TOKENS = 8192
"""Default rendered-token limit of ``session.input`` (same source)."""


# ---------------------------------------------------------------------------------------------------- client


class LiveClientEvent(Model):
    """A GPT-Live client event; ``event_id`` optional (echoed as ``client_event_id``)."""

    TYPE: ClassVar[str] = ""
    type: str
    event_id: str | None = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.TYPE:
            LIVE_CLIENT_EVENTS[cls.TYPE] = cls


LIVE_CLIENT_EVENTS: dict[str, type[LiveClientEvent]] = {}


class SessionStart(LiveClientEvent):
    """``session.start``: the first message of a connection; ``session`` is the whole startup configuration
    (``model``, ``instructions``, ``input``, ``audio``, ``delegation``...), mostly immutable afterwards."""

    TYPE = "session.start"
    type: Literal["session.start"] = "session.start"
    session: dict[str, Any]


class InputAudioAppend(LiveClientEvent):
    """``session.input_audio.append``: base64 raw audio in the startup format; no acknowledgement."""

    TYPE = "session.input_audio.append"
    type: Literal["session.input_audio.append"] = "session.input_audio.append"
    audio: str


class ResponseItemCreate(LiveClientEvent):
    """``response.item.create``: add an item (a user message, a ``function_call_output``) to the delegation
    backend's Responses conversation (Responses delegation only)."""

    TYPE = "response.item.create"
    type: Literal["response.item.create"] = "response.item.create"
    item: dict[str, Any]


class ResponseCreate(LiveClientEvent):
    """``response.create``: run (or continue) the backend response; no body."""

    TYPE = "response.create"
    type: Literal["response.create"] = "response.create"


class SessionClose(LiveClientEvent):
    """``session.close``: end the session gracefully; the server answers ``session.closed``."""

    TYPE = "session.close"
    type: Literal["session.close"] = "session.close"


# ---------------------------------------------------------------------------------------------------- server


class LiveServerEvent(Model):
    """A GPT-Live server event; an unknown ``type`` parses to this base class."""

    TYPE: ClassVar[str] = ""
    type: str
    event_id: str | None = None
    client_event_id: str | None = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.TYPE:
            LIVE_SERVER_EVENTS[cls.TYPE] = cls


LIVE_SERVER_EVENTS: dict[str, type[LiveServerEvent]] = {}


class SessionStarted(LiveServerEvent):
    """``session.started``: the session resource (``id``, ``expires_at`` Unix s, the resolved configuration)."""

    TYPE = "session.started"
    type: Literal["session.started"] = "session.started"
    session: dict[str, Any] = Field(default_factory=dict)


class OutputAudioDelta(LiveServerEvent):
    """``session.output_audio.delta``: model audio in the startup format, to play in order (no done event)."""

    TYPE = "session.output_audio.delta"
    type: Literal["session.output_audio.delta"] = "session.output_audio.delta"
    delta: str
    start_ms: int | None = None
    end_ms: int | None = None


class _TranscriptDelta(LiveServerEvent):
    delta: str = ""
    start_ms: int | None = Field(default=None, ge=0)
    end_ms: int | None = Field(default=None, ge=0)


class InputTranscriptDelta(_TranscriptDelta):
    """``session.input_transcript.delta``: a fragment of the user's words; ``start_ms``/``end_ms`` on the session
    timeline (ms of input audio); no item id, no done event."""

    TYPE = "session.input_transcript.delta"
    type: Literal["session.input_transcript.delta"] = "session.input_transcript.delta"


class OutputTranscriptDelta(_TranscriptDelta):
    """``session.output_transcript.delta``: a fragment of what the model says."""

    TYPE = "session.output_transcript.delta"
    type: Literal["session.output_transcript.delta"] = "session.output_transcript.delta"


class DelegationCreated(LiveServerEvent):
    """``session.delegation.created``: the model handed work on (``delegation``: ``id``, ``target`` ``client`` |
    ``responses`` | ``decisions``, ``response_id``); metadata only, no task text."""

    TYPE = "session.delegation.created"
    type: Literal["session.delegation.created"] = "session.delegation.created"
    delegation: dict[str, Any] = Field(default_factory=dict)
    offset_ms: int | None = None


class ResponseEventEnvelope(LiveServerEvent):
    """``response.event``: one event of the delegation backend's Responses stream (``event.type`` e.g.
    ``response.created``, ``response.output_item.done``, ``response.completed``, ``response.failed``)."""

    TYPE = "response.event"
    type: Literal["response.event"] = "response.event"
    event: dict[str, Any] = Field(default_factory=dict)
    delegation_id: str | None = None


class SessionUsage(Model):
    """``usage``: cumulative seconds of the session (``active_seconds``/``paused_seconds`` when split out)."""

    seconds: float = 0.0
    active_seconds: float | None = None
    paused_seconds: float | None = None


class SessionUsageUpdated(LiveServerEvent):
    """``session.usage.updated``: cumulative usage; ``context_window.usage_ratio`` 0..1 when reported."""

    TYPE = "session.usage.updated"
    type: Literal["session.usage.updated"] = "session.usage.updated"
    usage: SessionUsage = Field(default_factory=SessionUsage)
    context_window: dict[str, Any] | None = None


class SessionClosed(LiveServerEvent):
    """``session.closed``: terminal. ``reason``: ``close_requested`` | ``expired`` | ``content`` |
    ``remote_hangup`` | ``connection_lost``."""

    TYPE = "session.closed"
    type: Literal["session.closed"] = "session.closed"
    reason: str | None = None
    usage: SessionUsage | None = None


class LiveError(Model):
    """``error`` of an error event; ``code`` may be null; ``client_event_id`` names the command that failed."""

    type: str | None = None
    code: str | None = None
    message: str | None = None
    param: str | None = None
    client_event_id: str | None = None


class LiveErrorEvent(LiveServerEvent):
    """``error``: a startup, command or backend error (a command error does not necessarily end the session)."""

    TYPE = "error"
    type: Literal["error"] = "error"
    error: LiveError = Field(default_factory=LiveError)


def parse_live_server_event(frame: str | bytes | dict[str, Any]) -> LiveServerEvent:
    """Parse one server frame (JSON text or a dict) to its model; unknown types to :class:`LiveServerEvent`.
    Raises :class:`ProtocolError` for a frame that is not a JSON object with a string ``type``, and
    ``pydantic.ValidationError`` for a known type with bad fields."""
    data: Any = frame
    if isinstance(frame, (str, bytes)):
        try:
            data = from_json(frame)
        except ValueError:
            raise ProtocolError("not JSON") from None
    if not isinstance(data, dict) or not isinstance(data.get("type"), str):
        raise ProtocolError("not an event object")
    cls = LIVE_SERVER_EVENTS.get(data["type"], LiveServerEvent)
    return cls.model_validate(data)
