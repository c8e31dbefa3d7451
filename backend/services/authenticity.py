"""Visit authenticity flags, computed once when a visit is ingested.

Flags are evidence for the town office's audit, never grounds to reject a visit: a helper in a
village with no signal must always be able to hand in what they did. Each flag has a stable
``code`` (listed in ``FLAG_TITLES``, with a short Chinese title for filters and legends), a
Chinese ``description`` with the measured values, and a JSON-safe ``detail`` for reviewers.
Each code appears at most once per visit; several offending photos or travel legs are listed
inside that flag's ``detail``.

This module is pure: the ingest service gathers the facts (converting GPS to WGS-84, finding the
helper's neighbouring visits and photo matches) and stores the result.

All datetimes must be timezone-aware. EXIF times carry no zone; the service reads them as
China Standard Time before building ``PhotoFacts``.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from backend.services.geo import haversine_m

GPS_MISSING = "gps.missing"
GPS_INACCURATE = "gps.inaccurate"
GPS_MOCK_SUSPECTED = "gps.mock_suspected"
GPS_FAR_FROM_HOUSEHOLD = "gps.far_from_household"
VISIT_TOO_SHORT = "visit.too_short"
VISIT_TIME_INVERTED = "visit.time_inverted"
CLOCK_SKEWED = "clock.skewed"
TIME_IN_FUTURE = "time.in_future"
TRAVEL_IMPOSSIBLE = "travel.impossible"
PHOTO_DUPLICATE = "photo.duplicate"
PHOTO_NEAR_DUPLICATE = "photo.near_duplicate"
PHOTO_EXIF_TIME_FAR = "photo.exif_time_far"

# Stable codes in the order flags are reported, with short titles shown to people.
FLAG_TITLES: dict[str, str] = {
    GPS_MISSING: "未获取到定位",
    GPS_INACCURATE: "定位精度差",
    GPS_MOCK_SUSPECTED: "疑似模拟定位",
    GPS_FAR_FROM_HOUSEHOLD: "定位距农户过远",
    VISIT_TOO_SHORT: "走访时长过短",
    VISIT_TIME_INVERTED: "走访结束时间早于开始时间",
    CLOCK_SKEWED: "设备时间不准",
    TIME_IN_FUTURE: "走访时间晚于上传时间",
    TRAVEL_IMPOSSIBLE: "前后走访移动速度不合理",
    PHOTO_DUPLICATE: "照片与其他农户重复",
    PHOTO_NEAR_DUPLICATE: "照片与其他农户高度相似",
    PHOTO_EXIF_TIME_FAR: "照片拍摄时间与走访时间不符",
}

PHASH_BITS = 64


@dataclass(frozen=True)
class AuthenticitySettings:
    """Thresholds for the flags; a value exactly at a threshold is not flagged."""

    # A fix whose reported accuracy radius is larger than this is flagged.
    gps_max_accuracy_m: float = 100.0
    # Distance from the household's registered location beyond which the visit is flagged.
    household_max_distance_m: float = 500.0
    # Visits shorter than this (ended_at - started_at) are flagged.
    min_visit_minutes: float = 3.0
    # Allowed difference between the device clock and the server, and how far device
    # timestamps may run ahead of the server's receipt time.
    max_clock_skew_minutes: float = 10.0
    # Travel between the helper's consecutive visits faster than this is flagged.
    max_travel_speed_kmh: float = 120.0
    # Moves shorter than this are never flagged as impossible travel: two fixes at neighbouring
    # households with minute-rounded times would otherwise look like teleporting.
    travel_min_distance_m: float = 1000.0
    # A photo taken (per EXIF) further than this outside the visit window is flagged.
    photo_max_exif_gap_hours: float = 2.0
    # Perceptual hashes (64-bit) at most this many bits apart count as near-identical.
    phash_max_distance: int = 6

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise TypeError(f"{f.name} must be a number, got {value!r}")
            if not math.isfinite(value) or value < 0:
                raise ValueError(f"{f.name} must be a finite non-negative number, got {value!r}")

    @classmethod
    def from_config(
        cls, config: Mapping[str, Any], prefix: str = "AUTHENTICITY_"
    ) -> AuthenticitySettings:
        """Build settings from a config mapping (keys like ``AUTHENTICITY_GPS_MAX_ACCURACY_M``)."""
        values: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            key = prefix + f.name.upper()
            if config.get(key) is not None:
                cast = int if f.name == "phash_max_distance" else float
                values[f.name] = cast(config[key])
        return cls(**values)


def _require_aware(name: str, value: datetime | None) -> None:
    if value is not None and (value.tzinfo is None or value.utcoffset() is None):
        raise ValueError(f"{name} must be a timezone-aware datetime")


@dataclass(frozen=True)
class GpsFix:
    """A location fix in WGS-84 with the device's reported accuracy radius."""

    lat: float
    lon: float
    accuracy_m: float
    captured_at: datetime | None = None

    def __post_init__(self) -> None:
        _require_aware("GpsFix.captured_at", self.captured_at)


@dataclass(frozen=True)
class HelperVisitPoint:
    """Where the same helper was at a given time during a neighbouring visit (WGS-84).

    ``at`` is that visit's GPS capture time when known, else its ``ended_at`` (for the previous
    visit) or ``started_at`` (for the next one).
    """

    at: datetime
    lat: float
    lon: float
    visit_id: int | str | None = None

    def __post_init__(self) -> None:
        _require_aware("HelperVisitPoint.at", self.at)


@dataclass(frozen=True)
class PhotoFacts:
    """What the service learned about one photo of the visit.

    The duplicate booleans say whether the photo matches one from a visit to a *different*
    household: same SHA-256, or perceptual hashes within ``phash_max_distance`` bits.
    """

    exif_taken_at: datetime | None = None
    duplicate_of_other_household: bool = False
    near_duplicate_of_other_household: bool = False
    ref: int | str | None = None  # the photo's id or key, echoed in flag details
    matched_ref: int | str | None = None  # the other household's photo it matched

    def __post_init__(self) -> None:
        _require_aware("PhotoFacts.exif_taken_at", self.exif_taken_at)


@dataclass(frozen=True)
class VisitFacts:
    """Everything the flags look at for one visit.

    ``started_at``/``ended_at`` come from the device clock; ``received_at`` is the server's
    clock when the submission arrived, possibly hours later for a visit made offline.
    ``device_sent_at`` is the device clock read when the upload was sent (stamped on every
    attempt); without it the device clock can only be caught running ahead of the server.
    ``household_location`` is the household's registered (lat, lon) in WGS-84.
    """

    started_at: datetime
    ended_at: datetime
    received_at: datetime
    gps: GpsFix | None = None
    household_location: tuple[float, float] | None = None
    device_sent_at: datetime | None = None
    previous_visit_of_helper: HelperVisitPoint | None = None
    next_visit_of_helper: HelperVisitPoint | None = None
    photos: Sequence[PhotoFacts] = ()

    def __post_init__(self) -> None:
        for name in ("started_at", "ended_at", "received_at", "device_sent_at"):
            _require_aware(f"VisitFacts.{name}", getattr(self, name))


@dataclass(frozen=True)
class Flag:
    """One authenticity finding: stable code, Chinese description and JSON-safe detail."""

    code: str
    description: str
    detail: dict[str, Any] = field(default_factory=dict)

    @property
    def title(self) -> str:
        """The short Chinese title of this flag's code."""
        return FLAG_TITLES[self.code]


@dataclass(frozen=True)
class AuthenticityResult:
    """The flags raised for a visit and its GPS distance to the household (metres or None)."""

    flags: list[Flag]
    distance_to_household_m: float | None

    @property
    def codes(self) -> list[str]:
        """The codes of the raised flags, in reporting order."""
        return [f.code for f in self.flags]


# --- perceptual hashes -------------------------------------------------------------------------


def hamming_distance(a_hex: str, b_hex: str) -> int:
    """Number of differing bits between two 64-bit perceptual hashes given as 16 hex digits."""
    return (_phash_int(a_hex) ^ _phash_int(b_hex)).bit_count()


def is_near_duplicate(
    a_hex: str, b_hex: str, threshold: int = AuthenticitySettings.phash_max_distance
) -> bool:
    """True when two 64-bit perceptual hashes differ in at most ``threshold`` bits."""
    return hamming_distance(a_hex, b_hex) <= threshold


def _phash_int(value: str) -> int:
    text = value.strip().lower()
    if text.startswith("0x"):
        text = text[2:]
    if len(text) != PHASH_BITS // 4:
        raise ValueError(f"perceptual hash must be {PHASH_BITS // 4} hex digits, got {value!r}")
    try:
        return int(text, 16)
    except ValueError:
        raise ValueError(f"perceptual hash is not hexadecimal: {value!r}") from None


# --- assessment --------------------------------------------------------------------------------


def assess_visit(
    facts: VisitFacts, settings: AuthenticitySettings | None = None
) -> AuthenticityResult:
    """Compute the authenticity flags and the distance to the household for one visit."""
    settings = settings or AuthenticitySettings()
    distance = _distance_to_household(facts)
    flags = [
        *_gps_flags(facts, settings, distance),
        *_duration_flags(facts, settings),
        *_clock_flags(facts, settings),
        *_travel_flags(facts, settings),
        *_photo_flags(facts, settings),
    ]
    order = list(FLAG_TITLES)
    flags.sort(key=lambda f: order.index(f.code))
    return AuthenticityResult(flags=flags, distance_to_household_m=distance)


def _distance_to_household(facts: VisitFacts) -> float | None:
    if facts.gps is None or facts.household_location is None:
        return None
    h_lat, h_lon = facts.household_location
    # Centimetres: what is stored is exactly what was compared with the threshold.
    return round(haversine_m(facts.gps.lat, facts.gps.lon, h_lat, h_lon), 2)


def _gps_flags(
    facts: VisitFacts, settings: AuthenticitySettings, distance: float | None
) -> list[Flag]:
    gps = facts.gps
    if gps is None:
        return [Flag(GPS_MISSING, "本次走访未获取到定位信息")]
    flags: list[Flag] = []
    if gps.accuracy_m > settings.gps_max_accuracy_m:
        flags.append(
            Flag(
                GPS_INACCURATE,
                f"定位精度差：误差约{_metres(gps.accuracy_m)}，"
                f"超过允许的{_metres(settings.gps_max_accuracy_m)}",
                {
                    "accuracy_m": float(gps.accuracy_m),
                    "threshold_m": settings.gps_max_accuracy_m,
                },
            )
        )
    if gps.accuracy_m == 0:
        # Real receivers always report some uncertainty; Android mock-location apps report 0.
        flags.append(
            Flag(
                GPS_MOCK_SUSPECTED,
                "定位精度为0米，这是安卓手机模拟定位的典型特征，疑似使用了虚拟定位",
                {"accuracy_m": 0.0},
            )
        )
    if distance is not None and distance > settings.household_max_distance_m:
        flags.append(
            Flag(
                GPS_FAR_FROM_HOUSEHOLD,
                f"走访定位距农户登记位置{_metres(distance)}，"
                f"超过允许的{_metres(settings.household_max_distance_m)}",
                {
                    "distance_m": distance,
                    "threshold_m": settings.household_max_distance_m,
                    "accuracy_m": float(gps.accuracy_m),
                },
            )
        )
    return flags


def _duration_flags(facts: VisitFacts, settings: AuthenticitySettings) -> list[Flag]:
    duration = facts.ended_at - facts.started_at
    if duration < timedelta(0):
        return [
            Flag(
                VISIT_TIME_INVERTED,
                f"走访结束时间比开始时间早{_duration(-duration)}，设备时间可能被修改",
                {
                    "started_at": facts.started_at.isoformat(),
                    "ended_at": facts.ended_at.isoformat(),
                },
            )
        ]
    minimum = timedelta(minutes=settings.min_visit_minutes)
    if duration < minimum:
        return [
            Flag(
                VISIT_TOO_SHORT,
                f"走访时长仅{_duration(duration)}，少于{_duration(minimum)}",
                {
                    "duration_seconds": duration.total_seconds(),
                    "threshold_seconds": minimum.total_seconds(),
                },
            )
        ]
    return []


def _clock_flags(facts: VisitFacts, settings: AuthenticitySettings) -> list[Flag]:
    # A visit made offline is legitimately uploaded hours after it ended, so device timestamps
    # are never compared with the receipt time in the past direction. Only the device clock
    # read at send time measures skew both ways; without it only "ahead of the server" is
    # certain.
    tolerance = timedelta(minutes=settings.max_clock_skew_minutes)
    flags: list[Flag] = []
    if facts.device_sent_at is not None:
        skew = facts.device_sent_at - facts.received_at
        if abs(skew) > tolerance:
            direction = "快" if skew > timedelta(0) else "慢"
            flags.append(
                Flag(
                    CLOCK_SKEWED,
                    f"上传时设备时间比服务器{direction}{_duration(abs(skew))}，"
                    f"超过允许的{_duration(tolerance)}",
                    {
                        "skew_seconds": skew.total_seconds(),
                        "threshold_seconds": tolerance.total_seconds(),
                        "device_sent_at": facts.device_sent_at.isoformat(),
                        "received_at": facts.received_at.isoformat(),
                    },
                )
            )
    stamps = {"started_at": facts.started_at, "ended_at": facts.ended_at}
    if facts.gps is not None and facts.gps.captured_at is not None:
        stamps["gps.captured_at"] = facts.gps.captured_at
    ahead = {
        name: (stamp - facts.received_at).total_seconds()
        for name, stamp in stamps.items()
        if stamp - facts.received_at > tolerance
    }
    if ahead:
        worst = max(ahead.values())
        flags.append(
            Flag(
                TIME_IN_FUTURE,
                f"走访记录的时间比服务器收到上传的时间还晚{_duration(timedelta(seconds=worst))}，"
                "设备时间可能被调快",
                {
                    "ahead_seconds": ahead,
                    "threshold_seconds": tolerance.total_seconds(),
                    "received_at": facts.received_at.isoformat(),
                },
            )
        )
    return flags


def _travel_flags(facts: VisitFacts, settings: AuthenticitySettings) -> list[Flag]:
    gps = facts.gps
    if gps is None:
        return []
    # Without a capture time the fix was taken somewhere inside the visit; pair each leg with
    # the visit bound that gives the longer interval so only certain violations are flagged.
    legs_in = (
        ("previous", facts.previous_visit_of_helper, gps.captured_at or facts.ended_at),
        ("next", facts.next_visit_of_helper, gps.captured_at or facts.started_at),
    )
    legs: list[dict[str, Any]] = []
    phrases: list[str] = []
    for which, other, here_at in legs_in:
        if other is None:
            continue
        distance = round(haversine_m(gps.lat, gps.lon, other.lat, other.lon), 2)
        if distance <= settings.travel_min_distance_m:
            continue
        gap = abs(here_at - other.at)
        gap_s = gap.total_seconds()
        speed = round(distance / gap_s * 3.6, 2) if gap_s > 0 else None
        if speed is not None and speed <= settings.max_travel_speed_kmh:
            continue
        legs.append(
            {
                "leg": which,
                "other_visit_id": other.visit_id,
                "distance_m": distance,
                "gap_seconds": gap_s,
                "speed_kmh": speed,
            }
        )
        label = "上一次" if which == "previous" else "下一次"
        if speed is None:
            phrases.append(
                f"与同一帮扶责任人的{label}走访相距{_metres(distance)}，但两次走访之间没有时间间隔"
            )
        else:
            phrases.append(
                f"与同一帮扶责任人的{label}走访相距{_metres(distance)}，间隔{_duration(gap)}，"
                f"折合时速{speed:.0f}公里，超过每小时{settings.max_travel_speed_kmh:g}公里"
            )
    if not legs:
        return []
    return [
        Flag(
            TRAVEL_IMPOSSIBLE,
            "；".join(phrases) + "，不可能及时赶到",
            {"legs": legs, "threshold_kmh": settings.max_travel_speed_kmh},
        )
    ]


def _photo_flags(facts: VisitFacts, settings: AuthenticitySettings) -> list[Flag]:
    duplicates: list[dict[str, Any]] = []
    near: list[dict[str, Any]] = []
    far: list[dict[str, Any]] = []
    window_start = min(facts.started_at, facts.ended_at)
    window_end = max(facts.started_at, facts.ended_at)
    max_gap = timedelta(hours=settings.photo_max_exif_gap_hours)
    for index, photo in enumerate(facts.photos):
        ident = {"index": index, "ref": photo.ref}
        # An identical photo is also near-identical; report it once, as the stronger finding.
        if photo.duplicate_of_other_household:
            duplicates.append({**ident, "matched_ref": photo.matched_ref})
        elif photo.near_duplicate_of_other_household:
            near.append({**ident, "matched_ref": photo.matched_ref})
        taken = photo.exif_taken_at
        if taken is not None:
            gap = max(window_start - taken, taken - window_end, timedelta(0))
            if gap > max_gap:
                far.append(
                    {
                        **ident,
                        "exif_taken_at": taken.isoformat(),
                        "gap_seconds": gap.total_seconds(),
                    }
                )
    flags: list[Flag] = []
    if duplicates:
        flags.append(
            Flag(
                PHOTO_DUPLICATE,
                f"有{len(duplicates)}张照片与其他农户走访中的照片完全相同",
                {"photos": duplicates},
            )
        )
    if near:
        flags.append(
            Flag(
                PHOTO_NEAR_DUPLICATE,
                f"有{len(near)}张照片与其他农户走访中的照片高度相似",
                {"photos": near, "threshold_bits": settings.phash_max_distance},
            )
        )
    if far:
        worst = max(p["gap_seconds"] for p in far)
        flags.append(
            Flag(
                PHOTO_EXIF_TIME_FAR,
                f"有{len(far)}张照片的拍摄时间与走访时间相差超过{_duration(max_gap)}"
                f"（最多相差{_duration(timedelta(seconds=worst))}），可能不是本次走访拍摄",
                {"photos": far, "threshold_seconds": max_gap.total_seconds()},
            )
        )
    return flags


# --- Chinese formatting ------------------------------------------------------------------------


def _metres(value: float) -> str:
    if value >= 1000:
        return f"{value / 1000:.1f}公里"
    return f"{value:.0f}米"


def _duration(value: timedelta) -> str:
    seconds = int(value.total_seconds())
    days, seconds = divmod(seconds, 86400)
    hours, seconds = divmod(seconds, 3600)
    minutes, seconds = divmod(seconds, 60)
    parts = []
    if days:
        parts.append(f"{days}天")
    if hours:
        parts.append(f"{hours}小时")
    if minutes:
        parts.append(f"{minutes}分钟")
    if seconds or not parts:
        parts.append(f"{seconds}秒")
    return "".join(parts)
