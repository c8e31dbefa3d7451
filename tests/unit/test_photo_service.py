"""The photo service's helpers for visits: claim_photos, photo_reuse_matches, upload edge cases."""

from __future__ import annotations

import io
import itertools
import uuid
from datetime import timedelta

import pytest
from PIL import Image
from sqlalchemy import func, select

from backend.errors import DomainError
from backend.extensions import db
from backend.models import FormVersion, Household, Photo, User, Visit, utcnow
from backend.services import photos as photos_service
from backend.services.auth import actor_for_user
from backend.services.photos import claim_photos, photo_reuse_matches, upload_photo
from backend.storage import EXTENSION_KEY, LocalStorage

_seq = itertools.count(1)


def make_visit(household: Household, helper: User) -> Visit:
    """A minimal submitted visit of ``helper`` to ``household``."""
    now = utcnow()
    visit = Visit(
        client_uuid=str(uuid.uuid4()),
        body_hash="0" * 64,
        household_id=household.id,
        helper_id=helper.id,
        form_version_id=db.session.scalar(select(FormVersion.id).order_by(FormVersion.id)),
        answers={},
        started_at=now - timedelta(minutes=20),
        ended_at=now - timedelta(minutes=5),
        flags=[],
    )
    db.session.add(visit)
    db.session.flush()
    return visit


def make_photo(uploader: User, **kw) -> Photo:
    """A photo row (no files): distinct content unless sha256/phash are given."""
    n = next(_seq)
    sha = kw.pop("sha256", f"{n:064x}")
    photo = Photo(
        client_uuid=str(uuid.uuid4()),
        uploader_id=uploader.id,
        purpose="house",
        sha256=sha,
        phash=kw.pop("phash", f"{(n * 0x9E3779B97F4A7C15) % 2**64:016x}"),
        mime="image/jpeg",
        width=640,
        height=480,
        size_bytes=1000,
        original_key=f"photos/{sha[:2]}/{sha[2:4]}/{sha}.jpg",
        display_key=f"photos/{sha[:2]}/{sha[2:4]}/{sha}.display.jpg",
        thumb_key=f"photos/{sha[:2]}/{sha[2:4]}/{sha}.thumb.jpg",
        **kw,
    )
    db.session.add(photo)
    db.session.flush()
    return photo


def flip(phash: str, bits: int) -> str:
    """``phash`` with its lowest ``bits`` bits inverted."""
    return f"{int(phash, 16) ^ ((1 << bits) - 1):016x}"


# --- claim_photos -----------------------------------------------------------------------------


def test_claim_links_the_uploaders_photos_to_the_visit(town):
    actor = actor_for_user(user=town.helper)
    visit = make_visit(town.household, town.helper)
    first = make_photo(town.helper)
    second = make_photo(town.helper, household_id=town.other_household.id)

    claimed = claim_photos(actor=actor, photo_ids=[second.id, first.id, second.id], visit=visit)

    assert [p.id for p in claimed] == [second.id, first.id]
    for photo in claimed:
        assert photo.visit_id == visit.id
        assert photo.household_id == town.household.id
    # Claiming again for the same visit (a retried submission) is fine.
    assert claim_photos(actor=actor, photo_ids=[first.id], visit=visit) == [first]
    assert claim_photos(actor=actor, photo_ids=[], visit=visit) == []


def test_claim_refuses_unknown_foreign_and_taken_photos_and_names_them(town):
    actor = actor_for_user(user=town.helper)
    visit = make_visit(town.household, town.helper)
    mine = make_photo(town.helper)
    foreign = make_photo(town.helper_b)
    taken = make_photo(town.helper, visit_id=make_visit(town.household, town.helper).id)

    with pytest.raises(DomainError) as info:
        claim_photos(actor=actor, photo_ids=[mine.id, foreign.id, 999_999, taken.id], visit=visit)

    error = info.value
    assert (error.code, error.status) == ("visit.photo_invalid", 422)
    assert error.details == {"photo_ids": [foreign.id, 999_999, taken.id]}
    assert f"{foreign.id}、999999、{taken.id}" in error.message
    assert error.message.startswith("以下照片不存在、不是您上传的或已用于其他走访")
    # Nothing was linked.
    assert mine.visit_id is None


# --- photo_reuse_matches ----------------------------------------------------------------------


def test_reuse_finds_identical_and_near_photos_of_other_households_only(town):
    here, there = town.household, town.other_household
    base = "f0e1d2c3b4a59687"
    same_file = make_photo(town.other_helper, household_id=there.id, sha256="ab" * 32)
    near = make_photo(town.other_helper, household_id=there.id, phash=flip(base, 3))
    make_photo(town.helper, household_id=here.id, sha256="cd" * 32, phash=base)  # this household
    make_photo(town.helper, sha256="ef" * 32, phash=base)  # household unknown: not evidence
    make_photo(town.other_helper, household_id=there.id, phash=flip(base, 7))  # too far

    visit = make_visit(here, town.helper)
    reused = make_photo(town.helper, sha256="ab" * 32, visit_id=visit.id, household_id=here.id)
    similar = make_photo(town.helper, phash=base, visit_id=visit.id, household_id=here.id)
    fresh = make_photo(town.helper, visit_id=visit.id, household_id=here.id)
    own_copy = make_photo(town.helper, sha256="cd" * 32, visit_id=visit.id, household_id=here.id)

    matches = photo_reuse_matches(photos=[reused, similar, fresh, own_copy], household_id=here.id)

    assert matches[reused.id]["duplicate_of"] == same_file.id
    assert matches[similar.id] == {"duplicate_of": None, "near_duplicate_of": near.id}
    assert matches[fresh.id] == {"duplicate_of": None, "near_duplicate_of": None}
    assert matches[own_copy.id] == {"duplicate_of": None, "near_duplicate_of": None}
    assert photo_reuse_matches(photos=[], household_id=here.id) == {}


def test_reuse_prefers_the_nearest_match_and_honours_the_configured_threshold(
    app, town, monkeypatch
):
    base = "0123456789abcdef"
    there = town.other_household.id
    make_photo(town.other_helper, household_id=there, phash=flip(base, 5))
    nearest = make_photo(town.other_helper, household_id=there, phash=flip(base, 2))
    photo = make_photo(town.helper, phash=base, household_id=town.household.id)
    assert (
        photo_reuse_matches(photos=[photo], household_id=town.household.id)[photo.id][
            "near_duplicate_of"
        ]
        == nearest.id
    )

    monkeypatch.setitem(app.config, "AUTHENTICITY_PHASH_MAX_DISTANCE", 1)
    result = photo_reuse_matches(photos=[photo], household_id=town.household.id)
    assert result[photo.id]["near_duplicate_of"] is None


def test_near_search_looks_back_a_window_but_exact_hashes_all_time(app, town, monkeypatch):
    base = "89abcdef01234567"
    there = town.other_household.id
    long_ago = utcnow() - timedelta(days=400)
    make_photo(town.other_helper, household_id=there, phash=flip(base, 2), created_at=long_ago)
    old_same = make_photo(town.other_helper, household_id=there, phash=base, created_at=long_ago)
    photo = make_photo(town.helper, phash=base, household_id=town.household.id)
    result = photo_reuse_matches(photos=[photo], household_id=town.household.id)
    assert result[photo.id]["near_duplicate_of"] == old_same.id

    monkeypatch.setitem(app.config, "PHOTO_REUSE_WINDOW_DAYS", 500)
    other = make_photo(town.helper, phash=flip(base, 1), household_id=town.household.id)
    result = photo_reuse_matches(photos=[other], household_id=town.household.id)
    assert result[other.id]["near_duplicate_of"] is not None


def test_malformed_phashes_are_ignored(town):
    make_photo(town.other_helper, household_id=town.other_household.id, phash="not-a-hash")
    photo = make_photo(town.helper, phash=None, household_id=town.household.id)
    result = photo_reuse_matches(photos=[photo], household_id=town.household.id)
    assert result == {photo.id: {"duplicate_of": None, "near_duplicate_of": None}}


# --- upload_photo edge cases ------------------------------------------------------------------


@pytest.fixture
def storage(app, tmp_path):
    """A local storage under tmp_path installed as the app's for one test."""
    previous = app.extensions.get(EXTENSION_KEY)
    app.extensions[EXTENSION_KEY] = LocalStorage(tmp_path / "store", spool_dir=tmp_path / "spool")
    yield app.extensions[EXTENSION_KEY]
    if previous is None:
        app.extensions.pop(EXTENSION_KEY, None)
    else:
        app.extensions[EXTENSION_KEY] = previous


def jpeg_bytes(colour=(10, 120, 200)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (64, 48), colour).save(buf, "JPEG")
    return buf.getvalue()


def test_upload_refuses_an_unknown_purpose(town, storage):
    with pytest.raises(DomainError) as info:
        upload_photo(
            actor=actor_for_user(user=town.helper),
            stream=io.BytesIO(jpeg_bytes()),
            filename="a.jpg",
            client_uuid=str(uuid.uuid4()),
            purpose="selfie",
        )
    assert info.value.code == "request.validation"
    assert "purpose" in info.value.fields["multipart"]


def test_a_failing_local_write_is_spooled_and_shipped_later(town, storage, monkeypatch):
    actor = actor_for_user(user=town.helper)

    def broken(*args, **kwargs):
        raise photos_service.StorageUnavailable("disk full")

    with monkeypatch.context() as patch:
        patch.setattr(storage, "put", broken)
        patch.setattr(storage, "put_bytes", broken)
        photo, created = upload_photo(
            actor=actor,
            stream=io.BytesIO(jpeg_bytes()),
            filename="a.jpg",
            client_uuid=str(uuid.uuid4()),
            purpose="water",
        )
    assert created and photo.storage_status == "pending"
    assert storage.local_path(photo.original_key) is not None  # served from the spool

    report = photos_service.ship_spooled_photos(storage=storage)
    assert (report.shipped, report.failed, report.photos_stored, report.photos_pending) == (
        3,
        0,
        1,
        0,
    )
    assert photo.storage_status == "stored"
    assert storage.get(photo.original_key) == jpeg_bytes()


def test_a_photo_is_stored_only_when_all_three_objects_are(town, storage, monkeypatch):
    actor = actor_for_user(user=town.helper)
    real = {name: getattr(storage, name) for name in ("put", "put_bytes")}

    def thumb_fails(name):
        def write(key, source, **kwargs):
            if key.endswith(".thumb.jpg"):
                raise photos_service.StorageUnavailable("flaky")
            return real[name](key, source, **kwargs)

        return write

    for name in real:
        monkeypatch.setattr(storage, name, thumb_fails(name))
    photo, _ = upload_photo(
        actor=actor,
        stream=io.BytesIO(jpeg_bytes((200, 10, 10))),
        filename=None,
        client_uuid=str(uuid.uuid4()),
        purpose="house",
    )
    assert photo.storage_status == "pending"
    assert storage.exists(photo.original_key) and storage.exists(photo.display_key)
    # The thumbnail still fails: the other two objects are stored, the photo is not.
    report = photos_service.ship_spooled_photos(storage=storage)
    assert (report.failed, report.photos_stored, report.photos_pending) == (1, 0, 1)
    assert photo.storage_status == "pending"
    for name, method in real.items():
        monkeypatch.setattr(storage, name, method)
    assert photos_service.ship_spooled_photos(storage=storage).photos_stored == 1
    assert photo.storage_status == "stored"


def test_storage_and_spool_both_failing_refuses_the_upload(town, storage, monkeypatch):
    def broken(*args, **kwargs):
        raise photos_service.StorageUnavailable("disk full")

    monkeypatch.setattr(storage, "put", broken)
    monkeypatch.setattr(storage, "put_bytes", broken)
    storage.spool_dir = None
    with pytest.raises(DomainError) as info:
        upload_photo(
            actor=actor_for_user(user=town.helper),
            stream=io.BytesIO(jpeg_bytes()),
            filename="a.jpg",
            client_uuid=str(uuid.uuid4()),
            purpose="house",
        )
    assert (info.value.code, info.value.status) == ("storage.unavailable", 503)
    assert db.session.scalar(select(Photo.id)) is None


def test_a_concurrent_upload_of_the_same_uuid_answers_with_the_first(town, storage, monkeypatch):
    actor = actor_for_user(user=town.helper)
    client_uuid = str(uuid.uuid4())
    first, created = upload_photo(
        actor=actor,
        stream=io.BytesIO(jpeg_bytes()),
        filename=None,
        client_uuid=client_uuid,
        purpose="house",
    )
    assert created
    real = photos_service._replay_by_client_uuid
    calls = []

    def racing(actor, client_uuid):
        # The first look happens before the other request committed: it sees nothing.
        calls.append(client_uuid)
        return None if len(calls) == 1 else real(actor, client_uuid)

    monkeypatch.setattr(photos_service, "_replay_by_client_uuid", racing)
    photo, created = upload_photo(
        actor=actor,
        stream=io.BytesIO(jpeg_bytes((1, 2, 3))),
        filename=None,
        client_uuid=client_uuid,
        purpose="house",
    )
    assert (photo.id, created) == (first.id, False)
    assert len(calls) == 2
    assert db.session.scalar(select(func.count(Photo.id))) == 1
