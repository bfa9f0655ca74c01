"""A Chainlit chat over the wire: python-socketio's AsyncClient speaking to a running app's socket.io endpoint as
Chainlit's own frontend does, recording every event it receives."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import socketio
import soundfile as sf

CHUNK = 8192  # bytes per chunk, as the browser's recorder sends (4096 samples, ~171 ms at 24 kHz)


def load_pcm(path: Path) -> bytes:
    """A 24 kHz mono WAV as PCM16 LE bytes."""
    samples, rate = sf.read(str(path), dtype="int16", always_2d=True)
    assert rate == 24000, rate
    return np.ascontiguousarray(samples[:, 0]).astype("<i2").tobytes()


class WireChat:
    """One chat session. ``events`` holds ``(monotonic time, event, data)`` of everything the server sent."""

    def __init__(
        self, url: str, *, headers: dict[str, str] | None = None, on_event: Callable[[str, Any], None] | None = None
    ) -> None:
        self.url = url
        self.headers = headers or {}
        self.sio = socketio.AsyncClient(reconnection=False)
        self.events: list[tuple[float, str, Any]] = []
        self._on_event = on_event
        self.sio.on("*", self._record)
        # python-socketio's client handles each engine.io message in a task of its own; under load a binary
        # attachment can then be parsed before its header ("invalid literal for int()"), an exception nobody
        # retrieves. One pump task handles them strictly in arrival order instead.
        self._inbox: asyncio.Queue[Any] = asyncio.Queue()
        self._pump: asyncio.Task[None] | None = None
        self.decode_errors = 0
        self.sio.eio.on("message", self._inbox.put_nowait)

    async def _record(self, event: str, data: Any = None) -> None:
        self.events.append((time.monotonic(), event, data))
        if self._on_event is not None:
            self._on_event(event, data)

    async def _handle_in_order(self) -> None:
        while True:
            data = await self._inbox.get()
            try:
                await self.sio._handle_eio_message(data)
            except ValueError:
                self.decode_errors += 1

    async def open(self, thread_id: str = "") -> None:
        """Connect (``headers`` go with the handshake, e.g. the sign-in cookie) and start the chat; a
        ``thread_id`` resumes that thread."""
        self._pump = asyncio.create_task(self._handle_in_order(), name="socketio-pump")
        await self.sio.connect(
            self.url,
            headers=self.headers,
            socketio_path="/ws/socket.io",
            transports=["websocket"],
            auth={
                "clientType": "webapp",
                "sessionId": str(uuid.uuid4()),
                "threadId": thread_id,
                "userEnv": "{}",
                "chatProfile": "",
            },
        )
        await self.sio.emit("connection_successful")

    async def close(self) -> None:
        await self.sio.disconnect()
        if self._pump is not None:
            self._pump.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._pump

    def named(self, event: str) -> list[Any]:
        return [d for _, e, d in self.events if e == event]

    def messages(self, step_type: str) -> dict[str, str]:
        """Latest text of every message of ``step_type`` (``user_message``, ``assistant_message``, ``tool``),
        by id, from new_message/stream_start/stream_token/update_message events, in first-seen order."""
        out: dict[str, str] = {}
        ids: set[str] = set()
        for _, event, data in self.events:
            if event in ("new_message", "stream_start", "update_message") and data.get("type") == step_type:
                ids.add(data["id"])
                out[data["id"]] = data.get("output") or ""
            elif event == "stream_token" and data["id"] in ids:
                out[data["id"]] += data["token"]
        return out

    def status(self) -> str:
        found = [d["output"] for _, e, d in self.events if e in ("new_message", "update_message")
                 and d.get("name") == "Status"]  # fmt: skip
        return found[-1] if found else ""

    async def wait(self, condition: Callable[[], bool], timeout_s: float, what: str) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if condition():
                return
            await asyncio.sleep(0.05)
        raise AssertionError(f"timed out after {timeout_s} s waiting for {what}; got {self.summary()}")

    def summary(self) -> str:
        return ", ".join(e for _, e, _ in self.events[-40:])

    async def voice_on(self) -> None:
        await self.sio.emit("audio_start")
        await self.wait(lambda: "on" in self.named("audio_connection"), 60, "the microphone to be accepted")

    async def type(self, text: str) -> None:
        now = datetime.now(UTC).isoformat()
        message = {"id": str(uuid.uuid4()), "name": "User", "type": "user_message", "output": text, "createdAt": now}
        await self.sio.emit("client_message", {"message": message, "fileReferences": []})

    async def speak(self, pcm: bytes, *, silence_ms: int = 1200, speed: float = 1.0) -> None:
        """Stream ``pcm`` then ``silence_ms`` of silence in browser-sized chunks, paced like a microphone."""
        pcm = pcm + bytes(48 * silence_ms)
        start = time.monotonic()
        for i, offset in enumerate(range(0, len(pcm), CHUNK)):
            piece = pcm[offset : offset + CHUNK]
            payload = {"isStart": i == 0, "mimeType": "pcm16", "elapsedTime": (offset / 48), "data": piece}
            await self.sio.emit("audio_chunk", payload)
            due = start + (offset + len(piece)) / 48 / 1000 / speed
            await asyncio.sleep(max(0.0, due - time.monotonic()))

    def audio_tracks(self) -> list[str]:
        seen: list[str] = []
        for d in self.named("audio_chunk"):
            if d["track"] not in seen:
                seen.append(d["track"])
        return seen
