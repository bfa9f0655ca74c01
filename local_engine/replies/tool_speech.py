"""How a tool's output is spoken, with no tool name or output shape known in advance.

A ``function_call_output``'s ``output`` is usually JSON. The offline responder says, in this order:

- the output's ``"spoken"`` field when it is a non-empty string: the tool's own short sentence for a listener (the
  project's tools in ``tools/`` add one, e.g. ``"It is 14:05 on Tuesday 5 May in Paris."``);
- for ``{"error": "..."}`` (the shape ``tools.registry`` gives every failure), that the tool failed and why;
- for a non-JSON output, the text itself (a tool that answers in words); for JSON too big
  (:data:`MAX_OUTPUT_CHARS`), too deep or broken to read, that it cannot be read out;
- otherwise a generic rendering of the JSON: at most :data:`MAX_FIELDS` fields, three levels deep, each value and the
  whole sentence clipped.

Every path reads a bounded amount of the output (:data:`MAX_OUTPUT_CHARS`).
"""

from __future__ import annotations

import json
import re
from typing import Any

from local_engine.replies._text import clip, sentence, split_sentences

__all__ = ["MAX_FIELDS", "MAX_OUTPUT_CHARS", "SPOKEN_KEY", "speak_tool_output", "spoken_tool_name"]

SPOKEN_KEY = "spoken"
"""The key of a tool output's own sentence for a listener."""
MAX_OUTPUT_CHARS = 64 * 1024
"""Outputs longer than this are not parsed (the project's tools cap theirs at 8 KiB)."""
MAX_FIELDS = 8
_MAX_SPOKEN_CHARS = 600
_MAX_GENERIC_CHARS = 300
_MAX_VALUE_CHARS = 80
_NAME_SEPARATORS = re.compile(r"[-./:]|__")
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


def spoken_tool_name(name: str) -> str:
    """A tool's name as words: the last segment of a namespaced name, ``_`` and camelCase split
    (``"tools-get_current_time"`` -> ``"get current time"``, ``"ClockPlugin-getTime"`` -> ``"get time"``)."""
    last = _NAME_SEPARATORS.split(name[:200])[-1]
    return " ".join(_CAMEL.sub(" ", last).replace("_", " ").split()).lower()


def _label(name: str) -> str:
    words = spoken_tool_name(name)
    return f"The {words} tool" if words else "The tool"


def _value(value: Any, depth: int) -> str:
    if isinstance(value, dict):
        if depth >= 3:
            return "…"
        fields = [f"{_words(str(k))} {_value(v, depth + 1)}" for k, v in list(value.items())[:MAX_FIELDS]]
        return "(" + ", ".join(fields) + ")"
    if isinstance(value, list):
        if depth >= 3:
            return "…"
        shown = [_value(v, depth + 1) for v in value[:3]]
        more = f" and {len(value) - 3} more" if len(value) > 3 else ""
        return "; ".join(shown) + more if shown else "none"
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return clip(str(value), _MAX_VALUE_CHARS)


def _words(key: str) -> str:
    return clip(key.replace("_", " "), 40)


def speak_tool_output(name: str, output: str) -> list[str]:
    """Sentences that say what one tool output means (``name``: the called function, may be ``""``; ``output``:
    the ``function_call_output.output`` string)."""
    label = _label(name)
    data: Any = None
    if len(output) <= MAX_OUTPUT_CHARS:
        try:
            data = json.loads(output)
        except (ValueError, RecursionError):  # not JSON, or nested deeper than the decoder goes
            data = None
    if data is None:
        if output.lstrip()[:1] in ("{", "["):  # JSON too big or too deep to read, or broken
            return [f"{label} gave an answer I can't read out."]
        text = clip(output, _MAX_SPOKEN_CHARS)
        return split_sentences(sentence(text)) if text else [f"{label} returned nothing."]
    if isinstance(data, str):
        text = clip(data, _MAX_SPOKEN_CHARS)
        return split_sentences(sentence(text)) if text else [f"{label} returned nothing."]
    if isinstance(data, dict):
        spoken = data.get(SPOKEN_KEY)
        if isinstance(spoken, str) and spoken.strip():
            return split_sentences(sentence(clip(spoken, _MAX_SPOKEN_CHARS)))
        if "error" in data:
            return [sentence(f"{label} failed: {clip(str(data['error']), _MAX_GENERIC_CHARS)}")]
        if data.get("truncated") and "partial" in data:
            return [f"{label} gave an answer too long to read out."]
        fields = [(k, v) for k, v in data.items() if k != "truncated"][:MAX_FIELDS]
        if not fields:
            return [f"{label} returned nothing."]
        rendered = ", ".join(f"{_words(str(k))} {_value(v, 1)}" for k, v in fields)
        return [sentence(clip(f"{label} returned: {rendered}", _MAX_GENERIC_CHARS))]
    return [sentence(clip(f"{label} returned: {_value(data, 0)}", _MAX_GENERIC_CHARS))]
