"""CPU cost of the realtime client's hot paths, next to the naive relay of the seed blog sample.

    python -m bench.client_bench [--iterations 20000]

- send: one 8192-byte microphone chunk (what Chainlit's recorder sends, 4096 samples, ~171 ms) through
  ``RealtimeClient.append_audio`` to the JSON text frame handed to the socket (a fake socket: no I/O).
- receive: one ``response.output_audio.delta`` frame of 200 ms at 24 kHz (9600 bytes of PCM16, base64 in JSON)
  through the session state machine to the ``AudioDelta`` app event and its listener.
The naive relay does what the seed sample does: ``json.loads`` and a dict dispatch on receive; on send, the
chunk goes through numpy, ``.tolist()`` and back to bytes before base64 and ``json.dumps``.
Figures are CPU microseconds per operation (``time.process_time``), median of 5 runs. Target: <= 50 us each.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from realtime.client import RealtimeClient
from realtime.config import Settings
from realtime.events import AudioDelta
from realtime.providers import Provider
from realtime.transport import memory_pair

CHUNK = (np.sin(np.arange(4096) / 7.0) * 8000).astype("<i2").tobytes()  # 8192 bytes
DELTA_PCM = (np.sin(np.arange(4800) / 5.0) * 8000).astype("<i2").tobytes()  # 200 ms, 9600 bytes
DELTA_FRAME = json.dumps({
    "type": "response.output_audio.delta", "event_id": "event_123", "response_id": "resp_1", "item_id": "item_1",
    "output_index": 0, "content_index": 0, "delta": base64.b64encode(DELTA_PCM).decode(), "obfuscation": "x1y2",
})  # fmt: skip


async def _no_headers() -> dict[str, str]:
    return {}


def make_client() -> RealtimeClient:
    provider = Provider("openai", "ws://127.0.0.1:9/v1/realtime", "ga", "bench", _no_headers)
    client = RealtimeClient(Settings(_env_file=None), provider=provider)
    client._ws = memory_pair()[0]  # connected (the client drops mic audio while it has no connection)
    client.session.start()
    client.session.receive({"type": "response.created", "response": {"id": "resp_1"}})
    client.session.data_to_send()
    client.session.events_received()
    return client


def bench_ours_send(n: int) -> float:
    client = make_client()
    frames: list[str] = []

    async def run() -> float:
        start = time.process_time()
        for _ in range(n):
            await client.append_audio(CHUNK)
            frames.append(json.dumps(client._send_queue.get_nowait(), separators=(",", ":")))  # the writer's work
            frames.clear()
        return time.process_time() - start

    return asyncio.run(run()) / n


def bench_ours_receive(n: int) -> float:
    client = make_client()
    got: list[AudioDelta] = []
    client.add_listener(lambda e: got.append(e) if isinstance(e, AudioDelta) else None)

    async def run() -> float:
        start = time.process_time()
        for _ in range(n):
            client.session.receive(DELTA_FRAME)
            await client._flush()
        got.clear()
        return time.process_time() - start

    return asyncio.run(run()) / n


def bench_naive_send(n: int) -> float:
    start = time.process_time()
    for _ in range(n):
        samples = np.frombuffer(CHUNK, dtype=np.int16).tolist()  # the sample's list round trip
        pcm = np.array(samples, dtype=np.int16).tobytes()
        json.dumps({"type": "input_audio_buffer.append", "audio": base64.b64encode(pcm).decode()})
    return (time.process_time() - start) / n


def bench_naive_receive(n: int) -> float:
    played: list[bytes] = []
    handlers: dict[str, Callable[[dict[str, Any]], None]] = {
        "response.audio.delta": lambda e: played.append(base64.b64decode(e["delta"])),
        "response.output_audio.delta": lambda e: played.append(base64.b64decode(e["delta"])),
    }
    start = time.process_time()
    for _ in range(n):
        event = json.loads(DELTA_FRAME)
        handler = handlers.get(event["type"])
        if handler:
            handler(event)
        played.clear()
    return (time.process_time() - start) / n


def median_us(fn: Callable[[int], float], n: int) -> float:
    return statistics.median(fn(n) for _ in range(5)) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--iterations", type=int, default=20000)
    n = parser.parse_args().iterations
    rows = [
        ("send 8192-byte mic chunk", median_us(bench_ours_send, n), median_us(bench_naive_send, n)),
        ("receive 200 ms audio delta", median_us(bench_ours_receive, n), median_us(bench_naive_receive, n)),
    ]
    print(f"CPU microseconds per operation, median of 5 runs x {n} iterations (target <= 50 us)")
    print(f"{'path':<30}{'ours':>10}{'naive relay':>14}")
    for name, ours, naive in rows:
        print(f"{name:<30}{ours:>10.1f}{naive:>14.1f}")


if __name__ == "__main__":
    main()
