"""The local engine's reply generators (:class:`local_engine.stages.ReplyGenerator`).

- :class:`OfflineResponder`: no model at all. It answers from a few rules, honestly: it says what it is, calls the
  session's tools when the user plainly asks for what one does (the time, arithmetic, a web search), speaks the
  tools' outputs, and tells how to connect a real model.
- :class:`ChatCompletionsResponder`: a real model behind any OpenAI-compatible ``POST {base_url}/chat/completions``
  (Ollama, llama.cpp server, vLLM, OpenAI), streamed as server-sent events (OpenAI API reference, "Chat
  Completions": ``stream: true``, ``choices[].delta.content`` / ``delta.tool_calls``, ``data: [DONE]``).
- :func:`build_reply_generator`: picks one from the settings ``LOCAL_LLM_BASE_URL``, ``LOCAL_LLM_MODEL``,
  ``LOCAL_LLM_API_KEY``.

Both yield their text so that concatenating the :class:`TextPiece` texts gives the reply (the offline responder
yields one sentence per piece, later ones with a leading space), then their :class:`FunctionCall` s.
"""

from __future__ import annotations

import ast
import json
import re
import zoneinfo
from collections.abc import AsyncGenerator, Iterable
from datetime import datetime
from typing import Any

import httpx

from local_engine.stages import FunctionCall, ReplyError, ReplyGenerator, ReplyPart, ReplyRequest, TextPiece

__all__ = [
    "ChatCompletionsResponder",
    "OfflineResponder",
    "build_reply_generator",
    "chat_messages",
    "chat_tool_choice",
    "chat_tools",
]

# ====================================================================================================== helpers


def _item_text(item: dict[str, Any]) -> str:
    """The words of a ``message`` item: ``text`` of text parts and ``transcript`` of audio parts, joined."""
    texts: list[str] = []
    for part in item.get("content") or []:
        if not isinstance(part, dict):
            continue
        value = part.get("text")
        if value is None:
            value = part.get("transcript")
        if isinstance(value, str) and value.strip():
            texts.append(value.strip())
    return " ".join(texts)


def _function_tool_names(tools: Iterable[dict[str, Any]]) -> list[str]:
    return [
        str(t["name"])
        for t in tools
        if isinstance(t, dict) and t.get("type", "function") == "function" and t.get("name")
    ]


def _offered_tools(request: ReplyRequest) -> set[str]:
    """Tool names the reply may call, given ``tools`` and ``tool_choice``."""
    names = set(_function_tool_names(request.tools))
    choice = request.tool_choice
    if choice == "none":
        return set()
    if isinstance(choice, dict):
        named = choice.get("name") or (choice.get("function") or {}).get("name")
        return {named} & names if named else names
    return names


def _clip(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _sentence(text: str) -> str:
    text = text.strip()
    return text if not text or text[-1] in ".!?…" else text + "."


def _split_sentences(text: str) -> list[str]:
    return [s for s in re.split(r"(?<=[.!?])\s+", " ".join(text.split())) if s]


# ====================================================================================================== offline

# Common places people ask the time of, to IANA zones (the tz database, ``zoneinfo``). Longest names match first.
CITY_ZONES: dict[str, str] = {
    "utc": "UTC",
    "gmt": "UTC",
    "london": "Europe/London",
    "uk": "Europe/London",
    "england": "Europe/London",
    "dublin": "Europe/Dublin",
    "ireland": "Europe/Dublin",
    "lisbon": "Europe/Lisbon",
    "portugal": "Europe/Lisbon",
    "paris": "Europe/Paris",
    "france": "Europe/Paris",
    "berlin": "Europe/Berlin",
    "germany": "Europe/Berlin",
    "munich": "Europe/Berlin",
    "madrid": "Europe/Madrid",
    "barcelona": "Europe/Madrid",
    "spain": "Europe/Madrid",
    "rome": "Europe/Rome",
    "milan": "Europe/Rome",
    "italy": "Europe/Rome",
    "amsterdam": "Europe/Amsterdam",
    "brussels": "Europe/Brussels",
    "vienna": "Europe/Vienna",
    "zurich": "Europe/Zurich",
    "geneva": "Europe/Zurich",
    "stockholm": "Europe/Stockholm",
    "oslo": "Europe/Oslo",
    "copenhagen": "Europe/Copenhagen",
    "helsinki": "Europe/Helsinki",
    "warsaw": "Europe/Warsaw",
    "prague": "Europe/Prague",
    "budapest": "Europe/Budapest",
    "athens": "Europe/Athens",
    "istanbul": "Europe/Istanbul",
    "kyiv": "Europe/Kyiv",
    "kiev": "Europe/Kyiv",
    "moscow": "Europe/Moscow",
    "cairo": "Africa/Cairo",
    "lagos": "Africa/Lagos",
    "nairobi": "Africa/Nairobi",
    "johannesburg": "Africa/Johannesburg",
    "cape town": "Africa/Johannesburg",
    "dubai": "Asia/Dubai",
    "tehran": "Asia/Tehran",
    "karachi": "Asia/Karachi",
    "mumbai": "Asia/Kolkata",
    "delhi": "Asia/Kolkata",
    "new delhi": "Asia/Kolkata",
    "bangalore": "Asia/Kolkata",
    "india": "Asia/Kolkata",
    "bangkok": "Asia/Bangkok",
    "jakarta": "Asia/Jakarta",
    "singapore": "Asia/Singapore",
    "hong kong": "Asia/Hong_Kong",
    "beijing": "Asia/Shanghai",
    "shanghai": "Asia/Shanghai",
    "china": "Asia/Shanghai",
    "taipei": "Asia/Taipei",
    "manila": "Asia/Manila",
    "seoul": "Asia/Seoul",
    "korea": "Asia/Seoul",
    "tokyo": "Asia/Tokyo",
    "osaka": "Asia/Tokyo",
    "japan": "Asia/Tokyo",
    "perth": "Australia/Perth",
    "sydney": "Australia/Sydney",
    "melbourne": "Australia/Melbourne",
    "brisbane": "Australia/Brisbane",
    "auckland": "Pacific/Auckland",
    "new zealand": "Pacific/Auckland",
    "honolulu": "Pacific/Honolulu",
    "hawaii": "Pacific/Honolulu",
    "anchorage": "America/Anchorage",
    "los angeles": "America/Los_Angeles",
    "san francisco": "America/Los_Angeles",
    "seattle": "America/Los_Angeles",
    "vancouver": "America/Vancouver",
    "california": "America/Los_Angeles",
    "denver": "America/Denver",
    "phoenix": "America/Phoenix",
    "chicago": "America/Chicago",
    "dallas": "America/Chicago",
    "houston": "America/Chicago",
    "mexico city": "America/Mexico_City",
    "new york": "America/New_York",
    "boston": "America/New_York",
    "washington": "America/New_York",
    "miami": "America/New_York",
    "atlanta": "America/New_York",
    "toronto": "America/Toronto",
    "montreal": "America/Toronto",
    "bogota": "America/Bogota",
    "lima": "America/Lima",
    "santiago": "America/Santiago",
    "buenos aires": "America/Argentina/Buenos_Aires",
    "sao paulo": "America/Sao_Paulo",
    "são paulo": "America/Sao_Paulo",
    "rio de janeiro": "America/Sao_Paulo",
}
_CITY_RE = re.compile(
    r"\b(" + "|".join(re.escape(c) for c in sorted(CITY_ZONES, key=len, reverse=True)) + r")\b", re.IGNORECASE
)
_IANA_RE = re.compile(r"\b([A-Za-z]+/[A-Za-z_]+(?:/[A-Za-z_]+)?)\b")

_TIME_RE = re.compile(
    r"\bwhat(?:'s| is)? the (?:time|date)\b|\bwhat time\b|\b(?:current|local|exact) (?:time|date)\b"
    r"|\btime (?:is it|now|right now)\b|\bwhat day is (?:it|today)\b|\btoday's date\b|\btell me the time\b"
    r"|\bwhat(?:'s| is) today\b",
    re.IGNORECASE,
)
_PLACE_AFTER_IN_RE = re.compile(r"\b(?:in|at|for)\s+([A-Za-z][\w .'-]{1,40}?)\s*[?.!]*$", re.IGNORECASE)

_SEARCH_RES = (
    re.compile(
        r"^(?:ok(?:ay)?,?\s+|hey,?\s+)?(?:please\s+)?(?:can|could|would|will) you\s+(?:please\s+)?"
        r"(?:search|look up|google|find)\s+(?:the web |the internet |online )?(?:for |about )?(?P<q>.+)$",
        re.IGNORECASE,
    ),
    re.compile(
        r"^(?:ok(?:ay)?,?\s+|hey,?\s+)?(?:please\s+)?(?:search (?:the web |the internet |online )?(?:for |about )?"
        r"|look up |google |find (?:me )?(?:information |info |something )?(?:about |on )?)(?P<q>.+)$",
        re.IGNORECASE,
    ),
    re.compile(r"\b(?:search|look) (?:the web|the internet|online) (?:for|about) (?P<q>.+)$", re.IGNORECASE),
)
_WEATHER_RE = re.compile(
    r"\bweather\b(?:\s+(?:like\s+)?(?:today\s+|tomorrow\s+)?(?:in|for|at)\s+(?P<place>[^?.!]+))?", re.I
)
_NEWS_RE = re.compile(r"\b(?:latest |recent )?news (?:about|on|from) (?P<topic>[^?.!]+)", re.IGNORECASE)

_GREETING_RE = re.compile(r"^(?:hi|hello|hey|hiya|howdy|greetings|good (?:morning|afternoon|evening|day))\b", re.I)
_CAPABILITIES_RE = re.compile(
    r"\bwhat (?:can|do) you do\b|\bwho are you\b|\bwhat are you\b|\bhow does this work\b|\bwhat can i (?:ask|say)\b"
    r"|\bare you (?:a|an) (?:ai|robot|bot|language model|model|llm)\b|^help\b",
    re.IGNORECASE,
)
_STORY_RE = re.compile(r"\bstor(?:y|ies)\b|\bfairy ?tale\b|\bsomething long\b|\btalk for a while\b", re.IGNORECASE)
_THANKS_RE = re.compile(r"^(?:ok(?:ay)?,?\s+)?(?:thanks|thank you|cheers)\b", re.IGNORECASE)
# Whisper writes non-speech as "[BLANK_AUDIO]", "(music)", "*coughs*", "♪".
_NON_SPEECH_RE = re.compile(r"\[[^\]]*\]|\([^)]*\)|\*[^*]*\*")

OFFLINE_LABEL = "built-in offline responder"
_CONNECT_HINT = [
    "To talk with a real model, set OPENAI_API_KEY.",
    "Or set LOCAL_LLM_BASE_URL to an OpenAI-compatible server such as Ollama.",
]
_STORY = [
    "Here is a canned story, since I can't make up a new one.",
    "Once, a lighthouse keeper lived alone on a rocky island.",
    "Every night she climbed ninety steps to light the lamp.",
    "One stormy evening, the lamp would not catch.",
    "So she set every candle she owned in the tower window.",
    "Far out at sea, a small fishing boat saw the glow and turned for the harbour.",
    "In the morning, the crew rowed over with a new wick and a basket of bread.",
    "From then on, they kept a spare wick on the island, just in case.",
    "And the light never went out again.",
    "The end.",
]
_TOOL_ABILITIES = {
    "get_current_time": "tell the time",
    "calculate": "do arithmetic",
    "web_search": "search the web",
}
_TOOL_SPOKEN_NAMES = {
    "get_current_time": "The clock",
    "calculate": "The calculator",
    "web_search": "The web search",
}

# ---------------------------------------------------------------------------------------------- arithmetic

_SMALL_NUMBERS = {
    w: i
    for i, w in enumerate(
        [
            "zero",
            "one",
            "two",
            "three",
            "four",
            "five",
            "six",
            "seven",
            "eight",
            "nine",
            "ten",
            "eleven",
            "twelve",
            "thirteen",
            "fourteen",
            "fifteen",
            "sixteen",
            "seventeen",
            "eighteen",
            "nineteen",
        ]
    )
}
_TENS = {
    w: 10 * (i + 2)
    for i, w in enumerate(["twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"])
}
_SCALES = {"hundred": 100, "thousand": 1000, "million": 1_000_000, "billion": 1_000_000_000}
# Spoken operators, longest first; "SQRT" opens sqrt( around the next number.
_OPERATOR_PHRASES: list[tuple[tuple[str, ...], str]] = sorted(
    [
        (("raised", "to", "the", "power", "of"), "**"),
        (("to", "the", "power", "of"), "**"),
        (("to", "the", "power"), "**"),
        (("raised", "to"), "**"),
        (("multiplied", "by"), "*"),
        (("divided", "by"), "/"),
        (("times",), "*"),
        (("x",), "*"),
        (("plus",), "+"),
        (("minus",), "-"),
        (("negative",), "-"),
        (("over",), "/"),
        (("mod",), "%"),
        (("modulo",), "%"),
        (("squared",), "** 2"),
        (("cubed",), "** 3"),
        (("square", "root", "of"), "SQRT"),
        (("the", "square", "root", "of"), "SQRT"),
        (("percent", "of"), "/ 100 *"),
        (("%", "of"), "/ 100 *"),
        (("*",), "*"),
        (("**",), "**"),
        (("^",), "**"),
        (("/",), "/"),
        (("//",), "//"),
        (("+",), "+"),
        (("-",), "-"),
        (("%",), "%"),
        (("(",), "("),
        ((")",), ")"),
    ],
    key=lambda p: -len(p[0]),
)
_OPERATOR_WORDS = frozenset(
    w for phrase, _ in _OPERATOR_PHRASES for w in phrase if w.isalpha() and w not in ("the", "to", "of", "by", "x")
)
_CALC_CUE_RE = re.compile(r"\b(?:what(?:'s| is)|calculate|compute|how much is|solve|evaluate|equals?)\b", re.I)
_CALC_TOKEN_RE = re.compile(r"\d+(?:\.\d+)?|\.\d+|\*\*|//|[-+*/^%()]|[a-z']+")


def _parse_number_words(words: list[str], start: int) -> tuple[int, int] | None:
    """A number spelled in words at ``words[start:]`` ("twenty one", "three hundred"): (value, next index)."""
    total, current, i = 0, 0, start
    while i < len(words):
        w = words[i]
        if w in _SMALL_NUMBERS:
            current += _SMALL_NUMBERS[w]
        elif w in _TENS:
            current += _TENS[w]
        elif w in _SCALES and i > start:
            current = max(current, 1) * _SCALES[w]
            if _SCALES[w] >= 1000:
                total, current = total + current, 0
        elif w == "and" and i > start and i + 1 < len(words) and words[i + 1] in {**_SMALL_NUMBERS, **_TENS}:
            pass
        else:
            break
        i += 1
    return (total + current, i) if i > start else None


def arithmetic_expression(text: str) -> str | None:
    """The arithmetic a person asks for ("what is 12 times 7" → ``"12 * 7"``, "2 to the power of 10" →
    ``"2 ** 10"``, "square root of 16" → ``"sqrt(16)"``), or None when ``text`` does not ask for a calculation."""
    low = text.lower().replace("×", "*").replace("÷", "/").replace("−", "-")
    low = re.sub(r"(?<=\d),(?=\d{3}\b)", "", low)  # 1,000 -> 1000
    tokens = _CALC_TOKEN_RE.findall(low)
    out: list[str] = []
    started = False
    open_sqrt = False
    has_operator = False
    has_operator_word = False
    i = 0
    while i < len(tokens):
        token = tokens[i]
        number: str | None = None
        if token[0].isdigit() or token[0] == ".":
            number, i = token, i + 1
        elif (spelled := _parse_number_words(tokens, i)) is not None:
            number, i = str(spelled[0]), spelled[1]
        if number is not None:
            out.append(number)
            started = True
            if open_sqrt:
                out.append(")")
                open_sqrt = False
            continue
        phrase, symbol = next(((p, s) for p, s in _OPERATOR_PHRASES if tuple(tokens[i : i + len(p)]) == p), ((), ""))
        if symbol and not (symbol == "*" and phrase == ("x",) and not started):
            has_operator = has_operator or symbol not in ("(", ")")
            has_operator_word = has_operator_word or any(w in _OPERATOR_WORDS for w in phrase)
            if symbol == "SQRT":
                out.append("sqrt(")
                open_sqrt = True
            else:
                out.append(symbol)
            started = True
            i += len(phrase)
            continue
        if started and token not in ("the", "and", "please", "equal", "equals", "is"):
            break  # trailing words ("in total", "for me")
        i += 1
    if not (has_operator and out) or open_sqrt:
        return None
    if not (has_operator_word or _CALC_CUE_RE.search(text)):
        return None  # "555-1234" alone is a phone number, not a sum
    expression = re.sub(r"\(\s+", "(", re.sub(r"\s+\)", ")", " ".join(out)))
    try:
        tree = ast.parse(expression, mode="eval")
    except SyntaxError:
        return None
    if not any(isinstance(n, ast.BinOp | ast.Call) for n in ast.walk(tree)):
        return None
    return expression


def _speak_expression(expression: str) -> str:
    spoken = re.sub(r"sqrt\(([^()]*)\)", r"the square root of \1", expression)
    for symbol, words in (("**", "to the power of"), ("^", "to the power of"), ("//", "integer divided by")):
        spoken = spoken.replace(symbol, f" {words} ")
    for symbol, words in (("*", "times"), ("/", "divided by"), ("+", "plus"), ("%", "modulo")):
        spoken = spoken.replace(symbol, f" {words} ")
    spoken = re.sub(r"(?<=[\d)])\s*-\s*", " minus ", spoken)
    return " ".join(spoken.split())


def _speak_number(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        value = int(value)
    if isinstance(value, int) and abs(value) < 10**15:
        return str(value)
    text = f"{round(float(value), 6):.12g}" if abs(value) >= 1e-6 else f"{float(value):.6g}"
    if "e" in text:
        mantissa, exponent = text.split("e")
        return f"about {float(mantissa):g} times 10 to the power of {int(exponent)}"
    return text


# ---------------------------------------------------------------------------------------------- tool outputs


def _speak_time(output: dict[str, Any]) -> list[str]:
    zone = str(output.get("timezone") or "UTC")
    place = zone.rsplit("/", 1)[-1].replace("_", " ") if "/" in zone and not zone.startswith("Etc/") else zone
    try:
        now = datetime.fromisoformat(str(output["iso"]))
        return [f"It is {now:%H:%M} on {now:%A} {now.day} {now:%B} in {place}."]
    except (KeyError, ValueError):
        time = str(output.get("time") or "")[:5]
        return [f"It is {time} on {output.get('date', 'today')} in {place}."] if time else []


def _speak_calculation(output: dict[str, Any]) -> list[str]:
    if "result" not in output:
        return []
    expression = str(output.get("expression") or "").strip()
    result = _speak_number(output["result"])
    if not expression:
        return [f"The result is {result}."]
    spoken = _speak_expression(expression)
    return [f"{spoken[:1].upper()}{spoken[1:]} is {result}."]


def _speak_search(output: dict[str, Any]) -> list[str]:
    query = _clip(str(output.get("query") or ""), 100)
    answer = str(output.get("answer") or "").strip()
    if answer:
        return ["Here is what I found.", *_split_sentences(_clip(answer, 600))]
    titles = [_clip(str(r.get("title")), 120) for r in output.get("results") or [] if isinstance(r, dict)]
    titles = [t for t in titles if t][:3]
    if not titles:
        return [f"The web search for {query} found nothing." if query else "The web search found nothing."]
    intro = f"The top results for {query} are:" if query else "The top results are:"
    return [intro, *(_sentence(t) for t in titles)]


def speak_tool_output(name: str, output: str) -> list[str]:
    """Sentences that say what a tool's output means (``name``: the called function; ``output``: its
    ``function_call_output.output`` string, normally the JSON shapes of ``tools.clock``, ``tools.calculator``,
    ``tools.web_search``, or ``{"error": ...}``)."""
    label = _TOOL_SPOKEN_NAMES.get(name, f"The {name} tool" if name else "The tool")
    try:
        data: Any = json.loads(output)
    except (TypeError, ValueError):
        data = None
    if not isinstance(data, dict):
        text = _clip(str(output), 300)
        return [_sentence(f"{label} returned: {text}") if text else f"{label} returned nothing."]
    if "error" in data:
        return [_sentence(f"{label} failed: {_clip(str(data['error']), 300)}")]
    spoken: list[str] = []
    if name == "get_current_time" or (not name and "iso" in data and "timezone" in data):
        spoken = _speak_time(data)
    elif name == "calculate" or (not name and "expression" in data and "result" in data):
        spoken = _speak_calculation(data)
    elif name == "web_search" or (not name and "results" in data):
        spoken = _speak_search(data)
    if spoken:
        return spoken
    if data.get("truncated"):
        return [f"{label} gave an answer too long to read out."]
    return [_sentence(f"{label} returned: {_clip(json.dumps(data, ensure_ascii=False), 300)}")]


# ---------------------------------------------------------------------------------------------- intents


def _time_zone_for(text: str) -> tuple[str | None, str | None]:
    """(IANA zone, place as said) for a place named in ``text``; (None, unknown place) or (None, None)."""
    iana = _IANA_RE.search(text)
    if iana:
        try:
            return zoneinfo.ZoneInfo(iana.group(1)).key, iana.group(1)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
            pass
    city = _CITY_RE.search(text)
    if city:
        return CITY_ZONES[city.group(1).lower()], city.group(1)
    place = _PLACE_AFTER_IN_RE.search(text)
    if place and place.group(1).lower() not in ("the world", "here", "my time zone", "my timezone", "total"):
        return None, place.group(1).strip()
    return None, None


def _search_query(text: str) -> str | None:
    stripped = text.strip().rstrip("?.! ")
    weather = _WEATHER_RE.search(stripped)
    if weather:
        place = (weather.group("place") or "").strip()
        return f"weather in {place}" if place else "current weather"
    news = _NEWS_RE.search(stripped)
    if news:
        return f"latest news about {news.group('topic').strip()}"
    for pattern in _SEARCH_RES:
        match = pattern.search(stripped)
        if match:
            query = re.sub(r"\s*,?\s*please$", "", match.group("q").strip(), flags=re.IGNORECASE)
            query = re.sub(r"^(?:the web|the internet|online)\s+(?:for|about)\s+", "", query, flags=re.IGNORECASE)
            return _clip(query, 300) or None
    return None


def _tool_intent(text: str) -> tuple[str, dict[str, Any], str] | None:
    """(tool name, arguments, what to say first) when ``text`` plainly asks for what a built-in tool does."""
    expression = arithmetic_expression(text)
    if expression is not None:
        return "calculate", {"expression": expression}, "Let me work that out."
    if _TIME_RE.search(text):
        zone, place = _time_zone_for(text)
        if zone:
            return "get_current_time", {"timezone": zone}, f"Let me check the time in {place}."
        if place:
            return "get_current_time", {}, f"I don't know the time zone of {place}, so let me check the time in UTC."
        return "get_current_time", {}, "Let me check the time."
    query = _search_query(text)
    if query:
        return "web_search", {"query": query}, f"Let me search the web for {query}."
    return None


def _abilities(offered: Iterable[str]) -> str | None:
    things = [_TOOL_ABILITIES[n] for n in _TOOL_ABILITIES if n in set(offered)]
    if not things:
        return None
    listed = things[0] if len(things) == 1 else ", ".join(things[:-1]) + " and " + things[-1]
    return f"I can {listed}."


class OfflineResponder:
    """Replies without a model, from rules; deterministic and honest about what it is.

    - After ``function_call_output`` items (the newest items of the history) it says what each output means.
    - When the newest user message plainly asks for the time (a city maps to an IANA zone via :data:`CITY_ZONES`),
      a calculation or a web search, and that tool is offered (``request.tools``, ``tool_choice`` not ``none``),
      it says one short sentence and yields a :class:`FunctionCall` (``call_id`` empty).
    - Otherwise it quotes what it heard, says it is an offline responder on this machine and not a language
      model, and how to connect one (``OPENAI_API_KEY``, or ``LOCAL_LLM_BASE_URL``); greetings, "what can you
      do", thanks and "tell me a story" (a canned story of ten sentences) get their own answers.

    Text comes one sentence per :class:`TextPiece`, later sentences with a leading space. Never raises.
    """

    @property
    def label(self) -> str:
        return OFFLINE_LABEL

    def reply(self, request: ReplyRequest) -> list[ReplyPart]:
        """The whole reply at once (what :meth:`generate` streams)."""
        sentences, calls = self._plan(request)
        parts: list[ReplyPart] = [TextPiece(s if i == 0 else " " + s) for i, s in enumerate(sentences)]
        parts.extend(calls)
        return parts

    async def generate(self, request: ReplyRequest) -> AsyncGenerator[ReplyPart, None]:
        for part in self.reply(request):
            yield part

    def _plan(self, request: ReplyRequest) -> tuple[list[str], list[FunctionCall]]:
        history = [item for item in request.history if isinstance(item, dict)]
        outputs: list[dict[str, Any]] = []
        for item in reversed(history):
            if item.get("type") != "function_call_output":
                break
            outputs.insert(0, item)
        if outputs:
            names = {
                item.get("call_id"): str(item.get("name") or "")
                for item in history
                if item.get("type") == "function_call"
            }
            sentences: list[str] = []
            for item in outputs:
                sentences.extend(speak_tool_output(names.get(item.get("call_id"), ""), str(item.get("output", ""))))
            return sentences, []

        offered = _offered_tools(request)
        user = next((it for it in reversed(history) if it.get("type") == "message" and it.get("role") == "user"), None)
        if user is None:
            return self._introduce(offered, "Hello!"), []
        text = _item_text(user)
        if not re.search(r"\w", _NON_SPEECH_RE.sub(" ", text)):
            return ["I didn't catch that.", "Could you say it again?"], []

        preface: list[str] = []
        intent = _tool_intent(text)
        if intent is not None:
            name, arguments, say = intent
            if name in offered:
                return [say], [FunctionCall(name=name, arguments=json.dumps(arguments, ensure_ascii=False))]
            preface = [f"I would use the {name} tool for that, but it is not available in this session."]

        if not preface:
            if _GREETING_RE.search(text) and len(text.split()) <= 6:
                return self._introduce(offered, f'Hello! I heard: "{_clip(text, 160)}".'), []
            if _CAPABILITIES_RE.search(text):
                return self._introduce(offered, "Good question."), []
            if _THANKS_RE.search(text):
                return ["You're welcome."], []
            if _STORY_RE.search(text):
                return list(_STORY), []
        return [
            *preface,
            f'I heard: "{_clip(text, 160)}".',
            "I'm the built-in offline responder, running on this machine.",
            "I'm not a language model, so I can't really answer that.",
            *_CONNECT_HINT,
        ], []

    @staticmethod
    def _introduce(offered: set[str], opener: str) -> list[str]:
        sentences = [
            opener,
            "I'm the built-in offline responder, running on this machine, not a language model.",
        ]
        abilities = _abilities(offered)
        if abilities:
            sentences.append(abilities)
        sentences.append("I can also tell you a short story." if abilities else "I can tell you a short story.")
        return sentences + _CONNECT_HINT


# ====================================================================================================== chat API


def chat_tools(tools: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """GA function tools (``{"type": "function", "name", "description", "parameters"}``) as chat completions tools
    (``{"type": "function", "function": {"name", "description", "parameters"}}``); other tool types are dropped."""
    out = []
    for tool in tools:
        if not isinstance(tool, dict) or tool.get("type", "function") != "function" or not tool.get("name"):
            continue
        function: dict[str, Any] = {"name": tool["name"]}
        if tool.get("description"):
            function["description"] = tool["description"]
        function["parameters"] = tool.get("parameters") or {"type": "object", "properties": {}}
        out.append({"type": "function", "function": function})
    return out


def chat_tool_choice(choice: str | dict[str, Any]) -> str | dict[str, Any]:
    """``auto``/``none``/``required`` unchanged; GA ``{"type": "function", "name": X}`` becomes chat completions'
    ``{"type": "function", "function": {"name": X}}``."""
    if isinstance(choice, dict):
        if "function" in choice:
            return choice
        return {"type": "function", "function": {"name": choice.get("name", "")}}
    return choice


def chat_messages(instructions: str, history: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """The conversation as chat completions ``messages``: ``instructions`` as the system message; user, assistant
    and system messages with their text (audio as its transcript; a message without words is left out);
    ``function_call`` items as the assistant's ``tool_calls`` (consecutive calls, and a call right after the
    assistant's text, share one assistant message); ``function_call_output`` as ``{"role": "tool",
    "tool_call_id", "content"}``."""
    messages: list[dict[str, Any]] = []
    if instructions.strip():
        messages.append({"role": "system", "content": instructions})
    for item in history:
        if not isinstance(item, dict):
            continue
        kind = item.get("type", "message")
        if kind == "message":
            role = item.get("role")
            text = _item_text(item)
            if role in ("user", "assistant", "system") and text:
                messages.append({"role": role, "content": text})
        elif kind == "function_call":
            call = {
                "id": str(item.get("call_id") or ""),
                "type": "function",
                "function": {"name": str(item.get("name") or ""), "arguments": str(item.get("arguments") or "{}")},
            }
            last = messages[-1] if messages else None
            if last is not None and last["role"] == "assistant":
                last.setdefault("tool_calls", []).append(call)
            else:
                messages.append({"role": "assistant", "content": None, "tool_calls": [call]})
        elif kind == "function_call_output":
            messages.append(
                {"role": "tool", "tool_call_id": str(item.get("call_id") or ""), "content": str(item.get("output", ""))}
            )
    return messages


_BEARER_RE = re.compile(r"(?i)(bearer\s+)\S{6,}")


class ChatCompletionsResponder:
    """Replies from a model behind an OpenAI-compatible chat completions endpoint, streamed.

    ``base_url``: e.g. ``http://127.0.0.1:11434/v1`` (Ollama); requests go to ``{base_url}/chat/completions``.
    ``model``: the model name the server knows (``llama3.2``). ``api_key``: sent only as ``Authorization: Bearer``.
    ``timeout_s``: seconds to wait to connect and for each piece of the stream (a long reply that keeps coming is
    not cut). Raises ``ValueError`` for a URL that is not http(s) or an empty model.

    :meth:`generate` yields text deltas as :class:`TextPiece` and, when the stream ends, one :class:`FunctionCall`
    per tool call (reassembled from ``delta.tool_calls`` by ``index``). Failures raise :class:`ReplyError` naming the
    endpoint's host and the HTTP status, never the key.
    """

    def __init__(self, base_url: str, model: str, api_key: str | None = None, timeout_s: float = 60.0) -> None:
        url = httpx.URL(base_url.strip())
        if url.scheme not in ("http", "https") or not url.host:
            raise ValueError(
                f"the chat completions base URL must be http(s)://host[:port]/path, got scheme {url.scheme!r}"
            )
        if not model.strip():
            raise ValueError("a model name is required (LOCAL_LLM_MODEL)")
        if timeout_s <= 0:
            raise ValueError("timeout_s must be positive")
        self._url = url.copy_with(path=url.path.rstrip("/") + "/chat/completions")
        self._public_base = str(url.copy_with(username=None, password=None, query=None, fragment=None)).rstrip("/")
        self._host = url.netloc.decode("ascii", "replace")
        self._model = model.strip()
        self._api_key = api_key or None
        self._timeout_s = float(timeout_s)

    @property
    def label(self) -> str:
        return f"{self._model} at {self._public_base}"

    def request_body(self, request: ReplyRequest) -> dict[str, Any]:
        """The JSON body of ``POST /chat/completions`` for ``request``."""
        body: dict[str, Any] = {
            "model": self._model,
            "messages": chat_messages(request.instructions, request.history),
            "stream": True,
        }
        tools = chat_tools(request.tools)
        if tools:
            body["tools"] = tools
            body["tool_choice"] = chat_tool_choice(request.tool_choice)
        return body

    def _scrub(self, text: str) -> str:
        if self._api_key:
            text = text.replace(self._api_key, "[redacted]")
        return _BEARER_RE.sub(r"\1[redacted]", text)

    async def _status_error(self, response: httpx.Response) -> ReplyError:
        detail = ""
        try:
            raw = (await response.aread())[:4000].decode("utf-8", "replace")
            try:
                data = json.loads(raw)
                error = data.get("error", data) if isinstance(data, dict) else data
                detail = str(error.get("message") or error) if isinstance(error, dict) else str(error)
            except ValueError:
                detail = raw
        except httpx.HTTPError:
            pass
        detail = self._scrub(_clip(detail, 300))
        status = f"HTTP {response.status_code} {response.reason_phrase}".rstrip()
        hint = " (check LOCAL_LLM_API_KEY)" if response.status_code in (401, 403) else ""
        if response.status_code == 404:
            hint = f" (check LOCAL_LLM_BASE_URL and that model {self._model!r} exists)"
        return ReplyError(
            f"the chat completions server at {self._host} answered {status}{hint}" + (f": {detail}" if detail else "")
        )

    async def generate(self, request: ReplyRequest) -> AsyncGenerator[ReplyPart, None]:
        body = self.request_body(request)
        headers = {"Accept": "text/event-stream"}
        if self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key}"
        timeout = httpx.Timeout(self._timeout_s, connect=min(self._timeout_s, 10.0))
        calls: dict[int, dict[str, str]] = {}
        where = f"the chat completions server at {self._host}"
        try:
            async with (
                httpx.AsyncClient(timeout=timeout) as client,
                client.stream("POST", self._url, json=body, headers=headers) as response,
            ):
                if not response.is_success:
                    raise await self._status_error(response)
                finished = False
                async for line in response.aiter_lines():
                    line = line.strip()
                    if not line.startswith("data:"):
                        continue  # blank separators, ": keep-alive" comments, "event:" lines
                    data = line[5:].strip()
                    if data == "[DONE]":
                        finished = True
                        break
                    try:
                        chunk = json.loads(data)
                    except ValueError:
                        raise ReplyError(f"{where} sent a malformed stream (not JSON: {_clip(data, 80)!r})") from None
                    if not isinstance(chunk, dict):
                        raise ReplyError(f"{where} sent a malformed stream (a chunk that is not a JSON object)")
                    if chunk.get("error"):
                        error = chunk["error"]
                        message = error.get("message", error) if isinstance(error, dict) else error
                        raise ReplyError(f"{where} reported an error: {self._scrub(_clip(str(message), 300))}")
                    for choice in chunk.get("choices") or []:
                        if not isinstance(choice, dict) or choice.get("index", 0) != 0:
                            continue
                        delta = choice.get("delta") or {}
                        content = delta.get("content")
                        if isinstance(content, str) and content:
                            yield TextPiece(content)
                        for position, tool_call in enumerate(delta.get("tool_calls") or []):
                            _merge_tool_call(calls, position, tool_call)
                        if choice.get("finish_reason"):
                            finished = True
                if not finished:
                    raise ReplyError(f"{where} ended the stream before the reply was complete")
        except httpx.TimeoutException:
            raise ReplyError(f"{where} did not answer within {self._timeout_s:g} s") from None
        except httpx.TransportError as exc:
            raise ReplyError(f"could not reach {where} ({type(exc).__name__}); is it running?") from None
        except httpx.HTTPError as exc:
            raise ReplyError(f"{where} failed ({type(exc).__name__})") from None
        for index in sorted(calls):
            call = calls[index]
            if call["name"]:
                yield FunctionCall(name=call["name"], arguments=call["arguments"] or "{}", call_id=call["id"])


def _merge_tool_call(calls: dict[int, dict[str, str]], position: int, delta: Any) -> None:
    """Add one ``delta.tool_calls[]`` fragment to the calls being assembled (keyed by its ``index``)."""
    if not isinstance(delta, dict):
        return
    index = delta.get("index")
    if not isinstance(index, int):
        index = position
    call = calls.setdefault(index, {"id": "", "name": "", "arguments": ""})
    if delta.get("id"):
        call["id"] = str(delta["id"])
    function = delta.get("function") or {}
    if isinstance(function, dict):
        if function.get("name") and not call["name"]:
            call["name"] = str(function["name"])
        arguments = function.get("arguments")
        if isinstance(arguments, str):
            call["arguments"] += arguments
        elif isinstance(arguments, dict):  # some servers send the object itself
            call["arguments"] += json.dumps(arguments)


# ====================================================================================================== factory


def build_reply_generator(base_url: str | None, model: str | None, api_key: str | None) -> ReplyGenerator:
    """The local engine's reply generator: :class:`ChatCompletionsResponder` when ``base_url``
    (``LOCAL_LLM_BASE_URL``) is set, else :class:`OfflineResponder`. Raises ``ValueError`` when ``base_url`` is set
    without ``model`` (``LOCAL_LLM_MODEL``) or is not an http(s) URL."""
    if not (base_url and base_url.strip()):
        return OfflineResponder()
    if not (model and model.strip()):
        raise ValueError("LOCAL_LLM_BASE_URL is set but LOCAL_LLM_MODEL is not: name the model to use (e.g. llama3.2)")
    return ChatCompletionsResponder(base_url, model, api_key or None)
