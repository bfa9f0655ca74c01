"""Realtime Voice Chat: the Chainlit app. Talk (mic) or type; hear and read the model's answer.

    chainlit run app.py            # http://localhost:8000; the local engine when no key is configured

Thin glue: each Chainlit callback calls the chat's :class:`chat_app.chat.VoiceChat`, which owns one realtime
session (``realtime.client.RealtimeClient``) per chat and renders its events. Sign-in is decided here, at import,
from ``CHAINLIT_AUTH_SECRET`` and ``CHAINLIT_USERS`` (see ``chat_app.auth``): Chainlit's decorators register
when this module is imported.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import Any, cast

import chainlit as cl
from chainlit.config import APP_ROOT
from chainlit.data.base import BaseDataLayer
from chainlit.types import ThreadDict

from chat_app import history
from chat_app.admission import VoiceAdmission, max_voice_sessions_from_env
from chat_app.auth import (
    AuthConfig,
    ClientAddressMiddleware,
    SignInGuard,
    auth_from_env,
    client_address,
    throttle_from_env,
)
from chat_app.chat import TRY_AGAIN_ACTION, VoiceChat
from chat_app.data_layer import HistoryDataLayer, history_from_env
from chat_app.edge import install_socket_guards
from chat_app.fastloop import restore_c_tasks
from chat_app.profiling import start_profile_from_env
from chat_app.render import secrets_of
from chat_app.wiring import check_model_shutdowns, new_client, start_embedded_engine, tool_runner
from realtime.config import SessionOptions, Settings
from realtime.providers import ConfigurationError, Provider, build_provider
from realtime.redaction import add_secrets, install_log_redaction

log = logging.getLogger("app")

# The `chainlit` command loads this file by its path with its folder put first on the import path, and pops that
# first entry once the file is loaded (chainlit/config.py, load_module); the app imports parts of itself later too
# (the local engine at startup), so the folder goes in once more, second, to be first after that pop.
if (APP_DIR := str(Path(__file__).resolve().parent)) not in sys.path[1:]:
    sys.path.insert(1, APP_DIR)

# `chainlit run` with CI set in the environment (as CI services and some containers do) puts a placeholder OpenAI
# key into the environment for its own tests (chainlit/cli, "CI mode"). It is no key of the user's: drop it, so the
# app does not try OpenAI with it instead of the local engine.
CHAINLIT_CI_PLACEHOLDER_KEY = "sk-FAKE-OPENAI-API-KEY"
if os.environ.get("OPENAI_API_KEY") == CHAINLIT_CI_PLACEHOLDER_KEY:
    del os.environ["OPENAI_API_KEY"]
    log.info("ignoring the placeholder OPENAI_API_KEY that `chainlit run` sets in CI mode")

restore_c_tasks()  # `chainlit run` made every asyncio task pure Python (nest_asyncio); the app needs no re-entry

SETTINGS = Settings()
# Every log line (the app's, Chainlit's, uvicorn's, websockets', socket.io's) and every text shown goes through
# the one redactor, which knows the secrets of the settings (and the Entra tokens fetched later).
add_secrets(*secrets_of(SETTINGS))
install_log_redaction()
CHAT_KEY = "voice_chat"


TOOLS = tool_runner(SETTINGS)
VOICE_ADMISSION = VoiceAdmission(max_voice_sessions_from_env(os.environ))
# Malformed audio and settings payloads are dropped before Chainlit's handlers; audio goes straight to the chat.
install_socket_guards(on_audio=lambda pcm: _chat().push_audio(pcm))

PROVIDER: Provider | None = None
PROVIDER_ERROR = ""
try:
    PROVIDER = build_provider(SETTINGS)
    log.info("realtime backend: %s", PROVIDER.label)
except ConfigurationError as exc:
    PROVIDER_ERROR = str(exc)
    log.error("realtime backend is not configured: %s", exc)


def _make_client(options: SessionOptions) -> Any:
    assert PROVIDER is not None
    return new_client(SETTINGS, PROVIDER, TOOLS, options)


class _Unconfigured:
    """Stands in for a client when the settings are wrong: every connect fails with the setting's name."""

    async def connect(self) -> None:
        raise ConfigurationError(PROVIDER_ERROR)

    async def close(self) -> None:
        return None


def _chat() -> VoiceChat:
    chat = cl.user_session.get(CHAT_KEY)
    if chat is None:
        chat = VoiceChat(
            _make_client if PROVIDER is not None else (lambda _options: _Unconfigured()),  # type: ignore[arg-type,return-value]
            SETTINGS.default_session_options(),
            provider_name=PROVIDER.name if PROVIDER else SETTINGS.provider_name(),
            provider_label=PROVIDER.label if PROVIDER else "the configured provider",
            tool_names=list(getattr(TOOLS, "names", []) or []),
            tools_disabled=dict(getattr(TOOLS, "disabled", {}) or {}),
            secrets=secrets_of(SETTINGS),
            transcription_model=SETTINGS.realtime_transcription_model,
            admission=VOICE_ADMISSION,
        )
        chat.on_spoken_turn = history.start_thread
        cl.user_session.set(CHAT_KEY, chat)
    return chat


@cl.on_app_startup
async def on_app_startup() -> None:
    """On the embedded local engine, start it now (its models load in the background while the app starts, so
    the first chat does not wait for them); chats reach it in memory, with no socket."""
    start_profile_from_env()  # APP_PROFILE=path: cProfile of the event loop (bench/relay_load.py)
    await check_model_shutdowns(SETTINGS)  # OpenAI only: a model shutting down soon, or gone, goes into the status
    if PROVIDER is not None and PROVIDER.in_process:
        await start_embedded_engine()
    if HISTORY_LAYER is not None:
        await HISTORY_LAYER.prepare()  # creates or migrates the schema; the app does not start without it


@cl.on_chat_start
async def on_chat_start() -> None:
    await _chat().start()


@cl.on_message
async def on_message(message: cl.Message) -> None:
    await _chat().send_text(message.content)
    await history.typed_turn()


@cl.on_audio_start
async def on_audio_start() -> bool:
    return await _chat().start_voice()


@cl.on_audio_chunk
async def on_audio_chunk(chunk: cl.InputAudioChunk) -> None:
    _chat().push_audio(chunk.data)  # synchronous: queued in arrival order before anything awaits


@cl.on_audio_end
async def on_audio_end() -> None:
    await _chat().end_voice()


@cl.on_settings_update
async def on_settings_update(settings: dict[str, Any]) -> None:
    await _chat().apply_settings(settings)
    await history.keep_settings(settings)


@cl.on_chat_resume
async def on_chat_resume(thread: ThreadDict) -> None:
    """A thread picked from the history: its settings and earlier turns go into a new session."""
    chat = _chat()
    await history.resume(chat, thread, transcription_model=SETTINGS.realtime_transcription_model)
    history.start_after_resume(chat)


@cl.action_callback(TRY_AGAIN_ACTION)
async def on_try_again(action: cl.Action) -> None:
    await _chat().try_again()


@cl.on_chat_end
async def on_chat_end() -> None:
    chat = cl.user_session.get(CHAT_KEY)
    if chat is not None:
        await chat.close()


def _install_client_address() -> bool:
    """Let the sign-in callback see the client's address (Chainlit passes it only the name and password)."""
    from chainlit.server import app as server

    if any(getattr(m, "cls", None) is ClientAddressMiddleware for m in server.user_middleware):
        return True
    try:
        server.add_middleware(ClientAddressMiddleware)
    except RuntimeError:  # the server already started (a hot reload): throttle by user name only
        log.warning("sign-in throttling by user name only: the client address is not available")
        return False
    return True


AUTH: AuthConfig | None = auth_from_env(os.environ)  # raises (app refuses to start) when half configured

SIGN_IN: SignInGuard | None = None
if AUTH is not None:
    SIGN_IN = _guard = SignInGuard(AUTH, throttle_from_env(os.environ))
    _install_client_address()

    @cl.password_auth_callback
    async def password_auth(username: str, password: str) -> cl.User | None:
        if await _guard.sign_in(username, password, client_address()):
            return cl.User(identifier=username, metadata={"provider": "credentials"})
        return None

    log.info("sign-in is on: %d user(s) may sign in", len(AUTH.users))
else:
    log.warning(
        "sign-in is OFF: anyone who can reach this app can use it (and your tokens). For a deployed app set "
        "CHAINLIT_AUTH_SECRET and CHAINLIT_USERS (see .env.example)."
    )

# Conversations are kept (Chainlit's history sidebar) when sign-in is on: in DATABASE_URL, or a SQLite file in
# DATA_DIR (see chat_app.data_layer). Registered in every case, so Chainlit never starts a data layer of its own.
HISTORY = history_from_env(os.environ, sign_in=AUTH is not None, app_dir=Path(APP_ROOT))  # raises on a bad URL
HISTORY_LAYER = HistoryDataLayer(HISTORY, secrets=secrets_of(SETTINGS)) if HISTORY.enabled else None
if HISTORY_LAYER is None:  # a DATABASE_URL that goes unused deserves more than an info line
    (log.warning if os.environ.get("DATABASE_URL") else log.info)("history is off: %s", HISTORY.reason)


@cl.data_layer
def data_layer() -> BaseDataLayer:
    return cast(BaseDataLayer, HISTORY_LAYER)  # None: no history
