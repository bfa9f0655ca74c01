"""The local engine's own settings, read from the environment (and ``.env``) with pydantic-settings.

Variables (all optional):

- ``LOCAL_ASR_MODEL``: a CTranslate2 Whisper model directory (default: the bundled tiny.en, hash-checked);
- ``LOCAL_TTS``: ``piper`` (default; falls back to espeak-ng) or ``espeak``;
- ``LOCAL_LLM_BASE_URL``, ``LOCAL_LLM_MODEL``, ``LOCAL_LLM_API_KEY``: an OpenAI-compatible chat completions
  endpoint (Ollama, llama.cpp server, vLLM), its model and key; unset: the built-in offline responder.

The engine is a separate program: it reads these and nothing of the client's settings.
"""

from __future__ import annotations

from typing import Literal

from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["EngineSettings"]


class EngineSettings(BaseSettings):
    """Settings of the local engine (``LOCAL_*`` environment variables, see the module docstring)."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    local_asr_model: str | None = None
    local_tts: Literal["piper", "espeak"] = "piper"
    local_llm_base_url: str | None = None
    local_llm_model: str | None = None
    local_llm_api_key: SecretStr | None = None
