"""The beta/preview dialect, mapped to and from the GA shape at the edge of the connection.

Everything inside the project speaks GA. A client talking to an Azure ``*-preview`` deployment maps what it sends
with :func:`client_event_to_beta` and what it receives with :func:`server_event_from_beta`; the local engine,
serving a preview client, does the reverse with :func:`client_event_from_beta` and :func:`server_event_to_beta`.

Sources: the OpenAI Realtime API reference and its GA migration notes ("Realtime API beta to GA"); the
``openai`` package's ``openai.types.realtime`` (GA) against ``openai.types.beta.realtime`` (beta).
The functions take and return plain JSON dicts, never mutate their argument, and pass unknown fields through.
"""

from __future__ import annotations

import copy
from typing import Any

from realtime.protocol import SAMPLE_RATE

__all__ = [
    "client_event_from_beta",
    "client_event_to_beta",
    "format_from_beta",
    "format_to_beta",
    "item_from_beta",
    "item_to_beta",
    "server_event_from_beta",
    "server_event_to_beta",
    "session_from_beta",
    "session_to_beta",
]

Json = dict[str, Any]

_SERVER_GA_TO_BETA = {
    "response.output_audio.delta": "response.audio.delta",
    "response.output_audio.done": "response.audio.done",
    "response.output_audio_transcript.delta": "response.audio_transcript.delta",
    "response.output_audio_transcript.done": "response.audio_transcript.done",
    "response.output_text.delta": "response.text.delta",
    "response.output_text.done": "response.text.done",
    "conversation.item.added": "conversation.item.created",
}
_SERVER_BETA_TO_GA = {beta: ga for ga, beta in _SERVER_GA_TO_BETA.items()}
_GA_ONLY_SERVER_EVENTS = frozenset({"conversation.item.done"})

_FORMAT_TO_BETA = {"audio/pcm": "pcm16", "audio/pcmu": "g711_ulaw", "audio/pcma": "g711_alaw"}
_FORMAT_FROM_BETA = {beta: ga for ga, beta in _FORMAT_TO_BETA.items()}
_CONTENT_TO_BETA = {"output_text": "text", "output_audio": "audio"}
_CONTENT_FROM_BETA = {beta: ga for ga, beta in _CONTENT_TO_BETA.items()}


# ---------------------------------------------------------------------------------------------------- formats


def format_to_beta(fmt: Json | str | None) -> str | None:
    """``{"type": "audio/pcm", "rate": 24000}`` -> ``"pcm16"`` (``audio/pcmu`` -> ``g711_ulaw``,
    ``audio/pcma`` -> ``g711_alaw``). Raises ValueError for a PCM rate other than 24000 Hz, which beta lacks."""
    if fmt is None or isinstance(fmt, str):
        return fmt
    kind = fmt.get("type", "audio/pcm")
    if kind == "audio/pcm" and fmt.get("rate") not in (None, SAMPLE_RATE):
        raise ValueError(f"the beta dialect only carries {SAMPLE_RATE} Hz PCM, not {fmt.get('rate')} Hz")
    return _FORMAT_TO_BETA.get(kind, kind)


def format_from_beta(fmt: str | Json | None) -> Json | None:
    """``"pcm16"`` -> ``{"type": "audio/pcm", "rate": 24000}``; G.711 formats carry no rate."""
    if fmt is None or isinstance(fmt, dict):
        return fmt
    kind = _FORMAT_FROM_BETA.get(fmt, fmt)
    return {"type": kind, "rate": SAMPLE_RATE} if kind == "audio/pcm" else {"type": kind}


# ---------------------------------------------------------------------------------------------------- session


_GA_ONLY_SESSION_FIELDS = frozenset(
    ["type", "audio", "output_modalities", "max_output_tokens", "reasoning", "parallel_tool_calls"]
)


def session_to_beta(session: Json) -> Json:
    """GA session object -> flat beta session object (``modalities``, ``voice``, ``input_audio_format``...).
    ``reasoning`` and ``parallel_tool_calls`` are dropped: the preview api-versions' session has neither (GA
    reasoning models only; ``realtime.model_lifecycle.accepts_reasoning`` decides by the model's name, and an Azure
    preview deployment may be named like one)."""
    out = {k: v for k, v in session.items() if k not in _GA_ONLY_SESSION_FIELDS}
    if "output_modalities" in session:
        modalities = session["output_modalities"] or ["audio"]
        out["modalities"] = ["text", "audio"] if "audio" in modalities else ["text"]
    if "max_output_tokens" in session:
        out["max_response_output_tokens"] = session["max_output_tokens"]
    audio = session.get("audio") or {}
    inp, outp = audio.get("input") or {}, audio.get("output") or {}
    if "format" in inp:
        out["input_audio_format"] = format_to_beta(inp["format"])
    if "transcription" in inp:
        out["input_audio_transcription"] = inp["transcription"]
    if "turn_detection" in inp:
        out["turn_detection"] = inp["turn_detection"]
    if "noise_reduction" in inp:
        out["input_audio_noise_reduction"] = inp["noise_reduction"]
    if "format" in outp:
        out["output_audio_format"] = format_to_beta(outp["format"])
    for key in ("voice", "speed"):
        if key in outp:
            out[key] = outp[key]
    return copy.deepcopy(out)


def session_from_beta(session: Json) -> Json:
    """Flat beta session object -> GA session object (``type: "realtime"``, nested ``audio``)."""
    moved = {
        "modalities",
        "max_response_output_tokens",
        "input_audio_format",
        "input_audio_transcription",
        "turn_detection",
        "input_audio_noise_reduction",
        "output_audio_format",
        "voice",
        "speed",
    }
    out: Json = {"type": "realtime"}
    out.update({k: v for k, v in session.items() if k not in moved})
    if "modalities" in session:
        out["output_modalities"] = ["audio"] if "audio" in (session["modalities"] or []) else ["text"]
    if "max_response_output_tokens" in session:
        out["max_output_tokens"] = session["max_response_output_tokens"]
    inp: Json = {}
    outp: Json = {}
    if "input_audio_format" in session:
        inp["format"] = format_from_beta(session["input_audio_format"])
    if "input_audio_transcription" in session:
        inp["transcription"] = session["input_audio_transcription"]
    if "turn_detection" in session:
        inp["turn_detection"] = session["turn_detection"]
    if "input_audio_noise_reduction" in session:
        inp["noise_reduction"] = session["input_audio_noise_reduction"]
    if "output_audio_format" in session:
        outp["format"] = format_from_beta(session["output_audio_format"])
    for key in ("voice", "speed"):
        if key in session:
            outp[key] = session[key]
    if inp or outp:
        out["audio"] = {**({"input": inp} if inp else {}), **({"output": outp} if outp else {})}
    return copy.deepcopy(out)


# ---------------------------------------------------------------------------------------------------- items


def _map_content(item: Json, table: dict[str, str]) -> Json:
    out = dict(item)
    if isinstance(item.get("content"), list):
        out["content"] = [
            {**part, "type": table.get(str(part.get("type")), part.get("type"))} if isinstance(part, dict) else part
            for part in item["content"]
        ]
    return out


def item_to_beta(item: Json) -> Json:
    """GA item -> beta item: assistant content ``output_text``/``output_audio`` become ``text``/``audio``."""
    return _map_content(item, _CONTENT_TO_BETA)


def item_from_beta(item: Json) -> Json:
    """Beta item -> GA item: assistant content ``text``/``audio`` become ``output_text``/``output_audio``."""
    if item.get("role") not in ("assistant", None):
        return dict(item)
    return _map_content(item, _CONTENT_FROM_BETA)


def _response_to_beta(response: Json) -> Json:
    out = {k: v for k, v in response.items() if k not in ("output_modalities", "audio")}  # max_output_tokens: same
    if "output_modalities" in response:
        out["modalities"] = ["text", "audio"] if "audio" in (response["output_modalities"] or []) else ["text"]
    output = (response.get("audio") or {}).get("output") or {}
    if "voice" in output:
        out["voice"] = output["voice"]
    if "format" in output:
        out["output_audio_format"] = format_to_beta(output["format"])
    if isinstance(response.get("output"), list):
        out["output"] = [item_to_beta(i) for i in response["output"]]
    if isinstance(response.get("input"), list):
        out["input"] = [item_to_beta(i) for i in response["input"]]
    return out


def _response_from_beta(response: Json) -> Json:
    out = {k: v for k, v in response.items() if k not in ("modalities", "voice", "output_audio_format")}
    if "modalities" in response:
        out["output_modalities"] = ["audio"] if "audio" in (response["modalities"] or []) else ["text"]
    output: Json = {}
    if "voice" in response:
        output["voice"] = response["voice"]
    if "output_audio_format" in response:
        output["format"] = format_from_beta(response["output_audio_format"])
    if output:
        out["audio"] = {"output": output}
    if "max_response_output_tokens" in response:
        out["max_output_tokens"] = out.pop("max_response_output_tokens")
    if isinstance(response.get("output"), list):
        out["output"] = [item_from_beta(i) for i in response["output"]]
    if isinstance(response.get("input"), list):
        out["input"] = [item_from_beta(i) for i in response["input"]]
    return out


# ---------------------------------------------------------------------------------------------------- events


def client_event_to_beta(event: Json) -> Json:
    """A GA client event as a beta/preview server expects it. Event names are the same in both dialects."""
    out = dict(event)
    kind = event.get("type")
    if kind == "session.update" and isinstance(event.get("session"), dict):
        out["session"] = session_to_beta(event["session"])
    elif kind == "conversation.item.create" and isinstance(event.get("item"), dict):
        out["item"] = item_to_beta(event["item"])
    elif kind == "response.create" and isinstance(event.get("response"), dict):
        response = _response_to_beta(event["response"])
        if "max_output_tokens" in response:
            response["max_response_output_tokens"] = response.pop("max_output_tokens")
        out["response"] = response
    return out


def client_event_from_beta(event: Json) -> Json:
    """A beta/preview client event in the GA shape (for a server that speaks both)."""
    out = dict(event)
    kind = event.get("type")
    if kind == "session.update" and isinstance(event.get("session"), dict):
        out["session"] = session_from_beta(event["session"])
    elif kind == "conversation.item.create" and isinstance(event.get("item"), dict):
        out["item"] = item_from_beta(event["item"])
    elif kind == "response.create" and isinstance(event.get("response"), dict):
        out["response"] = _response_from_beta(event["response"])
    return out


def server_event_to_beta(event: Json) -> Json | None:
    """A GA server event as a beta/preview client expects it, or ``None`` for GA-only events
    (``conversation.item.done``) that the beta dialect does not have."""
    kind = event.get("type", "")
    if kind in _GA_ONLY_SERVER_EVENTS:
        return None
    out = dict(event)
    out["type"] = _SERVER_GA_TO_BETA.get(kind, kind)
    if isinstance(event.get("session"), dict):
        out["session"] = session_to_beta(event["session"])
    if isinstance(event.get("item"), dict):
        out["item"] = item_to_beta(event["item"])
    if isinstance(event.get("response"), dict):
        out["response"] = _response_to_beta(event["response"])
    return out


def server_event_from_beta(event: Json) -> Json:
    """A beta/preview server event in the GA shape: renamed deltas, nested session, GA content types."""
    kind = event.get("type", "")
    out = dict(event)
    out["type"] = _SERVER_BETA_TO_GA.get(kind, kind)
    if isinstance(event.get("session"), dict):
        out["session"] = session_from_beta(event["session"])
    if isinstance(event.get("item"), dict):
        out["item"] = item_from_beta(event["item"])
    if isinstance(event.get("response"), dict):
        out["response"] = _response_from_beta(event["response"])
    return out
