"""A wrong-password flood against the running app (bench/signin_flood.py, bounded): 200 attempts, 20 at a time,
must leave a signed-in user's typed question answered within 1 s and an unrelated request's median at 50 ms or
less."""

from __future__ import annotations

import statistics

from bench.signin_flood import run


async def test_a_wrong_password_flood_slows_nobody_else() -> None:
    quiet, flooded = await run(attempts=200, concurrency=20, distinct_names=False)
    print(quiet.line("quiet"))
    print(flooded.line("200 wrong passwords, 20 at a time"))
    assert flooded.statuses == {401: 200}
    assert flooded.answer_ms and max(flooded.answer_ms) < 1000
    assert statistics.median(flooded.unrelated_ms) <= 50
