"""WGS-84 ↔ GCJ-02 conversion, distances and coordinate validation."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from backend.services import geo
from backend.services.geo import (
    coordinate_problem,
    gcj02_to_wgs84,
    haversine_m,
    out_of_china,
    to_wgs84,
    wgs84_to_gcj02,
)

# Published eviltransform test vectors: (wgs lat, wgs lng, gcj lat, gcj lng).
VECTORS = [
    (31.1774276, 121.5272106, 31.17530398364597, 121.531541859215),  # Shanghai
    (22.543847, 113.912316, 22.540796131694766, 113.9171764808363),  # Shenzhen
    (39.911954, 116.377817, 39.91334545536069, 116.38404722455657),  # Beijing
]

OUTSIDE = [
    (48.85, 2.35),  # Paris
    (-33.9, 151.2),  # Sydney
    (35.68, 139.69),  # Tokyo: east of the box's 137.8347°E edge
    (40.71, -74.0),  # New York
]


@pytest.mark.parametrize(("w_lat", "w_lon", "g_lat", "g_lon"), VECTORS)
def test_forward_matches_published_vectors(w_lat, w_lon, g_lat, g_lon):
    lat, lon = wgs84_to_gcj02(w_lat, w_lon)
    assert lat == pytest.approx(g_lat, abs=1e-9)
    assert lon == pytest.approx(g_lon, abs=1e-9)


@pytest.mark.parametrize(("w_lat", "w_lon", "g_lat", "g_lon"), VECTORS)
def test_inverse_of_published_vectors_is_sub_centimetre(w_lat, w_lon, g_lat, g_lon):
    lat, lon = gcj02_to_wgs84(g_lat, g_lon)
    assert lat == pytest.approx(w_lat, abs=1e-7)
    assert lon == pytest.approx(w_lon, abs=1e-7)
    assert haversine_m(lat, lon, w_lat, w_lon) < 0.01


@pytest.mark.parametrize(("w_lat", "w_lon", "g_lat", "g_lon"), VECTORS)
def test_inverse_residual_is_within_tolerance(w_lat, w_lon, g_lat, g_lon):
    lat, lon = wgs84_to_gcj02(*gcj02_to_wgs84(g_lat, g_lon))
    assert abs(lat - g_lat) < 1e-9
    assert abs(lon - g_lon) < 1e-9


def test_one_step_inverse_is_not_good_enough():
    # The reason for iterating: the naive inverse is metres off.
    g_lat, g_lon = VECTORS[0][2:]
    d_lat, d_lon = geo._shift(g_lat, g_lon)
    naive = (g_lat - d_lat, g_lon - d_lon)
    assert haversine_m(*naive, *VECTORS[0][:2]) > 0.1


@pytest.mark.parametrize(("lat", "lon"), OUTSIDE)
def test_points_outside_china_are_unchanged(lat, lon):
    assert out_of_china(lat, lon)
    assert wgs84_to_gcj02(lat, lon) == (lat, lon)
    assert gcj02_to_wgs84(lat, lon) == (lat, lon)


def test_bounding_box_is_rough():
    # Seoul lies inside the customary box and is shifted like a Chinese point: documented.
    assert not out_of_china(37.57, 126.98)
    assert wgs84_to_gcj02(37.57, 126.98) != (37.57, 126.98)


@pytest.mark.parametrize(
    ("lat", "lon", "outside"),
    [
        (geo.CHINA_MIN_LAT, geo.CHINA_MIN_LON, False),
        (geo.CHINA_MAX_LAT, geo.CHINA_MAX_LON, False),
        (geo.CHINA_MIN_LAT - 1e-6, 100.0, True),
        (geo.CHINA_MAX_LAT + 1e-6, 100.0, True),
        (30.0, geo.CHINA_MIN_LON - 1e-6, True),
        (30.0, geo.CHINA_MAX_LON + 1e-6, True),
    ],
)
def test_bounding_box_edges(lat, lon, outside):
    assert out_of_china(lat, lon) is outside


# Inset from the box by more than the largest shift (~0.01°) so both ends stay inside.
china_lat = st.floats(min_value=1.0, max_value=55.5, allow_nan=False)
china_lon = st.floats(min_value=72.5, max_value=137.5, allow_nan=False)


@settings(max_examples=500, deadline=None)
@given(lat=china_lat, lon=china_lon)
def test_inverse_undoes_forward_everywhere_in_china(lat, lon):
    g_lat, g_lon = wgs84_to_gcj02(lat, lon)
    w_lat, w_lon = gcj02_to_wgs84(g_lat, g_lon)
    assert abs(w_lat - lat) < 1e-7
    assert abs(w_lon - lon) < 1e-7


@settings(max_examples=200, deadline=None)
@given(lat=china_lat, lon=china_lon)
def test_shift_is_at_most_a_few_hundred_metres(lat, lon):
    assert haversine_m(lat, lon, *wgs84_to_gcj02(lat, lon)) < 1500


def test_to_wgs84():
    w_lat, w_lon, g_lat, g_lon = VECTORS[2]
    assert to_wgs84(w_lat, w_lon, "wgs84") == (w_lat, w_lon)
    lat, lon = to_wgs84(g_lat, g_lon, "gcj02")
    assert lat == pytest.approx(w_lat, abs=1e-7)
    assert lon == pytest.approx(w_lon, abs=1e-7)


def test_to_wgs84_rejects_unknown_system():
    with pytest.raises(ValueError, match="bd09"):
        to_wgs84(30.0, 110.0, "bd09")


def test_haversine_known_distances():
    assert haversine_m(30.0, 110.0, 30.0, 110.0) == 0.0
    # One degree of latitude on the mean sphere.
    assert haversine_m(0.0, 0.0, 1.0, 0.0) == pytest.approx(
        geo.EARTH_RADIUS_M * math.pi / 180, rel=1e-12
    )
    # Beijing ↔ Shanghai is about 1,067 km.
    assert haversine_m(39.9042, 116.4074, 31.2304, 121.4737) == pytest.approx(1_067_000, rel=0.01)
    # Antipodes: half the circumference, no math domain error (haversine is ill-conditioned
    # there, hence the looser tolerance; visits are metres to kilometres apart).
    assert haversine_m(10.0, 20.0, -10.0, -160.0) == pytest.approx(
        math.pi * geo.EARTH_RADIUS_M, rel=1e-7
    )


def test_haversine_is_symmetric():
    assert haversine_m(29.5, 106.5, 29.6, 106.7) == haversine_m(29.6, 106.7, 29.5, 106.5)


@pytest.mark.parametrize(
    ("lat", "lon", "message"),
    [
        (0.0, 0.0, "坐标无效：(0, 0) 不是有效位置，可能是定位失败"),
        (0, 0, "坐标无效：(0, 0) 不是有效位置，可能是定位失败"),
        (90.5, 110.0, "坐标无效：纬度应在 -90 到 90 之间"),
        (-90.01, 110.0, "坐标无效：纬度应在 -90 到 90 之间"),
        (30.0, 180.5, "坐标无效：经度应在 -180 到 180 之间"),
        (30.0, -181.0, "坐标无效：经度应在 -180 到 180 之间"),
        (float("nan"), 110.0, "坐标无效：纬度和经度必须是有限数字"),
        (30.0, float("inf"), "坐标无效：纬度和经度必须是有限数字"),
        (None, 110.0, "坐标无效：缺少纬度或经度"),
        (30.0, None, "坐标无效：缺少纬度或经度"),
        ("abc", 110.0, "坐标无效：纬度和经度必须是数字"),
        (True, 110.0, "坐标无效：纬度和经度必须是数字"),
    ],
)
def test_coordinate_problem_messages(lat, lon, message):
    assert coordinate_problem(lat, lon) == message


@pytest.mark.parametrize(
    ("lat", "lon"),
    [(29.56, 106.55), (90.0, 180.0), (-90.0, -180.0), (0.0, 110.0), (30.0, 0.0), (48.85, 2.35)],
)
def test_coordinate_problem_accepts_valid_points(lat, lon):
    assert coordinate_problem(lat, lon) is None
