"""What a person plainly asks for in one turn, for the offline responder: the time, arithmetic, the weather, a web
search; and greetings, "what can you do", thanks, a story.

A turn may hold several requests ("what time is it in Tokyo and what is 12 times 7"): :func:`find_requests` cuts
it into clauses at sentence ends and before a conjunction ("and", "also", "then", a comma) that opens a new
question, and reads each clause. A clause asking the time "there" takes the place of an earlier clause.

Linear time: the text is cut to :data:`~local_engine.replies._text.MAX_ANALYSED_CHARS` characters and white space
made single before any pattern runs; no pattern nests quantifiers that can backtrack over the same characters.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from local_engine.replies._text import MAX_ANALYSED_CHARS, clip
from local_engine.replies.arithmetic import TooLongToCalculate, arithmetic_expression
from local_engine.replies.zones import time_zone_for

__all__ = ["Request", "analysed_text", "find_requests", "is_capabilities", "is_greeting", "is_non_speech",
           "is_story", "is_thanks"]  # fmt: skip

_TIME_RE = re.compile(
    r"\bwhat(?:'s| is)? the (?:time|date)\b|\bwhat time\b|\b(?:current|local|exact) (?:time|date)\b"
    r"|\btime (?:is it|now|right now)\b|\bwhat day is (?:it|today)\b|\btoday's date\b|\btell me the time\b"
    r"|\bwhat(?:'s| is) today\b|^the (?:time|date)\b",
    re.IGNORECASE,
)
_THERE_RE = re.compile(r"\b(?:there|over there)\b", re.IGNORECASE)
_SEARCH_RES = (
    re.compile(
        r"^(?:ok(?:ay)?,? |hey,? )?(?:please )?(?:can|could|would|will) you (?:please )?"
        r"(?:search|look up|google|find) (?:the web |the internet |online )?(?:for |about )?(?P<q>.+)$",
        re.IGNORECASE,
    ),
    re.compile(
        r"^(?:ok(?:ay)?,? |hey,? )?(?:please )?(?:search (?:the web |the internet |online )?(?:for |about )?"
        r"|look up |google |find (?:me )?(?:information |info |something )?(?:about |on )?)(?P<q>.+)$",
        re.IGNORECASE,
    ),
    re.compile(r"\b(?:search|look) (?:the web|the internet|online) (?:for|about) (?P<q>.+)$", re.IGNORECASE),
)
_WEATHER_RE = re.compile(
    r"\b(?:weather|forecast)\b(?: (?:like )?(?:today |tomorrow |now |right now )?(?:in|for|at) (?P<place>[^?.!]+))?",
    re.IGNORECASE,
)
_NEWS_RE = re.compile(r"\b(?:latest |recent )?news (?:about|on|from) (?P<topic>[^?.!]+)", re.IGNORECASE)
_TRAILING_FILLER_RE = re.compile(r"(?: (?:today|tomorrow|now|right now|please))+$", re.IGNORECASE)
_PLEASE_RE = re.compile(r",? ?please$", re.IGNORECASE)

_GREETING_RE = re.compile(r"^(?:hi|hello|hey|hiya|howdy|greetings|good (?:morning|afternoon|evening|day))\b", re.I)
_CAPABILITIES_RE = re.compile(
    r"\bwhat (?:can|do) you do\b|\bwho are you\b|\bwhat are you\b|\bhow does this work\b|\bwhat can i (?:ask|say)\b"
    r"|\bare you (?:a|an) (?:ai|robot|bot|language model|model|llm)\b|^help\b",
    re.IGNORECASE,
)
_STORY_RE = re.compile(r"\bstor(?:y|ies)\b|\bfairy ?tale\b|\bsomething long\b|\btalk for a while\b", re.IGNORECASE)
_THANKS_RE = re.compile(r"^(?:ok(?:ay)?,? )?(?:thanks|thank you|cheers)\b", re.IGNORECASE)
# Whisper writes non-speech as "[BLANK_AUDIO]", "(music)", "*coughs*", "♪". Each bracket's body stops at the next
# opening bracket of its kind, so a run of 100,000 "[" is read once (with [^\]]* it was read once per "[").
_NON_SPEECH_RE = re.compile(r"\[[^\[\]]*\]|\([^()]*\)|\*[^*]*\*")
_WORD_RE = re.compile(r"\w")

_SENTENCE_BREAK_RE = re.compile(r"[?!;]+|\.(?= |$)")
# A clause starts again at these words after "and", "also", "then" or a comma.
_STARTERS = frozenset(
    {"what", "what's", "whats", "how", "tell", "search", "look", "find", "calculate", "compute", "google",
     "check", "give", "who", "when", "where", "can", "could", "please"}
)  # fmt: skip
_STARTER_NOUNS = frozenset({"time", "date", "weather", "forecast"})  # "... and the time in Tokyo"
_JOINERS = frozenset({"and", "also", "then", "plus"})


@dataclass(frozen=True, slots=True)
class Request:
    """One thing a clause asks a tool for.

    ``capabilities``: keys of :data:`local_engine.replies.tool_match.CAPABILITIES` to try, in order (the weather
    falls back to a web search). ``values``: what to pass, by role (``zone``, ``place``, ``expression``,
    ``query``); ``primary``: the role to use for a tool's only parameter. ``say``: what to say before calling;
    ``say_unfilled``: what to say instead when the tool gets no argument for ``primary``. ``too_long``: arithmetic
    too long to calculate (no tool is called)."""

    capabilities: tuple[str, ...]
    say: str
    values: dict[str, str] = field(default_factory=dict)
    primary: str = ""
    say_unfilled: str | None = None
    too_long: bool = False


def analysed_text(text: str) -> str:
    """The part of a user message the rules read: its first characters, white space made single."""
    return " ".join(text[:MAX_ANALYSED_CHARS].split())


def is_non_speech(text: str) -> bool:
    """Whether ``text`` holds no words once Whisper's non-speech marks ("[BLANK_AUDIO]", "(music)") are removed."""
    return _WORD_RE.search(_NON_SPEECH_RE.sub(" ", analysed_text(text))) is None


def is_greeting(text: str) -> bool:
    """A short hello ("Hi there!")."""
    text = analysed_text(text)
    return bool(_GREETING_RE.search(text)) and len(text.split()) <= 6


def is_capabilities(text: str) -> bool:
    """ "What can you do?", "who are you?", "help"."""
    return bool(_CAPABILITIES_RE.search(analysed_text(text)))


def is_thanks(text: str) -> bool:
    """ "Thanks", "thank you"."""
    return bool(_THANKS_RE.search(analysed_text(text)))


def is_story(text: str) -> bool:
    """ "Tell me a story", "something long"."""
    return bool(_STORY_RE.search(analysed_text(text)))


def _clauses(text: str) -> list[str]:
    clauses: list[str] = []
    for piece in _SENTENCE_BREAK_RE.split(text):
        words = piece.split()
        start = 0
        for i in range(1, len(words)):
            word = words[i].lower().strip(",")
            previous = words[i - 1].lower()
            after_joiner = previous in _JOINERS or previous.endswith(",")
            opens = word in _STARTERS or (word == "the" and i + 1 < len(words) and words[i + 1].lower() in
                                          _STARTER_NOUNS)  # fmt: skip
            if after_joiner and opens:
                end = i - 1 if previous in _JOINERS else i
                if end > start:
                    clauses.append(" ".join(words[start:end]).rstrip(","))
                start = i
        if start < len(words):
            clauses.append(" ".join(words[start:]).rstrip(","))
    return [c for c in clauses if c]


def _search_query(clause: str) -> str | None:
    for pattern in _SEARCH_RES:
        match = pattern.search(clause)
        if match:
            query = _PLEASE_RE.sub("", match.group("q").strip())
            for prefix in ("the web for ", "the web about ", "the internet for ", "the internet about ",
                           "online for ", "online about "):  # fmt: skip
                if query.lower().startswith(prefix):
                    query = query[len(prefix) :]
            return clip(query, 300) or None
    return None


def _request(clause: str, last_place: str | None) -> Request | None:
    try:
        expression = arithmetic_expression(clause)
    except TooLongToCalculate:
        return Request(("calculate",), "That is too long for me to calculate.", too_long=True)
    if expression is not None:
        return Request(("calculate",), "Let me work that out.", {"expression": expression}, "expression")
    stripped = clause.strip().rstrip("?.! ")
    if _TIME_RE.search(stripped):
        zone, place = time_zone_for(stripped)
        if zone is None and place is None and last_place and _THERE_RE.search(stripped):
            zone, place = time_zone_for(last_place)
            place = place or last_place
        if zone and place:
            return Request(("time",), f"Let me check the time in {place}.", {"zone": zone, "place": place}, "zone")
        if place:
            return Request(
                ("time",),
                f"Let me check the time in {place}.",
                {"place": place},
                "zone",
                say_unfilled=f"I don't know the time zone of {place}, so let me check the time in UTC.",
            )
        return Request(("time",), "Let me check the time.")
    weather = _WEATHER_RE.search(stripped)
    if weather:
        place = _TRAILING_FILLER_RE.sub("", (weather.group("place") or "").strip())
        if not place and last_place and _THERE_RE.search(stripped):
            place = last_place
        if place:
            say = f"Let me check the weather in {place}."
            return Request(("weather", "search"), say, {"place": place, "query": f"weather in {place}"}, "place")
        return Request(("weather", "search"), "Let me check the weather.", {"query": "current weather"}, "query")
    news = _NEWS_RE.search(stripped)
    if news:
        query = f"latest news about {news.group('topic').strip()}"
        return Request(("search",), f"Let me search the web for {query}.", {"query": query}, "query")
    searched = _search_query(stripped)
    if searched:
        return Request(("search",), f"Let me search the web for {searched}.", {"query": searched}, "query")
    return None


def find_requests(text: str) -> list[Request]:
    """Every tool request in a user message, in the order said (a request said twice counts once)."""
    requests: list[Request] = []
    last_place: str | None = None
    for clause in _clauses(analysed_text(text)):
        request = _request(clause, last_place)
        if request is None:
            continue
        last_place = request.values.get("place", last_place)
        if request not in requests:
            requests.append(request)
    return requests
