"""Settings (environment and ``.env``) and the per-session options the user can change.

Every setting is documented in ``.env.example``. Keys are :class:`pydantic.SecretStr`, so they never show in a
``repr``, a log line or an error message.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from realtime.model_lifecycle import DEFAULT_REALTIME_MODEL, DEFAULT_TRANSCRIPTION_MODEL, accepts_reasoning
from realtime.protocol import (
    SAMPLE_RATE,
    AudioConfig,
    AudioFormat,
    AudioInputConfig,
    AudioOutputConfig,
    Dialect,
    FunctionTool,
    InputTranscription,
    Reasoning,
    ReasoningEffort,
    SessionConfig,
    TurnDetection,
)

__all__ = [
    "DEFAULT_INSTRUCTIONS",
    "DEFAULT_LIVE_BACKEND_MODEL",
    "ProviderName",
    "SessionOptions",
    "Settings",
    "TurnMode",
    "VoiceProtocol",
]

ProviderName = Literal["openai", "azure", "local"]
VoiceProtocol = Literal["live", "realtime"]
"""``realtime``: the Realtime API (``/v1/realtime``); ``live``: GPT-Live (``/v1/live/sessions``)."""

DEFAULT_LIVE_BACKEND_MODEL = "gpt-5.6-luna"
"""The Responses model GPT-Live delegates tool work to: the one OpenAI's GPT-Live delegation guide uses in its
examples (developers.openai.com, guides/live-delegation, ``delegation.responses.model``)."""
TurnMode = Literal["server_vad", "semantic_vad", "push_to_talk"]

DEFAULT_INSTRUCTIONS = (
    "You are a helpful, friendly voice assistant. Keep answers short and conversational: one to three "
    "sentences unless asked for more. Use the tools you have when they help, and say what you found."
)


class Settings(BaseSettings):
    """All configuration, read from the environment and ``.env`` (environment wins). Names are case-insensitive
    env var names, e.g. ``OPENAI_API_KEY``."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    # Which backend. Unset: openai if OPENAI_API_KEY, else azure if AZURE_OPENAI_ENDPOINT, else local.
    realtime_provider: ProviderName | None = None
    realtime_dialect: Dialect | None = None
    # Which voice protocol. Unset: by model (OpenAI model / Azure deployment named gpt-live-* speaks GPT-Live,
    # anything else Realtime; the local engine: Realtime).
    voice_protocol: VoiceProtocol | None = None
    # GPT-Live: the Responses model that runs delegated work (tools), and OpenAI's hosted web_search tool there.
    live_backend_model: str = DEFAULT_LIVE_BACKEND_MODEL
    live_hosted_web_search: bool = False

    openai_api_key: SecretStr | None = None
    openai_realtime_model: str = DEFAULT_REALTIME_MODEL
    openai_base_url: str = "wss://api.openai.com/v1"

    azure_openai_endpoint: str | None = None
    azure_openai_deployment: str | None = None
    azure_openai_api_key: SecretStr | None = None
    azure_openai_api_version: str | None = None
    azure_openai_token_scope: str = "https://cognitiveservices.azure.com/.default"

    # An already running local engine (python -m local_engine); unset: the app starts one in-process.
    local_engine_url: str | None = None
    # The local engine's speech stages: another faster-whisper model directory; piper or espeak for speech.
    local_asr_model: str | None = None
    local_tts: Literal["piper", "espeak"] = "piper"
    # The local engine's replies: an OpenAI-compatible chat completions server (Ollama http://127.0.0.1:11434/v1,
    # llama.cpp server, vLLM) and its model; unset: the built-in offline responder (local_engine.replies).
    local_llm_base_url: str | None = None
    local_llm_model: str | None = None
    local_llm_api_key: SecretStr | None = None

    # Defaults of every new session (users change them in the chat settings).
    realtime_voice: str = "alloy"
    realtime_instructions: str = DEFAULT_INSTRUCTIONS
    realtime_turn_detection: TurnMode = "semantic_vad"
    realtime_transcription_model: str | None = DEFAULT_TRANSCRIPTION_MODEL
    # session.reasoning.effort, sent only to reasoning models (realtime.model_lifecycle); unset: the model's default.
    realtime_reasoning_effort: ReasoningEffort | None = None
    # Renew the session this many seconds after connecting, ahead of the provider's cap (GA: 60 min).
    realtime_session_renew_s: float = Field(default=55 * 60, gt=0)
    # How the client bounds a connection (realtime.client): seconds to wait for session.created after the
    # handshake; seconds without any server event while an answer is expected; the reconnect policy (failed
    # attempts in a row before it gives up, first and longest delay, and how long a connection must stay up to
    # count as healthy again).
    realtime_session_timeout_s: float = Field(default=15.0, gt=0)
    realtime_response_timeout_s: float = Field(default=60.0, gt=0)
    realtime_reconnect_attempts: int = Field(default=6, ge=0)
    realtime_reconnect_base_s: float = Field(default=0.5, ge=0)
    realtime_reconnect_max_s: float = Field(default=15.0, ge=0)
    realtime_healthy_after_s: float = Field(default=10.0, ge=0)

    # Chainlit's sign-in secret: read here only so the one redactor (realtime.redaction) knows it.
    chainlit_auth_secret: SecretStr | None = None

    tools_enabled: str | None = None
    tavily_api_key: SecretStr | None = None
    tavily_base_url: str | None = None
    tool_timeout_s: float = Field(default=15.0, gt=0)

    @field_validator("realtime_reasoning_effort", mode="before")
    @classmethod
    def _empty_effort_is_default(cls, value: Any) -> Any:
        return (value.strip().lower() or None) if isinstance(value, str) else value

    def tool_options(self) -> dict[str, Any]:
        """Keyword arguments for ``tools.build_registry`` from these settings (so ``.env`` values count too)."""
        return {
            "enabled": self.tools_enabled,
            "tavily_api_key": self.tavily_api_key.get_secret_value() if self.tavily_api_key else "",
            "tavily_base_url": self.tavily_base_url,
            "timeout_s": self.tool_timeout_s,
        }

    def provider_name(self) -> ProviderName:
        """The provider in use: ``REALTIME_PROVIDER``, else inferred from which credentials are set."""
        if self.realtime_provider:
            return self.realtime_provider
        if self.openai_api_key and self.openai_api_key.get_secret_value():
            return "openai"
        if self.azure_openai_endpoint:
            return "azure"
        return "local"

    def realtime_model(self) -> str:
        """The model the provider runs: ``OPENAI_REALTIME_MODEL``, the Azure deployment's name, or ``local``."""
        name = self.provider_name()
        if name == "openai":
            return self.openai_realtime_model
        return (self.azure_openai_deployment or "") if name == "azure" else "local"

    def protocol(self) -> VoiceProtocol:
        """The voice protocol in use: ``VOICE_PROTOCOL``, else ``live`` when the model (OpenAI) or deployment
        (Azure) is named ``gpt-live-*``, else ``realtime`` (always for the local engine when unset)."""
        if self.voice_protocol:
            return self.voice_protocol
        model = self.realtime_model() if self.provider_name() != "local" else ""
        return "live" if model.lower().startswith("gpt-live") else "realtime"

    def default_session_options(self) -> SessionOptions:
        """The :class:`SessionOptions` of a new session, from these settings."""
        return SessionOptions(
            voice=self.realtime_voice,
            instructions=self.realtime_instructions,
            turn_detection=self.realtime_turn_detection,
            transcription_model=self.realtime_transcription_model or None,
            model=self.realtime_model(),
            reasoning_effort=self.realtime_reasoning_effort,
        )


class SessionOptions(BaseModel):
    """What a user can change on a live session (Chainlit's chat settings map onto these)."""

    instructions: str = DEFAULT_INSTRUCTIONS
    voice: str = "alloy"
    turn_detection: TurnMode = "semantic_vad"
    transcription_model: str | None = DEFAULT_TRANSCRIPTION_MODEL
    """Input transcription model; ``None`` turns transcription of the user's audio off."""
    output_modalities: list[Literal["text", "audio"]] = Field(default_factory=lambda: ["audio"])  # type: ignore[arg-type]
    model: str = ""
    """The realtime model (or Azure deployment) the session runs on: only reasoning models
    (``realtime.model_lifecycle.accepts_reasoning``) get ``reasoning`` and ``parallel_tool_calls``."""
    reasoning_effort: ReasoningEffort | None = None
    """``session.reasoning.effort`` for a reasoning model; ``None``: the model's default. Ignored for other models."""

    def to_session_config(self, tools: list[dict[str, Any]] | None = None) -> SessionConfig:
        """The GA ``session.update`` session object: 24 kHz PCM16 in and out, the chosen turn detection
        (``push_to_talk`` sends ``turn_detection: null``), and the tools' function definitions. A reasoning
        :attr:`model` also gets ``reasoning.effort`` (when :attr:`reasoning_effort` is set) and, with tools,
        ``parallel_tool_calls: true`` (the client runs every call of a response, then sends one
        ``response.create``); any other model gets neither field."""
        if self.turn_detection == "push_to_talk":
            turn: TurnDetection | None = None
        elif self.turn_detection == "semantic_vad":
            turn = TurnDetection(type="semantic_vad", eagerness="auto", create_response=True, interrupt_response=True)
        else:
            turn = TurnDetection(
                type="server_vad",
                threshold=0.5,
                prefix_padding_ms=300,
                silence_duration_ms=500,
                create_response=True,
                interrupt_response=True,
            )
        pcm = AudioFormat(type="audio/pcm", rate=SAMPLE_RATE)
        transcription = InputTranscription(model=self.transcription_model) if self.transcription_model else None
        extra: dict[str, Any] = {}
        if accepts_reasoning(self.model):
            if self.reasoning_effort:
                extra["reasoning"] = Reasoning(effort=self.reasoning_effort)
            if tools:
                extra["parallel_tool_calls"] = True
        return SessionConfig(
            **extra,
            instructions=self.instructions,
            output_modalities=list(self.output_modalities),
            audio=AudioConfig(
                input=AudioInputConfig(format=pcm, transcription=transcription, turn_detection=turn),
                output=AudioOutputConfig(format=pcm, voice=self.voice),
            ),
            tools=[FunctionTool.model_validate(t) for t in (tools or [])],
            tool_choice="auto",
        )
