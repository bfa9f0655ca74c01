"""The local engine's Realtime protocol state (:class:`local_engine.realtime_front.EngineState`) driven as a
script: client events and stage results in, server events and commands out. No event loop, no polling, no
sleeps: each test plays the stages itself (the VAD is ``tests.engine.fakes.EnergyVad``, run at once on each
``FeedVad``)."""

from __future__ import annotations

import base64
import itertools
import json
import logging
from typing import Any, TypeVar

import pytest
from openai.types.realtime import SessionUpdatedEvent

from local_engine.core import (
    Cancel,
    Command,
    ConfigureVad,
    FeedVad,
    Generate,
    Limits,
    ResetVad,
    Speak,
    Transcribe,
)
from local_engine.realtime_front import EngineState
from local_engine.stages import FunctionCall, VadSpeechStarted, VadSpeechStopped
from tests.engine.fakes import EnergyVad, silence, tone

C = TypeVar("C", bound=Command)

TIME_TOOL = {"type": "function", "name": "get_current_time", "description": "The time now.",
             "parameters": {"type": "object", "properties": {"timezone": {"type": "string"}}}}  # fmt: skip
PUSH_TO_TALK = {"type": "session.update", "session": {"type": "realtime", "audio": {"input": {"turn_detection": None}}}}


class Script:
    """One session's state with the VAD played at once; every other command is kept for the test to answer."""

    def __init__(self, **limits: Any) -> None:
        counter = itertools.count(1)
        self.state = EngineState(limits=Limits(**limits), new_id=lambda prefix: f"{prefix}_{next(counter)}")
        self.vad: EnergyVad | None = None
        self.vad_start_ms = 0
        self.events: list[dict[str, Any]] = []
        self.commands: list[Command] = []
        self.state.open()
        self.pump()

    def pump(self) -> None:
        while True:
            self.events += [event.to_wire() for event in self.state.events_to_send()]
            commands = self.state.commands_to_run()
            if not commands:
                return
            for command in commands:
                if isinstance(command, ConfigureVad):
                    p = command.params
                    self.vad = None if p is None else EnergyVad(p.threshold, p.prefix_padding_ms, p.silence_duration_ms)
                    self.vad_start_ms = command.start_ms
                elif isinstance(command, FeedVad):
                    assert self.vad is not None
                    found = [  # in session time: the stream counts from its start
                        VadSpeechStarted(b.audio_start_ms + self.vad_start_ms)
                        if isinstance(b, VadSpeechStarted)
                        else VadSpeechStopped(b.audio_end_ms + self.vad_start_ms)
                        for b in self.vad.feed(command.pcm)
                    ]
                    self.state.vad_result(command.generation, command.end_ms, found)
                elif isinstance(command, ResetVad):
                    assert self.vad is not None
                    self.vad.reset()
                else:
                    self.commands.append(command)

    def send(self, event: dict[str, Any] | str) -> None:
        self.state.receive(event)
        self.pump()

    def append(self, pcm: bytes, chunk: int = 8192) -> None:
        for i in range(0, len(pcm), chunk):
            self.send({"type": "input_audio_buffer.append", "audio": base64.b64encode(pcm[i : i + chunk]).decode()})

    def take(self, kind: type[C]) -> list[C]:
        """The commands of ``kind`` produced so far (removed from :attr:`commands`)."""
        taken: list[C] = [c for c in self.commands if isinstance(c, kind)]
        self.commands = [c for c in self.commands if not isinstance(c, kind)]
        return taken

    def one(self, kind: type[C]) -> C:
        [command] = self.take(kind)
        return command

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["type"] == kind]

    def types(self) -> list[str]:
        return [e["type"] for e in self.events]

    def errors(self) -> list[dict[str, Any]]:
        return [e["error"] for e in self.of("error")]

    def speak_all(self, ms_per_char: int = 20) -> None:
        """Answer every pending :class:`Speak` with ``ms_per_char`` of audio per character, in 100 ms deltas."""
        while speaks := self.take(Speak):
            for speak in speaks:
                pcm = tone(ms_per_char * len(speak.text))
                for i in range(0, len(pcm), 4800):
                    self.state.speech_audio(speak.job, speak.item_id, pcm[i : i + 4800])
                self.state.speech_done(speak.job, speak.item_id)
                self.pump()

    def reply(self, job: str, *parts: str | FunctionCall, done: bool = True) -> None:
        for part in parts:
            if isinstance(part, FunctionCall):
                self.state.reply_function_call(job, part)
            else:
                self.state.reply_sentence(job, part)
            self.pump()
        if done:
            self.state.reply_done(job)
            self.pump()


def user_text(text: str, **extra: Any) -> dict[str, Any]:
    return {"type": "conversation.item.create", **extra,
            "item": {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}}  # fmt: skip


def test_session_created_and_updated_echo_the_whole_configuration() -> None:
    s = Script()
    created = s.of("session.created")[0]["session"]
    assert created["type"] == "realtime" and created["audio"]["input"]["turn_detection"]["type"] == "server_vad"
    audio = {"output": {"voice": "marin"}, "input": {"turn_detection": None}}
    session = {"type": "realtime", "instructions": "Be brief.", "tools": [TIME_TOOL], "audio": audio}
    s.send({"type": "session.update", "event_id": "e1", "session": session})
    updated = s.of("session.updated")[0]["session"]
    assert updated["instructions"] == "Be brief." and updated["tools"] == [TIME_TOOL]
    assert updated["audio"]["output"]["voice"] == "marin" and updated["audio"]["output"]["format"]["rate"] == 24000
    assert updated["audio"]["input"]["turn_detection"] is None and s.vad is None


@pytest.mark.parametrize(
    ("session", "param", "code"),
    [
        ({"audio": {"input": {"format": {"type": "audio/pcm", "rate": 16000}}}}, "session.audio.input.format",
         "invalid_value"),
        ({"audio": {"output": {"format": {"type": "audio/pcmu"}}}}, "session.audio.output.format", "invalid_value"),
        ({"output_modalities": ["audio", "text"]}, "output_modalities", "invalid_value"),
        ({"audio": {"input": {"turn_detection": {"type": "server_vad", "threshold": 3}}}},
         "session.audio.input.turn_detection.threshold", "decimal_above_max_value"),
        ({"audio": None}, "session.audio", "invalid_type"),
        ({"instructions": "x" * 5_000_000}, "session.instructions", "string_above_max_length"),
        ({"tools": [TIME_TOOL] * 129}, "session.tools", "array_above_max_length"),
        ({"tools": [TIME_TOOL, {**TIME_TOOL, "name": "n" * 65}]}, "session.tools[1].name", "string_above_max_length"),
    ],
)  # fmt: skip
def test_a_bad_session_update_is_refused_and_the_session_keeps_its_configuration(
    session: dict[str, Any], param: str, code: str, caplog: pytest.LogCaptureFixture
) -> None:
    s = Script()
    before = json.dumps(s.state.session, sort_keys=True)
    with caplog.at_level(logging.WARNING):
        s.send({"type": "session.update", "event_id": "bad", "session": {"type": "realtime", **session}})
    [error] = s.errors()
    assert (error["param"], error["code"], error["type"]) == (param, code, "invalid_request_error")
    assert error["event_id"] == "bad" and len(error["message"]) < 400
    assert s.of("session.updated") == [] and not caplog.records  # no traceback, nothing echoed
    assert json.dumps(s.state.session, sort_keys=True) == before
    s.send(user_text("still there?"))
    s.send({"type": "response.create"})
    assert s.one(Generate).request.history[-1]["content"][0]["text"] == "still there?"


def test_typed_turn_streams_text_then_its_audio_sentence_by_sentence_and_reports_usage() -> None:
    s = Script()
    s.send(user_text("Hello!"))
    s.send({"type": "response.create"})
    generate = s.one(Generate)
    assert generate.request.history[0]["content"][0]["text"] == "Hello!"
    s.reply(generate.job, "Hi there.", "How can I help?")
    first = s.one(Speak)  # one sentence at a time: the second waits for the first's audio
    assert first.text == "Hi there." and s.commands == []
    assert [d["delta"] for d in s.of("response.output_audio_transcript.delta")] == ["Hi there."]
    s.commands.append(first)
    s.speak_all()
    assert [d["delta"] for d in s.of("response.output_audio_transcript.delta")] == ["Hi there.", " How can I help?"]
    [done] = [e["response"] for e in s.of("response.done")]
    assert done["status"] == "completed"
    audio = b"".join(base64.b64decode(d["delta"]) for d in s.of("response.output_audio.delta"))
    assert len(audio) == len("Hi there.How can I help?") * 20 * 48
    [message] = done["output"]
    assert message["content"][0] == {"type": "output_audio", "transcript": "Hi there. How can I help?"}
    assert done["usage"]["output_tokens"] > 0 and done["usage"]["input_tokens"] > 0
    order = ["response.created", "response.output_item.added", "response.content_part.added",
             "response.output_audio.delta", "response.output_audio.done", "response.content_part.done",
             "response.output_item.done", "response.done", "rate_limits.updated"]  # fmt: skip
    firsts = [s.types().index(kind) for kind in order]
    assert firsts == sorted(firsts)


def test_text_only_response_streams_text_deltas_and_speaks_nothing() -> None:
    s = Script()
    s.send(user_text("Hello!"))
    s.send({"type": "response.create", "response": {"output_modalities": ["text"]}})
    s.reply(s.one(Generate).job, "Hi there.", "How can I help?")
    assert s.take(Speak) == []
    assert "".join(d["delta"] for d in s.of("response.output_text.delta")) == "Hi there. How can I help?"
    [done] = [e["response"] for e in s.of("response.done")]
    assert done["output"][0]["content"][0] == {"type": "output_text", "text": "Hi there. How can I help?"}


def test_one_response_at_a_time_and_cancel_ends_it_at_once() -> None:
    s = Script()
    s.send(user_text("Talk."))
    s.send({"type": "response.create"})
    s.send({"type": "response.create", "event_id": "second"})
    [error] = s.errors()
    assert error["code"] == "conversation_already_has_active_response" and error["event_id"] == "second"
    job = s.one(Generate).job
    s.reply(job, "Sentence one.", "Sentence two.", done=False)
    speak = s.one(Speak)
    s.state.speech_audio(job, speak.item_id, tone(100))
    s.send({"type": "response.cancel"})
    assert s.one(Cancel).job == job
    [done] = [e["response"] for e in s.of("response.done")]
    assert done["status"] == "cancelled" and done["status_details"]["reason"] == "client_cancelled"
    assert done["output"][0]["status"] == "incomplete"
    assert done["output"][0]["content"][0]["transcript"] == "Sentence one."  # the unspoken sentence is not in it
    count = len(s.events)
    s.state.speech_audio(job, speak.item_id, tone(100))  # late results of the cancelled response are ignored
    s.state.speech_done(job, speak.item_id)
    s.reply(job, "Sentence three.")
    assert len(s.events) == count
    s.send({"type": "response.cancel", "event_id": "late"})
    assert s.errors()[-1]["code"] == "response_cancel_not_active"
    s.send({"type": "response.create"})
    assert len(s.of("response.created")) == 2 and s.take(Generate)


def test_a_cancel_before_the_reply_starts_leaves_no_active_response() -> None:
    """``response.create`` and ``response.cancel`` back to back, before any stage ran: each response ends with
    one ``response.done`` and the next ``response.create`` is accepted (30 of 30)."""
    s = Script()
    s.send(user_text("Hi"))
    for _ in range(30):
        s.send({"type": "response.create"})
        s.send({"type": "response.cancel"})
    assert len(s.of("response.done")) == 30 and s.errors() == []
    assert all(e["response"]["status"] == "cancelled" for e in s.of("response.done"))
    assert s.state.response_id is None


def test_two_turns_in_one_append_cancel_the_first_response_and_answer_the_second() -> None:
    """Audio sent faster than real time: speech start and stop (twice) land in one append."""
    s = Script()
    s.append(silence(500) + tone(600) + silence(700) + tone(600) + silence(700), chunk=10**9)
    assert s.types().count("input_audio_buffer.speech_started") == 2
    first, second = (e["response"] for e in s.of("response.created"))
    [done] = [e["response"] for e in s.of("response.done")]
    assert done["id"] == first["id"] and done["status"] == "cancelled"
    assert done["status_details"]["reason"] == "turn_detected"
    assert s.state.response_id == second["id"] and s.errors() == []
    for transcribe in s.take(Transcribe):
        s.state.transcribed(transcribe.job, "hello")
    s.pump()
    generate = s.one(Generate)
    assert generate.job == second["id"]
    s.reply(generate.job, "Hello.")
    s.speak_all()
    assert [e["response"]["status"] for e in s.of("response.done")] == ["cancelled", "completed"]


def test_several_function_calls_in_one_response_each_get_an_item_index_and_call_id() -> None:
    s = Script()
    s.send({"type": "session.update", "session": {"type": "realtime", "tools": [TIME_TOOL]}})
    s.send(user_text("What time is it in Tokyo and in Paris, and what is 12 times 7?"))
    s.send({"type": "response.create"})
    calls = [
        FunctionCall("get_current_time", '{"timezone": "Asia/Tokyo"}', "call_a"),
        FunctionCall("get_current_time", '{"timezone": "Europe/Paris"}', ""),
        FunctionCall("calculate", '{"expression": "12 * 7"}', "call_a"),  # a repeated id is made unique
    ]
    s.reply(s.one(Generate).job, "Let me check.", *calls, done=False)
    s.speak_all()
    s.state.reply_done(s.state.response_id or "")
    s.pump()
    [done] = [e["response"] for e in s.of("response.done")]
    assert [o["type"] for o in done["output"]] == ["message", "function_call", "function_call", "function_call"]
    added = [e for e in s.of("response.output_item.added") if e["item"]["type"] == "function_call"]
    assert [e["output_index"] for e in added] == [1, 2, 3]
    args = s.of("response.function_call_arguments.done")
    call_ids = [a["call_id"] for a in args]
    assert call_ids[0] == "call_a" and len(set(call_ids)) == 3 and all(call_ids)
    assert [a["output_index"] for a in args] == [1, 2, 3]
    assert [o["call_id"] for o in done["output"][1:]] == call_ids
    assert [json.loads(a["arguments"]) for a in args][1] == {"timezone": "Europe/Paris"}
    message_done = s.types().index("response.output_item.done")
    assert message_done < s.types().index("response.function_call_arguments.delta")  # the message closed first


def test_a_reply_failure_fails_the_response_not_the_session() -> None:
    s = Script()
    s.send(user_text("Hello"))
    s.send({"type": "response.create"})
    job = s.one(Generate).job
    s.reply(job, "Starting.", done=False)
    s.state.reply_failed(job, "endpoint 127.0.0.1:9 refused the connection")
    s.pump()
    [done] = [e["response"] for e in s.of("response.done")]
    assert done["status"] == "failed" and "refused" in done["status_details"]["error"]["message"]
    assert done["output"][0]["status"] == "incomplete" and s.one(Cancel).job == job


def test_server_vad_turn_commits_transcribes_and_answers_once_the_words_are_known() -> None:
    s = Script()
    s.send({"type": "session.update", "session": {"type": "realtime",
            "audio": {"input": {"transcription": {"model": "whisper-1", "language": "en"}}}}})  # fmt: skip
    s.append(silence(1000) + tone(800) + silence(700))
    started = s.of("input_audio_buffer.speech_started")[0]
    stopped = s.of("input_audio_buffer.speech_stopped")[0]
    assert started["audio_start_ms"] == 1000 - 300 and stopped["audio_end_ms"] == 1800 + 500
    assert started["item_id"] == stopped["item_id"] == s.of("input_audio_buffer.committed")[0]["item_id"]
    transcribe = s.one(Transcribe)
    assert len(transcribe.pcm) == (2300 - 700) * 48 and transcribe.language == "en"
    assert s.of("response.created") and s.take(Generate) == []  # the reply waits for the user's words
    s.state.transcribed(transcribe.job, "what is the weather like today", 1600)
    s.pump()
    completed = s.of("conversation.item.input_audio_transcription.completed")[0]
    assert completed["transcript"] == "what is the weather like today" and completed["item_id"] == started["item_id"]
    assert s.one(Generate).request.history[0]["content"][0]["transcript"] == "what is the weather like today"


def test_preview_reply_foresees_the_turns_reply_and_changes_nothing() -> None:
    s = Script()
    s.send(user_text("Earlier words."))
    s.send({"type": "session.update", "session": {"type": "realtime", "instructions": "Be brief.",
            "audio": {"output": {"voice": "cedar", "speed": 1.25}}}})  # fmt: skip
    assert s.state.preview_reply("anything") is None  # no speech in progress
    s.append(silence(500) + tone(800) + silence(200))  # in the pause: the 500 ms of silence are not over
    assert s.of("input_audio_buffer.speech_started") and not s.of("input_audio_buffer.speech_stopped")
    before = (json.dumps(list(s.state.items.values())), s.state.tracked(), len(s.events))

    preview = s.state.preview_reply("what time is it")

    assert preview is not None
    assert (preview.voice, preview.speed, preview.audio) == ("cedar", 1.25, True)
    assert (json.dumps(list(s.state.items.values())), s.state.tracked(), len(s.events)) == before
    assert s.state.events_to_send() == [] and s.state.commands_to_run() == []
    s.append(silence(400))  # the turn ends; its words are what the preview was told
    s.state.transcribed(s.one(Transcribe).job, "what time is it")
    s.pump()
    assert s.one(Generate).request == preview.generate.request
    assert preview.generate.request.history[-1]["content"][0]["transcript"] == "what time is it"


def test_speech_during_a_reply_cancels_it_and_truncate_trims_the_item() -> None:
    s = Script()
    s.append(tone(500) + silence(600))
    s.state.transcribed(s.one(Transcribe).job, "tell me a story")
    s.pump()
    job = s.one(Generate).job
    s.reply(job, *(f"This is sentence number {i}." for i in range(5)), done=False)
    for _ in range(2):
        speak = s.one(Speak)
        s.state.speech_audio(job, speak.item_id, tone(1000))
        s.state.speech_done(job, speak.item_id)
        s.pump()
    speak = s.one(Speak)
    s.state.speech_audio(job, speak.item_id, tone(400))  # the third sentence is cut 400 ms in
    s.append(tone(300))
    [done] = [e["response"] for e in s.of("response.done")]
    assert done["status"] == "cancelled" and done["status_details"]["reason"] == "turn_detected"
    s.send({"type": "conversation.item.truncate", "item_id": speak.item_id, "content_index": 0,
            "audio_end_ms": 2400 + 500, "event_id": "too_far"})  # fmt: skip
    assert s.errors()[-1]["event_id"] == "too_far" and "already shorter" in s.errors()[-1]["message"]
    s.send({"type": "conversation.item.truncate", "item_id": speak.item_id, "content_index": 0, "audio_end_ms": 1500})
    assert s.of("conversation.item.truncated")[0]["audio_end_ms"] == 1500
    transcript = s.state.items[speak.item_id]["content"][0]["transcript"]
    assert transcript == "This is sentence number 0. This is"  # half of the second sentence's five words


def test_manual_commit_and_clear() -> None:
    s = Script()
    s.send(PUSH_TO_TALK)
    s.append(tone(50))
    s.send({"type": "input_audio_buffer.commit", "event_id": "short"})
    assert s.errors()[-1]["code"] == "input_audio_buffer_commit_empty"
    s.append(tone(500))
    s.send({"type": "input_audio_buffer.commit"})
    committed = s.of("input_audio_buffer.committed")[0]
    assert s.of("conversation.item.added")[0]["item"]["id"] == committed["item_id"]
    assert len(s.one(Transcribe).pcm) == 550 * 48
    assert s.of("response.created") == []  # without turn detection the client asks for the response
    s.append(tone(500))
    s.send({"type": "input_audio_buffer.clear"})
    assert s.of("input_audio_buffer.cleared") and s.state.buffered_bytes == 0
    s.send({"type": "input_audio_buffer.commit"})
    assert s.errors()[-1]["code"] == "input_audio_buffer_commit_empty"


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ("{not json", "invalid_json"),
        ('["a list"]', "invalid_value"),
        ({"type": "no.such.event", "event_id": "x"}, "invalid_value"),
        ({"type": "conversation.item.truncate", "item_id": "i"}, "missing_required_parameter"),
        ({"type": "input_audio_buffer.append", "audio": "***"}, "invalid_value"),
        ({"type": "input_audio_buffer.append", "audio": base64.b64encode(b"abc").decode()}, "invalid_value"),
        ({"type": "conversation.item.delete", "item_id": "nope"}, "item_not_found"),
        ({"type": "conversation.item.create", "item": {"type": "message", "role": "robot", "content": []}},
         "invalid_value"),
        ({"type": "conversation.item.create", "item": {"type": "function_call_output"}}, "missing_required_parameter"),
        ({"type": "conversation.item.create", "item": {"type": "message", "role": "user", "content": [
            {"type": "input_audio", "audio": base64.b64encode(b"odd").decode()}]}}, "invalid_value"),
        (user_text("x" * 300_000), "string_above_max_length"),
        ({"type": "conversation.item.create", "item": {"type": "function_call_output", "call_id": "c",
                                                       "output": "y" * 300_000}}, "string_above_max_length"),
        ({"type": "response.create", "response": {"instructions": "z" * 100_000}}, "string_above_max_length"),
        ({**user_text("hi"), "previous_item_id": "p" * 1_000_000}, "item_not_found"),
        ({"type": "conversation.item.create", "item": {"id": "i" * 1000, "type": "message", "role": "user",
                                                       "content": [{"type": "input_text", "text": "hi"}]}},
         "string_above_max_length"),
        ({"type": "no.such.event", "event_id": "e" * 1_000_000}, "invalid_value"),
    ],
)  # fmt: skip
def test_bad_client_events_get_an_error_at_once_and_the_session_goes_on(frame: Any, code: str) -> None:
    s = Script()
    s.send(frame)
    [error] = s.errors()
    assert error["code"] == code and error["type"] == "invalid_request_error" and error["message"]
    assert len(json.dumps(error)) < 1000  # nothing big is echoed
    if isinstance(frame, dict) and frame.get("event_id"):
        assert error["event_id"] == frame["event_id"][:256]
    assert s.state.items == {} and s.commands == [] and s.state.response_id is None
    s.send(user_text("Hello"))
    s.send({"type": "response.create"})
    assert s.one(Generate)


def test_items_are_placed_deleted_and_capped_wherever_they_are_inserted() -> None:
    s = Script(max_items=20)
    s.send(user_text("one"))
    first = s.of("conversation.item.added")[0]["item"]["id"]
    s.send(user_text("three"))
    s.send(user_text("two", previous_item_id=first))
    s.send(user_text("zero", previous_item_id="root"))
    assert [i["content"][0]["text"] for i in s.state.items.values()] == ["zero", "one", "two", "three"]
    s.send({"type": "conversation.item.delete", "item_id": first})
    assert s.of("conversation.item.deleted")[0]["item_id"] == first and len(s.state.items) == 3
    for i in range(30):
        s.send(user_text(f"message {i}"))
    assert len(s.state.items) == 20
    for i in range(5):
        s.send(user_text(f"early {i}", previous_item_id="root"))
        assert len(s.state.items) == 20
    assert next(iter(s.state.items.values()))["content"][0]["text"] == "early 4"
    assert s.state.tracked()["item_chars"] == 20


def test_the_conversation_keeps_a_bounded_amount_of_text() -> None:
    s = Script(max_conversation_chars=10_000)
    for i in range(30):
        s.send(user_text(f"{i:03d}" + "x" * 997))
    assert len(s.state.items) == 10 and s.errors() == []


def test_an_audio_part_s_transcript_goes_to_that_part() -> None:
    s = Script()
    s.send({"type": "session.update", "session": {"type": "realtime",
            "audio": {"input": {"transcription": {"model": "whisper-1"}}}}})  # fmt: skip
    audio = base64.b64encode(tone(500)).decode()
    content = [{"type": "input_text", "text": "Listen to this:"}, {"type": "input_audio", "audio": audio}]
    s.send({"type": "conversation.item.create", "item": {"type": "message", "role": "user", "content": content}})
    transcribe = s.one(Transcribe)
    assert transcribe.content_index == 1 and len(transcribe.pcm) == 500 * 48
    s.state.transcribed(transcribe.job, "a bird sings")
    s.pump()
    [item] = s.state.items.values()
    assert item["content"][0] == {"type": "input_text", "text": "Listen to this:"}
    assert item["content"][1] == {"type": "input_audio", "transcript": "a bird sings"}
    assert s.of("conversation.item.input_audio_transcription.completed")[0]["content_index"] == 1


def test_a_quarter_hour_of_input_audio_keeps_the_buffer_bounded() -> None:
    s = Script()
    minute = silence(60_000)
    for _ in range(15):
        s.append(minute, chunk=len(minute))
    assert s.state.buffered_bytes <= 2000 * 48
    s.send(PUSH_TO_TALK)
    for _ in range(15):
        s.append(minute, chunk=len(minute))
    assert s.state.buffered_bytes == 10 * 60_000 * 48


def test_work_per_turn_is_bounded_a_minute_long_commit_is_transcribed_up_to_30_s() -> None:
    s = Script()
    s.send(PUSH_TO_TALK)
    s.append(tone(60_000), chunk=len(tone(60_000)))
    s.send({"type": "input_audio_buffer.commit"})
    assert len(s.one(Transcribe).pcm) == 30_000 * 48


def test_a_response_waiting_for_the_user_s_words_can_be_cancelled() -> None:
    s = Script()
    s.send(PUSH_TO_TALK)
    s.append(tone(500))
    s.send({"type": "input_audio_buffer.commit"})
    transcribe = s.one(Transcribe)
    s.send({"type": "response.create"})
    s.send({"type": "response.cancel"})
    [done] = [e["response"] for e in s.of("response.done")]
    assert done["status"] == "cancelled" and done["output"] == []
    s.state.transcribed(transcribe.job, "slow words")
    s.pump()
    assert s.take(Generate) == []  # the cancelled response never starts


def test_deleting_an_item_whose_words_are_awaited_lets_the_response_go_on() -> None:
    s = Script()
    s.send(PUSH_TO_TALK)
    s.append(tone(500))
    s.send({"type": "input_audio_buffer.commit"})
    item_id = s.of("input_audio_buffer.committed")[0]["item_id"]
    transcribe = s.one(Transcribe)
    s.send({"type": "response.create"})
    s.send({"type": "conversation.item.delete", "item_id": item_id})
    assert s.one(Cancel).job == transcribe.job and s.one(Generate).request.history == []
    assert s.state.tracked()["pending"] == 0 and s.state.tracked()["inputs"] == 0


def test_close_cancels_all_work_and_says_nothing_more() -> None:
    s = Script()
    s.send(PUSH_TO_TALK)
    s.append(tone(500))
    s.send({"type": "input_audio_buffer.commit"})
    transcribe = s.one(Transcribe)
    s.send(user_text("Talk"))
    s.send({"type": "response.create", "response": {"input": []}})
    job = s.one(Generate).job
    s.state.close()
    s.pump()
    assert {c.job for c in s.take(Cancel)} == {job, transcribe.job}
    count = len(s.events)
    s.reply(job, "Word.")
    s.send(user_text("more"))
    assert len(s.events) == count


def test_turns_after_a_session_update_are_timed_in_the_session_s_audio() -> None:
    """A new VAD stream (``session.update``) counts from its own start; events count from the session's."""
    s = Script()
    s.append(silence(5000))
    s.send({"type": "session.update", "session": {"type": "realtime", "audio": {"input": {"turn_detection": {
        "type": "server_vad", "silence_duration_ms": 400, "prefix_padding_ms": 200}}}}})  # fmt: skip
    s.append(silence(1000) + tone(800) + silence(600))
    started = s.of("input_audio_buffer.speech_started")[0]
    stopped = s.of("input_audio_buffer.speech_stopped")[0]
    assert (started["audio_start_ms"], stopped["audio_end_ms"]) == (6000 - 200, 6800 + 400)
    assert len(s.one(Transcribe).pcm) == (7200 - 5800) * 48


def test_an_out_of_band_response_keeps_nothing_in_the_session() -> None:
    s = Script()
    for _ in range(20):
        s.send({"type": "response.create", "response": {"conversation": "none", "input": []}})
        s.reply(s.one(Generate).job, "Side note.")
        s.speak_all()
    assert len(s.of("response.done")) == 20 and s.state.items == {}
    assert s.state.tracked()["spoken"] == 0


def test_transcriptions_in_progress_per_session_are_bounded() -> None:
    s = Script(max_pending_transcriptions=3)
    s.send({"type": "session.update", "session": {"type": "realtime", "audio": {"input": {
        "turn_detection": None, "transcription": {"model": "whisper-1"}}}}})  # fmt: skip
    for _ in range(5):
        s.append(tone(200))
        s.send({"type": "input_audio_buffer.commit"})
    assert len(s.take(Transcribe)) == 3 and s.state.tracked()["pending"] == 3
    failed = s.of("conversation.item.input_audio_transcription.failed")
    assert len(failed) == 2 and "Too many" in failed[0]["error"]["message"]
    assert len(s.state.items) == 5  # the items are kept, without words


@pytest.mark.parametrize("model", ["gpt-realtime-2", "gpt-realtime-2.1", "gpt-realtime-2.1-mini"])
def test_new_realtime_models_and_their_session_fields(model: str) -> None:
    state = EngineState(model=model)
    state.open()
    [created] = [e.to_wire() for e in state.events_to_send()]
    assert created["session"]["model"] == model
    for transcriber in ("gpt-realtime-whisper", "gpt-transcribe", "gpt-live-transcribe"):
        transcription = {"model": transcriber, "delay": "low", "keywords": ["Ada", "Lovelace"], "languages": ["en"]}
        update = {"type": "realtime", "reasoning": {"effort": "high"}, "parallel_tool_calls": False,
                  "audio": {"input": {"transcription": transcription}}}  # fmt: skip
        state.receive({"type": "session.update", "session": update})
        [updated] = [e.to_wire() for e in state.events_to_send()]
        assert updated["type"] == "session.updated", updated
        SessionUpdatedEvent.model_validate(updated)  # the openai package's GA model of the echo
        session = updated["session"]
        assert session["reasoning"] == {"effort": "high"} and session["parallel_tool_calls"] is False
        assert session["audio"]["input"]["transcription"] == transcription
        assert state.transcription_hints() == ("en", "Ada, Lovelace")  # what the recognizer is told


def _turn_then_speech_after(pause_ms: int) -> tuple[Script, list[dict[str, Any]]]:
    """A spoken turn ("Can you add twelve?") whose answer has begun, then more speech ``pause_ms`` after the first
    turn's voice ended ("and thirty?"). Returns the script and the history the second reply is generated from."""
    s = Script()
    s.append(silence(500) + tone(600) + silence(700))  # the turn ends 500 ms into the silence (server_vad)
    s.state.transcribed(s.one(Transcribe).job, "Can you add twelve?")
    s.pump()
    s.reply(s.one(Generate).job, "Twelve.", done=False)
    s.speak_all()
    s.append(silence(pause_ms - 700) + tone(600) + silence(700))
    s.state.transcribed(s.one(Transcribe).job, "and thirty?")
    s.pump()
    return s, s.one(Generate).request.history


def test_speech_right_after_a_turn_continues_it_in_the_reply() -> None:
    """The user paused 800 ms in a sentence and the turn ended: the answer stops, and the next reply answers the
    whole sentence, while the client still sees two user items and the interrupted answer (the Realtime API's
    events, unchanged)."""
    s, history = _turn_then_speech_after(800)
    [done] = [e["response"] for e in s.of("response.done")]
    assert done["status"] == "cancelled" and done["status_details"]["reason"] == "turn_detected"
    assert len(s.of("input_audio_buffer.committed")) == 2
    assert [(i["role"], i["content"][0].get("transcript")) for i in history] == [
        ("user", "Can you add twelve and thirty?")
    ]
    first_item = s.of("input_audio_buffer.committed")[0]["item_id"]
    assert history[0]["id"] == first_item
    assert s.state.items[first_item]["content"][0]["transcript"] == "Can you add twelve?"  # the client's item


def test_speech_long_after_a_turn_is_a_turn_of_its_own() -> None:
    _s, history = _turn_then_speech_after(2500)
    assert [(i["role"], i["content"][0].get("transcript")) for i in history] == [
        ("user", "Can you add twelve?"),
        ("assistant", "Twelve."),
        ("user", "and thirty?"),
    ]
