"""GroupCommitter: concurrent submitters share a batch and one commit; a bad item fails alone.

The store writes to a one-table SQLite file through ``db.session``, so what was committed can
be read back from another connection. A "gate" item holds the committer's thread in its store
until the test has queued everything else, which makes the batches deterministic.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from concurrent.futures import TimeoutError as FutureTimeout

import pytest
from flask import current_app
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from backend import create_app
from backend.extensions import db
from backend.group_commit import VISIT_COMMITTER, GroupCommitter
from tests.live_app import app_config

# Not the session's rolled-back database: the committer's thread commits for real.
pytestmark = pytest.mark.own_database

GATE = "gate"
BAD = "bad"
MAX_BATCH = 8


class Boom(Exception):
    """What the fake store raises for a batch holding ``BAD``."""


@pytest.fixture
def lite_app(tmp_path):
    """An app on a SQLite file holding one table, ``items(name UNIQUE)``."""
    path = tmp_path / "gc.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE items (name TEXT NOT NULL UNIQUE)")
    app = create_app(app_config(tmp_path, f"sqlite:///{path}", VISIT_GROUP_COMMIT=False))
    app.db_path = path
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


class Store:
    """A store that inserts each item's name and records each batch it was given."""

    def __init__(self, app):
        self.app = app
        self.batches: list[list[str]] = []
        self.gate = threading.Event()
        self.in_gate = threading.Event()

    def __call__(self, items):
        assert current_app._get_current_object() is self.app
        self.batches.append(list(items))
        for item in items:
            db.session.execute(text("INSERT INTO items (name) VALUES (:name)"), {"name": item})
        if GATE in items:
            self.in_gate.set()
            assert self.gate.wait(10), "the test never opened the gate"
        if BAD in items:
            raise Boom(f"cannot store a batch of {len(items)} with {BAD}")


def _stored(app) -> list[str]:
    with sqlite3.connect(app.db_path) as conn:
        return sorted(name for (name,) in conn.execute("SELECT name FROM items"))


def _submit(app, committer, item, *, timeout=10):
    """Submit ``item`` from a thread of its own; the thread and a one-entry outcome list."""
    outcome: list[object] = []

    def run():
        with app.app_context():
            try:
                outcome.append(committer.submit(item, timeout=timeout))
            except Exception as exc:
                outcome.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    return thread, outcome


def _gated(app, store, committer, items):
    """Hold the committer in the gate's batch, queue ``items`` in order, then let all run.

    Returns what each item's submitter got back (or raised), in the order of ``items``.
    """
    gate_thread, gate_outcome = _submit(app, committer, GATE)
    assert store.in_gate.wait(5)
    threads, outcomes = [gate_thread], []
    for count, item in enumerate(items, start=1):
        thread, outcome = _submit(app, committer, item)
        threads.append(thread)
        outcomes.append(outcome)
        deadline = time.monotonic() + 5
        while committer._queue.qsize() < count:
            assert time.monotonic() < deadline, "a submitter did not queue its item"
            time.sleep(0.002)
    store.gate.set()
    for thread in threads:
        thread.join(timeout=10)
        assert not thread.is_alive()
    assert gate_outcome == [GATE]
    return [outcome[0] for outcome in outcomes]


def test_a_lone_item_is_a_batch_of_one(lite_app):
    store = Store(lite_app)
    committer = GroupCommitter(lite_app, store, max_batch=MAX_BATCH, name="t")
    item = "alone"
    with lite_app.app_context():
        assert committer.submit(item) is item
    assert store.batches == [["alone"]]
    assert (committer.batches, committer.items) == (1, 1)
    assert _stored(lite_app) == ["alone"]


def test_concurrent_items_are_batched_and_each_gets_its_own_back(lite_app):
    store = Store(lite_app)
    committer = GroupCommitter(lite_app, store, max_batch=MAX_BATCH, name="t")
    items = [f"item-{n:02d}" for n in range(20)]

    outcomes = _gated(lite_app, store, committer, items)

    assert all(got is item for got, item in zip(outcomes, items, strict=True))
    # The gate's batch, then the twenty queued items in batches of at most MAX_BATCH, in order.
    assert [len(batch) for batch in store.batches] == [1, 8, 8, 4]
    assert [item for batch in store.batches[1:] for item in batch] == items
    assert (committer.batches, committer.items) == (4, 21)
    assert committer.items > committer.batches
    assert _stored(lite_app) == sorted([GATE, *items])


def test_free_running_threads_are_batched(lite_app):
    # No gate: whatever queues while a batch is being stored goes into the next one.
    batches: list[int] = []

    def slow_store(items):
        batches.append(len(items))
        time.sleep(0.02)

    committer = GroupCommitter(lite_app, slow_store, max_batch=MAX_BATCH, name="t")
    items = [f"item-{n:02d}" for n in range(40)]
    barrier = threading.Barrier(len(items))
    outcomes: dict[str, object] = {}

    def submit(item):
        with lite_app.app_context():
            barrier.wait()
            outcomes[item] = committer.submit(item, timeout=10)

    threads = [threading.Thread(target=submit, args=(item,)) for item in items]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=20)

    assert outcomes == {item: item for item in items}
    assert committer.items == len(items) == sum(batches)
    assert committer.batches == len(batches) < len(items)
    assert max(batches) <= MAX_BATCH


def test_a_bad_item_fails_alone_and_its_batch_is_stored_again(lite_app):
    store = Store(lite_app)
    committer = GroupCommitter(lite_app, store, max_batch=MAX_BATCH, name="t")
    items = ["a", "b", BAD, "c"]

    a, b, error, c = _gated(lite_app, store, committer, items)

    assert type(error) is Boom
    assert str(error) == "cannot store a batch of 1 with bad"
    assert (a, b, c) == ("a", "b", "c")
    # The batch failed as a whole, was rolled back, and each item was stored alone.
    assert store.batches == [[GATE], items, ["a"], ["b"], [BAD], ["c"]]
    assert _stored(lite_app) == sorted([GATE, "a", "b", "c"])
    assert (committer.batches, committer.items) == (2, 5)


def test_a_failing_commit_fails_only_the_item_that_breaks_it(lite_app):
    # Two items that cannot both be stored (the table's UNIQUE name): the batch's statement
    # fails, and alone only the second one does, with the database's own exception.
    store = Store(lite_app)
    committer = GroupCommitter(lite_app, store, max_batch=MAX_BATCH, name="t")
    items = ["x", "same", "y", "same"]

    x, same, y, again = _gated(lite_app, store, committer, items)

    assert (x, same, y) == ("x", "same", "y")
    assert type(again) is IntegrityError
    assert "UNIQUE constraint failed: items.name" in str(again)
    assert store.batches == [[GATE], items, ["x"], ["same"], ["y"], ["same"]]
    assert _stored(lite_app) == sorted([GATE, "same", "x", "y"])


def test_a_lone_failure_raises_and_the_committer_goes_on(lite_app):
    store = Store(lite_app)
    committer = GroupCommitter(lite_app, store, max_batch=MAX_BATCH, name="t")
    with lite_app.app_context():
        with pytest.raises(Boom, match="cannot store a batch of 1 with bad"):
            committer.submit(BAD)
        assert committer.submit("after") == "after"
    assert store.batches == [[BAD], ["after"]]
    assert _stored(lite_app) == ["after"]


def test_a_timeout_stops_the_wait_not_the_item(lite_app):
    store = Store(lite_app)
    committer = GroupCommitter(lite_app, store, max_batch=MAX_BATCH, name="t")
    gate_thread, _ = _submit(lite_app, committer, GATE)
    assert store.in_gate.wait(5)
    with lite_app.app_context(), pytest.raises(FutureTimeout):
        committer.submit("late", timeout=0.05)
    store.gate.set()
    gate_thread.join(timeout=10)
    deadline = time.monotonic() + 5
    while _stored(lite_app) != sorted([GATE, "late"]):
        assert time.monotonic() < deadline, _stored(lite_app)
        time.sleep(0.01)
    assert store.batches == [[GATE], ["late"]]


def test_the_app_gets_a_visit_committer_only_when_configured(lite_app, tmp_path):
    assert VISIT_COMMITTER not in lite_app.extensions
    on = create_app(
        app_config(
            tmp_path,
            f"sqlite:///{tmp_path / 'on.db'}",
            VISIT_GROUP_COMMIT=True,
            VISIT_GROUP_COMMIT_MAX=5,
        )
    )
    committer = on.extensions[VISIT_COMMITTER]
    assert isinstance(committer, GroupCommitter)
    assert (committer.app, committer.max_batch, committer.name) == (on, 5, "visits")
    with on.app_context():
        db.engine.dispose()


def test_two_threads_store_two_batches_at_once(lite_app):
    # With threads=2 a second batch is stored while the first one is still in its store.
    # (This store writes nothing: on SQLite a second writer would wait for the first.)
    first_in, release = threading.Event(), threading.Event()
    batches: list[list[str]] = []

    def store(items):
        batches.append(list(items))
        if GATE in items:
            first_in.set()
            assert release.wait(10), "the test never released the first batch"

    committer = GroupCommitter(lite_app, store, max_batch=MAX_BATCH, name="t", threads=2)
    gate_thread, gate_outcome = _submit(lite_app, committer, GATE)
    assert first_in.wait(5)
    with lite_app.app_context():
        # Answered by the other thread while the first batch is still open.
        assert committer.submit("meanwhile", timeout=5) == "meanwhile"
    assert batches == [[GATE], ["meanwhile"]]
    assert len(committer._workers) == 2 and all(t.is_alive() for t in committer._workers)
    release.set()
    gate_thread.join(timeout=10)
    assert gate_outcome == [GATE]
