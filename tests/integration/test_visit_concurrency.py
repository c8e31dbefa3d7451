"""Concurrent retries of one submission on PostgreSQL: one row, whatever the race.

This needs real commits from many connections at once, so it runs on a PostgreSQL database
of its own (created and dropped here), and only when the suite runs on PostgreSQL.
"""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import func, select

from backend.extensions import db
from backend.models import Visit
from tests import factories
from tests.integration.test_visits import _body
from tests.live_app import on_postgresql, own_app

pytestmark = pytest.mark.own_database

THREADS = 20


@pytest.fixture
def pg_app(tmp_path):
    if not on_postgresql():
        pytest.skip("concurrency is proven on PostgreSQL; this run is on SQLite")
    with own_app(tmp_path, "conc", TESTING=True) as app:
        yield app


def _fire(app, body, headers):
    barrier = threading.Barrier(THREADS)
    results: list[tuple[int, dict]] = []
    lock = threading.Lock()

    def worker():
        client = app.test_client()
        barrier.wait()
        resp = client.post("/api/v1/visits", json=body, headers=headers)
        with lock:
            results.append((resp.status_code, resp.get_json()))

    threads = [threading.Thread(target=worker) for _ in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return results


def test_twenty_concurrent_retries_make_one_visit(pg_app):
    with pg_app.app_context():
        town = factories.build_town()
        headers = factories.auth_headers(town.helper)
        body = _body(town.household, town.helper)
        db.session.commit()

    results = _fire(pg_app, body, headers)

    statuses = sorted(code for code, _ in results)
    assert statuses == [200] * (THREADS - 1) + [201], results
    assert len({payload["id"] for _, payload in results}) == 1
    with pg_app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Visit)) == 1


def test_concurrent_conflicting_bodies_store_exactly_one(pg_app):
    with pg_app.app_context():
        town = factories.build_town()
        headers = factories.auth_headers(town.helper)
        body = _body(town.household, town.helper)
        db.session.commit()
    client_uuid = body["client_uuid"]
    variants = []
    for i in range(THREADS):
        variant = dict(body, answers=dict(body["answers"], remarks=f"第{i}次"))
        variant["client_uuid"] = client_uuid
        variants.append(variant)

    barrier = threading.Barrier(THREADS)
    codes: list[int] = []

    def worker(b):
        client = pg_app.test_client()
        barrier.wait()
        codes.append(client.post("/api/v1/visits", json=b, headers=headers).status_code)

    threads = [threading.Thread(target=worker, args=(v,)) for v in variants]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)

    assert sorted(codes) == [201] + [409] * (THREADS - 1)
    with pg_app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Visit)) == 1
