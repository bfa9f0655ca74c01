"""Messages typed while the previous spoken answer still streams each get their own answer (over the wire, local
engine).

Seen once in a browser under load: a message typed while the story was being spoken was never answered. Typed
messages used to go into the conversation at once and share one held ``response.create``, so two typed during one
answer got one answer between them, and the offline responder answers only the newest. The round asks for the
offline responder's long story with voice on and types while the story's audio still arrives; every typed message
must get its own answer, in order, with nothing lost, no error and no interruption.
"""

from __future__ import annotations

import itertools
import time

from local_engine.replies.story import STORY
from tests.app.conftest import AppServer
from tests.app.test_wire import open_chat
from tests.app.wire import WireChat

ANSWER_S = 90.0  # a whole story plus the next answers, on a machine busy with other tests


def _replies(chat: WireChat) -> list[str]:
    """The assistant's answers (not the status message), in order."""
    names = {d["id"]: d.get("name") for _, e, d in chat.events if e in ("new_message", "stream_start")}
    return [t for i, t in chat.messages("assistant_message").items() if names.get(i) != "Status" and t.strip()]


def _errors(chat: WireChat) -> list[str]:
    return [d.get("output", "") for _, e, d in chat.events
            if e == "new_message" and (d.get("isError") or d.get("name") == "Error")]  # fmt: skip


async def _story_then_typed(chat: WireChat, words: list[str]) -> None:
    """Ask for the story, then type one message per word once the story's audio streams; every message must get
    its own answer, after the story."""
    tracks_before = len(chat.audio_tracks())
    replies_before = len(_replies(chat))
    responses_before = len(chat.named("token_usage"))
    await chat.type("Tell me a story")
    await chat.wait(lambda: len(chat.audio_tracks()) > tracks_before, ANSWER_S, "the story's audio")
    story = chat.audio_tracks()[tracks_before]
    await chat.wait(lambda: sum(d["track"] == story for d in chat.named("audio_chunk")) >= 3, ANSWER_S,
                    "more of the story's audio")  # fmt: skip
    typed_at = time.monotonic()
    for word in words:
        await chat.type(f"Please repeat the word {word}")
    await chat.wait(lambda: len(chat.named("token_usage")) >= responses_before + 1 + len(words), ANSWER_S,
                    "every answer to end")  # fmt: skip
    await chat.wait(lambda: len(chat.audio_tracks()) >= tracks_before + 1 + len(words), ANSWER_S, "their audio")
    replies = _replies(chat)[replies_before:]
    assert len(replies) == 1 + len(words), replies
    assert " ".join(STORY) in replies[0], replies
    for word, reply in zip(words, replies[1:], strict=True):
        assert word in reply.lower() and STORY[0] not in reply, replies
    tracks = chat.audio_tracks()[tracks_before:]
    assert len(tracks) == 1 + len(words), tracks
    # The messages really were typed while the story's audio was streaming.
    assert any(t > typed_at for t, e, d in chat.events if e == "audio_chunk" and d["track"] == tracks[0])
    # Nothing is cut: each answer's audio comes after all of the one before it.
    chunks = [(t, d["track"]) for t, e, d in chat.events if e == "audio_chunk"]
    for before, after in itertools.pairwise(tracks):
        assert min(t for t, k in chunks if k == after) >= max(t for t, k in chunks if k == before)
    assert chat.named("audio_interrupt") == []


async def test_messages_typed_while_the_answer_plays_each_get_their_own_answer(app_server: AppServer) -> None:
    chat = await open_chat(app_server.url)
    try:
        await chat.voice_on()
        # One round (a story is spoken in real time: each round takes about 40 s): two messages typed back to back
        # while the story streams, the case that lost one before.
        await _story_then_typed(chat, ["marmalade", "tangerine"])
        assert _errors(chat) == []
        assert chat.decode_errors == 0
    finally:
        await chat.close()
