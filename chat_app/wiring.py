"""How the app's parts are put together (no Chainlit here, so the command line shares it).

- :func:`tool_runner`: the project's tools (``tools.build_registry``) from the settings, or ``None``.
- :func:`embedded_connector`: an in-memory connector to the local engine started in this process once
  (``local_engine.embedded``; its models load in the background), for the local provider without
  ``LOCAL_ENGINE_URL``.
- :func:`new_client`: a :class:`realtime.client.RealtimeClient` whose tool calls a
  :class:`realtime.conversation.Conversation` runs with the runner.
- :func:`check_model_shutdowns`: at app start, the configured OpenAI models' shutdown dates
  (``realtime.model_lifecycle``); a model shutting down within 90 days, or gone, is said in every chat's status.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from chat_app.render import set_model_notices
from realtime import model_lifecycle
from realtime.client import RealtimeClient
from realtime.config import SessionOptions, Settings
from realtime.conversation import Conversation, ToolRunner
from realtime.providers import Provider
from realtime.transport import Connection, Connector, memory_connector

__all__ = [
    "check_model_shutdowns",
    "connector_for",
    "embedded_connector",
    "new_client",
    "start_embedded_engine",
    "tool_runner",
]

log = logging.getLogger(__name__)

_engine_connector: list[Connector] = []  # the embedded engine's connector, once started in this process


def tool_runner(settings: Settings) -> ToolRunner | None:
    """The tool registry, or None when the tools package cannot be loaded (the chat works without tools)."""
    try:
        from tools import build_registry

        return build_registry(**settings.tool_options())
    except Exception as exc:
        log.error("tools are off: %s", exc)
        return None


async def start_embedded_engine() -> Connector:
    """Start the local engine in this process once (models load in the background); its in-memory connector."""
    if not _engine_connector:
        from local_engine import embedded

        engine = await embedded.start()
        if not _engine_connector:  # no await between this check and the append
            _engine_connector.append(memory_connector(engine.serve_connection))
            log.info("local engine started in this process (models loading in the background)")
    return _engine_connector[0]


async def embedded_connector(url: str, headers: Mapping[str, str]) -> Connection:
    """Connect to the embedded engine in memory, starting it first if nothing did."""
    return await (await start_embedded_engine())(url, headers)


def connector_for(provider: Provider) -> Connector | None:
    """The embedded engine's connector for an in-process provider, else ``None`` (the default websocket)."""
    return embedded_connector if provider.in_process else None


def new_client(
    settings: Settings,
    provider: Provider,
    runner: ToolRunner | None,
    options: SessionOptions | None = None,
) -> RealtimeClient:
    """A client for ``provider`` that offers ``runner``'s tools and runs their calls (a
    :class:`realtime.conversation.Conversation`), connected in memory to an in-process engine."""
    client = RealtimeClient(
        settings,
        provider=provider,
        tools=runner.definitions() if runner is not None else (),
        options=options,
        connector=connector_for(provider),
    )
    Conversation(client, runner)
    return client


async def check_model_shutdowns(settings: Settings) -> list[model_lifecycle.ModelNotice]:
    """Read the configured models' shutdown dates (OpenAI provider only; ``GET /v1/models/{model}``, a 3 s timeout)
    and put what needs saying into every chat's status (:func:`chat_app.render.set_model_notices`). Logged by
    ``realtime.model_lifecycle``; never raises: an unreachable endpoint leaves the status as it was."""
    try:
        notices = await model_lifecycle.check_models(settings)
    except Exception as exc:  # a bug here must not stop the app
        log.info("model shutdown dates not checked (%s)", type(exc).__name__)
        return []
    set_model_notices(model_lifecycle.notice_lines(notices))
    return notices
