"""The session state machine driven by scripted server events, with a fake clock and no network."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

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
    UserTranscript,
)
from realtime.session import RealtimeSession, ToolOutput


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def pcm_ms(ms: int) -> str:
    return base64.b64encode(b"\x01\x00" * (24 * ms)).decode()


class Script:
    """A session plus helpers to feed GA server events and read what it sends and emits."""

    def __init__(self, options: SessionOptions | None = None) -> None:
        self.clock = Clock()
        self.session = RealtimeSession(options or SessionOptions(), clock=self.clock, provider="openai", model="m")
        self.session.start()
        self.sent: list[dict[str, Any]] = self.session.data_to_send()
        self.events: list[Any] = []

    def feed(self, **event: Any) -> None:
        self.session.receive(json.dumps(event))
        self.sent += self.session.data_to_send()
        self.events += self.session.events_received()

    def act(self) -> None:
        self.sent += self.session.data_to_send()
        self.events += self.session.events_received()

    def sent_types(self) -> list[str]:
        return [e["type"] for e in self.sent]

    def of(self, cls: type) -> list[Any]:
        return [e for e in self.events if isinstance(e, cls)]

    # a few server events in the GA shape
    def created(self, rid: str = "resp_1") -> None:
        self.feed(type="response.created", event_id="e", response={"id": rid, "status": "in_progress", "output": []})

    def audio(self, item: str, ms: int, rid: str = "resp_1") -> None:
        self.feed(
            type="response.output_audio.delta",
            response_id=rid,
            item_id=item,
            output_index=0,
            content_index=0,
            delta=pcm_ms(ms),
            obfuscation="abc",
        )

    def transcript(self, item: str, text: str, rid: str = "resp_1") -> None:
        self.feed(
            type="response.output_audio_transcript.delta",
            response_id=rid,
            item_id=item,
            output_index=0,
            content_index=0,
            delta=text,
        )

    def done(self, rid: str = "resp_1", status: str = "completed", output: list[Any] | None = None) -> None:
        usage = {
            "total_tokens": 30,
            "input_tokens": 10,
            "output_tokens": 20,
            "input_token_details": {"text_tokens": 10, "audio_tokens": 0},
        }
        self.feed(type="response.done", response={"id": rid, "status": status, "output": output or [], "usage": usage})

    def error(self, code: str, message: str = "m") -> None:
        self.feed(
            type="error",
            event_id="e",
            error={"type": "invalid_request_error", "code": code, "message": message, "param": None, "event_id": None},
        )


def test_start_sends_session_update_and_ready_event() -> None:
    s = Script()
    assert s.sent_types() == ["session.update"]
    assert s.sent[0]["session"]["audio"]["input"]["turn_detection"] == {
        "type": "semantic_vad", "eagerness": "auto", "create_response": True, "interrupt_response": True
    }  # fmt: skip
    s.feed(type="session.updated", session={"type": "realtime", "id": "sess_1", "expires_at": 0, "extra": 1})
    (ready,) = s.of(SessionReady)
    assert ready.provider == "openai" and ready.session["id"] == "sess_1"


def test_spoken_reply_streams_audio_and_transcript_with_latency() -> None:
    s = Script()
    s.feed(type="input_audio_buffer.speech_started", audio_start_ms=100, item_id="user_1")
    s.clock.now += 1.0
    s.feed(type="input_audio_buffer.speech_stopped", audio_end_ms=1100, item_id="user_1")
    s.feed(type="input_audio_buffer.committed", previous_item_id=None, item_id="user_1")
    s.created()
    s.clock.now += 0.4
    s.audio("item_a", 200)
    s.transcript("item_a", "Hello ")
    s.audio("item_a", 200)
    s.transcript("item_a", "there.")
    s.feed(
        type="response.output_audio_transcript.done",
        response_id="resp_1",
        item_id="item_a",
        output_index=0,
        content_index=0,
        transcript="Hello there.",
    )
    s.done()
    (started,) = s.of(ResponseStarted)
    audio = s.of(AudioDelta)
    assert [len(a.pcm) for a in audio] == [9600, 9600]
    assert {a.track for a in audio} == {started.track}
    assert "".join(t.delta for t in s.of(TextDelta)) == "Hello there."
    assert s.of(AssistantTextDone)[0].text == "Hello there."
    (done,) = s.of(ResponseDoneEvent)
    assert done.status == "completed" and done.usage and done.usage["total_tokens"] == 30
    assert done.latency_ms == pytest.approx(400.0)
    assert s.sent_types() == ["session.update"]  # server VAD made the response: nothing more to send


def test_each_response_gets_a_new_track() -> None:
    s = Script()
    for rid in ("r1", "r2"):
        s.created(rid)
        s.audio(f"item_{rid}", 50, rid)
        s.done(rid)
    tracks = [e.track for e in s.of(ResponseStarted)]
    assert len(set(tracks)) == 2


def test_typed_turn_creates_item_then_one_response() -> None:
    s = Script()
    item_id = s.session.send_text("what time is it?")
    s.act()
    assert s.sent_types() == ["session.update", "conversation.item.create", "response.create"]
    item = s.sent[1]["item"]
    assert item["id"] == item_id and item["content"] == [{"type": "input_text", "text": "what time is it?"}]
    s.created()
    s.clock.now += 0.25
    s.feed(type="response.output_text.delta", response_id="resp_1", item_id="t1", delta="It is noon.")
    s.done()
    assert s.of(TextDelta)[0].source == "text"
    assert s.of(ResponseDoneEvent)[0].latency_ms == pytest.approx(250.0)


def test_response_create_is_held_while_a_response_is_active() -> None:
    s = Script()
    s.created("r1")
    s.session.create_response()
    s.session.create_response()
    s.act()
    assert s.sent_types().count("response.create") == 0
    s.done("r1")
    assert s.sent_types().count("response.create") == 1  # one response.create at most


def _typed(sent: dict[str, Any]) -> str:
    return str(sent["item"]["content"][0]["text"])


def test_messages_typed_during_an_answer_each_get_their_own_answer_in_order() -> None:
    # Two messages typed while the story is being answered: each goes out (item, then response.create) after the
    # answer before it is done, so neither is merged into the other's answer (the offline engine answers only the
    # newest user message: a merged turn left "tell me a story" unanswered).
    s = Script()
    s.session.send_text("tell me a story")
    s.created("story")
    ids = [s.session.send_text("one"), s.session.send_text("two")]
    s.act()
    assert s.sent_types()[1:] == ["conversation.item.create", "response.create"]
    assert s.session.typed_waiting == 2
    s.done("story")
    assert s.sent_types()[3:] == ["conversation.item.create", "response.create"]
    assert _typed(s.sent[3]) == "one" and s.sent[3]["item"]["id"] == ids[0]
    s.created("r_one")
    s.done("r_one")
    assert s.sent_types()[5:] == ["conversation.item.create", "response.create"]
    assert _typed(s.sent[5]) == "two" and s.sent[5]["item"]["id"] == ids[1]
    s.created("r_two")
    s.done("r_two")
    assert len(s.sent) == 7 and s.session.typed_waiting == 0
    texts = [i["content"][0]["text"] for i in s.session.history]
    assert texts == ["tell me a story", "one", "two"]


def test_a_message_typed_before_the_answer_was_created_waits_for_it() -> None:
    s = Script()
    s.session.send_text("tell me a story")
    s.session.send_text("and then?")  # back to back: the first response.create is still in flight
    s.act()
    assert s.sent_types().count("response.create") == 1
    s.created("story")
    s.done("story")
    assert s.sent_types().count("response.create") == 2 and _typed(s.sent[-2]) == "and then?"


def test_a_cancel_keeps_the_messages_typed_meanwhile() -> None:
    # The mic goes off while the story plays (the app cancels it): the message typed meanwhile is still answered.
    s = Script()
    s.created("story")
    s.audio("item_story", 3000, "story")
    s.session.send_text("what time is it?")
    s.clock.now += 1.0
    s.session.cancel()
    s.act()
    assert "response.cancel" in s.sent_types() and s.sent_types().count("response.create") == 0
    s.done("story", status="cancelled")
    assert s.sent_types()[-2:] == ["conversation.item.create", "response.create"]
    assert _typed(s.sent[-2]) == "what time is it?"


def test_a_typed_message_waits_for_the_tool_calls_follow_up() -> None:
    s = Script()
    s.session.send_text("what time is it?")
    s.created("r1")
    call = {"type": "function_call", "call_id": "c1", "name": "get_time", "arguments": "{}"}
    s.session.send_text("and the date?")
    s.done("r1", output=[call])
    assert s.sent_types().count("response.create") == 1  # the tool's output comes first
    s.session.tool_results([ToolOutput("c1", '{"time": "noon"}')])
    s.act()
    assert s.sent_types()[-2:] == ["conversation.item.create", "response.create"]
    assert s.sent[-2]["item"]["type"] == "function_call_output"
    s.created("r2")
    s.done("r2")
    assert s.sent_types()[-2:] == ["conversation.item.create", "response.create"]
    assert _typed(s.sent[-2]) == "and the date?"


def test_a_reconnect_replays_then_sends_the_messages_still_waiting() -> None:
    s = Script()
    s.session.send_text("tell me a story")
    s.created("story")
    s.session.send_text("one")
    s.act()
    s.sent.clear()
    s.session.start(replay=True)  # the connection dropped during the story
    s.act()
    assert s.sent_types() == ["session.update", "conversation.item.create", "response.create"]
    assert _typed(s.sent[1]) == "tell me a story"  # replayed, and its answer asked for again
    s.created("story_again")
    s.done("story_again")
    assert s.sent_types()[-2:] == ["conversation.item.create", "response.create"] and _typed(s.sent[-2]) == "one"


def test_active_response_error_requeues_the_request() -> None:
    s = Script()
    s.session.send_text("hi")
    s.act()
    s.created("server_made")  # server VAD started one at the same time
    s.error("conversation_already_has_active_response")
    assert not s.of(RealtimeError)
    assert s.sent_types().count("response.create") == 1
    s.done("server_made")
    assert s.sent_types().count("response.create") == 2


def test_message_plus_two_function_calls_gives_exactly_one_response_create() -> None:
    s = Script()
    s.created()
    s.transcript("msg_1", "Let me check.")
    for index, (call, name, args) in enumerate(
        [("call_a", "get_current_time", '{"timezone": "UTC"}'), ("call_b", "calculate", '{"expression": "2+2"}')], 1
    ):
        s.feed(
            type="response.output_item.added",
            response_id="resp_1",
            output_index=index,
            item={"id": f"fc_{index}", "type": "function_call", "call_id": call, "name": name, "arguments": ""},
        )
        s.feed(
            type="response.function_call_arguments.done",
            response_id="resp_1",
            item_id=f"fc_{index}",
            output_index=index,
            call_id=call,
            name=name,
            arguments=args,
        )
    assert not s.of(ToolCallsRequested)  # nothing runs before response.done
    s.done(
        output=[
            {"id": "msg_1", "type": "message", "role": "assistant", "content": [{"type": "output_audio"}]},
            {"id": "fc_1", "type": "function_call", "call_id": "call_a", "name": "get_current_time", "arguments": "{}"},
            {"id": "fc_2", "type": "function_call", "call_id": "call_b", "name": "calculate", "arguments": "{}"},
        ]
    )
    (requested,) = s.of(ToolCallsRequested)
    calls = requested.calls
    assert requested.response_id == "resp_1"
    assert [(c.call_id, c.name, c.arguments) for c in calls] == [
        ("call_a", "get_current_time", '{"timezone": "UTC"}'),
        ("call_b", "calculate", '{"expression": "2+2"}'),
    ]
    assert [e.name for e in s.of(ToolCallStarted)] == ["get_current_time", "calculate"]
    assert s.of(ResponseDoneEvent)[0].function_calls == 2
    assert "response.create" not in s.sent_types()
    s.session.tool_results([ToolOutput("call_a", '{"time": "12:00"}')])
    s.act()
    assert "response.create" not in s.sent_types()  # waits for the second output
    s.session.tool_results([ToolOutput("call_b", '{"error": "boom"}', ok=False)])
    s.act()
    tail = s.sent_types()[1:]
    assert tail == ["conversation.item.create", "conversation.item.create", "response.create"]
    assert [s.sent[i]["item"]["call_id"] for i in (1, 2)] == ["call_a", "call_b"]
    assert s.sent[2]["item"] == {"type": "function_call_output", "call_id": "call_b", "output": '{"error": "boom"}'}
    assert [f.ok for f in s.of(ToolCallFinished)] == [True, False]


def test_cancelled_response_calls_are_not_run() -> None:
    s = Script()
    s.created()
    s.feed(
        type="response.function_call_arguments.done",
        response_id="resp_1",
        call_id="c",
        name="calculate",
        arguments="{}",
    )
    s.done(status="cancelled")
    assert not s.of(ToolCallsRequested) and not s.of(ToolCallStarted)


def test_barge_in_truncates_at_played_ms_and_drops_later_deltas() -> None:
    s = Script()
    s.created()
    s.audio("item_a", 1000)  # 1 s received at t=100.0
    s.transcript("item_a", "abcdefghij" * 2)
    s.clock.now += 0.3456  # 345.6 ms played
    s.audio("item_a", 1000)
    s.feed(type="input_audio_buffer.speech_started", audio_start_ms=5000, item_id="user_2")
    (interrupted,) = s.of(Interrupted)
    assert interrupted.heard == "abc..."  # 345 of 2000 ms received: the first 17% of the 20 characters
    truncate = [e for e in s.sent if e["type"] == "conversation.item.truncate"]
    assert truncate == [
        {"type": "conversation.item.truncate", "item_id": "item_a", "content_index": 0, "audio_end_ms": 345}
    ]
    assert isinstance(truncate[0]["audio_end_ms"], int)
    assert interrupted.audio_end_ms == 345 and interrupted.track == s.of(ResponseStarted)[0].track
    assert "response.cancel" not in s.sent_types()  # interrupt_response: the server cancels by itself
    before = len(s.of(AudioDelta)), len(s.of(TextDelta))
    s.audio("item_a", 500)
    s.transcript("item_a", "late words")
    assert (len(s.of(AudioDelta)), len(s.of(TextDelta))) == before


def test_barge_in_never_truncates_beyond_audio_received() -> None:
    s = Script()
    s.created()
    s.audio("item_a", 120)
    s.clock.now += 5.0  # long after: all 120 ms were heard, the response still runs
    s.feed(type="input_audio_buffer.speech_started", audio_start_ms=1, item_id="u")
    (truncate,) = [e for e in s.sent if e["type"] == "conversation.item.truncate"]
    assert truncate["audio_end_ms"] == 120


def test_barge_in_with_nothing_played_sends_no_truncate() -> None:
    s = Script()
    s.created()
    s.feed(type="input_audio_buffer.speech_started", audio_start_ms=1, item_id="u")
    assert "conversation.item.truncate" not in s.sent_types()


def test_barge_in_sends_cancel_when_server_will_not() -> None:
    s = Script(SessionOptions(turn_detection="push_to_talk"))
    s.created()
    s.audio("item_a", 500)
    s.clock.now += 0.1
    s.feed(type="input_audio_buffer.speech_started", audio_start_ms=1, item_id="u")
    assert s.sent_types()[-2:] == ["conversation.item.truncate", "response.cancel"]


def test_input_transcript_arriving_after_the_reply_is_placed_by_item_id() -> None:
    s = Script()
    s.feed(type="input_audio_buffer.committed", previous_item_id="item_prev", item_id="user_1")
    s.feed(
        type="conversation.item.added",
        previous_item_id="item_prev",
        item={"id": "user_1", "type": "message", "role": "user", "content": [{"type": "input_audio"}]},
    )
    s.created()
    s.feed(
        type="conversation.item.added",
        previous_item_id="user_1",
        item={"id": "item_a", "type": "message", "role": "assistant", "content": []},
    )
    s.transcript("item_a", "Sure.")
    s.feed(
        type="conversation.item.input_audio_transcription.completed",
        item_id="user_1",
        content_index=0,
        transcript="What's the weather?\n",
    )
    (user,) = [u for u in s.of(UserTranscript) if u.final]
    assert (user.item_id, user.transcript, user.previous_item_id) == ("user_1", "What's the weather?", "item_prev")
    assert s.events.index(user) > s.events.index(s.of(TextDelta)[0])


@pytest.mark.parametrize(
    ("code", "fatal", "shown"),
    [
        ("conversation_already_has_active_response", False, False),
        ("response_cancel_not_active", False, False),
        ("input_audio_buffer_commit_empty", False, True),
        ("session_expired", False, True),
        ("beta_api_shape_disabled", True, True),
        ("invalid_api_key", True, True),
        ("something_new", False, True),
    ],
)
def test_error_codes(code: str, fatal: bool, shown: bool) -> None:
    s = Script()
    s.error(code, "Your session hit the maximum duration of 60 minutes." if code == "session_expired" else "x")
    errors = s.of(RealtimeError)
    assert bool(errors) == shown
    if shown:
        assert errors[0].fatal is fatal and errors[0].code == code and errors[0].message
    assert (s.session.fatal is not None) == fatal
    assert s.session.renewal_needed == (code == "session_expired")


def test_truncate_too_long_error_is_harmless() -> None:
    s = Script()
    s.error("invalid_value", "Audio content of 300ms is already shorter than 345ms")
    assert not s.of(RealtimeError)


def test_unknown_events_extra_fields_and_garbage_never_crash() -> None:
    s = Script()
    s.feed(type="output_audio_buffer.started", response_id="r")
    s.feed(type="totally.new.event", payload={"a": [1, None]})
    s.feed(type="rate_limits.updated", rate_limits=None, event_id=None)
    s.session.receive("{not json")
    s.session.receive(json.dumps({"type": "response.output_audio.delta"}))  # known type, fields missing
    s.act()
    errors = s.of(RealtimeError)
    assert len(errors) == 2 and not any(e.fatal for e in errors)
    s.created()
    s.audio("item_a", 10)
    assert len(s.of(AudioDelta)) == 1  # still working


def test_reconnect_replays_settings_and_conversation_and_reasks_the_answer() -> None:
    s = Script()
    s.session.send_text("remember the number 42")
    s.act()
    s.created()
    s.transcript("item_a", "Okay, 42.")
    s.feed(type="response.output_audio_transcript.done", response_id="resp_1", item_id="item_a", transcript="Okay, 42.")
    s.done()
    s.session.send_text("what number?")
    s.act()
    s.created("resp_2")  # the connection drops mid-response
    s.sent.clear()
    s.session.start(replay=True)
    s.act()
    assert s.sent_types() == ["session.update"] + ["conversation.item.create"] * 3 + ["response.create"]
    texts = [e["item"]["content"][0] for e in s.sent[1:4]]
    assert texts == [
        {"type": "input_text", "text": "remember the number 42"},
        {"type": "output_text", "text": "Okay, 42."},
        {"type": "input_text", "text": "what number?"},
    ]
    assert s.of(ResponseDoneEvent)[-1].status == "cancelled"


def test_history_is_capped() -> None:
    s = RealtimeSession(SessionOptions(), max_history_items=5)
    for i in range(20):
        s.send_text(f"message {i}")
        s.receive({"type": "response.created", "response": {"id": f"r{i}", "status": "in_progress", "output": []}})
        s.receive({"type": "response.done", "response": {"id": f"r{i}", "status": "completed", "output": []}})
    assert len(s.history) == 5
    assert s.history[-1]["content"][0]["text"] == "message 19"


def test_odd_audio_is_refused_and_large_audio_is_split() -> None:
    s = RealtimeSession(SessionOptions())
    with pytest.raises(ValueError, match="even"):
        s.append_audio(b"\x00")
    s.append_audio(b"\x00\x00" * (8 * 1024 * 1024))  # 16 MiB > 15 MiB limit
    appends = s.data_to_send()
    assert len(appends) == 2
    assert sum(len(base64.b64decode(a["audio"])) for a in appends) == 16 * 1024 * 1024


# ------------------------------------------------------------------------------- defects, each with its test


def local_engine_story(s: Script, item: str = "item_story", sentences: int = 5) -> str:
    """What the local engine sends for a spoken answer: each sentence's transcript delta, then its audio (2 s a
    sentence), all of it far faster than real time, then the transcript's done and response.done. Playback in
    the browser is still at its start when everything has arrived."""
    s.created()
    said = []
    for i in range(sentences):
        text = f"Sentence number {i} of the story." if i == 0 else f" Sentence number {i} of the story."
        said.append(text)
        s.transcript(item, text)
        s.audio(item, 2000)
    full = "".join(said)
    s.feed(type="response.output_audio.done", response_id="resp_1", item_id=item, output_index=0, content_index=0)
    s.feed(type="response.output_audio_transcript.done", response_id="resp_1", item_id=item, output_index=0,
           content_index=0, transcript=full)  # fmt: skip
    s.done()
    return full


def test_barge_in_after_the_whole_answer_arrived_shows_the_heard_words_and_replays_no_empty_item() -> None:
    s = Script()
    full = local_engine_story(s)
    s.clock.now += 4.0  # the user talks over the story 4 s into its 10 s of playback
    s.feed(type="input_audio_buffer.speech_started", audio_start_ms=9000, item_id="user_2")
    (cut,) = s.of(Interrupted)
    assert cut.audio_end_ms == 4000
    assert cut.heard and cut.heard.endswith("...") and full.startswith(cut.heard[:-3])
    assert "Sentence number 1" in cut.heard and "Sentence number 3" not in cut.heard
    assistant = [i for i in s.session.history if i.get("role") == "assistant"]
    assert [i["content"][0]["text"] for i in assistant] == [cut.heard]


def test_barge_in_with_no_text_leaves_no_empty_assistant_item() -> None:
    s = Script()
    s.created()
    s.audio("item_mute", 2000)
    s.clock.now += 0.5
    s.feed(type="input_audio_buffer.speech_started", audio_start_ms=0, item_id="user_2")
    assert not [i for i in s.session.history if i.get("role") == "assistant"]


def test_late_deltas_of_an_interrupted_item_stay_dropped_after_many_interruptions() -> None:
    s = Script()
    for i in range(205):  # a long conversation with many barge-ins
        s.created(f"resp_{i}")
        s.audio(f"item_{i}", 2000, rid=f"resp_{i}")
        s.clock.now += 0.5
        s.feed(type="input_audio_buffer.speech_started", audio_start_ms=0, item_id=f"user_{i}")
        s.done(f"resp_{i}", status="cancelled")
    s.created("resp_late")
    before = len(s.of(AudioDelta))
    s.audio("item_150", 100, rid="resp_late")  # a late delta of an item interrupted 55 barge-ins ago
    s.transcript("item_150", "never heard", rid="resp_late")
    assert len(s.of(AudioDelta)) == before
    assert "never heard" not in [e.delta for e in s.of(TextDelta)]


def test_a_failed_response_is_a_classified_error() -> None:
    s = Script()
    s.created()
    s.feed(type="response.done", response={"id": "resp_1", "status": "failed", "output": [], "status_details": {
        "type": "failed", "error": {"type": "invalid_request_error", "code": "rate_limit_exceeded",
                                    "message": "slow down"}}})  # fmt: skip
    (error,) = s.of(RealtimeError)
    assert error.code == "rate_limit_exceeded" and error.retryable and not error.fatal and error.message == "slow down"


def test_mic_off_while_the_answer_still_plays_cancels_and_truncates_at_what_was_heard() -> None:
    s = Script()
    s.created()
    s.audio("item_a", 3000)
    s.clock.now += 1.0
    assert s.session.playing
    s.session.cancel()  # what the app does when the mic goes off mid-answer
    s.act()
    assert s.sent_types()[-2:] == ["response.cancel", "conversation.item.truncate"]
    assert s.sent[-1]["audio_end_ms"] == 1000
    assert not s.session.playing


def test_a_cut_after_a_full_stop_reads_as_one_ellipsis() -> None:
    from realtime.session import _cut

    assert _cut("One sentence. Two words here", 50, 100) == "One sentence..."


def test_abandoning_the_answer_ends_it_for_the_app_and_lets_the_next_request_go_at_once() -> None:
    s = Script()
    s.session.send_text("hello?")
    s.created("r1")
    s.session.send_text("anyone there?")
    s.session.abandon_response("timeout")  # the service went silent
    s.act()
    (done,) = s.of(ResponseDoneEvent)
    assert (done.response_id, done.status, done.usage) == ("r1", "cancelled", None)
    assert done.status_details == {"reason": "timeout"}
    assert s.sent_types()[-3:] == ["response.cancel", "conversation.item.create", "response.create"]
    assert _typed(s.sent[-2]) == "anyone there?"
    s.session.abandon_response("timeout")  # the create in flight is forgotten too
    s.session.create_response()
    s.act()
    assert s.sent_types()[-2:] == ["response.cancel", "response.create"]
    assert len(s.of(ResponseDoneEvent)) == 1  # no response was running the second time


def test_a_reported_error_reaches_the_app_in_order_and_changes_nothing() -> None:
    s = Script()
    s.session.send_text("hi")
    s.created("r1")
    error = RealtimeError("invalid_server_event", "unreadable", fatal=True)
    s.session.report_error(error)
    s.done("r1")
    assert [type(e) for e in s.events] == [ResponseStarted, RealtimeError, ResponseDoneEvent]
    assert s.of(RealtimeError) == [error] and s.session.fatal is None
