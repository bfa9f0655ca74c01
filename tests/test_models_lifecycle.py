"""The warning before a model shuts down, against a fake OpenAI models endpoint of ours on loopback
(``GET /v1/models/{model}``): a date 30 days away is warned about and shown in the chat's status, 200 days away is
not, a 404 names the replacement, an unreachable or silent endpoint says nothing alarming; the key travels only in
the header and is never logged."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import pytest
import pytest_asyncio
from aiohttp import web

from chat_app.render import describe_provider, set_model_notices
from chat_app.wiring import check_model_shutdowns
from realtime.config import Settings
from realtime.model_lifecycle import KNOWN_SHUTDOWNS, Lookup, api_base, assess, check_models, lookup_model
from tests.loopback_http import serve_on_loopback

SECRET = "test-key-FAKE-lifecycle-0123456789abcdef"
TODAY = date(2026, 12, 5)
NOT_FOUND = {
    "error": {"message": "The model does not exist", "type": "invalid_request_error", "code": "model_not_found"}
}


@dataclass
class ModelsEndpoint:
    """``answers``: model -> (status, JSON body); ``requests``: (path, Authorization header) of each request."""

    answers: dict[str, tuple[int, Any]] = field(default_factory=dict)
    requests: list[tuple[str, str]] = field(default_factory=list)
    stall: bool = False
    port: int = 0

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.requests.append((request.path, request.headers.get("Authorization", "")))
        if self.stall:
            await asyncio.sleep(30)
        status, body = self.answers.get(request.match_info["model"], (404, NOT_FOUND))
        if isinstance(body, bytes):
            return web.Response(status=status, body=body)
        return web.json_response(body, status=status)


def model_object(model: str, shutdown: date | None) -> dict[str, Any]:
    return {
        "id": model,
        "object": "model",
        "created": 1_700_000_000,
        "owned_by": "system",
        "shutdown_date": shutdown.isoformat() if shutdown else None,
    }


@pytest.fixture(autouse=True)
def _clean(monkeypatch: pytest.MonkeyPatch) -> Any:
    for name in ("OPENAI_API_KEY", "OPENAI_REALTIME_MODEL", "OPENAI_BASE_URL", "REALTIME_TRANSCRIPTION_MODEL",
                 "REALTIME_PROVIDER", "AZURE_OPENAI_ENDPOINT"):  # fmt: skip
        monkeypatch.delenv(name, raising=False)
    yield
    set_model_notices([])


@pytest_asyncio.fixture(loop_scope="function")
async def endpoint() -> AsyncIterator[ModelsEndpoint]:
    fake = ModelsEndpoint()
    app = web.Application()
    app.router.add_get("/v1/models/{model}", fake.handle)
    runner, fake.port = await serve_on_loopback(app)
    try:
        yield fake
    finally:
        await runner.cleanup()


def settings_for(port: int, **values: Any) -> Settings:
    return Settings(_env_file=None, openai_api_key=SECRET, openai_base_url=f"ws://127.0.0.1:{port}/v1", **values)


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def alarming(caplog: pytest.LogCaptureFixture) -> list[str]:
    """Warnings and errors of our code (asyncio's debug-mode notes of a slow step under load are not ours)."""
    ours = ("realtime", "chat_app", "app")
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING and r.name.startswith(ours)]


def assert_key_not_logged(caplog: pytest.LogCaptureFixture) -> None:
    assert all(SECRET not in r.getMessage() for r in caplog.records)


async def test_a_date_30_days_away_is_warned_and_shown_in_the_status(
    endpoint: ModelsEndpoint, caplog: pytest.LogCaptureFixture
) -> None:
    soon = date.today() + timedelta(days=30)
    endpoint.answers["gpt-realtime-2.1"] = (200, model_object("gpt-realtime-2.1", soon))
    endpoint.answers["gpt-realtime-whisper"] = (200, model_object("gpt-realtime-whisper", None))
    caplog.set_level(logging.INFO)
    notices = await check_model_shutdowns(settings_for(endpoint.port))
    assert sorted(endpoint.requests) == [  # both at once: in either order
        ("/v1/models/gpt-realtime-2.1", f"Bearer {SECRET}"),
        ("/v1/models/gpt-realtime-whisper", f"Bearer {SECRET}"),
    ]
    (notice,) = notices
    assert notice.level == "warning" and notice.shutdown_date == soon and notice.setting == "OPENAI_REALTIME_MODEL"
    assert f"on {soon.isoformat()} (30 days from now)" in notice.text
    assert alarming(caplog) == [notice.text]
    assert any(soon.isoformat() in r.getMessage() and r.levelno == logging.INFO for r in caplog.records)
    status = describe_provider("openai", "OpenAI gpt-realtime-2.1")
    assert status.startswith("**OpenAI gpt-realtime-2.1**\n\n**Model shutting down**: ")
    assert status.count(soon.isoformat()) == 1  # once
    assert describe_provider("local", "Local engine (offline)").count("Model shutting down") == 0
    assert_key_not_logged(caplog)


async def test_a_date_200_days_away_is_logged_not_warned(
    endpoint: ModelsEndpoint, caplog: pytest.LogCaptureFixture
) -> None:
    later = date.today() + timedelta(days=200)
    endpoint.answers["gpt-realtime-2.1"] = (200, model_object("gpt-realtime-2.1", later))
    caplog.set_level(logging.INFO)
    s = settings_for(endpoint.port, realtime_transcription_model="")
    assert await check_model_shutdowns(s) == []
    assert len(endpoint.requests) == 1  # transcription off: only the realtime model is checked
    assert alarming(caplog) == []
    assert any(later.isoformat() in r.getMessage() for r in caplog.records)
    assert describe_provider("openai", "OpenAI gpt-realtime-2.1") == "**OpenAI gpt-realtime-2.1**"


async def test_a_404_is_an_error_naming_the_replacement(
    endpoint: ModelsEndpoint, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    s = settings_for(endpoint.port, openai_realtime_model="gpt-realtime-0.9", realtime_transcription_model="")
    (notice,) = await check_models(s, today=TODAY)
    assert notice.level == "error" and notice.replacement == "gpt-realtime-2.1"
    assert "`gpt-realtime-0.9`" in notice.text and "`OPENAI_REALTIME_MODEL=gpt-realtime-2.1`" in notice.text
    assert [r.levelno for r in caplog.records if r.getMessage() == notice.text] == [logging.ERROR]
    # A model of the known table that the endpoint no longer knows: its own replacement is named.
    s = settings_for(endpoint.port, openai_realtime_model="gpt-realtime-mini", realtime_transcription_model="")
    (notice,) = await check_models(s, today=date(2027, 2, 1))
    assert notice.level == "error" and "shut down the model `gpt-realtime-mini` on 2027-01-20" in notice.text
    assert "`OPENAI_REALTIME_MODEL=gpt-realtime-2.1-mini`" in notice.text
    assert_key_not_logged(caplog)


async def test_past_its_date_is_an_error() -> None:
    lookup = Lookup("found", shutdown_date=TODAY - timedelta(days=1))
    notice = assess("gpt-realtime", lookup, TODAY)
    assert notice is not None and notice.level == "error" and "gpt-realtime-2.1" in notice.text


@pytest.mark.parametrize("how", ["refused", "silent", "plain 404", "server error", "garbage", "huge"])
async def test_an_unreachable_or_useless_endpoint_says_nothing_alarming(
    how: str, endpoint: ModelsEndpoint, caplog: pytest.LogCaptureFixture
) -> None:
    port = closed_port() if how == "refused" else endpoint.port
    endpoint.stall = how == "silent"
    body: Callable[[str], tuple[int, Any]] = {
        "plain 404": lambda m: (404, b"404: Not Found"),  # another server of the protocol, no models route
        "server error": lambda m: (500, {"error": {"message": "boom"}}),
        "garbage": lambda m: (200, b"\xff not json"),
        "huge": lambda m: (200, {**model_object(m, TODAY), "pad": "x" * 100_000}),
    }.get(how, lambda m: (200, model_object(m, TODAY)))
    for model in ("gpt-realtime-2.1", "gpt-realtime-whisper"):
        endpoint.answers[model] = body(model)
    caplog.set_level(logging.INFO)
    loop = asyncio.get_running_loop()
    started = loop.time()
    assert await check_models(settings_for(port), today=TODAY, timeout_s=0.5) == []
    assert loop.time() - started < 3.0
    assert alarming(caplog) == []
    assert any("could not read the shutdown date" in r.getMessage() for r in caplog.records)
    assert_key_not_logged(caplog)


async def test_unreachable_falls_back_to_the_known_table(caplog: pytest.LogCaptureFixture) -> None:
    """whisper-1 (2027-02-26 in the openai package) is 83 days from 2026-12-05: warned even with no endpoint."""
    s = settings_for(closed_port(), openai_realtime_model="gpt-realtime-2.1", realtime_transcription_model="whisper-1")
    (notice,) = await check_models(s, today=TODAY, timeout_s=0.5)
    assert (
        notice.model == "whisper-1" and notice.level == "warning" and notice.setting == "REALTIME_TRANSCRIPTION_MODEL"
    )
    assert notice.shutdown_date == KNOWN_SHUTDOWNS["whisper-1"].date == date(2027, 2, 26)
    assert "83 days" in notice.text and "`REALTIME_TRANSCRIPTION_MODEL=gpt-realtime-whisper`" in notice.text


async def test_the_endpoint_date_wins_over_the_table(endpoint: ModelsEndpoint) -> None:
    endpoint.answers["gpt-realtime"] = (200, model_object("gpt-realtime", TODAY + timedelta(days=300)))
    lookup = await lookup_model(api_base(f"ws://127.0.0.1:{endpoint.port}/v1"), "gpt-realtime", SECRET)
    assert lookup == Lookup("found", shutdown_date=TODAY + timedelta(days=300))
    assert assess("gpt-realtime", lookup, TODAY) is None
    # No date from the endpoint: the table's 2027-01-20 is 46 days away.
    notice = assess("gpt-realtime", Lookup("found"), TODAY)
    assert notice is not None and notice.level == "warning" and "46 days" in notice.text


async def test_other_providers_are_not_checked(endpoint: ModelsEndpoint) -> None:
    local = Settings(_env_file=None, openai_base_url=f"ws://127.0.0.1:{endpoint.port}/v1")
    azure = Settings(_env_file=None, azure_openai_endpoint=f"http://127.0.0.1:{endpoint.port}")
    assert await check_models(local, today=TODAY) == [] and await check_models(azure, today=TODAY) == []
    assert endpoint.requests == []


def test_api_base_from_the_websocket_base() -> None:
    assert api_base("wss://api.openai.com/v1") == "https://api.openai.com/v1"
    assert api_base("ws://127.0.0.1:8765/v1/") == "http://127.0.0.1:8765/v1"
    assert api_base("https://example.test/v1") == "https://example.test/v1"
    for bad in ("ftp://x/v1", "wss://user:pw@x/v1", "wss://x/v1?key=1", "nonsense"):
        with pytest.raises(ValueError, match=r"expected an http|must not carry"):
            api_base(bad)
