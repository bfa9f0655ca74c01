"""The conversation layer: runs the tool calls of a :class:`realtime.client.RealtimeClient`'s session.

    runner = tools.build_registry()                      # anything shaped like ToolRunner
    client = RealtimeClient(settings, tools=runner.definitions())
    Conversation(client, runner)                         # before or after connect

Either session (Realtime or GPT-Live) hands out the calls of one response in a
:class:`~realtime.events.ToolCallsRequested` app event; the conversation runs them as one task of the client (off
the receive loop, bounded by a timeout) and answers them all in one ``client.send_tool_outputs`` call. The session
turns that into its protocol's answer: Realtime, a ``function_call_output`` item per call and then the single
``response.create`` that asks the model to go on (OpenAI Realtime guide, "Function calling"); GPT-Live, one
``response.item.create`` per call and one ``response.create`` to the delegation backend. The tool package stays
outside the client library: the runner is typed on :class:`~realtime.events.PendingToolCall` and
:class:`~realtime.events.ToolOutput`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol

from realtime.events import AppEvent, PendingToolCall, ToolCallsRequested, ToolOutput

if TYPE_CHECKING:
    from realtime.client import RealtimeClient

__all__ = ["Conversation", "ToolRunner", "run_tool_calls"]

log = logging.getLogger(__name__)


class ToolRunner(Protocol):
    """What the conversation needs of a tool package (``tools.ToolRegistry`` is one)."""

    def definitions(self) -> list[dict[str, Any]]:
        """The function tool definitions (Realtime ``session.tools`` shape; the GPT-Live session passes them to its
        delegation backend)."""
        ...

    async def call_many(self, calls: Sequence[PendingToolCall]) -> list[ToolOutput]:
        """Run the calls of one response; one output per call, in order. Should not raise."""
        ...


async def run_tool_calls(
    runner: ToolRunner | None, calls: Sequence[PendingToolCall], timeout_s: float
) -> list[ToolOutput]:
    """One output per call: the runner's, or an ``{"error": ...}`` output when there is no runner, when it
    raised or when it took longer than ``timeout_s`` seconds. Only cancellation propagates."""
    if runner is None:
        return [ToolOutput(c.call_id, json.dumps({"error": f"no tool named {c.name!r}"}), False) for c in calls]
    started = time.monotonic()
    try:
        async with asyncio.timeout(timeout_s):
            outputs = await runner.call_many(list(calls))
    except Exception as exc:  # a runner should not raise; this is the safety net (timeout included)
        elapsed = (time.monotonic() - started) * 1000.0
        message = "timed out" if isinstance(exc, TimeoutError) else f"failed ({type(exc).__name__})"
        log.warning("tool calls %s: %s", ", ".join(c.name for c in calls), message)
        return [ToolOutput(c.call_id, json.dumps({"error": f"tool {c.name} {message}"}), False, elapsed) for c in calls]
    return list(outputs)


class Conversation:
    """Runs a client's tool calls with ``runner`` (see the module docstring). ``timeout_s`` bounds one response's
    calls (default: the settings' ``TOOL_TIMEOUT_S`` plus 5 s, so a tool's own timeout answers first)."""

    def __init__(self, client: RealtimeClient, runner: ToolRunner | None, *, timeout_s: float | None = None) -> None:
        self.client = client
        self.runner = runner
        self.timeout_s = timeout_s if timeout_s is not None else client.settings.tool_timeout_s + 5.0
        self._remove_listener = client.add_listener(self._on_event)

    def detach(self) -> None:
        """Stop running this client's tool calls."""
        self._remove_listener()

    def _on_event(self, event: AppEvent) -> None:
        if isinstance(event, ToolCallsRequested) and event.calls:
            self.client.run_task(self.run(event.calls), name="realtime-tools")

    async def run(self, calls: Sequence[PendingToolCall]) -> None:
        """Run ``calls`` and send all their outputs at once (the session then asks the model to go on, once)."""
        outputs = await run_tool_calls(self.runner, calls, self.timeout_s)
        await self.client.send_tool_outputs(outputs)
