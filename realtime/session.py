"""The Realtime session as a state machine with no I/O.

Feed it server events (:meth:`RealtimeSession.receive`) and caller actions (``append_audio``, ``send_text``,
``commit``, ``create_response``, ``cancel``, ``tool_results``...); collect the client events to send with
:meth:`RealtimeSession.data_to_send` (GA-shaped dicts; the transport maps the dialect) and the app events with
:meth:`RealtimeSession.events_received`. Time comes from an injected clock, so tests drive it.

What it owns (OpenAI Realtime API reference, "Client events" and "Server events"; Realtime guide, "Function
calling" and "Interruption"):

- response sequencing: one response at a time; ``response.create`` waits for the active response's
  ``response.done``; ``conversation_already_has_active_response`` re-queues it. A typed message waits too, item
  and all, while a response is active, asked for, or its tool calls are unanswered; then it goes out with a
  ``response.create`` of its own, so each typed message gets its own answer, in order (two typed during one answer
  are not merged into one response, and the conversation reads question, answer, question, answer);
- tool calls: every ``function_call`` of a response is handed out on ``response.done`` in one
  :class:`~realtime.events.ToolCallsRequested` event (never for a cancelled response); their outputs go back as one
  ``function_call_output`` item each, then exactly one ``response.create``;
- barge-in: on ``input_audio_buffer.speech_started`` while assistant audio plays, an :class:`Interrupted` event,
  the item's later deltas dropped, and ``conversation.item.truncate`` with integer ``audio_end_ms`` =
  min(ms played, ms received), where ms played is the wall time since the item's first audio was handed to the
  app (:class:`AudioPlayback`: the browser never reports playback, Chainlit's audio API has no playback
  position); ``response.cancel`` only when turn detection will not cancel by itself (``interrupt_response``
  false, or no turn detection);
- transcripts: assistant deltas per item; the user's transcription placed by ``item_id`` and the item before it;
- usage and latency (end of user speech, or text sent, to the first delta) per response;
- the conversation so far, capped, so a new connection can replay it.
"""

from __future__ import annotations

import base64
import logging
import time
import uuid
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import ValidationError

from realtime.config import SessionOptions
from realtime.events import (
    AppEvent,
    AssistantTextDone,
    AudioDelta,
    Interrupted,
    PendingToolCall,
    RealtimeError,
    ResponseDoneEvent,
    ResponseStarted,
    SessionReady,
    SpeechStarted,
    SpeechStopped,
    TextDelta,
    ToolCallFinished,
    ToolCallsRequested,
    ToolCallStarted,
    ToolOutput,
    UserTranscript,
)
from realtime.protocol import (
    BYTES_PER_MS,
    MAX_APPEND_BYTES,
    ContentPart,
    ConversationItem,
    ConversationItemCreate,
    ConversationItemTruncate,
    InputAudioBufferAppend,
    InputAudioBufferClear,
    InputAudioBufferCommit,
    ProtocolError,
    ResponseCancel,
    ResponseCreate,
    SessionUpdate,
    parse_server_event,
)

__all__ = [
    "FATAL_ERROR_CODES",
    "RETRYABLE_ERROR_CODES",
    "SILENT_ERROR_CODES",
    "AudioPlayback",
    "ErrorClass",
    "PendingToolCall",
    "RealtimeSession",
    "ToolOutput",
    "classify_error",
    "heard_part",
]

log = logging.getLogger(__name__)

MAX_HISTORY_ITEMS = 200
"""Items kept for replay after a reconnect (oldest dropped first)."""

ErrorClass = Literal["fatal", "retryable", "silent", "error"]
"""How the session treats a service error: ``fatal`` ends the session (no reconnect), ``retryable`` may succeed
if tried again later, ``silent`` is handled by the session itself and not shown, ``error`` is shown and the
session goes on."""

FATAL_ERROR_CODES = frozenset(
    {"beta_api_shape_disabled", "invalid_api_key", "authentication_error", "insufficient_quota", "model_not_found"}
)
RETRYABLE_ERROR_CODES = frozenset({"rate_limit_exceeded", "server_error", "session_expired"})
SILENT_ERROR_CODES = frozenset({"response_cancel_not_active", "conversation_already_has_active_response"})


def classify_error(code: str | None, message: str | None = None) -> ErrorClass:
    """The class of a service error by its ``code`` (and, for a truncate past the end, its message). Codes from
    the OpenAI Realtime API reference ("error" server event) and the API error codes guide."""
    if code in FATAL_ERROR_CODES:
        return "fatal"
    if code in SILENT_ERROR_CODES or "already shorter than" in (message or ""):
        return "silent"
    if code in RETRYABLE_ERROR_CODES:
        return "retryable"
    return "error"


@dataclass
class _Response:
    id: str
    track: str
    status: str = "in_progress"
    calls: dict[str, PendingToolCall] = field(default_factory=dict)
    first_delta_at: float | None = None
    latency_ms: float | None = None


@dataclass
class AudioPlayback:
    """The one estimate of how much of an assistant audio item the listener heard (a browser player never reports
    its position): playback is assumed to start when the first chunk is handed to the player and to run in real
    time. The session keeps one for the item it hands out; an app that forwards audio feeds its own with what it
    really forwarded (:meth:`sent`)."""

    item_id: str
    response_id: str = ""
    track: str = ""
    received_bytes: int = 0
    first_sent_at: float | None = None

    def sent(self, pcm_bytes: int, now: float) -> None:
        """``pcm_bytes`` more of the item were handed to the player at ``now`` (monotonic seconds)."""
        if self.first_sent_at is None:
            self.first_sent_at = now
        self.received_bytes += pcm_bytes

    def played_ms(self, now: float) -> int:
        """Estimated ms the listener heard: wall time since the first chunk, capped at the audio received."""
        if self.first_sent_at is None:
            return 0
        return int(min((now - self.first_sent_at) * 1000.0, self.received_bytes / BYTES_PER_MS))

    def received_ms(self) -> int:
        """Ms of audio received (or forwarded) so far."""
        return self.received_bytes // BYTES_PER_MS

    def playing(self, now: float) -> bool:
        """True while audio handed to the player has not finished playing."""
        return (
            self.first_sent_at is not None and (now - self.first_sent_at) * 1000.0 < self.received_bytes / BYTES_PER_MS
        )


def new_id(prefix: str) -> str:
    """A client-side id: at most 32 characters, as the API allows for item ids."""
    return f"{prefix}_{uuid.uuid4().hex[:20]}"


class RealtimeSession:
    """The protocol state of one conversation (see the module docstring).

    ``options``: the session's settings; ``tools``: Realtime function definitions (GA dicts) offered to the
    model; ``clock``: monotonic seconds; ``provider``/``model``: for :class:`SessionReady`.
    """

    def __init__(
        self,
        options: SessionOptions | None = None,
        *,
        tools: Iterable[dict[str, Any]] = (),
        clock: Callable[[], float] = time.monotonic,
        provider: str = "local",
        model: str = "",
        max_history_items: int = MAX_HISTORY_ITEMS,
    ) -> None:
        self.options = options or SessionOptions()
        self.tools = list(tools)
        self.clock = clock
        self.provider = provider
        self.model = model
        self._outgoing: list[dict[str, Any]] = []
        self._events: list[AppEvent] = []
        self._max_history = max_history_items
        self._history: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self._previous_of: dict[str, str | None] = {}
        self._last_item_id: str | None = None
        self._response: _Response | None = None
        self._awaiting_created = False  # a response.create is in flight
        self._want_response = False  # a response.create waits for the active response to finish
        self._typed: deque[tuple[str, str]] = deque()  # (item id, text) of typed messages waiting their turn
        self._audio: AudioPlayback | None = None  # the last assistant audio item handed to the app
        self._dropped: OrderedDict[str, None] = OrderedDict()  # interrupted items, the most recent kept
        self._texts: dict[str, list[str]] = {}
        self._turn_ended_at: float | None = None
        self._tool_calls_running: dict[str, PendingToolCall] = {}
        self._started = False
        self.renewal_needed = False
        self.fatal: RealtimeError | None = None
        self.played_ms: Callable[[str], int | None] | None = None
        """Set by an app whose player knows its position: ms of an item the listener heard (None: unknown). When
        set, barge-in truncates at it (capped at the audio received) instead of the wall-time estimate."""

    # ------------------------------------------------------------------------------------------ outputs

    def data_to_send(self) -> list[dict[str, Any]]:
        """Client events (GA dicts) to send, in order; the list is emptied."""
        out, self._outgoing = self._outgoing, []
        return out

    def events_received(self) -> list[AppEvent]:
        """App events produced since the last call, in order; the list is emptied."""
        out, self._events = self._events, []
        return out

    @property
    def response_active(self) -> bool:
        """True while a response runs or one was asked for and not yet created."""
        return self._response is not None or self._awaiting_created

    @property
    def history(self) -> list[dict[str, Any]]:
        """The conversation so far as GA items (assistant audio kept as its transcript)."""
        return list(self._history.values())

    def _send(self, event: Any) -> None:
        self._outgoing.append(event.to_wire())

    def _emit(self, event: AppEvent) -> None:
        self._events.append(event)

    # ------------------------------------------------------------------------------------------ actions

    def start(self, *, replay: bool = False) -> None:
        """A connection was made: configure the session; with ``replay``, re-create the conversation so far
        (a reconnect or a renewal). A response in progress on the old connection is reported cancelled and
        asked for again once the conversation is replayed, so the user's last turn still gets its answer."""
        pending = self._want_response or self._awaiting_created or self._response is not None
        self._want_response = self._awaiting_created = False
        if self._response is not None:
            self._finish_response(self._response.id, "cancelled", None, {"reason": "connection_lost"}, flush=False)
        self._audio = None
        self.renewal_needed = False
        self._send(SessionUpdate(session=self.options.to_session_config(self.tools)))
        if not self._started:
            replay = True  # items added before the first connection (a resumed chat) go out after the config
            self._started = True
        if replay:
            for item in self._history.values():
                if item.get("type") == "message" and not any(p.get("text") for p in item.get("content", [])):
                    continue  # an utterance never transcribed: nothing to replay
                self._outgoing.append(ConversationItemCreate(item=ConversationItem.model_validate(item)).to_wire())
            self._last_item_id = None
            self._want_response = pending
        self._flush_response_request()

    def update_options(self, options: SessionOptions) -> None:
        """Apply new session options now (``session.update``)."""
        self.options = options
        self._send(SessionUpdate(session=options.to_session_config(self.tools)))

    def append_audio(self, pcm: bytes) -> None:
        """Queue microphone PCM16 (24 kHz mono). Raises ValueError for an odd byte count. Payloads above 15 MiB
        are split across several ``input_audio_buffer.append`` events."""
        if len(pcm) % 2:
            raise ValueError(f"PCM16 audio needs an even number of bytes, got {len(pcm)}")
        step = MAX_APPEND_BYTES - MAX_APPEND_BYTES % 2
        for start in range(0, len(pcm), step):
            self._outgoing.append(
                {"type": InputAudioBufferAppend.TYPE, "audio": base64.b64encode(pcm[start : start + step]).decode()}
            )

    def commit(self) -> None:
        """End the user's turn by hand (push-to-talk): ``input_audio_buffer.commit``."""
        self._send(InputAudioBufferCommit())
        self._turn_ended_at = self.clock()

    def clear_audio(self) -> None:
        """Drop the audio appended to the input buffer (``input_audio_buffer.clear``)."""
        self._send(InputAudioBufferClear())

    def send_text(self, text: str) -> str:
        """A typed user message and a response of its own: ``conversation.item.create`` then ``response.create``.
        While a response is active or asked for, or the tool calls of the last one are not answered yet, both wait
        (in order with other typed messages) and go out when it is over: every typed message gets its own answer.
        Returns the item's id (the id it has once sent)."""
        item_id = new_id("msg")
        self._typed.append((item_id, text))
        self._flush_response_request()
        return item_id

    @property
    def typed_waiting(self) -> int:
        """How many typed messages wait for the active response (or tool calls) to be over before going out."""
        return len(self._typed)

    def _send_typed(self, item_id: str, text: str) -> None:
        item = ConversationItem(
            id=item_id, type="message", role="user", content=[ContentPart(type="input_text", text=text)]
        )
        self._send(ConversationItemCreate(item=item))
        self._remember(item_id, item.to_wire())
        self._turn_ended_at = self.clock()
        self._awaiting_created = True
        self._send(ResponseCreate())

    def add_items(self, items: Iterable[Mapping[str, Any]]) -> list[str]:
        """Put earlier turns into the conversation, in order, without asking for a response (a resumed chat's
        history): one ``conversation.item.create`` per GA item (e.g. user ``input_text`` and assistant
        ``output_text`` messages). They are replayed on reconnect like the rest. Before :meth:`start` they are only
        kept, and go out after the first ``session.update``. Returns the items' ids."""
        ids: list[str] = []
        for raw in items:
            item = ConversationItem.model_validate({**raw, "id": raw.get("id") or new_id("msg")})
            if self._started:
                self._send(ConversationItemCreate(item=item))
            self._remember(str(item.id), item.to_wire())
            ids.append(str(item.id))
        return ids

    def create_response(self) -> None:
        """Ask for a response now, or as soon as the active one is done (one ``response.create`` at most)."""
        self._want_response = True
        self._flush_response_request()

    @property
    def playing(self) -> bool:
        """True while the assistant audio handed out has not finished playing (by :class:`AudioPlayback`)."""
        return self._audio is not None and self._audio.playing(self.clock())

    def cancel(self) -> None:
        """Stop the active response (``response.cancel``) and its playback. A ``response.create`` held for it is
        dropped; typed messages waiting (:meth:`send_text`) are not: they go out once the cancelled response ends."""
        self._want_response = False
        if self._response is not None or self._awaiting_created:
            self._send(ResponseCancel())
        self._interrupt(send_cancel=False)

    def abandon_response(self, reason: str) -> None:
        """Give up on the answer being waited for (the service went silent: its ``response.done`` may never come).

        Sends ``response.cancel`` and stops playback as :meth:`cancel` does; a running response is reported ended at
        once, as a :class:`ResponseDoneEvent` with ``status`` ``"cancelled"``, no usage and ``status_details``
        ``{"reason": reason}``; a ``response.create`` in flight or held is forgotten, so the next request (a typed
        message waiting, or a later :meth:`create_response`) goes out at once instead of behind it. ``reason`` is a
        short code for the app and logs (e.g. ``"timeout"``). Raises nothing; without an answer pending it only
        sends what :meth:`cancel` sends."""
        self.cancel()
        response = self._response
        self._awaiting_created = False
        self._want_response = False
        if response is not None:
            self._finish_response(response.id, "cancelled", None, {"reason": reason}, flush=False)
        self._flush_response_request()

    def report_error(self, error: RealtimeError) -> None:
        """Hand ``error`` to the app with the session's own events, in order (:meth:`events_received`): for errors
        the transport finds (a frame it could not read, an answer timed out). The session's state does not change,
        even for a fatal ``error`` (its :attr:`fatal` is for the service's own fatal errors). Raises nothing."""
        self._emit(error)

    def audio_sent(self, item_id: str) -> None:
        """The app handed this item's first audio to the player now (starts the played-ms estimate). The
        session calls it itself when it emits the first :class:`AudioDelta`; a transport that buffers may call
        it later, when the audio really leaves."""
        if self._audio is not None and self._audio.item_id == item_id and self._audio.first_sent_at is None:
            self._audio.first_sent_at = self.clock()

    def tool_results(self, outputs: Iterable[ToolOutput]) -> None:
        """Send each call's output as a ``function_call_output`` item, then ONE ``response.create``."""
        sent = False
        for out in outputs:
            call = self._tool_calls_running.pop(out.call_id, None)
            if call is None:
                log.warning("tool output for unknown call %s ignored", out.call_id)
                continue
            item = ConversationItem(type="function_call_output", call_id=out.call_id, output=out.output)
            self._send(ConversationItemCreate(item=item))
            self._remember(new_id("out"), item.to_wire())
            self._emit(ToolCallFinished(call.call_id, call.name, call.arguments, out.output, out.ok, out.duration_ms))
            sent = True
        if sent and not self._tool_calls_running:
            self.create_response()

    # ------------------------------------------------------------------------------------------ server events

    def receive(self, frame: str | bytes | dict[str, Any]) -> None:
        """Feed one server event (GA shape). Malformed frames become a non-fatal :class:`RealtimeError`."""
        try:
            event = parse_server_event(frame)
        except (ProtocolError, ValidationError) as exc:
            log.warning("unreadable server event: %s", str(exc).splitlines()[0])
            self._emit(RealtimeError("invalid_server_event", "The service sent an event we could not read."))
            return
        handler = getattr(self, "_on_" + event.type.replace(".", "__"), None)
        if handler is not None:
            handler(event)

    def _on_session__updated(self, event: Any) -> None:
        self._emit(SessionReady(self.provider, self.model, event.session.to_wire()))

    def _on_error(self, event: Any) -> None:
        err = event.error
        code = err.code or err.type or "error"
        if code == "conversation_already_has_active_response":
            self._awaiting_created = False
            self._want_response = True  # sent again after the active response's response.done
            return
        kind = classify_error(code, err.message)
        if kind == "silent":
            log.info("harmless server error %s: %s", code, err.message)
            return
        if code == "session_expired":
            self.renewal_needed = True
        message = err.message or "The service reported an error."
        error = RealtimeError(
            code, message, fatal=kind == "fatal", retryable=kind == "retryable", error_type=err.type,
            event_id=err.event_id,
        )  # fmt: skip
        if error.fatal:
            self.fatal = error
        if code == "input_audio_buffer_commit_empty":
            self._turn_ended_at = None
        self._emit(error)

    def _on_input_audio_buffer__speech_started(self, event: Any) -> None:
        self._emit(SpeechStarted(event.item_id, event.audio_start_ms))
        turn = self.options.to_session_config().audio
        detection = turn.input.turn_detection if turn and turn.input else None
        server_cancels = detection is not None and detection.interrupt_response is not False
        self._interrupt(send_cancel=not server_cancels)

    def _on_input_audio_buffer__speech_stopped(self, event: Any) -> None:
        self._turn_ended_at = self.clock()
        self._emit(SpeechStopped(event.item_id, event.audio_end_ms))

    def _on_input_audio_buffer__committed(self, event: Any) -> None:
        if event.item_id:
            self._place(event.item_id, event.previous_item_id)

    def _on_conversation__item__added(self, event: Any) -> None:
        item = event.item
        if item.id:
            self._place(item.id, event.previous_item_id)
            if item.type == "message" and item.role == "user" and item.id not in self._history:
                text = " ".join(p.text or p.transcript or "" for p in item.content or []).strip()
                self._remember(item.id, _user_text_item(text))

    _on_conversation__item__created = _on_conversation__item__added

    def _on_conversation__item__input_audio_transcription__delta(self, event: Any) -> None:
        if event.delta:
            self._emit(UserTranscript(event.item_id, event.delta, False, self._previous_of.get(event.item_id)))

    def _on_conversation__item__input_audio_transcription__completed(self, event: Any) -> None:
        text = (event.transcript or "").strip()
        self._remember(event.item_id, _user_text_item(text))
        self._emit(UserTranscript(event.item_id, text, True, self._previous_of.get(event.item_id)))

    def _on_response__created(self, event: Any) -> None:
        response_id = event.response.id or new_id("resp")
        self._awaiting_created = False
        self._response = _Response(response_id, new_id("track"))
        self._emit(ResponseStarted(response_id, self._response.track))

    def _delta(self, event: Any) -> _Response | None:
        response = self._response
        if event.item_id in self._dropped or response is None:
            return None
        if response.first_delta_at is None:
            response.first_delta_at = self.clock()
            if self._turn_ended_at is not None:
                response.latency_ms = (response.first_delta_at - self._turn_ended_at) * 1000.0
                self._turn_ended_at = None
        return response

    def _on_response__output_audio__delta(self, event: Any) -> None:
        response = self._delta(event)
        if response is None:
            return
        pcm = base64.b64decode(event.delta)
        if len(pcm) % 2:
            pcm = pcm[:-1]
        audio = self._audio
        if audio is None or audio.item_id != event.item_id:
            audio = self._audio = AudioPlayback(event.item_id, response.id, response.track)
        audio.received_bytes += len(pcm)
        self._emit(AudioDelta(response.id, event.item_id, response.track, pcm))
        self.audio_sent(event.item_id)

    def _text_delta(self, event: Any, source: str) -> None:
        response = self._delta(event)
        if response is None or not event.delta:
            return
        self._texts.setdefault(event.item_id, []).append(event.delta)
        self._emit(TextDelta(response.id, event.item_id, event.delta, source))  # type: ignore[arg-type]

    def _on_response__output_audio_transcript__delta(self, event: Any) -> None:
        self._text_delta(event, "audio")

    def _on_response__output_text__delta(self, event: Any) -> None:
        self._text_delta(event, "text")

    def _text_done(self, event: Any, text: str | None) -> None:
        if event.item_id in self._dropped:
            return
        final = text if text is not None else "".join(self._texts.get(event.item_id, []))
        self._texts.pop(event.item_id, None)
        response_id = self._response.id if self._response else (event.response_id or "")
        self._remember(event.item_id, _assistant_text_item(final))
        self._emit(AssistantTextDone(response_id, event.item_id, final))

    def _on_response__output_audio_transcript__done(self, event: Any) -> None:
        self._text_done(event, event.transcript)

    def _on_response__output_text__done(self, event: Any) -> None:
        self._text_done(event, event.text)

    def _on_response__function_call_arguments__done(self, event: Any) -> None:
        if self._response is not None and event.call_id:
            call = PendingToolCall(event.call_id, event.name or "", event.arguments or "{}", self._response.id)
            self._response.calls[event.call_id] = call

    def _on_response__output_item__done(self, event: Any) -> None:
        item = event.item
        if self._response is not None and item.type == "function_call" and item.call_id:
            call = PendingToolCall(item.call_id, item.name or "", item.arguments or "{}", self._response.id)
            self._response.calls.setdefault(item.call_id, call)

    def _on_response__done(self, event: Any) -> None:
        obj = event.response
        response_id = obj.id or (self._response.id if self._response else "")
        if self._response is not None:
            for item in obj.output or []:  # the final word on which calls the response holds
                if item.type == "function_call" and item.call_id:
                    call = PendingToolCall(item.call_id, item.name or "", item.arguments or "{}", response_id)
                    self._response.calls.setdefault(item.call_id, call)
        usage = obj.usage.to_wire() if obj.usage is not None else None
        self._finish_response(response_id, obj.status or "completed", usage, obj.status_details)

    def _finish_response(
        self,
        response_id: str,
        status: str,
        usage: dict[str, Any] | None,
        details: dict[str, Any] | None,
        *,
        flush: bool = True,
    ) -> None:
        response, self._response = self._response, None
        calls = list(response.calls.values()) if response is not None else []
        if status == "completed" and calls:
            for call in calls:
                self._remember(call.call_id, _call_item(call))
                self._tool_calls_running[call.call_id] = call
                self._emit(ToolCallStarted(call.call_id, call.name, call.arguments))
            self._emit(ToolCallsRequested(tuple(calls), response_id))
        latency = response.latency_ms if response is not None else None
        if status == "failed":
            self._emit(_failure(details))
        self._emit(
            ResponseDoneEvent(
                response_id, status, usage, latency, details, function_calls=len(calls) if status == "completed" else 0
            )
        )
        if flush:
            self._flush_response_request()

    # ------------------------------------------------------------------------------------------ helpers

    def _flush_response_request(self) -> None:
        """Send the next response request once nothing runs: a held ``response.create`` first (a tool call's
        follow-up, a re-asked answer), else the oldest typed message waiting, once no tool call of the last
        response is left unanswered."""
        if self.response_active or self._tool_calls_running:
            return
        if self._want_response:
            self._want_response = False
            self._awaiting_created = True
            self._send(ResponseCreate())
        elif self._typed:
            self._send_typed(*self._typed.popleft())

    def _played(self, audio: AudioPlayback, now: float) -> int:
        reported = self.played_ms(audio.item_id) if self.played_ms is not None else None
        return audio.played_ms(now) if reported is None else min(reported, audio.received_ms())

    def _interrupt(self, *, send_cancel: bool) -> None:
        audio, now = self._audio, self.clock()
        response = self._response
        if audio is None or (self._played(audio, now) >= audio.received_ms() and response is None):
            # Nothing is playing: everything received has been heard and no response is running.
            if response is not None and send_cancel:
                self._send(ResponseCancel())
            return
        played = self._played(audio, now)
        self._dropped[audio.item_id] = None
        while len(self._dropped) > self._max_history:
            self._dropped.popitem(last=False)  # forget the oldest only: late deltas of recent cuts stay dropped
        self._audio = None
        end_ms: int | None = None
        heard: str | None = None
        if played > 0:
            end_ms = played
            self._send(ConversationItemTruncate(item_id=audio.item_id, content_index=0, audio_end_ms=end_ms))
            # The item's text: its deltas so far, or, when the whole answer already arrived (the local engine sends
            # far faster than real time, so its transcript is done long before playback ends), the final text.
            text = "".join(self._texts.pop(audio.item_id, [])) or self._history_text(audio.item_id)
            heard = _cut(text, played, audio.received_ms())
            if heard:
                self._remember(audio.item_id, _assistant_text_item(heard))
            else:
                self._history.pop(audio.item_id, None)  # no words heard: nothing worth replaying
        if response is not None and send_cancel:
            self._send(ResponseCancel())
        self._emit(Interrupted(audio.response_id, audio.item_id, audio.track, end_ms, heard))

    def _history_text(self, item_id: str) -> str:
        item = self._history.get(item_id) or {}
        return "".join(str(p.get("text") or p.get("transcript") or "") for p in item.get("content") or [])

    def _place(self, item_id: str, previous_item_id: str | None) -> None:
        if item_id not in self._previous_of:
            self._previous_of[item_id] = previous_item_id if previous_item_id is not None else self._last_item_id
            self._last_item_id = item_id

    def _remember(self, key: str, item: dict[str, Any]) -> None:
        self._history[key] = item
        self._history.move_to_end(key)
        while len(self._history) > self._max_history:
            self._history.popitem(last=False)
        if len(self._previous_of) > 4 * self._max_history:
            for old in list(self._previous_of)[: len(self._previous_of) // 2]:
                del self._previous_of[old]


def _failure(details: dict[str, Any] | None) -> RealtimeError:
    """The error of a failed response (``status_details.error`` of ``response.done``), classified."""
    error = (details or {}).get("error")
    code = error.get("code") or error.get("type") if isinstance(error, dict) else None
    message = error.get("message") if isinstance(error, dict) else None
    kind = classify_error(code, message)
    return RealtimeError(
        code or "response_failed", str(message or "The answer failed."), fatal=kind == "fatal",
        retryable=kind == "retryable",
    )  # fmt: skip


def heard_part(text: str, played_ms: int, received_ms: int) -> str:
    """The part of ``text`` (a reply's transcript) a listener heard when ``played_ms`` of its ``received_ms`` ms of
    audio played, estimated by that share and ended on a whole word with ``...`` (the text itself when all
    played)."""
    return _cut(text, played_ms, received_ms)


def _cut(text: str, played_ms: int, received_ms: int) -> str:
    """The part of an interrupted reply the listener heard, estimated by the share of its audio played."""
    if not text or received_ms <= 0:
        return text
    keep = max(0, min(len(text), round(len(text) * played_ms / received_ms)))
    if keep >= len(text):
        return text
    heard = text[:keep]
    if " " in heard.strip() and not text[keep].isspace():
        heard = heard.rsplit(" ", 1)[0]  # end on a whole word
    return heard.rstrip().rstrip(".,;:") + "..."  # "one." cut after it reads "one...", not "one...."


def _user_text_item(text: str) -> dict[str, Any]:
    return {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}


def _assistant_text_item(text: str) -> dict[str, Any]:
    return {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": text}]}


def _call_item(call: PendingToolCall) -> dict[str, Any]:
    return {"type": "function_call", "call_id": call.call_id, "name": call.name, "arguments": call.arguments}
