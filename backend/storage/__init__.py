"""Photo and file storage: one interface, a local-disk and an S3 backend, and a spool.

``get_storage(app)`` returns the configured backend (one per app). Browsers never list
anything: they get short-lived signed URLs from ``storage.url(key)``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask

from backend.storage.base import (
    InvalidKey,
    ObjectNotFound,
    Storage,
    StorageError,
    StorageUnavailable,
    content_type_for_key,
    photo_key,
    validate_key,
)
from backend.storage.local import LocalStorage
from backend.storage.s3 import S3Storage
from backend.storage.signing import MediaSigner
from backend.storage.spool import (
    SpoolEntry,
    put_with_spool,
    ship_spooled,
    spool_entries,
    spooled_path,
)

EXTENSION_KEY = "hhq_storage"

__all__ = [
    "EXTENSION_KEY",
    "InvalidKey",
    "LocalStorage",
    "MediaSigner",
    "ObjectNotFound",
    "S3Storage",
    "SpoolEntry",
    "Storage",
    "StorageError",
    "StorageUnavailable",
    "build_storage",
    "content_type_for_key",
    "get_storage",
    "photo_key",
    "put_with_spool",
    "ship_spooled",
    "spool_entries",
    "spooled_path",
    "validate_key",
]


def build_storage(config: Mapping[str, Any]) -> Storage:
    """Build the backend named by STORAGE_BACKEND from a config mapping."""
    signer = MediaSigner(
        config["SECRET_KEY"],
        base_url=config.get("PUBLIC_BASE_URL") or "",
        ttl=int(config.get("PHOTO_URL_TTL_SECONDS", 300)),
    )
    spool_dir = config.get("STORAGE_SPOOL_DIR")
    if config["STORAGE_BACKEND"] == "s3":
        return S3Storage(
            bucket=config["S3_BUCKET"],
            endpoint_url=config.get("S3_ENDPOINT_URL"),
            region=config.get("S3_REGION") or "us-east-1",
            access_key_id=config.get("S3_ACCESS_KEY_ID"),
            secret_access_key=config.get("S3_SECRET_ACCESS_KEY"),
            public_endpoint_url=config.get("S3_PUBLIC_ENDPOINT_URL"),
            addressing_style=config.get("S3_ADDRESSING_STYLE", "auto"),
            connect_timeout=float(config.get("S3_CONNECT_TIMEOUT_SECONDS", 3.0)),
            read_timeout=float(config.get("S3_READ_TIMEOUT_SECONDS", 30.0)),
            max_attempts=int(config.get("S3_MAX_ATTEMPTS", 3)),
            url_ttl=int(config.get("PHOTO_URL_TTL_SECONDS", 300)),
            signer=signer,
            spool_dir=spool_dir,
        )
    return LocalStorage(config["LOCAL_STORAGE_DIR"], signer=signer, spool_dir=spool_dir)


def get_storage(app: Flask) -> Storage:
    """The app's configured storage backend, built once and kept in ``app.extensions``."""
    storage = app.extensions.get(EXTENSION_KEY)
    if storage is None:
        storage = app.extensions.setdefault(EXTENSION_KEY, build_storage(app.config))
    return storage
