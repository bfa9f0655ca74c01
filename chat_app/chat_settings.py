"""The chat settings panel (Chainlit ``ChatSettings``) and its mapping onto :class:`SessionOptions`.

Widget ids are the keys Chainlit sends back in ``on_settings_update``: ``voice``, ``instructions``,
``turn_detection``, ``transcription``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, get_args

from chainlit.input_widget import InputWidget, Select, Switch, TextInput

from realtime.config import SessionOptions, TurnMode

__all__ = ["TURN_LABELS", "VOICES", "options_from_values", "settings_widgets"]

# Voices of OpenAI's gpt-realtime (Realtime API reference, ``audio.output.voice``). The local engine has one voice
# and accepts any name.
VOICES = ["alloy", "ash", "ballad", "cedar", "coral", "echo", "marin", "sage", "shimmer", "verse"]

TURN_LABELS: dict[str, TurnMode] = {
    "Automatic: pause to finish (server VAD)": "server_vad",
    "Automatic: understands when you are done (semantic VAD)": "semantic_vad",
    "Push-to-talk: stop the microphone to send": "push_to_talk",
}


def settings_widgets(options: SessionOptions) -> list[InputWidget]:
    """The widgets, showing ``options`` as their initial values."""
    voices = VOICES if options.voice in VOICES else [options.voice, *VOICES]
    return [
        Select(id="voice", label="Voice", values=voices, initial_value=options.voice),
        Select(
            id="turn_detection",
            label="When is my turn over?",
            items=dict(TURN_LABELS),
            initial_value=options.turn_detection,
        ),
        Switch(
            id="transcription",
            label="Show what I said (transcribe my speech)",
            initial=options.transcription_model is not None,
        ),
        TextInput(
            id="instructions",
            label="Instructions for the assistant",
            initial=options.instructions,
            multiline=True,
        ),
    ]


def options_from_values(
    values: Mapping[str, Any], current: SessionOptions, *, transcription_model: str | None
) -> SessionOptions:
    """``current`` updated with the panel's ``values``; unknown or malformed values keep the current setting.

    ``transcription_model`` is the model turned on by the ``transcription`` switch (``whisper-1`` if None).
    """
    changes: dict[str, Any] = {}
    voice = values.get("voice")
    if isinstance(voice, str) and voice.strip():
        changes["voice"] = voice.strip()
    turn = values.get("turn_detection")
    if turn in get_args(TurnMode):
        changes["turn_detection"] = turn
    instructions = values.get("instructions")
    if isinstance(instructions, str) and instructions.strip():
        changes["instructions"] = instructions.strip()
    transcription = values.get("transcription")
    if isinstance(transcription, bool):
        changes["transcription_model"] = (transcription_model or "whisper-1") if transcription else None
    return current.model_copy(update=changes)
