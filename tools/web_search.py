"""``web_search``: Tavily search through tavily-python's :class:`tavily.AsyncTavilyClient`.

Tavily's ``POST /search`` (Tavily API reference, "Search") answers ``{"query", "answer", "results": [{"title",
"url", "content", "score", ...}], ...}``; the tool keeps the answer and, per hit, the title, URL and a snippet,
each shortened, so the output stays well under the registry's cap. Every failure (401 bad key, 429 usage limit,
other HTTP errors, network errors, an unreadable body) becomes a :class:`ToolError` with a readable message that
never contains the key. The registry's timeout bounds the whole call; the HTTP client gets the same limit.
"""

from __future__ import annotations

import logging
from typing import Annotated, Any

import httpx
import tavily
import tavily.errors
from pydantic import Field

from realtime.redaction import redact
from tools.registry import Tool, ToolError, tool

__all__ = ["MAX_ANSWER_CHARS", "MAX_SNIPPET_CHARS", "TAVILY_DEFAULT_BASE_URL", "compact_results", "make_web_search"]

log = logging.getLogger(__name__)

TAVILY_DEFAULT_BASE_URL = "https://api.tavily.com"
MAX_ANSWER_CHARS = 1000
MAX_SNIPPET_CHARS = 400
MAX_TITLE_CHARS = 150
MAX_URL_CHARS = 300
# The HTTP request may not outlive the tool call; the registry's timeout is the real bound.
HTTP_TIMEOUT_S = 30.0


def _clip(value: Any, limit: int) -> str:
    text = " ".join(str(value or "").split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def compact_results(body: Any, max_results: int) -> dict[str, Any]:
    """Tavily's ``/search`` body reduced to ``{"query", "answer"?, "results": [{"title", "url", "snippet"}]}``.

    Raises :class:`ToolError` when ``body`` is not a JSON object.
    """
    if not isinstance(body, dict):
        raise ToolError("Tavily sent an unexpected answer (not a JSON object)")
    hits = body.get("results")
    results = []
    for hit in hits if isinstance(hits, list) else []:
        if not isinstance(hit, dict) or not hit.get("url"):
            continue
        results.append(
            {
                "title": _clip(hit.get("title"), MAX_TITLE_CHARS),
                "url": _clip(hit.get("url"), MAX_URL_CHARS),
                "snippet": _clip(hit.get("content"), MAX_SNIPPET_CHARS),
            }
        )
        if len(results) >= max_results:
            break
    out: dict[str, Any] = {"query": _clip(body.get("query"), MAX_TITLE_CHARS)}
    if body.get("answer"):
        out["answer"] = _clip(body["answer"], MAX_ANSWER_CHARS)
    out["results"] = results
    return out


def _failure_message(exc: Exception) -> str:
    """A readable description of a Tavily failure, without secrets (the caller removes the key as well)."""
    detail = redact(str(exc)).strip()
    suffix = f": {detail}" if detail else ""
    if isinstance(exc, tavily.InvalidAPIKeyError):
        return "Tavily rejected the API key (HTTP 401); web search is unavailable until TAVILY_API_KEY is fixed"
    if isinstance(exc, tavily.UsageLimitExceededError):
        return f"Tavily's rate or usage limit was reached (HTTP 429); try again later{suffix}"
    if isinstance(exc, tavily.errors.ForbiddenError):
        return f"Tavily refused the request (HTTP 403){suffix}"
    if isinstance(exc, tavily.BadRequestError):
        return f"Tavily rejected the query (HTTP 400){suffix}"
    if isinstance(exc, tavily.errors.TimeoutError):
        return "Tavily did not answer in time"
    if isinstance(exc, httpx.HTTPStatusError):
        status = exc.response.status_code
        return f"Tavily answered HTTP {status} {exc.response.reason_phrase}".rstrip() + "; try again later"
    if isinstance(exc, httpx.TransportError):
        return f"could not reach Tavily ({type(exc).__name__})"
    if isinstance(exc, ValueError):  # json.JSONDecodeError on a 200 with a broken body
        return "Tavily sent an unreadable answer"
    return f"Tavily search failed ({type(exc).__name__}){suffix}"


def make_web_search(api_key: str, *, base_url: str | None = None, timeout_s: float | None = None) -> Tool:
    """The ``web_search`` tool bound to a Tavily ``api_key`` and ``base_url`` (default Tavily's own API).

    ``timeout_s``: the tool's own timeout (seconds); None uses the registry's default. Raises ``ValueError`` for
    an empty key.
    """
    if not api_key:
        raise ValueError("a Tavily API key is required")
    api_base_url = (base_url or TAVILY_DEFAULT_BASE_URL).rstrip("/")

    @tool(name="web_search", timeout_s=timeout_s)
    async def web_search(
        query: Annotated[str, Field(min_length=1, max_length=400)],
        max_results: Annotated[int, Field(ge=1, le=10)] = 5,
    ) -> dict[str, Any]:
        """Search the web for recent or factual information (news, weather, prices, facts you are unsure of).
        Returns a short answer when available and the top results with title, URL and snippet.

        Args:
            query: What to search for, as a short search-engine query.
            max_results: How many results to return, 1 to 10.
        """
        try:
            async with tavily.AsyncTavilyClient(api_key=api_key, api_base_url=api_base_url) as client:
                body = await client.search(
                    query,
                    max_results=max_results,
                    include_answer=True,
                    search_depth="basic",
                    timeout=HTTP_TIMEOUT_S,
                )
        except Exception as exc:
            message = redact(_failure_message(exc), (api_key,))
            log.info("web_search failed: %s", message)
            raise ToolError(message) from None
        return compact_results(body, max_results)

    return web_search
