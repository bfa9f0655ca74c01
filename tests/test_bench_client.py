"""bench/client_bench.py still measures what it says: its paths run, a mic chunk becomes one append frame and an
audio delta reaches a listener (the README lists the bench; a client change broke it once, unseen)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from bench import client_bench

ROOT = Path(__file__).resolve().parents[1]


def test_every_path_of_the_client_bench_runs_and_does_its_work() -> None:
    for path in (
        client_bench.bench_ours_send,
        client_bench.bench_ours_receive,
        client_bench.bench_naive_send,
        client_bench.bench_naive_receive,
    ):
        assert path(20) > 0.0


def test_the_client_bench_prints_its_figures() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "bench.client_bench", "--iterations", "50"],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=True,
    ).stdout  # fmt: skip
    rows = [line.split() for line in out.splitlines() if line.startswith(("send", "receive"))]
    assert len(rows) == 2 and all(float(row[-1]) > 0 and float(row[-2]) > 0 for row in rows), out
