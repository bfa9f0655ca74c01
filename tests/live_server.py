"""A scripted GPT-Live server of our own on loopback: it records each connection's path, headers and client events,
and answers like the service does (``session.start`` first, ``session.started``, continuous output audio paced at
real time with silence between answers, output transcripts, Responses delegation with function calls, errors,
``session.closed``), so the client tests need no network.

What it says depends on the user's typed message (``response.item.create`` + ``response.create``):

- any text: one spoken answer (:data:`REPLY` as transcript, 300 ms of audible audio);
- text with ``tools``: a backend response with two ``calculate`` calls; after both outputs and one
  ``response.create``, a spoken answer quoting them;
- text with ``error``: an ``error`` event (a command error; the session goes on), then an answer.

Options make the first connection misbehave: ``expire_after_s`` (``session.closed`` reason ``expired``),
``drop_after_s`` (the socket aborted, no close frame), ``hostile`` (``huge_frame``, ``garbage``, ``close_key``).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed

REPLY = "Hello from the live script."
CHUNK_MS = 100
LOUD = base64.b64encode(np.full(24 * CHUNK_MS, 3000, dtype="<i2").tobytes()).decode()
QUIET = base64.b64encode(bytes(48 * CHUNK_MS)).decode()
HUGE_FRAME_BYTES = 20 * 1024 * 1024


@dataclass
class LiveConnection:
    path: str
    headers: dict[str, str]
    received: list[dict[str, Any]] = field(default_factory=list)
    appended_ms: float = 0.0
    closed_sent: str | None = None

    def types(self) -> list[str]:
        return [e["type"] for e in self.received]

    def commands(self) -> list[str]:
        """The received types without the (many) audio appends."""
        return [t for t in self.types() if t != "session.input_audio.append"]


class ScriptedLiveServer:
    def __init__(
        self,
        *,
        expire_after_s: float | None = None,
        drop_after_s: float | None = None,
        hostile: str | None = None,
        never_start: bool = False,
    ) -> None:
        self.expire_after_s = expire_after_s
        self.drop_after_s = drop_after_s
        self.hostile = hostile
        self.never_start = never_start
        self.connections: list[LiveConnection] = []
        self._server: Server | None = None
        self._ids = itertools.count(1)
        self.port = 0

    async def __aenter__(self) -> ScriptedLiveServer:
        self._server = await serve(self._handle, "127.0.0.1", 0, compression=None, max_size=None)
        self.port = next(iter(self._server.sockets)).getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    @property
    def base(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _id(self, prefix: str) -> str:
        return f"{prefix}_{next(self._ids)}"

    async def _handle(self, ws: ServerConnection) -> None:
        assert ws.request is not None
        with contextlib.suppress(ConnectionClosed):
            await self.serve(ws, ws.request.path, ws.request.headers)

    async def serve(self, ws: ServerConnection, path: str, headers: Mapping[str, str]) -> None:
        conn = LiveConnection(path, {k.lower(): v for k, v in headers.items()})
        self.connections.append(conn)
        first = len(self.connections) == 1
        key = conn.headers.get("authorization", "").removeprefix("Bearer ") or conn.headers.get("api-key", "")
        speech: asyncio.Queue[str] = asyncio.Queue()
        user_texts: list[str] = []
        outputs: dict[str, str] = {}
        pending_calls: set[str] = set()

        async def send(event: dict[str, Any]) -> None:
            if event["type"] != "session.output_audio.delta":
                event.setdefault("event_id", self._id("event"))
            await ws.send(json.dumps(event))

        start = json.loads(await ws.recv())
        conn.received.append(start)
        if start.get("type") != "session.start":
            await send(
                {
                    "type": "error",
                    "error": {
                        "type": "invalid_request_error",
                        "code": "invalid_request_error",
                        "message": "The first event must be session.start.",
                    },
                }
            )
            await ws.close(1000)
            return
        if self.never_start:
            async for _ in ws:
                pass
            return
        resource = {"id": self._id("sess"), "expires_at": 1_800_000_000, "status": "active", **start["session"]}
        await send({"type": "session.started", "client_event_id": start.get("event_id"), "session": resource})

        async def speak(text: str, loud_chunks: int = 3) -> None:
            await speech.put("text:" + text)
            for _ in range(loud_chunks):
                await speech.put(LOUD)

        async def pump() -> None:
            """Output at real-time pace: the queued speech, else silence (as GPT-Live sends)."""
            while True:
                item = QUIET if speech.empty() else speech.get_nowait()
                if item.startswith("text:"):
                    await send(
                        {"type": "session.output_transcript.delta", "delta": item[5:], "start_ms": 0, "end_ms": 0}
                    )
                    continue
                await send({"type": "session.output_audio.delta", "delta": item})
                await asyncio.sleep(CHUNK_MS / 1000)

        async def misbehave() -> None:
            if self.hostile == "huge_frame":
                await ws.send('{"type":"session.output_transcript.delta","delta":"' + "x" * HUGE_FRAME_BYTES + '"}')
            elif self.hostile == "garbage":
                junk: list[str | bytes] = [
                    b"\x00\x01binary",
                    "not json",
                    "[1, 2]",
                    '{"type": 5}',
                    '{"type": "error", "error": 7}',
                    '{"type": "session.output_audio.delta"}',
                    '{"type": "session.output_audio.delta", "delta": "!!"}',
                ]
                for frame in junk * 20:
                    await ws.send(frame)
            elif self.hostile == "close_key":
                await asyncio.sleep(0.2)
                await ws.close(1008, f"invalid key {key}"[:120])
            if self.expire_after_s is not None:
                await asyncio.sleep(self.expire_after_s)
                conn.closed_sent = "expired"
                await send(
                    {"type": "session.closed", "reason": "expired", "session": resource, "usage": {"seconds": 1}}
                )
                await ws.close(1000)
            elif self.drop_after_s is not None:
                await asyncio.sleep(self.drop_after_s)
                ws.transport.abort()

        tasks = [asyncio.create_task(pump())]
        if first:
            tasks.append(asyncio.create_task(misbehave()))
        try:
            async for frame in ws:
                event = json.loads(frame)
                kind = event["type"]
                if kind == "session.input_audio.append":
                    conn.appended_ms += len(base64.b64decode(event["audio"])) / 48
                    conn.received.append({"type": kind})
                    continue
                conn.received.append(event)
                if kind == "response.item.create":
                    item = event["item"]
                    if item.get("type") == "function_call_output":
                        outputs[item["call_id"]] = item["output"]
                    elif item.get("type") == "message":
                        user_texts.append(item["content"][0]["text"])
                elif kind == "response.create":
                    await self._respond(send, speak, user_texts, outputs, pending_calls)
                elif kind == "session.close":
                    conn.closed_sent = "close_requested"
                    usage = {"seconds": round(conn.appended_ms / 1000, 1)}
                    await send(
                        {"type": "session.closed", "reason": "close_requested", "session": resource, "usage": usage}
                    )
                    await ws.close(1000)
                    return
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _respond(
        self, send: Any, speak: Any, user_texts: list[str], outputs: dict[str, str], pending_calls: set[str]
    ) -> None:
        if pending_calls:
            if not pending_calls <= set(outputs):
                error = {"type": "invalid_request_error", "code": "missing_tool_output", "message": "Partial batch."}
                await send({"type": "error", "error": error})
                return
            answer = "The results are " + " and ".join(outputs[c] for c in sorted(pending_calls)) + "."
            pending_calls.clear()
            await speak(answer)
            return
        text = user_texts[-1] if user_texts else ""
        if "tools" in text:
            delegation = self._id("item")
            await send(
                {
                    "type": "session.delegation.created",
                    "offset_ms": 0,
                    "delegation": {"id": delegation, "type": "delegation", "target": "responses"},
                }
            )

            async def backend(event: dict[str, Any]) -> None:
                await send({"type": "response.event", "delegation_id": delegation, "event": event})

            await backend({"type": "response.created", "response": {"id": "resp_b", "output": []}})
            await backend({"type": "response.output_item.done", "item": {"type": "reasoning", "id": "rs_1"}})
            for call_id, expression in (("call_1", "1+1"), ("call_2", "2+2")):
                item = {
                    "type": "function_call",
                    "id": f"fc_{call_id}",
                    "call_id": call_id,
                    "name": "calculate",
                    "arguments": json.dumps({"expression": expression}),
                    "status": "completed",
                }
                await backend({"type": "response.output_item.done", "item": item})
                pending_calls.add(call_id)
            await backend({"type": "response.completed", "response": {"id": "resp_b", "output": [], "usage": {}}})
            return
        if "error" in text:
            error = {"type": "invalid_request_error", "code": "invalid_audio", "message": "Scripted command error."}
            await send({"type": "error", "error": error})
        await speak(REPLY)
