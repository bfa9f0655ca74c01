"""Typed async functions as Realtime function tools: definitions, validated calls, timeouts, capped outputs.

A tool is a plain ``async def`` with annotated parameters and a Google-style docstring, marked with :func:`tool`.
Its Realtime GA definition (``{"type": "function", "name", "description", "parameters"}``, see the Realtime API
reference, "session.tools") is generated from the signature by pydantic, and the same pydantic model validates the
arguments the model sends (the ``arguments`` JSON string of ``response.function_call_arguments.done``).

:meth:`ToolRegistry.call` never raises: an unknown tool, malformed JSON, invalid arguments, an exception in the
tool and a timeout all come back as ``{"error": "..."}`` JSON, which the model reads as the tool's output
(``function_call_output``) and can explain or retry. Only cancellation of the caller propagates.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
import re
import time
import traceback
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any, overload

from pydantic import BaseModel, ValidationError

from realtime.redaction import redact
from realtime.session import PendingToolCall, ToolOutput
from tools._output import cap_json, error_output, to_jsonable
from tools._schema import build_arguments_model, parameters_schema, parse_docstring

__all__ = [
    "DEFAULT_MAX_OUTPUT_BYTES",
    "DEFAULT_TIMEOUT_S",
    "Tool",
    "ToolCall",
    "ToolError",
    "ToolRegistry",
    "ToolResult",
    "tool",
]

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT_S = 15.0
DEFAULT_MAX_OUTPUT_BYTES = 8 * 1024
# OpenAI function names: letters, digits, underscores and dashes, at most 64 characters.
_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")

ToolFunction = Callable[..., Awaitable[Any]]


class ToolError(Exception):
    """Raised by a tool for a failure the model should read as is (e.g. "unknown time zone 'Mars/Olympus'").

    Other exceptions are reported as ``"<tool> failed: <ExceptionType>: <message>"``.
    """


ToolCall = PendingToolCall
"""One function call of a response (the client session's own type): ``arguments`` is the model's JSON string."""

ToolResult = ToolOutput
"""The outcome of a :class:`ToolCall` (the client session's own type): ``output`` is the JSON string to send as
``function_call_output``; ``ok`` is False when it is an ``{"error": ...}`` output; ``duration_ms`` wall time."""


class Tool:
    """A registered tool: the async function, its arguments model, its definition and its timeout.

    Calling the object calls the function directly (no validation, no timeout), so a tool stays a plain function
    in Python code and tests.
    """

    def __init__(self, func: ToolFunction, *, name: str | None = None, timeout_s: float | None = None) -> None:
        if not inspect.iscoroutinefunction(func):
            raise TypeError(f"tool {getattr(func, '__name__', func)!r} must be an async function")
        self.func = func
        self.name = name or func.__name__
        if not _NAME.match(self.name):
            raise ValueError(f"tool name {self.name!r} must match {_NAME.pattern}")
        if timeout_s is not None and not timeout_s > 0:
            raise ValueError(f"tool {self.name!r}: timeout_s must be > 0, got {timeout_s!r}")
        self.timeout_s = timeout_s
        doc = parse_docstring(inspect.getdoc(func))
        if not doc.description:
            raise ValueError(f"tool {self.name!r} needs a docstring: its first paragraph is the model's description")
        self.description = doc.description
        self.arguments_model: type[BaseModel] = build_arguments_model(func, self.name, doc.params)
        self.parameters: dict[str, Any] = parameters_schema(self.arguments_model)
        self.__doc__ = func.__doc__
        self.__name__ = func.__name__
        self.__wrapped__ = func

    def definition(self) -> dict[str, Any]:
        """The Realtime GA function tool: ``{"type": "function", "name", "description", "parameters"}``."""
        return {"type": "function", "name": self.name, "description": self.description, "parameters": self.parameters}

    async def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Call the function directly (no validation, no timeout)."""
        return await self.func(*args, **kwargs)

    def __repr__(self) -> str:
        return f"Tool(name={self.name!r}, timeout_s={self.timeout_s!r})"


@overload
def tool(func: ToolFunction, /) -> Tool: ...
@overload
def tool(*, timeout_s: float | None = None, name: str | None = None) -> Callable[[ToolFunction], Tool]: ...
def tool(
    func: ToolFunction | None = None, /, *, timeout_s: float | None = None, name: str | None = None
) -> Tool | Callable[[ToolFunction], Tool]:
    """Make an async function a :class:`Tool`: ``@tool`` or ``@tool(timeout_s=5.0, name="lookup")``.

    ``timeout_s`` (seconds) overrides the registry's default (15 s) for this tool; ``name`` defaults to the function
    name. Raises ``TypeError`` for a sync function or an unannotated parameter, ``ValueError`` for a bad name, a
    missing docstring or a timeout <= 0.
    """
    if func is not None:
        return Tool(func)

    def decorate(f: ToolFunction) -> Tool:
        return Tool(f, name=name, timeout_s=timeout_s)

    return decorate


class ToolRegistry:
    """The tools offered to the model in one session, and how their calls are run.

    ``default_timeout_s`` applies to tools registered without their own ``timeout_s``; ``max_output_bytes`` caps
    every output (UTF-8 bytes of the JSON string); ``secrets`` (and those registered with ``realtime.redaction``)
    are removed from every output; ``disabled``
    maps a tool that is not offered to the reason why, for the UI.
    """

    def __init__(
        self,
        tools: Iterable[Tool] = (),
        *,
        default_timeout_s: float = DEFAULT_TIMEOUT_S,
        max_output_bytes: int = DEFAULT_MAX_OUTPUT_BYTES,
        disabled: dict[str, str] | None = None,
        secrets: Iterable[str] = (),
    ) -> None:
        if not default_timeout_s > 0:
            raise ValueError("default_timeout_s must be > 0")
        if max_output_bytes < 256:
            raise ValueError("max_output_bytes must be at least 256")
        self.default_timeout_s = default_timeout_s
        self.max_output_bytes = max_output_bytes
        self.disabled: dict[str, str] = dict(disabled or {})
        self._secrets = tuple(s for s in secrets if s)
        self._tools: dict[str, Tool] = {}
        for t in tools:
            self.register(t)

    def register(self, item: Tool | ToolFunction) -> Tool:
        """Add a tool (a plain async function is wrapped with :func:`tool`). Raises ``ValueError`` on a duplicate."""
        t = item if isinstance(item, Tool) else tool(item)
        if t.name in self._tools:
            raise ValueError(f"a tool named {t.name!r} is already registered")
        self._tools[t.name] = t
        self.disabled.pop(t.name, None)
        return t

    @property
    def names(self) -> list[str]:
        """Names of the tools offered, in registration order."""
        return list(self._tools)

    def __contains__(self, name: object) -> bool:
        return name in self._tools

    def __len__(self) -> int:
        return len(self._tools)

    def get(self, name: str) -> Tool | None:
        """The tool named ``name``, or None."""
        return self._tools.get(name)

    def timeout_for(self, name: str) -> float:
        """The timeout in seconds of tool ``name``: its own, else the registry's default. ``KeyError`` if unknown."""
        t = self._tools[name]
        return t.timeout_s if t.timeout_s is not None else self.default_timeout_s

    def definitions(self) -> list[dict[str, Any]]:
        """The Realtime GA function tools for ``session.update`` (``session.tools``)."""
        return [t.definition() for t in self._tools.values()]

    async def call(self, name: str, arguments: str) -> str:
        """Run tool ``name`` with ``arguments`` (the model's JSON string) and return its output JSON string.

        Never raises (except when the caller is cancelled): every failure becomes ``{"error": "..."}``. A success
        is the tool's return value as JSON (a non-object value is wrapped as ``{"result": value}``), at most
        ``max_output_bytes`` bytes.
        """
        output, _ = await self._run(name, arguments)
        return output

    async def call_many(self, calls: Sequence[PendingToolCall]) -> list[ToolOutput]:
        """Run the calls of one response concurrently; the results come back in the order of ``calls``. This is
        the ``realtime.conversation.ToolRunner`` shape."""

        async def one(c: PendingToolCall) -> ToolOutput:
            start = time.perf_counter()
            output, ok = await self._run(c.name, c.arguments)
            return ToolOutput(c.call_id, output, ok, (time.perf_counter() - start) * 1000.0, c.name)

        return list(await asyncio.gather(*(one(c) for c in calls)))

    # -- internals --------------------------------------------------------------------------------------------

    def _error(self, message: str) -> tuple[str, bool]:
        return error_output(message, self.max_output_bytes, self._secrets), False

    async def _run(self, name: str, arguments: str) -> tuple[str, bool]:
        start = time.perf_counter()
        output, ok = await self._run_unlogged(name, arguments)
        elapsed_ms = (time.perf_counter() - start) * 1000.0
        if ok:
            log.info("tool %s ok in %.0f ms (%d bytes)", name, elapsed_ms, len(output))
        else:
            log.warning("tool %s failed in %.0f ms: %s", name, elapsed_ms, output)
        return output, ok

    async def _run_unlogged(self, name: str, arguments: str) -> tuple[str, bool]:
        t = self._tools.get(name)
        if t is None:
            reason = self.disabled.get(name)
            if reason:
                return self._error(f"tool {name!r} is turned off: {reason}")
            return self._error(f"unknown tool {name!r}; available tools: {', '.join(self._tools) or 'none'}")
        try:
            raw = json.loads(arguments) if arguments and arguments.strip() else {}
        except (json.JSONDecodeError, TypeError) as exc:
            return self._error(f"arguments for {name} are not valid JSON: {exc}")
        if not isinstance(raw, dict):
            return self._error(f"arguments for {name} must be a JSON object, got {type(raw).__name__}")
        try:
            args = t.arguments_model.model_validate(raw)
        except ValidationError as exc:
            return self._error(f"invalid arguments for {name}: {_describe(exc)}")
        timeout_s = self.timeout_for(name)
        kwargs = {field: getattr(args, field) for field in type(args).model_fields}
        deadline = asyncio.timeout(timeout_s)
        try:
            async with deadline:
                value = await t.func(**kwargs)
        except TimeoutError as exc:
            if deadline.expired():
                return self._error(f"{name} timed out after {timeout_s:g} s")
            detail = f": {exc}" if str(exc) else ""
            return self._error(f"{name} failed: TimeoutError{detail}")
        except ToolError as exc:
            return self._error(f"{name}: {exc}")
        except Exception as exc:
            if log.isEnabledFor(logging.DEBUG):
                trace = "".join(traceback.format_exception(exc))
                log.debug("tool %s raised:\n%s", name, redact(trace, self._secrets))
            detail = redact(str(exc), self._secrets)
            return self._error(f"{name} failed: {type(exc).__name__}" + (f": {detail}" if detail else ""))
        try:
            data = to_jsonable(value)
        except (TypeError, ValueError) as exc:
            return self._error(f"{name} returned a value that is not JSON: {exc}")
        if not isinstance(data, dict):
            data = {"result": data}
        return redact(cap_json(data, self.max_output_bytes), self._secrets), True


def _describe(exc: ValidationError) -> str:
    """Pydantic's errors as one line the model can act on, e.g. ``max_results: Input should be ... (got 50)``."""
    parts = []
    for err in exc.errors(include_url=False):
        loc = ".".join(str(p) for p in err["loc"]) or "arguments"
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            msg = "unexpected argument"
        elif err["type"] != "missing":
            msg = f"{msg} (got {json.dumps(err.get('input'), ensure_ascii=False, default=str)[:80]})"
        parts.append(f"{loc}: {msg}")
    return "; ".join(parts)
