"""What the browser tests share: one headless Chromium for the session (Debian's /usr/bin/chromium driven by
Playwright, no browser download), a page per chat with a fake microphone (``fake_mic.js``: it plays WAVs spoken by
espeak-ng at test time, when the test says so) and its socket.io frames logged (``page.on("websocket")``), and
helpers to speak, wait and take screenshots (test-artifacts/). The ``browser`` fixture itself is in conftest.py,
so every browser test module shares the one Chromium."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from tests.app.conftest import ARTIFACTS, AppServer, FrameLog

CHROMIUM = "/usr/bin/chromium"
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--use-fake-ui-for-media-stream",
    "--use-fake-device-for-media-stream",
    "--autoplay-policy=no-user-gesture-required",
]
FAKE_MIC = Path(__file__).with_name("fake_mic.js")
USER = '[data-step-type="user_message"]'
ASSISTANT = '[data-step-type="assistant_message"]'
MODEL_LOAD_MS = 120_000  # the first chat loads the local engine's models


async def launch_browser() -> AsyncIterator[Any]:
    """Headless Chromium for the session (the ``browser`` fixture of tests/app/conftest.py)."""
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        chromium = await pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        try:
            yield chromium
        finally:
            await chromium.close()


@contextlib.asynccontextmanager
async def open_chat(browser: Any, app_server: AppServer) -> AsyncIterator[tuple[Any, FrameLog]]:
    """A fresh page (its own chat session) on the app, connected, with its socket.io frames logged."""
    context = await browser.new_context(viewport={"width": 1280, "height": 860})
    await context.add_init_script(path=str(FAKE_MIC))
    page = await context.new_page()
    frames = FrameLog()
    page.on("websocket", lambda ws: ws.on("framereceived", frames.feed))
    await page.goto(app_server.url)
    await page.get_by_text("Connected to Local engine").first.wait_for(timeout=MODEL_LOAD_MS)
    try:
        yield page, frames
    finally:
        await context.close()


async def voice_on(page: Any, frames: FrameLog) -> None:
    await page.locator("#message-composer button").first.click()
    await wait_for(lambda: any(f.data == "on" for f in frames.named("audio_connection")), 30, "the mic to turn on")


async def say(page: Any, wav: Path) -> float:
    """Speak ``wav`` into the fake microphone; returns when it has played (its duration in s)."""
    data = base64.b64encode(await asyncio.to_thread(wav.read_bytes)).decode()
    return float(await page.evaluate("b => window.__fakeMic.say(b)", data))


async def wait_for(condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")


async def shot(page: Any, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    await page.screenshot(path=str(path))
    return path


async def texts(page: Any, selector: str) -> list[str]:
    return [t.strip() for t in await page.locator(selector).all_inner_texts()]


async def has_text(page: Any, selector: str, timeout_ms: float = 60_000) -> None:
    """Wait until some element matching ``selector`` shows text."""
    await page.wait_for_function(
        "sel => [...document.querySelectorAll(sel)].some(e => e.innerText.trim().length > 0)",
        arg=selector,
        timeout=timeout_ms,
    )
