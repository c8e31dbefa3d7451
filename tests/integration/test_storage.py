"""Storage backends over real HTTP: moto S3, presigned links, the spool, and /media links."""

from __future__ import annotations

import io
import os
import time

import pytest
import requests
from flask import Flask
from PIL import Image

from backend.api.media import media_pages
from backend.config import load_config
from backend.errors import register_error_handlers
from backend.storage import (
    InvalidKey,
    LocalStorage,
    ObjectNotFound,
    S3Storage,
    StorageUnavailable,
    get_storage,
    photo_key,
    put_with_spool,
    ship_spooled,
    spool_entries,
    spooled_path,
)
from backend.storage.spool import ORPHAN_BLOB_AGE_SECONDS, _ship_lock
from tests.storage_fixtures import (
    ACCESS_KEY_ID,
    MEDIA_SECRET,
    SECRET_ACCESS_KEY,
    free_port,
    make_s3_storage,
)

SHA = "ab" + "cd" + "0123456789abcdef" * 3 + "01234567890a"
KEY = photo_key(SHA, "original", "jpg")


def small_jpeg(colour=(200, 30, 30)) -> bytes:
    """A small JPEG."""
    buf = io.BytesIO()
    Image.new("RGB", (64, 48), colour).save(buf, "JPEG")
    return buf.getvalue()


@pytest.fixture
def jpeg_file(tmp_path):
    """A JPEG on disk, as the pipeline leaves the original."""
    path = tmp_path / "upload.jpg"
    path.write_bytes(small_jpeg())
    return path


def media_app(tmp_path, **overrides) -> Flask:
    """A bare app with the media blueprint registered the way the lead will register it."""
    app = Flask("media-test")
    app.config.update(
        load_config(
            {
                "ENV_NAME": "test",
                "TESTING": True,
                "SECRET_KEY": MEDIA_SECRET,
                "PUBLIC_BASE_URL": "https://hhq.example.cn",
                "VAR_DIR": str(tmp_path / "var"),
                "LOCAL_STORAGE_DIR": str(tmp_path / "var" / "storage"),
                "DATABASE_URL": f"sqlite:///{tmp_path / 'unused.db'}",
                **overrides,
            }
        )
    )
    register_error_handlers(app)
    app.register_blueprint(media_pages)
    return app


def relative(url: str) -> str:
    """Strip scheme and host from an absolute URL."""
    return "/" + url.split("://", 1)[1].split("/", 1)[1]


def error_code(response) -> str:
    """The catalogue code of a JSON error response."""
    assert response.is_json, response.data
    return response.get_json()["error"]["code"]


# --- keys -------------------------------------------------------------------------------------


def test_photo_keys_are_content_addressed():
    assert f"photos/ab/cd/{SHA}.jpg" == KEY
    assert photo_key(SHA, "display") == f"photos/ab/cd/{SHA}.display.jpg"
    assert photo_key(SHA, "thumb") == f"photos/ab/cd/{SHA}.thumb.jpg"
    assert photo_key(SHA, "original", "webp").endswith(".webp")
    with pytest.raises(InvalidKey):
        photo_key("not-a-hash")


@pytest.mark.parametrize("key", ["../etc/passwd", "/abs", "a//b", "photos/.hidden", "", "a b"])
def test_unsafe_keys_are_refused(tmp_path, key):
    with pytest.raises(InvalidKey):
        LocalStorage(tmp_path).path_for(key)


# --- local storage and the /media route -------------------------------------------------------


def test_local_round_trip_is_atomic(tmp_path, jpeg_file):
    storage = LocalStorage(tmp_path / "store")
    storage.put(KEY, jpeg_file)
    assert storage.get(KEY) == jpeg_file.read_bytes()
    assert storage.exists(KEY) and storage.size(KEY) == jpeg_file.stat().st_size
    assert (tmp_path / "store" / KEY).is_file()
    # No temp files left beside the object.
    assert [p.name for p in (tmp_path / "store" / "photos" / "ab" / "cd").iterdir()] == [
        f"{SHA}.jpg"
    ]
    storage.put_bytes(KEY, b"replaced")
    assert storage.get(KEY) == b"replaced"
    storage.delete(KEY)
    storage.delete(KEY)
    assert not storage.exists(KEY)
    with pytest.raises(ObjectNotFound):
        storage.get(KEY)


def test_get_storage_builds_one_configured_backend_per_app(tmp_path):
    app = media_app(tmp_path)
    storage = get_storage(app)
    assert isinstance(storage, LocalStorage)
    assert get_storage(app) is storage
    assert storage.spool_dir == tmp_path / "var" / "spool"
    s3_app = media_app(tmp_path, STORAGE_BACKEND="s3", S3_ENDPOINT_URL="http://127.0.0.1:9")
    assert isinstance(get_storage(s3_app), S3Storage)


def test_local_signed_url_serves_the_photo(tmp_path):
    app = media_app(tmp_path)
    storage = get_storage(app)
    data = small_jpeg()
    assert put_with_spool(storage, KEY, data) == "stored"
    url = storage.url(KEY)
    assert url.startswith(f"https://hhq.example.cn/media/{KEY}?exp=")
    response = app.test_client().get(relative(url))
    assert response.status_code == 200
    assert response.data == data
    assert response.mimetype == "image/jpeg"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in response.headers["Content-Security-Policy"]
    assert response.headers["Cache-Control"].startswith("private, max-age=")
    assert 0 < int(response.headers["Cache-Control"].rsplit("=", 1)[1]) <= 300


def test_local_signed_url_expired_is_410(tmp_path):
    app = media_app(tmp_path)
    storage = get_storage(app)
    storage.put_bytes(KEY, small_jpeg())
    response = app.test_client().get(relative(storage.url(KEY, ttl=-5)))
    assert response.status_code == 410
    assert error_code(response) == "storage.url_expired"
    assert response.get_json()["error"]["message"] == "照片链接已过期，请刷新页面后重试。"


@pytest.mark.parametrize(
    "tamper",
    [
        pytest.param(lambda u: u[:-3] + ("AAA" if not u.endswith("AAA") else "BBB"), id="sig"),
        pytest.param(lambda u: u.replace("?exp=", "?exp=9"), id="exp"),
        pytest.param(lambda u: u.replace(f"{SHA}.jpg", f"{SHA}.thumb.jpg"), id="key"),
        pytest.param(lambda u: u.split("&sig=")[0], id="no-sig"),
        pytest.param(lambda u: u.split("?")[0], id="no-query"),
        pytest.param(lambda u: u.replace("exp=", "exp=x"), id="bad-exp"),
    ],
)
def test_local_signed_url_tampered_is_403(tmp_path, tamper):
    app = media_app(tmp_path)
    storage = get_storage(app)
    storage.put_bytes(KEY, small_jpeg())
    storage.put_bytes(photo_key(SHA, "thumb"), small_jpeg())
    response = app.test_client().get(relative(tamper(storage.url(KEY))))
    assert response.status_code == 403
    assert error_code(response) == "storage.url_invalid"
    assert response.get_json()["error"]["message"] == "照片链接无效。"


def test_local_signed_url_of_missing_object_is_404(tmp_path):
    app = media_app(tmp_path)
    response = app.test_client().get(relative(get_storage(app).url(KEY)))
    assert response.status_code == 404
    assert error_code(response) == "storage.not_found"


def test_media_route_lists_nothing_and_escapes_nothing(tmp_path):
    app = media_app(tmp_path)
    storage = get_storage(app)
    storage.put_bytes(KEY, small_jpeg())
    (tmp_path / "var" / "secret.txt").write_text("not for you")
    client = app.test_client()
    exp = int(time.time()) + 60
    for key in ("photos", "photos/ab/cd", "../secret.txt", "photos/../../secret.txt"):
        sig = storage.signer.sign(key, exp)
        response = client.get(f"/media/{key}?exp={exp}&sig={sig}")
        assert response.status_code == 404, key
        assert b"not for you" not in response.data
    assert client.get("/media/").status_code == 404


# --- S3 over real HTTP ------------------------------------------------------------------------


def test_s3_round_trip_and_presigned_url(s3_storage, jpeg_file):
    data = jpeg_file.read_bytes()
    s3_storage.put(KEY, jpeg_file)
    assert s3_storage.get(KEY) == data
    assert s3_storage.exists(KEY)
    assert s3_storage.size(KEY) == len(data)
    assert not s3_storage.exists(photo_key(SHA, "thumb"))

    url = s3_storage.url(KEY)
    assert "X-Amz-Signature=" in url and "X-Amz-Expires=60" in url
    response = requests.get(url, timeout=10)
    assert response.status_code == 200
    assert response.content == data
    assert response.headers["Content-Type"] == "image/jpeg"

    # Tampering with the key, the expiry or the signature is refused by the (checked) S3.
    other = photo_key(SHA, "thumb")
    s3_storage.put_bytes(other, b"thumb")
    for bad in (
        url.replace(f"{SHA}.jpg", f"{SHA}.thumb.jpg"),
        url.replace("X-Amz-Expires=60", "X-Amz-Expires=6000"),
        url[:-4] + ("0000" if not url.endswith("0000") else "1111"),
    ):
        refused = requests.get(bad, timeout=10)
        assert refused.status_code == 403
        assert b"SignatureDoesNotMatch" in refused.content
    # Without any signature the bucket is private.
    anonymous = requests.get(f"{s3_storage.endpoint_url}/{s3_storage.bucket}/{KEY}", timeout=10)
    assert anonymous.status_code == 403

    s3_storage.delete(KEY)
    assert not s3_storage.exists(KEY)
    with pytest.raises(ObjectNotFound):
        s3_storage.get(KEY)


def test_s3_presigned_url_expires(s3_storage):
    s3_storage.put_bytes(KEY, small_jpeg())
    # X-Amz-Date has whole seconds, so a 1 s link may be stale on arrival: use 2 s.
    url = s3_storage.url(KEY, ttl=2)
    assert requests.get(url, timeout=10).status_code == 200
    time.sleep(3.1)
    expired = requests.get(url, timeout=10)
    assert expired.status_code == 403
    assert b"Request has expired" in expired.content


def test_s3_put_with_spool_stores_directly_when_up(s3_storage, jpeg_file):
    assert put_with_spool(s3_storage, KEY, jpeg_file) == "stored"
    assert put_with_spool(s3_storage, photo_key(SHA, "display"), b"display") == "stored"
    assert s3_storage.get(photo_key(SHA, "display")) == b"display"
    assert spool_entries(s3_storage) == []
    assert ship_spooled(s3_storage) == (0, 0)


def test_s3_down_spools_then_ships_when_back(moto_s3, presign_checker, s3_storage, tmp_path):
    data = small_jpeg()
    original = tmp_path / "original.jpg"
    original.write_bytes(data)
    display = photo_key(SHA, "display")
    spool = tmp_path / "spool"

    moto_s3.stop()
    try:
        # A fresh client: connections pooled before the stop would still be served.
        down = make_s3_storage(moto_s3, presign_checker, s3_storage.bucket, spool)
        started = time.monotonic()
        assert put_with_spool(down, KEY, original) == "spooled"
        assert put_with_spool(down, display, b"display-bytes") == "spooled"
        assert time.monotonic() - started < 10
        original.unlink()  # the caller's temp file goes; the spool keeps its own copy

        entries = spool_entries(down)
        assert sorted(e.key for e in entries) == sorted([KEY, display])
        assert all(e.attempts == 0 and e.last_error for e in entries)
        assert spooled_path(down, KEY).read_bytes() == data
        # While pending, links point at this app's /media route, which serves the spool.
        assert down.url(KEY).startswith(f"http://testserver/media/{KEY}?exp=")

        with pytest.raises(StorageUnavailable):
            down.get(KEY)
        assert ship_spooled(down) == (0, 2)
        assert {e.attempts for e in spool_entries(down)} == {1}
    finally:
        moto_s3.start()

    shipped: list[str] = []
    assert ship_spooled(down, on_shipped=shipped.append) == (2, 0)
    assert sorted(shipped) == sorted([KEY, display])
    assert down.get(KEY) == data
    assert down.get(display) == b"display-bytes"
    assert spool_entries(down) == []
    assert sorted(p.name for p in spool.iterdir()) == [".ship.lock"]
    assert "X-Amz-Signature=" in down.url(KEY)
    assert requests.get(down.url(KEY), timeout=10).content == data


def test_s3_mode_media_route_serves_spooled_photos(moto_s3, tmp_path):
    app = media_app(
        tmp_path,
        STORAGE_BACKEND="s3",
        S3_ENDPOINT_URL=f"http://127.0.0.1:{free_port()}",  # nothing there
        S3_ACCESS_KEY_ID=ACCESS_KEY_ID,
        S3_SECRET_ACCESS_KEY=SECRET_ACCESS_KEY,
        S3_ADDRESSING_STYLE="path",
        S3_MAX_ATTEMPTS=1,
        S3_CONNECT_TIMEOUT_SECONDS=1.0,
    )
    storage = get_storage(app)
    data = small_jpeg((10, 200, 10))
    assert put_with_spool(storage, KEY, data) == "spooled"
    response = app.test_client().get(relative(storage.url(KEY)))
    assert response.status_code == 200
    assert response.data == data
    assert ship_spooled(storage) == (0, 1)
    assert spooled_path(storage, KEY) is not None


def down_storage(bucket: str, spool_dir) -> S3Storage:
    """An S3Storage whose endpoint has nothing listening."""
    return S3Storage(
        bucket=bucket,
        endpoint_url=f"http://127.0.0.1:{free_port()}",
        access_key_id=ACCESS_KEY_ID,
        secret_access_key=SECRET_ACCESS_KEY,
        addressing_style="path",
        connect_timeout=1.0,
        max_attempts=1,
        spool_dir=spool_dir,
    )


def test_missing_bucket_is_an_outage_not_a_missing_object(s3_storage, tmp_path):
    storage = S3Storage(
        bucket="no-such-bucket-anywhere",
        endpoint_url=s3_storage.endpoint_url,
        access_key_id=ACCESS_KEY_ID,
        secret_access_key=SECRET_ACCESS_KEY,
        addressing_style="path",
        spool_dir=tmp_path / "spool",
    )
    assert put_with_spool(storage, KEY, b"x") == "spooled"
    storage.spool_dir = None
    with pytest.raises(StorageUnavailable):
        put_with_spool(storage, KEY, b"x")


def test_ship_keeps_a_manifest_whose_blob_is_gone_and_cleans_old_orphans(s3_storage):
    storage = down_storage(s3_storage.bucket, s3_storage.spool_dir)
    assert put_with_spool(storage, KEY, b"lost") == "spooled"
    assert put_with_spool(storage, photo_key(SHA, "thumb"), b"thumb") == "spooled"
    spooled_path(storage, KEY).unlink()
    orphan = s3_storage.spool_dir / ("0" * 64 + ".blob")
    orphan.write_bytes(b"left by a crash")
    old = time.time() - ORPHAN_BLOB_AGE_SECONDS - 10
    os.utime(orphan, (old, old))

    assert ship_spooled(s3_storage) == (1, 1)
    assert s3_storage.get(photo_key(SHA, "thumb")) == b"thumb"
    assert [e.key for e in spool_entries(s3_storage)] == [KEY]
    assert not orphan.exists()


def test_concurrent_ship_runs_do_not_overlap(s3_storage):
    assert put_with_spool(down_storage(s3_storage.bucket, s3_storage.spool_dir), KEY, b"x") == (
        "spooled"
    )
    with _ship_lock(s3_storage.spool_dir) as locked:
        assert locked
        assert ship_spooled(s3_storage) == (0, 0)
        assert len(spool_entries(s3_storage)) == 1
    assert ship_spooled(s3_storage) == (1, 0)
    assert s3_storage.get(KEY) == b"x"
