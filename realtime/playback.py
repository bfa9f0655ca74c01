"""The terminal's audio state without I/O: what the speaker plays and has played, push-to-talk, the echo gate.

All audio is PCM16 LE mono at 24000 Hz (``realtime.protocol.SAMPLE_RATE``; 48 bytes per ms). Time is monotonic
seconds passed in by the caller (``time.monotonic()`` in the program, a fake clock in tests), so the classes are
tested without a sound card.

- :class:`Playback`: the queue of assistant audio between the event loop (:meth:`Playback.feed`) and the output
  device's callback (:meth:`Playback.read`), thread-safe; :meth:`Playback.flush` for barge-in; and the position
  the listener really reached per item (:meth:`Playback.played_ms`), from the device's own output latency (the
  callback's ``outputBufferDacTime - currentTime``, PortAudio's ``PaStreamCallbackTimeInfo``). That position is
  what ``conversation.item.truncate`` carries as ``audio_end_ms`` (OpenAI Realtime API reference, client events).
- :class:`PushToTalk`: the toggle a terminal allows (it reports key presses, never key releases): one press starts
  the user's turn, the next ends it.
- :class:`EchoGate`: half duplex for loudspeakers: the microphone is muted while the answer plays and for a short
  tail after it.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass
from typing import Literal

from realtime.protocol import BYTES_PER_MS, SAMPLE_RATE

__all__ = ["BYTES_PER_S", "EchoGate", "Playback", "PushToTalk", "TalkAction"]

BYTES_PER_S = SAMPLE_RATE * 2
"""PCM16 mono bytes per second at 24000 Hz (48000)."""
HISTORY_S = 2.0
"""How long the blocks handed to the device are remembered for :meth:`Playback.played_ms` (older ones are folded
into a per-item total)."""


@dataclass(slots=True)
class _Block:
    """``nbytes`` of ``item_id`` from byte ``start`` of the item, heard from ``heard_at`` (monotonic s)."""

    heard_at: float
    item_id: str
    start: int
    nbytes: int


class Playback:
    """Assistant audio on its way to the speaker (see the module docstring). Thread-safe: the event loop calls
    :meth:`feed`, :meth:`flush`, :meth:`played_ms`; the device's callback calls :meth:`read`.

    ``max_queued_s``: audio held at most (seconds; beyond it :meth:`feed` drops the newest audio and counts it in
    :attr:`dropped_bytes`: a stuck device must not grow memory without bound). ``fade_ms``: the ramp to silence
    applied to the first block read after a flush, so a cut does not click (a linear ramp).
    """

    def __init__(self, *, max_queued_s: float = 600.0, fade_ms: int = 5) -> None:
        self._lock = threading.Lock()
        self._queue: deque[tuple[str, bytes]] = deque()  # (item_id, pcm) in play order
        self._offset = 0  # bytes of the queue's head already read
        self._queued_bytes = 0
        self._max_queued = int(max_queued_s * BYTES_PER_S) & ~1
        self._fade_bytes = fade_ms * BYTES_PER_MS
        self._tail: bytes = b""  # the audio that would have followed a flush, faded out on the next read
        self._handed: dict[str, int] = {}  # item_id -> bytes of it handed to the device
        self._blocks: deque[_Block] = deque()  # recent blocks handed to the device
        self._heard: dict[str, int] = {}  # item_id -> bytes surely heard, from blocks dropped from _blocks
        self._first_heard: dict[str, float] = {}  # item_id -> when its first block sounds
        self._last_heard_end = 0.0  # monotonic s when the last non-silent block handed to the device ends
        self.dropped_bytes = 0

    # ------------------------------------------------------------------------------ event loop side

    def feed(self, item_id: str, pcm: bytes) -> None:
        """Queue ``pcm`` (PCM16, even length; an odd last byte is dropped) of the assistant item ``item_id``."""
        if len(pcm) % 2:
            pcm = pcm[:-1]
        if not pcm:
            return
        with self._lock:
            room = self._max_queued - self._queued_bytes
            if len(pcm) > room:
                self.dropped_bytes += len(pcm) - max(room, 0)
                pcm = pcm[: max(room, 0)]
                if not pcm:
                    return
            self._queue.append((item_id, pcm))
            self._queued_bytes += len(pcm)

    def flush(self) -> int:
        """Drop the audio not yet handed to the device (barge-in). Returns the bytes dropped. The next
        :meth:`read` fades the first ``fade_ms`` of what was dropped to silence instead of stopping dead."""
        with self._lock:
            dropped = self._queued_bytes
            if self._queue:
                pcm = self._queue[0][1]
                self._tail = pcm[self._offset : self._offset + self._fade_bytes]
            self._queue.clear()
            self._offset = 0
            self._queued_bytes = 0
            return dropped

    def queued_ms(self) -> int:
        """Ms of audio waiting to be handed to the device."""
        with self._lock:
            return self._queued_bytes // BYTES_PER_MS

    def played_ms(self, item_id: str, now: float) -> int:
        """Ms of ``item_id`` the listener heard by ``now``: the blocks the device was handed, each counted from
        the moment the device said it would sound (its output latency), a block in progress counted in part.
        0 for an item never played."""
        with self._lock:
            heard = self._heard.get(item_id, 0)
            for block in self._blocks:
                if block.item_id != item_id or block.heard_at > now:
                    continue
                done = min(block.nbytes, round((now - block.heard_at) * BYTES_PER_S) & ~1)
                heard = max(heard, block.start + done)
            return heard // BYTES_PER_MS

    def cut_ms(self, item_id: str) -> int:
        """Ms of ``item_id`` the listener has heard once a :meth:`flush` now takes effect: everything handed to the
        device sounds (the stream is not aborted), the queue does not. This is the ``audio_end_ms`` to truncate the
        item at on barge-in."""
        with self._lock:
            return self._handed.get(item_id, 0) // BYTES_PER_MS

    def first_heard_at(self, item_id: str) -> float | None:
        """Monotonic s when the first audio of ``item_id`` sounds(ed) from the device; None before it was handed."""
        with self._lock:
            return self._first_heard.get(item_id)

    def sounding(self, now: float) -> bool:
        """True while assistant audio is queued or still in the device (not yet heard to its end)."""
        with self._lock:
            return self._queued_bytes > 0 or now < self._last_heard_end

    def sounding_until(self) -> float:
        """Monotonic s when the audio handed to the device ends (0.0 when none was); queued audio not counted."""
        with self._lock:
            return self._last_heard_end

    # ------------------------------------------------------------------------------ device side

    def read(self, nbytes: int, now: float, delay_s: float = 0.0) -> bytes:
        """The next ``nbytes`` (even) for the device, zero-filled when the queue runs short. ``now``: monotonic s of
        the callback; ``delay_s``: how long until this block sounds (the callback's ``outputBufferDacTime -
        currentTime``; negative or absurd values count as 0). Called from the audio thread: it only copies."""
        nbytes &= ~1
        heard_at = now + (delay_s if 0.0 <= delay_s < 5.0 else 0.0)
        out = bytearray()
        with self._lock:
            if self._tail:
                out += _fade_out(self._tail[:nbytes])
                self._tail = b""
            while len(out) < nbytes and self._queue:
                item_id, pcm = self._queue[0]
                take = pcm[self._offset : self._offset + nbytes - len(out)]
                start = self._handed.get(item_id, 0)
                if start == 0:
                    self._first_heard[item_id] = heard_at + len(out) / BYTES_PER_S
                self._blocks.append(_Block(heard_at + len(out) / BYTES_PER_S, item_id, start, len(take)))
                self._handed[item_id] = start + len(take)
                out += take
                self._offset += len(take)
                self._queued_bytes -= len(take)
                if self._offset >= len(pcm):
                    self._queue.popleft()
                    self._offset = 0
            if out:
                self._last_heard_end = max(self._last_heard_end, heard_at + len(out) / BYTES_PER_S)
            self._forget(now - HISTORY_S)
        if len(out) < nbytes:
            out += bytes(nbytes - len(out))
        return bytes(out)

    def _forget(self, before: float) -> None:
        while self._blocks and self._blocks[0].heard_at + self._blocks[0].nbytes / BYTES_PER_S < before:
            block = self._blocks.popleft()
            self._heard[block.item_id] = max(self._heard.get(block.item_id, 0), block.start + block.nbytes)
        if len(self._heard) > 64:  # items long past: keep the most recent ones
            for key in list(self._heard)[:-32]:
                del self._heard[key]
                self._handed.pop(key, None)
                self._first_heard.pop(key, None)


def _fade_out(pcm: bytes) -> bytes:
    """``pcm`` (PCM16) ramped linearly from full level to silence."""
    import numpy as np

    samples = np.frombuffer(pcm, dtype="<i2").astype(np.float32)
    ramp = np.linspace(1.0, 0.0, num=len(samples), endpoint=False, dtype=np.float32)
    faded: bytes = (samples * ramp).astype("<i2").tobytes()
    return faded


TalkAction = Literal["start", "stop"]


class PushToTalk:
    """The push-to-talk toggle: :meth:`press` starts the user's turn, the next press ends it. While the turn is
    open the microphone's audio is sent (:attr:`talking`); on start the caller stops the answer (flush the player,
    ``response.cancel``, ``input_audio_buffer.clear``), on stop it sends ``input_audio_buffer.commit`` and
    ``response.create``. :attr:`last_turn_s` is the length of the turn a ``"stop"`` ended (seconds)."""

    def __init__(self) -> None:
        self.talking = False
        self.started_at: float | None = None
        self.last_turn_s = 0.0
        self.turns = 0

    def press(self, now: float) -> TalkAction:
        """One key press at ``now`` (monotonic s): ``"start"`` or ``"stop"``."""
        if not self.talking:
            self.talking = True
            self.started_at = now
            return "start"
        self.talking = False
        self.last_turn_s = now - (self.started_at if self.started_at is not None else now)
        self.started_at = None
        self.turns += 1
        return "stop"


class EchoGate:
    """Half duplex for loudspeakers: :meth:`open` is False while the answer sounds and for ``tail_ms`` after it
    (the room's echo and the device's buffers), so the model does not hear itself. It costs voice barge-in; use
    push-to-talk (which interrupts by key) or headphones for that."""

    def __init__(self, tail_ms: int = 300) -> None:
        self.tail_s = tail_ms / 1000.0
        self.muted_bytes = 0

    def open(self, now: float, playback: Playback) -> bool:
        """True when a microphone block captured at ``now`` may be sent."""
        return not playback.sounding(now) and now >= playback.sounding_until() + self.tail_s

    def pass_block(self, pcm: bytes, now: float, playback: Playback) -> bool:
        """:meth:`open`, counting the bytes it mutes in :attr:`muted_bytes`."""
        if self.open(now, playback):
            return True
        self.muted_bytes += len(pcm)
        return False
