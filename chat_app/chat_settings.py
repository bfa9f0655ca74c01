"""The chat settings panel (Chainlit ``ChatSettings``) and its mapping onto :class:`SessionOptions`.

Widget ids are the keys Chainlit sends back in ``on_settings_update``: ``voice``, ``instructions``,
``turn_detection``, ``transcription``, and ``reasoning_effort`` (offered only when the session's model reasons,
``realtime.model_lifecycle.accepts_reasoning``; ``default`` leaves the effort to the model).

What the browser sends is checked before anything changes (:func:`validate_values`): the payload must be an object,
the voice one of the panel's voices, the turn mode and the reasoning effort one of the panel's, the switch a
boolean, and the instructions a string of at most :data:`MAX_INSTRUCTIONS_CHARS` characters. The first bad value
raises :class:`SettingsError` naming the setting (never quoting more than :data:`QUOTE_CHARS` characters of the
value) and nothing is applied.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast, get_args

from chainlit.input_widget import InputWidget, Select, Switch, TextInput

from realtime.config import SessionOptions, TurnMode
from realtime.model_lifecycle import DEFAULT_TRANSCRIPTION_MODEL, accepts_reasoning
from realtime.protocol import ReasoningEffort

__all__ = [
    "EFFORT_LABELS",
    "MAX_INSTRUCTIONS_CHARS",
    "TURN_LABELS",
    "VOICES",
    "SettingsError",
    "options_from_values",
    "settings_widgets",
    "validate_values",
    "voices_for",
]

MAX_INSTRUCTIONS_CHARS = 8000  # instructions longer than this are refused (about 2,000 tokens of system prompt)
QUOTE_CHARS = 40  # at most this much of a refused value is quoted back

# Voices of OpenAI's gpt-realtime (Realtime API reference, ``audio.output.voice``). The local engine has one voice
# and accepts any name.
VOICES = ["alloy", "ash", "ballad", "cedar", "coral", "echo", "marin", "sage", "shimmer", "verse"]

TURN_LABELS: dict[str, TurnMode] = {
    "Automatic: pause to finish (server VAD)": "server_vad",
    "Automatic: understands when you are done (semantic VAD)": "semantic_vad",
    "Push-to-talk: stop the microphone to send": "push_to_talk",
}

# session.reasoning.effort of reasoning models (openai.types.realtime.RealtimeReasoningEffort); "default" sends none.
EFFORT_DEFAULT = "default"
EFFORT_LABELS: dict[str, str] = {
    "The model's default": EFFORT_DEFAULT,
    "Minimal (fastest)": "minimal",
    "Low": "low",
    "Medium": "medium",
    "High": "high",
    "Extra high (slowest)": "xhigh",
}


class SettingsError(ValueError):
    """A chat setting was refused. ``setting`` is the widget's label; the message says why, for a person."""

    def __init__(self, setting: str, message: str) -> None:
        super().__init__(f"{setting}: {message}")
        self.setting = setting


def voices_for(options: SessionOptions) -> list[str]:
    """The voices offered in the panel: the provider's voices, with the configured default first if it is not one
    of them (the local engine speaks every name with its one voice)."""
    return VOICES if options.voice in VOICES else [options.voice, *VOICES]


def _quote(value: Any) -> str:
    text = value if isinstance(value, str) else type(value).__name__
    return repr(text[:QUOTE_CHARS] + "…" if len(text) > QUOTE_CHARS else text)


def validate_values(values: Any, voices: list[str]) -> dict[str, Any]:
    """The panel's ``values`` if every known one is acceptable (unknown keys are ignored); raises
    :class:`SettingsError` for the first one that is not. ``voices``: the voices the panel offered."""
    if not isinstance(values, Mapping):
        raise SettingsError("Settings", f"expected an object of settings, got {type(values).__name__}")
    voice = values.get("voice")
    if voice is not None and (not isinstance(voice, str) or voice.strip() not in voices):
        raise SettingsError("Voice", f"{_quote(voice)} is not one of the voices offered")
    turn = values.get("turn_detection")
    if turn is not None and turn not in get_args(TurnMode):
        raise SettingsError("When is my turn over?", f"{_quote(turn)} is not one of the choices")
    transcription = values.get("transcription")
    if transcription is not None and not isinstance(transcription, bool):
        raise SettingsError("Show what I said", "expected on or off")
    effort = values.get("reasoning_effort")
    if effort is not None and effort not in EFFORT_LABELS.values():
        raise SettingsError("Reasoning effort", f"{_quote(effort)} is not one of the choices")
    instructions = values.get("instructions")
    if instructions is not None:
        if not isinstance(instructions, str):
            raise SettingsError("Instructions", "expected text")
        if len(instructions) > MAX_INSTRUCTIONS_CHARS:
            raise SettingsError(
                "Instructions", f"{len(instructions):,} characters is too long (at most {MAX_INSTRUCTIONS_CHARS:,})"
            )
    return dict(values)


def settings_widgets(options: SessionOptions) -> list[InputWidget]:
    """The widgets, showing ``options`` as their initial values (reasoning effort only for a reasoning model)."""
    voices = voices_for(options)
    effort: list[InputWidget] = []
    if accepts_reasoning(options.model):
        effort.append(
            Select(
                id="reasoning_effort",
                label="Reasoning effort (more: better answers to hard questions, but slower)",
                items=dict(EFFORT_LABELS),
                initial_value=options.reasoning_effort or EFFORT_DEFAULT,
            )
        )
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
        *effort,
    ]


def options_from_values(
    values: Mapping[str, Any], current: SessionOptions, *, transcription_model: str | None
) -> SessionOptions:
    """``current`` updated with the panel's ``values``; unknown or malformed values keep the current setting.

    ``transcription_model`` is the model turned on by the ``transcription`` switch (``gpt-realtime-whisper`` if
    None).
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
        changes["transcription_model"] = (transcription_model or DEFAULT_TRANSCRIPTION_MODEL) if transcription else None
    effort = values.get("reasoning_effort")
    if effort in EFFORT_LABELS.values():
        changes["reasoning_effort"] = None if effort == EFFORT_DEFAULT else cast(ReasoningEffort, effort)
    return current.model_copy(update=changes)
