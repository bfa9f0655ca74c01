"""The local engine with its real models, started once per test session in this process (its event loop is the
session's: tests that use it run with ``pytest.mark.asyncio(loop_scope="session")``)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest_asyncio

from local_engine.server import LocalRealtimeServer


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def engine() -> AsyncIterator[LocalRealtimeServer]:
    """A :class:`LocalRealtimeServer` on a free loopback port with the models loaded (the built-in responder:
    tests never reach a chat completions endpoint unless they start one)."""
    server = LocalRealtimeServer("127.0.0.1", 0)
    await server.start()
    await server.ready()
    try:
        yield server
    finally:
        await server.close()
