"""Which OpenAI models reason, which shut down when, and a check of the configured models at start.

Sources:

- Reasoning models: the ``openai`` package 3.57.0, ``openai/types/realtime/realtime_session_create_request.py``
  (``reasoning`` and ``parallel_tool_calls``: "only supported by reasoning Realtime models such as
  ``gpt-realtime-2``"), and OpenAI's model pages (developers.openai.com/api/docs/models/gpt-realtime-2,
  ``gpt-realtime-2.1``, ``gpt-realtime-2.1-mini``: "Reasoning model with tool use", configurable reasoning effort).
  ``gpt-realtime``, ``gpt-realtime-1.5`` and ``gpt-realtime-mini`` do not reason and get neither field.
- Shutdown dates: the ``openai`` package 3.57.0 (``realtime_session_create_request.py``, ``audio_transcription.py``:
  "Announced shutdown date"). Replacements: OpenAI's deprecations page
  (https://developers.openai.com/api/docs/deprecations) lists one per model; ``gpt-realtime-2.1`` for
  ``gpt-realtime`` is also the default model of the ``openai-agents`` package 0.24.0
  (``agents/realtime/openai_realtime.py``).
- Live dates: ``GET /v1/models/{model}`` answers a model object whose ``shutdown_date`` is ``YYYY-MM-DD`` or null
  (``openai/types/model.py``; the deprecations page says to monitor shutdowns through this field). It wins over
  :data:`KNOWN_SHUTDOWNS`, which is the fallback when the endpoint gives no date.

:func:`assess` is pure (a lookup and today's date in, a :class:`ModelNotice` out); :func:`lookup_model` is the one
HTTP call (httpx, a short timeout, the key only in the ``Authorization`` header); :func:`check_models` does both
for every model the settings name.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Literal
from urllib.parse import quote, urlsplit, urlunsplit

import httpx

if TYPE_CHECKING:
    from realtime.config import Settings

__all__ = [
    "DEFAULT_REALTIME_MODEL",
    "DEFAULT_TRANSCRIPTION_MODEL",
    "KNOWN_SHUTDOWNS",
    "REASONING_MODELS",
    "WARN_DAYS",
    "Lookup",
    "ModelNotice",
    "Shutdown",
    "accepts_reasoning",
    "api_base",
    "assess",
    "check_models",
    "lookup_model",
    "notice_lines",
]

log = logging.getLogger(__name__)

DEFAULT_REALTIME_MODEL = "gpt-realtime-2.1"
"""OpenAI's recommended replacement of ``gpt-realtime`` (deprecations page) and our default realtime model."""
DEFAULT_TRANSCRIPTION_MODEL = "gpt-realtime-whisper"
"""Streaming input transcription for GA Realtime sessions (``openai.types.realtime.AudioTranscription``)."""

WARN_DAYS = 90
"""Warn when a configured model shuts down this many days from today or fewer."""
MAX_BODY_BYTES = 64 * 1024
"""A model object is a few hundred bytes; a longer answer is not read past this."""
DEFAULT_TIMEOUT_S = 3.0

REASONING_MODELS = frozenset({"gpt-realtime-2", "gpt-realtime-2.1", "gpt-realtime-2.1-mini"})
"""Realtime models that accept ``session.reasoning.effort`` and ``session.parallel_tool_calls``.

| Model | Reasons | Source |
|---|---|---|
| ``gpt-realtime-2`` | yes (``minimal``..``xhigh``) | ``openai`` 3.57.0 ``realtime_reasoning.py``; OpenAI model page |
| ``gpt-realtime-2.1`` | yes | OpenAI model page (update of ``gpt-realtime-2``, configurable reasoning effort) |
| ``gpt-realtime-2.1-mini`` | yes | OpenAI model page ("distilled reasoning model") |
| ``gpt-realtime``, ``-mini``, ``-1.5``, ``gpt-4o-*-realtime-preview`` | no | OpenAI model pages |

Dated snapshots (``gpt-realtime-2-2026-05-07``) count as their model; ``gpt-realtime-2025-08-28`` is a snapshot of
``gpt-realtime`` and does not reason.
"""

_SNAPSHOT = re.compile(r"-\d{4}-\d{2}-\d{2}$")
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def accepts_reasoning(model: str) -> bool:
    """True when ``model`` (an OpenAI model id, or an Azure deployment named after one) is in
    :data:`REASONING_MODELS`, directly or as a dated snapshot. Unknown names: False (nothing extra is sent)."""
    name = model.strip().lower()
    return name in REASONING_MODELS or _SNAPSHOT.sub("", name) in REASONING_MODELS


@dataclass(frozen=True)
class Shutdown:
    """An announced shutdown: the model stops answering on ``date``; ``replacement`` is the model to use."""

    date: date
    replacement: str
    source: str


_PACKAGE_REALTIME = "openai 3.57.0 openai/types/realtime/realtime_session_create_request.py"
_PACKAGE_TRANSCRIPTION = "openai 3.57.0 openai/types/realtime/audio_transcription.py"
_REALTIME_SHUTDOWN = date(2027, 1, 20)
_TRANSCRIPTION_SHUTDOWN = date(2027, 2, 26)

KNOWN_SHUTDOWNS: dict[str, Shutdown] = {
    "gpt-realtime": Shutdown(_REALTIME_SHUTDOWN, "gpt-realtime-2.1", _PACKAGE_REALTIME),
    "gpt-realtime-2025-08-28": Shutdown(_REALTIME_SHUTDOWN, "gpt-realtime-2.1", _PACKAGE_REALTIME),
    "gpt-realtime-mini": Shutdown(_REALTIME_SHUTDOWN, "gpt-realtime-2.1-mini", _PACKAGE_REALTIME),
    "gpt-realtime-mini-2025-12-15": Shutdown(_REALTIME_SHUTDOWN, "gpt-realtime-2.1-mini", _PACKAGE_REALTIME),
    "whisper-1": Shutdown(_TRANSCRIPTION_SHUTDOWN, "gpt-realtime-whisper", _PACKAGE_TRANSCRIPTION),
    "gpt-4o-transcribe": Shutdown(_TRANSCRIPTION_SHUTDOWN, "gpt-realtime-whisper", _PACKAGE_TRANSCRIPTION),
    "gpt-4o-mini-transcribe": Shutdown(_TRANSCRIPTION_SHUTDOWN, "gpt-realtime-whisper", _PACKAGE_TRANSCRIPTION),
    "gpt-4o-mini-transcribe-2025-12-15": Shutdown(
        _TRANSCRIPTION_SHUTDOWN, "gpt-realtime-whisper", _PACKAGE_TRANSCRIPTION
    ),
    "gpt-4o-transcribe-diarize": Shutdown(_TRANSCRIPTION_SHUTDOWN, "gpt-realtime-whisper", _PACKAGE_TRANSCRIPTION),
}
"""Announced shutdowns of models this app may be configured with: model -> date, replacement, source. The
transcription replacement is the streaming model for Realtime sessions; OpenAI's page also names
``gpt-live-transcribe`` and ``gpt-transcribe``."""


@dataclass(frozen=True)
class Lookup:
    """What ``GET /v1/models/{model}`` said. ``outcome``: ``found`` (``shutdown_date`` is the announced date or
    None), ``not_found`` (a 404 with an error object: no such model for this key), ``unavailable`` (no answer, or
    one we cannot use; ``reason`` says why in a few words, never a secret)."""

    outcome: Literal["found", "not_found", "unavailable"]
    shutdown_date: date | None = None
    reason: str = ""


@dataclass(frozen=True)
class ModelNotice:
    """Something to tell about a configured model. ``level``: ``warning`` (shuts down within :data:`WARN_DAYS`
    days) or ``error`` (gone: shut down, or unknown to the service). ``text`` is for people (Markdown); ``setting``
    the environment variable that names the model."""

    model: str
    setting: str
    level: Literal["warning", "error"]
    text: str
    shutdown_date: date | None
    replacement: str


def api_base(url: str) -> str:
    """The HTTP base of the OpenAI API from ``OPENAI_BASE_URL`` (a websocket base today): ``wss`` -> ``https``,
    ``ws`` -> ``http``, path kept (``wss://api.openai.com/v1`` -> ``https://api.openai.com/v1``). Raises
    ValueError for another scheme, a query string or credentials in the URL."""
    parts = urlsplit(url.strip().rstrip("/"))
    scheme = {"wss": "https", "ws": "http"}.get(parts.scheme, parts.scheme)
    if scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"expected an http(s) or ws(s) URL, got scheme {parts.scheme!r}")
    if parts.query or "@" in parts.netloc:
        raise ValueError("the base URL must not carry a query string or credentials")
    return urlunsplit((scheme, parts.netloc, parts.path, "", ""))


def _parse_date(value: object) -> date | None:
    if not isinstance(value, str) or not _ISO_DATE.match(value):
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        return None


async def lookup_model(
    base_url: str,
    model: str,
    api_key: str,
    *,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    transport: httpx.AsyncBaseTransport | None = None,
) -> Lookup:
    """``GET {base_url}/models/{model}`` with ``Authorization: Bearer {api_key}``; never raises.

    ``base_url``: the HTTP base ending in ``/v1`` (:func:`api_base`). At most ``timeout_s`` seconds in all and
    :data:`MAX_BODY_BYTES` of answer; redirects are not followed (the key must not travel elsewhere). A 200 whose
    ``shutdown_date`` is not a ``YYYY-MM-DD`` string counts as no date announced.
    """
    url = f"{base_url.rstrip('/')}/models/{quote(model, safe='')}"
    try:
        async with (
            asyncio.timeout(timeout_s),
            httpx.AsyncClient(timeout=timeout_s, follow_redirects=False, transport=transport) as client,
            client.stream("GET", url, headers={"Authorization": f"Bearer {api_key}"}) as response,
        ):
            body = bytearray()
            async for chunk in response.aiter_bytes():
                body += chunk
                if len(body) > MAX_BODY_BYTES:
                    return Lookup("unavailable", reason=f"answer longer than {MAX_BODY_BYTES} bytes")
            status = response.status_code
    except TimeoutError:
        return Lookup("unavailable", reason=f"no answer within {timeout_s:g} s")
    except httpx.HTTPError as exc:
        return Lookup("unavailable", reason=type(exc).__name__)
    try:
        data = json.loads(bytes(body))
    except ValueError:
        data = None
    if status == 404 and isinstance(data, dict) and isinstance(data.get("error"), dict):
        return Lookup("not_found", reason="HTTP 404")
    if status != 200:
        return Lookup("unavailable", reason=f"HTTP {status}")
    if not isinstance(data, dict):
        return Lookup("unavailable", reason="the answer is not a JSON object")
    return Lookup("found", shutdown_date=_parse_date(data.get("shutdown_date")))


def _replacement(model: str, setting: str) -> str:
    known = KNOWN_SHUTDOWNS.get(model)
    if known is not None:
        return known.replacement
    return DEFAULT_TRANSCRIPTION_MODEL if setting == "REALTIME_TRANSCRIPTION_MODEL" else DEFAULT_REALTIME_MODEL


def assess(
    model: str, lookup: Lookup, today: date, *, setting: str = "OPENAI_REALTIME_MODEL", warn_days: int = WARN_DAYS
) -> ModelNotice | None:
    """What to tell about ``model`` given the ``lookup`` and ``today``; None when nothing.

    The endpoint's date wins; with none (no date announced, or no answer) :data:`KNOWN_SHUTDOWNS` is used. A model
    past its date, or that the service does not know (``not_found``), is an ``error`` naming its replacement; one
    shutting down within ``warn_days`` days a ``warning``.
    """
    replacement = _replacement(model, setting)
    change = f"set `{setting}={replacement}` in `.env` and restart the app"
    if replacement == model:  # the current model itself is unknown: a typo elsewhere, or the project lacks access
        change = f"check `{setting}` and that the key's project may use this model"
    known = KNOWN_SHUTDOWNS.get(model)
    when = lookup.shutdown_date or (known.date if known else None)
    days = (when - today).days if when is not None else None
    if lookup.outcome == "not_found" and (days is None or days > 0):
        text = f"OpenAI does not offer the model `{model}` (it answered 404 Not Found): {change}."
        return ModelNotice(model, setting, "error", text, when, replacement)
    if when is None or days is None:
        return None
    if days <= 0:
        text = f"OpenAI shut down the model `{model}` on {when.isoformat()}: {change}."
        return ModelNotice(model, setting, "error", text, when, replacement)
    if days <= warn_days:
        plural = "day" if days == 1 else "days"
        text = (
            f"OpenAI shuts down the model `{model}` on {when.isoformat()} ({days} {plural} from now); "
            f"the replacement is `{replacement}`: {change}."
        )
        return ModelNotice(model, setting, "warning", text, when, replacement)
    return None


def _configured_models(settings: Settings) -> list[tuple[str, str]]:
    models = [("OPENAI_REALTIME_MODEL", settings.openai_realtime_model)]
    if settings.realtime_transcription_model:
        models.append(("REALTIME_TRANSCRIPTION_MODEL", settings.realtime_transcription_model))
    return models


async def check_models(
    settings: Settings,
    *,
    today: date | None = None,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    transport: httpx.AsyncBaseTransport | None = None,
) -> list[ModelNotice]:
    """Check the realtime and transcription models of ``settings`` (OpenAI provider only; others: ``[]``).

    Both models are looked up at once (at most ``timeout_s`` seconds in all). Logs each model's shutdown date at
    INFO (a warning or an error for a :class:`ModelNotice`), and an unreachable endpoint at INFO with the reason
    (the app goes on; :data:`KNOWN_SHUTDOWNS` still applies). The key is sent only in the header and never logged.
    ``today`` defaults to the local date.
    """
    if settings.provider_name() != "openai":
        return []
    key = settings.openai_api_key.get_secret_value() if settings.openai_api_key else ""
    try:
        base = api_base(settings.openai_base_url)
    except ValueError as exc:
        log.info("model shutdown dates not checked: OPENAI_BASE_URL %s", exc)
        base = ""
    today = today or date.today()
    models = _configured_models(settings)
    if base and key:  # at once: the app waits for the slowest, at most timeout_s
        lookups = await asyncio.gather(
            *(lookup_model(base, model, key, timeout_s=timeout_s, transport=transport) for _, model in models)
        )
    else:
        lookups = [Lookup("unavailable", reason="no key or base URL")] * len(models)
    notices: list[ModelNotice] = []
    for (setting, model), lookup in zip(models, lookups, strict=True):
        if lookup.outcome == "unavailable":
            log.info("could not read the shutdown date of %s from %s/models (%s)", model, base, lookup.reason)
        elif lookup.outcome == "found":
            shown = lookup.shutdown_date.isoformat() if lookup.shutdown_date else "none announced"
            log.info("model %s: shutdown date %s", model, shown)
        notice = assess(model, lookup, today, setting=setting)
        if notice is not None:
            (log.error if notice.level == "error" else log.warning)("%s", notice.text)
            notices.append(notice)
    return notices


def notice_lines(notices: Sequence[ModelNotice]) -> list[str]:
    """The notices as status lines: ``**Model shutting down**: ...`` or ``**Model unavailable**: ...``."""
    return [
        ("**Model unavailable**: " if n.level == "error" else "**Model shutting down**: ") + n.text for n in notices
    ]
