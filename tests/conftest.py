"""Shared fixtures: one migrated database per test session, and a rollback per test.

The database is SQLite in a temporary file unless TEST_DATABASE_URL names another (the
PostgreSQL run of ./scripts/test sets it to a database it created for the run).
"""

from __future__ import annotations

import os
import tempfile

import pytest
from flask.testing import FlaskClient
from flask_migrate import upgrade
from sqlalchemy.orm import scoped_session, sessionmaker

from backend import create_app
from backend.config import test_database_url
from backend.extensions import db
from tests import factories

pytest_plugins = ["tests.wechat_fixtures", "tests.storage_fixtures"]


class _TestScopedSession(scoped_session):
    """One session for the whole test: the app's per-request remove() must not detach the
    objects a test holds. Each request's commit releases a SAVEPOINT of the outer transaction."""

    def remove(self):
        self.registry().rollback() if self.registry().in_nested_transaction() else None


@pytest.fixture(scope="session")
def app(tmp_path_factory):
    """The application, on a freshly migrated database."""
    url = test_database_url()
    if not url:
        fd, path = tempfile.mkstemp(prefix="hhq-test-", suffix=".db")
        os.close(fd)
        url = f"sqlite:///{path}"
    var_dir = tmp_path_factory.mktemp("var")
    app = create_app(
        {
            "ENV_NAME": "test",
            "TESTING": True,
            "DATABASE_URL": url,
            "SECRET_KEY": "test-secret-key-0123456789",
            "PUBLIC_BASE_URL": "https://hhq.example.cn",
            "VAR_DIR": str(var_dir),
            "LOCAL_STORAGE_DIR": str(var_dir / "storage"),
            "WECHAT_API_BASE": "http://127.0.0.1:9",
            # Each test runs in a transaction rolled back afterwards: visits are stored in the
            # request's own transaction, not by the group commit thread.
            "VISIT_GROUP_COMMIT": False,
            # Tests change users and tokens directly in the database and expect the next
            # request to see it; the token cache has tests of its own.
            "AUTH_TOKEN_CACHE_SECONDS": 0,
        }
    )
    with app.app_context():
        upgrade()
    return app


@pytest.fixture(autouse=True)
def _db_rollback(request, app):
    """Run each test inside a transaction that is rolled back afterwards."""
    if request.node.get_closest_marker("own_database"):
        # The test builds and drops a database of its own, with real commits.
        yield
        return
    with app.app_context():
        connection = db.engine.connect()
        outer = connection.begin()
        original = db.session
        db.session = _TestScopedSession(
            sessionmaker(bind=connection, join_transaction_mode="create_savepoint")
        )
        try:
            yield
        finally:
            db.session.registry().close()
            db.session = original
            outer.rollback()
            connection.close()


class _CommittingClient(FlaskClient):
    """Commits what the test set up before each request, as a real client would find it;
    otherwise a request that rolls back would also undo the test's own fixtures."""

    def open(self, *args, **kwargs):
        db.session.commit()
        return super().open(*args, **kwargs)


@pytest.fixture
def client(app):
    """A test client."""
    app.test_client_class = _CommittingClient
    return app.test_client()


@pytest.fixture
def town(app):
    """A small town with two villages, households in and out of scope, and one user per role."""
    return factories.build_town()


@pytest.fixture
def login(app):
    """Return Authorization headers for a user, issuing a real bearer token."""

    def _login(user):
        return factories.auth_headers(user)

    return _login


@pytest.fixture(autouse=True)
def rate_limits(app):
    """flask-limiter on a fresh in-memory storage for each test: no counter outlives it."""
    from backend.extensions import limiter

    saved = app.config["RATELIMIT_STORAGE_URI"]
    app.config["RATELIMIT_STORAGE_URI"] = "memory://"
    # init_app again only rebuilds the storage from the config: hooks are added once per app.
    limiter.init_app(app)
    limiter.reset()
    yield limiter
    limiter.reset()
    app.config["RATELIMIT_STORAGE_URI"] = saved
    limiter.init_app(app)
