"""The tool registry: schema from signatures, validated calls, errors as outputs, timeouts, size cap, concurrency;
and the built-in ``calculate`` and ``get_current_time`` tools, and ``build_registry``."""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

import pytest
from pydantic import BaseModel, Field

from realtime.config import Settings
from tools import ToolCall, ToolError, ToolRegistry, build_registry, tool
from tools._output import cap_json
from tools._schema import parse_docstring
from tools.calculator import MAX_EXPRESSION_CHARS, CalculationError, evaluate


@tool(timeout_s=2.0)
async def book_table(
    restaurant: str,
    people: Annotated[int, Field(ge=1, le=12)],
    when: str | None = None,
    seating: Literal["inside", "terrace"] = "inside",
) -> dict[str, Any]:
    """Book a table at a restaurant.

    The booking is held for 15 minutes.

    Args:
        restaurant: Name of the restaurant.
        people: Number of guests,
            including the caller.
        when (str): ISO date-time; now when omitted.
        seating: Where to sit.

    Returns:
        The booking.
    """
    return {"restaurant": restaurant, "people": people, "when": when, "seating": seating}


def loads(output: str) -> dict[str, Any]:
    data = json.loads(output)
    assert isinstance(data, dict)
    return data


# -- schema ------------------------------------------------------------------------------------------------------


def test_definition_comes_from_signature_and_docstring() -> None:
    definition = ToolRegistry([book_table]).definitions()[0]
    assert definition["type"] == "function"
    assert definition["name"] == "book_table"
    assert definition["description"] == "Book a table at a restaurant."
    params = definition["parameters"]
    assert params["type"] == "object"
    assert params["additionalProperties"] is False
    assert params["required"] == ["restaurant", "people"]
    props = params["properties"]
    assert props["restaurant"] == {"type": "string", "description": "Name of the restaurant."}
    assert props["people"] == {
        "type": "integer",
        "minimum": 1,
        "maximum": 12,
        "description": "Number of guests, including the caller.",
    }
    assert props["when"]["anyOf"] == [{"type": "string"}, {"type": "null"}]
    assert props["when"]["description"] == "ISO date-time; now when omitted."
    assert props["seating"]["enum"] == ["inside", "terrace"]
    assert props["seating"]["default"] == "inside"
    assert "title" not in json.dumps(definition)


def test_builtin_definitions_are_valid_realtime_function_tools() -> None:
    from realtime.protocol import FunctionTool

    registry = build_registry(tavily_api_key="tvly-test-abcdef123456", tavily_base_url="http://127.0.0.1:9")
    for definition in registry.definitions():
        assert set(definition) == {"type", "name", "description", "parameters"}
        FunctionTool.model_validate(definition)
        assert definition["description"]
        for prop in definition["parameters"]["properties"].values():
            assert prop.get("description"), definition["name"]


def test_parse_docstring_handles_missing_args_and_other_sections() -> None:
    doc = parse_docstring("Do a thing\nin two lines.\n\nRaises:\n    ValueError: never.\n")
    assert doc == ("Do a thing in two lines.", {})
    assert parse_docstring(None) == ("", {})


def test_decorator_rejects_what_cannot_be_a_tool() -> None:
    def sync_fn(x: int) -> int:
        """Sync."""
        return x

    async def untyped(x):
        """Untyped."""

    async def undocumented(x: int) -> int:
        return x

    async def ok(x: int) -> int:
        """Fine."""
        return x

    with pytest.raises(TypeError, match="async"):
        tool(sync_fn)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="annotation"):
        tool(untyped)
    with pytest.raises(ValueError, match="docstring"):
        tool(undocumented)
    with pytest.raises(ValueError, match="name"):
        tool(name="has space")(ok)
    with pytest.raises(ValueError, match="timeout"):
        tool(timeout_s=0)(ok)
    registry = ToolRegistry([tool(ok)])
    with pytest.raises(ValueError, match="already"):
        registry.register(ok)


async def test_tool_stays_a_plain_callable() -> None:
    assert (await book_table("Chez Nous", 2))["people"] == 2


# -- calls and errors ------------------------------------------------------------------------------------------


async def test_call_validates_and_runs() -> None:
    registry = ToolRegistry([book_table])
    out = loads(await registry.call("book_table", '{"restaurant": "Chez Nous", "people": "4"}'))
    assert out == {"restaurant": "Chez Nous", "people": 4, "when": None, "seating": "inside"}


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        ('{"people": 2}', "restaurant: Field required"),
        ('{"restaurant": "X", "people": 40}', "people: Input should be less than or equal to 12 (got 40)"),
        ('{"restaurant": "X", "people": "two"}', "people: Input should be a valid integer"),
        ('{"restaurant": "X", "people": 2, "seating": "roof"}', "seating: Input should be 'inside' or 'terrace'"),
        ('{"restaurant": "X", "people": 2, "price": 9}', "price: unexpected argument"),
        ('{"restaurant": "X", "people": 2', "not valid JSON"),
        ('["X", 2]', "must be a JSON object, got list"),
    ],
)
async def test_bad_arguments_become_error_outputs(arguments: str, expected: str) -> None:
    out = loads(await ToolRegistry([book_table]).call("book_table", arguments))
    assert set(out) == {"error"}
    assert expected in out["error"]


async def test_empty_arguments_mean_no_arguments() -> None:
    @tool
    async def ping() -> str:
        """Ping."""
        return "pong"

    assert loads(await ToolRegistry([ping]).call("ping", "")) == {"result": "pong"}


async def test_unknown_and_disabled_tools() -> None:
    registry = ToolRegistry([book_table], disabled={"web_search": "TAVILY_API_KEY is not set"})
    assert "unknown tool 'nope'" in loads(await registry.call("nope", "{}"))["error"]
    assert "book_table" in loads(await registry.call("nope", "{}"))["error"]
    assert loads(await registry.call("web_search", "{}")) == {
        "error": "tool 'web_search' is turned off: TAVILY_API_KEY is not set"
    }


async def test_exceptions_become_error_outputs_without_secrets(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="tools")

    @tool
    async def leaky(x: int) -> int:
        """Fails."""
        raise RuntimeError(f"upstream said no to Authorization: Bearer sk-supersecret-{x} with key tvly-abcdef123456")

    @tool
    async def polite() -> None:
        """Fails politely."""
        raise ToolError("the shop is closed")

    registry = ToolRegistry([leaky, polite], secrets=["sk-supersecret-7"])
    out = loads(await registry.call("leaky", '{"x": 7}'))["error"]
    assert out.startswith("leaky failed: RuntimeError: upstream said no")
    assert "supersecret" not in out and "tvly-abcdef" not in out
    assert "RuntimeError" in caplog.text and "Traceback" in caplog.text
    assert "supersecret" not in caplog.text and "tvly-abcdef" not in caplog.text
    assert loads(await registry.call("polite", "{}")) == {"error": "polite: the shop is closed"}


async def test_returned_models_and_values_are_serialised() -> None:
    class Point(BaseModel):
        x: int
        y: int

    @tool
    async def point() -> Point:
        """A point."""
        return Point(x=1, y=2)

    @tool
    async def when() -> datetime:
        """A time."""
        return datetime(2026, 1, 2, 3, 4, tzinfo=UTC)

    registry = ToolRegistry([point, when])
    assert loads(await registry.call("point", "{}")) == {"x": 1, "y": 2}
    assert loads(await registry.call("when", "{}")) == {"result": "2026-01-02 03:04:00+00:00"}


# -- timeouts ----------------------------------------------------------------------------------------------------


async def test_timeout_default_and_per_tool_override() -> None:
    started = asyncio.Event()
    cancelled = asyncio.Event()

    @tool
    async def hang() -> str:
        """Never answers."""
        started.set()
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            cancelled.set()
            raise
        return "late"

    @tool(timeout_s=0.05)
    async def slowish() -> str:
        """Answers after 0.5 s."""
        await asyncio.sleep(0.5)
        return "done"

    registry = ToolRegistry([hang, slowish], default_timeout_s=0.1)
    assert registry.timeout_for("hang") == 0.1 and registry.timeout_for("slowish") == 0.05
    assert loads(await registry.call("hang", "{}")) == {"error": "hang timed out after 0.1 s"}
    assert started.is_set() and cancelled.is_set()  # the tool's task was stopped, not left running
    assert loads(await registry.call("slowish", "{}")) == {"error": "slowish timed out after 0.05 s"}


async def test_a_timeout_error_raised_by_the_tool_is_not_reported_as_our_timeout() -> None:
    @tool
    async def upstream() -> str:
        """Raises TimeoutError itself."""
        raise TimeoutError("socket read timed out")

    out = loads(await ToolRegistry([upstream], default_timeout_s=30).call("upstream", "{}"))
    assert out == {"error": "upstream failed: TimeoutError: socket read timed out"}


async def test_caller_cancellation_propagates() -> None:
    @tool
    async def hang() -> str:
        """Never answers."""
        await asyncio.sleep(60)
        return "late"

    task = asyncio.create_task(ToolRegistry([hang]).call("hang", "{}"))
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


# -- size cap ----------------------------------------------------------------------------------------------------


async def test_outputs_are_capped_and_stay_json() -> None:
    @tool
    async def huge(n: int) -> dict[str, Any]:
        """Lots of text."""
        return {"title": "big", "items": [{"text": 'é"x' * n} for _ in range(20)]}

    @tool
    async def many_keys() -> dict[str, int]:
        """Lots of keys."""
        return {f"key{i}": i for i in range(5000)}

    registry = ToolRegistry([huge, many_keys], max_output_bytes=1024)
    small = await registry.call("huge", '{"n": 1}')
    assert loads(small)["title"] == "big" and "truncated" not in small
    big = await registry.call("huge", '{"n": 10000}')
    assert len(big.encode()) <= 1024
    data = loads(big)
    assert data["truncated"] is True and data["title"] == "big" and len(data["items"]) == 20
    keys = await registry.call("many_keys", "{}")
    assert len(keys.encode()) <= 1024
    assert loads(keys)["truncated"] is True and loads(keys)["partial"].startswith('{"key0":0,')
    default = ToolRegistry([huge])
    assert default.max_output_bytes == 8192
    assert len((await default.call("huge", '{"n": 10000}')).encode()) <= 8192


@pytest.mark.parametrize("max_bytes", [64, 100, 333, 1000])
def test_cap_json_respects_any_budget(max_bytes: int) -> None:
    for value in ({"a": "ü" * 5000}, {"x": [1] * 5000}, ["\\" * 3000], {"error": '"' * 999}):
        text = cap_json(value, max_bytes)
        assert len(text.encode()) <= max_bytes
        json.loads(text)


# -- concurrency -------------------------------------------------------------------------------------------------


async def test_call_many_runs_concurrently_and_keeps_order() -> None:
    running = 0
    peak = 0
    all_in = asyncio.Event()

    @tool(timeout_s=5)
    async def rendezvous(tag: str, delay: float) -> str:
        """Waits until all three calls are running at once."""
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        if running == 3:
            all_in.set()
        await all_in.wait()  # deadlocks into a timeout if the calls ran one after another
        await asyncio.sleep(delay)
        running -= 1
        return tag

    registry = ToolRegistry([rendezvous, book_table])
    calls = [
        ToolCall("call_a", "rendezvous", '{"tag": "a", "delay": 0.15}'),
        ToolCall("call_b", "rendezvous", '{"tag": "b", "delay": 0.0}'),
        ToolCall("call_bad", "book_table", '{"people": 1}'),
        ToolCall("call_c", "rendezvous", '{"tag": "c", "delay": 0.05}'),
    ]
    results = await registry.call_many(calls)
    assert [r.call_id for r in results] == ["call_a", "call_b", "call_bad", "call_c"]
    assert [r.ok for r in results] == [True, True, False, True]
    assert [loads(r.output).get("result") for r in results] == ["a", "b", None, "c"]
    assert peak == 3
    assert results[0].duration_ms >= 140 and results[0].name == "rendezvous"
    assert await registry.call_many([]) == []


# -- calculate ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "value"),
    [
        ("1 + 2 * 3", 7),
        ("(1 + 2) * 3", 9),
        ("2^10 + 1", 1025),
        ("2 ** 64", 18446744073709551616),
        ("-3 ** 2", -9),
        ("7 // 2 + 7 % 2", 4),
        ("10 / 4", 2.5),
        ("sqrt(16) + abs(-2)", 6.0),
        ("round(pi, 3)", 3.142),
        ("max(1, 5, 3) - min(4, 2)", 3),
        ("factorial(5)", 120),
        ("log10(1000)", 3.0),
        ("12 × 3 ÷ 4", 9.0),
        ("1e3 + .5", 1000.5),
    ],
)
def test_calculate_evaluates(expression: str, value: float) -> None:
    assert evaluate(expression) == pytest.approx(value)


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("__import__('os').system('true')", "unknown function"),
        ("().__class__", "not allowed"),
        ("x + 1", "unknown name 'x'"),
        ("'a' * 3", "only numbers"),
        ("True + 1", "only numbers"),
        ("lambda: 1", "not allowed"),
        ("[1, 2]", "not allowed"),
        ("sqrt(x=4)", "wrong arguments"),
        ("9 ** 9 ** 9", "result too large"),
        ("10 ** 400", "result too large"),
        ("2 ** 1000 * 2 ** 1000", "result too large"),
        ("factorial(10000)", "limited"),
        ("10.0 ** 400", "result too large"),
        ("1e308 * 10", "out of range"),
        ("1 / 0", "division by zero"),
        ("0 ** -1", "negative power"),
        ("sqrt(-1)", "math domain error"),
        ("(-8) ** 0.5", "complex"),
        ("1 +", "cannot parse"),
        ("", "empty"),
        ("1+" * 150 + "1", "longer than"),
    ],
)
def test_calculate_refuses(expression: str, message: str) -> None:
    with pytest.raises(CalculationError, match=message):
        evaluate(expression)


async def test_calculate_through_the_registry() -> None:
    registry = build_registry(["calculate"])
    assert loads(await registry.call("calculate", '{"expression": "(17.5 * 3) / 4"}')) == {
        "expression": "(17.5 * 3) / 4",
        "result": 13.125,
    }
    assert loads(await registry.call("calculate", '{"expression": "9**9**9"}')) == {
        "error": "calculate: result too large"
    }
    too_long = json.dumps({"expression": "1" * (MAX_EXPRESSION_CHARS + 1)})
    assert "at most 200 characters" in loads(await registry.call("calculate", too_long))["error"]


# -- get_current_time --------------------------------------------------------------------------------------------


async def test_get_current_time_in_a_zone() -> None:
    registry = build_registry(["get_current_time"])
    out = loads(await registry.call("get_current_time", '{"timezone": "Asia/Tokyo"}'))
    assert out["timezone"] == "Asia/Tokyo" and out["utc_offset"] == "+09:00" and out["abbreviation"] == "JST"
    shown = datetime.fromisoformat(out["iso"])
    assert abs(shown - datetime.now(ZoneInfo("Asia/Tokyo"))) < timedelta(seconds=5)
    assert shown.utcoffset() == timedelta(hours=9)
    lower = loads(await registry.call("get_current_time", '{"timezone": "america/new_york"}'))
    assert lower["timezone"] == "America/New_York"
    utc = loads(await registry.call("get_current_time", "{}"))
    assert utc["timezone"] == "UTC" and utc["utc_offset"] == "+00:00"


@pytest.mark.parametrize("zone", ["Mars/Olympus_Mons", "../../etc/passwd", "/etc/localtime", " "])
async def test_get_current_time_unknown_zone(zone: str) -> None:
    out = loads(await build_registry(["get_current_time"]).call("get_current_time", json.dumps({"timezone": zone})))
    assert out["error"].startswith("get_current_time: unknown time zone")
    assert "Europe/Paris" in out["error"]


# -- build_registry ----------------------------------------------------------------------------------------------


def from_settings() -> ToolRegistry:
    """The registry as the app builds it: the environment read by ``realtime.config`` only."""
    return build_registry(**Settings(_env_file=None).tool_options())


def test_build_registry_from_the_settings_the_environment_feeds(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TOOLS_ENABLED", raising=False)
    monkeypatch.delenv("TAVILY_API_KEY", raising=False)
    monkeypatch.delenv("TOOL_TIMEOUT_S", raising=False)
    registry = from_settings()
    assert registry.names == ["get_current_time", "calculate"]
    assert registry.disabled == {"web_search": "TAVILY_API_KEY is not set"}
    assert [d["name"] for d in registry.definitions()] == ["get_current_time", "calculate"]
    assert registry.default_timeout_s == 15.0

    monkeypatch.setenv("TAVILY_API_KEY", "tvly-env-abcdef123456")
    monkeypatch.setenv("TOOLS_ENABLED", " Web_Search , calculate,wether")
    monkeypatch.setenv("TOOL_TIMEOUT_S", "4.5")
    registry = from_settings()
    assert registry.names == ["web_search", "calculate"]
    assert registry.disabled == {
        "get_current_time": "not in TOOLS_ENABLED",
        "wether": "unknown tool name in TOOLS_ENABLED",
    }
    assert registry.timeout_for("web_search") == 4.5

    monkeypatch.setenv("TOOLS_ENABLED", "")
    assert from_settings().names == []
    monkeypatch.setenv("TOOL_TIMEOUT_S", "soon")
    with pytest.raises(ValueError, match="tool_timeout_s"):
        from_settings()


def test_build_registry_reads_no_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOOLS_ENABLED", "calculate")
    monkeypatch.setenv("TAVILY_API_KEY", "tvly-env-abcdef123456")
    assert build_registry().names == ["get_current_time", "calculate"]  # all; web_search has no key
    registry = build_registry(["web_search", "get_current_time"], tavily_api_key="", timeout_s=2)
    assert registry.names == ["get_current_time"]
    assert registry.disabled["web_search"] == "TAVILY_API_KEY is not set"
    assert registry.default_timeout_s == 2
    assert build_registry("calculate,get_current_time").names == ["get_current_time", "calculate"]
