"""Every pause of the bench's clips, judged offline as ``semantic_vad`` judges it: the tool to tune the turn judge on.

    python -m bench.turn_pauses [--half tuning] [--kinds numbers,pause] [--voices en-us] [--limit N]
                                [--phases 3] [--verbose]

The clips of :mod:`bench.turn_clips` are fed, in the 8192-byte chunks a browser sends, as the runner feeds a
session (:mod:`local_engine.runner`), but not in real time: the engine's own
:class:`~local_engine.turn.SemanticVadStream`, its :class:`~local_engine.listen.Listening` (the stream of
:class:`~local_engine.asr.WhisperTranscriber` and its decode prefetched in a pause) and
:meth:`~local_engine.turn.SemanticVadStream.settle` at each check of the ``auto`` schedule. A pause is *final* when
it begins at the clip's last voiced sample (within 100 ms). What should happen: a final pause ends the turn at its
first check; no other pause ends it at any check. ``--phases N`` runs each clip N times, with 0, 57, 114 ...
ms of silence before it, so the chunks cut its speech at other places (Whisper's words, and so the verdicts, change
with where the audio ends).

Prints each check that went the wrong way, then the counts per kind, and the *detection delay*: from the clip's
last voiced sample to the end of the chunk whose check ended the turn (median, p95, max). It leaves out the
models' compute (about 60-100 ms of Whisper on a 2-core machine, then the reply's first audio): ``bench.local_latency``
measures the whole latency in real time.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections import Counter

import numpy as np

from bench.turn_clips import Clip, make_clips
from local_engine.asr import WhisperTranscriber
from local_engine.listen import Listening
from local_engine.stages import VadSpeechStopped
from local_engine.turn import SemanticVadStream, heard_cue
from local_engine.vad import SileroVad

CHUNK = 8192  # bytes: what the browser recorder sends (about 171 ms at 24 kHz)
BYTES_PER_MS = 48
FINAL_SLACK_MS = 100
PHASE_MS = 57  # a third of a chunk


async def _ready(text: str) -> str:
    return text


async def judge_clip(
    clip: Clip, asr: WhisperTranscriber, verbose: bool, lead_ms: int = 0
) -> tuple[list[str], float | None]:
    """The verdicts on ``clip``'s pauses, one line per check that came due, after ``lead_ms`` of silence. Returns
    the lines and, when the final pause ended the turn, its detection delay (ms, see the module docstring)."""
    vad = SemanticVadStream(SileroVad.shared(), "auto")
    listening = Listening(asr)
    lead = bytes(BYTES_PER_MS * lead_ms)
    pcm = lead + clip.pcm + bytes(BYTES_PER_MS * 3000)  # 3 s of silence after the clip
    voiced_end_ms = (len(lead) + clip.speech_end) / BYTES_PER_MS
    lines: list[str] = []
    outcome, detected = "never ended", None
    for offset in range(0, len(pcm), CHUNK):
        piece = pcm[offset : offset + CHUNK]
        end_ms = (offset + len(piece)) / BYTES_PER_MS
        pause_start = vad._silence_start  # (the max pause ends the turn inside feed: the pause it ended)
        events = vad.feed(piece)
        listening.observe(piece, end_ms, events)
        if any(isinstance(e, VadSpeechStopped) for e in events):
            final = pause_start is not None and pause_start / 16 >= voiced_end_ms - FINAL_SLACK_MS
            outcome = "ended at the max pause" + ("" if final else " (cut)")
            if final:
                detected = end_ms - voiced_end_ms
                break
            continue
        listening.pause(vad.pause_ms, end_ms)
        if (check := vad.due_check()) is None:
            continue
        pause_ms, pause_start_ms = vad.pause_ms, (vad._silence_start or 0) / 16
        text = await listening.transcript_so_far()
        verdict = await vad.settle(check, _ready(text)) is not None
        final = pause_start_ms >= voiced_end_ms - FINAL_SLACK_MS
        wrong = (final and not verdict and check == 0) or (not final and verdict)
        line = (
            f"{'WRONG ' if wrong else ''}{'final' if final else 'inner'} pause at {pause_start_ms:.0f} ms, "
            f"pause {pause_ms} ms, check {check}: cue {heard_cue(text)} (last word "
            f"{getattr(text, 'last_word_ms', None) or 0:.0f} ms), {'ENDS' if verdict else 'waits'}: {text!r}"
        )
        lines.append(line)
        if verbose or wrong:
            print(f"  [{clip.kind}/{clip.voice} +{lead_ms} ms] {clip.text!r}: {line}", flush=True)
        if verdict:
            listening.stopped()
            outcome = "final" if final else "cut"
            if final:
                detected = end_ms - voiced_end_ms
                break
    listening.close()
    lines.append(f"outcome: {outcome}")
    return lines, detected


async def run(args: argparse.Namespace) -> None:
    from bench.local_latency import chosen

    clips = make_clips(chosen(args))
    asr = WhisperTranscriber()
    tally: Counter[tuple[str, str]] = Counter()
    delays: dict[str, list[float]] = {}
    for clip in clips:
        for phase in range(args.phases):
            lines, detected = await judge_clip(clip, asr, args.verbose, phase * PHASE_MS)
            first_final = next((ln for ln in lines if ln.startswith(("final", "WRONG final"))), "")
            cut = any(ln.startswith("WRONG inner") for ln in lines) or lines[-1].endswith("(cut)")
            tally[(clip.kind, "cut" if cut else "not cut")] += 1
            if not clip.paused:
                tally[(clip.kind, "ends at 1st check" if "ENDS" in first_final else "late")] += 1
                delays.setdefault(clip.kind, []).append(detected if detected is not None else float("inf"))
    asr.close()
    for kind in dict.fromkeys(k for k, _ in tally):
        print(f"{kind:26s} " + ", ".join(f"{what} {n}" for (k, what), n in sorted(tally.items()) if k == kind))
    every = [d for ds in delays.values() for d in ds]
    if every:
        values = np.array(every)
        print(
            f"detection delay of the questions (last voiced sample -> end of the deciding chunk, n={values.size}): "
            f"median {np.median(values):.0f} ms, p95 {np.percentile(values, 95):.0f} ms, max {values.max():.0f} ms"
        )
        for kind, ds in delays.items():
            print(f"  {kind:10s} median {np.median(ds):5.0f} ms  max {max(ds):5.0f} ms  (n={len(ds)})")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.turn_pauses")
    parser.add_argument("--half", choices=("tuning", "held-out", "all"), default="tuning")
    parser.add_argument("--kinds", default="")
    parser.add_argument("--voices", default="")
    parser.add_argument("--limit", type=int, default=0)
    parser.add_argument("--phases", type=int, default=1, help=f"runs per clip, each {PHASE_MS} ms later in the chunks")
    parser.add_argument("--verbose", action="store_true", help="print every check, not only the wrong ones")
    args = parser.parse_args()
    args.kinds = [k for k in args.kinds.split(",") if k]
    args.voices = [v for v in args.voices.split(",") if v]
    asyncio.run(run(args))
    sys.stdout.flush()
    os._exit(0)  # CTranslate2's threads abort the interpreter's shutdown ("terminate called without an active ...")


if __name__ == "__main__":
    main()
