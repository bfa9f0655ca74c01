"""The local engine's settings: ``LOCAL_*`` variables from the environment and ``.env`` (environment wins).

The engine is a separate program; it reads its own settings here, not the client's (``realtime.config``).
Every setting is documented in ``.env.example``.
"""

from __future__ import annotations

from typing import Literal

from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["EngineSettings"]


class EngineSettings(BaseSettings):
    """What the engine's stages are made of. Names are case-insensitive env var names, e.g. ``LOCAL_TTS``."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    # Another faster-whisper model directory for speech recognition (default: the shipped Whisper tiny.en).
    local_asr_model: str | None = None
    # Speech: Piper (its own process), or espeak-ng.
    local_tts: Literal["piper", "espeak"] = "piper"
    # Replies from an OpenAI-compatible chat completions server (Ollama http://127.0.0.1:11434/v1, llama.cpp
    # server, vLLM) and its model; unset: the built-in offline responder.
    local_llm_base_url: str | None = None
    local_llm_model: str | None = None
    local_llm_api_key: SecretStr | None = None
    # GPT-Live sessions: lifetime in seconds (expires_at; then session.closed with reason "expired"), and whether
    # silent output audio is sent while the model is not speaking (as the hosted service does).
    local_live_session_s: float = 7200.0
    local_live_silence: bool = True
