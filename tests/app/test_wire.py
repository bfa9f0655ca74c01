"""The app over the wire, without a browser: a socket.io client plays the browser against the running app (local
engine): typed turn with voice on, spoken turn with the transcript placed before the reply, barge-in; and a run
with a (fake) provider key proving the key reaches neither the browser nor the log."""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.app.conftest import ARTIFACTS, ROOT, AppServer, clean_env, free_port, start_app, stop_app
from tests.app.wire import WireChat, load_pcm

MODEL_LOAD_S = 120.0


async def open_chat(url: str) -> WireChat:
    chat = WireChat(url)
    await chat.open()
    await chat.wait(lambda: "Connected to" in chat.status(), MODEL_LOAD_S, "the session to open")
    return chat


async def test_typed_message_with_voice_on_gets_text_and_audio(app_server: AppServer) -> None:
    chat = await open_chat(app_server.url)
    try:
        assert "Local engine" in chat.status() and "OPENAI_API_KEY" in chat.status()
        await chat.voice_on()
        await chat.type("Hello, can you hear me?")
        await chat.wait(lambda: any(chat.messages("assistant_message").values()), 60, "a written reply")
        await chat.wait(lambda: len(chat.named("audio_chunk")) >= 3, 60, "the spoken reply")
        await chat.wait(lambda: "tokens" in chat.status(), 60, "the turn's stats in the status")
        chunks = chat.named("audio_chunk")
        assert all(c["mimeType"] == "pcm16" and len(c["data"]) % 2 == 0 for c in chunks)
        assert len(chat.audio_tracks()) == 1
        assert re.search(r"Last turn: [\d.]+ m?s to first answer", chat.status()), chat.status()
    finally:
        await chat.close()


async def test_typed_message_without_voice_gets_a_written_reply_only(app_server: AppServer) -> None:
    chat = await open_chat(app_server.url)
    try:
        await chat.type("What can you do?")
        await chat.wait(lambda: any(chat.messages("assistant_message").values()), 60, "a written reply")
        await chat.wait(lambda: "tokens" in chat.status(), 60, "the end of the turn")
        assert chat.named("audio_chunk") == []
    finally:
        await chat.close()


async def test_spoken_turn_shows_the_transcript_before_the_spoken_reply(
    app_server: AppServer, speech: Callable[[str], Path]
) -> None:
    chat = await open_chat(app_server.url)
    try:
        await chat.voice_on()
        await chat.speak(load_pcm(speech("What is the weather like today?")))
        await chat.wait(
            lambda: any("weather" in t.lower() for t in chat.messages("user_message").values()), 60, "the transcript"
        )
        await chat.wait(lambda: len(chat.named("audio_chunk")) >= 3, 60, "the spoken reply")
        await chat.wait(lambda: any(chat.messages("assistant_message").values()), 60, "the reply's transcript")
        user_ids = list(chat.messages("user_message"))
        first_user = next(i for i, (_, e, d) in enumerate(chat.events) if e == "new_message" and d["id"] in user_ids)
        first_reply = next(i for i, (_, e, d) in enumerate(chat.events)
                           if e == "stream_start" and d["type"] == "assistant_message")  # fmt: skip
        assert first_user < first_reply
    finally:
        await chat.close()


async def test_speaking_during_a_long_reply_interrupts_it(app_server: AppServer, speech: Callable[[str], Path]) -> None:
    chat = await open_chat(app_server.url)
    try:
        await chat.voice_on()
        await chat.speak(load_pcm(speech("Please tell me a long story.")), silence_ms=900)
        await chat.wait(lambda: len(chat.named("audio_chunk")) >= 3, 60, "the long reply's audio")
        story = chat.audio_tracks()[0]
        await asyncio.sleep(1.0)
        # One sentence: with semantic_vad (the default) "Stop. What time is it?" may rightly be two turns, and the
        # second would interrupt the answer to the first.
        await chat.speak(load_pcm(speech("Please stop and tell me what time it is.")))
        await chat.wait(lambda: bool(chat.named("audio_interrupt")), 30, "the interrupt")
        await chat.wait(lambda: len(chat.audio_tracks()) >= 2, 60, "the next reply's audio")
        interrupt_at = next(t for t, e, _ in chat.events if e == "audio_interrupt")
        late = [t for t, e, d in chat.events if e == "audio_chunk" and d["track"] == story and t > interrupt_at]
        assert late == []
        assert len(chat.named("audio_interrupt")) == 1
    finally:
        await chat.close()


# ------------------------------------------------------------------------------------------------ key hygiene

FAKE_KEY = "test-key-FAKEKEY-6f1d2c3b4a5e6f7a8b9c0d1e2f3a4b5c"


@pytest.fixture(scope="module")
def keyed_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AppServer]:
    """The app configured as OpenAI with a fake key, pointed (OPENAI_BASE_URL) at a local engine process."""
    port = free_port()
    engine_log = (ARTIFACTS / "keyed-engine.log").open("wb")
    engine = subprocess.Popen(
        [sys.executable, "-m", "local_engine", "--host", "127.0.0.1", "--port", str(port)],
        cwd=ROOT,
        env=clean_env(),
        stdout=engine_log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=1).close()
                break
            except urllib.error.HTTPError:
                break  # it answers (a websocket server may reply 4xx to plain HTTP)
            except OSError:
                if engine.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError((ARTIFACTS / "keyed-engine.log").read_text()) from None
                time.sleep(0.3)
        env = clean_env(OPENAI_API_KEY=FAKE_KEY, OPENAI_BASE_URL=f"ws://127.0.0.1:{port}/v1")
        server = start_app(ARTIFACTS / "keyed-app.log", env)
        try:
            yield server
        finally:
            stop_app(server)
    finally:
        engine.terminate()
        engine.wait(timeout=15)


def _get(url: str) -> str:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return str(response.read().decode(errors="replace"))
    except urllib.error.HTTPError as exc:
        return str(exc.read().decode(errors="replace"))


async def test_the_key_reaches_neither_the_browser_nor_the_log(
    keyed_app: AppServer, speech: Callable[[str], Path]
) -> None:
    chat = await open_chat(keyed_app.url)
    try:
        assert "OpenAI" in chat.status()
        await chat.voice_on()
        await chat.type("Hello!")
        await chat.wait(lambda: len(chat.named("audio_chunk")) >= 3, 60, "a spoken reply through the keyed provider")
        await chat.speak(load_pcm(speech("Hello again.")))
        await chat.wait(lambda: len(chat.audio_tracks()) >= 2, 60, "a second reply")
    finally:
        await chat.close()
    await asyncio.sleep(0.5)
    pages = [await asyncio.to_thread(_get, keyed_app.url + path) for path in ("/", "/project/settings?language=en-US",
             "/auth/config", "/chainlit.md")]  # fmt: skip
    frames = repr(chat.events)
    log = keyed_app.log()
    assert len(chat.events) > 20 and "Hello" in frames
    for fragment in (FAKE_KEY, FAKE_KEY[-20:]):
        assert fragment not in frames
        assert fragment not in log
        assert all(fragment not in page for page in pages)
