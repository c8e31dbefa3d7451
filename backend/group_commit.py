"""Group commit: concurrent requests of one process share one transaction.

Under a threaded server (gunicorn ``gthread``) many visit submissions are in flight in one
worker process at once. Storing each in its own transaction costs a dozen statements a visit;
``services/visit_ingest.py`` stores a batch with the same dozen statements for all of them. A
:class:`GroupCommitter` hands the submissions waiting at one moment to one thread, which stores
them as a batch in one transaction and commits once; each request then answers with its own
outcome. Nothing waits on purpose: the thread takes whatever is queued when it is free, so a
lone request is a batch of one and a busy worker's batches grow with its load.

This is the request boundary of the submissions it carries (the one commit, or the rollback):
a request that hands its work here does not write through its own session. If the batch's
transaction fails as a whole (a deadlock with another worker, a lost connection), it is rolled
back and each submission is stored again in a transaction of its own, so one bad submission
never takes the others with it, and a submission's answer always follows its commit.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

from flask import Flask

from backend.extensions import db

log = logging.getLogger(__name__)

# app.extensions key of the visits' committer (present when VISIT_GROUP_COMMIT is on).
VISIT_COMMITTER = "hhq_visit_committer"


def init_app(app: Flask) -> None:
    """Give the app its visits' group committer when VISIT_GROUP_COMMIT is on."""
    if not app.config["VISIT_GROUP_COMMIT"]:
        return
    from backend.services.visit_ingest import ingest_visits

    app.extensions[VISIT_COMMITTER] = GroupCommitter(
        app,
        lambda submissions: ingest_visits(submissions=submissions),
        max_batch=app.config["VISIT_GROUP_COMMIT_MAX"],
        threads=app.config["VISIT_GROUP_COMMIT_THREADS"],
        name="visits",
    )


class GroupCommitter:
    """Run ``store(items)`` for items submitted by concurrent threads, a batch at a time."""

    def __init__(
        self,
        app: Flask,
        store: Callable[[list[Any]], Any],
        *,
        max_batch: int,
        name: str,
        threads: int = 1,
    ) -> None:
        self.app = app
        self.store = store
        self.max_batch = max(1, max_batch)
        self.name = name
        # More than one thread: while one batch waits for the database, the next one is
        # prepared, as two worker processes would (each batch is its own transaction).
        self.threads = max(1, threads)
        self._queue: queue.SimpleQueue[tuple[Any, Future]] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._workers: list[threading.Thread] = []
        self._pid: int | None = None
        self.batches = 0
        self.items = 0

    def submit(self, item: Any, *, timeout: float | None = None) -> Any:
        """Store ``item`` with whatever else is waiting; return it once committed.

        Raises what storing it raised. ``timeout`` (seconds) bounds the wait; the item may
        still be stored after a timeout, which is why only idempotent work comes here. The
        calling request's own session is closed first: it has only read (authentication),
        and its connection is better back in the pool than held while this waits.
        """
        if db.session.registry.has():
            db.session.close()
        future: Future = Future()
        self._ensure_thread()
        self._queue.put((item, future))
        return future.result(timeout=timeout)

    def _ensure_thread(self) -> None:
        # A forked worker (gunicorn) inherits the object but not the threads: start them per
        # process, on first use.
        pid = os.getpid()
        if self._pid == pid and all(t.is_alive() for t in self._workers):
            return
        with self._lock:
            if self._pid != pid:
                self._queue = queue.SimpleQueue()
                self._workers = []
                self._pid = pid
            self._workers = [t for t in self._workers if t.is_alive()]
            while len(self._workers) < self.threads:
                thread = threading.Thread(
                    target=self._loop,
                    name=f"group-commit-{self.name}-{len(self._workers)}",
                    daemon=True,
                )
                thread.start()
                self._workers.append(thread)

    def _loop(self) -> None:
        while True:
            batch = [self._queue.get()]
            while len(batch) < self.max_batch:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            try:
                self._run(batch)
            except BaseException as exc:  # pragma: no cover - _run answers every future
                log.exception("group commit %s: batch failed outside its handling", self.name)
                for _item, future in batch:
                    if not future.done():
                        future.set_exception(exc)

    def _run(self, batch: list[tuple[Any, Future]]) -> None:
        live = [(item, future) for item, future in batch if future.set_running_or_notify_cancel()]
        if not live:
            return
        with self._lock:
            self.batches += 1
            self.items += len(live)
        if self.batches % 1000 == 0:
            log.info(
                "group commit %s: %d items in %d batches (%.1f a batch)",
                self.name,
                self.items,
                self.batches,
                self.items / self.batches,
            )
        try:
            self._commit([item for item, _future in live])
        except Exception as exc:
            if len(live) == 1:
                live[0][1].set_exception(exc)
                return
            log.warning(
                "group commit %s: a batch of %d failed (%s); storing each alone",
                self.name,
                len(live),
                exc,
            )
            for item, future in live:
                try:
                    self._commit([item])
                except Exception as alone:
                    future.set_exception(alone)
                else:
                    future.set_result(item)
            return
        for item, future in live:
            future.set_result(item)

    def _commit(self, items: list[Any]) -> None:
        with self.app.app_context():
            session = db.session()
            # The items' rows are read after the commit by the requests that sent them.
            session.expire_on_commit = False
            try:
                self.store(items)
                session.commit()
            except BaseException:
                session.rollback()
                raise
            finally:
                db.session.remove()
