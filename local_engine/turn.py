"""Semantic end of turn (``semantic_vad``) with Smart Turn v3 on top of Silero VAD.

Model: Smart Turn v3.2 (Daily, BSD-2-Clause, https://github.com/pipecat-ai/smart-turn), a Whisper-tiny encoder
with a classifier head, int8 ONNX for the CPU, shipped in the ``pipecat-ai`` wheel (see
:func:`local_engine.models.smart_turn_path`). Input ``input_features``: float32 ``[batch, 80, 800]``, the Whisper
log-mel spectrogram of the last 8 s of the turn at 16 kHz (shorter audio is padded with zeros *before* it);
output: ``[batch, 1]``, the probability that the speaker has finished their turn.

Features (:func:`log_mel_features`) follow Whisper's front end (Radford et al. 2022, "Robust Speech Recognition
via Large-Scale Weak Supervision"), as the model card specifies them for 8 s windows: the waveform is first
normalised to zero mean and unit variance over the whole window; then a 400-sample periodic Hann STFT with a hop of
160 (25 ms / 10 ms, centred, reflect padding), power spectrum, 80 Slaney-scale mel filters with Slaney area
normalisation over 0-8000 Hz, ``log10`` with a floor of 1e-10, the last frame dropped, values clamped to 8 below
the maximum, then ``(x + 4) / 4``. Only numpy: no torch, no transformers.

:class:`SemanticVadStream` is the ``semantic_vad`` turn detection of the Realtime API: Silero VAD finds speech and
pauses; when a pause has lasted long enough, the words recognised so far (:func:`transcript_cue`) and, when they
leave it open, Smart Turn on the audio of the turn decide whether it ends the turn. A finished sentence ends the
turn about 200 ms after its last word (``eagerness`` medium); a pause in the middle of one is waited through, up
to a maximum pause after which the turn ends anyway.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import re
import threading
from collections.abc import Awaitable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import onnxruntime

from local_engine.models import smart_turn_path
from local_engine.stages import Heard, VadSpeechStarted, VadSpeechStopped
from local_engine.vad import FRAME, MODEL_RATE, SileroVad, SileroVadStream

__all__ = [
    "EAGERNESS",
    "SemanticVadStream",
    "SmartTurn",
    "TurnSchedule",
    "fit_window",
    "heard_cue",
    "log_mel_features",
    "transcript_cue",
]

log = logging.getLogger(__name__)

WINDOW_S = 8
"""Seconds of audio Smart Turn v3 judges (the end of the turn)."""
WINDOW = WINDOW_S * MODEL_RATE  # samples at 16 kHz
N_FFT = 400  # samples: 25 ms at 16 kHz
HOP = 160  # samples: 10 ms
N_MELS = 80
FRAMES = WINDOW // HOP  # 800 feature frames
PRE_SPEECH_MS = 500
"""Audio before the onset of speech that Smart Turn also sees (as pipecat's analyzer gives it)."""


# ---------------------------------------------------------------------------------------------------- features


def _hz_to_mel(hz: np.ndarray) -> np.ndarray:
    """Slaney's mel scale: linear below 1 kHz (3 mel per 200 Hz), logarithmic above (27 mel per factor 6.4)."""
    hz = np.asarray(hz, dtype=np.float64)
    linear = hz * 3.0 / 200.0
    logarithmic = 15.0 + np.log(np.maximum(hz, 1e-12) / 1000.0) * (27.0 / np.log(6.4))
    return np.where(hz < 1000.0, linear, logarithmic)


def _mel_to_hz(mel: np.ndarray) -> np.ndarray:
    mel = np.asarray(mel, dtype=np.float64)
    linear = mel * 200.0 / 3.0
    logarithmic = 1000.0 * np.exp((mel - 15.0) * (np.log(6.4) / 27.0))
    return np.where(mel < 15.0, linear, logarithmic)


@functools.cache
def _mel_filters() -> np.ndarray:
    """``[80, 201]`` triangular filters on the rFFT bins, each scaled to unit area (Slaney normalisation)."""
    bins = np.linspace(0.0, MODEL_RATE / 2, N_FFT // 2 + 1)
    edges = _mel_to_hz(np.linspace(_hz_to_mel(np.array(0.0)), _hz_to_mel(np.array(MODEL_RATE / 2)), N_MELS + 2))
    lower, centre, upper = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    rising = (bins[None, :] - lower) / (centre - lower)
    falling = (upper - bins[None, :]) / (upper - centre)
    filters = np.clip(np.minimum(rising, falling), 0.0, None)
    return np.asarray(filters * (2.0 / (upper - lower)), dtype=np.float64)


@functools.cache
def _hann() -> np.ndarray:
    """Periodic Hann window of :data:`N_FFT` samples (the DFT-even one, as ``torch.hann_window``)."""
    n = np.arange(N_FFT)
    return 0.5 - 0.5 * np.cos(2.0 * np.pi * n / N_FFT)


def fit_window(audio: np.ndarray) -> np.ndarray:
    """The last :data:`WINDOW` samples of ``audio`` (16 kHz), zeros put before it when it is shorter."""
    audio = np.asarray(audio, dtype=np.float32).reshape(-1)
    if audio.size >= WINDOW:
        return audio[-WINDOW:]
    return np.concatenate((np.zeros(WINDOW - audio.size, dtype=np.float32), audio))


def log_mel_features(audio: np.ndarray) -> np.ndarray:
    """Smart Turn v3's input for one window: float32 ``[80, 800]``.

    ``audio``: float samples in [-1, 1] at 16 kHz, exactly :data:`WINDOW` (128000) samples (use
    :func:`fit_window`). Raises :class:`ValueError` on another length."""
    x = np.asarray(audio, dtype=np.float32).reshape(-1)
    if x.size != WINDOW:
        raise ValueError(f"expected {WINDOW} samples (8 s at 16 kHz), got {x.size}")
    x = (x - x.mean()) / np.sqrt(x.var() + 1e-7)
    padded = np.pad(x.astype(np.float64), N_FFT // 2, mode="reflect")
    frames = np.lib.stride_tricks.sliding_window_view(padded, N_FFT)[::HOP]  # [801, 400]
    power = np.abs(np.fft.rfft(frames * _hann(), axis=-1)) ** 2  # [801, 201]
    mel = np.log10(np.maximum(_mel_filters() @ power.T, 1e-10))[:, :FRAMES]  # [80, 800]
    mel = np.maximum(mel, mel.max() - 8.0)
    return np.asarray((mel + 4.0) / 4.0, dtype=np.float32)


# ---------------------------------------------------------------------------------------------------- model


class SmartTurn:
    """The Smart Turn v3.2 ONNX model, loaded once per process (:meth:`shared`); thread-safe and stateless.

    ``threads``: onnxruntime intra-op threads (1: a decision takes one core for 12-65 ms). Raises
    :class:`~local_engine.models.ModelError` when the file is missing or not the pinned one."""

    def __init__(self, path: Path | None = None, *, threads: int = 1) -> None:
        self.path = path if path is not None else smart_turn_path()
        opts = onnxruntime.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        opts.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
        opts.log_severity_level = 3
        self._session = onnxruntime.InferenceSession(
            str(self.path), sess_options=opts, providers=["CPUExecutionProvider"]
        )
        names = [i.name for i in self._session.get_inputs()]
        if names != ["input_features"]:
            raise RuntimeError(f"{self.path}: unexpected Smart Turn inputs {names} (want input_features)")
        self._lock = threading.Lock()  # one decision at a time: at most one core, whatever the sessions

    @classmethod
    @functools.cache
    def shared(cls) -> SmartTurn:
        """The process-wide instance (loaded on first use)."""
        return cls()

    def probability(self, audio: np.ndarray) -> float:
        """Probability (0..1) that the turn is finished at the end of ``audio`` (float32 in [-1, 1], 16 kHz;
        the last 8 s are used). Blocks for the inference (tens of ms): call it off the event loop."""
        features = log_mel_features(fit_window(audio))[None]
        with self._lock:
            (out,) = self._session.run(None, {"input_features": features})
        value = float(np.asarray(out).reshape(-1)[0])
        if not 0.0 <= value <= 1.0:  # an export that ends in logits rather than a sigmoid
            value = float(1.0 / (1.0 + np.exp(-value)))
        return value


# ---------------------------------------------------------------------------------------------------- transcript cue

# Words a sentence does not end on: articles, possessive determiners, conjunctions, hesitations ...
_NEVER_LAST = frozenset(
    ["a", "an", "the", "my", "your", "his", "her", "its", "our", "their", "every", "and", "or", "but", "nor",
     "because", "if", "although", "though", "unless", "whether", "than", "um", "uh", "er", "erm", "hmm"]
)  # fmt: skip
# ... and words it rarely ends on unless it is a question with a stranded preposition ("Where are you from?") or
# a short answer ("Yes, I can."): prepositions, auxiliaries, subject pronouns. Without final punctuation they too
# mean the sentence goes on.
_RARELY_LAST = frozenset(
    ["of", "to", "in", "on", "at", "by", "for", "with", "from", "about", "into", "onto", "over", "under",
     "between", "through", "during", "like", "as", "is", "are", "was", "were", "be", "been", "am", "do", "does",
     "did", "have", "has", "had", "will", "would", "shall", "should", "can", "could", "may", "might", "must",
     "i", "we", "they", "he", "she", "i'm", "it's", "you're", "we're", "they're", "i'd", "i'll", "let's",
     "that", "this", "these", "those", "which", "who", "what", "where", "when", "how", "why", "there", "it",
     "you", "me", "some", "any", "no", "not", "very", "more", "most", "so", "just", "also"]
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

    ``unfinished``: nothing recognised, or the text ends with a comma, an ellipsis or a dash, or its last word is
    one a sentence does not end on (``the``, ``and``, ``um``...), or one it rarely ends on (``to``, ``about``,
    ``is``...) without final punctuation. ``doubtful``: a preposition with final punctuation ("Where are you
    from?", but Whisper also puts ``?`` after a cut-off "Can you tell me about"), unless it follows a name; a verb
    that wants an object after ``to`` or ``you`` ("I would like to know."); one operand after a verb of two ("Can
    you add 12?") or an operator without its second ("What is 7 times?"); a fragment of at most
    :data:`FRAGMENT_WORDS` words ending on a question word, an auxiliary or a pronoun ("What?", "Can you?"); a lone
    subordinate clause ("If I leave at eight."). ``statement``: see :data:`STATEMENT_WORDS`. ``finished``: it ends
    with ``.``, ``?`` or ``!`` (Whisper punctuates from prosody and syntax), or it is a short reply made of
    :data:`_ANSWERS` words ("Okay"). ``unknown`` otherwise."""
    stripped = text.strip()
    found = _WORD.findall(stripped.lower())
    if not found or stripped.endswith((",", "...", "\u2026", "-", "\u2014", ";", ":")):
        return "unfinished"
    punctuated = stripped.endswith((".", "?", "!"))
    last = found[-1]
    reply = len(found) <= FRAGMENT_WORDS and all(w in _ANSWERS for w in found)
    if reply and (found[-2:] == ["thank", "you"] or last not in _NEVER_LAST | _RARELY_LAST):
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
"""A transcript that ends a sentence (cue ``finished`` or ``statement``) but whose last word began less than this
(ms) before the end of the voice is only ``doubtful``, unless that word is an object pronoun
(:data:`_REDUCED_LAST`) or a number. Speakers lengthen the syllables before the end of an utterance (phrase-final
lengthening: Klatt 1976, "Linguistic uses of segmental duration in English", JASA 59(5); Wightman et al. 1992,
"Segmental durations in the vicinity of prosodic phrase boundaries", JASA 91(3)), so a last word that short is
rather one cut by a pause in the middle of the sentence, which Whisper often misheard and punctuated ("I want to
go to the beach and" heard as "I want to go to the beach end."). Unstressed pronouns stay short even at the end
("How are you?", "What time is it?"). On the tuning half of ``bench.local_latency`` (espeak-ng and Piper voices):
misheard words before a pause began 111-139 ms before the end of the voice (others, such as "to know.", have a
cue of their own), the last word of a finished question 145 ms or more (most of them 250 ms or more). A wrong
call costs latency (the turn ends at the schedule's last check), not words."""
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
    """:func:`transcript_cue`, with what the recognizer measured when ``heard`` is a :class:`Heard`: a ``finished``
    sentence or a ``statement`` whose last word (not a pronoun, not a number) began less than
    :data:`SHORT_LAST_WORD_MS` before the end of the voice is ``doubtful``."""
    cue = transcript_cue(heard)
    last_word_ms = heard.last_word_ms if isinstance(heard, Heard) else None
    short = last_word_ms is not None and last_word_ms < SHORT_LAST_WORD_MS
    if cue in ("finished", "statement") and short:
        last = _WORD.findall(heard.lower())[-1]
        if last not in _REDUCED_LAST and not last[0].isdigit():
            return "doubtful"
    return cue


# ---------------------------------------------------------------------------------------------------- semantic VAD


@dataclass(frozen=True, slots=True)
class TurnSchedule:
    """When a pause ends the turn, for one ``eagerness``.

    ``checks``: ``(pause_ms, min_probability)`` pairs in increasing pause: once the pause (Silero's silence) has
    lasted ``pause_ms``, the turn is judged once (:meth:`SemanticVadStream.judge`). ``max_pause_ms``: the turn
    ends after this much silence whatever the judgement."""

    checks: tuple[tuple[int, float], ...]
    max_pause_ms: int


EAGERNESS: dict[str, TurnSchedule] = {
    "high": TurnSchedule(((32, 0.35), (320, 0.2), (768, 0.1)), 1500),
    "medium": TurnSchedule(((64, 0.5), (320, 0.3), (960, 0.15), (1280, 0.1)), 2500),
    "low": TurnSchedule(((320, 0.6), (800, 0.4), (1600, 0.2)), 4000),
}
EAGERNESS["auto"] = EAGERNESS["medium"]
"""``semantic_vad``'s ``eagerness`` (the Realtime API's ``auto`` is ``medium``). A finished sentence usually ends
at the first check: ``medium`` judges the first 64 ms of silence after the last frame Silero calls speech, which
with the audio arriving in chunks of about 170 ms comes about 200 ms after the last voiced sample; a pause in the
middle of one is waited through. A ``doubtful`` transcript ends the turn only at the last check: for ``medium``
after 1280 ms of silence, longer than most pauses inside an utterance (under 1 s: Campione and Véronis 2002, "A
large-scale multilingual study of silent pause duration", Speech Prosody), since Whisper also writes a finished
sentence for a phrase cut by such a pause."""

UNPUNCTUATED_MARGIN = 0.25
"""Words that end without punctuation (Whisper punctuates what sounds finished) need this much more of Smart Turn's
probability than the check asks."""

_SAMPLES_PER_MS = MODEL_RATE // 1000


class SemanticVadStream(SileroVadStream):
    """Turn detection for ``semantic_vad``: Silero VAD finds speech and pauses; at the pause lengths of the
    :class:`TurnSchedule` the caller judges the turn (:meth:`due_check`, :meth:`turn_audio`, :meth:`judge`) and
    ends it with :meth:`end_turn`. :meth:`feed` itself only ends a turn after ``max_pause_ms`` of silence.

    Times are ms of stream audio since the stream began; ``speech_stopped``'s ``audio_end_ms`` is the end of the
    audio judged, so it includes the pause. The split keeps the model runs (Smart Turn, the transcript of the turn
    so far) off the event loop and lets them run in parallel."""

    def __init__(
        self,
        model: SileroVad,
        eagerness: str = "auto",
        *,
        turn: SmartTurn | None = None,
        threshold: float = 0.5,
        prefix_padding_ms: int = 300,
    ) -> None:
        schedule = EAGERNESS.get(eagerness)
        if schedule is None:
            raise ValueError(f"eagerness must be one of low, medium, high, auto; got {eagerness!r}")
        super().__init__(model, threshold, prefix_padding_ms, schedule.max_pause_ms)
        self.eagerness = eagerness
        self.schedule = schedule
        self._turn = turn
        self.last_probability: float | None = None
        """Smart Turn's latest answer (for logs and benchmarks)."""
        self._ring = np.zeros(0, dtype=np.float32)  # the last WINDOW + PRE_SPEECH samples at 16 kHz
        self._onset = 0  # 16 kHz sample where the speech in progress began
        self._checks_done = 0  # checks of the schedule already handed out in this pause
        self._pause_id = 0  # counts the pauses, so a late judgement knows whether its pause is still going on

    def due_check(self) -> float | None:
        """The probability a judgement needs now, when the pause has reached a check of the schedule that was
        not handed out yet (each is handed out once; a late one, after a large chunk, counts as the most lenient
        check due); ``None`` otherwise."""
        pause = self.pause_ms
        checks = self.schedule.checks
        if pause is None or self._checks_done >= len(checks) or pause < checks[self._checks_done][0]:
            return None
        while self._checks_done < len(checks) and pause >= checks[self._checks_done][0]:
            self._checks_done += 1
        return checks[self._checks_done - 1][1]

    def turn_audio(self) -> np.ndarray:
        """Smart Turn's input: float32 audio at 16 kHz from 500 ms before the onset of speech (at most the last
        8 s) to the last sample judged by the VAD."""
        first = max(self._onset - PRE_SPEECH_MS * _SAMPLES_PER_MS, self._done - WINDOW)
        return self._ring[max(0, self._ring.size - (self._done - first)) :].copy()

    @staticmethod
    def judge(
        probability: float, transcript: str, needed: float, *, last_check: bool = False, first_check: bool = False
    ) -> bool:
        """Whether a pause ends the turn: never when the transcript so far is unfinished (:func:`heard_cue`); when
        it is doubtful, only at the schedule's ``last_check``; when it is a statement, at any check but the
        ``first_check``; yes when it ends a sentence; when it has no final punctuation (cue ``unknown``), at the
        ``last_check``, or at another check but the first when Smart Turn's probability reaches ``needed`` plus
        :data:`UNPUNCTUATED_MARGIN`.

        The transcript votes first because on synthetic test voices (espeak-ng, Piper) Smart Turn v3.2's
        probability did not separate finished sentences from the same sentences cut mid-phrase: on the tuning half
        of ``bench.turn_pauses`` it answered 0.01-0.3 for many finished questions and above 0.9 in many pauses in
        the middle of a sentence."""
        cue = heard_cue(transcript)
        if cue == "unfinished":
            return False
        if cue == "doubtful":
            return last_check
        if cue == "statement":
            return not first_check
        if cue == "unknown":
            return last_check or (not first_check and probability >= needed + UNPUNCTUATED_MARGIN)
        return True

    async def settle(self, needed: float, transcript: Awaitable[str]) -> VadSpeechStopped | None:
        """Judge the current pause with ``transcript`` (the words so far) and, when they leave it open (cue
        ``unknown``), Smart Turn (on a worker thread; needs ``turn``), then :meth:`judge`. Returns the end of the
        turn (:meth:`end_turn`) when the pause ends it and no speech came meanwhile, else ``None``. Smart Turn
        does not run when its answer cannot change the verdict (the words decide, or it is the first or the last
        check): the model would only take a core from the recognizer. The first check
        of a pause whose audio does not end in :data:`MIN_SILENCE_MS` of quiet is not judged: :meth:`due_check`
        hands it out again after the next audio."""
        audio, judged, pause = self.turn_audio(), self._done, self._pause_id
        if needed >= self.schedule.checks[0][1] and quiet_ms(audio) < MIN_SILENCE_MS:
            if self._checks_done == 1:
                self._checks_done = 0  # the first check again, with the next audio
            await transcript  # (the prefetched decode, wanted at the next check)
            return None
        text = await transcript
        probability = 0.5
        last_check = needed <= self.schedule.checks[-1][1]
        first_check = needed >= self.schedule.checks[0][1]
        if self._turn is not None and heard_cue(text) == "unknown" and not (first_check or last_check):
            probability = await asyncio.to_thread(self._turn.probability, audio)
            self.last_probability = probability
        last_word_ms = text.last_word_ms if isinstance(text, Heard) else None
        log.debug("pause judged: needed %.2f, Smart Turn %.3f, words %r, last word began %s ms before the end of the"
                  " voice", needed, probability, text[-60:], last_word_ms)  # fmt: skip
        if not self.judge(probability, text, needed, last_check=last_check, first_check=first_check):
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
        keep = WINDOW + PRE_SPEECH_MS * _SAMPLES_PER_MS
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
                    self._onset = frame_start
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
