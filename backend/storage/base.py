"""The storage interface shared by the local and S3 backends, its errors and key rules."""

from __future__ import annotations

import os
import re
from abc import ABC, abstractmethod
from pathlib import Path

from backend.storage.signing import MediaSigner

# Keys are relative paths of safe characters; no segment may start with a dot, so neither
# "../" nor our own ".tmp" files can ever be named by a key.
_KEY_RE = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9_.-]*(?:/[A-Za-z0-9_-][A-Za-z0-9_.-]*)*")
MAX_KEY_LENGTH = 512
CONTENT_TYPES = {
    "jpg": "image/jpeg",
    "jpeg": "image/jpeg",
    "png": "image/png",
    "webp": "image/webp",
}
DEFAULT_CONTENT_TYPE = "application/octet-stream"


class StorageError(Exception):
    """A storage operation failed."""


class StorageUnavailable(StorageError):
    """The backend could not be reached or refused the operation; worth retrying later."""


class ObjectNotFound(StorageError, KeyError):
    """No object is stored under this key."""


class InvalidKey(StorageError, ValueError):
    """The key is not a safe relative path."""


def validate_key(key: str) -> str:
    """Return ``key`` when it is a safe storage key, or raise InvalidKey."""
    if not isinstance(key, str) or len(key) > MAX_KEY_LENGTH or not _KEY_RE.fullmatch(key):
        raise InvalidKey(f"invalid storage key: {key!r}")
    return key


def content_type_for_key(key: str) -> str:
    """The Content-Type to serve a key with, from its extension."""
    ext = key.rsplit(".", 1)[-1].lower() if "." in key else ""
    return CONTENT_TYPES.get(ext, DEFAULT_CONTENT_TYPE)


def photo_key(sha256: str, variant: str = "original", ext: str = "jpg") -> str:
    """Storage key of a photo: ``photos/ab/cd/<sha256>.jpg`` (variants ``.display.jpg``…)."""
    if not re.fullmatch(r"[0-9a-f]{64}", sha256):
        raise InvalidKey(f"not a SHA-256 hex digest: {sha256!r}")
    if variant == "original":
        return f"photos/{sha256[:2]}/{sha256[2:4]}/{sha256}.{ext}"
    if variant in ("display", "thumb"):
        return f"photos/{sha256[:2]}/{sha256[2:4]}/{sha256}.{variant}.jpg"
    raise ValueError(f"unknown photo variant {variant!r}")


class Storage(ABC):
    """Objects addressed by key. ``delete`` exists for cleanup only; there is no listing."""

    name: str = "abstract"

    def __init__(self, *, signer: MediaSigner | None = None, spool_dir: str | Path | None = None):
        self.signer = signer
        self.spool_dir = Path(spool_dir) if spool_dir else None

    @abstractmethod
    def put(self, key: str, path: str | os.PathLike[str], *, content_type: str | None = None):
        """Store the file at ``path`` under ``key``, streaming it (overwrites)."""

    @abstractmethod
    def put_bytes(self, key: str, data: bytes, *, content_type: str | None = None) -> None:
        """Store ``data`` under ``key`` (overwrites)."""

    @abstractmethod
    def get(self, key: str) -> bytes:
        """Return the object's bytes, or raise ObjectNotFound."""

    @abstractmethod
    def size(self, key: str) -> int | None:
        """The object's size in bytes, or None when it does not exist."""

    def exists(self, key: str) -> bool:
        """Whether an object is stored under ``key``."""
        return self.size(key) is not None

    @abstractmethod
    def delete(self, key: str) -> None:
        """Remove the object if present (cleanup only)."""

    @abstractmethod
    def url(self, key: str, *, ttl: int | None = None) -> str:
        """A short-lived signed URL that lets a browser fetch the object."""

    def local_path(self, key: str) -> Path | None:
        """A file on this machine holding the object, for the /media route; None if none."""
        from backend.storage.spool import spooled_path

        return spooled_path(self, key)

    def local_url(self, key: str, *, ttl: int | None = None) -> str:
        """A signed /media URL served by this app (needs a signer)."""
        if self.signer is None:
            raise StorageError("this storage has no media signer configured")
        return self.signer.url(validate_key(key), ttl=ttl)
