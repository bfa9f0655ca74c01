"""The container, built and run for real with podman (Debian's ``podman`` and ``runc``; see tests/deploy/podman.py).

The project's Dockerfile is built on a stand-in for its base image (``python:3.11-slim`` made with debootstrap,
``--pull=never``), with the host network and this machine's CA bundle mounted for pip during the build only. The
image runs as its non-root user on the local engine; the test waits for its health check and holds a typed chat
through its published port. It prints the build time and the image size.

The compose stack (deploy/compose.yaml) also needs the nginx and PostgreSQL images, which no registry here
serves: tests/deploy/test_scale_out.py runs the same nginx template and database URL with Debian's packages.
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from pathlib import Path

import pytest

from tests.app.conftest import ARTIFACTS, ROOT, free_port
from tests.app.wire import WireChat
from tests.deploy import podman as pm

pytestmark = pytest.mark.timeout(1500)
IMAGE = "localhost/realtime-voice-chat:test"


def ca_bundle() -> Path | None:
    for candidate in (os.environ.get("SSL_CERT_FILE"), "/etc/ssl/certs/ca-certificates.crt"):
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    return None


def build(log: list[str]) -> float:
    args = ["build", "--format", "docker", "--pull=never", "--network", "host", "-t", IMAGE]
    if (bundle := ca_bundle()) is not None:
        args += ["-v", f"{bundle}:/run/build-ca.crt:ro", "--build-arg", "PIP_CERT=/run/build-ca.crt"]
    started = time.monotonic()
    result = pm.podman(*args, str(ROOT), check=False, timeout=1200)
    (ARTIFACTS / "container-build.log").write_text(result.stdout + result.stderr)
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    took = time.monotonic() - started
    log.append(f"image build: {took:.0f} s")
    return took


async def test_image_builds_runs_non_root_and_chats(capsys: pytest.CaptureFixture[str]) -> None:
    if reason := pm.available():
        pytest.fail(reason)
    ARTIFACTS.mkdir(exist_ok=True)
    log: list[str] = []
    pm.ensure_base_image(log)
    build(log)
    size = int(pm.podman("image", "inspect", "--format", "{{.Size}}", IMAGE).stdout.strip())
    log.append(f"image size: {size / 1e6:.0f} MB")
    config = pm.podman("image", "inspect", "--format", "{{.Config.User}}", IMAGE).stdout.strip()
    assert config not in ("", "root", "0")

    name = f"rvc-test-{uuid.uuid4().hex[:8]}"
    port = free_port()
    started = time.monotonic()
    pm.podman("run", "-d", "--name", name, "-p", f"127.0.0.1:{port}:8000", IMAGE)
    try:
        uid = pm.podman("exec", name, "id", "-u").stdout.strip()
        assert uid != "0"
        deadline = time.monotonic() + 180
        while pm.podman("healthcheck", "run", name, check=False).returncode != 0:
            state = pm.podman("inspect", "--format", "{{.State.Status}}", name).stdout.strip()
            assert state == "running", pm.podman("logs", name, check=False).stderr[-3000:]
            assert time.monotonic() < deadline, "no healthy state within 180 s"
            await asyncio.sleep(1)
        log.append(f"container healthy after {time.monotonic() - started:.1f} s (uid {uid})")

        chat = WireChat(f"http://127.0.0.1:{port}")
        await chat.open()
        try:
            await chat.wait(lambda: "Connected" in chat.status(), 120, "the session")
            await chat.type("Hello from the container test")
            await chat.wait(
                lambda: any("Hello from the container test" in t for t in chat.messages("assistant_message").values()),
                60,
                "the answer",
            )
        finally:
            await chat.close()
        log.append(f"typed chat answered {time.monotonic() - started:.1f} s after start")
        logs = pm.podman("logs", name, check=False)
        assert "PermissionError" not in logs.stdout + logs.stderr
    finally:
        logs = pm.podman("logs", name, check=False)
        (ARTIFACTS / "container-run.log").write_text(logs.stdout + logs.stderr)
        pm.podman("rm", "-f", "-t", "5", name, check=False)
    with capsys.disabled():
        print("\n[container] " + "; ".join(log))
    (ARTIFACTS / "container-figures.txt").write_text("\n".join(log) + "\n")
