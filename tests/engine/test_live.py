"""The local engine's GPT-Live protocol state (:class:`local_engine.live_front.LiveState`) driven as a script: client
events and stage results in, server events and commands out, with an injected wall clock. No event loop, no
socket: each test plays the stages itself (the VAD is ``tests.engine.fakes.EnergyVad``, run at once on each
``FeedVad``). Every server event is checked against the ``openai`` package's ``openai.types.live.ServerEvent``."""

from __future__ import annotations

import base64
import itertools
from typing import Any, TypeVar

import pytest
from openai.types.live import ServerEvent
from pydantic import TypeAdapter

from local_engine.core import Cancel, Command, ConfigureVad, FeedVad, Generate, Limits, Speak, Transcribe
from local_engine.live_front import LiveState
from local_engine.live_session import LiveSettings
from local_engine.stages import FunctionCall, VadSpeechStarted, VadSpeechStopped
from tests.engine.fakes import EnergyVad, silence, tone

C = TypeVar("C", bound=Command)
SERVER_EVENT: TypeAdapter[Any] = TypeAdapter(ServerEvent)
BYTES_PER_MS = 48
T0 = 1_800_000_000.0

TIME_TOOL = {"type": "function", "name": "get_current_time", "description": "The time now.",
             "parameters": {"type": "object", "properties": {"timezone": {"type": "string"}}}}  # fmt: skip
WEATHER_TOOL = {"type": "function", "name": "get_weather", "description": "The weather in a city.",
                "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}  # fmt: skip
RESPONSES = {"type": "responses", "responses": {"model": "gpt-5.6-luna", "tools": [TIME_TOOL, WEATHER_TOOL]}}


class LiveScript:
    """One live session's state with the VAD played at once; every other command is kept for the test."""

    def __init__(self, settings: LiveSettings | None = None, **limits: Any) -> None:
        counter = itertools.count(1)
        self.now = T0
        self.state = LiveState(limits=Limits(**limits), settings=settings, now=lambda: self.now,
                               new_id=lambda prefix: f"{prefix}_{next(counter)}")  # fmt: skip
        self.vad: EnergyVad | None = None
        self.events: list[dict[str, Any]] = []
        self.commands: list[Command] = []
        self.state.open()
        self.pump()

    def pump(self) -> None:
        while True:
            for event in self.state.events_to_send():
                SERVER_EVENT.validate_python(event)  # the openai package's model of every server event
                self.events.append(event)
            commands = self.state.commands_to_run()
            if not commands:
                return
            for command in commands:
                if isinstance(command, ConfigureVad):
                    assert command.params is not None and command.params.semantic  # semantic_vad, as Realtime
                    self.vad = EnergyVad(0.5, 300, 500)
                elif isinstance(command, FeedVad):
                    assert self.vad is not None
                    self.state.vad_result(command.generation, command.end_ms, self.vad.feed(command.pcm))
                else:
                    self.commands.append(command)

    def send(self, event: dict[str, Any] | str) -> None:
        self.state.receive(event)
        self.pump()

    def start(self, **session: Any) -> dict[str, Any]:
        self.send({"type": "session.start", "event_id": "evt_start", "session": {"model": "gpt-live-1", **session}})
        [started] = self.of("session.started")
        return started

    def append(self, pcm: bytes, chunk_ms: int = 100) -> None:
        step = chunk_ms * BYTES_PER_MS
        for i in range(0, len(pcm), step):
            self.send({"type": "session.input_audio.append", "audio": base64.b64encode(pcm[i : i + step]).decode()})

    def take(self, kind: type[C]) -> list[C]:
        taken: list[C] = [c for c in self.commands if isinstance(c, kind)]
        self.commands = [c for c in self.commands if not isinstance(c, kind)]
        return taken

    def one(self, kind: type[C]) -> C:
        [command] = self.take(kind)
        return command

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["type"] == kind]

    def errors(self) -> list[dict[str, Any]]:
        return [e["error"] for e in self.of("error")]

    def out_audio(self) -> bytes:
        return b"".join(base64.b64decode(e["delta"]) for e in self.of("session.output_audio.delta"))

    def speech_out_ms(self) -> float:
        """ms of non-silent output audio released."""
        pcm = self.out_audio()
        return sum(1 for i in range(0, len(pcm), 480) if any(pcm[i : i + 480])) * 10

    def out_text(self) -> str:
        return "".join(e["delta"] for e in self.of("session.output_transcript.delta"))

    def speak_all(self, ms_per_char: int = 20) -> None:
        while speaks := self.take(Speak):
            for speak in speaks:
                pcm = tone(ms_per_char * len(speak.text))
                for i in range(0, len(pcm), 4800):
                    self.state.speech_audio(speak.job, speak.item_id, pcm[i : i + 4800])
                self.state.speech_done(speak.job, speak.item_id)
                self.pump()

    def user_turn(self, words: str) -> Generate:
        """The user says ``words`` (a tone, then silence until the VAD ends the turn), heard as ``words``."""
        self.append(tone(600))
        self.append(silence(700))
        transcribe = self.one(Transcribe)
        assert transcribe.pcm  # the turn's audio
        self.state.transcribed(transcribe.job, words)
        self.pump()
        return self.one(Generate)


def test_session_start_must_come_first_and_is_strict() -> None:
    s = LiveScript()
    s.send({"type": "session.input_audio.append", "event_id": "e1", "audio": base64.b64encode(silence(20)).decode()})
    assert s.errors()[-1]["code"] == "session_not_started" and s.errors()[-1]["client_event_id"] == "e1"
    assert s.errors()[-1]["type"] == "invalid_request_error"
    s.send({"type": "session.start", "event_id": "e2", "session": {"model": "gpt-live-1", "turn_detection": {}}})
    assert s.errors()[-1] == {"type": "invalid_request_error", "code": "unknown_parameter",
                              "message": "Unknown parameter: 'session.turn_detection'.",
                              "param": "session.turn_detection", "client_event_id": "e2"}  # fmt: skip
    s.send({"type": "session.start", "session": {"instructions": "hi"}})
    assert s.errors()[-1]["code"] == "missing_required_parameter" and s.errors()[-1]["param"] == "session.model"
    s.send({"type": "session.start", "session": {"model": "x", "instructions": "w" * (16_384 * 4 + 4)}})
    assert s.errors()[-1]["param"] == "session.instructions"
    s.send(
        {"type": "session.start", "session": {"model": "x", "input": [{"role": "system", "content": [{"text": "a"}]}]}}
    )
    assert s.errors()[-1]["param"] == "session.input[0].role"
    assert not s.of("session.started") and not s.commands

    started = s.start(instructions="Be brief.")
    assert started["client_event_id"] == "evt_start"
    session = started["session"]
    assert session["id"].startswith("sess_") and session["status"] == "active"
    assert session["expires_at"] == int(T0) + 7200 and session["model"] == "gpt-live-1"
    assert session["audio"] == {"format": {"type": "audio/pcm", "rate": 24000}, "output": {"voice": "marin"}}
    assert session["delegation"] == {"type": "client"} and session["store"] is False
    assert session["instructions"] == "Be brief." and session["input"] == []
    s.send({"type": "session.start", "session": {"model": "gpt-live-1"}})
    assert s.errors()[-1]["code"] == "session_already_started"


@pytest.mark.parametrize("model", ["gpt-live-1.1", "my-gpt-live-deployment"])
def test_any_model_name_is_accepted(model: str) -> None:
    s = LiveScript()
    s.send({"type": "session.start", "session": {"model": model, "delegation": None}})
    assert s.of("session.started")[0]["session"]["model"] == model
    assert s.of("session.started")[0]["session"]["delegation"] == {"type": "client"}


def test_audio_checks_and_mute() -> None:
    s = LiveScript()
    s.start()
    s.send({"type": "session.input_audio.append", "event_id": "odd", "audio": base64.b64encode(b"abc").decode()})
    s.send({"type": "session.input_audio.append", "event_id": "bad", "audio": "not base64!"})
    assert [(e["code"], e["client_event_id"]) for e in s.errors()] == [
        ("invalid_audio", "odd"),
        ("invalid_audio", "bad"),
    ]
    assert s.state.clock_ms == 0
    s.send({"type": "session.input_audio.mute", "event_id": "m"})
    assert s.of("session.input_audio.muted")[0]["client_event_id"] == "m"
    s.append(tone(600) + silence(700))  # muted: heard as silence, the clock still runs
    assert s.state.clock_ms == 1300 and not s.take(Transcribe)
    s.send({"type": "session.input_audio.unmute"})
    assert s.of("session.input_audio.unmuted")
    s.append(tone(600) + silence(700))
    assert len(s.take(Transcribe)) == 1
    assert not [e for e in s.events if e["type"].endswith(".append") or e["type"] == "session.input_audio.appended"]


def test_output_is_paced_by_the_input_clock() -> None:
    s = LiveScript()
    s.start()
    s.append(silence(300))
    assert len(s.out_audio()) == 300 * BYTES_PER_MS and not any(s.out_audio())  # silence while not speaking
    generate = s.user_turn("what time is it")
    assert generate.request.history[-1]["content"][0]["transcript"] == "what time is it"
    assert s.of("session.input_transcript.delta")[-1]["delta"] == "what time is it"
    s.state.reply_sentence(generate.job, "It is noon.")
    s.state.reply_sentence(generate.job, "Anything else?")
    s.state.reply_done(generate.job)
    s.pump()
    s.speak_all()  # 25 characters: 500 ms of speech, all synthesised at once
    released = len(s.out_audio())
    assert s.speech_out_ms() == 0 and not s.of("session.output_transcript.delta")  # nothing without appends
    s.append(silence(100))
    assert 0 < s.speech_out_ms() <= 300  # 100 ms appended releases at most 100 ms + the 200 ms lead
    assert len(s.out_audio()) <= s.state.clock_ms * BYTES_PER_MS + 200 * BYTES_PER_MS
    assert len(s.out_audio()) > released
    s.append(silence(100))
    assert s.speech_out_ms() <= 400
    s.append(silence(1000))
    assert 450 <= s.speech_out_ms() <= 520 and s.out_text() == "It is noon. Anything else?"
    deltas = s.of("session.output_transcript.delta")
    assert all(d["start_ms"] <= d["end_ms"] for d in deltas)
    assert [d["start_ms"] for d in deltas] == sorted(d["start_ms"] for d in deltas)
    assert deltas[0]["start_ms"] >= 1600  # on the session timeline, after the user's turn
    assert s.state.output_ms == s.state.clock_ms  # caught up: silence again, at the input's pace
    assert list(s.state.items.values())[-1]["content"][0]["transcript"] == "It is noon. Anything else?"


def test_no_silence_frames_when_turned_off() -> None:
    s = LiveScript(LiveSettings(silence=False))
    s.start()
    s.append(silence(500))
    assert not s.of("session.output_audio.delta") and s.state.output_ms == 500


def test_the_model_yields_when_the_user_talks_over_it() -> None:
    s = LiveScript()
    s.start()
    generate = s.user_turn("tell me a story")
    s.state.reply_sentence(generate.job, "Once upon a time there was a very long story about many things.")
    s.pump()
    s.speak_all()  # 1.3 s of speech
    s.append(silence(300))
    spoken = s.speech_out_ms()
    assert 0 < spoken <= 500
    s.append(tone(200))  # the user barges in
    cancelled = {c.job for c in s.take(Cancel)}
    assert generate.job in cancelled and any(job.endswith("-speech") for job in cancelled)
    heard_then = s.speech_out_ms()
    s.append(silence(3000))
    assert s.speech_out_ms() == heard_then < 1300  # the rest is never released: silence instead
    words = s.out_text().split()
    assert 0 < len(words) < 14
    assistant = [i for i in s.state.items.values() if i["role"] == "assistant"]
    assert assistant[-1]["content"][0]["transcript"] == " ".join(words)  # the model knows what it said
    s.state.reply_sentence(generate.job, "And then.")  # a late result of the cancelled answer
    s.pump()
    assert not s.take(Speak)


def test_not_yielding_is_a_setting() -> None:
    s = LiveScript(LiveSettings(yield_to_speech=False))
    s.start()
    generate = s.user_turn("tell me a story")
    s.state.reply_sentence(generate.job, "Once upon a time there was a story.")
    s.state.reply_done(generate.job)
    s.pump()
    s.speak_all()
    s.append(tone(200) + silence(3000))
    assert not s.take(Cancel) and s.out_text() == "Once upon a time there was a story."


def test_responses_delegation_two_calls_two_outputs_one_response_create() -> None:
    s = LiveScript()
    s.start(delegation=RESPONSES)
    generate = s.user_turn("what time is it and what is the weather in Paris")
    assert [t["name"] for t in generate.request.tools] == ["get_current_time", "get_weather"]
    s.state.reply_sentence(generate.job, "Let me check.")
    s.state.reply_function_call(generate.job, FunctionCall("get_current_time", "{}"))
    s.state.reply_function_call(generate.job, FunctionCall("get_weather", '{"city":"Paris"}'))
    s.state.reply_done(generate.job)
    s.pump()
    [created] = s.of("session.delegation.created")
    delegation = created["delegation"]
    assert delegation["type"] == "delegation" and delegation["target"] == "responses"
    assert delegation["id"].startswith("item_") and delegation["response_id"].startswith("resp_")
    envelopes = s.of("response.event")
    assert all(e["delegation_id"] == delegation["id"] for e in envelopes)
    inner = [e["event"] for e in envelopes]
    assert [e["type"] for e in inner] == ["response.created", "response.output_item.done",
                                          "response.output_item.done", "response.completed"]  # fmt: skip
    calls = [e["item"] for e in inner[1:3]]
    assert [c["name"] for c in calls] == ["get_current_time", "get_weather"]
    assert all(c["type"] == "function_call" and c["status"] == "completed" and c["id"] for c in calls)
    assert calls[0]["call_id"] != calls[1]["call_id"] and calls[1]["arguments"] == '{"city":"Paris"}'
    assert inner[3]["response"]["output"] == [] and inner[3]["response"]["usage"]["total_tokens"] > 0
    assert inner[3]["response"]["id"] == delegation["response_id"]

    output: dict[str, Any] = {"type": "response.item.create", "item": {"type": "function_call_output"}}
    s.send({**output, "item": {**output["item"], "call_id": calls[0]["call_id"], "output": '{"time":"12:00"}'}})
    s.send({"type": "response.create", "event_id": "early"})
    assert s.errors()[-1]["code"] == "missing_function_call_output" and s.errors()[-1]["client_event_id"] == "early"
    assert not s.take(Generate)
    s.send({**output, "item": {**output["item"], "call_id": "call_unknown", "output": "x"}})
    assert s.errors()[-1]["param"] == "item.call_id"
    s.send({**output, "item": {**output["item"], "call_id": calls[1]["call_id"], "output": '{"sky":"clear"}'}})
    s.send({"type": "response.create"})
    follow = s.one(Generate)
    kinds = [(i["type"], i.get("call_id")) for i in follow.request.history[-4:]]
    first, second = calls[0]["call_id"], calls[1]["call_id"]
    assert kinds == [("function_call", first), ("function_call", second),
                     ("function_call_output", first), ("function_call_output", second)]  # fmt: skip
    assert len(s.of("session.delegation.created")) == 1  # the same delegation goes on
    s.state.reply_sentence(follow.job, "It is noon and clear in Paris.")
    s.state.reply_done(follow.job)
    s.pump()
    inner = [e["event"] for e in s.of("response.event")[4:]]
    assert [e["type"] for e in inner] == ["response.created", "response.output_text.delta", "response.completed"]
    assert inner[1]["delta"] == "It is noon and clear in Paris."
    s.speak_all()
    s.append(silence(2000))
    assert s.out_text().endswith("It is noon and clear in Paris.")
    s.send({"type": "response.create"})
    assert s.errors()[-1]["code"] == "invalid_request"  # nothing pending any more


def test_typed_text_is_answered_aloud() -> None:
    s = LiveScript()
    s.start(delegation=RESPONSES)
    typed = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Hi there"}]}
    s.send({"type": "response.item.create", "item": typed})
    assert not s.take(Generate)
    s.send({"type": "response.create"})
    generate = s.one(Generate)
    assert generate.request.history[-1]["content"] == [{"type": "input_text", "text": "Hi there"}]
    assert s.of("session.delegation.created")[0]["delegation"]["target"] == "responses"
    s.state.reply_sentence(generate.job, "Hello.")
    s.state.reply_done(generate.job)
    s.pump()
    s.speak_all()
    s.append(silence(500))
    assert s.out_text() == "Hello." and s.speech_out_ms() > 0


def test_client_delegation_refuses_backend_commands() -> None:
    s = LiveScript()
    s.start()
    item = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Hi"}]}
    s.send({"type": "response.item.create", "event_id": "t", "item": item})
    s.send({"type": "response.create"})
    assert [e["message"] for e in s.errors()] == ["response.item.create requires Responses delegation."] * 2
    assert s.errors()[0]["client_event_id"] == "t"


def test_appends_are_acknowledged_when_the_clock_reaches_them() -> None:
    s = LiveScript()
    s.start()
    s.send({"type": "session.commentary.append", "content": "x"})
    assert s.errors()[-1]["param"] == "delegation_id"
    s.send({"type": "session.thinking.append", "delegation_id": "item_nope", "content": "x"})
    assert s.errors()[-1]["code"] == "delegation_not_found"
    s.send({"type": "session.thinking.append", "delegation_id": None, "content": "w" * 2004})
    assert s.errors()[-1]["code"] == "string_above_max_length"
    s.send({"type": "session.commentary.append", "event_id": "c1", "delegation_id": None,
            "content": "Your order shipped today."})  # fmt: skip
    assert not s.of("session.commentary.appended")  # the clock has not moved
    speak = s.one(Speak)
    assert speak.text == "Your order shipped today."  # commentary is spoken
    s.append(silence(60))
    assert not s.of("session.commentary.appended")
    s.append(silence(60))
    [ack] = s.of("session.commentary.appended")
    assert ack["client_event_id"] == "c1" and (ack["start_ms"], ack["end_ms"]) == (0, 100)
    s.state.speech_done(speak.job, speak.item_id)
    s.send({"type": "session.instructions.append", "delegation_id": None, "content": "Greet the user now."})
    assert s.one(Speak).text.startswith("Hello")


def test_session_update_rules() -> None:
    s = LiveScript()
    s.start(delegation=RESPONSES)
    s.send({"type": "session.update", "event_id": "u1", "session": {"delegation": {"type": "client"}}})
    assert s.errors()[-1]["code"] == "immutable_field_update"
    assert s.errors()[-1]["param"] == "session.delegation.type" and s.errors()[-1]["client_event_id"] == "u1"
    s.send({"type": "session.update", "session": {"delegation": None}})
    assert s.errors()[-1]["param"] == "session.delegation.type"
    s.send({"type": "session.update", "session": {"instructions": "new"}})
    assert s.errors()[-1]["code"] == "immutable_field_update" and s.errors()[-1]["param"] == "session.instructions"
    s.send({"type": "session.update", "session": {"delegation": {"type": "responses",
                                                                "responses": {"model": "gpt-5.6-terra"}}}})  # fmt: skip
    [updated] = s.of("session.updated")
    responses = updated["session"]["delegation"]["responses"]
    assert responses["model"] == "gpt-5.6-terra" and len(responses["tools"]) == 2  # sparse merge
    s.send({"type": "session.update", "session": {"triggers": []}})
    assert s.of("session.updated")[-1]["session"]["triggers"] == []


def test_usage_every_minute_of_session_time() -> None:
    s = LiveScript()
    s.start()
    s.append(silence(59_900), chunk_ms=1000)
    assert not s.of("session.usage.updated")
    s.append(silence(100))
    s.append(silence(60_000), chunk_ms=1000)
    assert [e["usage"]["seconds"] for e in s.of("session.usage.updated")] == [60, 120]


def test_close_and_expiry() -> None:
    s = LiveScript()
    s.start()
    s.append(silence(1500))
    s.send({"type": "session.close"})
    [closed] = s.of("session.closed")
    assert closed["reason"] == "close_requested" and closed["usage"] == {"seconds": 1.5}
    assert closed["session"]["id"] == s.of("session.started")[0]["session"]["id"]
    assert s.state.finished is not None and s.state.finished[0] == 1000
    count = len(s.events)
    s.send({"type": "session.input_audio.append", "audio": base64.b64encode(silence(20)).decode()})
    assert len(s.events) == count  # nothing more is accepted

    s = LiveScript(LiveSettings(session_s=10))
    s.start()
    assert s.state.next_deadline() == T0 + 10
    s.now = T0 + 9
    s.state.on_deadline()
    s.pump()
    assert not s.of("session.closed")
    s.now = T0 + 10
    s.state.on_deadline()
    s.pump()
    assert s.of("session.closed")[0]["reason"] == "expired" and s.state.finished is not None


def test_seeded_input_is_the_conversation() -> None:
    s = LiveScript()
    s.start(input=[
        {"type": "message", "role": "developer", "content": [{"type": "input_text", "text": "Be terse."}]},
        {"type": "message", "role": "user", "content": [{"text": "My name is Ada."}]},
        {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Hi Ada."}]},
    ])  # fmt: skip
    generate = s.user_turn("what is my name")
    history = generate.request.history
    assert [(i["role"], i["content"][0].get("text") or i["content"][0].get("transcript")) for i in history] == [
        ("system", "Be terse."), ("user", "My name is Ada."), ("assistant", "Hi Ada."), ("user", "what is my name"),
    ]  # fmt: skip


def test_vad_boundaries_in_session_time() -> None:
    s = LiveScript()
    s.start()
    s.append(silence(1000))
    s.state.vad_result(1, 1000, [VadSpeechStarted(700)])
    s.state.speech_transcript_delta("hello")
    s.pump()
    [delta] = s.of("session.input_transcript.delta")
    assert (delta["start_ms"], delta["end_ms"]) == (700, 1000)
    s.state.vad_result(1, 1000, [VadSpeechStopped(1000)])
    s.pump()
    transcribe = s.one(Transcribe)
    assert len(transcribe.pcm) == 300 * BYTES_PER_MS  # the turn's audio: 700 to 1000 ms


def test_output_never_runs_more_than_the_lead_ahead_of_the_input() -> None:
    s = LiveScript()
    s.start()
    generate = s.user_turn("tell me a story")
    s.state.reply_sentence(generate.job, "Once upon a time there was a story that went on and on.")
    s.state.reply_done(generate.job)
    s.pump()
    s.speak_all()  # 1.1 s of speech ready at once
    lead = 0
    for _ in range(100):  # 20 ms appends, as a browser's worklet sends them
        s.append(silence(20), chunk_ms=20)
        ahead_ms = len(s.out_audio()) / BYTES_PER_MS - s.state.clock_ms
        assert ahead_ms <= 200
        lead = max(lead, int(ahead_ms))
    assert lead >= 180  # the lead is used: playback does not starve
    assert s.out_text() == "Once upon a time there was a story that went on and on."


def test_client_delegation_hands_the_task_to_the_client() -> None:
    s = LiveScript()
    s.start(delegation={"type": "client", "acknowledgement_delay_ms": 300})
    generate = s.user_turn("what time is it")
    [tool] = generate.request.tools
    assert tool["name"] == "delegate_to_application"
    s.state.reply_function_call(generate.job, FunctionCall(tool["name"], '{"task": "what time is it"}'))
    s.state.reply_done(generate.job)
    s.pump()
    [created] = s.of("session.delegation.created")
    delegation = created["delegation"]
    assert delegation["target"] == "client" and "response_id" not in delegation
    assert created["offset_ms"] == s.state.clock_ms
    assert not s.of("response.event") and not s.take(Speak)
    s.append(silence(300))
    assert [c.text for c in s.commands if isinstance(c, Speak)] == ["One moment, please."]  # after its delay
    s.send({"type": "session.thinking.append", "event_id": "th", "delegation_id": delegation["id"],
            "content": "Looking it up."})  # fmt: skip
    s.send({"type": "session.commentary.append", "delegation_id": delegation["id"], "content": "It is noon."})
    s.speak_all()
    s.append(silence(2000))
    assert s.out_text() == "One moment, please. It is noon."
    assert s.of("session.thinking.appended")[0]["client_event_id"] == "th"


def test_an_append_cancels_the_pending_acknowledgement() -> None:
    s = LiveScript()
    s.start(delegation={"type": "client", "acknowledgement_delay_ms": 500})
    generate = s.user_turn("what is the weather")
    s.state.reply_function_call(generate.job, FunctionCall("delegate_to_application", '{"task": "weather"}'))
    s.state.reply_done(generate.job)
    s.pump()
    delegation_id = s.of("session.delegation.created")[0]["delegation"]["id"]
    s.send({"type": "session.thinking.append", "delegation_id": delegation_id, "content": "Checking."})
    s.append(silence(1000))
    assert not s.take(Speak)


def test_a_backend_answer_talked_over_goes_on_unspoken() -> None:
    s = LiveScript()
    s.start(delegation=RESPONSES)
    typed = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Tell me a story"}]}
    s.send({"type": "response.item.create", "item": typed})
    s.send({"type": "response.create"})
    backend = s.one(Generate)
    s.state.reply_sentence(backend.job, "Once upon a time there was a long story.")
    s.pump()
    s.speak_all()
    s.append(silence(200))
    s.append(tone(600) + silence(700))  # the user talks over it, and finishes a turn
    cancelled = {c.job for c in s.take(Cancel)}
    assert backend.job not in cancelled and f"{backend.job}-speech" in cancelled
    transcribe = s.one(Transcribe)
    s.state.transcribed(transcribe.job, "never mind")
    s.pump()
    voice = s.one(Generate)  # the user's turn is answered while the backend goes on
    s.state.reply_sentence(backend.job, "The end.")
    s.state.reply_done(backend.job)
    s.pump()
    inner = [e["event"]["type"] for e in s.of("response.event")]
    assert inner[-2:] == ["response.output_text.delta", "response.completed"]
    s.state.reply_sentence(voice.job, "Okay.")
    s.state.reply_done(voice.job)
    s.pump()
    s.speak_all()
    s.append(silence(1000))
    assert "The end." not in s.out_text() and s.out_text().endswith("Okay.")


@pytest.mark.parametrize(
    ("session", "param"),
    [
        ({"store": [1]}, "session.store"),
        ({"audio": {"format": {"type": "audio/pcm", "rate": 16000}}}, "session.audio.format"),
        ({"audio": {"output": {"voice": "marin", "speed": 1.2}}}, "session.audio.output"),
        ({"delegation": {"type": "decisions", "decisions": {}}}, "session.delegation.type"),
        ({"delegation": {"type": "responses", "responses": {}}}, "session.delegation.responses.model"),
        ({"input": [{"role": "user", "content": [{"text": "a"}, {"text": "b"}]}]}, "session.input[0].content"),
        ({"input": [{"role": "user", "content": [{"text": "a"}]}] * 129}, "session.input"),
    ],
)
def test_session_start_refusals(session: dict[str, Any], param: str) -> None:
    s = LiveScript()
    s.send({"type": "session.start", "session": {"model": "gpt-live-1", **session}})
    assert s.errors()[-1]["param"] == param and not s.of("session.started")


def test_hostile_frames_get_errors_and_the_session_goes_on() -> None:
    s = LiveScript()
    s.start()
    frames: list[Any] = ["not json", "[1, 2]", "{}", {"type": 5}, {"type": "conversation.item.create"},
                         {"type": "session.input_audio.append", "audio": 12},
                         {"type": "session.input_audio.append"},
                         {"type": "session.commentary.append", "delegation_id": None, "content": ["x"]},
                         {"type": "response.item.create", "item": "x"},
                         {"type": "decision.create", "event_id": "d"},
                         {"type": "session.update", "session": "x"}]  # fmt: skip
    for frame in frames:
        s.send(frame)
    assert len(s.errors()) == len(frames)
    assert all(e["type"] == "invalid_request_error" for e in s.errors())
    s.append(silence(100))
    assert s.state.clock_ms == 100 and s.of("session.output_audio.delta")


def test_bounds_of_a_live_session() -> None:
    s = LiveScript(max_items=4)
    s.start(input=[{"role": "user", "content": [{"text": f"message {i}"}]} for i in range(6)])
    assert [i["content"][0]["text"] for i in s.state.items.values()] == [f"message {i}" for i in range(2, 6)]
    for _ in range(256):
        s.send({"type": "session.thinking.append", "delegation_id": None, "content": "x"})
    assert not s.errors()
    s.send({"type": "session.thinking.append", "delegation_id": None, "content": "x"})
    assert s.errors()[-1]["code"] == "too_many_pending_appends"
    s.append(silence(200))
    assert len(s.of("session.thinking.appended")) == 256  # the clock reached them all


def test_a_connection_without_session_start_is_closed() -> None:
    s = LiveScript(LiveSettings(start_timeout_s=30))
    assert s.state.next_deadline() == T0 + 30
    s.now = T0 + 31
    s.state.on_deadline()
    s.pump()
    assert s.errors()[-1]["code"] == "session_start_timeout"
    assert s.state.finished is not None and s.state.finished[0] == 1008


@pytest.mark.parametrize(("pause_ms", "joined"), [(100, True), (1500, False)])
def test_speech_right_after_a_turn_continues_it_in_the_answer(pause_ms: int, joined: bool) -> None:
    """The turn ended at a pause in a sentence and the answer began; the user goes on within a second: the model
    yields and answers the whole sentence (the same resumption as the Realtime front's). Later speech is a turn
    of its own."""
    s = LiveScript()
    s.start()
    first = s.user_turn("Can you add twelve?")
    s.state.reply_sentence(first.job, "Twelve.")
    s.pump()
    s.speak_all()
    s.append(silence(pause_ms))
    second = s.user_turn("and thirty?")
    said = [(i["role"], i["content"][0].get("transcript")) for i in second.request.history]
    if joined:
        assert said == [("user", "Can you add twelve and thirty?")]
    else:
        assert said[0] == ("user", "Can you add twelve?") and said[-1] == ("user", "and thirty?")
        assert ("assistant", "Twelve.") in said
