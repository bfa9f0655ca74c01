"""The app over GPT-Live, end to end in headless Chromium: the app on the embedded local engine with
``VOICE_PROTOCOL=live`` (the engine's ``/v1/live/sessions`` front end: a session started once, an input clock that
the app keeps running with silence while the microphone is off, a model that yields by itself, tools through
Responses delegation).

A spoken question gets the user's words as a message, a tool step and a spoken and written answer; talking over a
long answer stops it at once (the browser gets an ``audio_interrupt``, nothing more of that answer) and the chat
marks it interrupted with the words heard; a typed question, with the microphone off, gets an answer. Screenshots
go to test-artifacts/ (``browser-live-*.png``).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from tests.app.browser import ASSISTANT, USER, has_text, open_chat, say, shot, texts, voice_on, wait_for
from tests.app.conftest import ARTIFACTS, AppServer, FrameLog, clean_env, start_app, stop_app

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="session")]

TOOL_STEP = "text=/Used get_current_time/"


@pytest.fixture(scope="module")
def live_app() -> Iterator[AppServer]:
    """The app on the embedded engine, speaking GPT-Live to it."""
    ARTIFACTS.mkdir(exist_ok=True)
    server = start_app(ARTIFACTS / "app-server-live.log", clean_env(VOICE_PROTOCOL="live"))
    try:
        yield server
    finally:
        stop_app(server)


@pytest_asyncio.fixture(loop_scope="session")
async def chat(browser: Any, live_app: AppServer) -> AsyncIterator[tuple[Any, FrameLog]]:
    async with open_chat(browser, live_app) as opened:
        yield opened


async def step_types(page: Any) -> list[str]:
    return list(
        await page.eval_on_selector_all("[data-step-type]", "els => els.map(e => e.getAttribute('data-step-type'))")
    )


async def test_live_spoken_question_shows_words_tool_step_and_spoken_answer(
    chat: tuple[Any, FrameLog], speech: Callable[[str], Path]
) -> None:
    page, frames = chat
    assert "GPT-Live" in await page.inner_text("body")  # the status says which protocol is spoken
    await voice_on(page, frames)
    await say(page, speech("What time is it in Tokyo?"))
    try:  # the words as Whisper tiny.en heard them: "time" is sure, the city's spelling less so
        await page.locator(USER).filter(has_text="time").wait_for(timeout=60_000)
    except Exception:
        await shot(page, "browser-live-1-failed")
        raise AssertionError(f"no spoken question shown; user: {await texts(page, USER)}") from None
    await page.locator(TOOL_STEP).first.wait_for(timeout=60_000)
    await has_text(page, ASSISTANT)
    await wait_for(lambda: len(frames.named("audio_chunk")) > 2, 60, "the spoken answer's audio")
    await page.locator(ASSISTANT).filter(has_text=re.compile(r"It is \d\d:\d\d")).wait_for(timeout=60_000)
    await asyncio.sleep(1.0)
    await shot(page, "browser-live-1-spoken-tool")
    order = await step_types(page)
    users = [i for i, t in enumerate(order) if t == "user_message"]
    tools = [i for i, t in enumerate(order) if t == "tool"]
    replies = [i for i, t in enumerate(order) if t == "assistant_message"]
    assert users and tools and replies, order
    assert users[0] < tools[0] < replies[-1], order
    # Long silence is not shipped as audio: what reached the browser is the answer, not the session's clock.
    seconds = sum(len(f.data["data"]) for f in frames.named("audio_chunk")) / 48000
    assert seconds < 30, f"{seconds:.1f} s of audio sent for one short answer"


async def test_live_talking_over_a_long_answer_stops_it_and_marks_it_interrupted(
    chat: tuple[Any, FrameLog], speech: Callable[[str], Path]
) -> None:
    page, frames = chat
    await voice_on(page, frames)
    await say(page, speech("Please tell me a long story."))
    await wait_for(lambda: len(frames.named("audio_chunk")) > 3, 60, "the long story's audio")
    story_track = frames.named("audio_chunk")[0].data["track"]
    await asyncio.sleep(2.0)
    await shot(page, "browser-live-2a-story")
    await say(page, speech("Stop. What time is it?"))
    await wait_for(lambda: bool(frames.named("audio_interrupt")), 30, "an audio_interrupt frame")
    interrupt_at = frames.named("audio_interrupt")[0].at
    await page.locator(ASSISTANT).filter(has_text="(interrupted)").first.wait_for(timeout=30_000)
    await asyncio.sleep(3.0)
    await shot(page, "browser-live-2b-interrupted")
    late = [f for f in frames.named("audio_chunk") if f.data["track"] == story_track and f.at > interrupt_at + 0.2]
    assert late == [], f"{len(late)} chunks of the interrupted story were still sent"
    cut = [t for t in await texts(page, ASSISTANT) if "(interrupted)" in t]
    assert cut and all(t.replace("(interrupted)", "").strip(" .*\n") for t in cut), cut


async def test_live_typed_question_gets_a_written_and_spoken_answer(chat: tuple[Any, FrameLog]) -> None:
    page, frames = chat
    await voice_on(page, frames)  # the browser's player exists once voice was on
    await page.locator("#message-composer button").first.click()  # microphone off: the question is typed
    await asyncio.sleep(1.0)
    before = len(frames.named("audio_chunk"))
    await page.locator("#chat-input").fill("What is 12 times 7?")
    await page.locator("#chat-submit:enabled").wait_for(timeout=10_000)
    await page.locator("#chat-input").press("Enter")
    await page.locator(USER).filter(has_text="12 times 7").wait_for(timeout=10_000)
    await page.locator(ASSISTANT).filter(has_text="84").wait_for(timeout=60_000)
    await wait_for(lambda: len(frames.named("audio_chunk")) > before + 2, 60, "the typed answer's audio")
    await asyncio.sleep(1.0)
    await shot(page, "browser-live-3-typed")
