"""A gunicorn gthread worker that leaves new connections to a sibling holding fewer of them.

Gunicorn's workers all wait on the one listening socket, and whichever wakes first accepts.
Keep-alive clients that connect at about the same moment (phones syncing after a meeting, a
proxy opening its upstream pool) can land two to one on the workers, and they stay there: each
worker stores its own submissions (its group commit thread), at about the same rate, so the
busier worker's clients wait up to twice as long (scripts/bench/README.md). A fixed
``worker_connections`` cap evens it out but makes clients wait once every worker is at its cap;
this worker instead stops accepting only while another live worker holds fewer connections, so
there is always one that accepts.

Each worker publishes its connection count and a heartbeat in shared memory that the master
creates before forking. A slot whose heartbeat stops (a worker killed, or exiting) is ignored,
so a dead worker never holds the others back.
"""

from __future__ import annotations

import ctypes
import multiprocessing
import time
from collections.abc import Sequence

from gunicorn.workers.gthread import ThreadWorker

SLOTS = 64
# A worker's loop runs at least once a second (gunicorn's poll timeout), so a heartbeat older
# than this is a worker that is gone.
STALE_SECONDS = 3.0
# Connections a worker may hold above the least loaded live sibling and still accept.
SLACK = 1
# While a worker leaves connections to its siblings it looks again this often, so that it
# takes over at once should they stop accepting.
RECHECK_SECONDS = 0.05
# A slot handed to a worker that is still loading the app: reserved, but not yet counted.
BOOTING = -1


def may_accept(mine: int, others: Sequence[int], slack: int = SLACK) -> bool:
    """Accept a new connection holding ``mine``, when the live siblings hold ``others``?"""
    return not others or mine <= min(others) + slack


class _Board:
    """Connection counts and heartbeats of the worker slots, shared by all worker processes."""

    def __init__(self, size: int = SLOTS) -> None:
        self.counts = multiprocessing.RawArray(ctypes.c_long, size)
        self.beats = multiprocessing.RawArray(ctypes.c_double, size)
        # Slots ever handed out: the siblings are looked for among these only (a loop runs
        # about twice per request).
        self.used = multiprocessing.RawValue(ctypes.c_long, 0)
        for slot in range(size):
            self.counts[slot] = BOOTING

    def reserve(self, now: float) -> int | None:
        """A free slot for a worker about to be forked (in the master); None if all are taken."""
        for slot in range(len(self.beats)):
            if self.beats[slot] < now - STALE_SECONDS:
                self.counts[slot] = BOOTING
                # Held through the worker's boot (loading the app takes seconds).
                self.beats[slot] = now + 60.0
                self.used.value = max(self.used.value, slot + 1)
                return slot
        return None

    def publish(self, slot: int, count: int, now: float) -> None:
        """Record a worker's connection count, and that it is alive."""
        self.counts[slot] = count
        self.beats[slot] = now

    def release(self, slot: int) -> None:
        """Free a slot: its worker no longer accepts."""
        self.beats[slot] = 0.0
        self.counts[slot] = BOOTING

    def others(self, slot: int, now: float) -> list[int]:
        """Connection counts of the live, accepting siblings of ``slot``."""
        fresh = now - STALE_SECONDS
        counts, beats = self.counts, self.beats
        return [
            counts[i]
            for i in range(self.used.value)
            if i != slot and counts[i] != BOOTING and beats[i] >= fresh
        ]


class BalancedThreadWorker(ThreadWorker):
    """gthread worker; accepts only while no live sibling holds fewer connections."""

    _board: _Board | None = None

    def __init__(self, *args, **kwargs) -> None:
        # Runs in the master, before the fork: the board is created there once, so every
        # worker forked afterwards shares it.
        cls = type(self)
        if cls._board is None:
            cls._board = _Board()
        self._slot = cls._board.reserve(time.monotonic())
        self._leaving = False
        super().__init__(*args, **kwargs)

    @property
    def worker_connections(self) -> int:
        """gunicorn's cap, or the connections held now while a sibling should take new ones.

        gthread reads this once per turn of its loop, to decide whether to accept; each read
        also publishes this worker's count for its siblings.
        """
        if self._slot is None or not self.alive:
            return self._max_connections
        now = time.monotonic()
        self._board.publish(self._slot, self.nr_conns, now)
        self._leaving = not may_accept(self.nr_conns, self._board.others(self._slot, now))
        return self.nr_conns if self._leaving else self._max_connections

    @worker_connections.setter
    def worker_connections(self, value: int) -> None:
        self._max_connections = value

    def notify(self) -> None:
        """Tell the master we are alive; once stopping, free the slot for the siblings."""
        super().notify()
        if self._slot is not None and not self.alive:
            self._board.release(self._slot)
            self._slot = None

    def wait_for_and_dispatch_events(self, timeout: float) -> None:
        """Wait as gthread does; briefly while leaving new connections to the siblings."""
        super().wait_for_and_dispatch_events(
            min(timeout, RECHECK_SECONDS) if self._leaving else timeout
        )
