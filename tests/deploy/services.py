"""PostgreSQL and nginx from Debian's packages, on loopback, for the scale-out test; each stops when its block
ends (bounded waits, logs kept for failures).

- :func:`postgres`: a throw-away cluster (``initdb`` + ``pg_ctl`` in a temp dir, a free port, a password), run as
  the ``postgres`` user when this is root (PostgreSQL refuses to run as root). Yields the ``DATABASE_URL``.
- :func:`nginx`: ``deploy/nginx.conf.template`` with its placeholders filled (listen on a free loopback port, the
  two replicas, the access log) inside a minimal main configuration. Yields the base URL and the access log.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import re
import secrets
import shutil
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from tests.app.conftest import ROOT, free_port, stop_process

TEMPLATE = ROOT / "deploy" / "nginx.conf.template"


def missing_tools() -> str | None:
    if not glob.glob("/usr/lib/postgresql/*/bin/initdb"):
        return "PostgreSQL server binaries missing (scripts/system-packages dev installs postgresql)"
    if shutil.which("nginx") is None and not Path("/usr/sbin/nginx").exists():
        return "nginx missing (scripts/system-packages dev installs it)"
    return None


def _pg_bin(name: str) -> str:
    return sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))[-1]


@contextlib.contextmanager
def postgres(log_dir: Path) -> Iterator[str]:
    """A running PostgreSQL on 127.0.0.1; yields ``postgresql+asyncpg://rvc:PASSWORD@127.0.0.1:PORT/rvc``."""
    as_root = os.geteuid() == 0
    base = Path(tempfile.mkdtemp(prefix="rvc-pg-"))
    data, sockets = base / "data", base / "sock"
    sockets.mkdir()
    password = secrets.token_hex(12)
    (base / "pw").write_text(password + "\n")
    prefix: list[str] = []
    if as_root:
        user = pwd.getpwnam("postgres")
        for path in (base, sockets, base / "pw"):
            os.chown(path, user.pw_uid, user.pw_gid)
        prefix = ["runuser", "-u", "postgres", "--"]
    port = free_port()
    log = log_dir / "postgres.log"
    log.write_text("")
    if as_root:
        os.chown(log, pwd.getpwnam("postgres").pw_uid, -1)

    def run(*cmd: str, timeout: float = 60) -> None:
        subprocess.run([*prefix, *cmd], check=True, capture_output=True, timeout=timeout)

    try:
        run(_pg_bin("initdb"), "-D", str(data), "-U", "rvc", "--auth-local=trust", "--auth-host=scram-sha-256",
            f"--pwfile={base / 'pw'}", "-E", "UTF8", "--no-sync")  # fmt: skip
        options = f"-p {port} -k {sockets} -h 127.0.0.1 -c fsync=off -c full_page_writes=off"
        run(_pg_bin("pg_ctl"), "-D", str(data), "-o", options, "-l", str(log), "-w", "-t", "60", "start", timeout=90)
        run(_pg_bin("createdb"), "-h", str(sockets), "-p", str(port), "-U", "rvc", "rvc")
        yield f"postgresql+asyncpg://rvc:{password}@127.0.0.1:{port}/rvc"
    finally:
        with contextlib.suppress(Exception):
            run(_pg_bin("pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "-t", "30", "stop", timeout=60)
        shutil.rmtree(base, ignore_errors=True)


def render_template(listen: str, app1: str, app2: str, access_log: Path) -> str:
    """The deploy/ template with its ``${RVC_*}`` placeholders filled (nginx's own ``$variables`` untouched)."""
    values = {"RVC_LISTEN": listen, "RVC_APP1": app1, "RVC_APP2": app2, "RVC_ACCESS_LOG": str(access_log)}
    text = TEMPLATE.read_text()
    return re.sub(r"\$\{(RVC_[A-Z0-9_]+)\}", lambda m: values[m.group(1)], text)


@contextlib.contextmanager
def nginx(app1: str, app2: str, log_dir: Path) -> Iterator[tuple[str, Path]]:
    """nginx on a free loopback port in front of ``app1`` and ``app2`` (host:port); yields (url, access log)."""
    base = Path(tempfile.mkdtemp(prefix="rvc-nginx-"))
    port = free_port()
    access = log_dir / "nginx-access.log"
    access.write_text("")
    (base / "site.conf").write_text(render_template(f"127.0.0.1:{port}", app1, app2, access))
    user = "user root;\n" if os.geteuid() == 0 else ""
    (base / "nginx.conf").write_text(
        f"{user}daemon off;\nworker_processes 1;\npid {base}/nginx.pid;\nerror_log {log_dir}/nginx-error.log info;\n"
        "events { worker_connections 256; }\n"
        f"http {{\n  client_body_temp_path {base}/body;\n  proxy_temp_path {base}/proxy;\n"
        f"  fastcgi_temp_path {base}/fcgi;\n  uwsgi_temp_path {base}/uwsgi;\n  scgi_temp_path {base}/scgi;\n"
        f"  include {base}/site.conf;\n}}\n"
    )
    binary = shutil.which("nginx") or "/usr/sbin/nginx"
    subprocess.run([binary, "-t", "-p", str(base), "-c", str(base / "nginx.conf")], check=True, capture_output=True)
    process = subprocess.Popen([binary, "-p", str(base), "-c", str(base / "nginx.conf")],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                urllib.request.urlopen(url + "/", timeout=2).close()
                break
            except urllib.error.HTTPError:
                break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError("nginx did not answer") from None
                time.sleep(0.2)
        yield url, access
    finally:
        stop_process(process)
        shutil.rmtree(base, ignore_errors=True)
