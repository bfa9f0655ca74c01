"""The asyncio side of a local engine session: carries out :class:`local_engine.realtime_front.EngineState`'s commands
with the stages and feeds their results back.

:class:`EngineSession` is one connection: the transport (``local_engine.server``) gives it client events
(:meth:`EngineSession.handle`) and it writes GA server events (dicts) through the ``send`` callable it was
given. Every state change is followed by a flush that sends the state's events, in order, and runs its commands:

- :class:`~local_engine.core.ConfigureVad` / :class:`~local_engine.core.FeedVad` /
  :class:`~local_engine.core.ResetVad`: the session's VAD stream, fed in slices of :data:`VAD_SLICE_MS` with a
  yield to the event loop between them, so a large append never holds the loop for long;
- :class:`~local_engine.core.Transcribe`: a task that finds the speech in the recording (a VAD of its own,
  :data:`GATE`), cuts it into pieces of at most :data:`PIECE_MS` at pauses (:func:`speech_pieces`) and recognises
  each piece in this session's turn at the recognizer (:class:`FairScheduler`, shared by all sessions of a
  process: sessions are served in turn, one piece each); a turn already transcribed while it was spoken
  (``local_engine.listen``) only has its tail left;
- :class:`~local_engine.core.Generate`: a task that streams the reply, cuts its text into sentences
  (:class:`local_engine.speech_text.SentenceSplitter`) and hands them and the function calls to the state;
- :class:`~local_engine.core.Speak`: a task that synthesises one sentence and hands its audio to the state in
  deltas (:class:`local_engine.speech_text.AudioChunker`);
- :class:`~local_engine.core.Cancel`: cancels the tasks of a job (their results would be ignored anyway).

During a pause inside speech the reply the end of the turn would ask for is started ahead
(:mod:`local_engine.speculation`); a Generate and the first Speak that ask for exactly that take its work.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import itertools
import logging
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable, Mapping
from dataclasses import dataclass, field
from typing import Any

from local_engine.core import (
    Cancel,
    Command,
    ConfigureVad,
    FeedVad,
    FrontEnd,
    Generate,
    Limits,
    ResetVad,
    Speak,
    Transcribe,
)
from local_engine.listen import Listening
from local_engine.realtime_front import EngineState
from local_engine.speculation import (
    SPECULATE_PAUSE_MS,
    ReadAhead,
    Speculation,
    first_sentence,
    sentence_is_whole,
)
from local_engine.speech_text import AudioChunker, SentenceSplitter
from local_engine.stages import (
    FunctionCall,
    ReplyError,
    ReplyGenerator,
    StreamingTranscriber,
    Synthesizer,
    TextPiece,
    Transcriber,
    TranscriptStream,
    TurnJudge,
    VadSpeechStarted,
    VadSpeechStopped,
    VadStream,
)
from realtime.protocol import BYTES_PER_MS

__all__ = [
    "SPEECH_LEAD_MS",
    "VAD_SLICE_MS",
    "EngineSession",
    "EngineStages",
    "FairScheduler",
    "SchedulerBusy",
    "speech_pieces",
]

log = logging.getLogger(__name__)

Json = dict[str, Any]
Send = Callable[[Json], Awaitable[None]]

SPEECH_LEAD_MS = 3000
"""A response's next sentence is synthesized once less than this much of its audio is ahead of real-time
playback (counted from its first audio), so Piper works for what is about to be heard, and a barge-in wastes
little."""
VAD_SLICE_MS = 1000
"""Audio fed to a VAD stream between two yields to the event loop."""
MAX_QUEUED_PER_SESSION = 8
"""Transcriptions one session may have waiting for the recognizer; more fail at once (the reply goes on)."""
PIECE_MS = 10_000
"""A committed recording is recognised in pieces of at most this much audio, cut at pauses where it can be; each
piece is one turn at the recognizer, so another session waits for at most one piece."""
GATE = (0.35, 300, 500)
"""VAD settings (threshold, prefix padding ms, silence ms) that find the speech in a committed recording: only
that is recognised (noise and silence cost the recognizer seconds and give no words)."""


class SchedulerBusy(RuntimeError):
    """A session has too many jobs waiting for its turn."""


class FairScheduler:
    """Turns at a shared resource (the recognizer), shared fairly between sessions.

    ``async with scheduler.turn(session):`` waits until this job's turn: at most ``slots`` jobs run at once, and
    the next turn goes to the waiting session that had the fewest turns since it last had nothing to do (the one
    waiting longest among equals), so a session with many jobs gets one turn, then every other waiting session
    gets one, before its next. At most ``max_queued`` jobs of one session wait (:class:`SchedulerBusy` beyond).
    Nothing is kept for a session with no job waiting or running, so memory does not grow with the sessions served.
    """

    def __init__(self, slots: int = 1, max_queued: int = MAX_QUEUED_PER_SESSION) -> None:
        self._slots = slots
        self._max_queued = max_queued
        self._busy = 0
        self._queues: dict[Hashable, deque[tuple[int, asyncio.Future[None]]]] = {}
        self._turns: dict[Hashable, int] = {}  # turns taken, for sessions with a job waiting or running
        self._running: dict[Hashable, int] = {}
        self._arrivals = itertools.count()

    @property
    def waiting(self) -> int:
        """Jobs waiting for a turn (all sessions)."""
        return sum(len(q) for q in self._queues.values())

    @property
    def running(self) -> int:
        """Jobs holding a turn."""
        return self._busy

    @property
    def sessions(self) -> int:
        """Sessions with a job waiting or running."""
        return len(self._turns)

    @contextlib.asynccontextmanager
    async def turn(self, session: Hashable) -> AsyncIterator[None]:
        """Wait for ``session``'s turn, hold it for the body."""
        queue = self._queues.setdefault(session, deque())
        if len(queue) >= self._max_queued:
            raise SchedulerBusy(f"more than {self._max_queued} jobs of one session are waiting")
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        queue.append((next(self._arrivals), waiter))
        self._turns.setdefault(session, 0)
        self._dispatch()
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self._release(session)  # the turn was given as the task was cancelled: hand it on
            else:
                waiter.cancel()
                self._discard(session, waiter)
            raise
        try:
            yield
        finally:
            self._release(session)

    def _release(self, session: Hashable) -> None:
        self._busy -= 1
        self._running[session] -= 1
        if not self._running[session]:
            del self._running[session]
        self._forget_if_idle(session)
        self._dispatch()

    def _discard(self, session: Hashable, waiter: asyncio.Future[None]) -> None:
        queue = self._queues.get(session)
        if queue is not None:
            for entry in list(queue):
                if entry[1] is waiter:
                    queue.remove(entry)
            if not queue:
                del self._queues[session]
        self._forget_if_idle(session)

    def _forget_if_idle(self, session: Hashable) -> None:
        if session not in self._queues and session not in self._running:
            self._turns.pop(session, None)

    def _dispatch(self) -> None:
        while self._busy < self._slots and self._queues:
            session = min(self._queues, key=lambda s: (self._turns[s], self._queues[s][0][0]))
            queue = self._queues[session]
            _arrival, waiter = queue.popleft()
            if not queue:
                del self._queues[session]
            if waiter.done():
                self._forget_if_idle(session)
                continue
            self._busy += 1
            self._turns[session] += 1
            self._running[session] = self._running.get(session, 0) + 1
            waiter.set_result(None)


@dataclass(eq=False)
class EngineStages:
    """The models a session uses, shared by all sessions of a process. ``vad`` makes one stream per session
    from ``(threshold, prefix_padding_ms, silence_duration_ms)``; ``semantic_vad`` one for ``semantic_vad`` from
    ``(eagerness, threshold, prefix_padding_ms)`` (``None``: ``vad`` with a silence per eagerness).
    ``recognizer_turns`` serves the sessions' transcriptions in turn."""

    vad: Callable[[float, int, int], VadStream]
    transcriber: Transcriber
    synthesizer: Synthesizer
    replies: ReplyGenerator
    semantic_vad: Callable[[str, float, int], VadStream] | None = None
    recognizer_turns: FairScheduler = field(default_factory=FairScheduler, repr=False)
    limits: Limits = field(default_factory=Limits)


class EngineSession:
    """One connection of the local engine: a protocol front end run with ``stages``. ``send`` writes a server
    event (a dict; it must not raise on a closed peer). ``front``: the front end (default: a Realtime
    :class:`EngineState` for ``model``). ``close``: closes the connection (code, reason) when the front end says
    the session is over (GPT-Live's ``session.closed``); its deadline (expiry) is kept by a timer here."""

    def __init__(
        self,
        stages: EngineStages,
        send: Send,
        *,
        model: str = "gpt-realtime",
        front: FrontEnd | None = None,
        close: Callable[[int, str], Awaitable[None]] | None = None,
    ) -> None:
        self._stages = stages
        self._send = send
        self._close_connection = close
        self._deadline: asyncio.TimerHandle | None = None
        self._deadline_at: float | None = None  # Unix time the timer is set for
        self.state: FrontEnd = front if front is not None else EngineState(model=model, limits=stages.limits)
        self._vad: VadStream | None = None
        self._vad_generation = -1
        self._vad_start_ms = 0  # session stream time where the VAD stream started (its times count from there)
        transcriber = stages.transcriber
        self._listening = Listening(transcriber) if isinstance(transcriber, StreamingTranscriber) else None
        self._lock = asyncio.Lock()
        self._tasks: dict[str, set[asyncio.Task[None]]] = {}
        self._playback: dict[str, tuple[float, float]] = {}  # response -> (first audio, audio ms made), monotonic
        self._speculation: Speculation | None = None
        self._speculating: asyncio.Task[None] | None = None  # foreseeing the reply of the current pause
        self._closed = False

    @property
    def session(self) -> Json:
        """The session object (Realtime: as ``session.updated`` echoes it; GPT-Live: the session resource)."""
        return self.state.session

    @property
    def items(self) -> Mapping[str, Json]:
        """The conversation, oldest first."""
        return self.state.items

    @property
    def running_jobs(self) -> int:
        """Tasks running for this session (for leak checks)."""
        return sum(len(tasks) for tasks in self._tasks.values())

    # ------------------------------------------------------------------------------------------ lifecycle

    async def open(self) -> None:
        """``session.created``."""
        self.state.open()
        await self._flush()

    async def handle(self, data: Json | str | bytes) -> None:
        """Handle one client event (a decoded GA dict, or a raw frame); bad input gets an ``error`` event."""
        if self._closed:
            return
        self.state.receive(data)
        await self._flush()

    async def close(self) -> None:
        """Stop everything this session started (its response, transcriptions) and wait for it."""
        if self._closed:
            return
        self._closed = True
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None
        self.state.close()
        self.state.commands_to_run()
        tasks = [task for jobs in self._tasks.values() for task in jobs]
        self._tasks.clear()
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(BaseException):
                await task
        self._vad = None
        if self._listening is not None:
            self._listening.close()

    # ------------------------------------------------------------------------------------------ flushing

    async def _flush(self) -> None:
        """Send the state's events and run its commands until there are none left. One flush at a time, so
        events go out in the order the state made them."""
        async with self._lock:
            while True:
                for event in self.state.events_to_send():
                    await self._send(event if isinstance(event, dict) else event.to_wire())
                commands = self.state.commands_to_run()
                if not commands:
                    break
                for command in commands:
                    await self._run(command)
        await self._after_flush()

    async def _after_flush(self) -> None:
        """Close the connection once the front end says the session is over; keep a timer on its deadline."""
        if self._closed:
            return
        finished = self.state.finished
        if finished is not None:
            close, self._close_connection = self._close_connection, None
            if close is not None:
                await close(*finished)
            return
        deadline = self.state.next_deadline()
        if deadline == self._deadline_at:
            return
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None
        self._deadline_at = deadline
        if deadline is not None:
            delay = max(0.0, deadline - time.time())
            self._deadline = asyncio.get_running_loop().call_later(
                delay, lambda: self._spawn("deadline", self._on_deadline())
            )

    async def _on_deadline(self) -> None:
        self._deadline = None
        self._deadline_at = None
        self.state.on_deadline()
        await self._flush()

    async def _run(self, command: Command) -> None:
        if self._closed:
            return
        if isinstance(command, FeedVad):
            await self._feed_vad(command)
        elif isinstance(command, ConfigureVad):
            params = command.params
            if params is None:
                self._vad = None
            elif params.semantic and self._stages.semantic_vad is not None:
                self._vad = self._stages.semantic_vad(params.eagerness, params.threshold, params.prefix_padding_ms)
            else:
                self._vad = self._stages.vad(params.threshold, params.prefix_padding_ms, params.silence_duration_ms)
            self._vad_generation = command.generation
            self._vad_start_ms = command.start_ms
            if self._listening is not None:
                self._listening.reset()
            self._drop_speculation()
        elif isinstance(command, ResetVad):
            if self._vad is not None:
                self._vad.reset()
            self._vad_generation = command.generation
            if self._listening is not None:
                self._listening.reset()
            self._drop_speculation()
        elif isinstance(command, Transcribe):
            self._spawn(command.job, self._transcribe(command))
        elif isinstance(command, Generate):
            self._spawn(command.job, self._generate(command))
        elif isinstance(command, Speak):
            self._spawn(command.job, self._speak(command))
        else:
            self._cancel(command)

    def _spawn(self, job: str, coro: Awaitable[None]) -> asyncio.Task[None]:
        task: asyncio.Task[None] = asyncio.ensure_future(coro)
        self._tasks.setdefault(job, set()).add(task)

        def forget(done: asyncio.Task[None]) -> None:
            tasks = self._tasks.get(job)
            if tasks is not None:
                tasks.discard(done)
                if not tasks:
                    del self._tasks[job]
                    self._playback.pop(job, None)

        task.add_done_callback(forget)
        return task

    def _cancel(self, command: Cancel) -> None:
        if self._speculation is not None and self._speculation.job == command.job:
            self._drop_speculation()
        current = asyncio.current_task()
        for task in list(self._tasks.get(command.job, ())):
            if task is not current:  # a task that ends its own job finishes by itself
                task.cancel()

    # ------------------------------------------------------------------------------------------ stages

    async def _feed_vad(self, command: FeedVad) -> None:
        vad = self._vad
        if vad is None or command.generation != self._vad_generation:
            return
        step = VAD_SLICE_MS * BYTES_PER_MS
        boundaries: list[VadSpeechStarted | VadSpeechStopped] = []
        listening = self._listening
        if listening is not None:
            listening.language, listening.prompt = self.state.transcription_hints()
        pcm_start_ms = command.end_ms - len(command.pcm) / BYTES_PER_MS
        for start in range(0, len(command.pcm), step):
            if start:
                await asyncio.sleep(0)  # let other sessions run between slices
            piece = command.pcm[start : start + step]
            found = _in_session_time(vad.feed(piece), self._vad_start_ms)
            boundaries += found
            if listening is not None:
                listening.observe(piece, pcm_start_ms + (start + len(piece)) / BYTES_PER_MS, found)
        self.state.vad_result(command.generation, command.end_ms, boundaries)
        if listening is not None:
            self.state.speech_transcript_delta(listening.deltas())
            listening.pause(getattr(vad, "pause_ms", None), command.end_ms)
            self._foresee(vad, command.generation)
        if isinstance(vad, TurnJudge) and (check := vad.due_check()) is not None:
            self._spawn(f"turn-{command.generation}", self._settle(vad, command.generation, check))

    async def _settle(self, vad: TurnJudge, generation: int, check: int) -> None:
        """Judge a pause of ``semantic_vad`` off the feeding path; a turn that ends is a VAD result."""
        listening = self._listening
        transcript = listening.transcript_so_far() if listening is not None else _nothing()
        try:
            stopped = await vad.settle(check, transcript)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("judging the end of turn failed")
            return
        current: object = self._vad
        if stopped is None or self._closed or generation != self._vad_generation or vad is not current:
            return
        stopped = VadSpeechStopped(stopped.audio_end_ms + self._vad_start_ms)  # in the session's time
        if listening is not None:
            listening.stopped()
        self.state.vad_result(generation, stopped.audio_end_ms, [stopped])
        await self._flush()

    # ------------------------------------------------------------------------------------------ speculation

    def _foresee(self, vad: VadStream, generation: int) -> None:
        """Start the reply ahead once a pause reaches :data:`SPECULATE_PAUSE_MS`; drop it when speech goes on."""
        pause = getattr(vad, "pause_ms", None)
        if pause is None:
            if getattr(vad, "in_speech", False):  # speech goes on: the reply foreseen in the pause is out of date
                self._drop_speculation()
            return
        foreseen = self._speculation is not None and not self._speculation.job  # in this pause
        if pause >= SPECULATE_PAUSE_MS and self._speculating is None and not foreseen:
            self._drop_speculation()  # a reply taken by a response that spoke no sentence
            self._speculating = self._spawn("speculation", self._speculate(vad, generation))

    async def _speculate(self, vad: VadStream, generation: int) -> None:
        try:
            listening = self._listening
            if listening is None:
                return
            text = await listening.transcript_so_far()
            if self._closed or generation != self._vad_generation or vad is not self._vad:
                return
            if getattr(vad, "pause_ms", None) is None:
                return  # speech went on, or the turn ended meanwhile (its reply is already on its way)
            preview = self.state.preview_reply(text)
            if preview is None:
                return
            spawn = functools.partial(self._spawn, "speculation")
            request = preview.generate.request
            reply = ReadAhead(self._stages.replies.generate(request), sentence_is_whole(SentenceSplitter()), spawn)
            speculation = self._speculation = Speculation(request, reply)
            if not preview.audio:
                return
            sentence = first_sentence(await reply.ahead())
            if sentence is None or self._speculation is not speculation:
                return
            speculation.speech_key = (sentence, preview.voice, preview.speed)
            speculation.speech = ReadAhead(
                self._synthesize(sentence, preview.voice, preview.speed), lambda _pcm: False, spawn
            )
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("starting the reply ahead failed")
        finally:
            if self._speculating is asyncio.current_task():
                self._speculating = None

    def _drop_speculation(self) -> None:
        speculation, self._speculation = self._speculation, None
        if speculation is not None:
            speculation.cancel()
        if self._speculating is not None:
            self._speculating.cancel()
            self._speculating = None

    def _synthesize(self, text: str, voice: str | None, speed: float) -> AsyncIterator[bytes]:
        synthesize = self._stages.synthesizer.synthesize
        if speed == 1.0:
            return synthesize(text, voice=voice)
        return synthesize(text, voice=voice, speed=speed)  # type: ignore[call-arg]

    # ------------------------------------------------------------------------------------------ stages (cont.)

    async def _transcribe(self, command: Transcribe) -> None:
        stream = self._listening.take_finished() if self._listening is not None else None
        if stream is not None:
            await self._finish_stream(command, stream)
            return
        try:
            texts = []
            for piece in await self._speech_pieces(command.pcm):
                async with self._stages.recognizer_turns.turn(self):
                    words = await self._stages.transcriber.transcribe(
                        piece, language=command.language, prompt=command.prompt
                    )
                texts.append(words)
            text = " ".join(t for t in texts if t)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            if not isinstance(exc, SchedulerBusy):
                log.exception("speech recognition failed")
            self.state.transcription_failed(command.job, str(exc))
        else:
            self.state.transcribed(command.job, text, len(command.pcm) / BYTES_PER_MS)
        await self._flush()

    async def _speech_pieces(self, pcm: bytes) -> list[bytes]:
        """The speech in a committed recording (found by a VAD stream of its own, :data:`GATE`), in pieces of at
        most :data:`PIECE_MS` (see :func:`speech_pieces`). The VAD runs in slices with yields to the loop."""
        vad = self._stages.vad(*GATE)
        boundaries: list[VadSpeechStarted | VadSpeechStopped] = []
        step = VAD_SLICE_MS * BYTES_PER_MS
        for start in range(0, len(pcm), step):
            if start:
                await asyncio.sleep(0)
            boundaries += vad.feed(pcm[start : start + step])
        return [
            pcm[a * BYTES_PER_MS : b * BYTES_PER_MS] for a, b in speech_pieces(boundaries, len(pcm) // BYTES_PER_MS)
        ]

    async def _finish_stream(self, command: Transcribe, stream: TranscriptStream) -> None:
        """The committed turn was transcribed while spoken: only its tail is left (the recognizer serves the
        sessions in turn itself)."""
        try:
            text = await stream.finish()
        except asyncio.CancelledError:
            stream.close()
            raise
        except Exception as exc:
            log.exception("speech recognition failed")
            self.state.transcription_failed(command.job, str(exc))
        else:
            self.state.transcribed(command.job, text, len(command.pcm) / BYTES_PER_MS, rest=stream.deltas())
        await self._flush()

    async def _generate(self, command: Generate) -> None:
        job = command.job
        speculation = self._speculation
        replies: AsyncIterator[Any]
        if speculation is not None and not speculation.job and speculation.request == command.request:
            speculation.job = job  # the reply foreseen in the pause: its first sentence may be spoken already
            replies = speculation.reply.take()
        else:
            if speculation is not None and not speculation.job:
                self._drop_speculation()
            replies = self._stages.replies.generate(command.request)
        splitter = SentenceSplitter()
        try:
            async for part in replies:
                if isinstance(part, TextPiece):
                    for sentence in splitter.push(part.text):
                        self.state.reply_sentence(job, sentence)
                elif isinstance(part, FunctionCall):
                    for sentence in splitter.flush():
                        self.state.reply_sentence(job, sentence)
                    self.state.reply_function_call(job, part)
                await self._flush()
            for sentence in splitter.flush():
                self.state.reply_sentence(job, sentence)
            self.state.reply_done(job)
        except asyncio.CancelledError:
            raise
        except ReplyError as exc:
            self.state.reply_failed(job, str(exc))
        except Exception as exc:
            log.exception("response %s failed", job)
            self.state.reply_failed(job, type(exc).__name__, "server_error")
        finally:
            await _close_stage(replies)
        await self._flush()

    async def _speak(self, command: Speak) -> None:
        job, item_id = command.job, command.item_id
        clock = self._playback.get(job)
        if clock is not None:  # speak the next sentence only when the client is about to need it
            ahead_ms = clock[1] - (time.monotonic() - clock[0]) * 1000
            if ahead_ms > SPEECH_LEAD_MS:
                await asyncio.sleep((ahead_ms - SPEECH_LEAD_MS) / 1000)
        speech: AsyncIterator[bytes] | None = None
        speculation = self._speculation
        if speculation is not None and speculation.job == job:  # the first sentence of a foreseen reply
            self._speculation = None
            if speculation.speech is not None and speculation.speech_key == (command.text, command.voice,
                                                                              command.speed):  # fmt: skip
                speech, speculation.speech = speculation.speech.take(), None
            speculation.cancel()
        if speech is None:
            speech = self._synthesize(command.text, command.voice, command.speed)
        chunker = AudioChunker()
        try:
            async for pcm in speech:
                started, produced = self._playback.get(job) or (time.monotonic(), 0.0)
                self._playback[job] = (started, produced + len(pcm) / BYTES_PER_MS)
                for piece in chunker.push(pcm):
                    self.state.speech_audio(job, item_id, piece)
                await self._flush()
            for piece in chunker.flush():
                self.state.speech_audio(job, item_id, piece)
            self.state.speech_done(job, item_id)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.exception("speech synthesis failed")
            self.state.speech_failed(job, type(exc).__name__)
        finally:
            await _close_stage(speech)
        await self._flush()


async def _close_stage(stream: AsyncIterator[Any]) -> None:
    """Stop a stage's stream that was left early (cancel, barge-in, error): generators free their model work."""
    close = getattr(stream, "aclose", None)
    if close is not None:
        with contextlib.suppress(Exception):
            await close()


def speech_pieces(
    boundaries: list[VadSpeechStarted | VadSpeechStopped], total_ms: int, piece_ms: int = PIECE_MS
) -> list[tuple[int, int]]:
    """Where the speech of a recording of ``total_ms`` is, from a VAD's ``boundaries`` (ms from its start): the
    speech regions, joined while they fit in ``piece_ms``, a region longer than that cut every ``piece_ms``;
    ``[]`` when there is no speech. Ranges in ms, ``(start, end)``."""
    regions: list[tuple[int, int]] = []
    begun: int | None = None
    for boundary in boundaries:
        if isinstance(boundary, VadSpeechStarted):
            begun = boundary.audio_start_ms if begun is None else begun
        elif begun is not None:
            regions.append((max(0, begun), min(total_ms, boundary.audio_end_ms)))
            begun = None
    if begun is not None:
        regions.append((max(0, begun), total_ms))
    pieces: list[tuple[int, int]] = []
    for start, end in regions:
        if pieces and end - pieces[-1][0] <= piece_ms:
            pieces[-1] = (pieces[-1][0], end)
            continue
        for cut in range(start, end, piece_ms):
            pieces.append((cut, min(end, cut + piece_ms)))
    return [(a, b) for a, b in pieces if b > a]


def _in_session_time(
    boundaries: list[VadSpeechStarted | VadSpeechStopped], start_ms: int
) -> list[VadSpeechStarted | VadSpeechStopped]:
    """A VAD stream's boundaries (ms from the stream's start) in the session's stream time."""
    if not start_ms:
        return boundaries
    return [
        VadSpeechStarted(b.audio_start_ms + start_ms)
        if isinstance(b, VadSpeechStarted)
        else VadSpeechStopped(b.audio_end_ms + start_ms)
        for b in boundaries
    ]


async def _nothing() -> str:
    return ""
