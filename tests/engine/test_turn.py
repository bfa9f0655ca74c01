"""Semantic end of turn: the transcript cue, the judge, ``semantic_vad``'s stream.

Speech is made at test time with espeak-ng (tests/audio.py)."""

from __future__ import annotations

import numpy as np
import pytest

from local_engine.stages import Heard, VadSpeechStarted, VadSpeechStopped
from local_engine.turn import (
    EAGERNESS,
    SHORT_LAST_WORD_MS,
    SemanticVadStream,
    heard_cue,
    quiet_ms,
    transcript_cue,
)
from local_engine.vad import SileroVad
from tests.audio import noise, silence, speak_pcm

pytestmark = pytest.mark.models


def spoken(text: str) -> bytes:
    """``text`` from espeak-ng without its trailing silence."""
    speech = speak_pcm(text)
    loud = np.flatnonzero(np.abs(np.frombuffer(speech, dtype="<i2")) > 300)
    return speech[: int(loud[-1] + 1) * 2]


# ---------------------------------------------------------------------------------------------------- transcript


@pytest.mark.parametrize(
    ("text", "cue"),
    [
        ("What is the capital of Canada?", "finished"),
        ("Where are you from?", "doubtful"),
        ("Can you tell me about?", "doubtful"),
        ("Yes, I can.", "finished"),
        ("Tell me about", "unfinished"),
        ("I would like a cup of the", "unfinished"),
        ("I went to the store and...", "unfinished"),
        ("Could you tell me,", "unfinished"),
        ("Please turn on the?", "unfinished"),
        ("", "unfinished"),
        ("Tell me a joke", "unknown"),
        # numbers are words: the last word is "8", not "times"
        ("What is 7 times 8?", "finished"),
        ("Can you add 12 and 30?", "finished"),
        ("How much is 100 divided by 4?", "finished"),
        ("What is 20% of 80?", "finished"),
        ("Can you add 12?", "doubtful"),  # one operand of two: "and 30" may follow
        ("What is 7 times?", "doubtful"),
        ("What is nine squared?", "finished"),
        # short replies and commands
        ("Thanks.", "finished"),
        ("Yes, please.", "finished"),
        ("Stop.", "finished"),
        ("Okay", "finished"),  # Whisper left it unpunctuated
        ("Thank you", "finished"),
        ("How are you?", "finished"),
        ("I don't know.", "finished"),
        # what Whisper writes at a pause in the middle of a sentence
        ("I would like to know.", "doubtful"),
        ("I need to know.", "doubtful"),
        ("Can you tell?", "doubtful"),
        ("What?", "doubtful"),
        ("Can you?", "doubtful"),
        ("What is?", "doubtful"),
        ("What is, um,", "unfinished"),
        ("What is the weather like in?", "doubtful"),
        ("If I leave home at eight.", "doubtful"),
        ("We are having friends over on Saturday.", "statement"),
        # stranded after a name, a request phrased as a statement
        ("What time zone is New York in?", "finished"),
        ("Which country is Nairobi in?", "finished"),
        ("I need a recipe for chocolate chip cookies.", "finished"),
        ("We are having friends over on Saturday, and one of them is vegan, so what can I cook?", "finished"),
    ],
)
def test_transcript_cue(text: str, cue: str) -> None:
    assert transcript_cue(text) == cue


def test_each_kind_of_question_ends_at_the_first_check_and_a_mid_sentence_pause_never_does() -> None:
    """Last words that began well away from :data:`SHORT_LAST_WORD_MS`: the words decide."""
    judge = SemanticVadStream.judge
    long = SHORT_LAST_WORD_MS + 150.0
    finished = ["What is 7 times 8?", "Can you add 12 and 30?", "What time is it in Berlin?", "Who is Ada Lovelace?",
                "Thanks.", "Yes, please.", "Stop.", "Okay", "Turn up the volume.",
                "Could you explain how solar panels work, and whether they are worth it for a house?"]  # fmt: skip
    for text in finished:
        assert judge(Heard(text, long), first_check=True), text
    cut = ["I would like to know.", "Can you add 12?", "Can you?", "What is, um,", "Tell me about",
           "What is the weather like in?", "If I leave home at eight."]  # fmt: skip
    for text in cut:
        assert not judge(Heard(text, long), first_check=True), text
        assert not judge(Heard(text, long)), text  # the second check
        # a long pause ends it all the same, unless the words cannot end a sentence (then only the longest pause)
        assert judge(Heard(text, long), last_check=True) == (transcript_cue(text) == "doubtful")


def test_words_that_may_end_a_sentence_wait_for_the_second_check() -> None:
    judge = SemanticVadStream.judge
    long = SHORT_LAST_WORD_MS + 150.0
    maybe = [
        Heard("We are having friends over on Saturday.", long),  # a comma's pause: "..., so what can I cook?"
        Heard("Call John Smith", long),  # no final punctuation
    ]
    for heard in maybe:
        assert not judge(heard, first_check=True), heard
        assert judge(heard) and judge(heard, last_check=True), heard


def test_judge_waits_on_unfinished_words() -> None:
    judge = SemanticVadStream.judge
    assert judge("How far away is the moon?", first_check=True)  # the words end a sentence
    assert not judge("Can you tell me about", last_check=True)  # they do not: only the longest pause ends it
    assert not judge("I went to the store and um", last_check=True)
    assert not judge("What is the best way to?") and judge("What is it about?", last_check=True)
    assert judge("Call her.", first_check=True)  # "her" is an object here, not a possessive
    assert not judge("Is Taylor Swift on her", first_check=True)
    assert judge("When does the sun set, though?", first_check=True)
    assert not judge("It is late though", last_check=True)
    # trailing off: the longest pause but one ends it, unless the last word cannot end a sentence
    assert not judge("when will I arrive...") and judge("when will I arrive...", last_check=True)
    assert not judge("The thing is...", last_check=True)


def test_a_sentence_ended_on_a_short_word_is_doubtful_unless_the_word_is_a_pronoun() -> None:
    short, long = SHORT_LAST_WORD_MS - 50.0, SHORT_LAST_WORD_MS + 50.0
    assert heard_cue(Heard("I want to go to the beach end.", short)) == "doubtful"
    assert heard_cue(Heard("Where do penguins live?", long)) == "finished"
    assert heard_cue(Heard("How are you?", short)) == "finished"
    assert heard_cue(Heard("What is 7 times 8?", short)) == "finished"  # a number: "eight" is short
    assert heard_cue(Heard("We are having friends over on Saturday.", short)) == "doubtful"
    assert heard_cue("I want to go to the beach end.") == "finished"  # nothing measured: the words alone
    assert heard_cue(Heard("I need a recipe for", long)) == "unfinished"
    # without punctuation too ("and" heard as "ad"): that waits for the longest pause
    assert heard_cue(Heard("Tell me a joke ad", short)) == "doubtful"
    assert heard_cue(Heard("Tell me a joke ad", long)) == "unknown"
    judge = SemanticVadStream.judge
    cut = Heard("Tell me a joke ad", short)
    assert not judge(cut) and judge(cut, last_check=True)


def test_quiet_at_the_end_of_the_audio() -> None:
    audio = np.full(1600, 0.2, dtype=np.float32)
    audio[-480:] = 0.001
    assert quiet_ms(audio) == pytest.approx(30.0)
    assert quiet_ms(np.zeros(160, dtype=np.float32)) == pytest.approx(10.0)
    assert quiet_ms(audio[:-480]) == 0.0


# ---------------------------------------------------------------------------------------------------- stream


async def test_the_first_check_is_judged_again_when_the_audio_does_not_end_in_quiet() -> None:
    stream = SemanticVadStream(SileroVad.shared(), "medium")
    stream.feed(silence(500) + spoken("How far away is the moon?"))

    async def words() -> str:
        return "How far away is the moon?"

    hum = noise(20, level_dbfs=-30.0)  # no speech for Silero, but louder than -40 dBFS
    while (check := stream.due_check()) is None:
        assert stream.feed(hum) == []
    assert check == 0
    assert await stream.settle(check, words()) is None  # the audio judged ends in sound: not judged
    stream.feed(silence(64))
    assert stream.due_check() == 0  # the first check again, with the new audio
    assert isinstance(await stream.settle(0, words()), VadSpeechStopped)


def test_semantic_stream_hands_out_each_check_once_and_ends_when_told() -> None:
    stream = SemanticVadStream(SileroVad.shared(), "medium")
    events = stream.feed(silence(500) + spoken("How far away is the moon?"))
    assert [type(e) for e in events] == [VadSpeechStarted]
    checks: list[tuple[int, int]] = []
    while (stream.pause_ms or 0) < 700:  # 20 ms of silence at a time
        assert stream.feed(silence(20)) == []
        check = stream.due_check()
        if check is not None:
            checks.append((stream.pause_ms or 0, check))
    first, second = EAGERNESS["medium"].checks[:2]
    assert [c for _, c in checks] == [0, 1]
    assert first <= checks[0][0] < first + 100 and second <= checks[1][0] < second + 100
    stopped = stream.end_turn()
    assert isinstance(stopped, VadSpeechStopped)
    assert stopped.audio_end_ms == stream.processed_ms
    assert stream.end_turn() is None and not stream.in_speech


async def test_doubtful_words_wait_through_a_pause_of_one_second() -> None:
    stream = SemanticVadStream(SileroVad.shared(), "medium")
    stream.feed(silence(500) + spoken("Can you tell me about"))

    async def words() -> str:
        return "Can you tell me about?"  # what Whisper writes at the pause

    ended_at: int | None = None  # the pause (ms) that ended the turn
    for _ in range(150):  # 3 s of silence, 20 ms at a time
        stream.feed(silence(20))
        pause = stream.pause_ms
        if (check := stream.due_check()) is not None and await stream.settle(check, words()) is not None:
            ended_at = pause
            break
    assert ended_at is not None and 1000 < ended_at < EAGERNESS["medium"].max_pause_ms, ended_at


def test_semantic_stream_ends_by_itself_after_the_longest_pause() -> None:
    stream = SemanticVadStream(SileroVad.shared(), "high")
    events = stream.feed(silence(300) + speak_pcm("Tell me about") + silence(EAGERNESS["high"].max_pause_ms + 200))
    assert [type(e) for e in events] == [VadSpeechStarted, VadSpeechStopped]


def test_speech_after_a_pause_starts_the_checks_again() -> None:
    stream = SemanticVadStream(SileroVad.shared(), "medium")
    stream.feed(silence(300) + spoken("Tell me about") + silence(300))
    assert stream.due_check() is not None
    assert stream.feed(spoken("the moon")) == []  # same turn: no new speech_started
    assert stream.in_speech and stream.due_check() is None
    stream.feed(silence(300))
    assert stream.due_check() == 0


def test_unknown_eagerness_is_refused() -> None:
    with pytest.raises(ValueError, match="eagerness"):
        SemanticVadStream(SileroVad.shared(), "eager")
