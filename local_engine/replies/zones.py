"""Where a person asks the time of: city and country names to IANA time zones (the tz database, :mod:`zoneinfo`).

:func:`time_zone_for` looks words up in :data:`CITY_ZONES` (names of one to three words, the longest first) and
accepts an IANA name said as is ("Europe/Paris"); it reads the text once, in linear time.
"""

from __future__ import annotations

import re
import zoneinfo

from local_engine.replies._text import MAX_ANALYSED_CHARS

__all__ = ["CITY_ZONES", "place_after_preposition", "time_zone_for"]

# Common places people ask the time of, to IANA zones.
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
_LONGEST_NAME = max(len(name.split()) for name in CITY_ZONES)
_WORD_RE = re.compile(r"\w+")
_IANA_RE = re.compile(r"\b([A-Za-z]+/[A-Za-z_]+(?:/[A-Za-z_]+)?)\b")
_NOT_PLACES = frozenset({"the world", "here", "there", "my time zone", "my timezone", "total", "words", "it"})


def _city(text: str) -> tuple[str, str] | None:
    """(zone, the name as said) for the first place of :data:`CITY_ZONES` in ``text``."""
    words = [(m.group(0).lower(), m.start(), m.end()) for m in _WORD_RE.finditer(text)]
    for i in range(len(words)):
        for n in range(min(_LONGEST_NAME, len(words) - i), 0, -1):
            name = " ".join(w for w, _, _ in words[i : i + n])
            if name in CITY_ZONES:
                return CITY_ZONES[name], text[words[i][1] : words[i + n - 1][2]]
    return None


def place_after_preposition(text: str) -> str | None:
    """The place at the end of ``text`` after its last "in", "at" or "for" ("weather in Buenos Aires?" ->
    ``"Buenos Aires"``): at most 40 letters, digits, spaces, dots, apostrophes or dashes; else None."""
    tail = " " + " ".join(text.split()).rstrip(" ?.!")
    low = tail.lower()
    cut = max(low.rfind(f" {word} ") for word in ("in", "at", "for"))
    if cut < 0:
        return None
    place = tail[cut:].split(" ", 2)[2].strip()
    if not (2 <= len(place) <= 41) or not place[0].isalpha() or not all(c.isalnum() or c in " .'-_" for c in place):
        return None
    return None if place.lower() in _NOT_PLACES else place


def time_zone_for(text: str) -> tuple[str | None, str | None]:
    """(IANA zone, the place as said) for a place named in ``text``; (None, an unknown place) or (None, None)."""
    text = text[:MAX_ANALYSED_CHARS]
    iana = _IANA_RE.search(text)
    if iana:
        try:
            return zoneinfo.ZoneInfo(iana.group(1)).key, iana.group(1)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
            pass
    city = _city(text)
    if city:
        return city
    return None, place_after_preposition(text)
