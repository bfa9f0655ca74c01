"""The one redactor: removes the secrets this process holds from logs, texts shown to people and tool outputs.

For each secret (API keys of OpenAI and Azure, Microsoft Entra ID tokens, the Tavily key, the sign-in secret...)
it removes:

- the full value;
- any run of 8 or more of its leading or trailing characters past a public prefix (``sk-proj-``, ``sk-``,
  ``tvly-``...: the prefix says what kind of key it is, the rest is the secret), with the word around it;
- masked forms that services echo, such as ``sk-proj-ABCD****wxyz`` (the visible start is the start of a
  secret, or the visible end is its last 4 or more characters).

Text shaped like a credential is removed even when its value is unknown: ``Bearer <token>``, ``api-key: <value>``,
OpenAI-style ``sk-`` keys, Tavily ``tvly-`` keys and JSON Web Tokens. Everything removed becomes ``***``.

:data:`REDACTOR` holds the secrets of the process (:func:`add_secrets`); :func:`install_log_redaction` makes every
log record pass through it, on the handlers of the root logger and of the servers' loggers (Chainlit, uvicorn,
websockets, engineio/socketio) and at record creation, so handlers configured later are covered too.
"""

from __future__ import annotations

import functools
import logging
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from typing import Any

__all__ = [
    "MASK",
    "PUBLIC_PREFIXES",
    "REDACTOR",
    "RedactingFilter",
    "Redactor",
    "add_secrets",
    "install_log_redaction",
    "redact",
    "secret_values",
]

MASK = "***"
"""What every removed secret becomes."""

PUBLIC_PREFIXES = ("sk-proj-", "sk-svcacct-", "sk-admin-", "sk-", "tvly-dev-", "tvly-prod-", "tvly-", "Bearer ")
"""Prefixes that only say what kind of key follows (longest first); the characters after them are the secret."""

MIN_RUN = 8
"""A run of this many leading or trailing characters of a secret (past its public prefix) is removed."""

MIN_SECRET = 4
"""Secrets shorter than this are ignored (they would match ordinary words)."""

LOGGERS = ("chainlit", "uvicorn", "uvicorn.error", "uvicorn.access", "websockets", "engineio", "socketio", "httpx")
"""The loggers whose handlers :func:`install_log_redaction` filters, besides the root logger's."""

_SHAPES = (
    re.compile(r"(?i)(\bbearer\s+)[A-Za-z0-9._~+/=\-]{6,}"),
    re.compile(r"(?i)(\bapi[-_]?key[\"']?\s*[:=]\s*[\"']?)[^\s\"',}]{6,}"),
    re.compile(r"()\bsk-[A-Za-z0-9_\-]{16,}"),
    re.compile(r"()\btvly-[A-Za-z0-9_\-]{6,}"),
    re.compile(r"()\beyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]*"),
)
_WORD_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")
_MASK_MARK = re.compile(r"\*{3,}|•{3,}|…|\.{3,}")


def _body(secret: str) -> tuple[str, str]:
    """``(public prefix, the rest)`` of a secret."""
    for prefix in PUBLIC_PREFIXES:
        if secret.startswith(prefix) and len(secret) > len(prefix):
            return prefix, secret[len(prefix) :]
    return "", secret


class Redactor:
    """Removes ``secrets`` (and credential-shaped text) from strings; see the module docstring. ``max_added``
    bounds the secrets added later with :meth:`add` (tokens renewed every hour): the oldest are forgotten."""

    def __init__(self, secrets: Iterable[str] = (), *, max_added: int = 64) -> None:
        self._fixed = tuple(dict.fromkeys(s for s in secrets if s and len(s) >= MIN_SECRET))
        self._added: OrderedDict[str, None] = OrderedDict()
        self._max_added = max_added
        self._lock = threading.Lock()
        self._compile()

    @property
    def secrets(self) -> tuple[str, ...]:
        """The secrets removed, by value."""
        return (*self._fixed, *self._added)

    def add(self, *secrets: str) -> None:
        """Remove these secrets too (from now on)."""
        with self._lock:
            changed = False
            for secret in secrets:
                if secret and len(secret) >= MIN_SECRET and secret not in self._fixed:
                    changed |= secret not in self._added
                    self._added[secret] = None
                    self._added.move_to_end(secret)
            while len(self._added) > self._max_added:
                self._added.popitem(last=False)
            if changed:
                self._compile()

    def _compile(self) -> None:
        secrets = sorted(self.secrets, key=len, reverse=True)
        runs: set[str] = set()
        for secret in secrets:
            _, body = _body(secret)
            if len(body) >= MIN_RUN:
                runs.update((body[:MIN_RUN], body[-MIN_RUN:]))
        self._full = secrets
        self._bodies = [(secret, *_body(secret)) for secret in secrets]
        alternatives = "|".join(re.escape(r) for r in sorted(runs, key=len, reverse=True))
        self._runs = re.compile(alternatives) if runs else None

    def redact(self, text: str) -> str:
        """``text`` with every secret, piece of one, masked form and credential-shaped value replaced by ``***``."""
        if not text:
            return text
        for secret in self._full:
            if secret in text:
                text = text.replace(secret, MASK)
        if self._runs is not None and self._runs.search(text):
            text = _replace_words(text, [m.span() for m in self._runs.finditer(text)])
        if self._bodies and ("*" in text or "…" in text or "..." in text or "•" in text):
            text = _replace_words(text, [m.span() for m in _MASK_MARK.finditer(text)], self._is_masked_secret)
        for shape in _SHAPES:
            text = shape.sub(lambda m: m.group(1) + MASK, text)
        return text

    __call__ = redact

    def _is_masked_secret(self, word: str, mark_start: int, mark_end: int) -> bool:
        head, tail = word[:mark_start], word[mark_end:]
        for secret, prefix, body in self._bodies:
            visible_head = head[len(prefix) :] if prefix and head.startswith(prefix) else head
            if visible_head and body.startswith(visible_head) and (prefix or len(visible_head) >= 2):
                return True
            if len(tail) >= 4 and secret.endswith(tail):
                return True
        return False


def _replace_words(
    text: str, spans: list[tuple[int, int]], keep_unless: Callable[[str, int, int], bool] | None = None
) -> str:
    """Replace the word around each span (the span widened over letters, digits, ``_`` and ``-``) by ``***``;
    with ``keep_unless``, only the words for which ``keep_unless(word, span start, span end)`` (offsets in the
    word) is true. Linear in the text's length."""
    out: list[str] = []
    done = 0
    for start, end in spans:
        if start < done:
            continue
        left, right = start, end
        while left > done and text[left - 1] in _WORD_CHARS:
            left -= 1
        while right < len(text) and text[right] in _WORD_CHARS:
            right += 1
        word = text[left:right]
        if keep_unless is not None and not keep_unless(word, start - left, end - left):
            continue
        out.append(text[done:left])
        out.append(MASK)
        done = right
    out.append(text[done:])
    return "".join(out)


REDACTOR = Redactor()
"""The secrets of this process: every log record and every text for people goes through it."""


def add_secrets(*secrets: str) -> None:
    """Register secrets this process holds (settings values, fresh tokens) with :data:`REDACTOR`."""
    REDACTOR.add(*secrets)


@functools.lru_cache(maxsize=32)
def _redactor_for(secrets: tuple[str, ...]) -> Redactor:
    return Redactor(secrets)


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` through :data:`REDACTOR` and, when given, a redactor of ``secrets`` too."""
    text = REDACTOR.redact(text)
    extra = tuple(secrets)
    return _redactor_for(extra).redact(text) if extra else text


def secret_values(settings: Any) -> list[str]:
    """The non-empty values of every ``pydantic.SecretStr`` field of a settings object."""
    from pydantic import SecretStr

    values: list[str] = []
    fields: Mapping[str, Any] = type(settings).model_fields
    for name in fields:
        value = getattr(settings, name, None)
        if isinstance(value, SecretStr) and value.get_secret_value():
            values.append(value.get_secret_value())
    return values


class RedactingFilter(logging.Filter):
    """A logging filter that rewrites each record's message, exception text and stack text through a redactor
    (:data:`REDACTOR` by default). It never drops a record."""

    def __init__(self, redactor: Redactor | None = None) -> None:
        super().__init__()
        self.redactor = redactor or REDACTOR

    def filter(self, record: logging.LogRecord) -> bool:
        """Redact ``record`` in place; always True."""
        if getattr(record, "_redacted_by", None) is self.redactor:
            return True  # already done at record creation (install_log_redaction) by this same redactor
        try:
            message = record.getMessage()
        except Exception:  # a malformed record: leave it to the handler's own error path
            return True
        clean = self.redactor.redact(message)
        if clean != message:
            record.msg, record.args = clean, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redactor.redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self.redactor.redact(record.stack_info)
        record._redacted_by = self.redactor
        return True


_installed: list[RedactingFilter] = []


def install_log_redaction(loggers: Iterable[str] = LOGGERS) -> RedactingFilter:
    """Pass every log record through :data:`REDACTOR`: the filter goes on each handler of the root logger and of
    ``loggers`` (and on the loggers), and log records are redacted when they are made, so handlers added later
    (uvicorn configures its own at startup) write no secret either. Safe to call again."""
    if not _installed:
        _installed.append(RedactingFilter())
        previous = logging.getLogRecordFactory()
        flt = _installed[0]

        def make_record(*args: Any, **kwargs: Any) -> logging.LogRecord:
            record = previous(*args, **kwargs)
            flt.filter(record)
            return record

        logging.setLogRecordFactory(make_record)
    flt = _installed[0]
    for target in (logging.getLogger(), *(logging.getLogger(name) for name in loggers)):
        if flt not in target.filters:
            target.addFilter(flt)
        for handler in target.handlers:
            if flt not in handler.filters:
                handler.addFilter(flt)
    return flt
