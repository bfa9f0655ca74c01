"""Protocol models and the dialect adapter: lenient parsing, explicit nulls, and GA <-> beta round trips that
the `openai` package's own types accept."""

from __future__ import annotations

import json
from typing import Annotated, Any, Union, get_args

import pytest
from openai.types.beta.realtime import realtime_client_event as beta_client
from openai.types.beta.realtime import realtime_server_event as beta_server
from openai.types.realtime import realtime_client_event as ga_client
from pydantic import Field, TypeAdapter

from realtime import dialect
from realtime.config import SessionOptions
from realtime.protocol import (
    ConversationItem,
    ConversationItemCreate,
    ConversationItemTruncate,
    ProtocolError,
    ResponseCreate,
    ResponseParams,
    ServerEvent,
    SessionUpdate,
    ValidationError,
    parse_client_event,
    parse_server_event,
)


def _union(module_union: Any) -> TypeAdapter[Any]:
    members = get_args(get_args(module_union)[0]) if get_args(module_union) else ()
    return TypeAdapter(Annotated[Union[members], Field(discriminator="type")])  # type: ignore[arg-type]  # noqa: UP007


GA_CLIENT = _union(ga_client.RealtimeClientEvent)
BETA_CLIENT = _union(beta_client.RealtimeClientEvent)
BETA_SERVER = _union(beta_server.RealtimeServerEvent)


def test_unknown_event_and_extra_fields_parse() -> None:
    event = parse_server_event('{"type": "response.brand_new", "whatever": [1, 2], "event_id": null}')
    assert type(event) is ServerEvent
    assert event.type == "response.brand_new"
    delta = parse_server_event(
        {"type": "response.output_audio.delta", "item_id": "i1", "delta": "AAAA", "obfuscation": "xyz", "x": None}
    )
    assert delta.item_id == "i1"  # type: ignore[attr-defined]
    assert delta.model_extra == {"obfuscation": "xyz", "x": None}


@pytest.mark.parametrize("frame", ["not json", "[1, 2]", '{"no_type": 1}', '{"type": 5}', b"\xff\xfe"])
def test_malformed_frames_raise_protocol_error(frame: str | bytes) -> None:
    with pytest.raises(ProtocolError):
        parse_server_event(frame)


def test_known_event_missing_field_is_a_validation_error() -> None:
    with pytest.raises(ValidationError):
        parse_client_event({"type": "conversation.item.truncate", "item_id": "x"})
    with pytest.raises(ValidationError):
        ConversationItemTruncate(item_id="x", audio_end_ms=-1)


def test_push_to_talk_sends_explicit_null_turn_detection() -> None:
    session = SessionOptions(turn_detection="push_to_talk", transcription_model=None).to_session_config()
    wire = SessionUpdate(session=session).to_wire()
    assert wire["session"]["audio"]["input"]["turn_detection"] is None
    assert wire["session"]["audio"]["input"]["transcription"] is None
    assert "id" not in wire["session"] and "max_output_tokens" not in wire["session"]
    GA_CLIENT.validate_python(wire)


@pytest.mark.parametrize("mode", ["server_vad", "semantic_vad", "push_to_talk"])
def test_session_update_validates_in_both_dialects(mode: str) -> None:
    tools = [{"type": "function", "name": "calculate", "description": "x", "parameters": {"type": "object"}}]
    opts = SessionOptions(turn_detection=mode)
    wire = SessionUpdate(session=opts.to_session_config(tools)).to_wire()
    GA_CLIENT.validate_python(wire)
    beta = dialect.client_event_to_beta(wire)
    assert beta["session"]["input_audio_format"] == "pcm16"
    assert beta["session"]["modalities"] == ["text", "audio"]
    assert "audio" not in beta["session"] and "type" not in beta["session"]
    BETA_CLIENT.validate_python(beta)
    # and back: the server side of the local engine reads the beta shape into GA
    assert dialect.client_event_from_beta(beta)["session"] == {**wire["session"], "type": "realtime"}


def test_a_preview_deployment_named_like_a_reasoning_model_gets_no_reasoning_fields() -> None:
    tools = [{"type": "function", "name": "calculate", "description": "x", "parameters": {"type": "object"}}]
    opts = SessionOptions(model="gpt-realtime-2", reasoning_effort="low")
    wire = SessionUpdate(session=opts.to_session_config(tools)).to_wire()
    assert wire["session"]["reasoning"] == {"effort": "low"} and "parallel_tool_calls" in wire["session"]
    beta = dialect.client_event_to_beta(wire)
    assert "reasoning" not in beta["session"] and "parallel_tool_calls" not in beta["session"]
    assert beta["session"]["tools"] == wire["session"]["tools"]
    BETA_CLIENT.validate_python(beta)


def test_assistant_item_content_types_map_between_dialects() -> None:
    item = ConversationItem(type="message", role="assistant", content=[{"type": "output_text", "text": "hi"}])
    wire = ConversationItemCreate(item=item).to_wire()
    GA_CLIENT.validate_python(wire)
    beta = dialect.client_event_to_beta(wire)
    assert beta["item"]["content"][0]["type"] == "text"
    BETA_CLIENT.validate_python(beta)
    assert dialect.client_event_from_beta(beta) == wire
    user = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "yo"}]}
    assert dialect.item_from_beta(user) == user


def test_response_create_maps_modalities_and_token_cap() -> None:
    wire = ResponseCreate(response=ResponseParams(output_modalities=["text"], max_output_tokens=50)).to_wire()
    GA_CLIENT.validate_python(wire)
    beta = dialect.client_event_to_beta(wire)
    assert beta["response"] == {"modalities": ["text"], "max_response_output_tokens": 50}
    BETA_CLIENT.validate_python(beta)


def test_beta_server_events_read_as_ga() -> None:
    beta_delta = {
        "type": "response.audio.delta",
        "event_id": "e",
        "response_id": "r",
        "item_id": "i",
        "output_index": 0,
        "content_index": 0,
        "delta": "AAAA",
    }
    BETA_SERVER.validate_python(beta_delta)
    ga = dialect.server_event_from_beta(beta_delta)
    assert ga["type"] == "response.output_audio.delta"
    assert type(parse_server_event(ga)).__name__ == "ResponseOutputAudioDelta"
    created = {
        "type": "session.created",
        "event_id": "e",
        "session": {
            "id": "s",
            "modalities": ["text", "audio"],
            "voice": "alloy",
            "input_audio_format": "pcm16",
            "output_audio_format": "pcm16",
            "turn_detection": None,
            "expires_at": 123,
        },
    }
    BETA_SERVER.validate_python(created)
    session = dialect.server_event_from_beta(created)["session"]
    assert session["type"] == "realtime" and session["output_modalities"] == ["audio"]
    assert session["audio"]["input"] == {"format": {"type": "audio/pcm", "rate": 24000}, "turn_detection": None}
    assert session["expires_at"] == 123  # unknown fields pass through


def test_ga_only_server_events_are_dropped_for_beta_and_renamed() -> None:
    assert dialect.server_event_to_beta({"type": "conversation.item.done", "item": {}}) is None
    added = {
        "type": "conversation.item.added",
        "event_id": "e",
        "previous_item_id": None,
        "item": {"id": "i", "type": "message", "role": "assistant", "content": [{"type": "output_audio"}]},
    }
    beta = dialect.server_event_to_beta(added)
    assert beta is not None and beta["type"] == "conversation.item.created"
    assert beta["item"]["content"][0]["type"] == "audio"
    BETA_SERVER.validate_python(beta)


def test_beta_format_rejects_other_pcm_rates() -> None:
    with pytest.raises(ValueError, match="16000 Hz"):
        dialect.format_to_beta({"type": "audio/pcm", "rate": 16000})
    assert dialect.format_from_beta("g711_ulaw") == {"type": "audio/pcmu"}


def test_adapter_does_not_mutate_its_input() -> None:
    wire = SessionUpdate(session=SessionOptions().to_session_config()).to_wire()
    before = json.dumps(wire, sort_keys=True)
    dialect.client_event_to_beta(wire)
    assert json.dumps(wire, sort_keys=True) == before
