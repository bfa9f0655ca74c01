"""App events: what the realtime core tells the application (the Chainlit app, the command line).

The session state machine turns server events into these; the app renders them. Each class has a ``type`` class
attribute, so listeners can dispatch on the class or the string; every ``type`` starts with ``app.`` so it is never
mistaken for a Realtime wire event (``app.audio.delta`` is not ``response.output_audio.delta``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

__all__ = [
    "AppEvent",
    "AssistantTextDone",
    "AudioDelta",
    "Interrupted",
    "PendingToolCall",
    "RealtimeError",
    "Reconnected",
    "Reconnecting",
    "ResponseDoneEvent",
    "ResponseStarted",
    "SessionReady",
    "SpeechStarted",
    "SpeechStopped",
    "TextDelta",
    "ToolCallFinished",
    "ToolCallStarted",
    "ToolCallsRequested",
    "ToolOutput",
    "UserTranscript",
    "VoiceUsage",
]


@dataclass(frozen=True, slots=True)
class PendingToolCall:
    """A function call the model made, to run now. ``arguments`` is the model's JSON string; ``response_id`` the
    response that made it (empty when not known, e.g. a call built by hand)."""

    call_id: str
    name: str
    arguments: str
    response_id: str = ""


@dataclass(frozen=True, slots=True)
class ToolOutput:
    """The result of running a :class:`PendingToolCall`: ``output`` is the string sent back to the model
    (``function_call_output``); ``ok`` is False for an ``{"error": ...}`` output; ``duration_ms`` wall time;
    ``name`` the tool's name (for logs; the session knows it from the call)."""

    call_id: str
    output: str
    ok: bool = True
    duration_ms: float = 0.0
    name: str = ""


@dataclass(frozen=True, slots=True)
class AppEvent:
    """Base class of every app event; ``type`` names the kind (always starting with ``app.``)."""

    type: ClassVar[str] = "app.event"


@dataclass(frozen=True, slots=True)
class SessionReady(AppEvent):
    """The session is configured (after ``session.updated``). ``session``: the GA session object as the server
    echoed it; ``provider``: ``openai`` | ``azure`` | ``local``; ``model``: model or deployment name."""

    type: ClassVar[str] = "app.session.ready"
    provider: str
    model: str
    session: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ResponseStarted(AppEvent):
    """A response began (Realtime ``response.created``; GPT-Live: the first audible output of an assistant turn).
    ``track`` is a fresh playback track id for its audio."""

    type: ClassVar[str] = "app.response.started"
    response_id: str
    track: str


@dataclass(frozen=True, slots=True)
class AudioDelta(AppEvent):
    """Assistant audio to play: ``pcm`` is PCM16 LE mono at 24000 Hz (even byte length), for ``track``."""

    type: ClassVar[str] = "app.audio.delta"
    response_id: str
    item_id: str
    track: str
    pcm: bytes


@dataclass(frozen=True, slots=True)
class TextDelta(AppEvent):
    """A piece of the assistant's reply: the spoken transcript (``source="audio"``) or text (``"text"``)."""

    type: ClassVar[str] = "app.text.delta"
    response_id: str
    item_id: str
    delta: str
    source: Literal["audio", "text"] = "audio"


@dataclass(frozen=True, slots=True)
class AssistantTextDone(AppEvent):
    """The assistant item's whole transcript or text, once it is final (truncated on barge-in)."""

    type: ClassVar[str] = "app.text.done"
    response_id: str
    item_id: str
    text: str


@dataclass(frozen=True, slots=True)
class SpeechStarted(AppEvent):
    """Server VAD heard the user start speaking (``audio_start_ms`` into the input buffer)."""

    type: ClassVar[str] = "app.speech.started"
    item_id: str | None
    audio_start_ms: int | None


@dataclass(frozen=True, slots=True)
class SpeechStopped(AppEvent):
    """Server VAD heard the user stop speaking (``audio_end_ms`` into the input buffer)."""

    type: ClassVar[str] = "app.speech.stopped"
    item_id: str | None
    audio_end_ms: int | None


@dataclass(frozen=True, slots=True)
class Interrupted(AppEvent):
    """Barge-in: stop playing ``track`` now. ``audio_end_ms`` is what the core told the server was heard
    (``None`` when nothing had played and no truncate was sent); ``heard`` the part of the item's transcript the
    user heard, estimated by the share of its audio played (``None`` when nothing was cut)."""

    type: ClassVar[str] = "app.interrupted"
    response_id: str | None
    item_id: str | None
    track: str | None
    audio_end_ms: int | None
    heard: str | None = None


@dataclass(frozen=True, slots=True)
class UserTranscript(AppEvent):
    """The user's words for input item ``item_id``. ``previous_item_id`` places it in the conversation (it often
    arrives after the reply started). ``final`` is False for ``.delta`` pieces, True for ``.completed``;
    ``typed`` is True for text the user typed."""

    type: ClassVar[str] = "app.user.transcript"
    item_id: str
    transcript: str
    final: bool = True
    previous_item_id: str | None = None
    typed: bool = False


@dataclass(frozen=True, slots=True)
class ToolCallStarted(AppEvent):
    """The model called a function; the conversation layer runs it (``realtime.conversation``)."""

    type: ClassVar[str] = "app.tool.started"
    call_id: str
    name: str
    arguments: str


@dataclass(frozen=True, slots=True)
class ToolCallFinished(AppEvent):
    """``output`` is the JSON string sent back as ``function_call_output``; ``duration_ms`` wall time."""

    type: ClassVar[str] = "app.tool.finished"
    call_id: str
    name: str
    arguments: str
    output: str
    ok: bool
    duration_ms: float


@dataclass(frozen=True, slots=True)
class ToolCallsRequested(AppEvent):
    """The model asked for these function calls, to run now (both protocols). Whoever runs them answers ALL of
    them in one ``client.send_tool_outputs(outputs)`` call: the session then sends one output per call and a
    single request to go on (Realtime: ``conversation.item.create`` + ``response.create``; GPT-Live:
    ``response.item.create`` + ``response.create`` to the delegation backend). ``response_id`` names the
    response (or backend response) that made them."""

    type: ClassVar[str] = "app.tool.calls"
    calls: tuple[PendingToolCall, ...]
    response_id: str = ""


@dataclass(frozen=True, slots=True)
class VoiceUsage(AppEvent):
    """Voice time billed so far in this session (GPT-Live ``session.usage.updated`` / ``session.closed``):
    ``seconds`` cumulative (do not sum two events); ``active_seconds`` when the service splits it out;
    ``context_usage_ratio`` 0..1, how full the model's context window is, when reported."""

    type: ClassVar[str] = "app.voice.usage"
    seconds: float
    active_seconds: float | None = None
    context_usage_ratio: float | None = None


@dataclass(frozen=True, slots=True)
class ResponseDoneEvent(AppEvent):
    """The response ended (Realtime ``response.done``; GPT-Live: the assistant turn's output went silent, or the
    user barged in, ``cancelled``). ``status`` completed | cancelled | failed | incomplete; ``usage`` as the server
    sent it (GPT-Live: None, see :class:`VoiceUsage`); ``latency_ms``: end of user speech (or text sent) to first
    audio/text delta, when measured."""

    type: ClassVar[str] = "app.response.done"
    response_id: str
    status: str
    usage: dict[str, Any] | None = None
    latency_ms: float | None = None
    status_details: dict[str, Any] | None = None
    function_calls: int = 0
    """Function calls of this response that are being run; a follow-up response with their outputs comes next.
    GPT-Live: the delegated work outstanding when the turn ended (calls not answered yet, or 1 while a backend
    response still runs); a later turn speaks its result."""


@dataclass(frozen=True, slots=True)
class Reconnecting(AppEvent):
    """The connection dropped (or the session is being renewed); attempt ``attempt`` starts in ``delay_s``."""

    type: ClassVar[str] = "app.reconnecting"
    attempt: int
    delay_s: float
    reason: str


@dataclass(frozen=True, slots=True)
class Reconnected(AppEvent):
    """The connection was re-made and the session settings and conversation replayed (``renewed`` is True when
    this was a planned renewal ahead of the provider's session time cap)."""

    type: ClassVar[str] = "app.reconnected"
    attempt: int
    renewed: bool = False


@dataclass(frozen=True, slots=True)
class RealtimeError(AppEvent):
    """A server ``error`` event or a client-side failure. ``message`` is for a person and never holds a key;
    ``fatal`` means the session cannot go on (e.g. authentication failed); ``retryable`` that the same request may
    succeed later (rate limits, server errors). The session classifies (``realtime.session.classify_error``); the
    app only words it. ``message`` is the service's own text (or the client's)."""

    type: ClassVar[str] = "app.error"
    code: str | None
    message: str
    fatal: bool = False
    retryable: bool = False
    error_type: str | None = None
    event_id: str | None = None
