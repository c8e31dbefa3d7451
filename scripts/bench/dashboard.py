"""Dashboard benchmark: coverage and 户户清 status on a county-scale dataset in PostgreSQL.

    .venv/bin/python scripts/bench/dashboard.py                      # the issue's run
    .venv/bin/python scripts/bench/dashboard.py --households 30000   # a quick run
    .venv/bin/python scripts/bench/dashboard.py --export-households 0  # skip the export

What one run does (see scripts/bench/README.md, "dashboard.py"):

1. creates a throwaway database and migrates it to revision 0005;
2. loads a county with COPY: by default 300,000 households in ~38 towns, ~3.6 million visits
   over the last 12 China months (one per household and month for 92 % of them, secretaries'
   and second visits on top; flags, review verdicts, reassignments), their failing checks and
   500,000 problems (visit checks, villagers' reports, screening lists);
3. migrates to 0006, whose backfill fills the coverage roll-up from those visits, and checks
   the result against ``rebuild_household_months`` (the service's own set-based rebuild);
4. times, through the service functions, the town coverage view, the county view and the
   户户清 list of one village (plus a few others), and the cost of ``record_visit`` at ingest;
5. loads a separate district of 1,000,000 households and measures, in a child process, the
   peak RSS of exporting it as XLSX through ``backend.services.exports.write_export``;
6. drops the database (``--keep`` keeps it).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from scripts.bench.benchdb import create_database, drop_database  # noqa: E402

ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
VILLAGES_PER_TOWN = 8
GROUPS_PER_VILLAGE = 5
HOUSEHOLDS_PER_TOWN = 8_000
HOUSEHOLDS_PER_HELPER = 10
MONTHS = 12
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘"
GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超兰霞平刚桂英华建国志红"
CATEGORIES = [
    ("registered_poor", 0.10),
    ("monitored", 0.03),
    ("dibao", 0.05),
    ("tekun", 0.01),
    ("disabled", 0.01),
    ("ordinary", 0.80),
]
CHECKS = [
    ("food_secure", "food_clothing", "mzb"),
    ("clothing_secure", "food_clothing", "mzb"),
    ("compulsory_schooling", "schooling", "mzb"),
    ("college_aid", "schooling", "mzb"),
    ("basic_medical_insurance", "medical", "sbs"),
    ("serious_illness_insurance", "medical", "sbs"),
    ("medical_aid", "medical", "wjb"),
    ("family_doctor", "medical", "wjb"),
    ("inpatient_self_pay", "medical", "wjb"),
    ("outpatient_self_pay", "medical", "wjb"),
    ("house_safety", "housing", "ghjs"),
    ("water_quantity", "water", "nyfw"),
    ("water_quality", "water", "nyfw"),
    ("water_reliability", "water", "nyfw"),
    ("water_convenience", "water", "nyfw"),
    ("dibao_enrolled", "basic_living", "mzb"),
    ("tekun_enrolled", "basic_living", "mzb"),
    ("temporary_relief", "basic_living", "mzb"),
    ("employment", "jobs", "sbs"),
    ("income_line", "income", "fpb"),
    ("microloan", "microloan", "fpb"),
    ("collective_linkage", "industry", "nyfw"),
    ("sanitary_household", "environment", "nyfw"),
    ("beautiful_courtyard", "environment", "nyfw"),
    ("knows_policies", "policy", "fpb"),
    ("knows_doctor", "policy", "wjb"),
]
ZERO_HASH = "0" * 64
FLAGS = '[{"code": "visit.too_short"}]'
# The checks that fail in practice (water, housing, insurance, doctor, income, environment).
FAILING = [12, 10, 4, 7, 19, 22]


def log(message: str) -> None:
    """Print a progress line with the time since start."""
    print(f"[{time.perf_counter() - STARTED:7.1f}s] {message}", flush=True)


STARTED = time.perf_counter()


# ----- data generation --------------------------------------------------------------------


def ts(moment: datetime) -> str:
    """A timestamptz literal for COPY."""
    return moment.strftime("%Y-%m-%d %H:%M:%S+00")


class County:
    """Ids and facts of the generated county, enough to generate what refers to them."""

    def __init__(self, households: int, seed: int, today: date) -> None:
        self.rng = random.Random(seed)
        self.n = households
        self.today = today
        self.towns = max(1, round(households / HOUSEHOLDS_PER_TOWN))
        first = today.replace(day=1)
        months = [first]
        for _ in range(MONTHS - 1):
            months.append((months[-1] - timedelta(days=1)).replace(day=1))
        self.months = list(reversed(months))
        self.now = datetime.now(UTC)
        self.regions: list[tuple] = []  # id, code, name, level, parent_id, path
        self.village_ids: list[int] = []
        self.groups_of: dict[int, list[tuple[int, str]]] = {}
        self.town_of_village: dict[int, int] = {}
        self.users: list[tuple] = []
        self.grants: list[tuple] = []
        self.helpers_of: dict[int, list[int]] = {}
        self.cadre_of: dict[int, int] = {}
        self.town_admin_of: dict[int, int] = {}
        self.district_user = 0
        self.district_id = 0

    def name(self) -> str:
        """A plausible Chinese name."""
        r = self.rng
        return r.choice(SURNAMES) + r.choice(GIVEN) + (r.choice(GIVEN) if r.random() < 0.6 else "")

    def build_regions(self, district_code: str = "500151", district_name: str = "铜梁区") -> None:
        """District → towns → villages → groups."""
        next_id = len(self.regions) + 1
        district = (next_id, district_code, district_name, "district", None, f"/{district_code}/")
        self.district_id = next_id
        self.regions.append(district)
        for t in range(self.towns):
            next_id += 1
            town_code = f"{district_code}{t + 101:03d}"
            town = (
                next_id,
                town_code,
                f"第{t + 1}镇",
                "town",
                district[0],
                f"{district[5]}{town_code}/",
            )
            self.regions.append(town)
            for v in range(VILLAGES_PER_TOWN):
                next_id += 1
                code = f"{town_code}{v + 201:03d}"
                village = (
                    next_id,
                    code,
                    f"{t + 1}镇{v + 1}村",
                    "village",
                    town[0],
                    f"{town[5]}{code}/",
                )
                self.regions.append(village)
                self.village_ids.append(village[0])
                self.town_of_village[village[0]] = town[0]
                self.groups_of[village[0]] = []
                for g in range(GROUPS_PER_VILLAGE):
                    next_id += 1
                    gcode = f"{code}{g + 1:03d}"
                    group = (
                        next_id,
                        gcode,
                        f"{g + 1}组",
                        "group",
                        village[0],
                        f"{village[5]}{gcode}/",
                    )
                    self.regions.append(group)
                    self.groups_of[village[0]].append((group[0], group[5]))

    def build_users(self) -> None:
        """The district user, a town admin per town, a cadre per village, helpers."""
        uid = 0
        gid = 0
        now = ts(self.now)

        def user(username, display, secretary=False):
            nonlocal uid
            uid += 1
            self.users.append((uid, username, display, True, now, secretary))
            return uid

        def grant(user_id, role, region_id):
            nonlocal gid
            gid += 1
            self.grants.append((gid, user_id, role, region_id, now))

        self.district_user = user("district", "区扶贫办")
        grant(self.district_user, "district", self.district_id)
        towns = [r for r in self.regions if r[3] == "town"]
        for t, town in enumerate(towns):
            self.town_admin_of[town[0]] = user(f"town_admin_{t + 1}", self.name(), True)
            grant(self.town_admin_of[town[0]], "town_admin", town[0])
        per_village = max(1, round(self.n / len(self.village_ids) / HOUSEHOLDS_PER_HELPER))
        for v, village_id in enumerate(self.village_ids):
            self.cadre_of[village_id] = user(f"cadre_{v + 1}", self.name(), True)
            grant(self.cadre_of[village_id], "village_cadre", village_id)
            self.helpers_of[village_id] = []
            for _ in range(per_village):
                helper = user(None, self.name())
                grant(helper, "helper", village_id)
                self.helpers_of[village_id].append(helper)

    def households(self) -> Iterator[tuple]:
        """Household rows; remembers each household's village, helpers and category."""
        rng = self.rng
        now = ts(self.now)
        weights = [w for _, w in CATEGORIES]
        names = [c for c, _ in CATEGORIES]
        self.hh_village: list[int] = [0] * (self.n + 1)
        self.hh_group: list[int] = [0] * (self.n + 1)
        self.hh_category: list[str] = [""] * (self.n + 1)
        self.hh_poor = bytearray(self.n + 1)
        villages = self.village_ids
        for hid in range(1, self.n + 1):
            village = villages[(hid - 1) * len(villages) // self.n]
            group_id, path = rng.choice(self.groups_of[village])
            category = rng.choices(names, weights)[0]
            self.hh_village[hid] = village
            self.hh_group[hid] = group_id
            self.hh_category[hid] = category
            self.hh_poor[hid] = category == "registered_poor"
            poverty = (
                ("lifted" if rng.random() < 0.9 else "not_lifted")
                if category == "registered_poor"
                else None
            )
            yield (
                hid,
                f"HH{hid:09d}",
                group_id,
                village,
                path,
                self.name(),
                "",
                29.7 + rng.random() * 0.2,
                105.95 + rng.random() * 0.2,
                category,
                poverty,
                category == "dibao",
                category == "tekun",
                category == "disabled",
                category == "monitored",
                now,
                now,
            )

    def assignments(self) -> Iterator[tuple]:
        """One helper per household since before the year; 3 % handed over during it."""
        rng = self.rng
        now = ts(self.now)
        start = self.months[0] - timedelta(days=400)
        aid = 0
        self.handover: dict[int, tuple[int, date, int]] = {}
        self.helper_of = [0] * (self.n + 1)
        for hid in range(1, self.n + 1):
            helpers = self.helpers_of[self.hh_village[hid]]
            helper = helpers[(hid * 7919) % len(helpers)]
            self.helper_of[hid] = helper
            aid += 1
            if rng.random() < 0.03 and len(helpers) > 1:
                day = self.months[0] + timedelta(days=rng.randrange(330))
                new = rng.choice([h for h in helpers if h != helper])
                yield (aid, helper, hid, start, day - timedelta(days=1), now)
                aid += 1
                yield (aid, new, hid, day, None, now)
                self.handover[hid] = (helper, day, new)
                self.helper_of[hid] = new
            else:
                yield (aid, helper, hid, start, None, now)

    def helper_on(self, hid: int, day: date) -> int:
        """The helper assigned on ``day``."""
        handover = self.handover.get(hid)
        if handover and day < handover[1]:
            return handover[0]
        return self.helper_of[hid]

    def visits(self, rollup_files: list) -> Iterator[tuple]:
        """Visits household by household and month; collects failing checks as it goes, and
        writes each household-month's roll-up row (as ingest would leave it) to the file of
        its month, in COPY text format.

        Visits are made between 08:00 and 17:00 China time, i.e. 00:00–09:00 UTC of the same
        date, so timestamps are written as strings without datetime arithmetic (speed).
        """
        rng = self.rng
        rand, randrange = rng.random, rng.randrange
        vid = 0
        self.failing: list[tuple[int, int, int, date]] = []  # visit, household, check, day
        today = self.today
        now = ts(self.now)
        month_days = []
        for month in self.months:
            last = (month + timedelta(days=32)).replace(day=1) - timedelta(days=1)
            if (month.year, month.month) == (today.year, today.month):
                last = max(month, today - timedelta(days=1))
            days = [month + timedelta(days=i) for i in range((last - month).days + 1)]
            month_days.append((month.isoformat(), [(d, d.isoformat()) for d in days]))
        reviews = ("unreviewed", "unreviewed", "valid", "valid", "invalid")
        # Month after month, as visits arrive in production: the visits table is in time
        # order on disk, which is what the planner sees in a real database.
        for m, (month, days) in enumerate(month_days):
            for hid in range(1, self.n + 1):
                village = self.hh_village[hid]
                poor = self.hh_poor[hid]
                handover = self.handover.get(hid)
                helper_now = self.helper_of[hid]
                cadre = self.cadre_of[village]
                prefix = f"{hid}\t"
                suffix = f"\t{self.hh_group[hid]}\t{village}\t{self.hh_category[hid]}\t"
                visitors = 0
                if rand() < 0.92:
                    visitors += 1
                if rand() < 0.04:
                    visitors += 1
                by_cadre = poor and rand() < 0.3
                if not visitors and not by_cadre:
                    continue
                # counted, pending, flagged, invalid, other; latest counted and pending
                counts = [0, 0, 0, 0, 0]
                last_counted = last_pending = None
                for n in range(visitors + by_cadre):
                    day, ds = days[randrange(len(days))]
                    assigned = n < visitors
                    if not assigned:
                        helper = cadre
                    elif handover and day < handover[1]:
                        helper = handover[0]
                    else:
                        helper = helper_now
                    vid += 1
                    flagged = rand() < 0.05
                    if flagged:
                        review = reviews[randrange(5)]
                    else:
                        review = "invalid" if rand() < 0.003 else "unreviewed"
                    failed = 0
                    if rand() < 0.08:
                        check = FAILING[randrange(len(FAILING))]
                        self.failing.append((vid, hid, check, day))
                        failed = 1
                    hour, minute = randrange(9), randrange(35)
                    ended = f"{ds} {hour:02d}:{minute + 25:02d}:00+00"
                    if not assigned:
                        if review != "invalid":
                            counts[4] += 1
                    elif review == "invalid":
                        counts[3] += 1
                    elif flagged and review != "valid":
                        counts[1] += 1
                        if last_pending is None or (ended, vid) > last_pending:
                            last_pending = (ended, vid)
                    else:
                        counts[0] += 1
                        if last_counted is None or (ended, vid) > last_counted:
                            last_counted = (ended, vid)
                    if assigned and flagged:
                        counts[2] += 1
                    yield (
                        vid,
                        f"00000000-0000-4000-8000-{vid:012d}",
                        ZERO_HASH,
                        hid,
                        helper,
                        1,
                        "{}",
                        f"{ds} {hour:02d}:{minute:02d}:00+00",
                        ended,
                        f"{ds} {hour + 1:02d}:{minute:02d}:00+00",
                        FLAGS if flagged else "[]",
                        int(flagged),
                        failed,
                        review,
                        ended,
                    )
                if any(counts):
                    lc = f"{last_counted[1]}\t{last_counted[0]}" if last_counted else "\\N\t\\N"
                    lp = f"{last_pending[1]}\t{last_pending[0]}" if last_pending else "\\N\t\\N"
                    rollup_files[m].write(
                        f"{prefix}{month}{suffix}{counts[0]}\t{counts[1]}\t{counts[2]}\t"
                        f"{counts[3]}\t{counts[4]}\t{lc}\t{lp}\t{now}\n"
                    )
        self.visit_count = vid

    def visit_checks(self) -> Iterator[tuple]:
        """The failing checks of every visit (visit_checks holds the checks not passed)."""
        for cid, (visit, _hid, check, _at) in enumerate(self.failing, start=1):
            key, area, office = CHECKS[check]
            yield (cid, visit, key, key, area, f'["{office}"]', False, True, "{}")

    def problems(self, target: int) -> Iterator[tuple]:
        """Problems of failing checks (one open at most per household and check), then reports
        and screening lists until ``target``."""
        rng = self.rng
        pid = 0
        now = self.now
        latest: dict[tuple[int, int], int] = {}
        for index, (_visit, hid, check, _at) in enumerate(self.failing):
            latest[(hid, check)] = index
        for index, (visit, hid, check, day) in enumerate(self.failing):
            if pid >= target:
                return
            at = datetime.combine(day, dtime(2, 0), UTC)
            key, area, office = CHECKS[check]
            is_latest = latest[(hid, check)] == index
            status = "closed"
            if is_latest and (now - at < timedelta(days=45) or rng.random() < 0.1):
                status = rng.choice(["assigned", "rectifying", "rectified", "verified"])
            pid += 1
            closed = at + timedelta(days=rng.randrange(3, 40))
            if status == "closed" and closed > now:
                closed = now
            yield self._problem(
                pid,
                hid,
                area,
                key,
                office,
                "visit_check",
                visit,
                f"check:{key}",
                status,
                at,
                closed,
            )
        while pid < target:
            hid = rng.randrange(1, self.n + 1)
            at = now - timedelta(days=rng.randrange(365), minutes=rng.randrange(1440))
            pid += 1
            if rng.random() < 0.75:
                status = rng.choices(
                    ["closed", "rejected", "reported", "accepted", "assigned"], [80, 5, 5, 5, 5]
                )[0]
                source = "villager_report"
            else:
                status = rng.choices(["closed", "assigned", "rectifying"], [85, 10, 5])[0]
                source = "data_screening"
            closed = min(at + timedelta(days=rng.randrange(2, 30)), now)
            yield self._problem(
                pid, hid, "other", None, "fpb", source, None, None, status, at, closed
            )

    def _problem(self, pid, hid, area, key, office, source, visit, dedup, status, at, closed):
        finished = status in ("closed", "rejected", "merged")
        return (
            pid,
            hid,
            self.path_of(hid),
            self.hh_village[hid],
            area,
            key,
            office,
            source,
            visit,
            dedup,
            "问题" if key is None else f"未通过：{key}",
            "",
            "[]",
            status,
            0,
            0,
            ts(at),
            ts(closed) if status == "closed" else None,
            ts(closed if finished else at),
        )

    def path_of(self, hid: int) -> str:
        """The household's region path (its group's, from the stored households)."""
        return self._paths[hid]


def copy_rows(conn, table: str, columns: list[str], rows: Iterator[tuple]) -> int:
    """COPY rows into a table; returns how many."""
    count = 0
    sql = f"COPY {table} ({', '.join(columns)}) FROM STDIN"
    with conn.cursor() as cur, cur.copy(sql) as copy:
        for row in rows:
            copy.write_row(row)
            count += 1
    return count


def drop_indexes(conn, table: str) -> list[str]:
    """Drop a table's plain indexes (not constraints) for a bulk load; return their DDL."""
    rows = conn.execute(
        """
        SELECT i.indexname, i.indexdef FROM pg_indexes i
        WHERE i.tablename = %s AND i.schemaname = 'public'
          AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)
        """,
        (table,),
    ).fetchall()
    for name, _ in rows:
        conn.execute(f'DROP INDEX "{name}"')
    return [ddl for _, ddl in rows]


class _Discard:
    """A file that forgets what is written (no roll-up table to fill yet)."""

    def write(self, _text: str) -> None:
        """Drop the text."""


def load_county(conn, county: County, problems: int, rollup: bool) -> dict[str, int]:
    """Generate and COPY the whole county (and, with ``rollup``, its roll-up rows)."""
    counts = {}
    county.build_regions()
    county.build_users()
    counts["regions"] = copy_rows(
        conn, "regions", ["id", "code", "name", "level", "parent_id", "path"], iter(county.regions)
    )
    counts["users"] = copy_rows(
        conn,
        "users",
        ["id", "username", "display_name", "is_active", "created_at"],
        (u[:5] for u in county.users),
    )
    counts["role_grants"] = copy_rows(
        conn,
        "role_grants",
        ["id", "user_id", "role", "region_id", "created_at"],
        iter(county.grants),
    )
    columns = [
        "id", "number", "region_id", "village_id", "region_path", "head_name", "address", "lat",
        "lon", "category", "poverty_status", "is_dibao", "is_tekun", "is_disabled",
        "is_monitored", "created_at", "updated_at",
    ]  # fmt: skip
    paths = [""] * (county.n + 1)

    def households():
        for row in county.households():
            paths[row[0]] = row[4]
            yield row

    counts["households"] = copy_rows(conn, "households", columns, households())
    county._paths = paths
    log(f"households: {counts['households']:,}")
    counts["assignments"] = copy_rows(
        conn,
        "assignments",
        ["id", "helper_id", "household_id", "start_date", "end_date", "created_at"],
        county.assignments(),
    )
    ddl: list[str] = []
    tables = ("visits", "visit_checks", "problems")
    for table in (*tables, "household_visit_months") if rollup else tables:
        ddl += drop_indexes(conn, table)
    with contextlib.ExitStack() as files:
        months = [
            files.enter_context(tempfile.TemporaryFile("w+", encoding="utf-8"))
            if rollup
            else _Discard()
            for _ in county.months
        ]
        counts["visits"] = copy_rows(
            conn,
            "visits",
            [
                "id", "client_uuid", "body_hash", "household_id", "helper_id", "form_version_id",
                "answers", "started_at", "ended_at", "received_at", "flags", "flag_count",
                "failed_check_count", "review_status", "created_at",
            ],
            county.visits(months),
        )  # fmt: skip
        log(f"visits: {counts['visits']:,}")
        if rollup:
            # Month after month, as ingest appends them.
            sql = f"COPY household_visit_months ({ROLLUP_COLUMNS}, updated_at) FROM STDIN"
            with conn.cursor() as cur, cur.copy(sql) as copy:
                for month in months:
                    month.seek(0)
                    while chunk := month.read(1 << 20):
                        copy.write(chunk)
            counts["household_visit_months"] = conn.execute(
                "SELECT count(*) FROM household_visit_months"
            ).fetchone()[0]
    counts["visit_checks"] = copy_rows(
        conn,
        "visit_checks",
        ["id", "visit_id", "check_key", "label", "area", "office_codes", "passed", "applicable",
         "evidence"],
        county.visit_checks(),
    )  # fmt: skip
    counts["problems"] = copy_rows(
        conn,
        "problems",
        [
            "id", "household_id", "region_path", "village_id", "area", "check_key", "office_code",
            "source", "source_visit_id", "dedup_key", "title", "description", "photo_ids",
            "status", "escalation_level", "reopen_count", "opened_at", "closed_at", "updated_at",
        ],
        county.problems(problems),
    )  # fmt: skip
    log(f"visit checks: {counts['visit_checks']:,}; problems: {counts['problems']:,}")
    for statement in ddl:
        conn.execute(statement)
    log(f"recreated {len(ddl)} indexes")
    for table in ("regions", "users", "role_grants", "households", "assignments", "visits",
                  "visit_checks", "problems"):  # fmt: skip
        conn.execute(
            f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
            f"(SELECT COALESCE(MAX(id), 1) FROM {table}))"
        )
    return counts


# ----- measuring ----------------------------------------------------------------------------


def timed(fn: Callable[[], object], runs: int, warmup: int = 2) -> list[float]:
    """Milliseconds of ``runs`` calls after ``warmup`` unmeasured ones."""
    from backend.extensions import db

    for _ in range(warmup):
        fn()
        db.session.rollback()
    out = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        out.append((time.perf_counter() - started) * 1000)
        db.session.rollback()
    return out


def p(values: list[float], q: float) -> float:
    """The q-quantile (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def report(label: str, values: list[float], target: float | None = None) -> str:
    """One printed line: p50, p95, max and the target."""
    p50 = statistics.median(values)
    verdict = ""
    if target is not None:
        verdict = f"  target p50 < {target:.0f} ms: {'met' if p50 < target else 'MISSED'}"
    return (
        f"{label:<44} p50 {p50:8.1f} ms   p95 {p(values, 0.95):8.1f} ms   "
        f"max {max(values):8.1f} ms  (n={len(values)}){verdict}"
    )


def measure(app, county: County, runs: int) -> list[str]:
    """Time the views through the service functions."""
    from sqlalchemy import select

    from backend.extensions import db
    from backend.models import User, Visit
    from backend.services import coverage, household_status
    from backend.services.auth import actor_for_user
    from backend.services.periods import month_period, quarter_period
    from backend.services.rollups import record_visit

    lines = []
    with app.app_context():
        town_id = county.town_of_village[county.village_ids[0]]
        town_admin = actor_for_user(user=db.session.get(User, county.town_admin_of[town_id]))
        district = actor_for_user(user=db.session.get(User, county.district_user))
        period = month_period(county.today)
        quarter = quarter_period(county.today.year, (county.today.month - 1) // 3 + 1)
        village = county.village_ids[0]
        town = coverage.get_coverage(actor=town_admin, period=period)
        county_view = coverage.get_coverage(actor=district, period=period)
        db.session.rollback()
        lines.append(
            f"period {period.key}; town: {town['total']['households']:,} households, "
            f"{town['total']['coverage_pct']} % visited; county: "
            f"{county_view['total']['households']:,} households in {len(county_view['rows'])} "
            f"towns, {county_view['total']['coverage_pct']} % visited; town view lists "
            f"{town['helpers_total']:,} helpers"
        )
        views = [
            (
                "town coverage view (month)",
                lambda: coverage.get_coverage(actor=town_admin, period=period),
                50,
            ),
            (
                "county view (month)",
                lambda: coverage.get_coverage(actor=district, period=period),
                300,
            ),
            (
                "户户清 list of one village (page of 50)",
                lambda: household_status.list_household_status(
                    actor=town_admin, period=period, region_id=village
                ),
                None,
            ),
            (
                "(extra) county view (quarter)",
                lambda: coverage.get_coverage(actor=district, period=quarter),
                None,
            ),
            (
                "(extra) town coverage from visits, no roll-up",
                lambda: coverage.get_coverage(actor=town_admin, period=period, source="direct"),
                None,
            ),
            (
                "(extra) county view from visits, no roll-up",
                lambda: coverage.get_coverage(actor=district, period=period, source="direct"),
                None,
            ),
            (
                "(extra) 户户清 roll-up of the town by village",
                lambda: household_status.status_rollup(actor=town_admin, period=period),
                None,
            ),
        ]
        for label, fn, target in views:
            # Without the roll-up a view takes seconds: a couple of runs is enough.
            values = timed(fn, 2, warmup=1) if "no roll-up" in label else timed(fn, runs)
            lines.append(report(label, values, target))
            print(lines[-1], flush=True)
        trend = timed(lambda: household_status.status_trend(actor=town_admin, months=12), 3, 1)
        lines.append(report("(extra) 户户清 trend of the town, 12 months", trend))
        print(lines[-1], flush=True)
        # Ingest: the roll-up upsert a visit adds, on existing rows (rolled back).
        visits = db.session.scalars(select(Visit).order_by(Visit.id.desc()).limit(2000)).all()
        started = time.perf_counter()
        for visit in visits:
            record_visit(visit=visit)
        per_visit = (time.perf_counter() - started) * 1000 / len(visits)
        db.session.rollback()
        lines.append(
            f"{'ingest: record_visit (assignment lookup + upsert)':<44} "
            f"{per_visit:8.2f} ms per visit (mean of {len(visits)})"
        )
        print(lines[-1], flush=True)
    return lines


SAMPLE_EVERY = 50
ROLLUP_COLUMNS = (
    "household_id, month, region_id, village_id, category, counted_visits, pending_visits, "
    "flagged_visits, invalid_visits, other_visits, last_counted_visit_id, last_counted_at, "
    "last_pending_visit_id, last_pending_at"
)


def copy_backfill_sample(conn) -> None:
    """Keep what the 0006 backfill wrote for every 50th household."""
    conn.execute(
        f"CREATE TABLE hvm_backfill AS SELECT {ROLLUP_COLUMNS} FROM household_visit_months "
        f"WHERE household_id % {SAMPLE_EVERY} = 0"
    )


def compare_backfill_sample(conn) -> tuple[int, int]:
    """Rows differing between the backfill and the service's rebuild of the sample."""
    rebuilt = (
        f"SELECT {ROLLUP_COLUMNS} FROM household_visit_months "
        f"WHERE household_id % {SAMPLE_EVERY} = 0"
    )
    kept = f"SELECT {ROLLUP_COLUMNS} FROM hvm_backfill"
    a = conn.execute(f"SELECT count(*) FROM ({kept} EXCEPT {rebuilt}) x").fetchone()[0]
    b = conn.execute(f"SELECT count(*) FROM ({rebuilt} EXCEPT {kept}) x").fetchone()[0]
    conn.execute("DROP TABLE hvm_backfill")
    return a, b


def load_export_district(conn, households: int, first_user: int, seed: int) -> tuple[int, int]:
    """A second district of ``households`` households (no visits) and a district user."""
    county = County(households, seed, date.today())
    county.towns = max(1, households // 100_000)
    base_region = conn.execute("SELECT MAX(id) FROM regions").fetchone()[0]
    county.build_regions(district_code="500199", district_name="导出测试区")
    shifted = [
        (r[0] + base_region, r[1], r[2], r[3], r[4] + base_region if r[4] else None, r[5])
        for r in county.regions
    ]
    copy_rows(conn, "regions", ["id", "code", "name", "level", "parent_id", "path"], iter(shifted))
    county.village_ids = [v + base_region for v in county.village_ids]
    county.groups_of = {
        v + base_region: [(g + base_region, path) for g, path in groups]
        for v, groups in county.groups_of.items()
    }
    base_household = conn.execute("SELECT MAX(id) FROM households").fetchone()[0]
    columns = [
        "id", "number", "region_id", "village_id", "region_path", "head_name", "address", "lat",
        "lon", "category", "poverty_status", "is_dibao", "is_tekun", "is_disabled",
        "is_monitored", "created_at", "updated_at",
    ]  # fmt: skip

    def rows():
        for row in county.households():
            yield (row[0] + base_household, f"EX{row[0]:09d}", *row[2:])

    copy_rows(conn, "households", columns, rows())
    user_id = first_user
    now = ts(datetime.now(UTC))
    conn.execute(
        "INSERT INTO users (id, username, display_name, is_active, created_at) "
        "VALUES (%s, 'export_district', '导出测试员', true, %s)",
        (user_id, now),
    )
    conn.execute(
        "INSERT INTO role_grants (user_id, role, region_id, created_at) "
        "VALUES (%s, 'district', %s, %s)",
        (user_id, base_region + 1, now),
    )
    conn.execute("ANALYZE households")
    return base_region + 1, user_id


def export_child(url: str, region_id: int, user_id: int) -> None:
    """Run one XLSX export into /dev/null and print rows, seconds and peak RSS."""
    from backend import create_app
    from backend.extensions import db
    from backend.models import User
    from backend.services.auth import actor_for_user
    from backend.services.exports import write_export

    app = create_app({"ENV_NAME": "test", "DATABASE_URL": url, "LOG_LEVEL": "WARNING"})
    with app.app_context():
        actor = actor_for_user(user=db.session.get(User, user_id))
        base = _peak_rss_kb()
        started = time.perf_counter()
        with open(os.devnull, "wb") as out:
            rows = write_export(
                actor=actor, kind="households", fmt="xlsx", out=out, region_id=region_id
            )
        seconds = time.perf_counter() - started
        db.session.rollback()
    peak = _peak_rss_kb()
    print(f"EXPORT rows={rows} seconds={seconds:.1f} peak_kb={peak} before_kb={base}", flush=True)


def _peak_rss_kb() -> int:
    """This process's peak RSS since exec (VmHWM). ``ru_maxrss`` would not do: on Linux it
    keeps the parent's high-water mark across fork and exec."""
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--households", type=int, default=300_000)
    parser.add_argument("--problems", type=int, default=None, help="default 5/3 per household")
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--export-households", type=int, default=1_000_000)
    parser.add_argument("--admin-url", default=ADMIN_URL)
    parser.add_argument("--seed", type=int, default=20201)
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument(
        "--pg-defaults",
        action="store_true",
        help="keep PostgreSQL's default random_page_cost (4) and jit (on) for the database",
    )
    parser.add_argument(
        "--backfill",
        action="store_true",
        help="load at revision 0005 and time migration 0006's backfill of the roll-up",
    )
    parser.add_argument(
        "--export-child", nargs=3, metavar=("URL", "REGION", "USER"), help=argparse.SUPPRESS
    )
    args = parser.parse_args(argv)
    if args.export_child:
        url, region, user = args.export_child
        export_child(url, int(region), int(user))
        return 0
    problems = args.problems if args.problems is not None else round(args.households * 5 / 3)

    from flask_migrate import upgrade

    from backend import create_app
    from backend.services.clock import china_today

    name, url = create_database(args.admin_url, "hhq_dash")
    sa_url = url.replace("postgresql://", "postgresql+psycopg://", 1)
    log(f"database {name}")
    if not args.pg_defaults:
        # What a deployment on SSD sets (see README): random pages cost about as much as
        # sequential ones, and no JIT compilation for queries of a few milliseconds.
        with psycopg.connect(args.admin_url, autocommit=True) as conn:
            for setting in ("random_page_cost = 1.1", "jit = off"):
                conn.execute(f'ALTER DATABASE "{name}" SET {setting}')
    lines: list[str] = []
    try:
        app = create_app({"ENV_NAME": "test", "DATABASE_URL": sa_url, "LOG_LEVEL": "WARNING"})
        with app.app_context():
            upgrade(revision="0005" if args.backfill else "head")
        county = County(args.households, args.seed, china_today())
        with psycopg.connect(url, autocommit=True) as conn:
            started = time.perf_counter()
            counts = load_county(conn, county, problems, rollup=not args.backfill)
            # As autovacuum would leave it: statistics and the visibility map up to date.
            conn.execute("VACUUM ANALYZE")
            load_seconds = time.perf_counter() - started
            log(
                f"loaded in {load_seconds:.0f} s: "
                + ", ".join(f"{k} {v:,}" for k, v in counts.items())
            )
        backfill = None
        if not args.backfill:
            from backend.extensions import db
            from backend.services.rollups import rebuild_region_sums

            started = time.perf_counter()
            with app.app_context():
                rebuild_region_sums()
                db.session.commit()
            log(f"region sums from the roll-up rows: {time.perf_counter() - started:.1f} s")
        if args.backfill:
            started = time.perf_counter()
            with app.app_context():
                upgrade()
            backfill = time.perf_counter() - started
            log(
                f"migration 0006 (roll-up backfill of {counts['visits']:,} visits): {backfill:.1f} s"
            )
        with psycopg.connect(url, autocommit=True) as conn:
            secretaries = list(county.town_admin_of.values()) + list(county.cadre_of.values())
            conn.execute(
                "UPDATE users SET is_party_secretary = true WHERE id = ANY(%s)", (secretaries,)
            )
            copy_backfill_sample(conn)
        from backend.extensions import db
        from backend.services.rollups import rebuild_household_months

        sample = range(SAMPLE_EVERY, county.n + 1, SAMPLE_EVERY)
        with app.app_context():
            started = time.perf_counter()
            rebuild_household_months(household_ids=sample)
            db.session.commit()
            rebuild = time.perf_counter() - started
        with psycopg.connect(url, autocommit=True) as conn:
            diff = compare_backfill_sample(conn)
            rollup_rows = conn.execute("SELECT count(*) FROM household_visit_months").fetchone()[0]
            conn.execute("VACUUM ANALYZE household_visit_months")
        origin = "migration 0006's backfill" if args.backfill else "the generator (as ingest)"
        log(
            f"rebuild_household_months() of {len(sample):,} households: {rebuild:.1f} s; "
            f"differences with {origin}: {diff[0]} / {diff[1]}"
        )
        lines.append(
            f"dataset: {counts['households']:,} households, {counts['visits']:,} visits, "
            f"{counts['problems']:,} problems, {counts['visit_checks']:,} visit checks, "
            f"{rollup_rows:,} roll-up rows; COPY load {load_seconds:.0f} s"
            + (f"; migration 0006 backfill {backfill:.1f} s" if backfill is not None else "")
        )
        lines.append(
            f"roll-up rows of every {SAMPLE_EVERY}th household ({len(sample):,}) rebuilt by the "
            f"service in {rebuild:.1f} s, equal to {origin}: "
            f"{'yes' if diff == (0, 0) else f'NO {diff}'}"
        )
        lines += measure(app, county, args.runs)
        if args.export_households > 0:
            with psycopg.connect(url, autocommit=True) as conn:
                first_user = conn.execute("SELECT MAX(id) FROM users").fetchone()[0] + 1
                region, user = load_export_district(
                    conn, args.export_households, first_user, args.seed + 1
                )
            log(f"export district: {args.export_households:,} households loaded")
            child = subprocess.run(
                [sys.executable, __file__, "--export-child", sa_url, str(region), str(user)],
                capture_output=True,
                text=True,
                cwd=ROOT,
            )
            found = [line for line in child.stdout.splitlines() if line.startswith("EXPORT ")]
            if child.returncode != 0 or not found:
                lines.append("export: FAILED\n" + child.stdout[-2000:] + child.stderr[-4000:])
            else:
                fields = dict(part.split("=") for part in found[0].split()[1:])
                peak = int(fields["peak_kb"]) / 1024
                lines.append(
                    f"{'XLSX export of ' + format(int(fields['rows']), ',') + ' households':<44} "
                    f"peak RSS {peak:.0f} MB (process before export "
                    f"{int(fields['before_kb']) / 1024:.0f} MB), {float(fields['seconds']):.0f} s"
                    f"  target < 300 MB: {'met' if peak < 300 else 'MISSED'}"
                )
        else:
            lines.append("export: not measured (--export-households 0)")
    finally:
        if args.keep:
            log(f"kept database {name}: {url}")
        else:
            drop_database(args.admin_url, name)
    print("\n==== dashboard bench ====")
    print(
        "PostgreSQL settings of the database: "
        + ("server defaults" if args.pg_defaults else "random_page_cost = 1.1, jit = off")
    )
    for line in lines:
        print(line)
    print(f"total run time {time.perf_counter() - STARTED:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
