"""The local engine inside another program's process (the app), reached with no socket.

    engine = await local_engine.embedded.start()      # models load in the background
    connector = realtime.transport.memory_connector(engine.serve_connection)

:meth:`EmbeddedEngine.serve_connection` is the same code path the websocket server runs for each connection
(:meth:`local_engine.server.EngineHost.serve_connection`); the in-memory connection comes from the caller (this
package relies only on its shape: iterate frames, ``send``, ``close``).
"""

from __future__ import annotations

from local_engine.engine import EngineStages
from local_engine.server import EngineHost, StagesFactory

__all__ = ["EmbeddedEngine", "start"]


class EmbeddedEngine(EngineHost):
    """The engine's sessions with no listening socket (see the module docstring)."""

    async def start(self) -> None:
        """Start loading the models in the background (the first session waits for them)."""
        self.start_loading()

    async def close(self) -> None:
        """Close every open session."""
        await self.close_sessions()


async def start(stages: EngineStages | StagesFactory | None = None) -> EmbeddedEngine:
    """An :class:`EmbeddedEngine`, started (``stages`` as for :class:`local_engine.server.EngineHost`)."""
    engine = EmbeddedEngine(stages=stages)
    await engine.start()
    return engine
