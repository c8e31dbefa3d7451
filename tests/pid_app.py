"""A WSGI app that answers with its worker's process id (the gunicorn worker tests)."""

from __future__ import annotations

import os


def app(environ, start_response):
    """Answer the pid of the process that served the request."""
    body = str(os.getpid()).encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
