"""Piper text-to-speech in a process of its own (piper-tts is GPL-3.0+; this program only talks over pipes).

Usage: ``python -m local_engine._piper_worker MODEL.onnx CONFIG.json [THREADS [URGENT_THREADS]]``

``THREADS``: onnxruntime intra-op threads for the voice (default 1: one synthesis takes one core, so the other
core stays free for recognition and for other sessions). ``URGENT_THREADS`` (default: ``THREADS``): threads of a
second session of the same voice for urgent requests, the first clause of a sentence that a listener waits for
(two threads: "I heard:" in 43 ms instead of 71 on a 2-core machine; onnxruntime's threads spin while they wait
for work, and without that it took 69 ms).

stdin, one JSON object per line:
    ``{"id": N, "text": "...", "length_scale": 1.0, "urgent": true}``  synthesize ``text`` (requests are served
                                  in order, one at a time); ``length_scale`` (optional, > 0): Piper's phoneme
                                  length scale (< 1 faster, > 1 slower); ``urgent`` (optional): on the
                                  ``URGENT_THREADS`` session;
    ``{"cancel": N}``             stop request ``N`` at the next sentence boundary (or skip it if not started).
stdout, binary frames: a header ``<I i`` (request id uint32, length int32), then the payload:
    length > 0: that many bytes of PCM16 little-endian mono at the voice's rate (22050 Hz for "joe");
    length = 0: the request is finished (always sent, also after a cancel or an error);
    length < 0: an error message of ``-length`` bytes of UTF-8 (then the finishing frame).
On start, after the voice has loaded, the worker sends a ready frame: id 0, length = the sample rate in Hz.
A failed load writes the reason to stderr and exits with status 2. End of stdin ends the worker.
"""

from __future__ import annotations

import json
import queue
import struct
import sys
import threading
from typing import BinaryIO

HEADER = struct.Struct("<Ii")  # request id, payload length (0: end, < 0: error message)


class _Requests:
    """Requests read from stdin by a thread, so cancels arrive while a request is being synthesized."""

    def __init__(self, stream: BinaryIO) -> None:
        self.queue: queue.Queue[tuple[int, str, float | None, bool] | None] = queue.Queue()
        self.cancelled: set[int] = set()
        self._lock = threading.Lock()
        threading.Thread(target=self._read, args=(stream,), daemon=True).start()

    def _read(self, stream: BinaryIO) -> None:
        for raw in stream:
            try:
                message = json.loads(raw)
                if "cancel" in message:
                    with self._lock:
                        self.cancelled.add(int(message["cancel"]))
                else:
                    scale = message.get("length_scale")
                    length_scale = float(scale) if scale is not None and 0.1 <= float(scale) <= 10 else None
                    urgent = bool(message.get("urgent", False))
                    self.queue.put((int(message["id"]), str(message["text"]), length_scale, urgent))
            except (ValueError, KeyError, TypeError) as exc:
                print(f"piper worker: bad request line ignored: {exc}", file=sys.stderr, flush=True)
        self.queue.put(None)

    def is_cancelled(self, request_id: int) -> bool:
        with self._lock:
            return request_id in self.cancelled

    def forget(self, request_id: int) -> None:
        with self._lock:
            self.cancelled.discard(request_id)


def _send(out: BinaryIO, request_id: int, payload: bytes = b"", *, error: bool = False) -> None:
    length = -len(payload) if error else len(payload)
    out.write(HEADER.pack(request_id, length) + payload)
    out.flush()


def main(argv: list[str]) -> int:
    if len(argv) not in (2, 3, 4):
        print("usage: python -m local_engine._piper_worker MODEL.onnx CONFIG.json [THREADS [URGENT_THREADS]]",
              file=sys.stderr)  # fmt: skip
        return 2
    threads = int(argv[2]) if len(argv) >= 3 else 1
    urgent_threads = int(argv[3]) if len(argv) == 4 else threads
    out = sys.stdout.buffer
    sys.stdout = sys.stderr  # nothing but frames may reach the real stdout
    try:
        import onnxruntime
        from piper import PiperVoice, SynthesisConfig

        voice = PiperVoice.load(argv[0], config_path=argv[1])

        def session(count: int) -> onnxruntime.InferenceSession:
            options = onnxruntime.SessionOptions()
            options.intra_op_num_threads = count
            options.inter_op_num_threads = 1
            return onnxruntime.InferenceSession(argv[0], sess_options=options, providers=["CPUExecutionProvider"])

        steady = session(threads)
        urgent = session(urgent_threads) if urgent_threads != threads else steady
    except Exception as exc:
        print(f"piper worker: cannot load the voice: {exc!r}", file=sys.stderr, flush=True)
        return 2
    out.write(HEADER.pack(0, int(voice.config.sample_rate)))  # ready
    out.flush()

    requests = _Requests(sys.stdin.buffer)
    while (request := requests.queue.get()) is not None:
        request_id, text, length_scale, is_urgent = request
        voice.session = urgent if is_urgent else steady
        try:
            if not requests.is_cancelled(request_id):
                config = SynthesisConfig(length_scale=length_scale)
                for chunk in voice.synthesize(text, config):  # one chunk per sentence
                    if requests.is_cancelled(request_id):
                        break
                    _send(out, request_id, chunk.audio_int16_bytes)
        except BrokenPipeError:
            return 0
        except Exception as exc:
            _send(out, request_id, f"piper failed: {exc!r}".encode(), error=True)
        _send(out, request_id)
        requests.forget(request_id)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
