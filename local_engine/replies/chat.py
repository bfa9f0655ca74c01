"""A real model behind any OpenAI-compatible chat completions endpoint (Ollama, llama.cpp server, vLLM, OpenAI),
through the ``openai`` package's :class:`openai.AsyncOpenAI` (``client.chat.completions.create(stream=True)``).

The conversation's GA items become chat ``messages`` (:func:`chat_messages`), GA function tools become chat
``tools`` (:func:`chat_tools`), and the streamed ``choices[0].delta`` becomes :class:`TextPiece` s and, at the end,
one :class:`FunctionCall` per ``delta.tool_calls`` entry, merged by ``index`` (OpenAI API reference, "Chat
Completions", streaming).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Iterable
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import openai
from openai.types.chat import ChatCompletionChunk

from local_engine.replies._text import clip, item_text
from local_engine.stages import FunctionCall, ReplyError, ReplyPart, ReplyRequest, TextPiece

__all__ = ["ChatCompletionsResponder", "chat_messages", "chat_tool_choice", "chat_tools"]

_NO_KEY = "no-key"  # the client wants a key; with none, the Authorization header is left out of every request


def chat_tools(tools: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """GA function tools (``{"type": "function", "name", "description", "parameters"}``) as chat completions tools
    (``{"type": "function", "function": {"name", "description", "parameters"}}``); other tool types are dropped."""
    out = []
    for tool in tools:
        if not isinstance(tool, dict) or tool.get("type", "function") != "function" or not tool.get("name"):
            continue
        function: dict[str, Any] = {"name": tool["name"]}
        if tool.get("description"):
            function["description"] = tool["description"]
        function["parameters"] = tool.get("parameters") or {"type": "object", "properties": {}}
        out.append({"type": "function", "function": function})
    return out


def chat_tool_choice(choice: str | dict[str, Any]) -> str | dict[str, Any]:
    """``auto``/``none``/``required`` unchanged; GA ``{"type": "function", "name": X}`` becomes chat completions'
    ``{"type": "function", "function": {"name": X}}``."""
    if isinstance(choice, dict):
        if "function" in choice:
            return choice
        return {"type": "function", "function": {"name": choice.get("name", "")}}
    return choice


def chat_messages(instructions: str, history: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """The conversation as chat completions ``messages``: ``instructions`` as the system message; user, assistant
    and system messages with their text (audio as its transcript; a message without words is left out);
    ``function_call`` items as the assistant's ``tool_calls`` (consecutive calls, and a call right after the
    assistant's text, share one assistant message); ``function_call_output`` as ``{"role": "tool",
    "tool_call_id", "content"}``."""
    messages: list[dict[str, Any]] = []
    if instructions.strip():
        messages.append({"role": "system", "content": instructions})
    for item in history:
        if not isinstance(item, dict):
            continue
        kind = item.get("type", "message")
        if kind == "message":
            role = item.get("role")
            text = item_text(item)
            if role in ("user", "assistant", "system") and text:
                messages.append({"role": role, "content": text})
        elif kind == "function_call":
            call = {
                "id": str(item.get("call_id") or ""),
                "type": "function",
                "function": {"name": str(item.get("name") or ""), "arguments": str(item.get("arguments") or "{}")},
            }
            last = messages[-1] if messages else None
            if last is not None and last["role"] == "assistant":
                last.setdefault("tool_calls", []).append(call)
            else:
                messages.append({"role": "assistant", "content": None, "tool_calls": [call]})
        elif kind == "function_call_output":
            messages.append(
                {"role": "tool", "tool_call_id": str(item.get("call_id") or ""), "content": str(item.get("output", ""))}
            )
    return messages


class _ToolCallParts:
    """One tool call being assembled from ``delta.tool_calls`` fragments."""

    def __init__(self) -> None:
        self.id = ""
        self.name = ""
        self.arguments: list[str] = []


class ChatCompletionsResponder:
    """Replies from a model behind an OpenAI-compatible chat completions endpoint, streamed.

    ``base_url``: e.g. ``http://127.0.0.1:11434/v1`` (Ollama); requests go to ``{base_url}/chat/completions``.
    ``model``: the model name the server knows (``llama3.2``). ``api_key``: sent only as ``Authorization: Bearer``
    (no header at all without one; ``OPENAI_API_KEY`` is never read). ``timeout_s``: seconds to wait to connect and
    for each piece of the stream (a long reply that keeps coming is not cut). No retries: a spoken reply that fails
    says so at once. Raises ``ValueError`` for a URL that is not http(s) or an empty model.

    :meth:`generate` yields text deltas as :class:`TextPiece` and, when the stream ends, one :class:`FunctionCall`
    per tool call (merged from ``delta.tool_calls`` by ``index``). Failures raise :class:`ReplyError` naming the
    endpoint's host and the HTTP status, never the key. One :class:`openai.AsyncOpenAI` (and its connection pool)
    is kept per event loop; :meth:`aclose` closes it.
    """

    def __init__(self, base_url: str, model: str, api_key: str | None = None, timeout_s: float = 60.0) -> None:
        parts = urlsplit(base_url.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(
                f"the chat completions base URL must be http(s)://host[:port]/path, got scheme {parts.scheme!r}"
            )
        if not model.strip():
            raise ValueError("a model name is required (LOCAL_LLM_MODEL)")
        if timeout_s <= 0:
            raise ValueError("timeout_s must be positive")
        netloc = parts.hostname if parts.port is None else f"{parts.hostname}:{parts.port}"
        if ":" in parts.hostname:  # an IPv6 literal
            netloc = f"[{parts.hostname}]" + ("" if parts.port is None else f":{parts.port}")
        self._base_url = urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", ""))
        self._host = netloc
        self._model = model.strip()
        self._api_key = api_key or None
        self._timeout_s = float(timeout_s)
        self._client: tuple[asyncio.AbstractEventLoop, openai.AsyncOpenAI] | None = None

    @property
    def label(self) -> str:
        return f"{self._model} at {self._base_url}"

    def request_body(self, request: ReplyRequest) -> dict[str, Any]:
        """The JSON body of ``POST /chat/completions`` for ``request``."""
        body: dict[str, Any] = {
            "model": self._model,
            "messages": chat_messages(request.instructions, request.history),
            "stream": True,
        }
        tools = chat_tools(request.tools)
        if tools:
            body["tools"] = tools
            body["tool_choice"] = chat_tool_choice(request.tool_choice)
        return body

    def _openai(self) -> openai.AsyncOpenAI:
        loop = asyncio.get_running_loop()
        if self._client is None or self._client[0] is not loop:
            client = openai.AsyncOpenAI(
                api_key=self._api_key or _NO_KEY,
                base_url=self._base_url,
                timeout=openai.Timeout(self._timeout_s, connect=min(self._timeout_s, 10.0)),
                max_retries=0,
            )
            self._client = (loop, client)
        return self._client[1]

    async def aclose(self) -> None:
        """Close the HTTP connections of the current event loop's client."""
        if self._client is not None:
            _, client = self._client
            self._client = None
            await client.close()

    def _scrub(self, text: str) -> str:
        return text.replace(self._api_key, "[redacted]") if self._api_key else text

    def _status_error(self, exc: openai.APIStatusError) -> ReplyError:
        body = exc.body
        error = body.get("error", body) if isinstance(body, dict) else body
        detail = str(error.get("message") or error) if isinstance(error, dict) else str(error or "")
        detail = self._scrub(clip(detail, 300))
        reason = exc.response.reason_phrase
        status = f"HTTP {exc.status_code} {reason}".rstrip()
        hint = " (check LOCAL_LLM_API_KEY)" if exc.status_code in (401, 403) else ""
        if exc.status_code == 404:
            hint = f" (check LOCAL_LLM_BASE_URL and that model {self._model!r} exists)"
        return ReplyError(
            f"the chat completions server at {self._host} answered {status}{hint}" + (f": {detail}" if detail else "")
        )

    async def generate(self, request: ReplyRequest) -> AsyncGenerator[ReplyPart, None]:
        body = self.request_body(request)
        where = f"the chat completions server at {self._host}"
        calls: dict[int, _ToolCallParts] = {}
        extra_headers = None if self._api_key else {"Authorization": openai.Omit()}
        stream: openai.AsyncStream[ChatCompletionChunk] | None = None
        try:
            stream = await self._openai().chat.completions.create(**body, extra_headers=extra_headers)
            finished = False
            async for chunk in stream:
                for choice in chunk.choices:
                    if choice.index != 0:
                        continue
                    delta = choice.delta
                    if delta.content:
                        yield TextPiece(delta.content)
                    for position, fragment in enumerate(delta.tool_calls or []):
                        index = fragment.index if isinstance(fragment.index, int) else position
                        call = calls.setdefault(index, _ToolCallParts())
                        call.id = fragment.id or call.id
                        if fragment.function is not None:
                            call.name = call.name or fragment.function.name or ""
                            call.arguments.append(fragment.function.arguments or "")
                    if choice.finish_reason:
                        finished = True
            if not finished:
                raise ReplyError(f"{where} ended the stream before the reply was complete")
        except openai.APIStatusError as exc:
            raise self._status_error(exc) from None
        except openai.APITimeoutError:
            raise ReplyError(f"{where} did not answer within {self._timeout_s:g} s") from None
        except openai.APIConnectionError as exc:
            cause = type(exc.__cause__).__name__ if exc.__cause__ else type(exc).__name__
            raise ReplyError(f"could not reach {where} ({cause}); is it running?") from None
        except openai.APIError as exc:
            raise ReplyError(f"{where} reported an error: {self._scrub(clip(exc.message, 300))}") from None
        except (ValueError, TypeError, AttributeError, openai.OpenAIError) as exc:
            # a data: line that is not JSON (ValueError), a chunk of the wrong shape (the client does not validate)
            raise ReplyError(f"{where} sent a malformed stream ({type(exc).__name__})") from None
        finally:
            if stream is not None:
                await stream.close()
        for index in sorted(calls):
            call = calls[index]
            if call.name:
                yield FunctionCall(name=call.name, arguments="".join(call.arguments) or "{}", call_id=call.id)
