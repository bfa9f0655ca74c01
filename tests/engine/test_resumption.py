"""Turn resumption (:mod:`local_engine.resumption`): which speech continues the turn before it, and the
conversation the reply generator is given then."""

from __future__ import annotations

from typing import Any

from local_engine.resumption import RESUME_MS, continues_turn, join_transcripts, resumed_history, stands_alone


def said(item_id: str, transcript: str | None) -> dict[str, Any]:
    return {"id": item_id, "type": "message", "role": "user",
            "content": [{"type": "input_audio", "transcript": transcript}]}  # fmt: skip


def typed(item_id: str, text: str) -> dict[str, Any]:
    return {"id": item_id, "type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}


def answer(item_id: str, transcript: str) -> dict[str, Any]:
    return {"id": item_id, "type": "message", "role": "assistant", "status": "incomplete",
            "content": [{"type": "output_audio", "transcript": transcript}]}  # fmt: skip


def transcripts(history: list[dict[str, Any]]) -> list[str]:
    return [p.get("transcript") or p.get("text") or "" for item in history for p in item.get("content", [])]


def test_speech_within_the_window_continues_the_turn_and_later_speech_does_not() -> None:
    assert not continues_turn(None, 5000, 300)  # no turn before
    assert continues_turn(2000, 2000 + RESUME_MS - 300, 300)  # onset exactly RESUME_MS after the end
    assert not continues_turn(2000, 2000 + RESUME_MS - 299, 300)
    assert continues_turn(2000, 1800, 300)  # prefix padding reaching back before the end


def test_only_a_short_halt_stands_alone() -> None:
    assert all(map(stands_alone, ["Stop.", "No, wait!", "Never mind", "wait"]))
    assert not any(map(stands_alone, ["Please.", "Thank you.", "No problem at all, go on", "stop the music"]))


def test_the_first_part_loses_the_punctuation_the_pause_gave_it() -> None:
    assert join_transcripts("Could you let me know? ", " when the train leaves?") == (
        "Could you let me know when the train leaves?"
    )
    assert join_transcripts("I think I want...", "a cup of tea.") == "I think I want a cup of tea."


def test_a_continued_turn_joins_the_first_and_drops_the_interrupted_answer_in_a_copy() -> None:
    history = [said("a", "Hi."), answer("r0", "Hello!"), said("b", "Can you add twelve?"), answer("r1", "Twel"),
               said("c", "and thirty?")]  # fmt: skip
    joined = resumed_history(history, {"c": "b"})
    assert transcripts(joined) == ["Hi.", "Hello!", "Can you add twelve and thirty?"]
    assert [i["id"] for i in joined] == ["a", "r0", "b"]
    assert history[2]["content"][0]["transcript"] == "Can you add twelve?"  # the conversation itself is unchanged


def test_a_chain_of_continuations_joins_into_the_first_part() -> None:
    history = [said("a", "I would like"), answer("r1", "Sure"), said("b", "to know,"), said("c", "the time.")]
    assert transcripts(resumed_history(history, {"b": "a", "c": "b"})) == ["I would like to know, the time."]


def test_parts_stay_apart_across_a_typed_message_a_tool_call_a_short_reply_or_a_missing_transcript() -> None:
    call = {"id": "f", "type": "function_call", "name": "calculate", "call_id": "x", "arguments": "{}"}
    for between in (typed("t", "also this"), call):
        history = [said("a", "What is 7 times 8?"), between, said("b", "and 9?")]
        assert resumed_history(history, {"b": "a"}) == history
    story = [said("a", "Tell me a story."), answer("r", "Once upon"), said("b", "Stop.")]
    assert resumed_history(story, {"b": "a"}) == story  # a halt of its own: the user answers what they heard
    polite = [said("a", "Yes."), answer("r", "Okay"), said("b", "Please.")]
    assert transcripts(resumed_history(polite, {"b": "a"})) == ["Yes Please."]
    unheard = [said("a", "What is"), said("b", None)]
    assert resumed_history(unheard, {"b": "a"}) == unheard
    assert resumed_history([said("b", "and 9?")], {"b": "gone"}) == [said("b", "and 9?")]  # forgotten item


def test_the_bench_counts_a_cut_sentence_as_resumed_only_when_every_part_came_within_the_window() -> None:
    from bench.local_latency import Turn, resumed
    from bench.turn_clips import Clip

    def turn(*bounds: tuple[str, int]) -> Turn:
        kinds = {"start": ("input_audio_buffer.speech_started", "audio_start_ms"),
                 "stop": ("input_audio_buffer.speech_stopped", "audio_end_ms")}  # fmt: skip
        t = Turn(Clip("I want to know the time.", b"", "en-us", "pause after to know", "tuning", True))
        t.events = [(0.0, {"type": kinds[k][0], kinds[k][1]: ms, "item_id": f"item_{ms}"}) for k, ms in bounds]
        return t

    assert resumed(turn(("start", 700), ("stop", 2100), ("start", 2600), ("stop", 4000)))
    assert not resumed(turn(("start", 700), ("stop", 2100), ("start", 2900), ("stop", 4000)))  # onset 1100 ms on
    assert not resumed(turn(("start", 700), ("stop", 2100)))  # one part: not cut at all
    halted = turn(("start", 700), ("stop", 2100), ("start", 2600), ("stop", 4000))
    halted.events.append((0.0, {"type": "conversation.item.input_audio_transcription.completed",
                                "item_id": "item_4000", "transcript": "Stop."}))  # fmt: skip
    assert not resumed(halted)
