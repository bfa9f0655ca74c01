"""The GPT-Live session state machine driven by scripted server events, with a fake clock and no network."""

from __future__ import annotations

import base64
import json
from typing import Any

import numpy as np

from realtime.config import SessionOptions
from realtime.events import (
    AssistantTextDone,
    AudioDelta,
    Interrupted,
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
from realtime.live_protocol import MAX_INPUT_ITEMS, MAX_INPUT_TOKENS
from realtime.live_session import MAX_CALLS_PER_RESPONSE, TURN_END_MS, LiveSession, estimate_tokens

TOOLS = [
    {
        "type": "function",
        "name": "calculate",
        "description": "Arithmetic.",
        "parameters": {"type": "object", "properties": {"expression": {"type": "string"}}},
    }
]


def pcm(ms: int, level: int = 3000) -> bytes:
    """``ms`` of PCM16 24 kHz at a constant ``level`` (its RMS); 0 is digital silence."""
    return np.full(24 * ms, level, dtype="<i2").tobytes()


def user_item(text: str) -> dict[str, Any]:
    return {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Script:
    """A live session plus helpers to feed server events, move time and read what it sends and emits."""

    def __init__(self, *, tools: Any = (), history: list[dict[str, Any]] | None = None, **kw: Any) -> None:
        self.clock = Clock()
        options = SessionOptions()
        self.s = LiveSession(options, tools=tools, clock=self.clock, provider="openai", model="gpt-live-1", **kw)
        if history:
            self.s.add_items(history)
        self.s.connected()
        self.sent: list[dict[str, Any]] = []
        self.events: list[Any] = []
        self.collect()

    def collect(self) -> None:
        self.sent += [json.loads(f) for f in self.s.frames_to_send()]
        self.events += self.s.events_received()

    def feed(self, **event: Any) -> None:
        event.setdefault("event_id", "evt_server")
        self.s.receive_frame(json.dumps(event))
        self.collect()

    def start(self) -> None:
        self.feed(type="session.started", session={"id": "sess_1", "expires_at": 1, "status": "active"})

    def out(self, ms: int, level: int = 3000, step: int = 100) -> None:
        """The model's output: ``ms`` of audio at real-time pace (one delta per ``step`` ms, a tick each)."""
        for _ in range(ms // step):
            self.feed(type="session.output_audio.delta", delta=b64(pcm(step, level)))
            self.advance(step / 1000)

    def say(self, text: str) -> None:
        self.feed(type="session.output_transcript.delta", delta=text, start_ms=0, end_ms=0)

    def heard(self, text: str, start_ms: int, end_ms: int) -> None:
        self.feed(type="session.input_transcript.delta", delta=text, start_ms=start_ms, end_ms=end_ms)

    def mic(self, ms: int, level: int = 3000, step: int = 100) -> None:
        for _ in range(ms // step):
            self.s.append_audio(pcm(step, level))
            self.advance(step / 1000)

    def advance(self, seconds: float) -> None:
        self.clock.now += seconds
        self.s.tick()
        self.collect()

    def of(self, cls: type) -> list[Any]:
        return [e for e in self.events if isinstance(e, cls)]

    def types(self) -> list[str]:
        return [e["type"] for e in self.sent]

    def appended_ms(self) -> float:
        appends = [e for e in self.sent if e["type"] == "session.input_audio.append"]
        return sum(len(base64.b64decode(e["audio"])) / 48 for e in appends)


def test_session_start_is_first_and_carries_the_startup_config() -> None:
    s = Script(tools=TOOLS, backend_model="gpt-5.6-luna", hosted_web_search=True)
    assert s.types() == ["session.start"]
    config = s.sent[0]["session"]
    assert config["model"] == "gpt-live-1"
    assert config["audio"] == {"format": {"type": "audio/pcm", "rate": 24000}, "output": {"voice": "alloy"}}
    assert config["instructions"] == SessionOptions().instructions
    responses = config["delegation"]["responses"]
    assert config["delegation"]["type"] == "responses" and responses["model"] == "gpt-5.6-luna"
    assert responses["tools"] == [TOOLS[0], {"type": "web_search"}] and responses["tool_choice"] == "auto"
    assert "input" not in config
    s.s.append_audio(pcm(100))  # before session.started nothing goes out
    s.advance(1.0)
    assert s.types() == ["session.start"]


def test_no_tools_no_tool_fields() -> None:
    responses = Script().sent[0]["session"]["delegation"]["responses"]
    assert responses == {"model": "gpt-5.6-luna"}


def test_input_clock_never_stops() -> None:
    s = Script()
    s.start()
    assert isinstance(s.events[0], SessionReady) and s.events[0].session["id"] == "sess_1"
    for _ in range(10):
        s.advance(0.1)
    assert 1000 - 150 <= s.appended_ms() <= 1000  # silence at real-time pace, at most one tick behind
    s.mic(500)  # the caller talks for half a second, at real-time pace: no silence added meanwhile
    assert 1500 - 150 <= s.appended_ms() <= 1500 + 100
    s.advance(2.0)  # the event loop stalled: the lag is filled at once
    assert 3500 - 150 <= s.appended_ms() <= 3500
    frames = [base64.b64decode(e["audio"]) for e in s.sent if e["type"] == "session.input_audio.append"]
    assert all(len(f) % 2 == 0 and len(f) <= 4800 * 20 for f in frames)


def test_a_typed_message_gets_a_spoken_and_written_turn() -> None:
    s = Script()
    s.s.send_text("hello there")  # before session.started: waits
    assert s.types() == ["session.start"]
    s.start()
    assert s.types()[1:3] == ["response.item.create", "response.create"]
    assert s.sent[1]["item"] == user_item("hello there")
    s.out(300, level=0)  # silence before the answer is not passed on
    assert not s.of(ResponseStarted) and not s.of(AudioDelta)
    s.say("Hi! ")
    s.out(500)
    s.say("How can I help?")
    s.out(300)
    (started,) = s.of(ResponseStarted)
    audio = s.of(AudioDelta)
    assert len(audio) == 8 and {a.track for a in audio} == {started.track}
    assert "".join(t.delta for t in s.of(TextDelta)) == "Hi! How can I help?"
    s.out(TURN_END_MS + 400, level=0)
    (done,) = s.of(ResponseDoneEvent)
    assert done.status == "completed" and done.response_id == started.response_id
    assert done.latency_ms is not None and 250 <= done.latency_ms <= 450
    (text,) = s.of(AssistantTextDone)
    assert text.text == "Hi! How can I help?"
    assert len(s.of(AudioDelta)) == 8  # the closing silence was not passed on
    s.s.connected(replay=True)
    s.collect()
    seed = s.sent[-1]["session"]["input"]
    assert [m["role"] for m in seed] == ["user", "assistant"]
    assert seed[1]["content"] == [{"type": "output_text", "text": "Hi! How can I help?"}]


def test_a_short_pause_inside_a_turn_is_played_a_long_one_ends_it() -> None:
    s = Script()
    s.start()
    s.out(300)
    s.out(300, level=0)  # a pause between sentences
    s.out(300)
    assert len(s.of(ResponseStarted)) == 1 and not s.of(ResponseDoneEvent)
    assert sum(len(a.pcm) for a in s.of(AudioDelta)) == 900 * 48
    s.out(1200, level=0)
    s.out(200)
    assert len(s.of(ResponseStarted)) == 2 and len(s.of(ResponseDoneEvent)) == 1


def test_a_server_that_omits_silence_still_ends_the_turn() -> None:
    s = Script()
    s.start()
    s.out(300)
    for _ in range(12):  # no deltas at all for 1.2 s
        s.advance(0.1)
    assert [d.status for d in s.of(ResponseDoneEvent)] == ["completed"]


def test_barge_in_the_model_yields_to_the_user() -> None:
    s = Script()
    s.start()
    s.say("One two three four five six seven eight.")
    for _ in range(4):  # the model answers faster than real time: 2 s of audio in 0.4 s
        s.feed(type="session.output_audio.delta", delta=b64(pcm(500)))
        s.advance(0.1)
    s.s.append_audio(pcm(100))  # the user talks over it...
    s.heard("Wait,", 3000, 3300)
    s.feed(type="session.output_audio.delta", delta=b64(pcm(300, level=0)))  # ...and the model goes quiet
    (cut,) = s.of(Interrupted)
    assert cut.audio_end_ms is None and cut.track == s.of(ResponseStarted)[0].track
    assert cut.heard is not None and cut.heard.endswith("...") and len(cut.heard) < 30
    (done,) = s.of(ResponseDoneEvent)
    assert done.status == "cancelled" and not s.of(AssistantTextDone)
    s.out(500, level=0)
    assert len(s.of(ResponseStarted)) == 1  # nothing reopens in the silence that follows


def test_the_models_own_echo_in_the_microphone_is_not_a_barge_in() -> None:
    s = Script()
    s.start()
    s.say("First sentence. Second sentence.")
    for _ in range(5):  # the microphone hears the model (echo) while it speaks
        s.feed(type="session.output_audio.delta", delta=b64(pcm(100)))
        s.s.append_audio(pcm(100, level=2000))
        s.advance(0.1)
    for _ in range(4):  # a pause between sentences: the echo stops with it
        s.feed(type="session.output_audio.delta", delta=b64(pcm(100, level=0)))
        s.s.append_audio(pcm(100, level=0))
        s.advance(0.1)
    s.out(300)
    assert not s.of(Interrupted) and not s.of(ResponseDoneEvent) and len(s.of(ResponseStarted)) == 1


def test_loud_input_after_the_model_went_quiet_is_a_barge_in() -> None:
    s = Script()
    s.start()
    s.say("A long answer that goes on and on.")
    for _ in range(3):
        s.feed(type="session.output_audio.delta", delta=b64(pcm(1000)))  # 3 s of audio in 0.3 s
        s.advance(0.1)
    for _ in range(3):  # the user talks; the model yields
        s.feed(type="session.output_audio.delta", delta=b64(pcm(100, level=0)))
        s.s.append_audio(pcm(100))
        s.advance(0.1)
    (cut,) = s.of(Interrupted)
    assert cut.heard and cut.heard.endswith("...")


def test_a_paced_model_that_stops_for_the_user_is_a_cut_answer_though_all_it_sent_played() -> None:
    # Output paced to the input clock (as the local engine sends it): nothing is queued when the model stops, but
    # it stopped because the user spoke over it, so the answer is cut, not finished.
    s = Script()
    s.start()
    s.say("Once upon a time there was a very long story.")
    for _ in range(10):
        s.feed(type="session.output_audio.delta", delta=b64(pcm(100)))
        s.s.append_audio(pcm(100, level=0))
        s.advance(0.1)
    for _ in range(3):  # the user starts talking while the model still speaks
        s.feed(type="session.output_audio.delta", delta=b64(pcm(100)))
        s.s.append_audio(pcm(100))
        s.advance(0.1)
    for _ in range(4):  # the model yields; the user goes on
        s.feed(type="session.output_audio.delta", delta=b64(pcm(100, level=0)))
        s.s.append_audio(pcm(100))
        s.advance(0.1)
    (cut,) = s.of(Interrupted)
    assert cut.heard and cut.heard.startswith("Once upon a time")
    assert [d.status for d in s.of(ResponseDoneEvent)] == ["cancelled"]


def test_a_short_stop_over_a_paced_answer_cuts_it_though_the_user_fell_silent_first() -> None:
    # "Stop." (300 ms) in the middle of the answer; the model reacts to it and goes quiet as the word ends, and
    # the user says nothing more: no speech after the output stopped, yet the answer was cut.
    s = Script()
    s.start()
    s.say("Once upon a time there was a very long story.")
    for _ in range(10):
        s.feed(type="session.output_audio.delta", delta=b64(pcm(100)))
        s.s.append_audio(pcm(100, level=0))
        s.advance(0.1)
    for _ in range(3):
        s.feed(type="session.output_audio.delta", delta=b64(pcm(100)))
        s.s.append_audio(pcm(100))
        s.advance(0.1)
    for _ in range(12):
        s.feed(type="session.output_audio.delta", delta=b64(pcm(100, level=0)))
        s.s.append_audio(pcm(100, level=0))
        s.advance(0.1)
    (cut,) = s.of(Interrupted)
    assert cut.heard and cut.heard.startswith("Once upon a time")
    assert [d.status for d in s.of(ResponseDoneEvent)] == ["cancelled"]


def test_the_user_answering_a_finished_turn_does_not_cut_it() -> None:
    s = Script()
    s.start()
    s.say("Is there anything else?")
    for _ in range(10):
        s.feed(type="session.output_audio.delta", delta=b64(pcm(100)))
        s.s.append_audio(pcm(100, level=0))
        s.advance(0.1)
    for _ in range(2):  # the model has finished: quiet in and out
        s.feed(type="session.output_audio.delta", delta=b64(pcm(100, level=0)))
        s.s.append_audio(pcm(100, level=0))
        s.advance(0.1)
    for _ in range(10):  # then the user answers
        s.feed(type="session.output_audio.delta", delta=b64(pcm(100, level=0)))
        s.s.append_audio(pcm(100))
        s.advance(0.1)
    assert not s.of(Interrupted)
    assert [d.status for d in s.of(ResponseDoneEvent)] == ["completed"]


def test_a_backchannel_cuts_nothing_and_is_kept_out() -> None:
    s = Script()
    s.start()
    s.say("Let me explain how this works, step by step.")
    s.out(300)
    s.s.append_audio(pcm(100))
    s.heard("Mhm", 500, 700)
    s.out(1000)  # the model keeps talking
    s.heard(".", 700, 800)
    s.out(1500, level=0)
    assert not s.of(Interrupted) and not s.of(UserTranscript)
    assert [d.status for d in s.of(ResponseDoneEvent)] == ["completed"]


def test_user_transcript_pieces_then_final_per_turn_in_order() -> None:
    s = Script()
    s.start()
    s.heard("What is ", 1000, 1200)
    s.heard("the time?", 1200, 1500)
    s.advance(0.3)
    first = s.of(UserTranscript)
    assert [(u.transcript, u.final) for u in first] == [("What is ", False), ("the time?", False)]
    assert len({u.item_id for u in first}) == 1 and first[0].previous_item_id is None
    s.out(400)  # the model answers while the user's segment is still open: interleaved
    s.mic(1000, level=0)  # the user stays quiet: the segment closes
    final = [u for u in s.of(UserTranscript) if u.final]
    assert [(u.item_id, u.transcript) for u in final] == [(first[0].item_id, "What is the time?")]
    s.out(1200, level=0)
    s.heard("Thanks", 6000, 6300)
    later = s.of(UserTranscript)[-1]
    assert later.item_id != first[0].item_id
    assert s.of(AudioDelta)[0].item_id != first[0].item_id
    assert later.previous_item_id == s.of(AudioDelta)[0].item_id  # after the assistant turn, which came after it


def test_two_function_calls_in_one_backend_response_get_one_continuation() -> None:
    s = Script(tools=TOOLS)
    s.start()
    envelope = {"type": "response.event", "delegation_id": "item_d1"}
    s.feed(type="session.delegation.created", delegation={"id": "item_d1", "type": "delegation", "target": "responses"})
    s.feed(**envelope, event={"type": "response.created", "response": {"id": "resp_b1", "output": []}})
    s.feed(**envelope, event={"type": "response.output_item.done", "item": {"type": "reasoning", "id": "rs_1"}})
    for call_id, expr in (("call_1", "1+1"), ("call_2", "2+2")):
        arguments = json.dumps({"expression": expr})
        item = {"type": "function_call", "call_id": call_id, "name": "calculate", "arguments": arguments}
        s.feed(**envelope, event={"type": "response.output_item.done", "item": item})
    assert not s.of(ToolCallsRequested)  # only once the backend response completed
    s.feed(**envelope, event={"type": "response.completed", "response": {"id": "resp_b1", "output": []}})
    (requested,) = s.of(ToolCallsRequested)
    assert [c.call_id for c in requested.calls] == ["call_1", "call_2"]
    s.out(300)  # "one moment": a turn that ends while the calls run says so
    s.out(1200, level=0)
    assert [d.function_calls for d in s.of(ResponseDoneEvent)] == [2]
    assert [c.name for c in s.of(ToolCallStarted)] == ["calculate", "calculate"]
    s.s.tool_results([ToolOutput("call_1", '{"result": 2}')])
    s.collect()
    assert "response.create" not in s.types()  # not for a partial batch
    s.s.tool_results([ToolOutput("call_2", '{"error": "boom"}', ok=False)])
    s.collect()
    commands = [e for e in s.sent if e["type"] != "session.input_audio.append"]
    assert [e["type"] for e in commands[1:]] == ["response.item.create", "response.item.create", "response.create"]
    assert commands[2]["item"] == {"type": "function_call_output", "call_id": "call_2", "output": '{"error": "boom"}'}
    assert [f.ok for f in s.of(ToolCallFinished)] == [True, False]


def test_a_turn_ending_while_a_delegation_runs_says_work_is_pending() -> None:
    s = Script(tools=TOOLS)
    s.start()
    s.feed(type="session.delegation.created", delegation={"id": "d1", "type": "delegation", "target": "responses"})
    s.out(300)
    s.out(1200, level=0)
    s.feed(type="response.event", delegation_id="d1", event={"type": "response.completed", "response": {}})
    s.out(300)
    s.out(1200, level=0)
    assert [d.function_calls for d in s.of(ResponseDoneEvent)] == [1, 0]


def test_a_flood_of_calls_is_bounded() -> None:
    s = Script(tools=TOOLS)
    s.start()
    s.feed(type="response.event", event={"type": "response.created"})
    for i in range(100):
        item = {"type": "function_call", "call_id": f"c{i}", "name": "calculate", "arguments": "{}"}
        s.feed(type="response.event", event={"type": "response.output_item.done", "item": item})
    s.feed(type="response.event", event={"type": "response.completed"})
    (requested,) = s.of(ToolCallsRequested)
    assert len(requested.calls) == MAX_CALLS_PER_RESPONSE


def test_a_failed_backend_response_calls_are_discarded() -> None:
    s = Script(tools=TOOLS)
    s.start()
    item = {"type": "function_call", "call_id": "c1", "name": "calculate", "arguments": "{}"}
    s.feed(type="response.event", event={"type": "response.created"})
    s.feed(type="response.event", event={"type": "response.output_item.done", "item": item})
    s.feed(type="response.event", event={"type": "response.failed", "response": {"status": "failed"}})
    assert not s.of(ToolCallsRequested) and not s.of(ToolCallStarted)


def test_errors_are_classified() -> None:
    s = Script()
    s.feed(type="error", error={"type": "invalid_request_error", "code": "unknown_parameter", "message": "bad"})
    assert s.s.fatal is not None  # a refused startup does not get better on retry
    s = Script()
    s.start()
    error = {"type": "invalid_request_error", "code": "invalid_audio", "message": "odd", "client_event_id": "e1"}
    s.feed(type="error", error=error)
    (err,) = s.of(RealtimeError)
    assert not err.fatal and err.code == "invalid_audio" and err.event_id == "e1" and s.s.fatal is None
    s.feed(type="error", error={"type": "invalid_request_error", "code": None, "message": "no code"})
    s.feed(type="error", error={"type": "insufficient_quota", "code": "insufficient_quota", "message": "quota"})
    assert s.s.fatal is not None and s.s.fatal.code == "insufficient_quota"
    s.feed(type="session.output_audio.delta", delta="!!!not base64")
    assert s.of(RealtimeError)[-1].code == "invalid_server_event"


def test_expiry_asks_for_a_new_session_seeded_with_the_conversation() -> None:
    s = Script(history=[user_item("Earlier")])
    assert s.sent[0]["session"]["input"] == [user_item("Earlier")]
    s.start()
    s.feed(type="session.usage.updated", usage={"seconds": 61.5}, context_window={"usage_ratio": 0.25})
    assert s.of(VoiceUsage) == [VoiceUsage(61.5, None, 0.25)]
    s.out(300)
    s.feed(type="session.closed", reason="expired", session={"id": "sess_1"}, usage={"seconds": 7200})
    assert s.s.renewal_needed and s.of(VoiceUsage)[-1].seconds == 7200
    assert [d.status for d in s.of(ResponseDoneEvent)] == ["cancelled"]
    s.advance(1.0)
    n = len(s.sent)
    s.advance(1.0)
    assert len(s.sent) == n  # the input clock stopped with the session
    s.s.connected(replay=True)
    s.collect()
    assert s.sent[-1]["type"] == "session.start" and s.sent[-1]["session"]["input"][0] == user_item("Earlier")


def test_seed_keeps_the_newest_turns_within_the_limits() -> None:
    s = Script()
    s.s.set_history([("user" if i % 2 == 0 else "assistant", f"turn {i}") for i in range(300)])
    seed = s.s.seed_input()
    assert len(seed) == MAX_INPUT_ITEMS and seed[-1]["content"][0]["text"] == "turn 299"
    s.s.set_history([("user", "x" * 3000) for _ in range(20)])
    seed = s.s.seed_input()
    assert sum(estimate_tokens(m["content"][0]["text"]) for m in seed) <= MAX_INPUT_TOKENS and 1 <= len(seed) < 20


def test_voice_or_instructions_change_needs_a_new_session_the_rest_is_ignored() -> None:
    s = Script()
    s.start()
    s.s.update_options(SessionOptions(turn_detection="push_to_talk", output_modalities=["text"]))
    s.s.commit()
    s.s.create_response()
    s.s.cancel()
    s.s.clear_audio()
    s.collect()
    assert not s.s.renewal_needed and set(s.types()) <= {"session.start", "session.input_audio.append"}
    s.s.update_options(SessionOptions(voice="marin"))
    assert s.s.renewal_needed
    s.s.connected(replay=True)
    s.collect()
    assert s.sent[-1]["session"]["audio"]["output"]["voice"] == "marin"


def test_close_frames_only_while_a_session_runs() -> None:
    s = Script()
    assert s.s.close_frames() == []
    s.start()
    assert [json.loads(f)["type"] for f in s.s.close_frames()] == ["session.close"]
    s.feed(type="session.closed", reason="close_requested", session={}, usage={"seconds": 3})
    assert s.s.close_frames() == [] and not s.s.renewal_needed
