"""One phone's connection to the server: JSON and multipart calls, retries, and what went wrong.

A weak rural network drops connections; the phone retries with backoff, and every retry carries
the same client_uuid, so retrying is always safe. A 5xx answer is retried too, but it is also
counted: the simulator exits non-zero when the server failed even once.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlparse

import requests

API_PREFIX = "/api/v1"
KEEP_FAILURES = 20  # descriptions kept per phone; the counts are always complete


@dataclass
class Traffic:
    """Requests made and what went wrong with them."""

    requests: int = 0
    retries: int = 0
    server_errors: int = 0  # 5xx answers
    network_errors: int = 0  # attempts that got no answer at all
    unanswered: int = 0  # calls that never got an answer, after every retry
    failures: list[str] = field(default_factory=list)

    def note(self, text: str) -> None:
        """Keep a description of something unexpected (the first few only)."""
        if len(self.failures) < KEEP_FAILURES:
            self.failures.append(text)

    def merge(self, other: Traffic) -> None:
        """Add another phone's counts to these."""
        self.requests += other.requests
        self.retries += other.retries
        self.server_errors += other.server_errors
        self.network_errors += other.network_errors
        self.unanswered += other.unanswered
        for text in other.failures:
            self.note(text)


def error_code(response: requests.Response | None) -> str | None:
    """The ``error.code`` of a JSON error answer, if there is one."""
    if response is None:
        return None
    try:
        body = response.json()
    except ValueError:
        return None
    error = body.get("error") if isinstance(body, dict) else None
    return error.get("code") if isinstance(error, dict) else None


def describe(response: requests.Response) -> str:
    """``METHOD path -> status code: message`` for logs and the summary."""
    request = response.request
    path = urlparse(request.url).path if request is not None else "?"
    text = f"{request.method if request is not None else '?'} {path} -> {response.status_code}"
    try:
        error = response.json().get("error") or {}
    except (ValueError, AttributeError):
        return text
    if error:
        text += f" {error.get('code')}: {error.get('message')}"
        if error.get("fields"):
            text += f" {error['fields']}"
    return text


class Api:
    """A requests session against ``base_url`` with an optional bearer token."""

    def __init__(
        self,
        base_url: str,
        *,
        token: str | None = None,
        timeout: float = 60.0,
        attempts: int = 3,
        backoff: float = 0.3,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.session = requests.Session()
        self.timeout = timeout
        self.attempts = attempts
        self.backoff = backoff
        self.traffic = Traffic()
        if token:
            self.session.headers["Authorization"] = f"Bearer {token}"

    def close(self) -> None:
        """Close the pooled connections."""
        self.session.close()

    def login(self, username: str, password: str) -> dict[str, Any] | None:
        """Log in with a password and keep the bearer token; None when refused."""
        response = self.call(
            "POST", "/auth/login", json={"username": username, "password": password}
        )
        if response is None or response.status_code != 200:
            return None
        body = response.json()
        self.session.headers["Authorization"] = f"Bearer {body['token']}"
        return body

    @property
    def token(self) -> str | None:
        """The bearer token in use."""
        header = self.session.headers.get("Authorization", "")
        return header.removeprefix("Bearer ") or None

    def call(self, method: str, path: str, **kwargs: Any) -> requests.Response | None:
        """One API call (``path`` under /api/v1) with retries; None if it never got an answer."""
        url = path if path.startswith("http") else f"{self.base_url}{API_PREFIX}{path}"
        response = None
        for attempt in range(self.attempts):
            if attempt:
                self.traffic.retries += 1
                time.sleep(self.backoff * 2 ** (attempt - 1))
            self.traffic.requests += 1
            try:
                response = self.session.request(method, url, timeout=self.timeout, **kwargs)
            except requests.RequestException as exc:
                self.traffic.network_errors += 1
                self.traffic.note(f"{method} {path}: {type(exc).__name__}: {exc}")
                response = None
                continue
            if response.status_code < 500:
                return response
            self.traffic.server_errors += 1
            self.traffic.note(describe(response))
        if response is None:
            self.traffic.unanswered += 1
        return response

    def get_json(self, path: str, **kwargs: Any) -> Any:
        """GET a JSON document that must exist (setup steps); raise SetupError otherwise."""
        response = self.call("GET", path, **kwargs)
        if response is None or response.status_code != 200:
            raise SetupError(
                describe(response) if response is not None else f"GET {path}: no answer"
            )
        return response.json()


class SetupError(RuntimeError):
    """The simulation cannot start: the server is down, a login fails, no survey is published."""
