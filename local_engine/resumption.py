"""Turn resumption: speech that begins right after the end of the user's turn continues that turn.

Turn detection ends some turns at a pause inside a sentence ("Could you let me know" [pause] "when the train
leaves?"): the words before the pause read as a finished sentence, and the answer begins. When the user speaks
again within :data:`RESUME_MS` of the end of that turn, before the answer can have said much, they were not done:
the answer stops (barge-in, as for any speech over it) and the reply that follows answers the whole sentence, not
its last half. What the client sees does not change (two user items, an interrupted answer between them, as the
Realtime API would send); only the conversation the reply generator is given joins them
(:func:`resumed_history`): the first item's transcript, its final punctuation dropped, then the second's, and the
interrupted answer left out. A second part that stops the answer on its own ("Stop.", "No, wait", "Never mind":
:func:`stands_alone`) stays a turn of its own.

Both front ends (:mod:`local_engine.realtime_front`, :mod:`local_engine.live_front`) use it.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any

from local_engine.turn import is_short_reply

__all__ = ["RESUME_MS", "continues_turn", "join_transcripts", "resumed_history", "stands_alone"]

Json = dict[str, Any]

RESUME_MS = 1000
"""Speech whose onset comes at most this long (ms of stream audio) after the end of the user's previous turn
(``speech_stopped``'s ``audio_end_ms``) continues that turn. Pauses inside an utterance are mostly under a second
(Campione and Véronis 2002, "A large-scale multilingual study of silent pause duration", Speech Prosody), and the
answer's first audio comes about 300 ms after the end of a turn on a 2-core machine (``bench.local_latency``): a
user who speaks within this window has heard at most the first few hundred ms of it, too little to be answering
it."""


def continues_turn(previous_end_ms: float | None, audio_start_ms: float, prefix_padding_ms: float) -> bool:
    """Whether speech reported by ``speech_started`` at ``audio_start_ms`` (its onset less ``prefix_padding_ms``)
    continues the turn that ended at ``previous_end_ms`` (``None``: no turn yet). All in ms of stream audio."""
    if previous_end_ms is None:
        return False
    return audio_start_ms + prefix_padding_ms - previous_end_ms <= RESUME_MS


_HALTS = frozenset(["stop", "wait", "cancel", "no", "nope", "never"])


def stands_alone(text: str) -> bool:
    """Whether ``text``, said right after a turn, is a turn of its own: a short reply
    (:func:`local_engine.turn.is_short_reply`) that halts the answer ("Stop.", "No, wait", "Never mind"), which
    answers what the user heard begin. Other short replies continue the turn ("Yes," [pause] "please")."""
    return is_short_reply(text) and any(word.strip(".,!?") in _HALTS for word in text.lower().split())


def join_transcripts(first: str, then: str) -> str:
    """One sentence of two parts: ``first`` without the final punctuation the recognizer put at the pause."""
    head = first.rstrip().rstrip(".?!\u2026").rstrip()
    return f"{head} {then.strip()}".strip()


def _speech_transcript(item: Json) -> str | None:
    """The transcript of a user message made of one recognised audio part, else ``None``."""
    if item.get("type") != "message" or item.get("role") != "user":
        return None
    content = item.get("content")
    if not isinstance(content, list) or len(content) != 1 or not isinstance(content[0], dict):
        return None
    part = content[0]
    transcript = part.get("transcript")
    if part.get("type") != "input_audio" or not isinstance(transcript, str) or not transcript.strip():
        return None
    return transcript


def _answer(item: Json) -> bool:
    return item.get("type") == "message" and item.get("role") == "assistant"


def resumed_history(history: Sequence[Json], continues: Mapping[str, str]) -> list[Json]:
    """``history`` (GA conversation items, in order) with each user speech item whose id ``continues`` maps to an
    earlier user speech item joined to that one (:func:`join_transcripts`; chains join into the first), and the
    assistant messages between them left out. Joined only when nothing but assistant messages lies between the two
    (a function call, a typed message or another turn keeps them apart), both have a transcript and the later one
    does not stand alone (:func:`stands_alone`: "Stop."). The items of ``history`` are not changed: a joined item
    is a copy."""
    out: list[Json] = []
    joined_into: dict[str, str] = {}  # item id -> the id of the item it was joined into
    for item in history:
        item_id = str(item.get("id"))
        earlier = continues.get(item_id)
        then = _speech_transcript(item)
        if earlier is not None and then is not None and not stands_alone(then):
            target = joined_into.get(earlier, earlier)
            index = next((i for i in range(len(out) - 1, -1, -1) if out[i].get("id") == target), None)
            if index is not None and all(_answer(x) for x in out[index + 1 :]):
                first = _speech_transcript(out[index])
                if first is not None:
                    merged = copy.deepcopy(out[index])
                    merged["content"][0]["transcript"] = join_transcripts(first, then)
                    out[index:] = [merged]
                    joined_into[item_id] = target
                    continue
        out.append(item)
    return out
