"""Command line for the jobs that need no browser: one turn from an audio file or a line of text, or a spoken
conversation through the microphone and the speaker.

    python -m cli --text "What is 12 times 7?" [--provider local] [--out DIR]
    python -m cli --audio question.wav [--out DIR]
    python -m cli --mic [--push-to-talk] [--echo gate] [--input-device N] [--output-device N]
    python -m cli --list-devices

``--mic`` talks full duplex (``realtime.terminal``, audio through sounddevice/PortAudio at 24 kHz, see
``realtime.audio_devices``): speak, hear the answer, talk over it to interrupt; Ctrl-C ends it (exit 0).
``--protocol live|realtime`` sets ``VOICE_PROTOCOL`` for the client.

Audio is read with soundfile (any format it knows), mixed to mono, resampled to 24 kHz with soxr, and streamed with
turn detection off; then the buffer is committed and a response requested, as the Realtime guide advises for audio
that arrives faster than real time. The program that calls :func:`main` supplies the tools (a
``realtime.conversation.ToolRunner``) and, for an engine in its own process, the connector: the project's ``cli.py``
(``python -m cli``) offers the enabled tools from ``tools/`` and starts the local engine in-process as the app does;
``python -m realtime.cli`` alone offers no tools and needs a server URL. ``--out DIR`` receives ``<item_id>.wav``
(24 kHz PCM16) per assistant audio item and ``transcript.json`` (both sides' transcripts, tool calls, usage).

Exit codes: 0 done; 1 the service reported an error or the response failed; 2 bad arguments or settings;
3 the connection failed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TextIO

import numpy as np

from realtime.config import Settings
from realtime.conversation import Conversation, ToolRunner
from realtime.events import (
    AppEvent,
    AssistantTextDone,
    AudioDelta,
    RealtimeError,
    ResponseDoneEvent,
    TextDelta,
    ToolCallFinished,
    ToolCallStarted,
    UserTranscript,
)
from realtime.protocol import BYTES_PER_MS, SAMPLE_RATE
from realtime.providers import Provider
from realtime.transport import Connector

__all__ = ["Composition", "Transcript", "load_audio", "main"]

CHUNK_BYTES = 1000 * BYTES_PER_MS  # 1 s of PCM16 per input_audio_buffer.append


class CliError(Exception):
    """A failure with a one-line message for the user and an exit code."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


def load_audio(path: Path) -> bytes:
    """Read ``path`` (any format soundfile reads) as PCM16 LE mono at ``SAMPLE_RATE`` (24000) Hz.

    Raises :class:`CliError` (exit 2) when the file is missing, unreadable or silent-empty.
    """
    import soundfile as sf
    import soxr

    try:
        samples, rate = sf.read(str(path), dtype="float32", always_2d=True)
    except (OSError, RuntimeError, sf.LibsndfileError) as exc:
        raise CliError(f"cannot read audio file {path}: {exc}", 2) from None
    if samples.shape[0] == 0:
        raise CliError(f"audio file {path} holds no samples", 2)
    mono = samples.mean(axis=1)
    if rate != SAMPLE_RATE:
        mono = soxr.resample(mono, rate, SAMPLE_RATE)
    pcm: bytes = (np.clip(mono, -1.0, 1.0) * 32767.0).astype("<i2").tobytes()
    return pcm


def _chunks(pcm: bytes, size: int = CHUNK_BYTES) -> Iterator[bytes]:
    for start in range(0, len(pcm), size):
        yield pcm[start : start + size]


@dataclass
class Transcript:
    """Collects one run's app events into what ``--out`` writes and decides when the run is over."""

    out: TextIO = sys.stdout
    turns: list[dict[str, Any]] = field(default_factory=list)
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    responses: list[dict[str, Any]] = field(default_factory=list)
    audio: dict[str, bytearray] = field(default_factory=dict)
    _pending_tools: int = 0
    _streaming: str | None = None

    def feed(self, event: AppEvent) -> bool:
        """Take one event; True once the exchange is over (a response done with no tool call to follow up).
        Raises :class:`CliError` (exit 1) on an error event or a failed response."""
        if isinstance(event, UserTranscript) and event.final:
            self._end_line()
            self.turns.append({"role": "user", "item_id": event.item_id, "text": event.transcript})
            print(f"you: {event.transcript}", file=self.out, flush=True)
        elif isinstance(event, TextDelta):
            if self._streaming != event.item_id:
                self._end_line()
                print("assistant: ", end="", file=self.out)
                self._streaming = event.item_id
            print(event.delta, end="", file=self.out, flush=True)
        elif isinstance(event, AssistantTextDone):
            self._end_line()
            self.turns.append({"role": "assistant", "item_id": event.item_id, "text": event.text})
        elif isinstance(event, AudioDelta):
            self.audio.setdefault(event.item_id, bytearray()).extend(event.pcm)
        elif isinstance(event, ToolCallStarted):
            self._end_line()
            self._pending_tools += 1
            print(f"[tool] {event.name}({event.arguments})", file=self.out, flush=True)
        elif isinstance(event, ToolCallFinished):
            self._pending_tools -= 1
            self.tool_calls.append(
                {"call_id": event.call_id, "name": event.name, "arguments": event.arguments,
                 "output": event.output, "ok": event.ok, "duration_ms": round(event.duration_ms, 1)}
            )  # fmt: skip
            print(f"[tool] {event.name} -> {event.output}", file=self.out, flush=True)
        elif isinstance(event, RealtimeError):
            self._end_line()
            raise CliError(f"error from the service: {event.message}", 1)
        elif isinstance(event, ResponseDoneEvent):
            self._end_line()
            self.responses.append(
                {"response_id": event.response_id, "status": event.status, "usage": event.usage,
                 "latency_ms": event.latency_ms}
            )  # fmt: skip
            if event.status in ("failed", "incomplete"):
                reason = (event.status_details or {}).get("error") or (event.status_details or {}).get("reason")
                raise CliError(f"the response {event.status}" + (f": {reason}" if reason else ""), 1)
            # A response whose calls run is followed by exactly one more response (with the calls' outputs).
            return self._pending_tools == 0 and event.function_calls == 0
        return False

    def _end_line(self) -> None:
        if self._streaming is not None:
            print(file=self.out, flush=True)
            self._streaming = None

    def write(self, out_dir: Path) -> None:
        """Write ``<item_id>.wav`` per assistant audio item and ``transcript.json`` into ``out_dir``."""
        import soundfile as sf

        out_dir.mkdir(parents=True, exist_ok=True)
        files = []
        for item_id, pcm in self.audio.items():
            path = out_dir / f"{item_id}.wav"
            sf.write(str(path), np.frombuffer(bytes(pcm), dtype="<i2"), SAMPLE_RATE, subtype="PCM_16")
            files.append(path.name)
        doc = {"turns": self.turns, "tool_calls": self.tool_calls, "responses": self.responses, "audio": files}
        (out_dir / "transcript.json").write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n")


class Composition(Protocol):
    """What the program around the command line supplies: the tools and how to connect."""

    def runner(self, settings: Settings) -> ToolRunner | None:
        """The tools to offer and run (``None``: none)."""
        ...

    def connector(self, provider: Provider) -> Connector | None:
        """How to reach ``provider`` (``None``: the default websocket)."""
        ...


class _Bare:
    def runner(self, settings: Settings) -> ToolRunner | None:
        return None

    def connector(self, provider: Provider) -> Connector | None:
        return None


def _settings(args: argparse.Namespace) -> Settings:
    overrides: dict[str, Any] = {}
    if args.provider:
        overrides["realtime_provider"] = args.provider
    if getattr(args, "protocol", None):
        overrides["voice_protocol"] = args.protocol  # VOICE_PROTOCOL (ignored by settings that lack it)
    return Settings(**overrides)


def _setup(
    args: argparse.Namespace, parts: Composition | None
) -> tuple[Settings, Provider, Connector | None, ToolRunner | None]:
    from realtime.providers import ConfigurationError, build_provider

    settings = _settings(args)
    try:
        provider = build_provider(settings)
    except ConfigurationError as exc:
        raise CliError(str(exc), 2) from None
    parts = parts or _Bare()
    connector = parts.connector(provider)
    if provider.in_process and connector is None:
        raise CliError("the local engine runs in-process only with `python -m cli` (or set LOCAL_ENGINE_URL)", 2)
    return settings, provider, connector, parts.runner(settings)


async def run(args: argparse.Namespace, out: TextIO = sys.stdout, parts: Composition | None = None) -> Transcript:
    """One exchange with the configured provider, with the tools and connector of ``parts``. Raises
    :class:`CliError`."""
    from realtime.client import ConnectionFailed, RealtimeClient

    settings, provider, connector, runner = _setup(args, parts)
    options = settings.default_session_options()
    if args.audio:
        options.turn_detection = "push_to_talk"
    if args.text_only:
        options.output_modalities = ["text"]
    pcm = load_audio(Path(args.audio)) if args.audio else b""
    transcript = Transcript(out=out)
    try:
        client = RealtimeClient(
            settings,
            provider=provider,
            tools=runner.definitions() if runner is not None else (),
            options=options,
            connector=connector,
        )
        Conversation(client, runner)
        async with client as rt:
            events = rt.events()
            if args.audio:
                for chunk in _chunks(pcm):
                    await rt.append_audio(chunk)
                await rt.commit()
                await rt.create_response()
            else:
                await rt.send_text(args.text)
            async with asyncio.timeout(args.timeout):
                async for event in events:
                    if transcript.feed(event):
                        break
    except TimeoutError:
        raise CliError(f"no complete answer within {args.timeout:g} s", 1) from None
    except ConnectionFailed as exc:
        raise CliError(f"connection failed: {exc}", 3) from None
    return transcript


async def run_mic(args: argparse.Namespace, out: TextIO = sys.stdout, parts: Composition | None = None) -> None:
    """A spoken conversation through the audio devices until Ctrl-C (``realtime.terminal``). Raises
    :class:`CliError` (exit 2 when audio cannot work here: PortAudio missing, a device that cannot be opened)."""
    from realtime.audio_devices import AudioUnavailable, DeviceStreams, parse_device
    from realtime.client import ConnectionFailed, RealtimeClient
    from realtime.playback import Playback
    from realtime.terminal import FatalChatError, MicChat, MicOptions, stdin_keys

    settings, provider, connector, runner = _setup(args, parts)
    options = settings.default_session_options()
    if args.push_to_talk:
        options.turn_detection = "push_to_talk"
    playback = Playback()
    chat = MicChat(playback, MicOptions(args.push_to_talk, args.echo, trace=args.trace), out=out)
    streams = DeviceStreams(
        playback, chat.on_input, asyncio.get_running_loop(), input_device=parse_device(args.input_device),
        output_device=parse_device(args.output_device), block_ms=args.block_ms,
    )  # fmt: skip
    try:
        streams.start()  # before connecting: a missing PortAudio or device fails at once
        client = RealtimeClient(
            settings, provider=provider, tools=runner.definitions() if runner is not None else (), options=options,
            connector=connector,
        )  # fmt: skip
        Conversation(client, runner)
        async with client as rt:
            await chat.run(rt, stdin_keys() if args.push_to_talk else None)
    except AudioUnavailable as exc:
        raise CliError(str(exc), 2) from None
    except FatalChatError as exc:
        raise CliError(str(exc), 1) from None
    except ConnectionFailed as exc:
        raise CliError(f"connection failed: {exc}", 3) from None
    finally:
        streams.close()
        if streams.output_underflows or streams.input_overflows or chat.mic_dropped:
            print(
                f"audio: {streams.output_underflows} speaker underflows, {streams.input_overflows} microphone "
                f"overflows, {chat.mic_dropped} microphone blocks dropped",
                file=sys.stderr,
            )


def _list_devices() -> None:
    from realtime.audio_devices import AudioUnavailable, device_list

    try:
        print(device_list())
    except AudioUnavailable as exc:
        raise CliError(str(exc), 2) from None


def _parser(prog: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description=__doc__.split("\n\n")[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--audio", metavar="FILE", help="an audio file to send as one spoken turn")
    source.add_argument("--text", help="a line of text to send as one typed turn")
    source.add_argument("--mic", action="store_true", help="talk through the microphone and speaker until Ctrl-C")
    source.add_argument("--list-devices", action="store_true", help="list the audio devices and exit")
    parser.add_argument("--provider", choices=["openai", "azure", "local"], help="default: from the settings")
    parser.add_argument(
        "--protocol", choices=["live", "realtime"], help="the voice protocol (sets VOICE_PROTOCOL; default: settings)"
    )
    mic = parser.add_argument_group("--mic")
    mic.add_argument("--push-to-talk", action="store_true", help="Enter (or space) starts your turn, again sends it")
    mic.add_argument(
        "--echo", choices=["none", "gate"], default="none",
        help="gate: mute the microphone while the answer plays (loudspeakers); none: use headphones",
    )  # fmt: skip
    mic.add_argument("--input-device", metavar="DEV", help="microphone: index or part of a name (--list-devices)")
    mic.add_argument("--output-device", metavar="DEV", help="speaker: index or part of a name (--list-devices)")
    mic.add_argument("--block-ms", type=int, default=20, choices=[10, 20, 40], help="audio block size in ms")
    mic.add_argument("--trace", metavar="FILE", type=Path, help="write the app events as JSON lines with times")
    parser.add_argument("--out", metavar="DIR", type=Path, help="write answer WAVs and transcript.json here")
    parser.add_argument("--text-only", action="store_true", help="ask for a text answer (no audio)")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds to wait for the answer")
    return parser


def main(
    argv: list[str] | None = None, parts: Composition | None = None, *, prog: str = "python -m realtime.cli"
) -> int:
    """Run the command line (``argv``: the arguments; ``parts``: tools and connector); the exit code."""
    args = _parser(prog).parse_args(argv)
    try:
        if args.list_devices:
            _list_devices()
        elif args.mic:
            try:
                asyncio.run(run_mic(args, parts=parts))
            except KeyboardInterrupt:  # Ctrl-C is how a conversation ends: streams and session are closed
                print("\nbye", file=sys.stderr)
        else:
            transcript = asyncio.run(run(args, parts=parts))
            if args.out:
                transcript.write(args.out)
    except CliError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.code
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
