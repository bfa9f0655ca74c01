"""Tool outputs: JSON text within a byte budget, and error messages with secrets removed (``realtime.redaction``)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel

from realtime.redaction import redact

__all__ = ["cap_json", "error_output", "to_jsonable"]

ELLIPSIS = "…"


def to_jsonable(value: Any) -> Any:
    """A tool's return value as plain JSON data: pydantic models are dumped, other objects via ``str``."""
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    return json.loads(json.dumps(value, ensure_ascii=False, default=_default))


def _default(obj: Any) -> Any:
    if isinstance(obj, BaseModel):
        return obj.model_dump(mode="json")
    if isinstance(obj, set | frozenset | tuple):
        return list(obj)
    return str(obj)


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _size(text: str) -> int:
    return len(text.encode("utf-8"))


def _shorten_strings(value: Any, limit: int) -> Any:
    if isinstance(value, str):
        return value if len(value) <= limit else value[:limit] + ELLIPSIS
    if isinstance(value, dict):
        return {k: _shorten_strings(v, limit) for k, v in value.items()}
    if isinstance(value, list):
        return [_shorten_strings(v, limit) for v in value]
    return value


def cap_json(value: Any, max_bytes: int) -> str:
    """Serialise ``value`` (plain JSON data) to compact JSON of at most ``max_bytes`` UTF-8 bytes.

    When it is too big, long strings are shortened first (keeping the structure the model can read) and the result
    gets ``"truncated": true``; if that is not enough, the output becomes ``{"truncated": true, "partial": "<the
    start of the JSON text>"}``. Always valid JSON. ``max_bytes`` must be at least 64.
    """
    if max_bytes < 64:
        raise ValueError("max_bytes must be at least 64")
    text = _dumps(value)
    if _size(text) <= max_bytes:
        return text
    limit = max_bytes
    while limit >= 16:
        limit //= 2
        short = _shorten_strings(value, limit)
        marked = {**short, "truncated": True} if isinstance(short, dict) else {"result": short, "truncated": True}
        candidate = _dumps(marked)
        if _size(candidate) <= max_bytes:
            return candidate
    budget = max_bytes - _size(_dumps({"truncated": True, "partial": ""}))
    partial = text[:budget]
    while partial and _size(_dumps({"truncated": True, "partial": partial + ELLIPSIS})) > max_bytes:
        # Escapes and multi-byte characters make the encoded text longer than the slice; cut and retry.
        overflow = _size(_dumps({"truncated": True, "partial": partial + ELLIPSIS})) - max_bytes
        partial = partial[: max(0, len(partial) - max(overflow, 1))]
    return _dumps({"truncated": True, "partial": partial + ELLIPSIS})


def error_output(message: str, max_bytes: int, secrets: Iterable[str] = ()) -> str:
    """``{"error": message}`` as JSON, without secrets (``realtime.redaction.redact``) and within ``max_bytes``."""
    return cap_json({"error": redact(message, secrets)}, max_bytes)
