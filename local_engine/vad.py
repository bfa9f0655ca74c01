"""Turn detection (``server_vad``) with Silero VAD v6 run by onnxruntime.

Model: Silero VAD v6 (MIT, https://github.com/snakers4/silero-vad), the ONNX export shipped in the
``faster-whisper`` wheel. At 16 kHz it takes frames of 512 samples (32 ms) preceded by the last 64 samples of the
previous frame (input ``[n, 576]`` float32 in [-1, 1]); ``h`` and ``c`` (``[1, 1, 128]`` each) carry the LSTM state
from frame to frame, and the ``n`` rows of one call are consecutive frames, so a whole chunk is one call. Output:
one speech probability per frame.

Boundary rules follow the model card's ``VADIterator``: speech starts when a frame's probability reaches
``threshold``; once in speech, a frame below ``threshold - 0.15`` (hysteresis) confirms a silence, counted from the
end of the last frame at or above ``threshold``; such a frame cancels it, and speech stops when the silence has
lasted ``silence_duration_ms``. The audio that arrived after the last whole frame (less than 32 ms) is judged too
while a pause goes on, by a look-ahead frame (the last 512 samples) run on a copy of the model's state, so the
end of a turn is not put off to the next chunk of input by an incomplete frame. The reported
times follow ``input_audio_buffer.speech_started`` / ``speech_stopped`` of the Realtime API: ``audio_start_ms`` is
the onset minus ``prefix_padding_ms``, ``audio_end_ms`` the start of the silence plus ``silence_duration_ms``.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import onnxruntime
import soxr

from local_engine.models import silero_vad_path
from local_engine.stages import VadSpeechStarted, VadSpeechStopped

__all__ = ["SileroVad", "SileroVadStream"]

MODEL_RATE = 16_000  # Hz
INPUT_RATE = 24_000  # Hz, PCM16 of the Realtime API
FRAME = 512  # samples at 16 kHz = 32 ms
CONTEXT = 64  # samples of the previous frame the model sees
HYSTERESIS = 0.15  # "non-speech" is below threshold - HYSTERESIS (Silero's VADIterator)
_SAMPLES_PER_MS = MODEL_RATE // 1000


class SileroVad:
    """The Silero VAD v6 ONNX model, loaded once per process (see :meth:`shared`); thread-safe, stateless:
    each :class:`SileroVadStream` keeps its own LSTM state. Raises :class:`~local_engine.models.ModelError` when
    the model file is missing or not the pinned one."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path if path is not None else silero_vad_path()
        opts = onnxruntime.SessionOptions()
        opts.intra_op_num_threads = 1
        opts.inter_op_num_threads = 1
        opts.log_severity_level = 3
        self._session = onnxruntime.InferenceSession(
            str(self.path), sess_options=opts, providers=["CPUExecutionProvider"]
        )
        names = {i.name for i in self._session.get_inputs()}
        if not {"input", "h", "c"} <= names:
            raise RuntimeError(f"{self.path}: unexpected Silero VAD inputs {sorted(names)} (want input, h, c)")

    @classmethod
    @functools.cache
    def shared(cls) -> SileroVad:
        """The process-wide instance (loaded on first use)."""
        return cls()

    def run(self, frames: np.ndarray, h: np.ndarray, c: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Speech probabilities of consecutive frames.

        ``frames``: float32 ``[n, 576]`` (64 samples of context + 512 new samples, 16 kHz); ``h``, ``c``: float32
        ``[1, 1, 128]``. Returns ``(probabilities [n], h, c)``."""
        probs, hn, cn = self._session.run(None, {"input": frames, "h": h, "c": c})
        return np.asarray(probs, dtype=np.float32).reshape(-1), hn, cn


class SileroVadStream:
    """:class:`~local_engine.stages.VadStream` over one session's input audio.

    ``threshold`` (0..1), ``prefix_padding_ms`` and ``silence_duration_ms`` are ``server_vad``'s settings
    (defaults 0.5, 300, 500 as in the Realtime API). Times are ms of stream audio since the stream began.
    """

    def __init__(
        self,
        model: SileroVad,
        threshold: float = 0.5,
        prefix_padding_ms: int = 300,
        silence_duration_ms: int = 500,
    ) -> None:
        if not 0.0 < threshold < 1.0:
            raise ValueError(f"threshold must be between 0 and 1, got {threshold}")
        if prefix_padding_ms < 0 or silence_duration_ms < 0:
            raise ValueError("prefix_padding_ms and silence_duration_ms must be >= 0")
        self._model = model
        self.threshold = threshold
        self.prefix_padding_ms = prefix_padding_ms
        self.silence_duration_ms = silence_duration_ms
        self._low = max(threshold - HYSTERESIS, 0.01)
        # soxr's "quick" (cubic) quality holds back no samples, where "HQ" keeps about 25 ms of each chunk for its
        # filter: the VAD judges all the audio it was given. Aliasing above 8 kHz does not change its verdicts.
        self._resampler = soxr.ResampleStream(INPUT_RATE, MODEL_RATE, 1, dtype="float32", quality="QQ")
        self._pending = np.zeros(0, dtype=np.float32)  # 16 kHz samples not yet in a frame
        # The last frame run through the model, with its 64 samples of context: the next frame's context is its end.
        self._recent = np.zeros(CONTEXT + FRAME, dtype=np.float32)
        self._quiet_tail = 0  # samples of _pending a look-ahead frame judged not speech
        self._h = np.zeros((1, 1, 128), dtype=np.float32)
        self._c = np.zeros((1, 1, 128), dtype=np.float32)
        self._done = 0  # 16 kHz samples already run through the model
        self._in_speech = False
        self._silence_start: int | None = None  # 16 kHz sample where the current silence began
        self._speech_end = 0  # 16 kHz sample just past the last frame judged speech

    def feed(self, pcm: bytes) -> list[VadSpeechStarted | VadSpeechStopped]:
        """Push PCM16 little-endian 24 kHz mono audio (any even number of bytes, may be empty).

        Returns the boundaries the new audio completed, in order. Raises :class:`ValueError` on an odd length."""
        if len(pcm) % 2:
            raise ValueError(f"PCM16 audio must have an even number of bytes, got {len(pcm)}")
        if not pcm:
            return []
        samples = np.frombuffer(pcm, dtype="<i2").astype(np.float32) * (1.0 / 32768.0)
        resampled = self._resampler.resample_chunk(samples)
        buf = np.concatenate((self._pending, resampled)) if self._pending.size else resampled
        n = buf.size // FRAME
        events: list[VadSpeechStarted | VadSpeechStopped] = []
        if n:
            used = n * FRAME
            frames = buf[:used].reshape(n, FRAME)
            buf = buf[used:].copy()
            # Each row: the last 64 samples of the frame before it, then the frame itself.
            ctx = np.empty((n, CONTEXT), dtype=np.float32)
            ctx[0] = self._recent[-CONTEXT:]
            if n > 1:
                ctx[1:] = frames[:-1, -CONTEXT:]
            self._recent = np.concatenate((ctx[-1], frames[-1]))
            probs, self._h, self._c = self._model.run(np.concatenate((ctx, frames), axis=1), self._h, self._c)
            self._quiet_tail = 0
            events = self._decide(probs, frames)
        self._pending = buf
        return events + self._look_ahead()

    def _look_ahead(self) -> list[VadSpeechStarted | VadSpeechStopped]:
        """In a pause, judge the samples after the last whole frame with one frame ending at the last sample
        (state copied, not kept); when they are not speech either, the pause includes them
        (:attr:`pause_ms`), and a pause that reaches ``silence_duration_ms`` with them ends the turn."""
        if not self._in_speech or self._silence_start is None or not self._pending.size:
            return []
        if self._quiet_tail == self._pending.size:
            return []
        window = np.concatenate((self._recent, self._pending))[-(CONTEXT + FRAME) :]
        probs, _h, _c = self._model.run(window[None], self._h.copy(), self._c.copy())
        if float(probs[0]) >= self._low:
            return []
        self._quiet_tail = self._pending.size
        return self._pause_ends(self._done + self._quiet_tail)

    def _pause_ends(self, quiet_until: int) -> list[VadSpeechStarted | VadSpeechStopped]:
        """``speech_stopped`` when the pause, judged not speech up to 16 kHz sample ``quiet_until``, has lasted
        ``silence_duration_ms`` (at ``audio_end_ms`` = its start plus ``silence_duration_ms``)."""
        silence_samples = self.silence_duration_ms * _SAMPLES_PER_MS
        if self._silence_start is None or quiet_until - self._silence_start < silence_samples:
            return []
        end = self._silence_start + silence_samples
        self._in_speech = False
        self._silence_start = None
        return [VadSpeechStopped(audio_end_ms=end // _SAMPLES_PER_MS)]

    def _decide(self, probs: np.ndarray, frames: np.ndarray) -> list[VadSpeechStarted | VadSpeechStopped]:
        """Boundaries from the speech probabilities ``probs`` ``[n]`` of the 16 kHz ``frames`` ``[n, 512]``."""
        events: list[VadSpeechStarted | VadSpeechStopped] = []
        start = self._done
        self._done += probs.size * FRAME
        speech = probs >= self.threshold
        quiet = probs < self._low
        # Fast path: nothing can change (silence while idle, or clear speech while in speech with no silence).
        if not self._in_speech and not speech.any():
            return events
        if self._in_speech and self._silence_start is None and not quiet.any():
            if speech.any():
                self._speech_end = start + (int(np.flatnonzero(speech)[-1]) + 1) * FRAME
            return events
        for i in range(probs.size):
            frame_start = start + i * FRAME
            frame_end = frame_start + FRAME
            if not self._in_speech:
                if speech[i]:
                    self._in_speech = True
                    self._silence_start = None
                    self._speech_end = frame_end
                    onset_ms = frame_start // _SAMPLES_PER_MS
                    events.append(VadSpeechStarted(audio_start_ms=max(0, onset_ms - self.prefix_padding_ms)))
                continue
            if speech[i]:
                self._silence_start = None
                self._speech_end = frame_end
            elif quiet[i] and self._silence_start is None:
                self._silence_start = self._speech_end  # the frames in between (hysteresis) were not speech
            events += self._pause_ends(frame_end)
        return events

    def reset(self) -> None:
        """Forget any speech in progress (``input_audio_buffer.clear``); stream time keeps counting."""
        self._in_speech = False
        self._silence_start = None

    @property
    def pause_ms(self) -> int | None:
        """How long the current pause inside speech has lasted (ms of audio judged so far, the look-ahead
        included), or ``None``."""
        if not self._in_speech or self._silence_start is None:
            return None
        return (self._done + self._quiet_tail - self._silence_start) // _SAMPLES_PER_MS

    @property
    def in_speech(self) -> bool:
        """Whether speech has started and not yet stopped."""
        return self._in_speech

    @property
    def processed_ms(self) -> int:
        """ms of stream audio the model has judged so far (lags the input by less than one frame, 32 ms)."""
        return self._done // _SAMPLES_PER_MS
