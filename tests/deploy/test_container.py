"""The container, built and run for real with podman (Debian's ``podman`` and ``runc``; see tests/deploy/podman.py).

The image is built from a clean export of the repository (``git archive HEAD``, tests/export.py: what a fresh
clone has, none of the working tree's leftovers) on a stand-in for its base image (``python:3.11-slim`` made with
debootstrap, ``--pull=never``), with the host network and this machine's CA bundle mounted for pip during the build
only. It then runs with its default command as the README's two ``docker run`` lines say, one after the other on
the same data volume: as it is (then ``podman diff`` shows that it wrote nothing outside its writable places), and
with a read-only root file system (``--read-only`` with a tmpfs on ``/app/.files`` and ``/tmp`` only: podman's own
tmpfs on /tmp, /run and /var/tmp is turned off to match docker). Each time the test waits for the health check
and holds a typed chat through the published port, as the non-root user; in the read-only one, that user can
write those places and not /app. It prints the build time and the image size.

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

from tests.app.conftest import ARTIFACTS, free_port
from tests.app.wire import WireChat
from tests.deploy import podman as pm
from tests.export import export_head, uncommitted

pytestmark = pytest.mark.timeout(1500)
IMAGE = "localhost/realtime-voice-chat:test"
# Where the app may write at run time (Dockerfile, README "Deployment"); with --read-only, the data volume and a
# tmpfs each.
WRITABLE = ("/app/.files", "/app/.data", "/tmp")
READ_ONLY = ["--read-only", "--read-only-tmpfs=false", "--tmpfs", "/app/.files", "--tmpfs", "/tmp"]


def ca_bundle() -> Path | None:
    for candidate in (os.environ.get("SSL_CERT_FILE"), "/etc/ssl/certs/ca-certificates.crt"):
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    return None


def build(log: list[str], context: Path) -> float:
    args = ["build", "--format", "docker", "--pull=never", "--network", "host", "-t", IMAGE]
    if (bundle := ca_bundle()) is not None:
        args += ["-v", f"{bundle}:/run/build-ca.crt:ro", "--build-arg", "PIP_CERT=/run/build-ca.crt"]
    started = time.monotonic()
    result = pm.podman(*args, str(context), check=False, timeout=1200)
    (ARTIFACTS / "container-build.log").write_text(result.stdout + result.stderr)
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    took = time.monotonic() - started
    log.append(f"image build: {took:.0f} s")
    return took


async def run_and_chat(name: str, label: str, run_args: list[str], log: list[str]) -> None:
    """``podman run -d --name name`` the image with its default command and ``run_args``; wait for its health
    check, hold a typed chat through the published port (the caller removes the container)."""
    port = free_port()
    started = time.monotonic()
    pm.podman("run", "-d", "--name", name, "-p", f"127.0.0.1:{port}:8000", *run_args, IMAGE)
    uid = pm.podman("exec", name, "id", "-u").stdout.strip()
    assert uid != "0"
    deadline = time.monotonic() + 180
    while pm.podman("healthcheck", "run", name, check=False).returncode != 0:
        state = pm.podman("inspect", "--format", "{{.State.Status}}", name).stdout.strip()
        assert state == "running", pm.podman("logs", name, check=False).stderr[-3000:]
        assert time.monotonic() < deadline, "no healthy state within 180 s"
        await asyncio.sleep(1)
    log.append(f"{label}: healthy after {time.monotonic() - started:.1f} s (uid {uid})")

    chat = WireChat(f"http://127.0.0.1:{port}")
    await chat.open()
    try:
        await chat.wait(lambda: "Connected" in chat.status(), 120, "the session")
        await chat.type(f"Hello from the container test, {label}")
        await chat.wait(
            lambda: any(label in t for t in chat.messages("assistant_message").values()),
            60,
            "the answer",
        )
    finally:
        await chat.close()
    log.append(f"{label}: typed chat answered {time.monotonic() - started:.1f} s after start")
    logs = pm.podman("logs", name, check=False)
    (ARTIFACTS / f"container-run-{label}.log").write_text(logs.stdout + logs.stderr)
    assert "PermissionError" not in logs.stdout + logs.stderr and "Traceback" not in logs.stdout + logs.stderr


def written_outside(name: str) -> list[str]:
    """Paths ``podman diff`` shows added or changed in the container's own layer outside :data:`WRITABLE` (and
    their parent directories)."""
    changed = [line.split(None, 1)[1] for line in pm.podman("diff", name).stdout.splitlines() if line.strip()]
    # /etc: podman's mount points for /etc/hosts, /etc/hostname and /etc/resolv.conf (not the app's writes)
    allowed = {str(Path(w).parent) for w in WRITABLE} | {"/", "/etc"}
    return [p for p in changed if p not in allowed and not any(p == w or p.startswith(w + "/") for w in WRITABLE)]


async def test_image_builds_from_a_clean_export_and_runs_as_the_readme_says(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    if reason := pm.available():
        pytest.fail(reason)
    ARTIFACTS.mkdir(exist_ok=True)
    log: list[str] = []
    if pending := uncommitted():
        log.append(f"built from HEAD: {len(pending)} uncommitted change(s) of the working tree not included")
    context = export_head(tmp_path / "clone")
    pm.ensure_base_image(log)
    build(log, context)
    size = int(pm.podman("image", "inspect", "--format", "{{.Size}}", IMAGE).stdout.strip())
    log.append(f"image size: {size / 1e6:.0f} MB")
    config = pm.podman("image", "inspect", "--format", "{{.Config.User}}", IMAGE).stdout.strip()
    assert config not in ("", "root", "0")

    volume = f"rvc-test-data-{uuid.uuid4().hex[:8]}"
    env_file = tmp_path / ".env"
    env_file.write_text("# no key: the local engine answers\n")
    readme = ["--env-file", str(env_file), "-v", f"{volume}:/app/.data"]
    names = {label: f"rvc-test-{label}-{uuid.uuid4().hex[:8]}" for label in ("plain", "readonly")}
    try:
        await run_and_chat(names["plain"], "plain", readme, log)
        outside = written_outside(names["plain"])
        assert not outside, f"the app wrote outside {WRITABLE}: {outside[:20]}"
        pm.podman("rm", "-f", "-t", "5", names["plain"], check=False)
        await run_and_chat(names["readonly"], "readonly", [*readme, *READ_ONLY], log)
        # the app's user may write its three places (a typed chat need not touch them all) and nothing else
        probe = "for d in " + " ".join(WRITABLE) + "; do touch $d/probe || exit 1; done; ! touch /app/probe"
        result = pm.podman("exec", names["readonly"], "sh", "-c", probe, check=False)
        assert result.returncode == 0, result.stdout + result.stderr
    finally:
        for label, name in names.items():
            logs = pm.podman("logs", name, check=False)
            if logs.returncode == 0:
                (ARTIFACTS / f"container-run-{label}.log").write_text(logs.stdout + logs.stderr)
            pm.podman("rm", "-f", "-t", "5", name, check=False)
        pm.podman("volume", "rm", "-f", volume, check=False)
    with capsys.disabled():
        print("\n[container] " + "; ".join(log))
    (ARTIFACTS / "container-figures.txt").write_text("\n".join(log) + "\n")
