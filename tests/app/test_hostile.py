"""The app against a hostile Realtime server (tests/hostile_server.py), over the wire: ``chainlit run`` with a fake
key made at run time and ``OPENAI_BASE_URL`` pointing at the hostile server, a socket.io client as the browser.

For every mode: no piece of the key (8 characters past its public prefix, or its masked form) in any socket.io
frame or the app's log; at most 8 handshakes; at most 3 messages to the user (the status line, updated in place,
aside) and at most 2 toasts; the app process alive. The reconnect policy is shortened here (first delay 0.1 s,
longest 1 s; session.created awaited 2 s); ``python -m bench.hostile_reconnects`` shows the default policy's figure
over 60 s.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Iterator
from typing import Any

import pytest

from tests.app.conftest import ARTIFACTS, AppServer, clean_env, start_app, stop_app
from tests.app.wire import WireChat
from tests.hostile_server import MODES, HostileServer, masked

PUBLIC_PREFIX = "sk-proj-"
STOPS = {"close_key_reason", "masked_key_error", "accept_then_close", "error_then_close", "no_session_created",
         "big_frame", "close_4000", "close_1011"}  # fmt: skip
SHORT_POLICY = {"REALTIME_RECONNECT_BASE_S": "0.1", "REALTIME_RECONNECT_MAX_S": "1", "REALTIME_SESSION_TIMEOUT_S": "2"}


def fake_key() -> str:
    """Shaped like a project key, random, made at run time (never committed)."""
    return PUBLIC_PREFIX + secrets.token_urlsafe(40)


def key_pieces(key: str) -> set[str]:
    """Every 8-character piece of ``key`` past its public prefix, and its masked form."""
    body = len(PUBLIC_PREFIX)
    return {key[i : i + 8] for i in range(body, len(key) - 7)} | {masked(key)}


@pytest.fixture(scope="module")
def hostile_app() -> Iterator[tuple[AppServer, HostileServer, str]]:
    key = fake_key()
    with HostileServer() as hostile:
        env = clean_env(OPENAI_API_KEY=key, OPENAI_BASE_URL=hostile.base_url, **SHORT_POLICY)
        server = start_app(ARTIFACTS / "hostile-app.log", env)
        try:
            yield server, hostile, key
        finally:
            stop_app(server)
            log = server.log()
            assert not [p for p in key_pieces(key) if p in log]


def user_messages(chat: WireChat) -> list[dict[str, Any]]:
    """Messages shown in the chat: not the status line (one message updated in place), not Chainlit's run steps."""
    return [d for d in chat.named("new_message") if d.get("name") != "Status" and d.get("type") != "run"]


def stopped(chat: WireChat) -> bool:
    return any(a.get("name") == "try_again" for a in chat.named("action"))


@pytest.mark.parametrize("mode", MODES)
async def test_a_hostile_server_stays_bounded_and_learns_no_secret(
    hostile_app: tuple[AppServer, HostileServer, str], mode: str
) -> None:
    server, hostile, key = hostile_app
    hostile.mode = mode
    chat = WireChat(server.url)
    await chat.open()
    try:
        if mode in STOPS:
            await chat.wait(lambda: stopped(chat), 60, f"one stop message with Try again ({mode})")
            await asyncio.sleep(1.0)  # nothing more should follow
        else:
            await chat.wait(lambda: bool(user_messages(chat)), 30, f"the one report of unreadable events ({mode})")
            await asyncio.sleep(3.0)
            assert hostile.count(mode) == 1, "unreadable events must not cause a reconnect"
            assert not stopped(chat)
    finally:
        await chat.close()
    messages = user_messages(chat)
    toasts = chat.named("toast")
    assert 1 <= hostile.count(mode) <= 8
    assert len(messages) <= 3, [m["output"] for m in messages]
    assert len(toasts) <= 2, toasts
    assert server.process.poll() is None, "the app died"
    frames, log = repr(chat.events), server.log()
    leaked = [p for p in key_pieces(key) if p in frames or p in log]
    print(f"{mode}: {hostile.count(mode)} handshakes, {len(messages)} messages, {len(toasts)} toasts, "
          f"{len(leaked)} pieces of the key in {len(chat.events)} socket.io events and the app log")  # fmt: skip
    assert leaked == [], f"{len(leaked)} pieces of the key leaked"
