"""Coordinates: WGS-84 ↔ GCJ-02 conversion, great-circle distance and validation.

WeChat's ``wx.getLocation`` returns GCJ-02 (the obfuscated datum every map inside China uses)
unless asked for ``wgs84``; we store WGS-84 so that distances are honest and exports match
survey-grade data.

GCJ-02 → WGS-84 has no closed form. ``gcj02_to_wgs84`` inverts the forward transform
numerically: it starts from the usual one-step approximation (error up to a few metres) and
refines by fixed-point iteration ``w ← w − (forward(w) − g)``. The forward shift changes very
slowly with position (its Jacobian is within a few 1e-3 of the identity), so every step gains
two to three digits; three or four evaluations of the shift reach the 1e-9° tolerance (~0.1 mm).

"Inside China" is the customary rough bounding box (longitude 72.004–137.8347°E, latitude
0.8293–55.8271°N) used by every published implementation. It is a box, not a border: Seoul,
Ulaanbaatar and Hanoi fall inside it and are shifted, Tokyo and Paris are not. Households are all
in China, so the box only matters for obviously wrong input. Within ~0.01° of the box edge
(open sea and desert) the forward map is discontinuous and the inverse is the inverse of the
unboxed shift.
"""

from __future__ import annotations

import math

# Krasovsky 1940 ellipsoid, as used by the GCJ-02 algorithm.
_A = 6378245.0
_EE = 0.00669342162296594323

# Rough bounding box of mainland China used by the published implementations.
CHINA_MIN_LON = 72.004
CHINA_MAX_LON = 137.8347
CHINA_MIN_LAT = 0.8293
CHINA_MAX_LAT = 55.8271

# Mean Earth radius (IUGG), metres: haversine error is below 0.5 % anywhere on the globe.
EARTH_RADIUS_M = 6_371_008.8

_INVERSE_TOLERANCE_DEG = 1e-9
_INVERSE_MAX_ITERATIONS = 30

WGS84 = "wgs84"
GCJ02 = "gcj02"
COORDINATE_SYSTEMS = (WGS84, GCJ02)


def out_of_china(lat: float, lon: float) -> bool:
    """True when the point is outside the rough China bounding box and therefore not shifted."""
    return not (CHINA_MIN_LON <= lon <= CHINA_MAX_LON and CHINA_MIN_LAT <= lat <= CHINA_MAX_LAT)


def _shift(lat: float, lon: float) -> tuple[float, float]:
    """The GCJ-02 offset (dlat, dlon) in degrees at a WGS-84 point, ignoring the bounding box."""
    x = lon - 105.0
    y = lat - 35.0
    x_pi = x * math.pi
    y_pi = y * math.pi
    common = 20.0 * math.sin(6.0 * x_pi) + 20.0 * math.sin(2.0 * x_pi)

    d_lat = common + 20.0 * math.sin(y_pi) + 40.0 * math.sin(y_pi / 3.0)
    d_lat += 160.0 * math.sin(y_pi / 12.0) + 320.0 * math.sin(y_pi / 30.0)
    d_lat *= 2.0 / 3.0
    d_lat += -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * math.sqrt(abs(x))

    d_lon = common + 20.0 * math.sin(x_pi) + 40.0 * math.sin(x_pi / 3.0)
    d_lon += 150.0 * math.sin(x_pi / 12.0) + 300.0 * math.sin(x_pi / 30.0)
    d_lon *= 2.0 / 3.0
    d_lon += 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * math.sqrt(abs(x))

    rad_lat = lat / 180.0 * math.pi
    magic = 1.0 - _EE * math.sin(rad_lat) ** 2
    sqrt_magic = math.sqrt(magic)
    d_lat = (d_lat * 180.0) / ((_A * (1.0 - _EE)) / (magic * sqrt_magic) * math.pi)
    d_lon = (d_lon * 180.0) / (_A / sqrt_magic * math.cos(rad_lat) * math.pi)
    return d_lat, d_lon


def wgs84_to_gcj02(lat: float, lon: float) -> tuple[float, float]:
    """Convert a WGS-84 (lat, lon) to GCJ-02; points outside China are returned unchanged."""
    if out_of_china(lat, lon):
        return lat, lon
    d_lat, d_lon = _shift(lat, lon)
    return lat + d_lat, lon + d_lon


def gcj02_to_wgs84(lat: float, lon: float) -> tuple[float, float]:
    """Convert a GCJ-02 (lat, lon) to WGS-84 exactly (iterative inverse, residual < 1e-9°)."""
    if out_of_china(lat, lon):
        return lat, lon
    d_lat, d_lon = _shift(lat, lon)
    w_lat, w_lon = lat - d_lat, lon - d_lon
    for _ in range(_INVERSE_MAX_ITERATIONS):
        d_lat, d_lon = _shift(w_lat, w_lon)
        err_lat = w_lat + d_lat - lat
        err_lon = w_lon + d_lon - lon
        if abs(err_lat) < _INVERSE_TOLERANCE_DEG and abs(err_lon) < _INVERSE_TOLERANCE_DEG:
            break
        w_lat -= err_lat
        w_lon -= err_lon
    return w_lat, w_lon


def to_wgs84(lat: float, lon: float, coord: str) -> tuple[float, float]:
    """Bring a point reported in ``coord`` ('wgs84' or 'gcj02') to WGS-84."""
    if coord == WGS84:
        return lat, lon
    if coord == GCJ02:
        return gcj02_to_wgs84(lat, lon)
    raise ValueError(f"unknown coordinate system {coord!r}; expected one of {COORDINATE_SYSTEMS}")


def haversine_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in metres between two (lat, lon) points in degrees."""
    phi1 = math.radians(lat1)
    phi2 = math.radians(lat2)
    d_phi = phi2 - phi1
    d_lambda = math.radians(lon2 - lon1)
    h = math.sin(d_phi / 2.0) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(d_lambda / 2.0) ** 2
    # min() guards against h creeping past 1 by rounding for antipodal points.
    return 2.0 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))


def coordinate_problem(lat: float | None, lon: float | None) -> str | None:
    """Explain in Chinese why a (lat, lon) pair is unusable, or return None when it is valid."""
    if lat is None or lon is None:
        return "坐标无效：缺少纬度或经度"
    if isinstance(lat, bool) or isinstance(lon, bool):
        return "坐标无效：纬度和经度必须是数字"
    try:
        lat = float(lat)
        lon = float(lon)
    except (TypeError, ValueError):
        return "坐标无效：纬度和经度必须是数字"
    if not (math.isfinite(lat) and math.isfinite(lon)):
        return "坐标无效：纬度和经度必须是有限数字"
    if not -90.0 <= lat <= 90.0:
        return "坐标无效：纬度应在 -90 到 90 之间"
    if not -180.0 <= lon <= 180.0:
        return "坐标无效：经度应在 -180 到 180 之间"
    if lat == 0.0 and lon == 0.0:
        # (0, 0) is what a failed fix serialises to, not a place anyone visits.
        return "坐标无效：(0, 0) 不是有效位置，可能是定位失败"
    return None
