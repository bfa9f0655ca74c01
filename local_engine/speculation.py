"""Work started during a pause, before the turn has ended: the reply and its first sentence's speech.

When the user has been silent for :data:`SPECULATE_PAUSE_MS`, the runner (:mod:`local_engine.runner`) asks the
protocol state what reply the end of the turn would request
(:meth:`local_engine.realtime_front.EngineState.preview_reply`,
with the transcript so far), starts that reply, reads it up to its first sentence and synthesises that sentence.
When the turn ends and the state asks for exactly that reply, the work already done is used; when the user speaks
again, or the state asks for anything else, it is dropped. So with ``server_vad`` the 500 ms of
``silence_duration_ms`` hide the reply and the speech synthesis, and the first audio follows ``speech_stopped`` at
once. A speculative reply may call a model that is then not used: the price of answering sooner.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from local_engine.speech_text import SentenceSplitter
from local_engine.stages import FunctionCall, ReplyPart, ReplyRequest, TextPiece

__all__ = ["SPECULATE_PAUSE_MS", "ReadAhead", "Speculation", "first_sentence"]

T = TypeVar("T")

SPECULATE_PAUSE_MS = 64
"""A pause inside speech this long starts the reply speculatively: the first check of ``semantic_vad``'s pause
(:data:`local_engine.turn.EAGERNESS`), so the reply and its first clause's speech are under way while the turn is
judged, on the same decode of the words (shorter gaps between words would start it for nothing). On the tuning half
of ``bench.local_latency`` (160 ms before) it took the median from the last voiced sample to the first audio from
318 to 304 ms, with the judge of the same change."""

Spawn = Callable[[Coroutine[Any, Any, None]], "asyncio.Task[None]"]


class ReadAhead(Generic[T]):
    """Reads an async iterator ahead in a task of its own (``spawn``), which alone iterates it (streams such as
    an HTTP response must stay in the task that opened them), until ``enough(item)`` is true for an item read;
    :meth:`take` then yields every item, those read ahead first, and lets the reading go on. :meth:`cancel` stops
    the task and closes the iterator. Errors of the iterator are raised by :meth:`take`."""

    def __init__(self, source: AsyncIterator[T], enough: Callable[[T], bool], spawn: Spawn) -> None:
        self.read: list[T] = []
        """Items read so far (:meth:`ahead` waits until reading pauses)."""
        self._queue: asyncio.Queue[tuple[T] | BaseException | None] = asyncio.Queue()
        self._paused = asyncio.Event()  # reading ahead stopped (enough, the end or an error)
        self._taken = asyncio.Event()
        self._task = spawn(self._pump(source, enough))

    async def _pump(self, source: AsyncIterator[T], enough: Callable[[T], bool]) -> None:
        try:
            async for item in source:
                self.read.append(item)
                self._queue.put_nowait((item,))
                if not self._taken.is_set() and enough(item):
                    self._paused.set()
                    await self._taken.wait()
            self._queue.put_nowait(None)
        except Exception as exc:  # handed to the reader
            self._queue.put_nowait(exc)
        finally:
            self._paused.set()
            aclose = getattr(source, "aclose", None)
            if aclose is not None:
                with contextlib.suppress(Exception):
                    await aclose()

    async def ahead(self) -> list[T]:
        """Wait until reading ahead stops; the items read so far."""
        await self._paused.wait()
        return list(self.read)

    async def take(self) -> AsyncIterator[T]:
        """Every item of the source, in order (once). Closing this iterator early cancels the reading."""
        self._taken.set()
        try:
            while True:
                got = await self._queue.get()
                if got is None:
                    return
                if isinstance(got, BaseException):
                    raise got
                yield got[0]
        finally:
            self.cancel()

    def cancel(self) -> None:
        """Stop reading (the source is closed by the reading task)."""
        self._task.cancel()


def first_sentence(parts: list[ReplyPart]) -> str | None:
    """The first sentence :class:`~local_engine.speech_text.SentenceSplitter` makes of a reply's first ``parts``
    (as the runner splits a reply), or ``None`` when a function call comes before any sentence is whole."""
    splitter = SentenceSplitter()
    for part in parts:
        if isinstance(part, FunctionCall):
            break
        sentences = splitter.push(part.text)
        if sentences:
            return sentences[0]
    sentences = splitter.flush()
    return sentences[0] if sentences else None


def sentence_is_whole(splitter: SentenceSplitter) -> Callable[[ReplyPart], bool]:
    """``enough`` for a reply's :class:`ReadAhead`: true once its first sentence is whole or a function call came."""

    def enough(part: ReplyPart) -> bool:
        return isinstance(part, FunctionCall) or (isinstance(part, TextPiece) and bool(splitter.push(part.text)))

    return enough


@dataclass(eq=False)
class Speculation:
    """A reply started during a pause: the ``request`` it answers, its parts read ahead (``reply``), and the
    speech of its first sentence (``speech``, for ``speech_key`` = ``(text, voice, speed)``) once started.
    ``job``: the response that took it (``""`` until then)."""

    request: ReplyRequest
    reply: ReadAhead[ReplyPart]
    speech: ReadAhead[bytes] | None = None
    speech_key: tuple[str, str | None, float] | None = None
    job: str = ""

    def cancel(self) -> None:
        """Drop the work (the reply, if no response took it, and the speech not spoken)."""
        if not self.job:
            self.reply.cancel()
        if self.speech is not None:
            self.speech.cancel()
