"""Word error rate and decode time of the engine's Whisper for each beam width, on the clips of ``bench.turn_clips``.

    python -m bench.asr_wer [--half tuning|held-out|all] [--beams 2,5]

Each clip (questions and paused sentences, PCM16 24 kHz) is transcribed whole by
:meth:`~local_engine.asr.WhisperTranscriber.transcribe` (one decode, no streaming, no turn detection) with
:attr:`~local_engine.asr.WhisperTranscriber.beam_size` set to each width in turn. Prints per width the word error
rate (Levenshtein distance over lower-cased words, numbers written out: ``bench.turn_clips.words``), overall, per kind
and per voice, and the median and p95 ms of one decode on this machine: the recognizer's own errors, which no turn
detection or streaming can remove. Tune on ``--half tuning`` only. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys

import numpy as np

import local_engine.asr as asr
from bench.local_latency import chosen
from bench.turn_clips import make_clips, words
from tests.audio import word_errors


async def run(args: argparse.Namespace) -> None:
    clips = make_clips(chosen(args))
    transcriber = asr.WhisperTranscriber()
    await transcriber.warm_up()
    print(f"{len(clips)} clips (half: {args.half}), {os.cpu_count()} CPUs")
    for beam in args.beams:
        transcriber.beam_size = beam
        by_kind: dict[str, list[int]] = {}
        by_voice: dict[str, list[int]] = {}
        times: list[float] = []
        for clip in clips:
            before = len(transcriber.decode_ms)
            text = await transcriber.transcribe(clip.pcm)
            times += list(transcriber.decode_ms)[before:]
            reference = words(clip.text)
            for tally in (by_kind.setdefault(clip.kind, [0, 0]), by_voice.setdefault(clip.voice, [0, 0])):
                tally[0] += word_errors(reference, words(text))
                tally[1] += len(reference)
        errors, total = (sum(t[i] for t in by_kind.values()) for i in (0, 1))
        print(f"beam {beam}: word error rate {100 * errors / total:.1f}% ({errors} errors in {total} words), decode "
              f"median {np.median(times):.0f} ms, p95 {np.percentile(times, 95):.0f} ms", flush=True)  # fmt: skip
        for label, tallies in (("kind", by_kind), ("voice", by_voice)):
            shown = ", ".join(f"{name} {100 * e / n:.1f}% ({e}/{n})" for name, (e, n) in tallies.items())
            print(f"  by {label}: {shown}", flush=True)
    transcriber.close()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.asr_wer")
    parser.add_argument("--half", choices=("tuning", "held-out", "all"), default="tuning")
    parser.add_argument("--beams", default="2,5", help="comma-separated beam widths")
    args = parser.parse_args()
    args.beams = [int(b) for b in args.beams.split(",") if b]
    args.kinds, args.voices, args.limit = [], [], 0
    asyncio.run(run(args))
    sys.stdout.flush()
    os._exit(0)  # CTranslate2's threads abort the interpreter's shutdown ("terminate called without an active ...")


if __name__ == "__main__":
    main()
