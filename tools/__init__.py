"""Tools the model can call: plain typed async functions registered with :func:`tool`.

Public API: :class:`ToolRegistry` (definitions for ``session.tools``, :meth:`~ToolRegistry.call` and
:meth:`~ToolRegistry.call_many` that never raise), :class:`ToolCall`, :class:`ToolResult`, :func:`tool`,
:class:`ToolError` and :func:`build_registry` for the built-in ``web_search``, ``get_current_time`` and
``calculate``.
"""

from tools.builtin import ALL_TOOLS, build_registry
from tools.registry import Tool, ToolCall, ToolError, ToolRegistry, ToolResult, tool

__all__ = ["ALL_TOOLS", "Tool", "ToolCall", "ToolError", "ToolRegistry", "ToolResult", "build_registry", "tool"]
