"""The README's first command as a newcomer runs it on a fresh clone: ``scripts/run`` (the ``chainlit`` command,
not ``python -m chainlit`` as the other app tests start it) in a clean export of the repository (``git archive
HEAD``, tests/export.py) serves the app on the local engine when no key is set, and a typed question gets its
answer. It once started with the local engine missing from the import path, and Chainlit once wrote its missing
translation files into the code at start; the export must come out of the run with nothing written into it but
Chainlit's ``.files`` (and Python's ``__pycache__``).

The export's ``.venv`` borrows this test process's installed packages (tests/export.py: ``borrow_venv``), so
scripts/run installs nothing: a fresh clone's first run would install the same pinned requirements."""

from __future__ import annotations

from pathlib import Path

from tests.app.conftest import ARTIFACTS, clean_env, start_app, stop_app
from tests.app.wire import WireChat
from tests.export import borrow_venv, export_head


def files_in(tree: Path) -> set[str]:
    """Paths under ``tree`` (relative), leaving out the borrowed ``.venv``."""
    return {str(p.relative_to(tree)) for p in tree.rglob("*") if p.relative_to(tree).parts[0] != ".venv"}


async def test_scripts_run_on_a_clean_clone_serves_the_app_on_the_local_engine(tmp_path: Path) -> None:
    tree = export_head(tmp_path / "clone")
    borrow_venv(tree)
    exported = files_in(tree)
    server = start_app(ARTIFACTS / "scripts-run.log", clean_env(), timeout_s=300, command=[str(tree / "scripts/run")])
    try:
        chat = WireChat(server.url)
        await chat.open()
        try:
            await chat.wait(lambda: "Local engine" in chat.status(), 120, "the session on the local engine")
            await chat.type("What is 12 times 7?")
            answered = lambda: any("84" in text for text in chat.messages("assistant_message").values())  # noqa: E731
            await chat.wait(answered, 60, "the answer")
        finally:
            await chat.close()
        log = server.log()
        assert "Traceback" not in log and "ModuleNotFoundError" not in log, log[-3000:]
    finally:
        stop_app(server)
    written = sorted(p for p in files_in(tree) - exported if Path(p).parts[0] != ".files" and "__pycache__" not in p)
    assert not written, f"the run wrote into the code: {written[:20]}"
