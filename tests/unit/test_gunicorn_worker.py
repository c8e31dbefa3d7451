"""The gthread worker that leaves new connections to a sibling holding fewer of them."""

from __future__ import annotations

from unittest import mock

import pytest
from gunicorn.config import Config

from backend import gunicorn_worker
from backend.gunicorn_worker import BOOTING, STALE_SECONDS, BalancedThreadWorker, may_accept


@pytest.mark.parametrize(
    ("mine", "others", "expected"),
    [
        (0, [], True),  # alone
        (40, [], True),
        (3, [3], True),
        (4, [3], True),  # within the slack
        (5, [3], False),
        (5, [9, 3], False),  # the least loaded sibling counts
        (5, [9, 4], True),
    ],
)
def test_may_accept(mine, others, expected):
    assert may_accept(mine, others) is expected


def test_the_board_counts_live_accepting_siblings_only():
    board = gunicorn_worker._Board(size=4)
    now = 1000.0
    a, b, c = board.reserve(now), board.reserve(now), board.reserve(now)
    assert (a, b, c) == (0, 1, 2)
    # Booting workers are not counted, whatever their heartbeat says.
    assert board.others(a, now) == []
    board.publish(a, 5, now)
    board.publish(b, 7, now)
    assert board.others(c, now) == [5, 7]
    assert board.others(a, now) == [7]
    # A worker that stopped publishing (killed) drops out, and its slot is reused.
    later = now + STALE_SECONDS + 0.5
    board.publish(a, 5, later)
    assert board.others(a, later) == []
    assert board.reserve(later) == b
    # One that stops accepting frees its slot at once.
    board.publish(c, 2, later)
    assert board.others(a, later) == [2]
    board.release(c)
    assert board.others(a, later) == []
    assert board.counts[c] == BOOTING


def test_all_slots_taken_leaves_a_worker_unbalanced():
    board = gunicorn_worker._Board(size=1)
    assert board.reserve(10.0) == 0
    assert board.reserve(10.0) is None


@pytest.fixture
def board(monkeypatch):
    """A fresh board for the workers a test makes (as if in a new master)."""
    monkeypatch.setattr(BalancedThreadWorker, "_board", None)


def _worker(max_connections=1000):
    cfg = Config()
    cfg.set("worker_connections", max_connections)
    return BalancedThreadWorker(0, 1, [], None, 30, cfg, mock.Mock())


def test_a_worker_stops_accepting_while_a_sibling_holds_fewer_connections(board):
    worker, sibling = _worker(), _worker()
    worker.alive = True
    sibling.alive = True
    sibling.nr_conns = 3
    assert sibling.worker_connections == 1000  # publishes its count

    worker.nr_conns = 4
    assert worker.worker_connections == 1000
    assert worker._leaving is False
    worker.nr_conns = 5
    # gthread accepts while nr_conns < worker_connections: not now.
    assert worker.worker_connections == 5
    assert worker._leaving is True
    sibling.nr_conns = 6
    assert sibling.worker_connections == 1000
    assert worker.worker_connections == 1000

    # gunicorn's own cap still holds.
    capped = _worker(max_connections=2)
    capped.alive = True
    capped.nr_conns = 0
    assert capped.worker_connections == 2


def test_a_stopping_worker_frees_its_slot(board):
    worker, sibling = _worker(), _worker()
    worker.alive = sibling.alive = True
    worker.tmp = sibling.tmp = mock.Mock()
    worker.nr_conns, sibling.nr_conns = 9, 0
    assert sibling.worker_connections == 1000
    assert worker.worker_connections == 9  # leaves new connections to the sibling

    sibling.alive = False
    sibling.notify()
    assert sibling._slot is None
    assert worker.worker_connections == 1000


def test_leaving_workers_look_again_soon(board, monkeypatch):
    worker = _worker()
    waits = []
    monkeypatch.setattr(
        gunicorn_worker.ThreadWorker,
        "wait_for_and_dispatch_events",
        lambda self, timeout: waits.append(timeout),
    )
    worker.wait_for_and_dispatch_events(1.0)
    worker._leaving = True
    worker.wait_for_and_dispatch_events(1.0)
    assert waits == [1.0, gunicorn_worker.RECHECK_SECONDS]
