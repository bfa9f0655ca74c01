"""A sound server with no sound card for the terminal audio tests: PulseAudio with two null sinks.

- ``mic_in``: what a test plays into it (``paplay --device=mic_in``) is what the program's microphone hears, when
  the program records ``mic_in.monitor`` (``PULSE_SOURCE``);
- ``speaker``: where the program plays (``PULSE_SINK``); :class:`Recorder` records its monitor with ``parecord``
  and stamps each chunk with ``time.monotonic()`` when it arrives, so a sample's time on the monotonic clock (the
  same clock as the program's, system-wide) is known to within the recorder's latency, and never too early.

The program reaches the server through PortAudio's ALSA host API and ALSA's ``pulse`` device (libasound2-plugins).
Null sinks render in real time on the server's clock, so timings are those of a real device. The server runs as a
child of the test with its own socket (``PULSE_SERVER``), anonymous auth and no idle exit, and is stopped after.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["PulseServer", "Recorder", "missing_tools"]

RATE = 24_000
TOOLS = ("pulseaudio", "pactl", "paplay", "parecord")


def missing_tools() -> list[str]:
    """The PulseAudio programs not on PATH (scripts/system-packages dev installs them)."""
    return [tool for tool in TOOLS if shutil.which(tool) is None]


class PulseServer:
    """A PulseAudio server in ``root`` with the null sinks ``speaker`` and ``mic_in`` (24 kHz mono)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.socket = root / "native"
        self.env = {**os.environ, "PULSE_SERVER": f"unix:{self.socket}"}
        self.process: subprocess.Popen[bytes] | None = None
        self.log: Any = None

    def start(self, timeout_s: float = 15.0) -> None:
        """Start the server and wait until ``pactl info`` answers. Raises RuntimeError with its log otherwise."""
        runtime = self.root / "runtime"
        runtime.mkdir(parents=True, exist_ok=True)
        env = {**self.env, "HOME": str(self.root), "XDG_RUNTIME_DIR": str(runtime), "PULSE_RUNTIME_PATH": str(runtime)}
        sinks = [
            f"module-null-sink sink_name={name} rate={RATE} channels=1 sink_properties=device.description={name}"
            for name in ("speaker", "mic_in")
        ]
        args = ["pulseaudio", "-n", "--daemonize=no", "--exit-idle-time=-1", "--disable-shm=yes",
                "--use-pid-file=no", "--system=no", "--log-target=stderr",
                "-L", f"module-native-protocol-unix socket={self.socket} auth-anonymous=1"]  # fmt: skip
        for sink in sinks:
            args += ["-L", sink]
        self.log = (self.root / "pulseaudio.log").open("wb")
        self.process = subprocess.Popen(args, env=env, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                break
            info = subprocess.run(["pactl", "info"], env=self.env, capture_output=True, timeout=5)
            if info.returncode == 0:
                return
            time.sleep(0.1)
        self.stop()
        raise RuntimeError("pulseaudio did not start: " + (self.root / "pulseaudio.log").read_text()[-2000:])

    def play(self, wav: Path) -> subprocess.Popen[bytes]:
        """Play ``wav`` into the microphone (the ``mic_in`` sink); returns the running ``paplay``."""
        return subprocess.Popen(["paplay", "--device=mic_in", str(wav)], env=self.env)

    def pactl(self, *args: str) -> str:
        """Run ``pactl`` on this server; its output. Raises CalledProcessError."""
        done = subprocess.run(["pactl", *args], env=self.env, capture_output=True, text=True, timeout=10, check=True)
        return done.stdout.strip()

    def echo(self, latency_ms: int = 30) -> str:
        """Feed what the speaker plays back into the microphone, as a loudspeaker next to it does
        (``module-loopback``); returns the module's index for ``pactl unload-module``."""
        return self.pactl(
            "load-module", "module-loopback", "source=speaker.monitor", "sink=mic_in", f"latency_msec={latency_ms}"
        )

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL after 5 s)."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self.process = None
        if self.log is not None:
            self.log.close()


class Recorder:
    """Records the ``speaker`` sink's monitor (what the speaker played) with ``parecord``, PCM16 24 kHz mono."""

    def __init__(self, server: PulseServer) -> None:
        self._process = subprocess.Popen(
            ["parecord", "--raw", "--device=speaker.monitor", "--channels=1", f"--rate={RATE}", "--format=s16le",
             "--latency-msec=10"],
            env=server.env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        self._chunks: list[tuple[float, bytes]] = []
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        assert self._process.stdout is not None
        fd = self._process.stdout.fileno()
        while True:
            data = os.read(fd, 4800)
            if not data:
                return
            with self._lock:
                self._chunks.append((time.monotonic(), data))

    def stop(self) -> None:
        """Stop recording."""
        self._process.terminate()
        self._process.wait(5)
        self._thread.join(5)

    def samples(self) -> tuple[np.ndarray, float]:
        """The samples so far (float, full scale 32768) and the monotonic time of sample 0: the earliest any chunk
        could have been captured, ``min(arrival - end / rate)`` (a sample is never placed before it sounded)."""
        with self._lock:
            chunks = list(self._chunks)
        pcm = b"".join(data for _, data in chunks)
        pcm = pcm[: len(pcm) // 2 * 2]
        end, starts = 0, []
        for arrived, data in chunks:
            end += len(data) // 2
            starts.append(arrived - end / RATE)
        return np.frombuffer(pcm, dtype="<i2").astype(np.float64), (min(starts) if starts else time.monotonic())


def frame_levels(samples: np.ndarray, frame_ms: int = 10) -> np.ndarray:
    """RMS level of each ``frame_ms`` frame in dBFS (-120 for digital silence)."""
    size = RATE * frame_ms // 1000
    count = len(samples) // size
    frames = samples[: count * size].reshape(count, size)
    rms = np.sqrt((frames**2).mean(axis=1)) / 32768.0
    result: np.ndarray = 20 * np.log10(np.maximum(rms, 1e-6))
    return result


def frame_sounding(samples: np.ndarray, frame_ms: int = 10) -> np.ndarray:
    """For each ``frame_ms`` frame: does any sample differ from digital silence (0)? A null sink plays exact zeros
    when nothing plays into it, so this finds the first and last sample of a sound, quiet ends included."""
    size = RATE * frame_ms // 1000
    count = len(samples) // size
    result: np.ndarray = np.abs(samples[: count * size].reshape(count, size)).max(axis=1) > 0
    return result
