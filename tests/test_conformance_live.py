"""Every GPT-Live client event the project can send validates against the `openai` package's own ``ClientEvent``
union (``openai.types.live``), one test per event type; the session is driven to produce each one."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Annotated, Any, Union, get_args

import pytest
from openai.types.live import client_event as live_client
from pydantic import Field, TypeAdapter

from realtime.config import SessionOptions
from realtime.events import ToolOutput
from realtime.live_protocol import LIVE_CLIENT_EVENTS
from realtime.live_session import LiveSession

members = get_args(get_args(live_client.ClientEvent)[0])
LIVE: TypeAdapter[Any] = TypeAdapter(Annotated[Union[members], Field(discriminator="type")])  # type: ignore[arg-type]  # noqa: UP007
TOOLS = [
    {
        "type": "function",
        "name": "calculate",
        "description": "Arithmetic.",
        "parameters": {"type": "object", "properties": {"expression": {"type": "string"}}, "required": ["expression"]},
    },
]
HISTORY = [
    {"type": "message", "role": "developer", "content": [{"type": "input_text", "text": "Be brief."}]},
    {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Hi."}]},
    {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Hello!"}]},
    {"type": "message", "role": "assistant", "content": [{"type": "output_audio", "transcript": "Spoken."}]},
]


def started(**kw: Any) -> LiveSession:
    now = [0.0]
    s = LiveSession(SessionOptions(), tools=TOOLS, clock=lambda: now[0], model="gpt-live-1", **kw)
    s.add_items(HISTORY)
    s.connected()
    s.receive_frame(json.dumps({"type": "session.started", "event_id": "e0", "session": {"id": "sess_1"}}))
    return s


def with_calls(s: LiveSession) -> LiveSession:
    call = {"type": "function_call", "call_id": "c1", "name": "calculate", "arguments": "{}"}
    for event in (
        {"type": "response.created"},
        {"type": "response.output_item.done", "item": call},
        {"type": "response.completed", "response": {"output": []}},
    ):
        s.receive_frame(json.dumps({"type": "response.event", "event_id": "e", "delegation_id": "d1", "event": event}))
    s.tool_results([ToolOutput("c1", '{"result": 2}')])
    return s


def session_start() -> list[str]:
    s = LiveSession(SessionOptions(voice="marin"), tools=TOOLS, model="gpt-live-1", hosted_web_search=True)
    s.add_items(HISTORY)
    s.connected()
    return s.frames_to_send()


def input_audio_append() -> list[str]:
    s = started()
    s.frames_to_send()
    s.append_audio(b"\x01\x00" * 2400)
    s.tick(1.0)  # and silence
    return s.frames_to_send()


def response_item_create() -> list[str]:
    s = with_calls(started())
    s.send_text("hello")
    return s.frames_to_send()


def response_create() -> list[str]:
    return response_item_create()


def session_close() -> list[str]:
    return started().close_frames()


CASES: dict[str, Callable[[], list[str]]] = {
    "session.start": session_start,
    "session.input_audio.append": input_audio_append,
    "response.item.create": response_item_create,
    "response.create": response_create,
    "session.close": session_close,
}


def test_every_event_model_we_define_has_a_case() -> None:
    assert set(LIVE_CLIENT_EVENTS) == set(CASES)


@pytest.mark.parametrize("event_type", sorted(CASES))
def test_client_event_validates_against_openai_live_types(event_type: str) -> None:
    frames = [json.loads(f) for f in CASES[event_type]()]
    events = [e for e in frames if e["type"] == event_type]
    assert events, [e["type"] for e in frames]
    for event in frames:
        LIVE.validate_python(event)
    if event_type == "session.start":
        session = events[0]["session"]
        assert [m["role"] for m in session["input"]] == ["developer", "user", "assistant", "assistant"]
        assert [t["type"] for t in session["delegation"]["responses"]["tools"]] == ["function", "web_search"]
    if event_type == "response.item.create":
        assert {e["item"]["type"] for e in events} == {"function_call_output", "message"}
