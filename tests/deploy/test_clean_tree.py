"""What Chainlit writes into the app's directory at start, on a clean export of the repository (tests/export.py):
nothing but ``.files``. It writes ``.chainlit/config.toml``, ``chainlit.md`` and each translation file of its
package into ``.chainlit/translations/`` when missing (``chainlit/config.py``: ``init_config``;
``chainlit/markdown.py``: ``init_markdown``), so git carries all of them: the image's code is root's and may be on a
read-only file system, where such a write stops the app (README "Deployment")."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

from tests.app.conftest import clean_env
from tests.export import ROOT, export_head

# What `chainlit run` does to the app's directory before it serves: the config (with its translations), then
# chainlit.md.
START = "from chainlit.config import config\nfrom chainlit.markdown import init_markdown\ninit_markdown(config.root)\n"


def test_git_has_every_translation_file_the_installed_chainlit_ships() -> None:
    # chainlit.config's TRANSLATIONS_DIR, found without importing chainlit.config (which would write into the
    # current directory)
    spec = importlib.util.find_spec("chainlit")
    assert spec is not None and spec.submodule_search_locations
    shipped = {p.name for p in Path(spec.submodule_search_locations[0], "translations").glob("*.json")}
    tracked = subprocess.run(["git", "-C", str(ROOT), "ls-files", ".chainlit/translations"],
                             check=True, capture_output=True, text=True).stdout.split()  # fmt: skip
    missing = sorted(shipped - {Path(p).name for p in tracked})
    assert shipped and not missing, (
        f"Chainlit would write {missing} into .chainlit/translations at start: run the app once and commit them"
    )


def test_chainlit_writes_nothing_into_a_clean_export_but_its_files_directory(tmp_path: Path) -> None:
    tree = export_head(tmp_path / "clone")
    before = {p.relative_to(tree) for p in tree.rglob("*")}
    started = subprocess.run([sys.executable, "-c", START], cwd=tree, env=clean_env(PYTHONDONTWRITEBYTECODE="1"),
                             capture_output=True, text=True, timeout=120, check=False)  # fmt: skip
    assert started.returncode == 0, started.stderr[-3000:]
    written = sorted(str(p) for p in {p.relative_to(tree) for p in tree.rglob("*")} - before)
    assert written == [".files"], written
