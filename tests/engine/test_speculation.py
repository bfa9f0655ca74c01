"""The read-ahead that holds a reply started during a pause (:mod:`local_engine.speculation`)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Coroutine
from typing import Any

import pytest

from local_engine.speculation import ReadAhead, first_sentence, sentence_is_whole
from local_engine.speech_text import SentenceSplitter
from local_engine.stages import FunctionCall, ReplyPart, TextPiece


class Source:
    """Yields ``parts``; records which task read each one and whether it was closed."""

    def __init__(self, parts: list[ReplyPart], fail: Exception | None = None) -> None:
        self.parts, self.fail = parts, fail
        self.readers: set[asyncio.Task[Any] | None] = set()
        self.read = 0
        self.closed = False

    async def stream(self) -> AsyncIterator[ReplyPart]:
        try:
            for part in self.parts:
                self.readers.add(asyncio.current_task())
                self.read += 1
                yield part
                await asyncio.sleep(0)
            if self.fail is not None:
                raise self.fail
        finally:
            self.closed = True


def spawn(coro: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
    return asyncio.ensure_future(coro)


async def test_read_ahead_stops_at_the_first_sentence_then_yields_everything_from_one_task() -> None:
    parts: list[ReplyPart] = [TextPiece("Hello"), TextPiece(" there. How"), TextPiece(" are you?"), TextPiece(" Bye.")]
    source = Source(parts)
    ahead = ReadAhead(source.stream(), sentence_is_whole(SentenceSplitter()), spawn)
    read = await ahead.ahead()
    assert read == parts[:2] and source.read == 2  # waits there until taken
    assert first_sentence(read) == "Hello there."
    got = [part async for part in ahead.take()]
    assert got == parts and source.closed
    assert len(source.readers) == 1 and asyncio.current_task() not in source.readers


async def test_read_ahead_hands_over_the_sources_error_and_cancel_closes_it() -> None:
    failing = Source([TextPiece("Half")], fail=RuntimeError("endpoint down"))
    ahead = ReadAhead(failing.stream(), lambda _part: False, spawn)
    with pytest.raises(RuntimeError, match="endpoint down"):
        [part async for part in ahead.take()]

    endless = Source([TextPiece("One. "), TextPiece("Two. ")])
    dropped = ReadAhead(endless.stream(), sentence_is_whole(SentenceSplitter()), spawn)
    await dropped.ahead()
    dropped.cancel()
    await asyncio.sleep(0.01)
    assert endless.closed and endless.read == 1


def test_first_sentence_stops_at_a_function_call() -> None:
    call = FunctionCall("get_time", "{}")
    assert first_sentence([call, TextPiece("It is noon.")]) is None
    assert first_sentence([TextPiece("Let me check"), call]) == "Let me check"
    assert first_sentence([TextPiece("No stop at the end")]) == "No stop at the end"
