"""Gunicorn settings for production.

Override any of these per deployment with gunicorn's own ``GUNICORN_CMD_ARGS``, e.g.
``GUNICORN_CMD_ARGS="--bind 0.0.0.0:8000 --workers 5"``; the app itself reads its settings in
``backend/config.py``.
"""

import multiprocessing

bind = "127.0.0.1:8000"
workers = multiprocessing.cpu_count() * 2 + 1
threads = 2
worker_class = "gthread"
timeout = 60
graceful_timeout = 30
keepalive = 5
# Recycle workers now and then so that a slow leak cannot grow without bound.
max_requests = 20000
max_requests_jitter = 2000
accesslog = "-"
errorlog = "-"
