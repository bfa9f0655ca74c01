"""The reply generators' former single module, kept so existing imports work: everything lives in
:mod:`local_engine.replies` (one module per job); import from there."""

from __future__ import annotations

from local_engine.replies import (
    ChatCompletionsResponder,
    OfflineResponder,
    build_reply_generator,
    chat_messages,
    chat_tool_choice,
    chat_tools,
    speak_tool_output,
)

__all__ = [
    "ChatCompletionsResponder",
    "OfflineResponder",
    "build_reply_generator",
    "chat_messages",
    "chat_tool_choice",
    "chat_tools",
    "speak_tool_output",
]
