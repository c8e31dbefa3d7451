"""Gunicorn settings for production.

Override any of these per deployment with gunicorn's own ``GUNICORN_CMD_ARGS``, e.g.
``GUNICORN_CMD_ARGS="--bind 0.0.0.0:8000 --workers 5"``; the app itself reads its settings in
``backend/config.py``.
"""

import multiprocessing

bind = "127.0.0.1:8000"
# One worker process per core, each with many threads: visit submissions in flight in one
# process are stored together by its group commit thread (backend/group_commit.py), so a
# process's threads share one transaction; see scripts/bench/README.md for the sweep.
workers = max(2, multiprocessing.cpu_count())
threads = 25
worker_class = "gthread"
timeout = 60
graceful_timeout = 30
keepalive = 5
# Recycle workers now and then so that a slow leak cannot grow without bound.
max_requests = 20000
max_requests_jitter = 2000
accesslog = "-"
errorlog = "-"
