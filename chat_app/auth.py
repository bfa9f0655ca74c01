"""Password sign-in for deployed apps, decided once from the environment.

``CHAINLIT_AUTH_SECRET`` (signs Chainlit's session tokens; ``chainlit create-secret``) and ``CHAINLIT_USERS``
(``name:bcrypt-hash`` pairs, comma separated) both set: the app registers Chainlit's password callback and asks
everyone to sign in. Neither set: the app is open, for use on one's own machine. Only ``CHAINLIT_USERS`` set is
refused (:class:`AuthConfigError`): a deployer who listed users expects a guarded app.

Make a hash with ``python -m chat_app.auth hash`` (asks for the password twice, prints ``bcrypt`` ``$2b$12$...``).
"""

from __future__ import annotations

import getpass
import sys
from collections.abc import Mapping
from dataclasses import dataclass

import bcrypt

__all__ = ["AuthConfig", "AuthConfigError", "auth_from_env", "hash_password", "main", "parse_users"]

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
