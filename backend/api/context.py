"""Request context helpers for handlers."""

from __future__ import annotations

from flask import g, request

from backend.services.authz import Actor


def current_actor() -> Actor:
    """The actor of the current request (anonymous when no token was sent)."""
    actor = g.get("actor")
    return actor if actor is not None else Actor.anonymous(ip=request.remote_addr)


def bearer_token() -> str | None:
    """The raw bearer token of the current request, if any."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None
