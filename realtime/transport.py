"""The transport seam: how a :class:`realtime.client.RealtimeClient` gets a connection to a Realtime server.

A :data:`Connector` takes the URL and the handshake headers and returns an open :class:`Connection`, the part of
python-websockets' connection API the client uses (iterate text frames, ``send``, ``close``, ``close_code``,
``close_reason``), as httpx lets a client inject its transport. Two connectors:

- :func:`websocket_connector`: a real websocket (``websockets.asyncio.client.connect``) with a frame size limit,
  an open timeout and keepalive pings. The default.
- :func:`memory_connector`: an in-memory pair in this process; the server side is handed to a ``serve``
  coroutine (for example the embedded local engine's ``serve_connection``). No socket, no port.

Both sides of a memory pair behave like websockets' connections: iterating ends after a normal close (1000,
1001) and raises :class:`websockets.exceptions.ConnectionClosedError` after any other; ``send`` on a closed
connection raises :class:`websockets.exceptions.ConnectionClosed`. Each side buffers at most
:data:`MAX_QUEUED_FRAMES` frames it has not read: a ``send`` that finds the peer's buffer full waits until the peer
reads one (as a websocket's ``send`` waits while its write buffer is above the high-water mark), so a stalled reader
stops its sender instead of letting memory grow; a close wakes every waiting ``send``, which then raises
``ConnectionClosed``. Reference: the websockets documentation,
"asyncio" API, ``ClientConnection`` (https://websockets.readthedocs.io/en/stable/reference/asyncio/client.html).
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Protocol
from urllib.parse import urlsplit

from websockets.asyncio.client import connect
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosedError, ConnectionClosedOK, InvalidHandshake, InvalidStatus
from websockets.frames import Close

__all__ = [
    "FATAL_CLOSE_CODES",
    "FATAL_HANDSHAKE_STATUSES",
    "MAX_QUEUED_FRAMES",
    "Connection",
    "ConnectionRefused",
    "Connector",
    "MemoryConnection",
    "Serve",
    "is_fatal_close",
    "is_fatal_handshake",
    "memory_connector",
    "memory_pair",
    "websocket_connector",
]

log = logging.getLogger(__name__)

FATAL_CLOSE_CODES = frozenset({1008, 4000, 4001, 4002, 4003})
"""Websocket close codes after which reconnecting cannot help: 1008 policy violation (RFC 6455 section 7.4.1; what a
service closes with for a rejected key or permission) and 4000-4003, the application range services use for
authentication and protocol-shape failures."""

FATAL_HANDSHAKE_STATUSES = frozenset({401, 403, 404})
"""HTTP statuses of a refused handshake that a retry cannot fix (key, permission, endpoint or model)."""


def is_fatal_close(code: int | None) -> bool:
    """Whether a connection closed with ``code`` (``None``: no close frame) is not worth reconnecting."""
    return code in FATAL_CLOSE_CODES


def is_fatal_handshake(status: int | None) -> bool:
    """Whether a handshake refused with HTTP ``status`` (``None``: no response) is not worth retrying."""
    return status in FATAL_HANDSHAKE_STATUSES


MAX_SERVER_FRAME_BYTES = 16 * 1024 * 1024
"""Largest server frame the client accepts. The largest legitimate server events are ``session.updated`` with
long instructions and tool definitions, and audio deltas (a few hundred ms of PCM16 in base64): far below this."""


class Connection(Protocol):
    """One open connection, client or server side: the subset of python-websockets' API both sides use."""

    def __aiter__(self) -> AsyncIterator[str | bytes]:
        """The frames received, in order; ends on a normal close."""
        ...

    async def send(self, message: str) -> None:
        """Send one text frame."""
        ...

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Close the connection (both directions)."""
        ...

    @property
    def close_code(self) -> int | None:
        """The close code once closed, else ``None``."""
        ...

    @property
    def close_reason(self) -> str | None:
        """The close reason once closed, else ``None``."""
        ...


Connector = Callable[[str, Mapping[str, str]], Awaitable[Connection]]
"""``await connector(url, headers)``: an open connection, or :class:`ConnectionRefused`."""

Serve = Callable[[Connection, str, Mapping[str, str]], Awaitable[None]]
"""``await serve(connection, path_with_query, headers)``: a server's handler for one connection."""


class ConnectionRefused(ConnectionError):
    """The connection could not be opened. ``status`` is the HTTP status of a refused handshake, if any."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


def websocket_connector(
    *,
    max_size: int | None = MAX_SERVER_FRAME_BYTES,
    open_timeout: float = 15.0,
    ping_interval: float = 20.0,
    compression: str | None = None,
) -> Connector:
    """The default connector: a websocket with these limits (frame size in bytes, seconds). ``compression`` is off
    by default: audio in base64 compresses little, and deflating every frame was the relay's largest single cost
    in ``bench/relay_load.py`` (pass ``"deflate"`` to offer it)."""

    async def open_websocket(url: str, headers: Mapping[str, str]) -> Connection:
        if not url.startswith(("ws://", "wss://")):
            raise ConnectionRefused(f"not a websocket URL ({url.split(':', 1)[0]}:); an in-process server needs "
                                    "memory_connector")  # fmt: skip
        try:
            return await connect(
                url,
                additional_headers=dict(headers),
                max_size=max_size,
                open_timeout=open_timeout,
                ping_interval=ping_interval,
                compression=compression,
            )
        except InvalidStatus as exc:
            status = exc.response.status_code
            raise ConnectionRefused(f"HTTP {status}", status) from None
        except (OSError, InvalidHandshake, TimeoutError) as exc:
            raise ConnectionRefused(type(exc).__name__) from None

    return open_websocket


MAX_QUEUED_FRAMES = 256
"""Frames one side of a memory pair holds unread before its peer's ``send`` waits: seconds of audio deltas (a few
to a few tens of KB each), a few MB at most, far more than a reader that keeps up ever has waiting."""


class MemoryConnection:
    """One side of an in-memory connection pair (see :func:`memory_pair`). ``max_queued`` (frames, at least 1)
    bounds the frames received and not yet read."""

    def __init__(self, max_queued: int = MAX_QUEUED_FRAMES) -> None:
        if max_queued < 1:
            raise ValueError(f"max_queued must be at least 1, got {max_queued}")
        self.max_queued = max_queued
        self._inbox: deque[str | bytes] = deque()
        self._readable = asyncio.Event()  # set when a frame or the end can be read
        self._writable = asyncio.Event()  # set when the inbox has room, or the connection closed
        self._writable.set()
        self._send_lock = asyncio.Lock()  # sends take turns, in call order (asyncio's Lock is first come first served)
        self._peer: MemoryConnection | None = None
        self._close: Close | None = None

    @property
    def queued(self) -> int:
        """Frames received and not yet read (at most ``max_queued``)."""
        return len(self._inbox)

    @property
    def close_code(self) -> int | None:
        """The close code once closed, else ``None``."""
        return self._close.code if self._close is not None else None

    @property
    def close_reason(self) -> str | None:
        """The close reason once closed, else ``None``."""
        return self._close.reason if self._close is not None else None

    async def send(self, message: str) -> None:
        """Deliver one text frame to the peer, in call order. Waits while the peer holds ``max_queued`` unread
        frames; raises ``ConnectionClosed`` when the connection is closed, or closes while it waits (the frame is
        then not delivered)."""
        peer = self._peer
        assert peer is not None
        async with self._send_lock:
            while self._close is None and len(peer._inbox) >= peer.max_queued:
                peer._writable.clear()
                await peer._writable.wait()
            if self._close is not None:
                raise self._closed_error()
            peer._inbox.append(message)
            peer._readable.set()

    def __aiter__(self) -> AsyncIterator[str | bytes]:
        """The frames received, in order; ends on a normal close and raises on any other."""
        return self._frames()

    async def _frames(self) -> AsyncIterator[str | bytes]:
        while True:
            if self._inbox:
                frame = self._inbox.popleft()
                self._writable.set()
                yield frame
                continue
            if self._close is not None:
                if self._close.code in (1000, 1001):
                    return
                raise self._closed_error()
            self._readable.clear()
            await self._readable.wait()

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Close both sides: each side's iteration ends once it has read what was sent before, and a ``send``
        waiting for room on either side raises ``ConnectionClosed``."""
        if self._close is not None:
            return
        frame = Close(code, reason)
        for side in (self, self._peer):
            if side is not None and side._close is None:
                side._close = frame
                side._readable.set()
                side._writable.set()

    def _closed_error(self) -> Exception:
        assert self._close is not None
        if self._close.code in (1000, 1001):
            return ConnectionClosedOK(self._close, self._close, rcvd_then_sent=True)
        return ConnectionClosedError(self._close, self._close, rcvd_then_sent=True)


def memory_pair(max_queued: int = MAX_QUEUED_FRAMES) -> tuple[MemoryConnection, MemoryConnection]:
    """Two connected :class:`MemoryConnection` objects: what one sends, the other receives; each holds at most
    ``max_queued`` unread frames (ValueError below 1)."""
    a, b = MemoryConnection(max_queued), MemoryConnection(max_queued)
    a._peer, b._peer = b, a
    return a, b


def memory_connector(serve: Serve, *, max_queued: int = MAX_QUEUED_FRAMES) -> Connector:
    """A connector that binds each client to ``serve`` in this process: every connect makes a
    :func:`memory_pair` (``max_queued`` unread frames a side) and runs ``await serve(server_side, path_with_query,
    headers)`` as a task. When ``serve`` returns, the connection closes (1000); when it raises, it closes with
    1011."""
    tasks: set[asyncio.Task[None]] = set()

    async def run(server_side: MemoryConnection, path: str, headers: Mapping[str, str]) -> None:
        try:
            await serve(server_side, path, headers)
        except Exception:
            log.exception("in-memory server failed")
            await server_side.close(1011, "internal error")
        else:
            await server_side.close()

    async def open_memory(url: str, headers: Mapping[str, str]) -> Connection:
        parts = urlsplit(url)
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        client_side, server_side = memory_pair(max_queued)
        task = asyncio.create_task(run(server_side, path, Headers(headers)), name="memory-connection")
        tasks.add(task)
        task.add_done_callback(tasks.discard)
        return client_side

    return open_memory
