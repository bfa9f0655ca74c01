"""A fake Realtime service on loopback for the app's benchmarks (``bench/relay_load.py``, ``bench/signin_flood.py``).

    python -m bench.fake_realtime --port 8765      # prints "ready" when it listens

It speaks enough of the GA protocol for the app: ``session.created``/``session.updated``, a short text answer to
every ``response.create``, and for microphone audio an answer that streams back: every
``input_audio_buffer.append`` is answered with one ``response.output_audio.delta`` of 100 ms, inside responses of
50 deltas. On ``/v1/live/sessions`` it speaks GPT-Live the same way (``openai/types/live/``): ``session.start`` is
answered by ``session.started``, every ``session.input_audio.append`` (the client appends silence while the
microphone is off, so this is every chat, all the time) by one ``session.output_audio.delta`` of 100 ms: silence
for the client's silence (the model is quiet too, and the client relays none of it), else a tone, audible, so the
client relays it, with an output transcript fragment every 10 deltas.
Audio carries time stamps: the simulated browser writes the wall-clock send time (float64 LE) into the
first 8 bytes of every chunk, so this server measures the upstream lag (browser -> app -> here) of each append;
each output delta carries this server's send time the same way, for the browser to measure the downstream lag.

``GET /stats`` answers JSON: ``up_ms`` (count, mean, p95 of the upstream lags since the last reset), ``connections``,
``appends`` and ``deltas``; ``GET /stats?reset=1`` resets the figures after reading them.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import itertools
import json
import math
import struct
import time
from http import HTTPStatus
from typing import Any

from websockets.asyncio.server import ServerConnection, serve
from websockets.http11 import Request, Response

STAMP = struct.Struct("<d")
DELTA_BYTES = 4800  # 100 ms of PCM16 at 24 kHz
DELTAS_PER_RESPONSE = 50
LIVE_PATH = "/v1/live/sessions"
_SILENCE = base64.b64encode(bytes(DELTA_BYTES)).decode()
_TONE = b"".join(
    struct.pack("<h", int(6000 * math.sin(2 * math.pi * 440 * i / 24000))) for i in range(DELTA_BYTES // 2)
)


def summary(values: list[float]) -> dict[str, float]:
    """count, mean and p95 of ``values`` (ms)."""
    if not values:
        return {"count": 0, "mean": 0.0, "p95": 0.0, "max": 0.0}
    ordered = sorted(values)
    return {
        "count": len(ordered),
        "mean": sum(ordered) / len(ordered),
        "p95": ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))],
        "max": ordered[-1],
    }


class FakeRealtime:
    def __init__(self) -> None:
        self.up_ms: list[float] = []
        self.connections = 0
        self.appends = 0
        self.deltas = 0
        self._ids = itertools.count(1)

    def stats(self, reset: bool) -> dict[str, Any]:
        out = {"up_ms": summary(self.up_ms), "connections": self.connections, "appends": self.appends,
               "deltas": self.deltas}  # fmt: skip
        if reset:
            self.up_ms, self.appends, self.deltas = [], 0, 0
        return out

    def process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        if request.path.startswith("/stats"):
            body = json.dumps(self.stats(reset="reset=1" in request.path))
            return connection.respond(HTTPStatus.OK, body + "\n")
        return None

    async def handle(self, ws: ServerConnection) -> None:
        self.connections += 1
        try:
            if ws.request is not None and ws.request.path.split("?")[0].endswith(LIVE_PATH):
                await self._serve_live(ws)
            else:
                await self._serve(ws)
        finally:
            self.connections -= 1

    def _stamped_up(self, audio: str) -> None:
        pcm = base64.b64decode(audio)
        if len(pcm) >= STAMP.size:
            stamp = STAMP.unpack_from(pcm)[0]
            if stamp > 1e9:  # a browser's stamp, not the client's own silence
                self.up_ms.append((time.time() - stamp) * 1000.0)
        self.appends += 1

    async def _serve_live(self, ws: ServerConnection) -> None:
        n = next(self._ids)
        seconds = 0.0

        async def send(event: dict[str, Any], event_id: bool = True) -> None:
            if event_id:
                event["event_id"] = f"ev_{n}_{next(self._ids)}"
            await ws.send(json.dumps(event))

        session: dict[str, Any] = {}
        async for frame in ws:
            event = json.loads(frame)
            kind = event.get("type")
            if kind == "session.input_audio.append":
                self._stamped_up(event["audio"])
                pcm = base64.b64decode(event["audio"])
                seconds += len(pcm) / 48000
                if not any(pcm):  # the client's own silence (microphone off): the model is quiet too
                    await send({"type": "session.output_audio.delta", "delta": _SILENCE}, False)
                    continue
                out = bytearray(_TONE)
                STAMP.pack_into(out, 0, time.time())
                await send({"type": "session.output_audio.delta", "delta": base64.b64encode(out).decode()}, False)
                self.deltas += 1
                if self.deltas % 10 == 0:
                    ms = int(seconds * 1000)
                    await send({"type": "session.output_transcript.delta", "delta": "la ", "start_ms": ms,
                                "end_ms": ms + 100})  # fmt: skip
            elif kind == "session.start":
                session = {**event.get("session", {}), "id": f"sess_{n}", "status": "active",
                           "expires_at": int(time.time()) + 7200}  # fmt: skip
                await send({"type": "session.started", "session": session})
            elif kind == "session.close":
                await send({"type": "session.closed", "reason": "close_requested", "session": session,
                            "usage": {"seconds": int(seconds)}})  # fmt: skip
                await ws.close()
                return

    async def _serve(self, ws: ServerConnection) -> None:
        n = next(self._ids)
        session: dict[str, Any] = {"type": "realtime", "id": f"sess_{n}", "object": "realtime.session"}

        async def send(event: dict[str, Any]) -> None:
            event["event_id"] = f"ev_{n}_{next(self._ids)}"
            await ws.send(json.dumps(event))

        await send({"type": "session.created", "session": session})
        response: str | None = None
        item = ""
        deltas = 0
        async for frame in ws:
            event = json.loads(frame)
            kind = event.get("type")
            if kind == "input_audio_buffer.append":
                self._stamped_up(event["audio"])
                if response is None:
                    response, item, deltas = f"resp_{n}_{next(self._ids)}", f"item_{n}_{next(self._ids)}", 0
                    await send({"type": "response.created", "response": {"id": response, "status": "in_progress"}})
                out = bytearray(DELTA_BYTES)
                STAMP.pack_into(out, 0, time.time())
                delta = base64.b64encode(out).decode()
                await send({"type": "response.output_audio.delta", "response_id": response, "item_id": item,
                            "output_index": 0, "content_index": 0, "delta": delta})  # fmt: skip
                self.deltas += 1
                deltas += 1
                if deltas >= DELTAS_PER_RESPONSE:
                    await send({"type": "response.done", "response": {"id": response, "status": "completed",
                                "output": [], "usage": {"total_tokens": 10}}})  # fmt: skip
                    response = None
            elif kind == "session.update":
                session.update(event.get("session") or {})
                await send({"type": "session.updated", "session": session})
            elif kind == "conversation.item.create":
                added = {**event["item"], "id": event["item"].get("id") or f"item_{n}_{next(self._ids)}"}
                await send({"type": "conversation.item.added", "item": added})
            elif kind == "response.create":
                await self._answer_text(send, n)

    async def _answer_text(self, send: Any, n: int) -> None:
        rid, item = f"resp_{n}_{next(self._ids)}", f"item_{n}_{next(self._ids)}"
        text = "Here is the answer."
        common = {"response_id": rid, "item_id": item, "output_index": 0, "content_index": 0}
        await send({"type": "response.created", "response": {"id": rid, "status": "in_progress"}})
        await send({"type": "response.output_text.delta", **common, "delta": text})
        await send({"type": "response.output_text.done", **common, "text": text})
        await send({"type": "response.done", "response": {"id": rid, "status": "completed",
                    "output": [{"id": item, "type": "message"}], "usage": {"total_tokens": 12}}})  # fmt: skip


async def serve_forever(port: int) -> None:
    fake = FakeRealtime()
    async with serve(fake.handle, "127.0.0.1", port, process_request=fake.process_request, max_size=None):
        print("ready", flush=True)
        await asyncio.Future()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    asyncio.run(serve_forever(args.port))


if __name__ == "__main__":
    main()
