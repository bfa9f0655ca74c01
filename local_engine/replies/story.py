"""The offline responder's one story, for "tell me a story": ten short sentences, spoken one by one."""

from __future__ import annotations

__all__ = ["STORY"]

STORY: tuple[str, ...] = (
    "Here is a canned story, since I can't make up a new one.",
    "Once, a lighthouse keeper lived alone on a rocky island.",
    "Every night she climbed ninety steps to light the lamp.",
    "One stormy evening, the lamp would not catch.",
    "So she set every candle she owned in the tower window.",
    "Far out at sea, a small fishing boat saw the glow and turned for the harbour.",
    "In the morning, the crew rowed over with a new wick and a basket of bread.",
    "From then on, they kept a spare wick on the island, just in case.",
    "And the light never went out again.",
    "The end.",
)
