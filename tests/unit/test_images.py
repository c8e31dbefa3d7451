"""Photo validation and processing, on a corpus of good and bad files generated here."""

from __future__ import annotations

import functools
import hashlib
import io
import random
import struct
import zipfile
import zlib

import pytest
from PIL import Image, ImageCms, ImageDraw, ImageFilter, JpegImagePlugin

from backend.errors import CATALOGUE
from backend.services.images import (
    DEFAULT_MAX_BYTES,
    ImageRejected,
    phash_distance,
    process_upload,
)

# --- corpus helpers ---------------------------------------------------------------------------


def photo(seed: int, size: tuple[int, int] = (800, 600)) -> Image.Image:
    """A deterministic photo-like picture: gradient sky, shapes, blur and sensor noise."""
    rng = random.Random(seed)
    w, h = size
    img = Image.linear_gradient("L").resize(size).convert("RGB")
    tint = Image.new("RGB", size, tuple(rng.randrange(60, 200) for _ in range(3)))
    img = Image.blend(img, tint, 0.6)
    draw = ImageDraw.Draw(img)
    for _ in range(14):
        x0, y0 = rng.randrange(w), rng.randrange(h)
        x1, y1 = x0 + rng.randrange(w // 8, w // 2), y0 + rng.randrange(h // 8, h // 2)
        colour = tuple(rng.randrange(256) for _ in range(3))
        if rng.random() < 0.5:
            draw.ellipse((x0, y0, x1, y1), fill=colour)
        else:
            draw.rectangle((x0, y0, x1, y1), fill=colour)
    img = img.filter(ImageFilter.GaussianBlur(2))
    noise = Image.effect_noise(size, 12).convert("RGB")
    return Image.blend(img, noise, 0.08)


def encode(img: Image.Image, fmt: str = "JPEG", **params) -> bytes:
    """Encode an image in memory."""
    buf = io.BytesIO()
    img.save(buf, fmt, **params)
    return buf.getvalue()


def png_chunk(ctype: bytes, data: bytes) -> bytes:
    """One PNG chunk with a correct CRC."""
    return struct.pack(">I", len(data)) + ctype + data + struct.pack(">I", zlib.crc32(ctype + data))


@functools.cache
def bomb_png(width: int, height: int) -> bytes:
    """A real, valid 1-bit PNG of width x height zeros: tiny on disk, huge once decoded."""
    row = b"\x00" * (1 + (width + 7) // 8)
    compressor = zlib.compressobj(9)
    idat = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", ihdr)
        + png_chunk(b"IDAT", idat)
        + png_chunk(b"IEND", b"")
    )


def with_jpeg_segment(jpeg: bytes, marker: int, body: bytes) -> bytes:
    """Insert a segment right after SOI."""
    segment = bytes([0xFF, marker]) + struct.pack(">H", len(body) + 2) + body
    return jpeg[:2] + segment + jpeg[2:]


def zip_bytes() -> bytes:
    """A small ZIP archive."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("payload.txt", "hidden " * 50)
    return buf.getvalue()


def exif_block(
    *,
    orientation: int | None = None,
    taken: str | None = None,
    offset: str | None = None,
    gps: tuple | None = None,
) -> Image.Exif:
    """An EXIF block with the tags the pipeline reads."""
    exif = Image.Exif()
    if orientation is not None:
        exif[0x0112] = orientation
    if taken is not None or offset is not None:
        sub = exif.get_ifd(0x8769)
        if taken is not None:
            sub[0x9003] = taken
        if offset is not None:
            sub[0x9011] = offset
    if gps is not None:
        lat_ref, lat, lon_ref, lon = gps
        g = exif.get_ifd(0x8825)
        g[1], g[2], g[3], g[4] = lat_ref, lat, lon_ref, lon
    return exif


@pytest.fixture(scope="module")
def jpeg() -> bytes:
    """An ordinary 800x600 JPEG photo."""
    return encode(photo(1), quality=90)


def rejected(code: str, data, tmp_path=None, **kwargs) -> ImageRejected:
    """Process ``data`` expecting a rejection with ``code``; check no temp file is left."""
    with pytest.raises(ImageRejected) as info:
        process_upload(data, tmp_dir=tmp_path, **kwargs)
    assert info.value.code == code, info.value
    assert info.value.status == CATALOGUE[code].status
    assert info.value.message_zh == info.value.message
    if tmp_path is not None:
        assert list(tmp_path.iterdir()) == []
    return info.value


# --- bad files --------------------------------------------------------------------------------


def test_text_is_not_an_image(tmp_path):
    err = rejected("photo.not_image", b"this is a visit note, not a photo\n" * 20, tmp_path)
    assert err.status == 415
    assert "JPEG" in err.message


def test_pdf_is_not_an_image(tmp_path):
    pdf = b"%PDF-1.7\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n%%EOF\n"
    rejected("photo.not_image", pdf, tmp_path)


def test_empty_upload_is_not_an_image(tmp_path):
    rejected("photo.not_image", b"", tmp_path)


def test_html_and_zip_are_not_images(tmp_path):
    rejected("photo.not_image", b"<html><script>alert(1)</script></html>", tmp_path)
    rejected("photo.not_image", zip_bytes(), tmp_path)


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(encode(photo(2, (64, 48)), "GIF"), id="gif"),
        pytest.param(encode(photo(2, (64, 48)), "BMP"), id="bmp"),
        pytest.param(encode(photo(2, (64, 48)), "TIFF"), id="tiff"),
        pytest.param(b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + b"\x00" * 64, id="heic"),
        pytest.param(b'<svg xmlns="http://www.w3.org/2000/svg"></svg>', id="svg"),
    ],
)
def test_other_image_formats_are_unsupported(tmp_path, data):
    err = rejected("photo.unsupported_format", data, tmp_path)
    assert err.status == 415


def test_truncated_jpeg(tmp_path, jpeg):
    err = rejected("photo.truncated", jpeg[: len(jpeg) // 2], tmp_path)
    assert err.status == 422


def test_jpeg_cut_just_before_eoi_is_truncated(tmp_path, jpeg):
    rejected("photo.truncated", jpeg[:-2], tmp_path)


def test_truncated_png(tmp_path):
    png = encode(photo(3), "PNG")
    rejected("photo.truncated", png[: len(png) // 2], tmp_path)
    rejected("photo.truncated", png[:-12], tmp_path)  # IEND missing


def test_truncated_webp(tmp_path):
    webp = encode(photo(3), "WEBP", quality=80)
    rejected("photo.truncated", webp[: len(webp) // 2], tmp_path)


def test_jpeg_with_zip_appended_is_a_polyglot(tmp_path, jpeg):
    err = rejected("photo.polyglot", jpeg + zip_bytes(), tmp_path)
    assert err.status == 422
    assert err.details["trailing_bytes"] > 0


def test_jpeg_with_html_appended_is_a_polyglot(tmp_path, jpeg):
    rejected("photo.polyglot", jpeg + b"<html><script>alert(document.cookie)</script>", tmp_path)


def test_short_non_padding_trailer_is_a_polyglot(tmp_path, jpeg):
    rejected("photo.polyglot", jpeg + b"<?=`id`;", tmp_path)


def test_png_and_webp_with_trailers_are_polyglots(tmp_path):
    rejected("photo.polyglot", encode(photo(4), "PNG") + zip_bytes(), tmp_path)
    rejected("photo.polyglot", encode(photo(4), "WEBP") + b"<script>x</script>", tmp_path)


def test_markup_hidden_in_metadata_is_a_polyglot(tmp_path, jpeg):
    rejected(
        "photo.polyglot", with_jpeg_segment(jpeg, 0xFE, b"<script>alert(1)</script>"), tmp_path
    )
    png = encode(photo(5), "PNG")
    text = png_chunk(b"tEXt", b"Comment\x00<?php system($_GET['c']); ?>")
    rejected("photo.polyglot", png[:33] + text + png[33:], tmp_path)


def test_jpeg_appended_without_mpf_index_is_a_polyglot(tmp_path, jpeg):
    rejected("photo.polyglot", jpeg + encode(photo(6, (64, 48))), tmp_path)


def test_corrupt_png_data(tmp_path):
    ihdr = struct.pack(">IIBBBBB", 64, 64, 8, 2, 0, 0, 0)
    png = (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", ihdr)
        + png_chunk(b"IDAT", b"definitely not zlib data" * 4)
        + png_chunk(b"IEND", b"")
    )
    err = rejected("photo.corrupt", png, tmp_path)
    assert err.status == 422


def test_decompression_bomb_png_is_refused_before_decoding(tmp_path):
    bomb = bomb_png(30000, 30000)
    assert len(bomb) < 200_000  # 900 megapixels in well under 200 KB
    err = rejected("photo.too_many_pixels", bomb, tmp_path)
    assert err.status == 422
    assert err.details == {"width": 30000, "height": 30000, "max_pixels": 40_000_000}


def test_pillow_bomb_error_becomes_ours(tmp_path):
    # With our cap lifted, Pillow's own DecompressionBombError (> 2 x MAX_IMAGE_PIXELS) fires.
    rejected("photo.too_many_pixels", bomb_png(30000, 30000), tmp_path, max_pixels=10**12)


def test_pillow_bomb_warning_becomes_ours(tmp_path):
    assert Image.MAX_IMAGE_PIXELS < 10000 * 10000
    rejected("photo.too_many_pixels", bomb_png(10000, 10000), tmp_path, max_pixels=10**12)


def test_jpeg_header_declaring_huge_size_is_refused(tmp_path, jpeg):
    sof = jpeg.index(b"\xff\xc0")
    patched = jpeg[: sof + 5] + struct.pack(">HH", 60000, 60000) + jpeg[sof + 9 :]
    rejected("photo.too_many_pixels", patched, tmp_path)


def test_configurable_pixel_cap(tmp_path, jpeg):
    err = rejected("photo.too_many_pixels", jpeg, tmp_path, max_pixels=800 * 600 - 1)
    assert "800×600" in err.message


def test_oversized_upload_at_default_limit(tmp_path, jpeg):
    data = jpeg + b"\x00" * (DEFAULT_MAX_BYTES + 1 - len(jpeg))
    err = rejected("photo.too_large", data, tmp_path)
    assert err.status == 413
    assert "15 MB" in err.message
    assert err.details == {"max_bytes": DEFAULT_MAX_BYTES}


def test_oversized_upload_at_configured_limit(tmp_path, jpeg):
    rejected("photo.too_large", jpeg, tmp_path, max_bytes=len(jpeg) - 1)
    with process_upload(jpeg, max_bytes=len(jpeg), tmp_dir=tmp_path) as ok:
        assert ok.size_bytes == len(jpeg)


# --- good files -------------------------------------------------------------------------------


def red_left_blue_right(size=(400, 200)) -> Image.Image:
    """Left half red, right half blue."""
    img = Image.new("RGB", size, (0, 0, 255))
    ImageDraw.Draw(img).rectangle((0, 0, size[0] // 2 - 1, size[1]), fill=(255, 0, 0))
    return img


def assert_close(pixel, expected, tolerance=40):
    """Colours equal within JPEG error."""
    assert all(abs(a - b) <= tolerance for a, b in zip(pixel, expected, strict=True)), pixel


def test_orientation_6_makes_upright_exif_free_derivatives(tmp_path):
    data = encode(
        red_left_blue_right(),
        quality=92,
        exif=exif_block(
            orientation=6, taken="2024:05:01 10:20:30", gps=("N", (29, 33, 36), "E", (106, 33, 0))
        ),
    )
    with process_upload(data, tmp_dir=tmp_path) as result:
        # Stored dimensions are the upright ones.
        assert (result.width, result.height) == (200, 400)
        display = Image.open(io.BytesIO(result.display_jpeg))
        thumb = Image.open(io.BytesIO(result.thumb_jpeg))
        assert display.format == thumb.format == "JPEG"
        assert display.size == (200, 400)
        assert thumb.size == (160, 320)
        # Orientation 6 turns the raw left edge into the top.
        assert_close(display.getpixel((100, 50)), (255, 0, 0))
        assert_close(display.getpixel((100, 350)), (0, 0, 255))
        for blob in (result.display_jpeg, result.thumb_jpeg):
            img = Image.open(io.BytesIO(blob))
            assert len(img.getexif()) == 0
            assert "exif" not in img.info
            assert b"Exif\x00\x00" not in blob
            assert b"\xff\xe1" not in blob[:200]  # no APP1 at all
        # The original is untouched, EXIF and all.
        assert result.original_path.read_bytes() == data
        assert result.mime == "image/jpeg"
        assert result.extension == "jpg"


def test_exif_time_and_gps_are_read():
    data = encode(
        photo(7),
        exif=exif_block(
            taken="2024:05:01 10:20:30", gps=("N", (29.0, 33.0, 36.0), "E", (106.0, 33.0, 0.0))
        ),
    )
    with process_upload(data) as result:
        assert result.exif_taken_at.isoformat() == "2024-05-01T10:20:30+08:00"
        assert result.exif_lat == pytest.approx(29.56)
        assert result.exif_lon == pytest.approx(106.55)


def test_exif_offset_and_southern_western_hemispheres():
    data = encode(
        photo(7),
        exif=exif_block(
            taken="2023:12:31 23:59:59",
            offset="-03:00",
            gps=("S", (22.0, 54.0, 0.0), "W", (43.0, 12.0, 0.0)),
        ),
    )
    with process_upload(data) as result:
        assert result.exif_taken_at.isoformat() == "2023-12-31T23:59:59-03:00"
        assert result.exif_lat == pytest.approx(-22.9)
        assert result.exif_lon == pytest.approx(-43.2)


def test_missing_or_meaningless_exif_gives_none():
    with process_upload(encode(photo(8))) as plain:
        assert (plain.exif_taken_at, plain.exif_lat, plain.exif_lon) == (None, None, None)
    zero = exif_block(taken="0000:00:00 00:00:00", gps=("N", (0, 0, 0), "E", (0, 0, 0)))
    with process_upload(encode(photo(8), exif=zero)) as nulls:
        assert (nulls.exif_taken_at, nulls.exif_lat, nulls.exif_lon) == (None, None, None)


def test_large_jpeg_is_decoded_in_draft_mode(monkeypatch):
    calls = []
    original = JpegImagePlugin.JpegImageFile.draft

    def spy(self, mode, size, *args):
        result = original(self, mode, size, *args)
        calls.append((self.size, result))
        return result

    monkeypatch.setattr(JpegImagePlugin.JpegImageFile, "draft", spy)
    big = photo(9, (1000, 750)).resize((4000, 3000), Image.Resampling.BICUBIC)
    with process_upload(encode(big, quality=85)) as result:
        assert (result.width, result.height) == (4000, 3000)
        assert Image.open(io.BytesIO(result.display_jpeg)).size == (1000, 750)
        assert Image.open(io.BytesIO(result.thumb_jpeg)).size == (320, 240)
    # libjpeg decoded at 1/4 scale: 1000x750, never the full 12 MP.
    assert calls and calls[0][0] == (1000, 750)


def test_png_with_alpha_is_accepted_and_flattened_on_white():
    img = Image.new("RGBA", (300, 200), (0, 0, 0, 0))
    ImageDraw.Draw(img).rectangle((150, 0, 299, 199), fill=(0, 128, 0, 255))
    data = encode(img, "PNG")
    with process_upload(data) as result:
        assert result.mime == "image/png"
        assert result.extension == "png"
        assert (result.width, result.height) == (300, 200)
        display = Image.open(io.BytesIO(result.display_jpeg))
        assert display.mode == "RGB"
        assert_close(display.getpixel((20, 100)), (255, 255, 255))
        assert_close(display.getpixel((250, 100)), (0, 128, 0))


def test_webp_is_accepted():
    lossy = encode(photo(10, (1200, 900)), "WEBP", quality=80)
    lossless = encode(photo(10, (240, 180)), "WEBP", lossless=True, method=0)
    for data, size, display in (
        (lossy, (1200, 900), (1000, 750)),
        (lossless, (240, 180), (240, 180)),
    ):
        with process_upload(data) as result:
            assert result.mime == "image/webp"
            assert (result.width, result.height) == size
            assert Image.open(io.BytesIO(result.display_jpeg)).size == display


def test_other_modes_are_accepted():
    cmyk = encode(photo(11).convert("CMYK"))
    grey16 = encode(Image.linear_gradient("L").convert("I;16"), "PNG")
    palette = encode(photo(11).convert("P"), "PNG")
    for data in (cmyk, grey16, palette):
        with process_upload(data) as result:
            assert Image.open(io.BytesIO(result.display_jpeg)).mode == "RGB"


def test_progressive_restart_marker_and_icc_jpegs_are_accepted():
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    variants = [
        {"progressive": True},
        {"restart_marker_rows": 1},
        {"icc_profile": srgb},
        {"icc_profile": b"not a colour profile"},
    ]
    for params in variants:
        with process_upload(encode(photo(16), quality=85, **params)) as result:
            display = Image.open(io.BytesIO(result.display_jpeg))
            assert display.size == (800, 600)
            assert "icc_profile" not in display.info


def test_mpf_jpeg_with_secondary_image_is_accepted(jpeg):
    # Phones store depth maps and HDR gain maps as further JPEGs indexed by an MPF segment.
    mpo = encode(photo(12), "MPO", save_all=True, append_images=[photo(13, (200, 150))])
    assert mpo.startswith(b"\xff\xd8") and mpo.count(b"\xff\xd8\xff") >= 2
    with process_upload(mpo) as result:
        assert (result.width, result.height) == (800, 600)
        assert result.mime == "image/jpeg"
    # The same trailing JPEG after a primary without an MPF index is a polyglot.
    rejected("photo.polyglot", jpeg + encode(photo(13, (200, 150))))


def test_zero_padding_after_the_end_is_tolerated(jpeg):
    with process_upload(jpeg + b"\x00" * 512) as result:
        assert result.size_bytes == len(jpeg) + 512


def test_streams_in_small_reads_are_accepted():
    class Dribble(io.RawIOBase):
        def __init__(self, data: bytes):
            self._data = io.BytesIO(data)

        def readable(self) -> bool:
            return True

        def read(self, n: int = -1) -> bytes:
            return self._data.read(min(n, 5) if n and n > 0 else 5)

    data = encode(photo(13), "WEBP")
    with process_upload(Dribble(data)) as result:
        assert result.mime == "image/webp"
        assert result.sha256 == hashlib.sha256(data).hexdigest()


def test_identical_images_share_sha256_and_phash(jpeg):
    with process_upload(jpeg) as a, process_upload(io.BytesIO(jpeg)) as b:
        assert a.sha256 == b.sha256 == hashlib.sha256(jpeg).hexdigest()
        assert a.original_path != b.original_path
        assert a.phash == b.phash
        assert len(a.phash) == 16  # 64 bits


def test_reencoded_copy_has_near_phash_and_other_photo_is_far():
    original = photo(14, (1600, 1200))
    reencoded = original.resize((1400, 1050), Image.Resampling.BILINEAR)
    with (
        process_upload(encode(original, quality=92)) as a,
        process_upload(encode(reencoded, quality=60)) as b,
        process_upload(encode(photo(15, (1600, 1200)), quality=92)) as c,
    ):
        assert a.sha256 != b.sha256
        assert phash_distance(a.phash, b.phash) <= 6
        assert phash_distance(a.phash, c.phash) >= 20


def test_discard_removes_the_temp_file(tmp_path, jpeg):
    result = process_upload(jpeg, tmp_dir=tmp_path)
    assert result.original_path.parent == tmp_path
    assert result.original_path.read_bytes() == jpeg
    result.discard()
    result.discard()
    assert list(tmp_path.iterdir()) == []


def test_image_rejected_only_takes_photo_codes():
    with pytest.raises(ValueError):
        ImageRejected("auth.required")
