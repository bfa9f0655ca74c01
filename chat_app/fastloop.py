"""Give the app asyncio's C tasks and futures back.

``chainlit run`` applies ``nest_asyncio`` before it imports the app (chainlit/cli), which swaps asyncio's C
``Task`` and ``Future`` for the pure-Python ones so that a running loop can be re-entered. The app never re-enters
the loop, and the Python classes make every task step and future several times dearer: in ``bench/relay_load.py``
asyncio's own machinery was the largest share of the relay's CPU. :func:`restore_c_tasks` puts the C classes back
for every task and future made from then on (the loop ``nest_asyncio`` patched stays as it is and runs both).
``APP_NEST_ASYNCIO=1`` keeps Chainlit's choice (needed only by code that re-enters the loop, e.g. chat profiles
resolved synchronously).
"""

from __future__ import annotations

import asyncio
import asyncio.futures
import asyncio.tasks
import logging
import os

__all__ = ["restore_c_tasks"]

log = logging.getLogger("app")


def restore_c_tasks() -> bool:
    """Put asyncio's C Task and Future back if nest_asyncio replaced them; True when it did."""
    if os.environ.get("APP_NEST_ASYNCIO", "").strip() in ("1", "true") or not getattr(asyncio, "_nest_patched", False):
        return False
    try:
        import _asyncio
    except ImportError:  # a Python without the C accelerator: nothing to restore
        return False
    asyncio.Task = asyncio.tasks.Task = asyncio.tasks._CTask = _asyncio.Task  # type: ignore[misc,attr-defined]
    asyncio.Future = asyncio.futures.Future = asyncio.futures._CFuture = _asyncio.Future  # type: ignore[misc,attr-defined]
    log.info("asyncio's C tasks and futures restored (Chainlit's nest_asyncio had replaced them)")
    return True
