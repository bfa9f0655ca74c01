"""Input checked at the edge and the chat's behaviour under trouble: malformed audio and settings payloads,
audio without ``audio_start``, the bounded audio inbox, voice admission, one toast per change of connection
state and one "Try again" message after a fatal stop."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from chat_app.admission import VoiceAdmission, max_voice_sessions_from_env
from chat_app.chat import TRY_AGAIN_ACTION, AudioInbox, VoiceChat
from chat_app.chat_settings import MAX_INSTRUCTIONS_CHARS
from chat_app.edge import DroppedPayloads, audio_payload_problem, install_socket_guards
from realtime.config import SessionOptions
from realtime.events import RealtimeError, Reconnected, Reconnecting
from tests.app.app_helpers import FakeClient, chainlit_session, emitted, settle


def make_chat(admission: VoiceAdmission | None = None, **client_kwargs: Any) -> tuple[VoiceChat, list[FakeClient]]:
    clients: list[FakeClient] = []

    def factory(options: SessionOptions) -> FakeClient:
        clients.append(FakeClient(options, **client_kwargs))
        return clients[-1]

    chat = VoiceChat(factory, SessionOptions(), provider_name="openai", provider_label="OpenAI", admission=admission)
    return chat, clients


def toasts(session: Any) -> list[dict[str, Any]]:
    return [d for _, d in emitted(session, "toast")]


def user_messages(session: Any) -> list[dict[str, Any]]:
    """Messages shown to the user other than the status line (which is one message updated in place)."""
    return [d for _, d in emitted(session, "new_message") if d.get("name") != "Status"]


# ------------------------------------------------------------------------------------------------ settings


@pytest.mark.parametrize(
    ("values", "setting"),
    [
        ({"voice": "x" * 100_000}, "Voice"),
        ({"voice": 7}, "Voice"),
        ({"instructions": "y" * 900_000}, "Instructions"),
        ({"instructions": ["a"]}, "Instructions"),
        ({"turn_detection": "whenever"}, "When is my turn over?"),
        ({"transcription": "yes"}, "Show what I said"),
        (["voice", "coral"], "Settings"),
        ("coral", "Settings"),
    ],
)
async def test_a_bad_setting_is_refused_by_name_and_nothing_changes(values: Any, setting: str) -> None:
    session = chainlit_session()
    chat, clients = make_chat()
    await chat.ensure_connected()
    before = chat.options
    await chat.apply_settings({"voice": "coral", **values} if isinstance(values, dict) else values)
    assert chat.options == before
    assert not [c for c in clients[0].calls if c[0] == "update_session"]
    [toast] = toasts(session)
    assert toast["type"] == "error" and toast["message"].startswith(f"Setting not applied: {setting}:")
    assert len(toast["message"]) < 200
    assert emitted(session, "chat_settings")  # the panel shows the settings in force again
    await chat.close()


async def test_instructions_up_to_the_limit_are_applied() -> None:
    chainlit_session()
    chat, clients = make_chat()
    await chat.ensure_connected()
    text = "Be brief. " * (MAX_INSTRUCTIONS_CHARS // 10)
    await chat.apply_settings({"instructions": text[:MAX_INSTRUCTIONS_CHARS]})
    assert clients[0].calls[-1][0] == "update_session"
    await chat.close()


# ------------------------------------------------------------------------------------------------ audio


@pytest.mark.parametrize("payload", [{"a": 1}, None, 42, 1.5, "text", ["x"]])
async def test_malformed_audio_is_dropped_counted_and_logged_once(
    payload: Any, caplog: pytest.LogCaptureFixture
) -> None:
    chainlit_session()
    chat, clients = make_chat()
    assert await chat.start_voice()
    with caplog.at_level(logging.INFO, logger="app"):
        for _ in range(5):
            chat.push_audio(payload)
        chat.push_audio(b"\x01\x00" * 100)
        await settle()
    assert chat.dropped_payloads == 5
    assert b"".join(c[1] for c in clients[0].calls if c[0] == "append_audio") == b"\x01\x00" * 100
    assert len([r for r in caplog.records if "malformed audio" in r.getMessage()]) == 1
    assert not [r for r in caplog.records if r.exc_info]
    await chat.close()


async def test_audio_without_audio_start_is_ignored() -> None:
    chainlit_session()
    chat, clients = make_chat()
    await chat.ensure_connected()
    for _ in range(3):
        chat.push_audio(b"\x01\x00" * 100)
    await settle()
    assert chat.ignored_chunks == 3 and "append_audio" not in clients[0].names()
    assert await chat.start_voice()
    chat.push_audio(b"\x02\x00" * 100)
    await chat.end_voice()
    chat.push_audio(b"\x03\x00" * 100)  # in flight when the mic stopped: still taken
    await settle()
    assert b"".join(c[1] for c in clients[0].calls if c[0] == "append_audio") == b"\x02\x00" * 100 + b"\x03\x00" * 100
    await chat.close()


def test_the_inbox_drops_the_oldest_audio_past_its_bound() -> None:
    inbox = AudioInbox(max_bytes=300)
    for i in range(5):
        inbox.put(bytes([i]) * 100)
    assert inbox.dropped_bytes == 200 and len(inbox) == 3

    async def drain() -> list[bytes]:
        return [x for x in [await inbox.get() for _ in range(3)] if isinstance(x, bytes)]

    assert [x[0] for x in asyncio.run(drain())] == [2, 3, 4]


async def test_a_slow_session_loses_the_oldest_audio_with_one_warning(caplog: pytest.LogCaptureFixture) -> None:
    chainlit_session()
    chat, _clients = make_chat(delay_s=0.05)
    assert await chat.start_voice()
    with caplog.at_level(logging.WARNING, logger="app"):
        for i in range(40):  # 40 chunks of 171 ms at once: far more than 2 s waits
            chat.push_audio(bytes([i]) * 8192)
        await asyncio.sleep(0.2)
    warnings = [r for r in caplog.records if "dropped" in r.getMessage() and "microphone" in r.getMessage()]
    assert len(warnings) == 1
    await chat.close()


def test_audio_payload_shapes() -> None:
    good = {"isStart": True, "mimeType": "pcm16", "elapsedTime": 0.0, "data": b"\x00\x00"}
    assert audio_payload_problem(good) is None
    assert "not bytes" in str(audio_payload_problem({**good, "data": {"x": 1}}))
    assert "fields" in str(audio_payload_problem({"data": b""}))
    assert "not an object" in str(audio_payload_problem(None))


async def test_the_socket_guards_drop_bad_payloads_before_chainlit() -> None:
    class FakeSio:
        def __init__(self) -> None:
            self.seen: list[tuple[str, Any]] = []

            async def audio(sid: str, payload: Any) -> None:
                self.seen.append(("audio", payload))

            async def settings(sid: str, payload: Any) -> None:
                self.seen.append(("settings", payload))

            self.handlers: dict[str, dict[str, Any]] = {"/": {"audio_chunk": audio, "chat_settings_change": settings}}

        def on(self, event: str, handler: Any) -> None:
            self.handlers["/"][event] = handler

    sio = FakeSio()
    assert install_socket_guards(sio) and install_socket_guards(sio)  # idempotent
    good = {"isStart": True, "mimeType": "pcm16", "elapsedTime": 0.0, "data": b"\x00\x00"}
    audio, settings = sio.handlers["/"]["audio_chunk"], sio.handlers["/"]["chat_settings_change"]
    for bad in (None, 3, {**good, "data": None}, {**good, "data": {"a": 1}}, {"data": b"\x00"}):
        await audio("sid1", bad)
    await audio("sid1", good)
    await settings("sid1", ["not", "an", "object"])
    await settings("sid1", {"voice": "coral"})
    assert sio.seen == [("audio", good), ("settings", {"voice": "coral"})]


def test_dropped_payloads_log_once_per_connection(caplog: pytest.LogCaptureFixture) -> None:
    dropped = DroppedPayloads()
    with caplog.at_level(logging.WARNING, logger="app"):
        for sid in ("a", "a", "a", "b"):
            dropped.drop(sid, "audio", "data is NoneType, not bytes")
        dropped.drop("a", "settings", "the payload is list, not an object")
    assert dropped.total == 5 and len(caplog.records) == 3


# ------------------------------------------------------------------------------------------------ admission


async def test_above_the_voice_limit_the_user_is_told_busy_and_typing_still_works() -> None:
    admission = VoiceAdmission(limit=1)
    first_session = chainlit_session()
    first, _ = make_chat(admission)
    assert await first.start_voice()
    assert not emitted(first_session, "new_message")
    session = chainlit_session()
    second, clients = make_chat(admission)
    assert await second.start_voice() is False
    [busy] = user_messages(session)
    assert "busy" in busy["output"] and busy["isError"]
    await second.send_text("typed still works")
    assert clients[0].calls[-1] == ("send_text", "typed still works")
    await first.end_voice()  # a slot frees up
    assert await second.start_voice()
    assert admission.active == 1
    await first.close()
    await second.close()
    assert admission.active == 0


def test_max_voice_sessions_from_env() -> None:
    assert max_voice_sessions_from_env({}) > 0
    assert max_voice_sessions_from_env({"MAX_VOICE_SESSIONS": "12"}) == 12
    with pytest.raises(ValueError, match="MAX_VOICE_SESSIONS"):
        max_voice_sessions_from_env({"MAX_VOICE_SESSIONS": "many"})


# ------------------------------------------------------------------------------------------------ reconnect UI


async def test_one_toast_per_change_of_connection_state() -> None:
    session = chainlit_session()
    chat, clients = make_chat()
    await chat.start()
    clients[0].push(*[Reconnecting(attempt=i, delay_s=1.0, reason="connection lost") for i in range(1, 6)])
    clients[0].push(Reconnected(attempt=5))
    clients[0].push(Reconnecting(attempt=1, delay_s=0.0, reason="renewing the session"), Reconnected(1, renewed=True))
    await settle()
    assert [t["message"] for t in toasts(session)] == ["Connection lost; reconnecting…", "Reconnected"]
    await chat.close()


async def test_a_fatal_stop_shows_one_message_with_try_again_and_nothing_reconnects_until_pressed() -> None:
    session = chainlit_session()
    chat, clients = make_chat()
    await chat.start()
    clients[0].push(RealtimeError("invalid_api_key", "Incorrect API key provided", fatal=True))
    clients[0].push(RealtimeError("connection_lost", "could not reconnect", fatal=True))
    await clients[0].close()
    await settle()
    [stop] = user_messages(session)
    assert "did not accept the API key" in stop["output"]
    actions = [d for _, d in emitted(session, "action")] + [a for a in stop.get("actions", []) or []]
    assert any(a["name"] == TRY_AGAIN_ACTION for a in actions), emitted(session)
    await chat.send_text("hello?")
    assert await chat.start_voice() is False
    assert len(clients) == 1 and len(user_messages(session)) == 1
    assert all("Try again" in t["message"] for t in toasts(session))
    await chat.try_again()
    assert len(clients) == 2 and clients[1].names() == ["connect"]
    await chat.send_text("back")
    assert clients[1].calls[-1] == ("send_text", "back")
    await chat.close()


async def test_a_failed_first_connect_offers_try_again() -> None:
    session = chainlit_session()
    chat, clients = make_chat(fail_connect=ConnectionError("refused"))
    await chat.start()
    assert len(clients) == 1 and len(user_messages(session)) == 1
    await chat.send_text("hello?")
    assert len(clients) == 1
    await chat.try_again()
    assert len(clients) == 2  # still failing: one new message (with its own button) answers the press
    assert len(user_messages(session)) == 2 and emitted(session, "remove_action")
    await chat.close()


def test_audio_queued_behind_a_slow_send_goes_out_joined_but_never_past_a_commit() -> None:
    from chat_app.chat import _COMMIT

    inbox = AudioInbox(max_bytes=10_000)
    for item in (b"a" * 10, b"b" * 10, b"c" * 10, _COMMIT, b"d" * 10):
        inbox.put(item)

    async def drain() -> list[object]:
        return [await inbox.get(max_join=25) for _ in range(4)]

    assert asyncio.run(drain()) == [b"a" * 10 + b"b" * 10, b"c" * 10, _COMMIT, b"d" * 10]


async def test_a_flapping_connection_toasts_once_per_streak_and_repeats_no_error() -> None:
    session = chainlit_session()
    chat, clients = make_chat()
    await chat.start()
    for i in range(1, 7):
        clients[0].push(RealtimeError("server_error", "The server had an error"))
        clients[0].push(Reconnecting(attempt=i, delay_s=0.5, reason="connection lost"), Reconnected(attempt=i))
    await settle(50)
    assert [t["message"] for t in toasts(session)] == ["Connection lost; reconnecting…", "Reconnected"]
    assert len(user_messages(session)) == 1
    await chat.close()


async def test_well_formed_audio_goes_straight_to_the_chat_in_its_context(monkeypatch: pytest.MonkeyPatch) -> None:
    from chainlit.context import context_var
    from chainlit.session import WebsocketSession

    session = chainlit_session()
    session.get_config = lambda: __import__("chainlit.config", fromlist=["config"]).config
    session.get_config().features.audio.enabled = True
    monkeypatch.setattr(WebsocketSession, "get", classmethod(lambda cls, sid: session if sid == "sid1" else None))

    class FakeSio:
        def __init__(self) -> None:
            async def chainlit_audio(sid: str, payload: Any) -> None:
                raise AssertionError("Chainlit's handler is bypassed")

            async def settings(sid: str, payload: Any) -> None:
                return None

            self.handlers: dict[str, dict[str, Any]] = {
                "/": {"audio_chunk": chainlit_audio, "chat_settings_change": settings}
            }

        def on(self, event: str, handler: Any) -> None:
            self.handlers["/"][event] = handler

    got: list[tuple[bytes, Any]] = []
    sio = FakeSio()
    install_socket_guards(sio, on_audio=lambda pcm: got.append((pcm, context_var.get().session)))
    good = {"isStart": True, "mimeType": "pcm16", "elapsedTime": 0.0, "data": b"\x01\x00"}
    await sio.handlers["/"]["audio_chunk"]("sid1", good)
    await sio.handlers["/"]["audio_chunk"]("unknown", good)
    assert got == [(b"\x01\x00", session)]
