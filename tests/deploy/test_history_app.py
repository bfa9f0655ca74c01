"""History on one app with sign-in and the default SQLite file: a chat is listed for its user only, is resumed
with its turns shown and given to the new session, and is deleted with everything it holds.

The app runs on the local engine with a loopback "recall" model (tests/deploy/recall_llm.py): its answers quote
the first thing the user said in the conversation it was given, so an answer after resuming proves that the new
session holds the earlier turns.
"""

from __future__ import annotations

import json
import re
import sqlite3
import urllib.error
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.app.conftest import ARTIFACTS, AppServer, clean_env, start_app, stop_app
from tests.app.wire import load_pcm
from tests.deploy.recall_llm import RecallModel
from tests.deploy.signed_in import Browser, sign_in_env


@pytest.fixture(scope="module")
def recall_model() -> Iterator[RecallModel]:
    with RecallModel() as model:
        yield model


@pytest.fixture(scope="module")
def history_app(
    tmp_path_factory: pytest.TempPathFactory, recall_model: RecallModel
) -> Iterator[tuple[AppServer, Path]]:
    data_dir = tmp_path_factory.mktemp("data")
    ARTIFACTS.mkdir(exist_ok=True)
    env = clean_env(**sign_in_env(DATA_DIR=str(data_dir), LOCAL_LLM_BASE_URL=recall_model.base_url,
                                  LOCAL_LLM_MODEL="recall"))  # fmt: skip
    server = start_app(ARTIFACTS / "history-app.log", env)
    try:
        yield server, data_dir / "history.db"
    finally:
        stop_app(server)


def assistant_texts(chat: object) -> list[str]:
    return [t for t in chat.messages("assistant_message").values() if t.startswith("Earlier you said")]  # type: ignore[attr-defined]


async def wait_answers(chat: object, count: int) -> None:
    await chat.wait(lambda: len(assistant_texts(chat)) >= count, 60, f"{count} answer(s)")  # type: ignore[attr-defined]


async def test_thread_listed_resumed_owned_and_deleted(history_app: tuple[AppServer, Path]) -> None:
    server, db = history_app
    alice, bob = Browser(server.url), Browser(server.url)
    alice.sign_in("alice")
    bob.sign_in("bob")

    chat = alice.chat()
    await chat.open()
    await chat.wait(lambda: "Connected" in chat.status(), 60, "the session")
    await chat.type("my favourite colour is teal")
    await wait_answers(chat, 1)
    await chat.type("and my cat is called Miso")
    await wait_answers(chat, 2)
    await chat.sio.emit("chat_settings_change", {"voice": "echo"})  # a setting changed during the chat
    first = str(chat.first_interaction_thread())
    await chat.wait(lambda: '"voice": "echo"' in str(alice.thread(first).get("metadata")), 20, "the setting kept")
    await chat.type("what time is it in Tokyo?")
    await chat.wait(lambda: any(chat.messages("tool").values()), 60, "the tool step")
    await wait_answers(chat, 3)
    thread_id = chat.first_interaction_thread()
    assert thread_id
    await chat.close()

    # Listed for alice, not for bob; bob can neither read, delete nor resume it.
    await chat.wait(lambda: any(t["id"] == thread_id for t in alice.threads()), 20, "the thread in the list")
    assert [t["id"] for t in alice.threads()] == [thread_id]
    assert alice.threads()[0]["name"] == "my favourite colour is teal"
    assert thread_id not in {t["id"] for t in bob.threads()}  # bob may have chats of his own (another test)
    assert bob.status_of("GET", f"/project/thread/{thread_id}") == 401
    assert bob.status_of("DELETE", "/project/thread", {"threadId": thread_id}) == 401
    intruder = bob.chat()
    with pytest.raises(Exception, match=r"(?i)connect|refused|authori"):
        await intruder.open(thread_id)
    await intruder.sio.disconnect()

    # The tool step is kept with its arguments, result and duration (written by tasks: wait for the last one).
    def tool_step() -> dict[str, Any]:
        return next((s for s in alice.thread(thread_id)["steps"] if s["type"] == "tool"), {})

    await chat.wait(lambda: "ms)" in str(tool_step().get("name")), 20, "the finished tool step")
    stored = alice.thread(thread_id)
    tool = tool_step()
    assert re.fullmatch(r"get_current_time \(\d+ ms\)", tool["name"]), tool["name"]
    assert "Asia/Tokyo" in tool["input"] and "Asia/Tokyo" in tool["output"]
    assert tool["start"] and tool["end"] and tool["start"] <= tool["end"]
    assert json.loads(stored["metadata"])["chat_settings"]["voice"] == "echo"  # the chat settings are in the thread

    # Resume: the history is shown, the new session holds it, the next answer uses it.
    resumed = alice.chat()
    await resumed.open(thread_id)
    await resumed.wait(lambda: bool(resumed.named("resume_thread")), 30, "the thread")
    shown = [s.get("output") for s in resumed.named("resume_thread")[0]["steps"]]
    assert "my favourite colour is teal" in shown and "and my cat is called Miso" in shown
    assert sum(1 for s in resumed.named("resume_thread")[0]["steps"] if s.get("name") == "Status") == 0

    # The settings come back: the panel shows the voice chosen before.
    def voice_shown() -> object:
        panels = resumed.named("chat_settings")
        return next((w.get("initial") for w in panels[-1] if w.get("id") == "voice"), None) if panels else None

    await resumed.wait(lambda: voice_shown() == "echo", 30, "the settings panel with the earlier voice")
    await resumed.type("what did I say first?")
    await resumed.wait(lambda: len(assistant_texts(resumed)) >= 1, 60, "the answer after resuming")
    answer = assistant_texts(resumed)[-1]
    assert 'Earlier you said: "my favourite colour is teal"' in answer, answer
    await resumed.close()

    # Deleting the thread deletes its steps too.
    def rows(table: str) -> int:
        with sqlite3.connect(db) as conn:
            return int(conn.execute(f'SELECT COUNT(*) FROM {table} WHERE "threadId" = ?', (thread_id,)).fetchone()[0])

    assert rows("steps") >= 5
    alice.delete_thread(thread_id)
    assert alice.threads() == []
    assert rows("steps") == 0
    with pytest.raises(urllib.error.HTTPError):
        alice.thread(thread_id)


async def test_a_chat_begun_by_voice_is_kept(
    history_app: tuple[AppServer, Path], speech: Callable[[str], Path]
) -> None:
    server, _ = history_app
    bob = Browser(server.url)
    bob.sign_in("bob")
    chat = bob.chat()
    await chat.open()
    await chat.wait(lambda: "Connected" in chat.status(), 60, "the session")
    # Push-to-talk: Chainlit starts the thread (named "audio") when the microphone stops, before the words are
    # known; the thread is named after them once they are.
    await chat.sio.emit("chat_settings_change", {"turn_detection": "push_to_talk"})
    await chat.voice_on()
    await chat.speak(load_pcm(speech("Please remember the number forty two.")), silence_ms=300)
    await chat.sio.emit("audio_end")
    await wait_answers(chat, 1)
    thread_id = chat.first_interaction_thread()
    await chat.close()
    assert thread_id
    await chat.wait(lambda: any(t["id"] == thread_id for t in bob.threads()), 20, "the spoken chat in the list")
    await chat.wait(lambda: "remember" in str(next(t for t in bob.threads() if t["id"] == thread_id)["name"]).lower(),
                    20, "the thread named after the words")  # fmt: skip

    def said() -> list[str]:
        return [s["output"] for s in bob.thread(thread_id)["steps"] if s["type"] == "user_message"]

    # the final transcript, not a partial one (each is written by a task of its own: wait for the last)
    await chat.wait(lambda: any("remember" in o.lower() and "…" not in o for o in said()), 20, "the transcript")
