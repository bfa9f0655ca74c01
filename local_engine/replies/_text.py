"""Small text helpers the reply generators share: the words of a conversation item, clipping, sentences.

Every function here runs in time linear in the length of its input.
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["MAX_ANALYSED_CHARS", "clip", "item_text", "sentence", "split_sentences"]

MAX_ANALYSED_CHARS = 1000
"""The offline responder reads at most this many characters of a user message (a spoken turn of about a minute);
every pattern and parser sees at most that much, so a 200,000-character message costs no more than a short one."""

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


def item_text(item: dict[str, Any]) -> str:
    """The words of a ``message`` item: ``text`` of text parts and ``transcript`` of audio parts, joined."""
    texts: list[str] = []
    for part in item.get("content") or []:
        if not isinstance(part, dict):
            continue
        value = part.get("text")
        if value is None:
            value = part.get("transcript")
        if isinstance(value, str) and value.strip():
            texts.append(value.strip())
    return " ".join(texts)


def clip(text: str, limit: int) -> str:
    """``text`` with runs of white space made one space, cut to ``limit`` characters with an ellipsis."""
    text = " ".join(text[: limit * 4 + 16].split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def sentence(text: str) -> str:
    """``text`` ending with a full stop unless it already ends a sentence."""
    text = text.strip()
    return text if not text or text[-1] in ".!?…" else text + "."


def split_sentences(text: str) -> list[str]:
    """``"One. Two!"`` -> ``["One.", "Two!"]`` (white space made single, empty pieces dropped)."""
    return [s for s in _SENTENCE_END.split(" ".join(text.split())) if s]
