"""An opt-in profile of the app's event loop: set ``APP_PROFILE=path.prof`` and the app runs under cProfile from
startup; the stats are written to that path when the process exits (``python -m pstats path.prof`` reads them).
Used with ``bench/relay_load.py`` to find the relay's hot path. Off (no cost) when the variable is unset.

The stats are also written every 5 s (the process may be stopped by a signal, which skips exit handlers)."""

from __future__ import annotations

import asyncio
import atexit
import cProfile
import logging
import os

__all__ = ["start_profile_from_env"]

log = logging.getLogger("app")
_profile: cProfile.Profile | None = None


def start_profile_from_env() -> None:
    """Start profiling the calling thread (call it from the event loop) if ``APP_PROFILE`` names a file."""
    global _profile
    path = os.environ.get("APP_PROFILE", "").strip()
    if not path or _profile is not None:
        return
    _profile = cProfile.Profile()
    _profile.enable()
    log.info("profiling the event loop into %s (APP_PROFILE)", path)

    def dump() -> None:
        if _profile is not None:
            _profile.disable()
            _profile.dump_stats(path)

    atexit.register(dump)

    async def dump_every_5_s() -> None:
        while _profile is not None:
            await asyncio.sleep(5.0)
            _profile.disable()
            _profile.dump_stats(path)
            _profile.enable()

    _tasks.add(asyncio.get_running_loop().create_task(dump_every_5_s()))


_tasks: set[asyncio.Task[None]] = set()
