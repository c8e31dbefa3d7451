"""Objects as files under LOCAL_STORAGE_DIR, served through signed /media links."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from backend.storage.base import ObjectNotFound, Storage, StorageUnavailable, validate_key
from backend.storage.signing import MediaSigner


def fsync_dir(directory: Path) -> None:
    """Persist a rename in ``directory`` (no-op where directories cannot be opened)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_writer(target: Path) -> Iterator[IO[bytes]]:
    """Write ``target`` through a hidden temp file in the same folder, fsync and rename."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            yield out
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(target.parent)


class LocalStorage(Storage):
    """Files under a root folder; keys map to relative paths, writes are atomic renames."""

    name = "local"

    def __init__(
        self,
        root: str | os.PathLike[str],
        *,
        signer: MediaSigner | None = None,
        spool_dir: str | os.PathLike[str] | None = None,
    ) -> None:
        super().__init__(signer=signer, spool_dir=spool_dir)
        self.root = Path(root).resolve()

    def path_for(self, key: str) -> Path:
        """The file that holds ``key`` (whether or not it exists)."""
        path = (self.root / validate_key(key)).resolve()
        if not path.is_relative_to(self.root):
            raise ObjectNotFound(key)
        return path

    def put(
        self, key: str, path: str | os.PathLike[str], *, content_type: str | None = None
    ) -> None:
        """Copy the file at ``path`` into place atomically."""
        target = self.path_for(key)
        with open(path, "rb") as src:
            try:
                with atomic_writer(target) as out:
                    shutil.copyfileobj(src, out, 1024 * 1024)
            except OSError as exc:
                raise StorageUnavailable(f"local write of {key} failed: {exc}") from exc

    def put_bytes(self, key: str, data: bytes, *, content_type: str | None = None) -> None:
        """Write ``data`` into place atomically."""
        target = self.path_for(key)
        try:
            with atomic_writer(target) as out:
                out.write(data)
        except OSError as exc:
            raise StorageUnavailable(f"local write of {key} failed: {exc}") from exc

    def get(self, key: str) -> bytes:
        """Read the whole object."""
        try:
            return self.path_for(key).read_bytes()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError) as exc:
            raise ObjectNotFound(key) from exc

    def size(self, key: str) -> int | None:
        """The file's size, or None when there is no such object."""
        path = self.path_for(key)
        return path.stat().st_size if path.is_file() else None

    def delete(self, key: str) -> None:
        """Remove the file if present."""
        self.path_for(key).unlink(missing_ok=True)

    def url(self, key: str, *, ttl: int | None = None) -> str:
        """A signed /media link."""
        return self.local_url(key, ttl=ttl)

    def local_path(self, key: str) -> Path | None:
        """The stored file, or a spooled copy when a local write had failed."""
        path = self.path_for(key)
        if path.is_file():
            return path
        return super().local_path(key)
