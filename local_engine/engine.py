"""One Realtime session of the local engine: the protocol's state over VAD, ASR, a reply generator and TTS.

:class:`EngineSession` is fed GA client events (dicts) by the transport (``local_engine.server``) and sends GA
server events through the ``send`` callable it was given; the transport maps the preview dialect at the edge.
It keeps what the service keeps (OpenAI Realtime API reference, "Client events" and "Server events"):

- the session configuration (``session.created`` / ``session.updated`` echo all of it);
- the input audio buffer (``input_audio_buffer.append`` / ``commit`` / ``clear``) with ``server_vad`` turn
  detection: ``speech_started`` / ``speech_stopped`` carry ``audio_start_ms`` / ``audio_end_ms`` in ms of all
  audio appended in the session, and the speech is committed as a user item;
- the conversation (``conversation.item.create`` / ``delete`` / ``truncate``), capped at :data:`MAX_ITEMS`;
- responses (``response.create`` / ``cancel``), one active at a time: text from the reply generator, spoken
  sentence by sentence; function calls as ``function_call`` items;
- errors with the service's codes for bad client events; none of them ends the session.

Audio is PCM16 little-endian mono at 24000 Hz (48 bytes per ms), base64 in JSON.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import copy
import logging
import re
import secrets
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

from pydantic import ValidationError

from local_engine.stages import (
    FunctionCall,
    ReplyError,
    ReplyGenerator,
    ReplyRequest,
    Synthesizer,
    TextPiece,
    Transcriber,
    VadSpeechStarted,
    VadStream,
)
from realtime.protocol import BYTES_PER_MS, MAX_APPEND_BYTES, SAMPLE_RATE, ProtocolError, parse_client_event

__all__ = ["MAX_BUFFER_MS", "MAX_ITEMS", "EngineSession", "EngineStages", "default_session"]

log = logging.getLogger(__name__)

Json = dict[str, Any]
Send = Callable[[Json], Awaitable[None]]

MAX_ITEMS = 200
"""Conversation items kept per session; older ones are forgotten (the reply generator sees the rest)."""
MAX_BUFFER_MS = 10 * 60 * 1000
"""Input audio kept uncommitted at most (10 min); older audio is dropped, so memory stays bounded."""
IDLE_KEEP_MS = 2000
"""With server VAD and no speech in progress, only this much recent audio is kept (for ``prefix_padding_ms``)."""
MIN_COMMIT_MS = 100
"""``input_audio_buffer.commit`` needs at least this much audio (error ``input_audio_buffer_commit_empty``)."""
AUDIO_DELTA_MS = 100
"""Audio deltas are cut into pieces of at most this many ms."""

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n+")


def _new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(10)}"


def default_session(model: str) -> Json:
    """The GA session object a new connection starts with (OpenAI's documented defaults)."""
    return {
        "type": "realtime",
        "object": "realtime.session",
        "id": _new_id("sess"),
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


class ClientError(Exception):
    """A client event the session refuses; becomes an ``error`` event (``type``/``code``/``message``/``param``)."""

    def __init__(
        self, message: str, code: str = "invalid_value", param: str | None = None, kind: str = "invalid_request_error"
    ) -> None:
        super().__init__(message)
        self.code, self.param, self.kind = code, param, kind


@dataclass
class EngineStages:
    """The models a session uses, shared by all sessions of a process. ``vad`` makes one stream per session
    from ``(threshold, prefix_padding_ms, silence_duration_ms)``."""

    vad: Callable[[float, int, int], VadStream]
    transcriber: Transcriber
    synthesizer: Synthesizer
    replies: ReplyGenerator


@dataclass
class _Input:
    """A user audio item's recognised words: resolved once speech recognition finished."""

    transcript: asyncio.Future[str]
    audio_ms: float = 0.0


@dataclass
class _Spoken:
    """What an assistant audio item said: each sentence with the ms of audio where it starts and ends."""

    sentences: list[tuple[str, float, float]] = field(default_factory=list)

    @property
    def audio_ms(self) -> float:
        return self.sentences[-1][2] if self.sentences else 0.0


@dataclass
class _Response:
    id: str
    task: asyncio.Task[None] | None = None
    output: list[Json] = field(default_factory=list)
    status: str = "in_progress"
    status_details: Json | None = None
    in_conversation: bool = True
    modalities: list[str] = field(default_factory=lambda: ["audio"])
    text_chars_out: int = 0
    audio_ms_out: float = 0.0
    input_chars: int = 0
    input_audio_ms: float = 0.0


class EngineSession:
    """The state of one connection. ``send`` writes a GA server event (it must not raise on a closed peer)."""

    def __init__(self, stages: EngineStages, send: Send, *, model: str = "gpt-realtime") -> None:
        self._stages = stages
        self._send = send
        self.session = default_session(model)
        self.items: OrderedDict[str, Json] = OrderedDict()
        self._inputs: dict[str, _Input] = {}
        self._spoken: dict[str, _Spoken] = {}
        self._buffer = bytearray()
        self._buffer_start_ms = 0.0  # stream time of the buffer's first byte
        self._vad: VadStream | None = None
        self._speech_item: str | None = None
        self._speech_start_ms: int | None = None
        self._response: _Response | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._closed = False
        self._configure_vad()

    # ------------------------------------------------------------------------------------------ lifecycle

    async def open(self) -> None:
        await self._emit({"type": "session.created", "session": copy.deepcopy(self.session)})

    async def close(self) -> None:
        """Stop everything this session started (its response, transcriptions)."""
        self._closed = True
        tasks = list(self._tasks)
        if self._response and self._response.task:
            tasks.append(self._response.task)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(BaseException):
                await task

    async def _emit(self, event: Json) -> None:
        if self._closed and event.get("type") not in ("error",):
            return
        event.setdefault("event_id", _new_id("event"))
        await self._send(event)

    async def _error(self, exc: ClientError, event_id: str | None) -> None:
        await self._emit(
            {
                "type": "error",
                "error": {
                    "type": exc.kind,
                    "code": exc.code,
                    "message": str(exc),
                    "param": exc.param,
                    "event_id": event_id,
                },
            }
        )

    def _spawn(self, coro: Awaitable[Any]) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # ------------------------------------------------------------------------------------------ dispatch

    async def handle(self, data: Json | str | bytes) -> None:
        """Handle one client event (a decoded GA dict, or a raw frame). Never raises for bad input: it answers
        with an ``error`` event and the session goes on."""
        event_id = data.get("event_id") if isinstance(data, dict) else None
        try:
            try:
                event = parse_client_event(data)
            except ProtocolError as exc:
                code = "invalid_json" if str(exc).startswith("frame is not valid JSON") else "invalid_value"
                raise ClientError(str(exc), code, "type") from None
            except ValidationError as exc:
                first = exc.errors()[0]
                param = ".".join(str(p) for p in first["loc"])
                code = "missing_required_parameter" if first["type"] == "missing" else "invalid_value"
                raise ClientError(f"Invalid '{param}': {first['msg']}", code, param) from None
            event_id = event.event_id
            handler = self._handlers.get(event.type)
            if handler is None:
                raise ClientError(
                    f"Invalid value: '{event.type[:80]}'. Supported values are: {', '.join(self._handlers)}.",
                    "invalid_value",
                    "type",
                )
            await handler(self, event.to_wire())
        except ClientError as exc:
            await self._error(exc, event_id)
        except Exception as exc:  # a bug of ours must not end the user's conversation
            log.exception("client event failed")
            await self._error(ClientError(f"The server failed on this event ({type(exc).__name__}).",
                                          "server_error", kind="server_error"), event_id)  # fmt: skip

    # ------------------------------------------------------------------------------------------ session

    async def _session_update(self, event: Json) -> None:
        update = event.get("session") or {}
        if update.get("type") not in (None, "realtime"):
            raise ClientError("The local engine serves realtime sessions only.", "invalid_value", "session.type")
        merged = copy.deepcopy(self.session)
        for key, value in update.items():
            if key in ("id", "object", "type"):
                continue
            if key == "audio" and isinstance(value, dict):
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
        previous = self.session
        self.session = merged
        try:
            self._configure_vad()
        except ValueError as exc:
            self.session = previous
            self._configure_vad()
            raise ClientError(
                f"Invalid turn_detection: {exc}", "invalid_value", "session.audio.input.turn_detection"
            ) from None
        await self._emit({"type": "session.updated", "session": copy.deepcopy(self.session)})

    def _turn_detection(self) -> Json | None:
        turn = self.session["audio"]["input"].get("turn_detection")
        return turn if isinstance(turn, dict) else None

    def _configure_vad(self) -> None:
        turn = self._turn_detection()
        if turn is None:
            self._vad = None
            return
        if turn.get("type") == "semantic_vad":
            # No semantic model here: eagerness maps to how long a pause ends the turn.
            silence = {"low": 1200, "medium": 700, "high": 350}.get(turn.get("eagerness") or "auto", 700)
            threshold, padding = 0.5, 300
        else:
            silence = int(turn.get("silence_duration_ms") or 500)
            threshold = float(_or(turn.get("threshold"), 0.5))
            padding = int(_or(turn.get("prefix_padding_ms"), 300))
        self._vad = self._stages.vad(threshold, padding, silence)
        self._speech_item = None
        self._speech_start_ms = None

    # ------------------------------------------------------------------------------------------ input audio

    @property
    def _stream_ms(self) -> float:
        return self._buffer_start_ms + len(self._buffer) / BYTES_PER_MS

    async def _append(self, event: Json) -> None:
        try:
            pcm = base64.b64decode(event.get("audio") or "", validate=True)
        except (binascii.Error, ValueError):
            raise ClientError("Invalid 'audio': not base64.", "invalid_value", "audio") from None
        if len(pcm) > MAX_APPEND_BYTES:
            raise ClientError("Invalid 'audio': more than 15 MiB in one append.", "invalid_value", "audio")
        if len(pcm) % 2:
            raise ClientError(
                "Invalid 'audio': PCM16 needs an even number of bytes (2 per sample).", "invalid_value", "audio"
            )
        self._buffer += pcm
        if self._vad is not None:
            for boundary in self._vad.feed(pcm):
                if isinstance(boundary, VadSpeechStarted):
                    await self._speech_started(boundary.audio_start_ms)
                else:
                    await self._speech_stopped(boundary.audio_end_ms)
            if self._speech_item is None:
                self._drop_before(self._stream_ms - IDLE_KEEP_MS)
        if len(self._buffer) > MAX_BUFFER_MS * BYTES_PER_MS:
            self._drop_before(self._stream_ms - MAX_BUFFER_MS)

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

    async def _speech_started(self, audio_start_ms: int) -> None:
        self._speech_item = _new_id("item")
        self._speech_start_ms = audio_start_ms
        await self._emit(
            {
                "type": "input_audio_buffer.speech_started",
                "audio_start_ms": audio_start_ms,
                "item_id": self._speech_item,
            }
        )
        turn = self._turn_detection() or {}
        if turn.get("interrupt_response", True) and self._response is not None:
            await self._cancel_response("turn_detected")

    async def _speech_stopped(self, audio_end_ms: int) -> None:
        item_id = self._speech_item or _new_id("item")
        start = self._speech_start_ms if self._speech_start_ms is not None else self._buffer_start_ms
        self._speech_item, self._speech_start_ms = None, None
        await self._emit(
            {"type": "input_audio_buffer.speech_stopped", "audio_end_ms": audio_end_ms, "item_id": item_id}
        )
        await self._commit_audio(self._take(start, audio_end_ms), item_id)
        turn = self._turn_detection() or {}
        if turn.get("create_response", True):
            await self._start_response({})

    async def _commit(self, event: Json) -> None:
        have_ms = len(self._buffer) / BYTES_PER_MS
        if have_ms < MIN_COMMIT_MS:
            raise ClientError(
                f"Error committing input audio buffer: buffer too small. Expected at least {MIN_COMMIT_MS}ms of "
                f"audio, but buffer only has {have_ms:.2f}ms of audio.",
                "input_audio_buffer_commit_empty",
            )
        item_id = self._speech_item or _new_id("item")
        self._forget_speech()
        await self._commit_audio(self._take(self._buffer_start_ms, self._stream_ms), item_id)

    async def _clear(self, event: Json) -> None:
        self._drop_before(self._stream_ms)
        self._forget_speech()
        await self._emit({"type": "input_audio_buffer.cleared"})

    def _forget_speech(self) -> None:
        """The buffer was committed or cleared by the client: any speech the VAD was following is gone."""
        self._speech_item, self._speech_start_ms = None, None
        if self._vad is not None:
            self._vad.reset()

    async def _commit_audio(self, pcm: bytes, item_id: str) -> None:
        """Make ``pcm`` a user audio item and start recognising it."""
        previous = next(reversed(self.items), None)
        await self._emit({"type": "input_audio_buffer.committed", "previous_item_id": previous, "item_id": item_id})
        item = {
            "id": item_id,
            "object": "realtime.item",
            "type": "message",
            "role": "user",
            "status": "completed",
            "content": [{"type": "input_audio", "transcript": None}],
        }
        self._add_item(item, previous)
        await self._emit({"type": "conversation.item.added", "previous_item_id": previous, "item": copy.deepcopy(item)})
        await self._emit({"type": "conversation.item.done", "previous_item_id": previous, "item": copy.deepcopy(item)})
        self._start_transcription(item_id, pcm)

    def _start_transcription(self, item_id: str, pcm: bytes) -> None:
        """Recognise a user audio item's words off the event loop; responses wait for them."""
        self._inputs[item_id] = _Input(asyncio.get_running_loop().create_future(), len(pcm) / BYTES_PER_MS)
        self._spawn(self._transcribe(item_id, pcm))

    async def _transcribe(self, item_id: str, pcm: bytes) -> None:
        pending = self._inputs[item_id].transcript
        transcription = self.session["audio"]["input"].get("transcription")
        try:
            text = await self._stages.transcriber.transcribe(
                pcm,
                language=(transcription or {}).get("language"),
                prompt=(transcription or {}).get("prompt"),
            )
        except asyncio.CancelledError:
            pending.cancel()
            raise
        except Exception as exc:
            log.exception("speech recognition failed")
            pending.set_result("")
            if transcription:
                await self._emit(
                    {
                        "type": "conversation.item.input_audio_transcription.failed",
                        "item_id": item_id,
                        "content_index": 0,
                        "error": {"type": "server_error", "code": "transcription_failed", "message": str(exc)[:200]},
                    }
                )
            return
        item = self.items.get(item_id)
        if item is not None:
            item["content"][0]["transcript"] = text
        pending.set_result(text)
        if transcription:
            if text:
                await self._emit(
                    {
                        "type": "conversation.item.input_audio_transcription.delta",
                        "item_id": item_id,
                        "content_index": 0,
                        "delta": text,
                    }
                )
            await self._emit(
                {
                    "type": "conversation.item.input_audio_transcription.completed",
                    "item_id": item_id,
                    "content_index": 0,
                    "transcript": text,
                    "usage": {"type": "duration", "seconds": round(len(pcm) / BYTES_PER_MS / 1000, 3)},
                }
            )

    # ------------------------------------------------------------------------------------------ conversation

    def _add_item(self, item: Json, previous_item_id: str | None) -> None:
        if previous_item_id is None or previous_item_id == next(reversed(self.items), None):
            self.items[item["id"]] = item
        else:
            rebuilt: OrderedDict[str, Json] = OrderedDict()
            for key, value in self.items.items():
                rebuilt[key] = value
                if key == previous_item_id:
                    rebuilt[item["id"]] = item
            self.items = rebuilt
        while len(self.items) > MAX_ITEMS:
            self._forget_item(next(iter(self.items)))

    def _forget_item(self, item_id: str) -> None:
        """Remove an item and what the session kept beside it (its transcript future, its spoken sentences)."""
        del self.items[item_id]
        self._inputs.pop(item_id, None)
        self._spoken.pop(item_id, None)

    async def _item_create(self, event: Json) -> None:
        item = copy.deepcopy(event.get("item") or {})
        previous = event.get("previous_item_id")
        if previous is not None and previous != "root" and previous not in self.items:
            raise ClientError(f"Previous item with id '{previous}' not found.", "item_not_found", "previous_item_id")
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
        elif kind == "function_call":
            if not item.get("name") or not isinstance(item.get("arguments", ""), str):
                raise ClientError(
                    "A function_call needs 'name' and 'arguments'.", "missing_required_parameter", "item.name"
                )
            item.setdefault("arguments", "")
        else:
            raise ClientError(f"Invalid 'item.type': '{kind}'.", "invalid_value", "item.type")
        item["id"] = item.get("id") or _new_id("item")
        if item["id"] in self.items:
            raise ClientError(f"Item with id '{item['id']}' already exists.", "item_already_exists", "item.id")
        item["type"] = kind
        item["object"] = "realtime.item"
        item["status"] = "completed"
        for part in item.get("content") or []:
            if part.get("type") == "input_audio" and part.get("audio"):
                try:
                    pcm = base64.b64decode(part.pop("audio"), validate=True)
                except (binascii.Error, ValueError):
                    raise ClientError("Invalid 'audio': not base64.", "invalid_value", "item.content.audio") from None
                self._start_transcription(item["id"], pcm)
        if previous == "root":
            previous = None
            self.items = OrderedDict([(item["id"], item), *self.items.items()])
        else:
            previous = previous or next(reversed(self.items), None)
            self._add_item(item, previous)
        await self._emit({"type": "conversation.item.added", "previous_item_id": previous, "item": copy.deepcopy(item)})
        await self._emit({"type": "conversation.item.done", "previous_item_id": previous, "item": copy.deepcopy(item)})

    async def _item_delete(self, event: Json) -> None:
        item_id = str(event.get("item_id"))
        if item_id not in self.items:
            raise ClientError(f"Item with item_id '{item_id}' not found.", "item_not_found", "item_id")
        self._forget_item(item_id)
        await self._emit({"type": "conversation.item.deleted", "item_id": item_id})

    async def _item_truncate(self, event: Json) -> None:
        item_id, audio_end_ms = event.get("item_id"), int(event.get("audio_end_ms", 0))
        item = self.items.get(item_id or "")
        spoken = self._spoken.get(item_id or "")
        if item is None:
            raise ClientError(f"Item with item_id '{item_id}' not found.", "item_not_found", "item_id")
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
        await self._emit(
            {
                "type": "conversation.item.truncated",
                "item_id": item_id,
                "content_index": 0,
                "audio_end_ms": audio_end_ms,
            }
        )

    # ------------------------------------------------------------------------------------------ responses

    async def _response_create(self, event: Json) -> None:
        if self._response is not None:
            raise ClientError(
                f"Conversation already has an active response in progress: {self._response.id}. Wait until the "
                "response is finished before creating a new one.",
                "conversation_already_has_active_response",
            )
        await self._start_response(event.get("response") or {})

    async def _response_cancel(self, event: Json) -> None:
        wanted = event.get("response_id")
        if self._response is None or (wanted and wanted != self._response.id):
            raise ClientError("Cancellation failed: no active response found", "response_cancel_not_active")
        await self._cancel_response("client_cancelled")

    async def _cancel_response(self, reason: str) -> None:
        response = self._response
        if response is None or response.task is None:
            return
        response.status = "cancelled"
        response.status_details = {"type": "cancelled", "reason": reason}
        response.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await response.task

    async def _start_response(self, params: Json) -> None:
        if self._response is not None:  # server VAD turn while a response runs without interrupt_response
            return
        modalities = params.get("output_modalities") or self.session.get("output_modalities") or ["audio"]
        response = _Response(
            _new_id("resp"),
            in_conversation=params.get("conversation") != "none",
            modalities=list(modalities),
        )
        self._response = response
        await self._emit(
            {
                "type": "response.created",
                "response": {
                    "id": response.id,
                    "object": "realtime.response",
                    "status": "in_progress",
                    "status_details": None,
                    "output": [],
                    "output_modalities": response.modalities,
                    "conversation_id": "auto" if response.in_conversation else None,
                    "usage": None,
                },
            }
        )
        response.task = asyncio.ensure_future(self._run_response(response, params))

    async def _request_for(self, response: _Response, params: Json) -> ReplyRequest:
        if isinstance(params.get("input"), list):
            history = [copy.deepcopy(i) for i in params["input"] if isinstance(i, dict)]
        else:
            for item_id, pending in list(self._inputs.items()):
                if item_id in self.items and not pending.transcript.done():
                    try:
                        await asyncio.shield(pending.transcript)  # the reply needs the user's words
                    except asyncio.CancelledError:
                        if not pending.transcript.cancelled():
                            raise  # this response was cancelled while it waited
            history = [copy.deepcopy(i) for i in self.items.values()]
        for item in history:
            for part in item.get("content") or []:
                response.input_chars += len(part.get("text") or part.get("transcript") or "")
        response.input_audio_ms = sum(self._inputs[i].audio_ms for i in self._inputs if i in self.items)
        return ReplyRequest(
            instructions=str(params.get("instructions") or self.session.get("instructions") or ""),
            history=history,
            tools=list(_or(params.get("tools"), self.session.get("tools")) or []),
            tool_choice=params.get("tool_choice") or self.session.get("tool_choice") or "auto",
        )

    async def _run_response(self, response: _Response, params: Json) -> None:
        message: _Message | None = None
        try:
            request = await self._request_for(response, params)
            pending = ""
            replies: AsyncIterator[Any] = self._stages.replies.generate(request)
            try:
                async for part in replies:
                    if isinstance(part, TextPiece):
                        if message is None:
                            message = await self._open_message(response)
                        pending += part.text
                        *sentences, pending = _split_sentences(pending)
                        for sentence in sentences:
                            await self._say(response, message, sentence)
                    elif isinstance(part, FunctionCall):
                        if message is not None:
                            if pending.strip():
                                await self._say(response, message, pending.strip())
                            pending = ""
                            await self._close_message(response, message, "completed")
                            message = None
                        await self._function_call(response, part)
            finally:
                await _close_stage(replies)
            if pending.strip():
                if message is None:
                    message = await self._open_message(response)
                await self._say(response, message, pending.strip())
            if message is not None:
                await self._close_message(response, message, "completed")
                message = None
            response.status = "completed"
        except asyncio.CancelledError:
            response.status = "cancelled"
            response.status_details = response.status_details or {"type": "cancelled", "reason": "client_cancelled"}
        except ReplyError as exc:
            response.status = "failed"
            response.status_details = {"type": "failed", "error": {"type": "server_error", "code": "reply_failed",
                                                                   "message": str(exc)[:300]}}  # fmt: skip
        except Exception as exc:
            log.exception("response %s failed", response.id)
            response.status = "failed"
            response.status_details = {"type": "failed", "error": {"type": "server_error", "code": "server_error",
                                                                   "message": f"{type(exc).__name__}"}}  # fmt: skip
        finally:
            if message is not None:
                with contextlib.suppress(Exception):
                    await self._close_message(response, message, "incomplete")
            self._response = None
            await self._finish(response)

    async def _finish(self, response: _Response) -> None:
        """``response.done`` and ``rate_limits.updated``. There is no tokenizer here, so usage is an estimate: a
        text token per 4 characters, an audio token per 100 ms of input and per 50 ms of output (the rough rates
        of the hosted models); the local engine has no rate limits, and the figures it reports never run out."""
        text_in = response.input_chars // 4 + 1
        audio_in = int(response.input_audio_ms / 100)
        text_out = response.text_chars_out // 4
        audio_out = int(response.audio_ms_out / 50)
        await self._emit(
            {
                "type": "response.done",
                "response": {
                    "id": response.id,
                    "object": "realtime.response",
                    "status": response.status,
                    "status_details": response.status_details,
                    "output": copy.deepcopy(response.output),
                    "output_modalities": response.modalities,
                    "conversation_id": "auto" if response.in_conversation else None,
                    "usage": {
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
                    },
                },
            }
        )
        await self._emit(
            {
                "type": "rate_limits.updated",
                "rate_limits": [
                    {"name": "requests", "limit": 10_000, "remaining": 9_999, "reset_seconds": 0.006},
                    {"name": "tokens", "limit": 1_000_000, "remaining": 1_000_000, "reset_seconds": 0.0},
                ],
            }
        )

    def _output_item(self, response: _Response, item: Json) -> tuple[int, str | None]:
        """Add ``item`` to the response's output (and the conversation); returns its output index and the id of
        the item before it in the conversation."""
        previous = next(reversed(self.items), None)
        response.output.append(item)
        if response.in_conversation:
            self._add_item(item, previous)
        return len(response.output) - 1, previous

    async def _open_message(self, response: _Response) -> _Message:
        audio = "audio" in response.modalities
        item: Json = {
            "id": _new_id("item"),
            "object": "realtime.item",
            "type": "message",
            "role": "assistant",
            "status": "in_progress",
            "content": [],
        }
        index, previous = self._output_item(response, item)
        message = _Message(item, index, audio)
        if audio:
            self._spoken[item["id"]] = message.spoken
        base = {"response_id": response.id, "output_index": index}
        await self._emit({"type": "response.output_item.added", **base, "item": copy.deepcopy(item)})
        await self._emit({"type": "conversation.item.added", "previous_item_id": previous, "item": copy.deepcopy(item)})
        part = {"type": "audio", "transcript": ""} if audio else {"type": "text", "text": ""}
        item["content"].append(
            {"type": "output_audio", "transcript": ""} if audio else {"type": "output_text", "text": ""}
        )
        await self._emit(
            {"type": "response.content_part.added", **base, "item_id": item["id"], "content_index": 0, "part": part}
        )
        return message

    async def _say(self, response: _Response, message: _Message, sentence: str) -> None:
        """Stream one sentence: its transcript (or text) delta, then its audio."""
        ids = {"response_id": response.id, "item_id": message.item["id"], "output_index": message.index,
               "content_index": 0}  # fmt: skip
        text = sentence if not message.text else " " + sentence
        message.text += text
        response.text_chars_out += len(text)
        if not message.audio:
            message.item["content"][0]["text"] = message.text
            await self._emit({"type": "response.output_text.delta", **ids, "delta": text})
            return
        message.item["content"][0]["transcript"] = message.text
        await self._emit({"type": "response.output_audio_transcript.delta", **ids, "delta": text})
        start_ms = message.spoken.audio_ms
        voice = self.session["audio"]["output"].get("voice")
        speech = self._stages.synthesizer.synthesize(sentence, voice=voice)
        carry = b""
        step = AUDIO_DELTA_MS * BYTES_PER_MS
        ms = start_ms
        try:
            async for pcm in speech:
                carry += pcm
                while len(carry) >= step:
                    piece, carry = carry[:step], carry[step:]
                    ms += len(piece) / BYTES_PER_MS
                    await self._audio_delta(ids, piece)
            if carry:
                ms += len(carry) / BYTES_PER_MS
                await self._audio_delta(ids, carry)
        finally:
            await _close_stage(speech)
            message.spoken.sentences.append((sentence, start_ms, ms))
            response.audio_ms_out += ms - start_ms

    async def _audio_delta(self, ids: Json, pcm: bytes) -> None:
        await self._emit({"type": "response.output_audio.delta", **ids, "delta": base64.b64encode(pcm).decode()})

    async def _close_message(self, response: _Response, message: _Message, status: str) -> None:
        if message.closed:
            return
        message.closed = True
        ids = {"response_id": response.id, "item_id": message.item["id"], "output_index": message.index,
               "content_index": 0}  # fmt: skip
        if message.audio:
            await self._emit({"type": "response.output_audio.done", **ids})
            await self._emit({"type": "response.output_audio_transcript.done", **ids, "transcript": message.text})
            part = {"type": "audio", "transcript": message.text}
        else:
            await self._emit({"type": "response.output_text.done", **ids, "text": message.text})
            part = {"type": "text", "text": message.text}
        await self._emit({"type": "response.content_part.done", **ids, "part": part})
        message.item["status"] = status
        base = {"response_id": response.id, "output_index": message.index}
        await self._emit({"type": "response.output_item.done", **base, "item": copy.deepcopy(message.item)})
        if response.in_conversation:
            previous = self._previous_of(message.item["id"])
            await self._emit(
                {"type": "conversation.item.done", "previous_item_id": previous, "item": copy.deepcopy(message.item)}
            )

    def _previous_of(self, item_id: str) -> str | None:
        previous = None
        for key in self.items:
            if key == item_id:
                return previous
            previous = key
        return None

    async def _function_call(self, response: _Response, call: FunctionCall) -> None:
        item = {
            "id": _new_id("item"),
            "object": "realtime.item",
            "type": "function_call",
            "status": "in_progress",
            "name": call.name,
            "call_id": call.call_id or _new_id("call"),
            "arguments": "",
        }
        index, previous = self._output_item(response, item)
        base = {"response_id": response.id, "output_index": index}
        await self._emit({"type": "response.output_item.added", **base, "item": copy.deepcopy(item)})
        await self._emit({"type": "conversation.item.added", "previous_item_id": previous, "item": copy.deepcopy(item)})
        ids = {**base, "item_id": item["id"], "call_id": item["call_id"]}
        await self._emit({"type": "response.function_call_arguments.delta", **ids, "delta": call.arguments})
        item["arguments"] = call.arguments
        response.text_chars_out += len(call.arguments) + len(call.name)
        await self._emit(
            {"type": "response.function_call_arguments.done", **ids, "name": call.name, "arguments": call.arguments}
        )
        item["status"] = "completed"
        await self._emit({"type": "response.output_item.done", **base, "item": copy.deepcopy(item)})
        await self._emit({"type": "conversation.item.done", "previous_item_id": previous, "item": copy.deepcopy(item)})

    _handlers: ClassVar[dict[str, Callable[[EngineSession, Json], Awaitable[None]]]] = {
        "session.update": _session_update,
        "input_audio_buffer.append": _append,
        "input_audio_buffer.commit": _commit,
        "input_audio_buffer.clear": _clear,
        "conversation.item.create": _item_create,
        "conversation.item.delete": _item_delete,
        "conversation.item.truncate": _item_truncate,
        "response.create": _response_create,
        "response.cancel": _response_cancel,
    }


@dataclass
class _Message:
    """An assistant message item being streamed."""

    item: Json
    index: int
    audio: bool
    text: str = ""
    closed: bool = False
    spoken: _Spoken = field(default_factory=_Spoken)


async def _close_stage(stream: AsyncIterator[Any]) -> None:
    """Stop a stage's stream that was left early (cancel, barge-in, error): generators free their model work."""
    close = getattr(stream, "aclose", None)
    if close is not None:
        with contextlib.suppress(Exception):
            await close()


def _or(value: Any, default: Any) -> Any:
    return default if value is None else value


def _split_sentences(text: str) -> list[str]:
    """``"One. Two! Thr"`` -> ``["One.", "Two!", "Thr"]``: complete sentences, then the unfinished rest."""
    parts = _SENTENCE_END.split(text)
    return [p.strip() for p in parts[:-1] if p.strip()] + [parts[-1]]
