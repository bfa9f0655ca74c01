"""Keeping conversations: Chainlit's SQLAlchemy data layer on SQLite or PostgreSQL, with a schema the app makes.

Chainlit keeps threads (the sidebar of past chats), their steps (messages, tool steps), elements, feedback and
users through a *data layer*. This module configures Chainlit's own
``chainlit.data.sql_alchemy.SQLAlchemyDataLayer`` from the environment and creates and migrates the tables it
expects, so nobody runs SQL by hand:

- ``DATABASE_URL``: ``postgresql+asyncpg://user:password@host:5432/db`` for deployments (``postgresql://`` and
  ``postgres://`` mean the same), or ``sqlite+aiosqlite:///path/to/file.db`` (``sqlite://`` too). Any other
  scheme is refused at startup (:class:`HistoryConfigError`).
- No ``DATABASE_URL`` and sign-in on: a SQLite file ``history.db`` in ``DATA_DIR`` (default ``.data`` in the
  app's directory), so history works on one machine with no server to run.
- Sign-in off: no history. Chainlit lists and resumes threads only for a signed-in user.
- ``STORE_AUDIO``: keeping each turn's audio needs one of Chainlit's storage clients (S3, Google Cloud Storage,
  Azure); none works offline, so it is not available in this version and setting it stops the app with a
  message saying so.

Chainlit reads ``DATABASE_URL`` itself and, when an app registers no data layer, starts its own PostgreSQL
layer with a schema made by other tools. The app always registers one (``@cl.data_layer``): the
:class:`HistoryDataLayer` when history is on, and "no data layer" otherwise, so Chainlit's own never starts.

Schema: the tables and columns ``SQLAlchemyDataLayer`` reads and writes (Chainlit 2.12, ``data/sql_alchemy.py``),
made by ordered, numbered :data:`MIGRATIONS`. The version reached is kept in ``history_schema_version``; at
startup the app applies the missing ones, in one transaction under an advisory lock on PostgreSQL, so replicas
starting together do not race. Every statement is idempotent (``IF NOT EXISTS``). (Alembic would bring a
migration environment, script directory and template engine for five tables whose shape Chainlit dictates; a
numbered list in this module does the same job.)
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from chainlit.data.sql_alchemy import SQLAlchemyDataLayer
from sqlalchemy import event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.ext.asyncio import AsyncConnection

from chat_app.render import redact

__all__ = [
    "MIGRATIONS",
    "SCHEMA_TABLE",
    "HistoryConfig",
    "HistoryConfigError",
    "HistoryDataLayer",
    "Migration",
    "history_from_env",
    "migrate",
    "safe_url",
]

log = logging.getLogger("app")

SCHEMA_TABLE = "history_schema_version"
_LOCK_KEY = 0x72766301  # pg_advisory_xact_lock key of this app's migrations ("rvc" 1)
_TRUE = ("1", "true", "yes", "on")
_DATED_STEPS = 10_000


class HistoryConfigError(ValueError):
    """The history settings cannot be used. The message never holds a password."""


@dataclass(frozen=True)
class HistoryConfig:
    """Where conversations are kept: ``url`` (SQLAlchemy async URL) or None (no history), and why."""

    url: str | None
    reason: str

    @property
    def enabled(self) -> bool:
        return self.url is not None

    @property
    def dialect(self) -> str:
        return make_url(self.url).get_backend_name() if self.url else ""


def safe_url(url: str) -> str:
    """``url`` with its password hidden, for logs and error messages."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<unparsable URL>"


def _normalise(url: str) -> str:
    """The SQLAlchemy async URL for ``url``; :class:`HistoryConfigError` for a scheme the app cannot use."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        raise HistoryConfigError("DATABASE_URL is not a URL; use postgresql+asyncpg://... or sqlite+aiosqlite:///...")
    scheme = scheme.lower()
    if scheme in ("postgresql+asyncpg", "postgresql", "postgres"):
        url = "postgresql+asyncpg://" + rest
    elif scheme in ("sqlite+aiosqlite", "sqlite"):
        url = "sqlite+aiosqlite://" + rest
    else:
        raise HistoryConfigError(
            f"DATABASE_URL uses {scheme}://, which the app cannot use: use postgresql+asyncpg://user:password@host/db "
            "(PostgreSQL) or sqlite+aiosqlite:///path/to/history.db (SQLite)"
        )
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise HistoryConfigError(f"DATABASE_URL cannot be read ({scheme}://...)") from None
    if parsed.get_backend_name() == "postgresql" and not parsed.database:
        raise HistoryConfigError("DATABASE_URL names no database: postgresql+asyncpg://user:password@host:5432/DBNAME")
    if parsed.get_backend_name() == "sqlite" and not parsed.database:
        raise HistoryConfigError("DATABASE_URL names no SQLite file: sqlite+aiosqlite:///path/to/history.db")
    return url


def history_from_env(environ: Mapping[str, str], *, sign_in: bool, app_dir: Path) -> HistoryConfig:
    """The history configuration (see the module docstring). Raises :class:`HistoryConfigError` for a
    ``DATABASE_URL`` the app cannot use and for ``STORE_AUDIO`` (not available)."""
    if environ.get("STORE_AUDIO", "").strip().lower() in _TRUE:
        raise HistoryConfigError(
            "STORE_AUDIO is not available in this version: keeping audio needs a Chainlit storage client (S3, "
            "Google Cloud Storage or Azure Blob Storage) and none works offline. Unset STORE_AUDIO; the text of "
            "every turn (spoken ones as their transcripts) is kept."
        )
    raw = environ.get("DATABASE_URL", "").strip()
    url = _normalise(raw) if raw else None
    if not sign_in:
        if url:
            return HistoryConfig(None, "DATABASE_URL is set but sign-in is off: Chainlit keeps history only for "
                                       "signed-in users, so it is not used")  # fmt: skip
        return HistoryConfig(None, "sign-in is off")
    if url:
        return HistoryConfig(url, f"DATABASE_URL ({safe_url(url)})")
    data_dir = Path(environ.get("DATA_DIR", "").strip() or app_dir / ".data")
    if not data_dir.is_absolute():
        data_dir = app_dir / data_dir
    path = data_dir / "history.db"
    return HistoryConfig(f"sqlite+aiosqlite:///{path}", f"SQLite file {path}")


# ---------------------------------------------------------------------------------------------------- schema


@dataclass(frozen=True)
class Migration:
    """One numbered step of the schema: ``statements(dialect)`` gives its SQL for ``postgresql`` or ``sqlite``."""

    version: int
    description: str
    statements: Callable[[str], Sequence[str]]


def _types(dialect: str) -> dict[str, str]:
    if dialect == "postgresql":
        return {"uuid": "UUID", "json": "JSONB", "list": "TEXT[]"}
    return {"uuid": "TEXT", "json": "TEXT", "list": "TEXT"}  # SQLite: JSON and lists as text, as Chainlit writes


def _v1_tables(dialect: str) -> list[str]:
    """The five tables of Chainlit's SQLAlchemy data layer, with every column it writes (StepDict, ElementDict,
    Feedback, ThreadDict, PersistedUser of Chainlit 2.12)."""
    t = _types(dialect)
    return [
        f"""CREATE TABLE IF NOT EXISTS users (
            "id" {t["uuid"]} PRIMARY KEY,
            "identifier" TEXT NOT NULL UNIQUE,
            "metadata" {t["json"]} NOT NULL,
            "createdAt" TEXT)""",
        f"""CREATE TABLE IF NOT EXISTS threads (
            "id" {t["uuid"]} PRIMARY KEY,
            "createdAt" TEXT,
            "name" TEXT,
            "userId" {t["uuid"]} REFERENCES users("id") ON DELETE CASCADE,
            "userIdentifier" TEXT,
            "tags" {t["list"]},
            "metadata" {t["json"]})""",
        f"""CREATE TABLE IF NOT EXISTS steps (
            "id" {t["uuid"]} PRIMARY KEY,
            "name" TEXT NOT NULL,
            "type" TEXT NOT NULL,
            "threadId" {t["uuid"]} NOT NULL REFERENCES threads("id") ON DELETE CASCADE,
            "parentId" {t["uuid"]},
            "streaming" BOOLEAN NOT NULL,
            "waitForAnswer" BOOLEAN,
            "isError" BOOLEAN,
            "metadata" {t["json"]},
            "tags" {t["list"]},
            "input" TEXT,
            "output" TEXT,
            "createdAt" TEXT,
            "command" TEXT,
            "modes" {t["json"]},
            "start" TEXT,
            "end" TEXT,
            "generation" {t["json"]},
            "showInput" TEXT,
            "language" TEXT,
            "indent" INT,
            "defaultOpen" BOOLEAN,
            "autoCollapse" BOOLEAN,
            "icon" TEXT)""",
        f"""CREATE TABLE IF NOT EXISTS elements (
            "id" {t["uuid"]} PRIMARY KEY,
            "threadId" {t["uuid"]} REFERENCES threads("id") ON DELETE CASCADE,
            "type" TEXT,
            "url" TEXT,
            "chainlitKey" TEXT,
            "name" TEXT NOT NULL,
            "display" TEXT,
            "objectKey" TEXT,
            "size" TEXT,
            "page" INT,
            "language" TEXT,
            "forId" {t["uuid"]},
            "mime" TEXT,
            "props" {t["json"]},
            "autoPlay" BOOLEAN,
            "playerConfig" {t["json"]})""",
        f"""CREATE TABLE IF NOT EXISTS feedbacks (
            "id" {t["uuid"]} PRIMARY KEY,
            "forId" {t["uuid"]} NOT NULL,
            "threadId" {t["uuid"]} REFERENCES threads("id") ON DELETE CASCADE,
            "value" INT NOT NULL,
            "comment" TEXT)""",
    ]


def _v2_indexes(dialect: str) -> list[str]:
    """Indexes for what the app asks most: a user's threads, a thread's steps and elements."""
    return [
        'CREATE INDEX IF NOT EXISTS threads_user_id ON threads ("userId")',
        'CREATE INDEX IF NOT EXISTS steps_thread_id ON steps ("threadId", "createdAt")',
        'CREATE INDEX IF NOT EXISTS elements_thread_id ON elements ("threadId")',
        'CREATE INDEX IF NOT EXISTS feedbacks_for_id ON feedbacks ("forId")',
    ]


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "Chainlit's tables: users, threads, steps, elements, feedbacks", _v1_tables),
    Migration(2, "indexes: a user's threads, a thread's steps, elements and feedback", _v2_indexes),
)


async def _applied(conn: AsyncConnection) -> int:
    await conn.execute(
        text(
            f'CREATE TABLE IF NOT EXISTS {SCHEMA_TABLE} ("version" INT PRIMARY KEY, "description" TEXT NOT NULL, '
            '"appliedAt" TEXT NOT NULL)'
        )
    )
    result = await conn.execute(text(f'SELECT MAX("version") FROM {SCHEMA_TABLE}'))
    return int(result.scalar() or 0)


async def migrate(layer: SQLAlchemyDataLayer, migrations: Sequence[Migration] = MIGRATIONS) -> list[int]:
    """Bring the database of ``layer`` to the newest schema; returns the versions applied now (none when it was
    up to date). One transaction; on PostgreSQL under an advisory lock, so concurrent starts apply each once."""
    dialect = layer.engine.dialect.name
    if dialect == "sqlite" and layer.engine.url.database not in (None, "", ":memory:"):
        Path(str(layer.engine.url.database)).parent.mkdir(parents=True, exist_ok=True)  # made on first use only
    applied_now: list[int] = []
    async with layer.engine.begin() as conn:
        if dialect == "postgresql":
            await conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK_KEY})
        current = await _applied(conn)
        for migration in sorted(migrations, key=lambda m: m.version):
            if migration.version <= current:
                continue
            for statement in migration.statements(dialect):
                await conn.execute(text(statement))
            await conn.execute(
                text(f'INSERT INTO {SCHEMA_TABLE} ("version", "description", "appliedAt") VALUES (:v, :d, :at)'),
                {"v": migration.version, "d": migration.description, "at": datetime.now(UTC).isoformat()},
            )
            applied_now.append(migration.version)
    return applied_now


# ---------------------------------------------------------------------------------------------------- data layer


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    """Each SQLite connection: with the write-ahead log (set at startup), commit without waiting for the disk
    at every write (``synchronous=NORMAL``: the file stays consistent; a power cut may lose the last writes)."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


class HistoryDataLayer(SQLAlchemyDataLayer):
    """Chainlit's SQLAlchemy data layer whose schema is made on first use (:meth:`prepare`), and which redacts
    ``secrets`` from every step it stores (tool arguments and results, messages)."""

    def __init__(self, config: HistoryConfig, *, secrets: Sequence[str] = (), connect_timeout_s: float = 60.0):
        if config.url is None:
            raise HistoryConfigError(f"history is off: {config.reason}")
        self.config = config
        self._secrets = list(secrets)
        self._connect_timeout_s = connect_timeout_s
        self._ready = False
        self._ready_lock = asyncio.Lock()
        self._locks: dict[str, list[Any]] = {}  # thread id -> [its write lock, users]
        self._first_written: OrderedDict[str, str] = OrderedDict()  # step id -> createdAt given to it
        self._deleted: OrderedDict[str, None] = OrderedDict()  # ids of threads deleted by this process
        connect_args: dict[str, Any] = {}
        if config.dialect == "sqlite":
            connect_args["timeout"] = 30  # seconds a writer waits for the file's lock
        super().__init__(conninfo=config.url, connect_args=connect_args)
        if config.dialect == "sqlite":
            event.listen(self.engine.sync_engine, "connect", _sqlite_pragmas)

    async def prepare(self) -> None:
        """Create or migrate the schema once (at startup; again only after a failure). Waits up to
        ``connect_timeout_s`` for a database that is still starting; raises RuntimeError (no password) after."""
        if self._ready:
            return
        async with self._ready_lock:
            if self._ready:
                return
            deadline = time.monotonic() + self._connect_timeout_s
            delay = 0.5
            while True:
                try:
                    applied = await migrate(self)
                    break
                except Exception as exc:
                    reason = redact(f"{type(exc).__name__}: {exc}".splitlines()[0], self._secrets_of_url())
                    if time.monotonic() + delay > deadline:
                        raise RuntimeError(
                            f"the history database {safe_url(self.config.url or '')} cannot be used: {reason}"
                        ) from None
                    log.warning("history database not ready (%s); retrying in %.1f s", reason, delay)
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, 5.0)
            if self.config.dialect == "sqlite":
                async with self.engine.begin() as conn:
                    await conn.execute(text("PRAGMA journal_mode=WAL"))  # readers do not wait for the writer
            version = max(m.version for m in MIGRATIONS)
            log.info(
                "history kept in %s (schema version %d%s)",
                self.config.reason,
                version,
                f", applied {applied}" if applied else "",
            )
            self._ready = True

    def _secrets_of_url(self) -> list[str]:
        password = make_url(self.config.url or "").password
        return [*self._secrets, *([str(password)] if password else [])]

    async def execute_sql(self, query: str, parameters: dict[str, Any]) -> list[dict[str, Any]] | int | None:
        await self.prepare()
        return await super().execute_sql(query, parameters)

    # Chainlit persists each message change in a task of its own (``asyncio.create_task(update_step(...))``), so
    # two writes of one message (a transcript's partial and final text, a streamed answer's start and end) can
    # overtake each other, and the older text win. Writes of a thread are serialised in the order they were
    # made: each takes the thread's lock (FIFO) before its first await.

    async def create_step(self, step_dict: Any) -> None:
        async with self._write_lock(step_dict):
            if not self._is_deleted(step_dict):
                await super().create_step(self._redacted(self._dated(step_dict)))

    def _dated(self, step_dict: Any) -> Any:
        """A streamed message reaches the data layer without ``createdAt`` (Chainlit sets it only in ``send``), and
        the thread's steps are listed by it: give such a step the time it was first written, the same at every
        later write (remembered for the newest :data:`_DATED_STEPS` steps)."""
        if not isinstance(step_dict, dict) or step_dict.get("createdAt") or not step_dict.get("id"):
            return step_dict
        step_id = str(step_dict["id"])
        created = self._first_written.pop(step_id, None) or datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        self._first_written[step_id] = created
        while len(self._first_written) > _DATED_STEPS:
            self._first_written.popitem(last=False)
        return {**step_dict, "createdAt": created}

    async def update_step(self, step_dict: Any) -> None:
        # Chainlit's update_step is its create_step (an upsert); calling that directly keeps the lock single-held,
        # and before the first turn queues creations and updates in one queue, in order.
        async with self._write_lock(step_dict):
            if not self._is_deleted(step_dict):
                await super().create_step(self._redacted(self._dated(step_dict)))

    async def delete_thread(self, thread_id: str) -> None:
        """Delete the thread and all it holds. A chat still open on it in this process (its status, the end of an
        answer) writes no more: each write would otherwise bring the deleted thread back."""
        self._deleted[thread_id] = None
        while len(self._deleted) > _DATED_STEPS:
            self._deleted.popitem(last=False)
        async with self._write_lock({"threadId": thread_id}):
            await super().delete_thread(thread_id)

    async def update_thread(self, thread_id: str, *args: Any, **kwargs: Any) -> None:
        if thread_id not in self._deleted:
            await super().update_thread(thread_id, *args, **kwargs)

    def _is_deleted(self, step_dict: Any) -> bool:
        return isinstance(step_dict, dict) and step_dict.get("threadId") in self._deleted

    @contextlib.asynccontextmanager
    async def _write_lock(self, step_dict: Any) -> AsyncIterator[None]:
        key = str(step_dict.get("threadId") if isinstance(step_dict, dict) else "")
        entry = self._locks.setdefault(key, [asyncio.Lock(), 0])
        entry[1] += 1
        try:
            async with entry[0]:
                yield
        finally:
            entry[1] -= 1
            if entry[1] == 0:
                self._locks.pop(key, None)

    def _redacted(self, step_dict: Any) -> Any:
        if not self._secrets or not isinstance(step_dict, dict):
            return step_dict
        out = dict(step_dict)
        for key in ("input", "output", "name"):
            if isinstance(out.get(key), str):
                out[key] = redact(out[key], self._secrets)
        return out

    async def thread_metadata(self, thread_id: str) -> dict[str, Any]:
        """The thread's metadata as a dict ({} when there is none)."""
        rows = await self.execute_sql('SELECT "metadata" FROM threads WHERE "id" = :id', {"id": thread_id})
        raw = rows[0].get("metadata") if isinstance(rows, list) and rows else None
        if isinstance(raw, str):
            try:
                raw = json.loads(raw)
            except ValueError:
                raw = None
        return raw if isinstance(raw, dict) else {}
