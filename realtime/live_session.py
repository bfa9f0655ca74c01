"""The GPT-Live session as a state machine with no I/O, speaking the same app events as the Realtime one.

Feed it server frames (:meth:`LiveSession.receive_frame`), caller actions (``append_audio``, ``send_text``,
``tool_results``, ``update_options``...) and the time (:meth:`LiveSession.tick`, every ~100 ms, from the driver's
timer); collect the frames to send (:meth:`LiveSession.frames_to_send`) and the app events
(:meth:`LiveSession.events_received`). Time comes from an injected clock (monotonic seconds).

Sources: OpenAI GPT-Live guides (developers.openai.com: ``voice-websockets?api=live``, ``live-conversations``,
``live-delegation``, ``live-migration``) and the ``openai`` package's ``openai.types.live`` models. What GPT-Live is
not: there is no response to create or cancel, no truncate, no speech-started event, no ``.done`` of audio or
transcripts. What this class does about it:

- **the input clock never stops**: the model only hears (and so only speaks) while input audio is appended, so
  from ``session.started`` to ``session.closed`` the session appends at real-time pace: the caller's microphone
  audio as it comes, and 24 kHz PCM16 silence for whatever the caller did not send (``tick`` fills the lag beyond
  :data:`JITTER_MS`). A user who only types still gets answers;
- **output as turns**: the model's continuous output is cut into assistant turns (as LiveKit's duplex adapter cuts
  "bursts"): a :class:`ResponseStarted` with a fresh ``track`` at the first audible chunk (RMS at least
  ``audible_rms``), :class:`AudioDelta` for the audible audio and the short pauses inside the turn,
  :class:`TextDelta` from ``session.output_transcript.delta``, and :class:`AssistantTextDone` +
  :class:`ResponseDoneEvent` once the output stayed silent for :data:`TURN_END_MS` (and the transcript has not
  moved for :data:`TEXT_SETTLE_MS`). Silence between turns is not passed on;
- **barge-in is the model's**: when the output turns silent (:data:`BARGE_QUIET_MS`) while the user speaks (input
  level above ``speech_rms`` after the output went quiet, past :data:`ECHO_TAIL_MS` so the model's own voice in
  the microphone does not count, or a user transcript fragment during the turn in the last
  :data:`USER_ACTIVE_MS`), the model yielded: an
  :class:`Interrupted` (``audio_end_ms`` None, ``heard`` estimated from the share of the turn's audio played, as
  :mod:`realtime.session` does), then ``ResponseDoneEvent(status="cancelled")``. A backchannel ("mhm") does not
  make the model stop, so nothing is cut;
- **user transcripts**: ``session.input_transcript.delta`` fragments become :class:`UserTranscript` pieces of one
  ``item_id`` per user turn, then a final one with the whole text when the turn closes (input quiet for
  :data:`USER_END_MS`, or a gap of that much in the fragments' timeline); a lone acknowledgement ("mhm", "yeah")
  said while the model speaks is kept out. The ``openai`` package's ``openai.lib.live.TranscriptGrouper`` was not
  used: it runs its own timers (threads or the event loop) on the local monotonic clock instead of an injected one,
  it closes an assistant segment at the first user fragment (so a user's "mhm" would split the model's turn),
  and its backchannel rule drops the *assistant's* short acknowledgements during user speech, not the user's;
  assistant turns here follow the audio, not the transcript;
- **tools through Responses delegation**: the session always starts with ``delegation: {type: "responses"}``
  (typed messages need it too), carrying our function tools (and OpenAI's hosted ``web_search`` when asked). Calls
  are read from ``response.event`` envelopes (``response.output_item.done`` with a ``function_call`` item), handed
  out in one :class:`ToolCallsRequested` when their backend response completes (a failed one's calls are
  discarded); the outputs go back as one ``response.item.create`` each and then one ``response.create``;
- **lifecycle**: ``session.start`` is the first frame of every connection; a new connection (after a drop, an
  expiry, or a change of voice or instructions, which GPT-Live cannot change in place) starts a new session seeded
  through ``session.input`` with the newest turns that fit 128 messages and an estimated 8,192 tokens.
"""

from __future__ import annotations

import base64
import json
import logging
import math
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
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
    TextDelta,
    ToolCallFinished,
    ToolCallsRequested,
    ToolCallStarted,
    ToolOutput,
    UserTranscript,
    VoiceUsage,
)
from realtime.live_protocol import (
    MAX_INPUT_ITEMS,
    MAX_INPUT_TOKENS,
    DelegationCreated,
    InputTranscriptDelta,
    LiveErrorEvent,
    LiveServerEvent,
    OutputAudioDelta,
    OutputTranscriptDelta,
    ResponseCreate,
    ResponseEventEnvelope,
    ResponseItemCreate,
    SessionClose,
    SessionClosed,
    SessionStart,
    SessionStarted,
    SessionUsageUpdated,
    parse_live_server_event,
)
from realtime.protocol import BYTES_PER_MS, SAMPLE_RATE, ProtocolError
from realtime.session import AudioPlayback, heard_part, new_id

__all__ = [
    "LIVE_FATAL_ERROR_CODES",
    "LIVE_RETRYABLE_ERROR_CODES",
    "LiveSession",
    "classify_live_error",
    "estimate_tokens",
]

log = logging.getLogger(__name__)

TICK_S = 0.1
"""How often the driver should call :meth:`LiveSession.tick` (seconds)."""
CHUNK_MS = 100
"""Silence is appended in pieces of at most this many ms (100 ms = 4,800 bytes, the guides' own chunk)."""
JITTER_MS = 120
"""Silence fills only the part of the input lag beyond this (ms): microphone audio arriving a little late then adds
no silence in front of it."""
MAX_FILL_MS = 5000
"""Most silence one tick appends (ms), after a stall of the caller's event loop."""
TURN_END_MS = 800
"""Output silence (ms of silent audio, or of no audio past the playback estimate) that ends an assistant turn:
longer than the pauses between sentences."""
TEXT_SETTLE_MS = 300
"""A turn closes only once its transcript has not grown for this long (ms): transcripts trail the audio."""
BARGE_QUIET_MS = 200
"""Output silent this long (ms) while the user speaks: the model yielded to the user."""
USER_ACTIVE_MS = 500
"""The user counts as speaking this long (ms) after loud input audio or an input transcript fragment."""
ECHO_TAIL_MS = 100
"""Loud input counts as the user's only from this long (ms) after the output went quiet: before, it may be the
model's own voice (or its room echo) leaking into the microphone."""
USER_END_MS = 800
"""Input quiet this long after the user's last fragment (ms of input audio) closes the user's turn."""
USER_END_WALL_MS = 2500
"""...or this long in wall time (ms) without a fragment, whatever the input level."""
TEXT_ONLY_WAIT_MS = 1000
"""Output transcript with no audible audio for this long (ms) opens a turn of its own."""
BACKCHANNEL_MAX_MS = 1000
"""A user fragment run shorter than this (ms of timeline) made only of an acknowledgement is a backchannel."""
MAX_HISTORY = 400
"""Turns kept (text only) to seed a new session."""
MAX_CALLS_PER_RESPONSE = 32
"""Function calls taken from one backend response; more are ignored (a misbehaving server cannot start hundreds)."""
MAX_PENDING_TEXT = 256
"""Output transcript pieces held while no turn is open; older ones are dropped beyond this."""
MAX_MIC_APPEND_BYTES = 2 * SAMPLE_RATE * 2
"""Largest piece of caller audio per ``session.input_audio.append`` (2 s); longer audio is split."""

ACKNOWLEDGEMENTS = frozenset(
    {"aha", "alright", "gotcha", "hm", "hmm", "mhm", "mm", "mm hmm", "okay", "ok", "right", "sure", "uh huh", "yeah",
     "yep", "yes", "uh", "um"}
)  # fmt: skip
"""What a backchannel says (normalized: lower case, hyphens as spaces, no punctuation)."""

LIVE_FATAL_ERROR_CODES = frozenset(
    {"invalid_api_key", "authentication_error", "insufficient_quota", "account_deactivated",
     "billing_hard_limit_reached", "forbidden", "permission_denied", "model_not_found", "invalid_model"}
)  # fmt: skip
"""GPT-Live error codes after which a new session cannot help (key, quota, account, access, model)."""
LIVE_RETRYABLE_ERROR_CODES = frozenset({"rate_limit_exceeded", "server_error", "session_expired"})

_SILENCE_B64 = base64.b64encode(bytes(CHUNK_MS * BYTES_PER_MS)).decode()
_APPEND_FRAME = '{"type":"session.input_audio.append","audio":"%s"}'


def classify_live_error(code: str | None, *, started: bool = True) -> Literal["fatal", "retryable", "error"]:
    """The class of a GPT-Live ``error``: ``fatal`` for :data:`LIVE_FATAL_ERROR_CODES` and for any other error
    before ``session.started`` (a refused startup, e.g. ``unknown_parameter``, does not get better on retry),
    ``retryable`` for :data:`LIVE_RETRYABLE_ERROR_CODES`, else ``error`` (a command error; the session goes on)."""
    if code in LIVE_FATAL_ERROR_CODES:
        return "fatal"
    if code in LIVE_RETRYABLE_ERROR_CODES:
        return "retryable"
    return "error" if started else "fatal"


def estimate_tokens(text: str) -> int:
    """A conservative token estimate of one ``session.input`` message: 3 characters a token plus 4 for the message
    itself (no tokenizer here; English averages about 4 characters a token)."""
    return math.ceil(len(text) / 3) + 4


def _rms(pcm: bytes) -> float:
    samples = np.frombuffer(pcm[: len(pcm) - len(pcm) % 2], dtype="<i2").astype(np.float32)
    return float(np.sqrt(np.mean(np.square(samples)))) if samples.size else 0.0


def _normalize(text: str) -> str:
    return " ".join(text.lower().replace("-", " ").strip(" .,!?;:\"'()[]").split())


@dataclass
class _Turn:
    """One assistant turn: a stretch of audible output between silences."""

    response_id: str
    item_id: str
    track: str
    playback: AudioPlayback
    opened_at: float
    latency_ms: float | None = None
    text: str = ""
    quiet_ms: float = 0.0
    held: bytearray = field(default_factory=bytearray)
    last_audible_at: float = 0.0
    quiet_since: float | None = None
    last_text_at: float = 0.0


@dataclass
class _UserTurn:
    """One user turn from input transcript fragments."""

    item_id: str
    text: str = ""
    start_ms: int | None = None
    end_ms: int | None = None
    previous_item_id: str | None = None
    during_model: bool = False
    emitted: bool = False
    quiet_ms: float = 0.0
    last_fragment_at: float = 0.0


class LiveSession:
    """The protocol state of one GPT-Live conversation (see the module docstring).

    ``options``: voice and instructions (the rest of :class:`SessionOptions` does not apply: GPT-Live always
    speaks, transcribes and takes its own turns); ``tools``: function definitions (Realtime/Responses shape
    ``{type: "function", name, description, parameters}``) for the delegation backend; ``model``: ``session.model``
    (OpenAI model or Azure deployment name); ``backend_model``: ``delegation.responses.model``;
    ``hosted_web_search``: add OpenAI's hosted ``web_search`` tool to the backend; ``clock``: monotonic seconds;
    ``audible_rms`` / ``speech_rms``: PCM16 RMS levels (of 32,768) above which output is audible / input is speech.
    """

    tick_interval_s: float | None = TICK_S
    renews_on_timer = False

    def __init__(
        self,
        options: SessionOptions | None = None,
        *,
        tools: Iterable[Mapping[str, Any]] = (),
        clock: Callable[[], float] = time.monotonic,
        provider: str = "local",
        model: str = "",
        backend_model: str = "gpt-5.6-luna",
        hosted_web_search: bool = False,
        audible_rms: float = 33.0,
        speech_rms: float = 500.0,
    ) -> None:
        self.options = options or SessionOptions()
        self.tools = [dict(t) for t in tools]
        self.clock = clock
        self.provider = provider
        self.model = model
        self.backend_model = backend_model
        self.hosted_web_search = hosted_web_search
        self.audible_rms = audible_rms
        self.speech_rms = speech_rms
        self._outgoing: list[str] = []
        self._events: list[AppEvent] = []
        self._history: list[tuple[str, str]] = []  # (role, text), oldest first
        self.started = False
        self.ended: str | None = None  # session.closed reason
        self.renewal_needed = False
        self.fatal: RealtimeError | None = None
        self.session_resource: dict[str, Any] = {}
        self._t0 = 0.0
        self._appended_ms = 0.0
        self._turn: _Turn | None = None
        self._user: _UserTurn | None = None
        self._last_item_id: str | None = None
        self._user_loud_at: float | None = None
        self._user_loud_since: float | None = None  # start of the current run of loud input
        self._waiting_since: float | None = None  # last user speech or typed message not yet answered
        self._pending_text: list[tuple[str, float]] = []  # output transcript waiting for a turn
        self._last_turn_end: tuple[float, str, bool] | None = None  # (when, item id, interrupted)
        self._typed: list[tuple[str, str]] = []  # (item id, text) waiting for session.started
        self._backend_running: dict[str | None, list[PendingToolCall]] = {}
        self._open_calls: dict[str, PendingToolCall] = {}
        self._continue_pending = False

    # ------------------------------------------------------------------------------------------ outputs

    @property
    def ready(self) -> bool:
        """True once ``session.started`` arrived on this connection."""
        return self.started

    @property
    def answer_expected(self) -> bool:
        """Always False: GPT-Live has no client-created responses to watch."""
        return False

    @property
    def history(self) -> list[dict[str, Any]]:
        """The conversation so far as GA message items (the text that would seed a new session)."""
        return [_item(role, text) for role, text in self._history]

    def frames_to_send(self, connected: bool = True) -> list[str]:
        """Frames (JSON text) to send, in order; the list is emptied. While not ``connected`` they are dropped:
        the next session is seeded from the history instead."""
        out, self._outgoing = self._outgoing, []
        return out if connected else []

    def events_received(self) -> list[AppEvent]:
        """App events produced since the last call, in order; the list is emptied."""
        out, self._events = self._events, []
        return out

    def report_error(self, error: RealtimeError) -> None:
        """Hand ``error`` (found by the driver) to the app in order with the session's events."""
        self._events.append(error)

    def _send(self, event: Any) -> None:
        self._outgoing.append(json.dumps(event.to_wire(), separators=(",", ":")))

    def _emit(self, event: AppEvent) -> None:
        self._events.append(event)

    # ------------------------------------------------------------------------------------------ lifecycle

    def connected(self, *, replay: bool = False) -> None:
        """A connection was opened: reset the per-session state and queue ``session.start`` (seeded with the
        conversation so far). ``replay`` is accepted for the driver's sake; the history always seeds."""
        self._end_of_session("connection_lost")
        self.started = False
        self.ended = None
        self.renewal_needed = False
        self._outgoing.clear()
        self._send(SessionStart(event_id=new_id("evt"), session=self.session_config()))

    def opened(self, *, replay: bool = False) -> None:
        """The handshake finished (``session.started`` was read); nothing more to send."""

    def disconnected(self) -> None:
        """The connection is gone: close what was open (an assistant turn ends as ``cancelled``)."""
        self._end_of_session("connection_lost")
        self.started = False

    def close_frames(self) -> list[str]:
        """The frame that ends the session gracefully (``session.close``), when a session is running."""
        if not self.started or self.ended is not None:
            return []
        return [json.dumps(SessionClose(event_id=new_id("evt")).to_wire(), separators=(",", ":"))]

    def abandon_answer(self, reason: str) -> None:
        """Nothing to abandon (GPT-Live has no client-created responses)."""

    def session_config(self) -> dict[str, Any]:
        """The ``session`` of ``session.start``: model, instructions, seeded ``input``, PCM16 24 kHz audio and
        voice, and Responses delegation with the tools."""
        config: dict[str, Any] = {
            "model": self.model,
            "instructions": self.options.instructions,
            "audio": {"format": {"type": "audio/pcm", "rate": SAMPLE_RATE}, "output": {"voice": self.options.voice}},
            "delegation": {"type": "responses", "responses": self._responses_config()},
        }
        seed = self.seed_input()
        if seed:
            config["input"] = seed
        return config

    def _responses_config(self) -> dict[str, Any]:
        responses: dict[str, Any] = {"model": self.backend_model}
        tools: list[dict[str, Any]] = []
        for tool in self.tools:
            if tool.get("type", "function") == "function" and tool.get("name"):
                tools.append({k: tool[k] for k in ("type", "name", "description", "parameters", "strict") if k in tool})
                tools[-1]["type"] = "function"
        if self.hosted_web_search:
            tools.append({"type": "web_search"})
        if tools:
            responses["tools"] = tools
            responses["tool_choice"] = "auto"
        return responses

    def seed_input(self) -> list[dict[str, Any]]:
        """``session.input``: the newest turns that fit :data:`MAX_INPUT_ITEMS` messages and
        :data:`MAX_INPUT_TOKENS` estimated tokens (:func:`estimate_tokens`), oldest first."""
        kept: list[dict[str, Any]] = []
        budget = MAX_INPUT_TOKENS
        for role, text in reversed(self._history):
            cost = estimate_tokens(text)
            if len(kept) >= MAX_INPUT_ITEMS or cost > budget:
                break
            budget -= cost
            part_type = "output_text" if role == "assistant" else "input_text"
            kept.append({"type": "message", "role": role, "content": [{"type": part_type, "text": text}]})
        kept.reverse()
        return kept

    # ------------------------------------------------------------------------------------------ actions

    def append_audio(self, pcm: bytes) -> None:
        """Microphone PCM16 (24 kHz mono; ValueError for an odd byte count). Sent at once while a session runs
        (and counted on the input clock), dropped otherwise: the model is not listening yet."""
        if len(pcm) % 2:
            raise ValueError(f"PCM16 audio needs an even number of bytes, got {len(pcm)}")
        if not self.started or self.ended is not None or not pcm:
            return
        now = self.clock()
        for start in range(0, len(pcm), MAX_MIC_APPEND_BYTES):
            piece = pcm[start : start + MAX_MIC_APPEND_BYTES]
            self._outgoing.append(_APPEND_FRAME % base64.b64encode(piece).decode())
            self._appended_ms += len(piece) / BYTES_PER_MS
            self._input_level(piece, now)

    def _input_level(self, pcm: bytes, now: float) -> None:
        loud = _rms(pcm) >= self.speech_rms
        if loud:
            if self._user_loud_at is None or (now - self._user_loud_at) * 1000.0 > USER_ACTIVE_MS:
                self._user_loud_since = now
            self._user_loud_at = now
        user = self._user
        if user is not None:
            user.quiet_ms = 0.0 if loud else user.quiet_ms + len(pcm) / BYTES_PER_MS
            if user.quiet_ms >= USER_END_MS:
                self._close_user(now)

    def send_text(self, text: str) -> str:
        """A typed user message: ``response.item.create`` (user ``input_text``) then ``response.create``; the
        model answers it aloud like speech. Before ``session.started`` it waits. Returns the message's id."""
        item_id = new_id("msg")
        self._history_add("user", text)
        self._waiting_since = self.clock()
        if self.started:
            self._send_typed(item_id, text)
        else:
            self._typed.append((item_id, text))
        return item_id

    def _send_typed(self, item_id: str, text: str) -> None:
        message = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}
        self._send(ResponseItemCreate(event_id=item_id, item=message))
        self._send(ResponseCreate(event_id=new_id("evt")))

    def add_items(self, items: Iterable[Mapping[str, Any]]) -> list[str]:
        """Earlier turns (GA message items: user ``input_text``, assistant ``output_text``/``text``/``audio``
        transcript, developer) kept to seed the next ``session.start`` (GPT-Live takes history only at startup).
        Returns one id per item."""
        ids: list[str] = []
        for raw in items:
            ids.append(str(raw.get("id") or new_id("msg")))
            role = raw.get("role")
            if raw.get("type", "message") != "message" or role not in ("user", "assistant", "developer"):
                continue
            parts = [p for p in raw.get("content") or [] if isinstance(p, Mapping)]
            text = " ".join(str(p.get("text") or p.get("transcript") or "") for p in parts).strip()
            if text:
                self._history_add(str(role), text)
        return ids

    def commit(self) -> None:
        """No-op: GPT-Live takes its own turns."""

    def create_response(self) -> None:
        """No-op: GPT-Live decides when to speak."""

    def cancel(self) -> None:
        """No-op: GPT-Live has no cancel; the app stops its own playback."""

    def clear_audio(self) -> None:
        """No-op: GPT-Live has no input buffer to clear."""

    def update_options(self, options: SessionOptions) -> None:
        """New options. ``output_modalities``, ``turn_detection`` and ``transcription_model`` do not apply (GPT-Live
        always speaks and transcribes); a new ``voice`` or ``instructions``, immutable in a running session, asks
        for a new session seeded with the conversation (:attr:`renewal_needed`)."""
        changed = options.voice != self.options.voice or options.instructions != self.options.instructions
        self.options = options
        if changed and self.started:
            self.renewal_needed = True

    def tool_results(self, outputs: Iterable[ToolOutput]) -> None:
        """One ``response.item.create`` (``function_call_output``) per output of a call handed out, then one
        ``response.create`` once no call of the session is left unanswered and no backend response runs."""
        for out in outputs:
            call = self._open_calls.pop(out.call_id, None)
            if call is None:
                log.warning("tool output for unknown call %s ignored", out.call_id)
                continue
            item = {"type": "function_call_output", "call_id": out.call_id, "output": out.output}
            self._send(ResponseItemCreate(event_id=new_id("evt"), item=item))
            self._emit(ToolCallFinished(call.call_id, call.name, call.arguments, out.output, out.ok, out.duration_ms))
            self._continue_pending = True
        self._maybe_continue()

    def _maybe_continue(self) -> None:
        if self._continue_pending and not self._open_calls and not self._backend_running and self.started:
            self._continue_pending = False
            self._send(ResponseCreate(event_id=new_id("evt")))

    # ------------------------------------------------------------------------------------------ time

    def tick(self, now: float | None = None) -> None:
        """Advance to ``now`` (default: the clock): append silence for the input lag beyond :data:`JITTER_MS`, end
        an assistant turn whose output went silent, notice a barge-in, close a quiet user turn."""
        now = self.clock() if now is None else now
        if not self.started or self.ended is not None:
            return
        lag_ms = (now - self._t0) * 1000.0 - self._appended_ms
        if lag_ms > JITTER_MS:
            fill = min(lag_ms, MAX_FILL_MS)
            while fill >= 1:
                ms = min(CHUNK_MS, fill)
                size = int(ms * BYTES_PER_MS) & ~1
                if size <= 0:
                    break
                self._outgoing.append(_APPEND_FRAME % (_SILENCE_B64 if size == CHUNK_MS * BYTES_PER_MS else
                                                       base64.b64encode(bytes(size)).decode()))  # fmt: skip
                self._appended_ms += size / BYTES_PER_MS
                fill -= size / BYTES_PER_MS
                if self._user is not None:
                    self._user.quiet_ms += size / BYTES_PER_MS
        user = self._user
        if user is not None and (
            user.quiet_ms >= USER_END_MS or (now - user.last_fragment_at) * 1000.0 >= USER_END_WALL_MS
        ):
            self._close_user(now)
        turn = self._turn
        if turn is not None:
            quiet_since = max(turn.last_audible_at, self._playback_end(turn))
            idle_ms = (now - quiet_since) * 1000.0
            if idle_ms >= BARGE_QUIET_MS and self._user_speaking(now, turn, quiet_since):
                self._yield(now, quiet_since)
            elif idle_ms >= TURN_END_MS:
                turn.quiet_ms = max(turn.quiet_ms, idle_ms)
                self._end_quiet_turn(now, turn, quiet_since)
        self._flush_pending_text(now)

    @staticmethod
    def _playback_end(turn: _Turn) -> float:
        p = turn.playback
        return (p.first_sent_at or 0.0) + p.received_bytes / BYTES_PER_MS / 1000.0

    def _user_speaking(self, now: float, turn: _Turn, quiet_since: float) -> bool:
        """The user speaks over ``turn``'s silence: loud input after the output went quiet (past the echo's tail:
        the model's own voice leaking into the microphone stops with it), or, during the turn, an input transcript
        fragment that is more than a backchannel within :data:`USER_ACTIVE_MS`."""
        loud_at = self._user_loud_at
        if loud_at is not None and loud_at >= quiet_since + ECHO_TAIL_MS / 1000.0:
            return (now - loud_at) * 1000.0 <= USER_ACTIVE_MS
        user = self._user
        return (
            user is not None
            and not self._maybe_backchannel(user)
            and user.last_fragment_at >= turn.opened_at
            and (now - user.last_fragment_at) * 1000.0 <= USER_ACTIVE_MS
        )

    # ------------------------------------------------------------------------------------------ server events

    def receive_frame(self, frame: str | bytes | dict[str, Any]) -> None:
        """Feed one server frame. An unreadable one becomes one non-fatal ``invalid_server_event`` error."""
        try:
            self.receive(parse_live_server_event(frame))
        except (ProtocolError, ValidationError, ValueError) as exc:  # bad JSON, fields or base64
            log.warning("unreadable server event: %s", (str(exc).splitlines() or [type(exc).__name__])[0][:200])
            self._emit(RealtimeError("invalid_server_event", "The service sent an event we could not read."))

    def receive(self, event: LiveServerEvent) -> None:
        """Handle one parsed server event (:func:`realtime.live_protocol.parse_live_server_event`)."""
        if isinstance(event, SessionStarted):
            self._on_started(event)
        elif isinstance(event, DelegationCreated):
            if event.delegation.get("target") == "responses":
                self._backend_running.setdefault(event.delegation.get("id"), [])
        elif isinstance(event, OutputAudioDelta):
            self._on_audio(event)
        elif isinstance(event, OutputTranscriptDelta):
            self._on_output_text(event)
        elif isinstance(event, InputTranscriptDelta):
            self._on_input_text(event)
        elif isinstance(event, ResponseEventEnvelope):
            self._on_backend(event)
        elif isinstance(event, SessionUsageUpdated):
            ratio = (event.context_window or {}).get("usage_ratio")
            usage = event.usage
            self._emit(VoiceUsage(usage.seconds, usage.active_seconds, ratio if isinstance(ratio, float) else None))
        elif isinstance(event, SessionClosed):
            self._on_closed(event)
        elif isinstance(event, LiveErrorEvent):
            self._on_error(event)

    def _on_started(self, event: SessionStarted) -> None:
        self.started = True
        self.session_resource = dict(event.session)
        self._t0 = self.clock()
        self._appended_ms = 0.0
        self._emit(SessionReady(self.provider, self.model, self.session_resource))
        typed, self._typed = self._typed, []
        for item_id, text in typed:
            self._send_typed(item_id, text)
        self._maybe_continue()

    def _on_error(self, event: LiveErrorEvent) -> None:
        err = event.error
        code = err.code or err.type or "error"
        kind = classify_live_error(code, started=self.started)
        error = RealtimeError(
            code, err.message or "The service reported an error.", fatal=kind == "fatal",
            retryable=kind == "retryable", error_type=err.type, event_id=err.client_event_id,
        )  # fmt: skip
        if error.fatal:
            self.fatal = error
        self._emit(error)

    def _on_closed(self, event: SessionClosed) -> None:
        reason = event.reason or "connection_lost"
        if event.usage is not None:
            self._emit(VoiceUsage(event.usage.seconds, event.usage.active_seconds))
        self._end_of_session(reason)
        self.ended = reason
        if reason == "expired":
            self.renewal_needed = True
        elif reason == "content":
            self._emit(RealtimeError("content", "The service ended the session for a content policy reason."))

    def _end_of_session(self, reason: str) -> None:
        now = self.clock()
        if self._user is not None:
            self._close_user(now)
        if self._turn is not None:
            self._close_turn(now, "completed" if reason == "close_requested" else "cancelled", reason)
        self._pending_text.clear()
        self._backend_running.clear()
        self._open_calls.clear()
        self._continue_pending = False

    # --- output: audio and transcript into turns

    def _on_audio(self, event: OutputAudioDelta) -> None:
        pcm = base64.b64decode(event.delta, validate=True)
        if len(pcm) % 2:
            pcm = pcm[:-1]
        if not pcm:
            return
        now = self.clock()
        audible = _rms(pcm) >= self.audible_rms
        turn = self._turn
        if turn is None:
            if not audible:
                return  # silence between turns is not passed on
            turn = self._open_turn(now)
        if audible:
            if turn.held:
                self._play(turn, bytes(turn.held), now)  # a short pause inside the turn
                turn.held.clear()
            turn.quiet_ms = 0.0
            turn.quiet_since = None
            self._play(turn, pcm, now)
            turn.last_audible_at = now
            return
        if turn.quiet_since is None:
            turn.quiet_since = now
        turn.quiet_ms += len(pcm) / BYTES_PER_MS
        if len(turn.held) < TURN_END_MS * BYTES_PER_MS:
            turn.held += pcm
        if turn.quiet_ms >= BARGE_QUIET_MS and self._user_speaking(now, turn, turn.quiet_since):
            self._yield(now, turn.quiet_since)
        elif turn.quiet_ms >= TURN_END_MS:
            self._end_quiet_turn(now, turn, turn.quiet_since)

    def _play(self, turn: _Turn, pcm: bytes, now: float) -> None:
        turn.playback.sent(len(pcm), now)
        self._emit(AudioDelta(turn.response_id, turn.item_id, turn.track, pcm))

    def _open_turn(self, now: float) -> _Turn:
        response_id, item_id = new_id("resp"), new_id("item")
        turn = _Turn(response_id, item_id, new_id("track"), AudioPlayback(item_id, response_id), now)
        turn.playback.track = turn.track
        turn.last_audible_at = now
        if self._waiting_since is not None:
            turn.latency_ms = max(0.0, (now - self._waiting_since) * 1000.0)
            self._waiting_since = None
        self._turn = turn
        self._last_item_id = item_id
        self._emit(ResponseStarted(response_id, turn.track))
        pending, self._pending_text = self._pending_text, []
        for text, _ in pending:
            self._add_text(turn, text, now)
        return turn

    def _on_output_text(self, event: OutputTranscriptDelta) -> None:
        if not event.delta:
            return
        now = self.clock()
        if self._turn is not None:
            self._add_text(self._turn, event.delta, now)
        else:
            self._pending_text.append((event.delta, now))
            del self._pending_text[:-MAX_PENDING_TEXT]

    def _add_text(self, turn: _Turn, text: str, now: float) -> None:
        turn.text += text
        turn.last_text_at = now
        self._emit(TextDelta(turn.response_id, turn.item_id, text, "audio"))

    def _flush_pending_text(self, now: float) -> None:
        if not self._pending_text or self._turn is not None:
            return
        if (now - self._pending_text[0][1]) * 1000.0 < TEXT_ONLY_WAIT_MS:
            return
        last = self._last_turn_end
        if last is not None and (self._pending_text[0][1] - last[0]) * 1000.0 < TEXT_ONLY_WAIT_MS + TURN_END_MS:
            # the tail of the turn that just ended: dropped after a barge-in, kept in the history otherwise
            tail = "".join(text for text, _ in self._pending_text)
            self._pending_text.clear()
            if not last[2] and self._history and self._history[-1][0] == "assistant":
                self._history[-1] = ("assistant", self._history[-1][1] + tail)
            return
        self._open_turn(now)  # transcript the gate found no audible audio for: a turn of text alone

    def _end_quiet_turn(self, now: float, turn: _Turn, quiet_since: float) -> None:
        """The output has been quiet for :data:`TURN_END_MS`: the turn is over. It was cut if the user began to
        speak in its middle (after :data:`USER_ACTIVE_MS` of it, so not the turn's own echo, which starts with it)
        and was still speaking when the output stopped (a short "Stop." may be over before the quiet is long
        enough to count as yielding to speech); else it finished."""
        since = self._user_loud_since
        if since is not None and since >= turn.opened_at + USER_ACTIVE_MS / 1000.0 and self._spoke_over(quiet_since):
            self._yield(now, quiet_since)
        else:
            self._maybe_close(now)

    def _maybe_close(self, now: float) -> None:
        turn = self._turn
        if turn is None or turn.quiet_ms < TURN_END_MS:
            return
        if turn.text and (now - turn.last_text_at) * 1000.0 < TEXT_SETTLE_MS:
            return
        self._close_turn(now, "completed")

    def _close_turn(self, now: float, status: str, reason: str | None = None) -> None:
        turn, self._turn = self._turn, None
        if turn is None:
            return
        text = turn.text.strip()
        if text:
            self._history_add("assistant", text)
        self._emit(AssistantTextDone(turn.response_id, turn.item_id, text))
        details = {"reason": reason} if reason else None
        self._emit(ResponseDoneEvent(turn.response_id, status, None, turn.latency_ms, details, self._work_pending()))
        self._last_turn_end = (now, turn.item_id, False)

    def _yield(self, now: float, quiet_since: float) -> None:
        """The model went quiet (at ``quiet_since``) while the user speaks: a barge-in when audio of the turn is
        still queued for playback, or when the user's speech began before the output stopped (the model stopped
        for them: the answer was cut, even if what was sent has all played); otherwise the user is answering a
        finished turn."""
        turn = self._turn
        if turn is None:
            return
        played, received = turn.playback.played_ms(now), turn.playback.received_ms()
        if played >= received and not self._spoke_over(quiet_since):
            self._close_turn(now, "completed")
            return
        self._turn = None
        heard = heard_part(turn.text, played, received) if played > 0 and turn.text else None
        if heard:
            self._history_add("assistant", heard)
        self._emit(Interrupted(turn.response_id, turn.item_id, turn.track, None, heard))
        details, work = {"reason": "interrupted"}, self._work_pending()
        self._emit(ResponseDoneEvent(turn.response_id, "cancelled", None, turn.latency_ms, details, work))
        self._last_turn_end = (now, turn.item_id, True)

    def _spoke_over(self, quiet_since: float) -> bool:
        """The user's current run of loud input began before the output went quiet and lasted until it did (within
        :data:`ECHO_TAIL_MS`: the model reacts to speech, so the speech may just have ended)."""
        since, last = self._user_loud_since, self._user_loud_at
        return since is not None and last is not None and since < quiet_since <= last + ECHO_TAIL_MS / 1000.0

    # --- input transcript into user turns

    def _on_input_text(self, event: InputTranscriptDelta) -> None:
        if not event.delta:
            return
        now = self.clock()
        user = self._user
        if (
            user is not None
            and event.start_ms is not None
            and user.end_ms is not None
            and event.start_ms - user.end_ms > USER_END_MS
        ):
            self._close_user(now)
            user = None
        if user is None:
            user = self._user = _UserTurn(new_id("user"), during_model=self._turn is not None)
            user.start_ms = event.start_ms
        user.text += event.delta
        user.quiet_ms = 0.0
        user.last_fragment_at = now
        if event.end_ms is not None:
            user.end_ms = max(user.end_ms or 0, event.end_ms)
        if self._maybe_backchannel(user):
            return  # held: it may be only a "mhm" said over the model
        self._waiting_since = now
        if not user.emitted:
            user.emitted = True
            user.previous_item_id = self._last_item_id
            self._last_item_id = user.item_id
            self._emit(UserTranscript(user.item_id, user.text, False, user.previous_item_id))
        else:
            self._emit(UserTranscript(user.item_id, event.delta, False, user.previous_item_id))

    def _maybe_backchannel(self, user: _UserTurn) -> bool:
        """True while a user turn begun over the model's speech is short and could still be only an
        acknowledgement ("mhm", "uh-huh", "yeah")."""
        if not user.during_model or user.emitted:
            return False
        if user.start_ms is not None and user.end_ms is not None and user.end_ms - user.start_ms >= BACKCHANNEL_MAX_MS:
            return False
        text = _normalize(user.text)
        return not text or any(ack.startswith(text) for ack in ACKNOWLEDGEMENTS)

    def _close_user(self, now: float) -> None:
        user, self._user = self._user, None
        if user is None or not user.emitted:
            return  # never shown: a backchannel
        text = user.text.strip()
        self._history_add("user", text)
        self._emit(UserTranscript(user.item_id, text, True, user.previous_item_id))

    # --- delegation backend (Responses)

    def _work_pending(self) -> int:
        """``ResponseDoneEvent.function_calls`` of a turn: the delegated calls not answered yet, or 1 while a backend
        response still runs without calls so far (a later turn speaks its result either way)."""
        running = sum(len(calls) for calls in self._backend_running.values())
        pending = len(self._open_calls) + running
        return pending or (1 if self._backend_running or self._continue_pending else 0)

    def _on_backend(self, envelope: ResponseEventEnvelope) -> None:
        inner = envelope.event
        kind = inner.get("type")
        key = envelope.delegation_id
        if kind == "response.created":
            self._backend_running[key] = []
        elif kind == "response.output_item.done":
            item = inner.get("item")
            if not isinstance(item, dict) or item.get("type") != "function_call":
                return
            if item.get("status") not in (None, "completed"):
                return
            call_id, name, arguments = item.get("call_id"), item.get("name"), item.get("arguments")
            if not isinstance(call_id, str) or not call_id or not isinstance(name, str) or not name:
                log.warning("function call with missing fields ignored")
                return
            response = inner.get("response")
            response_id = response.get("id") if isinstance(response, dict) else None
            calls = self._backend_running.setdefault(key, [])
            if len(calls) >= MAX_CALLS_PER_RESPONSE:
                log.warning("more than %d function calls in one backend response; the rest ignored", len(calls))
                return
            if all(c.call_id != call_id for c in calls) and call_id not in self._open_calls:
                args = arguments if isinstance(arguments, str) else json.dumps(arguments or {})
                calls.append(PendingToolCall(call_id, name, args, str(response_id or key or "")))
        elif kind == "response.completed":
            calls = self._backend_running.pop(key, [])
            if calls:
                for call in calls:
                    self._open_calls[call.call_id] = call
                    self._emit(ToolCallStarted(call.call_id, call.name, call.arguments))
                self._emit(ToolCallsRequested(tuple(calls), calls[0].response_id))
            self._maybe_continue()
        elif kind in ("response.failed", "response.incomplete", "response.cancelled"):
            dropped = self._backend_running.pop(key, [])
            if dropped:
                log.info("a backend response ended %s; %d function calls discarded", kind, len(dropped))
            self._maybe_continue()

    # ------------------------------------------------------------------------------------------ helpers

    def _history_add(self, role: str, text: str) -> None:
        if not text:
            return
        self._history.append((role, text))
        if len(self._history) > MAX_HISTORY:
            del self._history[: len(self._history) - MAX_HISTORY]

    def set_history(self, turns: Sequence[tuple[str, str]]) -> None:
        """Replace the kept conversation with ``(role, text)`` turns (oldest first)."""
        self._history = [(r, t) for r, t in turns if t][-MAX_HISTORY:]


def _item(role: str, text: str) -> dict[str, Any]:
    part = "output_text" if role == "assistant" else "input_text"
    return {"type": "message", "role": role, "content": [{"type": part, "text": text}]}
