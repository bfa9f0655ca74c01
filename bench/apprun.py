"""The app under test for the benchmarks: ``chainlit run app.py`` configured as OpenAI with a fake key made at run
time, pointed (``OPENAI_BASE_URL``) at ``bench.fake_realtime`` on loopback. Nothing leaves the machine."""

from __future__ import annotations

import contextlib
import secrets
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tests.app.conftest import ARTIFACTS, ROOT, AppServer, clean_env, free_port, start_app, stop_app, stop_process

__all__ = ["FakeService", "app_with_fake_service", "fake_key", "proc_cpu_s", "proc_rss_mb"]


def fake_key() -> str:
    """A key-shaped random string, made at run time (never committed)."""
    return "-".join(["sk", "proj", secrets.token_urlsafe(36)])


@dataclass
class FakeService:
    port: int
    process: subprocess.Popen[bytes]

    @property
    def base_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/v1"

    def stats(self, reset: bool = False) -> dict[str, object]:
        import json

        url = f"http://127.0.0.1:{self.port}/stats" + ("?reset=1" if reset else "")
        with urllib.request.urlopen(url, timeout=10) as response:
            return dict(json.loads(response.read()))


@contextlib.contextmanager
def app_with_fake_service(log_name: str, **env: str) -> Iterator[tuple[AppServer, FakeService]]:
    """The fake service and the app (its log in test-artifacts/``log_name``.log); ``env`` adds settings."""
    ARTIFACTS.mkdir(exist_ok=True)
    port = free_port()
    fake_log = (ARTIFACTS / f"{log_name}-fake.log").open("wb")
    fake = subprocess.Popen(
        [sys.executable, "-m", "bench.fake_realtime", "--port", str(port)],
        cwd=ROOT,
        env=clean_env(),
        stdout=fake_log,
        stderr=subprocess.STDOUT,
    )
    try:
        _wait_for(lambda: "ready" in (ARTIFACTS / f"{log_name}-fake.log").read_text(), fake, 30)
        service = FakeService(port, fake)
        app_env = clean_env(OPENAI_API_KEY=env.pop("OPENAI_API_KEY", fake_key()), OPENAI_BASE_URL=service.base_url)
        app_env.update(env)
        server = start_app(ARTIFACTS / f"{log_name}.log", app_env)
        try:
            yield server, service
        finally:
            stop_app(server)
    finally:
        stop_process(fake)


def _wait_for(ready: object, process: subprocess.Popen[bytes], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if callable(ready) and ready():
            return
        if process.poll() is not None:
            raise RuntimeError(f"process exited with {process.returncode}")
        time.sleep(0.1)
    raise RuntimeError("not ready in time")


def proc_cpu_s(pid: int) -> float:
    """CPU seconds (user + system) used so far by process ``pid`` (Linux /proc)."""
    import os

    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def proc_rss_mb(pid: int) -> float:
    """Resident memory of process ``pid`` in MB (Linux /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


__all__ += ["ROOT"]
