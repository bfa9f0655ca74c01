"""A scripted Realtime server: records each connection's path, headers and events, and answers like the service
does (GA, or beta when the path is the preview one), so client tests need no network. It listens on loopback
(``async with``), or serves in memory with no socket at all (:meth:`ScriptedServer.connector`)."""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.http11 import Request, Response

from realtime.transport import Connection as Transport
from realtime.transport import Connector, memory_connector


@dataclass
class Connection:
    path: str
    headers: dict[str, str]
    received: list[dict[str, Any]] = field(default_factory=list)

    def types(self) -> list[str]:
        return [e["type"] for e in self.received]


class ScriptedServer:
    """``reply_ms``: audio per response; ``drop_after_first_delta``: abort the first connection mid-response;
    ``reject_status``: refuse every handshake with that HTTP status; ``expire_after_updates``: send
    ``session_expired`` after that many ``session.update`` on the first connection."""

    def __init__(
        self,
        *,
        reply_ms: int = 300,
        drop_after_first_delta: bool = False,
        reject_status: int | None = None,
        expire_after_updates: int | None = None,
    ) -> None:
        self.reply_ms = reply_ms
        self.drop_after_first_delta = drop_after_first_delta
        self.reject_status = reject_status
        self.expire_after_updates = expire_after_updates
        self.connections: list[Connection] = []
        self._server: Server | None = None
        self._ids = itertools.count(1)
        self.port = 0

    async def __aenter__(self) -> ScriptedServer:
        self._server = await serve(self._handle, "127.0.0.1", 0, process_request=self._process_request)
        self.port = next(iter(self._server.sockets)).getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    @property
    def base(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        if self.reject_status:
            return connection.respond(HTTPStatus(self.reject_status), "rejected\n")
        return None

    def connector(self) -> Connector:
        """A connector to this server in memory (no socket; ``reject_status`` closes with 1008 instead)."""
        return memory_connector(self.serve)

    def _id(self, prefix: str) -> str:
        return f"{prefix}_{next(self._ids)}"

    async def _handle(self, ws: ServerConnection) -> None:
        assert ws.request is not None
        await self.serve(ws, ws.request.path, ws.request.headers)

    async def serve(self, ws: Transport, path: str, headers: Mapping[str, str]) -> None:
        """Serve one connection (a websocket or an in-memory one) until it closes."""
        conn = Connection(path, {k.lower(): v for k, v in headers.items()})
        self.connections.append(conn)
        first = len(self.connections) == 1
        beta = "/openai/realtime" in conn.path or conn.headers.get("openai-beta") == "realtime=v1"
        updates = 0

        async def send(event: dict[str, Any]) -> None:
            event.setdefault("event_id", self._id("event"))
            await ws.send(json.dumps(event))

        session: dict[str, Any] = (
            {
                "id": "sess_1",
                "object": "realtime.session",
                "modalities": ["text", "audio"],
                "voice": "alloy",
                "input_audio_format": "pcm16",
                "output_audio_format": "pcm16",
                "turn_detection": None,
            }
            if beta
            else {"type": "realtime", "id": "sess_1", "object": "realtime.session", "output_modalities": ["audio"]}
        )
        await send({"type": "session.created", "session": session})
        async for frame in ws:
            event = json.loads(frame)
            conn.received.append(event)
            kind = event["type"]
            if kind == "session.update":
                updates += 1
                await send({"type": "session.updated", "session": {**session, **event["session"]}})
                if first and self.expire_after_updates and updates >= self.expire_after_updates:
                    await send(
                        {
                            "type": "error",
                            "error": {
                                "type": "invalid_request_error",
                                "code": "session_expired",
                                "message": "Your session hit the maximum duration.",
                            },
                        }
                    )
            elif kind == "conversation.item.create":
                item = {**event["item"], "id": event["item"].get("id") or self._id("item")}
                await send({"type": "conversation.item.created" if beta else "conversation.item.added", "item": item})
            elif kind == "response.create":
                await self._respond(send, ws, beta, first)

    async def _respond(self, send: Any, ws: Transport, beta: bool, first: bool) -> None:
        rid, item = self._id("resp"), self._id("item")
        audio_type = "response.audio.delta" if beta else "response.output_audio.delta"
        text_type = "response.audio_transcript.delta" if beta else "response.output_audio_transcript.delta"
        await send({"type": "response.created", "response": {"id": rid, "status": "in_progress", "output": []}})
        chunk = base64.b64encode(b"\x10\x00" * 2400).decode()  # 100 ms at 24 kHz
        for i in range(max(1, self.reply_ms // 100)):
            await send(
                {
                    "type": audio_type,
                    "response_id": rid,
                    "item_id": item,
                    "output_index": 0,
                    "content_index": 0,
                    "delta": chunk,
                }
            )
            if i == 0:
                await send(
                    {
                        "type": text_type,
                        "response_id": rid,
                        "item_id": item,
                        "output_index": 0,
                        "content_index": 0,
                        "delta": "Hello from the script.",
                    }
                )
                if first and self.drop_after_first_delta:
                    if isinstance(ws, ServerConnection):
                        ws.transport.abort()  # killed mid-response, no close frame
                    else:
                        await ws.close(1006, "")  # in memory: the same abnormal closure
                    return
            await asyncio.sleep(0)
        usage = {"total_tokens": 7, "input_tokens": 3, "output_tokens": 4}
        await send(
            {
                "type": "response.done",
                "response": {
                    "id": rid,
                    "status": "completed",
                    "usage": usage,
                    "output": [{"id": item, "type": "message"}],
                },
            }
        )
