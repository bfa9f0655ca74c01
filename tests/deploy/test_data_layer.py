"""The history's data layer on SQLite, in this process: settings, schema migrations, what a user may see, deleting,
redaction; the turns a resumed chat puts into its new session."""

from __future__ import annotations

import json
import sqlite3
import uuid
from pathlib import Path
from typing import Any

import pytest
from chainlit.types import Pagination, ThreadFilter
from chainlit.user import User

from chat_app.chat import VoiceChat
from chat_app.data_layer import (
    MIGRATIONS,
    SCHEMA_TABLE,
    HistoryConfig,
    HistoryConfigError,
    HistoryDataLayer,
    history_from_env,
    migrate,
)
from chat_app.history import MAX_EARLIER_ITEMS, earlier_items
from realtime.config import SessionOptions
from realtime.session import RealtimeSession
from tests.app.app_helpers import FakeClient, chainlit_session, settle

# ------------------------------------------------------------------------------------------------ settings

FAKE_KEY = "sk-" + "test-not-a-real-key-1234"  # built at run time: no key-shaped string in the tree


def test_no_sign_in_means_no_history_and_no_chainlit_layer(tmp_path: Path) -> None:
    off = history_from_env({}, sign_in=False, app_dir=tmp_path)
    assert not off.enabled and "sign-in is off" in off.reason
    unused = history_from_env({"DATABASE_URL": "postgresql://u:pw@db/x"}, sign_in=False, app_dir=tmp_path)
    assert not unused.enabled and "sign-in is off" in unused.reason


def test_sign_in_defaults_to_sqlite_in_the_data_dir(tmp_path: Path) -> None:
    default = history_from_env({}, sign_in=True, app_dir=tmp_path)
    assert default.url == f"sqlite+aiosqlite:///{tmp_path}/.data/history.db"
    chosen = history_from_env({"DATA_DIR": str(tmp_path / "keep")}, sign_in=True, app_dir=tmp_path)
    assert chosen.url == f"sqlite+aiosqlite:///{tmp_path}/keep/history.db"


@pytest.mark.parametrize(
    ("given", "used"),
    [
        ("postgresql+asyncpg://rvc:pw@db:5432/rvc", "postgresql+asyncpg://rvc:pw@db:5432/rvc"),
        ("postgresql://rvc:pw@db/rvc", "postgresql+asyncpg://rvc:pw@db/rvc"),
        ("postgres://rvc:pw@db/rvc", "postgresql+asyncpg://rvc:pw@db/rvc"),
        ("sqlite:////var/lib/rvc/h.db", "sqlite+aiosqlite:////var/lib/rvc/h.db"),
    ],
)
def test_database_url_forms(tmp_path: Path, given: str, used: str) -> None:
    config = history_from_env({"DATABASE_URL": given}, sign_in=True, app_dir=tmp_path)
    assert config.url == used
    assert "pw" not in config.reason  # the password never reaches a log line


@pytest.mark.parametrize(
    "url", ["mysql://u:secretpw@db/x", "postgresql+psycopg://u:secretpw@db/x", "not a url", "postgresql://u@db"]
)
def test_unusable_database_url_is_refused_clearly(tmp_path: Path, url: str) -> None:
    with pytest.raises(HistoryConfigError, match="DATABASE_URL") as caught:
        history_from_env({"DATABASE_URL": url}, sign_in=True, app_dir=tmp_path)
    assert "secretpw" not in str(caught.value)


def test_store_audio_says_it_is_not_available(tmp_path: Path) -> None:
    with pytest.raises(HistoryConfigError, match="STORE_AUDIO is not available"):
        history_from_env({"STORE_AUDIO": "1"}, sign_in=True, app_dir=tmp_path)


# ------------------------------------------------------------------------------------------------ schema


def sqlite_layer(path: Path, secrets: list[str] | None = None) -> HistoryDataLayer:
    return HistoryDataLayer(HistoryConfig(f"sqlite+aiosqlite:///{path}", "test"), secrets=secrets or [])


def versions(path: Path) -> list[int]:
    with sqlite3.connect(path) as conn:
        return [r[0] for r in conn.execute(f'SELECT "version" FROM {SCHEMA_TABLE} ORDER BY 1')]


async def test_schema_is_created_once_and_migrated_in_order(tmp_path: Path) -> None:
    db = tmp_path / "sub" / "h.db"
    layer = sqlite_layer(db)
    try:
        assert await migrate(layer, MIGRATIONS[:1]) == [1]  # an older app made version 1
        assert versions(db) == [1]
        assert await migrate(layer) == [2]  # this one adds the rest
        assert await migrate(layer) == []  # and is idempotent
        assert versions(db) == [m.version for m in MIGRATIONS]
        with sqlite3.connect(db) as conn:
            tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        assert {"users", "threads", "steps", "elements", "feedbacks", SCHEMA_TABLE} <= tables
    finally:
        await layer.engine.dispose()


# ------------------------------------------------------------------------------------------------ threads


async def make_thread(layer: HistoryDataLayer, user: Any, words: list[str]) -> str:
    thread_id = str(uuid.uuid4())
    await layer.update_thread(thread_id, name=words[0], user_id=user.id, metadata={"chat_settings": {"voice": "x"}})
    for i, text in enumerate(words):
        await layer.create_step({"id": str(uuid.uuid4()), "threadId": thread_id, "name": "You" if i % 2 == 0 else
                                 "Assistant", "type": "user_message" if i % 2 == 0 else "assistant_message",
                                 "output": text, "streaming": False, "createdAt": f"2026-01-01T00:00:0{i}Z",
                                 "metadata": {}})  # fmt: skip
    return thread_id


async def test_threads_are_listed_owned_resumed_and_deleted(tmp_path: Path) -> None:
    chainlit_session().has_first_interaction = True  # a chat that has begun: steps are written at once
    db = tmp_path / "h.db"
    layer = sqlite_layer(db, secrets=[FAKE_KEY])
    try:
        alice = await layer.create_user(User(identifier="alice"))
        bob = await layer.create_user(User(identifier="bob"))
        assert alice and bob
        mine = await make_thread(layer, alice, ["hello", "hi there", f"my key is {FAKE_KEY}"])
        other = await make_thread(layer, bob, ["bob's secret plan"])

        page = await layer.list_threads(Pagination(first=10), ThreadFilter(userId=alice.id))
        assert [t["id"] for t in page.data] == [mine]
        page = await layer.list_threads(Pagination(first=10), ThreadFilter(userId=bob.id))
        assert [t["id"] for t in page.data] == [other]
        assert await layer.get_thread_author(mine) == "alice"  # what Chainlit checks before showing or resuming
        assert await layer.get_thread_author(other) == "bob"

        thread = await layer.get_thread(mine)
        assert thread is not None
        assert [s["output"] for s in thread["steps"]] == ["hello", "hi there", "my key is ***"]
        assert json.loads(str(thread["metadata"]))["chat_settings"] == {"voice": "x"}
        assert (await layer.thread_metadata(mine))["chat_settings"] == {"voice": "x"}

        await layer.delete_thread(mine)
        assert await layer.get_thread(mine) is None
        with sqlite3.connect(db) as conn:
            left = conn.execute('SELECT COUNT(*) FROM steps WHERE "threadId" = ?', (mine,)).fetchone()[0]
            dump = "\n".join(str(r) for r in conn.execute("SELECT * FROM steps"))
        assert left == 0
        assert FAKE_KEY not in dump
        assert await layer.get_thread(other) is not None  # bob's thread is untouched
    finally:
        await layer.engine.dispose()


# ------------------------------------------------------------------------------------------------ resume


def step(kind: str, output: str, name: str = "", **extra: Any) -> dict[str, Any]:
    return {"type": kind, "output": output, "name": name or ("You" if kind == "user_message" else "Assistant"), **extra}


def test_earlier_items_are_the_conversation_as_text() -> None:
    thread = {
        "steps": [
            step("assistant_message", "Connected to the local engine.", name="Status"),
            step("user_message", "my favourite colour is teal"),
            step("assistant_message", "Noted: teal."),
            step("user_message", "\N{STUDIO MICROPHONE}\ufe0f …"),  # a spoken turn never transcribed
            step("tool", '{"time": "12:00"}', name="get_current_time (120 ms)"),
            step("assistant_message", "It is twelve and... *(interrupted)*"),
            step("assistant_message", "Could not connect", name="Error", isError=True),
        ]
    }
    assert earlier_items(thread) == [
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "my favourite colour is teal"}]},
        {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Noted: teal."}]},
        {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "It is twelve and..."}]},
    ]
    long = {"steps": [step("user_message", f"turn {i}") for i in range(100)]}
    items = earlier_items(long)
    assert len(items) == MAX_EARLIER_ITEMS and items[-1]["content"][0]["text"] == "turn 99"


def test_the_session_sends_earlier_items_without_a_response() -> None:
    session = RealtimeSession(SessionOptions())
    items = earlier_items({"steps": [step("user_message", "hello"), step("assistant_message", "hi")]})
    ids = session.add_items(items)  # before the connection: they go out once the session is configured
    assert session.data_to_send() == []
    session.start()
    sent = session.data_to_send()[1:]
    assert [e["type"] for e in sent] == ["conversation.item.create", "conversation.item.create"]
    assert [e["item"]["id"] for e in sent] == ids
    assert sent[1]["item"]["content"] == [{"type": "output_text", "text": "hi"}]
    assert [h["role"] for h in session.history] == ["user", "assistant"]


class SeedableClient(FakeClient):
    async def add_items(self, items: Any) -> list[str]:
        self.calls.append(("add_items", list(items)))
        return []


async def test_a_resumed_chat_seeds_its_session_before_connecting() -> None:
    chainlit_session()
    clients: list[SeedableClient] = []

    def factory(options: SessionOptions) -> SeedableClient:
        clients.append(SeedableClient(options))
        return clients[-1]

    chat = VoiceChat(factory, SessionOptions(), provider_name="local", provider_label="the local engine")
    chat.earlier_items = earlier_items({"steps": [step("user_message", "hello")]})
    await chat.send_text("what did I say?")
    await settle()
    assert clients[0].names()[:2] == ["add_items", "connect"]
    assert "send_text" in clients[0].names()
    await chat.close()
