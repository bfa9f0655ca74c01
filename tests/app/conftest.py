"""Fixtures of the app's tests (tests/app).

- ``app_module``: ``app.py`` imported in this process (handler tests against a mocked Chainlit session).
- ``app_server``: ``chainlit run app.py --headless`` as a subprocess, once per test session, with a clean
  environment (no keys: the embedded local engine answers), shared by the wire and browser tests.
- ``speech``: spoken WAVs made at test time with espeak-ng and sox, cached per session.
"""

from __future__ import annotations

import importlib
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import pytest_asyncio

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
KEY_VARS = ("OPENAI_API_KEY", "AZURE_OPENAI_ENDPOINT", "AZURE_OPENAI_API_KEY", "REALTIME_PROVIDER",
            "CHAINLIT_USERS", "CHAINLIT_AUTH_SECRET", "TAVILY_API_KEY", "LOCAL_ENGINE_URL", "OPENAI_BASE_URL",
            "AZURE_OPENAI_DEPLOYMENT", "REALTIME_DIALECT", "LOCAL_LLM_BASE_URL", "VOICE_PROTOCOL",
            "OPENAI_REALTIME_MODEL")  # fmt: skip
APP_TARGET = os.environ.get("APP_TEST_TARGET", "app.py")  # lets a developer point the tests at a variant


@pytest.fixture(scope="session")
def app_module() -> Iterator[ModuleType]:
    """``app.py`` imported once (its Chainlit callbacks registered), on the local engine, sign-in off."""
    saved = {k: os.environ.pop(k) for k in KEY_VARS if k in os.environ}
    try:
        yield importlib.import_module("app")
    finally:
        os.environ.update(saved)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without any provider key or sign-in setting, plus ``extra``. ``CI`` is left
    out too: ``chainlit run`` in CI mode overwrites OPENAI_API_KEY with a placeholder of its own."""
    env = {k: v for k, v in os.environ.items() if k not in (*KEY_VARS, "CI") and not k.startswith("PYTEST_")}
    env.update(PYTHONUNBUFFERED="1", **extra)
    return env


@dataclass
class AppServer:
    url: str
    log_path: Path
    process: subprocess.Popen[bytes]

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def start_app(
    log_path: Path, env: dict[str, str], *, timeout_s: float = 90.0, command: list[str] | None = None
) -> AppServer:
    """Start ``chainlit run`` (or ``command``, which reads ``PORT`` and ``HOST`` from the environment, as
    scripts/run does) on a free loopback port and wait until it answers HTTP."""
    port = free_port()
    log_path.parent.mkdir(parents=True, exist_ok=True)
    out = log_path.open("wb")
    if command is not None:
        env = {**env, "PORT": str(port), "HOST": "127.0.0.1"}
    chainlit = [sys.executable, "-m", "chainlit", "run", APP_TARGET, "--headless", "--host", "127.0.0.1"]
    process = subprocess.Popen(
        command or [*chainlit, "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=out,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the app exited with {process.returncode}:\n{log_path.read_text(errors='replace')}")
        try:
            with urllib.request.urlopen(url + "/", timeout=2) as response:
                if response.status == 200:
                    return AppServer(url, log_path, process)
        except OSError:
            time.sleep(0.3)
    process.kill()
    raise RuntimeError(f"the app did not answer within {timeout_s} s:\n{log_path.read_text(errors='replace')}")


def stop_process(process: subprocess.Popen[bytes], *, timeout_s: float = 10) -> None:
    """Ask ``process`` to stop (SIGTERM); kill it if it has not within ``timeout_s``."""
    process.terminate()
    try:
        process.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def stop_app(server: AppServer, *, check_log: bool = True) -> None:
    """Stop the app; then fail if its log reports an asyncio task destroyed while pending or an exception never
    retrieved (see tests/conftest.py)."""
    stop_process(server.process, timeout_s=15)
    if check_log:
        from tests.conftest import problems_in_log

        found = problems_in_log(server.log())
        assert not found, f"asyncio reported in {server.log_path.name}:\n" + "\n".join(found[:20])


@pytest.fixture(scope="session")
def app_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AppServer]:
    """One app process for the session's wire and browser tests, on the embedded local engine."""
    ARTIFACTS.mkdir(exist_ok=True)
    server = start_app(ARTIFACTS / "app-server.log", clean_env())
    try:
        yield server
    finally:
        stop_app(server)


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def browser() -> AsyncIterator[Any]:
    """Headless Chromium, one for the session's browser tests (``tests.app.browser``)."""
    from tests.app.browser import launch_browser

    async for chromium in launch_browser():
        yield chromium


@pytest.fixture(scope="session")
def speech(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Path]:
    """``speech(text)``: a WAV of ``text`` spoken by espeak-ng (24 kHz mono PCM16 via sox), made once per text."""
    if not (shutil.which("espeak-ng") and shutil.which("sox")):
        pytest.fail("espeak-ng and sox are needed (scripts/system-packages dev installs them)")
    folder = tmp_path_factory.mktemp("speech")
    made: dict[str, Path] = {}

    def make(text: str) -> Path:
        if text not in made:
            path = folder / f"{len(made)}.wav"
            try:
                from tests.audio import speak_wav  # the shared helper, when present

                speak_wav(text, path, rate=24000)
            except ImportError:
                raw = folder / f"{len(made)}-raw.wav"
                subprocess.run(["espeak-ng", "-s", "150", "-w", str(raw), text], check=True)
                subprocess.run(["sox", str(raw), "-r", "24000", "-c", "1", "-b", "16", str(path)], check=True)
            made[text] = path
        return made[text]

    return make


# ---------------------------------------------------------------------------------------------- socket.io frames

_PACKET = re.compile(r"^4([25])(?:\d+-)?(?:/[^,]*,)?(\d*)(\[.*)$", re.S)


@dataclass
class Frame:
    at: float
    event: str
    data: Any


@dataclass
class FrameLog:
    """Socket.io events as they arrive (parsed from engine.io text frames; binary attachments are not kept)."""

    frames: list[Frame] = field(default_factory=list)
    raw: list[str | bytes] = field(default_factory=list)

    def feed(self, payload: str | bytes) -> None:
        self.raw.append(payload)
        if isinstance(payload, bytes):
            return
        match = _PACKET.match(payload)
        if not match:
            return
        try:
            body = json.loads(match.group(3))
        except ValueError:
            return
        if body and isinstance(body[0], str):
            self.frames.append(Frame(time.monotonic(), body[0], body[1] if len(body) > 1 else None))

    def named(self, event: str) -> list[Frame]:
        return [f for f in self.frames if f.event == event]

    def tracks(self) -> list[str]:
        """Track ids of the ``audio_chunk`` frames in arrival order, without repeats."""
        seen: list[str] = []
        for f in self.named("audio_chunk"):
            if f.data.get("track") not in seen:
                seen.append(f.data.get("track"))
        return seen
