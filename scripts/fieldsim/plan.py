"""The plan of the simulated days: who visits which household when, and from where.

Everything here is decided up front, in one thread, from one seeded random stream: which
households each helper visits on each day, at what China time, the GPS fix the phone reports,
which visits are made offline or sent twice, and exactly which visits are faked and how. The
phones then only carry the plan out, in parallel, so a run is the same for the same seed however
the threads interleave.

Honest visits produce honest data: a fix within a few tens of metres of the household (accuracy
5–40 m, never the 0 m of a mock-location app), at least 8 minutes at the household, visits of
one helper at least 20 minutes apart (no "impossible travel"), photos taken during the visit.
A household without a registered location gets a stable point near its village's centre, as its
first visit establishes one. Each faked visit is of one kind:

- ``wrong_place``: the phone is 2–5 km from the household (only for households with a
  registered location, or the server has nothing to compare with);
- ``reused_photo``: its first photo is the very image of an earlier visit of the same helper to
  another household;
- ``too_short``: one minute at the household.
"""

from __future__ import annotations

import math
import random
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from backend.services.clock import CHINA_TZ
from backend.services.demo import CENTER_LAT, CENTER_LON
from backend.services.geo import wgs84_to_gcj02

WRONG_PLACE, REUSED_PHOTO, TOO_SHORT = "wrong_place", "reused_photo", "too_short"
FAKE_KINDS = (WRONG_PLACE, REUSED_PHOTO, TOO_SHORT)
FAKE_LABELS = {WRONG_PLACE: "wrong place", REUSED_PHOTO: "reused photo", TOO_SHORT: "too short"}

DAY_START = time(8, 30)
DAY_MINUTES = 9 * 60  # 08:30–17:30 China time
MIN_GAP_MINUTES = 20  # between one visit's end and the helper's next visit
HONEST_MINUTES = (8.0, 25.0)
SHORT_MINUTES = 1.0
WRONG_PLACE_M = (2000.0, 5000.0)
ACCURACY_M = (5.0, 40.0)
ALTITUDE_M = (250.0, 420.0)
SHORTFALL_SHARE = 0.15  # honest visits that record a real shortfall (a failing check)
METRES_PER_DEGREE = 111_320.0
# A stand-in village centre when nothing in the village has a location (the demo town's).
FALLBACK_CENTRE = (CENTER_LAT, CENTER_LON)


@dataclass(frozen=True)
class Household:
    """A household as the helper's phone knows it (from /assignments/mine)."""

    id: int
    number: str
    village_id: int | None
    lat: float | None  # the registered location (WGS-84), if any
    lon: float | None

    @property
    def located(self) -> bool:
        """Whether the server has a location to measure visits against."""
        return self.lat is not None and self.lon is not None


@dataclass
class Helper:
    """A helper and the households assigned to them."""

    username: str
    token: str
    households: list[Household]


@dataclass
class PlannedVisit:
    """One visit as the plan decides it."""

    client_uuid: str
    helper: str
    household: Household
    day: date
    started_at: datetime
    ended_at: datetime
    site: tuple[float, float]  # where the house really is (WGS-84)
    seed: int  # everything else about this visit (answers, photos) comes from this
    offline: bool = False  # made without signal: queued until the phone is next online
    replay: bool = False
    shortfall: bool = False
    fake: str | None = None
    reuse_from: PlannedVisit | None = None
    gps: dict[str, Any] = field(default_factory=dict)

    @property
    def visit_date(self) -> date:
        """The China calendar day of the visit (the one the survey's ages are counted on)."""
        return self.ended_at.astimezone(CHINA_TZ).date()


@dataclass(frozen=True)
class PlanOptions:
    """What shapes the plan."""

    seed: int
    days: list[date]
    per_day: int = 3
    fake_share: float = 0.1
    offline_share: float = 0.2
    duplicate_share: float = 0.1
    gcj02_share: float = 0.7


def new_uuid(rng: random.Random) -> str:
    """A version-4 UUID drawn from ``rng`` (deterministic for a seed)."""
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def offset(lat: float, lon: float, north_m: float, east_m: float) -> tuple[float, float]:
    """The point ``north_m`` metres north and ``east_m`` metres east of (lat, lon)."""
    d_lat = north_m / METRES_PER_DEGREE
    d_lon = east_m / (METRES_PER_DEGREE * math.cos(math.radians(lat)))
    return lat + d_lat, lon + d_lon


def village_centres(helpers: list[Helper]) -> dict[int | None, tuple[float, float]]:
    """The mean location of the located households of each village (and of all, under None)."""
    points: dict[int | None, list[tuple[float, float]]] = {}
    for helper in helpers:
        for h in helper.households:
            if h.located:
                points.setdefault(h.village_id, []).append((h.lat, h.lon))
                points.setdefault(None, []).append((h.lat, h.lon))
    return {
        key: (sum(p[0] for p in pts) / len(pts), sum(p[1] for p in pts) / len(pts))
        for key, pts in points.items()
    }


def household_site(
    household: Household, centres: dict[int | None, tuple[float, float]], seed: int
) -> tuple[float, float]:
    """Where the house stands: its registered location, else a stable point near its village."""
    if household.located:
        return household.lat, household.lon
    centre = centres.get(household.village_id) or centres.get(None) or FALLBACK_CENTRE
    rng = random.Random(f"fieldsim:site:{seed}:{household.id}")
    return offset(*centre, rng.gauss(0, 300), rng.gauss(0, 300))


def _gps_fix(
    rng: random.Random,
    point: tuple[float, float],
    captured_at: datetime,
    gcj02_share: float,
) -> dict[str, Any]:
    """What the phone's wx.getLocation reports near ``point``: noise within the accuracy."""
    accuracy = round(rng.uniform(*ACCURACY_M), 1)
    sigma = accuracy / 2
    north = max(-2 * sigma, min(2 * sigma, rng.gauss(0, sigma)))
    east = max(-2 * sigma, min(2 * sigma, rng.gauss(0, sigma)))
    lat, lon = offset(*point, north, east)
    coord = "gcj02" if rng.random() < gcj02_share else "wgs84"
    if coord == "gcj02":
        lat, lon = wgs84_to_gcj02(lat, lon)
    return {
        "lat": round(lat, 7),
        "lon": round(lon, 7),
        "accuracy": accuracy,
        "altitude": round(rng.uniform(*ALTITUDE_M), 1),
        "coord": coord,
        "captured_at": captured_at.isoformat(),
    }


def _day_times(rng: random.Random, day: date, count: int) -> list[tuple[datetime, datetime]]:
    """``count`` visits spread over the working day, each in its own slot, never overlapping."""
    slot = DAY_MINUTES / count
    start_of_day = datetime.combine(day, DAY_START, tzinfo=CHINA_TZ)
    out = []
    for i in range(count):
        room = max(0.0, slot - HONEST_MINUTES[1] - MIN_GAP_MINUTES)
        start = start_of_day + timedelta(minutes=i * slot + rng.uniform(0, room))
        minutes = rng.uniform(*HONEST_MINUTES)
        start = start.replace(microsecond=0)
        out.append((start, (start + timedelta(minutes=minutes)).replace(microsecond=0)))
    return out


def plan_visits(helpers: list[Helper], options: PlanOptions) -> list[PlannedVisit]:
    """Every visit of the run, each helper's in time order, fakes chosen and applied."""
    rng = random.Random(f"fieldsim:plan:{options.seed}:{options.days[-1].isoformat()}")
    centres = village_centres(helpers)
    visits: list[PlannedVisit] = []
    for helper in helpers:
        if not helper.households:
            continue
        seen: dict[int, int] = {h.id: 0 for h in helper.households}
        for day in options.days:
            low = max(1, options.per_day - 1)
            count = min(len(helper.households), rng.randint(low, options.per_day + 1))
            # Households not seen yet in this run first: over a few days everyone is visited.
            order = sorted(helper.households, key=lambda h: (seen[h.id], rng.random()))
            chosen = order[:count]
            rng.shuffle(chosen)
            for household, (start, end) in zip(chosen, _day_times(rng, day, count), strict=True):
                seen[household.id] += 1
                visit = PlannedVisit(
                    client_uuid=new_uuid(rng),
                    helper=helper.username,
                    household=household,
                    day=day,
                    started_at=start,
                    ended_at=end,
                    site=household_site(household, centres, options.seed),
                    seed=rng.getrandbits(64),
                    offline=rng.random() < options.offline_share,
                    replay=rng.random() < options.duplicate_share,
                    shortfall=rng.random() < SHORTFALL_SHARE,
                )
                captured = start + timedelta(seconds=rng.randint(30, 180))
                visit.gps = _gps_fix(rng, visit.site, captured, options.gcj02_share)
                visits.append(visit)
    _fake_some(visits, rng, options)
    return visits


def _fake_some(visits: list[PlannedVisit], rng: random.Random, options: PlanOptions) -> None:
    """Turn exactly round(share × visits) visits into fakes, the kinds taken in turn."""
    wanted = round(options.fake_share * len(visits))
    if wanted <= 0:
        return
    previous: dict[int, PlannedVisit | None] = {}
    last_by_helper: dict[str, list[PlannedVisit]] = {}
    for i, visit in enumerate(visits):
        earlier = last_by_helper.setdefault(visit.helper, [])
        # The most recent earlier visit of the same helper to another household.
        previous[i] = next(
            (v for v in reversed(earlier) if v.household.id != visit.household.id), None
        )
        earlier.append(visit)
    for turn, i in enumerate(sorted(rng.sample(range(len(visits)), wanted))):
        visit = visits[i]
        eligible = {
            WRONG_PLACE: visit.household.located,
            REUSED_PHOTO: previous[i] is not None,
            TOO_SHORT: True,
        }
        kinds = [FAKE_KINDS[(turn + k) % len(FAKE_KINDS)] for k in range(len(FAKE_KINDS))]
        kind = next(k for k in kinds if eligible[k])
        visit.fake = kind
        visit.shortfall = False  # a faker ticks every box
        if kind == WRONG_PLACE:
            bearing = rng.uniform(0, 2 * math.pi)
            distance = rng.uniform(*WRONG_PLACE_M)
            elsewhere = offset(
                *visit.site, distance * math.cos(bearing), distance * math.sin(bearing)
            )
            captured = datetime.fromisoformat(visit.gps["captured_at"])
            visit.gps = _gps_fix(rng, elsewhere, captured, options.gcj02_share)
        elif kind == REUSED_PHOTO:
            visit.reuse_from = previous[i]
        else:
            visit.ended_at = visit.started_at + timedelta(minutes=SHORT_MINUTES)
            captured = visit.started_at + timedelta(seconds=20)
            visit.gps = dict(visit.gps, captured_at=captured.isoformat())


def simulated_days(end: date, days: int) -> list[date]:
    """The ``days`` calendar days ending with ``end``, oldest first."""
    return [end - timedelta(days=days - 1 - i) for i in range(days)]


def default_end_day(now: datetime) -> date:
    """The last day to simulate: today once the working day is over in China, else yesterday."""
    local = now.astimezone(CHINA_TZ)
    end_of_day = datetime.combine(local.date(), DAY_START, tzinfo=CHINA_TZ) + timedelta(
        minutes=DAY_MINUTES
    )
    return local.date() if local >= end_of_day else local.date() - timedelta(days=1)


def latest_visit_end(day: date) -> datetime:
    """When the last visit of ``day`` ends at the latest (nothing may be in the future)."""
    return datetime.combine(day, DAY_START, tzinfo=CHINA_TZ) + timedelta(minutes=DAY_MINUTES)
