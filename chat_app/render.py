"""Words for people: the status line, the service's errors, token usage and latency.

Pure functions of the core's values (no Chainlit), so they are tested alone. Every text that may quote the service
or an exception goes through :func:`redact` (the one redactor, ``realtime.redaction``) first.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from realtime import redaction
from realtime.config import Settings
from realtime.redaction import secret_values

__all__ = [
    "Stats",
    "describe_error",
    "describe_provider",
    "describe_tools",
    "format_duration",
    "format_latency",
    "redact",
    "secrets_of",
    "set_model_notices",
]

_ERROR_TEXT: dict[str, str] = {
    "invalid_api_key": "The service did not accept the API key. Check OPENAI_API_KEY (or AZURE_OPENAI_API_KEY).",
    "authentication_error": "The service did not accept the credentials. Check the API key or the Entra ID sign-in.",
    "insufficient_quota": "The account has run out of quota. Check the plan and billing of the provider.",
    "rate_limit_exceeded": "Too many requests right now: the provider's rate limit was reached. Try again shortly.",
    "session_expired": "The session reached the provider's time limit; a new one is being started.",
    "model_not_found": "The model or deployment was not found. Check OPENAI_REALTIME_MODEL or AZURE_OPENAI_DEPLOYMENT.",
    "beta_api_shape_disabled": "The provider no longer accepts the preview (beta) protocol. Unset REALTIME_DIALECT.",
    "input_audio_buffer_commit_empty": "Nothing was recorded. Keep the microphone on while you speak (at least a "
    "moment) before you stop it.",
    "server_error": "The service had an internal error. Try again.",
}


def secrets_of(settings: Settings) -> list[str]:
    """The non-empty secret values held by ``settings`` (every :class:`SecretStr` field)."""
    return secret_values(settings)


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` through the one redactor (``realtime.redaction``): the process's secrets and ``secrets``."""
    return redaction.redact(text, secrets)


def describe_error(code: str | None, message: str, *, fatal: bool = False, retryable: bool = False) -> str:
    """One or two sentences for a person about a service error (``code`` as in the Realtime ``error`` event; the
    session classified it as ``fatal`` or ``retryable``, ``realtime.session.classify_error``): the words only."""
    text = _ERROR_TEXT.get(code or "")
    if text is None:
        detail = message.strip() or "no details given"
        text = f"The voice service reported a problem: {detail}"
        if not text.endswith((".", "!", "?")):
            text += "."
    if fatal:
        text += " The conversation cannot go on; fix the setting and start a new chat."
    elif retryable and code not in _ERROR_TEXT:
        text += " Try again in a moment."
    return text


_model_notices: list[str] = []  # the process's configured models: set once at app start


def set_model_notices(lines: Iterable[str]) -> None:
    """Lines about the configured models (``realtime.model_lifecycle.notice_lines``: one shutting down within 90
    days, or gone) that every chat's status shows under the provider. Set at app start; empty: nothing shown."""
    _model_notices[:] = [str(line) for line in lines]


def describe_provider(provider_name: str, label: str) -> str:
    """What the status says about the backend: the provider and model, and for the local engine what it is and
    how to connect a cloud model instead; then the model notices (:func:`set_model_notices`) of a cloud model."""
    if provider_name == "local":
        return (
            f"**{label}**: runs on this machine, no key needed. It hears you, writes down what you said and "
            "speaks, but its built-in replies are not a language model's. For real answers set `OPENAI_API_KEY` "
            "(or `AZURE_OPENAI_ENDPOINT` and `AZURE_OPENAI_DEPLOYMENT`) in `.env` and restart the app."
        )
    return "\n\n".join([f"**{label}**", *_model_notices])


def describe_tools(names: Iterable[str], disabled: Mapping[str, str]) -> str:
    """``Tools: a, b. web_search is off: TAVILY_API_KEY is not set.`` (empty string when there is nothing)."""
    names = list(names)
    parts = []
    if names:
        parts.append("Tools: " + ", ".join(f"`{n}`" for n in names) + ".")
    for name, reason in disabled.items():
        parts.append(f"`{name}` is off: {reason}.")
    return " ".join(parts)


def format_latency(ms: float | None) -> str:
    """``540 ms`` under a second, ``1.25 s`` above; ``n/a`` for None."""
    if ms is None:
        return "n/a"
    return f"{ms:.0f} ms" if ms < 1000 else f"{ms / 1000:.2f} s"


def _tokens(usage: Mapping[str, Any] | None) -> int:
    if not usage:
        return 0
    total = usage.get("total_tokens")
    if isinstance(total, int):
        return total
    return int(usage.get("input_tokens") or 0) + int(usage.get("output_tokens") or 0)


@dataclass
class Stats:
    """Token, voice-time and latency figures of one chat: tokens from the ``response.done`` usage objects (Realtime
    API reference, ``response.done``: ``usage.total_tokens``, ``input_tokens``, ``output_tokens``), voice seconds
    from GPT-Live's ``session.usage.updated`` (cumulative per session: ``usage.seconds``)."""

    turns: int = 0
    total_tokens: int = 0
    last_tokens: int = 0
    last_latency_ms: float | None = None
    latencies_ms: list[float] = field(default_factory=list)
    tokens_seen: bool = False
    """A response reported token usage (Realtime does; GPT-Live's voice turns do not)."""
    voice_seconds_done: float = 0.0
    """Voice seconds of this chat's earlier sessions (a GPT-Live chat opens a new one on expiry or reconnect)."""
    voice_seconds_now: float | None = None
    """Voice seconds of the current session so far; ``None`` until a usage event came (Realtime never sends one)."""

    def add(self, usage: Mapping[str, Any] | None, latency_ms: float | None) -> int:
        """Count one finished response; returns its token count."""
        tokens = _tokens(usage)
        self.tokens_seen = self.tokens_seen or usage is not None
        self.turns += 1
        self.total_tokens += tokens
        self.last_tokens = tokens
        self.last_latency_ms = latency_ms
        if latency_ms is not None:
            self.latencies_ms.append(latency_ms)
        return tokens

    def voice(self, seconds: float) -> None:
        """The current session's cumulative voice seconds (a smaller figure than before means a new session)."""
        if self.voice_seconds_now is not None and seconds < self.voice_seconds_now:
            self.voice_seconds_done += self.voice_seconds_now
        self.voice_seconds_now = seconds

    def line(self) -> str:
        """``Last turn: 540 ms to first answer, 321 tokens · this chat: 2 turns, 1,234 tokens``; without token usage
        (GPT-Live, billed by the second) ``Last turn: 540 ms to first answer · this chat: 2 turns, 1 min 5 s of
        voice`` (the voice time once the service reported it); empty before any."""
        voice = None if self.voice_seconds_now is None else self.voice_seconds_done + self.voice_seconds_now
        if not self.turns:
            return f"{format_duration(voice)} of voice" if voice is not None else ""
        last = f"Last turn: {format_latency(self.last_latency_ms)} to first answer"
        turns = f"this chat: {self.turns} {'turn' if self.turns == 1 else 'turns'}"
        if self.tokens_seen:
            return f"{last}, {self.last_tokens:,} tokens · {turns}, {self.total_tokens:,} tokens"
        return f"{last} · {turns}" + (f", {format_duration(voice)} of voice" if voice is not None else "")


def format_duration(seconds: float) -> str:
    """``45 s``, ``1 min 5 s``, ``1 h 2 min``."""
    whole = round(seconds)
    if whole < 60:
        return f"{whole} s"
    if whole < 3600:
        return f"{whole // 60} min {whole % 60} s"
    return f"{whole // 3600} h {whole % 3600 // 60} min"
