"""CPU time of the local engine's turn detection: Silero VAD per 8192-byte chunk (4096 samples = 171 ms of PCM16
24 kHz), and one Smart Turn v3.2 decision (an 8 s window: log-mel features, then the model).

Run: ``python -m bench.vad_bench``. Prints microseconds per chunk for speech and for silence (the engine calls
``SileroVadStream.feed`` on the event loop for every ``input_audio_buffer.append``), and the median ms of a
Smart Turn decision (``semantic_vad`` runs one at each pause check, on a worker thread).
"""

from __future__ import annotations

import time

import numpy as np

from local_engine.turn import WINDOW, SmartTurn, fit_window, log_mel_features
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
    turn = SmartTurn.shared()
    audio = np.random.default_rng(0).normal(0.0, 0.1, WINDOW).astype(np.float32)
    features, decisions = [], []
    for _ in range(10):
        start = time.perf_counter()
        log_mel_features(fit_window(audio))
        features.append((time.perf_counter() - start) * 1000)
        start = time.perf_counter()
        turn.probability(audio)
        decisions.append((time.perf_counter() - start) * 1000)
    print(f"Smart Turn : {np.median(decisions):7.1f} ms per decision, of which features {np.median(features):.1f} ms")


if __name__ == "__main__":
    main()
