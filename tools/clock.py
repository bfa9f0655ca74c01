"""``get_current_time``: the current date and time in an IANA time zone (:mod:`zoneinfo`, the system tz database)."""

from __future__ import annotations

import functools
import zoneinfo
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import Field

from tools.registry import ToolError, tool

__all__ = ["get_current_time", "resolve_timezone"]


@functools.cache
def _zones_by_lower_name() -> dict[str, str]:
    return {name.lower(): name for name in zoneinfo.available_timezones()}


def resolve_timezone(name: str) -> zoneinfo.ZoneInfo:
    """The zone called ``name`` (exact IANA key, else the same key in any letter case, e.g. "europe/paris").

    Raises :class:`ToolError` for an unknown or malformed name.
    """
    key = name.strip().replace(" ", "_")
    if key:
        try:
            return zoneinfo.ZoneInfo(key)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
            pass
        canonical = _zones_by_lower_name().get(key.lower())
        if canonical is not None:
            return zoneinfo.ZoneInfo(canonical)
    raise ToolError(
        f"unknown time zone {name!r}; use an IANA name such as 'Europe/Paris', 'America/New_York' or 'Asia/Tokyo'"
    )


@tool
async def get_current_time(
    timezone: Annotated[str | None, Field(max_length=64)] = None,
) -> dict[str, Any]:
    """Get the current date and time, optionally in a given time zone.

    Args:
        timezone: IANA time zone name such as "Europe/Paris" or "America/New_York". Omit it for UTC.

    The output's ``spoken`` field says the time for a listener ("It is 14:05 on Tuesday 5 May in Paris.").
    """
    zone = resolve_timezone(timezone) if timezone else zoneinfo.ZoneInfo("UTC")
    now = datetime.now(UTC).astimezone(zone)
    offset = now.strftime("%z")
    place = zone.key.rsplit("/", 1)[-1].replace("_", " ") if "/" in zone.key else zone.key
    return {
        "timezone": zone.key,
        "iso": now.isoformat(timespec="seconds"),
        "date": now.strftime("%A %d %B %Y"),
        "time": now.strftime("%H:%M:%S"),
        "utc_offset": f"{offset[:3]}:{offset[3:]}",
        "abbreviation": now.tzname(),
        "spoken": f"It is {now:%H:%M} on {now:%A} {now.day} {now:%B} in {place}.",
    }
