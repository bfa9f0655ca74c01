"""Sessions sharing the real recognizer (Whisper, in this process): one session's minutes of noise must not hold
up another session's words. Prints the figures (``pytest -s``)."""

from __future__ import annotations

import asyncio
import base64
from typing import Any

import pytest

from local_engine.server import LocalRealtimeServer
from tests.audio import noise, silence, speak_pcm
from tests.engine.fakes import Harness

pytestmark = [pytest.mark.models, pytest.mark.asyncio(loop_scope="session")]

PUSH_TO_TALK_WITH_TRANSCRIPTS = {"type": "session.update", "session": {"type": "realtime", "audio": {"input": {
    "turn_detection": None, "transcription": {"model": "whisper-1"}}}}}  # fmt: skip


async def _session(engine: LocalRealtimeServer) -> Harness:
    h = Harness(await engine.ready())
    await h.session.open()
    await h.send(PUSH_TO_TALK_WITH_TRANSCRIPTS)
    return h


async def _commit(h: Harness, pcm: bytes) -> None:
    await h.send({"type": "input_audio_buffer.append", "audio": base64.b64encode(pcm).decode()})
    await h.send({"type": "input_audio_buffer.commit"})


async def _words_after(h: Harness, pcm: bytes) -> tuple[float, dict[str, Any]]:
    loop = asyncio.get_running_loop()
    start = loop.time()
    await _commit(h, pcm)
    done = await h.until("conversation.item.input_audio_transcription.completed", within_s=60)
    return loop.time() - start, done


@pytest.mark.parametrize("level_dbfs", [-50.0, -20.0])
async def test_three_minutes_of_noise_in_one_session_barely_delay_another_session_s_words(
    engine: LocalRealtimeServer, level_dbfs: float
) -> None:
    question = silence(200) + speak_pcm("What time is it in Tokyo?") + silence(300)
    alone = await _session(engine)
    alone_s, heard = await _words_after(alone, question)
    assert "tokyo" in heard["transcript"].lower()
    await alone.session.close()

    noisy, other = await _session(engine), await _session(engine)
    minute = noise(60_000, level_dbfs=level_dbfs, seed=1)
    for _ in range(3):
        await _commit(noisy, minute)
    await asyncio.sleep(0.2)  # the first minute is being recognised
    shared_s, heard = await _words_after(other, question)
    print(f"\nanother session's transcript: {alone_s:.2f} s alone, {shared_s:.2f} s beside 3 x 60 s of noise at "
          f"{level_dbfs:.0f} dBFS")  # fmt: skip
    assert "tokyo" in heard["transcript"].lower()
    assert shared_s < alone_s + 1.5, f"{shared_s:.2f} s beside the noise, {alone_s:.2f} s alone"
    for h in (noisy, other):
        await h.session.close()
