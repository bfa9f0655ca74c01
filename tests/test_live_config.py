"""Choosing the voice protocol (VOICE_PROTOCOL, or by model) and the GPT-Live URLs and headers of each provider."""

from __future__ import annotations

import asyncio
import secrets
from types import SimpleNamespace
from typing import Any

import pytest

from realtime.config import DEFAULT_LIVE_BACKEND_MODEL, Settings
from realtime.core import RealtimeCore, session_factory
from realtime.live_session import LiveSession
from realtime.providers import IN_PROCESS_LIVE_URL, IN_PROCESS_URL, ConfigurationError, build_provider

KEY = "-".join(["sk", "test", secrets.token_hex(12)])  # made at run time: no key-shaped literal in git


def headers(provider: Any) -> dict[str, str]:
    async def get() -> dict[str, str]:
        return dict(await provider.headers())

    return asyncio.run(get())


def settings(**values: Any) -> Settings:
    return Settings(_env_file=None, **values)


@pytest.mark.parametrize(
    ("values", "protocol"),
    [
        ({"openai_api_key": KEY}, "realtime"),
        ({"openai_api_key": KEY, "openai_realtime_model": "gpt-live-1"}, "live"),
        ({"openai_api_key": KEY, "openai_realtime_model": "gpt-live-1.1"}, "live"),
        ({"openai_api_key": KEY, "openai_realtime_model": "gpt-live-1", "voice_protocol": "realtime"}, "realtime"),
        ({"azure_openai_endpoint": "https://r.openai.azure.com", "azure_openai_deployment": "gpt-live-1"}, "live"),
        ({"azure_openai_endpoint": "https://r.openai.azure.com", "azure_openai_deployment": "voice"}, "realtime"),
        ({}, "realtime"),
        ({"voice_protocol": "live"}, "live"),
    ],
)
def test_protocol_by_setting_or_model(values: dict[str, Any], protocol: str) -> None:
    s = settings(**values)
    assert s.protocol() == protocol
    assert build_provider(s).protocol == protocol


def test_defaults() -> None:
    s = settings()
    assert s.voice_protocol is None and s.live_backend_model == DEFAULT_LIVE_BACKEND_MODEL == "gpt-5.6-luna"
    assert s.live_hosted_web_search is False


def test_openai_live_url_has_no_query_and_the_key_only_in_a_header() -> None:
    s = settings(openai_api_key=KEY, openai_realtime_model="gpt-live-1")
    p = build_provider(s)
    assert p.url == "wss://api.openai.com/v1/live/sessions" and KEY not in p.url
    assert headers(p) == {"Authorization": f"Bearer {KEY}"}
    assert p.model == "gpt-live-1" and p.session_cap_s == float("inf") and "GPT-Live" in p.label
    p = build_provider(settings(openai_api_key=KEY, voice_protocol="live", openai_base_url="http://127.0.0.1:9/v1/"))
    assert p.url == "ws://127.0.0.1:9/v1/live/sessions"


def test_azure_live_url_without_api_version_key_or_entra() -> None:
    base = {"azure_openai_endpoint": "https://r.openai.azure.com/", "azure_openai_deployment": "gpt-live-1"}
    p = build_provider(settings(**base, azure_openai_api_key=KEY, azure_openai_api_version="2025-04-01-preview"))
    assert p.url == "wss://r.openai.azure.com/openai/v1/live/sessions" and p.dialect == "ga"
    assert headers(p) == {"api-key": KEY}

    class Credential:
        async def get_token(self, *scopes: str, **_: Any) -> Any:
            return SimpleNamespace(token="entra-token")

    p = build_provider(settings(**base), credential=Credential())
    assert headers(p) == {"Authorization": "Bearer entra-token"}
    with pytest.raises(ConfigurationError, match="AZURE_OPENAI_DEPLOYMENT"):
        build_provider(settings(azure_openai_endpoint="https://r.openai.azure.com", voice_protocol="live"))


def test_local_live_urls() -> None:
    assert (
        build_provider(settings(voice_protocol="live")).url == IN_PROCESS_LIVE_URL == "memory://local/v1/live/sessions"
    )
    assert build_provider(settings()).url == IN_PROCESS_URL
    p = build_provider(settings(voice_protocol="live", local_engine_url="http://127.0.0.1:8765/v1"))
    assert p.url == "ws://127.0.0.1:8765/v1/live/sessions"


def test_session_factory_picks_the_core_by_protocol() -> None:
    s = settings(
        openai_api_key=KEY, openai_realtime_model="gpt-live-1", live_backend_model="gpt-x", live_hosted_web_search=True
    )
    core, session = session_factory(build_provider(s), s, options=s.default_session_options())
    assert isinstance(core, LiveSession) and session is core
    assert core.backend_model == "gpt-x" and core.hosted_web_search and core.model == "gpt-live-1"
    s = settings(openai_api_key=KEY)
    core, session = session_factory(build_provider(s), s, options=s.default_session_options())
    assert isinstance(core, RealtimeCore) and core.session is session
