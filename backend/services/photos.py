"""Photos: idempotent uploads, signed links, linking to visits and the photo-reuse search.

Each photo is its own request, so a weak network retries one photo and not a whole visit. A
retry is recognised by the phone's ``client_uuid`` and, within one visit, by the content's
SHA-256. Files are content-addressed (``photo_key``): the same picture uploaded twice shares
its three objects, which are written once. When the object store is down the files wait in
the local spool, the row says ``storage_status='pending'``, and ``ship_spooled_photos`` (run
by ``flask hhq ship-photos``) later ships them and marks the rows ``stored``.

Photo-reuse search (``photo_reuse_matches``), and its trade-off: identical files (same SHA-256)
and identical perceptual hashes are found over all time through the indexes on ``sha256`` and
``phash``. Near-identical pictures (pHash within ``AUTHENTICITY_PHASH_MAX_DISTANCE`` bits) can
not be found through a B-tree index on the whole hash, so they are searched among the photos of
the last ``PHOTO_REUSE_WINDOW_DAYS`` (default 180) only: two columns are fetched and compared
with numpy. A visit then costs O(photos uploaded in the window), about 2-3 µs a row: a town
(~2000 households, a visit a month with 3 photos: ~40 000 photos in 180 days) measured 80 ms on
PostgreSQL and 115 ms on SQLite per submitted visit. A near copy older than the window is missed
(an exact copy is not). For a district's volume, exact search needs extra indexed columns
(multi-index hashing: with the 64 bits cut into 7 blocks, any hash within 6 bits of another
shares at least one whole block with it), i.e. a migration.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, timedelta
from pathlib import Path, PurePosixPath
from typing import IO, Any

import numpy as np
from flask import current_app
from sqlalchemy import and_, case, or_, select
from sqlalchemy.exc import IntegrityError

from backend.errors import DomainError
from backend.extensions import db
from backend.models import Household, Photo, Role, StorageStatus, Visit, utcnow
from backend.services.authenticity import AuthenticitySettings, hamming_distance
from backend.services.authz import (
    Actor,
    can_read_household,
    load_household_for,
    require_authenticated,
    require_role,
)
from backend.services.images import ProcessedImage, process_upload
from backend.storage import (
    Storage,
    StorageError,
    StorageUnavailable,
    get_storage,
    photo_key,
    put_with_spool,
    ship_spooled,
    spooled_path,
)

log = logging.getLogger(__name__)

PURPOSES = ("house", "water", "with_head", "evidence", "other")
UPLOAD_ROLES = frozenset(Role)
VARIANTS = ("original", "display", "thumb")


# --- upload -----------------------------------------------------------------------------------


def upload_photo(
    *,
    actor: Actor,
    stream: IO[bytes],
    filename: str | None,
    client_uuid: str,
    purpose: str,
    visit_client_uuid: str | None = None,
    household_id: int | None = None,
) -> tuple[Photo, bool]:
    """Validate, store and record one photo; return it and whether this call created it."""
    require_role(actor, UPLOAD_ROLES)
    client_uuid = str(client_uuid).lower()
    visit_client_uuid = str(visit_client_uuid).lower() if visit_client_uuid else None
    if purpose not in PURPOSES:
        raise DomainError(
            "request.validation",
            fields={"multipart": {"purpose": ["取值应为以下之一：" + ", ".join(PURPOSES)]}},
        )
    replay = _replay_by_client_uuid(actor, client_uuid)
    if replay is not None:
        return replay, False
    if household_id is not None:
        load_household_for(actor, household_id)

    processed = process_photo_upload(stream)
    with processed:  # the temp file of the original is deleted however this ends
        same = _same_content(processed.sha256, actor, visit_client_uuid)
        if (
            same is not None
            and visit_client_uuid
            and (same.visit_client_uuid, same.uploader_id) == (visit_client_uuid, actor.user_id)
        ):
            return same, False  # the phone sent this picture for this visit before
        keys, status = store_photo_objects(processed, known=same is not None)
    photo, created = add_photo(
        processed,
        keys,
        status,
        replay=lambda: _replay_by_client_uuid(actor, client_uuid),
        client_uuid=client_uuid,
        uploader_id=actor.user_id,
        household_id=household_id,
        visit_client_uuid=visit_client_uuid,
        purpose=purpose,
    )
    if created:
        log.info(
            "photo %s uploaded as %r: %s, %d bytes, %s",
            photo.id,
            _safe_name(filename),
            photo.mime,
            photo.size_bytes,
            photo.storage_status,
        )
    return photo, created


def process_photo_upload(stream: IO[bytes]) -> ProcessedImage:
    """Validate and decode an uploaded picture within the configured size limits."""
    config = current_app.config
    return process_upload(
        stream, max_bytes=config["PHOTO_MAX_BYTES"], max_pixels=config["PHOTO_MAX_PIXELS"]
    )


def store_photo_objects(
    processed: ProcessedImage, *, known: bool | None = None
) -> tuple[dict[str, str], str]:
    """Store a validated photo's three objects (once per content); its keys and storage status."""
    # ``known``: whether a photo with this content exists already (looked up when not given).
    keys = {
        "original": photo_key(processed.sha256, "original", processed.extension),
        "display": photo_key(processed.sha256, "display"),
        "thumb": photo_key(processed.sha256, "thumb"),
    }
    if known is None:
        known = (
            db.session.scalar(select(Photo.id).where(Photo.sha256 == processed.sha256).limit(1))
            is not None
        )
    return keys, _store_objects(get_storage(current_app), processed, keys, known=known)


def add_photo(
    processed: ProcessedImage,
    keys: dict[str, str],
    status: str,
    *,
    replay: Callable[[], Photo | None],
    **owner: Any,
) -> tuple[Photo, bool]:
    """Record a stored upload (``owner``: uuid, uploader, purpose…); True when this call added it."""
    photo = Photo(
        **owner,
        sha256=processed.sha256,
        phash=processed.phash,
        mime=processed.mime,
        width=processed.width,
        height=processed.height,
        size_bytes=processed.size_bytes,
        original_key=keys["original"],
        display_key=keys["display"],
        thumb_key=keys["thumb"],
        storage_status=status,
        # The moment is kept; stored, like every timestamp, in UTC.
        exif_taken_at=processed.exif_taken_at.astimezone(UTC) if processed.exif_taken_at else None,
        exif_lat=processed.exif_lat,
        exif_lon=processed.exif_lon,
    )
    try:
        # A savepoint: a concurrent retry of the same uuid that committed first is not an
        # error, it is the answer.
        with db.session.begin_nested():
            db.session.add(photo)
    except IntegrityError:
        existing = replay()
        if existing is None:
            raise
        return existing, False
    return photo, True


def _replay_by_client_uuid(actor: Actor, client_uuid: str) -> Photo | None:
    existing = db.session.scalar(select(Photo).where(Photo.client_uuid == client_uuid))
    if existing is None:
        return None
    if existing.uploader_id != actor.user_id:
        raise DomainError("photo.conflict")
    return existing


def _same_content(sha256: str, actor: Actor, visit_client_uuid: str | None) -> Photo | None:
    """A photo with this content: the actor's for this visit if there is one, else any."""
    # One query serves both idempotency by content and "are the objects already stored?".
    query = select(Photo).where(Photo.sha256 == sha256)
    if visit_client_uuid:
        mine = and_(
            Photo.visit_client_uuid == visit_client_uuid, Photo.uploader_id == actor.user_id
        )
        query = query.order_by(case((mine, 0), else_=1))
    return db.session.scalar(query.order_by(Photo.id).limit(1))


def _safe_name(filename: str | None) -> str:
    return PurePosixPath((filename or "").replace("\\", "/")).name[:255]


def _store_objects(
    storage: Storage, processed: ProcessedImage, keys: dict[str, str], *, known: bool
) -> str:
    """Write the three objects unless already there; 'stored', or 'pending' when spooled."""
    sources: dict[str, tuple[Path | bytes, int | None]] = {
        "original": (processed.original_path, processed.size_bytes),
        # Derivatives of one original may differ by a few bytes across Pillow versions.
        "display": (processed.display_jpeg, None),
        "thumb": (processed.thumb_jpeg, None),
    }
    # Objects are content-addressed: when a row already has this SHA-256 (known) they were
    # written or spooled before it committed. Without such a row, skip the probes: they cost
    # a round trip each to S3 and almost always answer "not there".
    results = []
    for variant in VARIANTS:
        key = keys[variant]
        source, size = sources[variant]
        result = _existing_state(storage, key, size) if known else None
        if result is None:
            try:
                result = put_with_spool(storage, key, source)
            except StorageUnavailable as exc:
                log.error("photo object %s could be neither stored nor spooled: %s", key, exc)
                raise DomainError("storage.unavailable") from exc
        results.append(result)
    return StorageStatus.PENDING if "spooled" in results else StorageStatus.STORED


def _existing_state(storage: Storage, key: str, size: int | None) -> str | None:
    """'spooled' or 'stored' when ``key`` is already kept (of ``size`` if given), else None."""
    if spooled_path(storage, key) is not None:
        return "spooled"
    try:
        stored = storage.size(key)
    except StorageError:
        return None  # unknown: put_with_spool decides, and spools while the store is down
    if stored is not None and (size is None or stored == size):
        return "stored"
    return None


# --- reading ----------------------------------------------------------------------------------


def get_photo(*, actor: Actor, photo_id: int) -> Photo:
    """A photo its uploader or staff who can read its household may see, else photo.not_found."""
    require_authenticated(actor)
    photo = db.session.get(Photo, photo_id)
    if photo is None or not _can_read_photo(actor, photo):
        raise DomainError("photo.not_found")
    return photo


def _can_read_photo(actor: Actor, photo: Photo) -> bool:
    if photo.uploader_id == actor.user_id:
        return True
    household_ids = {photo.household_id}
    if photo.visit_id is not None:
        household_ids.add(
            db.session.scalar(select(Visit.household_id).where(Visit.id == photo.visit_id))
        )
    for household_id in household_ids - {None}:
        household = db.session.get(Household, household_id)
        if household is not None and can_read_household(actor, household):
            return True
    return False


def photo_urls(photo: Photo) -> dict[str, str]:
    """Fresh short-lived signed URLs of the photo's original, display copy and thumbnail."""
    storage = get_storage(current_app)
    try:
        return {
            "original": storage.url(photo.original_key),
            "display": storage.url(photo.display_key),
            "thumb": storage.url(photo.thumb_key),
        }
    except StorageError as exc:
        log.error("cannot sign links for photo %s: %s", photo.id, exc)
        raise DomainError("storage.unavailable") from exc


# --- helpers for visits -----------------------------------------------------------------------


def find_photos(
    photo_ids: Sequence[int], *, refuse: Callable[[Photo], bool]
) -> tuple[list[Photo], list[int]]:
    """The photos named, each once in the order given; and the ids unknown or refused."""
    wanted = list(dict.fromkeys(int(i) for i in photo_ids))
    if not wanted:
        return [], []
    found = {p.id: p for p in db.session.scalars(select(Photo).where(Photo.id.in_(wanted)))}
    bad = [i for i in wanted if (photo := found.get(i)) is None or refuse(photo)]
    return [found[i] for i in wanted if i in found], bad


def claim_photos(*, actor: Actor, photo_ids: Sequence[int], visit: Visit) -> list[Photo]:
    """Link the actor's uploaded photos to ``visit``; refuse unknown, foreign or taken ids."""
    require_authenticated(actor)
    photos, bad = find_photos(
        photo_ids,
        refuse=lambda photo: (
            photo.uploader_id != actor.user_id
            or (photo.visit_id is not None and photo.visit_id != visit.id)
        ),
    )
    if bad:
        raise DomainError(
            "visit.photo_invalid",
            f"以下照片不存在、不是您上传的或已用于其他走访：{'、'.join(map(str, bad))}。"
            "请重新上传这些照片后再提交。",
            details={"photo_ids": bad},
        )
    if not photos:
        return []
    for photo in photos:
        photo.visit_id = visit.id
        photo.household_id = visit.household_id
    db.session.flush()
    return photos


def photo_reuse_matches(
    *, photos: Iterable[Photo], household_id: int
) -> dict[int, dict[str, int | None]]:
    """For each photo, a photo of another household that is identical or near-identical."""
    # {photo_id: {"duplicate_of": id | None, "near_duplicate_of": id | None}}, one entry per
    # photo. Only photos known to belong to another household count (household_id set and
    # not this one). The nearest match wins, then the oldest.
    photos = [p for p in photos if p.id is not None]
    result: dict[int, dict[str, int | None]] = {
        p.id: {"duplicate_of": None, "near_duplicate_of": None} for p in photos
    }
    if not photos:
        return result
    others = (
        Photo.household_id.is_not(None),
        Photo.household_id != household_id,
        Photo.id.not_in([p.id for p in photos]),
    )

    by_sha: dict[str, int] = {}
    for other_id, sha in db.session.execute(
        select(Photo.id, Photo.sha256)
        .where(Photo.sha256.in_({p.sha256 for p in photos}), *others)
        .order_by(Photo.id)
    ):
        by_sha.setdefault(sha, other_id)
    for photo in photos:
        result[photo.id]["duplicate_of"] = by_sha.get(photo.sha256)

    mine = {p.id: value for p in photos if (value := _phash_int(p.phash)) is not None}
    if not mine:
        return result
    threshold = AuthenticitySettings.from_config(current_app.config).phash_max_distance
    since = utcnow() - timedelta(days=current_app.config.get("PHOTO_REUSE_WINDOW_DAYS", 180))
    # Equal pHashes over all time, through the index; near ones within the window only.
    exact = [f"{value:016x}" for value in mine.values()]
    # Plain rows through the connection: ORM result handling cost 4 µs a row here.
    rows = (
        db.session.connection()
        .execute(
            select(Photo.id, Photo.phash).where(
                *others,
                Photo.phash.is_not(None),
                or_(Photo.created_at >= since, Photo.phash.in_(exact)),
            )
        )
        .all()
    )
    ids, values = _phash_array(rows)
    if not ids.size:
        return result
    for photo_id, value in mine.items():
        distances = _popcount(values ^ np.uint64(value))
        close = np.flatnonzero(distances <= threshold)
        if close.size:
            # lexsort: the last key is the primary one.
            best = close[np.lexsort((ids[close], distances[close]))[0]]
            result[photo_id]["near_duplicate_of"] = int(ids[best])
    return result


def _phash_array(rows) -> tuple[np.ndarray, np.ndarray]:
    """(ids, uint64 hashes) of (id, hex pHash) rows; malformed hashes are left out."""
    # Tens of thousands of rows: one bytes.fromhex over all of them, not a Python int each.
    good = [(photo_id, value) for photo_id, value in rows if value and len(value) == 16]
    try:
        values = np.frombuffer(bytes.fromhex("".join(v for _, v in good)), dtype=">u8")
    except ValueError:  # a stray non-hex character somewhere: go row by row
        good = [(i, v) for i, v in good if _phash_int(v) is not None]
        values = np.frombuffer(bytes.fromhex("".join(v for _, v in good)), dtype=">u8")
    ids = np.fromiter((i for i, _ in good), dtype=np.int64, count=len(good))
    return ids, values.astype(np.uint64)


def _popcount(values: np.ndarray) -> np.ndarray:
    """Set bits of each uint64 (numpy < 2 has no bitwise_count)."""
    if hasattr(np, "bitwise_count"):
        return np.bitwise_count(values)
    return np.unpackbits(values.view(np.uint8)).reshape(-1, 64).sum(axis=1)


def _phash_int(value: str | None) -> int | None:
    if not value:
        return None
    try:
        hamming_distance(value, value)  # the shared format check: 16 hex digits
    except ValueError:
        return None
    return int(value.strip().lower().removeprefix("0x"), 16)


# --- shipping spooled photos ------------------------------------------------------------------


@dataclass(frozen=True)
class ShipReport:
    """What one shipping run did."""

    shipped: int  # objects that left the spool
    failed: int  # objects still waiting
    photos_stored: int  # photo rows that became 'stored'
    photos_pending: int  # photo rows still 'pending' afterwards


def ship_spooled_photos(*, storage: Storage | None = None, limit: int | None = None) -> ShipReport:
    """Ship spooled photo objects to the store and mark photos whose three objects arrived."""
    # A system job (flask hhq ship-photos), so there is no actor. It only flushes; the caller
    # commits.
    storage = storage or get_storage(current_app)
    # key -> confirmed in the store. ship_spooled confirmed each shipped key with a HEAD of
    # the right size, so those need no second look.
    confirmed: dict[str, bool] = {}

    def on_shipped(key: str) -> None:
        confirmed[key] = True

    shipped, failed = ship_spooled(storage, limit=limit, on_shipped=on_shipped)
    # Every pending row is reconsidered, not only those whose keys just shipped: an upload
    # still committing while its objects shipped would otherwise stay pending for ever.
    pending = list(
        db.session.scalars(
            select(Photo).where(Photo.storage_status == StorageStatus.PENDING).order_by(Photo.id)
        )
    )
    stored = 0
    for photo in pending:
        keys = (photo.original_key, photo.display_key, photo.thumb_key)
        if all(_object_confirmed(storage, key, confirmed) for key in keys):
            photo.storage_status = StorageStatus.STORED
            stored += 1
    db.session.flush()
    if shipped or failed or stored:
        log.info(
            "ship-photos: %d objects shipped, %d failed; %d photos now stored, %d pending",
            shipped,
            failed,
            stored,
            len(pending) - stored,
        )
    return ShipReport(
        shipped=shipped, failed=failed, photos_stored=stored, photos_pending=len(pending) - stored
    )


def _object_confirmed(storage: Storage, key: str, confirmed: dict[str, bool]) -> bool:
    """True when ``key`` is in the store and no longer only in the spool."""
    if key not in confirmed:
        if spooled_path(storage, key) is not None:
            confirmed[key] = False
        else:
            try:
                confirmed[key] = storage.exists(key)
            except StorageError:
                confirmed[key] = False
            else:
                if not confirmed[key]:
                    # Neither waiting nor stored: nothing will ship it. An operator must look.
                    log.error("pending photo object %s is neither spooled nor stored", key)
    return confirmed[key]
