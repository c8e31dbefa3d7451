"""Staff sign-in for the dashboard: a password login whose bearer token lives in the session.

The session cookie (signed, HttpOnly, SameSite=Lax) holds the token that the API's password
login issues, so the dashboard and the API share one login path, one audit trail
(``auth.login``, ``auth.login_failed``, ``auth.login_throttled``), one expiry and one
revocation. Each request turns the token back into an actor with the same grants and the same
authorisation as an API call.
"""

from __future__ import annotations

from flask import current_app, flash, g, redirect, render_template, request, session, url_for
from werkzeug.wrappers import Response

from backend.errors import DomainError
from backend.services import auth as auth_service
from backend.web.blueprint import csrf, web
from backend.web.common import safe_next

SESSION_TOKEN = "hhq_token"
PUBLIC_ENDPOINTS = frozenset({"web.login", "web.static"})


@web.before_request
def _check_csrf_and_sign_in() -> Response | None:
    """Every unsafe request carries a valid CSRF token; every page but login needs a session."""
    g.web_actor = None
    if current_app.config.get("WTF_CSRF_ENABLED", True):
        csrf.protect()
    if request.endpoint in PUBLIC_ENDPOINTS:
        return None
    token = session.get(SESSION_TOKEN)
    if not token:
        return _to_login()
    try:
        g.web_actor = auth_service.authenticate_token(token=token, ip=request.remote_addr)
    except DomainError as exc:
        session.pop(SESSION_TOKEN, None)
        flash(exc.message, "error")
        return _to_login()
    # Services that read g.actor (none should) see the same person.
    g.actor = g.web_actor
    return None


def _to_login() -> Response:
    target = request.full_path if request.method == "GET" else request.path
    target = target.rstrip("?")
    params = {"next": target} if target.startswith("/web/") and target != "/web/" else {}
    return redirect(url_for("web.login", **params), code=303 if request.method != "GET" else 302)


def _clear_session() -> None:
    session.clear()
    # Flask-WTF caches the signed CSRF token in ``g``; it belonged to the session just cleared.
    g.pop(current_app.config.get("WTF_CSRF_FIELD_NAME", "csrf_token"), None)


@web.after_request
def _no_store(response: Response) -> Response:
    # Pages carry personal data and short-lived signed photo links: never cache them.
    if request.endpoint != "web.static":
        response.headers.setdefault("Cache-Control", "no-store")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "same-origin")
    return response


@web.route("/login", methods=["GET", "POST"])
def login():
    """The sign-in form; a successful login starts a session and goes on to the dashboard."""
    next_url = safe_next(url_for("web.overview"))
    if request.method == "GET":
        if session.get(SESSION_TOKEN):
            return redirect(next_url)
        return render_template("web/login.html", next_url=next_url, username="")
    username = (request.form.get("username") or "").strip()
    password = request.form.get("password") or ""
    if not username or not password:
        return render_template(
            "web/login.html",
            next_url=next_url,
            username=username,
            error="请输入用户名和密码。",
        ), 422
    try:
        issued = auth_service.login_with_password(
            username=username, password=password, ip=request.remote_addr
        )
    except DomainError as exc:
        if exc.keep_changes:
            g.keep_changes = True  # the failed attempt's audit row counts towards throttling
        return render_template(
            "web/login.html", next_url=next_url, username=username, error=exc.message
        ), exc.status
    # A fresh session: nothing from before the login (a planted CSRF token) carries over.
    _clear_session()
    session[SESSION_TOKEN] = issued.token
    return redirect(next_url, code=303)


@web.post("/logout")
def logout():
    """Revoke the session's token and forget it."""
    token = session.pop(SESSION_TOKEN, None)
    if token:
        auth_service.revoke_token(token=token)
    _clear_session()
    flash("您已退出登录。", "info")
    return redirect(url_for("web.login"), code=303)
