"""The GPT-Live front end of the local engine: one GPT-Live session as a state machine with no I/O.

It speaks the GPT-Live WebSocket protocol (OpenAI "GPT-Live" guides; the event and field names are those of the
``openai`` package, ``openai/types/live/``) over the same stages as the Realtime front end
(:mod:`local_engine.realtime_front`): the same :data:`~local_engine.core.Command` s go out, and
:class:`local_engine.runner.EngineSession` carries them out. Client frames go in through :meth:`LiveState.receive`;
server events (dicts, wire shape) come out of :meth:`LiveState.events_to_send`.

What it keeps:

- the startup: ``session.start`` must be the first event (within :attr:`LiveSettings.start_timeout_s`, else the
  connection is closed, 1008); it is checked (``session.model`` required, unknown fields refused with
  ``unknown_parameter``) and answered with ``session.started`` and the full session resource;
- the input clock: session time is the audio appended (``session.input_audio.append``, PCM16 24 kHz, 48 bytes
  per ms; never acknowledged); muted input is heard as silence and still moves the clock;
- turn taking: the appended audio feeds the session's VAD (``semantic_vad``, the Realtime default); the end of the
  user's turn is transcribed and answered by the reply generator, in the conversation seeded by ``session.input``;
  ``session.input_transcript.delta`` from the streaming recognizer while the user speaks;
- the model's speech: sentences are synthesised as they come, and their audio is released as
  ``session.output_audio.delta`` only as the input clock advances (never more than :attr:`LiveSettings.lead_ms`
  ahead of it), with ``session.output_transcript.delta`` for the words released; while nothing is spoken, silence
  (when :attr:`LiveSettings.silence` is on, as the hosted service sends);
- yielding: user speech that starts while an answer is under way stops it; what was not yet released is never
  sent, and the assistant's message keeps only the words released;
- delegation: with ``{"type": "responses"}`` the tools of ``delegation.responses`` are offered to the reply
  generator; its calls come out as ``session.delegation.created`` and ``response.event`` envelopes, the client
  answers every call (``response.item.create`` ``function_call_output``) then ``response.create``, and the
  backend's answer is streamed as ``response.output_text.delta`` and spoken (a backend answer the user talks over
  goes on unspoken). Typed user messages go the same way. With client delegation (the default) the generator is
  offered one tool, :data:`DELEGATE_TOOL`; calling it is a ``session.delegation.created`` with ``target`` ``client``
  and a short acknowledgement, and ``session.commentary.append`` is spoken. The appends are acknowledged once the
  input clock reaches them;
- ``session.update`` (delegation of the same type, triggers), ``session.usage.updated`` every minute of session
  time, ``session.close`` / expiry (``session.closed``) and the error envelope; a command error never ends the
  session.
"""

from __future__ import annotations

import base64
import copy
import json
import logging
import math
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from local_engine.core import (
    MAX_ID_CHARS,
    Cancel,
    ClientError,
    Command,
    ConfigureVad,
    FeedVad,
    Generate,
    Json,
    Limits,
    Preview,
    Speak,
    Transcribe,
    decode_audio,
    new_id,
    semantic_vad,
)
from local_engine.live_session import (
    MAX_APPEND_TOKENS,
    LiveSettings,
    conversation_item,
    merge_update,
    message_text,
    session_resource,
    tokens,
)
from local_engine.resumption import continues_turn, resumed_history
from local_engine.stages import FunctionCall, ReplyRequest, VadSpeechStarted, VadSpeechStopped
from realtime.protocol import BYTES_PER_MS

__all__ = ["LiveSettings", "LiveState"]

log = logging.getLogger(__name__)

APPEND_MS = 100
"""Session time an append takes in the timeline: its ack comes once the input clock has passed its end."""
CHUNK_BYTES = 100 * BYTES_PER_MS
"""Largest ``session.output_audio.delta`` (100 ms of PCM16 24 kHz)."""
USAGE_EVERY_MS = 60_000
"""``session.usage.updated`` every minute of session time."""
CONTEXT_TOKENS = 128_000
"""The live model's context window, for ``context_window.usage_ratio``."""
GREETING = "Hello! How can I help you?"
"""What a ``session.instructions.append`` asking to greet is answered with."""
DEFAULT_INSTRUCTIONS = "You are a helpful voice assistant running offline on this machine."
ACKNOWLEDGEMENT = "One moment, please."
"""What the model says when it hands a task to the client (after ``acknowledgement_delay_ms``, unless a thinking or
commentary append comes first)."""
DELEGATE_TOOL: Json = {
    "type": "function",
    "name": "delegate_to_application",
    "description": "Hand a task to the application: telling the time or date, arithmetic calculations, the weather "
    "forecast, a web search, or anything else that needs tools or current data.",
    "parameters": {"type": "object", "properties": {"task": {"type": "string"}}, "required": ["task"]},
}
"""The one tool the reply generator is offered under client delegation: calling it is a client delegation
(``session.delegation.created`` with ``target`` ``client``; the task text is not sent, as the service does not)."""
MAX_CALLS = 64
"""Function calls waiting for their outputs at once; a reply's further calls are dropped."""
MAX_PENDING_APPENDS = 256
"""Appends waiting for the input clock to reach them; one more is refused."""
MAX_DELEGATIONS = 64
"""Client delegations remembered (appends may name them); older ones are forgotten."""

_UNSUPPORTED = frozenset(
    {
        "session.output_audio.fixture.play",
        "decision.create",
        "decision.item.create",
        "decision.item.delete",
        "transport.dtmf.send",
    }
)


@dataclass
class _Sentence:
    """One sentence of an answer: its audio as synthesised, and how much of it was released."""

    text: str
    pcm: bytearray = field(default_factory=bytearray)
    done: bool = False
    released: int = 0  # bytes
    words_out: int = 0


@dataclass
class _Answer:
    """What the model is saying: a reply of the generator (a voice turn, or a backend response)."""

    id: str  # the Generate job
    speech_job: str
    backend: bool
    delegation_id: str | None = None
    response_id: str | None = None
    sentences: deque[_Sentence] = field(default_factory=deque)
    to_speak: deque[str] = field(default_factory=deque)
    synthesising: _Sentence | None = None
    generated: bool = False
    silenced: bool = False  # yielded: nothing more is spoken
    spoken: list[str] = field(default_factory=list)  # words released
    text: str = ""  # backend output text
    calls: int = 0
    sequence: int = 0


@dataclass
class _Ack:
    kind: str
    client_event_id: str | None
    start_ms: int
    end_ms: int


class LiveState:
    """The GPT-Live protocol state of one connection (see the module docstring). ``now``: wall clock in Unix
    seconds (``expires_at``); ``new_id`` makes ids (``sess``, ``event``, ``item``, ``resp``, ``call`` prefixes)."""

    def __init__(
        self,
        *,
        limits: Limits | None = None,
        settings: LiveSettings | None = None,
        now: Callable[[], float] = time.time,
        new_id: Callable[[str], str] = new_id,
    ) -> None:
        self.limits = limits or Limits()
        self.settings = settings or LiveSettings()
        self._now = now
        self._new_id = new_id
        self.session: Json = {}
        self.items: dict[str, Json] = {}  # the conversation the reply generator sees, oldest first
        self._item_chars: dict[str, int] = {}
        self.finished: tuple[int, str] | None = None  # (close code, reason) once the connection should close
        self._started = False
        self._opened_at = now()
        self._closed = False
        self._events: list[Json] = []
        self._commands: list[Command] = []
        self._clock = 0  # bytes of input audio appended (session time)
        self._out = 0  # bytes of output audio released (output timeline)
        self._muted = False
        self._buffer = bytearray()
        self._buffer_start = 0  # bytes: session time of the buffer's first byte
        self._speech_start: int | None = None  # ms
        self._heard_ms = 0  # ms: the VAD has answered up to here
        self._transcript_ms = 0  # ms: end of the last input transcript delta
        self._heard_words = False  # an input transcript delta was sent
        self._turn_words = False  # ... in the user's current turn
        self._pending: dict[str, int] = {}  # transcription job -> session ms its turn ended
        self._turn_end: int | None = None  # session ms the last turn the VAD ended ended at
        self._resuming = False  # the speech in progress continues that turn (local_engine.resumption)
        self._resuming_jobs: set[str] = set()  # transcriptions of turns that continue the one before
        self._last_said: str | None = None  # the user item of the last spoken turn
        self._continues: dict[str, str] = {}  # user item -> the earlier user item it continues
        self._answer: _Answer | None = None
        self._acks: deque[_Ack] = deque()
        self._usage_marks = 0
        self._delegations: deque[str] = deque(maxlen=MAX_DELEGATIONS)  # client delegations
        self._acknowledge_at: float | None = None  # session ms to say ACKNOWLEDGEMENT at
        self._detached: dict[str, _Answer] = {}  # backend answers the user talked over: unspoken, still streaming
        self._backend: str | None = None  # the responses delegation in progress
        self._calls: dict[str, Json] = {}  # call_id -> function_call item, waiting for its output
        self._outputs: list[Json] = []  # function_call_output items received for the pending calls
        self._typed: list[Json] = []  # typed user messages for the next response.create

    # -------------------------------------------------------------------------------------------- outputs

    def events_to_send(self) -> list[Json]:
        """The server events produced since the last call, in order (wire dicts)."""
        events, self._events = self._events, []
        return events

    def commands_to_run(self) -> list[Command]:
        """The commands produced since the last call, in order."""
        commands, self._commands = self._commands, []
        return commands

    @property
    def clock_ms(self) -> float:
        """Session time: ms of input audio appended."""
        return self._clock / BYTES_PER_MS

    @property
    def output_ms(self) -> float:
        """ms of output audio released (speech and silence, or gaps when silence is off)."""
        return self._out / BYTES_PER_MS

    def transcription_hints(self) -> tuple[str | None, str | None]:
        """Language and prompt for the recognizer: none (GPT-Live has no transcription settings)."""
        return None, None

    def next_deadline(self) -> float | None:
        """Unix time of the session's expiry, or before startup of the wait for ``session.start`` (``None`` after
        the end)."""
        if self._closed:
            return None
        if not self._started:
            return self._opened_at + self.settings.start_timeout_s
        return float(self.session["expires_at"])

    def on_deadline(self) -> None:
        """Check the deadline against the wall clock: past the expiry, ``session.closed`` (``expired``) and the
        end; past the wait for ``session.start``, an error and the end (1008)."""
        if self._closed:
            return
        now = self._now()
        if not self._started and now >= self._opened_at + self.settings.start_timeout_s:
            self._error(ClientError("No session.start was received in time.", "session_start_timeout"), None)
            self._stop_work()
            self.finished = (1008, "no session.start")
            self._closed = True
        elif self._started and now >= self.session["expires_at"]:
            self._end("expired")

    def _emit(self, event: Json, *, event_id: bool = True) -> None:
        if self.finished is not None and event.get("type") != "session.closed":
            return
        if event_id:
            event = {"type": event["type"], "event_id": self._new_id("event"), **event}
        self._events.append(event)

    def _run(self, command: Command) -> None:
        if not self._closed:
            self._commands.append(command)

    def _error(self, exc: ClientError, client_event_id: str | None) -> None:
        error: Json = {"type": exc.kind, "code": exc.code, "message": str(exc)}
        if exc.param is not None:
            error["param"] = exc.param
        if client_event_id is not None:
            error["client_event_id"] = client_event_id
        self._emit({"type": "error", "error": error})

    # -------------------------------------------------------------------------------------------- lifecycle

    def open(self) -> None:
        """The connection is open: nothing is sent before ``session.start``, which must come within
        :attr:`LiveSettings.start_timeout_s`."""
        self._opened_at = self._now()

    def close(self) -> None:
        """The connection ended: cancel all work; nothing more is emitted."""
        self._stop_work()
        self._closed = True
        self._events.clear()

    def _stop_work(self) -> None:
        for detached in self._detached.values():
            self._run(Cancel(detached.id))
        self._detached.clear()
        if self._answer is not None:
            self._run(Cancel(self._answer.id))
            self._run(Cancel(self._answer.speech_job))
            self._answer = None
        for job in list(self._pending):
            self._run(Cancel(job))
        self._pending.clear()
        self._buffer.clear()

    def _usage(self) -> Json:
        return {"seconds": round(self.clock_ms / 1000, 3)}

    def _end(self, reason: str) -> None:
        """``session.closed`` with ``reason``, then the connection closes (1000)."""
        self._stop_work()
        self.finished = (1000, "session closed" if reason == "close_requested" else "session expired")
        self._emit({"type": "session.closed", "reason": reason, "session": copy.deepcopy(self.session),
                    "usage": self._usage()})  # fmt: skip
        self._closed = True

    # -------------------------------------------------------------------------------------------- dispatch

    def receive(self, data: Json | str | bytes) -> None:
        """Handle one client event (a decoded dict, or a raw frame). Never raises for bad input: it answers with
        an ``error`` event and the session goes on."""
        if self._closed:
            return
        client_event_id: str | None = None
        try:
            event = self._parse(data)
            given = event.get("event_id")
            client_event_id = given[:MAX_ID_CHARS] if isinstance(given, str) else None
            self.on_deadline()
            if self._closed:
                return
            self._dispatch(str(event.get("type")), event, client_event_id)
        except ClientError as exc:
            self._error(exc, client_event_id)
        except Exception as exc:  # a bug of ours must not end the user's conversation
            log.exception("live client event failed")
            error = ClientError(f"The server failed on this event ({type(exc).__name__}).", "server_error",
                                kind="server_error")  # fmt: skip
            self._error(error, client_event_id)

    @staticmethod
    def _parse(data: Json | str | bytes) -> Json:
        if isinstance(data, dict):
            event = data
        else:
            try:
                event = json.loads(data)
            except ValueError:
                raise ClientError("The event is not valid JSON.", "invalid_json") from None
        if not isinstance(event, dict) or not isinstance(event.get("type"), str):
            raise ClientError("Missing required parameter: 'type'.", "missing_required_parameter", "type")
        return event

    def _dispatch(self, kind: str, event: Json, client_event_id: str | None) -> None:
        if kind == "session.start":
            self._start(event, client_event_id)
            return
        if not self._started:
            raise ClientError("The session has not started: send session.start first.", "session_not_started")
        if kind == "session.input_audio.append":
            self._append(event)
        elif kind in ("session.input_audio.mute", "session.input_audio.unmute"):
            self._muted = kind.endswith(".mute")
            self._emit({"type": "session.input_audio.muted" if self._muted else "session.input_audio.unmuted",
                        **_echo(client_event_id)})  # fmt: skip
        elif kind in ("session.instructions.append", "session.thinking.append", "session.commentary.append"):
            self._content_append(kind, event, client_event_id)
        elif kind == "session.update":
            self._update(event, client_event_id)
        elif kind == "response.item.create":
            self._item_create(event)
        elif kind == "response.create":
            self._response_create()
        elif kind == "session.close":
            self._end("close_requested")
        elif kind in _UNSUPPORTED:
            raise ClientError(f"The local engine does not serve '{kind}'.", "unsupported_event", "type")
        else:
            raise ClientError(f"Invalid value: '{kind[:80]}'. Not a GPT-Live client event.", "invalid_value", "type")

    # -------------------------------------------------------------------------------------------- startup

    def _start(self, event: Json, client_event_id: str | None) -> None:
        if self._started:
            raise ClientError("The session has already started.", "session_already_started", "type")
        resource = session_resource(event, self._new_id("sess"), math.ceil(self._now() + self.settings.session_s))
        self.session = resource
        self._started = True
        for item in resource["input"]:
            self._remember(conversation_item(item, self._new_id("item")))
        self._emit({"type": "session.started", **_echo(client_event_id), "session": copy.deepcopy(resource)})
        self._run(ConfigureVad(1, semantic_vad("auto"), 0))  # the same turn taking as Realtime's default

    def _voice(self) -> str | None:
        voice = self.session["audio"]["output"]["voice"]
        return voice if isinstance(voice, str) else None

    # -------------------------------------------------------------------------------------------- session.update

    def _update(self, event: Json, client_event_id: str | None) -> None:
        self.session = merge_update(self.session, event.get("session"))
        self._emit({"type": "session.updated", **_echo(client_event_id), "session": copy.deepcopy(self.session)})

    # -------------------------------------------------------------------------------------------- input audio

    def _append(self, event: Json) -> None:
        try:
            pcm = decode_audio(event.get("audio"), "audio")
        except ClientError as exc:
            raise ClientError(str(exc), "invalid_audio", "audio") from None
        if not pcm:
            return
        if self._muted:
            pcm = bytes(len(pcm))
        self._clock += len(pcm)
        self._buffer += pcm
        self._run(FeedVad(1, pcm, self.clock_ms))
        self._bound_buffer()
        self._release()
        self._due_acks()
        if self._acknowledge_at is not None and self.clock_ms >= self._acknowledge_at:
            self._acknowledge_at = None
            self._say(ACKNOWLEDGEMENT)
        marks = int(self.clock_ms // USAGE_EVERY_MS)
        if marks > self._usage_marks:
            self._usage_marks = marks
            chars = sum(len(json.dumps(item)) for item in self.items.values())
            ratio = min(1.0, chars / 4 / CONTEXT_TOKENS)
            self._emit({"type": "session.usage.updated", "usage": self._usage(),
                        "context_window": {"usage_ratio": round(ratio, 4)}})  # fmt: skip

    def _bound_buffer(self) -> None:
        keep_ms: float = self._heard_ms - self.limits.idle_keep_ms
        if self._speech_start is not None:
            keep_ms = self._speech_start
        keep_ms = max(keep_ms, self.clock_ms - self.limits.max_buffer_ms)
        cut = int((keep_ms * BYTES_PER_MS) - self._buffer_start) & ~1
        if cut > 0:
            del self._buffer[:cut]
            self._buffer_start += cut

    def vad_result(
        self, generation: int, end_ms: float, boundaries: Sequence[VadSpeechStarted | VadSpeechStopped]
    ) -> None:
        """The VAD processed the input up to session time ``end_ms`` and found ``boundaries`` (session ms)."""
        if self._closed or generation != 1:
            return
        for boundary in boundaries:
            if isinstance(boundary, VadSpeechStarted):
                self._speech_started(boundary.audio_start_ms)
            else:
                self._speech_stopped(boundary.audio_end_ms)
        self._heard_ms = max(self._heard_ms, int(end_ms))
        self._bound_buffer()

    def _speech_started(self, start_ms: int) -> None:
        self._speech_start = start_ms
        self._resuming = continues_turn(self._turn_end, start_ms, semantic_vad().prefix_padding_ms)
        self._transcript_ms = max(self._transcript_ms, start_ms)
        self._turn_words = False
        answer = self._answer
        if answer is not None and self.settings.yield_to_speech and not answer.silenced:
            self._yield(answer)

    def _speech_stopped(self, end_ms: int) -> None:
        start = self._speech_start if self._speech_start is not None else self._buffer_start // BYTES_PER_MS
        self._speech_start = None
        a = max(0, int(start * BYTES_PER_MS - self._buffer_start) & ~1)
        b = max(a, int(end_ms * BYTES_PER_MS - self._buffer_start) & ~1)
        pcm = bytes(self._buffer[a:b])[: self.limits.max_transcribe_ms * BYTES_PER_MS]
        job = self._new_id("asr")
        self._pending[job] = end_ms
        self._turn_end = end_ms
        if self._resuming:
            self._resuming_jobs.add(job)
        self._resuming = False
        if len(self._pending) > self.limits.max_pending_transcriptions:
            self.transcription_failed(job, "Too many transcriptions in progress in this session.")
            return
        self._run(Transcribe(job, "", 0, pcm))

    def speech_transcript_delta(self, delta: str) -> None:
        """Words of the user's speech recognised while it is spoken: ``session.input_transcript.delta``."""
        if not delta or self._closed or not self._started:
            return
        self._input_delta(delta, max(self._transcript_ms, self._heard_ms))

    def _input_delta(self, delta: str, end_ms: int) -> None:
        if self._heard_words and not self._turn_words and not delta[0].isspace():
            delta = " " + delta  # a new turn: a space between its words and the last turn's
        self._heard_words = self._turn_words = True
        start = min(self._transcript_ms, end_ms)
        self._emit({"type": "session.input_transcript.delta", "delta": delta, "start_ms": start, "end_ms": end_ms})
        self._transcript_ms = end_ms

    def transcribed(self, job: str, text: str, audio_ms: float = 0.0, rest: str | None = None) -> None:
        """The user's turn was recognised as ``text`` (``rest``: the part not yet sent as deltas); the model
        answers it."""
        del audio_ms
        end_ms = self._pending.pop(job, None)
        resumes = job in self._resuming_jobs
        self._resuming_jobs.discard(job)
        if end_ms is None or self._closed:
            return
        delta = text.strip() if rest is None else rest
        if delta:
            self._input_delta(delta, max(end_ms, self._transcript_ms))
        self._turn_words = False
        text = text.strip()[: self.limits.max_text_chars]
        if not text:
            return
        item_id = self._new_id("item")
        self._remember({"id": item_id, "type": "message", "role": "user",
                        "content": [{"type": "input_audio", "transcript": text}]})  # fmt: skip
        self._continues = {k: v for k, v in self._continues.items() if k in self.items}
        if resumes and self._last_said is not None:
            self._continues[item_id] = self._last_said
        self._last_said = item_id
        if self._answer is None:
            self._answer_turn()

    def transcription_failed(self, job: str, message: str) -> None:
        """The user's turn could not be recognised: it is not answered."""
        self._resuming_jobs.discard(job)
        if self._pending.pop(job, None) is not None:
            log.warning("live transcription failed: %s", message[:200])

    # -------------------------------------------------------------------------------------------- answers

    def _remember(self, item: Json) -> None:
        """Add ``item`` to the conversation; the oldest items go past :attr:`Limits.max_items` items or
        :attr:`Limits.max_conversation_chars` characters."""
        self._item_chars[item["id"]] = len(json.dumps(item))
        self.items[item["id"]] = item
        limits = self.limits
        while len(self.items) > 1 and (
            len(self.items) > limits.max_items or sum(self._item_chars.values()) > limits.max_conversation_chars
        ):
            oldest = next(iter(self.items))
            del self.items[oldest]
            self._item_chars.pop(oldest, None)

    def _delegation(self) -> Json:
        delegation = self.session.get("delegation")
        return delegation if isinstance(delegation, dict) else {"type": "client"}

    def _request(self, extra: Sequence[Json] = ()) -> ReplyRequest:
        delegation = self._delegation()
        responses = delegation.get("responses") if delegation.get("type") == "responses" else None
        tools: list[Json] = []
        tool_choice: Any = "auto"
        if isinstance(responses, dict):
            tools = [copy.deepcopy(t) for t in responses.get("tools") or [] if isinstance(t, dict)
                     and t.get("type") == "function"][: self.limits.max_tools]  # fmt: skip
            tool_choice = responses.get("tool_choice") or "auto"
        elif delegation.get("type") == "client":
            tools = [copy.deepcopy(DELEGATE_TOOL)]
        history = resumed_history([copy.deepcopy(item) for item in self.items.values()], self._continues)
        history += [copy.deepcopy(i) for i in extra]
        instructions = self.session.get("instructions") or DEFAULT_INSTRUCTIONS
        return ReplyRequest(instructions=instructions, history=history, tools=tools, tool_choice=tool_choice)

    def _new_answer(self, *, backend: bool) -> _Answer:
        answer_id = self._new_id("resp")
        answer = _Answer(answer_id, f"{answer_id}-speech", backend)
        self._answer = answer
        return answer

    def _answer_turn(self) -> None:
        answer = self._new_answer(backend=False)
        self._run(Generate(answer.id, self._request()))

    def _say(self, text: str) -> None:
        """Speak ``text`` as an answer of its own (a greeting, commentary)."""
        if self._answer is not None:
            self._answer.to_speak.append(text)
            self._speak_next(self._answer)
            return
        answer = self._new_answer(backend=False)
        answer.generated = True
        answer.to_speak.append(text)
        self._speak_next(answer)

    def _active(self, job: str) -> _Answer | None:
        answer = self._answer
        if self._closed:
            return None
        if answer is None or job not in (answer.id, answer.speech_job):
            return self._detached.get(job)
        return answer

    def reply_sentence(self, job: str, sentence: str) -> None:
        """The answer goes on with ``sentence``: spoken after what came before (and, from the backend, streamed
        as ``response.output_text.delta``)."""
        answer = self._active(job)
        if answer is None or not sentence:
            return
        if answer.backend:
            delta = sentence if not answer.text else " " + sentence
            answer.text += delta
            self._response_event(answer, {"type": "response.output_text.delta", "item_id": f"msg_{answer.id}",
                                          "output_index": 0, "content_index": 0, "delta": delta,
                                          "logprobs": []})  # fmt: skip
        if not answer.silenced:
            answer.to_speak.append(sentence)
            self._speak_next(answer)

    def reply_function_call(self, job: str, call: FunctionCall) -> None:
        """The reply generator calls a tool: with Responses delegation, a delegation and its function call; with
        client delegation (:data:`DELEGATE_TOOL`), a client delegation."""
        answer = self._active(job)
        if answer is None:
            return
        if self._delegation().get("type") == "client":
            if call.name == DELEGATE_TOOL["name"] and answer.delegation_id is None:
                self._client_delegation(answer)
            return
        if answer.delegation_id is None:
            self._open_backend(answer)
        if len(self._calls) >= MAX_CALLS:
            log.warning("live reply called more than %d tools; the rest are dropped", MAX_CALLS)
            return
        call_id = call.call_id if call.call_id and call.call_id not in self._calls else self._new_id("call")
        item = {"type": "function_call", "id": self._new_id("fc"), "call_id": call_id, "name": call.name,
                "arguments": call.arguments[: self.limits.max_text_chars], "status": "completed"}  # fmt: skip
        self._calls[call_id] = item
        self._response_event(answer, {"type": "response.output_item.done", "output_index": answer.calls,
                                      "item": copy.deepcopy(item)})  # fmt: skip
        answer.calls += 1

    def _client_delegation(self, answer: _Answer) -> None:
        """``session.delegation.created`` (``target`` ``client``); the acknowledgement is said after
        ``acknowledgement_delay_ms`` of session time unless a thinking or commentary append comes first."""
        delegation_id = answer.delegation_id = self._new_id("item")
        self._delegations.append(delegation_id)
        self._emit({"type": "session.delegation.created", "offset_ms": int(self.clock_ms),
                    "delegation": {"id": delegation_id, "type": "delegation", "target": "client"}})  # fmt: skip
        delay = self._delegation().get("acknowledgement_delay_ms")
        delay_ms = max(0, min(int(delay), 60_000)) if isinstance(delay, int) else 0
        if delay_ms:
            self._acknowledge_at = self.clock_ms + delay_ms
        else:
            self._say(ACKNOWLEDGEMENT)

    def _open_backend(self, answer: _Answer, delegation_id: str | None = None) -> None:
        """Start a backend response for ``answer``: a new delegation (``session.delegation.created``) unless it
        continues ``delegation_id``, then ``response.created``."""
        answer.response_id = self._new_id("resp")
        if delegation_id is None:
            delegation_id = self._new_id("item")
            self._emit({"type": "session.delegation.created", "offset_ms": int(self.clock_ms),
                        "delegation": {"id": delegation_id, "type": "delegation", "target": "responses",
                                       "response_id": answer.response_id}})  # fmt: skip
        answer.delegation_id = self._backend = delegation_id
        self._response_event(answer, {"type": "response.created", "response": self._response(answer, "in_progress")})

    def _response(self, answer: _Answer, status: str) -> Json:
        responses = self._delegation().get("responses") or {}
        usage = None
        if status != "in_progress":
            text_in = sum(len(json.dumps(item)) for item in self.items.values()) // 4 + 1
            text_out = len(answer.text) // 4 + 16 * answer.calls
            usage = {"input_tokens": text_in, "input_tokens_details": {"cached_tokens": 0},
                     "output_tokens": text_out, "output_tokens_details": {"reasoning_tokens": 0},
                     "total_tokens": text_in + text_out}  # fmt: skip
        return {
            "id": answer.response_id,
            "object": "response",
            "created_at": int(self._now()),
            "status": status,
            "model": str(responses.get("model") or ""),
            "output": [],
            "instructions": None,
            "tools": [],
            "tool_choice": responses.get("tool_choice") or "auto",
            "parallel_tool_calls": bool(responses.get("parallel_tool_calls", True)),
            "error": None,
            "incomplete_details": None,
            "metadata": {},
            "usage": usage,
        }

    def _response_event(self, answer: _Answer, event: Json) -> None:
        event["sequence_number"] = answer.sequence
        answer.sequence += 1
        self._emit({"type": "response.event", "delegation_id": answer.delegation_id, "event": event})

    def reply_done(self, job: str) -> None:
        """The reply is complete: a backend response completes (``response.completed``); the speech goes on."""
        answer = self._active(job)
        if answer is None or answer.generated:
            return
        answer.generated = True
        if answer.response_id is not None:  # a backend response
            self._response_event(answer, {"type": "response.completed",
                                          "response": self._response(answer, "completed")})  # fmt: skip
        self._maybe_finish(answer)

    def reply_failed(self, job: str, message: str, code: str = "reply_failed") -> None:
        """The reply generator failed: a backend response fails; the answer ends with what was said."""
        answer = self._active(job)
        if answer is None:
            return
        if answer.response_id is not None:  # a backend response
            failed = self._response(answer, "failed")
            failed["error"] = {"code": "server_error", "message": message[:300]}
            self._response_event(answer, {"type": "response.failed", "response": failed})
            self._calls.clear()
        log.warning("live reply failed (%s): %s", code, message[:200])
        answer.generated = True
        answer.to_speak.clear()
        self._maybe_finish(answer)

    def _speak_next(self, answer: _Answer) -> None:
        if answer.synthesising is None and answer.to_speak and not answer.silenced:
            sentence = _Sentence(answer.to_speak.popleft())
            answer.synthesising = sentence
            answer.sentences.append(sentence)
            self._run(Speak(answer.speech_job, answer.id, sentence.text, self._voice()))

    def speech_audio(self, job: str, item_id: str, pcm: bytes) -> None:
        """Audio of the sentence being synthesised; released as the input clock advances."""
        del item_id
        answer = self._active(job)
        if answer is not None and answer.synthesising is not None:
            answer.synthesising.pcm += pcm

    def speech_done(self, job: str, item_id: str) -> None:
        """The sentence being synthesised is complete: the next one starts."""
        del item_id
        answer = self._active(job)
        if answer is None or answer.synthesising is None:
            return
        answer.synthesising.done = True
        answer.synthesising = None
        self._speak_next(answer)

    def speech_failed(self, job: str, message: str) -> None:
        """The synthesizer failed: the answer says no more."""
        answer = self._active(job)
        if answer is None:
            return
        log.warning("live speech failed: %s", message[:200])
        if answer.synthesising is not None:
            answer.synthesising.done = True
            answer.synthesising = None
        answer.to_speak.clear()
        answer.silenced = True
        self._maybe_finish(answer)

    def preview_reply(self, transcript: str) -> Preview | None:
        """No reply is started ahead in a live session."""
        del transcript
        return None

    # -------------------------------------------------------------------------------------------- output pacing

    def _release(self) -> None:
        """Release output audio up to the input clock: speech up to :attr:`LiveSettings.lead_ms` ahead of it,
        silence (or a gap) up to it while nothing is ready to be spoken."""
        limit = self._clock + self.settings.lead_ms * BYTES_PER_MS
        answer = self._answer
        while answer is not None and answer.sentences and not answer.silenced:
            sentence = answer.sentences[0]
            left = len(sentence.pcm) - sentence.released
            if left <= 0:
                if not sentence.done:
                    break  # its audio is not synthesised yet
                self._words(sentence, len(sentence.pcm), final=True)
                answer.sentences.popleft()
                continue
            if sentence.released == 0:
                self._silence_to(self._clock)  # speech starts at the input clock, never before it
            room = limit - self._out
            if room <= 0:
                return
            take = min(left, room, CHUNK_BYTES) & ~1
            if take <= 0:
                return
            piece = bytes(sentence.pcm[sentence.released : sentence.released + take])
            self._emit({"type": "session.output_audio.delta", "delta": base64.b64encode(piece).decode()},
                       event_id=False)  # fmt: skip
            self._words(sentence, sentence.released + take, final=False)
            sentence.released += take
            self._out += take
        if answer is not None:
            self._maybe_finish(answer)
        self._silence_to(self._clock)

    def _silence_to(self, target: int) -> None:
        if self._out >= target:
            return
        if not self.settings.silence:
            self._out = target
            return
        while self._out < target:
            take = min(target - self._out, CHUNK_BYTES) & ~1
            if take <= 0:
                self._out = target
                return
            self._emit({"type": "session.output_audio.delta", "delta": base64.b64encode(bytes(take)).decode()},
                       event_id=False)  # fmt: skip
            self._out += take

    def _words(self, sentence: _Sentence, released_to: int, *, final: bool) -> None:
        """``session.output_transcript.delta`` for the words of ``sentence`` whose audio starts before
        ``released_to`` (bytes into it); the words share its audio evenly (its length estimated from the text
        while it is being synthesised)."""
        words = sentence.text.split()
        if not words:
            return
        estimate = (
            len(sentence.pcm) if sentence.done else max(len(sentence.pcm), len(sentence.text) * 65 * BYTES_PER_MS)
        )
        per_word = estimate / len(words)
        start_out = self._out - sentence.released  # output position of the sentence's first byte
        answer = self._answer
        while sentence.words_out < len(words) and (final or sentence.words_out * per_word < released_to):
            index = sentence.words_out
            sentence.words_out += 1
            first = answer is not None and not answer.spoken
            delta = words[index] if first else " " + words[index]
            if answer is not None:
                answer.spoken.append(words[index])
            start = int((start_out + index * per_word) / BYTES_PER_MS)
            end = int((start_out + (index + 1) * per_word) / BYTES_PER_MS)
            self._emit({"type": "session.output_transcript.delta", "delta": delta, "start_ms": start,
                        "end_ms": max(start, end)})  # fmt: skip

    def _maybe_finish(self, answer: _Answer) -> None:
        """The answer is over once generated and all its speech released (or it was silenced)."""
        if answer.generated and self._detached.get(answer.id) is answer:
            del self._detached[answer.id]
            return
        if self._answer is not answer or not answer.generated:
            return
        if not answer.silenced and (answer.sentences or answer.to_speak or answer.synthesising is not None):
            return
        self._finish_answer(answer)

    def _finish_answer(self, answer: _Answer) -> None:
        self._answer = None
        if answer.spoken:
            self._remember({"id": self._new_id("item"), "type": "message", "role": "assistant",
                            "content": [{"type": "output_audio", "transcript": " ".join(answer.spoken)}]})  # fmt: skip

    def _yield(self, answer: _Answer) -> None:
        """The user speaks over the answer: its speech stops where the release got to (its generation too, unless
        it is backend work, which goes on unspoken)."""
        answer.silenced = True
        answer.to_speak.clear()
        answer.sentences.clear()
        answer.synthesising = None
        self._run(Cancel(answer.speech_job))
        if not answer.backend and answer.delegation_id is None:
            self._run(Cancel(answer.id))
            answer.generated = True
        elif not answer.generated:  # backend work goes on, unspoken; the conversation goes on beside it
            self._detached[answer.id] = answer
            self._finish_answer(answer)
        self._maybe_finish(answer)

    # -------------------------------------------------------------------------------------------- appends

    def _content_append(self, kind: str, event: Json, client_event_id: str | None) -> None:
        if "delegation_id" not in event:
            raise ClientError("Missing required parameter: 'delegation_id'.", "missing_required_parameter",
                              "delegation_id")  # fmt: skip
        delegation_id = event["delegation_id"]
        if delegation_id is not None:
            if self._delegation().get("type") != "client":
                raise ClientError("delegation_id must be null with Responses delegation.", "invalid_value",
                                  "delegation_id")  # fmt: skip
            if delegation_id not in self._delegations:
                raise ClientError(f"Delegation '{str(delegation_id)[:80]}' not found.", "delegation_not_found",
                                  "delegation_id")  # fmt: skip
        content = event.get("content")
        if not isinstance(content, str):
            raise ClientError("Missing required parameter: 'content'.", "missing_required_parameter", "content")
        if tokens(content) > MAX_APPEND_TOKENS:
            raise ClientError(f"Invalid 'content': more than {MAX_APPEND_TOKENS} tokens.", "string_above_max_length",
                              "content")  # fmt: skip
        if kind != "session.instructions.append":
            self._acknowledge_at = None  # any thinking or commentary cancels the pending acknowledgement
        if len(self._acks) >= MAX_PENDING_APPENDS:
            raise ClientError(f"More than {MAX_PENDING_APPENDS} appends wait for the input clock: append audio.",
                              "too_many_pending_appends")  # fmt: skip
        start = int(self.clock_ms)
        self._acks.append(_Ack(kind.replace(".append", ".appended"), client_event_id, start, start + APPEND_MS))
        if kind == "session.commentary.append" and content.strip():
            self._say(content.strip())
        elif kind == "session.instructions.append" and "greet" in content.lower():
            self._say(GREETING)

    def _due_acks(self) -> None:
        while self._acks and self._acks[0].end_ms <= self.clock_ms:
            ack = self._acks.popleft()
            self._emit({"type": ack.kind, **_echo(ack.client_event_id), "start_ms": ack.start_ms,
                        "end_ms": ack.end_ms})  # fmt: skip

    # -------------------------------------------------------------------------------------------- backend

    def _require_responses(self) -> None:
        if self._delegation().get("type") != "responses":
            raise ClientError("response.item.create requires Responses delegation.", "invalid_request")

    def _item_create(self, event: Json) -> None:
        self._require_responses()
        item = event.get("item")
        if not isinstance(item, dict):
            raise ClientError("Missing required parameter: 'item'.", "missing_required_parameter", "item")
        kind = item.get("type", "message")
        if kind == "function_call_output":
            call_id = item.get("call_id")
            output = item.get("output")
            if not isinstance(call_id, str) or call_id not in self._calls:
                raise ClientError(f"No function call with call_id '{str(call_id)[:80]}' is waiting for its output.",
                                  "invalid_value", "item.call_id")  # fmt: skip
            if not isinstance(output, str):
                raise ClientError("Invalid 'item.output': expected a string.", "invalid_type", "item.output")
            if len(output) > self.limits.max_text_chars:
                raise ClientError("Invalid 'item.output': too long.", "string_above_max_length", "item.output")
            self._outputs = [o for o in self._outputs if o["call_id"] != call_id]
            self._outputs.append({"type": "function_call_output", "call_id": call_id, "output": output})
        elif kind == "message":
            if item.get("role") != "user":
                raise ClientError("Only user messages can be added.", "invalid_value", "item.role")
            text = message_text(item.get("content"), "item.content")
            if len(text) > self.limits.max_text_chars:
                raise ClientError("Invalid 'item.content': too long.", "string_above_max_length", "item.content")
            self._typed.append({"id": self._new_id("item"), "type": "message", "role": "user",
                                "content": [{"type": "input_text", "text": text}]})  # fmt: skip
            del self._typed[: -self.limits.max_items]
        else:
            raise ClientError(f"Invalid 'item.type': '{str(kind)[:80]}'.", "invalid_value", "item.type")

    def _response_create(self) -> None:
        self._require_responses()
        missing = [call_id for call_id in self._calls if call_id not in {o["call_id"] for o in self._outputs}]
        if missing:
            raise ClientError(f"Every pending function call needs its function_call_output before response.create "
                              f"(missing: {', '.join(missing[:8])[:300]}).", "missing_function_call_output",
                              "item.call_id")  # fmt: skip
        if not self._calls and not self._typed:
            raise ClientError("Nothing to respond to: add a function_call_output or a user message first.",
                              "invalid_request")  # fmt: skip
        answer = self._answer
        busy = [a for a in self._detached.values() if not a.generated]
        if busy or (answer is not None and answer.backend and not answer.generated):
            raise ClientError("A backend response is already in progress.", "response_already_in_progress")
        for item in self._calls.values():
            self._remember({"id": item["id"], "type": "function_call", "call_id": item["call_id"],
                            "name": item["name"], "arguments": item["arguments"]})  # fmt: skip
        for output in self._outputs:
            self._remember({"id": self._new_id("item"), **output})
        continues = self._backend if self._calls else None
        self._calls.clear()
        self._outputs.clear()
        for message in self._typed:
            self._remember(message)
        self._typed.clear()
        if answer is not None:  # the voice answer under way gives way to the backend's
            self._yield(answer)
        backend = self._new_answer(backend=True)
        self._open_backend(backend, continues)
        self._run(Generate(backend.id, self._request()))


def _echo(client_event_id: str | None) -> Json:
    return {"client_event_id": client_event_id} if client_event_id is not None else {}
