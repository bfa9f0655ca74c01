"""Semantic end of turn (``semantic_vad``): Silero VAD finds the pauses, the words recognised so far decide.

:class:`SemanticVadStream` is the ``semantic_vad`` turn detection of the Realtime API: Silero VAD finds speech and
pauses; when a pause has lasted as long as a check of the :class:`TurnSchedule`, the words recognised so far
(:func:`heard_cue`: Whisper's punctuation, the last word, and how long before the end of the voice that word began)
decide whether the pause ends the turn. A finished sentence ends the turn about 200 ms after its last word
(``eagerness`` medium); words that only may end one end it from the second check on (320 ms of silence); a pause
in the middle of a sentence is waited through, up to a maximum pause after which the turn ends anyway.

The engine judged with Smart Turn v3.2 (pipecat-ai/smart-turn, an audio end-of-turn model) too until December
2026; on ``bench.turn_pauses`` (synthetic voices: espeak-ng and Piper) its probability did not separate finished
questions from sentences cut at a pause (0.01-0.02 for finished questions Whisper misheard, above 0.9 in pauses
after "and"), so the words alone decide and the model is no longer loaded.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Literal

import numpy as np

from local_engine.stages import Heard, VadSpeechStarted, VadSpeechStopped
from local_engine.vad import FRAME, MODEL_RATE, SileroVad, SileroVadStream

__all__ = [
    "EAGERNESS",
    "SemanticVadStream",
    "TurnSchedule",
    "heard_cue",
    "is_short_reply",
    "transcript_cue",
]

log = logging.getLogger(__name__)

TAIL_MS = 1000
"""Audio (ms) the stream keeps before the last sample it judged: enough to measure the quiet at the end
(:func:`quiet_ms`)."""


# ---------------------------------------------------------------------------------------------------- transcript cue

# Words a sentence does not end on: articles, possessive determiners, conjunctions, hesitations ...
_NEVER_LAST = frozenset(
    ["a", "an", "the", "my", "your", "his", "its", "our", "their", "every", "and", "or", "but", "nor",
     "because", "if", "although", "unless", "whether", "than", "um", "uh", "er", "erm", "hmm"]
)  # fmt: skip
# ... and words it rarely ends on unless it is a question with a stranded preposition ("Where are you from?") or
# a short answer ("Yes, I can."): prepositions, auxiliaries, subject pronouns, "her" (a possessive, but also the
# object of "Call her.") and "though" (a conjunction, but also an adverb: "It's late, though."). Without final
# punctuation they too mean the sentence goes on.
_RARELY_LAST = frozenset(
    ["of", "to", "in", "on", "at", "by", "for", "with", "from", "about", "into", "onto", "over", "under",
     "between", "through", "during", "like", "as", "is", "are", "was", "were", "be", "been", "am", "do", "does",
     "did", "have", "has", "had", "will", "would", "shall", "should", "can", "could", "may", "might", "must",
     "i", "we", "they", "he", "she", "i'm", "it's", "you're", "we're", "they're", "i'd", "i'll", "let's",
     "that", "this", "these", "those", "which", "who", "what", "where", "when", "how", "why", "there", "it",
     "you", "me", "her", "some", "any", "no", "not", "very", "more", "most", "so", "just", "also", "though"]
)  # fmt: skip
_PREPOSITIONS = frozenset(
    ["of", "to", "in", "on", "at", "by", "for", "with", "from", "about", "into", "onto", "over", "under",
     "between", "through", "during", "like", "as"]
)  # fmt: skip
# A question word or an auxiliary that ends an utterance of at most FRAGMENT_WORDS words ("What?", "What is?",
# "I won't."), or an auxiliary and a pronoun alone ("Can you?"): what Whisper writes for the first syllables of a
# question when a stop consonant's closure (60-110 ms of silence in "What time", "I want to") looked like a pause.
_FRAGMENT_LAST = frozenset(
    ["what", "where", "when", "how", "why", "who", "which", "is", "are", "was", "do", "does", "did", "can", "could",
     "will", "would", "should", "shall", "may", "might", "must", "have", "has", "won't", "don't", "can't",
     "didn't", "isn't"]
)  # fmt: skip
_PRONOUNS = frozenset(["i", "we", "they", "he", "she", "you", "it"])
FRAGMENT_WORDS = 3
_ANSWERS = frozenset(
    ["yes", "yeah", "yep", "no", "nope", "okay", "ok", "sure", "thanks", "thank", "please", "right", "fine", "great",
     "stop", "wait", "alright", "hello", "hi", "bye", "goodbye", "cool", "nice", "perfect", "exactly", "correct",
     "absolutely", "good", "you", "so", "much", "not", "really", "maybe", "later", "of", "course", "never", "mind"]
)  # fmt: skip
"""Words of a whole short reply ("Okay", "Thank you", "Not really"): Whisper often leaves such a reply without
final punctuation, and it ends the turn all the same."""
# Verbs that want an object or a clause after them: after "to" or "you" they end no request ("I would like to
# know", "Can you tell", "Can you add").
_OBJECT_VERBS = frozenset(
    ["know", "ask", "tell", "say", "add", "multiply", "divide", "subtract", "give", "show", "send", "remind",
     "buy", "find", "get", "bring", "make", "call", "take", "put", "set", "play", "check", "see", "hear",
     "learn", "explain", "describe", "recommend", "suggest", "help", "let", "compare", "translate", "convert",
     "calculate", "order", "book", "write", "read"]
)  # fmt: skip
# Verbs of two operands: "add 12" is the first half of "add 12 and 30".
_TWO_OPERANDS = frozenset(["add", "multiply", "divide", "subtract", "compare", "between", "convert"])
# Arithmetic operators: "What is 7 times?" waits for its second operand.
_OPERATORS = frozenset(["times", "plus", "minus", "multiplied", "divided"])
# A sentence that opens with one of these is a subordinate clause: its main clause is still to come ("If I leave
# home at eight, ...", "Because it is late, ...").
_SUBORDINATORS = frozenset(
    ["if", "when", "whenever", "although", "though", "because", "since", "unless", "while", "before", "after",
     "once", "until", "whereas"]
)  # fmt: skip
_SUBJECTS = frozenset(["i", "we", "my", "our", "they", "he", "she", "it", "there", "this", "that", "i'm", "we're",
                       "it's", "there's", "i've", "we've", "i'd", "the"])  # fmt: skip
_LEADING = frozenset(["and", "but", "so", "or", "then", "also", "well", "now", "actually", "anyway"])
# A statement about oneself that asks for something is a request ("I need a recipe for cookies.").
_REQUEST_VERBS = frozenset(
    ["want", "need", "like", "wonder", "wondering", "wish", "love", "hope", "think", "forgot", "don't", "can't",
     "would", "please"]
)  # fmt: skip
STATEMENT_WORDS = 4
"""A statement (it ends with ``.``) of at least this many words, that opens with its subject ("We are having
friends over on Saturday.") and asks for nothing or has several clauses ("I have a meeting tomorrow morning, but I
also need to pick up my car."), may be the first clauses of a longer turn: its cue is
``statement``, which a pause ends only from the second check of the schedule on (espeak-ng pauses about 200 ms at
a comma, people 200-500 ms between clauses)."""
_WORD = re.compile(r"[a-z]+(?:'[a-z]+)?|\d+(?:[.,:]\d+)*%?")

Cue = Literal["finished", "statement", "doubtful", "unfinished", "unknown"]


def is_short_reply(text: str) -> bool:
    """Whether ``text`` is a whole short reply, punctuated or not: at most :data:`FRAGMENT_WORDS` words, all of
    :data:`_ANSWERS`, not ending on one that leaves a sentence open ("Okay", "Thank you", "Stop.", "No, wait";
    not "Not really so")."""
    found = _WORD.findall(text.lower())
    if not found or len(found) > FRAGMENT_WORDS or not all(w in _ANSWERS for w in found):
        return False
    return found[-2:] == ["thank", "you"] or found[-1] not in _NEVER_LAST | _RARELY_LAST


def _stranded(text: str) -> bool:
    """Whether ``text``, a question ending on a preposition, strands it after a name ("What time zone is New York
    in?", "Which country is Nairobi in?"): Whisper capitalises names, and a cut-off phrase ends on a preposition
    after a verb or a common noun ("What is the weather like in?", "Can you help me plan a trip to?")."""
    if not text.endswith("?"):
        return False
    cased = re.findall(r"[A-Za-z]+(?:'[A-Za-z]+)?|\d+", re.split(r"(?<=[.?!])\s+", text)[-1])
    return len(cased) >= 3 and cased[-2][0].isupper() and cased[-2] != "I"


def transcript_cue(text: str) -> Cue:
    """What the words recognised so far say about the end of the turn (numbers count as words: "What is 7 times
    8?" ends on "8").

    ``unfinished``: nothing recognised, or the text ends with a comma or a dash, or its last word is
    one a sentence does not end on (``the``, ``and``, ``um``...), or one it rarely ends on (``to``, ``about``,
    ``is``...) without final punctuation or before an ellipsis. ``doubtful``: an ellipsis after another word
    (Whisper's mark for trailing off: "when we arrive..."); a preposition with final punctuation ("Where are you
    from?", but Whisper also puts ``?`` after a cut-off "Can you tell me about"), unless it follows a name; a verb
    that wants an object after ``to`` or ``you`` ("I would like to know."); one operand after a verb of two ("Can
    you add 12?") or an operator without its second ("What is 7 times?"); a fragment of at most
    :data:`FRAGMENT_WORDS` words ending on a question word, an auxiliary or a pronoun ("What?", "Can you?"); a lone
    subordinate clause ("If I leave at eight."). ``statement``: see :data:`STATEMENT_WORDS`. ``finished``: it ends
    with ``.``, ``?`` or ``!`` (Whisper punctuates from prosody and syntax), or it is a short reply made of
    :data:`_ANSWERS` words ("Okay"). ``unknown`` otherwise."""
    stripped = text.strip()
    found = _WORD.findall(stripped.lower())
    if not found or stripped.endswith((",", "-", "\u2014", ";", ":")):
        return "unfinished"
    last = found[-1]
    if stripped.endswith(("...", "\u2026")):  # trailing off: maybe more to come, maybe not
        return "unfinished" if last in _NEVER_LAST | _RARELY_LAST else "doubtful"
    punctuated = stripped.endswith((".", "?", "!"))
    if is_short_reply(stripped):
        return "finished"
    if last in _NEVER_LAST or (last in _RARELY_LAST and not punctuated):
        return "unfinished"
    if last in _PREPOSITIONS:
        return "finished" if _stranded(stripped) else "doubtful"
    if last in _OBJECT_VERBS and len(found) >= 2 and found[-2] in ("to", "you"):
        return "doubtful"
    if (len(found) >= 2 and found[-2] in _TWO_OPERANDS) or last in _OPERATORS:
        return "doubtful"
    if len(found) <= FRAGMENT_WORDS and last in _FRAGMENT_LAST and found[0] not in _ANSWERS:
        return "doubtful"
    if len(found) == 2 and found[0] in _FRAGMENT_LAST and last in _PRONOUNS:  # "Can you?", not "How are you?"
        return "doubtful"
    if not punctuated:
        return "unknown"
    last_sentence = re.split(r"(?<=[.?!])\s+", stripped)[-1]
    sentence = _WORD.findall(last_sentence.lower())
    if stripped.endswith(".") and sentence:
        if sentence[0] in _SUBORDINATORS and "," not in last_sentence:
            return "doubtful"
        opening = [w for w in sentence if w not in _LEADING]
        asks = any(w in _REQUEST_VERBS or w.endswith("'d") for w in opening)
        if (
            len(sentence) >= STATEMENT_WORDS
            and opening
            and opening[0] in _SUBJECTS
            and (not asks or "," in last_sentence)
        ):
            return "statement"
    return "finished"


SHORT_LAST_WORD_MS = 150
"""A transcript that may end a sentence (cue ``finished``, ``statement`` or ``unknown``) but whose last word began less
than this (ms) before the end of the voice is only ``doubtful``, unless that word is an object pronoun
(:data:`_REDUCED_LAST`) or a number. Speakers lengthen the syllables before the end of an utterance (phrase-final
lengthening: Klatt 1976, "Linguistic uses of segmental duration in English", JASA 59(5); Wightman et al. 1992,
"Segmental durations in the vicinity of prosodic phrase boundaries", JASA 91(3)), so a last word that short is rather
one cut by a pause in the middle of the sentence, which Whisper often misheard, punctuated or not ("I want to go to
the beach and" heard as "I want to go to the beach end.", "Tell me a joke and" as "Tell me a joke ad"). Unstressed
pronouns stay short even at the end ("How are you?", "What time is it?"). On the tuning half of
``bench.local_latency`` (espeak-ng and Piper voices): misheard words before a pause began 111-139 ms before the end
of the voice (others, such as "to know.", have a cue of their own), the last word of a finished question 145 ms or
more (most of them 250 ms or more; without punctuation 190 ms or more). A wrong call costs latency (the turn ends at
the schedule's last check), not words: ending such a turn at the second check cut "Tell me a joke and ... then a
story" after "Tell me a joke, Ed."."""
_REDUCED_LAST = frozenset(["it", "you", "me", "him", "her", "us", "them"])
MIN_SILENCE_MS = 20
"""The first check of a pause waits until the audio judged ends in at least this much (ms) quieter than
:data:`QUIET_LEVEL`: Silero VAD calls the closure of a stop consonant or a soft fricative a pause, and Whisper, given
the audio up to there, writes a finished sentence ("Could you help me plan a trip" + "t" heard as "Can you help me
platter trip?"). It is handed out again with the next audio (about 170 ms later); with steady noise above that
level the later checks of the schedule judge as before."""
QUIET_LEVEL = 0.01
"""Peak (about -40 dBFS) below which the audio is quiet."""


def quiet_ms(audio: np.ndarray) -> float:
    """ms of quiet (below :data:`QUIET_LEVEL`) at the end of ``audio`` (float32, 16 kHz)."""
    loud = np.flatnonzero(np.abs(audio) > QUIET_LEVEL)
    return (audio.size - (int(loud[-1]) + 1 if loud.size else 0)) / _SAMPLES_PER_MS


def heard_cue(heard: str) -> Cue:
    """:func:`transcript_cue`, with what the recognizer measured when ``heard`` is a :class:`Heard`: words that
    may end a sentence (``finished``, ``statement``, ``unknown``) whose last word (not a pronoun, not a number)
    began less than :data:`SHORT_LAST_WORD_MS` before the end of the voice are ``doubtful``."""
    cue = transcript_cue(heard)
    last_word_ms = heard.last_word_ms if isinstance(heard, Heard) else None
    short = last_word_ms is not None and last_word_ms < SHORT_LAST_WORD_MS
    if cue in ("finished", "statement", "unknown") and short:
        last = _WORD.findall(heard.lower())[-1]
        if last not in _REDUCED_LAST and not last[0].isdigit():
            return "doubtful"
    return cue


# ---------------------------------------------------------------------------------------------------- semantic VAD


@dataclass(frozen=True, slots=True)
class TurnSchedule:
    """When a pause ends the turn, for one ``eagerness``.

    ``checks``: pause lengths (ms, increasing): once the pause (Silero's silence) has lasted one, the turn is
    judged once (:meth:`SemanticVadStream.judge`); the first, the second and the last check each let other words
    end it. ``max_pause_ms``: the turn ends after this much silence whatever the words."""

    checks: tuple[int, ...]
    max_pause_ms: int


EAGERNESS: dict[str, TurnSchedule] = {
    "high": TurnSchedule((32, 320, 768), 1500),
    "medium": TurnSchedule((64, 320, 1280), 2500),
    "low": TurnSchedule((320, 800, 1600), 4000),
}
EAGERNESS["auto"] = EAGERNESS["medium"]
"""``semantic_vad``'s ``eagerness`` (the Realtime API's ``auto`` is ``medium``). A finished sentence usually ends
at the first check: ``medium`` judges the first 64 ms of silence after the last frame Silero calls speech, which
with the audio arriving in chunks of about 170 ms comes about 200 ms after the last voiced sample (a first check
at 32 ms cut five more of the 78 paused sentences of ``bench.turn_pauses --phases 3`` on its tuning half: Whisper,
given the audio to the closure of a stop consonant, writes a finished sentence). Words that may end a sentence end
the turn at the second check (320 ms of silence: pauses between the words of one phrase are shorter; Campione and
Véronis 2002, "A large-scale multilingual study of silent pause duration", Speech Prosody). A ``doubtful``
transcript ends it only at the last check: for ``medium`` after 1280 ms of silence, longer than most pauses inside
an utterance (under 1 s, ibid.)."""

_SAMPLES_PER_MS = MODEL_RATE // 1000


class SemanticVadStream(SileroVadStream):
    """Turn detection for ``semantic_vad``: Silero VAD finds speech and pauses; at the pause lengths of the
    :class:`TurnSchedule` the caller judges the turn (:meth:`due_check`, :meth:`settle`) and it ends with
    :meth:`end_turn`. :meth:`feed` itself only ends a turn after ``max_pause_ms`` of silence.

    Times are ms of stream audio since the stream began; ``speech_stopped``'s ``audio_end_ms`` is the end of the
    audio judged, so it includes the pause. The split keeps the transcript of the turn so far (the recognizer's
    work) off the event loop."""

    def __init__(
        self, model: SileroVad, eagerness: str = "auto", *, threshold: float = 0.5, prefix_padding_ms: int = 300
    ) -> None:
        schedule = EAGERNESS.get(eagerness)
        if schedule is None:
            raise ValueError(f"eagerness must be one of low, medium, high, auto; got {eagerness!r}")
        super().__init__(model, threshold, prefix_padding_ms, schedule.max_pause_ms)
        self.eagerness = eagerness
        self.schedule = schedule
        self._ring = np.zeros(0, dtype=np.float32)  # the last TAIL_MS of audio judged, 16 kHz
        self._checks_done = 0  # checks of the schedule already handed out in this pause
        self._pause_id = 0  # counts the pauses, so a late judgement knows whether its pause is still going on

    def due_check(self) -> int | None:
        """The index in the schedule's ``checks`` of the check due now, when the pause has reached one that was
        not handed out yet (each is handed out once; after a large chunk the latest one passed is due, the others
        are skipped); ``None`` otherwise."""
        pause = self.pause_ms
        checks = self.schedule.checks
        if pause is None or self._checks_done >= len(checks) or pause < checks[self._checks_done]:
            return None
        while self._checks_done < len(checks) and pause >= checks[self._checks_done]:
            self._checks_done += 1
        return self._checks_done - 1

    @staticmethod
    def judge(transcript: str, *, first_check: bool = False, last_check: bool = False) -> bool:
        """Whether a pause ends the turn, by the words so far (:func:`heard_cue`): never when they are
        ``unfinished`` (only the maximum pause ends it then); when ``doubtful``, at the schedule's ``last_check``;
        when they may end a sentence (``statement``, ``unknown``), at any check but the
        ``first_check``; when they end one (``finished``), at once."""
        cue = heard_cue(transcript)
        if cue == "unfinished":
            return False
        if cue == "doubtful":
            return last_check
        if cue in ("statement", "unknown"):
            return not first_check
        return True

    async def settle(self, check: int, transcript: Awaitable[str]) -> VadSpeechStopped | None:
        """Judge the current pause at ``check`` (an index from :meth:`due_check`) with ``transcript`` (the words
        so far), then :meth:`judge`. Returns the end of the turn (:meth:`end_turn`) when the pause ends it and no
        speech came meanwhile, else ``None``. The first check of a pause whose audio does not end in
        :data:`MIN_SILENCE_MS` of quiet is not judged: :meth:`due_check` hands it out again after the next audio."""
        judged, pause = self._done, self._pause_id
        if check == 0 and quiet_ms(self._ring) < MIN_SILENCE_MS:
            if self._checks_done == 1:
                self._checks_done = 0  # the first check again, with the next audio
            await transcript  # (the prefetched decode, wanted at the next check)
            return None
        text = await transcript
        last_check = check == len(self.schedule.checks) - 1
        last_word_ms = text.last_word_ms if isinstance(text, Heard) else None
        log.debug("pause judged at check %d: words %r, last word began %s ms before the end of the voice",
                  check, text[-60:], last_word_ms)  # fmt: skip
        if not self.judge(text, first_check=check == 0, last_check=last_check):
            return None
        if pause != self._pause_id:
            return None  # speech came (and maybe another pause) while judging: this pause is over
        return self.end_turn(judged)

    def end_turn(self, at: int | None = None) -> VadSpeechStopped | None:
        """End the speech in progress at 16 kHz stream sample ``at`` (default: the last one judged by the VAD);
        ``None`` when no pause is in progress (speech resumed or the stream was reset meanwhile)."""
        if not self._in_speech or self._silence_start is None:
            return None
        self._in_speech = False
        self._silence_start = None
        end = self._done if at is None else min(max(at, 0), self._done)
        return VadSpeechStopped(audio_end_ms=end // _SAMPLES_PER_MS)

    def _decide(self, probs: np.ndarray, frames: np.ndarray) -> list[VadSpeechStarted | VadSpeechStopped]:
        keep = TAIL_MS * _SAMPLES_PER_MS
        self._ring = np.concatenate((self._ring, frames.reshape(-1)))[-keep:]
        events: list[VadSpeechStarted | VadSpeechStopped] = []
        start = self._done
        self._done += probs.size * FRAME
        max_pause = self.schedule.max_pause_ms * _SAMPLES_PER_MS
        for i in range(probs.size):
            frame_start = start + i * FRAME
            frame_end = frame_start + FRAME
            p = float(probs[i])
            if not self._in_speech:
                if p >= self.threshold:
                    self._in_speech = True
                    self._silence_start = None
                    self._checks_done = 0
                    self._speech_end = frame_end
                    onset_ms = frame_start // _SAMPLES_PER_MS
                    events.append(VadSpeechStarted(audio_start_ms=max(0, onset_ms - self.prefix_padding_ms)))
                continue
            if p >= self.threshold:
                self._silence_start = None
                self._checks_done = 0
                self._speech_end = frame_end
            elif p < self._low and self._silence_start is None:
                self._silence_start = self._speech_end  # the frames in between (hysteresis) were not speech
                self._pause_id += 1
            if self._silence_start is not None and frame_end - self._silence_start >= max_pause:
                events.append(VadSpeechStopped(audio_end_ms=frame_end // _SAMPLES_PER_MS))
                self._in_speech = False
                self._silence_start = None
        return events

    def reset(self) -> None:
        """Forget any speech in progress (``input_audio_buffer.clear``); stream time keeps counting."""
        super().reset()
        self._checks_done = 0
        self._pause_id += 1
