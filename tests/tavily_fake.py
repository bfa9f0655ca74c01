"""A loopback stand-in for Tavily's ``POST /search`` (aiohttp.web on 127.0.0.1, port 0).

It answers as Tavily does: 200 with ``{"query", "answer", "images", "results": [{"title", "url", "content",
"score", "raw_content"}], "response_time", "request_id"}``, 401 / 429 / 400 with ``{"detail": {"error": ...}}``,
and can be told to fail with 500, send a broken body, or hang (``mode``). Every request is recorded.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any, Literal

from aiohttp import web

from tests.loopback_http import RecordedRequest, serve_on_loopback

Mode = Literal["ok", "401", "429", "500", "400_echo", "bad_body", "slow"]


@dataclass
class FakeTavily:
    """``async with FakeTavily(api_key) as fake:`` serves at ``fake.base_url`` until the block ends."""

    api_key: str = "tvly-fake-0123456789abcdef"
    mode: Mode = "ok"
    results: list[Any] | None = None
    answer: str | None = "Paris is the capital of France."
    requests: list[RecordedRequest] = field(default_factory=list)
    base_url: str = ""
    in_flight: int = 0
    peak_in_flight: int = 0
    _runner: web.AppRunner | None = None
    _release: asyncio.Event = field(default_factory=asyncio.Event)

    async def __aenter__(self) -> FakeTavily:
        app = web.Application()
        app.router.add_post("/search", self._search)
        self._runner, port = await serve_on_loopback(app)
        self.base_url = f"http://127.0.0.1:{port}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._release.set()  # let a "slow" handler finish so shutdown does not wait for it
        if self._runner is not None:
            await self._runner.cleanup()

    def default_results(self, query: str, count: int) -> list[dict[str, Any]]:
        return [
            {
                "title": f"Result {i} about {query}",
                "url": f"https://example.org/{i}",
                "content": f"Snippet {i}: " + "lorem ipsum " * 100,
                "score": 0.9 - i / 100,
                "raw_content": None,
            }
            for i in range(count)
        ]

    async def _search(self, request: web.Request) -> web.StreamResponse:
        try:
            body = json.loads(await request.text())
        except ValueError:
            return web.json_response({"detail": {"error": "Invalid JSON body."}}, status=400)
        self.requests.append(RecordedRequest(request.path, dict(request.headers), body))
        if request.headers.get("Authorization") != f"Bearer {self.api_key}" or self.mode == "401":
            return web.json_response({"detail": {"error": "Unauthorized: missing or invalid API key."}}, status=401)
        if self.mode == "429":
            return web.json_response(
                {"detail": {"error": "Your request has been blocked due to excessive requests."}}, status=429
            )
        if self.mode == "500":
            return web.Response(status=500, text="Internal Server Error")
        if self.mode == "400_echo":
            # Worst case: an error that repeats the request, key included.
            echo = (
                f"Bad request with headers Authorization: {request.headers.get('Authorization')} api_key={self.api_key}"
            )
            return web.json_response({"detail": {"error": echo}}, status=400)
        if self.mode == "bad_body":
            return web.Response(status=200, text="<html>not json", content_type="application/json")
        if self.mode == "slow":
            self.in_flight += 1
            self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
            try:
                await self._release.wait()
            finally:
                self.in_flight -= 1
        query = str(body.get("query", ""))
        count = int(body.get("max_results", 5))
        hits = self.results if self.results is not None else self.default_results(query, count)
        reply: dict[str, Any] = {
            "query": query,
            "follow_up_questions": None,
            "answer": self.answer if body.get("include_answer") else None,
            "images": [],
            "results": hits,
            "response_time": 0.42,
            "request_id": "fake-request-id",
        }
        return web.json_response(reply)
