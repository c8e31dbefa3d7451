"""Configuration. The only module that reads the process environment."""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SECRET = "dev-insecure-secret-change-me"


def _env(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name)
    return value if value not in (None, "") else default


def _env_int(name: str, default: int) -> int:
    raw = _env(name)
    return int(raw) if raw is not None else default


def _env_float(name: str, default: float | None) -> float | None:
    raw = _env(name)
    return float(raw) if raw is not None else default


def _env_int_map(name: str, default: dict[str, int]) -> dict[str, int]:
    # "helper=200,town_admin=200000": keys not given keep their defaults.
    merged = dict(default)
    for part in (_env(name) or "").split(","):
        key, sep, value = part.partition("=")
        if sep and key.strip():
            merged[key.strip()] = int(value)
    return merged


def _env_bool(name: str, default: bool | None) -> bool | None:
    raw = _env(name)
    if raw is None:
        return default
    return raw.strip().lower() in {"1", "true", "yes", "on"}


class ConfigError(RuntimeError):
    """Raised when the configuration is unsafe or incomplete."""


def load_config(overrides: dict | None = None) -> dict:
    """Build the Flask config mapping from the environment plus explicit overrides."""
    env_name = _env("HHQ_ENV", "development")
    var_dir = Path(_env("HHQ_VAR_DIR", str(PROJECT_ROOT / "var")))
    cfg: dict = {
        "ENV_NAME": env_name,
        "TESTING": False,
        "SECRET_KEY": _env("SECRET_KEY", DEFAULT_SECRET),
        "SQLALCHEMY_DATABASE_URI": _normalise_db_url(
            _env("DATABASE_URL", f"sqlite:///{var_dir / 'huhuqing.db'}")
        ),
        # A gthread worker holds up to ``threads`` connections at once, plus the group commit
        # thread's.
        "SQLALCHEMY_ENGINE_OPTIONS": {
            "pool_pre_ping": True,
            "pool_size": _env_int("DB_POOL_SIZE", 10),
            "max_overflow": _env_int("DB_MAX_OVERFLOW", 20),
        },
        "PUBLIC_BASE_URL": (_env("PUBLIC_BASE_URL", "http://127.0.0.1:8000") or "").rstrip("/"),
        "VAR_DIR": str(var_dir),
        # Photo and file storage.
        "STORAGE_BACKEND": _env("STORAGE_BACKEND", "local"),
        "LOCAL_STORAGE_DIR": _env("LOCAL_STORAGE_DIR", str(var_dir / "storage")),
        "S3_BUCKET": _env("S3_BUCKET", "huhuqing"),
        "S3_ENDPOINT_URL": _env("S3_ENDPOINT_URL"),
        "S3_REGION": _env("S3_REGION", "us-east-1"),
        "S3_ACCESS_KEY_ID": _env("S3_ACCESS_KEY_ID"),
        "S3_SECRET_ACCESS_KEY": _env("S3_SECRET_ACCESS_KEY"),
        # Where browsers fetch presigned URLs when it differs from the internal S3 endpoint.
        "S3_PUBLIC_ENDPOINT_URL": _env("S3_PUBLIC_ENDPOINT_URL"),
        # auto | path | virtual: MinIO usually wants path, Aliyun OSS and Tencent COS virtual.
        "S3_ADDRESSING_STYLE": _env("S3_ADDRESSING_STYLE", "auto"),
        # Short timeouts: an upload falls back to the local spool rather than hang on S3.
        "S3_CONNECT_TIMEOUT_SECONDS": _env_float("S3_CONNECT_TIMEOUT_SECONDS", 3.0),
        "S3_READ_TIMEOUT_SECONDS": _env_float("S3_READ_TIMEOUT_SECONDS", 30.0),
        "S3_MAX_ATTEMPTS": _env_int("S3_MAX_ATTEMPTS", 3),
        # Photos kept here while S3 is unreachable; defaults to VAR_DIR/spool.
        "STORAGE_SPOOL_DIR": _env("STORAGE_SPOOL_DIR"),
        # Photos.
        "PHOTO_MAX_BYTES": _env_int("PHOTO_MAX_BYTES", 15 * 1024 * 1024),
        "PHOTO_MAX_PIXELS": _env_int("PHOTO_MAX_PIXELS", 40_000_000),
        "PHOTO_URL_TTL_SECONDS": _env_int("PHOTO_URL_TTL_SECONDS", 300),
        # Near-duplicate photo search looks back this far (exact matches: all time).
        "PHOTO_REUSE_WINDOW_DAYS": _env_int("PHOTO_REUSE_WINDOW_DAYS", 180),
        # WeChat.
        "WECHAT_API_BASE": (_env("WECHAT_API_BASE", "https://api.weixin.qq.com") or "").rstrip("/"),
        "WECHAT_APPID": _env("WECHAT_APPID", "wx-dev-appid"),
        "WECHAT_SECRET": _env("WECHAT_SECRET", "wx-dev-secret"),
        "WECHAT_TIMEOUT_SECONDS": _env_float("WECHAT_TIMEOUT_SECONDS", 5.0),
        # The cached access_token is dropped this long before WeChat's expires_in runs out.
        "WECHAT_TOKEN_MARGIN_SECONDS": _env_int("WECHAT_TOKEN_MARGIN_SECONDS", 300),
        "WECHAT_MINIPROGRAM_PAGE": _env("WECHAT_MINIPROGRAM_PAGE", "pages/scan/scan"),
        "REDIS_URL": _env("REDIS_URL"),
        # Sessions and logins.
        "AUTH_TOKEN_TTL_SECONDS": _env_int("AUTH_TOKEN_TTL_SECONDS", 12 * 3600),
        "WECHAT_TOKEN_TTL_SECONDS": _env_int("WECHAT_TOKEN_TTL_SECONDS", 7 * 24 * 3600),
        "BINDING_CODE_TTL_SECONDS": _env_int("BINDING_CODE_TTL_SECONDS", 72 * 3600),
        "BIND_TICKET_TTL_SECONDS": _env_int("BIND_TICKET_TTL_SECONDS", 600),
        "LOGIN_MAX_FAILURES": _env_int("LOGIN_MAX_FAILURES", 5),
        "LOGIN_FAILURE_WINDOW_SECONDS": _env_int("LOGIN_FAILURE_WINDOW_SECONDS", 900),
        # Imports.
        "IMPORT_MAX_BYTES": _env_int("IMPORT_MAX_BYTES", 10 * 1024 * 1024),
        "IMPORT_MAX_ROWS": _env_int("IMPORT_MAX_ROWS", 50_000),
        "MAX_CONTENT_LENGTH": _env_int("MAX_CONTENT_LENGTH", 32 * 1024 * 1024),
        # Visits.
        "INCOME_MONITORING_LINE": _env_float("INCOME_MONITORING_LINE", 6000.0),
        "VISIT_MAX_FUTURE_SECONDS": _env_int("VISIT_MAX_FUTURE_SECONDS", 86400),
        "VISIT_LOCATION_PROPOSAL_MAX_ACCURACY_M": _env_float(
            "VISIT_LOCATION_PROPOSAL_MAX_ACCURACY_M", 30.0
        ),
        "SYNC_MAX_ITEMS": _env_int("SYNC_MAX_ITEMS", 200),
        # Seconds a worker process trusts a bearer token it has read (services/auth.py
        # TokenCache): a token revoked elsewhere works here for at most this long. 0: off.
        # None: 5 s, except under tests (0), which ask for it.
        "AUTH_TOKEN_CACHE_SECONDS": _env_float("AUTH_TOKEN_CACHE_SECONDS", None),
        # Group commit (backend/group_commit.py): the visit submissions in flight in one worker
        # process at one moment are stored in one transaction. The test suite turns it off
        # where each test runs in a transaction rolled back afterwards, which a second
        # thread's commits would escape.
        # None: on, except under tests (ENV_NAME test or TESTING), which ask for it.
        "VISIT_GROUP_COMMIT": _env_bool("VISIT_GROUP_COMMIT", None),
        "VISIT_GROUP_COMMIT_MAX": _env_int("VISIT_GROUP_COMMIT_MAX", 64),
        # Batches in flight at once per process, each its own transaction. More than one made
        # smaller batches and cost more CPU a visit on 2 cores (scripts/bench/README.md).
        "VISIT_GROUP_COMMIT_THREADS": _env_int("VISIT_GROUP_COMMIT_THREADS", 1),
        # Authenticity thresholds (see backend/services/authenticity.py for the defaults).
        **{
            key: _env_float(key, default)
            for key, default in (
                ("AUTHENTICITY_GPS_MAX_ACCURACY_M", 100.0),
                ("AUTHENTICITY_HOUSEHOLD_MAX_DISTANCE_M", 500.0),
                ("AUTHENTICITY_MIN_VISIT_MINUTES", 3.0),
                ("AUTHENTICITY_MAX_CLOCK_SKEW_MINUTES", 10.0),
                ("AUTHENTICITY_MAX_TRAVEL_SPEED_KMH", 120.0),
                ("AUTHENTICITY_TRAVEL_MIN_DISTANCE_M", 1000.0),
                ("AUTHENTICITY_PHOTO_MAX_EXIF_GAP_HOURS", 2.0),
                ("AUTHENTICITY_PHASH_MAX_DISTANCE", 6),
            )
        },
        # Problems (issue 4). Where a failing visit check enters the state machine: a helper's
        # check needs no village acceptance, so "assigned" by default.
        "PROBLEM_VISIT_CHECK_ENTRY_STATUS": _env("PROBLEM_VISIT_CHECK_ENTRY_STATUS", "assigned"),
        # Days to rectify when the routing table gives none for the area.
        "PROBLEM_DEADLINE_DAYS": _env_int("PROBLEM_DEADLINE_DAYS", 15),
        # A villager's report must be accepted by the village within this many days.
        "PROBLEM_ACCEPT_DEADLINE_DAYS": _env_int("PROBLEM_ACCEPT_DEADLINE_DAYS", 2),
        # "Deadline approaching" is sent this many hours before the deadline.
        "PROBLEM_DEADLINE_WARN_HOURS": _env_int("PROBLEM_DEADLINE_WARN_HOURS", 48),
        # Overdue problems escalate again every this many days.
        "PROBLEM_ESCALATE_EVERY_DAYS": _env_int("PROBLEM_ESCALATE_EVERY_DAYS", 3),
        # Villagers' reports of the same household and area within this window are linked.
        "REPORT_LINK_WINDOW_DAYS": _env_int("REPORT_LINK_WINDOW_DAYS", 30),
        "REPORT_MAX_TEXT_CHARS": _env_int("REPORT_MAX_TEXT_CHARS", 500),
        "REPORT_MAX_PHOTOS": _env_int("REPORT_MAX_PHOTOS", 6),
        # flask-limiter limits for villagers' reports; Redis holds the counters when set.
        "REPORT_RATE_LIMIT_PER_CARD": _env("REPORT_RATE_LIMIT_PER_CARD", "5 per hour;20 per day"),
        "REPORT_RATE_LIMIT_PER_CLIENT": _env(
            "REPORT_RATE_LIMIT_PER_CLIENT", "10 per hour;30 per day"
        ),
        "RATELIMIT_STORAGE_URI": _env("RATELIMIT_STORAGE_URI"),
        "RATELIMIT_KEY_PREFIX": _env("RATELIMIT_KEY_PREFIX", "hhq"),
        # Notifications: WeChat subscribe-message template ids, one per event.
        "WECHAT_TEMPLATE_OFFICE_ASSIGNED": _env("WECHAT_TEMPLATE_OFFICE_ASSIGNED", "tmpl-assigned"),
        "WECHAT_TEMPLATE_DEADLINE_SOON": _env("WECHAT_TEMPLATE_DEADLINE_SOON", "tmpl-deadline"),
        "WECHAT_TEMPLATE_OVERDUE": _env("WECHAT_TEMPLATE_OVERDUE", "tmpl-overdue"),
        "WECHAT_TEMPLATE_REPORT_ACCEPTED": _env(
            "WECHAT_TEMPLATE_REPORT_ACCEPTED", "tmpl-report-accepted"
        ),
        "WECHAT_TEMPLATE_REPORT_CLOSED": _env(
            "WECHAT_TEMPLATE_REPORT_CLOSED", "tmpl-report-closed"
        ),
        # developer | trial | formal, as WeChat's miniprogram_state.
        "WECHAT_MINIPROGRAM_STATE": _env("WECHAT_MINIPROGRAM_STATE", "formal"),
        "NOTIFY_MAX_ATTEMPTS": _env_int("NOTIFY_MAX_ATTEMPTS", 6),
        "NOTIFY_BATCH_SIZE": _env_int("NOTIFY_BATCH_SIZE", 100),
        "NOTIFY_LOOP_SECONDS": _env_int("NOTIFY_LOOP_SECONDS", 30),
        # Spot-checks and ledger exports (issue 5). Share of a month's visits sampled per
        # village (at least one per village that has visits).
        "SPOT_CHECK_SHARE": _env_float("SPOT_CHECK_SHARE", 0.05),
        # Most rows one export may hold, by role (the caller's largest applies).
        "EXPORT_MAX_ROWS_BY_ROLE": _env_int_map(
            "EXPORT_MAX_ROWS_BY_ROLE",
            {
                "helper": 200,
                "village_cadre": 20_000,
                "office": 100_000,
                "town_admin": 200_000,
                "inspector": 200_000,
                "district": 2_000_000,
            },
        ),
        # An XLSX export is assembled in memory up to this size, then on disk.
        "EXPORT_SPOOL_BYTES": _env_int("EXPORT_SPOOL_BYTES", 8 * 1024 * 1024),
        # Coverage (issue 5): whether visits flagged by the authenticity checks count for
        # coverage before anyone has reviewed them (invalid visits never count).
        "COVERAGE_COUNT_UNREVIEWED_FLAGGED": _env_bool("COVERAGE_COUNT_UNREVIEWED_FLAGGED", True),
        # Printed cards.
        "TOWN_HOTLINE": _env("TOWN_HOTLINE", "023-45600000"),
        "CARD_FONT_PATH": _env("CARD_FONT_PATH"),
        # OpenAPI (flask-smorest).
        "API_TITLE": "Huhuqing API",
        "API_SPEC_OPTIONS": {
            "components": {
                "securitySchemes": {
                    "bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "hhq_…"}
                }
            },
            "security": [{"bearerAuth": []}],
        },
        "API_VERSION": "v1",
        "OPENAPI_VERSION": "3.0.3",
        "OPENAPI_URL_PREFIX": "/api",
        "OPENAPI_JSON_PATH": "openapi.json",
        "OPENAPI_SWAGGER_UI_PATH": "/docs",
        "OPENAPI_SWAGGER_UI_URL": _env("OPENAPI_SWAGGER_UI_URL", "/api/docs-static/"),
        "JSON_AS_ASCII": False,
        # Number of reverse proxies in front of gunicorn whose X-Forwarded-* we trust.
        "PROXY_FIX_COUNT": _env_int("PROXY_FIX_COUNT", 0),
        "LOG_LEVEL": _env("LOG_LEVEL", "INFO"),
    }
    if env_name == "test":
        cfg["TESTING"] = True
    if overrides:
        cfg.update(overrides)
    # Tests hold data in uncommitted transactions and change tokens behind the app's back:
    # the group commit thread and the token cache are opted into there, not on by default.
    under_test = bool(cfg.get("TESTING")) or cfg.get("ENV_NAME") == "test"
    if cfg["VISIT_GROUP_COMMIT"] is None:
        cfg["VISIT_GROUP_COMMIT"] = not under_test
    if cfg["AUTH_TOKEN_CACHE_SECONDS"] is None:
        cfg["AUTH_TOKEN_CACHE_SECONDS"] = 0.0 if under_test else 5.0
    if "DATABASE_URL" in cfg:
        cfg["SQLALCHEMY_DATABASE_URI"] = _normalise_db_url(cfg.pop("DATABASE_URL"))
    cfg["SQLALCHEMY_DATABASE_URI"] = _normalise_db_url(cfg["SQLALCHEMY_DATABASE_URI"])
    if not cfg.get("RATELIMIT_STORAGE_URI"):
        cfg["RATELIMIT_STORAGE_URI"] = cfg.get("REDIS_URL") or "memory://"
    if not cfg.get("STORAGE_SPOOL_DIR"):
        cfg["STORAGE_SPOOL_DIR"] = str(Path(cfg["VAR_DIR"]) / "spool")
    if cfg["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        cfg["SQLALCHEMY_ENGINE_OPTIONS"] = {"connect_args": {"timeout": 30}}
    validate_config(cfg)
    return cfg


def validate_config(cfg: dict) -> None:
    """Refuse unsafe settings: production must not run on the built-in secret."""
    if cfg["ENV_NAME"] == "production":
        if cfg["SECRET_KEY"] in (None, "", DEFAULT_SECRET) or len(cfg["SECRET_KEY"]) < 16:
            raise ConfigError("SECRET_KEY must be set to a strong value in production")
        if cfg["WECHAT_SECRET"] == "wx-dev-secret":
            raise ConfigError("WECHAT_SECRET must be set in production")
    if cfg["STORAGE_BACKEND"] not in {"local", "s3"}:
        raise ConfigError("STORAGE_BACKEND must be 'local' or 's3'")
    if cfg["S3_ADDRESSING_STYLE"] not in {"auto", "path", "virtual"}:
        raise ConfigError("S3_ADDRESSING_STYLE must be 'auto', 'path' or 'virtual'")


def _normalise_db_url(url: str) -> str:
    # Heroku-style and bare postgresql:// URLs should use the psycopg 3 driver we ship.
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return url


def test_database_url() -> str | None:
    """The database URL the test suite should use, if the environment chose one."""
    return _env("TEST_DATABASE_URL")


def env_value(name: str, default: str | None = None) -> str | None:
    """Read a raw environment value for scripts that run outside the app (bench, fakes)."""
    return _env(name, default)
