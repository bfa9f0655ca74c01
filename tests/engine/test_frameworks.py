"""Agent frameworks nobody here wrote, driving the local engine over a loopback websocket with its real models:
openai-agents' ``RealtimeAgent`` (``agents.realtime``) asks one question that needs two function tools defined
here, runs both tools from the engine's parallel calls, and ends with an answer that uses both results.

semantic-kernel 1.45's realtime client is not in this suite: semantic-kernel 1.45.0 requires
``pydantic>=2.0,<2.14`` (and not 2.10.0-2.10.3), and the project pins ``pydantic==2.14.4``; its other requirements
(``openai>=2.0``, ``websockets>=13,<17``, ``numpy>=1.25``) fit the project's pins."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from agents import function_tool
from agents.realtime import RealtimeAgent, RealtimeRunner
from agents.realtime.items import AssistantAudio, AssistantMessageItem, AssistantText

from local_engine.server import LocalRealtimeServer

pytestmark = [pytest.mark.models, pytest.mark.asyncio(loop_scope="session")]

QUESTION = "What's the weather in Paris and what time is it in Tokyo?"


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
                elif event.type == "raw_model_event" and event.data.type == "raw_server_event":
                    if event.data.data.get("type") == "response.done":
                        responses.append(event.data.data["response"])
                elif event.type == "agent_end" and len(responses) >= 2:
                    break  # the response after both tool outputs has ended
    assert errors == []
    assert sorted(ran) == [("get_time", "Tokyo"), ("get_weather", "Paris")]
    # Both calls came in the first response (parallel calls), the answer in the second.
    first, second = responses[0], responses[-1]
    assert [o["name"] for o in first["output"] if o["type"] == "function_call"] == ["get_weather", "get_time"]
    assert [o["type"] for o in second["output"]] == ["message"] and second["status"] == "completed"
    answer = assistant_words(next(i for i in reversed(history) if isinstance(i, AssistantMessageItem)))
    assert "sunny and 21 degrees in Paris" in answer and "21:05 in Tokyo" in answer, answer
