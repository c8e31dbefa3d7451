"""Visit authenticity flags: each flag, its threshold boundary, and the clean case."""

from __future__ import annotations

import dataclasses
import json
import math
import re
from datetime import UTC, datetime, timedelta

import pytest

from backend.services import authenticity as au
from backend.services.authenticity import (
    FLAG_TITLES,
    AuthenticitySettings,
    Flag,
    GpsFix,
    HelperVisitPoint,
    PhotoFacts,
    VisitFacts,
    assess_visit,
    hamming_distance,
    is_near_duplicate,
)
from backend.services.geo import EARTH_RADIUS_M

T0 = datetime(2024, 5, 10, 1, 0, tzinfo=UTC)  # 09:00 in China
HOME = (29.5630, 106.5516)
_M_PER_DEG = EARTH_RADIUS_M * math.pi / 180


def north_of(point: tuple[float, float], metres: float) -> tuple[float, float]:
    """A point exactly ``metres`` due north (on the haversine sphere)."""
    return point[0] + metres / _M_PER_DEG, point[1]


def gps_at(point, accuracy=12.0, captured_at=T0 + timedelta(minutes=5)) -> GpsFix:
    return GpsFix(lat=point[0], lon=point[1], accuracy_m=accuracy, captured_at=captured_at)


def clean_visit(**changes) -> VisitFacts:
    """A visit that raises no flag: 15 minutes, uploaded promptly, at the household."""
    prev_point = north_of(HOME, 2000)
    next_point = north_of(HOME, -1500)
    facts = VisitFacts(
        started_at=T0,
        ended_at=T0 + timedelta(minutes=15),
        received_at=T0 + timedelta(minutes=16),
        device_sent_at=T0 + timedelta(minutes=16) - timedelta(seconds=2),
        gps=gps_at(north_of(HOME, 30)),
        household_location=HOME,
        previous_visit_of_helper=HelperVisitPoint(
            at=T0 - timedelta(minutes=20), lat=prev_point[0], lon=prev_point[1], visit_id=41
        ),
        next_visit_of_helper=HelperVisitPoint(
            at=T0 + timedelta(minutes=40), lat=next_point[0], lon=next_point[1], visit_id=43
        ),
        photos=[
            PhotoFacts(exif_taken_at=T0 + timedelta(minutes=3), ref="p1"),
            PhotoFacts(exif_taken_at=T0 + timedelta(minutes=12), ref="p2"),
            PhotoFacts(exif_taken_at=None, ref="p3"),
        ],
    )
    return dataclasses.replace(facts, **changes)


def flag(result, code) -> Flag:
    matches = [f for f in result.flags if f.code == code]
    assert len(matches) == 1, result.codes
    return matches[0]


def test_clean_visit_has_no_flags():
    result = assess_visit(clean_visit())
    assert result.flags == []
    assert result.distance_to_household_m == pytest.approx(30.0, abs=0.01)


def test_default_settings():
    s = AuthenticitySettings()
    assert (s.gps_max_accuracy_m, s.household_max_distance_m) == (100.0, 500.0)
    assert (s.min_visit_minutes, s.max_clock_skew_minutes) == (3.0, 10.0)
    assert (s.max_travel_speed_kmh, s.travel_min_distance_m) == (120.0, 1000.0)
    assert (s.photo_max_exif_gap_hours, s.phash_max_distance) == (2.0, 6)


# --- GPS ---------------------------------------------------------------------------------------


def test_missing_gps():
    result = assess_visit(clean_visit(gps=None))
    assert result.codes == [au.GPS_MISSING]
    assert flag(result, au.GPS_MISSING).description == "本次走访未获取到定位信息"
    assert result.distance_to_household_m is None


@pytest.mark.parametrize(("accuracy", "flagged"), [(100.0, False), (100.01, True), (850.0, True)])
def test_inaccurate_gps_boundary(accuracy, flagged):
    result = assess_visit(clean_visit(gps=gps_at(north_of(HOME, 30), accuracy=accuracy)))
    assert (au.GPS_INACCURATE in result.codes) is flagged
    if flagged:
        f = flag(result, au.GPS_INACCURATE)
        assert f.detail == {"accuracy_m": accuracy, "threshold_m": 100.0}
        assert "超过允许的100米" in f.description


def test_zero_accuracy_is_the_mock_location_signature():
    result = assess_visit(clean_visit(gps=gps_at(north_of(HOME, 30), accuracy=0)))
    assert result.codes == [au.GPS_MOCK_SUSPECTED]
    assert "模拟定位" in flag(result, au.GPS_MOCK_SUSPECTED).description


def test_small_nonzero_accuracy_is_not_mock():
    result = assess_visit(clean_visit(gps=gps_at(north_of(HOME, 30), accuracy=0.5)))
    assert result.flags == []


@pytest.mark.parametrize(("metres", "flagged"), [(500.0, False), (500.01, True), (3200.0, True)])
def test_far_from_household_boundary(metres, flagged):
    result = assess_visit(clean_visit(gps=gps_at(north_of(HOME, metres))))
    assert result.distance_to_household_m == pytest.approx(metres, abs=1e-9)
    assert (au.GPS_FAR_FROM_HOUSEHOLD in result.codes) is flagged
    if flagged:
        f = flag(result, au.GPS_FAR_FROM_HOUSEHOLD)
        assert f.detail == {"distance_m": metres, "threshold_m": 500.0, "accuracy_m": 12.0}


def test_far_description_uses_kilometres():
    result = assess_visit(clean_visit(gps=gps_at(north_of(HOME, 3200))))
    f = flag(result, au.GPS_FAR_FROM_HOUSEHOLD)
    assert f.description == "走访定位距农户登记位置3.2公里，超过允许的500米"


def test_no_household_location_means_no_distance():
    result = assess_visit(clean_visit(household_location=None))
    assert result.distance_to_household_m is None
    assert result.flags == []


# --- duration ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("duration", "flagged"),
    [
        (timedelta(minutes=3), False),
        (timedelta(minutes=3) - timedelta(microseconds=1), True),
        (timedelta(0), True),
    ],
)
def test_short_visit_boundary(duration, flagged):
    facts = clean_visit(ended_at=T0 + duration, gps=gps_at(north_of(HOME, 30), captured_at=T0))
    result = assess_visit(facts)
    assert (au.VISIT_TOO_SHORT in result.codes) is flagged
    if flagged:
        assert flag(result, au.VISIT_TOO_SHORT).detail["threshold_seconds"] == 180.0


def test_short_visit_description():
    facts = clean_visit(ended_at=T0 + timedelta(minutes=1, seconds=40))
    f = flag(assess_visit(facts), au.VISIT_TOO_SHORT)
    assert f.description == "走访时长仅1分钟40秒，少于3分钟"
    assert f.detail["duration_seconds"] == 100.0


def test_end_before_start_is_its_own_flag():
    result = assess_visit(clean_visit(ended_at=T0 - timedelta(minutes=5)))
    assert au.VISIT_TIME_INVERTED in result.codes
    assert au.VISIT_TOO_SHORT not in result.codes
    assert "早5分钟" in flag(result, au.VISIT_TIME_INVERTED).description


# --- clocks ------------------------------------------------------------------------------------


def test_offline_visit_synced_hours_later_is_not_skewed():
    late = T0 + timedelta(hours=7)
    result = assess_visit(clean_visit(received_at=late, device_sent_at=late + timedelta(seconds=3)))
    assert result.flags == []


def test_offline_visit_without_device_clock_reading_is_not_skewed():
    result = assess_visit(clean_visit(received_at=T0 + timedelta(days=3), device_sent_at=None))
    assert result.flags == []


@pytest.mark.parametrize(
    ("offset", "flagged", "direction"),
    [
        (timedelta(minutes=10), False, None),
        (timedelta(minutes=-10), False, None),
        (timedelta(minutes=10, seconds=1), True, "快"),
        (timedelta(minutes=-10, seconds=-1), True, "慢"),
    ],
)
def test_clock_skew_boundary(offset, flagged, direction):
    received = T0 + timedelta(hours=2)  # synced later: only the send-time reading matters
    result = assess_visit(clean_visit(received_at=received, device_sent_at=received + offset))
    assert (au.CLOCK_SKEWED in result.codes) is flagged
    if flagged:
        f = flag(result, au.CLOCK_SKEWED)
        assert f.description.startswith(f"上传时设备时间比服务器{direction}10分钟1秒")
        assert f.detail["skew_seconds"] == offset.total_seconds()
        assert f.detail["threshold_seconds"] == 600.0


def test_slow_clock_without_send_time_cannot_be_detected():
    # A device clock running behind looks exactly like an offline visit synced later.
    result = assess_visit(
        clean_visit(received_at=T0 + timedelta(minutes=16, hours=1), device_sent_at=None)
    )
    assert au.CLOCK_SKEWED not in result.codes


@pytest.mark.parametrize(
    ("ahead", "flagged"),
    [(timedelta(minutes=10), False), (timedelta(minutes=10, seconds=1), True)],
)
def test_future_timestamps_boundary(ahead, flagged):
    ended = T0 + timedelta(minutes=15)
    result = assess_visit(clean_visit(received_at=ended - ahead, device_sent_at=None))
    assert (au.TIME_IN_FUTURE in result.codes) is flagged
    if flagged:
        f = flag(result, au.TIME_IN_FUTURE)
        assert f.detail["ahead_seconds"] == {"ended_at": 601.0}
        assert "10分钟1秒" in f.description


def test_future_gps_capture_time_is_flagged():
    received = T0 + timedelta(minutes=16)
    gps = gps_at(north_of(HOME, 30), captured_at=received + timedelta(hours=1))
    result = assess_visit(clean_visit(gps=gps, device_sent_at=None))
    assert flag(result, au.TIME_IN_FUTURE).detail["ahead_seconds"] == {"gps.captured_at": 3600.0}


def test_fast_clock_submitted_immediately_raises_both_clock_flags():
    # The phone is an hour fast: its send time and its visit times are both ahead.
    received = T0 + timedelta(minutes=16) - timedelta(hours=1)
    result = assess_visit(clean_visit(received_at=received))
    assert au.CLOCK_SKEWED in result.codes
    assert au.TIME_IN_FUTURE in result.codes


# --- travel ------------------------------------------------------------------------------------


def _with_previous(metres: float, gap: timedelta, **changes) -> VisitFacts:
    here = north_of(HOME, 30)
    there = north_of(here, metres)
    captured = T0 + timedelta(minutes=5)
    prev = HelperVisitPoint(at=captured - gap, lat=there[0], lon=there[1], visit_id=41)
    return clean_visit(
        gps=gps_at(here, captured_at=captured),
        previous_visit_of_helper=prev,
        next_visit_of_helper=None,
        **changes,
    )


@pytest.mark.parametrize(
    ("gap", "flagged"),
    [(timedelta(seconds=90), False), (timedelta(seconds=89), True)],
)
def test_impossible_travel_boundary(gap, flagged):
    # 3 km in 90 s is exactly 120 km/h.
    result = assess_visit(_with_previous(3000, gap))
    assert (au.TRAVEL_IMPOSSIBLE in result.codes) is flagged
    if flagged:
        f = flag(result, au.TRAVEL_IMPOSSIBLE)
        assert f.detail == {
            "legs": [
                {
                    "leg": "previous",
                    "other_visit_id": 41,
                    "distance_m": 3000.0,
                    "gap_seconds": 89.0,
                    "speed_kmh": 121.35,
                }
            ],
            "threshold_kmh": 120.0,
        }
        assert f.description == (
            "与同一帮扶责任人的上一次走访相距3.0公里，间隔1分钟29秒，"
            "折合时速121公里，超过每小时120公里，不可能及时赶到"
        )


def test_zero_time_gap_is_impossible_travel():
    result = assess_visit(_with_previous(5000, timedelta(0)))
    f = flag(result, au.TRAVEL_IMPOSSIBLE)
    assert f.detail["legs"][0]["speed_kmh"] is None
    assert f.detail["legs"][0]["gap_seconds"] == 0.0
    assert "没有时间间隔" in f.description


def test_short_moves_are_never_impossible_travel():
    # Neighbouring households with overlapping, minute-rounded times.
    assert assess_visit(_with_previous(1000, timedelta(0))).flags == []
    assert au.TRAVEL_IMPOSSIBLE in assess_visit(_with_previous(1000.01, timedelta(0))).codes


def test_reversed_order_still_measures_speed():
    # The "previous" visit's time after this one (overlapping records): the gap's size counts.
    result = assess_visit(_with_previous(3000, -timedelta(seconds=60)))
    assert flag(result, au.TRAVEL_IMPOSSIBLE).detail["legs"][0]["speed_kmh"] == 180.0


def test_next_leg_and_both_legs_in_one_flag():
    here = north_of(HOME, 30)
    far = north_of(here, 50_000)
    gps = gps_at(here, captured_at=T0 + timedelta(minutes=5))
    prev = HelperVisitPoint(at=T0 - timedelta(minutes=10), lat=far[0], lon=far[1], visit_id=41)
    nxt = HelperVisitPoint(at=T0 + timedelta(minutes=20), lat=far[0], lon=far[1], visit_id=43)
    result = assess_visit(
        clean_visit(gps=gps, previous_visit_of_helper=prev, next_visit_of_helper=nxt)
    )
    f = flag(result, au.TRAVEL_IMPOSSIBLE)
    assert [leg["leg"] for leg in f.detail["legs"]] == ["previous", "next"]
    assert [leg["other_visit_id"] for leg in f.detail["legs"]] == [41, 43]
    assert "上一次" in f.description and "下一次" in f.description


def test_travel_without_capture_time_uses_the_longer_interval():
    # 3 km: the previous visit ended 2 minutes before this one started. With no capture time
    # the fix may have been taken at this visit's end (15 minutes later): 11.6 km/h, fine.
    here = north_of(HOME, 30)
    there = north_of(here, 3000)
    prev = HelperVisitPoint(at=T0 - timedelta(minutes=2), lat=there[0], lon=there[1])
    facts = clean_visit(
        gps=gps_at(here, captured_at=None),
        previous_visit_of_helper=prev,
        next_visit_of_helper=None,
    )
    assert assess_visit(facts).flags == []


def test_travel_needs_gps():
    facts = dataclasses.replace(_with_previous(50_000, timedelta(0)), gps=None)
    assert assess_visit(facts).codes == [au.GPS_MISSING]


# --- photos ------------------------------------------------------------------------------------


def test_duplicate_photo():
    photos = [
        PhotoFacts(exif_taken_at=T0, ref="p1"),
        PhotoFacts(exif_taken_at=T0, duplicate_of_other_household=True, ref="p2", matched_ref=9),
    ]
    result = assess_visit(clean_visit(photos=photos))
    assert result.codes == [au.PHOTO_DUPLICATE]
    f = flag(result, au.PHOTO_DUPLICATE)
    assert f.detail == {"photos": [{"index": 1, "ref": "p2", "matched_ref": 9}]}
    assert f.description == "有1张照片与其他农户走访中的照片完全相同"


def test_near_duplicate_photo():
    photos = [PhotoFacts(exif_taken_at=T0, near_duplicate_of_other_household=True, ref="p1")]
    result = assess_visit(clean_visit(photos=photos))
    assert result.codes == [au.PHOTO_NEAR_DUPLICATE]
    assert flag(result, au.PHOTO_NEAR_DUPLICATE).detail["threshold_bits"] == 6


def test_identical_photo_is_reported_once_as_duplicate():
    photos = [
        PhotoFacts(
            duplicate_of_other_household=True, near_duplicate_of_other_household=True, ref="p1"
        ),
        PhotoFacts(near_duplicate_of_other_household=True, ref="p2"),
    ]
    result = assess_visit(clean_visit(photos=photos))
    assert result.codes == [au.PHOTO_DUPLICATE, au.PHOTO_NEAR_DUPLICATE]
    assert [p["ref"] for p in flag(result, au.PHOTO_DUPLICATE).detail["photos"]] == ["p1"]
    assert [p["ref"] for p in flag(result, au.PHOTO_NEAR_DUPLICATE).detail["photos"]] == ["p2"]


@pytest.mark.parametrize(
    ("taken", "flagged"),
    [
        (T0 - timedelta(hours=2), False),
        (T0 - timedelta(hours=2, seconds=1), True),
        (T0 + timedelta(minutes=15, hours=2), False),
        (T0 + timedelta(minutes=15, hours=2, seconds=1), True),
        (T0 + timedelta(minutes=7), False),
        (T0 - timedelta(days=400), True),
    ],
)
def test_exif_time_boundary(taken, flagged):
    photos = [PhotoFacts(exif_taken_at=taken, ref="p1"), PhotoFacts(exif_taken_at=None)]
    result = assess_visit(clean_visit(photos=photos))
    assert (au.PHOTO_EXIF_TIME_FAR in result.codes) is flagged
    if flagged:
        f = flag(result, au.PHOTO_EXIF_TIME_FAR)
        assert [p["ref"] for p in f.detail["photos"]] == ["p1"]
        assert f.detail["threshold_seconds"] == 7200.0
        assert f.description.startswith("有1张照片的拍摄时间与走访时间相差超过2小时")


def test_hamming_distance():
    assert hamming_distance("0" * 16, "f" * 16) == 64
    assert hamming_distance("8f3a00ff12345678", "8f3a00ff12345678") == 0
    assert hamming_distance("0000000000000000", "0000000000000001") == 1
    assert hamming_distance("0x8F3A00FF12345678", "8f3a00ff12345678") == 0
    assert hamming_distance("ffffffffffffffff", "7ffffffffffffffe") == 2


@pytest.mark.parametrize("bad", ["abc", "0" * 17, "zzzzzzzzzzzzzzzz", ""])
def test_hamming_distance_rejects_malformed_hashes(bad):
    with pytest.raises(ValueError):
        hamming_distance(bad, "0" * 16)


def test_is_near_duplicate_boundary():
    six_bits = "000000000000003f"
    seven_bits = "000000000000007f"
    assert is_near_duplicate("0" * 16, six_bits)
    assert not is_near_duplicate("0" * 16, seven_bits)
    assert is_near_duplicate("0" * 16, seven_bits, threshold=7)
    assert not is_near_duplicate("0" * 16, six_bits, threshold=0)


# --- settings and result shape -----------------------------------------------------------------


def test_custom_settings_change_the_outcome():
    facts = clean_visit(
        ended_at=T0 + timedelta(minutes=4),
        gps=gps_at(north_of(HOME, 300), accuracy=60, captured_at=T0),
    )
    assert assess_visit(facts).flags == []
    strict = AuthenticitySettings(
        gps_max_accuracy_m=50, household_max_distance_m=200, min_visit_minutes=5
    )
    result = assess_visit(facts, strict)
    assert result.codes == [au.GPS_INACCURATE, au.GPS_FAR_FROM_HOUSEHOLD, au.VISIT_TOO_SHORT]
    assert "超过允许的200米" in flag(result, au.GPS_FAR_FROM_HOUSEHOLD).description
    assert "少于5分钟" in flag(result, au.VISIT_TOO_SHORT).description


def test_lenient_settings_silence_flags():
    facts = _with_previous(3000, timedelta(seconds=60))
    assert au.TRAVEL_IMPOSSIBLE in assess_visit(facts).codes
    assert assess_visit(facts, AuthenticitySettings(max_travel_speed_kmh=200)).flags == []
    far_photo = clean_visit(photos=[PhotoFacts(exif_taken_at=T0 - timedelta(hours=5))])
    assert au.PHOTO_EXIF_TIME_FAR in assess_visit(far_photo).codes
    assert assess_visit(far_photo, AuthenticitySettings(photo_max_exif_gap_hours=6)).flags == []


def test_settings_from_config():
    s = AuthenticitySettings.from_config(
        {
            "AUTHENTICITY_HOUSEHOLD_MAX_DISTANCE_M": "800",
            "AUTHENTICITY_PHASH_MAX_DISTANCE": 10,
            "AUTHENTICITY_MIN_VISIT_MINUTES": None,
            "UNRELATED": 1,
        }
    )
    assert s == AuthenticitySettings(household_max_distance_m=800.0, phash_max_distance=10)


@pytest.mark.parametrize(
    "changes",
    [{"gps_max_accuracy_m": -1}, {"min_visit_minutes": float("nan")}, {"phash_max_distance": "6"}],
)
def test_invalid_settings_are_rejected(changes):
    with pytest.raises((ValueError, TypeError)):
        AuthenticitySettings(**changes)


def test_naive_datetimes_are_rejected():
    with pytest.raises(ValueError, match="timezone-aware"):
        clean_visit(started_at=datetime(2024, 5, 10, 9, 0))
    with pytest.raises(ValueError, match="timezone-aware"):
        PhotoFacts(exif_taken_at=datetime(2024, 5, 10, 9, 0))


def test_everything_wrong_at_once():
    """Every code at most once, in the catalogue's order, with Chinese text and JSON detail."""
    here = north_of(HOME, 2000)
    far = north_of(here, 80_000)
    received = T0 - timedelta(hours=1)
    facts = VisitFacts(
        started_at=T0,
        ended_at=T0 + timedelta(minutes=1),
        received_at=received,
        device_sent_at=received + timedelta(hours=1),
        gps=GpsFix(lat=here[0], lon=here[1], accuracy_m=0, captured_at=T0),
        household_location=HOME,
        previous_visit_of_helper=HelperVisitPoint(at=T0, lat=far[0], lon=far[1]),
        next_visit_of_helper=HelperVisitPoint(
            at=T0 + timedelta(minutes=30), lat=far[0], lon=far[1]
        ),
        photos=[
            PhotoFacts(exif_taken_at=T0 - timedelta(days=2), duplicate_of_other_household=True),
            PhotoFacts(exif_taken_at=T0 - timedelta(days=3), duplicate_of_other_household=True),
            PhotoFacts(near_duplicate_of_other_household=True),
        ],
    )
    result = assess_visit(facts)
    expected = [
        au.GPS_MOCK_SUSPECTED,
        au.GPS_FAR_FROM_HOUSEHOLD,
        au.VISIT_TOO_SHORT,
        au.CLOCK_SKEWED,
        au.TIME_IN_FUTURE,
        au.TRAVEL_IMPOSSIBLE,
        au.PHOTO_DUPLICATE,
        au.PHOTO_NEAR_DUPLICATE,
        au.PHOTO_EXIF_TIME_FAR,
    ]
    assert result.codes == expected
    assert result.distance_to_household_m == pytest.approx(2000.0)
    assert flag(result, au.PHOTO_DUPLICATE).description.startswith("有2张")
    assert len(flag(result, au.PHOTO_EXIF_TIME_FAR).detail["photos"]) == 2
    assert len(flag(result, au.TRAVEL_IMPOSSIBLE).detail["legs"]) == 2
    for f in result.flags:
        assert re.search(r"[\u4e00-\u9fff]", f.description), f.code
        assert f.title == FLAG_TITLES[f.code]
        json.dumps(f.detail)


def test_flag_codes_are_stable():
    assert list(FLAG_TITLES) == [
        "gps.missing",
        "gps.inaccurate",
        "gps.mock_suspected",
        "gps.far_from_household",
        "visit.too_short",
        "visit.time_inverted",
        "clock.skewed",
        "time.in_future",
        "travel.impossible",
        "photo.duplicate",
        "photo.near_duplicate",
        "photo.exif_time_far",
    ]
