"""The asyncio Realtime client: a thin websocket transport around :class:`realtime.session.RealtimeSession`.

    async with RealtimeClient(Settings()) as rt:
        events = rt.events()
        await rt.send_text("hello")
        async for event in events: ...

It owns the connection (opened by an injected connector, ``realtime.transport``; auth headers fetched afresh at
every connect, the dialect mapped at the edge), one writer task so sends keep their order, a reader task that never
waits on a tool (``realtime.conversation`` runs them as tasks of the client), reconnects with backoff that replay
the session settings and the conversation, and renewal of the session ahead of the provider's time cap. Listeners
and ``events()`` iterators receive every app event.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Mapping, Sequence
from typing import Any

from websockets.exceptions import ConnectionClosed

from realtime.config import SessionOptions, Settings
from realtime.dialect import client_event_to_beta, server_event_from_beta
from realtime.events import AppEvent, RealtimeError, Reconnected, Reconnecting
from realtime.providers import ConfigurationError, Provider, build_provider
from realtime.redaction import redact
from realtime.session import RealtimeSession, ToolOutput
from realtime.transport import Connection, ConnectionRefused, Connector, websocket_connector

__all__ = ["ConnectionFailed", "RealtimeClient"]

log = logging.getLogger(__name__)

Listener = Callable[[AppEvent], Awaitable[None] | None]
_CLOSED = object()


class ConnectionFailed(ConnectionError):
    """The service could not be reached or refused the connection. The message holds no secret."""


class RealtimeClient:
    """One realtime conversation over a websocket (see the module docstring).

    ``settings`` supplies the provider (unless ``provider`` is given) and defaults; ``tools`` the Realtime
    function definitions offered to the model (their calls are run by a :class:`realtime.conversation.Conversation`);
    ``options`` the session options; ``clock`` monotonic seconds; ``reconnect_delays`` the backoff in seconds
    between attempts; ``connector`` how to open a connection (default: a websocket, see ``realtime.transport``).
    """

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        provider: Provider | None = None,
        tools: Sequence[dict[str, Any]] = (),
        options: SessionOptions | None = None,
        clock: Callable[[], float] = time.monotonic,
        reconnect_delays: Sequence[float] = (0.5, 1.0, 2.0, 4.0, 8.0),
        connector: Connector | None = None,
    ) -> None:
        self.settings = settings or Settings()
        self.provider = provider or build_provider(self.settings)
        self.options = options or self.settings.default_session_options()
        self.session = RealtimeSession(
            self.options,
            tools=tools,
            clock=clock,
            provider=self.provider.name,
            model=self.provider.model,
        )
        self._connector = connector or websocket_connector()
        self._reconnect_delays = tuple(reconnect_delays)
        self._renew_after_s = min(self.settings.realtime_session_renew_s, self.provider.session_cap_s - 60.0)
        self._ws: Connection | None = None
        self._send_queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._listeners: list[Listener] = []
        self._subscribers: list[asyncio.Queue[Any]] = []
        self._tasks: set[asyncio.Task[Any]] = set()
        self._runner: asyncio.Task[None] | None = None
        self._closing = False
        self._url: str | None = None

    # ------------------------------------------------------------------------------------------ lifecycle

    async def __aenter__(self) -> RealtimeClient:
        await self.connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def connect(self) -> None:
        """Connect and configure the session. Raises :class:`ConnectionFailed` (or ConfigurationError) when
        the first connection cannot be made; later drops reconnect by themselves."""
        ws = await self._open()
        self._closing = False
        self.session.start()
        self._attach(ws)
        self._runner = asyncio.create_task(self._run(ws), name="realtime-client")

    async def close(self) -> None:
        """Close the connection and end every ``events()`` iterator. Safe to call twice."""
        self._closing = True
        runner, self._runner = self._runner, None
        if runner is not None:
            runner.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await runner
        for task in list(self._tasks):
            task.cancel()
        if self._ws is not None:
            with contextlib.suppress(Exception):
                await self._ws.close()
            self._ws = None
        for queue in self._subscribers:
            queue.put_nowait(_CLOSED)
        self._subscribers.clear()

    # ------------------------------------------------------------------------------------------ app events

    def events(self) -> AsyncIterator[AppEvent]:
        """An async iterator of every app event from now on; it ends when the client closes."""
        queue: asyncio.Queue[Any] = asyncio.Queue()
        self._subscribers.append(queue)

        async def iterate() -> AsyncIterator[AppEvent]:
            try:
                while True:
                    event = await queue.get()
                    if event is _CLOSED:
                        return
                    yield event
            finally:
                with contextlib.suppress(ValueError):
                    self._subscribers.remove(queue)

        return iterate()

    def add_listener(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener(event)`` (sync or async) for every app event; returns a function that removes it."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    async def _dispatch(self, events: list[AppEvent]) -> None:
        for event in events:
            for queue in self._subscribers:
                queue.put_nowait(event)
            for listener in list(self._listeners):
                try:
                    result = listener(event)
                    if inspect.isawaitable(result):
                        await result
                except Exception:
                    log.exception("listener failed on %s", event.type)

    # ------------------------------------------------------------------------------------------ actions

    async def append_audio(self, pcm: bytes) -> None:
        """Send microphone PCM16 (24 kHz mono, even length; ValueError otherwise)."""
        self.session.append_audio(pcm)
        await self._flush()

    async def send_text(self, text: str) -> None:
        """A typed user message and a response (held while one is active)."""
        self.session.send_text(text)
        await self._flush()

    async def add_items(self, items: Sequence[Mapping[str, Any]]) -> list[str]:
        """Put earlier turns (GA conversation items) into the conversation without a response; see
        :meth:`RealtimeSession.add_items`."""
        ids = self.session.add_items(items)
        await self._flush()
        return ids

    async def commit(self) -> None:
        self.session.commit()
        await self._flush()

    async def create_response(self) -> None:
        self.session.create_response()
        await self._flush()

    async def cancel(self) -> None:
        self.session.cancel()
        await self._flush()

    async def clear_audio(self) -> None:
        self.session.clear_audio()
        await self._flush()

    async def update_session(self, **changes: Any) -> None:
        """Change fields of :class:`SessionOptions` (voice, instructions, turn_detection, transcription_model,
        output_modalities) on the live session."""
        options = SessionOptions.model_validate({**self.options.model_dump(), **changes})  # ValidationError first
        self.options = options
        self.session.update_options(options)
        await self._flush()

    async def send_tool_outputs(self, outputs: Sequence[ToolOutput]) -> None:
        """Send the outputs of the calls the session handed out, then one ``response.create`` (see
        :meth:`realtime.session.RealtimeSession.tool_results`)."""
        self.session.tool_results(outputs)
        await self._flush()

    def run_task(self, coro: Coroutine[Any, Any, None], *, name: str | None = None) -> asyncio.Task[None]:
        """Run ``coro`` as a task that belongs to this client: :meth:`close` cancels it."""
        task = asyncio.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _flush(self) -> None:
        for event in self.session.data_to_send():
            self._send_queue.put_nowait(event)
        await self._dispatch(self.session.events_received())

    # ------------------------------------------------------------------------------------------ transport

    async def _open(self) -> Connection:
        self._url = self.provider.url
        headers = await self.provider.headers()
        try:
            return await self._connector(self._url, headers)
        except ConnectionRefused as exc:
            if exc.status is None:
                raise ConnectionFailed(f"{self.provider.label}: cannot connect ({exc})") from None
            hint = {401: "the key or token was rejected", 403: "access denied", 404: "wrong endpoint or model"}
            raise ConnectionFailed(
                f"{self.provider.label}: HTTP {exc.status} ({hint.get(exc.status, 'handshake refused')})"
            ) from None

    def _attach(self, ws: Connection) -> None:
        self._ws = ws

    async def _run(self, ws: Connection) -> None:
        while not self._closing:
            writer = asyncio.create_task(self._writer(ws))
            renew = asyncio.create_task(asyncio.sleep(max(self._renew_after_s, 1.0)))
            reader = asyncio.create_task(self._reader(ws))
            await self._flush()
            done, _ = await asyncio.wait({reader, writer, renew}, return_when=asyncio.FIRST_COMPLETED)
            renewed = renew in done or self.session.renewal_needed
            for task in (reader, writer, renew):
                task.cancel()
            with contextlib.suppress(Exception):
                await ws.close()
            if self._closing or self.session.fatal is not None:
                break
            reason = "renewing the session" if renewed else "connection lost"
            try:
                ws = await self._reconnect(reason, renewed)
            except ConnectionFailed:
                break
        await self._end()

    async def _reconnect(self, reason: str, renewed: bool) -> Connection:
        last: Exception | None = None
        for attempt, delay in enumerate((0.0, *self._reconnect_delays) if renewed else self._reconnect_delays, 1):
            await self._dispatch([Reconnecting(attempt, delay, reason)])
            await asyncio.sleep(delay)
            try:
                ws = await self._open()
            except (ConnectionFailed, ConfigurationError) as exc:
                last = exc
                log.warning("reconnect attempt %d failed: %s", attempt, exc)
                continue
            self._drain_stale_sends()
            self.session.start(replay=True)
            self._attach(ws)
            await self._flush()  # the cut response's end reaches the app before Reconnected
            await self._dispatch([Reconnected(attempt, renewed=renewed)])
            return ws
        error = RealtimeError("connection_lost", f"Lost the connection and could not reconnect: {last}", fatal=True)
        await self._dispatch([error])
        self._closing = True
        raise ConnectionFailed(str(last))

    def _drain_stale_sends(self) -> None:
        # What was queued for the dead connection is covered by the replay (session settings, items, a pending
        # response.create); audio appended meanwhile belonged to the old input buffer and is dropped.
        while not self._send_queue.empty():
            self._send_queue.get_nowait()

    async def _end(self) -> None:
        for queue in self._subscribers:
            queue.put_nowait(_CLOSED)
        self._subscribers.clear()

    async def _writer(self, ws: Connection) -> None:
        beta = self.provider.dialect == "beta"
        while True:
            event = await self._send_queue.get()
            wire = client_event_to_beta(event) if beta else event
            try:
                await ws.send(json.dumps(wire, separators=(",", ":")))
            except ConnectionClosed:
                return  # the reconnect replays what matters (see _drain_stale_sends)

    async def _reader(self, ws: Connection) -> None:
        beta = self.provider.dialect == "beta"
        try:
            async for frame in ws:
                if beta:
                    try:
                        data: Any = server_event_from_beta(json.loads(frame))
                    except ValueError:
                        data = frame
                    self.session.receive(data)
                else:
                    self.session.receive(frame)
                await self._flush()
                if self.session.renewal_needed or self.session.fatal is not None:
                    return
        except ConnectionClosed as exc:
            log.info("connection closed: %s", redact(exc.rcvd.reason) if exc.rcvd else "no close frame")
