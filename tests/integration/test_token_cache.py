"""The bearer-token cache (AUTH_TOKEN_CACHE_SECONDS): fewer reads, bounded staleness.

The session app runs with the cache off; these tests turn it on for themselves and empty it
afterwards. What another worker process would do is played by changing the rows directly.
"""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from sqlalchemy import event, select

from backend.extensions import db
from backend.models import AuthToken, utcnow
from backend.services import auth as auth_service


@pytest.fixture
def cached(app, monkeypatch):
    """Turn the token cache on with a given time to live; empty it afterwards."""

    def _on(seconds: float = 60.0) -> None:
        monkeypatch.setitem(app.config, "AUTH_TOKEN_CACHE_SECONDS", seconds)
        app.extensions.pop("hhq_token_cache", None)

    yield _on
    app.extensions.pop("hhq_token_cache", None)


@pytest.fixture
def token_reads(app):
    """Count the token lookups sent to the database."""
    seen: list[str] = []

    def _count(_conn, _cursor, statement, *_args):
        if statement.lstrip().startswith("SELECT") and "auth_tokens.token_hash =" in statement:
            seen.append(statement)

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", _count)
    yield seen
    event.remove(engine, "before_cursor_execute", _count)


def _token_row() -> AuthToken:
    return db.session.scalars(select(AuthToken).order_by(AuthToken.id.desc())).first()


def test_a_cached_token_is_read_once(client, town, login, cached, token_reads):
    cached(60)
    headers = login(town.helper)
    first = client.get("/api/v1/auth/me", headers=headers)
    second = client.get("/api/v1/auth/me", headers=headers)
    assert first.status_code == second.status_code == 200
    assert first.json == second.json
    assert first.json["id"] == town.helper.id
    assert len(token_reads) == 1


def test_without_the_cache_every_request_reads_the_token(client, town, login, token_reads):
    headers = login(town.helper)
    for _ in range(2):
        assert client.get("/api/v1/auth/me", headers=headers).status_code == 200
    assert len(token_reads) == 2


def test_logout_in_this_process_takes_effect_at_once(client, town, login, cached):
    cached(60)
    headers = login(town.helper)
    assert client.get("/api/v1/auth/me", headers=headers).status_code == 200
    assert client.post("/api/v1/auth/logout", headers=headers).status_code == 204
    resp = client.get("/api/v1/auth/me", headers=headers)
    assert resp.status_code == 401
    assert resp.json["error"]["code"] == "auth.token_revoked"


def test_revoking_a_users_tokens_empties_the_cache(client, town, login, cached):
    cached(60)
    headers = login(town.helper)
    assert client.get("/api/v1/auth/me", headers=headers).status_code == 200
    assert auth_service.revoke_user_tokens(user_id=town.helper.id) == 1
    resp = client.get("/api/v1/auth/me", headers=headers)
    assert resp.status_code == 401
    assert resp.json["error"]["code"] == "auth.token_revoked"


def test_a_revocation_elsewhere_shows_within_the_time_to_live(client, town, login, cached):
    cached(0.3)
    headers = login(town.helper)
    assert client.get("/api/v1/auth/me", headers=headers).status_code == 200
    # Another worker process revokes the token: this one trusts its cache a moment longer.
    _token_row().revoked_at = utcnow()
    db.session.flush()
    assert client.get("/api/v1/auth/me", headers=headers).status_code == 200
    time.sleep(0.35)
    resp = client.get("/api/v1/auth/me", headers=headers)
    assert resp.status_code == 401
    assert resp.json["error"]["code"] == "auth.token_revoked"


def test_an_expired_token_is_not_served_from_the_cache(client, town, login, cached):
    cached(60)
    headers = login(town.helper)
    assert client.get("/api/v1/auth/me", headers=headers).status_code == 200
    cache = auth_service._token_cache()
    token_hash = _token_row().token_hash
    actor, _expires = cache.get(token_hash)
    # The token's own expiry passes while its actor is cached.
    cache.put(token_hash, actor, utcnow() - timedelta(seconds=1))
    _token_row().expires_at = utcnow() - timedelta(seconds=1)
    db.session.flush()
    resp = client.get("/api/v1/auth/me", headers=headers)
    assert resp.status_code == 401
    assert resp.json["error"]["code"] == "auth.token_expired"


def test_the_cached_actor_carries_the_callers_address(app, town, login, cached):
    cached(60)
    token = login(town.helper)["Authorization"].split(" ", 1)[1]
    with app.test_request_context():
        first = auth_service.authenticate_token(token=token, ip="10.0.0.1")
        second = auth_service.authenticate_token(token=token, ip="10.0.0.2")
    assert (first.user_id, first.ip) == (town.helper.id, "10.0.0.1")
    assert (second.user_id, second.ip) == (town.helper.id, "10.0.0.2")
    assert second.grants == first.grants
