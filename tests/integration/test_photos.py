"""Photo uploads through HTTP: idempotency, rejections, signed links, S3, outages and reading."""

from __future__ import annotations

import hashlib
import io
import os
import random
import tempfile
import time
import uuid

import pytest
import requests
from PIL import Image
from sqlalchemy import func, select

from backend.extensions import db
from backend.models import Photo
from backend.storage import (
    EXTENSION_KEY,
    build_storage,
    photo_key,
    spool_entries,
)
from tests import factories
from tests.storage_fixtures import make_s3_storage
from tests.unit.test_photo_service import make_visit

URL = "/api/v1/photos"


# --- helpers ----------------------------------------------------------------------------------


def make_jpeg(seed: int, size: tuple[int, int] = (640, 480), *, exif: bool = False) -> bytes:
    """A distinct photo-like JPEG; with ``exif``, a capture time and a GPS position."""
    rng = random.Random(seed)
    img = Image.new("RGB", size, tuple(rng.randrange(256) for _ in range(3)))
    for _ in range(12):
        x0, y0 = rng.randrange(size[0]), rng.randrange(size[1])
        box = (x0, y0, x0 + rng.randrange(20, size[0] // 2), y0 + rng.randrange(20, size[1] // 2))
        img.paste(tuple(rng.randrange(256) for _ in range(3)), box)
    img = Image.blend(img, Image.effect_noise(size, 30).convert("RGB"), 0.1)
    params = {}
    if exif:
        block = Image.Exif()
        block.get_ifd(0x8769)[0x9003] = "2026:03:05 10:20:30"
        gps = block.get_ifd(0x8825)
        gps[1], gps[2], gps[3], gps[4] = "N", (29.0, 48.0, 0.0), "E", (106.0, 3.0, 0.0)
        params["exif"] = block
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=88, **params)
    return buf.getvalue()


def upload(client, headers, data: bytes | None, **form):
    """POST one photo as wx.uploadFile does: multipart with the file field ``file``."""
    body = {"purpose": "house", **{k: str(v) for k, v in form.items() if v is not None}}
    body.setdefault("client_uuid", str(uuid.uuid4()))
    if data is not None:
        body["file"] = (io.BytesIO(data), "wx-tmp.jpg")
    return client.post(URL, headers=headers, data=body, content_type="multipart/form-data")


def photo_count() -> int:
    return db.session.scalar(select(func.count(Photo.id)))


def relative(url: str) -> str:
    """Path and query of an absolute URL, for the test client."""
    return "/" + url.split("://", 1)[1].split("/", 1)[1]


def assert_error(response, status: int, code: str, message: str | None = None) -> dict:
    """Check a JSON error response and return its ``error`` object."""
    assert response.status_code == status, response.data
    error = response.get_json()["error"]
    assert error["code"] == code
    assert error["message"]
    if message is not None:
        assert error["message"] == message
    return error


class CountingStorage:
    """Counts the writes that reach a storage backend."""

    def __init__(self, storage, monkeypatch):
        self.keys: list[str] = []
        for name in ("put", "put_bytes"):
            original = getattr(storage, name)

            def counted(key, *args, _original=original, **kwargs):
                self.keys.append(key)
                return _original(key, *args, **kwargs)

            monkeypatch.setattr(storage, name, counted)


@pytest.fixture(autouse=True)
def local_storage(app, tmp_path):
    """A fresh local storage per test (files outlive the per-test database rollback)."""
    previous = app.extensions.get(EXTENSION_KEY)
    storage = build_storage(
        {
            **app.config,
            "LOCAL_STORAGE_DIR": str(tmp_path / "storage"),
            "STORAGE_SPOOL_DIR": str(tmp_path / "spool"),
        }
    )
    app.extensions[EXTENSION_KEY] = storage
    yield storage
    _restore(app, previous)


def _restore(app, previous) -> None:
    if previous is None:
        app.extensions.pop(EXTENSION_KEY, None)
    else:
        app.extensions[EXTENSION_KEY] = previous


@pytest.fixture
def use_storage(app):
    """Install a storage as the app's for one test; the previous one comes back afterwards."""
    previous = app.extensions.get(EXTENSION_KEY)

    def _use(storage):
        app.extensions[EXTENSION_KEY] = storage
        return storage

    yield _use
    _restore(app, previous)


@pytest.fixture
def helper(town, login):
    """Authorization headers of the household's assigned helper."""
    return login(town.helper)


# --- uploads ----------------------------------------------------------------------------------


def test_upload_returns_201_with_the_stored_photo(client, town, helper, local_storage, monkeypatch):
    data = make_jpeg(1, exif=True)
    client_uuid = str(uuid.uuid4())
    visit_uuid = str(uuid.uuid4())
    tmp = tempfile.mkdtemp(prefix="hhq-photo-test-")
    monkeypatch.setattr(tempfile, "tempdir", tmp)

    response = upload(
        client,
        helper,
        data,
        client_uuid=client_uuid.upper(),
        purpose="with_head",
        visit_client_uuid=visit_uuid,
        household_id=town.household.id,
    )

    assert response.status_code == 201, response.data
    body = response.get_json()
    sha = hashlib.sha256(data).hexdigest()
    assert set(body) == {
        "id",
        "client_uuid",
        "purpose",
        "sha256",
        "phash",
        "mime",
        "width",
        "height",
        "size_bytes",
        "storage_status",
        "exif_taken_at",
        "exif_lat",
        "exif_lon",
        "created_at",
        "urls",
    }
    assert body["client_uuid"] == client_uuid
    assert body["purpose"] == "with_head"
    assert body["sha256"] == sha
    assert len(body["phash"]) == 16 and int(body["phash"], 16) >= 0
    assert (body["mime"], body["width"], body["height"]) == ("image/jpeg", 640, 480)
    assert body["size_bytes"] == len(data)
    assert body["storage_status"] == "stored"
    assert body["exif_taken_at"] == "2026-03-05T02:20:30+00:00"  # 10:20:30 China time
    assert body["exif_lat"] == pytest.approx(29.8)
    assert body["exif_lon"] == pytest.approx(106.05)
    assert set(body["urls"]) == {"original", "display", "thumb"}
    assert response.headers["Cache-Control"] == "no-store"

    photo = db.session.get(Photo, body["id"])
    assert photo.uploader_id == town.helper.id
    assert photo.household_id == town.household.id
    assert photo.visit_client_uuid == visit_uuid
    assert photo.visit_id is None
    assert photo.original_key == photo_key(sha, "original", "jpg")
    # The original is kept byte for byte; the derivatives are JPEGs.
    assert local_storage.get(photo.original_key) == data
    assert Image.open(io.BytesIO(local_storage.get(photo.display_key))).size == (640, 480)
    assert Image.open(io.BytesIO(local_storage.get(photo.thumb_key))).size == (320, 240)
    # The upload's temp file is gone.
    assert os.listdir(tmp) == []
    os.rmdir(tmp)


def test_local_signed_urls_serve_the_three_files(client, helper):
    data = make_jpeg(2, (1600, 1200))
    body = upload(client, helper, data).get_json()
    original = client.get(relative(body["urls"]["original"]))
    assert original.status_code == 200
    assert original.data == data
    assert original.mimetype == "image/jpeg"
    display = Image.open(io.BytesIO(client.get(relative(body["urls"]["display"])).data))
    thumb = Image.open(io.BytesIO(client.get(relative(body["urls"]["thumb"])).data))
    assert display.size == (1000, 750)
    assert thumb.size == (320, 240)
    # The links are signed: a changed signature is refused.
    tampered = client.get(relative(body["urls"]["original"])[:-4] + "AAAA")
    assert_error(tampered, 403, "storage.url_invalid")


def test_same_client_uuid_again_returns_the_stored_photo(
    client, helper, local_storage, monkeypatch
):
    data = make_jpeg(3)
    client_uuid = str(uuid.uuid4())
    first = upload(client, helper, data, client_uuid=client_uuid)
    assert first.status_code == 201
    counting = CountingStorage(local_storage, monkeypatch)
    tmp = tempfile.mkdtemp(prefix="hhq-photo-test-")
    monkeypatch.setattr(tempfile, "tempdir", tmp)
    again = upload(client, helper, data, client_uuid=client_uuid)
    assert again.status_code == 200
    assert os.listdir(tmp) == []  # the retry's bytes were received and dropped
    assert again.get_json()["id"] == first.get_json()["id"]
    # A retry whose bytes differ (re-compressed by the phone) still answers with the first.
    other = upload(client, helper, make_jpeg(4), client_uuid=client_uuid, purpose="water")
    assert other.status_code == 200
    assert other.get_json()["id"] == first.get_json()["id"]
    assert other.get_json()["purpose"] == "house"
    assert photo_count() == 1
    assert counting.keys == []


def test_same_client_uuid_from_another_user_is_a_conflict(client, town, helper, login):
    client_uuid = str(uuid.uuid4())
    assert upload(client, helper, make_jpeg(5), client_uuid=client_uuid).status_code == 201
    response = upload(client, login(town.helper_b), make_jpeg(5), client_uuid=client_uuid)
    assert_error(response, 409, "photo.conflict", "该照片编号已被其他用户使用，请重新拍摄后上传。")
    assert photo_count() == 1


def test_same_content_in_the_same_visit_returns_the_existing_photo(
    client, town, helper, login, local_storage, monkeypatch
):
    data = make_jpeg(6)
    visit_uuid = str(uuid.uuid4())
    first = upload(client, helper, data, visit_client_uuid=visit_uuid)
    assert first.status_code == 201
    counting = CountingStorage(local_storage, monkeypatch)

    # The phone lost the answer and sent the photo again under a new uuid.
    again = upload(client, helper, data, visit_client_uuid=visit_uuid)
    assert again.status_code == 200
    assert again.get_json()["id"] == first.get_json()["id"]
    assert photo_count() == 1

    # The same picture for another visit, or from another helper, is a new photo that shares
    # the stored files: nothing is written again.
    other_visit = upload(client, helper, data, visit_client_uuid=str(uuid.uuid4()))
    other_user = upload(client, login(town.helper_b), data, visit_client_uuid=visit_uuid)
    assert other_visit.status_code == other_user.status_code == 201
    ids = {r.get_json()["id"] for r in (first, other_visit, other_user)}
    assert len(ids) == 3
    assert photo_count() == 3
    assert counting.keys == []
    keys = {
        (p.original_key, p.display_key, p.thumb_key)
        for p in db.session.scalars(select(Photo).where(Photo.id.in_(ids)))
    }
    assert len(keys) == 1


def test_missing_objects_of_known_content_are_written_again(client, helper, local_storage):
    data = make_jpeg(7)
    first = upload(client, helper, data).get_json()
    photo = db.session.get(Photo, first["id"])
    local_storage.delete(photo.thumb_key)
    second = upload(client, helper, data)
    assert second.status_code == 201
    assert local_storage.exists(photo.thumb_key)


@pytest.mark.parametrize(
    ("data", "status", "code"),
    [
        pytest.param(b"%PDF-1.7 not a photo at all" * 10, 415, "photo.not_image", id="pdf"),
        pytest.param(b"GIF89a" + b"\x00" * 64, 415, "photo.unsupported_format", id="gif"),
        pytest.param(make_jpeg(8)[:-2000], 422, "photo.truncated", id="truncated"),
        pytest.param(
            make_jpeg(8) + b"<?php system($_GET[c]); ?>" * 4, 422, "photo.polyglot", id="polyglot"
        ),
    ],
)
def test_bad_files_are_refused_with_clear_json(client, helper, data, status, code, monkeypatch):
    tmp = tempfile.mkdtemp(prefix="hhq-photo-test-")
    monkeypatch.setattr(tempfile, "tempdir", tmp)
    response = upload(client, helper, data)
    assert_error(response, status, code)
    assert photo_count() == 0
    assert os.listdir(tmp) == []
    os.rmdir(tmp)


def test_too_large_photo_is_413(app, client, helper, monkeypatch):
    monkeypatch.setitem(app.config, "PHOTO_MAX_BYTES", 50_000)
    error = assert_error(upload(client, helper, make_jpeg(9, (1200, 900))), 413, "photo.too_large")
    assert "50000 字节" in error["message"]
    assert error["details"] == {"max_bytes": 50_000}
    assert photo_count() == 0


def test_too_many_pixels_is_422(app, client, helper, monkeypatch):
    monkeypatch.setitem(app.config, "PHOTO_MAX_PIXELS", 100_000)
    assert_error(upload(client, helper, make_jpeg(10)), 422, "photo.too_many_pixels")


@pytest.mark.parametrize(
    ("form", "field", "message"),
    [
        pytest.param({"file": None}, "file", "必填项不能为空。", id="no-file"),
        pytest.param({"client_uuid": ""}, "client_uuid", "应为 UUID。", id="empty-uuid"),
        pytest.param({"client_uuid": "photo-1"}, "client_uuid", "应为 UUID。", id="bad-uuid"),
        pytest.param(
            {"purpose": "selfie"},
            "purpose",
            "取值应为以下之一：house, water, with_head, evidence, other.",
            id="bad-purpose",
        ),
        pytest.param({"household_id": "x"}, "household_id", "应为整数。", id="bad-household"),
        pytest.param({"visit_client_uuid": "v1"}, "visit_client_uuid", "应为 UUID。", id="visit"),
    ],
)
def test_invalid_fields_are_422_with_chinese_messages(client, helper, form, field, message):
    data = None if "file" in form else make_jpeg(11)
    form = {k: v for k, v in form.items() if k != "file"}
    response = upload(client, helper, data, **form)
    error = assert_error(response, 422, "request.validation", "提交的数据有误，请检查后重试。")
    assert error["fields"]["multipart"][field] == [message]
    assert photo_count() == 0


def test_missing_client_uuid_and_purpose_are_required(client, helper):
    response = client.post(
        URL,
        headers=helper,
        data={"file": (io.BytesIO(make_jpeg(12)), "a.jpg")},
        content_type="multipart/form-data",
    )
    error = assert_error(response, 422, "request.validation")
    assert error["fields"]["multipart"] == {
        "client_uuid": ["必填项不能为空。"],
        "purpose": ["必填项不能为空。"],
    }


def test_file_sent_as_a_text_field_is_refused(client, helper):
    response = client.post(
        URL,
        headers=helper,
        data={"file": "not a file", "client_uuid": str(uuid.uuid4()), "purpose": "house"},
        content_type="multipart/form-data",
    )
    error = assert_error(response, 422, "request.validation")
    assert error["fields"]["multipart"]["file"] == [
        "应为照片文件，请以 multipart/form-data 文件字段上传。"
    ]


def test_household_must_be_readable_by_the_uploader(client, town, helper):
    for household in (town.other_household, town.far_household):
        response = upload(client, helper, make_jpeg(13), household_id=household.id)
        assert_error(response, 404, "household.not_found")
    assert_error(
        upload(client, helper, make_jpeg(13), household_id=999_999), 404, "household.not_found"
    )
    assert photo_count() == 0


def test_staff_may_upload_anonymous_and_roleless_users_may_not(client, town, login):
    assert upload(client, login(town.town_admin), make_jpeg(14)).status_code == 201
    assert_error(upload(client, {}, make_jpeg(15)), 401, "auth.required")
    nobody = factories.UserFactory()
    assert_error(upload(client, login(nobody), make_jpeg(15)), 403, "auth.forbidden")
    assert photo_count() == 1


# --- the multipart body ------------------------------------------------------------------------

BOUNDARY = "----hhqBoundary7MA4YWxkTrZu0gW"


def multipart(*parts: tuple[str, bytes], boundary: str = BOUNDARY, close: bool = True) -> bytes:
    """A multipart body from (header lines, data) parts, written out byte for byte."""
    body = b"".join(
        b"--" + boundary.encode() + b"\r\n" + headers.encode() + b"\r\n\r\n" + data + b"\r\n"
        for headers, data in parts
    )
    return body + (b"--" + boundary.encode() + b"--\r\n" if close else b"")


def field(name: str, value: str) -> tuple[str, bytes]:
    """A text part."""
    return f'Content-Disposition: form-data; name="{name}"', value.encode()


def file_part(data: bytes, name: str = "file", filename: str = "photo.jpg") -> tuple[str, bytes]:
    """A file part."""
    return (
        f'Content-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
        "Content-Type: image/jpeg",
        data,
    )


def post_raw(client, headers, body: bytes, content_type: str | None = None):
    """POST a body exactly as given."""
    content_type = content_type or f"multipart/form-data; boundary={BOUNDARY}"
    return client.post(URL, headers=headers, data=body, content_type=content_type)


def test_fields_after_the_file_and_extra_file_parts(client, helper, local_storage):
    data = make_jpeg(30)
    body = multipart(
        ('Content-Disposition: form-data; name="file"; filename="房屋.jpg"', data),
        file_part(make_jpeg(31)),  # a second "file": ignored
        file_part(b"whatever", name="attachment"),  # another file field: ignored
        field("purpose", "water"),
        field("client_uuid", str(uuid.uuid4())),
        field("unknown", "ignored"),
    )
    response = post_raw(client, helper, body)
    assert response.status_code == 201, response.data
    assert response.get_json()["sha256"] == hashlib.sha256(data).hexdigest()
    assert response.get_json()["purpose"] == "water"


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        pytest.param(b"--x\r\n", "multipart/form-data", id="no-boundary"),
        pytest.param(
            multipart(field("purpose", "house"), file_part(b"\xff\xd8\xff" * 100), close=False),
            None,
            id="truncated",
        ),
        pytest.param(multipart(("Content-Type: text/plain", b"x")), None, id="no-disposition"),
        pytest.param(multipart(("Content-Disposition form-data", b"x")), None, id="bad-header"),
        pytest.param(
            multipart(field("purpose", "house")).replace(
                BOUNDARY.encode() + b"\r\n", BOUNDARY.encode() + b"junk\r\n", 1
            ),
            None,
            id="junk-after-boundary",
        ),
        pytest.param(b"no boundary anywhere", None, id="no-delimiter"),
    ],
)
def test_malformed_multipart_is_400(client, helper, body, content_type, monkeypatch):
    tmp = tempfile.mkdtemp(prefix="hhq-photo-test-")
    monkeypatch.setattr(tempfile, "tempdir", tmp)
    assert_error(post_raw(client, helper, body, content_type), 400, "request.bad")
    assert photo_count() == 0
    assert os.listdir(tmp) == []  # a half-received photo is deleted
    os.rmdir(tmp)


def test_oversized_text_fields_and_too_many_parts_are_413(client, helper):
    big = multipart(field("purpose", "x" * 70_000), file_part(make_jpeg(32)))
    assert_error(post_raw(client, helper, big), 413, "request.too_large")
    many = multipart(*[field(f"f{i}", "x") for i in range(40)])
    assert_error(post_raw(client, helper, many), 413, "request.too_large")


def test_a_body_that_is_not_multipart_lacks_every_field(client, helper):
    response = client.post(URL, headers=helper, json={"client_uuid": str(uuid.uuid4())})
    error = assert_error(response, 422, "request.validation")
    assert set(error["fields"]["multipart"]) == {"file", "client_uuid", "purpose"}


def test_an_anonymous_upload_is_refused_before_the_body_is_read(client, monkeypatch):
    from backend.api import photos as photos_api

    def unread(*args, **kwargs):
        raise AssertionError("the body was read")

    monkeypatch.setattr(photos_api._MultipartReader, "_fill", unread)
    body = multipart(field("purpose", "house"), file_part(make_jpeg(33)))
    assert_error(post_raw(client, {}, body), 401, "auth.required")


# --- reading ----------------------------------------------------------------------------------


def test_get_photo_is_for_the_uploader_and_staff_who_see_the_household(client, town, login):
    body = upload(
        client, login(town.helper), make_jpeg(16), household_id=town.household.id
    ).get_json()
    url = f"{URL}/{body['id']}"
    for user in (town.helper, town.village_cadre, town.town_admin, town.inspector, town.office):
        response = client.get(url, headers=login(user))
        assert response.status_code == 200, user.display_name
        got = response.get_json()
        assert got["id"] == body["id"] and got["sha256"] == body["sha256"]
        assert client.get(relative(got["urls"]["thumb"])).status_code == 200
    for user in (town.other_helper, town.helper_b, town.far_helper):
        assert_error(client.get(url, headers=login(user)), 404, "photo.not_found")
    assert_error(client.get(url), 401, "auth.required")
    assert_error(client.get(f"{URL}/999999", headers=login(town.helper)), 404, "photo.not_found")


def test_photo_without_household_is_only_for_its_uploader(client, town, login):
    body = upload(client, login(town.helper), make_jpeg(17)).get_json()
    url = f"{URL}/{body['id']}"
    assert client.get(url, headers=login(town.helper)).status_code == 200
    for user in (town.village_cadre, town.town_admin, town.district_user, town.helper_b):
        assert_error(client.get(url, headers=login(user)), 404, "photo.not_found")


def test_photo_of_a_visit_is_readable_through_the_visits_household(client, town, login):
    body = upload(client, login(town.helper), make_jpeg(18)).get_json()
    photo = db.session.get(Photo, body["id"])
    photo.visit_id = make_visit(town.household, town.helper).id
    db.session.flush()
    url = f"{URL}/{body['id']}"
    assert client.get(url, headers=login(town.village_cadre)).status_code == 200
    assert_error(client.get(url, headers=login(town.other_helper)), 404, "photo.not_found")


def test_there_is_no_listing(client, town, login):
    response = client.get(URL, headers=login(town.town_admin))
    assert response.status_code == 405


def test_fresh_links_on_every_read(client, helper, monkeypatch):
    body = upload(client, helper, make_jpeg(19)).get_json()
    later = time.time() + 120
    monkeypatch.setattr(time, "time", lambda: later)
    again = client.get(f"{URL}/{body['id']}", headers=helper).get_json()
    assert again["urls"]["original"] != body["urls"]["original"]


# --- S3 ---------------------------------------------------------------------------------------


def test_s3_upload_and_presigned_links(client, helper, s3_storage, use_storage, monkeypatch):
    storage = use_storage(s3_storage)
    data = make_jpeg(20, (1200, 900))
    body = upload(client, helper, data).get_json()
    assert body["storage_status"] == "stored"
    photo = db.session.get(Photo, body["id"])
    assert storage.get(photo.original_key) == data
    assert storage.exists(photo.display_key) and storage.exists(photo.thumb_key)
    for variant in ("original", "display", "thumb"):
        url = body["urls"][variant]
        assert "X-Amz-Signature=" in url
        fetched = requests.get(url, timeout=10)
        assert fetched.status_code == 200
        assert fetched.headers["Content-Type"] == "image/jpeg"
        if variant == "original":
            assert fetched.content == data
    # Identical content from another upload is not sent to S3 again.
    counting = CountingStorage(storage, monkeypatch)
    assert upload(client, helper, data).status_code == 201
    assert counting.keys == []


def test_s3_down_keeps_the_photo_and_ship_photos_stores_it_later(
    app, client, helper, moto_s3, presign_checker, s3_storage, use_storage, tmp_path
):
    data = make_jpeg(21, (1200, 900))
    spool = tmp_path / "s3-spool"
    moto_s3.stop()
    try:
        # A fresh client: connections pooled before the stop would still be served.
        storage = use_storage(make_s3_storage(moto_s3, presign_checker, s3_storage.bucket, spool))
        started = time.monotonic()
        response = upload(client, helper, data)
        assert time.monotonic() - started < 15
        assert response.status_code == 201, response.data
        body = response.get_json()
        assert body["storage_status"] == "pending"
        assert len(spool_entries(storage)) == 3
        # While pending, links are this app's /media links served from the spool.
        served = client.get(relative(body["urls"]["original"]))
        assert served.status_code == 200 and served.data == data
        # A retry of the same photo during the outage is answered from the database.
        assert upload(client, helper, data, client_uuid=body["client_uuid"]).status_code == 200

        runner = app.test_cli_runner()
        failed = runner.invoke(args=["hhq", "ship-photos"])
        assert failed.exit_code == 1, failed.output
        assert "失败 3 个" in failed.output
        assert db.session.get(Photo, body["id"]).storage_status == "pending"
    finally:
        moto_s3.start()

    shipped = runner.invoke(args=["hhq", "ship-photos"])
    assert shipped.exit_code == 0, shipped.output
    assert "已转存 3 个文件" in shipped.output and "1 张照片已完成存储" in shipped.output
    photo = db.session.get(Photo, body["id"])
    db.session.refresh(photo)
    assert photo.storage_status == "stored"
    assert spool_entries(storage) == []
    assert s3_storage.get(photo.original_key) == data
    assert s3_storage.exists(photo.display_key) and s3_storage.exists(photo.thumb_key)
    got = client.get(f"{URL}/{body['id']}", headers=helper).get_json()
    assert got["storage_status"] == "stored"
    assert requests.get(got["urls"]["original"], timeout=10).content == data


def test_ship_photos_loop_runs_passes_until_stopped(app, monkeypatch):
    calls = []

    def fake_sleep(seconds):
        calls.append(seconds)
        if len(calls) == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr("backend.cli_photos.time.sleep", fake_sleep)
    result = app.test_cli_runner().invoke(args=["hhq", "ship-photos", "--loop", "--interval", "5"])
    assert calls == [5.0, 5.0]
    assert result.exit_code != 0 or isinstance(result.exception, KeyboardInterrupt)
