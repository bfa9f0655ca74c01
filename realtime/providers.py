"""Where to connect and how to authenticate: OpenAI, Azure OpenAI (key or Microsoft Entra ID), the local engine.

Sources: the OpenAI Realtime API reference and guide ("WebSocket" connection: ``wss://api.openai.com/v1/realtime``,
``Authorization: Bearer``), Azure OpenAI "GPT Realtime API via WebSockets" (``/openai/v1/realtime``, ``api-key``
header or a Microsoft Entra ID token; preview ``/openai/realtime?api-version=...&deployment=...``).
GPT-Live (``Provider.protocol == "live"``): OpenAI ``wss://api.openai.com/v1/live/sessions`` (no query string: the
model goes in ``session.start``; OpenAI GPT-Live WebSocket guide), Azure OpenAI
``wss://<resource>.openai.azure.com/openai/v1/live/sessions`` (no ``api-version``; the deployment name goes in
``session.model``; Microsoft Foundry "How to use GPT-Live"), the local engine at ``/v1/live/sessions``.
Keys travel only in headers, never in a URL; a fresh Entra token is fetched at every connect.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import quote, urlsplit, urlunsplit

from realtime.config import ProviderName, Settings, VoiceProtocol
from realtime.protocol import Dialect
from realtime.redaction import add_secrets

__all__ = [
    "IN_PROCESS_LIVE_URL",
    "IN_PROCESS_URL",
    "ConfigurationError",
    "Provider",
    "TokenCredential",
    "build_provider",
]

log = logging.getLogger(__name__)

IN_PROCESS_URL = "memory://local/v1/realtime?model=local"
"""The local provider's URL when no ``LOCAL_ENGINE_URL`` is set: an engine in this process, reached through an
in-memory connector (``realtime.transport.memory_connector``) that the program (the app) supplies."""
IN_PROCESS_LIVE_URL = "memory://local/v1/live/sessions"
"""The same for GPT-Live (``VOICE_PROTOCOL=live`` with the local provider): the engine routes by path."""

# The GA cap is 60 minutes (beta: 30): OpenAI Realtime guide, "Session lifecycle events".
SESSION_CAP_S: dict[Dialect, float] = {"ga": 60 * 60, "beta": 30 * 60}


class ConfigurationError(ValueError):
    """A setting is missing or malformed. The message names the setting, never its secret value."""


class TokenCredential(Protocol):
    """The async ``azure.identity.aio`` credential shape: ``get_token(scope)`` returns an object with ``.token``."""

    async def get_token(self, *scopes: str, **kwargs: Any) -> Any:
        """An access token for ``scopes`` (an object with ``.token``)."""
        ...


@dataclass(frozen=True)
class Provider:
    """A resolved connection target. ``url`` is a websocket URL holding no secret (:data:`IN_PROCESS_URL` for an
    engine in this process); ``headers()`` builds the auth headers afresh for each connect."""

    name: ProviderName
    url: str
    dialect: Dialect
    model: str
    headers: Callable[[], Awaitable[dict[str, str]]] = field(repr=False)
    session_cap_s: float = 3600.0
    protocol: VoiceProtocol = "realtime"
    """Which session core speaks to it: ``realtime`` (:class:`realtime.session.RealtimeSession`) or ``live``
    (:class:`realtime.live_session.LiveSession`)."""

    @property
    def in_process(self) -> bool:
        """True when the server runs in this process (the URL is :data:`IN_PROCESS_URL`): connect to it with an
        in-memory connector."""
        return self.url.startswith("memory:")

    @property
    def label(self) -> str:
        """For people: ``OpenAI gpt-realtime``, ``Azure OpenAI my-deployment (preview)``, ``Local engine``."""
        if self.name == "local":
            return "Local engine (offline, GPT-Live)" if self.protocol == "live" else "Local engine (offline)"
        title = "OpenAI" if self.name == "openai" else "Azure OpenAI"
        if self.protocol == "live":
            return f"{title} {self.model} (GPT-Live)"
        return f"{title} {self.model}" + (" (preview API)" if self.dialect == "beta" else "")


def _ws_base(url: str) -> str:
    parts = urlsplit(url.rstrip("/"))
    scheme = {"https": "wss", "http": "ws"}.get(parts.scheme, parts.scheme)
    if scheme not in ("ws", "wss"):
        raise ConfigurationError(f"expected an http(s) or ws(s) URL, got scheme {parts.scheme!r}")
    if parts.query or "@" in parts.netloc:
        raise ConfigurationError("the base URL must not carry a query string or credentials")
    return urlunsplit((scheme, parts.netloc, parts.path, "", ""))


def _static(headers: dict[str, str]) -> Callable[[], Awaitable[dict[str, str]]]:
    async def get() -> dict[str, str]:
        return dict(headers)

    return get


def build_provider(settings: Settings, *, credential: TokenCredential | None = None) -> Provider:
    """Resolve ``settings`` into a :class:`Provider`.

    ``credential`` replaces ``azure.identity.aio.DefaultAzureCredential`` for Entra ID (tests pass a fake).
    Raises :class:`ConfigurationError` when the chosen provider lacks a required setting.
    """
    name = settings.provider_name()
    if settings.protocol() == "live":
        return _live_provider(settings, credential)
    if name == "openai":
        key = settings.openai_api_key.get_secret_value() if settings.openai_api_key else ""
        if not key:
            raise ConfigurationError("OPENAI_API_KEY is not set (needed for REALTIME_PROVIDER=openai)")
        dialect: Dialect = settings.realtime_dialect or "ga"
        model = settings.openai_realtime_model
        headers = {"Authorization": f"Bearer {key}"}
        if dialect == "beta":
            headers["OpenAI-Beta"] = "realtime=v1"
        url = f"{_ws_base(settings.openai_base_url)}/realtime?model={quote(model)}"
        return Provider("openai", url, dialect, model, _static(headers), SESSION_CAP_S[dialect])

    if name == "azure":
        if not settings.azure_openai_endpoint:
            raise ConfigurationError("AZURE_OPENAI_ENDPOINT is not set (needed for REALTIME_PROVIDER=azure)")
        if not settings.azure_openai_deployment:
            raise ConfigurationError("AZURE_OPENAI_DEPLOYMENT is not set (needed for REALTIME_PROVIDER=azure)")
        version = settings.azure_openai_api_version or ""
        preview = version.endswith("-preview")
        dialect = settings.realtime_dialect or ("beta" if preview else "ga")
        base = _ws_base(settings.azure_openai_endpoint)
        deployment = quote(settings.azure_openai_deployment)
        if preview:
            url = f"{base}/openai/realtime?api-version={quote(version)}&deployment={deployment}"
        else:
            url = f"{base}/openai/v1/realtime?model={deployment}"
        key = settings.azure_openai_api_key.get_secret_value() if settings.azure_openai_api_key else ""
        if key:
            get_headers = _static({"api-key": key})
        else:
            get_headers = _entra_headers(settings.azure_openai_token_scope, credential)
        return Provider("azure", url, dialect, settings.azure_openai_deployment, get_headers, SESSION_CAP_S[dialect])

    local_url = f"{_ws_base(settings.local_engine_url)}/realtime?model=local" if settings.local_engine_url else ""
    local_url = local_url or IN_PROCESS_URL
    return Provider("local", local_url, settings.realtime_dialect or "ga", "local", _static({}), float("inf"))


def _live_provider(settings: Settings, credential: TokenCredential | None) -> Provider:
    """A GPT-Live target: ``<base>/live/sessions`` with no query string (the model goes in ``session.start``)."""
    name = settings.provider_name()
    cap = float("inf")  # a GPT-Live session ends itself (session.closed, reason "expired"); no timer renews it
    if name == "openai":
        key = settings.openai_api_key.get_secret_value() if settings.openai_api_key else ""
        if not key:
            raise ConfigurationError("OPENAI_API_KEY is not set (needed for REALTIME_PROVIDER=openai)")
        url = f"{_ws_base(settings.openai_base_url)}/live/sessions"
        headers = _static({"Authorization": f"Bearer {key}"})
        return Provider("openai", url, "ga", settings.openai_realtime_model, headers, cap, "live")
    if name == "azure":
        if not settings.azure_openai_endpoint:
            raise ConfigurationError("AZURE_OPENAI_ENDPOINT is not set (needed for REALTIME_PROVIDER=azure)")
        if not settings.azure_openai_deployment:
            raise ConfigurationError("AZURE_OPENAI_DEPLOYMENT is not set (needed for REALTIME_PROVIDER=azure)")
        url = f"{_ws_base(settings.azure_openai_endpoint)}/openai/v1/live/sessions"
        key = settings.azure_openai_api_key.get_secret_value() if settings.azure_openai_api_key else ""
        get_headers = (
            _static({"api-key": key}) if key else _entra_headers(settings.azure_openai_token_scope, credential)
        )
        return Provider("azure", url, "ga", settings.azure_openai_deployment, get_headers, cap, "live")
    url = f"{_ws_base(settings.local_engine_url)}/live/sessions" if settings.local_engine_url else IN_PROCESS_LIVE_URL
    return Provider("local", url, "ga", "local", _static({}), cap, "live")


def _entra_headers(scope: str, credential: TokenCredential | None) -> Callable[[], Awaitable[dict[str, str]]]:
    """A fresh ``Authorization: Bearer`` Entra ID token at every call (azure-identity caches and refreshes)."""
    holder: list[TokenCredential] = [credential] if credential is not None else []

    async def get() -> dict[str, str]:
        if not holder:
            from azure.identity.aio import DefaultAzureCredential

            holder.append(DefaultAzureCredential())
        try:
            token = await holder[0].get_token(scope)
        except Exception as exc:  # azure-identity raises several types; say which, never a secret
            raise ConfigurationError(
                f"Microsoft Entra ID sign-in failed ({type(exc).__name__}); set AZURE_OPENAI_API_KEY or sign in "
                "(az login, managed identity, or AZURE_CLIENT_ID/AZURE_TENANT_ID/AZURE_CLIENT_SECRET)"
            ) from None
        add_secrets(token.token)  # the one redactor removes it from logs and texts
        return {"Authorization": f"Bearer {token.token}"}

    return get
