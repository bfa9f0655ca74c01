"""Word error rate and decode time of the engine's Whisper for each beam width, on the clips of ``bench.turn_clips``.

    python -m bench.asr_wer [--half tuning|held-out|all] [--beams 2,5]

Each clip (questions and paused sentences, PCM16 24 kHz) is transcribed whole by
:meth:`~local_engine.asr.WhisperTranscriber.transcribe` (one decode, no streaming, no turn detection) with
:data:`~local_engine.asr.BEAM_SIZE` set to each width in turn. Prints per width the word error rate (Levenshtein
distance over lower-cased words, numbers written out: ``bench.turn_clips.words``) and the median and p95 ms of one
decode on this machine. Tune on ``--half tuning`` only. Nothing is asserted.
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
        asr.BEAM_SIZE = beam
        errors = total = 0
        times: list[float] = []
        for clip in clips:
            before = len(transcriber.decode_ms)
            text = await transcriber.transcribe(clip.pcm)
            times += list(transcriber.decode_ms)[before:]
            reference = words(clip.text)
            errors += word_errors(reference, words(text))
            total += len(reference)
        rate = 100 * errors / total
        print(f"beam {beam}: word error rate {rate:.1f}% ({errors} errors in {total} words), decode median "
              f"{np.median(times):.0f} ms, p95 {np.percentile(times, 95):.0f} ms", flush=True)  # fmt: skip
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
