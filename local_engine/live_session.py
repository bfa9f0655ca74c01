"""The GPT-Live session resource of the local engine: ``session.start`` checked and resolved, ``session.update``
merged, the settings of a live session (no I/O; used by :mod:`local_engine.live_front`).

Field names and limits are those of the ``openai`` package's ``openai/types/live/`` (``session_config.py``,
``session_resource.py``, ``session_update_config.py``, ``initial_item.py``). Every refusal is a
:class:`local_engine.core.ClientError` with the service's codes (``unknown_parameter`` with ``param``
``session.<field>``, ``missing_required_parameter``, ``immutable_field_update`` with ``session.delegation.type``).
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass

from pydantic import ValidationError

from local_engine.core import MAX_ID_CHARS, ClientError, Json
from realtime.protocol import SAMPLE_RATE

__all__ = [
    "MAX_APPEND_TOKENS",
    "MAX_INPUT_MESSAGES",
    "MAX_INSTRUCTIONS_TOKENS",
    "LiveSettings",
    "conversation_item",
    "merge_update",
    "message_text",
    "resolve_delegation",
    "session_resource",
    "tokens",
]

MAX_INSTRUCTIONS_TOKENS = 16_384
"""``session.instructions`` limit (``openai/types/live/session_config.py``), estimated at 4 characters a token."""
MAX_INPUT_MESSAGES = 128
"""``session.input`` limit (``openai/types/live/session_config.py``)."""
MAX_APPEND_TOKENS = 500
"""``content`` limit of ``session.{instructions,thinking,commentary}.append``, estimated at 4 characters a token."""
_SESSION_FIELDS = frozenset(
    {"model", "audio", "client", "delegation", "input", "instructions", "safety_identifier", "store", "triggers"}
)


@dataclass(frozen=True, slots=True)
class LiveSettings:
    """How a live session behaves. ``session_s``: lifetime (``expires_at`` = start + this, then ``session.closed``
    with reason ``expired``). ``silence``: silent ``session.output_audio.delta`` frames while nothing is spoken.
    ``lead_ms``: how far output audio may run ahead of the input clock. ``yield_to_speech``: stop an answer when
    the user starts speaking over it (off: the model talks on, to test a client's own playback control).
    ``start_timeout_s``: a connection that sends no ``session.start`` within this is closed (1008)."""

    session_s: float = 7200.0
    start_timeout_s: float = 30.0
    silence: bool = True
    lead_ms: int = 200
    yield_to_speech: bool = True


def tokens(text: str) -> int:
    """A token estimate of ``text``: 4 characters a token."""
    return math.ceil(len(text) / 4)


def session_resource(event: Json, session_id: str, expires_at: int) -> Json:
    """The ``SessionResource`` a ``session.start`` event asks for, with the defaults resolved (PCM16 24 kHz,
    voice ``marin``, delegation ``{"type": "client"}`` for null, ``store`` false). Raises :class:`ClientError`."""
    for key in event:
        if key not in ("type", "event_id", "session"):
            raise ClientError(f"Unknown parameter: '{key[:80]}'.", "unknown_parameter", key[:80])
    config = event.get("session")
    if not isinstance(config, dict):
        raise ClientError("Missing required parameter: 'session'.", "missing_required_parameter", "session")
    for key in config:
        if key not in _SESSION_FIELDS:
            raise ClientError(f"Unknown parameter: 'session.{key[:80]}'.", "unknown_parameter",
                              f"session.{key[:80]}")  # fmt: skip
    model = config.get("model")
    if not isinstance(model, str) or not model:
        raise ClientError("Missing required parameter: 'session.model'.", "missing_required_parameter",
                          "session.model")  # fmt: skip
    if len(model) > MAX_ID_CHARS:
        raise ClientError("Invalid 'session.model': too long.", "string_above_max_length", "session.model")
    instructions = config.get("instructions")
    if instructions is not None and not isinstance(instructions, str):
        raise ClientError("Invalid 'session.instructions': expected a string.", "invalid_type",
                          "session.instructions")  # fmt: skip
    if instructions and tokens(instructions) > MAX_INSTRUCTIONS_TOKENS:
        raise ClientError(f"Invalid 'session.instructions': more than {MAX_INSTRUCTIONS_TOKENS} tokens.",
                          "string_above_max_length", "session.instructions")  # fmt: skip
    audio = _audio(config.get("audio"))
    delegation = resolve_delegation(config.get("delegation"), "session.delegation")
    history = _initial_items(config.get("input"))
    resource: Json = {
        "id": session_id,
        "expires_at": expires_at,
        "status": "active",
        "model": model,
        "audio": audio,
        "delegation": delegation,
        "instructions": instructions,
        "input": history,
        "store": bool(config.get("store") or False),
    }
    for key in ("client", "safety_identifier", "triggers"):
        if config.get(key) is not None:
            resource[key] = copy.deepcopy(config[key])
    from openai.types.live import SessionConfig  # here: the package takes most of a second to import

    try:  # the rest of the shapes, as the openai package models them (openai/types/live/session_config.py)
        SessionConfig.model_validate(config)
    except ValidationError as exc:
        first = exc.errors()[0]
        param = "session" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in first["loc"])
        raise ClientError(f"Invalid '{param[:200]}': {first['msg'][:200]}", "invalid_value", param[:200]) from None
    return resource


def _audio(value: object) -> Json:
    audio = copy.deepcopy(value) if value is not None else {}
    if not isinstance(audio, dict):
        raise ClientError("Invalid 'session.audio': expected an object.", "invalid_type", "session.audio")
    for key in audio:
        if key not in ("format", "output"):
            raise ClientError(f"Unknown parameter: 'session.audio.{key[:80]}'.", "unknown_parameter",
                              f"session.audio.{key[:80]}")  # fmt: skip
    fmt = audio.get("format") or {"type": "audio/pcm", "rate": SAMPLE_RATE}
    if not isinstance(fmt, dict) or fmt.get("type") != "audio/pcm" or fmt.get("rate", SAMPLE_RATE) != SAMPLE_RATE:
        raise ClientError(f"The local engine serves audio/pcm at {SAMPLE_RATE} Hz only.", "invalid_value",
                          "session.audio.format")  # fmt: skip
    output = audio.get("output") or {}
    if not isinstance(output, dict) or any(key != "voice" for key in output):
        raise ClientError("Invalid 'session.audio.output': only 'voice' is accepted.", "unknown_parameter",
                          "session.audio.output")  # fmt: skip
    voice = output.get("voice") or "marin"
    if not isinstance(voice, (str, dict)):
        raise ClientError("Invalid 'session.audio.output.voice'.", "invalid_type", "session.audio.output.voice")
    return {"format": {"type": "audio/pcm", "rate": SAMPLE_RATE}, "output": {"voice": voice}}


def merge_update(session: Json, update: object) -> Json:
    """``session`` with a ``session.update``'s ``session`` applied: only ``delegation`` of the same type (its
    ``responses`` merged key by key) and ``triggers`` may change. Raises :class:`ClientError`."""
    if not isinstance(update, dict):
        raise ClientError("Missing required parameter: 'session'.", "missing_required_parameter", "session")
    for key in update:
        if key not in ("delegation", "triggers"):
            raise ClientError(f"The session field '{key[:80]}' cannot change after session startup.",
                              "immutable_field_update", f"session.{key[:80]}")  # fmt: skip
    merged = copy.deepcopy(session)
    if "delegation" in update:
        new = update["delegation"]
        current = merged["delegation"]
        if not isinstance(new, dict) or new.get("type") != current.get("type"):
            raise ClientError("The delegation type cannot change after session startup.",
                              "immutable_field_update", "session.delegation.type")  # fmt: skip
        for key, value in new.items():
            if key == "responses" and isinstance(value, dict):
                merged["delegation"]["responses"].update(copy.deepcopy(value))
            elif key != "responses":
                merged["delegation"][key] = copy.deepcopy(value)
        resolve_delegation(merged["delegation"], "session.delegation")
    if "triggers" in update:
        if update["triggers"] is not None and not isinstance(update["triggers"], list):
            raise ClientError("Invalid 'session.triggers': expected an array.", "invalid_type",
                              "session.triggers")  # fmt: skip
        merged["triggers"] = copy.deepcopy(update["triggers"])
    return merged


def resolve_delegation(value: object, param: str) -> Json:
    """The resolved delegation (null: client), checked."""
    if value is None:
        return {"type": "client"}
    if not isinstance(value, dict):
        raise ClientError(f"Invalid '{param}': expected an object.", "invalid_type", param)
    kind = value.get("type")
    allowed = {"client": {"type", "acknowledgement_delay_ms"},
               "responses": {"type", "acknowledgement_delay_ms", "responses"}}.get(str(kind))  # fmt: skip
    if allowed is None:
        raise ClientError(f"The local engine serves client and responses delegation, not '{str(kind)[:40]}'.",
                          "invalid_value", f"{param}.type")  # fmt: skip
    for key in value:
        if key not in allowed:
            raise ClientError(f"Unknown parameter: '{param}.{key[:80]}'.", "unknown_parameter", f"{param}.{key[:80]}")
    resolved = copy.deepcopy(value)
    if kind == "responses":
        responses = resolved.get("responses")
        if not isinstance(responses, dict) or not isinstance(responses.get("model"), str):
            raise ClientError(f"Missing required parameter: '{param}.responses.model'.",
                              "missing_required_parameter", f"{param}.responses.model")  # fmt: skip
        tools = responses.get("tools") or []
        if not isinstance(tools, list) or len(tools) > 128:
            raise ClientError(f"Invalid '{param}.responses.tools': expected at most 128 tools.", "invalid_value",
                              f"{param}.responses.tools")  # fmt: skip
    return resolved


def message_text(content: object, param: str) -> str:
    if isinstance(content, str):
        return content
    if not isinstance(content, list) or len(content) != 1 or not isinstance(content[0], dict):
        raise ClientError(f"Invalid '{param}': expected one text part.", "invalid_value", param)
    text = content[0].get("text")
    if not isinstance(text, str):
        raise ClientError(f"Invalid '{param}[0].text': expected a string.", "invalid_type", f"{param}[0].text")
    return text


def _initial_items(value: object) -> list[Json]:
    """``session.input`` checked: at most 128 text messages, roles developer/user/assistant, one part each."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise ClientError("Invalid 'session.input': expected an array.", "invalid_type", "session.input")
    if len(value) > MAX_INPUT_MESSAGES:
        raise ClientError(f"Invalid 'session.input': at most {MAX_INPUT_MESSAGES} messages.",
                          "array_above_max_length", "session.input")  # fmt: skip
    items = []
    for index, item in enumerate(value):
        param = f"session.input[{index}]"
        if not isinstance(item, dict) or item.get("type", "message") != "message":
            raise ClientError(f"Invalid '{param}': expected a message.", "invalid_value", param)
        if item.get("role") not in ("developer", "user", "assistant"):
            raise ClientError(f"Invalid '{param}.role': developer, user or assistant.", "invalid_value",
                              f"{param}.role")  # fmt: skip
        message_text(item.get("content"), f"{param}.content")
        items.append(copy.deepcopy(item))
    return items


def conversation_item(item: Json, item_id: str) -> Json:
    """A ``session.input`` message as the reply generator's conversation item (developer: a system message)."""
    text = message_text(item.get("content"), "session.input")
    role = {"developer": "system"}.get(item["role"], item["role"])
    part = "output_text" if role == "assistant" else "input_text"
    return {"id": item.get("id") or item_id, "type": "message", "role": role,
            "content": [{"type": part, "text": text}]}  # fmt: skip
