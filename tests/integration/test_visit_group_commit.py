"""POST /api/v1/visits through the group committer, with real commits.

Concurrent requests of one process hand their visits to the app's committer, which stores
them as a batch in one transaction. Each request must still answer exactly as it would alone:
201 with the stored visit, 200 for an identical retry, its own error otherwise.
"""

from __future__ import annotations

import copy
import threading
import time

import pytest
from sqlalchemy import func, select

from backend import create_app
from backend.extensions import db
from backend.group_commit import VISIT_COMMITTER
from backend.models import Role, Visit
from tests import factories
from tests.helpers import stored_check_results
from tests.integration.test_visits import _body
from tests.live_app import own_app

pytestmark = pytest.mark.own_database

THREADS = 20
CHECKS = 26


@pytest.fixture
def gc_app(tmp_path):
    """An app on a database of its own whose visits go through the group committer."""
    with own_app(tmp_path, "gc", VISIT_GROUP_COMMIT=True) as app:
        yield app


def _committer(app):
    committer = app.extensions[VISIT_COMMITTER]
    sizes: list[int] = []
    real = committer.store

    def store(items):
        # The first batch lingers a moment, so that the other requests queue behind it.
        sizes.append(len(items))
        if len(sizes) == 1:
            time.sleep(0.3)
        return real(items)

    committer.store = store
    committer.sizes = sizes
    return committer


def _helpers_with_households(town, count):
    """``count`` new helpers of the town's village, each assigned a household of their own."""
    pairs = []
    for _ in range(count):
        helper = factories.user_with_role(Role.HELPER, town.village)
        household = factories.HouseholdFactory(region=town.group, village=town.village)
        factories.MemberFactory(household=household, name=household.head_name)
        factories.AssignmentFactory(helper=helper, household=household)
        db.session.refresh(household)
        pairs.append((helper, household))
    return pairs


def _fire(apps_and_jobs):
    """POST each (app, body, headers) from a thread of its own, all at once; (status, json)."""
    barrier = threading.Barrier(len(apps_and_jobs))
    results: list[tuple[int, dict] | None] = [None] * len(apps_and_jobs)

    def worker(index, app, body, headers):
        client = app.test_client()
        barrier.wait()
        resp = client.post("/api/v1/visits", json=body, headers=headers)
        results[index] = (resp.status_code, resp.get_json())

    threads = [
        threading.Thread(target=worker, args=(n, *job)) for n, job in enumerate(apps_and_jobs)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
        assert not thread.is_alive()
    return results


def _count(model):
    return db.session.scalar(select(func.count()).select_from(model))


def test_concurrent_new_visits_are_stored_in_batches(gc_app):
    with gc_app.app_context():
        town = factories.build_town()
        jobs = [
            (gc_app, _body(household, helper), factories.auth_headers(helper))
            for helper, household in _helpers_with_households(town, THREADS)
        ]
        db.session.commit()
    committer = _committer(gc_app)

    results = _fire(jobs)

    assert [status for status, _ in results] == [201] * THREADS, results
    assert committer.items == THREADS
    assert committer.batches == len(committer.sizes) < THREADS
    assert sum(committer.sizes) == THREADS and max(committer.sizes) > 1
    client = gc_app.test_client()
    for (_app, body, headers), (_status, created) in zip(jobs, results, strict=True):
        assert created["client_uuid"] == body["client_uuid"]
        assert created["household_id"] == body["household_id"]
        assert len(created["checks"]) == CHECKS
        shown = client.get(f"/api/v1/visits/{created['id']}", headers=headers)
        assert shown.status_code == 200
        assert shown.json == created
    with gc_app.app_context():
        assert _count(Visit) == THREADS
        assert stored_check_results() == THREADS * CHECKS


def test_concurrent_identical_posts_store_one_visit(gc_app):
    with gc_app.app_context():
        town = factories.build_town()
        headers = factories.auth_headers(town.helper)
        body = _body(town.household, town.helper)
        db.session.commit()
    committer = _committer(gc_app)

    results = _fire([(gc_app, body, headers)] * THREADS)

    statuses = sorted(status for status, _ in results)
    assert statuses == [200] * (THREADS - 1) + [201], results
    assert len({payload["id"] for _, payload in results}) == 1
    # The retries answer with the stored visit, field for field what the creation answered.
    [created] = [payload for status, payload in results if status == 201]
    assert all(payload == created for _, payload in results)
    assert committer.items == THREADS
    with gc_app.app_context():
        assert _count(Visit) == 1
        assert stored_check_results() == CHECKS


def test_two_workers_on_one_database_store_one_visit(gc_app, tmp_path):
    # Two apps, two committers, one database: two gunicorn workers taking retries of one visit.
    # On SQLite every writer takes the lock first (BEGIN IMMEDIATE), so the second committer
    # always finds the first one's row; on PostgreSQL the two may race on the unique key.
    other = create_app(
        {
            "ENV_NAME": "test",
            "DATABASE_URL": gc_app.config["SQLALCHEMY_DATABASE_URI"],
            "SECRET_KEY": gc_app.config["SECRET_KEY"],
            "VAR_DIR": str(tmp_path),
            "LOCAL_STORAGE_DIR": str(tmp_path / "storage"),
            "VISIT_GROUP_COMMIT": True,
        }
    )
    try:
        with gc_app.app_context():
            town = factories.build_town()
            headers = factories.auth_headers(town.helper)
            body = _body(town.household, town.helper)
            db.session.commit()
        first, second = _committer(gc_app), _committer(other)
        assert first is not second

        half = THREADS // 2
        results = _fire([(gc_app, body, headers)] * half + [(other, body, headers)] * half)

        statuses = sorted(status for status, _ in results)
        assert statuses == [200] * (THREADS - 1) + [201], results
        assert len({payload["id"] for _, payload in results}) == 1
        assert (first.items, second.items) == (half, half)
        with gc_app.app_context():
            assert _count(Visit) == 1
            assert stored_check_results() == CHECKS
    finally:
        with other.app_context():
            db.session.remove()
            db.engine.dispose()


def test_errors_in_grouped_requests_are_their_own(gc_app):
    with gc_app.app_context():
        town = factories.build_town()
        pairs = _helpers_with_households(town, 8)
        headers = [factories.auth_headers(helper) for helper, _household in pairs]
        good = [_body(household, helper) for helper, household in pairs]
        stored = _body(pairs[1][1], pairs[1][0])
        invalid = _body(pairs[0][1], pairs[0][0])
        invalid["answers"]["income_per_capita"] = "很多"
        not_mine = _body(pairs[2][1], town.helper_b)
        helper_b = factories.auth_headers(town.helper_b)
        db.session.commit()
    client = gc_app.test_client()
    resp = client.post("/api/v1/visits", json=stored, headers=headers[1])
    assert resp.status_code == 201, resp.json
    stored_id = resp.json["id"]
    conflicting = copy.deepcopy(stored)
    conflicting["answers"]["remarks"] = "同一编号，不同内容"
    committer = _committer(gc_app)
    assert (committer.batches, committer.items) == (1, 1)  # the stored visit's request
    jobs = [(gc_app, body, h) for body, h in zip(good, headers, strict=True)]
    jobs[3:3] = [
        (gc_app, invalid, headers[0]),
        (gc_app, not_mine, helper_b),
        (gc_app, conflicting, headers[1]),
    ]

    results = _fire(jobs)

    assert [status for status, _ in results] == [201] * 3 + [422, 403, 409] + [201] * 5, results
    assert [payload for _, payload in results[3:6]] == [
        {
            "error": {
                "code": "visit.invalid_answers",
                "message": "问卷填写有误，请按提示修改。",
                "fields": {"answers": {"income_per_capita": ["应为数字。"]}},
            }
        },
        {
            "error": {
                "code": "visit.not_assigned",
                "message": "该农户不是您的帮扶对象，不能提交走访。",
            }
        },
        {
            "error": {
                "code": "visit.conflict",
                "message": "该走访编号已提交过不同的内容，请勿重复使用编号。",
                "details": {"visit_id": stored_id},
            }
        },
    ]
    # The refused ones went through the committer with the good ones, and took nothing of them.
    assert committer.items == 1 + len(jobs) == 1 + sum(committer.sizes)
    assert committer.batches == 1 + len(committer.sizes) < 1 + len(jobs)
    good_ids = {payload["id"] for status, payload in results if status == 201}
    assert len(good_ids) == 8
    with gc_app.app_context():
        assert set(db.session.scalars(select(Visit.id))) == good_ids | {stored_id}
        assert stored_check_results() == 9 * CHECKS
