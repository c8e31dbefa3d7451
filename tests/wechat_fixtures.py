"""Fixtures running the fake WeChat server on a loopback port, and an app pointed at it."""

from __future__ import annotations

import threading
from dataclasses import dataclass

import pytest
import requests
from flask import Flask
from werkzeug.serving import make_server

from backend.wechat.client import EXTENSION_KEY as CLIENT_EXT_KEY
from backend.wechat.fake_server import (
    FakeState,
    QuietRequestHandler,
    create_fake_wechat_app,
    fake_state,
)


@dataclass
class FakeWeChat:
    """A running fake WeChat server: its base URL and its in-memory state."""

    url: str
    app: Flask

    @property
    def state(self) -> FakeState:
        """The fake's state, shared with the server thread (take ``state.lock`` to mutate)."""
        return fake_state(self.app)

    def control(self, path: str, payload: dict | None = None) -> dict:
        """Call a ``/_fake/...`` control endpoint over HTTP."""
        url = f"{self.url}/_fake/{path}"
        if payload is None and path in ("calls", "messages", "access_token"):
            response = requests.get(url, timeout=5)
        else:
            response = requests.post(url, json=payload or {}, timeout=5)
        response.raise_for_status()
        return response.json()

    def calls(self, api: str | None = None) -> list[dict]:
        """Calls the fake received, optionally only those of one API."""
        calls = self.control("calls")["calls"]
        return [c for c in calls if api is None or c["api"] == api]


@pytest.fixture(scope="session")
def fake_wechat_server(app):
    """The fake WeChat server in a background thread, for the whole session."""
    fake_app = create_fake_wechat_app(
        appid=app.config["WECHAT_APPID"], secret=app.config["WECHAT_SECRET"]
    )
    server = make_server(
        "127.0.0.1", 0, fake_app, threaded=True, request_handler=QuietRequestHandler
    )
    thread = threading.Thread(target=server.serve_forever, name="fake-wechat", daemon=True)
    thread.start()
    try:
        yield FakeWeChat(url=f"http://127.0.0.1:{server.server_port}", app=fake_app)
    finally:
        server.shutdown()
        thread.join(timeout=5)


@pytest.fixture
def fake_wechat(fake_wechat_server):
    """The fake WeChat server, reset before the test."""
    fake_wechat_server.state.reset()
    return fake_wechat_server


@pytest.fixture
def wechat_app(app, fake_wechat):
    """The app, talking to the fake WeChat server (DB token cache) for one test."""
    saved = {k: app.config.get(k) for k in ("WECHAT_API_BASE", "REDIS_URL")}
    app.config["WECHAT_API_BASE"] = fake_wechat.url
    app.config["REDIS_URL"] = None
    app.extensions.pop(CLIENT_EXT_KEY, None)
    try:
        yield app
    finally:
        app.config.update(saved)
        app.extensions.pop(CLIENT_EXT_KEY, None)
