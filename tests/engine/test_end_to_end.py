"""The realtime core, the tools and the local engine together, over loopback: typed and spoken questions that
need a tool, the tool run by the client, its output sent back and the spoken answer carrying its result; and the
command line (``python -m cli``) against the engine, with text and with an audio file."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest

from local_engine.server import LocalRealtimeServer
from realtime.client import RealtimeClient
from realtime.config import Settings
from realtime.conversation import Conversation
from realtime.events import AppEvent, AudioDelta, ResponseDoneEvent, TextDelta, ToolCallFinished, UserTranscript
from tests.audio import silence, speak_pcm, speak_wav
from tests.tavily_fake import FakeTavily
from tools import ToolRegistry, build_registry

pytestmark = [pytest.mark.models, pytest.mark.asyncio(loop_scope="session")]
ROOT = Path(__file__).resolve().parents[2]


def client_with(settings: Settings, registry: ToolRegistry) -> RealtimeClient:
    """A client whose tool calls the conversation layer runs with ``registry``, as the app wires it."""
    client = RealtimeClient(settings, tools=registry.definitions())
    Conversation(client, registry)
    return client


def local_settings(engine: LocalRealtimeServer, **extra: Any) -> Settings:
    return Settings(_env_file=None, realtime_provider="local", local_engine_url=engine.url, **extra)


async def turn(rt: RealtimeClient, events: Any, *, responses: int) -> list[AppEvent]:
    """App events until ``responses`` responses are done (a tool call's follow-up counts as one more)."""
    seen: list[AppEvent] = []
    async with asyncio.timeout(60):
        async for event in events:
            seen.append(event)
            if sum(isinstance(e, ResponseDoneEvent) for e in seen) >= responses:
                return seen
    raise AssertionError(f"the events ended early: {seen}")


def spoken_after(events: list[AppEvent], finished: ToolCallFinished) -> str:
    later = events[events.index(finished) :]
    assert any(isinstance(e, AudioDelta) for e in later), "no audio after the tool's output"
    return "".join(e.delta for e in later if isinstance(e, TextDelta))


async def test_typed_calculation_runs_the_tool_and_speaks_its_result(engine: LocalRealtimeServer) -> None:
    settings = local_settings(engine)
    registry = build_registry(["calculate", "get_current_time"], tavily_api_key="")
    async with client_with(settings, registry) as rt:
        events = rt.events()
        await rt.send_text("What is 12 times 7?")
        seen = await turn(rt, events, responses=2)
    [finished] = [e for e in seen if isinstance(e, ToolCallFinished)]
    assert finished.name == "calculate" and finished.ok and json.loads(finished.output)["result"] == 84
    assert "84" in spoken_after(seen, finished)


async def test_spoken_question_for_the_time_runs_the_tool_and_speaks_the_time(engine: LocalRealtimeServer) -> None:
    registry = build_registry(["get_current_time"], tavily_api_key="")
    async with client_with(local_settings(engine), registry) as rt:
        events = rt.events()
        pcm = silence(300) + speak_pcm("What time is it in Tokyo?") + silence(1000)
        for i in range(0, len(pcm), 8192):
            await rt.append_audio(pcm[i : i + 8192])
        seen = await turn(rt, events, responses=2)
    heard = " ".join(e.transcript for e in seen if isinstance(e, UserTranscript) and e.final).lower()
    assert "time" in heard and "tokyo" in heard
    [finished] = [e for e in seen if isinstance(e, ToolCallFinished)]
    output = json.loads(finished.output)
    assert finished.name == "get_current_time" and output["timezone"] == "Asia/Tokyo"
    assert output["time"][:5].lstrip("0") in spoken_after(seen, finished)


async def test_web_search_goes_through_tavily_and_its_answer_is_spoken(engine: LocalRealtimeServer) -> None:
    async with FakeTavily(answer="The Chainlit docs live at docs.chainlit.io.") as tavily:
        registry = build_registry(["web_search"], tavily_api_key=tavily.api_key, tavily_base_url=tavily.base_url)
        async with client_with(local_settings(engine), registry) as rt:
            events = rt.events()
            await rt.send_text("Search the web for Chainlit documentation.")
            seen = await turn(rt, events, responses=2)
        assert "chainlit" in tavily.requests[0].body["query"].lower()
    [finished] = [e for e in seen if isinstance(e, ToolCallFinished)]
    assert finished.name == "web_search" and finished.ok
    assert "docs.chainlit.io" in spoken_after(seen, finished).lower()


async def run_cli(engine: LocalRealtimeServer, *args: str) -> tuple[int, str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "AZURE_", "TAVILY_"))}
    env.update(LOCAL_ENGINE_URL=engine.url, TOOLS_ENABLED="calculate,get_current_time")
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "cli", "--provider", "local", *args, cwd=ROOT, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(), 120)
    return int(process.returncode or 0), out.decode(), err.decode()


async def test_cli_text_turn_writes_the_answer_audio_and_transcript(
    engine: LocalRealtimeServer, tmp_path: Path
) -> None:
    code, out, err = await run_cli(engine, "--text", "What is 6 times 7?", "--out", str(tmp_path))
    assert code == 0, err
    assert "42" in out
    doc = json.loads((tmp_path / "transcript.json").read_text())
    assert doc["tool_calls"][0]["name"] == "calculate"
    assert doc["audio"] and all((tmp_path / name).stat().st_size > 24_000 for name in doc["audio"])


async def test_cli_audio_file_is_transcribed_and_answered(engine: LocalRealtimeServer, tmp_path: Path) -> None:
    wav = speak_wav("Hello, this is a recorded question.", tmp_path / "question.wav", rate=16_000)
    code, _out, err = await run_cli(engine, "--audio", str(wav), "--out", str(tmp_path / "out"))
    assert code == 0, err
    doc = json.loads((tmp_path / "out" / "transcript.json").read_text())
    said = json.dumps(doc["turns"]).lower()
    assert "recorded question" in said
    assert doc["audio"]


async def test_cli_over_gpt_live_answers_text_with_a_tool(engine: LocalRealtimeServer, tmp_path: Path) -> None:
    code, out, err = await run_cli(
        engine, "--protocol", "live", "--text", "What is 6 times 7?", "--out", str(tmp_path)
    )  # fmt: skip
    assert code == 0, err
    assert "42" in out and "[tool] calculate" in out
    doc = json.loads((tmp_path / "transcript.json").read_text())
    assert doc["tool_calls"][0]["name"] == "calculate" and doc["tool_calls"][0]["ok"]
    assert doc["audio"] and all((tmp_path / name).stat().st_size > 24_000 for name in doc["audio"])


async def test_cli_over_gpt_live_answers_a_spoken_question_with_a_tool(
    engine: LocalRealtimeServer, tmp_path: Path
) -> None:
    wav = speak_wav("What time is it in Tokyo?", tmp_path / "question.wav", rate=16_000)
    code, _out, err = await run_cli(engine, "--protocol", "live", "--audio", str(wav), "--out", str(tmp_path / "o"))
    assert code == 0, err
    doc = json.loads((tmp_path / "o" / "transcript.json").read_text())
    assert [t["role"] for t in doc["turns"]][:1] == ["user"] and "time" in doc["turns"][0]["text"].lower()
    assert doc["tool_calls"][0]["name"] == "get_current_time"
    assert "It is" in doc["turns"][-1]["text"] and doc["audio"]


async def test_cli_reports_an_unreachable_engine_in_one_line(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "AZURE_"))}
    env["LOCAL_ENGINE_URL"] = "ws://127.0.0.1:9/v1"
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "cli", "--provider", "local", "--text", "hi", cwd=ROOT, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    _, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 3
    assert err.decode().strip().count("\n") == 0 and "connect" in err.decode()


async def test_cli_starts_the_engine_in_process_and_realtime_cli_alone_says_what_it_needs(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "AZURE_", "TAVILY_", "LOCAL_ENGINE"))}
    env["TOOLS_ENABLED"] = "calculate"
    for module, expected in (("realtime.cli", 2), ("cli", 0)):
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", module, "--provider", "local", "--text", "What is 6 times 7?", cwd=ROOT, env=env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        out, err = await asyncio.wait_for(process.communicate(), 120)
        assert process.returncode == expected, err.decode()
        if module == "realtime.cli":
            assert "python -m cli" in err.decode() and "LOCAL_ENGINE_URL" in err.decode()
        else:
            assert "42" in out.decode() and "[tool] calculate" in out.decode()
