"""Several replicas, for real: PostgreSQL and nginx from Debian's packages on loopback, two app replicas on the
local engine with sign-in and ``DATABASE_URL`` pointing at that PostgreSQL, nginx with ``deploy/nginx.conf.template``.

A browser signs in through nginx and holds a chat on one replica (a typed turn and a spoken one, sent as
socket.io ``audio_chunk`` frames of espeak-ng speech); that replica is stopped; the browser resumes the thread
through nginx on the other replica: the history is shown, and the next answer quotes the first turn (the local
engine answers through the loopback "recall" model, which quotes the first user message it was given). While both
replicas run, every request of a browser reaches one replica (nginx's access log: upstream per affinity key).
"""

from __future__ import annotations

import re
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.app.conftest import ARTIFACTS, AppServer, clean_env, start_app, stop_app
from tests.app.wire import load_pcm
from tests.deploy.recall_llm import RecallModel
from tests.deploy.services import missing_tools, nginx, postgres
from tests.deploy.signed_in import Browser, SignedInChat, sign_in_env

pytestmark = pytest.mark.timeout(420)


@dataclass
class Stack:
    url: str
    access_log: Path
    replicas: list[AppServer]
    model: RecallModel

    def upstreams_by_affinity(self) -> dict[str, set[str]]:
        seen: dict[str, set[str]] = defaultdict(set)
        for line in self.access_log.read_text().splitlines():
            match = re.search(r"upstream=(.+?) affinity=(\S+)", line)
            if match:
                seen[match.group(2)].add(match.group(1).split(",")[-1].strip())
        return seen


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    if reason := missing_tools():
        pytest.fail(reason)
    ARTIFACTS.mkdir(exist_ok=True)
    started = time.monotonic()
    with postgres(ARTIFACTS) as database_url, RecallModel() as model:
        env = clean_env(**sign_in_env(DATABASE_URL=database_url, LOCAL_LLM_BASE_URL=model.base_url,
                                      LOCAL_LLM_MODEL="recall"))  # fmt: skip
        with ThreadPoolExecutor(2) as pool:  # both at once: their schema migrations meet under the advisory lock
            replicas = list(pool.map(lambda n: start_app(ARTIFACTS / f"replica-{n}.log", env), (1, 2)))
        try:
            hosts = [r.url.removeprefix("http://") for r in replicas]
            with nginx(hosts[0], hosts[1], ARTIFACTS) as (url, access_log):
                print(f"\nstack up in {time.monotonic() - started:.1f} s (PostgreSQL, 2 replicas, nginx)")
                yield Stack(url, access_log, replicas, model)
        finally:
            for replica in replicas:
                stop_app(replica)


def answers(chat: SignedInChat) -> list[str]:
    return [t for t in chat.messages("assistant_message").values() if t.startswith("Earlier you said")]


async def test_requests_of_a_browser_stay_on_one_replica(stack: Stack) -> None:
    browsers = [Browser(stack.url) for _ in range(12)]
    for i, browser in enumerate(browsers):
        browser.sign_in("alice" if i % 2 else "bob")
        browser.threads()
        browser.request("GET", "/project/settings?language=en-US")
    keys = {b.cookies["rvc_affinity"] for b in browsers}
    assert len(keys) == len(browsers)
    seen = stack.upstreams_by_affinity()
    for key in keys:
        assert len(seen[key]) == 1, (key, seen[key])
    used = {next(iter(seen[k])) for k in keys}
    print(f"\n12 browsers over {len(used)} replicas: " + ", ".join(sorted(used)))
    # Consistent hashing spreads the browsers over every replica that is up (all of them, unless the failover
    # test below, in a random order, stopped one first: then none reach it).
    assert used == {r.url.removeprefix("http://") for r in stack.replicas if r.process.poll() is None}


async def test_chat_survives_its_replica(stack: Stack, speech: Callable[[str], Path]) -> None:
    browser = Browser(stack.url)
    browser.sign_in("alice")
    chat = browser.chat()
    await chat.open()
    await chat.wait(lambda: "Connected" in chat.status(), 60, "the session")
    await chat.type("my favourite colour is teal")
    await chat.wait(lambda: len(answers(chat)) >= 1, 60, "the typed turn's answer")
    await chat.voice_on()
    await chat.speak(load_pcm(speech("Please remember the number forty two.")))
    await chat.wait(lambda: any("remember" in t.lower() for t in chat.messages("user_message").values()), 90,
                    "the spoken turn's transcript")  # fmt: skip
    await chat.wait(lambda: len(answers(chat)) >= 2, 60, "the spoken turn's answer")
    spoken = next(t for t in chat.messages("user_message").values() if "remember" in t.lower())
    thread_id = chat.first_interaction_thread()
    assert thread_id
    # Chainlit writes each message in a task of its own: wait until the last ones are in the database.
    await chat.wait(lambda: spoken in [s.get("output") for s in browser.thread(thread_id)["steps"]], 30, "the writes")
    await chat.close()

    served = stack.upstreams_by_affinity()[browser.cookies["rvc_affinity"]]
    assert len(served) == 1
    victim = next(r for r in stack.replicas if r.url.removeprefix("http://") in served)
    survivor = next(r for r in stack.replicas if r is not victim)
    stop_app(victim)
    print(f"\nchat held on {victim.url}; stopped it; resuming through nginx")

    resumed = browser.chat()
    await resumed.open(thread_id)
    await resumed.wait(lambda: bool(resumed.named("resume_thread")), 30, "the thread")
    shown = [str(s.get("output")) for s in resumed.named("resume_thread")[0]["steps"]]
    assert "my favourite colour is teal" in shown
    assert spoken in shown
    mic_asked = time.monotonic()
    await resumed.voice_on()  # voice works at once in the resumed chat
    print(f"microphone accepted {time.monotonic() - mic_asked:.2f} s after asking, on the resumed chat")
    await resumed.type("what did I say first?")
    await resumed.wait(lambda: len(answers(resumed)) >= 1, 60, "the answer after resuming")
    assert 'Earlier you said: "my favourite colour is teal"' in answers(resumed)[-1]
    # The new session's conversation held the earlier turns, the spoken one as its transcript.
    last = stack.model.requests[-1]
    said = [m.get("content") for m in last if m.get("role") == "user"]
    assert said[0] == "my favourite colour is teal" and spoken in said and said[-1] == "what did I say first?"
    await resumed.close()
    assert "resuming a thread: " in survivor.log()
    # nginx logs a websocket when it closes: wait for the resumed socket's line, served by the survivor
    key, host = browser.cookies["rvc_affinity"], survivor.url.removeprefix("http://")
    await resumed.wait(lambda: host in stack.upstreams_by_affinity()[key], 15, "the survivor in nginx's log")
