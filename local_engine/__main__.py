"""``python -m local_engine``: run the local engine on its own (any Realtime or GPT-Live client can use it)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal

from local_engine.server import LocalRealtimeServer


async def _serve(host: str, port: int) -> None:
    server = LocalRealtimeServer(host, port)
    await server.start()
    print(f"Realtime local engine on ws://{host}:{server.port}", flush=True)
    print(f"  GA:      ws://{host}:{server.port}/v1/realtime?model=gpt-realtime", flush=True)
    print(f"  preview: ws://{host}:{server.port}/openai/realtime?api-version=2025-04-01-preview&deployment=local",
          flush=True)  # fmt: skip
    print(f"  GPT-Live: ws://{host}:{server.port}/v1/live/sessions", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    try:
        await server.ready()
        print("models loaded: ready", flush=True)
        await stop.wait()
    finally:
        await server.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m local_engine", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8765, help="port (default 8765; 0 picks a free one)")
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    asyncio.run(_serve(args.host, args.port))


if __name__ == "__main__":
    main()
