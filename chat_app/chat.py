"""One chat's bridge between Chainlit and a realtime session: callbacks in, app events out.

:class:`VoiceChat` holds the session of one Chainlit chat. Chainlit callbacks call its methods
(``start``, ``send_text``, ``start_voice``, ``push_audio``, ``end_voice``, ``apply_settings``, ``close``); a task
reads the session's app events (``realtime.events``) and renders them with Chainlit: streamed assistant messages,
the user's spoken words as user messages, tool steps, audio chunks with one track per response, interrupts,
errors in words and a status message with provider, connection state, tokens and latency.

Audio in: PCM16 LE mono 24 kHz bytes as the browser records them (8192 bytes a chunk). Audio out: the same format,
``send_audio_chunk`` with the response's track id (Chainlit docs, "Audio" / ``cl.OutputAudioChunk``).

Input is checked at the edge. An audio payload that is not bytes is dropped and counted (one log line per chat);
audio sent while the microphone is not on (no ``audio_start``, or more than a second after ``audio_end``) is
ignored the same way. At most :data:`MAX_QUEUED_AUDIO_MS` of microphone audio waits to be sent: past it the
oldest is dropped, with one warning per streak, so a slow connection costs the start of an utterance instead of a
lag that grows. Voice is admitted per chat (``chat_app.admission``): above the process's limit the user is told
the app is busy and typed chat keeps working. Chat settings are validated (``chat_app.chat_settings``): a bad value
is refused with a message naming the setting, and the chat keeps its settings.

The connection state is shown in the status message; a toast tells each change of state (lost, back), not each
reconnect attempt. When the session stops for good (a fatal error, or no connection could be made), one message
says why and carries a "Try again" action (:data:`TRY_AGAIN_ACTION`); nothing reconnects until it is pressed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import chainlit as cl
from chainlit.context import local_steps
from chainlit.utils import utc_now

from chat_app.admission import VoiceAdmission
from chat_app.chat_settings import SettingsError, options_from_values, settings_widgets, validate_values, voices_for
from chat_app.render import (
    Stats,
    describe_error,
    describe_provider,
    describe_tools,
    format_latency,
    redact,
)
from realtime.config import SessionOptions
from realtime.events import (
    AppEvent,
    AssistantTextDone,
    AudioDelta,
    Interrupted,
    RealtimeError,
    Reconnected,
    Reconnecting,
    ResponseDoneEvent,
    ResponseStarted,
    SessionReady,
    SpeechStarted,
    SpeechStopped,
    TextDelta,
    ToolCallFinished,
    ToolCallStarted,
    UserTranscript,
    VoiceUsage,
)
from realtime.protocol import BYTES_PER_MS
from realtime.session import AudioPlayback, classify_error

__all__ = [
    "BYTES_PER_MS",
    "MAX_QUEUED_AUDIO_MS",
    "MIN_COMMIT_BYTES",
    "TRY_AGAIN_ACTION",
    "AudioInbox",
    "RealtimeLike",
    "VoiceChat",
]

log = logging.getLogger("app")

MIN_COMMIT_BYTES = 100 * BYTES_PER_MS  # input_audio_buffer.commit needs at least 100 ms (Realtime API reference)
MAX_QUEUED_AUDIO_MS = 2000  # microphone audio waiting to be sent beyond this is dropped, oldest first
MAX_APPEND_BYTES = 500 * BYTES_PER_MS  # chunks that queued up behind a slow send go out joined, up to this
AUDIO_END_GRACE_S = 1.0  # chunks already in flight when the mic stopped are still taken this long
STABLE_AFTER_S = 10.0  # connected this long ends a streak of trouble: its toasts and errors may show again
TRY_AGAIN_ACTION = "try_again"  # the Chainlit action name that reopens a stopped session
SPEAKING = "\N{STUDIO MICROPHONE}\ufe0f"
ASSISTANT_AUTHOR = "Assistant"


class RealtimeLike(Protocol):
    """What the app needs of ``realtime.client.RealtimeClient``."""

    async def connect(self) -> Any: ...
    async def close(self) -> None: ...
    def events(self) -> AsyncIterator[AppEvent]: ...
    async def append_audio(self, pcm: bytes) -> None: ...
    async def send_text(self, text: str) -> None: ...
    async def commit(self) -> None: ...
    async def create_response(self) -> None: ...
    async def cancel(self) -> None: ...
    async def update_session(self, **changes: Any) -> None: ...
    async def add_items(self, items: Sequence[Mapping[str, Any]]) -> Any: ...


ClientFactory = Callable[[SessionOptions], RealtimeLike]


class _Commit:
    """Queue marker: end of a push-to-talk turn (sent after the chunks queued before it)."""


_COMMIT = _Commit()


class AudioInbox:
    """The microphone audio of one chat waiting to be sent, in order, bounded to ``max_bytes`` of audio: a put
    beyond it drops the oldest audio (never a commit marker) and counts it in ``dropped_bytes``."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._items: deque[bytes | _Commit] = deque()
        self._bytes = 0
        self._ready = asyncio.Event()
        self.dropped_bytes = 0
        self.dropping = False  # True from the first drop until the inbox drains (one warning per streak)

    def put(self, item: bytes | _Commit) -> int:
        """Queue ``item``; returns how many bytes of older audio were dropped to make room."""
        self._items.append(item)
        dropped = 0
        if isinstance(item, bytes):
            self._bytes += len(item)
            while self._bytes > self.max_bytes:
                oldest = next((i for i in self._items if isinstance(i, bytes)), None)
                if oldest is None or oldest is item:
                    break
                self._items.remove(oldest)
                self._bytes -= len(oldest)
                dropped += len(oldest)
        self.dropped_bytes += dropped
        self._ready.set()
        return dropped

    async def get(self, max_join: int = 0) -> bytes | _Commit:
        """The oldest item; with ``max_join``, audio queued behind it (up to that many bytes in all) comes joined
        to it, so a session that fell behind catches up with fewer, larger appends (no delay when it keeps up)."""
        while not self._items:
            self.dropping = False
            self._ready.clear()
            await self._ready.wait()
        item = self._items.popleft()
        if isinstance(item, bytes):
            self._bytes -= len(item)
            if max_join and self._items and isinstance(self._items[0], bytes):
                parts = [item]
                size = len(item)
                while self._items and isinstance(nxt := self._items[0], bytes) and size + len(nxt) <= max_join:
                    parts.append(nxt)
                    size += len(nxt)
                    self._bytes -= len(nxt)
                    self._items.popleft()
                item = b"".join(parts)
        return item

    def __len__(self) -> int:
        return len(self._items)


@dataclass
class _Track:
    """One response's audio as forwarded to the browser: the session's playback estimate
    (:class:`realtime.session.AudioPlayback`) fed with what was really sent, and whether it was cut."""

    track: str
    playback: AudioPlayback = field(init=False)
    interrupted: bool = False

    def __post_init__(self) -> None:
        self.playback = AudioPlayback(self.track, track=self.track)

    @property
    def first_sent(self) -> float | None:
        return self.playback.first_sent_at

    def playing(self, now: float) -> bool:
        """True while the audio sent so far has not finished playing."""
        return not self.interrupted and self.playback.playing(now)


class VoiceChat:
    """The realtime session of one Chainlit chat and its rendering.

    ``factory(options)`` makes a not yet connected client. ``provider_name``/``provider_label`` describe the backend
    for the status; ``tool_names``/``tools_disabled`` the tools (name -> reason); ``secrets`` are removed from every
    error text; ``transcription_model`` is what the transcription switch turns on.
    """

    def __init__(
        self,
        factory: ClientFactory,
        options: SessionOptions,
        *,
        provider_name: str,
        provider_label: str,
        tool_names: Sequence[str] = (),
        tools_disabled: Mapping[str, str] | None = None,
        secrets: Sequence[str] = (),
        transcription_model: str | None = None,
        connect_timeout_s: float = 60.0,
        admission: VoiceAdmission | None = None,
        max_queued_audio_ms: int = MAX_QUEUED_AUDIO_MS,
    ) -> None:
        self._factory = factory
        self.options = options
        self.provider_name = provider_name
        self.provider_label = provider_label
        self._tool_names = list(tool_names)
        self._tools_disabled = dict(tools_disabled or {})
        self._secrets = list(secrets)
        self._transcription_model = transcription_model or options.transcription_model
        self._connect_timeout_s = connect_timeout_s
        self._admission = admission
        self._voices = voices_for(options)

        self._client: RealtimeLike | None = None
        self._connect_lock = asyncio.Lock()
        self._events_task: asyncio.Task[None] | None = None
        self._sender_task: asyncio.Task[None] | None = None
        self._audio = AudioInbox(max_queued_audio_ms * BYTES_PER_MS)
        self._uncommitted_bytes = 0
        self._closed = False
        self._stopped = False  # stopped for good: nothing reconnects until "Try again"
        self._stop_message: cl.Message | None = None
        self._link = "connecting"  # connected | reconnecting | stopped: a toast per change, not per attempt
        self._stable_since = time.monotonic()
        self._toasted: set[str] = set()  # state toasts shown in this streak of trouble
        self._errors_shown: set[str] = set()  # error codes shown in this streak

        self.mic_on = False
        self._voice_starting = False
        self._mic_off_at: float | None = None
        self.dropped_payloads = 0  # audio payloads that were not bytes
        self.ignored_chunks = 0  # audio sent while the microphone was not on
        self._player_ready = False  # the browser's player exists once voice was started in this chat
        self._tracks: dict[str, _Track] = {}
        self._current: _Track | None = None

        self._assistant: dict[str, cl.Message] = {}
        self._shown: set[str] = set()  # ids of assistant messages already on the page
        self._cut_short: set[str] = set()  # assistant items interrupted by the user: they show what was heard
        self._user: dict[str, cl.Message] = {}
        self._user_text: dict[str, str] = {}
        self._pending_user: deque[cl.Message] = deque()
        self._steps: dict[str, cl.Step] = {}
        self.stats = Stats()
        self._status: cl.Message | None = None
        self._state = "Connecting…"
        # A resumed chat (chat_app.history): earlier turns put into each new session, and a hook called with the
        # words of each spoken user turn (so a chat begun by voice starts its thread).
        self.earlier_items: list[dict[str, Any]] = []
        self.on_spoken_turn: Callable[[str], Awaitable[None]] | None = None

    # ------------------------------------------------------------------ Chainlit callbacks

    async def start(self) -> None:
        """``on_chat_start``: show the status and the settings panel, then open the session."""
        self._status = cl.Message(content=self._status_text(), author="Status")
        await self._status.send()
        await cl.ChatSettings(settings_widgets(self.options)).send()
        await self.ensure_connected()

    async def send_text(self, text: str) -> None:
        """``on_message``: a typed message goes into the same conversation, spoken too when voice is on."""
        if not text.strip():
            return
        client = await self.ensure_connected()
        if client is None:
            await self._tell_stopped()
            return
        try:
            await self._set_spoken(self.mic_on)
            await client.send_text(text)
        except Exception as exc:
            await self._report_exception("Sending your message failed", exc)

    async def start_voice(self) -> bool:
        """``on_audio_start``: True (mic on) once the session is up; False when it cannot be opened or the process
        already relays its limit of voice chats (the user is told it is busy)."""
        if self._admission is not None and not self._admission.acquire(self):
            await cl.ErrorMessage(
                content=(
                    f"Voice is busy: this app is already relaying {self._admission.limit} voice conversations, "
                    "the most it can take. Typed messages still work; try the microphone again in a while."
                ),
                author="Error",
            ).send()
            return False
        self._voice_starting = True
        try:
            client = await self.ensure_connected()
        finally:
            self._voice_starting = False
        if client is None:
            self._release_voice()
            await self._tell_stopped()
            return False
        self.mic_on = True
        self._player_ready = True
        self._ensure_sender()
        try:
            await self._set_spoken(True)
        except Exception as exc:
            await self._report_exception("Turning voice on failed", exc)
        return True

    def push_audio(self, pcm: object) -> None:
        """``on_audio_chunk``: queue the chunk at once, before any await, so chunks keep their order. A payload
        that is not bytes, or audio while the mic is off, is dropped and counted (logged once per chat)."""
        if self._closed:
            return
        if not isinstance(pcm, bytes | bytearray | memoryview):
            self.dropped_payloads += 1
            if self.dropped_payloads == 1:
                log.warning(
                    "dropped a malformed audio payload (%s instead of bytes); further ones in this chat are "
                    "dropped without a log line",
                    type(pcm).__name__,
                )
            return
        if not self._accepting_audio():
            self.ignored_chunks += 1
            if self.ignored_chunks == 1:
                log.info("ignored audio sent while the microphone is off; further chunks are ignored silently")
            return
        pcm = bytes(pcm)
        if len(pcm) % 2:
            pcm = pcm[:-1]
        if not pcm:
            return
        dropped = self._audio.put(pcm)
        if dropped and not self._audio.dropping:
            self._audio.dropping = True
            log.warning(
                "dropped %d ms of microphone audio: more than %d ms waited to be sent (the service connection "
                "is not keeping up)",
                dropped // BYTES_PER_MS,
                self._audio.max_bytes // BYTES_PER_MS,
            )
        self._ensure_sender()

    def _accepting_audio(self) -> bool:
        if self.mic_on or self._voice_starting:
            return True
        return self._mic_off_at is not None and time.monotonic() - self._mic_off_at < AUDIO_END_GRACE_S

    async def end_voice(self) -> None:
        """``on_audio_end``: the user stopped the mic. Push-to-talk: commit the turn (after the queued chunks).
        The browser stops its player when the mic stops: the playing response's audio is no longer sent, and the
        service is told (``response.cancel``, and ``conversation.item.truncate`` at what was heard), so the
        model's context holds only the words the user heard."""
        was_on, self.mic_on = self.mic_on, False
        self._release_voice()
        if was_on:
            self._mic_off_at = time.monotonic()
        if self._current is not None and self._current.playing(time.monotonic()):
            self._current.interrupted = True
            if self._client is not None:
                try:
                    await self._client.cancel()
                except Exception as exc:
                    await self._report_exception("Stopping the answer failed", exc)
        if was_on and self.options.turn_detection == "push_to_talk":
            self._audio.put(_COMMIT)
            self._ensure_sender()

    def _release_voice(self) -> None:
        if self._admission is not None:
            self._admission.release(self)

    async def apply_settings(self, values: Mapping[str, Any]) -> None:
        """``on_settings_update``: apply the chat settings to the live session (and to a later reconnect). A bad
        value is refused with a message naming the setting; then nothing changes and the panel shows the settings
        in force again."""
        try:
            values = validate_values(values, self._voices)
        except SettingsError as exc:
            log.info("chat settings refused: %s", exc.setting)
            await self._restore_settings_panel()
            await cl.context.emitter.send_toast(f"Setting not applied: {exc}", "error")
            return
        new = options_from_values(values, self.options, transcription_model=self._transcription_model)
        changes = {
            name: getattr(new, name)
            for name in ("voice", "instructions", "turn_detection", "transcription_model", "reasoning_effort")
            if getattr(new, name) != getattr(self.options, name)
        }
        self.options = new
        if not changes:
            return
        client = self._client
        if client is not None:
            try:
                await client.update_session(**changes)
            except Exception as exc:
                await self._report_exception("Changing the settings failed", exc)
                return
        summary = ", ".join(_describe_change(k, v) for k, v in changes.items())
        await cl.context.emitter.send_toast(f"Settings applied: {summary}", "success")

    async def _restore_settings_panel(self) -> None:
        """Chainlit stored the refused values in the session's chat settings: put the ones in force back and
        show them in the panel again."""
        current = {
            "voice": self.options.voice,
            "turn_detection": self.options.turn_detection,
            "transcription": self.options.transcription_model is not None,
            "instructions": self.options.instructions,
            "reasoning_effort": self.options.reasoning_effort or "default",
        }
        with contextlib.suppress(Exception):
            cl.context.session.chat_settings.update(current)
        await cl.ChatSettings(settings_widgets(self.options)).send()

    async def try_again(self) -> None:
        """The "Try again" action: reopen a stopped session (the stop message loses its button)."""
        message, self._stop_message = self._stop_message, None
        if message is not None:
            for action in message.actions:
                with contextlib.suppress(Exception):
                    await action.remove()
        if not self._stopped and self._client is not None:
            return
        self._stopped = False
        await self.ensure_connected()

    async def close(self) -> None:
        """``on_chat_end``: stop the tasks and close the session. Safe to call twice."""
        self._closed = True
        self._release_voice()
        client, self._client = self._client, None
        tasks = [t for t in (self._sender_task, self._events_task) if t is not None]
        self._sender_task = self._events_task = None
        current = asyncio.current_task()
        for task in tasks:
            if task is not current:
                task.cancel()
        for task in tasks:
            if task is not current:
                with contextlib.suppress(BaseException):
                    await task
        if client is not None:
            try:
                await client.close()
            except Exception as exc:
                log.warning("closing the realtime session failed: %s", self._redact(repr(exc)))

    # ------------------------------------------------------------------ session

    async def ensure_connected(self) -> RealtimeLike | None:
        """The connected client, opening the session first if needed (at chat start, or at first use after the
        socket reconnected). None, with the reason shown, when it cannot be opened."""
        if self._client is not None:
            return self._client
        if self._stopped:
            return None
        async with self._connect_lock:
            if self._client is not None:
                return self._client
            if self._stopped:
                return None
            self._closed = False
            client = self._factory(self.options.model_copy())
            self._state = f"Connecting to {self.provider_label}…"
            await self._update_status()
            try:
                async with asyncio.timeout(self._connect_timeout_s):
                    if self.earlier_items:  # before connect: GPT-Live takes history only in session.start
                        await client.add_items(self.earlier_items)
                    await client.connect()
            except Exception as exc:
                with contextlib.suppress(Exception):
                    await client.close()
                reason = self._redact(str(exc) or type(exc).__name__)
                log.warning("could not open the realtime session: %s", reason)
                await self._stop(f"Could not connect to {self.provider_label}: {reason}", f"Not connected: {reason}")
                return None
            self._client = client
            self._link = "connected"
            self._stable_since = time.monotonic()
            self._events_task = asyncio.create_task(self._read_events(client), name="realtime-events")
            self._state = f"Connected to {self.provider_label}"
            await self._update_status()
            return client

    async def _set_spoken(self, spoken: bool) -> None:
        """Ask for audio answers while voice is on, text answers otherwise (GA ``output_modalities``)."""
        want: list[Any] = ["audio"] if spoken else ["text"]
        if self.options.output_modalities == want:
            return
        self.options = self.options.model_copy(update={"output_modalities": want})
        if self._client is not None:
            await self._client.update_session(output_modalities=want)

    def _ensure_sender(self) -> None:
        if self._sender_task is None or self._sender_task.done():
            self._sender_task = asyncio.create_task(self._send_audio(), name="realtime-audio-in")

    async def _send_audio(self) -> None:
        """Forward queued microphone chunks in order; a commit marker ends a push-to-talk turn."""
        local_steps.set(None)
        failing = False
        while True:
            item = await self._audio.get(max_join=MAX_APPEND_BYTES)
            try:
                if self._stopped:
                    continue  # the stop was shown once; audio waits for "Try again", it does not reconnect
                client = await self.ensure_connected()
                if client is None:
                    continue
                if isinstance(item, _Commit):
                    await self._commit_turn(client)
                else:
                    await client.append_audio(item)
                    self._uncommitted_bytes += len(item)
                failing = False
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if not failing:  # one message per streak, not one per 170 ms chunk
                    await self._report_exception("Sending your audio failed", exc)
                failing = True

    async def _commit_turn(self, client: RealtimeLike) -> None:
        if self._uncommitted_bytes < MIN_COMMIT_BYTES:
            await cl.context.emitter.send_toast(describe_error("input_audio_buffer_commit_empty", ""), "warning")
            return
        self._uncommitted_bytes = 0
        await self._user_placeholder(None)
        await client.commit()
        await client.create_response()

    # ------------------------------------------------------------------ app events -> Chainlit

    async def _read_events(self, client: RealtimeLike) -> None:
        local_steps.set(None)  # our messages are top-level, not children of the callback that opened the session
        try:
            async for event in client.events():
                try:
                    await self.handle(event)
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception("rendering %s failed", type(event).__name__)
        finally:
            if self._client is client:  # the session ended by itself: the next use opens a new one
                self._client = None
                if not self._closed and not self._stopped:
                    self._state = "Disconnected; a new session opens when you speak or type"
                    with contextlib.suppress(Exception):
                        await self._update_status()

    async def handle(self, event: AppEvent) -> None:
        """Render one app event."""
        if isinstance(event, AudioDelta):
            await self._on_audio(event)
        elif isinstance(event, TextDelta):
            msg = await self._assistant_message(event.item_id)
            self._shown.add(msg.id)
            await msg.stream_token(event.delta)
        elif isinstance(event, AssistantTextDone):
            msg = await self._assistant_message(event.item_id)
            if event.text and event.item_id not in self._cut_short:
                msg.content = event.text
            if msg.id in self._shown:
                await msg.update()
            elif msg.content:
                self._shown.add(msg.id)
                await msg.send()
        elif isinstance(event, ResponseStarted):
            await self._finish_streaming()  # a reply cut short without its done event stops showing a cursor
            self._current = self._tracks[event.track] = _Track(event.track)
        elif isinstance(event, SpeechStarted):
            await self._stop_playback(self._current, only_if_playing=True)
        elif isinstance(event, SpeechStopped):
            await self._user_placeholder(event.item_id)
        elif isinstance(event, Interrupted):
            track = self._tracks.get(event.track) if event.track else self._current
            await self._stop_playback(track, only_if_playing=False)
            if event.item_id and event.heard is not None and event.item_id in self._assistant:
                # The chat shows what the user heard before cutting in, not the whole reply they never heard.
                msg = self._assistant[event.item_id]
                msg.content = f"{event.heard} *(interrupted)*" if event.heard else "*(interrupted)*"
                self._cut_short.add(event.item_id)
                if msg.id in self._shown or msg.streaming:
                    await msg.update()
            await self._finish_streaming()
        elif isinstance(event, UserTranscript):
            await self._on_user_transcript(event)
        elif isinstance(event, ToolCallStarted):
            await self._on_tool_started(event)
        elif isinstance(event, ToolCallFinished):
            await self._on_tool_finished(event)
        elif isinstance(event, ResponseDoneEvent):
            await self._on_response_done(event)
        elif isinstance(event, SessionReady):
            self._state = f"Connected to {self.provider_label}"
            await self._update_status()
        elif isinstance(event, Reconnecting):
            self._state = (
                f"Connection lost ({self._redact(event.reason)}); reconnecting, attempt {event.attempt} "
                f"in {event.delay_s:.0f} s…"
            )
            await self._update_status()
            if self._link == "connected" and "renew" not in event.reason:
                self._link = "reconnecting"
                if time.monotonic() - self._stable_since >= STABLE_AFTER_S:  # a new streak of trouble
                    self._toasted.clear()
                    self._errors_shown.clear()
                await self._toast_once("Connection lost; reconnecting…", "warning")
        elif isinstance(event, Reconnected):
            self._state = f"Connected to {self.provider_label}" + (" (session renewed)" if event.renewed else "")
            await self._update_status()
            if self._link == "reconnecting":
                await self._toast_once("Reconnected", "success")
            self._link = "connected"
            self._stable_since = time.monotonic()
        elif isinstance(event, RealtimeError):
            await self._on_error(event)
        elif isinstance(event, VoiceUsage):
            self.stats.voice(event.seconds)
            await self._update_status()

    async def _on_audio(self, event: AudioDelta) -> None:
        track = self._tracks.get(event.track)
        if track is None:  # audio before (or without) response.created: adopt its track
            track = self._current = self._tracks[event.track] = _Track(event.track)
        if track.interrupted or not self._player_ready or not event.pcm:
            return
        pcm = event.pcm if len(event.pcm) % 2 == 0 else event.pcm[:-1]
        track.playback.sent(len(pcm), time.monotonic())
        await cl.context.emitter.send_audio_chunk(cl.OutputAudioChunk(mimeType="pcm16", data=pcm, track=event.track))

    async def _stop_playback(self, track: _Track | None, *, only_if_playing: bool) -> None:
        """Barge-in: stop the browser's player now and forward nothing more of ``track``. The interrupt frame
        is sent once, and only for the track the browser is playing (it silences its *current* track)."""
        if track is None or track.interrupted:
            return
        if only_if_playing and not track.playing(time.monotonic()):
            return
        track.interrupted = True
        if track.first_sent is not None and track is self._current:
            await cl.context.emitter.send_audio_interrupt()

    async def _assistant_message(self, item_id: str) -> cl.Message:
        msg = self._assistant.get(item_id)
        if msg is None:
            # dated now: a streamed message is stored only when it ends, and the history lists steps by date
            msg = self._assistant[item_id] = cl.Message(content="", author=ASSISTANT_AUTHOR, created_at=utc_now())
        return msg

    async def _user_placeholder(self, item_id: str | None) -> None:
        """Show the user's turn where it happened; its transcript fills it in when it arrives (often late)."""
        if item_id is not None and item_id in self._user:
            return
        text = f"{SPEAKING} …" if self.options.transcription_model else f"{SPEAKING} (spoken; transcription is off)"
        msg = cl.Message(content=text, author="You", type="user_message")
        await msg.send()
        if not self.options.transcription_model and self.on_spoken_turn is not None:
            await self.on_spoken_turn("")
        if item_id is None:
            self._pending_user.append(msg)
        else:
            self._user[item_id] = msg

    async def _on_user_transcript(self, event: UserTranscript) -> None:
        if event.typed:  # the browser already shows what was typed
            return
        msg = self._user.get(event.item_id)
        if msg is None:
            if self._pending_user:
                msg = self._pending_user.popleft()
            else:
                msg = cl.Message(content="", author="You", type="user_message")
                await msg.send()
            self._user[event.item_id] = msg
        if event.final:
            text = event.transcript.strip() or f"{SPEAKING} (nothing recognised)"
            self._user_text.pop(event.item_id, None)
            if self.on_spoken_turn is not None:
                await self.on_spoken_turn(event.transcript.strip())
        else:
            text = self._user_text[event.item_id] = self._user_text.get(event.item_id, "") + event.transcript
            text = f"{text.strip()} …"
        msg.content = text
        await msg.update()

    async def _on_tool_started(self, event: ToolCallStarted) -> None:
        step = cl.Step(name=event.name, type="tool", show_input="json", language="json")
        step.input = self._redact(event.arguments or "{}")
        step.start = utc_now()
        self._steps[event.call_id] = step
        await step.send()

    async def _on_tool_finished(self, event: ToolCallFinished) -> None:
        step = self._steps.pop(event.call_id, None)
        if step is None:
            step = cl.Step(name=event.name, type="tool", show_input="json", language="json")
            step.input = self._redact(event.arguments or "{}")
            step.start = utc_now()
            await step.send()
        step.name = f"{event.name} ({format_latency(event.duration_ms)})"
        step.output = self._redact(event.output)
        step.is_error = not event.ok
        step.end = utc_now()
        await step.update()

    async def _finish_streaming(self) -> None:
        for msg in [m for m in self._assistant.values() if m.streaming]:
            await msg.update()

    async def _on_response_done(self, event: ResponseDoneEvent) -> None:
        await self._finish_streaming()
        tokens = self.stats.add(event.usage, event.latency_ms)
        if tokens:
            await cl.context.emitter.update_token_count(tokens)
        await self._update_status()

    async def _on_error(self, event: RealtimeError) -> None:
        if classify_error(event.code, event.message) == "silent":  # the session's classification, not ours
            log.info("recoverable service error %s", event.code)
            return
        text = describe_error(event.code, self._redact(event.message), fatal=event.fatal, retryable=event.retryable)
        log.warning("service error %s: %s", event.code, self._redact(event.message))
        if event.fatal:
            await self._stop(text, "Stopped: " + text)
            return
        if time.monotonic() - self._stable_since >= STABLE_AFTER_S and self._link == "connected":
            self._errors_shown.clear()
        if event.code in self._errors_shown:
            return  # the same error again while the connection flaps: shown once per streak
        self._errors_shown.add(event.code or "")
        await cl.ErrorMessage(content=text, author="Error").send()

    async def _toast_once(self, text: str, kind: str) -> None:
        """A toast for a change of connection state, once per streak of trouble (a streak ends once the
        connection stayed up :data:`STABLE_AFTER_S`)."""
        if text in self._toasted:
            return
        self._toasted.add(text)
        await cl.context.emitter.send_toast(text, kind)  # type: ignore[arg-type]

    async def _stop(self, text: str, state: str) -> None:
        """Stopped for good: one message with the "Try again" action (not one per failure), the status says so."""
        self._state = state
        self._link = "stopped"
        await self._update_status()
        if self._stopped:
            return
        self._stopped = True
        message = cl.Message(
            content=text,
            author="Error",
            actions=[cl.Action(name=TRY_AGAIN_ACTION, payload={}, label="Try again", tooltip="Reconnect")],
        )
        message.is_error = True
        self._stop_message = message
        await message.send()

    async def _tell_stopped(self) -> None:
        if self._stopped:
            await cl.context.emitter.send_toast(
                'The voice service is stopped; press "Try again" on the message above.', "warning"
            )

    async def _report_exception(self, what: str, exc: BaseException) -> None:
        reason = self._redact(str(exc) or type(exc).__name__)
        log.warning("%s: %s", what, reason)
        await cl.ErrorMessage(content=f"{what}: {reason}", author="Error").send()

    # ------------------------------------------------------------------ status

    def _status_text(self) -> str:
        lines = [f"{self._state}.", describe_provider(self.provider_name, self.provider_label)]
        tools = describe_tools(self._tool_names, self._tools_disabled)
        if tools:
            lines.append(tools)
        if stats := self.stats.line():
            lines.append(stats)
        return "\n\n".join(lines)

    async def _update_status(self) -> None:
        if self._status is None:
            return
        self._status.content = self._status_text()
        await self._status.update()

    def _redact(self, text: str) -> str:
        return redact(text, self._secrets)


def _describe_change(name: str, value: Any) -> str:
    if name == "transcription_model":
        return "transcription " + ("on" if value else "off")
    if name == "instructions":
        return "new instructions"
    if name == "reasoning_effort":
        return f"reasoning effort {value or 'the model default'}"
    if name == "turn_detection":
        return {"server_vad": "server VAD", "semantic_vad": "semantic VAD", "push_to_talk": "push-to-talk"}[value]
    return f"{name.replace('_', ' ')} {value}"
