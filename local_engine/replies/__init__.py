"""The local engine's reply generators (:class:`local_engine.stages.ReplyGenerator`), one job per module:

- :mod:`~local_engine.replies.offline`: :class:`OfflineResponder`, no model at all: a few honest rules, the
  session's tools called when the user plainly asks for what one does, their outputs spoken.
- :mod:`~local_engine.replies.intents`: what a user message asks for (several requests in one turn).
- :mod:`~local_engine.replies.arithmetic`: spoken arithmetic to an expression, in linear time.
- :mod:`~local_engine.replies.zones`: places to IANA time zones.
- :mod:`~local_engine.replies.tool_match`: which offered tool does what (by name and description) and its
  arguments.
- :mod:`~local_engine.replies.tool_speech`: how a tool's output is spoken (its ``"spoken"`` field, else generic).
- :mod:`~local_engine.replies.story`: the canned story.
- :mod:`~local_engine.replies.chat`: :class:`ChatCompletionsResponder`, a real model behind an OpenAI-compatible
  chat completions endpoint, through :class:`openai.AsyncOpenAI`.

:func:`build_reply_generator` picks one from the settings ``LOCAL_LLM_BASE_URL``, ``LOCAL_LLM_MODEL``,
``LOCAL_LLM_API_KEY``. Both yield their text so that concatenating the :class:`~local_engine.stages.TextPiece`
texts gives the reply, then their :class:`~local_engine.stages.FunctionCall` s.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from local_engine.replies.arithmetic import TooLongToCalculate, arithmetic_expression
from local_engine.replies.offline import OFFLINE_LABEL, OfflineResponder
from local_engine.replies.tool_speech import SPOKEN_KEY, speak_tool_output
from local_engine.replies.zones import CITY_ZONES
from local_engine.stages import ReplyGenerator

if TYPE_CHECKING:
    from local_engine.replies.chat import ChatCompletionsResponder, chat_messages, chat_tool_choice, chat_tools

# The chat completions client imports the openai package (seconds on a busy machine): only when it is used.
_LAZY = frozenset({"ChatCompletionsResponder", "chat_messages", "chat_tool_choice", "chat_tools"})


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module("local_engine.replies.chat"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "CITY_ZONES",
    "OFFLINE_LABEL",
    "SPOKEN_KEY",
    "ChatCompletionsResponder",
    "OfflineResponder",
    "TooLongToCalculate",
    "arithmetic_expression",
    "build_reply_generator",
    "chat_messages",
    "chat_tool_choice",
    "chat_tools",
    "speak_tool_output",
]


def build_reply_generator(base_url: str | None, model: str | None, api_key: str | None) -> ReplyGenerator:
    """The local engine's reply generator: :class:`ChatCompletionsResponder` when ``base_url``
    (``LOCAL_LLM_BASE_URL``) is set, else :class:`OfflineResponder`. Raises ``ValueError`` when ``base_url`` is set
    without ``model`` (``LOCAL_LLM_MODEL``) or is not an http(s) URL."""
    if not (base_url and base_url.strip()):
        return OfflineResponder()
    if not (model and model.strip()):
        raise ValueError("LOCAL_LLM_BASE_URL is set but LOCAL_LLM_MODEL is not: name the model to use (e.g. llama3.2)")
    from local_engine.replies.chat import ChatCompletionsResponder

    return ChatCompletionsResponder(base_url, model, api_key or None)
