"""Current OpenAI models and reasoning effort, against a scripted Realtime server of ours: the default connection
asks for a current model and transcription model, a reasoning model gets ``session.reasoning.effort`` (and every
client event still validates against the ``openai`` package's GA types), an older model gets no reasoning field;
and the chat setting of the same."""

from __future__ import annotations

import json
from typing import Any

import pytest
from openai.types.realtime import AudioTranscription

from chat_app.chat_settings import SettingsError, options_from_values, settings_widgets, validate_values
from realtime.client import RealtimeClient
from realtime.config import SessionOptions, Settings
from realtime.model_lifecycle import KNOWN_SHUTDOWNS, accepts_reasoning
from tests.scripted_server import ScriptedServer
from tests.test_client import one_turn
from tests.test_conformance import GA, TOOLS, every_client_event

SECRET = "test-key-FAKE-models-0123456789abcdef"


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "OPENAI_API_KEY",
        "OPENAI_REALTIME_MODEL",
        "OPENAI_BASE_URL",
        "REALTIME_REASONING_EFFORT",
        "REALTIME_TRANSCRIPTION_MODEL",
        "REALTIME_PROVIDER",
        "AZURE_OPENAI_ENDPOINT",
        "AZURE_OPENAI_DEPLOYMENT",
    ):
        monkeypatch.delenv(name, raising=False)


def settings(**values: Any) -> Settings:
    return Settings(_env_file=None, **values)


async def first_session_update(*, tools: list[dict[str, Any]] | None = None, **values: Any) -> tuple[str, list[Any]]:
    """Connect with settings ``values`` (and the environment) to a scripted server as OpenAI, do one turn; the
    connection's path and the events it received."""
    async with ScriptedServer() as server:
        s = settings(openai_base_url=f"ws://{server.base}/v1", openai_api_key=SECRET, **values)
        async with RealtimeClient(s, tools=tools or []) as client:
            await one_turn(client)
        (conn,) = server.connections
        return conn.path, conn.received


async def test_defaults_ask_for_current_models() -> None:
    path, received = await first_session_update()
    assert path == "/v1/realtime?model=gpt-realtime-2.1"
    session = received[0]["session"]
    assert received[0]["type"] == "session.update"
    model = session["audio"]["input"]["transcription"]["model"]
    assert model == "gpt-realtime-whisper"
    assert model not in KNOWN_SHUTDOWNS and "gpt-realtime-2.1" not in KNOWN_SHUTDOWNS
    # The package lists it as a GA transcription model, not among the deprecated ones.
    assert AudioTranscription(model=model).model == model
    assert "reasoning" not in session  # no effort configured: the model's default, nothing sent
    for event in received:
        GA.validate_python(event)


async def test_reasoning_effort_reaches_a_reasoning_model_and_every_event_validates(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("REALTIME_REASONING_EFFORT", "low")
    path, received = await first_session_update(tools=TOOLS, openai_realtime_model="gpt-realtime-2")
    assert path == "/v1/realtime?model=gpt-realtime-2"
    session = received[0]["session"]
    assert session["reasoning"] == {"effort": "low"}
    assert session["parallel_tool_calls"] is True
    for event in received:
        GA.validate_python(event)
    # Every other client event the session can send, with these options, validates too.
    options = settings(openai_api_key=SECRET, openai_realtime_model="gpt-realtime-2").default_session_options()
    assert options.model == "gpt-realtime-2" and options.reasoning_effort == "low"
    sent = every_client_event(options)
    updates = [e for e in sent if e["type"] == "session.update"]
    assert updates and all(e["session"]["reasoning"] == {"effort": "low"} for e in updates)
    for event in sent:
        json.dumps(event)
        GA.validate_python(event)


async def test_an_older_model_gets_no_reasoning_field() -> None:
    path, received = await first_session_update(
        tools=TOOLS, openai_realtime_model="gpt-realtime", realtime_reasoning_effort="high"
    )
    assert path == "/v1/realtime?model=gpt-realtime"
    for event in received:
        if event["type"] == "session.update":
            assert "reasoning" not in event["session"] and "parallel_tool_calls" not in event["session"]
        GA.validate_python(event)


def test_which_models_reason() -> None:
    assert all(accepts_reasoning(m) for m in ("gpt-realtime-2", "gpt-realtime-2.1", "gpt-realtime-2.1-mini"))
    assert accepts_reasoning("gpt-realtime-2-2026-05-07")  # a dated snapshot of a reasoning model
    for older in ("gpt-realtime", "gpt-realtime-2025-08-28", "gpt-realtime-mini", "gpt-realtime-1.5", "local", ""):
        assert not accepts_reasoning(older), older


def test_reasoning_effort_setting_values(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REALTIME_REASONING_EFFORT", "")
    assert Settings(_env_file=None).realtime_reasoning_effort is None  # empty: the model's default
    monkeypatch.setenv("REALTIME_REASONING_EFFORT", " XHigh ")
    assert Settings(_env_file=None).realtime_reasoning_effort == "xhigh"
    monkeypatch.setenv("REALTIME_REASONING_EFFORT", "extreme")
    with pytest.raises(ValueError, match="realtime_reasoning_effort"):
        Settings(_env_file=None)


def test_the_session_model_follows_the_provider() -> None:
    assert settings().default_session_options().model == "local"
    assert settings(openai_api_key=SECRET).default_session_options().model == "gpt-realtime-2.1"
    azure = settings(azure_openai_endpoint="https://r.openai.azure.com", azure_openai_deployment="gpt-realtime-2")
    assert azure.default_session_options().model == "gpt-realtime-2"


def test_chat_setting_offered_only_to_reasoning_models_and_mapped() -> None:
    reasoning = SessionOptions(model="gpt-realtime-2.1")
    widgets = {w.id: w for w in settings_widgets(reasoning)}
    assert widgets["reasoning_effort"].initial == "default"
    assert "reasoning_effort" not in {w.id for w in settings_widgets(SessionOptions(model="gpt-realtime"))}
    assert "reasoning_effort" not in {w.id for w in settings_widgets(SessionOptions(model="local"))}

    high = options_from_values(
        validate_values({"reasoning_effort": "high"}, ["alloy"]), reasoning, transcription_model=None
    )
    assert high.reasoning_effort == "high"
    assert high.to_session_config().to_wire()["reasoning"] == {"effort": "high"}
    back = options_from_values({"reasoning_effort": "default"}, high, transcription_model=None)
    assert back.reasoning_effort is None and "reasoning" not in back.to_session_config().to_wire()
    with pytest.raises(SettingsError, match="Reasoning effort"):
        validate_values({"reasoning_effort": "maximum"}, ["alloy"])
    # The transcription switch turns on the current model by default.
    off = reasoning.model_copy(update={"transcription_model": None})
    assert options_from_values({"transcription": True}, off, transcription_model=None).transcription_model == (
        "gpt-realtime-whisper"
    )
