"""A loopback chat completions model that remembers: each answer quotes the FIRST user message of the conversation
it was sent (and counts the messages), so a test can see that a resumed session holds the earlier turns. Asked
"what time is it" (the last message), it calls the ``get_current_time`` tool instead when it is offered.

It speaks the streamed ``POST /v1/chat/completions`` of the OpenAI API reference ("Chat Completions", server-sent
``chat.completion.chunk`` events, ``data: [DONE]``), which the local engine's ``LOCAL_LLM_BASE_URL`` uses. It runs
in a thread with its own event loop, so the app processes under test can call it while the test waits.
"""

from __future__ import annotations

import asyncio
import json
import threading
from typing import Any

from aiohttp import web

from tests.loopback_http import serve_on_loopback


def recall(messages: list[dict[str, Any]]) -> str:
    said = [str(m.get("content") or "") for m in messages if m.get("role") == "user"]
    if not said:
        return "Hello."
    return f'Earlier you said: "{said[0]}". We have {len(messages)} messages so far.'


class RecallModel:
    """``with RecallModel() as model:`` serves at ``model.base_url``; ``model.requests`` holds each request's
    ``messages``."""

    def __init__(self) -> None:
        self.base_url = ""
        self.requests: list[list[dict[str, Any]]] = []
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="recall-llm", daemon=True)
        self._runner: web.AppRunner | None = None

    def __enter__(self) -> RecallModel:
        self._thread.start()
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._handle)
        self._runner, port = asyncio.run_coroutine_threadsafe(serve_on_loopback(app), self._loop).result(10)
        self.base_url = f"http://127.0.0.1:{port}/v1"
        return self

    def __exit__(self, *exc: object) -> None:
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = json.loads(await request.text())
        messages = list(body.get("messages") or [])
        self.requests.append(messages)
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        tools = {str((t.get("function") or {}).get("name")) for t in body.get("tools") or []}
        last = messages[-1] if messages else {}
        asks_time = last.get("role") == "user" and "what time" in str(last.get("content")).lower()
        if asks_time and "get_current_time" in tools:
            call = {"index": 0, "id": "call_recall_1", "type": "function",
                    "function": {"name": "get_current_time", "arguments": '{"timezone": "Asia/Tokyo"}'}}  # fmt: skip
            await self._chunk(response, {"role": "assistant", "tool_calls": [call]}, None)
            await self._chunk(response, {}, "tool_calls")
            await response.write(b"data: [DONE]\n\n")
            await response.write_eof()
            return response
        for delta in ({"role": "assistant", "content": ""}, {"content": recall(messages)}):
            chunk = {"id": "chatcmpl-recall", "object": "chat.completion.chunk", "created": 0, "model": "recall",
                     "choices": [{"index": 0, "delta": delta, "finish_reason": None}]}  # fmt: skip
            await response.write(f"data: {json.dumps(chunk)}\n\n".encode())
        done = {"id": "chatcmpl-recall", "object": "chat.completion.chunk", "created": 0, "model": "recall",
                "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}  # fmt: skip
        await response.write(f"data: {json.dumps(done)}\n\ndata: [DONE]\n\n".encode())
        await response.write_eof()
        return response

    @staticmethod
    async def _chunk(response: web.StreamResponse, delta: dict[str, Any], finish: str | None) -> None:
        chunk = {"id": "chatcmpl-recall", "object": "chat.completion.chunk", "created": 0, "model": "recall",
                 "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}  # fmt: skip
        await response.write(f"data: {json.dumps(chunk)}\n\n".encode())
