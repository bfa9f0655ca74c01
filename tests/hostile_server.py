"""A hostile Realtime server of our own, on loopback: it misbehaves in one of :data:`MODES` so the fault tests can
check that the client and the app stay bounded (handshakes, messages to the user) and never show a secret.

It runs its own event loop in a thread (:class:`HostileServer` is a context manager), so a test can switch its
``mode`` between chats and count the handshakes it saw in each mode.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed

MODES = (
    "close_key_reason",  # session.created, then close 1008 with the key in the reason
    "masked_key_error",  # an error quoting the key masked as the service does, then close 1008
    "accept_then_close",  # session.created, then a normal close at once
    "error_then_close",  # session.created, a server_error, then close 1011
    "no_session_created",  # accept the websocket and say nothing
    "big_frame",  # session.created, then one 50 MB frame
    "garbage",  # session.created, then frames that are not events (and keep the connection)
    "bad_base64",  # session.created, then a response whose audio deltas are not base64
    "close_4000",  # session.created, then close 4000
    "close_1011",  # session.created, then close 1011
)

BIG_FRAME_BYTES = 50 * 1024 * 1024


def masked(key: str) -> str:
    """The key as services echo it: its first 12 characters, ``****``, its last 4."""
    return f"{key[:12]}****{key[-4:]}"


@dataclass
class Handshake:
    at: float
    mode: str


@dataclass
class HostileServer:
    mode: str = "accept_then_close"
    handshakes: list[Handshake] = field(default_factory=list)
    port: int = 0

    def __post_init__(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="hostile-server", daemon=True)
        self._server: Server | None = None

    def __enter__(self) -> HostileServer:
        self._thread.start()
        self._server = asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(timeout=10)
        return self

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()

    @property
    def base_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/v1"

    def count(self, mode: str) -> int:
        return sum(1 for h in self.handshakes if h.mode == mode)

    async def _start(self) -> Server:
        server = await serve(self._handle, "127.0.0.1", 0, compression=None, max_size=None)
        self.port = next(iter(server.sockets)).getsockname()[1]
        return server

    async def _stop(self) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    async def _handle(self, ws: ServerConnection) -> None:
        with contextlib.suppress(ConnectionClosed):
            await self._misbehave(ws)

    async def _misbehave(self, ws: ServerConnection) -> None:
        mode = self.mode
        self.handshakes.append(Handshake(time.monotonic(), mode))
        assert ws.request is not None
        key = ws.request.headers.get("Authorization", "").removeprefix("Bearer ")

        async def send(event: dict[str, Any]) -> None:
            await ws.send(json.dumps(event))

        async def created() -> None:
            await send({"type": "session.created", "session": {"type": "realtime", "id": "sess_hostile"}})

        if mode == "no_session_created":
            async for _ in ws:
                pass
            return
        await created()
        if mode == "close_key_reason":
            await ws.close(1008, f"invalid key {key}"[:120])
        elif mode == "masked_key_error":
            message = f"Incorrect API key provided: {masked(key)}. You can find your API key in your account."
            await send({"type": "error", "error": {"type": "invalid_request_error", "code": None, "message": message}})
            await ws.close(1008, "authentication failed")
        elif mode == "accept_then_close":
            await ws.close(1000)
        elif mode == "error_then_close":
            error = {"type": "server_error", "code": "server_error", "message": f"internal error for {key}"}
            await send({"type": "error", "error": error})
            await ws.close(1011, "internal error")
        elif mode == "big_frame":
            await ws.send('{"type":"response.output_text.delta","delta":"' + "x" * BIG_FRAME_BYTES + '"}')
            async for _ in ws:
                pass
        elif mode == "garbage":
            junk: list[str | bytes] = [b"\x00\x01binary", "not json", "[1, 2]", '{"type": 5}', '{"no_type": 1}']
            junk += ['{"type": "response.output_audio.delta"}', '{"type": "error", "error": 7}']
            for _ in range(50):
                for frame in junk:
                    await ws.send(frame)
            async for _ in ws:
                pass
        elif mode == "bad_base64":
            await send({"type": "response.created", "response": {"id": "resp_1", "status": "in_progress"}})
            for _ in range(30):
                await send({"type": "response.output_audio.delta", "response_id": "resp_1", "item_id": "item_1",
                            "output_index": 0, "content_index": 0, "delta": "!!!not base64, " + key[-6:]})  # fmt: skip
            await send({"type": "response.done", "response": {"id": "resp_1", "status": "completed", "output": []}})
            async for _ in ws:
                pass
        elif mode == "close_4000":
            await ws.close(4000, "beta_api_shape_disabled")
        elif mode == "close_1011":
            await ws.close(1011, "going away")
