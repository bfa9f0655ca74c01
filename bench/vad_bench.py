"""CPU time of the local engine's voice activity detection: Silero VAD per 8192-byte chunk (4096 samples = 171 ms
of PCM16 24 kHz).

Run: ``python -m bench.vad_bench``. Prints microseconds per chunk for speech, silence and noise (the engine calls
``SileroVadStream.feed`` on the event loop for every ``input_audio_buffer.append``).
"""

from __future__ import annotations

import time

from local_engine.vad import SileroVad, SileroVadStream
from tests.audio import noise, silence, speak_pcm

CHUNK = 8192  # bytes


def per_chunk_us(audio: bytes, repeats: int = 5) -> float:
    model = SileroVad.shared()
    chunks = [audio[i : i + CHUNK] for i in range(0, len(audio) - CHUNK + 1, CHUNK)]
    best = float("inf")
    for _ in range(repeats):
        stream = SileroVadStream(model)
        start = time.perf_counter()
        for chunk in chunks:
            stream.feed(chunk)
        best = min(best, (time.perf_counter() - start) / len(chunks))
    return best * 1e6


def main() -> None:
    SileroVad.shared()
    speech = b"".join(speak_pcm(t) for t in ("What time is it in Paris right now?", "Tell me a joke about cats."))
    print(f"VAD speech : {per_chunk_us(speech * 3):7.0f} us per {CHUNK}-byte chunk (171 ms of audio)")
    print(f"VAD silence: {per_chunk_us(silence(10_000)):7.0f} us per {CHUNK}-byte chunk")
    print(f"VAD noise  : {per_chunk_us(noise(10_000, -40.0)):7.0f} us per {CHUNK}-byte chunk")


if __name__ == "__main__":
    main()
