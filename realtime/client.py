"""The asyncio voice client: a thin driver around a protocol's session core (``realtime.core``): the Realtime
API's :class:`realtime.session.RealtimeSession` or GPT-Live's :class:`realtime.live_session.LiveSession`, chosen from
``Provider.protocol`` (:func:`realtime.core.session_factory`).

    async with RealtimeClient(Settings()) as rt:
        events = rt.events()
        await rt.send_text("hello")
        async for event in events: ...

It owns the connection (opened by an injected connector, ``realtime.transport``; auth headers fetched afresh at
every connect), one writer task so sends keep their order, a reader task that never waits on a tool
(``realtime.conversation`` runs them as tasks of the client), a ticker when the core keeps time (GPT-Live's input
clock, every 100 ms), reconnects that replay the session settings and the conversation, and renewal of the session
ahead of the provider's time cap (Realtime) or when the core asks (GPT-Live: expiry, a new voice or instructions).
Listeners and ``events()`` iterators receive every app event.

What it trusts of the server is bounded:

- **Handshake**: a connection counts as open once the core says so (Realtime: ``session.created`` arrived;
  GPT-Live: ``session.start`` sent first, then ``session.started`` arrived), within ``REALTIME_SESSION_TIMEOUT_S``
  (15 s) of the websocket handshake.
- **Reconnects** (:class:`ReconnectPolicy`): exponential backoff with jitter (0.5 s doubling up to 15 s, each
  delay drawn between half and all of it), at most ``REALTIME_RECONNECT_ATTEMPTS`` (6) failed attempts in a row;
  the count resets only after a connection stayed up ``REALTIME_HEALTHY_AFTER_S`` (10 s) with no fatal error. It
  stops at once on a fatal close (1008, 4000-4003), a fatal error event (``invalid_api_key``,
  ``beta_api_shape_disabled``, ... see ``realtime.session.FATAL_ERROR_CODES``) or a refused handshake with HTTP 401,
  403 or 404. When it stops, the app gets exactly one fatal :class:`RealtimeError` and the iterators end.
- **Events**: a frame that cannot be read (not JSON, missing fields, bad base64 audio) is skipped; the first one
  is reported (one non-fatal ``invalid_server_event`` error), later ones are only counted. Never a reconnect.
- **Frames** larger than ``realtime.transport.MAX_SERVER_FRAME_BYTES`` (16 MiB) close the connection (1009).
- **Answers** (Realtime): while an answer is expected (a ``response.create`` sent, or a response running), a server
  silent for
  ``REALTIME_RESPONSE_TIMEOUT_S`` (60 s) gets one ``response_timeout`` error; the answer is abandoned
  (``response.cancel``) and the next turn can ask again.
- **Close** (GPT-Live): ``session.close``, then at most :data:`CLOSE_TIMEOUT_S` for ``session.closed``.
- **Slow consumers**: each ``events()`` iterator buffers at most :data:`MAX_QUEUED_EVENTS` events. When it is full
  further events are dropped for that iterator, which first receives one non-fatal ``events_dropped`` error (the
  consumer is told, not fed without bound); the count is logged when it catches up.

:meth:`RealtimeClient.close` ends every task the client started (writer, reader, renewal, watchdog, tools), also
when the caller is cancelled while it waits. ``VoiceClient`` is the same class under a protocol-neutral name.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import random
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from websockets.exceptions import ConnectionClosed

from realtime.config import SessionOptions, Settings
from realtime.core import SessionCore, SessionFactory, session_factory
from realtime.events import AppEvent, RealtimeError, Reconnected, Reconnecting, ToolOutput
from realtime.providers import ConfigurationError, Provider, build_provider
from realtime.redaction import redact, secret_values
from realtime.transport import (
    Connection,
    ConnectionRefused,
    Connector,
    is_fatal_close,
    is_fatal_handshake,
    websocket_connector,
)

__all__ = [
    "MAX_QUEUED_EVENTS",
    "ConnectionFailed",
    "FatalConnectionError",
    "RealtimeClient",
    "ReconnectPolicy",
    "VoiceClient",
]

log = logging.getLogger(__name__)

Listener = Callable[[AppEvent], Awaitable[None] | None]

MAX_QUEUED_EVENTS = 5000
"""Events one ``events()`` iterator may have waiting (minutes of audio deltas)."""
CLOSE_TIMEOUT_S = 5.0


class ConnectionFailed(ConnectionError):
    """The service could not be reached or refused the connection. The message holds no secret."""


class FatalConnectionError(ConnectionFailed):
    """The service refused the connection in a way a retry cannot fix (credentials, permission, endpoint)."""


@dataclass(frozen=True)
class ReconnectPolicy:
    """When to reconnect (see the module docstring). ``delays``, when given, are used as they are (no jitter;
    the last one repeats) instead of the exponential backoff."""

    max_attempts: int = 6
    base_s: float = 0.5
    max_s: float = 15.0
    healthy_after_s: float = 10.0
    delays: tuple[float, ...] = ()

    @classmethod
    def from_settings(cls, settings: Settings) -> ReconnectPolicy:
        """The policy of ``settings`` (``REALTIME_RECONNECT_*``, ``REALTIME_HEALTHY_AFTER_S``)."""
        return cls(
            max_attempts=settings.realtime_reconnect_attempts,
            base_s=settings.realtime_reconnect_base_s,
            max_s=settings.realtime_reconnect_max_s,
            healthy_after_s=settings.realtime_healthy_after_s,
        )

    def delay(self, attempt: int, rng: random.Random | None = None) -> float:
        """Seconds to wait before failed-attempt number ``attempt`` (1-based)."""
        if self.delays:
            return self.delays[min(attempt, len(self.delays)) - 1]
        full = min(self.max_s, self.base_s * 2.0 ** max(0, attempt - 1))
        jitter: float = (rng or random).random()
        return full * (0.5 + 0.5 * jitter)


class _Fatal(Exception):
    """A connection ended in a way that stops the client (the session may already have emitted its error)."""


class _Subscriber:
    """One ``events()`` iterator's bounded buffer (see the module docstring for the overflow policy)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.items: deque[AppEvent | None] = deque()
        self.ready = asyncio.Event()
        self.dropped = 0
        self.closed = False

    def put(self, event: AppEvent | None) -> None:
        if event is not None and len(self.items) >= self.limit:
            if not self.dropped:  # one notice, beyond the limit, at the point the gap starts
                self.items.append(
                    RealtimeError("events_dropped", "Some updates were dropped because the app fell behind.")
                )
            self.dropped += 1
            return
        self.items.append(event)
        self.ready.set()

    async def get(self) -> AppEvent | None:
        while not self.items:
            self.ready.clear()
            await self.ready.wait()
        event = self.items.popleft()
        if self.dropped and not self.items:
            log.warning("an events() consumer fell behind: %d events were dropped", self.dropped)
            self.dropped = 0
        return event


class RealtimeClient:
    """One realtime conversation over a connection (see the module docstring).

    ``settings`` supplies the provider (unless ``provider`` is given), the defaults and the bounds; ``tools`` the
    Realtime function definitions offered to the model (their calls are run by a
    :class:`realtime.conversation.Conversation`); ``options`` the session options; ``clock`` monotonic seconds;
    ``reconnect`` the :class:`ReconnectPolicy` (``reconnect_delays``: a fixed list of delays instead, one attempt
    per delay); ``connector`` how to open a connection (default: a websocket, see ``realtime.transport``);
    ``session_factory`` builds the session core for the provider (default :func:`realtime.core.session_factory`,
    by ``provider.protocol``). ``session`` is the protocol session (:class:`realtime.session.RealtimeSession` or
    :class:`realtime.live_session.LiveSession`), ``core`` the :class:`realtime.core.SessionCore` driven.
    """

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        provider: Provider | None = None,
        tools: Sequence[dict[str, Any]] = (),
        options: SessionOptions | None = None,
        clock: Callable[[], float] = time.monotonic,
        reconnect: ReconnectPolicy | None = None,
        reconnect_delays: Sequence[float] | None = None,
        connector: Connector | None = None,
        max_queued_events: int = MAX_QUEUED_EVENTS,
        session_factory: SessionFactory = session_factory,
    ) -> None:
        self.settings = settings or Settings()
        self.provider = provider or build_provider(self.settings)
        self.options = options or self.settings.default_session_options()
        self.clock = clock
        self.core: SessionCore
        self.core, self.session = session_factory(
            self.provider, self.settings, options=self.options, tools=tools, clock=clock
        )
        self._connector = connector or websocket_connector()
        if reconnect is None:
            reconnect = ReconnectPolicy.from_settings(self.settings)
            if reconnect_delays is not None:
                reconnect = ReconnectPolicy(
                    max_attempts=len(tuple(reconnect_delays)),
                    healthy_after_s=reconnect.healthy_after_s,
                    delays=tuple(reconnect_delays),
                )
        self.reconnect = reconnect
        self._session_timeout_s = self.settings.realtime_session_timeout_s
        self._response_timeout_s = self.settings.realtime_response_timeout_s
        self._renew_after_s = min(self.settings.realtime_session_renew_s, self.provider.session_cap_s - 60.0)
        self._max_queued_events = max_queued_events
        self._ws: Connection | None = None
        self._send_queue: asyncio.Queue[str] = asyncio.Queue()
        self._listeners: list[Listener] = []
        self._subscribers: list[_Subscriber] = []
        self._tasks: set[asyncio.Task[Any]] = set()
        self._runner: asyncio.Task[None] | None = None
        self._closing = False
        self._url: str | None = None
        self._invalid_events = 0
        self._fatal_event: RealtimeError | None = None
        self._ended = False
        self._last_frame_at = 0.0
        self._expecting_since: float | None = None
        self.handshakes = 0

    # ------------------------------------------------------------------------------------------ lifecycle

    async def __aenter__(self) -> RealtimeClient:
        await self.connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def connect(self) -> None:
        """Connect and configure the session. Raises :class:`ConnectionFailed` (:class:`FatalConnectionError` when
        a retry cannot help) or ConfigurationError when the first connection cannot be made; later drops
        reconnect by themselves."""
        self._closing = False
        self._ended = False
        try:
            ws = await self._open_session()
        except _Fatal as exc:
            raise FatalConnectionError(str(exc)) from None
        self.core.opened()
        self._ws = ws
        self._runner = asyncio.create_task(self._run(ws), name="realtime-client")

    async def close(self) -> None:
        """Close the connection, end every task the client started and every ``events()`` iterator. Safe to call
        twice, and complete even when the caller is cancelled while it waits: every task is cancelled before the
        first await, and the runner's own cleanup awaits the tasks it started. A GPT-Live session is ended with
        ``session.close`` first, waiting at most :data:`CLOSE_TIMEOUT_S` for ``session.closed``."""
        self._closing = True
        runner = self._runner
        goodbye = self.core.close_frames() if self._ws is not None else []
        if goodbye and runner is not None and not runner.done():
            for frame in goodbye:
                self._send_queue.put_nowait(frame)
            with contextlib.suppress(Exception):
                await asyncio.wait({runner}, timeout=CLOSE_TIMEOUT_S)  # ends when session.closed arrives
        current = asyncio.current_task()
        tasks = [t for t in (self._runner, *self._tasks) if t is not None and not t.done() and t is not current]
        self._runner = None
        for task in tasks:
            task.cancel()
        ws, self._ws = self._ws, None
        try:
            if tasks:
                await asyncio.wait(tasks, timeout=CLOSE_TIMEOUT_S)
            if ws is not None:
                await self._close_connection(ws)
        finally:
            self._end_subscribers()

    # ------------------------------------------------------------------------------------------ app events

    def events(self) -> AsyncIterator[AppEvent]:
        """An async iterator of every app event from now on; it ends when the client closes. It buffers at most
        ``max_queued_events``: see the module docstring for what happens to a consumer that falls behind."""
        subscriber = _Subscriber(self._max_queued_events)
        if self._ended:  # it already stopped: a late subscriber still learns why, then the iterator ends
            if self._fatal_event is not None:
                subscriber.put(self._fatal_event)
            subscriber.put(None)
        else:
            self._subscribers.append(subscriber)

        async def iterate() -> AsyncIterator[AppEvent]:
            try:
                while True:
                    event = await subscriber.get()
                    if event is None:
                        return
                    yield event
            finally:
                with contextlib.suppress(ValueError):
                    self._subscribers.remove(subscriber)

        return iterate()

    def add_listener(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener(event)`` (sync or async) for every app event; returns a function that removes it."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    async def _dispatch(self, events: list[AppEvent]) -> None:
        for event in events:
            if isinstance(event, RealtimeError):
                if event.code == "invalid_server_event":
                    self._invalid_events += 1
                    if self._invalid_events > 1:
                        continue  # reported once; the rest are counted
                if event.fatal:
                    if self._fatal_event is not None:
                        continue
                    self._fatal_event = event
            for subscriber in self._subscribers:
                subscriber.put(event)
            for listener in list(self._listeners):
                try:
                    result = listener(event)
                    if inspect.isawaitable(result):
                        await result
                except Exception:
                    log.exception("listener failed on %s", event.type)

    def _end_subscribers(self) -> None:
        self._ended = True
        for subscriber in self._subscribers:
            subscriber.put(None)
        self._subscribers.clear()

    # ------------------------------------------------------------------------------------------ actions

    async def append_audio(self, pcm: bytes) -> None:
        """Send microphone PCM16 (24 kHz mono, even length; ValueError otherwise)."""
        self.core.append_audio(pcm)
        await self._flush()

    async def send_text(self, text: str) -> None:
        """A typed user message and an answer of its own (Realtime: both wait while a response is active, see
        :meth:`realtime.session.RealtimeSession.send_text`; GPT-Live: answered aloud like speech)."""
        self.core.send_text(text)
        await self._flush()

    async def add_items(self, items: Sequence[Mapping[str, Any]]) -> list[str]:
        """Put earlier turns (GA conversation items) into the conversation without a response. Called before
        :meth:`connect` (a resumed chat), they seed the first session (Realtime: sent after the session is
        configured; GPT-Live: ``session.input``)."""
        ids = self.core.add_items(items)
        await self._flush()
        return ids

    async def commit(self) -> None:
        """End the user's turn by hand (push-to-talk): ``input_audio_buffer.commit``. GPT-Live: no-op."""
        self.core.commit()
        await self._flush()

    async def create_response(self) -> None:
        """Ask for a response now, or once the active one is done (``response.create``, one at most). GPT-Live:
        no-op (the model decides when to speak)."""
        self.core.create_response()
        await self._flush()

    async def cancel(self) -> None:
        """Stop the active response (``response.cancel``; a playing item is truncated at what was heard).
        GPT-Live: no-op (the app stops its own playback)."""
        self.core.cancel()
        await self._flush()

    async def clear_audio(self) -> None:
        """Drop the audio appended to the input buffer (``input_audio_buffer.clear``). GPT-Live: no-op."""
        self.core.clear_audio()
        await self._flush()

    async def update_session(self, **changes: Any) -> None:
        """Change fields of :class:`SessionOptions` (voice, instructions, turn_detection, transcription_model,
        output_modalities) on the running session. GPT-Live ignores all but voice and instructions, and a change
        of those starts a new session seeded with the conversation (``Reconnecting``/``Reconnected``)."""
        options = SessionOptions.model_validate({**self.options.model_dump(), **changes})  # ValidationError first
        self.options = options
        self.core.update_options(options)
        await self._flush()

    async def send_tool_outputs(self, outputs: Sequence[ToolOutput]) -> None:
        """Send the outputs of the calls a :class:`~realtime.events.ToolCallsRequested` handed out, then one
        request to go on (see :meth:`realtime.session.RealtimeSession.tool_results`,
        :meth:`realtime.live_session.LiveSession.tool_results`)."""
        self.core.tool_results(outputs)
        await self._flush()

    def run_task(self, coro: Coroutine[Any, Any, None], *, name: str | None = None) -> asyncio.Task[None]:
        """Run ``coro`` as a task that belongs to this client: :meth:`close` cancels it and waits for it."""
        task = asyncio.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _flush(self) -> None:
        for frame in self.core.frames_to_send(self._ws is not None):
            self._send_queue.put_nowait(frame)
        if self.core.answer_expected:
            if self._expecting_since is None:
                self._expecting_since = time.monotonic()
        else:
            self._expecting_since = None
        await self._dispatch(self.core.events_received())

    # ------------------------------------------------------------------------------------------ transport

    async def _open(self) -> Connection:
        self._url = self.provider.url
        headers = await self.provider.headers()
        self.handshakes += 1
        try:
            return await self._connector(self._url, headers)
        except ConnectionRefused as exc:
            if exc.status is None:
                raise ConnectionFailed(f"{self.provider.label}: cannot connect ({exc})") from None
            hint = {401: "the key or token was rejected", 403: "access denied", 404: "wrong endpoint or model"}
            message = f"{self.provider.label}: HTTP {exc.status} ({hint.get(exc.status, 'handshake refused')})"
            if is_fatal_handshake(exc.status):
                raise _Fatal(message) from None
            raise ConnectionFailed(message) from None

    async def _open_session(self, *, replay: bool = False) -> Connection:
        """Open a connection, send what the core opens with (GPT-Live ``session.start``) and wait for the core's
        handshake (bounded). Raises :class:`ConnectionFailed` (retry may help) or :class:`_Fatal`."""
        ws = await self._open()
        try:
            self.core.connected(replay=replay)
            for frame in self.core.frames_to_send(True):
                try:
                    await ws.send(frame)
                except ConnectionClosed as exc:
                    code, reason = (exc.rcvd.code, exc.rcvd.reason) if exc.rcvd else (None, None)
                    raise self._closed_error(code, reason, "during the handshake") from None
            await self._await_ready(ws)
        except BaseException:
            await self._close_connection(ws)
            raise
        return ws

    async def _await_ready(self, ws: Connection) -> None:
        frames = aiter(ws)
        try:
            async with asyncio.timeout(self._session_timeout_s):
                while True:
                    try:
                        frame = await anext(frames)
                    except StopAsyncIteration:
                        raise self._closed_error(ws.close_code, ws.close_reason, "during the handshake") from None
                    except ConnectionClosed as exc:
                        code, reason = (exc.rcvd.code, exc.rcvd.reason) if exc.rcvd else (None, None)
                        raise self._closed_error(code, reason, "during the handshake") from None
                    self._receive(frame)
                    if self.core.fatal is not None:
                        await self._flush_events()
                        raise _Fatal(self.core.fatal.message)
                    if self.core.ready:
                        return
        except TimeoutError:
            first = "session.started" if self.provider.protocol == "live" else "session.created"
            raise ConnectionFailed(
                f"{self.provider.label}: no {first} within {self._session_timeout_s:g} s of the handshake"
            ) from None
        finally:
            close = getattr(frames, "aclose", None)
            if close is not None:
                with contextlib.suppress(Exception):
                    await close()

    def _closed_error(self, code: int | None, reason: str | None, when: str = "") -> Exception:
        shown = redact(reason or "", secret_values(self.settings))[:80]  # the settings' keys, even if not registered
        when = f" {when}" if when else ""
        message = f"{self.provider.label} closed the connection{when} (code {code}{': ' + shown if shown else ''})"
        return _Fatal(message) if is_fatal_close(code) else ConnectionFailed(message)

    async def _close_connection(self, ws: Connection) -> None:
        with contextlib.suppress(Exception):
            async with asyncio.timeout(CLOSE_TIMEOUT_S):
                await ws.close()

    async def _flush_events(self) -> None:
        await self._dispatch(self.core.events_received())

    def _receive(self, frame: str | bytes) -> None:
        """Feed one frame to the core. A frame it cannot handle is reported once (see :meth:`_dispatch`) and
        skipped."""
        try:
            self.core.receive_frame(frame)
        except Exception as exc:
            if self._invalid_events == 0:
                log.warning("skipped a server event we could not handle (%s)", type(exc).__name__)
            self.core.report_error(
                RealtimeError("invalid_server_event", "The service sent an event we could not read.")
            )

    async def _run(self, ws: Connection) -> None:
        """Serve connections until the client closes or stops: reconnect per the policy, renew ahead of the cap."""
        failures = 0
        try:
            while not self._closing:
                opened_at = time.monotonic()
                outcome = await self._serve(ws)
                log.info("connection ended: %s", outcome)
                if outcome == "renew":
                    for frame in self.core.close_frames():  # end the old session (GPT-Live), without waiting
                        with contextlib.suppress(Exception):
                            await ws.send(frame)
                await self._close_connection(ws)
                self._ws = None
                self.core.disconnected()
                await self._flush()
                if self._closing:
                    break
                if self.core.fatal is not None:
                    break  # the session's own fatal error was the one message
                if isinstance(outcome, _Fatal):
                    await self._dispatch([RealtimeError("connection_closed", str(outcome), fatal=True)])
                    break
                renewed = outcome == "renew"
                if renewed or time.monotonic() - opened_at >= self.reconnect.healthy_after_s:
                    failures = 0
                reopened = await self._reconnect(failures, renewed, str(outcome))
                if reopened is None:
                    break
                ws, failures = reopened
        finally:
            self._end_subscribers()

    async def _serve(self, ws: Connection) -> str | _Fatal:
        """Run one connection's tasks until one ends; returns why (``renew``, a close description, or _Fatal)."""
        self._last_frame_at = time.monotonic()
        tasks: set[asyncio.Task[Any]] = {
            asyncio.create_task(self._reader(ws), name="realtime-reader"),
            asyncio.create_task(self._writer(ws), name="realtime-writer"),
            asyncio.create_task(self._watchdog(), name="realtime-watchdog"),
        }
        if self.core.renews_on_timer:
            tasks.add(asyncio.create_task(self._renewal(), name="realtime-renewal"))
        if self.core.tick_interval_s:
            tasks.add(asyncio.create_task(self._ticker(self.core.tick_interval_s), name="realtime-ticker"))
        try:
            await self._flush()
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        results: list[str | _Fatal] = [
            t.result() for t in done if not t.cancelled() and t.exception() is None and t.result()
        ]
        for result in sorted(results, key=lambda r: not isinstance(r, _Fatal)):  # a fatal close wins
            return result
        if self.core.renewal_needed:
            return "renew"
        return "connection lost"

    async def _reconnect(self, failures: int, renewed: bool, reason: str) -> tuple[Connection, int] | None:
        """Reconnect per the policy; None (after one fatal error event) when it gives up or must stop."""
        attempt = 0
        last: Exception | None = None
        while not self._closing:
            attempt += 1
            if renewed and attempt == 1:
                delay = 0.0
            else:
                failures += 1
                if failures > self.reconnect.max_attempts:
                    break
                delay = self.reconnect.delay(failures)
            await self._dispatch([Reconnecting(attempt, delay, "renewing the session" if renewed else reason)])
            await asyncio.sleep(delay)
            try:
                ws = await self._open_session(replay=True)
            except _Fatal as exc:
                await self._flush()
                if self.core.fatal is None:
                    await self._dispatch([RealtimeError("connection_refused", str(exc), fatal=True)])
                return None
            except (ConnectionFailed, ConfigurationError) as exc:
                last = exc
                log.warning("reconnect attempt %d failed: %s", attempt, exc)
                continue
            self._drain_stale_sends()
            self.core.opened(replay=True)
            self._ws = ws
            await self._flush()  # the cut response's end reaches the app before Reconnected
            await self._dispatch([Reconnected(attempt, renewed=renewed)])
            return ws, failures
        if not self._closing:
            message = f"Lost the connection and could not reconnect after {failures - 1} attempts"
            await self._dispatch([RealtimeError("connection_lost", f"{message}: {last or reason}", fatal=True)])
        return None

    def _drain_stale_sends(self) -> None:
        # What was queued for the dead connection is covered by the replay (session settings, items, a pending
        # response.create); audio appended meanwhile belonged to the old input buffer and is dropped.
        while not self._send_queue.empty():
            self._send_queue.get_nowait()

    async def _writer(self, ws: Connection) -> str | _Fatal:
        while True:
            frame = await self._send_queue.get()
            try:
                await ws.send(frame)
            except ConnectionClosed as exc:  # the reconnect replays what matters (see _drain_stale_sends)
                return self._closed_outcome(exc)

    async def _renewal(self) -> str:
        await asyncio.sleep(max(self._renew_after_s, 1.0))
        return "renew"

    async def _reader(self, ws: Connection) -> str | _Fatal:
        try:
            async for frame in ws:
                self._last_frame_at = time.monotonic()
                self._receive(frame)
                await self._flush()
                if self.core.renewal_needed:
                    return "renew"
                if self.core.fatal is not None:
                    return "fatal"
        except ConnectionClosed as exc:
            return self._closed_outcome(exc)
        error = self._closed_error(ws.close_code, ws.close_reason)
        return error if isinstance(error, _Fatal) else str(error)

    def _closed_outcome(self, exc: ConnectionClosed) -> str | _Fatal:
        code, reason = (exc.rcvd.code, exc.rcvd.reason) if exc.rcvd else (None, None)
        error = self._closed_error(code, reason)
        return error if isinstance(error, _Fatal) else str(error)

    async def _watchdog(self) -> str:
        """An answer expected while the server says nothing for the response timeout: one error, and the answer
        is abandoned so the next turn can ask again."""
        while True:
            await asyncio.sleep(min(1.0, self._response_timeout_s / 4))
            since = self._expecting_since
            if since is None or not self.core.answer_expected:
                continue
            silent = time.monotonic() - max(since, self._last_frame_at)
            if silent < self._response_timeout_s:
                continue
            log.warning("no answer from the service for %.0f s; abandoning the answer", silent)
            self.core.abandon_answer("timeout")  # response.cancel; the app sees the answer end
            self._expecting_since = None
            message = f"The service did not answer for {self._response_timeout_s:g} s; ask again."
            self.core.report_error(RealtimeError("response_timeout", message))
            await self._flush()

    async def _ticker(self, interval_s: float) -> str:
        """The core's clock (GPT-Live: silence keeps the input clock running, turns end on silence); returns
        ``renew`` when the core asks for a new session."""
        while True:
            await asyncio.sleep(interval_s)
            self.core.tick(self.clock())
            await self._flush()
            if self.core.renewal_needed:
                return "renew"


VoiceClient = RealtimeClient
"""The same client under a protocol-neutral name (it speaks Realtime or GPT-Live, by ``Provider.protocol``)."""
