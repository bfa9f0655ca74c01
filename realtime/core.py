"""The seam between the asyncio driver (:class:`realtime.client.RealtimeClient`) and a protocol's session core.

A session core holds one protocol's state with no I/O: frames and caller actions in; frames (already serialized)
and app events out; it says when the handshake is done, when a deadline matters (``tick_interval_s``, an answer
expected) and whether a new session is needed. The driver only moves frames, keeps time and reconnects, as
python-websockets' ``Connection`` drives a sans-I/O ``Protocol``. Two cores:

- :class:`RealtimeCore`: the Realtime API (:class:`realtime.session.RealtimeSession`), with what used to sit in the
  driver: the ``input_audio_buffer.append`` fast path, the beta dialect mapping, the handshake on
  ``session.created`` (then ``session.update``), the answer watchdog's "an answer is expected";
- :class:`realtime.live_session.LiveSession`: GPT-Live, which sends ``session.start`` first and counts as open on
  ``session.started``, and needs a tick (its input clock).

:func:`session_factory` picks one from ``Provider.protocol``.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Protocol

from realtime.config import SessionOptions, Settings
from realtime.dialect import client_event_to_beta, server_event_from_beta
from realtime.events import AppEvent, RealtimeError, ToolOutput
from realtime.providers import Provider
from realtime.session import RealtimeSession

__all__ = ["RealtimeCore", "SessionCore", "SessionFactory", "session_factory"]

_APPEND = "input_audio_buffer.append"
_APPEND_FRAME = '{"type":"input_audio_buffer.append","audio":"%s"}'


class SessionCore(Protocol):
    """What the driver needs of a protocol's session state (see the module docstring)."""

    fatal: RealtimeError | None
    """The service's fatal error, once one arrived (the driver stops; the app already has the event)."""
    renewal_needed: bool
    """A new session is needed now (expired, or a change the running session cannot take)."""
    tick_interval_s: float | None
    """Seconds between :meth:`tick` calls the core needs (None: no ticks)."""
    renews_on_timer: bool
    """True when the driver should renew the session ahead of the provider's time cap."""

    @property
    def ready(self) -> bool:
        """The handshake is done on this connection (Realtime ``session.created``, GPT-Live ``session.started``)."""
        ...

    @property
    def answer_expected(self) -> bool:
        """An answer is awaited from the server (the driver's watchdog bounds the wait)."""
        ...

    def connected(self, *, replay: bool = False) -> None:
        """A connection was opened (before the handshake); ``replay`` after a reconnect or renewal."""
        ...

    def opened(self, *, replay: bool = False) -> None:
        """The handshake finished; configure the session (and replay the conversation with ``replay``)."""
        ...

    def disconnected(self) -> None:
        """The connection is gone."""
        ...

    def receive_frame(self, frame: str | bytes) -> None:
        """Feed one server frame."""
        ...

    def frames_to_send(self, connected: bool = True) -> list[str]:
        """Serialized frames to send, in order (emptied); when not ``connected``, what would be lost anyway is
        dropped."""
        ...

    def events_received(self) -> list[AppEvent]:
        """App events produced since the last call (emptied)."""
        ...

    def report_error(self, error: RealtimeError) -> None:
        """An error the driver found, handed to the app in order with the core's events."""
        ...

    def tick(self, now: float | None = None) -> None:
        """Time passed (``now`` monotonic seconds)."""
        ...

    def close_frames(self) -> list[str]:
        """Frames that end the session gracefully before the connection closes (may be empty)."""
        ...

    def abandon_answer(self, reason: str) -> None:
        """Give up on the answer awaited (the watchdog fired)."""
        ...

    def append_audio(self, pcm: bytes) -> None: ...  # noqa: D102
    def send_text(self, text: str) -> str: ...  # noqa: D102
    def add_items(self, items: Iterable[Mapping[str, Any]]) -> list[str]: ...  # noqa: D102
    def commit(self) -> None: ...  # noqa: D102
    def create_response(self) -> None: ...  # noqa: D102
    def cancel(self) -> None: ...  # noqa: D102
    def clear_audio(self) -> None: ...  # noqa: D102
    def update_options(self, options: SessionOptions) -> None: ...  # noqa: D102
    def tool_results(self, outputs: Iterable[ToolOutput]) -> None: ...  # noqa: D102


class RealtimeCore:
    """:class:`RealtimeSession` as a :class:`SessionCore`: the GA/beta codec at the edge, the handshake on
    ``session.created``. ``session`` is the wrapped state machine (``RealtimeClient.session``)."""

    tick_interval_s: float | None = None
    renews_on_timer = True

    def __init__(self, session: RealtimeSession, *, beta: bool = False) -> None:
        self.session = session
        self.beta = beta
        self._ready = False

    # state the driver reads
    @property
    def fatal(self) -> RealtimeError | None:
        """The session's fatal error."""
        return self.session.fatal

    @fatal.setter
    def fatal(self, value: RealtimeError | None) -> None:
        self.session.fatal = value

    @property
    def renewal_needed(self) -> bool:
        """``session_expired`` arrived."""
        return self.session.renewal_needed

    @renewal_needed.setter
    def renewal_needed(self, value: bool) -> None:
        self.session.renewal_needed = value

    @property
    def ready(self) -> bool:
        """``session.created`` arrived on this connection."""
        return self._ready

    @property
    def answer_expected(self) -> bool:
        """A response runs or was asked for."""
        return self.session.response_active

    # lifecycle
    def connected(self, *, replay: bool = False) -> None:
        """Wait for ``session.created`` before configuring."""
        self._ready = False

    def opened(self, *, replay: bool = False) -> None:
        """``session.update`` (and the conversation replayed after a reconnect)."""
        self.session.start(replay=replay)

    def disconnected(self) -> None:
        """Nothing to do: :meth:`opened` with ``replay`` settles a cut response."""
        self._ready = False

    def receive_frame(self, frame: str | bytes) -> None:
        """Parse (mapping the beta dialect) and feed one frame; ``session.created`` completes the handshake."""
        data: Any = frame
        if self.beta or not self._ready:
            with contextlib.suppress(ValueError):
                data = json.loads(frame)
        if self.beta and isinstance(data, dict):
            data = server_event_from_beta(data)
        if isinstance(data, dict) and data.get("type") == "session.created":
            self._ready = True
        self.session.receive(data)

    def frames_to_send(self, connected: bool = True) -> list[str]:
        """GA (or beta-mapped) JSON; appends take the fast path and are dropped while not connected."""
        frames: list[str] = []
        for event in self.session.data_to_send():
            if event.get("type") == _APPEND:
                if not connected:
                    continue  # audio while reconnecting would be dropped anyway
                if len(event) == 2 and not self.beta:
                    frames.append(_APPEND_FRAME % event["audio"])  # the hot path: base64 needs no JSON escaping
                    continue
            frames.append(json.dumps(client_event_to_beta(event) if self.beta else event, separators=(",", ":")))
        return frames

    def events_received(self) -> list[AppEvent]:
        """The session's app events."""
        return self.session.events_received()

    def report_error(self, error: RealtimeError) -> None:
        """Through the session, in order."""
        self.session.report_error(error)

    def tick(self, now: float | None = None) -> None:
        """Nothing runs on time here."""

    def close_frames(self) -> list[str]:
        """The Realtime API has no close event."""
        return []

    def abandon_answer(self, reason: str) -> None:
        """``response.cancel``; the app sees the answer end."""
        self.session.abandon_response(reason)

    # actions
    def append_audio(self, pcm: bytes) -> None:
        """See :meth:`RealtimeSession.append_audio`."""
        self.session.append_audio(pcm)

    def send_text(self, text: str) -> str:
        """See :meth:`RealtimeSession.send_text`."""
        return self.session.send_text(text)

    def add_items(self, items: Iterable[Mapping[str, Any]]) -> list[str]:
        """See :meth:`RealtimeSession.add_items`."""
        return self.session.add_items(items)

    def commit(self) -> None:
        """See :meth:`RealtimeSession.commit`."""
        self.session.commit()

    def create_response(self) -> None:
        """See :meth:`RealtimeSession.create_response`."""
        self.session.create_response()

    def cancel(self) -> None:
        """See :meth:`RealtimeSession.cancel`."""
        self.session.cancel()

    def clear_audio(self) -> None:
        """See :meth:`RealtimeSession.clear_audio`."""
        self.session.clear_audio()

    def update_options(self, options: SessionOptions) -> None:
        """See :meth:`RealtimeSession.update_options`."""
        self.session.update_options(options)

    def tool_results(self, outputs: Iterable[ToolOutput]) -> None:
        """See :meth:`RealtimeSession.tool_results`."""
        self.session.tool_results(outputs)


SessionFactory = Callable[..., tuple[SessionCore, Any]]
"""``factory(provider, settings, options=, tools=, clock=)``: a core and the protocol session it drives (the object
exposed as ``RealtimeClient.session``)."""


def session_factory(
    provider: Provider,
    settings: Settings,
    *,
    options: SessionOptions,
    tools: Sequence[Mapping[str, Any]] = (),
    clock: Callable[[], float] = time.monotonic,
) -> tuple[SessionCore, Any]:
    """The session core for ``provider.protocol``: :class:`RealtimeCore` around a :class:`RealtimeSession`, or a
    :class:`realtime.live_session.LiveSession` (its own core) with the settings' ``LIVE_BACKEND_MODEL`` and
    ``LIVE_HOSTED_WEB_SEARCH``. Returns ``(core, session)``."""
    if provider.protocol == "live":
        from realtime.live_session import LiveSession

        live = LiveSession(
            options,
            tools=tools,
            clock=clock,
            provider=provider.name,
            model=provider.model,
            backend_model=settings.live_backend_model,
            hosted_web_search=settings.live_hosted_web_search,
        )
        return live, live
    session = RealtimeSession(
        options, tools=[dict(t) for t in tools], clock=clock, provider=provider.name, model=provider.model
    )
    return RealtimeCore(session, beta=provider.dialect == "beta"), session
