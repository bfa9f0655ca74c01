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
_WORD = re.compile(r"[a-z]+(?:'[a-z]+)?")

Cue = Literal["finished", "doubtful", "unfinished", "unknown"]


def transcript_cue(text: str) -> Cue:
    """What the words recognised so far say about the end of the turn.

    ``unfinished``: nothing recognised, or the text ends with a comma, an ellipsis or a dash, or its last word is
    one a sentence does not end on (``the``, ``and``, ``um``...), or one it rarely ends on (``to``, ``about``,
    ``is``...) without final punctuation; ``doubtful``: a preposition with final punctuation ("Where are you
    from?", but Whisper also puts ``?`` after a cut-off "Can you tell me about"); ``finished``: it ends with
    ``.``, ``?`` or ``!`` (Whisper punctuates from prosody and syntax); ``unknown`` otherwise."""
    stripped = text.strip()
    found = _WORD.findall(stripped.lower())
    if not found or stripped.endswith((",", "...", "\u2026", "-", "\u2014", ";", ":")):
        return "unfinished"
    punctuated = stripped.endswith((".", "?", "!"))
    if found[-1] in _NEVER_LAST or (found[-1] in _RARELY_LAST and not punctuated):
        return "unfinished"
    if found[-1] in _PREPOSITIONS:
        return "doubtful"
    return "finished" if punctuated else "unknown"


SHORT_LAST_WORD_MS = 200
"""A transcript that ends a sentence (cue ``finished``) but whose last word began less than this (ms) before the end
of the voice is only ``doubtful``, unless that word is an object pronoun (:data:`_REDUCED_LAST`). Speakers lengthen
the syllables before the end of an utterance (phrase-final lengthening: Klatt 1976, "Linguistic uses of segmental
duration in English", JASA 59(5); Wightman et al. 1992, "Segmental durations in the vicinity of prosodic phrase
boundaries", JASA 91(3)), so a last word that short is rather one cut by a pause in the middle of the sentence,
which Whisper often misheard and punctuated ("I want to go to the beach and" heard as "I want to go to the beach
end."). Unstressed pronouns stay short even at the end ("How are you?", "What time is it?"). On espeak-ng voices
(54 questions, 30 sentences with a pause in their middle): the last word of a finished question began 234 ms or more
before the end of the voice, except object pronouns (90-180 ms); a misheard word before a pause 111-158 ms. A wrong
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
    sentence whose last word (not a pronoun) began less than :data:`SHORT_LAST_WORD_MS` before the end of the voice
    is ``doubtful``."""
    cue = transcript_cue(heard)
    last_word_ms = heard.last_word_ms if isinstance(heard, Heard) else None
    short = last_word_ms is not None and last_word_ms < SHORT_LAST_WORD_MS
    if cue == "finished" and short and _WORD.findall(heard.lower())[-1] not in _REDUCED_LAST:
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
    "medium": TurnSchedule(((64, 0.5), (480, 0.3), (960, 0.15), (1280, 0.1)), 2500),
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
    def judge(probability: float, transcript: str, needed: float, *, last_check: bool = False) -> bool:
        """Whether a pause ends the turn: never when the transcript so far is unfinished (:func:`heard_cue`); when
        it is doubtful, only at the schedule's ``last_check``; yes when it ends a sentence, or when it has no final
        punctuation and Smart Turn's probability reaches ``needed`` plus :data:`UNPUNCTUATED_MARGIN`.

        The transcript votes first because on synthetic test voices (espeak-ng, Piper) Smart Turn v3.2's
        probability did not separate finished sentences from the same sentences cut mid-phrase (it does answer
        near 0 after a hesitation such as "um", but also for some finished questions)."""
        cue = heard_cue(transcript)
        if cue == "unfinished":
            return False
        if cue == "doubtful":
            return last_check
        return cue == "finished" or probability >= needed + UNPUNCTUATED_MARGIN

    async def settle(self, needed: float, transcript: Awaitable[str]) -> VadSpeechStopped | None:
        """Judge the current pause with ``transcript`` (the words so far) and, when they leave it open (cue
        ``unknown``), Smart Turn (on a worker thread; needs ``turn``), then :meth:`judge`. Returns the end of the
        turn (:meth:`end_turn`) when the pause ends it and no speech came meanwhile, else ``None``. Smart Turn
        does not run when the words decide: the model would only take a core from the recognizer. The first check
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
        if self._turn is not None and heard_cue(text) == "unknown":
            probability = await asyncio.to_thread(self._turn.probability, audio)
            self.last_probability = probability
        last_check = needed <= self.schedule.checks[-1][1]
        last_word_ms = text.last_word_ms if isinstance(text, Heard) else None
        log.debug("pause judged: needed %.2f, Smart Turn %.3f, words %r, last word began %s ms before the end of the"
                  " voice", needed, probability, text[-60:], last_word_ms)  # fmt: skip
        if not self.judge(probability, text, needed, last_check=last_check):
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
