"""End to end in headless Chromium (Debian's /usr/bin/chromium driven by Playwright, no browser download) against
the app on the embedded local engine: typed and spoken turns, the user's transcript, spoken replies, barge-in.

The microphone is fake (``fake_mic.js``): it plays WAVs spoken by espeak-ng at test time, when the test says so.
Socket.io frames sent to the page are counted with ``page.on("websocket")``. Screenshots go to test-artifacts/.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from tests.app.browser import ASSISTANT, USER, has_text, open_chat, say, shot, texts, voice_on, wait_for
from tests.app.conftest import AppServer, FrameLog

# One browser for the session: the fixture and the tests share the session's event loop.
pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="session")]


@pytest_asyncio.fixture(loop_scope="session")
async def chat(browser: Any, app_server: AppServer) -> AsyncIterator[tuple[Any, FrameLog]]:
    """A fresh page (its own chat session) on the app, with its socket.io frames logged."""
    async with open_chat(browser, app_server) as opened:
        yield opened


async def test_typed_message_gets_a_written_and_spoken_reply(chat: tuple[Any, FrameLog]) -> None:
    page, frames = chat
    await shot(page, "browser-0-start")
    await voice_on(page, frames)
    before = len(frames.named("audio_chunk"))
    await page.locator("#chat-input").fill("Hello there, can you hear me?")
    await page.locator("#chat-submit:enabled").wait_for(timeout=10_000)
    await page.locator("#chat-input").press("Enter")
    await page.locator(USER).filter(has_text="can you hear me").wait_for(timeout=10_000)
    await has_text(page, ASSISTANT)
    await wait_for(lambda: len(frames.named("audio_chunk")) > before + 2, 60, "audio chunks of the reply")
    await page.wait_for_function("() => document.body.innerText.includes('to first answer')", timeout=60_000)
    await shot(page, "browser-1-typed")
    assert (await texts(page, ASSISTANT))[-1]
    assert all(f.data["mimeType"] == "pcm16" for f in frames.named("audio_chunk"))


async def test_spoken_question_shows_the_transcript_then_a_spoken_reply(
    chat: tuple[Any, FrameLog], speech: Callable[[str], Path]
) -> None:
    page, frames = chat
    await voice_on(page, frames)
    await say(page, speech("What is the weather like today?"))
    await page.locator(USER).filter(has_text="weather").wait_for(timeout=60_000)
    await wait_for(lambda: len(frames.named("audio_chunk")) > 2, 60, "the spoken reply's audio")
    await has_text(page, ASSISTANT)
    await asyncio.sleep(1.0)
    await shot(page, "browser-2-spoken")
    # The user's turn is shown before the reply to it.
    order = await page.eval_on_selector_all("[data-step-type]", "els => els.map(e => e.getAttribute('data-step-type'))")
    users = [i for i, t in enumerate(order) if t == "user_message"]
    replies = [i for i, t in enumerate(order) if t == "assistant_message"]
    assert users and replies and users[-1] < replies[-1], order


async def test_speaking_during_a_long_reply_stops_it_before_the_next_reply_plays(
    chat: tuple[Any, FrameLog], speech: Callable[[str], Path]
) -> None:
    page, frames = chat
    await voice_on(page, frames)
    await say(page, speech("Please tell me a long story."))
    await wait_for(lambda: len(frames.named("audio_chunk")) > 3, 60, "the long story's audio")
    first_track = frames.named("audio_chunk")[0].data["track"]
    await asyncio.sleep(1.5)
    await shot(page, "browser-3a-story")
    await say(page, speech("Stop. What time is it?"))
    await wait_for(lambda: bool(frames.named("audio_interrupt")), 30, "an audio_interrupt frame")
    await wait_for(lambda: len(frames.tracks()) >= 2, 60, "the next reply's audio")
    await asyncio.sleep(1.0)
    await shot(page, "browser-3b-barge-in")
    interrupt_at = frames.named("audio_interrupt")[0].at
    old_after = [f for f in frames.named("audio_chunk") if f.data["track"] == first_track and f.at > interrupt_at]
    new = [f for f in frames.named("audio_chunk") if f.data["track"] != first_track]
    assert old_after == [], "audio of the interrupted reply was still sent"
    assert new and min(f.at for f in new) > interrupt_at
    # The cut story shows the words heard before the interruption, not only the mark.
    cut = [t for t in await texts(page, ASSISTANT) if "(interrupted)" in t]
    assert cut and all(t.replace("(interrupted)", "").strip(" .*\n") for t in cut), cut
