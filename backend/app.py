"""The application factory."""

from __future__ import annotations

import logging
from pathlib import Path

from flask import Flask, g, jsonify, request, send_from_directory
from sqlalchemy import event, text
from sqlalchemy.exc import IntegrityError
from werkzeug.middleware.proxy_fix import ProxyFix

from backend import jsonfast
from backend.config import load_config
from backend.errors import DomainError, error_body, register_error_handlers
from backend.extensions import api, db, limiter, migrate
from backend.jsonfast import OrjsonProvider

log = logging.getLogger(__name__)
MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def create_app(config: dict | None = None) -> Flask:
    """Create and configure the Flask application."""
    app = Flask(__name__)
    app.config.update(load_config(config))
    app.json = OrjsonProvider(app)
    app.json.ensure_ascii = False
    # The JSON columns (answers, checks' evidence, flags...) through orjson as well.
    app.config["SQLALCHEMY_ENGINE_OPTIONS"] = {
        "json_serializer": jsonfast.dumps,
        "json_deserializer": jsonfast.loads,
        **app.config.get("SQLALCHEMY_ENGINE_OPTIONS", {}),
    }
    logging.basicConfig(level=app.config["LOG_LEVEL"])
    if app.config["PROXY_FIX_COUNT"]:
        n = app.config["PROXY_FIX_COUNT"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n, x_host=n)

    db.init_app(app)
    migrate.init_app(app, db, directory=str(MIGRATIONS_DIR))
    with app.app_context():
        _configure_engine(db.engine)

    api.init_app(app, spec_kwargs={"info": {"description": "户户清 household visits API"}})
    limiter.init_app(app)
    # Only the views that report_rate_limits decorates carry limits, and those check them
    # themselves when called. The limiter's before_request hook only worked out, for every
    # other request (each visit submission), that it has none: ~2 % of a worker's CPU.
    app.before_request_funcs[None].remove(limiter._check_request_limit)
    register_error_handlers(app)
    _register_request_boundary(app)
    _register_routes(app)

    from backend.api import register_blueprints

    register_blueprints(api, app)

    # Importing the notifications service registers its problem-transition hooks.
    import backend.services.notifications  # noqa: F401
    from backend.api.media import media_pages

    app.register_blueprint(media_pages)

    # The town office's web dashboard under /web, and "/" sending people to it.
    from backend.web import init_app as init_web

    init_web(app)

    from backend import group_commit

    group_commit.init_app(app)

    from backend.cli import hhq

    app.cli.add_command(hhq)
    return app


def _configure_engine(engine) -> None:
    if engine.dialect.name != "sqlite":
        return

    # pysqlite's own transaction handling breaks SAVEPOINTs and defers BEGIN; take it over,
    # as SQLAlchemy's documentation recommends, and turn on foreign keys.
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn):
        # IMMEDIATE: a deferred transaction that read first and then writes while another
        # connection has written fails at once with "database is locked" (busy_timeout does
        # not apply to that upgrade), so concurrent requests on SQLite answered 500.
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def _register_request_boundary(app: Flask) -> None:
    from backend.services.auth import authenticate_token
    from backend.services.authz import Actor

    @app.before_request
    def _load_actor():
        g.keep_changes = False
        g.actor = Actor.anonymous(ip=request.remote_addr)
        header = request.headers.get("Authorization", "")
        if header:
            scheme, _, token = header.partition(" ")
            if scheme.lower() != "bearer" or not token.strip():
                raise DomainError("auth.invalid_token")
            g.actor = authenticate_token(token=token.strip(), ip=request.remote_addr)

    @app.after_request
    def _commit_or_rollback(response):
        # One transaction per request: services only flush; this is the single commit.
        if not db.session.registry.has():
            # The request never used a session (a cached token, work handed to the group
            # commit): nothing to commit, and no session to make just to end it.
            return response
        if response.status_code < 400 or g.get("keep_changes"):
            try:
                db.session.commit()
            except IntegrityError:
                db.session.rollback()
                log.warning("commit conflict on %s %s", request.method, request.path)
                conflict = jsonify(error_body("request.conflict"))
                conflict.status_code = 409
                return conflict
        else:
            db.session.rollback()
        return response


def _register_routes(app: Flask) -> None:
    import swagger_ui_bundle

    @app.get("/healthz")
    def healthz():
        """Liveness and database check."""
        try:
            db.session.execute(text("SELECT 1"))
        except Exception:
            log.exception("health check failed")
            return jsonify({"status": "error", "database": "unreachable"}), 503
        return jsonify({"status": "ok", "database": "ok"})

    @app.get("/api/docs-static/<path:filename>")
    def swagger_static(filename: str):
        """Swagger UI assets, served locally because no CDN is reachable."""
        return send_from_directory(swagger_ui_bundle.swagger_ui_path, filename)
