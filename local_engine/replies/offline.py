"""The built-in offline responder: no model at all, a few honest rules (:class:`OfflineResponder`)."""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator
from typing import Any

from local_engine.replies._text import clip, item_text
from local_engine.replies.intents import (
    Request,
    analysed_text,
    find_requests,
    is_capabilities,
    is_greeting,
    is_non_speech,
    is_story,
    is_thanks,
)
from local_engine.replies.story import STORY
from local_engine.replies.tool_match import CAPABILITIES, OfferedTools, tool_arguments
from local_engine.replies.tool_speech import speak_tool_output
from local_engine.stages import FunctionCall, ReplyPart, ReplyRequest, TextPiece

__all__ = ["CONNECT_HINT", "OFFLINE_LABEL", "OfflineResponder"]

OFFLINE_LABEL = "built-in offline responder"
CONNECT_HINT = (
    "To talk with a real model, set OPENAI_API_KEY.",
    "Or set LOCAL_LLM_BASE_URL to an OpenAI-compatible server such as Ollama.",
)
_QUOTE_CHARS = 160


def _listed(things: list[str]) -> str:
    return things[0] if len(things) == 1 else ", ".join(things[:-1]) + " and " + things[-1]


class OfflineResponder:
    """Replies without a model, from rules; deterministic and honest about what it is.

    - Once the turn (the items since the newest user message) holds ``function_call_output`` items, every response
      of that turn (a client may ask for one after each output, or once more after the answer) is one answer that
      says what every output of the turn means, in the order of the calls; the turn's tools are never called
      again, and while its calls still wait for their outputs it says so
      (:func:`local_engine.replies.tool_speech.speak_tool_output`: a tool's ``"spoken"`` field, else a generic
      rendering).
    - When the newest user message plainly asks for the time, arithmetic, the weather or a web search, once or
      several times ("what time is it in Tokyo and what is 12 times 7"), it says one short sentence per request
      and yields one :class:`FunctionCall` per request (parallel calls, ``call_id`` empty) to the offered tool that
      does it (:class:`local_engine.replies.tool_match.OfferedTools`: matched by name and description, never by an
      exact name; ``tool_choice`` respected).
    - Otherwise it quotes what it heard, says it is an offline responder on this machine and not a language
      model, and how to connect one (``OPENAI_API_KEY``, or ``LOCAL_LLM_BASE_URL``); greetings, "what can you
      do", thanks and "tell me a story" (a canned story of ten sentences) get their own answers.

    Text comes one sentence per :class:`TextPiece`, later sentences with a leading space. Never raises; reads at
    most :data:`~local_engine.replies._text.MAX_ANALYSED_CHARS` characters of the user's message.
    """

    @property
    def label(self) -> str:
        return OFFLINE_LABEL

    def reply(self, request: ReplyRequest) -> list[ReplyPart]:
        """The whole reply at once (what :meth:`generate` streams)."""
        sentences, calls = self._plan(request)
        parts: list[ReplyPart] = [TextPiece(s if i == 0 else " " + s) for i, s in enumerate(sentences)]
        parts.extend(calls)
        return parts

    async def generate(self, request: ReplyRequest) -> AsyncGenerator[ReplyPart, None]:
        for part in self.reply(request):
            yield part

    def _plan(self, request: ReplyRequest) -> tuple[list[str], list[FunctionCall]]:
        history = [item for item in request.history if isinstance(item, dict)]
        turn = history[_turn_start(history) :]
        if any(item.get("type") == "function_call_output" for item in turn):
            # The turn's tools have answered (a client may ask for a response after each output, or once more
            # after the answer): speak the outputs, never call the tools of the same request again.
            return _speak_outputs(history), []
        if any(item.get("type") == "function_call" for item in turn):
            return ["I'm still waiting for the tools' results."], []

        offered = OfferedTools(request)
        user = next((it for it in reversed(history) if it.get("type") == "message" and it.get("role") == "user"), None)
        if user is None:
            return _introduce(offered, "Hello!"), []
        text = item_text(user)
        if is_non_speech(text):
            return ["I didn't catch that.", "Could you say it again?"], []

        sentences, calls, missing = _tool_calls(find_requests(text), offered)
        if calls or sentences:
            if missing:
                sentences.append(f"I would need a tool to {_listed(missing)}, but none is offered in this session.")
            return sentences, calls
        preface = (
            [f"I would need a tool to {_listed(missing)}, but none is offered in this session."] if missing else []
        )
        if not preface:
            if is_greeting(text):
                return _introduce(offered, f'Hello! I heard: "{clip(text, _QUOTE_CHARS)}".'), []
            if is_capabilities(text):
                return _introduce(offered, "Good question."), []
            if is_thanks(text):
                return ["You're welcome."], []
            if is_story(text):
                return list(STORY), []
        quoted = clip(analysed_text(text), _QUOTE_CHARS)
        return [
            *preface,
            f'I heard: "{quoted}".',
            "I'm the built-in offline responder, running on this machine.",
            "I'm not a language model, so I can't really answer that.",
            *CONNECT_HINT,
        ], []


def _tool_calls(requests: list[Request], offered: OfferedTools) -> tuple[list[str], list[FunctionCall], list[str]]:
    """(sentences to say first, the calls, abilities asked for that no offered tool has)."""
    sentences: list[str] = []
    calls: list[FunctionCall] = []
    missing: list[str] = []
    for request in requests:
        if request.too_long:
            sentences.append(request.say)
            continue
        tool = next((t for key in request.capabilities if (t := offered.for_capability(key)) is not None), None)
        if tool is None:
            ability = CAPABILITIES[request.capabilities[0]].ability
            if ability not in missing:
                missing.append(ability)
            continue
        arguments = tool_arguments(tool, request.values, request.primary)
        call = FunctionCall(name=str(tool["name"]), arguments=json.dumps(arguments, ensure_ascii=False))
        if call in calls:
            continue
        filled = bool(arguments) or not request.primary
        sentences.append(request.say if filled or request.say_unfilled is None else request.say_unfilled)
        calls.append(call)
    return sentences, calls, missing


def _turn_start(history: list[dict[str, Any]]) -> int:
    """The index just after the newest user message (0 when there is none): where the current turn starts."""
    for index in range(len(history) - 1, -1, -1):
        if history[index].get("type") == "message" and history[index].get("role") == "user":
            return index + 1
    return 0


def _speak_outputs(history: list[dict[str, Any]]) -> list[str]:
    """One answer from every tool output since the newest user message, in the order of the calls."""
    turn = history[_turn_start(history) :]
    names: dict[str, str] = {}
    order: dict[str, int] = {}
    for item in turn:
        if item.get("type") == "function_call":
            call_id = str(item.get("call_id") or "")
            names[call_id] = str(item.get("name") or "")
            order.setdefault(call_id, len(order))
    outputs: dict[str, dict[str, Any]] = {}
    for item in turn:
        if item.get("type") == "function_call_output":
            outputs[str(item.get("call_id") or "")] = item  # a repeated call_id: the newest output
    ranked = sorted(outputs.items(), key=lambda kv: order.get(kv[0], len(order)))
    sentences: list[str] = []
    for call_id, item in ranked:
        sentences.extend(speak_tool_output(names.get(call_id, ""), str(item.get("output", ""))))
    return sentences


def _introduce(offered: OfferedTools, opener: str) -> list[str]:
    sentences = [opener, "I'm the built-in offline responder, running on this machine, not a language model."]
    abilities = offered.abilities()
    if abilities:
        sentences.append(f"I can {_listed(abilities)}.")
    sentences.append("I can also tell you a short story." if abilities else "I can tell you a short story.")
    return [*sentences, *CONNECT_HINT]
