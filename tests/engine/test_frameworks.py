"""Agent frameworks nobody here wrote, driving the local engine over a loopback websocket with its real models:
openai-agents' ``RealtimeAgent`` (``agents.realtime``) asks one question that needs two function tools defined
here, runs both tools from the engine's parallel calls, and ends with an answer that uses both results.

semantic-kernel 1.45 (its realtime client ``OpenAIRealtimeWebsocket``, tool names ``Plugin-function``) is not
tested here: it cannot be installed beside the project's pins (semantic-kernel 1.45.0 requires
``pydantic>=2.0,<2.14``; the project pins ``pydantic==2.14.4``). Its realtime client sends each tool's output with
its own ``response.create``, so the second one may meet the answer in progress and get
``conversation_already_has_active_response``, as the hosted service answers: tests/engine/test_abuse.py covers
that the session stays usable."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from agents import function_tool
from agents.realtime import RealtimeAgent, RealtimeRunner
from agents.realtime.items import AssistantAudio, AssistantMessageItem, AssistantText
from agents.realtime.model_events import RealtimeModelRawServerEvent

from local_engine.server import LocalRealtimeServer

pytestmark = [pytest.mark.models, pytest.mark.asyncio(loop_scope="session")]

QUESTION = "What's the weather in Paris and what time is it in Tokyo?"


def _response_done(data: Any) -> dict[str, Any] | None:
    """The ``response`` of the wire's ``response.done`` when an agents ``raw_model_event`` carries one."""
    event = data.data if isinstance(data, RealtimeModelRawServerEvent) else None
    response = event.get("response") if isinstance(event, dict) and event.get("type") == "response.done" else None
    return response if isinstance(response, dict) else None


def _uses_both(answer: str) -> bool:
    return "sunny and 21 degrees in Paris" in answer and "21:05 in Tokyo" in answer


def _answer(response: dict[str, Any]) -> str:
    """The spoken transcript of a ``response.done`` whose only output is an assistant message, else ``""``."""
    output = response.get("output") or []
    if [o.get("type") for o in output] != ["message"]:
        return ""
    return " ".join(str(p.get("transcript") or p.get("text") or "") for p in output[0].get("content") or [])


def _said(history: list[Any]) -> list[str]:
    """The words of every assistant message in the agent's history."""
    return [assistant_words(i) for i in history if isinstance(i, AssistantMessageItem)]


def assistant_words(item: Any) -> str:
    """The text or spoken transcript of one assistant message of the session's history."""
    if not isinstance(item, AssistantMessageItem):
        return ""
    words = []
    for part in item.content:
        if isinstance(part, AssistantText) and part.text:
            words.append(part.text)
        elif isinstance(part, AssistantAudio) and part.transcript:
            words.append(part.transcript)
    return " ".join(words)


async def test_openai_agents_realtime_agent_answers_a_question_that_needs_two_tools(
    engine: LocalRealtimeServer,
) -> None:
    ran: list[tuple[str, str]] = []

    @function_tool
    def get_weather(city: str) -> str:
        """Get the current weather in a city.

        Args:
            city: The city, e.g. "Paris".
        """
        ran.append(("get_weather", city))
        return f"It is sunny and 21 degrees in {city}."

    @function_tool
    def get_time(city: str) -> str:
        """Get the current local time in a city.

        Args:
            city: The city, e.g. "Tokyo".
        """
        ran.append(("get_time", city))
        return f"It is 21:05 in {city}."

    agent = RealtimeAgent(name="Assistant", instructions="Answer briefly.", tools=[get_weather, get_time])
    runner = RealtimeRunner(agent, config={"model_settings": {"model_name": "gpt-realtime"}})
    url = f"ws://127.0.0.1:{engine.port}/v1/realtime?model=gpt-realtime"
    session = await runner.run(model_config={"url": url, "api_key": "not-a-real-key"})
    errors: list[Any] = []
    responses: list[dict[str, Any]] = []  # the wire's response.done events, as the engine sent them
    history: list[Any] = []
    async with session:
        await session.send_message(QUESTION)
        async with asyncio.timeout(90):
            async for event in session:
                if event.type == "error":
                    errors.append(event.error)
                elif event.type == "history_updated":
                    history = list(event.history)
                elif event.type == "raw_model_event" and (done := _response_done(event.data)) is not None:
                    responses.append(done)
                if responses and _uses_both(_answer(responses[-1])) and _answer(responses[-1]) in _said(history):
                    break  # an answer with both results has ended and the agent's history holds it
    summary = [(r["status"], [(o["type"], o.get("name") or _answer({"output": [o]})) for o in r["output"]])
               for r in responses]  # fmt: skip
    assert errors == [], (errors, summary)
    assert sorted(ran) == [("get_time", "Tokyo"), ("get_weather", "Paris")], summary
    # Both calls came in the first response (parallel calls), the answer with both results in the last. (When the
    # agent asks for a response after the first output alone, the engine says that result, then both.)
    assert [o.get("name") for o in responses[0]["output"] if o["type"] == "function_call"] == [
        "get_weather",
        "get_time",
    ], summary
    assert _answer(responses[-1]) == "It is sunny and 21 degrees in Paris. It is 21:05 in Tokyo.", summary
