"""The local engine's websocket server: the Realtime protocol on loopback (or any address), both dialects.

Paths (the same code behind all of them):

- GA: ``/v1/realtime?model=...`` (OpenAI's path) and ``/openai/v1/realtime?model=...`` (Azure's GA v1 path);
- preview: ``/openai/realtime?api-version=...-preview&deployment=...`` (Azure), or any GA path with the
  ``OpenAI-Beta: realtime=v1`` header; events are mapped to and from the beta shape at this edge
  (``realtime.dialect``).

GPT-Live (``local_engine.live_front``): ``/v1/live/sessions`` (OpenAI's path), ``/openai/v1/live/sessions`` and
``/openai/v1/live`` (Azure's); a query string (``api-version``) is ignored, and the model is named in
``session.start``.

A plain HTTP ``GET /`` answers 200 (a health check). Every connection, a websocket or an in-memory one (the
app's embedded engine, ``local_engine.embedded``), is served by :meth:`EngineHost.serve_connection` and gets its
own :class:`local_engine.runner.EngineSession`; the models (:class:`EngineStages`) are loaded once per process, in
the background, and shared.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from http import HTTPStatus
from typing import Any, Protocol
from urllib.parse import parse_qs, urlsplit

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from local_engine.config import EngineSettings
from local_engine.live_front import LiveState
from local_engine.live_session import LiveSettings
from local_engine.runner import EngineSession, EngineStages
from realtime.dialect import client_event_from_beta, server_event_to_beta
from realtime.protocol import MAX_APPEND_BYTES, Dialect

__all__ = ["LIVE_PATHS", "Connection", "EngineHost", "LocalRealtimeServer", "dialect_of", "is_live_path"]

log = logging.getLogger(__name__)

MAX_FRAME_BYTES = (MAX_APPEND_BYTES + 2) // 3 * 4 + 64 * 1024
"""Largest client frame (about 20 MiB): a 15 MiB ``input_audio_buffer.append`` (the API reference's limit) in
base64, and room for its JSON. A larger frame closes the connection with 1009 (message too big), on a websocket
(python-websockets' ``max_size``) and on an in-memory connection alike."""
MAX_SESSIONS = 64
"""Sessions served at once by one engine; one more is closed with 1013 (try again later)."""

BETA_MODEL = "gpt-4o-realtime-preview"
"""The model a preview session reports when the deployment's name is not a preview model's name."""

StagesFactory = Callable[[], Awaitable[EngineStages]]


class Connection(Protocol):
    """What :meth:`EngineHost.serve_connection` needs of a connection: a websockets ``ServerConnection`` or an
    in-memory one of the same shape (iterate frames, ``send`` text, ``close``)."""

    def __aiter__(self) -> AsyncIterator[str | bytes]: ...
    async def send(self, message: str) -> None: ...
    async def close(self, code: int = 1000, reason: str = "") -> None: ...


LIVE_PATHS = ("/v1/live/sessions", "/openai/v1/live/sessions", "/openai/v1/live")
"""The paths served with GPT-Live (any query string is ignored)."""


def is_live_path(path: str) -> bool:
    """Whether a handshake's path (with its query) asks for a GPT-Live session."""
    return urlsplit(path).path.rstrip("/") in LIVE_PATHS


def live_settings() -> LiveSettings:
    """The settings of GPT-Live sessions from the environment (``LOCAL_LIVE_SESSION_S``, ``LOCAL_LIVE_SILENCE``)."""
    settings = EngineSettings()
    return LiveSettings(session_s=settings.local_live_session_s, silence=settings.local_live_silence)


def dialect_of(path: str, headers: Mapping[str, str]) -> tuple[Dialect, str] | None:
    """The dialect and model (or deployment) a handshake asks for, or ``None`` for a path that is not served."""
    parts = urlsplit(path)
    query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    beta_header = "realtime=v1" in headers.get("OpenAI-Beta", "")
    route = parts.path.rstrip("/")
    if route in ("/v1/realtime", "/openai/v1/realtime", "/realtime"):
        return ("beta" if beta_header else "ga"), query.get("model") or query.get("deployment") or "gpt-realtime"
    if route == "/openai/realtime":
        preview = query.get("api-version", "").endswith("-preview")
        return ("beta" if preview or beta_header else "ga"), query.get("deployment") or query.get("model") or "local"
    return None


class EngineHost:
    """The engine's sessions over any connection: loads the models once (in the background, from
    :meth:`start_loading`) and serves each connection with :meth:`serve_connection`.

    ``stages``: the models, or an async factory that loads them (default: :func:`local_engine.load_stages` with
    the settings from the environment). ``max_sessions``: sessions served at once (one more is closed, 1013).
    ``live``: the settings of GPT-Live sessions (default: :func:`live_settings`, read at the first one).
    """

    def __init__(
        self,
        *,
        stages: EngineStages | StagesFactory | None = None,
        max_sessions: int = MAX_SESSIONS,
        live: LiveSettings | None = None,
    ) -> None:
        self._stages_source = stages
        self.max_sessions = max_sessions
        self.live = live
        self._stages: asyncio.Future[EngineStages] | None = None
        self.sessions: set[EngineSession] = set()

    def start_loading(self) -> None:
        """Start loading the models in the background (once; the first session waits for them)."""
        if self._stages is None:
            self._stages = asyncio.ensure_future(self._load())
            self._stages.add_done_callback(_log_failure)

    async def ready(self) -> EngineStages:
        """Wait until the models are loaded (raises what loading raised)."""
        if self._stages is None:
            raise RuntimeError("the engine is not started")
        return await asyncio.shield(self._stages)

    async def _load(self) -> EngineStages:
        source = self._stages_source
        if isinstance(source, EngineStages):
            return source
        if source is None:
            from local_engine import load_stages

            source = load_stages
        return await source()

    async def close_sessions(self) -> None:
        """Close every open session."""
        for session in list(self.sessions):
            await session.close()

    async def serve_connection(self, conn: Connection, path: str, headers: Mapping[str, str]) -> None:
        """Serve one connection until it closes: a websocket (from the listening server) or an in-memory one (the
        embedded engine). ``path`` is the handshake's path with its query; ``headers`` its headers. The path picks
        the protocol: GPT-Live on :data:`LIVE_PATHS`, Realtime on the others (:func:`dialect_of`)."""
        if is_live_path(path):
            await self._serve_live(conn)
            return
        routed = dialect_of(path, headers)
        if routed is None:
            await conn.close(1008, "not a Realtime endpoint")
            return
        dialect, model = routed
        beta = dialect == "beta"

        async def send(event: dict[str, Any]) -> None:
            wire = server_event_to_beta(event) if beta else event
            if wire is None:
                return
            with contextlib.suppress(ConnectionClosed):
                await conn.send(json.dumps(wire, separators=(",", ":")))

        stages = await self._admit(conn)
        if stages is None:
            return
        if beta and not model.startswith("gpt-4o"):
            model = BETA_MODEL  # preview sessions name one of the preview models (openai.types.beta.realtime)
        session = EngineSession(stages, send, model=model)
        self.sessions.add(session)
        log.info("session opened (%s dialect, model %s)", dialect, model)
        try:
            await session.open()
            async for frame in conn:
                if len(frame) > MAX_FRAME_BYTES:
                    await conn.close(1009, f"frame larger than {MAX_FRAME_BYTES} bytes")
                    break
                if beta:
                    try:
                        data: Any = json.loads(frame)
                        if isinstance(data, dict):
                            data = client_event_from_beta(data)
                    except ValueError:
                        data = frame
                    await session.handle(data)
                else:
                    await session.handle(frame)
        except ConnectionClosed:
            pass
        finally:
            self.sessions.discard(session)
            await session.close()
            log.info("session closed")

    async def _admit(self, conn: Connection) -> EngineStages | None:
        """The loaded stages for a new session, or ``None`` after closing ``conn`` with why: 1011 when the models
        failed to load, 1013 when :attr:`max_sessions` are open (both protocols' sessions count)."""
        try:
            stages = await self.ready()
        except Exception as exc:
            log.error("local engine models failed to load: %s", exc)
            await conn.close(1011, "the local engine's models failed to load")
            return None
        if len(self.sessions) >= self.max_sessions:
            log.warning("refused a session: %d are open", len(self.sessions))
            await conn.close(1013, "the local engine serves as many sessions as it can; try again later")
            return None
        return stages

    async def _serve_live(self, conn: Connection) -> None:
        """Serve one GPT-Live connection (:class:`local_engine.live_front.LiveState`) until it closes; the session
        closes it itself after ``session.closed`` (1000)."""

        async def send(event: dict[str, Any]) -> None:
            with contextlib.suppress(ConnectionClosed):
                await conn.send(json.dumps(event, separators=(",", ":")))

        stages = await self._admit(conn)
        if stages is None:
            return
        if self.live is None:
            self.live = live_settings()
        front = LiveState(limits=stages.limits, settings=self.live)
        session = EngineSession(stages, send, front=front, close=conn.close)
        self.sessions.add(session)
        log.info("live session opened")
        try:
            await session.open()
            async for frame in conn:
                if len(frame) > MAX_FRAME_BYTES:
                    await conn.close(1009, f"frame larger than {MAX_FRAME_BYTES} bytes")
                    break
                await session.handle(frame)
        except ConnectionClosed:
            pass
        finally:
            self.sessions.discard(session)
            await session.close()
            log.info("live session closed")


class LocalRealtimeServer(EngineHost):
    """A Realtime protocol server over the local engine's models, listening on a websocket port.

    ``port=0`` picks a free port; :attr:`url` is the GA websocket base (``ws://HOST:PORT/v1``) once :meth:`start`
    returned. Every websocket connection is served by :meth:`EngineHost.serve_connection`.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 8765,
        *,
        stages: EngineStages | StagesFactory | None = None,
        max_sessions: int = MAX_SESSIONS,
        live: LiveSettings | None = None,
    ) -> None:
        super().__init__(stages=stages, max_sessions=max_sessions, live=live)
        self.host, self.port = host, port
        self._server: Server | None = None

    @property
    def url(self) -> str:
        """The GA websocket base URL, ``ws://HOST:PORT/v1``."""
        return f"ws://{self.host}:{self.port}/v1"

    async def start(self) -> None:
        """Listen, and start loading the models in the background (the first session waits for them)."""
        self.start_loading()
        self._server = await serve(
            self._handle,
            self.host,
            self.port,
            process_request=self._process_request,
            max_size=MAX_FRAME_BYTES,
            ping_interval=20,
            compression=None,
        )
        sock = next(iter(self._server.sockets))
        self.port = int(sock.getsockname()[1])

    async def serve_forever(self) -> None:
        """Start (if needed) and serve until cancelled."""
        if self._server is None:
            await self.start()
        assert self._server is not None
        await self._server.serve_forever()

    async def close(self) -> None:
        """Stop listening and close every session."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        await self.close_sessions()

    async def __aenter__(self) -> LocalRealtimeServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # ------------------------------------------------------------------------------------------ connections

    def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        if "upgrade" not in request.headers.get("Connection", "").lower():
            if urlsplit(request.path).path in ("/", "/healthz"):
                return connection.respond(HTTPStatus.OK, "Realtime local engine: ok\n")
            return connection.respond(HTTPStatus.NOT_FOUND, "Not found\n")
        if dialect_of(request.path, request.headers) is None and not is_live_path(request.path):
            return connection.respond(HTTPStatus.NOT_FOUND, "Not a Realtime endpoint\n")
        return None

    async def _handle(self, ws: ServerConnection) -> None:
        assert ws.request is not None
        await self.serve_connection(ws, ws.request.path, ws.request.headers)


def _log_failure(future: asyncio.Future[EngineStages]) -> None:
    if not future.cancelled() and future.exception() is not None:
        log.error("loading the local engine's models failed: %s", future.exception())
