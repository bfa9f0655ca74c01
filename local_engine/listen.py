"""Listening to one session's microphone: the transcript of each utterance while it is spoken.

:class:`Listening` sits beside a session's VAD stream in the runner (:mod:`local_engine.runner`). It is shown the
audio fed to the VAD and the boundaries the VAD found (:meth:`Listening.observe`); from the onset of speech
(``audio_start_ms``, prefix padding included) it pushes the audio into a
:class:`~local_engine.stages.TranscriptStream`, so words are confirmed while the user talks
(``conversation.item.input_audio_transcription.delta``). Once a pause has lasted :data:`PREFETCH_PAUSE_MS` it
asks for the transcript of everything so far, so when the turn ends (after ``silence_duration_ms`` with
``server_vad``, or at a check of the pause with ``semantic_vad``) the transcript is usually ready; the stream of a
finished utterance waits in :meth:`Listening.take_finished` for the runner's transcription of the committed item.

Audio is PCM16 little-endian mono 24 kHz (48 bytes per ms); times are ms of stream audio.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence

from local_engine.stages import (
    StreamingTranscriber,
    TranscriptStream,
    VadSpeechStarted,
    VadSpeechStopped,
)

__all__ = ["PREFETCH_PAUSE_MS", "Listening"]

log = logging.getLogger(__name__)

BYTES_PER_MS = 48
PREFETCH_PAUSE_MS = 32
"""A pause this long inside speech starts the decode of the whole utterance so far (end-of-turn work)."""
KEEP_MS = 2500
"""Recent audio kept for the start of the next utterance (prefix padding, VAD lag, one feed of audio)."""


class Listening:
    """The streaming transcript of one session's utterances (see the module docstring).

    ``transcriber``: the shared recognizer; ``language`` / ``prompt``: the session's ``transcription`` settings."""

    def __init__(
        self, transcriber: StreamingTranscriber, *, language: str | None = None, prompt: str | None = None
    ) -> None:
        self._asr = transcriber
        self.language, self.prompt = language, prompt
        self._recent = bytearray()  # the last KEEP_MS of audio observed
        self._recent_end_ms = 0.0  # stream time at the end of _recent
        self._stream: TranscriptStream | None = None
        self._finished: TranscriptStream | None = None
        self._prefetch: asyncio.Task[str] | None = None
        self._prefetched_at: float | None = None  # stream ms when the current prefetch was asked

    def observe(self, pcm: bytes, end_ms: float, boundaries: Sequence[VadSpeechStarted | VadSpeechStopped]) -> None:
        """``pcm`` ends at stream time ``end_ms`` and the VAD found ``boundaries`` in it (in order)."""
        self._recent += pcm
        del self._recent[: max(0, len(self._recent) - KEEP_MS * BYTES_PER_MS)]
        self._recent_end_ms = end_ms
        began = False
        for boundary in boundaries:
            if isinstance(boundary, VadSpeechStarted):
                self._begin(boundary.audio_start_ms)
                began = True
            else:
                self.stopped()
        if self._stream is not None and not began:
            self._stream.push(pcm)

    def _begin(self, audio_start_ms: int) -> None:
        """Speech began at ``audio_start_ms``: a new stream gets the recent audio from there on."""
        self.close()
        recent_start_ms = self._recent_end_ms - len(self._recent) / BYTES_PER_MS
        self._stream = self._asr.stream(language=self.language, prompt=self.prompt)
        self._stream.push(bytes(self._recent[_bytes(audio_start_ms - recent_start_ms) :]))

    def stopped(self) -> None:
        """The utterance ended (the VAD's ``speech_stopped``): its stream waits for :meth:`take_finished`."""
        if self._stream is not None:
            if self._finished is not None:
                self._finished.close()
            self._finished, self._stream = self._stream, None
        self._prefetch, self._prefetched_at = None, None

    def pause(self, pause_ms: int | None, at_ms: float) -> None:
        """The VAD's current pause inside speech (``None``: none). Starts the decode of everything said so far
        once the pause reaches :data:`PREFETCH_PAUSE_MS` (once per pause)."""
        if pause_ms is None:  # speech goes on: a decode made in the pause is out of date
            self._prefetch, self._prefetched_at = None, None
            return
        if self._stream is None:
            return
        if pause_ms >= PREFETCH_PAUSE_MS and self._prefetched_at is None:
            self._prefetched_at = at_ms
            self._prefetch = asyncio.ensure_future(self._stream.hypothesis())
            self._prefetch.add_done_callback(_quiet)

    async def transcript_so_far(self) -> str:
        """The transcript of the utterance in progress (``""`` when none): the prefetched decode when there is
        one, else a new decode."""
        if self._stream is None:
            return ""
        if self._prefetch is not None:
            with contextlib.suppress(Exception):
                return await asyncio.shield(self._prefetch)
        return await self._stream.hypothesis()

    def deltas(self) -> str:
        """Words of the utterance in progress confirmed since the last call."""
        return self._stream.deltas() if self._stream is not None else ""

    def take_finished(self) -> TranscriptStream | None:
        """The stream of the utterance that ended last, once (``None`` when there is none)."""
        finished, self._finished = self._finished, None
        return finished

    def reset(self) -> None:
        """The input buffer was committed or cleared by the client: the utterance in progress is dropped."""
        self.close()

    def close(self) -> None:
        """Drop the streams (their queued decodes are dropped too)."""
        for stream in (self._stream, self._finished):
            if stream is not None:
                stream.close()
        self._stream = self._finished = None
        self._prefetch, self._prefetched_at = None, None


def _bytes(ms: float) -> int:
    return max(0, int(ms * BYTES_PER_MS)) & ~1


def _quiet(task: asyncio.Task[str]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.debug("prefetched transcript failed: %s", task.exception())
