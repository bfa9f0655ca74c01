"""The reply generators' former single module, kept so existing imports work: everything lives in
:mod:`local_engine.replies` (one module per job); import from there."""

from __future__ import annotations

from typing import Any

from local_engine import replies
from local_engine.replies import OfflineResponder, build_reply_generator, speak_tool_output

__all__ = ["OfflineResponder", "build_reply_generator", "speak_tool_output"]


def __getattr__(name: str) -> Any:
    return getattr(replies, name)  # ChatCompletionsResponder and the chat helpers, imported when first used
