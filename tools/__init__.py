"""Tools the model can call: plain typed async functions registered with :func:`tool`.

Public API: :class:`ToolRegistry` (definitions for ``session.tools``, :meth:`~ToolRegistry.call` and
:meth:`~ToolRegistry.call_many` that never raise), :class:`ToolCall`, :class:`ToolResult`, :func:`tool`,
:class:`ToolError` and :func:`build_registry` for the built-in ``web_search``, ``get_current_time`` and
``calculate``.

How a tool's output is spoken: a tool whose output is a JSON object may add a ``"spoken"`` field, a short sentence
or two that says the result to a listener ("It is 14:05 on Tuesday 5 May in Paris."). The local engine's offline
responder speaks that field when present, else a generic rendering of the output; a model reads it like any field.
The built-in tools all add one.
"""

from tools.builtin import ALL_TOOLS, build_registry
from tools.registry import Tool, ToolCall, ToolError, ToolRegistry, ToolResult, tool

__all__ = ["ALL_TOOLS", "Tool", "ToolCall", "ToolError", "ToolRegistry", "ToolResult", "build_registry", "tool"]
