"""Reply latency, transcript accuracy and peak memory of the local engine, over a websocket, turn by turn.

    python -m bench.local_latency [--utterances 20] [--port 0] [--tts piper|espeak]

Starts ``python -m local_engine`` as a subprocess (``LOCAL_TTS`` set from ``--tts``), waits for its "ready"
line, connects one GA client (``/v1/realtime?model=gpt-realtime``), turns on ``server_vad``
(``silence_duration_ms`` 500) and input transcription, offers no tools, and streams 1 s of silence (the
microphone opens before anyone speaks). Each turn streams one short question spoken by espeak-ng
(``tests.audio.speak_pcm``, PCM16 24 kHz) at real-time pace (8192-byte chunks, 170 ms apart), then 1.2 s of
silence, waits for ``response.done``, and pauses 1 s. Per turn (wall clock of this client):

- (a) arrival of ``input_audio_buffer.speech_stopped`` -> arrival of the first ``response.output_audio.delta``
  of the turn's response: the engine's own reply latency once its VAD ended the turn;
- (b) send time of the last chunk holding speech (the clip's last sample above -40 dBFS) -> the same delta: what
  a user feels, ``silence_duration_ms`` and VAD frame lag included;
- the recognised words (``conversation.item.input_audio_transcription.completed``) against the text: word error
  rate, Levenshtein distance over lower-cased words without punctuation.

Prints median and p95 of (a) and (b) in ms, the word error rate, the peak resident memory (``VmHWM`` from
``/proc/PID/status``) of the engine and of its child processes (the Piper worker) in MB, and the CPU count.
The reply comes from whatever generator the engine's settings pick (the built-in offline responder unless
``LOCAL_LLM_BASE_URL`` is set). Figures only: nothing is asserted.
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

from tests.audio import BYTES_PER_MS, silence, speak_pcm, word_errors, words

REPO = Path(__file__).resolve().parents[1]
CHUNK = 8192  # bytes: 4096 samples, about 171 ms, what the browser recorder sends
CHUNK_GAP_S = 0.170
TRAILING_SILENCE_MS = 1200
PAUSE_S = 1.0
LEAD_IN_MS = 1000  # silence streamed once before the first question
SILENCE_DURATION_MS = 500
SPEECH_LEVEL = 328  # |sample| above this (-40 dBFS) counts as speech when finding where a clip's speech ends
TURN_TIMEOUT_S = 60.0
READY_TIMEOUT_S = 300.0

# Questions a user might ask, none of them a built-in tool's cue (time, arithmetic, search, weather, news), a
# greeting, thanks or a story request, so every turn gets the same kind of reply.
UTTERANCES = (
    "How do I bake a loaf of bread?",
    "Can you recommend a good book to read?",
    "Why is the sky blue?",
    "How far away is the moon?",
    "What should I cook for dinner tonight?",
    "How do plants make their own food?",
    "Where do penguins live?",
    "Which planet has the most moons?",
    "How can I learn to play the guitar?",
    "Why do cats purr?",
    "What is the capital of Canada?",
    "How long should I boil an egg?",
    "Can you explain how a rainbow forms?",
    "What are some tips for sleeping better?",
    "How do airplanes stay in the air?",
    "Who painted the Mona Lisa?",
    "Is it healthy to drink coffee every morning?",
    "How do I change a flat tire?",
    "What is the tallest mountain in Europe?",
    "Why do leaves change color in autumn?",
    "How does a refrigerator keep food cold?",
    "What language do people speak in Brazil?",
    "Could you help me plan a trip to Italy?",
    "How do bees make honey?",
)


@dataclass
class Turn:
    """One spoken question and what the engine did with it (times: ``time.perf_counter()`` seconds)."""

    text: str
    speech_end_sent: float = 0.0
    events: list[tuple[float, dict[str, Any]]] = field(default_factory=list)
    reply_after_stopped_ms: float | None = None  # (a)
    reply_after_speech_ms: float | None = None  # (b)
    asr_ms: float | None = None  # speech_stopped -> its transcription.completed
    transcript: str = ""
    segments: int = 0  # speech_stopped events (more than 1: the VAD split the question)
    status: str = "timeout"


# ---------------------------------------------------------------------------------------------------- figures


def speech_end_bytes(pcm: bytes) -> int:
    """Byte offset just past the last sample of ``pcm`` (PCM16) louder than :data:`SPEECH_LEVEL`."""
    loud = np.flatnonzero(np.abs(np.frombuffer(pcm, dtype="<i2").astype(np.int32)) > SPEECH_LEVEL)
    return int(loud[-1] + 1) * 2 if loud.size else len(pcm)


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


# ---------------------------------------------------------------------------------------------------- engine


async def start_engine(port: int, tts: str, log: IO[bytes]) -> tuple[asyncio.subprocess.Process, int]:
    """Start ``python -m local_engine`` and wait for its "ready" line; returns the process and its port.
    Raises :class:`RuntimeError` when it exits or stays silent for :data:`READY_TIMEOUT_S`."""
    env = dict(os.environ, LOCAL_TTS=tts, PYTHONUNBUFFERED="1")
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "local_engine", "--host", "127.0.0.1", "--port", str(port),
        cwd=REPO, env=env, stdout=asyncio.subprocess.PIPE, stderr=log,
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


async def receive(ws: ClientConnection, inbox: asyncio.Queue[tuple[float, dict[str, Any]]]) -> None:
    """Every server event, stamped with its arrival time, into ``inbox``."""
    async for frame in ws:
        inbox.put_nowait((time.perf_counter(), json.loads(frame)))


def append(pcm: bytes) -> str:
    return json.dumps({"type": "input_audio_buffer.append", "audio": base64.b64encode(pcm).decode()})


async def run_turn(ws: ClientConnection, inbox: asyncio.Queue[tuple[float, dict[str, Any]]], text: str) -> Turn:
    turn = Turn(text)
    while not inbox.empty():  # what came after the last turn's response.done (rate_limits.updated...)
        inbox.get_nowait()
    speech = speak_pcm(text)
    audio = speech + silence(TRAILING_SILENCE_MS)
    last_speech_chunk = (speech_end_bytes(speech) - 1) // CHUNK
    for index, offset in enumerate(range(0, len(audio), CHUNK)):
        await ws.send(append(audio[offset : offset + CHUNK]))
        if index == last_speech_chunk:
            turn.speech_end_sent = time.perf_counter()
        await asyncio.sleep(CHUNK_GAP_S)

    stopped: tuple[float, dict[str, Any]] | None = None
    created_after_stop: set[str] = set()
    committed: list[str] = []
    transcripts: dict[str, str] = {}
    in_speech = 0
    done: dict[str, Any] | None = None
    try:
        async with asyncio.timeout(TURN_TIMEOUT_S):
            while done is None or in_speech > 0 or not set(committed) <= transcripts.keys():
                arrived, event = await inbox.get()
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
                    stopped = (arrived, event)
                    created_after_stop.clear()
                elif kind == "input_audio_buffer.committed":
                    committed.append(event["item_id"])
                elif kind == "conversation.item.input_audio_transcription.completed":
                    transcripts[event["item_id"]] = event["transcript"]
                elif kind == "response.created" and stopped is not None:
                    created_after_stop.add(event["response"]["id"])
                elif kind == "response.done" and event["response"]["id"] in created_after_stop:
                    done = event["response"]
    except TimeoutError:
        return turn
    assert done is not None and stopped is not None
    turn.status = str(done["status"])
    turn.transcript = " ".join(transcripts[i] for i in committed)
    first_audio = next(
        (t for t, e in turn.events if e["type"] == "response.output_audio.delta" and e["response_id"] == done["id"]),
        None,
    )
    item = stopped[1]["item_id"]
    turn.asr_ms = next(
        ((t - stopped[0]) * 1000 for t, e in turn.events
         if e["type"] == "conversation.item.input_audio_transcription.completed" and e["item_id"] == item),
        None,
    )  # fmt: skip
    if first_audio is not None:
        turn.reply_after_stopped_ms = (first_audio - stopped[0]) * 1000
        turn.reply_after_speech_ms = (first_audio - turn.speech_end_sent) * 1000
    return turn


async def bench(count: int, port: int, tts: str) -> None:
    texts = [UTTERANCES[i % len(UTTERANCES)] for i in range(count)]
    await asyncio.to_thread(lambda: [speak_pcm(t) for t in set(texts)])
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())} (1, 5, 15 min)")
    with tempfile.NamedTemporaryFile(prefix="local-engine-", suffix=".log", delete=False) as log:
        started = time.perf_counter()
        process, port = await start_engine(port, tts, log)
        ready_s = time.perf_counter() - started
        print(f"engine ready in {ready_s:.1f} s on port {port} (LOCAL_TTS={tts}, its log: {log.name})")
        turns: list[Turn] = []
        try:
            url = f"ws://127.0.0.1:{port}/v1/realtime?model=gpt-realtime"
            async with connect(url, max_size=None, compression=None) as ws:
                inbox: asyncio.Queue[tuple[float, dict[str, Any]]] = asyncio.Queue()
                receiver = asyncio.create_task(receive(ws, inbox))
                session = {
                    "type": "realtime",
                    "tools": [],
                    "audio": {
                        "input": {
                            "transcription": {"model": "whisper-1"},
                            "turn_detection": {"type": "server_vad", "silence_duration_ms": SILENCE_DURATION_MS},
                        }
                    },
                }
                await ws.send(json.dumps({"type": "session.update", "session": session}))
                async with asyncio.timeout(30):
                    while (await inbox.get())[1]["type"] != "session.updated":
                        pass
                for offset in range(0, LEAD_IN_MS * BYTES_PER_MS, CHUNK):
                    await ws.send(append(silence(LEAD_IN_MS)[offset : offset + CHUNK]))
                    await asyncio.sleep(CHUNK_GAP_S)
                for n, text in enumerate(texts, 1):
                    turn = await run_turn(ws, inbox, text)
                    turns.append(turn)
                    a, b, asr = turn.reply_after_stopped_ms, turn.reply_after_speech_ms, turn.asr_ms
                    print(f"{n:3d} {turn.status:9s} a={_ms(a)} b={_ms(b)} asr={_ms(asr)} "
                          f"segments={turn.segments} heard: {turn.transcript!r}", flush=True)  # fmt: skip
                    await asyncio.sleep(PAUSE_S)
                receiver.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await receiver
            engine_mb, children_mb, n_children = peak_memory_mb(process.pid)
        finally:
            await stop_engine(process)

    a_ms = [t.reply_after_stopped_ms for t in turns if t.reply_after_stopped_ms is not None]
    b_ms = [t.reply_after_speech_ms for t in turns if t.reply_after_speech_ms is not None]
    ref_words = sum(len(words(t.text)) for t in turns)
    errors = sum(word_errors(words(t.text), words(t.transcript)) for t in turns)
    completed = sum(t.status == "completed" for t in turns)
    split = sum(t.segments > 1 for t in turns)
    asr_ms = [t.asr_ms for t in turns if t.asr_ms is not None]
    affinity = len(os.sched_getaffinity(0))
    print()
    print(f"turns: {len(turns)} ({len(set(texts))} different), {completed} completed, {split} split by the VAD")
    print(f"(a) speech_stopped -> first audio delta:          {summary(a_ms)}")
    print(f"(b) end of speech (chunk sent) -> first audio delta: {summary(b_ms)}")
    print(f"    of which speech_stopped -> transcript:      {summary(asr_ms)}")
    print(f"ASR word error rate: {100 * errors / max(ref_words, 1):.1f}% ({errors} errors in {ref_words} words)")
    print(f"peak memory (VmHWM): engine {engine_mb:.0f} MB + {n_children} child process(es) {children_mb:.0f} MB "
          f"= {engine_mb + children_mb:.0f} MB")  # fmt: skip
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"CPUs: {os.cpu_count()} (usable by this process: {affinity}); load average now {load}; TTS: {tts}")
    with contextlib.suppress(OSError):
        os.remove(log.name)  # the engine's log is kept only when the run failed


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.local_latency", description="Reply latency of the local engine."
    )
    parser.add_argument("--utterances", type=int, default=20, help="turns to run (default 20)")
    parser.add_argument("--port", type=int, default=0, help="engine port (default 0: a free one)")
    parser.add_argument("--tts", choices=("piper", "espeak"), default="piper", help="LOCAL_TTS of the engine")
    args = parser.parse_args(argv)
    if args.utterances < 1:
        parser.error("--utterances must be at least 1")
    asyncio.run(bench(args.utterances, args.port, args.tts))


if __name__ == "__main__":
    main()
