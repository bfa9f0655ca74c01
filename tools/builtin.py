"""The registry of the app's built-in tools, chosen and configured by the caller's settings (``TOOLS_ENABLED``...)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable

from tools.calculator import calculate
from tools.clock import get_current_time
from tools.registry import DEFAULT_TIMEOUT_S, Tool, ToolRegistry
from tools.web_search import make_web_search

__all__ = ["ALL_TOOLS", "build_registry", "parse_enabled"]

log = logging.getLogger(__name__)

ALL_TOOLS: tuple[str, ...] = ("web_search", "get_current_time", "calculate")


def parse_enabled(value: str | Iterable[str] | None) -> list[str]:
    """Tool names from a comma list or an iterable; None means all of :data:`ALL_TOOLS`; ``""`` or ``"none"`` none.

    ``"all"`` means all. Names are stripped and lower-cased; duplicates dropped, order kept.
    """
    if value is None:
        return list(ALL_TOOLS)
    items = value.split(",") if isinstance(value, str) else list(value)
    names: list[str] = []
    for item in items:
        name = item.strip().lower()
        if name == "all":
            names.extend(ALL_TOOLS)
        elif name and name != "none":
            names.append(name)
    return list(dict.fromkeys(names))


def build_registry(
    enabled: Iterable[str] | None = None,
    *,
    tavily_api_key: str | None = None,
    tavily_base_url: str | None = None,
    timeout_s: float | None = None,
) -> ToolRegistry:
    """The registry of the built-in tools that are enabled and usable.

    The values come from the caller (the app passes ``realtime.config.Settings.tool_options()``, which reads
    ``TOOLS_ENABLED``, ``TAVILY_API_KEY``, ``TAVILY_BASE_URL`` and ``TOOL_TIMEOUT_S``); this package reads no
    environment.

    - ``enabled``: tool names (a comma-separated string works too, e.g. ``Settings.tools_enabled``); None means
      all three; empty or ``none`` means no tools.
    - ``tavily_api_key``: without a key ``web_search`` is not offered and ``registry.disabled["web_search"]`` says
      why.
    - ``tavily_base_url``: None means Tavily's own API (tests point it at loopback).
    - ``timeout_s``: the default timeout of a tool call in seconds; None means 15 s.

    Names not offered are in ``registry.disabled`` with a reason (also unknown names, so a typo in
    ``TOOLS_ENABLED`` shows). Raises ``ValueError`` for a timeout that is not a positive number.
    """
    names = parse_enabled(enabled)
    key = (tavily_api_key or "").strip()
    base_url = (tavily_base_url or "").strip() or None
    timeout_s = DEFAULT_TIMEOUT_S if timeout_s is None else timeout_s

    factories: dict[str, Callable[[], Tool]] = {
        "get_current_time": lambda: get_current_time,
        "calculate": lambda: calculate,
        "web_search": lambda: make_web_search(key or "", base_url=base_url),
    }
    tools: list[Tool] = []
    disabled: dict[str, str] = {}
    for name in ALL_TOOLS:
        if name not in names:
            disabled[name] = "not in TOOLS_ENABLED"
        elif name == "web_search" and not key:
            disabled[name] = "TAVILY_API_KEY is not set"
        else:
            tools.append(factories[name]())
    for name in names:
        if name not in ALL_TOOLS:
            disabled[name] = "unknown tool name in TOOLS_ENABLED"
            log.warning("TOOLS_ENABLED names an unknown tool %r; known: %s", name, ", ".join(ALL_TOOLS))
    registry = ToolRegistry(tools, default_timeout_s=timeout_s, disabled=disabled, secrets=(key,) if key else ())
    log.info(
        "tools offered: %s%s",
        ", ".join(registry.names) or "none",
        "".join(f"; {n} off ({why})" for n, why in disabled.items()),
    )
    return registry
