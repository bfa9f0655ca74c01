"""Settings and providers: which provider is picked, its URL and headers, and that keys stay out of URLs,
reprs and error messages."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from realtime.config import Settings
from realtime.providers import IN_PROCESS_URL, ConfigurationError, build_provider

SECRET = "test-key-THIS-IS-A-FAKE-KEY-1234567890"


def settings(**values: Any) -> Settings:
    # _env_file=None: the developer's own .env must not leak into tests.
    return Settings(_env_file=None, **values)


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "OPENAI_API_KEY",
        "AZURE_OPENAI_ENDPOINT",
        "AZURE_OPENAI_API_KEY",
        "REALTIME_PROVIDER",
        "AZURE_OPENAI_API_VERSION",
        "AZURE_OPENAI_DEPLOYMENT",
        "REALTIME_DIALECT",
        "LOCAL_ENGINE_URL",
    ):
        monkeypatch.delenv(name, raising=False)


def test_provider_inference_order(monkeypatch: pytest.MonkeyPatch) -> None:
    assert settings().provider_name() == "local"
    assert settings(azure_openai_endpoint="https://r.openai.azure.com").provider_name() == "azure"
    both = settings(openai_api_key=SECRET, azure_openai_endpoint="https://r.openai.azure.com")
    assert both.provider_name() == "openai"
    assert settings(openai_api_key=SECRET, realtime_provider="local").provider_name() == "local"
    monkeypatch.setenv("REALTIME_PROVIDER", "azure")
    assert Settings(_env_file=None).provider_name() == "azure"


async def test_openai_provider_url_and_bearer_header() -> None:
    provider = build_provider(settings(openai_api_key=SECRET, openai_base_url="http://127.0.0.1:9/v1"))
    assert provider.url == "ws://127.0.0.1:9/v1/realtime?model=gpt-realtime-2.1"
    assert provider.dialect == "ga"
    assert await provider.headers() == {"Authorization": f"Bearer {SECRET}"}
    assert SECRET not in repr(provider) and SECRET not in repr(settings(openai_api_key=SECRET))
    beta = build_provider(settings(openai_api_key=SECRET, realtime_dialect="beta"))
    assert (await beta.headers())["OpenAI-Beta"] == "realtime=v1"
    assert beta.url == "wss://api.openai.com/v1/realtime?model=gpt-realtime-2.1"


async def test_azure_ga_and_preview_paths() -> None:
    base = {
        "azure_openai_endpoint": "https://res.openai.azure.com/",
        "azure_openai_deployment": "my-rt",
        "azure_openai_api_key": SECRET,
    }
    ga = build_provider(settings(**base))
    assert ga.url == "wss://res.openai.azure.com/openai/v1/realtime?model=my-rt"
    assert ga.dialect == "ga" and await ga.headers() == {"api-key": SECRET}
    preview = build_provider(settings(**base, azure_openai_api_version="2025-04-01-preview"))
    assert preview.url == "wss://res.openai.azure.com/openai/realtime?api-version=2025-04-01-preview&deployment=my-rt"
    assert preview.dialect == "beta" and preview.session_cap_s == 30 * 60
    forced = build_provider(settings(**base, azure_openai_api_version="2025-04-01-preview", realtime_dialect="ga"))
    assert forced.dialect == "ga"


async def test_azure_entra_fetches_a_fresh_token_each_connect() -> None:
    scopes: list[str] = []

    class FakeCredential:
        async def get_token(self, *s: str, **_: Any) -> Any:
            scopes.extend(s)
            return SimpleNamespace(token=f"entra-{len(scopes)}")

    provider = build_provider(
        settings(azure_openai_endpoint="https://res.openai.azure.com", azure_openai_deployment="d"),
        credential=FakeCredential(),
    )
    assert await provider.headers() == {"Authorization": "Bearer entra-1"}
    assert await provider.headers() == {"Authorization": "Bearer entra-2"}
    assert scopes == ["https://cognitiveservices.azure.com/.default"] * 2


async def test_entra_failure_is_a_clear_configuration_error() -> None:
    class Broken:
        async def get_token(self, *s: str, **_: Any) -> Any:
            raise RuntimeError(f"boom {SECRET}")

    provider = build_provider(
        settings(azure_openai_endpoint="https://r.openai.azure.com", azure_openai_deployment="d"), credential=Broken()
    )
    with pytest.raises(ConfigurationError, match="Entra ID sign-in failed") as info:
        await provider.headers()
    assert SECRET not in str(info.value)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"realtime_provider": "openai"}, "OPENAI_API_KEY"),
        ({"realtime_provider": "azure"}, "AZURE_OPENAI_ENDPOINT"),
        ({"azure_openai_endpoint": "https://r.openai.azure.com"}, "AZURE_OPENAI_DEPLOYMENT"),
        ({"openai_api_key": SECRET, "openai_base_url": "wss://h/v1?key=1"}, "query string"),
        ({"openai_api_key": SECRET, "openai_base_url": "ftp://h/v1"}, "scheme"),
    ],
)
def test_missing_or_bad_settings_name_the_setting(values: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message) as info:
        build_provider(settings(**values))
    assert SECRET not in str(info.value)


def test_local_provider_uses_an_external_engine_when_given() -> None:
    embedded = build_provider(settings())
    assert embedded.url == IN_PROCESS_URL and embedded.in_process  # reached with an in-memory connector
    assert not build_provider(settings(local_engine_url="http://127.0.0.1:8765/v1")).in_process
    external = build_provider(settings(local_engine_url="http://127.0.0.1:8765/v1"))
    assert external.url == "ws://127.0.0.1:8765/v1/realtime?model=local"
    assert external.label == "Local engine (offline)"
