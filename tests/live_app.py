"""Apps of a test's own: a throwaway database, migrated, and served on loopback when asked.

For tests that need real commits (several connections, a live HTTP server): on PostgreSQL when
the suite runs on it (a database created and dropped here), else on a temporary SQLite file.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from flask import Flask
from flask_migrate import upgrade
from sqlalchemy.engine import make_url
from werkzeug.serving import make_server

from backend import create_app
from backend.config import test_database_url as configured_test_database
from backend.extensions import db
from backend.wechat.fake_server import QuietRequestHandler
from scripts.pgtool import main as pgtool

# For an app served over real HTTP: links as printed on cards, WeChat never answers, and rate
# limits kept in memory.
SERVED_CONFIG = {
    "PUBLIC_BASE_URL": "https://hhq.example.cn",
    "WECHAT_API_BASE": "http://127.0.0.1:9",
    "RATELIMIT_STORAGE_URI": "memory://",
}


def on_postgresql() -> bool:
    """Whether the suite runs on PostgreSQL."""
    configured = configured_test_database()
    return bool(configured) and configured.startswith("postgresql")


@contextmanager
def own_database_url(tmp_path: Path, prefix: str) -> Iterator[str]:
    """A database URL of the test's own, dropped afterwards."""
    if not on_postgresql():
        yield f"sqlite:///{tmp_path / f'{prefix}.db'}"
        return
    parsed = make_url(configured_test_database())
    # pgtool speaks libpq URLs: no "+psycopg" driver suffix.
    admin = parsed.set(drivername="postgresql", database="postgres").render_as_string(
        hide_password=False
    )
    name = f"hhq_{prefix}_{uuid.uuid4().hex[:10]}"
    assert pgtool(["create", admin, name]) == 0
    try:
        yield parsed.set(database=name).render_as_string(hide_password=False)
    finally:
        pgtool(["drop", admin, name])


def app_config(tmp_path: Path, database_url: str, **config: Any) -> dict[str, Any]:
    """Settings of a test app of its own on ``database_url``; ``config`` adds settings."""
    return {
        "ENV_NAME": "test",
        "DATABASE_URL": database_url,
        "SECRET_KEY": "test-secret-key-0123456789",
        "VAR_DIR": str(tmp_path),
        "LOCAL_STORAGE_DIR": str(tmp_path / "storage"),
        **config,
    }


@contextmanager
def own_app(tmp_path: Path, prefix: str, **config: Any) -> Iterator[Flask]:
    """An app on a database of its own, migrated to the latest schema; ``config`` adds settings."""
    with own_database_url(tmp_path, prefix) as url:
        app = create_app(app_config(tmp_path, url, **config))
        try:
            with app.app_context():
                upgrade()
            yield app
        finally:
            # Every connection goes before the database is dropped.
            with app.app_context():
                db.session.remove()
                db.engine.dispose()


@contextmanager
def serve(app: Flask) -> Iterator[str]:
    """Serve the app in a werkzeug thread on a free loopback port; its base URL."""
    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=QuietRequestHandler)
    thread = threading.Thread(target=server.serve_forever, name="hhq-live", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)
