"""A local spool for objects the storage backend could not take, so no upload is ever lost.

Each spooled object is two files in the spool folder, named by the SHA-256 of its key:
``<id>.blob`` (the bytes) and ``<id>.json`` (the manifest: key, content type, size, a token,
attempts, last error). The blob is written first and the manifest second, both atomically, so
a manifest always has a complete blob. Shipping deletes the manifest and then the blob, and
only after the backend confirmed the object with a HEAD of the right size.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import shutil
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from backend.storage.base import (
    Storage,
    StorageError,
    StorageUnavailable,
    content_type_for_key,
    validate_key,
)
from backend.storage.local import atomic_writer

log = logging.getLogger(__name__)

SpoolResult = Literal["stored", "spooled"]
# A blob without a manifest is either being spooled right now or left by a crash after a
# confirmed ship; after this long it is the latter and can go.
ORPHAN_BLOB_AGE_SECONDS = 3600
_LOCK_NAME = ".ship.lock"


@dataclass(frozen=True)
class SpoolEntry:
    """One object waiting in the spool."""

    key: str
    content_type: str
    size: int
    spooled_at: str
    attempts: int
    last_error: str | None
    token: str
    blob: Path
    manifest: Path


def _entry_id(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def _paths(spool_dir: Path, key: str) -> tuple[Path, Path]:
    entry_id = _entry_id(key)
    return spool_dir / f"{entry_id}.blob", spool_dir / f"{entry_id}.json"


def put_with_spool(
    storage: Storage,
    key: str,
    source: str | os.PathLike[str] | bytes,
    *,
    content_type: str | None = None,
    verify: bool = True,
) -> SpoolResult:
    """Store ``source`` under ``key``, or keep it in the spool when the backend fails."""
    # "stored": the backend confirmed it (a HEAD of the right size when verify). "spooled":
    # safe on local disk until ship_spooled. StorageUnavailable only when both failed, so the
    # caller refuses the upload (503) and the client retries: nothing accepted is ever lost.
    validate_key(key)
    content_type = content_type or content_type_for_key(key)
    is_bytes = isinstance(source, bytes | bytearray)
    expected = len(source) if is_bytes else os.stat(source).st_size
    try:
        if is_bytes:
            storage.put_bytes(key, bytes(source), content_type=content_type)
        else:
            storage.put(key, source, content_type=content_type)
        if verify and storage.size(key) != expected:
            raise StorageUnavailable(f"{key} is not confirmed with {expected} bytes after put")
        return "stored"
    except StorageError as exc:
        if storage.spool_dir is None:
            raise StorageUnavailable(str(exc)) from exc
        log.warning("storage put of %s failed, spooling it: %s", key, exc)
        _spool(storage.spool_dir, key, source, content_type, expected, str(exc))
        return "spooled"


def _spool(
    spool_dir: Path,
    key: str,
    source: str | os.PathLike[str] | bytes,
    content_type: str,
    size: int,
    error: str,
) -> None:
    blob, manifest = _paths(spool_dir, key)
    try:
        spool_dir.mkdir(parents=True, exist_ok=True)
        with atomic_writer(blob) as out:
            if isinstance(source, bytes | bytearray):
                out.write(source)
            else:
                with open(source, "rb") as src:
                    shutil.copyfileobj(src, out, 1024 * 1024)
        if blob.stat().st_size != size:
            raise OSError(f"spooled {key} has the wrong size")
        _write_manifest(
            manifest,
            {
                "version": 1,
                "key": key,
                "content_type": content_type,
                "size": size,
                "spooled_at": datetime.now(UTC).isoformat(),
                "attempts": 0,
                "last_error": error[:500],
                "token": uuid.uuid4().hex,
            },
        )
    except OSError as exc:
        log.error("could not spool %s either: %s", key, exc)
        raise StorageUnavailable(f"storage and spool both failed for {key}: {exc}") from exc


def _write_manifest(manifest: Path, data: dict) -> None:
    with atomic_writer(manifest) as out:
        out.write(json.dumps(data, ensure_ascii=False).encode())


def _load(manifest: Path) -> SpoolEntry | None:
    try:
        data = json.loads(manifest.read_text())
        return SpoolEntry(
            key=validate_key(data["key"]),
            content_type=data["content_type"],
            size=int(data["size"]),
            spooled_at=data["spooled_at"],
            attempts=int(data.get("attempts", 0)),
            last_error=data.get("last_error"),
            token=data["token"],
            blob=manifest.with_suffix(".blob"),
            manifest=manifest,
        )
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        log.error("unreadable spool manifest %s: %s", manifest, exc)
        return None


def spool_entries(storage: Storage) -> list[SpoolEntry]:
    """Objects waiting in the spool, oldest first."""
    if storage.spool_dir is None or not storage.spool_dir.is_dir():
        return []
    entries = [e for m in storage.spool_dir.glob("*.json") if (e := _load(m)) is not None]
    return sorted(entries, key=lambda e: e.spooled_at)


def spooled_path(storage: Storage, key: str) -> Path | None:
    """The spooled copy of ``key`` when it is waiting in the spool, else None."""
    if storage.spool_dir is None:
        return None
    blob, manifest = _paths(storage.spool_dir, key)
    return blob if manifest.is_file() and blob.is_file() else None


@contextlib.contextmanager
def _ship_lock(spool_dir: Path) -> Iterator[bool]:
    with open(spool_dir / _LOCK_NAME, "a+b") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def ship_spooled(
    storage: Storage,
    *,
    limit: int | None = None,
    on_shipped: Callable[[str], None] | None = None,
) -> tuple[int, int]:
    """Retry every spooled object, oldest first; return (shipped, failed)."""
    # An object leaves the spool only after a HEAD of the right size confirmed it.
    # on_shipped(key) runs for each (e.g. to set a photo's storage_status to "stored").
    # A run that finds another one holding the lock returns (0, 0) at once.
    spool_dir = storage.spool_dir
    if spool_dir is None or not spool_dir.is_dir():
        return 0, 0
    shipped = failed = 0
    with _ship_lock(spool_dir) as locked:
        if not locked:
            return 0, 0
        for entry in spool_entries(storage):
            if limit is not None and shipped + failed >= limit:
                break
            if _ship_one(storage, entry):
                shipped += 1
                if on_shipped is not None:
                    on_shipped(entry.key)
            else:
                failed += 1
        _remove_orphan_blobs(spool_dir)
    if shipped or failed:
        log.info("spool: shipped %d, failed %d", shipped, failed)
    return shipped, failed


def _ship_one(storage: Storage, entry: SpoolEntry) -> bool:
    if not entry.blob.is_file():
        log.error("spooled %s has lost its blob %s; left for an operator", entry.key, entry.blob)
        return False
    try:
        storage.put(entry.key, entry.blob, content_type=entry.content_type)
        confirmed = storage.size(entry.key)
        if confirmed != entry.size:
            raise StorageUnavailable(f"HEAD says {confirmed} bytes, expected {entry.size}")
    except StorageError as exc:
        _record_failure(entry, str(exc))
        return False
    current = _load(entry.manifest)
    # A newer copy spooled while this one was shipping keeps its files for the next run.
    if current is not None and current.token == entry.token:
        entry.manifest.unlink(missing_ok=True)
        entry.blob.unlink(missing_ok=True)
    return True


def _record_failure(entry: SpoolEntry, error: str) -> None:
    log.warning("spool: %s still not shipped: %s", entry.key, error)
    current = _load(entry.manifest)
    if current is None or current.token != entry.token:
        return
    with contextlib.suppress(OSError):
        _write_manifest(
            entry.manifest,
            {
                "version": 1,
                "key": entry.key,
                "content_type": entry.content_type,
                "size": entry.size,
                "spooled_at": entry.spooled_at,
                "attempts": entry.attempts + 1,
                "last_error": error[:500],
                "token": entry.token,
            },
        )


def _remove_orphan_blobs(spool_dir: Path) -> None:
    cutoff = time.time() - ORPHAN_BLOB_AGE_SECONDS
    for blob in spool_dir.glob("*.blob"):
        with contextlib.suppress(OSError):
            if not blob.with_suffix(".json").exists() and blob.stat().st_mtime < cutoff:
                blob.unlink()
