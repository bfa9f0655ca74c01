"""The command line's transcript logic (realtime.cli.Transcript), with app events and no connection."""

from __future__ import annotations

import io

from realtime.cli import Transcript
from realtime.events import ResponseDoneEvent, ToolCallFinished, ToolCallStarted


def test_a_response_whose_calls_run_is_not_the_end_of_the_exchange() -> None:
    transcript = Transcript(out=io.StringIO())
    # The calls' own events may be seen late (another listener, a replay): the response says it had calls.
    assert not transcript.feed(ResponseDoneEvent("r1", "completed", function_calls=2))
    assert not transcript.feed(ToolCallStarted("c1", "calculate", "{}"))
    assert not transcript.feed(ToolCallFinished("c1", "calculate", "{}", '{"result": 4}', True, 1.0))
    assert transcript.feed(ResponseDoneEvent("r2", "completed"))
