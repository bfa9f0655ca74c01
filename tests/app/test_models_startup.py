"""The app's startup hook (``on_app_startup`` of app.py) checks the OpenAI model's shutdown date: an unreachable
models endpoint lets it start with nothing alarming in the log or the status; a date 30 days away goes into every
chat's status (as a chat renders it, through ``VoiceChat``). And the chat's reasoning effort setting reaches the live
session."""

from __future__ import annotations

import logging
import socket
from collections.abc import AsyncIterator
from datetime import date, timedelta
from typing import Any

import pytest
import pytest_asyncio
from aiohttp import web

from chat_app.chat import VoiceChat
from chat_app.render import set_model_notices
from realtime.config import SessionOptions, Settings
from tests.app.app_helpers import FakeClient, chainlit_session, emitted
from tests.loopback_http import serve_on_loopback

SECRET = "test-key-FAKE-startup-0123456789abcdef"


@pytest.fixture
def openai_app(app_module: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """app.py on OpenAI settings; no provider, engine or history is started by the hook."""
    monkeypatch.setattr(app_module, "PROVIDER", None)
    monkeypatch.setattr(app_module, "HISTORY_LAYER", None)
    monkeypatch.delenv("APP_PROFILE", raising=False)
    yield app_module
    set_model_notices([])


def openai_settings(port: int) -> Settings:
    return Settings(_env_file=None, openai_api_key=SECRET, openai_base_url=f"ws://127.0.0.1:{port}/v1")


@pytest_asyncio.fixture(loop_scope="function")
async def models_30_days() -> AsyncIterator[int]:
    soon = (date.today() + timedelta(days=30)).isoformat()

    async def model(request: web.Request) -> web.Response:
        name = request.match_info["model"]
        when = soon if name == "gpt-realtime-2.1" else None
        return web.json_response({"id": name, "object": "model", "created": 0, "owned_by": "x", "shutdown_date": when})

    app = web.Application()
    app.router.add_get("/v1/models/{model}", model)
    runner, port = await serve_on_loopback(app)
    try:
        yield port
    finally:
        await runner.cleanup()


async def status_of_a_new_chat() -> str:
    """The status message a chat started now shows (the chat is closed again)."""
    session = chainlit_session()
    chat = VoiceChat(
        FakeClient, SessionOptions(), provider_name="openai", provider_label="OpenAI gpt-realtime-2.1", secrets=[SECRET]
    )
    await chat.start()
    await chat.close()
    (status,) = [d["output"] for _, d in emitted(session, "new_message") if d["name"] == "Status"]
    return str(status)


async def test_unreachable_models_endpoint_the_app_starts_quietly(
    openai_app: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    monkeypatch.setattr(openai_app, "SETTINGS", openai_settings(port))
    caplog.set_level(logging.INFO)
    await openai_app.on_app_startup()
    ours = ("realtime", "chat_app", "app")  # asyncio's debug-mode notes of a slow step under load are not ours
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING and r.name.startswith(ours)] == []
    assert all(SECRET not in r.getMessage() for r in caplog.records)
    status = await status_of_a_new_chat()
    assert "Model" not in status and status.endswith("**OpenAI gpt-realtime-2.1**")


async def test_a_model_30_days_from_shutdown_is_in_the_chat_status(
    openai_app: Any, monkeypatch: pytest.MonkeyPatch, models_30_days: int
) -> None:
    monkeypatch.setattr(openai_app, "SETTINGS", openai_settings(models_30_days))
    await openai_app.on_app_startup()
    soon = (date.today() + timedelta(days=30)).isoformat()
    status = await status_of_a_new_chat()
    assert status.count(f"OpenAI shuts down the model `gpt-realtime-2.1` on {soon} (30 days from now)") == 1


async def test_the_reasoning_effort_setting_reaches_the_live_session() -> None:
    session = chainlit_session()
    clients: list[FakeClient] = []

    def factory(options: SessionOptions) -> FakeClient:
        clients.append(FakeClient(options))
        return clients[-1]

    chat = VoiceChat(factory, SessionOptions(model="gpt-realtime-2.1"), provider_name="openai", provider_label="OpenAI")
    await chat.ensure_connected()
    await chat.apply_settings({"reasoning_effort": "high"})
    assert clients[0].calls[-1] == ("update_session", {"reasoning_effort": "high"})
    await chat.apply_settings({"reasoning_effort": "default"})
    last: tuple[Any, ...] = clients[0].calls[-1]
    assert last == ("update_session", {"reasoning_effort": None})
    toasts = [d["message"] for _, d in emitted(session, "toast")]
    assert toasts == ["Settings applied: reasoning effort high", "Settings applied: reasoning effort the model default"]
    await chat.apply_settings({"reasoning_effort": "maximum"})  # refused: nothing changes
    assert len([c for c in clients[0].calls if c[0] == "update_session"]) == 2
    await chat.close()
