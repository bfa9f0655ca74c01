"""Every client event the project can send validates against the `openai` package's own types: GA, and beta
after the dialect adapter. `openai` is a test dependency only."""

from __future__ import annotations

import json
from typing import Annotated, Any, Union, get_args

import pytest
from openai.types.beta.realtime import realtime_client_event as beta_client
from openai.types.realtime import realtime_client_event as ga_client
from pydantic import Field, TypeAdapter

from realtime.config import SessionOptions
from realtime.dialect import client_event_to_beta
from realtime.session import RealtimeSession, ToolOutput


def union(annotated: Any) -> TypeAdapter[Any]:
    members = get_args(get_args(annotated)[0])
    assert len(members) >= 9
    return TypeAdapter(Annotated[Union[members], Field(discriminator="type")])  # type: ignore[arg-type]  # noqa: UP007


GA = union(ga_client.RealtimeClientEvent)
BETA = union(beta_client.RealtimeClientEvent)
TOOLS = [
    {
        "type": "function",
        "name": "calculate",
        "description": "Arithmetic.",
        "parameters": {"type": "object", "properties": {"expression": {"type": "string"}}, "required": ["expression"]},
    },
]


def every_client_event(options: SessionOptions) -> list[dict[str, Any]]:
    """Drive a session through every action and server situation that makes it send something."""
    now = [0.0]
    s = RealtimeSession(options, tools=TOOLS, clock=lambda: now[0])
    s.start()
    s.append_audio(b"\x00\x01" * 2400)
    s.commit()
    s.clear_audio()
    s.send_text("hello")
    s.receive({"type": "response.created", "response": {"id": "r1"}})
    s.receive({"type": "response.output_audio.delta", "item_id": "a1", "delta": "AAAA" * 1000})
    now[0] += 0.05  # 50 ms played before the user barges in
    s.receive({"type": "input_audio_buffer.speech_started", "item_id": "u1", "audio_start_ms": 0})
    s.cancel()
    s.receive(
        {
            "type": "response.done",
            "response": {
                "id": "r1",
                "status": "completed",
                "output": [
                    {
                        "type": "function_call",
                        "call_id": "c1",
                        "name": "calculate",
                        "arguments": '{"expression": "1+1"}',
                    }
                ],
            },
        }
    )
    s.tool_results([ToolOutput("c1", '{"result": 2}')])
    s.update_options(options.model_copy(update={"voice": "verse", "instructions": "Be brief."}))
    s.start(replay=True)
    s.create_response()
    sent = s.data_to_send()
    types = {e["type"] for e in sent}
    assert types >= {
        "session.update",
        "input_audio_buffer.append",
        "input_audio_buffer.commit",
        "input_audio_buffer.clear",
        "conversation.item.create",
        "response.create",
        "conversation.item.truncate",
    }, types
    return sent


@pytest.mark.parametrize("turns", ["server_vad", "semantic_vad", "push_to_talk"])
@pytest.mark.parametrize("transcription", ["whisper-1", None])
def test_client_events_validate_against_openai_ga_and_beta_types(turns: str, transcription: str | None) -> None:
    options = SessionOptions(turn_detection=turns, transcription_model=transcription)
    sent = every_client_event(options)
    if turns == "push_to_talk":
        assert any(e["type"] == "response.cancel" for e in sent)
    for event in sent:
        json.dumps(event)  # plain JSON
        GA.validate_python(event)
        BETA.validate_python(client_event_to_beta(event))
