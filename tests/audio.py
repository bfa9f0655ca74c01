"""Test audio made at test time: speech from espeak-ng (resampled by sox with -R: the same text gives the same audio,
run after run, so a failure repeats with its seed), silence and low noise.

All PCM is 16-bit little-endian mono at 24000 Hz (48 bytes per ms), the Realtime API's ``audio/pcm``.
"""

from __future__ import annotations

import functools
import re
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import soundfile

__all__ = ["BYTES_PER_MS", "RATE", "noise", "silence", "speak_pcm", "speak_wav"]

RATE = 24_000
BYTES_PER_MS = RATE * 2 // 1000


def speak_wav(text: str, path: Path | str, rate: int = RATE, *, words_per_minute: int = 150) -> Path:
    """Write ``text`` spoken by espeak-ng (en-us) to ``path`` as a 16-bit mono WAV at ``rate`` Hz (via sox).
    Raises :class:`subprocess.CalledProcessError` when either tool fails."""
    path = Path(path)
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "raw.wav"
        subprocess.run(
            ["espeak-ng", "-v", "en-us", "-s", str(words_per_minute), "-w", str(raw), "--", text],
            check=True,
            capture_output=True,
        )
        subprocess.run(
            ["sox", "-R", str(raw), "-r", str(rate), "-c", "1", "-b", "16", "-e", "signed-integer", str(path)],
            check=True,
            capture_output=True,
        )
    return path


@functools.cache
def speak_pcm(text: str) -> bytes:
    """``text`` spoken by espeak-ng as PCM16 24 kHz mono bytes (cached per process)."""
    with tempfile.TemporaryDirectory() as tmp:
        wav = speak_wav(text, Path(tmp) / "speech.wav")
        data, rate = soundfile.read(wav, dtype="int16")
    assert rate == RATE
    return np.asarray(data, dtype="<i2").tobytes()


def silence(ms: int) -> bytes:
    """``ms`` of digital silence as PCM16 24 kHz bytes."""
    return bytes(ms * BYTES_PER_MS)


def noise(ms: int, level_dbfs: float = -50.0, seed: int = 0) -> bytes:
    """``ms`` of white noise at ``level_dbfs`` RMS (dB relative to full scale) as PCM16 24 kHz bytes."""
    rng = np.random.default_rng(seed)
    rms = 32768.0 * 10 ** (level_dbfs / 20)
    samples = rng.normal(0.0, rms, ms * RATE // 1000)
    return np.clip(samples, -32768, 32767).astype("<i2").tobytes()


def words(text: str) -> list[str]:
    """Lower-cased words without punctuation (apostrophes inside words kept)."""
    return re.findall(r"[a-z0-9]+(?:'[a-z]+)?", text.lower())


def word_errors(reference: Sequence[str], hypothesis: Sequence[str]) -> int:
    """Levenshtein distance over words: substitutions + deletions + insertions."""
    row = list(range(len(hypothesis) + 1))
    for i, ref in enumerate(reference, 1):
        prev_diag, row[0] = row[0], i
        for j, hyp in enumerate(hypothesis, 1):
            prev_diag, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev_diag + (ref != hyp))
    return row[-1]
