"""Password sign-in for deployed apps, decided once from the environment.

``CHAINLIT_AUTH_SECRET`` (signs Chainlit's session tokens; ``chainlit create-secret``) and ``CHAINLIT_USERS``
(``name:bcrypt-hash`` pairs, comma separated) both set: the app registers Chainlit's password callback and asks
everyone to sign in. Neither set: the app is open, for use on one's own machine. Only ``CHAINLIT_USERS`` set is
refused (:class:`AuthConfigError`): a deployer who listed users expects a guarded app.

Make a hash with ``python -m chat_app.auth hash`` (asks for the password twice, prints ``bcrypt`` ``$2b$12$...``).

Sign-in cannot stall the app (:class:`SignInGuard`): the bcrypt check (about 0.3 s of CPU at cost 12) runs in a
small thread pool off the event loop (bcrypt releases the GIL), at most ``SIGNIN_MAX_PENDING`` checks wait at once
(more are refused at once), and failed attempts are throttled per user name and per client address, in memory per
process: after ``SIGNIN_FREE_FAILURES`` (5) failures in a row, the name or address is locked for 1 s, then 2, 4, ...
up to ``SIGNIN_MAX_LOCK_S`` (900 s) for each further failure. A locked attempt is refused at once without checking
the password (nothing sleeps, so nobody else waits); a success clears the name's and the address's count, and a
count is forgotten once it has been idle for ``SIGNIN_MAX_LOCK_S``.

The client address: Chainlit's ``password_auth_callback`` receives only the name and the password, so
:class:`ClientAddressMiddleware` (added to Chainlit's ASGI app by ``app.py``) remembers each request's address in a
context variable that the callback reads (:func:`client_address`). Behind a reverse proxy the address is the
proxy's unless uvicorn trusts its ``X-Forwarded-For`` (uvicorn's ``FORWARDED_ALLOW_IPS``, default 127.0.0.1).
"""

from __future__ import annotations

import asyncio
import contextvars
import dataclasses
import getpass
import logging
import os
import sys
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import bcrypt

__all__ = [
    "AuthConfig",
    "AuthConfigError",
    "ClientAddressMiddleware",
    "SignInGuard",
    "ThrottleSettings",
    "auth_from_env",
    "client_address",
    "hash_password",
    "main",
    "parse_users",
    "throttle_from_env",
]

log = logging.getLogger("app.auth")

# Checked against when the name is unknown, so a wrong name costs as much time as a wrong password.
_DUMMY_HASH = bcrypt.hashpw(b"not a password", bcrypt.gensalt(rounds=12))


class AuthConfigError(ValueError):
    """The sign-in settings are inconsistent or malformed. The message never holds a hash or a secret."""


@dataclass(frozen=True)
class AuthConfig:
    """The users allowed to sign in: name -> bcrypt hash (bytes)."""

    users: Mapping[str, bytes]

    def check(self, name: str, password: str) -> bool:
        """True when ``password`` matches the user's bcrypt hash. Takes the same time for unknown names."""
        hashed = self.users.get(name)
        ok = bcrypt.checkpw(password.encode(), hashed if hashed is not None else _DUMMY_HASH)
        return ok and hashed is not None


@dataclass(frozen=True)
class ThrottleSettings:
    """How failed sign-ins are throttled (see the module docstring); each field has a ``SIGNIN_*`` variable."""

    free_failures: int = 5
    first_lock_s: float = 1.0
    max_lock_s: float = 900.0
    workers: int = max(1, (os.cpu_count() or 2) // 2)
    max_pending: int = 8
    max_tracked: int = 10_000


def throttle_from_env(environ: Mapping[str, str]) -> ThrottleSettings:
    """:class:`ThrottleSettings` from ``SIGNIN_FREE_FAILURES``, ``SIGNIN_MAX_LOCK_S``, ``SIGNIN_WORKERS`` and
    ``SIGNIN_MAX_PENDING``; raises :class:`AuthConfigError` naming the variable when one is not a positive number."""
    default = ThrottleSettings()
    values: dict[str, Any] = {}
    for var, field, kind in (
        ("SIGNIN_FREE_FAILURES", "free_failures", int),
        ("SIGNIN_MAX_LOCK_S", "max_lock_s", float),
        ("SIGNIN_WORKERS", "workers", int),
        ("SIGNIN_MAX_PENDING", "max_pending", int),
    ):
        raw = environ.get(var, "").strip()
        if not raw:
            continue
        try:
            value = kind(raw)
        except ValueError:
            raise AuthConfigError(f"{var} must be a number") from None
        if value <= 0:
            raise AuthConfigError(f"{var} must be positive")
        values[field] = value
    return dataclasses.replace(default, **values)


@dataclass
class _Failures:
    count: int = 0
    last: float = 0.0
    locked_until: float = 0.0


class SignInGuard:
    """Password checks off the event loop, throttled per user name and per client address (module docstring).

    ``await guard.sign_in(name, password, address)`` is True only for a right password of a listed user that is
    not locked out. ``clock`` is monotonic seconds (tests pass a fake one).
    """

    def __init__(
        self,
        config: AuthConfig,
        settings: ThrottleSettings | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config = config
        self.settings = settings or ThrottleSettings()
        self._clock = clock
        self._executor = ThreadPoolExecutor(max_workers=self.settings.workers, thread_name_prefix="bcrypt")
        self._pending = 0
        self._failures: OrderedDict[str, _Failures] = OrderedDict()
        self.refused_locked = 0
        self.refused_busy = 0

    def locked_for(self, key: str) -> float:
        """Seconds ``key`` (``user:NAME`` or ``addr:ADDRESS``) stays locked; 0 when it is not locked."""
        entry = self._entry(key, create=False)
        return max(0.0, entry.locked_until - self._clock()) if entry else 0.0

    async def sign_in(self, name: str, password: str, address: str | None) -> bool:
        keys = [f"user:{name[:256]}"] + ([f"addr:{address}"] if address else [])
        locked = [k for k in keys if self.locked_for(k) > 0]
        if locked:
            self.refused_locked += 1
            return False
        if self._pending >= self.settings.max_pending:
            self.refused_busy += 1
            log.warning("sign-in refused: %d password checks already waiting", self._pending)
            return False
        self._pending += 1
        try:
            loop = asyncio.get_running_loop()
            ok = await loop.run_in_executor(self._executor, self.config.check, name, password)
        finally:
            self._pending -= 1
        if ok:
            for key in keys:
                self._failures.pop(key, None)
            return True
        for key in keys:
            self._fail(key)
        log.warning("failed sign-in for user %r from %s", name[:64], address or "an unknown address")
        return False

    def _entry(self, key: str, *, create: bool) -> _Failures | None:
        now = self._clock()
        entry = self._failures.get(key)
        if entry is not None and now - entry.last > self.settings.max_lock_s and now >= entry.locked_until:
            del self._failures[key]  # idle long enough: forgotten
            entry = None
        if entry is None and create:
            entry = self._failures[key] = _Failures()
            while len(self._failures) > self.settings.max_tracked:
                self._failures.popitem(last=False)
        return entry

    def _fail(self, key: str) -> None:
        entry = self._entry(key, create=True)
        assert entry is not None
        now = self._clock()
        entry.count += 1
        entry.last = now
        self._failures.move_to_end(key)
        over = entry.count - self.settings.free_failures
        if over > 0:
            lock = min(self.settings.first_lock_s * 2 ** min(over - 1, 30), self.settings.max_lock_s)
            entry.locked_until = now + lock
            log.warning("sign-in locked for %s s after %d failures: %s", f"{lock:g}", entry.count, key[:80])

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)


_client_address: contextvars.ContextVar[str | None] = contextvars.ContextVar("client_address", default=None)


def client_address() -> str | None:
    """The address of the client whose HTTP request is being handled (set by :class:`ClientAddressMiddleware`)."""
    return _client_address.get()


class ClientAddressMiddleware:
    """Pure ASGI middleware: remembers each HTTP request's client address for :func:`client_address`."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope.get("type") != "http":
            await self.app(scope, receive, send)
            return
        client = scope.get("client")
        token = _client_address.set(str(client[0]) if client else None)
        try:
            await self.app(scope, receive, send)
        finally:
            _client_address.reset(token)


def parse_users(value: str) -> dict[str, bytes]:
    """Parse ``alice:$2b$12$...,bob:$2b$12$...`` into ``{name: hash}``.

    Raises :class:`AuthConfigError` on an entry without a name, or with something that is not a bcrypt hash.
    """
    users: dict[str, bytes] = {}
    for position, entry in enumerate((e.strip() for e in value.split(",")), start=1):
        if not entry:
            continue
        name, sep, hashed = entry.partition(":")
        name, hashed = name.strip(), hashed.strip()
        if not sep or not name:
            raise AuthConfigError(f"CHAINLIT_USERS entry {position} is not name:bcrypt-hash")
        if not hashed.startswith(("$2a$", "$2b$", "$2y$")) or len(hashed) != 60:
            raise AuthConfigError(
                f"CHAINLIT_USERS entry {position} ({name}) does not hold a bcrypt hash; make one with "
                "python -m chat_app.auth hash"
            )
        users[name] = hashed.encode()
    return users


def auth_from_env(environ: Mapping[str, str]) -> AuthConfig | None:
    """The sign-in configuration from ``environ``: None (open app) when ``CHAINLIT_USERS`` is unset or empty.

    Raises :class:`AuthConfigError` when users are listed without ``CHAINLIT_AUTH_SECRET``, or none parses.
    """
    users_value = environ.get("CHAINLIT_USERS", "").strip()
    if not users_value:
        return None
    if not environ.get("CHAINLIT_AUTH_SECRET", "").strip():
        raise AuthConfigError(
            "CHAINLIT_USERS is set but CHAINLIT_AUTH_SECRET is not: make one with `chainlit create-secret`"
        )
    users = parse_users(users_value)
    if not users:
        raise AuthConfigError("CHAINLIT_USERS lists no user")
    return AuthConfig(users)


def hash_password(password: str) -> str:
    """A bcrypt hash (cost 12) of ``password`` for ``CHAINLIT_USERS``."""
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=12)).decode()


def main(argv: list[str] | None = None) -> int:
    """``python -m chat_app.auth hash [NAME]``: prompt for a password, print ``NAME:hash`` (or the hash)."""
    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] != "hash":
        print("usage: python -m chat_app.auth hash [NAME]", file=sys.stderr)
        return 2
    password = getpass.getpass("Password: ")
    if password != getpass.getpass("Again: "):
        print("the passwords differ", file=sys.stderr)
        return 1
    if not password:
        print("empty password", file=sys.stderr)
        return 1
    hashed = hash_password(password)
    print(f"{args[1]}:{hashed}" if len(args) > 1 else hashed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
