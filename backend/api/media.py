"""``/media/<key>``: photos this app stores or spools itself, behind short-lived signed links.

Not under /api/v1 and not in the OpenAPI document: browsers and the mini-program load these
as ``<img src>``, which cannot send a bearer token, so the signature is the authorisation.
There is deliberately no route that lists anything.
"""

from __future__ import annotations

import time

from flask import Blueprint, current_app, request, send_file

from backend.errors import DomainError
from backend.storage import InvalidKey, ObjectNotFound, content_type_for_key, get_storage

media_pages = Blueprint("media_pages", __name__)
PAGE_BLUEPRINTS = [media_pages]


@media_pages.get("/media/<path:key>")
def media(key: str):
    """Serve one stored photo through a signed, expiring link."""
    storage = get_storage(current_app)
    if storage.signer is None:
        raise DomainError("storage.not_found")
    exp = storage.signer.verify(key, request.args.get("exp"), request.args.get("sig"))
    try:
        path = storage.local_path(key)
    except (InvalidKey, ObjectNotFound):
        path = None
    if path is None:
        raise DomainError("storage.not_found")
    response = send_file(
        path, mimetype=content_type_for_key(key), conditional=True, etag=True, max_age=None
    )
    remaining = max(0, exp - int(time.time()))
    response.headers["Cache-Control"] = f"private, max-age={remaining}"
    # Served bytes are images only: never sniffed into HTML, never allowed to run anything.
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response.headers["Content-Disposition"] = "inline"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response
