"""A loopback OpenAI-compatible ``POST /v1/chat/completions`` (aiohttp.web on 127.0.0.1, port 0) for tests.

It records every request (path, headers, JSON body) and answers per ``mode``:

- ``text``: streams ``text_pieces`` as ``choices[0].delta.content`` chunks, then ``finish_reason: "stop"`` and
  ``data: [DONE]``, as the OpenAI API reference's "Chat Completions" streaming section shows.
- ``tools``: two tool calls (``index`` 0 and 1), each split over several chunks (id and name first, then the
  arguments in pieces), ``finish_reason: "tool_calls"``.
- ``401`` / ``500``: an error status with an OpenAI-style ``{"error": {"message", ...}}`` body; the 401 body
  repeats the bearer token to prove the client scrubs it.
- ``malformed``: one good chunk, then a ``data:`` line that is not JSON.
- ``slow``: headers, then silence for ``slow_s`` seconds before the first chunk.
- ``endless``: a chunk every ``interval_s`` until the client goes away; ``disconnected`` is set when it does.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any, Literal

from aiohttp import web

from tests.loopback_http import RecordedRequest, serve_on_loopback

Mode = Literal["text", "tools", "401", "500", "malformed", "slow", "endless"]

TOOL_CALLS = [
    {"id": "call_time_1", "name": "get_current_time", "arguments": ['{"time', 'zone": "Asi', 'a/Tokyo"}']},
    {"id": "call_calc_2", "name": "calculate", "arguments": ['{"expr', 'ession": "12 ', '* 7"}']},
]


@dataclass
class FakeChatCompletions:
    """``async with FakeChatCompletions(mode=...) as fake:`` serves at ``fake.base_url`` (ends in ``/v1``)."""

    mode: Mode = "text"
    text_pieces: list[str] = field(default_factory=lambda: ["Hello", " there", "! How", " can I help?"])
    slow_s: float = 5.0
    interval_s: float = 0.02
    requests: list[RecordedRequest] = field(default_factory=list)
    chunks_sent: int = 0
    base_url: str = ""
    disconnected: asyncio.Event = field(default_factory=asyncio.Event)
    _runner: web.AppRunner | None = None

    async def __aenter__(self) -> FakeChatCompletions:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._handle)
        self._runner, port = await serve_on_loopback(app)
        self.base_url = f"http://127.0.0.1:{port}/v1"
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    @staticmethod
    def chunk(delta: dict[str, Any], finish_reason: str | None = None) -> str:
        body = {
            "id": "chatcmpl-fake",
            "object": "chat.completion.chunk",
            "created": 0,
            "model": "fake-model",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
        }
        return json.dumps(body)

    async def _send(self, response: web.StreamResponse, data: str) -> None:
        await response.write(f"data: {data}\n\n".encode())
        self.chunks_sent += 1

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = json.loads(await request.text())
        self.requests.append(RecordedRequest(request.path, dict(request.headers), body))
        if self.mode == "401":
            message = f"Invalid API key provided: {request.headers.get('Authorization', '')}"
            return web.json_response({"error": {"message": message, "type": "invalid_request_error"}}, status=401)
        if self.mode == "500":
            return web.json_response({"error": {"message": "model crashed", "type": "server_error"}}, status=500)
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
        await response.prepare(request)
        try:
            await self._stream(response)
        except asyncio.CancelledError:
            self.disconnected.set()
            raise
        except ConnectionResetError:
            self.disconnected.set()
        return response

    async def _stream(self, response: web.StreamResponse) -> None:
        await self._send(response, self.chunk({"role": "assistant", "content": ""}))
        if self.mode == "slow":
            await asyncio.sleep(self.slow_s)
        if self.mode == "malformed":
            await self._send(response, self.chunk({"content": "Hi"}))
            await self._send(response, "{this is not json")
            return
        if self.mode == "endless":
            n = 0
            while True:
                n += 1
                await self._send(response, self.chunk({"content": f"word{n} "}))
                await asyncio.sleep(self.interval_s)
        if self.mode == "tools":
            await response.write(b": keep-alive comment\n\n")
            for index, call in enumerate(TOOL_CALLS):
                head = {"index": index, "id": call["id"], "type": "function"}
                await self._send(response, self.chunk({"tool_calls": [{**head, "function": {"name": call["name"]}}]}))
                for piece in call["arguments"]:
                    await self._send(
                        response, self.chunk({"tool_calls": [{"index": index, "function": {"arguments": piece}}]})
                    )
            await self._send(response, self.chunk({}, finish_reason="tool_calls"))
        else:
            for piece in self.text_pieces:
                await self._send(response, self.chunk({"content": piece}))
            await self._send(response, self.chunk({}, finish_reason="stop"))
        await self._send(response, "[DONE]")
        await response.write_eof()
