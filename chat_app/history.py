"""A chat's thread: what is kept of it, and picking it up again (``on_chat_resume``).

Chainlit stores every message and step of a chat in its thread through the data layer
(:mod:`chat_app.data_layer`): the user's typed turns and spoken ones (as their transcripts), the assistant's
answers (an interrupted one as the part that was heard, marked *(interrupted)*), tool steps with their arguments,
results and durations. This module adds what Chainlit does not do by itself:

- :func:`start_thread`: a chat whose first turn is spoken starts its thread too (Chainlit starts one only for a
  typed message), named after the transcript, so voice-only chats appear in the history sidebar.
- :func:`keep_settings`: the chat settings go into the thread's metadata as soon as they change (Chainlit saves
  them only when the socket closes, which a stopped replica never does).
- :func:`resume`: the thread's turns become conversation items (text) of the new realtime session, so the model
  answers with the earlier context; the settings come back; the status messages of earlier sessions are dropped.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Mapping
from typing import Any

import chainlit as cl
from chainlit.data import get_data_layer
from chainlit.session import WebsocketSession
from chainlit.types import ThreadDict
from chainlit.user import PersistedUser

from chat_app.chat import ASSISTANT_AUTHOR, SPEAKING, VoiceChat
from chat_app.chat_settings import options_from_values

__all__ = [
    "MAX_EARLIER_CHARS",
    "MAX_EARLIER_ITEMS",
    "earlier_items",
    "keep_settings",
    "resume",
    "start_after_resume",
    "start_thread",
    "typed_turn",
]

log = logging.getLogger("app")

MAX_EARLIER_ITEMS = 40  # the newest turns replayed into a resumed session
MAX_EARLIER_CHARS = 24_000  # and at most this much text (about 6,000 tokens)
STATUS_AUTHOR = "Status"
_SETTINGS_KEPT = "history_settings_kept"
_NAMED = "history_thread_named"
_INTERRUPTED = re.compile(r"\s*\*\(interrupted\)\*\s*$")


def earlier_items(thread: ThreadDict | Mapping[str, Any]) -> list[dict[str, Any]]:
    """The thread's conversation as Realtime conversation items (GA shape), oldest first: user messages as
    ``input_text``, the assistant's as ``output_text`` (an interrupted answer as what was heard). Status and error
    messages, tool steps and spoken turns without words are left out. The newest :data:`MAX_EARLIER_ITEMS`, within
    :data:`MAX_EARLIER_CHARS`."""
    items: list[dict[str, Any]] = []
    for step in thread.get("steps") or []:
        kind = step.get("type")
        text = str(step.get("output") or "").strip()
        if kind == "user_message":
            if not text or text.startswith(SPEAKING):  # a placeholder: never transcribed, or nothing recognised
                continue
            items.append({"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]})
        elif kind == "assistant_message" and step.get("name") == ASSISTANT_AUTHOR and not step.get("isError"):
            text = _INTERRUPTED.sub("", text).strip()
            if text:
                items.append(
                    {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": text}]}
                )
    kept: list[dict[str, Any]] = []
    total = 0
    for item in reversed(items[-MAX_EARLIER_ITEMS:]):
        total += len(item["content"][0]["text"])
        if total > MAX_EARLIER_CHARS and kept:
            break
        kept.append(item)
    return kept[::-1]


def _session() -> WebsocketSession | None:
    session = cl.context.session
    return session if isinstance(session, WebsocketSession) else None


async def start_thread(first_words: str) -> None:
    """A spoken turn: start the thread if no typed message did (Chainlit's ``first_interaction``), so what was
    said is stored and the chat is listed; then keep the settings."""
    session = _session()
    if session is None or cl.user_session.get(_NAMED):
        return
    cl.user_session.set(_NAMED, True)
    name = first_words[:200] or "Spoken chat"
    if session.has_first_interaction:
        # Chainlit started the thread when the microphone stopped (push-to-talk: before the words were known)
        # and named it "audio": name it after them.
        data_layer = get_data_layer()
        if data_layer is not None and first_words:
            try:
                await data_layer.update_thread(thread_id=session.thread_id, name=name)
            except Exception as exc:
                log.warning("naming the thread failed: %s", type(exc).__name__)
        await keep_settings()
        return
    session.has_first_interaction = True
    # What Chainlit's emitter.init_thread does, except that the writes held back until now are made here, in
    # order, before the caller stores the turn's transcript (Chainlit flushes them in a task of its own, which
    # the transcript's write could overtake: the thread kept the partial transcript).
    data_layer = get_data_layer()
    if data_layer is not None:
        user_id = session.user.id if isinstance(session.user, PersistedUser) else None
        try:
            await data_layer.update_thread(thread_id=session.thread_id, name=name, user_id=user_id)
        except Exception as exc:
            log.warning("starting the thread failed: %s", type(exc).__name__)
        await session.flush_method_queue()
    await cl.context.emitter.emit("first_interaction", {"interaction": name, "thread_id": session.thread_id})
    await keep_settings()


async def typed_turn() -> None:
    """A typed message: Chainlit started the thread with it and named it after it; keep the settings."""
    cl.user_session.set(_NAMED, True)
    await keep_settings()


async def keep_settings(values: Mapping[str, Any] | None = None) -> None:
    """Store the chat settings in the thread's metadata (``chat_settings``, where Chainlit restores them from on
    resume). Only once the thread exists: before the first turn there is nothing to keep."""
    session = _session()
    data_layer = get_data_layer()
    if session is None or data_layer is None or not session.has_first_interaction:
        return
    if values is None and cl.user_session.get(_SETTINGS_KEPT):
        return  # kept once at the thread's start; later changes come with their values
    cl.user_session.set(_SETTINGS_KEPT, True)
    settings = dict(session.chat_settings or {})
    settings.update(values or {})
    try:
        await data_layer.update_thread(thread_id=session.thread_id, metadata={"chat_settings": settings})
    except Exception as exc:
        log.warning("keeping the chat settings failed: %s", type(exc).__name__)


async def resume(chat: VoiceChat, thread: ThreadDict, *, transcription_model: str | None) -> int:
    """``on_chat_resume``: before the chat starts, give it the thread's settings and earlier turns (seeded into
    its realtime session at connect), and drop the status messages of earlier sessions from the thread (a new one
    shows this session's). Returns the number of conversation items to seed."""
    session = _session()
    cl.user_session.set(_NAMED, True)  # a resumed thread keeps its name
    settings = session.chat_settings if session is not None else {}
    if settings:
        chat.options = options_from_values(settings, chat.options, transcription_model=transcription_model)
    steps: list[Any] = list(thread.get("steps") or [])
    stale = [s for s in steps if s.get("name") == STATUS_AUTHOR and s.get("type") == "assistant_message"]
    thread["steps"] = [s for s in steps if s not in stale]  # what Chainlit shows after this callback
    data_layer = get_data_layer()
    if data_layer is not None:
        for step in stale:
            try:
                await data_layer.delete_step(step["id"])
            except Exception as exc:
                log.warning("dropping an old status message failed: %s", type(exc).__name__)
    chat.earlier_items = earlier_items(thread)
    log.info("resuming a thread: %d earlier turn(s) go into the new session", len(chat.earlier_items))
    return len(chat.earlier_items)


_starting: set[asyncio.Task[None]] = set()
SHOW_DELAY_S = 0.3


def start_after_resume(chat: VoiceChat) -> None:
    """Start the resumed chat (status message, settings panel, session) once Chainlit has shown the thread: the
    page replaces its messages with the thread's when it gets them, which would hide a status sent before. A
    message or the microphone used sooner opens the session at once (``VoiceChat.ensure_connected``)."""

    async def later() -> None:
        await asyncio.sleep(SHOW_DELAY_S)
        await chat.start()

    task = asyncio.create_task(later(), name="resume-start")
    _starting.add(task)
    task.add_done_callback(_starting.discard)
