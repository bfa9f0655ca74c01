"""Semantic end of turn: Smart Turn v3.2's features and model, the transcript cue, ``semantic_vad``'s stream.

Speech is made at test time with espeak-ng (tests/audio.py)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import soxr

from local_engine import models
from local_engine.models import ModelError
from local_engine.stages import Heard, VadSpeechStarted, VadSpeechStopped
from local_engine.turn import (
    EAGERNESS,
    SHORT_LAST_WORD_MS,
    WINDOW,
    SemanticVadStream,
    SmartTurn,
    fit_window,
    heard_cue,
    log_mel_features,
    quiet_ms,
    transcript_cue,
)
from local_engine.vad import SileroVad
from tests.audio import noise, silence, speak_pcm

pytestmark = pytest.mark.models


def to_16k(pcm: bytes) -> np.ndarray:
    samples = np.frombuffer(pcm, dtype="<i2").astype(np.float32) / 32768
    return np.asarray(soxr.resample(samples, 24_000, 16_000), dtype=np.float32)


def spoken(text: str) -> bytes:
    """``text`` from espeak-ng without its trailing silence."""
    speech = speak_pcm(text)
    loud = np.flatnonzero(np.abs(np.frombuffer(speech, dtype="<i2")) > 300)
    return speech[: int(loud[-1] + 1) * 2]


@pytest.fixture(scope="module")
def smart_turn() -> SmartTurn:
    return SmartTurn.shared()


# ---------------------------------------------------------------------------------------------------- features


def test_features_have_the_models_shape_and_range() -> None:
    t = np.arange(16_000 * 3) / 16_000
    tone = (0.3 * np.sin(2 * np.pi * 1000.0 * t)).astype(np.float32)
    features = log_mel_features(fit_window(tone))
    assert features.shape == (80, 800) and features.dtype == np.float32
    assert features.min() >= features.max() - 2.0 - 1e-6  # log10 clamped 8 below the peak, then divided by 4
    # The tone sits in the last 3 s (padding goes before the audio) and in the mel band around 1 kHz (Slaney:
    # the 15th mel of 0..45.2, i.e. filter ~26 of 80).
    assert features[:, :400].max() < features[:, 600:].max()
    assert 22 <= int(np.argmax(features[:, 700])) <= 30


def test_fit_window_keeps_the_end_and_pads_before() -> None:
    short = np.ones(1000, dtype=np.float32)
    fitted = fit_window(short)
    assert fitted.size == WINDOW and fitted[-1000:].all() and not fitted[:-1000].any()
    long = np.arange(WINDOW + 5, dtype=np.float32)
    assert fit_window(long)[0] == 5
    with pytest.raises(ValueError, match="128000"):
        log_mel_features(np.zeros(10, dtype=np.float32))


# ---------------------------------------------------------------------------------------------------- model


def test_a_changed_model_file_is_refused(tmp_path: Path) -> None:
    path = models.smart_turn_path()
    copy = tmp_path / "smart-turn.onnx"
    shutil.copyfile(path, copy)
    with copy.open("r+b") as f:
        f.seek(1000)
        f.write(b"\0\1\2\3")
    with pytest.raises(ModelError, match="Smart Turn"):
        models.verify_file(copy, models.SMART_TURN_SHA256, "Smart Turn v3.2")


@pytest.mark.parametrize(
    ("finished", "cut"),
    [
        ("I went to the store and bought some milk.", "I went to the store and, um,"),
        ("I would like a cup of coffee.", "I would like a cup of, um,"),
    ],
)
def test_smart_turn_tells_a_finished_sentence_from_one_cut_at_a_hesitation(
    smart_turn: SmartTurn, finished: str, cut: str
) -> None:
    # sox dithers the speech with fresh noise on every call (tests/audio.py), and the model hears it: over 200 calls
    # each, "... a cup of coffee." gave 0.195 to 0.908 (median 0.66), "... bought some milk." 0.878 to 0.970, and
    # both cut phrases 0.005 every time. So the finished sentence is not held above 0.5 (where coffee sits): the
    # bounds are half the lowest finished score and four times the highest cut one.
    pause = np.zeros(3200, dtype=np.float32)  # 200 ms, as after the first check of eagerness "medium"
    done = smart_turn.probability(np.concatenate((pause, to_16k(speak_pcm(finished)), pause)))
    going_on = smart_turn.probability(np.concatenate((pause, to_16k(speak_pcm(cut)), pause)))
    assert going_on < 0.02 and done > 0.1, (done, going_on)


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
    """The first check of ``medium`` with a Smart Turn probability far from any threshold either way, and last
    words that began well away from :data:`SHORT_LAST_WORD_MS`: the words decide."""
    judge, (first, second, *_, last) = SemanticVadStream.judge, EAGERNESS["medium"].checks
    long = SHORT_LAST_WORD_MS + 150.0
    finished = ["What is 7 times 8?", "Can you add 12 and 30?", "What time is it in Berlin?", "Who is Ada Lovelace?",
                "Thanks.", "Yes, please.", "Stop.", "Okay", "Turn up the volume.",
                "Could you explain how solar panels work, and whether they are worth it for a house?"]  # fmt: skip
    for text in finished:
        for probability in (0.02, 0.98):
            assert judge(probability, Heard(text, long), first[1], first_check=True), (text, probability)
    cut = ["I would like to know.", "Can you add 12?", "Can you?", "What is, um,", "Tell me about",
           "What is the weather like in?", "If I leave home at eight."]  # fmt: skip
    for text in cut:
        for probability in (0.02, 0.98):
            for needed, is_first in ((first[1], True), (second[1], False)):
                assert not judge(probability, Heard(text, long), needed, first_check=is_first), (text, needed)
        # a long pause ends it all the same, unless the words cannot end a sentence (then only the longest pause)
        assert judge(0.02, Heard(text, long), last[1], last_check=True) == (transcript_cue(text) == "doubtful")


def test_a_statement_waits_for_the_second_check_and_unpunctuated_words_never_end_at_the_first() -> None:
    judge, (first, second, *_, last) = SemanticVadStream.judge, EAGERNESS["medium"].checks
    statement = "We are having friends over on Saturday."  # a comma's pause: "..., so what can I cook?"
    assert not judge(0.98, statement, first[1], first_check=True)
    assert judge(0.02, statement, second[1])
    unpunctuated = "Tell me a joke ad"  # Smart Turn answered 0.97 in the pause after "and"
    assert not judge(0.99, unpunctuated, first[1], first_check=True)
    assert judge(0.99, unpunctuated, second[1]) and not judge(0.02, unpunctuated, second[1])
    assert judge(0.02, unpunctuated, last[1], last_check=True)


def test_judge_waits_on_unfinished_words() -> None:
    judge = SemanticVadStream.judge
    assert judge(0.01, "How far away is the moon?", 0.5)  # the words end a sentence
    assert not judge(0.99, "Can you tell me about", 0.15)  # the words do not, whatever the model hears
    assert not judge(0.99, "I went to the store and um", 0.15)
    assert not judge(0.99, "What is the best way to?", 0.5) and judge(0.0, "What is it about?", 0.15, last_check=True)
    assert judge(0.8, "Tell me a joke", 0.5) and not judge(0.6, "Tell me a joke", 0.5)  # no final punctuation


def test_a_sentence_ended_on_a_short_word_is_doubtful_unless_the_word_is_a_pronoun() -> None:
    short, long = SHORT_LAST_WORD_MS - 50.0, SHORT_LAST_WORD_MS + 50.0
    assert heard_cue(Heard("I want to go to the beach end.", short)) == "doubtful"
    assert heard_cue(Heard("Where do penguins live?", long)) == "finished"
    assert heard_cue(Heard("How are you?", short)) == "finished"
    assert heard_cue(Heard("What is 7 times 8?", short)) == "finished"  # a number: "eight" is short
    assert heard_cue(Heard("We are having friends over on Saturday.", short)) == "doubtful"
    assert heard_cue("I want to go to the beach end.") == "finished"  # nothing measured: the words alone
    assert heard_cue(Heard("I need a recipe for", long)) == "unfinished"
    judge = SemanticVadStream.judge
    cut = Heard("I want to go to the beach end.", short)
    assert not judge(0.99, cut, 0.5) and judge(0.99, cut, 0.15, last_check=True)


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
    while (needed := stream.due_check()) is None:
        assert stream.feed(hum) == []
    assert needed == EAGERNESS["medium"].checks[0][1]
    assert await stream.settle(needed, words()) is None  # the audio judged ends in sound: not judged
    stream.feed(silence(64))
    assert stream.due_check() == needed  # the first check again, with the new audio
    assert isinstance(await stream.settle(needed, words()), VadSpeechStopped)


def test_semantic_stream_hands_out_each_check_once_and_ends_when_told() -> None:
    stream = SemanticVadStream(SileroVad.shared(), "medium")
    events = stream.feed(silence(500) + spoken("How far away is the moon?"))
    assert [type(e) for e in events] == [VadSpeechStarted]
    checks: list[tuple[int, float]] = []
    while (stream.pause_ms or 0) < 700:  # 20 ms of silence at a time
        assert stream.feed(silence(20)) == []
        needed = stream.due_check()
        if needed is not None:
            checks.append((stream.pause_ms or 0, needed))
    first, second = EAGERNESS["medium"].checks[:2]
    assert [n for _, n in checks] == [first[1], second[1]]
    assert first[0] <= checks[0][0] < first[0] + 100
    audio = stream.turn_audio()
    assert 1.0 < audio.size / 16_000 < 8.0
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
        if (needed := stream.due_check()) is not None and await stream.settle(needed, words()) is not None:
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
    assert stream.due_check() == EAGERNESS["medium"].checks[0][1]


def test_unknown_eagerness_is_refused() -> None:
    with pytest.raises(ValueError, match="eagerness"):
        SemanticVadStream(SileroVad.shared(), "eager")
