"""Podman as this machine runs it (Debian's ``podman`` and ``runc``; no image registry is reachable): the
settings it needs here, and a stand-in for the Dockerfile's base image made with ``debootstrap``.

- :func:`podman`: ``podman --runtime runc --cgroup-manager=cgroupfs`` with a ``containers.conf`` holding
  ``default_ulimits = []`` (the machine's limits cannot be raised inside its sandbox).
- :func:`ensure_base_image`: ``python:3.11-slim`` made locally: Debian bookworm (``debootstrap --variant=minbase``)
  with Debian's Python 3.11 as ``python`` and ``pip``. The root file system is cached as a tar under
  :data:`CACHE_DIR`, keyed by a hash of the recipe, so later runs only import it.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

BASE_IMAGE = "docker.io/library/python:3.11-slim"
CACHE_DIR = Path(os.environ.get("RVC_IMAGE_CACHE", "/var/cache/realtime-voice-chat"))
MIRROR = "http://deb.debian.org/debian"
PACKAGES = ["python3", "python3-pip", "ca-certificates"]
# Run inside the new root: python and pip under the names the official image has, pip allowed to install into
# the system (the official image's Python is not Debian's, so it has no PEP 668 marker), no apt leftovers.
SETUP = """set -e
ln -sf /usr/bin/python3 /usr/local/bin/python
ln -sf /usr/bin/pip3 /usr/local/bin/pip
rm -f /usr/lib/python3*/EXTERNALLY-MANAGED
echo "deb http://deb.debian.org/debian bookworm main" > /etc/apt/sources.list
echo "deb http://deb.debian.org/debian-security bookworm-security main" >> /etc/apt/sources.list
rm -rf /var/lib/apt/lists/* /var/cache/apt/archives/*.deb /var/log/*.log
"""
CONTAINERS_CONF = """[containers]
default_ulimits = []

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
"""


def recipe_key() -> str:
    text = "\n".join(["bookworm", "minbase", MIRROR, *PACKAGES, SETUP])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _conf() -> Path:
    path = Path(tempfile.gettempdir()) / "rvc-containers.conf"
    if not path.exists() or path.read_text() != CONTAINERS_CONF:
        path.write_text(CONTAINERS_CONF)
    return path


def podman_env() -> dict[str, str]:
    return {**os.environ, "CONTAINERS_CONF": str(_conf())}


def podman(*args: str, check: bool = True, timeout: float = 900, capture: bool = True) -> subprocess.CompletedProcess:
    cmd = ["podman", "--runtime", "runc", "--cgroup-manager=cgroupfs", *args]
    return subprocess.run(cmd, env=podman_env(), check=check, timeout=timeout, text=True,
                          capture_output=capture)  # fmt: skip


def available() -> str | None:
    """None when podman, runc and debootstrap are installed and this is root; else what is missing."""
    missing = [tool for tool in ("podman", "runc", "debootstrap") if shutil.which(tool) is None]
    if missing:
        return f"{', '.join(missing)} missing (scripts/system-packages dev installs them)"
    if os.geteuid() != 0:
        return "the container test runs as root (rootful podman, debootstrap)"
    return None


def image_exists(name: str) -> bool:
    return podman("image", "exists", name, check=False).returncode == 0


def ensure_base_image(log: list[str]) -> None:
    """Make :data:`BASE_IMAGE` if podman does not have it (labelled with the recipe's key), from the cached root
    file system when there is one. Appends what it did, with timings, to ``log``."""
    key = recipe_key()
    if image_exists(BASE_IMAGE):
        label = podman("image", "inspect", "--format", '{{index .Labels "rvc.recipe"}}', BASE_IMAGE).stdout.strip()
        if label == key:
            log.append(f"base image {BASE_IMAGE} present (recipe {key})")
            return
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    tarball = CACHE_DIR / f"python-3.11-slim-standin-{key}.tar"
    if not tarball.exists():
        started = time.monotonic()
        with tempfile.TemporaryDirectory(dir=CACHE_DIR) as tmp:
            root = Path(tmp) / "root"
            subprocess.run(["debootstrap", "--variant=minbase", f"--include={','.join(PACKAGES)}", "bookworm",
                            str(root), MIRROR], check=True, capture_output=True, timeout=1200)  # fmt: skip
            subprocess.run(["chroot", str(root), "/bin/sh", "-c", SETUP], check=True, capture_output=True, timeout=60)
            partial = tarball.with_suffix(".partial")
            subprocess.run(["tar", "-C", str(root), "-cf", str(partial), "."], check=True, timeout=600)
            partial.rename(tarball)
        log.append(f"debootstrap of the base: {time.monotonic() - started:.0f} s (cached in {tarball})")
    started = time.monotonic()
    podman("import", "--change", "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
           "--change", "ENV LANG=C.UTF-8", "--change", 'CMD ["python3"]', "--change", f"LABEL rvc.recipe={key}",
           str(tarball), BASE_IMAGE)  # fmt: skip
    log.append(f"base image imported from {tarball.name}: {time.monotonic() - started:.0f} s")
