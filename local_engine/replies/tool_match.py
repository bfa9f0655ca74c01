"""Which offered tool does what, and with which arguments: no tool is known by its exact name.

Frameworks name the same tool differently: ``get_current_time``, ``tools-get_current_time`` (a namespace before a
dash), ``clock_get_time``, semantic-kernel's ``plugin-function`` (``ClockPlugin-get_time``). A tool is matched to a
capability (:data:`CAPABILITIES`: the time, arithmetic, the weather, a web search) by the words of the last segment
of its name, else by the words of its description; a tool whose name says another capability is not taken for this
one on its description alone. Arguments are put in the parameters whose names say what they hold (``timezone``,
``city``, ``expression``, ``query``), else in the one string parameter the tool has (or requires).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from local_engine.replies.tool_speech import spoken_tool_name
from local_engine.stages import ReplyRequest

__all__ = ["CAPABILITIES", "Capability", "OfferedTools", "tool_arguments"]

_DESCRIPTION_WORDS = re.compile(r"[a-z]+")


@dataclass(frozen=True, slots=True)
class Capability:
    """What a tool can do for the offline responder: words that say it in a tool's name or description, and how
    to say it to a person (``"tell the time"``)."""

    name_words: frozenset[str]
    description_words: frozenset[str]
    ability: str


CAPABILITIES: dict[str, Capability] = {
    "time": Capability(
        frozenset({"time", "clock", "datetime", "date", "timezone"}),
        frozenset({"time", "clock", "timezone"}),
        "tell the time",
    ),
    "calculate": Capability(
        frozenset({"calculate", "calculator", "calc", "math", "arithmetic", "evaluate", "eval", "compute"}),
        frozenset({"arithmetic", "calculate", "calculator", "math", "mathematical", "expression"}),
        "do arithmetic",
    ),
    "weather": Capability(
        frozenset({"weather", "forecast"}),
        frozenset({"weather", "forecast", "temperature"}),
        "check the weather",
    ),
    "search": Capability(
        frozenset({"search", "lookup", "google", "browse", "bing"}),
        frozenset({"search"}),
        "search the web",
    ),
}

# What a parameter holds, by the words of its name.
_ROLE_WORDS: dict[str, frozenset[str]] = {
    "zone": frozenset({"timezone", "tz", "zone", "iana"}),
    "place": frozenset({"city", "location", "place", "where", "region", "country", "town", "area"}),
    "expression": frozenset({"expression", "expr", "formula", "equation", "calculation"}),
    "query": frozenset({"query", "q", "search", "question", "topic", "terms", "keywords"}),
}


def _function_tools(tools: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        t
        for t in tools
        if isinstance(t, dict) and t.get("type", "function") == "function" and isinstance(t.get("name"), str)
    ]


class OfferedTools:
    """The function tools a reply may call (``request.tools`` as ``tool_choice`` allows), matched to
    :data:`CAPABILITIES`."""

    def __init__(self, request: ReplyRequest) -> None:
        tools = _function_tools(request.tools)
        choice = request.tool_choice
        if choice == "none":
            tools = []
        elif isinstance(choice, dict):
            function = choice.get("function")
            named = choice.get("name") or (function.get("name") if isinstance(function, dict) else None)
            if named:
                tools = [t for t in tools if t["name"] == named]
        self.tools = tools
        self._by_capability: dict[str, dict[str, Any]] = {}
        name_hits = [self._name_hits(t) for t in tools]
        for key, capability in CAPABILITIES.items():
            best, best_score = None, 0
            for tool, hits in zip(tools, name_hits, strict=True):
                if hits.get(key):
                    score = 100 * hits[key]
                elif any(hits.values()):
                    continue  # its name says something else
                else:
                    description = str(tool.get("description") or "")[:2000].lower()
                    score = len(capability.description_words & set(_DESCRIPTION_WORDS.findall(description)))
                if score > best_score:
                    best, best_score = tool, score
            if best is not None:
                self._by_capability[key] = best

    @staticmethod
    def _name_hits(tool: dict[str, Any]) -> dict[str, int]:
        words = set(spoken_tool_name(tool["name"]).split())
        return {key: len(c.name_words & words) for key, c in CAPABILITIES.items()}

    def for_capability(self, key: str) -> dict[str, Any] | None:
        """The offered tool that does ``key`` (a key of :data:`CAPABILITIES`), or None."""
        return self._by_capability.get(key)

    def abilities(self) -> list[str]:
        """What the offered tools let the responder do, in the order of :data:`CAPABILITIES`."""
        return [c.ability for key, c in CAPABILITIES.items() if key in self._by_capability]


def _is_string(schema: Any) -> bool:
    if not isinstance(schema, dict):
        return False
    kind = schema.get("type")
    if kind is None:
        return not any(k in schema for k in ("properties", "items", "enum"))
    return kind == "string" or (isinstance(kind, list) and "string" in kind)


def tool_arguments(tool: Mapping[str, Any], values: Mapping[str, str], primary: str) -> dict[str, str]:
    """Arguments for ``tool`` from ``values`` (by role: ``zone``, ``place``, ``expression``, ``query``): each
    string parameter whose name says a role with a value gets it; when none does, the tool's only required string
    parameter (else its only string parameter) gets ``values[primary]``, if there is one."""
    parameters = tool.get("parameters")
    properties = parameters.get("properties") if isinstance(parameters, dict) else None
    if not isinstance(properties, dict):
        return {}
    strings = [str(name) for name, schema in list(properties.items())[:64] if _is_string(schema)]
    arguments: dict[str, str] = {}
    for name in strings:
        words = set(spoken_tool_name(name).split()) | {name.lower()}
        for role, role_words in _ROLE_WORDS.items():
            if role in values and words & role_words:
                arguments[name] = values[role]
                break
    if arguments or primary not in values:
        return arguments
    required = parameters.get("required") if isinstance(parameters, dict) else None
    required_strings = [n for n in strings if isinstance(required, list) and n in required]
    target = required_strings if required_strings else strings
    if len(target) == 1:
        arguments[target[0]] = values[primary]
    return arguments
