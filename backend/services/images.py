"""Photo validation and processing: an upload in, a checked original and JPEG derivatives out.

Pure: no Flask, no database, no configuration reads. The caller passes the limits (from
``PHOTO_MAX_BYTES`` and ``PHOTO_MAX_PIXELS``) and owns the temp file holding the original.

What is accepted is decided by content, never by file name:

* the first bytes must be the magic number of JPEG, PNG or WebP; other image formats (GIF,
  HEIC, TIFF, BMP…) are ``photo.unsupported_format``, anything else ``photo.not_image``;
* the file's own structure is walked (JPEG segments and entropy-coded data up to EOI, PNG
  chunks up to IEND, the RIFF length of WebP) before Pillow sees it. A missing end is
  ``photo.truncated``. Data after the end is ``photo.polyglot`` unless it is only padding
  (NUL, 0xFF or whitespace, at most ``TRAILING_PADDING_TOLERANCE`` bytes) or, for a JPEG that
  declares a Multi-Picture (MPF) index, further complete JPEG streams (phones store depth maps
  and gain maps this way). Metadata segments carrying HTML or PHP markup are polyglots too;
* the pixel count read from the header is checked before anything is decoded, and Pillow's
  own decompression-bomb error or warning is turned into ``photo.too_many_pixels``.

The derivatives are decoded through JPEG draft mode (DCT scaling), so a 12 MP photo is decoded
at about 1000 px and never held at full size.

The HTTP layer can receive an upload straight into an ``UploadSpool`` (counted, hashed and
written to the temp file as the bytes arrive) and pass that to ``process_upload``, so a photo
is written to disk once and hashed once.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import math
import os
import re
import struct
import tempfile
import warnings
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import IO, Any

import imagehash
from PIL import Image, ImageCms, UnidentifiedImageError

from backend.errors import DomainError
from backend.services.clock import CHINA_TZ

DEFAULT_MAX_BYTES = 15 * 1024 * 1024
DEFAULT_MAX_PIXELS = 40_000_000
DISPLAY_MAX_PX = 1000
THUMB_MAX_PX = 320
JPEG_QUALITY = 82
# Phones in China stamp EXIF times in local time and rarely write OffsetTimeOriginal.
# Padding some encoders leave after the end marker; anything else there is a polyglot.
TRAILING_PADDING_TOLERANCE = 64 * 1024
# Stray bytes between JPEG segments that libjpeg would skip with a warning.
JPEG_EXTRANEOUS_TOLERANCE = 16
MAX_EMBEDDED_JPEGS = 8

_SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))
MIME_BY_FORMAT = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"}
# Large reads: the upload is copied, hashed and scanned in a few Python iterations.
_CHUNK = 1024 * 1024
_PADDING = b"\x00\xff \t\r\n"
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_MARKUP_RE = re.compile(rb"<\s*(?:script|html|body|iframe)\b|<\?php", re.IGNORECASE)
# In entropy-coded data 0xFF is followed by 0x00 (stuffing), a restart marker or more 0xFF
# (fill); the last 0xFF of a fill run is the one that matches. No leading \xff+: it makes
# the search ~30 times slower.
_JPEG_MARKER_RE = re.compile(rb"\xff[^\x00\xd0-\xd7\xff]")
_JPEG_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}
_RESIZABLE_MODES = {"RGB", "RGBA", "L", "LA", "CMYK"}
_PNG_TEXT_CHUNKS = {b"tEXt", b"iTXt", b"zTXt", b"eXIf"}
_WEBP_META_CHUNKS = {b"XMP ", b"EXIF"}
# EXIF orientation -> the transpose that makes the picture upright.
_ORIENTATION_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
_OTHER_IMAGE_MAGIC = (
    b"GIF87a",
    b"GIF89a",
    b"BM",
    b"II*\x00",
    b"MM\x00*",
    b"\x00\x00\x01\x00",  # ICO
    b"8BPS",  # Photoshop
    b"\xff\x0a",  # JPEG XL codestream
    b"\x00\x00\x00\x0cJXL ",
    b"\x00\x00\x00\x0cjP  ",  # JPEG 2000
)
_ISOBMFF_IMAGE_BRANDS = {b"heic", b"heix", b"hevc", b"heim", b"heis", b"mif1", b"msf1", b"avif"}

_EXIF_IFD = 0x8769
_GPS_IFD = 0x8825
_TAG_ORIENTATION = 0x0112
_TAG_DATETIME_ORIGINAL = 0x9003
_TAG_DATETIME_DIGITIZED = 0x9004
_TAG_OFFSET_TIME_ORIGINAL = 0x9011


class ImageRejected(DomainError):
    """An upload that is not a photo we keep; ``code`` is one of the ``photo.*`` codes."""

    def __init__(
        self, code: str, message_zh: str | None = None, *, details: dict[str, Any] | None = None
    ) -> None:
        if not code.startswith("photo."):
            raise ValueError(f"{code!r} is not a photo.* code")
        super().__init__(code, message_zh, details=details)

    @property
    def message_zh(self) -> str:
        """The Chinese message shown to the person who uploaded."""
        return self.message


@dataclass
class ProcessedImage:
    """A validated photo: the untouched original in a temp file plus its JPEG derivatives."""

    # width/height are the upright (EXIF-oriented) size of the original. The caller owns
    # original_path and must store or delete it (discard(), or use the object with "with").

    sha256: str
    mime: str
    width: int
    height: int
    size_bytes: int
    exif_taken_at: datetime | None
    exif_lat: float | None
    exif_lon: float | None
    phash: str
    display_jpeg: bytes
    thumb_jpeg: bytes
    original_path: Path

    @property
    def extension(self) -> str:
        """The file extension matching the original's format, without the dot."""
        return {"image/jpeg": "jpg", "image/png": "png", "image/webp": "webp"}[self.mime]

    def discard(self) -> None:
        """Delete the temp file holding the original (idempotent)."""
        self.original_path.unlink(missing_ok=True)

    def __enter__(self) -> ProcessedImage:
        """Use as a context manager that discards the temp file on exit."""
        return self

    def __exit__(self, *exc_info: object) -> None:
        """Discard the temp file."""
        self.discard()


@dataclass(frozen=True)
class _Layout:
    fmt: str
    width: int
    height: int


def process_upload(
    source: IO[bytes] | bytes | bytearray | UploadSpool,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    tmp_dir: str | os.PathLike[str] | None = None,
    default_tz: timezone = CHINA_TZ,
) -> ProcessedImage:
    """Validate an uploaded photo by content and make its display copy, thumbnail and hashes."""
    # ``source`` may be an UploadSpool the upload was received into: it is used as it is.
    path, sha256, size = _stream_to_temp(source, max_bytes, tmp_dir)
    try:
        return _process_file(path, sha256, size, max_pixels, default_tz)
    except BaseException:
        path.unlink(missing_ok=True)
        raise


def phash_distance(a: str, b: str) -> int:
    """Hamming distance between two hex perceptual hashes (0 = same picture)."""
    return (int(a, 16) ^ int(b, 16)).bit_count()


def sniff_format(head: bytes) -> str:
    """Return JPEG, PNG or WEBP from a file's first bytes, or raise ImageRejected."""
    if head.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if head.startswith(_PNG_SIGNATURE):
        return "PNG"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WEBP"
    if head.startswith(_OTHER_IMAGE_MAGIC) or (
        head[4:8] == b"ftyp" and head[8:12] in _ISOBMFF_IMAGE_BRANDS
    ):
        raise ImageRejected("photo.unsupported_format")
    if head.lstrip()[:4].lower() == b"<svg":
        raise ImageRejected("photo.unsupported_format")
    raise ImageRejected("photo.not_image")


# --- streaming --------------------------------------------------------------------------------


class UploadSpool:
    """An upload being received: counted, hashed and written to a temp file as bytes arrive."""

    # The HTTP layer writes a request body's file part straight into one of these, so the
    # upload is on disk once and hashed once; process_upload then takes the spool as its
    # source. Too large is refused at the byte that crosses the limit, junk at byte 16.

    def __init__(
        self,
        *,
        max_bytes: int = DEFAULT_MAX_BYTES,
        tmp_dir: str | os.PathLike[str] | None = None,
    ) -> None:
        fd, name = tempfile.mkstemp(prefix="hhq-photo-", suffix=".upload", dir=tmp_dir)
        self.path = Path(name)
        self.max_bytes = max_bytes
        self.size = 0
        self._file: IO[bytes] | None = os.fdopen(fd, "wb")
        self._digest = hashlib.sha256()
        self._head = b""

    def write(self, data: bytes) -> int:
        """Append ``data``; raise ImageRejected (and delete the file) when it must be refused."""
        if self._file is None:
            raise ValueError("this upload spool is closed")
        try:
            if len(self._head) < 16:
                self._head += data[: 16 - len(self._head)]
                if len(self._head) == 16:
                    # Refuse junk at once instead of copying megabytes of it first.
                    sniff_format(self._head)
            self.size += len(data)
            if self.size > self.max_bytes:
                raise _too_large(self.max_bytes)
            self._digest.update(data)
            self._file.write(data)
        except BaseException:
            self.discard()
            raise
        return len(data)

    def finish(self) -> tuple[Path, str, int]:
        """Close the file; return (path, sha256, size). The caller then owns the file."""
        if self._file is None:
            raise ValueError("this upload spool is closed")
        try:
            self._file.close()
            self._file = None
            if self.size == 0:
                raise ImageRejected("photo.not_image")
            if len(self._head) < 16:
                sniff_format(self._head)
        except BaseException:
            self.discard()
            raise
        return self.path, self._digest.hexdigest(), self.size

    def discard(self) -> None:
        """Close and delete the temp file (idempotent)."""
        if self._file is not None:
            with contextlib.suppress(OSError):
                self._file.close()
            self._file = None
        self.path.unlink(missing_ok=True)


def _stream_to_temp(
    source: IO[bytes] | bytes | bytearray | UploadSpool,
    max_bytes: int,
    tmp_dir: str | os.PathLike[str] | None,
) -> tuple[Path, str, int]:
    if isinstance(source, UploadSpool):
        path, sha256, size = source.finish()
        if size > max_bytes:
            path.unlink(missing_ok=True)
            raise _too_large(max_bytes)
        return path, sha256, size
    if isinstance(source, bytes | bytearray):
        source = io.BytesIO(source)
    spool = UploadSpool(max_bytes=max_bytes, tmp_dir=tmp_dir)
    try:
        while chunk := source.read(_CHUNK):
            spool.write(chunk)
    except BaseException:
        spool.discard()
        raise
    return spool.finish()


def _too_large(max_bytes: int) -> ImageRejected:
    mb = max_bytes / (1024 * 1024)
    limit = f"{mb:.0f} MB" if mb >= 1 else f"{max_bytes} 字节"
    return ImageRejected(
        "photo.too_large",
        f"照片文件过大，单张不能超过 {limit}。",
        details={"max_bytes": max_bytes},
    )


# --- structure walk ---------------------------------------------------------------------------


def _read_exact(f: IO[bytes], n: int) -> bytes:
    data = f.read(n)
    if len(data) != n:
        raise ImageRejected("photo.truncated")
    return data


def _check_markup(data: bytes) -> None:
    if _MARKUP_RE.search(data):
        raise ImageRejected("photo.polyglot")


def _walk_structure(f: IO[bytes], size: int) -> _Layout:
    head = f.read(16)
    fmt = sniff_format(head)
    if fmt == "JPEG":
        end, width, height, has_mpf = _walk_jpeg(f, 0)
        if has_mpf:
            for _ in range(MAX_EMBEDDED_JPEGS):
                f.seek(end)
                if f.read(3) != b"\xff\xd8\xff":
                    break
                end = _walk_jpeg(f, end)[0]
    elif fmt == "PNG":
        end, width, height = _walk_png(f, size)
    else:
        end, width, height = _walk_webp(f, size)
    _check_trailing(f, end, size)
    if width <= 0 or height <= 0:
        raise ImageRejected("photo.corrupt")
    return _Layout(fmt, width, height)


def _check_trailing(f: IO[bytes], end: int, size: int) -> None:
    trailing = size - end
    if trailing <= 0:
        return
    if trailing > TRAILING_PADDING_TOLERANCE:
        raise ImageRejected("photo.polyglot", details={"trailing_bytes": trailing})
    f.seek(end)
    if f.read(trailing).strip(_PADDING):
        raise ImageRejected("photo.polyglot", details={"trailing_bytes": trailing})


def _walk_jpeg(f: IO[bytes], start: int) -> tuple[int, int, int, bool]:
    """Walk one JPEG stream from SOI to EOI; return (end offset, width, height, has MPF)."""
    f.seek(start)
    if f.read(2) != b"\xff\xd8":
        raise ImageRejected("photo.corrupt")
    width = height = 0
    has_mpf = False
    extraneous = 0
    while True:
        byte = f.read(1)
        if not byte:
            raise ImageRejected("photo.truncated")
        if byte != b"\xff":
            extraneous += 1
            if extraneous > JPEG_EXTRANEOUS_TOLERANCE:
                raise ImageRejected("photo.polyglot")
            continue
        marker_byte = f.read(1)
        while marker_byte == b"\xff":
            marker_byte = f.read(1)
        if not marker_byte:
            raise ImageRejected("photo.truncated")
        marker = marker_byte[0]
        if marker == 0xD9:
            if not width:
                raise ImageRejected("photo.corrupt")
            return f.tell(), width, height, has_mpf
        if 0xD0 <= marker <= 0xD7 or marker == 0x01:
            continue
        if marker in (0x00, 0xD8):
            raise ImageRejected("photo.corrupt")
        (length,) = struct.unpack(">H", _read_exact(f, 2))
        if length < 2:
            raise ImageRejected("photo.corrupt")
        body = _read_exact(f, length - 2)
        if marker in _JPEG_SOF and not width:
            if len(body) < 5:
                raise ImageRejected("photo.corrupt")
            height, width = struct.unpack(">HH", body[1:5])
        elif 0xE0 <= marker <= 0xEF or marker == 0xFE:
            _check_markup(body)
            if marker == 0xE2 and body.startswith(b"MPF\x00"):
                has_mpf = True
        elif marker == 0xDA:
            _skip_entropy_coded(f)


def _skip_entropy_coded(f: IO[bytes]) -> None:
    """Leave ``f`` at the 0xFF of the first real marker after a scan's entropy-coded data."""
    pos = f.tell()
    while True:
        chunk = f.read(_CHUNK)
        match = _JPEG_MARKER_RE.search(chunk)
        if match:
            f.seek(pos + match.start())
            return
        if len(chunk) < _CHUNK:
            raise ImageRejected("photo.truncated")
        # A marker may straddle two reads: start the next one on a trailing 0xFF.
        pos += len(chunk) - (1 if chunk.endswith(b"\xff") else 0)
        f.seek(pos)


def _walk_png(f: IO[bytes], size: int) -> tuple[int, int, int]:
    f.seek(len(_PNG_SIGNATURE))
    width = height = 0
    first = True
    while True:
        length, ctype = struct.unpack(">I4s", _read_exact(f, 8))
        if length > 0x7FFFFFFF or not ctype.isalpha():
            raise ImageRejected("photo.corrupt")
        if first:
            if ctype != b"IHDR" or length != 13:
                raise ImageRejected("photo.corrupt")
            width, height = struct.unpack(">II", _read_exact(f, 8))
            f.seek(length - 8 + 4, os.SEEK_CUR)
            first = False
        elif ctype in _PNG_TEXT_CHUNKS:
            _check_markup(_read_exact(f, length))
            f.seek(4, os.SEEK_CUR)
        else:
            f.seek(length + 4, os.SEEK_CUR)
        if f.tell() > size:
            raise ImageRejected("photo.truncated")
        if ctype == b"IEND":
            return f.tell(), width, height


def _walk_webp(f: IO[bytes], size: int) -> tuple[int, int, int]:
    f.seek(4)
    (riff_size,) = struct.unpack("<I", _read_exact(f, 4))
    end = 8 + riff_size + (riff_size & 1)
    if end > size:
        raise ImageRejected("photo.truncated")
    f.seek(12)
    width = height = 0
    while f.tell() + 8 <= end:
        fourcc, length = struct.unpack("<4sI", _read_exact(f, 8))
        padded = length + (length & 1)
        if f.tell() + padded > end:
            raise ImageRejected("photo.truncated")
        if fourcc == b"VP8X" and length >= 10:
            data = _read_exact(f, 10)
            width = 1 + int.from_bytes(data[4:7], "little")
            height = 1 + int.from_bytes(data[7:10], "little")
            f.seek(padded - 10, os.SEEK_CUR)
        elif fourcc == b"VP8 " and length >= 10 and not width:
            data = _read_exact(f, 10)
            if data[3:6] != b"\x9d\x01\x2a":
                raise ImageRejected("photo.corrupt")
            width = int.from_bytes(data[6:8], "little") & 0x3FFF
            height = int.from_bytes(data[8:10], "little") & 0x3FFF
            f.seek(padded - 10, os.SEEK_CUR)
        elif fourcc == b"VP8L" and length >= 5 and not width:
            data = _read_exact(f, 5)
            if data[0] != 0x2F:
                raise ImageRejected("photo.corrupt")
            bits = int.from_bytes(data[1:5], "little")
            width = (bits & 0x3FFF) + 1
            height = ((bits >> 14) & 0x3FFF) + 1
            f.seek(padded - 5, os.SEEK_CUR)
        elif fourcc in _WEBP_META_CHUNKS:
            _check_markup(_read_exact(f, length))
            f.seek(padded - length, os.SEEK_CUR)
        else:
            f.seek(padded, os.SEEK_CUR)
    return end, width, height


# --- decoding and derivatives -----------------------------------------------------------------


def _check_pixels(width: int, height: int, max_pixels: int) -> None:
    if width * height > max_pixels:
        raise ImageRejected(
            "photo.too_many_pixels",
            f"照片像素过多（{width}×{height}），请缩小后再上传。",
            details={"width": width, "height": height, "max_pixels": max_pixels},
        )


def _bomb(exc: Exception, max_pixels: int) -> ImageRejected:
    return ImageRejected(
        "photo.too_many_pixels",
        details={"max_pixels": max_pixels, "reason": str(exc)[:200]},
    )


def _process_file(
    path: Path, sha256: str, size: int, max_pixels: int, default_tz: timezone
) -> ProcessedImage:
    with open(path, "rb") as f:
        layout = _walk_structure(f, size)
        # Checked on the header's numbers, before Pillow allocates or decodes anything.
        _check_pixels(layout.width, layout.height, max_pixels)
        f.seek(0)
        # catch_warnings is process-wide; the pixel check above means Pillow's warning only
        # fires when PHOTO_MAX_PIXELS is set above Image.MAX_IMAGE_PIXELS.
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            try:
                img = Image.open(f, formats=[layout.fmt])
            except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
                raise _bomb(exc, max_pixels) from exc
            except (UnidentifiedImageError, OSError, SyntaxError, ValueError, struct.error) as exc:
                raise ImageRejected("photo.corrupt") from exc
        with img:
            return _derive(img, layout, sha256, size, path, max_pixels, default_tz)


def _derive(
    img: Image.Image,
    layout: _Layout,
    sha256: str,
    size: int,
    path: Path,
    max_pixels: int,
    default_tz: timezone,
) -> ProcessedImage:
    width, height = img.size
    _check_pixels(width, height, max_pixels)
    if layout.fmt == "JPEG":
        scale = DISPLAY_MAX_PX / max(width, height)
        if scale < 1:
            # Ask libjpeg for the smallest DCT scale still at least the display size.
            img.draft("RGB", (max(1, int(width * scale)), max(1, int(height * scale))))
    try:
        img.load()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise _bomb(exc, max_pixels) from exc
    except OSError as exc:
        code = "photo.truncated" if "truncated" in str(exc) else "photo.corrupt"
        raise ImageRejected(code) from exc
    except (SyntaxError, ValueError, struct.error, EOFError) as exc:
        raise ImageRejected("photo.corrupt") from exc
    # After load(): PNG's getexif() loads the image itself and would hide decoding errors.
    orientation, taken_at, lat, lon = _read_exif(img, default_tz)

    work = img
    if work.mode not in _RESIZABLE_MODES:
        work = _to_rgb(work)
    # Shrink before converting so a large PNG is never copied at full size.
    display = _to_rgb(_fit(work, DISPLAY_MAX_PX), reuse=True)
    if orientation in _ORIENTATION_TRANSPOSE:
        display = display.transpose(_ORIENTATION_TRANSPOSE[orientation])
        if orientation >= 5:
            width, height = height, width
    # The pHash comes from the thumbnail: a 32x32 grey resize of 320 px costs nothing.
    # Area averaging nearly all the way suits a 320 px thumbnail (and leaves its pHash as
    # it was); the display copy keeps a longer Lanczos.
    thumb = _fit(display, THUMB_MAX_PX, reducing_gap=1.0)
    return ProcessedImage(
        sha256=sha256,
        mime=MIME_BY_FORMAT[layout.fmt],
        width=width,
        height=height,
        size_bytes=size,
        exif_taken_at=taken_at,
        exif_lat=lat,
        exif_lon=lon,
        phash=str(imagehash.phash(thumb)),
        display_jpeg=_encode_jpeg(display),
        thumb_jpeg=_encode_jpeg(thumb),
        original_path=path,
    )


def _to_rgb(img: Image.Image, *, reuse: bool = False) -> Image.Image:
    """An RGB copy in sRGB, transparency flattened onto white, no metadata carried along."""
    # reuse: the caller is done with ``img``, so an RGB image needing nothing is returned
    # itself (stripped of its metadata) instead of copied.
    icc = img.info.get("icc_profile")
    out: Image.Image | None = None
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        out = Image.new("RGB", rgba.size, (255, 255, 255))
        out.paste(rgba, mask=rgba.getchannel("A"))
    elif img.mode in ("I;16", "I;16B", "I;16L", "I"):
        out = img.convert("I").point(lambda v: v / 256).convert("L").convert("RGB")
    elif icc and img.mode in ("RGB", "CMYK"):
        out = _to_srgb(img, icc)
    if out is None:
        out = img.convert("RGB") if img.mode != "RGB" else (img if reuse else img.copy())
    out.info = {}
    return out


def _to_srgb(img: Image.Image, icc: bytes) -> Image.Image | None:
    # Phones tag photos Display P3; dropping the profile without converting dulls colours.
    try:
        source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        if "srgb" in ImageCms.getProfileDescription(source).lower() and img.mode == "RGB":
            return None
        return ImageCms.profileToProfile(img, source, _SRGB, outputMode="RGB")
    except (ImageCms.PyCMSError, OSError, ValueError, TypeError):
        return None


def _fit_size(size: tuple[int, int], max_px: int) -> tuple[int, int]:
    """The largest size of the same aspect within max_px x max_px (Image.thumbnail's rounding)."""
    width, height = size
    aspect = width / height
    if width >= height:
        candidates = (math.floor(max_px / aspect), math.ceil(max_px / aspect))
        return max_px, max(1, min(candidates, key=lambda n: abs(aspect - max_px / n) if n else 9))
    candidates = (math.floor(max_px * aspect), math.ceil(max_px * aspect))
    return max(1, min(candidates, key=lambda n: abs(aspect - n / max_px))), max_px


def _fit(img: Image.Image, max_px: int, *, reducing_gap: float = 1.5) -> Image.Image:
    """``img`` shrunk to fit max_px x max_px, or ``img`` itself when it already fits."""
    if max(img.size) <= max_px:
        return img
    size = _fit_size(img.size, max_px)
    if max(img.size) <= max_px * 1.1:
        # A sliver left after DCT scaling (a 4032 px photo decodes at 1008 px): an area
        # average is as good as Lanczos here and costs a third.
        return img.resize(size, Image.Resampling.BOX)
    # Box-reduce by a whole factor first, then Lanczos over what is left (less than
    # 2 x reducing_gap): a fraction of the cost of a Lanczos over the whole image.
    return img.resize(size, Image.Resampling.LANCZOS, reducing_gap=reducing_gap)


def _encode_jpeg(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    # Baseline with optimised Huffman tables: as small as progressive at this size and
    # twice as fast to encode. No exif/icc/comment arguments: derivatives carry no metadata.
    img.save(buf, "JPEG", quality=JPEG_QUALITY, optimize=True)
    return buf.getvalue()


# --- EXIF -------------------------------------------------------------------------------------


def _read_exif(
    img: Image.Image, default_tz: timezone
) -> tuple[int, datetime | None, float | None, float | None]:
    """(orientation, DateTimeOriginal, latitude, longitude); malformed EXIF never rejects."""
    try:
        exif = img.getexif()
    except Exception:  # Pillow raises many types on broken EXIF; the photo is still good.
        return 1, None, None, None
    orientation = 1
    with contextlib.suppress(TypeError, ValueError):
        orientation = int(exif.get(_TAG_ORIENTATION) or 1)
    taken_at = lat = lon = None
    try:
        sub = exif.get_ifd(_EXIF_IFD)
        raw = sub.get(_TAG_DATETIME_ORIGINAL) or sub.get(_TAG_DATETIME_DIGITIZED)
        taken_at = _parse_exif_datetime(raw, sub.get(_TAG_OFFSET_TIME_ORIGINAL), default_tz)
    except Exception:
        taken_at = None
    try:
        lat, lon = _parse_gps(exif.get_ifd(_GPS_IFD))
    except Exception:
        lat = lon = None
    return orientation, taken_at, lat, lon


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        value = value.decode("ascii", "ignore")
    return str(value).strip("\x00 ")


def _parse_exif_datetime(raw: Any, offset: Any, default_tz: timezone) -> datetime | None:
    if not raw:
        return None
    try:
        naive = datetime.strptime(_text(raw)[:19], "%Y:%m:%d %H:%M:%S")
    except ValueError:
        return None
    tz = default_tz
    if offset:
        match = re.fullmatch(r"([+-])(\d{2}):(\d{2})", _text(offset))
        if match:
            delta = timedelta(hours=int(match[2]), minutes=int(match[3]))
            tz = timezone(-delta if match[1] == "-" else delta)
    return naive.replace(tzinfo=tz)


def _dms_to_degrees(dms: Any, ref: Any, limit: float) -> float | None:
    if not dms or len(dms) != 3:
        return None
    degrees = float(dms[0]) + float(dms[1]) / 60 + float(dms[2]) / 3600
    if degrees != degrees or not 0 <= degrees <= limit:  # NaN from a 0 denominator
        return None
    return -degrees if _text(ref).upper() in ("S", "W") else degrees


def _parse_gps(gps: dict) -> tuple[float | None, float | None]:
    lat = _dms_to_degrees(gps.get(2), gps.get(1), 90.0)
    lon = _dms_to_degrees(gps.get(4), gps.get(3), 180.0)
    if lat is None or lon is None or (lat == 0 and lon == 0):
        # Phones without a fix write 0/0: that is no position, not the Gulf of Guinea.
        return None, None
    return round(lat, 7), round(lon, 7)
