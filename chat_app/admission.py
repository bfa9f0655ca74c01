"""Admission control: at most ``MAX_VOICE_SESSIONS`` chats of this process stream voice at once.

Relaying microphone audio up and the answer's audio down costs the process CPU for every chat with the mic on;
past what one process can relay in real time, every chat falls behind together (``bench/relay_load.py`` measures
it). So voice is admitted per chat until the limit, and a chat above it is told the app is busy while typed chat
keeps working. The count is per process: several app processes behind a load balancer each have their own.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

__all__ = ["DEFAULT_MAX_VOICE_SESSIONS", "VoiceAdmission", "max_voice_sessions_from_env"]

log = logging.getLogger("app")

# bench/relay_load.py: one process relayed 200 voice chats in real time; the limit leaves headroom below that.
DEFAULT_MAX_VOICE_SESSIONS = 200


def max_voice_sessions_from_env(environ: Mapping[str, str]) -> int:
    """``MAX_VOICE_SESSIONS`` (a positive integer; 0 turns voice off) or the default; ValueError names it."""
    raw = environ.get("MAX_VOICE_SESSIONS", "").strip()
    if not raw:
        return DEFAULT_MAX_VOICE_SESSIONS
    try:
        value = int(raw)
    except ValueError:
        raise ValueError("MAX_VOICE_SESSIONS must be a whole number") from None
    if value < 0:
        raise ValueError("MAX_VOICE_SESSIONS must not be negative")
    return value


class VoiceAdmission:
    """Counts the chats with voice on. ``acquire(owner)`` is idempotent per owner; ``release`` too."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._owners: set[int] = set()
        self.refused = 0

    @property
    def active(self) -> int:
        return len(self._owners)

    def acquire(self, owner: object) -> bool:
        key = id(owner)
        if key in self._owners:
            return True
        if len(self._owners) >= self.limit:
            self.refused += 1
            if self.refused == 1 or self.refused % 100 == 0:
                log.warning(
                    "voice refused: %d voice chats are running (MAX_VOICE_SESSIONS=%d)", self.active, self.limit
                )
            return False
        self._owners.add(key)
        return True

    def release(self, owner: object) -> None:
        self._owners.discard(id(owner))
