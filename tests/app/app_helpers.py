"""Test doubles for the app's handler tests: a mocked Chainlit websocket session and a scripted realtime client."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any
from unittest.mock import AsyncMock, Mock

from chainlit.context import ChainlitContext, context_var
from chainlit.session import WebsocketSession

from realtime.config import SessionOptions
from realtime.events import AppEvent


def chainlit_session() -> Mock:
    """A ``WebsocketSession`` mock whose ``emit`` records every frame, installed as the current Chainlit context
    (as Chainlit's own tests do). Call it inside the test's event loop."""
    session = Mock(spec=WebsocketSession)
    session.id = str(uuid.uuid4())
    session.thread_id = str(uuid.uuid4())
    session.emit = AsyncMock()
    session.chat_settings = {}
    session.user = None
    session.user_env = {}
    session.chat_profile = None
    session.client_type = "webapp"
    context_var.set(ChainlitContext(session))
    return session


def emitted(session: Mock, event: str | None = None) -> list[tuple[str, Any]]:
    """The (event, data) pairs emitted so far, optionally only those named ``event``."""
    calls = [(c.args[0], c.args[1] if len(c.args) > 1 else None) for c in session.emit.call_args_list]
    return [c for c in calls if event is None or c[0] == event]


class FakeClient:
    """Records the app's calls; ``push(event)`` scripts what the session emits."""

    def __init__(self, options: SessionOptions, *, fail_connect: Exception | None = None, delay_s: float = 0.0):
        self.options = options
        self.calls: list[tuple[Any, ...]] = []
        self._events: asyncio.Queue[AppEvent | None] = asyncio.Queue()
        self._fail = fail_connect
        self._delay = delay_s

    async def connect(self) -> None:
        self.calls.append(("connect",))
        if self._fail is not None:
            raise self._fail

    async def close(self) -> None:
        self.calls.append(("close",))
        self._events.put_nowait(None)

    async def events(self) -> AsyncIterator[AppEvent]:
        while (event := await self._events.get()) is not None:
            yield event

    async def append_audio(self, pcm: bytes) -> None:
        if self._delay:
            await asyncio.sleep(self._delay)
        self.calls.append(("append_audio", pcm))

    async def send_text(self, text: str) -> None:
        self.calls.append(("send_text", text))

    async def commit(self) -> None:
        self.calls.append(("commit",))

    async def create_response(self) -> None:
        self.calls.append(("create_response",))

    async def cancel(self) -> None:
        self.calls.append(("cancel",))

    async def update_session(self, **changes: Any) -> None:
        self.calls.append(("update_session", changes))

    async def add_items(self, items: Sequence[Mapping[str, Any]]) -> list[str]:
        self.calls.append(("add_items", list(items)))
        return [str(item.get("id", "")) for item in items]

    def push(self, *events: AppEvent) -> None:
        for event in events:
            self._events.put_nowait(event)

    def names(self) -> list[str]:
        return [c[0] for c in self.calls]


async def settle(rounds: int = 20) -> None:
    """Let queued tasks run (the event reader and the audio sender)."""
    for _ in range(rounds):
        await asyncio.sleep(0)
