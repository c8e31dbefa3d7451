"""Micro-benchmark: GCJ-02 → WGS-84 (and WGS-84 → GCJ-02) conversions per second.

Run from the repository root: ``.venv/bin/python scripts/bench/geo_bench.py [seconds]``.
"""

from __future__ import annotations

import importlib.util
import random
import sys
import time
from pathlib import Path

# Load geo.py by path: importing the ``backend`` package would build the whole Flask app and
# take longer than the benchmark itself. geo.py is pure and imports nothing from the project.
_GEO_PATH = Path(__file__).resolve().parents[2] / "backend" / "services" / "geo.py"
_spec = importlib.util.spec_from_file_location("hhq_geo_bench", _GEO_PATH)
assert _spec is not None and _spec.loader is not None
geo = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(geo)
gcj02_to_wgs84 = geo.gcj02_to_wgs84
wgs84_to_gcj02 = geo.wgs84_to_gcj02


def _points(n: int) -> list[tuple[float, float]]:
    """Random GCJ-02 points spread over China (fixed seed for repeatable runs)."""
    rng = random.Random(20240510)
    return [wgs84_to_gcj02(rng.uniform(18.0, 53.0), rng.uniform(74.0, 134.0)) for _ in range(n)]


def _rate(func, points: list[tuple[float, float]], budget_s: float) -> float:
    """Conversions per second of ``func`` over ``points``, repeated for about ``budget_s``."""
    done = 0
    start = time.perf_counter()
    while True:
        for lat, lon in points:
            func(lat, lon)
        done += len(points)
        elapsed = time.perf_counter() - start
        if elapsed >= budget_s:
            return done / elapsed


def main() -> None:
    """Print conversions per second for both directions."""
    budget = float(sys.argv[1]) if len(sys.argv) > 1 else 0.5
    points = _points(10_000)
    inverse = _rate(gcj02_to_wgs84, points, budget)
    forward = _rate(wgs84_to_gcj02, points, budget)
    print(f"gcj02_to_wgs84 (exact, iterative): {inverse:>12,.0f} conversions/s")
    print(f"wgs84_to_gcj02:                    {forward:>12,.0f} conversions/s")


if __name__ == "__main__":
    main()
