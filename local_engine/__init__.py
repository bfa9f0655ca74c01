"""The embedded local engine: a server of the Realtime and GPT-Live protocols over offline models.

    python -m local_engine --host 127.0.0.1 --port 8765
    # GA:      ws://127.0.0.1:8765/v1/realtime?model=gpt-realtime
    # preview: ws://127.0.0.1:8765/openai/realtime?api-version=2025-04-01-preview&deployment=local

Stages (``local_engine.stages``): Silero VAD v6 (ONNX, shipped in the faster-whisper wheel) for turn detection,
faster-whisper with Whisper tiny.en for speech recognition, a reply generator (an OpenAI-compatible chat
completions endpoint when ``LOCAL_LLM_BASE_URL`` is set, else the built-in offline responder) and Piper (its own
process; espeak-ng as the fallback) for speech. README.md ("The local engine") has the measurements behind
these choices. Settings: :class:`local_engine.config.EngineSettings`.
"""

from __future__ import annotations

import asyncio
import logging
import os
from typing import TYPE_CHECKING

# CTranslate2 (Whisper) runs on OpenMP threads, which by default spin for a while after each parallel region and
# so hold both cores just when Piper and Silero need them, at the end of a turn. Passive threads sleep
# at once (bench.local_latency, semantic_vad: speech_stopped to first audio 124 -> 49 ms, median). Set before
# anything loads the OpenMP runtime; a value from the environment wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
# ONNX Runtime's Linux builds (Silero, Piper) keep a device id and a queue of usage events under
# ~/.cache/Microsoft/DeveloperTools and upload them (its 1DS telemetry); an offline engine sends nothing. The
# Piper process inherits it. A value from the environment wins.
os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")

from local_engine.runner import EngineSession, EngineStages
from local_engine.server import LocalRealtimeServer

if TYPE_CHECKING:
    from local_engine.config import EngineSettings

__all__ = ["EngineSession", "EngineStages", "LocalRealtimeServer", "load_stages"]

log = logging.getLogger(__name__)

_loaded: EngineStages | None = None
_lock = asyncio.Lock()


async def load_stages(settings: EngineSettings | None = None) -> EngineStages:
    """Load the models once per process (off the event loop) and warm them up; later calls return the same.

    Raises :class:`local_engine.models.ModelError` when a model file is missing or fails its sha256 check.
    """
    global _loaded
    async with _lock:
        if _loaded is None:
            _loaded = await _load(settings)
        return _loaded


async def _load(settings: EngineSettings | None) -> EngineStages:
    from local_engine.asr import WhisperTranscriber
    from local_engine.config import EngineSettings
    from local_engine.models import whisper_model_dir
    from local_engine.replies import build_reply_generator
    from local_engine.tts import load_synthesizer
    from local_engine.turn import EAGERNESS, SemanticVadStream
    from local_engine.vad import SileroVad, SileroVadStream

    settings = settings or EngineSettings()
    vad_model = await asyncio.to_thread(SileroVad.shared)
    model_dir = whisper_model_dir(settings.local_asr_model)
    transcriber = await asyncio.to_thread(WhisperTranscriber, model_dir)
    synthesizer = await load_synthesizer(settings.local_tts)
    key = settings.local_llm_api_key.get_secret_value() if settings.local_llm_api_key else None
    replies = build_reply_generator(settings.local_llm_base_url, settings.local_llm_model, key)
    await asyncio.gather(transcriber.warm_up(), synthesizer.warm_up())
    log.info("local engine ready: Whisper at %s, %s speech, replies by the %s", model_dir.name,
             type(synthesizer).__name__, replies.label)  # fmt: skip

    def vad(threshold: float, prefix_padding_ms: int, silence_duration_ms: int) -> SileroVadStream:
        return SileroVadStream(vad_model, threshold, prefix_padding_ms, silence_duration_ms)

    def semantic_vad(eagerness: str, threshold: float, prefix_padding_ms: int) -> SemanticVadStream:
        return SemanticVadStream(vad_model, eagerness if eagerness in EAGERNESS else "auto", threshold=threshold,
                                 prefix_padding_ms=prefix_padding_ms)  # fmt: skip

    return EngineStages(
        vad=vad, transcriber=transcriber, synthesizer=synthesizer, replies=replies, semantic_vad=semantic_vad
    )
