"""``web_search`` through tavily-python's AsyncTavilyClient against a loopback fake of Tavily's ``/search``."""

from __future__ import annotations

import json
import logging
import socket
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio

from realtime.config import Settings
from tests.tavily_fake import FakeTavily
from tools import ToolCall, build_registry
from tools.web_search import MAX_SNIPPET_CHARS

KEY = "tvly-fake-0123456789abcdef"


@pytest_asyncio.fixture(loop_scope="function")
async def fake(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[FakeTavily]:
    # httpx honours proxy variables; loopback must be reached directly.
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.delenv("TAVILY_HTTP_PROXY", raising=False)
    monkeypatch.delenv("TAVILY_HTTPS_PROXY", raising=False)
    async with FakeTavily(api_key=KEY) as server:
        yield server


def loads(output: str) -> dict[str, Any]:
    data = json.loads(output)
    assert isinstance(data, dict)
    return data


async def search(fake: FakeTavily, arguments: dict[str, Any], *, key: str = KEY, timeout_s: float = 5.0) -> str:
    registry = build_registry(["web_search"], tavily_api_key=key, tavily_base_url=fake.base_url, timeout_s=timeout_s)
    return await registry.call("web_search", json.dumps(arguments))


async def test_search_returns_compact_results(fake: FakeTavily) -> None:
    output = await search(fake, {"query": "capital of France", "max_results": 3})
    out = loads(output)
    assert out["query"] == "capital of France"
    assert out["answer"] == "Paris is the capital of France."
    assert [r["url"] for r in out["results"]] == [f"https://example.org/{i}" for i in range(3)]
    first = out["results"][0]
    assert set(first) == {"title", "url", "snippet"}
    assert first["title"] == "Result 0 about capital of France"
    assert first["snippet"].startswith("Snippet 0: lorem ipsum")
    assert len(first["snippet"]) <= MAX_SNIPPET_CHARS and first["snippet"].endswith("…")
    assert len(output.encode()) < 8192
    # What tavily-python sent to our /search.
    (request,) = fake.requests
    assert request.path == "/search"
    assert request.headers["Authorization"] == f"Bearer {KEY}"
    assert request.body["query"] == "capital of France"
    assert request.body["max_results"] == 3
    assert request.body["include_answer"] is True


async def test_search_without_answer_and_odd_hits(fake: FakeTavily) -> None:
    fake.answer = None
    fake.results = [
        {"title": "No URL", "content": "dropped"},
        "not a hit",
        {"title": "  Spaced\n title ", "url": "https://example.com/a", "content": None},
    ]
    out = loads(await search(fake, {"query": "odd"}))
    assert "answer" not in out
    assert out["results"] == [{"title": "Spaced title", "url": "https://example.com/a", "snippet": ""}]
    assert fake.requests[0].body["max_results"] == 5  # the default


async def test_env_configuration(fake: FakeTavily, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TAVILY_API_KEY", KEY)
    monkeypatch.setenv("TAVILY_BASE_URL", fake.base_url + "/")
    monkeypatch.setenv("TOOLS_ENABLED", "web_search")
    registry = build_registry(**Settings(_env_file=None).tool_options())
    assert registry.names == ["web_search"]
    assert "Paris" in loads(await registry.call("web_search", '{"query": "paris"}'))["answer"]


@pytest.mark.parametrize(
    ("mode", "expected"),
    [
        ("401", "web_search: Tavily rejected the API key (HTTP 401)"),
        ("429", "web_search: Tavily's rate or usage limit was reached (HTTP 429); try again later: Your request"),
        ("500", "web_search: Tavily answered HTTP 500 Internal Server Error; try again later"),
        ("bad_body", "web_search: Tavily sent an unreadable answer"),
        ("400_echo", "web_search: Tavily rejected the query (HTTP 400): Bad request with headers"),
    ],
)
async def test_http_failures_become_readable_errors(
    fake: FakeTavily, mode: Any, expected: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    fake.mode = mode
    output = await search(fake, {"query": "anything"})
    out = loads(output)
    assert set(out) == {"error"}
    assert out["error"].startswith(expected)
    assert KEY not in output and "0123456789abcdef" not in output
    assert "web_search" in caplog.text and "0123456789abcdef" not in caplog.text


async def test_wrong_key_is_a_401(fake: FakeTavily) -> None:
    output = await search(fake, {"query": "anything"}, key="tvly-wrong-key-999999")
    assert "HTTP 401" in loads(output)["error"] and "wrong-key" not in output


async def test_slow_answer_times_out(fake: FakeTavily) -> None:
    fake.mode = "slow"
    out = loads(await search(fake, {"query": "slow"}, timeout_s=0.3))
    assert out == {"error": "web_search timed out after 0.3 s"}
    assert len(fake.requests) == 1  # the request did reach the server


async def test_unreachable_server(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("HTTP_PROXY", "ALL_PROXY", "http_proxy", "all_proxy"):
        monkeypatch.delenv(var, raising=False)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    # Nothing listens on the port any more: connection refused.
    registry = build_registry(["web_search"], tavily_api_key=KEY, tavily_base_url=f"http://127.0.0.1:{port}")
    out = loads(await registry.call("web_search", '{"query": "x"}'))
    assert out == {"error": "web_search: could not reach Tavily (ConnectError)"}


async def test_invalid_arguments_never_reach_tavily(fake: FakeTavily) -> None:
    out = loads(await search(fake, {"query": "", "max_results": 0}))
    assert "query: String should have at least 1 character" in out["error"]
    assert "max_results: Input should be greater than or equal to 1" in out["error"]
    assert fake.requests == []


async def test_searches_of_one_response_run_concurrently(fake: FakeTavily) -> None:
    fake.mode = "slow"  # every search hangs until the server closes, so each call needs its own connection
    registry = build_registry(
        ["web_search", "calculate"], tavily_api_key=KEY, tavily_base_url=fake.base_url, timeout_s=0.5
    )
    results = await registry.call_many(
        [
            ToolCall("c1", "web_search", '{"query": "one"}'),
            ToolCall("c2", "web_search", '{"query": "two"}'),
            ToolCall("c3", "calculate", '{"expression": "6*7"}'),
        ]
    )
    assert [r.ok for r in results] == [False, False, True]
    assert loads(results[2].output)["result"] == 42
    assert sorted(r.body["query"] for r in fake.requests) == ["one", "two"]
    assert fake.peak_in_flight == 2  # one after the other, the first would have timed out before the second began


def test_no_key_means_not_offered(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TAVILY_API_KEY", raising=False)
    registry = build_registry(["web_search", "calculate"])
    assert "web_search" not in registry.names
    assert all(d["name"] != "web_search" for d in registry.definitions())
    assert registry.disabled["web_search"] == "TAVILY_API_KEY is not set"
