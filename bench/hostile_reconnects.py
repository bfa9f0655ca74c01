"""How often does the app reconnect to a service that keeps dropping it, with the default reconnect policy?

    python -m bench.hostile_reconnects                         # accept-then-close, 60 s
    python -m bench.hostile_reconnects --mode error_then_close --seconds 60

Starts the hostile Realtime server of the tests (tests/hostile_server.py) in ``--mode`` and the app (``chainlit
run``, a fake key made at run time, ``OPENAI_BASE_URL`` pointing at it, every other setting at its default), opens
one chat over socket.io and prints, after ``--seconds``: the handshakes the server saw, the messages shown in the
chat, the toasts, whether the chat ended with the "Try again" action, and whether any piece of the key reached the
chat or the log.
"""

from __future__ import annotations

import argparse
import asyncio

from tests.app.conftest import ARTIFACTS, clean_env, start_app, stop_app
from tests.app.test_hostile import fake_key, key_pieces, stopped, user_messages
from tests.app.wire import WireChat
from tests.hostile_server import MODES, HostileServer


async def run(mode: str, seconds: float) -> str:
    key = fake_key()
    with HostileServer(mode=mode) as hostile:
        server = start_app(
            ARTIFACTS / "hostile-bench.log", clean_env(OPENAI_API_KEY=key, OPENAI_BASE_URL=hostile.base_url)
        )
        try:
            chat = WireChat(server.url)
            await chat.open()
            await asyncio.sleep(seconds)
            await chat.close()
            alive = server.process.poll() is None
        finally:
            stop_app(server)
        leaked = [p for p in key_pieces(key) if p in repr(chat.events) or p in server.log()]
        return (
            f"{mode}, {seconds:g} s, default policy: {hostile.count(mode)} handshakes, "
            f"{len(user_messages(chat))} messages, {len(chat.named('toast'))} toasts, "
            f"stopped with Try again: {stopped(chat)}, key pieces leaked: {len(leaked)}, app alive: {alive}"
        )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--mode", choices=MODES, default="accept_then_close")
    parser.add_argument("--seconds", type=float, default=60.0)
    args = parser.parse_args(argv)
    print(asyncio.run(run(args.mode, args.seconds)))


if __name__ == "__main__":
    main()
