"""Photos a phone camera could have taken, made with Pillow.

Every picture has its own coarse colour layout (which is what a perceptual hash sees, so two
photos never look alike to the server's reuse search unless they are the same picture), a
caption, sensor noise, and EXIF DateTimeOriginal in China time. The same ``PhotoSpec`` always
renders the same bytes: a faked visit that reuses another household's photo sends exactly
those bytes again.
"""

from __future__ import annotations

import io
import random
from dataclasses import dataclass
from datetime import datetime

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from backend.services.clock import CHINA_TZ

PHOTO_SIZE = (640, 480)
GRID = (8, 6)  # coarse cells: the low frequencies a 64-bit pHash is made of
JPEG_QUALITY = 85
_EXIF_IFD = 0x8769
_TAG_DATETIME_ORIGINAL = 0x9003
_TAG_OFFSET_TIME_ORIGINAL = 0x9011
_TAG_MAKE, _TAG_MODEL = 0x010F, 0x0110


@dataclass(frozen=True)
class PhotoSpec:
    """What to draw: the randomness, the caption and the capture time (timezone-aware)."""

    seed: int
    caption: str
    taken_at: datetime


def render_photo(spec: PhotoSpec) -> bytes:
    """A JPEG for ``spec``: the same spec gives the same bytes."""
    rng = random.Random(spec.seed)
    width, height = PHOTO_SIZE
    cells = Image.new("RGB", GRID)
    cells.putdata([tuple(rng.randrange(256) for _ in range(3)) for _ in range(GRID[0] * GRID[1])])
    img = cells.resize(PHOTO_SIZE, Image.BICUBIC)
    draw = ImageDraw.Draw(img)
    for _ in range(6):  # walls, doors, a water tank: a few hard-edged blocks
        x0, y0 = rng.randrange(width), rng.randrange(height)
        box = (x0, y0, x0 + rng.randrange(20, width // 3), y0 + rng.randrange(20, height // 3))
        draw.rectangle(box, fill=tuple(rng.randrange(256) for _ in range(3)))
    font = ImageFont.load_default(size=22)
    draw.rectangle((0, height - 36, width, height), fill=(0, 0, 0))
    draw.text((10, height - 31), spec.caption, fill=(255, 255, 255), font=font)
    noise = np.random.default_rng(spec.seed).integers(0, 256, (height, width, 3), dtype=np.uint8)
    img = Image.blend(img, Image.fromarray(noise, "RGB"), 0.12)

    exif = Image.Exif()
    exif[_TAG_MAKE], exif[_TAG_MODEL] = "HHQ", "FieldSim"
    local = spec.taken_at.astimezone(CHINA_TZ)
    sub = exif.get_ifd(_EXIF_IFD)
    sub[_TAG_DATETIME_ORIGINAL] = local.strftime("%Y:%m:%d %H:%M:%S")
    sub[_TAG_OFFSET_TIME_ORIGINAL] = "+08:00"
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=JPEG_QUALITY, exif=exif)
    return buf.getvalue()
