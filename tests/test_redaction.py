"""The one redactor (realtime.redaction): full values, 8-character runs past a public prefix, masked forms,
credential shapes, and the log filter. Fake keys are built at run time so no file holds a key-shaped string."""

from __future__ import annotations

import io
import logging

import pytest

from realtime import redaction
from realtime.config import Settings
from realtime.redaction import MASK, RedactingFilter, Redactor, install_log_redaction, redact, secret_values

BODY = "LEAK" + "q7Rw2" * 6 + "cdef"
OPENAI_KEY = "sk-" + "proj-" + BODY  # built here, never written out whole
TAVILY_KEY = "tvly-" + "dev-" + "Zx9" * 5
AZURE_KEY = "0f1e2d3c4b5a69788796a5b4c3d2e1f0"
AUTH_SECRET = "chainlit-auth-" + "s3cr3t" * 4


@pytest.fixture
def redactor() -> Redactor:
    return Redactor([OPENAI_KEY, TAVILY_KEY, AZURE_KEY, AUTH_SECRET])


def leaks(text: str) -> list[str]:
    """Every 8-character piece of a secret past its public prefix that ``text`` still holds."""
    found = []
    for secret in (OPENAI_KEY, TAVILY_KEY, AZURE_KEY, AUTH_SECRET):
        _, body = redaction._body(secret)
        found += [body[i : i + 8] for i in range(len(body) - 7) if body[i : i + 8] in text]
    return found


@pytest.mark.parametrize(
    "text",
    [
        f"closed: invalid key {OPENAI_KEY} (1008)",
        f"Incorrect API key provided: {OPENAI_KEY[:12]}****{OPENAI_KEY[-4:]}.",
        f"Incorrect API key provided: sk-proj-****{OPENAI_KEY[-4:]}",
        f"key starts {OPENAI_KEY[:20]} and ends {OPENAI_KEY[-9:]}",
        f"the first part {BODY[:8]} alone",
        f"tavily said {TAVILY_KEY[:14]}... is wrong",
        f"api-key: {AZURE_KEY[:10]}",
        f"azure {AZURE_KEY[-8:]} and secret {AUTH_SECRET}",
        f'{{"Authorization": "Bearer {AZURE_KEY}"}}',
    ],
)
def test_no_secret_or_8_characters_of_one_survive(redactor: Redactor, text: str) -> None:
    out = redactor.redact(text)
    assert MASK in out
    assert not leaks(out), out


def test_ordinary_text_is_untouched(redactor: Redactor) -> None:
    text = "The answer is 42... or so; sk- keys start with sk-proj- and tvly- keys with tvly-. ****"
    assert redactor.redact(text) == text


def test_unknown_credential_shapes_are_removed() -> None:
    jwt = "eyJ" + "hbGciOiJSUzI1NiJ9" + "." + "eyJzdWIiOiIxMjM0NTY3ODkwIn0" + "." + "abcDEF123_-x"
    unknown = "sk-" + "x" * 24
    out = Redactor().redact(f"token {jwt} key {unknown} Bearer abcdef123456 api_key='zzzzzzzz'")
    assert "hbGciOiJ" not in out and "xxxxxxxx" not in out and "abcdef123456" not in out and "zzzzzzzz" not in out
    assert out.count(MASK) == 4


def test_tokens_added_later_are_removed_and_the_oldest_forgotten() -> None:
    r = Redactor(max_added=2)
    r.add("token-one-123456789")
    assert r.redact("x token-one-123456789 y") == f"x {MASK} y"
    r.add("token-two-123456789", "token-three-123456")
    assert "token-one-123456789" not in r.secrets and len(r.secrets) == 2


def test_long_text_is_redacted_in_linear_time(redactor: Redactor) -> None:
    text = "a" * 2_000_000 + BODY[:8] + "b" * 2_000_000 + "...." * 1000
    assert redactor.redact(text) == MASK + "...." * 1000


def test_secret_values_of_the_settings_include_the_auth_secret() -> None:
    s = Settings(_env_file=None, openai_api_key=OPENAI_KEY, tavily_api_key=TAVILY_KEY, chainlit_auth_secret=AUTH_SECRET)
    assert sorted(secret_values(s)) == sorted([OPENAI_KEY, TAVILY_KEY, AUTH_SECRET])


def test_the_module_redactor_and_extra_secrets() -> None:
    assert redact(f"x {AZURE_KEY}", [AZURE_KEY]) == f"x {MASK}"


def test_log_filter_redacts_messages_arguments_and_tracebacks(redactor: Redactor) -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactingFilter(redactor))
    log = logging.getLogger("tests.redaction")
    log.addHandler(handler)
    log.propagate = False
    try:
        log.warning("closed with reason %s", f"bad key {OPENAI_KEY[:12]}****{OPENAI_KEY[-4:]}")
        try:
            raise RuntimeError(f"upstream echoed {AZURE_KEY}")
        except RuntimeError:
            log.exception("failed")
    finally:
        log.removeHandler(handler)
    text = stream.getvalue()
    assert "closed with reason bad key ***" in text and "RuntimeError: upstream echoed ***" in text
    assert not leaks(text)


def test_installed_redaction_covers_handlers_added_later(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(redaction, "REDACTOR", Redactor())
    monkeypatch.setattr(redaction, "_installed", [])
    factory = logging.getLogRecordFactory()
    try:
        install_log_redaction()
        redaction.REDACTOR.add(AZURE_KEY)  # the filter holds the redactor it was made with
        stream = io.StringIO()
        late = logging.getLogger("uvicorn.late")
        late.addHandler(logging.StreamHandler(stream))
        late.propagate = False
        late.error("key %s", AZURE_KEY)
        late.handlers.clear()
        assert stream.getvalue() == f"key {MASK}\n"
    finally:
        logging.setLogRecordFactory(factory)
        for target in (logging.getLogger(), *(logging.getLogger(n) for n in redaction.LOGGERS)):
            for flt in [f for f in target.filters if isinstance(f, RedactingFilter)]:
                target.removeFilter(flt)
            for h in target.handlers:
                for flt in [f for f in h.filters if isinstance(f, RedactingFilter)]:
                    h.removeFilter(flt)


def test_a_handler_filter_still_applies_after_the_process_redactor_saw_the_record() -> None:
    first, second = RedactingFilter(Redactor()), RedactingFilter(Redactor([AZURE_KEY]))
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "key %s", (AZURE_KEY,), None)
    assert first.filter(record) and second.filter(record)
    assert record.getMessage() == f"key {MASK}"
