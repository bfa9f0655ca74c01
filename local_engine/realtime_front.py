"""The Realtime front end of the local engine: one Realtime session as a state machine with no I/O (no asyncio,
no sockets, no models).

Client events and stage results go in; server events and commands come out, as in python-websockets'
``protocol.py`` and :mod:`realtime.session`:

- :meth:`EngineState.receive` takes one client event (a JSON text frame or a decoded GA dict);
- the stage results: :meth:`~EngineState.vad_result` (speech boundaries of fed audio),
  :meth:`~EngineState.transcribed` / :meth:`~EngineState.transcription_failed`,
  :meth:`~EngineState.reply_sentence` / :meth:`~EngineState.reply_function_call` / :meth:`~EngineState.reply_done`
  / :meth:`~EngineState.reply_failed`, :meth:`~EngineState.speech_audio` / :meth:`~EngineState.speech_done` /
  :meth:`~EngineState.speech_failed`;
- :meth:`EngineState.events_to_send` hands out the server events (:mod:`realtime.protocol` models, GA shape) and
  :meth:`EngineState.commands_to_run` the work to do (:class:`ConfigureVad`, :class:`FeedVad`, :class:`ResetVad`,
  :class:`Transcribe`, :class:`Generate`, :class:`Speak`, :class:`Cancel`). :mod:`local_engine.runner` carries
  them out with the stages and feeds the results back.

It keeps what the service keeps (OpenAI Realtime API reference, "Client events" and "Server events"):

- the session configuration (``session.created`` / ``session.updated`` echo it);
- the input audio buffer (``input_audio_buffer.append`` / ``commit`` / ``clear``) with turn detection:
  ``speech_started`` / ``speech_stopped`` carry ``audio_start_ms`` / ``audio_end_ms`` in ms of all audio appended
  in the session, and the speech is committed as a user item;
- the conversation (``conversation.item.create`` / ``delete`` / ``truncate``), capped at :attr:`Limits.max_items`
  items and :attr:`Limits.max_conversation_chars` characters;
- responses (``response.create`` / ``cancel``), one active at a time. A response ends with exactly one
  ``response.done`` whatever happens: a cancel (by the client or by the user's speech) finishes it at once, and
  results that come later for it are ignored, so no stage can leave the session waiting;
- errors with the service's codes for bad client events; none of them ends the session.

Time is the stream time of the input audio (ms counted from the bytes appended), so no clock is needed. Audio is
PCM16 little-endian mono at 24000 Hz (48 bytes per ms), base64 in JSON.
"""

from __future__ import annotations

import base64
import copy
import dataclasses
import logging
from collections.abc import Callable, Sequence
from typing import Any

from pydantic import ValidationError

from local_engine.core import (
    MAX_ID_CHARS,
    MAX_TOOL_NAME_CHARS,
    Cancel,
    ClientError,
    Command,
    ConfigureVad,
    FeedVad,
    Generate,
    Json,
    Limits,
    Preview,
    ResetVad,
    Transcribe,
    VadParams,
    check_length,
    decode_audio,
    new_id,
    semantic_vad,
)
from local_engine.realtime_items import RealtimeItems, _Response
from local_engine.resumption import continues_turn, resumed_history
from local_engine.stages import FunctionCall, ReplyRequest, VadSpeechStarted, VadSpeechStopped
from realtime.protocol import (
    BYTES_PER_MS,
    SAMPLE_RATE,
    ConversationItemDeleted,
    ConversationItemTruncated,
    ErrorDetail,
    InputAudioBufferCleared,
    InputAudioBufferCommitted,
    InputAudioBufferSpeechStarted,
    InputAudioBufferSpeechStopped,
    InputAudioTranscriptionCompleted,
    InputAudioTranscriptionDelta,
    InputAudioTranscriptionFailed,
    ProtocolError,
    RateLimitsUpdated,
    ResponseCreated,
    ResponseDone,
    ResponseObject,
    ResponseOutputAudioDelta,
    ServerEvent,
    SessionConfig,
    SessionCreated,
    SessionUpdated,
    parse_client_event,
)

__all__ = ["EngineState", "default_session"]

log = logging.getLogger(__name__)


def default_session(model: str) -> Json:
    """The GA session object a new connection starts with (OpenAI's documented defaults, "Session object")."""
    return {
        "type": "realtime",
        "object": "realtime.session",
        "id": new_id("sess"),
        "model": model,
        "output_modalities": ["audio"],
        "instructions": "You are a helpful voice assistant running offline on this machine.",
        "tools": [],
        "tool_choice": "auto",
        "max_output_tokens": "inf",
        "audio": {
            "input": {
                "format": {"type": "audio/pcm", "rate": SAMPLE_RATE},
                "transcription": None,
                "noise_reduction": None,
                "turn_detection": {
                    "type": "server_vad",
                    "threshold": 0.5,
                    "prefix_padding_ms": 300,
                    "silence_duration_ms": 500,
                    "idle_timeout_ms": None,
                    "create_response": True,
                    "interrupt_response": True,
                },
            },
            "output": {"format": {"type": "audio/pcm", "rate": SAMPLE_RATE}, "voice": "alloy", "speed": 1.0},
        },
    }


_KNOWN_EVENTS = (
    "session.update",
    "input_audio_buffer.append",
    "input_audio_buffer.commit",
    "input_audio_buffer.clear",
    "conversation.item.create",
    "conversation.item.delete",
    "conversation.item.truncate",
    "response.create",
    "response.cancel",
)


class EngineState(RealtimeItems):
    """The Realtime protocol state of one connection (see the module docstring). ``new_id`` makes ids (``item``,
    ``resp``, ``event``... prefixes); tests may pass a deterministic one."""

    def __init__(
        self,
        *,
        model: str = "gpt-realtime",
        limits: Limits | None = None,
        new_id: Callable[[str], str] = new_id,
    ) -> None:
        super().__init__(limits=limits, new_id=new_id)
        self.session: Json = default_session(model)
        self._buffer = bytearray()
        self._buffer_start_ms = 0.0  # stream time of the buffer's first byte
        self._vad_generation = 0
        self._vad_on = False
        self._vad_ms = 0.0  # stream time up to which the VAD has answered
        self._speech_item: str | None = None
        self._speech_start_ms: int | None = None
        self._prefix_padding_ms = 300
        self._last_turn: tuple[str, int] | None = None  # the last turn the VAD ended: its item, its audio_end_ms
        self._resumes: str | None = None  # the item the speech in progress continues (local_engine.resumption)
        self._continues: dict[str, str] = {}  # user item -> the earlier user item it continues
        self._response: _Response | None = None

    # -------------------------------------------------------------------------------------------- outputs

    def events_to_send(self) -> list[ServerEvent]:
        """The server events produced since the last call, in order (GA shape; ``to_wire()`` gives the dict)."""
        events, self._events = self._events, []
        return events

    def commands_to_run(self) -> list[Command]:
        """The commands produced since the last call, in order."""
        commands, self._commands = self._commands, []
        return commands

    @property
    def response_id(self) -> str | None:
        """The active response's id, or ``None``."""
        return self._response.id if self._response else None

    @property
    def buffered_bytes(self) -> int:
        """Bytes of uncommitted input audio held."""
        return len(self._buffer)

    def tracked(self) -> dict[str, int]:
        """Sizes of everything the state keeps (for leak checks)."""
        return {
            "items": len(self.items),
            "inputs": len(self._inputs),
            "pending": len(self._pending),
            "spoken": len(self._spoken),
            "item_chars": len(self._item_chars),
            "buffer": len(self._buffer),
            "events": len(self._events),
            "commands": len(self._commands),
        }

    @property
    def finished(self) -> tuple[int, str] | None:
        """Never: a Realtime session ends when the client closes the connection."""
        return None

    def next_deadline(self) -> float | None:
        """No deadline (the session has no timer)."""
        return None

    def on_deadline(self) -> None:
        """Nothing to do (no deadline)."""

    def transcription_hints(self) -> tuple[str | None, str | None]:
        """``audio.input.transcription``'s ``language`` (else the first of ``languages``) and ``prompt`` (else its
        ``keywords``, comma-separated: words the recognizer should expect). ``delay`` and the transcription
        ``model`` (``gpt-realtime-whisper``, ``gpt-transcribe``, ...) are echoed and otherwise ignored: there is one
        recognizer here."""
        transcription = self.session["audio"]["input"].get("transcription") or {}
        languages = transcription.get("languages")
        language = transcription.get("language") or (
            languages[0] if isinstance(languages, list) and languages else None
        )
        keywords = transcription.get("keywords")
        prompt = transcription.get("prompt") or (", ".join(map(str, keywords))[:1000] if keywords else None)
        return (language if isinstance(language, str) else None), (prompt if isinstance(prompt, str) else None)

    # -------------------------------------------------------------------------------------------- lifecycle

    def open(self) -> None:
        """Start the session: ``session.created`` and the VAD stream."""
        self._emit(SessionCreated(type="session.created", session=self._session_model()))
        self._configure_vad()

    def close(self) -> None:
        """The connection ended: cancel all work; nothing more is emitted."""
        if self._response is not None:
            self._run(Cancel(self._response.id))
        for job in list(self._pending):
            self._run(Cancel(job))
        self._closed = True
        self._response = None
        self._pending.clear()
        self._buffer.clear()
        self._events.clear()

    def _session_model(self) -> SessionConfig:
        return SessionConfig.model_validate(copy.deepcopy(self.session))

    # -------------------------------------------------------------------------------------------- dispatch

    def receive(self, data: Json | str | bytes) -> None:
        """Handle one client event (a decoded GA dict, or a raw frame). Never raises for bad input: it answers
        with an ``error`` event and the session goes on."""
        if self._closed:
            return
        event_id = data.get("event_id") if isinstance(data, dict) else None
        event_id = event_id[:MAX_ID_CHARS] if isinstance(event_id, str) else None
        try:
            try:
                event = parse_client_event(data)
            except ProtocolError as exc:
                code = "invalid_json" if str(exc).startswith("frame is not valid JSON") else "invalid_value"
                raise ClientError(str(exc)[:300], code, "type") from None
            except ValidationError as exc:
                first = exc.errors()[0]
                param = ".".join(str(p) for p in first["loc"])[:200]
                code = "missing_required_parameter" if first["type"] == "missing" else "invalid_value"
                raise ClientError(f"Invalid '{param}': {first['msg'][:200]}", code, param) from None
            event_id = event.event_id[:MAX_ID_CHARS] if event.event_id else None
            if event.type not in _KNOWN_EVENTS:
                raise ClientError(
                    f"Invalid value: '{event.type[:80]}'. Supported values are: {', '.join(_KNOWN_EVENTS)}.",
                    "invalid_value",
                    "type",
                )
            self._dispatch(event.type, event.to_wire())
        except ClientError as exc:
            self._error(exc, event_id)
        except Exception as exc:  # a bug of ours must not end the user's conversation
            log.exception("client event failed")
            error = ClientError(f"The server failed on this event ({type(exc).__name__}).", "server_error",
                                kind="server_error")  # fmt: skip
            self._error(error, event_id)

    def _dispatch(self, kind: str, event: Json) -> None:
        if kind == "session.update":
            self._session_update(event)
        elif kind == "input_audio_buffer.append":
            self._append(event)
        elif kind == "input_audio_buffer.commit":
            self._commit()
        elif kind == "input_audio_buffer.clear":
            self._clear()
        elif kind == "conversation.item.create":
            self._item_create(event)
        elif kind == "conversation.item.delete":
            self._item_delete(event)
        elif kind == "conversation.item.truncate":
            self._item_truncate(event)
        elif kind == "response.create":
            self._response_create(event)
        else:
            self._response_cancel(event)

    # -------------------------------------------------------------------------------------------- session

    def _check_instructions(self, value: object, param: str) -> None:
        check_length(value, str, self.limits.max_instructions_chars, param)

    def _check_tools(self, value: object, param: str) -> None:
        check_length(value, list, self.limits.max_tools, param)
        for index, tool in enumerate(value if isinstance(value, list) else []):
            name = tool.get("name") if isinstance(tool, dict) else None
            check_length(name, str, MAX_TOOL_NAME_CHARS, f"{param}[{index}].name")

    def _session_update(self, event: Json) -> None:
        update = event.get("session") or {}
        if update.get("type") not in (None, "realtime"):
            raise ClientError("The local engine serves realtime sessions only.", "invalid_value", "session.type")
        self._check_instructions(update.get("instructions"), "session.instructions")
        self._check_tools(update.get("tools"), "session.tools")
        merged = copy.deepcopy(self.session)
        for key, value in update.items():
            if key in ("id", "object", "type"):
                continue
            if key == "audio":
                if not isinstance(value, dict):
                    raise ClientError(
                        "Invalid type for 'session.audio': expected an object, but got null instead.",
                        "invalid_type",
                        "session.audio",
                    )
                for side in ("input", "output"):
                    if isinstance(value.get(side), dict):
                        merged["audio"][side].update(copy.deepcopy(value[side]))
            else:
                merged[key] = copy.deepcopy(value)
        for side in ("input", "output"):
            fmt = merged["audio"][side].get("format") or {"type": "audio/pcm", "rate": SAMPLE_RATE}
            if fmt.get("type") != "audio/pcm" or fmt.get("rate", SAMPLE_RATE) not in (None, SAMPLE_RATE):
                raise ClientError(
                    f"The local engine supports audio/pcm at {SAMPLE_RATE} Hz only, not {fmt}.",
                    "invalid_value",
                    f"session.audio.{side}.format",
                )
        modalities = merged.get("output_modalities") or ["audio"]
        if modalities not in (["audio"], ["text"]):
            raise ClientError("output_modalities must be ['audio'] or ['text'].", "invalid_value", "output_modalities")
        turn = merged["audio"]["input"].get("turn_detection")
        if turn is not None:
            if turn.get("type") not in ("server_vad", "semantic_vad"):
                raise ClientError(
                    "turn_detection.type must be server_vad or semantic_vad.",
                    "invalid_value",
                    "session.audio.input.turn_detection.type",
                )
            threshold = turn.get("threshold")
            if threshold is not None and not 0.0 <= float(threshold) <= 1.0:
                raise ClientError(
                    "threshold must be between 0 and 1.",
                    "decimal_above_max_value",
                    "session.audio.input.turn_detection.threshold",
                )
            for name in ("prefix_padding_ms", "silence_duration_ms"):
                value = turn.get(name)
                if value is not None and not 0 <= int(value) <= 10_000:
                    raise ClientError(
                        f"{name} must be between 0 and 10000.",
                        "invalid_value",
                        f"session.audio.input.turn_detection.{name}",
                    )
        self.session = merged
        self._configure_vad()
        self._emit(SessionUpdated(type="session.updated", session=self._session_model()))

    def _turn_detection(self) -> Json | None:
        turn = self.session["audio"]["input"].get("turn_detection")
        return turn if isinstance(turn, dict) else None

    def _configure_vad(self) -> None:
        turn = self._turn_detection()
        self._vad_generation += 1
        self._speech_item = None
        self._speech_start_ms = None
        self._resumes = None
        self._vad_ms = self._stream_ms
        if turn is None:
            self._vad_on = False
            self._run(ConfigureVad(self._vad_generation, None, round(self._stream_ms)))
            return
        if turn.get("type") == "semantic_vad":
            params = semantic_vad(str(turn.get("eagerness") or "auto"))
        else:
            params = VadParams(
                threshold=float(_or(turn.get("threshold"), 0.5)),
                prefix_padding_ms=int(_or(turn.get("prefix_padding_ms"), 300)),
                silence_duration_ms=int(turn.get("silence_duration_ms") or 500),
            )
        self._vad_on = True
        self._prefix_padding_ms = params.prefix_padding_ms
        self._run(ConfigureVad(self._vad_generation, params, round(self._stream_ms)))

    # -------------------------------------------------------------------------------------------- input audio

    @property
    def _stream_ms(self) -> float:
        return self._buffer_start_ms + len(self._buffer) / BYTES_PER_MS

    def _append(self, event: Json) -> None:
        pcm = decode_audio(event.get("audio") or "", "audio")
        self._buffer += pcm
        if self._vad_on:
            self._run(FeedVad(self._vad_generation, pcm, self._stream_ms))
        self._bound_buffer()

    def _bound_buffer(self) -> None:
        if self._vad_on and self._speech_item is None:
            self._drop_before(min(self._vad_ms, self._stream_ms) - self.limits.idle_keep_ms)
        if len(self._buffer) > self.limits.max_buffer_ms * BYTES_PER_MS:
            self._drop_before(self._stream_ms - self.limits.max_buffer_ms)

    def vad_result(
        self, generation: int, end_ms: float, boundaries: Sequence[VadSpeechStarted | VadSpeechStopped]
    ) -> None:
        """The VAD stream of ``generation`` processed the audio up to stream time ``end_ms`` (a :class:`FeedVad`'s)
        and found ``boundaries``, in order, in session stream time (the stream's own times plus its
        :attr:`ConfigureVad.start_ms`). Results of a replaced or reset stream are ignored."""
        if self._closed or generation != self._vad_generation:
            return
        for boundary in boundaries:
            if isinstance(boundary, VadSpeechStarted):
                self._speech_started(boundary.audio_start_ms)
            else:
                self._speech_stopped(boundary.audio_end_ms)
        self._vad_ms = max(self._vad_ms, end_ms)
        self._bound_buffer()

    def _drop_before(self, ms: float) -> None:
        cut = int((ms - self._buffer_start_ms) * BYTES_PER_MS) & ~1
        if cut > 0:
            del self._buffer[:cut]
            self._buffer_start_ms += cut / BYTES_PER_MS

    def _take(self, start_ms: float, end_ms: float) -> bytes:
        """The buffered audio between two stream times (clamped), removing everything before ``end_ms``."""
        start = max(0, int((start_ms - self._buffer_start_ms) * BYTES_PER_MS) & ~1)
        end = max(start, int((end_ms - self._buffer_start_ms) * BYTES_PER_MS) & ~1)
        pcm = bytes(self._buffer[start:end])
        self._drop_before(end_ms)
        return pcm

    def _speech_started(self, audio_start_ms: int) -> None:
        self._speech_item = self._new_id("item")
        self._speech_start_ms = audio_start_ms
        last, self._resumes = self._last_turn, None
        if last is not None and continues_turn(last[1], audio_start_ms, self._prefix_padding_ms):
            self._resumes = last[0]
        self._emit(
            InputAudioBufferSpeechStarted(
                type="input_audio_buffer.speech_started", audio_start_ms=audio_start_ms, item_id=self._speech_item
            )
        )
        turn = self._turn_detection() or {}
        if turn.get("interrupt_response", True) and self._response is not None:
            self._cancel_response("turn_detected")

    def _speech_stopped(self, audio_end_ms: int) -> None:
        item_id = self._speech_item or self._new_id("item")
        start = self._speech_start_ms if self._speech_start_ms is not None else self._buffer_start_ms
        self._speech_item, self._speech_start_ms = None, None
        self._continues = {k: v for k, v in self._continues.items() if k in self.items}
        if self._resumes is not None:
            self._continues[item_id] = self._resumes
        self._resumes, self._last_turn = None, (item_id, audio_end_ms)
        self._emit(
            InputAudioBufferSpeechStopped(
                type="input_audio_buffer.speech_stopped", audio_end_ms=audio_end_ms, item_id=item_id
            )
        )
        self._commit_audio(self._take(start, audio_end_ms), item_id)
        turn = self._turn_detection() or {}
        if turn.get("create_response", True) and self._response is None:
            self._start_response({})

    def _commit(self) -> None:
        have_ms = len(self._buffer) / BYTES_PER_MS
        if have_ms < self.limits.min_commit_ms:
            raise ClientError(
                f"Error committing input audio buffer: buffer too small. Expected at least "
                f"{self.limits.min_commit_ms}ms of audio, but buffer only has {have_ms:.2f}ms of audio.",
                "input_audio_buffer_commit_empty",
            )
        item_id = self._speech_item or self._new_id("item")
        self._forget_speech()
        self._commit_audio(self._take(self._buffer_start_ms, self._stream_ms), item_id)

    def _clear(self) -> None:
        self._drop_before(self._stream_ms)
        self._forget_speech()
        self._emit(InputAudioBufferCleared(type="input_audio_buffer.cleared"))

    def _forget_speech(self) -> None:
        """The buffer was committed or cleared by the client: any speech the VAD was following is gone."""
        self._speech_item, self._speech_start_ms, self._resumes = None, None, None
        if self._vad_on:
            self._vad_generation += 1
            self._vad_ms = self._stream_ms
            self._run(ResetVad(self._vad_generation))

    def _commit_audio(self, pcm: bytes, item_id: str) -> None:
        """Make ``pcm`` a user audio item and start recognising it."""
        previous = next(reversed(self.items), None)
        self._emit(
            InputAudioBufferCommitted(type="input_audio_buffer.committed", previous_item_id=previous, item_id=item_id)
        )
        item: Json = {
            "id": item_id,
            "object": "realtime.item",
            "type": "message",
            "role": "user",
            "status": "completed",
            "content": [{"type": "input_audio", "transcript": None}],
        }
        self._add_item(item, previous)
        self._item_events(item, previous, done=True)
        self._transcribe(item_id, 0, pcm)

    def _transcribe(self, item_id: str, content_index: int, pcm: bytes) -> None:
        """Recognise a user audio part's words; responses wait for them."""
        self._inputs[item_id] = self._inputs.get(item_id, 0.0) + len(pcm) / BYTES_PER_MS
        pcm = pcm[: self.limits.max_transcribe_ms * BYTES_PER_MS]
        job = self._new_id("asr")
        self._pending[job] = (item_id, content_index)
        if len(self._pending) > self.limits.max_pending_transcriptions:
            self.transcription_failed(job, "Too many transcriptions in progress in this session.")
            return
        transcription = self.session["audio"]["input"].get("transcription") or {}
        self._run(Transcribe(job, item_id, content_index, pcm, transcription.get("language"),
                             transcription.get("prompt")))  # fmt: skip

    def transcribed(self, job: str, text: str, audio_ms: float = 0.0, rest: str | None = None) -> None:
        """Transcription ``job`` (a :class:`Transcribe`'s) heard ``text``. ``audio_ms``: how much it listened to
        (reported as the usage ``seconds``). ``rest``: when the words were streamed while spoken
        (:meth:`speech_transcript_delta`), the part of ``text`` not sent yet, the last delta."""
        where = self._pending.pop(job, None)
        if where is None or self._closed:
            return
        item_id, index = where
        item = self.items.get(item_id)
        if item is not None:
            parts = item.get("content") or []
            if index < len(parts):
                text = text[: self.limits.max_text_chars]
                parts[index]["transcript"] = text
                self._recount(item_id)
        if self.session["audio"]["input"].get("transcription"):
            delta = text if rest is None else rest
            if delta:
                self._emit(
                    InputAudioTranscriptionDelta(
                        type="conversation.item.input_audio_transcription.delta",
                        item_id=item_id,
                        content_index=index,
                        delta=delta,
                    )
                )
            self._emit(
                InputAudioTranscriptionCompleted(
                    type="conversation.item.input_audio_transcription.completed",
                    item_id=item_id,
                    content_index=index,
                    transcript=text,
                    usage={"type": "duration", "seconds": round(audio_ms / 1000, 3)},
                )
            )
        self._maybe_generate()

    def speech_transcript_delta(self, delta: str) -> None:
        """Words of the speech in progress recognised while it is spoken: a
        ``conversation.item.input_audio_transcription.delta`` for the item it will become (when transcription is
        on). The item's ``completed`` comes once the turn is committed and transcribed."""
        if not delta or self._closed or self._speech_item is None:
            return
        if self.session["audio"]["input"].get("transcription"):
            self._emit(
                InputAudioTranscriptionDelta(
                    type="conversation.item.input_audio_transcription.delta",
                    item_id=self._speech_item,
                    content_index=0,
                    delta=delta,
                )
            )

    def transcription_failed(self, job: str, message: str) -> None:
        """Transcription ``job`` failed: the item keeps no transcript, and responses go on without it."""
        where = self._pending.pop(job, None)
        if where is None or self._closed:
            return
        item_id, index = where
        if self.session["audio"]["input"].get("transcription"):
            self._emit(
                InputAudioTranscriptionFailed(
                    type="conversation.item.input_audio_transcription.failed",
                    item_id=item_id,
                    content_index=index,
                    error=ErrorDetail(type="server_error", code="transcription_failed", message=message[:200]),
                )
            )
        self._maybe_generate()

    # -------------------------------------------------------------------------------------------- conversation
    def _item_create(self, event: Json) -> None:
        item = copy.deepcopy(event.get("item") or {})
        previous = event.get("previous_item_id")
        if previous is not None and previous != "root" and previous not in self.items:
            raise ClientError(
                f"Previous item with id '{str(previous)[:80]}' not found.", "item_not_found", "previous_item_id"
            )
        kind = item.get("type", "message")
        if kind == "message":
            if item.get("role") not in ("user", "assistant", "system"):
                raise ClientError(
                    "Invalid 'item.role': expected user, assistant or system.", "invalid_value", "item.role"
                )
            if not isinstance(item.get("content"), list) or not item["content"]:
                raise ClientError(
                    "Missing required parameter: 'item.content'.", "missing_required_parameter", "item.content"
                )
        elif kind == "function_call_output":
            if not item.get("call_id") or not isinstance(item.get("output"), str):
                raise ClientError(
                    "A function_call_output needs 'call_id' and a string 'output'.",
                    "missing_required_parameter",
                    "item.call_id",
                )
            self._check_text(item["output"], "item.output")
        elif kind == "function_call":
            if not item.get("name") or not isinstance(item.get("arguments", ""), str):
                raise ClientError(
                    "A function_call needs 'name' and 'arguments'.", "missing_required_parameter", "item.name"
                )
            item.setdefault("arguments", "")
            self._check_text(item["arguments"], "item.arguments")
        else:
            raise ClientError(f"Invalid 'item.type': '{str(kind)[:80]}'.", "invalid_value", "item.type")
        item["id"] = item.get("id") or self._new_id("item")
        if item["id"] in self.items:
            raise ClientError(f"Item with id '{item['id'][:80]}' already exists.", "item_already_exists", "item.id")
        if not isinstance(item["id"], str) or len(item["id"]) > MAX_ID_CHARS:
            raise ClientError(
                f"Invalid 'item.id': expected a string of at most {MAX_ID_CHARS} characters.",
                "string_above_max_length",
                "item.id",
            )
        audio: list[tuple[int, bytes]] = []
        for index, part in enumerate(item.get("content") or []):
            for name in ("text", "transcript"):
                self._check_text(part.get(name), f"item.content[{index}].{name}")
            if part.get("type") == "input_audio" and part.get("audio"):
                audio.append((index, decode_audio(part.pop("audio"), f"item.content[{index}].audio")))
        item["type"] = kind
        item["object"] = "realtime.item"
        item["status"] = "completed"
        root = previous == "root"
        previous = None if root else previous or next(reversed(self.items), None)
        self._add_item(item, previous, root=root)
        self._item_events(item, previous, done=True)
        for index, pcm in audio:
            self._transcribe(item["id"], index, pcm)

    def _item_delete(self, event: Json) -> None:
        item_id = str(event.get("item_id"))
        if item_id not in self.items:
            raise ClientError(f"Item with item_id '{item_id[:80]}' not found.", "item_not_found", "item_id")
        self._forget_item(item_id)
        self._emit(ConversationItemDeleted(type="conversation.item.deleted", item_id=item_id))

    def _item_truncate(self, event: Json) -> None:
        item_id, audio_end_ms = str(event.get("item_id")), int(event.get("audio_end_ms", 0))
        item = self.items.get(item_id)
        spoken = self._spoken.get(item_id)
        if item is None:
            raise ClientError(f"Item with item_id '{item_id[:80]}' not found.", "item_not_found", "item_id")
        if item.get("role") != "assistant" or spoken is None:
            raise ClientError("Only assistant messages with audio can be truncated.", "invalid_value", "item_id")
        if int(event.get("content_index", 0)) != 0:
            raise ClientError(
                "Invalid 'content_index': this item has one audio part.", "invalid_value", "content_index"
            )
        if audio_end_ms > spoken.audio_ms + 0.5:
            raise ClientError(
                f"Audio content of {int(spoken.audio_ms)}ms is already shorter than {audio_end_ms}ms",
                "invalid_value",
                "audio_end_ms",
            )
        heard: list[str] = []
        for sentence, start, end in spoken.sentences:
            if end <= audio_end_ms:
                heard.append(sentence)
            elif start < audio_end_ms:
                words = sentence.split()
                share = (audio_end_ms - start) / max(end - start, 1.0)
                heard.append(" ".join(words[: int(len(words) * share)]))
        transcript = " ".join(s for s in heard if s)
        spoken.sentences = [(transcript, 0.0, float(audio_end_ms))]
        for part in item.get("content") or []:
            if part.get("type") == "output_audio":
                part["transcript"] = transcript
        self._recount(item_id)
        self._emit(
            ConversationItemTruncated(
                type="conversation.item.truncated", item_id=item_id, content_index=0, audio_end_ms=audio_end_ms
            )
        )

    # -------------------------------------------------------------------------------------------- responses

    def _response_create(self, event: Json) -> None:
        if self._response is not None:
            raise ClientError(
                f"Conversation already has an active response in progress: {self._response.id}. Wait until the "
                "response is finished before creating a new one.",
                "conversation_already_has_active_response",
            )
        params = event.get("response") or {}
        self._check_instructions(params.get("instructions"), "response.instructions")
        self._check_tools(params.get("tools"), "response.tools")
        check_length(params.get("input"), list, self.limits.max_items, "response.input")
        self._start_response(params)

    def _response_cancel(self, event: Json) -> None:
        wanted = event.get("response_id")
        if self._response is None or (wanted and wanted != self._response.id):
            raise ClientError("Cancellation failed: no active response found", "response_cancel_not_active")
        self._cancel_response("client_cancelled")

    def _start_response(self, params: Json) -> None:
        modalities = list(params.get("output_modalities") or self.session.get("output_modalities") or ["audio"])
        response = _Response(
            id=self._new_id("resp"),
            modalities=modalities,
            in_conversation=params.get("conversation") != "none",
            request=None,
            voice=self.session["audio"]["output"].get("voice"),
            speed=float(self.session["audio"]["output"].get("speed") or 1.0),
        )
        self._response = response
        self._emit(
            ResponseCreated(
                type="response.created",
                response=ResponseObject(
                    id=response.id,
                    object="realtime.response",
                    status="in_progress",
                    status_details=None,
                    output=[],
                    output_modalities=response.modalities,
                    conversation_id="auto" if response.in_conversation else None,
                    usage=None,
                ),
            )
        )
        given = params.get("input")
        response.waiting = not isinstance(given, list)
        response.request = ReplyRequest(
            instructions=str(params.get("instructions") or self.session.get("instructions") or ""),
            history=[copy.deepcopy(i) for i in given if isinstance(i, dict)] if isinstance(given, list) else [],
            tools=list(_or(params.get("tools"), self.session.get("tools")) or []),
            tool_choice=params.get("tool_choice") or self.session.get("tool_choice") or "auto",
        )
        self._maybe_generate()

    def preview_reply(self, transcript: str) -> Preview | None:
        """The reply the end of the speech in progress would ask for if it were heard as ``transcript``: the
        :class:`Generate` of the response turn detection would create, with the voice, speed and whether it is
        spoken. ``None`` when no speech is in progress or its end would generate nothing yet (``create_response``
        off, a response already active, other words still being transcribed). Played on a copy of the state:
        this one does not change. For :mod:`local_engine.speculation`."""
        if self._closed or self._speech_item is None or self._response is not None or not self._vad_on:
            return None
        twin = copy.copy(self)
        twin.items = copy.deepcopy(self.items)
        twin.session = copy.deepcopy(self.session)
        for name in ("_item_chars", "_inputs", "_pending", "_spoken", "_continues"):
            setattr(twin, name, copy.copy(getattr(self, name)))
        twin._buffer, twin._events, twin._commands = bytearray(), [], []
        twin._new_id = lambda prefix: f"{prefix}_preview"  # a caller's id sequence must not move
        twin._speech_stopped(int(self._vad_ms))
        jobs = [c for c in twin._commands if isinstance(c, Transcribe)]
        if len(jobs) != 1:
            return None
        twin.transcribed(jobs[0].job, transcript)
        generate = next((c for c in twin._commands if isinstance(c, Generate)), None)
        response = twin._response
        if generate is None or response is None:
            return None
        return Preview(generate, response.voice, response.speed, "audio" in response.modalities)

    def _maybe_generate(self) -> None:
        """Start the active response's generation, once no user item in the conversation awaits its words (a
        response given its own ``input`` does not wait)."""
        response = self._response
        if response is None or response.request is None:
            return  # no response, or its generation started
        request = response.request
        if response.waiting:
            if any(owner in self.items for owner, _index in self._pending.values()):
                return  # the reply needs the user's words
            history = resumed_history([copy.deepcopy(i) for i in self.items.values()], self._continues)
            request = dataclasses.replace(request, history=history)
            response.input_audio_ms = sum(ms for item_id, ms in self._inputs.items() if item_id in self.items)
        response.request = None
        self._count_input(response, request.history)
        self._run(Generate(response.id, request))

    @staticmethod
    def _count_input(response: _Response, history: Sequence[Json]) -> None:
        for item in history:
            for part in item.get("content") or []:
                if isinstance(part, dict):
                    response.input_chars += len(part.get("text") or part.get("transcript") or "")

    def _active(self, response_id: str) -> _Response | None:
        response = self._response
        return response if response is not None and response.id == response_id and not self._closed else None

    def reply_sentence(self, response_id: str, sentence: str) -> None:
        """The reply of ``response_id`` goes on with ``sentence`` (whole, stripped); spoken after what came
        before it."""
        response = self._active(response_id)
        if response is None or not sentence:
            return
        response.queue.append(sentence)
        self._pump(response)

    def reply_function_call(self, response_id: str, call: FunctionCall) -> None:
        """The reply of ``response_id`` calls a tool; it becomes a ``function_call`` output item (several calls
        in one reply: several items, each with its own ``output_index`` and ``call_id``)."""
        response = self._active(response_id)
        if response is None:
            return
        response.queue.append(call)
        self._pump(response)

    def reply_done(self, response_id: str) -> None:
        """The reply of ``response_id`` is complete; the response ends once its speech is."""
        response = self._active(response_id)
        if response is None:
            return
        response.generated = True
        self._pump(response)

    def reply_failed(self, response_id: str, message: str, code: str = "reply_failed") -> None:
        """The reply generator failed: the response ends with status ``failed``."""
        response = self._active(response_id)
        if response is None:
            return
        details = {"type": "failed", "error": {"type": "server_error", "code": code, "message": message[:300]}}
        self._finish(response, "failed", details)

    def speech_audio(self, response_id: str, item_id: str, pcm: bytes) -> None:
        """Audio (PCM16 24 kHz, a delta's worth) of the sentence being spoken in ``item_id``."""
        response = self._active(response_id)
        message = response.message if response else None
        if response is None or message is None or message.item["id"] != item_id or response.speaking is None:
            return
        response.speaking.ms += len(pcm) / BYTES_PER_MS
        response.audio_ms_out += len(pcm) / BYTES_PER_MS
        self._emit(
            ResponseOutputAudioDelta(
                type="response.output_audio.delta", **self._part_ids(response, message),
                delta=base64.b64encode(pcm).decode(),
            )
        )  # fmt: skip

    def speech_done(self, response_id: str, item_id: str) -> None:
        """The sentence being spoken in ``item_id`` is complete."""
        response = self._active(response_id)
        message = response.message if response else None
        if response is None or message is None or message.item["id"] != item_id or response.speaking is None:
            return
        speaking, response.speaking = response.speaking, None
        message.spoken.sentences.append((speaking.sentence, speaking.start_ms, speaking.ms))
        self._pump(response)

    def speech_failed(self, response_id: str, message: str) -> None:
        """The synthesizer failed: the response ends with status ``failed``."""
        response = self._active(response_id)
        if response is None:
            return
        details = {"type": "failed", "error": {"type": "server_error", "code": "server_error",
                                               "message": message[:300]}}  # fmt: skip
        self._finish(response, "failed", details)

    def _pump(self, response: _Response) -> None:
        """Move the response on: emit queued sentences and calls in order, one sentence spoken at a time."""
        while response.speaking is None and response.queue:
            part = response.queue.popleft()
            if isinstance(part, FunctionCall):
                self._close_message(response, "completed")
                self._function_call(response, part)
            else:
                self._say(response, part)
        if response.speaking is None and not response.queue and response.generated:
            self._close_message(response, "completed")
            self._finish(response, "completed", None)

    def _cancel_response(self, reason: str) -> None:
        response = self._response
        if response is not None:
            self._finish(response, "cancelled", {"type": "cancelled", "reason": reason})

    def _finish(self, response: _Response, status: str, details: Json | None) -> None:
        """End the response: stop its work, close its open item, ``response.done`` and ``rate_limits.updated``.

        There is no tokenizer here, so usage is an estimate: a text token per 4 characters, an audio token per
        100 ms of input and per 50 ms of output (the rough rates of the hosted models); the local engine has no
        rate limits, and the figures it reports never run out."""
        if status != "completed":
            self._run(Cancel(response.id))
        if response.speaking is not None and response.message is not None:
            speaking = response.speaking
            response.message.spoken.sentences.append((speaking.sentence, speaking.start_ms, speaking.ms))
            response.speaking = None
        self._close_message(response, "incomplete")
        response.queue.clear()
        self._response = None
        text_in = response.input_chars // 4 + 1
        audio_in = int(response.input_audio_ms / 100)
        text_out = response.text_chars_out // 4
        audio_out = int(response.audio_ms_out / 50)
        usage = {
            "total_tokens": text_in + audio_in + text_out + audio_out,
            "input_tokens": text_in + audio_in,
            "output_tokens": text_out + audio_out,
            "input_token_details": {
                "text_tokens": text_in,
                "audio_tokens": audio_in,
                "cached_tokens": 0,
                "cached_tokens_details": {"text_tokens": 0, "audio_tokens": 0},
            },
            "output_token_details": {"text_tokens": text_out, "audio_tokens": audio_out},
        }
        self._emit(
            ResponseDone(
                type="response.done",
                response=ResponseObject.model_validate(
                    {
                        "id": response.id,
                        "object": "realtime.response",
                        "status": status,
                        "status_details": details,
                        "output": copy.deepcopy(response.output),
                        "output_modalities": response.modalities,
                        "conversation_id": "auto" if response.in_conversation else None,
                        "usage": usage,
                    }
                ),
            )
        )
        self._emit(
            RateLimitsUpdated(
                type="rate_limits.updated",
                rate_limits=[
                    {"name": "requests", "limit": 10_000, "remaining": 9_999, "reset_seconds": 0.006},
                    {"name": "tokens", "limit": 1_000_000, "remaining": 1_000_000, "reset_seconds": 0.0},
                ],
            )
        )


def _or(value: Any, default: Any) -> Any:
    return default if value is None else value
