"""How a reply's text becomes speech: sentences out of streamed text, and audio cut into deltas.

One place for both, used by the runner (:mod:`local_engine.runner`) between the reply generator and the
synthesizer: :class:`SentenceSplitter` turns text pieces as they stream into whole sentences (each is
synthesised and sent as one ``response.output_audio_transcript.delta``), and :class:`AudioChunker` cuts a
synthesizer's PCM into ``response.output_audio.delta`` payloads of at most :data:`AUDIO_DELTA_MS`.

Audio is PCM16 little-endian mono at 24000 Hz (:data:`realtime.protocol.BYTES_PER_MS` bytes per ms).
"""

from __future__ import annotations

import re

from realtime.protocol import BYTES_PER_MS

__all__ = ["AUDIO_DELTA_MS", "AudioChunker", "SentenceSplitter", "split_sentences"]

AUDIO_DELTA_MS = 100
"""Audio deltas carry at most this many ms of audio."""
MAX_SENTENCE_CHARS = 400
"""A sentence with no end in sight is cut (at a space when there is one) once it holds this many characters, so
speech never waits for an unbounded run of text."""

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n+")


def split_sentences(text: str) -> list[str]:
    """``"One. Two! Thr"`` -> ``["One.", "Two!", "Thr"]``: the complete sentences, then the unfinished rest
    (possibly ``""``). Linear in ``len(text)``."""
    parts = _SENTENCE_END.split(text)
    return [p.strip() for p in parts[:-1] if p.strip()] + [parts[-1]]


class SentenceSplitter:
    """Streamed text in (:meth:`push`), whole sentences out; :meth:`flush` gives the rest at the end."""

    def __init__(self, max_chars: int = MAX_SENTENCE_CHARS) -> None:
        self._pending = ""
        self._max = max_chars

    def push(self, text: str) -> list[str]:
        """Add a piece of text; returns the sentences it completed, in order (stripped, never empty)."""
        *sentences, self._pending = split_sentences(self._pending + text)
        while len(self._pending) > self._max:
            cut = self._pending.rfind(" ", 0, self._max)
            cut = cut if cut > 0 else self._max
            head, self._pending = self._pending[:cut].strip(), self._pending[cut:].lstrip()
            if head:
                sentences.append(head)
        return sentences

    def flush(self) -> list[str]:
        """The unfinished rest as a last sentence (``[]`` when only blanks are left); the splitter is empty after."""
        rest, self._pending = self._pending.strip(), ""
        return [rest] if rest else []


class AudioChunker:
    """PCM in any sizes (:meth:`push`), pieces of exactly :data:`AUDIO_DELTA_MS` out; :meth:`flush` gives the
    shorter rest. Pieces keep an even number of bytes (whole PCM16 samples)."""

    def __init__(self, ms: int = AUDIO_DELTA_MS) -> None:
        self._step = ms * BYTES_PER_MS
        self._carry = bytearray()

    def push(self, pcm: bytes) -> list[bytes]:
        """Add audio; returns the whole pieces it completed."""
        self._carry += pcm
        whole = len(self._carry) // self._step * self._step
        pieces = [bytes(self._carry[i : i + self._step]) for i in range(0, whole, self._step)]
        del self._carry[:whole]
        return pieces

    def flush(self) -> list[bytes]:
        """The rest (``[]`` when nothing is left)."""
        rest = bytes(self._carry)
        self._carry.clear()
        return [rest] if rest else []
