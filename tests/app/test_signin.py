"""Sign-in that cannot stall the app: the bcrypt check runs off the event loop, failures are throttled per user
name and per client address, a locked attempt is refused at once, and the client address reaches the callback."""

from __future__ import annotations

import asyncio
import itertools
import time
from typing import Any

import bcrypt
import pytest

from chat_app.auth import (
    AuthConfig,
    AuthConfigError,
    ClientAddressMiddleware,
    SignInGuard,
    ThrottleSettings,
    client_address,
    throttle_from_env,
)

HASH = bcrypt.hashpw(b"wonderland", bcrypt.gensalt(rounds=4))


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def guard(**settings: Any) -> tuple[SignInGuard, Clock]:
    clock = Clock()
    return SignInGuard(AuthConfig({"alice": HASH}), ThrottleSettings(**settings), clock=clock), clock


async def test_five_failures_lock_the_name_with_a_growing_window() -> None:
    g, clock = guard()
    for _ in range(5):
        assert not await g.sign_in("alice", "wrong", "10.0.0.1")
    assert g.locked_for("user:alice") == 0  # five are free
    assert not await g.sign_in("alice", "wrong", "10.0.0.2")
    assert g.locked_for("user:alice") == pytest.approx(1.0)
    assert not await g.sign_in("alice", "wonderland", "10.0.0.3")  # locked: even the right password is refused
    assert g.refused_locked == 1
    clock.now += 1.5
    assert not await g.sign_in("alice", "wrong", "10.0.0.4")
    assert g.locked_for("user:alice") == pytest.approx(2.0)  # the window doubles
    clock.now += 2.5
    assert await g.sign_in("alice", "wonderland", "10.0.0.5")
    assert g.locked_for("user:alice") == 0  # a success clears the count
    for _ in range(5):
        assert not await g.sign_in("alice", "wrong", "10.0.0.6")
    assert g.locked_for("user:alice") == 0


async def test_failures_from_one_address_lock_it_for_every_name() -> None:
    g, clock = guard()
    for i in range(6):
        assert not await g.sign_in(f"user{i}", "guess", "10.9.9.9")
    assert g.locked_for("addr:10.9.9.9") > 0
    assert not await g.sign_in("alice", "wonderland", "10.9.9.9")
    assert await g.sign_in("alice", "wonderland", "10.1.1.1")  # another address is not affected
    clock.now += 1000  # idle longer than the longest lock: forgotten
    assert g.locked_for("addr:10.9.9.9") == 0


async def test_a_locked_attempt_is_refused_without_checking_the_password() -> None:
    g, _ = guard(free_failures=1)
    checks = 0
    check = g.config.check

    def counting(name: str, password: str) -> bool:
        nonlocal checks
        checks += 1
        return check(name, password)

    object.__setattr__(g.config, "check", counting)
    results = [await g.sign_in("alice", "wrong", "10.0.0.1") for _ in range(200)]
    assert not any(results) and checks == 2


async def test_the_password_check_does_not_block_the_event_loop() -> None:
    """A slow check (a sleep standing in for bcrypt at cost 12) runs in a thread: a ticker keeps ticking, and
    more concurrent checks than ``max_pending`` are refused at once instead of queueing."""
    g, _ = guard(workers=1, max_pending=3)

    def slow(name: str, password: str) -> bool:
        time.sleep(0.3)
        return False

    object.__setattr__(g.config, "check", slow)
    ticks: list[float] = []

    async def ticker() -> None:
        while True:
            ticks.append(time.monotonic())
            await asyncio.sleep(0.01)

    tick = asyncio.create_task(ticker())
    started = time.monotonic()
    results = await asyncio.gather(*[g.sign_in(f"u{i}", "x", None) for i in range(10)])
    tick.cancel()
    assert not any(results) and g.refused_busy == 7
    assert time.monotonic() - started < 2.0
    gaps = [b - a for a, b in itertools.pairwise(ticks)]
    assert max(gaps) < 0.15, max(gaps)
    g.close()


async def test_the_middleware_hands_the_client_address_to_the_callback() -> None:
    seen: list[str | None] = []

    async def endpoint(scope: Any, receive: Any, send: Any) -> None:
        seen.append(client_address())

    middleware = ClientAddressMiddleware(endpoint)
    await middleware({"type": "http", "client": ("203.0.113.7", 5555)}, None, None)
    await middleware({"type": "websocket", "client": ("203.0.113.8", 5555)}, None, None)
    assert seen == ["203.0.113.7", None]
    assert client_address() is None


def test_throttle_settings_from_env() -> None:
    assert throttle_from_env({}) == ThrottleSettings()
    assert throttle_from_env({"SIGNIN_FREE_FAILURES": "3", "SIGNIN_MAX_LOCK_S": "60"}).free_failures == 3
    with pytest.raises(AuthConfigError, match="SIGNIN_WORKERS"):
        throttle_from_env({"SIGNIN_WORKERS": "0"})
