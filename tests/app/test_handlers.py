"""The app's Chainlit handlers against a mocked Chainlit session (as Chainlit's own tests do) and a scripted
realtime client: audio in order, push-to-talk commits, typed turns, rendering of every app event, barge-in,
late transcripts, tool steps, errors in words, settings applied to the live session, cleanup."""

from __future__ import annotations

import asyncio
import random
from typing import Any

import pytest
from chainlit.types import InputAudioChunk

from chat_app.chat import VoiceChat
from realtime.config import SessionOptions
from realtime.events import (
    AssistantTextDone,
    AudioDelta,
    Interrupted,
    RealtimeError,
    Reconnected,
    Reconnecting,
    ResponseDoneEvent,
    ResponseStarted,
    SpeechStarted,
    SpeechStopped,
    TextDelta,
    ToolCallFinished,
    ToolCallStarted,
    UserTranscript,
)
from tests.app.app_helpers import FakeClient, chainlit_session, emitted, settle

SECRET = "test-key-FAKE-0123456789abcdef"


def make_chat(**client_kwargs: Any) -> tuple[VoiceChat, list[FakeClient]]:
    clients: list[FakeClient] = []

    def factory(options: SessionOptions) -> FakeClient:
        clients.append(FakeClient(options, **client_kwargs))
        return clients[-1]

    chat = VoiceChat(
        factory,
        SessionOptions(),
        provider_name="local",
        provider_label="Local engine (offline)",
        tool_names=["calculate", "get_current_time"],
        tools_disabled={"web_search": "TAVILY_API_KEY is not set"},
        secrets=[SECRET],
    )
    return chat, clients


def chunk(i: int, size: int = 8192) -> bytes:
    return bytes([i % 256]) * size


def pcm_ms(ms: int) -> bytes:
    return b"\x01\x00" * (24 * ms)


async def test_chat_start_shows_status_and_settings_then_opens_the_session() -> None:
    session = chainlit_session()
    chat, clients = make_chat()
    await chat.start()
    assert clients[0].names() == ["connect"]
    status = [d for e, d in emitted(session) if e in ("new_message", "update_message") and d["name"] == "Status"]
    assert "Connected to Local engine (offline)" in status[-1]["output"]
    assert "OPENAI_API_KEY" in status[-1]["output"]  # the local engine says how to use a cloud model
    assert "TAVILY_API_KEY is not set" in status[-1]["output"]
    widgets = emitted(session, "chat_settings")[0][1]
    assert [w["id"] for w in widgets] == ["voice", "turn_detection", "transcription", "instructions"]
    await chat.close()
    assert clients[0].names()[-1] == "close"


async def test_audio_chunks_reach_the_session_in_order_through_the_registered_handler(app_module: Any) -> None:
    """Chainlit runs each chunk's handler as its own task; the app queues before any await."""
    chainlit_session()
    from chainlit.config import config

    chat, clients = make_chat(delay_s=0.001)
    app_module.cl.user_session.set(app_module.CHAT_KEY, chat)
    assert await config.code.on_audio_start() is True
    tasks = [  # 40 chunks at once: small ones, so they stay within the inbox's bound of queued audio
        asyncio.create_task(config.code.on_audio_chunk(InputAudioChunk(i == 0, "pcm16", i * 21.0, chunk(i, 1024))))
        for i in range(40)
    ]
    await asyncio.gather(*tasks)
    for _ in range(200):
        if sum(len(c[1]) for c in clients[0].calls if c[0] == "append_audio") == 40 * 1024:
            break
        await asyncio.sleep(0.005)
    sent = b"".join(c[1] for c in clients[0].calls if c[0] == "append_audio")  # chunks queued behind go joined
    assert sent == b"".join(chunk(i, 1024) for i in range(40))
    await config.code.on_chat_end()
    assert clients[0].names()[-1] == "close"


async def test_push_to_talk_commits_after_the_queued_audio_and_places_the_user_turn() -> None:
    session = chainlit_session()
    chat, clients = make_chat(delay_s=0.002)
    chat.options = chat.options.model_copy(update={"turn_detection": "push_to_talk"})
    assert await chat.start_voice()
    for i in range(5):
        chat.push_audio(chunk(i))
    await chat.end_voice()
    for _ in range(100):
        if "create_response" in clients[0].names():
            break
        await asyncio.sleep(0.005)
    names = clients[0].names()
    assert names[-2:] == ["commit", "create_response"] and set(names[1:-2]) == {"append_audio"}
    assert b"".join(c[1] for c in clients[0].calls if c[0] == "append_audio") == b"".join(chunk(i) for i in range(5))
    user = [d for e, d in emitted(session, "new_message") if d["type"] == "user_message"]
    assert len(user) == 1
    # The transcript arrives later for the committed item and fills that placeholder.
    clients[0].push(UserTranscript(item_id="item_u1", transcript="hello there\n"))
    await settle()
    updated = [d for e, d in emitted(session, "update_message") if d["id"] == user[0]["id"]]
    assert updated[-1]["output"] == "hello there"
    await chat.close()


async def test_push_to_talk_with_almost_no_audio_does_not_commit() -> None:
    session = chainlit_session()
    chat, clients = make_chat()
    chat.options = chat.options.model_copy(update={"turn_detection": "push_to_talk"})
    assert await chat.start_voice()
    chat.push_audio(pcm_ms(40))
    await chat.end_voice()
    await settle(50)
    assert "commit" not in clients[0].names()
    assert any("Nothing was recorded" in d["message"] for _, d in emitted(session, "toast"))
    await chat.close()


async def test_typed_message_without_voice_asks_for_text_and_with_voice_for_audio() -> None:
    chainlit_session()
    chat, clients = make_chat()
    await chat.send_text("what time is it?")
    assert clients[0].calls[1:] == [
        ("update_session", {"output_modalities": ["text"]}),
        ("send_text", "what time is it?"),
    ]
    assert await chat.start_voice()
    await chat.send_text("and now?")
    assert clients[0].calls[-2:] == [("update_session", {"output_modalities": ["audio"]}), ("send_text", "and now?")]
    await chat.send_text("   ")
    assert clients[0].calls[-1] == ("send_text", "and now?")
    await chat.close()


async def test_a_response_streams_its_transcript_and_plays_on_its_own_track() -> None:
    session = chainlit_session()
    chat, clients = make_chat()
    await chat.start()
    assert await chat.start_voice()
    client = clients[0]
    client.push(
        ResponseStarted(response_id="r1", track="t1"),
        AudioDelta(response_id="r1", item_id="a1", track="t1", pcm=pcm_ms(100)),
        TextDelta(response_id="r1", item_id="a1", delta="Hello"),
        TextDelta(response_id="r1", item_id="a1", delta=" there."),
        AudioDelta(response_id="r1", item_id="a1", track="t1", pcm=pcm_ms(100) + b"\x00"),  # odd: trimmed
        AssistantTextDone(response_id="r1", item_id="a1", text="Hello there."),
        ResponseDoneEvent(response_id="r1", status="completed", usage={"total_tokens": 321}, latency_ms=540.0),
        ResponseStarted(response_id="r2", track="t2"),
        AudioDelta(response_id="r2", item_id="a2", track="t2", pcm=pcm_ms(20)),
    )
    await settle()
    audio = emitted(session, "audio_chunk")
    assert [d["track"] for _, d in audio] == ["t1", "t1", "t2"]
    assert all(d["mimeType"] == "pcm16" and len(d["data"]) % 2 == 0 for _, d in audio)
    start = emitted(session, "stream_start")[0][1]
    assert start["type"] == "assistant_message" and start["output"] == "Hello"
    assert [d["token"] for _, d in emitted(session, "stream_token")] == [" there."]
    final = [d for _, d in emitted(session, "update_message") if d["id"] == start["id"]]
    assert final[-1]["output"] == "Hello there." and final[-1]["streaming"] is False
    assert emitted(session, "token_usage") == [("token_usage", 321)]
    status = [d for _, d in emitted(session, "update_message") if d["name"] == "Status"][-1]["output"]
    assert "540 ms to first answer" in status and "321 tokens" in status
    await chat.close()


async def test_no_audio_is_sent_before_the_browser_has_a_player() -> None:
    session = chainlit_session()
    chat, clients = make_chat()
    await chat.send_text("hi")
    clients[0].push(
        ResponseStarted(response_id="r1", track="t1"),
        AudioDelta(response_id="r1", item_id="a1", track="t1", pcm=pcm_ms(50)),
        TextDelta(response_id="r1", item_id="a1", delta="Hi!", source="text"),
    )
    await settle()
    assert emitted(session, "audio_chunk") == []
    assert emitted(session, "stream_start")[0][1]["output"] == "Hi!"
    await chat.close()


async def test_barge_in_stops_the_track_once_and_forwards_nothing_more_of_it() -> None:
    session = chainlit_session()
    chat, clients = make_chat()
    assert await chat.start_voice()
    client = clients[0]
    client.push(
        ResponseStarted(response_id="r1", track="t1"),
        AudioDelta(response_id="r1", item_id="a1", track="t1", pcm=pcm_ms(5000)),
        TextDelta(response_id="r1", item_id="a1", delta="Once upon a time"),
        SpeechStarted(item_id="u2", audio_start_ms=1000),  # the user speaks while 5 s of answer play
        Interrupted(response_id="r1", item_id="a1", track="t1", audio_end_ms=800),
        AudioDelta(response_id="r1", item_id="a1", track="t1", pcm=pcm_ms(100)),  # late delta: dropped
        ResponseStarted(response_id="r2", track="t2"),
        AudioDelta(response_id="r2", item_id="a2", track="t2", pcm=pcm_ms(100)),
    )
    await settle()
    frames = [(e, d.get("track") if isinstance(d, dict) else None) for e, d in emitted(session)]
    frames = [f for f in frames if f[0] in ("audio_chunk", "audio_interrupt")]
    assert frames == [("audio_chunk", "t1"), ("audio_interrupt", None), ("audio_chunk", "t2")]
    # The cut-short reply no longer shows as streaming.
    assert emitted(session, "update_message")[-1][1]["streaming"] is False
    await chat.close()


async def test_turning_the_mic_off_while_the_answer_plays_cancels_it_upstream() -> None:
    """Not only a local mute: the session is told to cancel and truncate, so the model keeps only what was heard."""
    chainlit_session()
    chat, clients = make_chat()
    assert await chat.start_voice()
    clients[0].push(
        ResponseStarted(response_id="r1", track="t1"),
        AudioDelta(response_id="r1", item_id="a1", track="t1", pcm=pcm_ms(5000)),
    )
    await settle()
    await chat.end_voice()
    assert clients[0].names().count("cancel") == 1
    await chat.end_voice()  # nothing plays any more: nothing to cancel
    assert clients[0].names().count("cancel") == 1
    await chat.close()


async def test_an_interrupted_reply_shows_only_what_was_heard() -> None:
    session = chainlit_session()
    chat, clients = make_chat()
    assert await chat.start_voice()
    clients[0].push(
        ResponseStarted(response_id="r1", track="t1"),
        AudioDelta(response_id="r1", item_id="a1", track="t1", pcm=pcm_ms(5000)),
        TextDelta(response_id="r1", item_id="a1", delta="Once upon a time there was a lighthouse keeper."),
        Interrupted(response_id="r1", item_id="a1", track="t1", audio_end_ms=800, heard="Once upon a time..."),
        AssistantTextDone(response_id="r1", item_id="a1", text="Once upon a time there was a lighthouse keeper."),
    )
    await settle()
    shown = [d["output"] for _, d in emitted(session, "update_message") if d.get("type") == "assistant_message"]
    assert shown[-1] == "Once upon a time... *(interrupted)*"
    await chat.close()


async def test_speech_after_playback_finished_sends_no_interrupt() -> None:
    """An interrupt when nothing plays would silence the next answer's track in the browser."""
    session = chainlit_session()
    chat, clients = make_chat()
    assert await chat.start_voice()
    clients[0].push(
        ResponseStarted(response_id="r1", track="t1"),
        AudioDelta(response_id="r1", item_id="a1", track="t1", pcm=pcm_ms(1)),
    )
    await settle()
    await asyncio.sleep(0.02)
    clients[0].push(SpeechStarted(item_id="u2", audio_start_ms=0))
    await settle()
    assert emitted(session, "audio_interrupt") == []
    await chat.close()


async def test_a_late_user_transcript_fills_the_placeholder_shown_before_the_answer() -> None:
    session = chainlit_session()
    chat, clients = make_chat()
    assert await chat.start_voice()
    clients[0].push(
        SpeechStarted(item_id="u1", audio_start_ms=0),
        SpeechStopped(item_id="u1", audio_end_ms=900),
        ResponseStarted(response_id="r1", track="t1"),
        TextDelta(response_id="r1", item_id="a1", delta="Sure."),
        UserTranscript(item_id="u1", transcript="Tell me a joke", final=False),
        UserTranscript(item_id="u1", transcript="Tell me a joke.\n", final=True, previous_item_id=None),
        UserTranscript(item_id="typed1", transcript="typed text", typed=True),
    )
    await settle()
    order = [
        (d["type"], d["id"])
        for e, d in emitted(session)
        if (e == "new_message" and d["type"] == "user_message") or e == "stream_start"
    ]
    assert [o[0] for o in order] == ["user_message", "assistant_message"]
    user_id = order[0][1]
    updates = [d["output"] for _, d in emitted(session, "update_message") if d["id"] == user_id]
    assert updates == ["Tell me a joke …", "Tell me a joke."]
    assert not any("typed text" in str(d) for _, d in emitted(session))
    await chat.close()


async def test_tool_calls_show_as_steps_with_arguments_result_and_duration() -> None:
    session = chainlit_session()
    chat, clients = make_chat()
    await chat.ensure_connected()
    clients[0].push(
        ToolCallStarted(call_id="c1", name="calculate", arguments='{"expression": "12*7"}'),
        ToolCallFinished(
            call_id="c1",
            name="calculate",
            arguments='{"expression": "12*7"}',
            output='{"result": 84}',
            ok=True,
            duration_ms=12.4,
        ),
        ToolCallFinished(
            call_id="c2",
            name="web_search",
            arguments="{}",
            output='{"error": "timeout"}',
            ok=False,
            duration_ms=15000.0,
        ),
    )
    await settle()
    started = emitted(session, "new_message")
    steps = [d for _, d in started if d["type"] == "tool"]
    assert steps[0]["name"] == "calculate" and steps[0]["input"] == '{"expression": "12*7"}'
    done = {d["id"]: d for _, d in emitted(session, "update_message") if d["type"] == "tool"}
    first = done[steps[0]["id"]]
    assert first["name"] == "calculate (12 ms)" and first["output"] == '{"result": 84}' and not first["isError"]
    assert first["start"] and first["end"]
    second = done[steps[1]["id"]]
    assert second["name"] == "web_search (15.00 s)" and second["isError"]
    await chat.close()


async def test_service_errors_are_shown_in_words_without_the_key() -> None:
    session = chainlit_session()
    chat, clients = make_chat()
    await chat.ensure_connected()
    clients[0].push(
        RealtimeError(code="conversation_already_has_active_response", message="busy"),
        RealtimeError(code="invalid_api_key", message=f"Incorrect API key provided: {SECRET}", fatal=True),
        RealtimeError(code="weird_new_code", message=f"something odd with {SECRET}"),
    )
    await settle()
    errors = [d["output"] for _, d in emitted(session, "new_message") if d["isError"]]
    assert len(errors) == 2
    assert "did not accept the API key" in errors[0] and "start a new chat" in errors[0]
    assert errors[1] == "The voice service reported a problem: something odd with ***."
    assert SECRET not in repr(session.emit.call_args_list)
    await chat.close()


async def test_a_failed_connection_is_explained_and_the_mic_stays_off() -> None:
    session = chainlit_session()
    chat, _ = make_chat(fail_connect=ConnectionError(f"401 Unauthorized for key {SECRET}"))
    assert await chat.start_voice() is False
    errors = [d["output"] for _, d in emitted(session, "new_message") if d["isError"]]
    assert errors == ["Could not connect to Local engine (offline): 401 Unauthorized for key ***"]
    # Audio that still arrives does not retry (and report) for every chunk.
    for i in range(5):
        chat.push_audio(chunk(i))
    await settle(50)
    assert len([e for e, d in emitted(session, "new_message") if d["isError"]]) == 1
    await chat.close()


async def test_settings_are_applied_to_the_live_session() -> None:
    session = chainlit_session()
    chat, clients = make_chat()
    await chat.ensure_connected()
    await chat.apply_settings(
        {"voice": "coral", "turn_detection": "push_to_talk", "transcription": False, "instructions": "Be brief."}
    )
    assert clients[0].calls[-1] == (
        "update_session",
        {"voice": "coral", "instructions": "Be brief.", "turn_detection": "push_to_talk", "transcription_model": None},
    )
    await chat.apply_settings({"voice": "coral", "turn_detection": "bogus"})  # nothing changed, bad value ignored
    assert len([c for c in clients[0].calls if c[0] == "update_session"]) == 1
    await chat.apply_settings({"transcription": True})
    assert clients[0].calls[-1] == ("update_session", {"transcription_model": "gpt-realtime-whisper"})
    assert "push-to-talk" in emitted(session, "toast")[0][1]["message"]
    await chat.close()
    # A reconnect later starts from the changed options.
    await chat.ensure_connected()
    assert clients[1].options.voice == "coral" and clients[1].options.turn_detection == "push_to_talk"
    await chat.close()


async def test_a_session_that_ends_by_itself_is_reopened_at_next_use() -> None:
    chainlit_session()
    chat, clients = make_chat()
    await chat.ensure_connected()
    await clients[0].close()  # e.g. the provider closed it for good
    await settle()
    await chat.send_text("still there?")
    assert len(clients) == 2 and clients[1].calls[-1] == ("send_text", "still there?")
    await chat.close()


@pytest.mark.parametrize("seed", [1, 2])
async def test_chunks_stay_ordered_with_a_slow_session(seed: int) -> None:
    chainlit_session()
    chat, clients = make_chat()
    await chat.start_voice()
    rng = random.Random(seed)
    original = clients[0].append_audio

    async def jittery(pcm: bytes) -> None:
        await asyncio.sleep(rng.random() / 1000)
        await original(pcm)

    clients[0].append_audio = jittery  # type: ignore[method-assign]
    for i in range(30):
        chat.push_audio(chunk(i, 64))
    for _ in range(200):
        if sum(len(c[1]) for c in clients[0].calls if c[0] == "append_audio") == 30 * 64:
            break
        await asyncio.sleep(0.005)
    assert b"".join(c[1] for c in clients[0].calls if c[0] == "append_audio") == b"".join(
        chunk(i, 64) for i in range(30)
    )
    await chat.close()


async def test_reconnecting_and_reconnected_show_in_the_status() -> None:
    session = chainlit_session()
    chat, clients = make_chat()
    await chat.start()
    clients[0].push(Reconnecting(attempt=2, delay_s=1.0, reason=f"connection closed (key {SECRET})"))
    await settle()
    assert "reconnecting, attempt 2" in chat_status(session)
    assert SECRET not in chat_status(session) and "***" in chat_status(session)
    assert emitted(session, "toast")[-1][1]["type"] == "warning"
    clients[0].push(Reconnected(attempt=2))
    await settle()
    assert chat_status(session).startswith("Connected to Local engine (offline).")
    await chat.close()


async def test_a_reply_done_without_deltas_is_still_shown() -> None:
    session = chainlit_session()
    chat, clients = make_chat()
    await chat.ensure_connected()
    clients[0].push(AssistantTextDone(response_id="r1", item_id="a1", text="All done."))
    await settle()
    sent = [d for _, d in emitted(session, "new_message") if d["type"] == "assistant_message"]
    assert [d["output"] for d in sent] == ["All done."]
    await chat.close()


def chat_status(session: Any) -> str:
    return [d for e, d in emitted(session) if e in ("new_message", "update_message") and d["name"] == "Status"][-1][
        "output"
    ]
