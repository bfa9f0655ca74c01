"""Shared pieces of the HTTP servers our tests run on loopback in place of outside services (Tavily, a chat
completions endpoint): the record of a request, and starting an aiohttp app on a free port of 127.0.0.1."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aiohttp import web


@dataclass
class RecordedRequest:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]


async def serve_on_loopback(app: web.Application) -> tuple[web.AppRunner, int]:
    """Start ``app`` on 127.0.0.1 at a free port; returns its runner (``await runner.cleanup()`` stops it) and the
    port. ``handler_cancellation`` is on: a client that goes away cancels its handler, as a real server would."""
    runner = web.AppRunner(app, shutdown_timeout=1.0, handler_cancellation=True)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    return runner, int(runner.addresses[0][1])
