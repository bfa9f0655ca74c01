"""The local engine's reply generators: the offline responder's rules and the chat completions client (against a
loopback fake server)."""

from __future__ import annotations

import asyncio
import json
import random
import re
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio

from local_engine.replies import (
    ChatCompletionsResponder,
    OfflineResponder,
    TooLongToCalculate,
    arithmetic_expression,
    build_reply_generator,
)
from local_engine.stages import FunctionCall, ReplyError, ReplyPart, ReplyRequest, TextPiece
from realtime.config import Settings
from tests.chat_completions_fake import FakeChatCompletions, Mode
from tools import build_registry
from tools.web_search import compact_results

API_KEY = "test-key-local-0123456789abcdef"

TOOLS: list[dict[str, Any]] = [
    {
        "type": "function",
        "name": "get_current_time",
        "description": "Get the current date and time.",
        "parameters": {"type": "object", "properties": {"timezone": {"type": "string"}}},
    },
    {
        "type": "function",
        "name": "calculate",
        "description": "Evaluate an arithmetic expression.",
        "parameters": {"type": "object", "properties": {"expression": {"type": "string"}}, "required": ["expression"]},
    },
    {
        "type": "function",
        "name": "web_search",
        "description": "Search the web.",
        "parameters": {"type": "object", "properties": {"query": {"type": "string"}}, "required": ["query"]},
    },
]


def user(text: str, *, audio: bool = False) -> dict[str, Any]:
    part = {"type": "input_audio", "transcript": text} if audio else {"type": "input_text", "text": text}
    return {"type": "message", "role": "user", "content": [part]}


def assistant(text: str) -> dict[str, Any]:
    return {"type": "message", "role": "assistant", "content": [{"type": "output_audio", "transcript": text}]}


def call(name: str, arguments: dict[str, Any], call_id: str) -> dict[str, Any]:
    return {"type": "function_call", "name": name, "arguments": json.dumps(arguments), "call_id": call_id}


def output(call_id: str, value: dict[str, Any]) -> dict[str, Any]:
    return {"type": "function_call_output", "call_id": call_id, "output": json.dumps(value)}


async def collect(parts: AsyncIterator[ReplyPart]) -> tuple[str, list[FunctionCall]]:
    text, calls = "", []
    async for part in parts:
        if isinstance(part, TextPiece):
            text += part.text
        else:
            calls.append(part)
    return text, calls


async def offline(*history: dict[str, Any], tools: list[dict[str, Any]] = TOOLS, choice: Any = "auto") -> Any:
    return await collect(
        OfflineResponder().generate(ReplyRequest(history=list(history), tools=tools, tool_choice=choice))
    )


# ------------------------------------------------------------------------------------------------ offline


@pytest.mark.parametrize(
    ("said", "zone"),
    [
        ("What time is it in Tokyo?", "Asia/Tokyo"),
        ("what's the time in new york", "America/New_York"),
        ("current time in Paris", "Europe/Paris"),
        ("What time is it?", None),
    ],
)
async def test_offline_asks_the_clock(said: str, zone: str | None) -> None:
    text, calls = await offline(user(said, audio=True))
    assert [c.name for c in calls] == ["get_current_time"]
    assert json.loads(calls[0].arguments) == ({"timezone": zone} if zone else {})
    assert text.startswith("Let me check the time")


@pytest.mark.parametrize(
    ("said", "expression"),
    [
        ("What is 12 times 7?", "12 * 7"),
        ("calculate 3 plus 4", "3 + 4"),
        ("what's 2 to the power of 10", "2 ** 10"),
        ("What is twelve divided by four?", "12 / 4"),
        ("what is the square root of 16", "sqrt(16)"),
    ],
)
async def test_offline_asks_the_calculator(said: str, expression: str) -> None:
    _, calls = await offline(user(said))
    assert calls == [FunctionCall(name="calculate", arguments=json.dumps({"expression": expression}))]


@pytest.mark.parametrize(
    ("said", "query"),
    [
        ("Search the web for the tallest building in Europe", "the tallest building in Europe"),
        ("look up python 3.13 release notes", "python 3.13 release notes"),
        ("What's the weather in Berlin?", "weather in Berlin"),
    ],
)
async def test_offline_asks_the_web_search(said: str, query: str) -> None:
    text, calls = await offline(user(said))
    assert [(c.name, json.loads(c.arguments)) for c in calls] == [("web_search", {"query": query})]
    assert query in text


async def test_offline_calls_only_offered_tools() -> None:
    only_clock = [TOOLS[0]]
    text, calls = await offline(user("search the web for cats"), tools=only_clock)
    assert calls == []
    assert "need a tool to search the web" in text and "none is offered" in text
    assert (await offline(user("what time is it"), choice="none"))[1] == []
    named = {"type": "function", "name": "calculate"}
    assert (await offline(user("what time is it"), choice=named))[1] == []
    assert (await offline(user("what is 2 plus 2"), choice=named))[1][0].name == "calculate"
    # Numbers alone are not arithmetic.
    assert (await offline(user("call me at 555-1234")))[1] == []


async def test_offline_speaks_each_tools_spoken_field() -> None:
    """The tools say how their output is spoken (a ``spoken`` field); the responder names no tool and no shape."""
    registry = build_registry(["get_current_time", "calculate"])
    clock = await registry.call("get_current_time", '{"timezone": "Europe/Paris"}')
    calculation = await registry.call("calculate", '{"expression": "12 * 7"}')
    search = compact_results({"query": "capital of france", "answer": "Paris is the capital of France."}, 3)
    text, calls = await offline(
        user("what time is it in Paris, what is 12 times 7, and what is the capital of France?"),
        call("get_current_time", {"timezone": "Europe/Paris"}, "c1"),
        call("calculate", {"expression": "12 * 7"}, "c2"),
        call("web_search", {"query": "capital of france"}, "c3"),
        {"type": "function_call_output", "call_id": "c1", "output": clock},
        {"type": "function_call_output", "call_id": "c2", "output": calculation},
        output("c3", search),
    )
    assert calls == []
    assert json.loads(clock)["spoken"] in text and re.search(r"It is \d\d:\d\d on \w+ \d+ \w+ in Paris\.", text)
    assert "12 times 7 is 84." in text
    assert "Paris is the capital of France." in text
    assert text.index("It is") < text.index("12 times 7") < text.index("capital of France")


async def test_offline_speaks_any_output_generically_and_errors() -> None:
    hits = {"query": "cats", "results": [{"title": "All about cats", "url": "https://a", "snippet": "..."}]}
    text, _ = await offline(user("search for cats"), call("web_search", {"query": "cats"}, "s"), output("s", hits))
    assert text.startswith("The web search tool returned:") and "All about cats" in text
    error = {"error": "Tavily rejected the API key (HTTP 401)"}
    text, calls = await offline(user("search for cats"), call("web_search", {"query": "cats"}, "s"), output("s", error))
    assert calls == []
    assert "The web search tool failed" in text and "Tavily rejected the API key (HTTP 401)" in text
    # A tool that answers in words is read as is; a namespaced name is said by its last segment.
    said = {"type": "function_call_output", "call_id": "w", "output": "Sunny and 21 degrees in Paris"}
    text, _ = await offline(user("weather in Paris?"), call("tools-get_weather", {}, "w"), said)
    assert text == "Sunny and 21 degrees in Paris."
    # Big or deep outputs stay short and cannot break the responder.
    big = {"rows": [{"n": i, "text": "x" * 500} for i in range(100)], **{f"k{i}": i for i in range(100)}}
    text, _ = await offline(user("go"), call("MyPlugin-dumpRows", {}, "h"), output("h", big))
    assert text.startswith("The dump rows tool returned: rows (n 0, text xxx") and len(text) <= 300
    for unreadable in ("[" * 100_000 + "]" * 100_000, "[" * 30_000 + "]" * 30_000, '{"broken": '):
        started = time.perf_counter()
        text, _ = await offline(user("go"), call("deep", {}, "d"), {**output("d", {}), "output": unreadable})
        assert time.perf_counter() - started < 0.5 and text == "The deep tool gave an answer I can't read out."


async def test_one_turn_with_two_requests_makes_two_calls_in_one_response() -> None:
    text, calls = await offline(user("What time is it in Tokyo and what is 12 times 7?", audio=True))
    assert [(c.name, json.loads(c.arguments)) for c in calls] == [
        ("get_current_time", {"timezone": "Asia/Tokyo"}),
        ("calculate", {"expression": "12 * 7"}),
    ]
    assert text == "Let me check the time in Tokyo. Let me work that out."
    _, calls = await offline(user("Search the web for cats. Also, what's the time in Paris?"))
    assert [c.name for c in calls] == ["web_search", "get_current_time"]
    _, calls = await offline(user("What is the weather in Berlin and what time is it there?"))
    assert [(c.name, json.loads(c.arguments)) for c in calls] == [
        ("web_search", {"query": "weather in Berlin"}),  # no weather tool offered: a web search
        ("get_current_time", {"timezone": "Europe/Berlin"}),
    ]
    _, calls = await offline(user("what is 2 plus 2 and what is 2 plus 2"))
    assert len(calls) == 1  # the same call once


def tool(name: str, description: str, **properties: str) -> dict[str, Any]:
    props = {key: {"type": "string", "description": value} for key, value in properties.items()}
    return {"type": "function", "name": name, "description": description,
            "parameters": {"type": "object", "properties": props, "required": list(props)}}  # fmt: skip


@pytest.mark.parametrize(
    ("tools", "expected"),
    [
        ([tool("tools-get_current_time", "Now.", timezone="IANA zone")], ("tools-get_current_time", "Asia/Tokyo")),
        ([tool("clock_get_time", "What time it is.", tz="zone")], ("clock_get_time", "Asia/Tokyo")),
        ([tool("ClockPlugin-get_time", "Time in a city.", city="a city")], ("ClockPlugin-get_time", "Tokyo")),
        ([tool("now_in", "The current time in a time zone.", where="place")], ("now_in", "Tokyo")),
        ([tool("weather", "Weather and time zones.", city="city"), tool("what_hour", "Local clock time.", a="a")],
         ("what_hour", "Asia/Tokyo")),  # a tool named for the weather is not taken for the time on its description
    ],
)  # fmt: skip
async def test_tools_are_matched_by_name_segment_and_description(
    tools: list[dict[str, Any]], expected: tuple[str, str]
) -> None:
    _, calls = await offline(user("what time is it in Tokyo?"), tools=tools)
    assert [(c.name, next(iter(json.loads(c.arguments).values()))) for c in calls] == [expected]


async def test_semantic_kernel_style_names_with_a_weather_tool() -> None:
    tools = [
        tool("WeatherPlugin-get_weather", "Gets the weather for a city.", city="The city"),
        tool("TimePlugin-get_time", "Gets the current time in a city.", city="The city"),
        tool("MathPlugin-Add", "Adds two numbers.", a="first", b="second"),
    ]
    text, calls = await offline(user("What's the weather in Paris and what time is it in Tokyo?"), tools=tools)
    assert [(c.name, json.loads(c.arguments)) for c in calls] == [
        ("WeatherPlugin-get_weather", {"city": "Paris"}),
        ("TimePlugin-get_time", {"city": "Tokyo"}),
    ]
    assert text == "Let me check the weather in Paris. Let me check the time in Tokyo."


async def test_the_answer_after_the_outputs_uses_every_output_of_the_turn() -> None:
    # A client that sends each output with its own response.create: the last answer still uses both.
    text, _ = await offline(
        user("weather in Paris and the time in Tokyo"),
        assistant("Let me check."),
        call("get_weather", {"city": "Paris"}, "a"),
        call("get_time", {"city": "Tokyo"}, "b"),
        output("b", {"spoken": "It is 21:05 in Tokyo."}),
        assistant("It is 21:05 in Tokyo."),
        output("a", {"spoken": "Sunny, 21 degrees in Paris."}),
    )
    assert text == "Sunny, 21 degrees in Paris. It is 21:05 in Tokyo."
    # Outputs of an earlier turn are not spoken again.
    text, _ = await offline(
        user("time in Tokyo?"), call("get_time", {}, "old"), output("old", {"spoken": "Old answer."}),
        assistant("Old answer."), user("and now?"), call("get_time", {}, "new"), output("new", {"spoken": "New."}),
    )  # fmt: skip
    assert text == "New."


async def test_a_turn_whose_tools_ran_never_calls_them_again() -> None:
    # openai-agents may ask for a response after each output: one more response.create after the answer (the
    # newest item is then the assistant's message, not an output) must not start the same tool calls again.
    asked = user("What's the weather in Paris and what time is it in Tokyo?")
    calls = (call("get_weather", {"city": "Paris"}, "a"), call("get_time", {"city": "Tokyo"}, "b"))
    done = (output("a", {"spoken": "Sunny in Paris."}), output("b", {"spoken": "21:05 in Tokyo."}))
    text, again = await offline(asked, *calls, *done, assistant("Sunny in Paris. 21:05 in Tokyo."))
    assert (text, again) == ("Sunny in Paris. 21:05 in Tokyo.", [])
    text, again = await offline(asked, *calls, done[0], assistant("Sunny in Paris."))
    assert (text, again) == ("Sunny in Paris.", [])
    # Calls made but not answered yet: it waits for their outputs instead of calling the tools twice.
    text, again = await offline(asked, *calls)
    assert again == [] and "waiting" in text


# ------------------------------------------------------------------------------------------------ linear time


@pytest.mark.parametrize(
    "typed",
    [
        "[" * 200_000,  # _NON_SPEECH_RE's "\[[^\]]*\]" read the rest of the text once per "[": 25 s here
        "(" * 200_000,
        "*" * 200_000,
        "what time is it in " * 10_000,
        "weather in " * 20_000,
        "search the web for " * 10_000 + "\n" * 10_000,
        "and what " * 20_000,
        "1" * 200_000,
        "what is " + "9" * 199_990,
        "in a" * 50_000 + "!" * 10_000 + "x",
        "é" * 200_000,
    ],
    ids=lambda s: repr(s[:12]),
)
def test_a_huge_typed_message_is_read_in_linear_time(typed: str) -> None:
    started = time.perf_counter()
    parts = OfflineResponder().reply(ReplyRequest(history=[user(typed)], tools=TOOLS))
    assert time.perf_counter() - started < 0.5  # generous for a busy 2-core machine
    assert parts


def test_a_very_long_sum_is_too_long_to_calculate_not_a_recursion_error() -> None:
    terms = "what is " + " plus ".join(["1"] * 10_000)  # RecursionError in ast.parse before
    started = time.perf_counter()
    parts = OfflineResponder().reply(ReplyRequest(history=[user(terms)], tools=TOOLS))
    assert time.perf_counter() - started < 0.5
    assert parts == [TextPiece("That is too long for me to calculate.")]
    with pytest.raises(TooLongToCalculate):
        arithmetic_expression("1" + "+1" * 100_000)
    assert arithmetic_expression("what is " + " plus ".join(["1"] * 30)) == " + ".join(["1"] * 30)
    assert arithmetic_expression("what is ((((2 plus 3)))) times 4") == "((((2 + 3)))) * 4"
    assert arithmetic_expression("what is 2 plus") is None and arithmetic_expression("what is (2 plus 3") is None
    assert (
        arithmetic_expression("what is 2 3") is None and arithmetic_expression("what is minus 2 times 3") == "- 2 * 3"
    )


async def test_offline_is_honest_and_tells_how_to_connect_a_model() -> None:
    responder = OfflineResponder()
    assert responder.label == "built-in offline responder"
    parts = [p async for p in responder.generate(ReplyRequest(history=[user("What is the meaning of life?")]))]
    assert all(isinstance(p, TextPiece) for p in parts) and len(parts) > 3  # sentence by sentence
    text = "".join(p.text for p in parts if isinstance(p, TextPiece))
    assert '"What is the meaning of life?"' in text
    assert "offline responder" in text and "not a language model" in text
    assert "OPENAI_API_KEY" in text and "LOCAL_LLM_BASE_URL" in text and "Ollama" in text


async def test_offline_story_greeting_and_silence() -> None:
    story, _ = await offline(user("Tell me a long story"))
    assert "canned" in story
    assert story.count(".") >= 7
    hello, _ = await offline(user("Hello!"))
    assert "offline responder" in hello and "tell the time" in hello and "search the web" in hello
    abilities, _ = await offline(user("what can you do?"), tools=[])
    assert "tell the time" not in abilities and "not a language model" in abilities
    for empty in ("", "   ", "[BLANK_AUDIO]"):
        assert (await offline(user(empty, audio=True)))[0].startswith("I didn't catch that")


# ------------------------------------------------------------------------------------------------ chat completions


@pytest_asyncio.fixture(loop_scope="function")
async def fake() -> AsyncIterator[FakeChatCompletions]:
    async with FakeChatCompletions() as server:
        yield server


def responder(fake: FakeChatCompletions, mode: Mode, **kwargs: Any) -> ChatCompletionsResponder:
    fake.mode = mode
    return ChatCompletionsResponder(fake.base_url, "fake-model", API_KEY, **kwargs)


async def test_chat_request_mapping_and_streamed_text(fake: FakeChatCompletions) -> None:
    history = [
        user("What time is it in Tokyo and what is 12 times 7?", audio=True),
        assistant("Let me check."),
        call("get_current_time", {"timezone": "Asia/Tokyo"}, "call_a"),
        call("calculate", {"expression": "12 * 7"}, "call_b"),
        output("call_a", {"timezone": "Asia/Tokyo", "time": "21:05:00"}),
        output("call_b", {"expression": "12 * 7", "result": 84}),
    ]
    request = ReplyRequest(instructions="Be brief.", history=history, tools=TOOLS, tool_choice="auto")
    pieces = [p async for p in responder(fake, "text").generate(request)]
    assert pieces == [TextPiece("Hello"), TextPiece(" there"), TextPiece("! How"), TextPiece(" can I help?")]

    [recorded] = fake.requests
    assert recorded.path == "/v1/chat/completions"
    assert recorded.headers["Authorization"] == f"Bearer {API_KEY}"
    body = recorded.body
    assert body["model"] == "fake-model" and body["stream"] is True
    assert body["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "What time is it in Tokyo and what is 12 times 7?"},
        {
            "role": "assistant",
            "content": "Let me check.",
            "tool_calls": [
                {
                    "id": "call_a",
                    "type": "function",
                    "function": {"name": "get_current_time", "arguments": '{"timezone": "Asia/Tokyo"}'},
                },
                {
                    "id": "call_b",
                    "type": "function",
                    "function": {"name": "calculate", "arguments": '{"expression": "12 * 7"}'},
                },
            ],
        },
        {"role": "tool", "tool_call_id": "call_a", "content": history[4]["output"]},
        {"role": "tool", "tool_call_id": "call_b", "content": history[5]["output"]},
    ]
    assert body["tools"][2] == {
        "type": "function",
        "function": {"name": "web_search", "description": "Search the web.", "parameters": TOOLS[2]["parameters"]},
    }
    assert body["tool_choice"] == "auto"


async def test_chat_named_tool_choice_and_no_tools(fake: FakeChatCompletions) -> None:
    chat = responder(fake, "text")
    named = ReplyRequest(history=[user("hi")], tools=TOOLS, tool_choice={"type": "function", "name": "calculate"})
    await collect(chat.generate(named))
    await collect(chat.generate(ReplyRequest(history=[user("hi")])))
    with_tools, without = (r.body for r in fake.requests)
    assert with_tools["tool_choice"] == {"type": "function", "function": {"name": "calculate"}}
    assert with_tools["messages"] == [{"role": "user", "content": "hi"}]
    assert "tools" not in without and "tool_choice" not in without


async def test_chat_reassembles_two_tool_calls(fake: FakeChatCompletions) -> None:
    text, calls = await collect(responder(fake, "tools").generate(ReplyRequest(history=[user("hi")], tools=TOOLS)))
    assert text == ""
    assert calls == [
        FunctionCall(name="get_current_time", arguments='{"timezone": "Asia/Tokyo"}', call_id="call_time_1"),
        FunctionCall(name="calculate", arguments='{"expression": "12 * 7"}', call_id="call_calc_2"),
    ]


@pytest.mark.parametrize(
    ("mode", "expected"),
    [
        ("401", "HTTP 401"),
        ("500", "HTTP 500"),
        ("malformed", "malformed stream"),
        ("slow", "did not answer within 0.3 s"),
    ],
)
async def test_chat_errors_are_reply_errors_without_the_key(
    fake: FakeChatCompletions, mode: Mode, expected: str
) -> None:
    chat = responder(fake, mode, timeout_s=0.3)
    with pytest.raises(ReplyError) as caught:
        await collect(chat.generate(ReplyRequest(history=[user("hi")])))
    message = str(caught.value)
    assert expected in message and "127.0.0.1" in message
    assert API_KEY not in message and API_KEY not in chat.label
    if mode == "401":
        assert "Invalid API key provided" in message  # the server's reason, scrubbed


async def test_chat_unreachable_server() -> None:
    async with FakeChatCompletions() as server:
        base_url = server.base_url
    chat = ChatCompletionsResponder(base_url, "fake-model", API_KEY, timeout_s=2)
    with pytest.raises(ReplyError, match=r"could not reach .*127\.0\.0\.1"):
        await collect(chat.generate(ReplyRequest(history=[user("hi")])))


async def test_chat_early_close_stops_the_stream(fake: FakeChatCompletions) -> None:
    stream = responder(fake, "endless").generate(ReplyRequest(history=[user("talk forever")]))
    assert isinstance(await anext(stream), TextPiece)
    await stream.aclose()
    await asyncio.wait_for(fake.disconnected.wait(), 5)
    sent = fake.chunks_sent
    await asyncio.sleep(0.1)
    assert fake.chunks_sent == sent


def test_build_reply_generator_and_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    assert isinstance(build_reply_generator(None, None, None), OfflineResponder)
    assert isinstance(build_reply_generator("", "x", None), OfflineResponder)
    with pytest.raises(ValueError, match="LOCAL_LLM_MODEL"):
        build_reply_generator("http://127.0.0.1:11434/v1", None, None)
    chat = build_reply_generator("http://user:pw@127.0.0.1:11434/v1/", "llama3.2", API_KEY)
    assert isinstance(chat, ChatCompletionsResponder)
    assert chat.label == "llama3.2 at http://127.0.0.1:11434/v1"
    monkeypatch.setenv("LOCAL_LLM_BASE_URL", "http://127.0.0.1:11434/v1")
    monkeypatch.setenv("LOCAL_LLM_MODEL", "llama3.2")
    monkeypatch.setenv("LOCAL_LLM_API_KEY", API_KEY)
    settings = Settings(_env_file=None)
    assert settings.local_llm_base_url == "http://127.0.0.1:11434/v1" and settings.local_llm_model == "llama3.2"
    assert settings.local_llm_api_key is not None and API_KEY not in repr(settings)


async def test_chat_without_a_key_sends_no_authorization_and_never_reads_openai_api_key(
    fake: FakeChatCompletions, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "env-key-that-must-stay-home")
    fake.mode = "text"
    chat = ChatCompletionsResponder(fake.base_url, "fake-model")
    text, _ = await collect(chat.generate(ReplyRequest(history=[user("hi")])))
    assert text == "Hello there! How can I help?"
    [recorded] = fake.requests
    assert "Authorization" not in recorded.headers and "env-key-that-must-stay-home" not in str(recorded.headers)
    await chat.aclose()


async def test_chat_key_stays_out_of_errors_and_logs(
    fake: FakeChatCompletions, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("DEBUG")
    chat = responder(fake, "401")
    with pytest.raises(ReplyError) as caught:
        await collect(chat.generate(ReplyRequest(history=[user("hi")])))
    assert "Bearer [redacted]" in str(caught.value) and "(check LOCAL_LLM_API_KEY)" in str(caught.value)
    assert caught.value.__cause__ is None and caught.value.__suppress_context__
    assert API_KEY not in caplog.text and API_KEY not in str(caught.value)


def test_the_offline_responder_never_raises_on_odd_words() -> None:
    """Seeded random turns of words the rules react to, in any order: each gives a reply, quickly."""
    vocabulary = (
        "what is the time in at for and also , ? . plus times over minus square root of ( ) [ ] * - + % x 12 3.5 .5"
        " 1,000 twenty one hundred and weather there search the web news about Tokyo new york Europe/Paris"
        " Mars/Olympus hello thanks story please now é '"
    )
    words = vocabulary.split(" ")
    rng = random.Random(11)
    responder = OfflineResponder()
    started = time.perf_counter()
    for _ in range(1000):
        said = " ".join(rng.choice(words) for _ in range(rng.randint(0, 30)))
        parts = responder.reply(ReplyRequest(history=[user(said)], tools=TOOLS))
        assert parts and all(isinstance(p, TextPiece | FunctionCall) for p in parts), said
        for part in parts:
            if isinstance(part, FunctionCall):
                assert isinstance(json.loads(part.arguments), dict)
    assert time.perf_counter() - started < 10
