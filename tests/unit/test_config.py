"""Configuration safety checks."""

from __future__ import annotations

import pytest

from backend.config import DEFAULT_SECRET, ConfigError, load_config


def test_production_refuses_default_secret():
    with pytest.raises(ConfigError, match="SECRET_KEY"):
        load_config({"ENV_NAME": "production", "SECRET_KEY": DEFAULT_SECRET})


def test_production_refuses_default_wechat_secret():
    with pytest.raises(ConfigError, match="WECHAT_SECRET"):
        load_config({"ENV_NAME": "production", "SECRET_KEY": "x" * 40})


def test_production_accepts_real_secrets():
    cfg = load_config(
        {"ENV_NAME": "production", "SECRET_KEY": "x" * 40, "WECHAT_SECRET": "real-secret"}
    )
    assert cfg["ENV_NAME"] == "production"


def test_unknown_storage_backend_is_refused():
    with pytest.raises(ConfigError, match="STORAGE_BACKEND"):
        load_config({"STORAGE_BACKEND": "ftp"})


def test_postgres_urls_use_psycopg3():
    cfg = load_config({"DATABASE_URL": "postgres://u@h/db"})
    assert cfg["SQLALCHEMY_DATABASE_URI"] == "postgresql+psycopg://u@h/db"
