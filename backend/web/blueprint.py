"""The dashboard's blueprint and its CSRF protection, created unbound like the extensions."""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint
from flask_wtf.csrf import CSRFProtect

STATIC_DIR = Path(__file__).resolve().parent.parent / "static" / "web"

web = Blueprint(
    "web",
    __name__,
    static_folder=str(STATIC_DIR),
    static_url_path="/static",
)
# Only the dashboard's forms are checked (WTF_CSRF_CHECK_DEFAULT is off): the API answers bearer
# tokens, never cookies, and the villagers' public form carries no session to ride on.
csrf = CSRFProtect()
