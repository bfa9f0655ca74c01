"""History in a real browser (Debian's Chromium via Playwright, as tests/app/test_browser.py): sign in, hold a
chat, start a new one, pick the first from the history sidebar, and carry on. The screenshot of the resumed chat
with the sidebar goes to test-artifacts/history.png (docs/history.png is a copy of one)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.app.browser import CHROMIUM, FLAGS
from tests.app.conftest import ARTIFACTS, AppServer, clean_env, start_app, stop_app
from tests.deploy.recall_llm import RecallModel
from tests.deploy.signed_in import PASSWORDS, sign_in_env

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]
ASSISTANT = '[data-step-type="assistant_message"]'


@pytest.fixture(scope="module")
def signed_in_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AppServer]:
    ARTIFACTS.mkdir(exist_ok=True)
    with RecallModel() as model:
        env = clean_env(**sign_in_env(DATA_DIR=str(tmp_path_factory.mktemp("data")),
                                      LOCAL_LLM_BASE_URL=model.base_url, LOCAL_LLM_MODEL="recall"))  # fmt: skip
        server = start_app(ARTIFACTS / "history-browser.log", env)
        try:
            yield server
        finally:
            stop_app(server)


async def send(page: object, text: str, answers: int) -> None:
    await page.locator("#chat-submit:enabled").or_(page.locator("#chat-input")).first.wait_for()  # type: ignore[attr-defined]
    await page.locator("#chat-input").fill(text)  # type: ignore[attr-defined]
    await page.locator("#chat-submit:enabled").wait_for(timeout=60_000)  # type: ignore[attr-defined]
    await page.keyboard.press("Enter")  # type: ignore[attr-defined]
    await page.locator(ASSISTANT, has_text="Earlier you said").nth(answers - 1).wait_for(timeout=60_000)  # type: ignore[attr-defined]
    # The answer is over (its response.done counted in the status line) before the next message is typed: what is
    # tested here is the history, not typing over a playing answer.
    done = re.compile(rf"this chat: {answers} turns?,")
    await page.get_by_text(done).first.wait_for(timeout=60_000)  # type: ignore[attr-defined]


async def test_pick_a_chat_from_the_sidebar_and_carry_on(signed_in_app: AppServer) -> None:
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        try:
            context = await browser.new_context(viewport={"width": 1280, "height": 1000})
            page = await context.new_page()
            await page.goto(signed_in_app.url)
            await page.locator("#email").fill("alice")
            await page.locator("#password").fill(PASSWORDS["alice"])
            await page.locator('button[type="submit"]').click()
            await page.get_by_text("Connected to").first.wait_for(timeout=120_000)
            await send(page, "My favourite colour is teal.", 1)
            await send(page, "My cat is called Miso.", 2)

            await page.goto(signed_in_app.url)  # a new chat; the first one is in the sidebar
            await page.get_by_text("Connected to").first.wait_for(timeout=60_000)
            await page.get_by_text("My favourite colour is teal.").first.click()
            await page.get_by_text("My cat is called Miso.").first.wait_for(timeout=30_000)
            await send(page, "What did I tell you first?", 1)
            assert "teal" in (await page.locator(ASSISTANT, has_text="Earlier you said").last.inner_text())
            await page.wait_for_timeout(500)
            await page.screenshot(path=str(ARTIFACTS / "history.png"))
        finally:
            await browser.close()


def test_docs_screenshot_exists() -> None:
    assert (Path(__file__).resolve().parents[2] / "docs" / "history.png").stat().st_size > 10_000
