"""The README's first command as a newcomer runs it: ``scripts/run`` (the ``chainlit`` command, not
``python -m chainlit`` as the other app tests start it) serves the app on the local engine when no key is set, and a
typed question gets its answer. It once started with the local engine missing from the import path."""

from __future__ import annotations

from tests.app.conftest import ARTIFACTS, ROOT, clean_env, start_app, stop_app
from tests.app.wire import WireChat


async def test_scripts_run_serves_the_app_on_the_local_engine() -> None:
    server = start_app(ARTIFACTS / "scripts-run.log", clean_env(), timeout_s=300, command=[str(ROOT / "scripts/run")])
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
