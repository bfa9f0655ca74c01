"""Signed-in use of a running app, as the browser does it: ``POST /login`` (Chainlit's password form) sets the
``access_token`` cookie; the REST calls of the history sidebar and the socket.io chat send it back."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
import uuid
from http.cookies import SimpleCookie
from typing import Any

import bcrypt

from tests.app.wire import WireChat

PASSWORDS = {"alice": "alice-password-1", "bob": "bob-password-2"}


def users_setting() -> str:
    """``CHAINLIT_USERS`` for alice and bob (bcrypt, low cost: test speed)."""
    return ",".join(f"{name}:{bcrypt.hashpw(pw.encode(), bcrypt.gensalt(rounds=4)).decode()}"
                    for name, pw in PASSWORDS.items())  # fmt: skip


def sign_in_env(**extra: str) -> dict[str, str]:
    return {"CHAINLIT_AUTH_SECRET": "test-secret-" + uuid.uuid4().hex, "CHAINLIT_USERS": users_setting(), **extra}


class Browser:
    """One browser: its cookies (the sign-in token; an nginx affinity cookie if any) and the response headers
    it saw, for requests to ``base_url``."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url.rstrip("/")
        self.cookies: dict[str, str] = {}
        self.seen_headers: list[dict[str, str]] = []

    def cookie_header(self) -> str:
        return "; ".join(f"{k}={v}" for k, v in self.cookies.items())

    def request(self, method: str, path: str, body: Any = None, *, form: dict[str, str] | None = None) -> Any:
        """The JSON answer; raises ``urllib.error.HTTPError`` for an error status."""
        headers = {"Cookie": self.cookie_header()} if self.cookies else {}
        data = None
        if form is not None:
            data = urllib.parse.urlencode(form).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        elif body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        req = urllib.request.Request(self.base_url + path, data=data, headers=headers, method=method)
        with urllib.request.urlopen(req, timeout=30) as response:
            self._keep(response.headers.get_all("Set-Cookie") or [])
            self.seen_headers.append(dict(response.headers.items()))
            raw = response.read()
        return json.loads(raw) if raw and raw[:1] in (b"{", b"[") else raw.decode(errors="replace")

    def _keep(self, set_cookies: list[str]) -> None:
        for header in set_cookies:
            cookie = SimpleCookie()
            cookie.load(header)
            for name, morsel in cookie.items():
                self.cookies[name] = morsel.value

    def sign_in(self, user: str) -> None:
        self.request("GET", "/")
        self.request("POST", "/login", form={"username": user, "password": PASSWORDS[user]})
        assert "access_token" in self.cookies, self.cookies

    def threads(self) -> list[dict[str, Any]]:
        page = self.request("POST", "/project/threads", {"pagination": {"first": 20}, "filter": {}})
        return list(page["data"])

    def thread(self, thread_id: str) -> dict[str, Any]:
        return dict(self.request("GET", f"/project/thread/{thread_id}"))

    def delete_thread(self, thread_id: str) -> None:
        self.request("DELETE", "/project/thread", {"threadId": thread_id})

    def status_of(self, method: str, path: str, body: Any = None) -> int:
        try:
            self.request(method, path, body)
        except urllib.error.HTTPError as exc:
            return exc.code
        return 200

    def chat(self) -> SignedInChat:
        return SignedInChat(self)


class SignedInChat(WireChat):
    """A socket.io chat sending the browser's cookies; ``thread_id`` resumes that thread."""

    def __init__(self, browser: Browser) -> None:
        super().__init__(browser.base_url)
        self.browser = browser
        self.thread_id = ""

    async def open(self, thread_id: str = "") -> None:
        self.thread_id = thread_id
        self.headers = {"Cookie": self.browser.cookie_header()}
        await super().open(thread_id)

    def first_interaction_thread(self) -> str | None:
        found = [d.get("thread_id") for d in self.named("first_interaction") if isinstance(d, dict)]
        return found[-1] if found else None
