"""A flood of wrong passwords against the running app must not slow anyone else down.

    python -m bench.signin_flood                       # 200 wrong passwords, 20 at a time
    python -m bench.signin_flood --attempts 200 --concurrency 20 --distinct-names

Starts the app with password sign-in (one user, a cost-12 bcrypt hash made at run time) on the fake Realtime
service (``bench.fake_realtime``), signs the user in and opens a chat over socket.io, then sends the wrong
passwords while it measures (a) an unrelated request (``GET /project/settings``) every 50 ms: its median and p95,
and (b) the signed-in user's typed questions (one every second): the time to the first piece of the written
answer. It prints those figures with and without the flood, and how many attempts were refused.
``--distinct-names`` uses a new user name for every attempt (only the per-address throttle then applies).
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import statistics
import time
from dataclasses import dataclass, field
from typing import Any

import bcrypt
import httpx

from bench.apprun import app_with_fake_service
from tests.app.wire import WireChat

USER = "alice"


@dataclass
class FloodResult:
    unrelated_ms: list[float] = field(default_factory=list)
    answer_ms: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    flood_s: float = 0.0

    def line(self, label: str) -> str:
        med = statistics.median(self.unrelated_ms) if self.unrelated_ms else float("nan")
        p95 = sorted(self.unrelated_ms)[int(0.95 * (len(self.unrelated_ms) - 1))] if self.unrelated_ms else 0.0
        answers = ", ".join(f"{a:.0f}" for a in self.answer_ms) or "none"
        return (
            f"{label}: unrelated request median {med:.1f} ms, p95 {p95:.1f} ms ({len(self.unrelated_ms)} requests); "
            f"typed answers in ms: [{answers}], max {max(self.answer_ms, default=float('nan')):.0f} ms"
            + (
                f"; sign-in answers {dict(sorted(self.statuses.items()))} in {self.flood_s:.1f} s"
                if self.statuses
                else ""
            )
        )


async def sign_in(http: httpx.AsyncClient, name: str, password: str) -> httpx.Response:
    return await http.post("/login", data={"username": name, "password": password})


async def ask(chat: WireChat, question: str, timeout_s: float = 30.0) -> float:
    """Type ``question``; ms until the first piece of a new assistant message arrives."""
    before = len(chat.messages("assistant_message"))
    started = time.monotonic()
    await chat.type(question)
    await chat.wait(lambda: len(chat.messages("assistant_message")) > before, timeout_s, "the answer")
    return (time.monotonic() - started) * 1000.0


async def measure(url: str, chat: WireChat, *, attempts: int, concurrency: int, distinct_names: bool) -> FloodResult:
    """Run the flood (``attempts`` = 0: just measure) while timing the unrelated request and typed answers."""
    result = FloodResult()
    stop = asyncio.Event()

    async def unrelated() -> None:
        async with httpx.AsyncClient(base_url=url, timeout=30) as http:
            while not stop.is_set():
                started = time.monotonic()
                await http.get("/project/settings", params={"language": "en-US"})
                result.unrelated_ms.append((time.monotonic() - started) * 1000.0)
                await asyncio.sleep(0.05)

    async def questions() -> None:
        n = 0
        while not stop.is_set():
            n += 1
            result.answer_ms.append(await ask(chat, f"Question {n}: what time is it?"))
            await asyncio.sleep(1.0)

    async def flood() -> None:
        limit = asyncio.Semaphore(concurrency)
        async with httpx.AsyncClient(base_url=url, timeout=120) as http:

            async def one(i: int) -> None:
                async with limit:
                    name = f"user{i}" if distinct_names else USER
                    response = await sign_in(http, name, f"wrong-{i}")
                    result.statuses[response.status_code] = result.statuses.get(response.status_code, 0) + 1

            started = time.monotonic()
            await asyncio.gather(*(one(i) for i in range(attempts)))
            result.flood_s = time.monotonic() - started

    probes = [asyncio.create_task(unrelated()), asyncio.create_task(questions())]
    try:
        if attempts:
            await flood()
            await asyncio.sleep(1.0)
        else:
            await asyncio.sleep(3.0)
    finally:
        stop.set()
        await asyncio.gather(*probes)
    return result


async def run(attempts: int, concurrency: int, distinct_names: bool, **env: str) -> tuple[FloodResult, FloodResult]:
    """(quiet figures, figures under the flood) against a freshly started app."""
    password = secrets.token_urlsafe(12)
    hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=12)).decode()
    settings = {"CHAINLIT_AUTH_SECRET": secrets.token_urlsafe(32), "CHAINLIT_USERS": f"{USER}:{hashed}", **env}
    with app_with_fake_service("signin-flood", **settings) as (server, _service):
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
            response = await sign_in(http, USER, password)
            response.raise_for_status()
            cookie = "; ".join(f"{k}={v}" for k, v in http.cookies.items())
        chat = WireChat(server.url, headers={"Cookie": cookie})
        await chat.open()
        try:
            await chat.wait(lambda: "Connected to" in chat.status(), 60, "the chat to connect")
            quiet = await measure(server.url, chat, attempts=0, concurrency=concurrency, distinct_names=False)
            flooded = await measure(
                server.url, chat, attempts=attempts, concurrency=concurrency, distinct_names=distinct_names
            )
        finally:
            await chat.close()
    return quiet, flooded


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--attempts", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--distinct-names", action="store_true", help="a new user name for every attempt")
    parser.add_argument("--no-throttle", action="store_true", help="SIGNIN_FREE_FAILURES=1000000 (checks only)")
    args = parser.parse_args(argv)
    env: dict[str, Any] = {"SIGNIN_FREE_FAILURES": "1000000"} if args.no_throttle else {}
    quiet, flooded = asyncio.run(run(args.attempts, args.concurrency, args.distinct_names, **env))
    print(quiet.line("quiet"))
    print(flooded.line(f"{args.attempts} wrong passwords, {args.concurrency} at a time"))


if __name__ == "__main__":
    main()
