"""How many voice chats can one app process relay in real time?

    python -m bench.relay_load                          # 50, 100, 200 sessions, 15 s of audio each step
    python -m bench.relay_load --sessions 200,220 --seconds 20 --max-voice-sessions 200
    APP_PROFILE=test-artifacts/relay.prof python -m bench.relay_load --sessions 100   # cProfile of the app
    python -m bench.relay_load --protocol both --sessions 50,100   # GPT-Live beside Realtime

Starts ``bench.fake_realtime`` and the app (``chainlit run``, configured as OpenAI with a fake key, pointed at the
fake service) on loopback, then for each N opens N chats over socket.io (python-socketio, as the browser does),
turns voice on in each and streams microphone audio at real-time pace (8192-byte chunks, as Chainlit's recorder
sends) for ``--seconds``, while the fake service answers every chunk with 100 ms of audio. It prints per N: how
many chats were admitted and how many were told "busy" (above ``MAX_VOICE_SESSIONS``), the app's CPU (% of one
core) and resident memory per session, and the upstream lag (browser -> app -> service) and downstream lag
(service -> app -> browser): mean and p95 in ms, measured with wall-clock stamps written into the audio itself.

The bench's own simulated browsers and the fake service run on the same machine: on a small or busy machine they
compete with the app for CPU, so the lags are pessimistic. The CPU per chunk relayed (and the share of a core one
session costs at real-time pace derived from it) depends much less on that: when the app gets too little CPU it
relays fewer chunks, drops the oldest audio of each chat past 2 s, and the lags grow.

``--protocol live`` runs the same steps over GPT-Live (``VOICE_PROTOCOL=live``; the fake service answers on
``/v1/live/sessions``), ``both`` runs Realtime then GPT-Live. GPT-Live's input clock never stops: every open chat
appends audio (silence while its microphone is off) at real-time pace, so before voice is turned on each step also
measures what the open chats cost idle (``--idle-seconds``), where a Realtime chat costs next to nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import struct
import time
from dataclasses import dataclass, field
from typing import Any

from bench.apprun import app_with_fake_service, proc_cpu_s, proc_rss_mb
from bench.fake_realtime import summary
from tests.app.wire import CHUNK, WireChat

STAMP = struct.Struct("<d")
CHUNK_S = CHUNK / 48 / 1000  # 8192 bytes of PCM16 at 24 kHz: 170.7 ms


@dataclass
class Browser:
    chat: WireChat
    down_ms: list[float] = field(default_factory=list)
    admitted: bool = False
    busy: bool = False
    chunks_sent: int = 0


def _on_event(browser: list[Browser]) -> Any:
    def handle(event: str, data: Any) -> None:
        if event == "audio_chunk" and browser and isinstance(data, dict):
            pcm = data.get("data")
            stamp = STAMP.unpack_from(pcm)[0] if isinstance(pcm, bytes) and len(pcm) >= STAMP.size else 0.0
            if stamp > 1e9:  # the service's stamp (GPT-Live's short pauses inside a turn are relayed unstamped)
                browser[0].down_ms.append((time.time() - stamp) * 1000.0)

    return handle


async def open_browser(url: str) -> Browser:
    holder: list[Browser] = []
    chat = WireChat(url, on_event=_on_event(holder))
    browser = Browser(chat)
    holder.append(browser)
    await chat.open()
    await chat.wait(lambda: "Connected to" in chat.status(), 120, "the chat to connect")
    return browser


async def voice_on(browser: Browser) -> None:
    chat = browser.chat
    await chat.sio.emit("audio_start")
    await chat.wait(lambda: bool(chat.named("audio_connection")), 60, "the answer to audio_start")
    browser.admitted = chat.named("audio_connection")[-1] == "on"
    browser.busy = any("busy" in text.lower() for text in chat.messages("assistant_message").values())


async def stream(browser: Browser, seconds: float) -> None:
    """Microphone audio at real-time pace: one stamped 8192-byte chunk every 170.7 ms, from a random phase."""
    await asyncio.sleep(random.random() * CHUNK_S)
    start = time.monotonic()
    i = 0
    while time.monotonic() - start < seconds:
        pcm = bytearray(CHUNK)
        STAMP.pack_into(pcm, 0, time.time())
        payload = {"isStart": i == 0, "mimeType": "pcm16", "elapsedTime": i * CHUNK_S * 1000, "data": bytes(pcm)}
        await browser.chat.sio.emit("audio_chunk", payload)
        browser.chunks_sent += 1
        i += 1
        await asyncio.sleep(max(0.0, start + i * CHUNK_S - time.monotonic()))


async def step(url: str, service: Any, pid: int, n: int, seconds: float, batch: int, idle_s: float) -> str:
    rss_before = proc_rss_mb(pid)
    browsers: list[Browser] = []
    for offset in range(0, n, batch):
        browsers += await asyncio.gather(*(open_browser(url) for _ in range(min(batch, n - offset))))
    await asyncio.sleep(1.0)
    cpu0, wall0 = proc_cpu_s(pid), time.monotonic()
    await asyncio.sleep(idle_s)  # chats open, microphones off
    idle_pct = (proc_cpu_s(pid) - cpu0) / (time.monotonic() - wall0) * 100
    await asyncio.gather(*(voice_on(b) for b in browsers))
    admitted = [b for b in browsers if b.admitted]
    busy = sum(b.busy for b in browsers)
    await asyncio.sleep(1.0)
    service.stats(reset=True)
    cpu0, wall0 = proc_cpu_s(pid), time.monotonic()
    await asyncio.gather(*(stream(b, seconds) for b in admitted))
    await asyncio.sleep(1.0)  # the last chunks arrive
    cpu1, wall1 = proc_cpu_s(pid), time.monotonic()
    rss = proc_rss_mb(pid)
    stats = service.stats(reset=True)
    down = summary([x for b in admitted for x in b.down_ms])
    sent = sum(b.chunks_sent for b in admitted)
    up = stats["up_ms"]
    cpu_pct = (cpu1 - cpu0) / (wall1 - wall0) * 100
    relayed = up["count"] + down["count"]
    # CPU per chunk relayed (one up, one down per 170.7 ms of real time and session): what a session costs at
    # real-time pace even when a starved process relayed fewer chunks than were sent.
    ms_per_chunk = (cpu1 - cpu0) * 1000 / relayed if relayed else float("nan")
    realtime_pct = ms_per_chunk * 2 / (CHUNK_S * 1000) * 100
    await asyncio.gather(*(b.chat.sio.emit("audio_end") for b in admitted))
    await asyncio.gather(*(b.chat.close() for b in browsers), return_exceptions=True)
    await asyncio.sleep(2.0)
    per = max(1, len(admitted))
    return (
        f"N={n}: idle (chats open, mics off) {idle_pct:.0f}% of a core ({idle_pct / n:.3f}% per chat); "
        f"admitted {len(admitted)}, busy {busy}; app CPU {cpu_pct:.0f}% of a core "
        f"({cpu_pct / per:.2f}% per session; {ms_per_chunk:.2f} ms per chunk relayed = {realtime_pct:.2f}% of a "
        f"core per session at real-time pace), RSS {rss:.0f} MB (+{(rss - rss_before) / per:.2f} MB per session); "
        f"upstream lag mean {up['mean']:.0f} ms, p95 {up['p95']:.0f} ms, max {up['max']:.0f} ms "
        f"({up['count']} of {sent} chunks arrived); downstream lag mean {down['mean']:.0f} ms, "
        f"p95 {down['p95']:.0f} ms ({down['count']} chunks)"
    )


async def run(sessions: list[int], seconds: float, batch: int, idle_s: float = 5.0, **env: str) -> list[str]:
    lines = []
    protocol = env.get("VOICE_PROTOCOL", "realtime")
    with app_with_fake_service(f"relay-load-{protocol}", **env) as (server, service):
        pid = server.process.pid
        print(f"{protocol}: app pid {pid}, idle RSS {proc_rss_mb(pid):.0f} MB, {os.cpu_count()} CPUs", flush=True)
        for n in sessions:
            line = f"{protocol} " + await step(server.url, service, pid, n, seconds, batch, idle_s)
            print(line, flush=True)
            lines.append(line)
    return lines


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--sessions", default="50,100,200", help="comma list of N")
    parser.add_argument("--seconds", type=float, default=15.0, help="audio streamed per step")
    parser.add_argument("--batch", type=int, default=20, help="chats opened at once")
    parser.add_argument("--max-voice-sessions", type=int, default=None, help="MAX_VOICE_SESSIONS for the app")
    parser.add_argument("--protocol", choices=["realtime", "live", "both"], default="realtime")
    parser.add_argument("--idle-seconds", type=float, default=5.0, help="chats open, mics off, before voice starts")
    parser.add_argument(
        "--no-deflate", action="store_true", help="UVICORN_WS_PER_MESSAGE_DEFLATE=false: no compression to browsers"
    )
    args = parser.parse_args(argv)
    env = {"MAX_VOICE_SESSIONS": str(args.max_voice_sessions)} if args.max_voice_sessions is not None else {}
    if args.no_deflate:
        env["UVICORN_WS_PER_MESSAGE_DEFLATE"] = "false"
    for name in ("APP_PROFILE", "APP_NEST_ASYNCIO"):
        if os.environ.get(name):
            env[name] = os.environ[name]
    sessions = [int(n) for n in args.sessions.split(",")]
    for protocol in ("realtime", "live") if args.protocol == "both" else (args.protocol,):
        asyncio.run(run(sessions, args.seconds, args.batch, args.idle_seconds, **env, VOICE_PROTOCOL=protocol))


if __name__ == "__main__":
    main()
