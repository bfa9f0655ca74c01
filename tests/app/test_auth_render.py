"""Sign-in settings, the import-time auth decision of app.py, and the texts shown to people."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import bcrypt
import pytest

from chat_app.auth import AuthConfigError, auth_from_env, parse_users
from chat_app.chat_settings import options_from_values, settings_widgets
from chat_app.render import Stats, describe_error, describe_provider, describe_tools, redact, secrets_of
from realtime.config import SessionOptions, Settings

ROOT = Path(__file__).resolve().parents[2]
ALICE_HASH = bcrypt.hashpw(b"wonderland", bcrypt.gensalt(rounds=4)).decode()


def test_users_parse_and_passwords_check() -> None:
    config = auth_from_env({"CHAINLIT_AUTH_SECRET": "s" * 32, "CHAINLIT_USERS": f" alice:{ALICE_HASH} ,"})
    assert config is not None and list(config.users) == ["alice"]
    assert config.check("alice", "wonderland")
    assert not config.check("alice", "Wonderland")
    assert not config.check("bob", "wonderland")


@pytest.mark.parametrize(
    ("value", "message"),
    [("alice", "entry 1 is not name:bcrypt-hash"), ("alice:plaintext", r"entry 1 \(alice\) does not hold a bcrypt")],
)
def test_malformed_users_are_refused_without_echoing_them(value: str, message: str) -> None:
    with pytest.raises(AuthConfigError, match=message) as info:
        parse_users(value)
    assert "plaintext" not in str(info.value)


def test_auth_is_off_without_users_and_refused_without_secret() -> None:
    assert auth_from_env({}) is None
    assert auth_from_env({"CHAINLIT_AUTH_SECRET": "x" * 32}) is None
    with pytest.raises(AuthConfigError, match="CHAINLIT_AUTH_SECRET is not"):
        auth_from_env({"CHAINLIT_USERS": f"alice:{ALICE_HASH}"})


def _import_app(env_extra: dict[str, str]) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "AZURE_", "CHAINLIT_"))}
    env.update(env_extra)
    code = (
        "import logging, sys; logging.basicConfig(stream=sys.stdout, level=logging.INFO)\n"
        "import app\nfrom chainlit.config import config\n"
        "print('AUTH', config.code.password_auth_callback is not None)\n"
    )
    return subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False
    )


def test_app_registers_password_sign_in_only_when_configured() -> None:
    """Chainlit's decorators register at import, so the decision is made from the environment then."""
    guarded = _import_app({"CHAINLIT_AUTH_SECRET": "s" * 40, "CHAINLIT_USERS": f"alice:{ALICE_HASH}"})
    assert "AUTH True" in guarded.stdout, guarded.stderr
    assert "sign-in is on: 1 user" in guarded.stdout
    open_app = _import_app({})
    assert "AUTH False" in open_app.stdout, open_app.stderr
    assert "sign-in is OFF" in open_app.stdout
    half = _import_app({"CHAINLIT_USERS": f"alice:{ALICE_HASH}"})
    assert half.returncode != 0 and "CHAINLIT_AUTH_SECRET is not" in half.stderr


def test_chainlit_ci_mode_placeholder_key_does_not_switch_the_app_to_openai() -> None:
    """`chainlit run` with CI set exports OPENAI_API_KEY=sk-FAKE-OPENAI-API-KEY; the app must stay on the local
    engine then, while a real key still selects OpenAI."""
    ci = _import_app({"CI": "true", "OPENAI_API_KEY": "sk-FAKE-OPENAI-API-KEY"})
    assert "realtime backend: Local engine" in ci.stdout, ci.stdout + ci.stderr
    real = _import_app({"OPENAI_API_KEY": "test-key-a-real-looking-one-0123"})
    assert "realtime backend: OpenAI" in real.stdout, real.stdout + real.stderr


def test_error_texts_are_for_people() -> None:
    assert "API key" in describe_error("invalid_api_key", "Incorrect API key provided")
    assert describe_error(None, "Boom") == "The voice service reported a problem: Boom."
    assert describe_error("x", "", fatal=True).endswith("start a new chat.")


def test_redact_removes_every_configured_secret() -> None:
    settings = Settings(_env_file=None, openai_api_key="sk-test-abcdef123456", tavily_api_key="tvly-XYZ987")
    secrets = secrets_of(settings)
    assert sorted(secrets) == ["sk-test-abcdef123456", "tvly-XYZ987"]
    assert redact("key sk-test-abcdef123456 and tvly-XYZ987", secrets) == "key *** and ***"


def test_provider_and_tools_descriptions() -> None:
    local = describe_provider("local", "Local engine (offline)")
    assert "not a language model" in local and "OPENAI_API_KEY" in local
    assert describe_provider("openai", "OpenAI gpt-realtime") == "**OpenAI gpt-realtime**"
    text = describe_tools(["calculate"], {"web_search": "TAVILY_API_KEY is not set"})
    assert text == "Tools: `calculate`. `web_search` is off: TAVILY_API_KEY is not set."


def test_stats_count_tokens_and_latency() -> None:
    stats = Stats()
    assert stats.line() == ""
    assert stats.add({"input_tokens": 100, "output_tokens": 20}, 540.2) == 120
    assert stats.add({"total_tokens": 1000}, 1250.0) == 1000
    assert stats.add(None, None) == 0
    assert stats.line() == "Last turn: n/a to first answer, 0 tokens · this chat: 3 turns, 1,120 tokens"
    assert stats.latencies_ms == [540.2, 1250.0]


def test_stats_of_a_voice_billed_chat_show_voice_time_not_tokens() -> None:
    stats = Stats()  # GPT-Live: turns without token usage, voice seconds per session (cumulative)
    stats.voice(42.0)
    assert stats.line() == "42 s of voice"
    stats.add(None, 310.0)
    stats.voice(70.4)
    assert stats.line() == "Last turn: 310 ms to first answer · this chat: 1 turn, 1 min 10 s of voice"
    stats.voice(5.0)  # a new session (expired, reconnected) counts from 0 again: the chat's total goes on
    assert stats.line().endswith("1 min 15 s of voice")
    assert "tokens" not in stats.line()


def test_settings_panel_round_trip() -> None:
    options = SessionOptions(voice="verse", turn_detection="semantic_vad")
    widgets = {w.id: w.to_dict() for w in settings_widgets(options)}
    assert widgets["voice"]["initial"] == "verse"
    assert widgets["turn_detection"]["initial"] == "semantic_vad"
    assert {i["value"] for i in widgets["turn_detection"]["items"]} == {"server_vad", "semantic_vad", "push_to_talk"}
    assert widgets["transcription"]["initial"] is True
    new = options_from_values({"transcription": False, "voice": " ash "}, options, transcription_model="whisper-1")
    assert new.transcription_model is None and new.voice == "ash" and new.turn_detection == "semantic_vad"
