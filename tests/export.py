"""The repository as a fresh clone has it, for the tests that build or run the project from a directory (the
container image, ``scripts/run``): the tree of ``HEAD`` exported with ``git archive``, so nothing of the working
tree (uncommitted edits, untracked files, what earlier tests or runs wrote there: ``.venv``, ``.files``, Chainlit's
files) reaches what is tested.

- :func:`export_head`: ``git archive HEAD`` unpacked into a directory.
- :func:`uncommitted`: what the working tree has that the export lacks (shown by the tests, so a developer knows
  their uncommitted edits were not tested).
- :func:`borrow_venv`: a ``.venv`` for the export that uses this interpreter's installed packages, so
  ``scripts/run`` finds its requirements installed instead of installing them again.
"""

from __future__ import annotations

import hashlib
import site
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def export_head(dest: Path) -> Path:
    """Unpack the tree of ``HEAD`` (``git archive HEAD``, file modes kept) into ``dest`` (made if missing) and
    return ``dest``. Raises :class:`subprocess.CalledProcessError` when git or tar fails (e.g. not a git
    checkout)."""
    dest.mkdir(parents=True, exist_ok=True)
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", "--format=tar", "HEAD"],
                             check=True, capture_output=True, timeout=120)  # fmt: skip
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive.stdout, check=True, capture_output=True, timeout=120)
    return dest


def uncommitted() -> list[str]:
    """``git status --porcelain`` lines of the working tree (changed, staged or untracked, ignored files left
    out): what :func:`export_head` does not carry."""
    status = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain"],
                            check=True, capture_output=True, text=True, timeout=60)  # fmt: skip
    return status.stdout.splitlines()


def requirements_stamp(tree: Path) -> str:
    """The stamp scripts/venv.sh keeps in ``.venv/.installed-<kind>``: the first 16 hex digits of the sha256 of
    ``requirements*.txt`` concatenated in name order."""
    digest = hashlib.sha256(b"".join(p.read_bytes() for p in sorted(tree.glob("requirements*.txt"))))
    return digest.hexdigest()[:16]


def borrow_venv(tree: Path, kind: str = "runtime") -> Path:
    """Make ``tree/.venv``: a venv without pip whose ``site-packages`` holds a ``.pth`` line naming this
    interpreter's, with a ``chainlit`` command and scripts/venv.sh's stamp for ``kind``, so ``scripts/run`` in
    ``tree`` starts with the packages this test process has (the requirements of ``tree``, when they are the
    ones installed here) and installs nothing. Returns the venv's directory."""
    venv = tree / ".venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, capture_output=True,
                   timeout=120)  # fmt: skip
    python = venv / "bin" / "python"
    inner = subprocess.run([str(python), "-c", "import site; print(site.getsitepackages()[0])"],
                           check=True, capture_output=True, text=True, timeout=60).stdout.strip()  # fmt: skip
    Path(inner, "borrowed.pth").write_text("".join(f"{p}\n" for p in site.getsitepackages()))
    launcher = venv / "bin" / "chainlit"
    launcher.write_text(f"#!{python}\nimport sys\nfrom chainlit.cli import cli\n\nsys.exit(cli())\n")
    launcher.chmod(0o755)
    (venv / f".installed-{kind}").write_text(requirements_stamp(tree) + "\n")
    return venv
