"""Guards at the earliest point the app controls: Chainlit's socket.io handlers for what the browser sends.

Chainlit builds ``InputAudioChunk(**payload)`` before the app's ``on_audio_chunk`` runs, and iterates the settings
payload with ``.items()`` before ``on_settings_update``; a payload of another shape raises inside Chainlit's own
handler (python-socketio runs it as a task, so it surfaces as "Task exception was never retrieved"). So
:func:`install_socket_guards` wraps those two handlers of Chainlit's socket.io server: a payload of the wrong
shape is dropped and counted here (one log line per connection, no traceback); a settings payload that is not
an object also gets a toast naming the problem. Well-formed settings go on to Chainlit unchanged.

Well-formed audio takes a shorter path when the app passes ``on_audio``: Chainlit's own handler would set up the
chat's context, start a task per chunk and look up the callback's signature per chunk before calling the app's
``on_audio_chunk``; the guard sets up the same context and hands the bytes to ``on_audio`` at once, in arrival
order (each socket.io event already runs in a task of its own). That is the relay's hot path: about 6 chunks a
second for every chat with the microphone on (``bench/relay_load.py``).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

__all__ = ["DroppedPayloads", "audio_payload_problem", "install_socket_guards"]

log = logging.getLogger("app")

_AUDIO_FIELDS = {"isStart", "mimeType", "elapsedTime", "data"}


def audio_payload_problem(payload: Any) -> str | None:
    """Why an ``audio_chunk`` payload cannot be used (None when it can): a mapping with exactly Chainlit's four
    fields and bytes in ``data``."""
    if not isinstance(payload, dict):
        return f"the payload is {type(payload).__name__}, not an object"
    if set(payload) != _AUDIO_FIELDS:
        return "the payload's fields are not isStart, mimeType, elapsedTime and data"
    if not isinstance(payload["data"], bytes | bytearray):
        return f"data is {type(payload['data']).__name__}, not bytes"
    return None


class DroppedPayloads:
    """Counts dropped payloads per socket.io connection and kind; only the first of each is logged."""

    def __init__(self) -> None:
        self.by_sid: dict[tuple[str, str], int] = {}
        self.total = 0

    def drop(self, sid: str, what: str, problem: str) -> None:
        self.total += 1
        count = self.by_sid[sid, what] = self.by_sid.get((sid, what), 0) + 1
        if count == 1:
            log.warning(
                "dropped a malformed %s payload: %s (further ones of this chat are only counted)", what, problem
            )
        if len(self.by_sid) > 10_000:  # forget the oldest connections
            self.by_sid.pop(next(iter(self.by_sid)))


DROPPED = DroppedPayloads()

Handler = Callable[..., Awaitable[Any]]


def install_socket_guards(sio: Any = None, on_audio: Callable[[bytes], None] | None = None) -> bool:
    """Wrap Chainlit's ``audio_chunk`` and ``chat_settings_change`` socket.io handlers (idempotent). With
    ``on_audio``, well-formed audio goes straight to it, called in the chat's Chainlit context. Returns False when
    Chainlit's handlers are not where they were expected (then Chainlit's own errors stand)."""
    if sio is None:
        from chainlit.server import sio as chainlit_sio

        sio = chainlit_sio
    handlers: dict[str, Any] = sio.handlers.get("/", {})
    audio, settings = handlers.get("audio_chunk"), handlers.get("chat_settings_change")
    if audio is None or settings is None:
        log.warning("Chainlit's socket handlers were not found: malformed payloads are not filtered")
        return False
    if getattr(audio, "_guarded", False):
        return True

    async def audio_chunk(sid: str, payload: Any = None, *rest: Any) -> Any:
        problem = audio_payload_problem(payload)
        if problem is not None or rest:
            DROPPED.drop(sid, "audio", problem or "extra arguments")
            return None
        if on_audio is None:
            return await audio(sid, payload)
        from chainlit.context import init_ws_context
        from chainlit.session import WebsocketSession

        session = WebsocketSession.get(sid)
        if session is None:
            DROPPED.drop(sid, "audio", "no chat for this connection")
            return None
        audio_config = session.get_config().features.audio
        if audio_config and audio_config.enabled:
            init_ws_context(session)
            on_audio(bytes(payload["data"]))
        return None

    async def chat_settings_change(sid: str, payload: Any = None, *rest: Any) -> Any:
        if isinstance(payload, dict) and not rest:
            return await settings(sid, payload)
        DROPPED.drop(sid, "settings", f"the payload is {type(payload).__name__}, not an object")
        await _toast(sid, "Settings not applied: the settings sent were not an object of settings.")
        return None

    for wrapper in (audio_chunk, chat_settings_change):
        wrapper._guarded = True  # type: ignore[attr-defined]
    sio.on("audio_chunk", handler=audio_chunk)
    sio.on("chat_settings_change", handler=chat_settings_change)
    return True


async def _toast(sid: str, text: str) -> None:
    try:
        from chainlit.context import init_ws_context

        context = init_ws_context(sid)
        await context.emitter.send_toast(text, "error")
    except Exception as exc:  # the chat is gone: nothing to tell
        log.debug("could not show a toast: %s", type(exc).__name__)
