"""The town office's web dashboard (Chinese), served by the Flask app under ``/web``.

Pages render on the server from the same services as the API (``backend/services``) with the
signed-in person's grants, so each person sees exactly their scope. Charts and the map are
inline SVG drawn here; the CSS and the little JavaScript there is are served from
``backend/static/web``. Nothing is loaded from another site.
"""

from __future__ import annotations

import importlib
import logging

from flask import Flask, g, redirect, render_template, request, session, url_for
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from backend.errors import CATALOGUE, DomainError
from backend.web.blueprint import csrf, web

log = logging.getLogger(__name__)

# Modules that add routes to ``web``; imported once, before the blueprint is registered.
PAGE_MODULES = [
    "backend.web.signin",
    "backend.web.overview",
    "backend.web.households",
    "backend.web.problems",
    "backend.web.review",
    "backend.web.spot_checks",
    "backend.web.exports",
    "backend.web.audit",
]


def init_app(app: Flask) -> None:
    """Register the dashboard, its CSRF protection and the ``/`` redirect on ``app``."""
    for name in PAGE_MODULES:
        importlib.import_module(name)
    app.config.setdefault("WTF_CSRF_CHECK_DEFAULT", False)
    # A clerk keeps a page open all morning: the token lives as long as the session.
    app.config.setdefault("WTF_CSRF_TIME_LIMIT", None)
    if app.config.get("SESSION_COOKIE_SAMESITE") is None:
        app.config["SESSION_COOKIE_SAMESITE"] = "Lax"
    if app.config.get("ENV_NAME") == "production" and str(
        app.config.get("PUBLIC_BASE_URL", "")
    ).startswith("https://"):
        app.config["SESSION_COOKIE_SECURE"] = True
    csrf.init_app(app)
    _register_template_helpers(app)
    app.register_blueprint(web, url_prefix="/web")
    app.add_url_rule("/", "root", _root)


def _root():
    """``/``: the dashboard for a signed-in person, the sign-in form for anyone else."""
    from backend.web.signin import SESSION_TOKEN

    if session.get(SESSION_TOKEN):
        return redirect(url_for("web.overview"))
    return redirect(url_for("web.login"))


def _register_template_helpers(app: Flask) -> None:
    from backend.services import pii
    from backend.web import common

    app.jinja_env.filters.setdefault("mask_name", pii.mask_name)
    app.jinja_env.filters.setdefault("china_time", common.china_time)
    app.jinja_env.filters.setdefault("china_date", common.china_date)
    app.jinja_env.filters.setdefault("pct", common.pct)
    app.jinja_env.filters.setdefault("distance", common.distance)
    # Globals, not context: the macros imported from _macros.html see globals only.
    app.jinja_env.globals.setdefault("url_with", common.url_with)
    app.jinja_env.globals.setdefault("query_without", common.query_without)
    app.jinja_env.globals.setdefault("month_choices", common.month_choices)


@web.context_processor
def _page_context() -> dict:
    from backend.models.user import ROLE_LABELS
    from backend.web import common

    who = g.get("web_actor")
    return {
        "who": who,
        "who_roles": "、".join(ROLE_LABELS[r] for r in sorted(who.roles)) if who else "",
        "nav": common.nav_items(who) if who is not None else [],
        "current_period": request.args.get("period", ""),
    }


def _error_page(status: int, message: str, code: str):
    return render_template("web/error.html", status=status, message=message, code=code), status


@web.errorhandler(DomainError)
def _domain_error(exc: DomainError):
    if exc.keep_changes:
        g.keep_changes = True
    if exc.code == "auth.required":
        return redirect(url_for("web.login"))
    message = exc.message
    for location in (exc.fields or {}).values():
        if isinstance(location, dict):
            for value in location.values():
                message += " " + "；".join(
                    str(v) for v in (value if isinstance(value, list) else [value])
                )
    return _error_page(exc.status, message, exc.code)


@web.errorhandler(CSRFError)
def _csrf_error(_exc: CSRFError):
    spec = CATALOGUE["web.csrf_failed"]
    return _error_page(spec.status, spec.message, "web.csrf_failed")


@web.errorhandler(HTTPException)
def _http_error(exc: HTTPException):
    status = exc.code or 500
    messages = {
        404: CATALOGUE["request.not_found"].message,
        405: CATALOGUE["request.method_not_allowed"].message,
        413: CATALOGUE["request.too_large"].message,
    }
    return _error_page(status, messages.get(status, CATALOGUE["request.bad"].message), "")


@web.errorhandler(Exception)
def _unexpected(exc: Exception):
    log.exception("unhandled error on a dashboard page")
    return _error_page(500, CATALOGUE["internal.error"].message, "internal.error")
