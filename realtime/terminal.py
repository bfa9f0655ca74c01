"""A spoken conversation in the terminal (``--mic`` of the command line): microphone in, speaker out, full duplex.

:class:`MicChat` joins a connected client (``realtime.client.RealtimeClient`` or any client with the same app
events and actions: ``events()``, ``append_audio``, ``commit``, ``create_response``, ``cancel``, ``clear_audio``)
to the audio devices (:class:`AudioIO`, e.g. :class:`realtime.audio_devices.DeviceStreams`) through the
sans-I/O state of :mod:`realtime.playback`. It codes against the app events only, so it works whichever protocol
the client speaks:

- barge-in: on :class:`~realtime.events.SpeechStarted` (the turn detector's ``input_audio_buffer.speech_started``)
  while the answer sounds, or on :class:`~realtime.events.Interrupted` (the core cut the answer, or the model
  yielded), the player's queue is flushed at once. The client's session is given the player's position
  (``RealtimeSession.played_ms``), so the ``conversation.item.truncate`` it sends carries the ms the device
  really played (:meth:`realtime.playback.Playback.cut_ms`), not a wall-time estimate;
- push-to-talk (``push_to_talk``): Enter or space starts the turn (the answer is stopped: flush, ``cancel``,
  ``clear_audio``) and ends it (``commit`` + ``create_response``); the microphone is sent only in between;
- echo: ``echo="gate"`` mutes the microphone while the answer sounds and ``tail_ms`` after it; ``"none"`` (the
  default) tells the user once to wear headphones;
- the transcript of both sides as it streams, tool steps, and per turn the latency to the answer's first audio
  (from the service, and to the speaker).

``trace`` writes one JSON line per app event and per flush (``t``: ``time.monotonic()`` seconds), for measuring
latencies and barge-in from outside.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import asdict, dataclass, fields, is_dataclass
from pathlib import Path
from typing import Any, Literal, Protocol, TextIO

from realtime.events import (
    AppEvent,
    AssistantTextDone,
    AudioDelta,
    Interrupted,
    RealtimeError,
    Reconnected,
    Reconnecting,
    ResponseDoneEvent,
    ResponseStarted,
    SessionReady,
    SpeechStarted,
    SpeechStopped,
    TextDelta,
    ToolCallFinished,
    ToolCallStarted,
    UserTranscript,
)
from realtime.playback import EchoGate, Playback, PushToTalk
from realtime.protocol import BYTES_PER_MS

__all__ = ["AudioIO", "EchoMode", "MicChat", "MicOptions", "TalkClient"]

EchoMode = Literal["none", "gate"]
MAX_MIC_BLOCKS = 250
"""Microphone blocks waiting for the connection at most (5 s of 20 ms blocks); older ones are dropped."""
HEADPHONES_TIP = (
    "Tip: use headphones. Through loudspeakers the assistant hears itself and interrupts itself; without "
    "headphones run with --echo gate (or --push-to-talk)."
)


class FatalChatError(Exception):
    """The session cannot go on (the service's fatal error); the message is for the user."""


@dataclass
class MicOptions:
    """How the terminal conversation behaves (see the module docstring)."""

    push_to_talk: bool = False
    echo: EchoMode = "none"
    tail_ms: int = 300
    trace: Path | None = None


class AudioIO(Protocol):
    """The audio devices: a speaker fed by ``playback`` and a microphone whose blocks reach the chat."""

    playback: Playback

    def start(self, *, capture: bool = True) -> None:
        """Open and start the streams."""
        ...

    def close(self) -> None:
        """Stop and close the streams."""
        ...


class TalkClient(Protocol):
    """What :class:`MicChat` uses of a client (``realtime.client.RealtimeClient`` has it)."""

    def events(self) -> AsyncIterator[AppEvent]:
        """Every app event from now on."""
        ...

    async def append_audio(self, pcm: bytes) -> None:
        """Send microphone PCM16."""

    async def commit(self) -> None:
        """End the user's turn by hand."""

    async def create_response(self) -> None:
        """Ask for a response."""

    async def cancel(self) -> None:
        """Stop the active response."""

    async def clear_audio(self) -> None:
        """Drop the input audio buffer."""


class _Trace:
    def __init__(self, path: Path | None, clock: Callable[[], float]) -> None:
        self._file = path.open("w", encoding="utf-8") if path is not None else None
        self._clock = clock

    def write(self, kind: str, **data: Any) -> None:
        if self._file is None:
            return
        line = json.dumps({"t": round(self._clock(), 6), "type": kind, **data}, default=_jsonable)
        self._file.write(line + "\n")
        self._file.flush()

    def event(self, event: AppEvent) -> None:
        if self._file is None or not is_dataclass(event):
            return
        data: dict[str, Any] = {}
        for f in fields(event):
            value = getattr(event, f.name)
            data[f.name] = len(value) if isinstance(value, bytes) else value
        self.write(event.type, **data)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


class MicChat:
    """One terminal conversation (see the module docstring). Create it, hand :meth:`on_input` to the microphone,
    then ``await run(client)``; it returns when the client's events end and raises :class:`FatalChatError` on a
    fatal error. ``clock``: monotonic seconds (the devices' clock)."""

    def __init__(
        self,
        playback: Playback,
        options: MicOptions | None = None,
        out: TextIO = sys.stdout,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.playback = playback
        self.options = options or MicOptions()
        self.out = out
        self.clock = clock
        self.ptt = PushToTalk() if self.options.push_to_talk else None
        self.gate = EchoGate(self.options.tail_ms) if self.options.echo == "gate" else None
        self.trace = _Trace(self.options.trace, clock)
        self._mic: asyncio.Queue[tuple[bytes, float]] = asyncio.Queue(MAX_MIC_BLOCKS)
        self._live = False
        self._client: TalkClient | None = None
        self._response_id: str | None = None
        self._first_item: dict[str, str] = {}  # response_id -> its first audio item
        self._cut: set[str] = set()  # responses whose audio was cut: later deltas are not played
        self._turn_ended_at: float | None = None
        self._streaming: str | None = None
        self._streamed: set[str] = set()  # items whose text is being printed as it streams
        self.mic_dropped = 0
        self.sent_bytes = 0

    # ------------------------------------------------------------------ microphone (on the event loop)

    def on_input(self, pcm: bytes, captured_at: float) -> None:
        """A microphone block (called on the loop by the device, via ``call_soon_threadsafe``)."""
        if not self._live:
            return
        if self._mic.full():
            self._mic.get_nowait()
            self.mic_dropped += 1
        self._mic.put_nowait((pcm, captured_at))

    async def _pump(self, client: TalkClient) -> None:
        while True:
            pcm, captured_at = await self._mic.get()
            if self.ptt is not None and not self.ptt.talking:
                continue
            if self.gate is not None and not self.gate.pass_block(pcm, captured_at, self.playback):
                continue
            await client.append_audio(pcm)
            self.sent_bytes += len(pcm)

    # ------------------------------------------------------------------ push-to-talk

    async def press(self) -> None:
        """The push-to-talk key was pressed: start or end the user's turn."""
        client = self._client
        if self.ptt is None or client is None:
            return
        now = self.clock()
        if self.ptt.press(now) == "start":
            self._flush("push_to_talk", self._response_id)
            await client.cancel()
            await client.clear_audio()
            self._say("[listening: press Enter to send]")
        else:
            self._turn_ended_at = now
            self.trace.write("term.turn_end", turn_s=round(self.ptt.last_turn_s, 3))
            await client.commit()
            await client.create_response()
            self._say("[sent]")

    # ------------------------------------------------------------------ the conversation

    async def run(self, client: TalkClient, keys: AsyncIterator[str] | None = None) -> None:
        """Talk until the client's events end (or the caller is cancelled, e.g. Ctrl-C). ``keys``: key presses
        (push-to-talk: Enter or space toggles; ``q`` ends)."""
        self._client = client
        session = getattr(client, "session", None)
        if session is not None and hasattr(session, "played_ms"):
            session.played_ms = self.playback.cut_ms  # truncate at what the device played
        events = client.events()
        self._live = True
        tasks = [asyncio.create_task(self._pump(client), name="mic-pump")]
        if keys is not None:
            tasks.append(asyncio.create_task(self._keys(keys), name="keys"))
        try:
            consumer = asyncio.create_task(self._consume(events), name="events")
            done, _ = await asyncio.wait([consumer, *tasks], return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                task.result()  # re-raise what ended it
        finally:
            self._live = False
            for task in (*tasks, consumer):
                task.cancel()
            await asyncio.gather(*tasks, consumer, return_exceptions=True)
            self._end_line()
            self.trace.close()

    async def _keys(self, keys: AsyncIterator[str]) -> None:
        async for key in keys:
            if key in ("\n", "\r", " "):
                await self.press()
            elif key.lower() == "q":
                return
        await asyncio.Event().wait()  # no more input (a closed stdin): talk on until Ctrl-C

    async def _consume(self, events: AsyncIterator[AppEvent]) -> None:
        async for event in events:
            self.trace.event(event)
            self.handle(event)

    def handle(self, event: AppEvent) -> None:
        """One app event: play, cut, or print. Raises :class:`FatalChatError` on a fatal error."""
        if isinstance(event, AudioDelta):
            if event.response_id not in self._cut:
                self.playback.feed(event.item_id, event.pcm)
                self._first_item.setdefault(event.response_id, event.item_id)
            return
        if isinstance(event, ResponseStarted):
            self._response_id = event.response_id
        elif isinstance(event, SpeechStarted):
            if self.playback.sounding(self.clock()):
                self._flush("speech_started", self._response_id)
        elif isinstance(event, Interrupted):
            self._flush("interrupted", event.response_id)
            self._print_line(f"[interrupted{_at(event.audio_end_ms)}]")
        elif isinstance(event, SpeechStopped):
            self._turn_ended_at = self.clock()
        elif isinstance(event, SessionReady):
            mode = "press Enter to talk, Enter again to send" if self.ptt else "speak any time"
            self._print_line(f"Listening ({event.provider} {event.model}): {mode}; Ctrl-C ends.")
            if self.options.echo == "none" and self.ptt is None:
                self._print_line(HEADPHONES_TIP)
        else:
            self._print(event)

    def _flush(self, reason: str, response_id: str | None) -> None:
        now = self.clock()
        sounding = self.playback.sounding(now)
        dropped = self.playback.flush()
        if response_id is not None and (sounding or dropped):
            self._cut.add(response_id)
        item = self._first_item.get(response_id or "")
        self.trace.write(
            "term.flush", reason=reason, response_id=response_id, dropped_ms=dropped // BYTES_PER_MS,
            cut_ms=self.playback.cut_ms(item) if item else None,
        )  # fmt: skip

    # ------------------------------------------------------------------ the transcript

    def _print(self, event: AppEvent) -> None:
        if isinstance(event, UserTranscript):
            if event.final and event.transcript:
                self._print_line(f"you: {event.transcript}")
        elif isinstance(event, TextDelta):
            if self._streaming != event.item_id:
                self._end_line()
                print("assistant: " if event.item_id not in self._streamed else "  ", end="", file=self.out)
                self._streaming = event.item_id
                self._streamed.add(event.item_id)
            print(event.delta, end="", file=self.out, flush=True)
        elif isinstance(event, AssistantTextDone):
            if event.item_id not in self._streamed and event.text:
                self._print_line(f"assistant: {event.text}")
            self._streamed.discard(event.item_id)
            self._end_line()
        elif isinstance(event, ToolCallStarted):
            self._print_line(f"[tool] {event.name}({event.arguments})")
        elif isinstance(event, ToolCallFinished):
            self._print_line(f"[tool] {event.name} -> {event.output[:300]}")
        elif isinstance(event, ResponseDoneEvent):
            self._response_done(event)
        elif isinstance(event, RealtimeError):
            self._print_line(f"error: {event.message}")
            if event.fatal:
                raise FatalChatError(event.message)
        elif isinstance(event, Reconnecting):
            self._print_line(f"[reconnecting in {event.delay_s:.1f} s: {event.reason}]")
        elif isinstance(event, Reconnected):
            self._print_line("[reconnected]")

    def _response_done(self, event: ResponseDoneEvent) -> None:
        self._end_line()
        if event.status == "failed":
            self._print_line("[the answer failed]")
            return
        parts = []
        if event.latency_ms is not None:
            parts.append(f"{event.latency_ms:.0f} ms to the answer's first audio")
        item = self._first_item.get(event.response_id)
        turn_end, self._turn_ended_at = self._turn_ended_at, None
        if item is not None and turn_end is not None and event.status == "completed":
            heard_at = self.playback.first_heard_at(item)
            if heard_at is not None:
                parts.append(f"{(heard_at - turn_end) * 1000:.0f} ms to the speaker")
            else:  # all of it came before the device took its first block: say it once it did
                with contextlib.suppress(RuntimeError):
                    asyncio.get_running_loop().call_later(0.3, self._speaker_latency, item, turn_end)
        if parts:
            self._print_line(f"  (latency: {', '.join(parts)})")

    def _speaker_latency(self, item: str, turn_end: float) -> None:
        heard_at = self.playback.first_heard_at(item)
        if heard_at is not None:
            self._print_line(f"  (latency: {(heard_at - turn_end) * 1000:.0f} ms to the speaker)")

    def _say(self, line: str) -> None:
        self._print_line(line)

    def _print_line(self, line: str) -> None:
        self._end_line()
        print(line, file=self.out, flush=True)

    def _end_line(self) -> None:
        if self._streaming is not None:
            print(file=self.out, flush=True)
            self._streaming = None


def _at(audio_end_ms: int | None) -> str:
    return f" after {audio_end_ms / 1000:.1f} s" if audio_end_ms else ""


async def stdin_keys() -> AsyncIterator[str]:
    """Key presses from standard input, without waiting for Enter when it is a terminal (cbreak mode; the
    terminal's settings are restored when the iterator closes). Ends at end of input."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[str] = asyncio.Queue()
    fd = sys.stdin.fileno()
    restore: Callable[[], None] | None = None
    if sys.stdin.isatty():
        import termios
        import tty

        saved = termios.tcgetattr(fd)
        tty.setcbreak(fd)

        def restore() -> None:
            termios.tcsetattr(fd, termios.TCSADRAIN, saved)

    def readable() -> None:
        import os

        data = os.read(fd, 64)
        if not data:
            loop.remove_reader(fd)
            queue.put_nowait("")
            return
        for char in data.decode(errors="replace"):
            queue.put_nowait(char)

    loop.add_reader(fd, readable)
    try:
        while True:
            key = await queue.get()
            if not key:
                return
            yield key
    finally:
        with contextlib.suppress(Exception):
            loop.remove_reader(fd)
        if restore is not None:
            restore()


def _jsonable(value: object) -> object:
    """A trace value JSON cannot write as it is: a dataclass (e.g. the calls of ``ToolCallsRequested``) as its
    fields, anything else as its ``repr``."""
    if is_dataclass(value) and not isinstance(value, type):
        return asdict(value)
    return repr(value)
