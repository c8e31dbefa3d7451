"""Gunicorn settings for production.

Override any of these per deployment with gunicorn's own ``GUNICORN_CMD_ARGS``, e.g.
``GUNICORN_CMD_ARGS="--bind 0.0.0.0:8000 --workers 5"``; the app itself reads its settings in
``backend/config.py``.
"""

import gc
import multiprocessing

bind = "127.0.0.1:8000"
# One worker process per core, each with many threads: visit submissions in flight in one
# process are stored together by its group commit thread (backend/group_commit.py), so a
# process's threads share one transaction; see scripts/bench/README.md for the sweep.
workers = max(2, multiprocessing.cpu_count())
threads = 25
# gthread, except that a worker leaves new connections to a sibling holding fewer: keep-alive
# clients would otherwise often sit two to one on the workers (backend/gunicorn_worker.py).
worker_class = "backend.gunicorn_worker.BalancedThreadWorker"
timeout = 60
graceful_timeout = 30
keepalive = 5
# Recycle workers now and then so that a slow leak cannot grow without bound.
max_requests = 20000
max_requests_jitter = 2000
accesslog = "-"
errorlog = "-"

# The cyclic garbage collector, in a loaded worker. A worker holds ~230,000 long-lived objects
# (Flask, SQLAlchemy's mappings, marshmallow schemas, the survey definitions); with CPython's
# default thresholds a full collection walked them all every couple of seconds under load, a
# 110-160 ms pause of every thread of the worker, and about a tenth of its CPU (visit ingest
# bench, scripts/bench/README.md). Frozen, they are never walked again; a higher first
# threshold (most of a request's objects die by reference counting anyway) leaves a busy worker
# about one young collection every two seconds, of a few milliseconds.
GC_THRESHOLD0 = 10_000


def post_worker_init(worker):
    """Keep the loaded app out of the garbage collector's way (see GC_THRESHOLD0)."""
    gc.freeze()
    gc.set_threshold(GC_THRESHOLD0, *gc.get_threshold()[1:])
