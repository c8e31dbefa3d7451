"""Benchmark the photo pipeline: N 12-megapixel JPEGs through process_upload in one process.

    python scripts/bench/photo_bench.py [-n 30] [--width 4000 --height 3000] [--quality 90]

One child process makes a noisy, photo-like JPEG (4000x3000, a few MB) in memory and writes
it to a temp file; a second child streams it N times through the pipeline. The parent stays
small because Linux carries the pre-exec peak into a child's ru_maxrss: this way the peak RSS
reported (getrusage ru_maxrss, cross-checked with /proc VmHWM) is the pipeline's alone.
"""

from __future__ import annotations

import argparse
import io
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))


def make_photo_image(width: int, height: int, seed: int = 7):
    """A photo-like picture: shapes and gradients at low resolution, sensor noise at full size."""
    from PIL import Image, ImageDraw, ImageFilter

    rng = random.Random(seed)
    small = (max(1, width // 4), max(1, height // 4))
    base = Image.linear_gradient("L").resize(small).convert("RGB")
    draw = ImageDraw.Draw(base)
    for _ in range(40):
        x0, y0 = rng.randrange(small[0]), rng.randrange(small[1])
        x1, y1 = x0 + rng.randrange(small[0] // 2), y0 + rng.randrange(small[1] // 2)
        fill = tuple(rng.randrange(256) for _ in range(3))
        (draw.ellipse if rng.random() < 0.5 else draw.rectangle)((x0, y0, x1, y1), fill=fill)
    base = base.filter(ImageFilter.GaussianBlur(3)).resize((width, height), Image.BICUBIC)
    noise = Image.merge("RGB", [Image.effect_noise((width, height), 40) for _ in range(3)])
    return Image.blend(base, noise, 0.18)


def make_photo_jpeg(width: int, height: int, quality: int, seed: int = 7) -> bytes:
    """A photo-like JPEG (see make_photo_image), encoded as a phone would: baseline 4:2:0."""
    buf = io.BytesIO()
    make_photo_image(width, height, seed).save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far, in MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def vm_hwm_mb() -> float:
    """Peak RSS of this process image from /proc/self/status (0 where unavailable)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def current_rss_mb() -> float:
    """Current resident set size in MiB, from /proc (0 where unavailable)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:
        return 0.0


def worker(path: Path, count: int, max_bytes: int) -> None:
    """Process the photo ``count`` times and print the figures."""
    from backend.services.images import process_upload

    rss_imported = current_rss_mb()
    tmp_dir = tempfile.mkdtemp(prefix="hhq-bench-")
    with open(path, "rb") as f, process_upload(f, max_bytes=max_bytes, tmp_dir=tmp_dir) as first:
        pass  # warm-up: the first call loads scipy's DCT for the perceptual hash
    rss_warm = current_rss_mb()
    durations = []
    started = time.perf_counter()
    for _ in range(count):
        t0 = time.perf_counter()
        with open(path, "rb") as f, process_upload(f, max_bytes=max_bytes, tmp_dir=tmp_dir) as p:
            assert p.sha256 == first.sha256
        durations.append(time.perf_counter() - t0)
    elapsed = time.perf_counter() - started
    os.rmdir(tmp_dir)
    size_mb = path.stat().st_size / 2**20
    print(f"photo:            {first.width}x{first.height} JPEG, {size_mb:.2f} MiB")
    print(
        f"derivatives:      display {len(first.display_jpeg) / 1024:.0f} KiB, "
        f"thumb {len(first.thumb_jpeg) / 1024:.0f} KiB, phash {first.phash}"
    )
    print(f"photos processed: {count} in {elapsed:.2f} s")
    print(f"throughput:       {count / elapsed:.2f} photos/s (one process, one thread)")
    print(
        f"per photo:        mean {statistics.mean(durations) * 1000:.0f} ms, "
        f"median {statistics.median(durations) * 1000:.0f} ms, "
        f"max {max(durations) * 1000:.0f} ms"
    )
    print(
        f"RSS after import: {rss_imported:.1f} MiB; after warm-up {rss_warm:.1f} MiB; "
        f"now {current_rss_mb():.1f} MiB"
    )
    print(
        f"peak RSS:         {peak_rss_mb():.1f} MiB (getrusage ru_maxrss; VmHWM {vm_hwm_mb():.1f})"
    )


def main() -> None:
    """Generate the test photo, then benchmark it in a clean child process."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", "--count", type=int, default=30)
    parser.add_argument("--width", type=int, default=4000)
    parser.add_argument("--height", type=int, default=3000)
    parser.add_argument("--quality", type=int, default=94)
    parser.add_argument("--max-bytes", type=int, default=20 * 1024 * 1024)
    parser.add_argument("--worker", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--generate", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker, args.count, args.max_bytes)
        return
    if args.generate:
        args.generate.write_bytes(make_photo_jpeg(args.width, args.height, args.quality))
        return
    fd, name = tempfile.mkstemp(prefix="hhq-bench-", suffix=".jpg")
    os.close(fd)
    try:
        size = ["--width", str(args.width), "--height", str(args.height)]
        subprocess.run(
            [sys.executable, __file__, "--generate", name, *size, "--quality", str(args.quality)],
            check=True,
        )
        cmd = [sys.executable, __file__, "--worker", name, "-n", str(args.count)]
        subprocess.run([*cmd, "--max-bytes", str(args.max_bytes)], check=True)
    finally:
        os.unlink(name)


if __name__ == "__main__":
    main()
