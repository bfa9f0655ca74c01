"""The Dockerfile's rules, checked statically (no container engine runs on these machines): slim base, non-root
user, health check, port 8000, nothing secret copied or baked in, and everything the app imports copied."""

from __future__ import annotations

import ast
import re
import shlex
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOCKERFILE = (ROOT / "Dockerfile").read_text()


def instructions() -> list[tuple[str, str]]:
    text = re.sub(r"\\\n", " ", DOCKERFILE)
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def test_slim_base_and_port() -> None:
    froms = [arg for word, arg in instructions() if word == "FROM"]
    assert froms and all("slim" in f for f in froms)
    assert ("EXPOSE", "8000") in instructions()


def test_runs_as_non_root_with_healthcheck() -> None:
    words = [w for w, _ in instructions()]
    users = [arg for w, arg in instructions() if w == "USER"]
    assert users and users[-1] not in ("root", "0")
    assert words.index("USER") < words.index("CMD")
    assert "HEALTHCHECK" in words


def test_cmd_runs_chainlit_on_all_interfaces_port_8000() -> None:
    cmd = next(arg for w, arg in instructions() if w == "CMD")
    argv = ast.literal_eval(cmd)
    assert argv[:3] == ["chainlit", "run", "app.py"]
    assert argv[argv.index("--host") + 1] == "0.0.0.0"
    assert argv[argv.index("--port") + 1] == "8000"


def test_nothing_secret_is_copied_or_baked_in() -> None:
    for word, arg in instructions():
        if word in ("COPY", "ADD"):
            sources = [s for s in shlex.split(arg) if not s.startswith("--")][:-1]
            assert "." not in sources, "COPY . copies whatever lies in the tree, .env included"
            assert not any(".env" in s for s in sources)
        if word in ("ENV", "ARG"):
            assert not re.search(r"(KEY|SECRET|TOKEN|PASSWORD)", arg, re.I), arg
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert ".env" in ignored and ".files" in ignored and "tests" in ignored


def test_copied_sources_exist_and_cover_the_apps_imports() -> None:
    copied: set[str] = set()
    for word, arg in instructions():
        if word == "COPY":
            for src in [s for s in shlex.split(arg) if not s.startswith("--")][:-1]:
                assert (ROOT / src).exists(), f"Dockerfile copies {src}, which is not in the repository"
                copied.add(src.rstrip("/"))
    local_packages = {p.name for p in ROOT.iterdir() if (p / "__init__.py").exists()}
    imported: set[str] = set()
    for node in ast.walk(ast.parse((ROOT / "app.py").read_text())):
        if isinstance(node, ast.Import):
            imported |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            imported.add(node.module.split(".")[0])
    needed = imported & local_packages
    assert needed, "app.py imports none of the project's packages?"
    assert needed <= copied, f"app.py imports {sorted(needed - copied)} which the image lacks"
