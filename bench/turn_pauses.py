"""Every pause of the bench's clips, judged offline as ``semantic_vad`` judges it: the tool to tune the turn judge on.

    python -m bench.turn_pauses [--half tuning] [--kinds numbers,pause] [--voices en-us] [--limit N] [--all-checks]

The clips of :mod:`bench.turn_clips` are fed, in the 8192-byte chunks a browser sends, to the engine's own
:class:`~local_engine.turn.SemanticVadStream` and :class:`~local_engine.asr.WhisperTranscriber` stream, without
the websocket server and not in real time: at each check of the ``auto`` schedule that comes due in a pause, the
words so far (the stream's hypothesis, as the runner asks for it) and Smart Turn's probability are computed and the
judge's verdict printed. A pause is *final* when it begins at the clip's last voiced sample (within 100 ms). What
should happen: a final pause ends the turn at its first check; no other pause ends it at any check. Prints each
check that went the wrong way, then the counts per kind.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections import Counter

from bench.turn_clips import Clip, make_clips
from local_engine.asr import WhisperTranscriber
from local_engine.turn import SemanticVadStream, SmartTurn, heard_cue
from local_engine.vad import SileroVad

CHUNK = 8192
FINAL_SLACK_MS = 100


async def judge_clip(clip: Clip, asr: WhisperTranscriber, turn: SmartTurn, verbose: bool) -> list[str]:
    """The verdicts on ``clip``'s pauses: one line per check that came due."""
    vad = SemanticVadStream(SileroVad.shared(), "auto", turn=turn)
    pcm = clip.pcm + bytes(2 * 24_000 * 3)  # 3 s of silence after the clip
    voiced_end_ms = clip.speech_end / 48
    stream = None
    lines: list[str] = []
    outcome = "never ended"
    for offset in range(0, len(pcm), CHUNK):
        piece = pcm[offset : offset + CHUNK]
        events = vad.feed(piece)
        for event in events:
            if type(event).__name__ == "VadSpeechStarted":
                stream = asr.stream()
                begin = int(getattr(event, "audio_start_ms", 0) * 48) & ~1
                stream.push(pcm[begin : offset + len(piece)])
            elif stream is not None:  # max pause reached
                outcome = f"ended at the max pause ({event})"
                stream = None
        if stream is not None and not any(type(e).__name__ == "VadSpeechStarted" for e in events):
            stream.push(piece)
        if stream is None or (needed := vad.due_check()) is None:
            continue
        text = await stream.hypothesis()
        audio = vad.turn_audio()
        probability = turn.probability(audio)
        last_check = needed <= vad.schedule.checks[-1][1]
        first_check = needed >= vad.schedule.checks[0][1]
        verdict = vad.judge(probability, text, needed, last_check=last_check, first_check=first_check)
        pause_start_ms = (vad._silence_start or 0) / 16
        final = pause_start_ms >= voiced_end_ms - FINAL_SLACK_MS
        wrong = (final and not verdict and needed == vad.schedule.checks[0][1]) or (not final and verdict)
        line = (f"{'WRONG ' if wrong else ''}{'final' if final else 'inner'} pause at {pause_start_ms:.0f} ms, "
                f"pause {vad.pause_ms} ms, needed {needed:.2f}: cue {heard_cue(text)} (last word "
                f"{getattr(text, 'last_word_ms', None) or 0:.0f} ms), Smart Turn {probability:.3f}, "
                f"{'ENDS' if verdict else 'waits'}: {text!r}")  # fmt: skip
        lines.append(line)
        if verbose or wrong:
            print(f"  [{clip.kind}/{clip.voice}] {clip.text!r}: {line}", flush=True)
        if verdict:
            outcome = "final" if final else "cut"
            vad.end_turn()
            stream.close()
            stream = None
            if final:
                break
    lines.append(f"outcome: {outcome}")
    return lines


async def run(args: argparse.Namespace) -> None:
    from bench.local_latency import chosen

    clips = make_clips(chosen(args))
    asr = WhisperTranscriber()
    turn = SmartTurn.shared()
    tally: Counter[tuple[str, str]] = Counter()
    for clip in clips:
        lines = await judge_clip(clip, asr, turn, args.verbose)
        first_final = next((ln for ln in lines if ln.startswith(("final", "WRONG final"))), "")
        tally[(clip.kind, "cut" if any(ln.startswith("WRONG inner") for ln in lines) else "not cut")] += 1
        if not clip.paused:
            tally[(clip.kind, "ends at 1st check" if "ENDS" in first_final else "late")] += 1
    asr.close()
    for kind in dict.fromkeys(k for k, _ in tally):
        print(f"{kind:26s} " + ", ".join(f"{what} {n}" for (k, what), n in sorted(tally.items()) if k == kind))


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.turn_pauses")
    parser.add_argument("--half", choices=("tuning", "held-out", "all"), default="tuning")
    parser.add_argument("--kinds", default="")
    parser.add_argument("--voices", default="")
    parser.add_argument("--limit", type=int, default=0)
    parser.add_argument("--verbose", action="store_true", help="print every check, not only the wrong ones")
    args = parser.parse_args()
    args.kinds = [k for k in args.kinds.split(",") if k]
    args.voices = [v for v in args.voices.split(",") if v]
    asyncio.run(run(args))
    sys.stdout.flush()
    os._exit(0)  # CTranslate2's threads abort the interpreter's shutdown ("terminate called without an active ...")


if __name__ == "__main__":
    main()
