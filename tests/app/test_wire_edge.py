"""Bad input and admission over the wire, against the running app (``chainlit run``) on the fake Realtime service
(bench/fake_realtime.py) with ``MAX_VOICE_SESSIONS=1``: malformed audio and settings payloads are dropped before
Chainlit's handlers (one log line per chat, no traceback, no exception nobody retrieved) and the chat carries on;
a second chat pressing the microphone is told the app is busy while its typed messages are still answered."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from bench.apprun import app_with_fake_service
from tests.app.conftest import AppServer
from tests.app.wire import WireChat


@pytest.fixture(scope="module")
def edge_app() -> Iterator[AppServer]:
    with app_with_fake_service("edge-app", MAX_VOICE_SESSIONS="1") as (server, _service):
        yield server


async def open_chat(url: str) -> WireChat:
    chat = WireChat(url)
    await chat.open()
    await chat.wait(lambda: "Connected to" in chat.status(), 60, "the session to open")
    return chat


async def answered(chat: WireChat, question: str) -> None:
    before = len(chat.messages("assistant_message"))
    await chat.type(question)
    await chat.wait(lambda: len(chat.messages("assistant_message")) > before, 30, "an answer")


async def test_malformed_payloads_are_dropped_and_the_chat_goes_on(edge_app: AppServer) -> None:
    chat = await open_chat(edge_app.url)
    try:
        good = {"isStart": False, "mimeType": "pcm16", "elapsedTime": 0.0, "data": b"\x00\x00" * 4096}
        for bad in ({**good, "data": {"a": 1}}, {**good, "data": None}, {**good, "data": 7}, None, 12, "x", [1]):
            for _ in range(3):
                await chat.sio.emit("audio_chunk", bad)
        for bad_settings in (["voice", "coral"], "coral", 5):
            await chat.sio.emit("chat_settings_change", bad_settings)
        await chat.sio.emit("chat_settings_change", {"voice": "v" * 100_000})
        await chat.sio.emit("audio_chunk", good)  # well formed, but the mic is off: ignored
        await answered(chat, "Still there?")
        await asyncio.sleep(0.5)
    finally:
        await chat.close()
    toasts = [t["message"] for t in chat.named("toast")]
    assert len([t for t in toasts if t.startswith("Settings not applied")]) == 3
    assert len([t for t in toasts if t.startswith("Setting not applied: Voice")]) == 1
    assert all(len(t) < 200 for t in toasts)
    log = edge_app.log()
    assert log.count("dropped a malformed audio payload") == 1
    assert log.count("dropped a malformed settings payload") == 1
    assert "Traceback" not in log and "never retrieved" not in log


async def test_above_the_voice_limit_the_mic_is_refused_with_busy_and_typing_still_works(edge_app: AppServer) -> None:
    first, second = await open_chat(edge_app.url), await open_chat(edge_app.url)
    try:
        await first.voice_on()
        await second.sio.emit("audio_start")
        await second.wait(lambda: bool(second.named("audio_connection")), 30, "the answer to audio_start")
        assert second.named("audio_connection")[-1] == "off"
        errors = [d["output"] for d in second.named("new_message") if d.get("isError")]
        assert len(errors) == 1 and "busy" in errors[0]
        await answered(second, "Can I still type?")
        await first.sio.emit("audio_end")
        await asyncio.sleep(0.5)
        await second.voice_on()  # the slot is free again
    finally:
        await first.close()
        await second.close()
