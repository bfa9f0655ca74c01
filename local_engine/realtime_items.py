"""The Realtime front end's conversation items and its rendering of assistant output (a base class of
:class:`local_engine.realtime_front.EngineState`, no I/O).

The conversation is an ordered store of GA items (OpenAI Realtime API reference, "Conversation item") capped at
:attr:`~local_engine.core.Limits.max_items` items and :attr:`~local_engine.core.Limits.max_conversation_chars`
characters; an assistant message or function call streams as ``response.output_item.added``, content part,
transcript/text deltas, ``response.output_item.done`` (and ``conversation.item.added`` / ``.done``).
"""

from __future__ import annotations

import copy
from collections import OrderedDict, deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from local_engine.core import Cancel, ClientError, Command, Json, Limits, Speak, check_length, new_id
from local_engine.stages import FunctionCall, ReplyRequest
from realtime.protocol import (
    ContentPart,
    ConversationItem,
    ConversationItemAdded,
    ConversationItemDone,
    ErrorDetail,
    ErrorEvent,
    ResponseContentPartAdded,
    ResponseContentPartDone,
    ResponseFunctionCallArgumentsDelta,
    ResponseFunctionCallArgumentsDone,
    ResponseOutputAudioDone,
    ResponseOutputAudioTranscriptDelta,
    ResponseOutputAudioTranscriptDone,
    ResponseOutputItemAdded,
    ResponseOutputItemDone,
    ResponseOutputTextDelta,
    ResponseOutputTextDone,
    ServerEvent,
)

__all__ = ["RealtimeItems"]


@dataclass
class _Spoken:
    """What an assistant audio item said: each sentence with the ms of audio where it starts and ends."""

    sentences: list[tuple[str, float, float]] = field(default_factory=list)

    @property
    def audio_ms(self) -> float:
        return self.sentences[-1][2] if self.sentences else 0.0


@dataclass
class _Message:
    """An assistant message item being streamed."""

    item: Json
    index: int
    audio: bool
    text: str = ""
    spoken: _Spoken = field(default_factory=_Spoken)


@dataclass
class _Speaking:
    """The sentence being synthesised: where its audio starts, and how far it got."""

    sentence: str
    start_ms: float
    ms: float


@dataclass
class _Response:
    id: str
    modalities: list[str]
    in_conversation: bool
    request: ReplyRequest | None  # until generation starts
    voice: str | None
    speed: float = 1.0
    output: list[Json] = field(default_factory=list)
    queue: deque[str | FunctionCall] = field(default_factory=deque)
    message: _Message | None = None
    speaking: _Speaking | None = None
    waiting: bool = True  # for the user's words in the conversation
    generated: bool = False
    call_ids: set[str] = field(default_factory=set)
    text_chars_out: int = 0
    audio_ms_out: float = 0.0
    input_chars: int = 0
    input_audio_ms: float = 0.0


class RealtimeItems:
    """The conversation store, the output lists and the assistant output rendering of a Realtime session."""

    def __init__(self, *, limits: Limits | None = None, new_id: Callable[[str], str] = new_id) -> None:
        self.limits = limits or Limits()
        self._new_id = new_id
        self.items: OrderedDict[str, Json] = OrderedDict()
        self._item_chars: dict[str, int] = {}
        self._conversation_chars = 0
        self._inputs: dict[str, float] = {}  # user audio item -> ms of audio it holds
        self._pending: dict[str, tuple[str, int]] = {}  # transcription job -> (item id, content index)
        self._spoken: dict[str, _Spoken] = {}
        self._events: list[ServerEvent] = []
        self._commands: list[Command] = []
        self._closed = False

    def _maybe_generate(self) -> None:
        """Start the active response's generation once it may (the front end decides)."""

    def _emit(self, event: ServerEvent) -> None:
        if self._closed:
            return
        event.event_id = self._new_id("event")
        self._events.append(event)

    def _run(self, command: Command) -> None:
        if not self._closed:
            self._commands.append(command)

    def _error(self, exc: ClientError, event_id: str | None) -> None:
        detail = ErrorDetail(type=exc.kind, code=exc.code, message=str(exc), param=exc.param, event_id=event_id)
        self._emit(ErrorEvent(type="error", error=detail))

    def _item_events(self, item: Json, previous: str | None, *, done: bool) -> None:
        model = ConversationItem.model_validate(copy.deepcopy(item))
        self._emit(ConversationItemAdded(type="conversation.item.added", previous_item_id=previous, item=model))
        if done:
            self._emit(ConversationItemDone(type="conversation.item.done", previous_item_id=previous, item=model))

    def _add_item(self, item: Json, previous_item_id: str | None, *, root: bool = False) -> None:
        """Insert ``item`` after ``previous_item_id`` (at the end when it is the last or ``None``; first when
        ``root``), then forget the oldest other items past the caps."""
        if root and self.items:
            self.items[item["id"]] = item
            self.items.move_to_end(item["id"], last=False)
        elif previous_item_id is None or previous_item_id == next(reversed(self.items), None):
            self.items[item["id"]] = item
        else:
            rebuilt: OrderedDict[str, Json] = OrderedDict()
            for key, value in self.items.items():
                rebuilt[key] = value
                if key == previous_item_id:
                    rebuilt[item["id"]] = item
            self.items = rebuilt
        self._recount(item["id"])
        while len(self.items) > 1 and (
            len(self.items) > self.limits.max_items or self._conversation_chars > self.limits.max_conversation_chars
        ):
            oldest = next(key for key in self.items if key != item["id"])
            self._forget_item(oldest)

    def _recount(self, item_id: str) -> None:
        size = _chars(self.items[item_id])
        self._conversation_chars += size - self._item_chars.get(item_id, 0)
        self._item_chars[item_id] = size

    def _forget_item(self, item_id: str) -> None:
        """Remove an item and what the session kept beside it (its transcriptions, its spoken sentences)."""
        del self.items[item_id]
        self._conversation_chars -= self._item_chars.pop(item_id, 0)
        self._inputs.pop(item_id, None)
        self._spoken.pop(item_id, None)
        for job, (owner, _index) in list(self._pending.items()):
            if owner == item_id:
                del self._pending[job]
                self._run(Cancel(job))
        self._maybe_generate()

    def _check_text(self, value: object, param: str) -> None:
        check_length(value, str, self.limits.max_text_chars, param)

    def _output_item(self, response: _Response, item: Json) -> tuple[int, str | None]:
        """Add ``item`` to the response's output (and the conversation); returns its output index and the id of
        the item before it in the conversation."""
        previous = next(reversed(self.items), None)
        response.output.append(item)
        if response.in_conversation:
            self._add_item(item, previous)
        return len(response.output) - 1, previous

    @staticmethod
    def _part_ids(response: _Response, message: _Message) -> dict[str, Any]:
        return {"response_id": response.id, "item_id": message.item["id"], "output_index": message.index,
                "content_index": 0}  # fmt: skip

    def _open_message(self, response: _Response) -> _Message:
        audio = "audio" in response.modalities
        item: Json = {
            "id": self._new_id("item"),
            "object": "realtime.item",
            "type": "message",
            "role": "assistant",
            "status": "in_progress",
            "content": [],
        }
        index, previous = self._output_item(response, item)
        message = _Message(item, index, audio)
        response.message = message
        if audio and response.in_conversation:  # only a conversation item can be truncated
            self._spoken[item["id"]] = message.spoken
        model = ConversationItem.model_validate(copy.deepcopy(item))
        self._emit(ResponseOutputItemAdded(type="response.output_item.added", response_id=response.id,
                                           output_index=index, item=model))  # fmt: skip
        if response.in_conversation:
            self._emit(ConversationItemAdded(type="conversation.item.added", previous_item_id=previous, item=model))
        part = ContentPart(type="audio", transcript="") if audio else ContentPart(type="text", text="")
        item["content"].append(
            {"type": "output_audio", "transcript": ""} if audio else {"type": "output_text", "text": ""}
        )
        self._emit(ResponseContentPartAdded(type="response.content_part.added", **self._part_ids(response, message),
                                            part=part))  # fmt: skip
        return message

    def _say(self, response: _Response, sentence: str) -> None:
        """Stream one sentence: its transcript (or text) delta, then (audio) a :class:`Speak` for it."""
        message = response.message or self._open_message(response)
        ids = self._part_ids(response, message)
        text = sentence if not message.text else " " + sentence
        message.text += text
        response.text_chars_out += len(text)
        if not message.audio:
            message.item["content"][0]["text"] = message.text
            self._emit(ResponseOutputTextDelta(type="response.output_text.delta", **ids, delta=text))
            return
        message.item["content"][0]["transcript"] = message.text
        self._emit(ResponseOutputAudioTranscriptDelta(type="response.output_audio_transcript.delta", **ids,
                                                      delta=text))  # fmt: skip
        start = message.spoken.audio_ms
        response.speaking = _Speaking(sentence, start, start)
        self._run(Speak(response.id, message.item["id"], sentence, response.voice, response.speed))

    def _close_message(self, response: _Response, status: str) -> None:
        message, response.message = response.message, None
        if message is None:
            return
        ids = self._part_ids(response, message)
        if message.audio:
            self._emit(ResponseOutputAudioDone(type="response.output_audio.done", **ids))
            self._emit(ResponseOutputAudioTranscriptDone(type="response.output_audio_transcript.done", **ids,
                                                         transcript=message.text))  # fmt: skip
            part = ContentPart(type="audio", transcript=message.text)
        else:
            self._emit(ResponseOutputTextDone(type="response.output_text.done", **ids, text=message.text))
            part = ContentPart(type="text", text=message.text)
        self._emit(ResponseContentPartDone(type="response.content_part.done", **ids, part=part))
        message.item["status"] = status
        if message.item["id"] in self.items:
            self._recount(message.item["id"])
        model = ConversationItem.model_validate(copy.deepcopy(message.item))
        self._emit(ResponseOutputItemDone(type="response.output_item.done", response_id=response.id,
                                          output_index=message.index, item=model))  # fmt: skip
        if response.in_conversation:
            previous = self._previous_of(message.item["id"])
            self._emit(ConversationItemDone(type="conversation.item.done", previous_item_id=previous, item=model))

    def _previous_of(self, item_id: str) -> str | None:
        previous = None
        for key in self.items:
            if key == item_id:
                return previous
            previous = key
        return None

    def _function_call(self, response: _Response, call: FunctionCall) -> None:
        call_id = call.call_id if call.call_id and call.call_id not in response.call_ids else self._new_id("call")
        response.call_ids.add(call_id)
        arguments = call.arguments[: self.limits.max_text_chars]
        item: Json = {
            "id": self._new_id("item"),
            "object": "realtime.item",
            "type": "function_call",
            "status": "in_progress",
            "name": call.name,
            "call_id": call_id,
            "arguments": "",
        }
        index, previous = self._output_item(response, item)
        added = ConversationItem.model_validate(copy.deepcopy(item))
        self._emit(ResponseOutputItemAdded(type="response.output_item.added", response_id=response.id,
                                           output_index=index, item=added))  # fmt: skip
        if response.in_conversation:
            self._emit(ConversationItemAdded(type="conversation.item.added", previous_item_id=previous, item=added))
        ids: dict[str, Any] = {"response_id": response.id, "output_index": index, "item_id": item["id"],
                               "call_id": call_id}  # fmt: skip
        self._emit(ResponseFunctionCallArgumentsDelta(type="response.function_call_arguments.delta", **ids,
                                                      delta=arguments))  # fmt: skip
        item["arguments"] = arguments
        response.text_chars_out += len(arguments) + len(call.name)
        self._emit(ResponseFunctionCallArgumentsDone(type="response.function_call_arguments.done", **ids,
                                                     name=call.name, arguments=arguments))  # fmt: skip
        item["status"] = "completed"
        if item["id"] in self.items:
            self._recount(item["id"])
        done = ConversationItem.model_validate(copy.deepcopy(item))
        self._emit(ResponseOutputItemDone(type="response.output_item.done", response_id=response.id,
                                          output_index=index, item=done))  # fmt: skip
        if response.in_conversation:
            self._emit(ConversationItemDone(type="conversation.item.done", previous_item_id=previous, item=done))


def _chars(item: Mapping[str, Any]) -> int:
    """Characters of text an item holds (its texts, transcripts, arguments and output)."""
    size = len(str(item.get("arguments") or "")) + len(str(item.get("output") or ""))
    for part in item.get("content") or []:
        if isinstance(part, dict):
            size += len(str(part.get("text") or "")) + len(str(part.get("transcript") or ""))
    return size
