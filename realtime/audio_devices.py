"""The microphone and the speaker through ``sounddevice`` (PortAudio): 24000 Hz mono PCM16 in small blocks.

    streams = DeviceStreams(playback, on_input, loop, input_device=None, output_device=None, block_ms=20)
    streams.start(); ...; streams.close()

The PortAudio callbacks run on PortAudio's own thread and only copy bytes: the input callback hands each block to
the event loop with ``loop.call_soon_threadsafe`` (no polling), the output callback asks the thread-safe
:class:`realtime.playback.Playback` for the next block (zero-filled when it runs short) and tells it when that
block will sound (``outputBufferDacTime - currentTime`` of PortAudio's ``PaStreamCallbackTimeInfo``).
See the sounddevice documentation ("RawInputStream", "RawOutputStream", "Callback Streams").

``sounddevice`` loads the PortAudio library when it is imported and raises ``OSError`` ("PortAudio library not
found") when it is missing; :func:`load_sounddevice` turns that into :class:`AudioUnavailable`, whose message names
the package to install.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from collections.abc import Callable
from types import ModuleType
from typing import Any

from realtime.playback import Playback
from realtime.protocol import SAMPLE_RATE

__all__ = ["AudioUnavailable", "DeviceStreams", "device_list", "load_sounddevice", "parse_device"]

INSTALL_PORTAUDIO = (
    "the PortAudio library is missing: install it with `apt install libportaudio2` (Debian, Ubuntu) "
    "or `brew install portaudio` (macOS)"
)


class AudioUnavailable(RuntimeError):
    """Audio I/O cannot work here: PortAudio or sounddevice missing, or a device that cannot be opened. The
    message is one line for the user, naming what to install or choose."""


def load_sounddevice() -> ModuleType:
    """Import ``sounddevice``. Raises :class:`AudioUnavailable` when it or the PortAudio library is missing."""
    try:
        import sounddevice
    except OSError as exc:  # sounddevice raises OSError("PortAudio library not found") at import
        raise AudioUnavailable(INSTALL_PORTAUDIO) from exc
    except ImportError as exc:
        raise AudioUnavailable("the sounddevice package is missing: pip install -r requirements.txt") from exc
    module: ModuleType = sounddevice
    return module


_alsa_quiet: list[object] = []  # the installed ALSA error handler, kept alive


def quiet_alsa() -> None:
    """Keep ALSA's own messages (e.g. "underrun occurred" after a late callback) out of the terminal, where they
    would break the transcript's lines: an error handler that drops them (``snd_lib_error_set_handler``, alsa-lib's
    error.h). The streams' under- and overflows are still counted and reported. No-op where libasound is absent."""
    if _alsa_quiet or not sys.platform.startswith("linux"):
        return
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("asound")
    if name is None:
        return
    try:
        lib = ctypes.CDLL(name)
        handler_type = ctypes.CFUNCTYPE(
            None, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p
        )
        handler = handler_type(lambda *_: None)
        lib.snd_lib_error_set_handler(handler)
        _alsa_quiet.append(handler)
    except (OSError, AttributeError):
        return


def parse_device(spec: str | None) -> int | str | None:
    """A device option as sounddevice takes it: an index (``"3"``), a part of a name (``"pulse"``), or None."""
    if spec is None or not spec.strip():
        return None
    return int(spec) if spec.strip().isdigit() else spec.strip()


def device_list() -> str:
    """The audio devices PortAudio sees (index, name, host API, input and output channels; ``>``/``<`` mark the
    default input/output). Raises :class:`AudioUnavailable`."""
    sd = load_sounddevice()
    return str(sd.query_devices())


class DeviceStreams:
    """A raw PCM16 input stream and output stream at 24000 Hz mono (see the module docstring).

    ``on_input(pcm, captured_at)`` is called on ``loop`` for every microphone block (``captured_at``: monotonic s
    when the callback ran). ``block_ms``: the block size of both streams (20 ms = 480 frames); ``latency``:
    PortAudio's suggested latency (``"low"``, ``"high"`` or seconds). ``input_device``/``output_device``: an
    index, part of a name, or None for the default. Raises :class:`AudioUnavailable` from :meth:`start` when a
    device cannot be opened at 24000 Hz mono.
    """

    def __init__(
        self,
        playback: Playback,
        on_input: Callable[[bytes, float], None],
        loop: asyncio.AbstractEventLoop,
        *,
        input_device: int | str | None = None,
        output_device: int | str | None = None,
        block_ms: int = 20,
        latency: str | float = "low",
    ) -> None:
        self.playback = playback
        self._on_input = on_input
        self._loop = loop
        self.input_device = input_device
        self.output_device = output_device
        self.blocksize = SAMPLE_RATE * block_ms // 1000
        self.latency = latency
        self._input: Any = None
        self._output: Any = None
        self.input_overflows = 0
        self.output_underflows = 0
        self.output_latency_s = 0.0

    def start(self, *, capture: bool = True) -> None:
        """Open and start the speaker (and, with ``capture``, the microphone). Raises :class:`AudioUnavailable`."""
        sd = load_sounddevice()
        quiet_alsa()
        try:
            self._output = sd.RawOutputStream(
                samplerate=SAMPLE_RATE, channels=1, dtype="int16", blocksize=self.blocksize,
                device=self.output_device, latency=self.latency, callback=self._play,
            )  # fmt: skip
            self._output.start()
            self.output_latency_s = float(self._output.latency)
            if capture:
                self._input = sd.RawInputStream(
                    samplerate=SAMPLE_RATE, channels=1, dtype="int16", blocksize=self.blocksize,
                    device=self.input_device, latency=self.latency, callback=self._capture,
                )  # fmt: skip
                self._input.start()
        except (sd.PortAudioError, ValueError) as exc:
            self.close()
            raise AudioUnavailable(
                f"cannot open the audio device at {SAMPLE_RATE} Hz mono ({exc}); see --list-devices and choose "
                "one with --input-device/--output-device (on Linux the 'pulse' or 'default' device resamples)"
            ) from None

    def close(self) -> None:
        """Stop and close both streams (safe to call twice)."""
        for stream in (self._input, self._output):
            if stream is None:
                continue
            try:
                stream.abort()
                stream.close()
            except Exception as exc:  # closing must not hide why we are closing
                print(f"warning: closing an audio stream failed: {exc}", file=sys.stderr)
        self._input = self._output = None

    # ------------------------------------------------------------------ PortAudio's thread: copy only

    def _capture(self, indata: Any, frames: int, time_info: Any, status: Any) -> None:
        if status.input_overflow:
            self.input_overflows += 1
        with contextlib.suppress(RuntimeError):  # the loop is closed: we are shutting down
            self._loop.call_soon_threadsafe(self._on_input, bytes(indata), time.monotonic())

    def _play(self, outdata: Any, frames: int, time_info: Any, status: Any) -> None:
        if status.output_underflow:
            self.output_underflows += 1
        delay = time_info.outputBufferDacTime - time_info.currentTime
        outdata[:] = self.playback.read(len(outdata), time.monotonic(), delay)
