"""Storing submitted visits, many at a time: validation, GPS, checks, flags, problems, coverage.

Every submission (``POST /visits``, a queued batch of ``/sync/visits``, or the submissions of
concurrent requests gathered by ``backend.group_commit``) goes through :func:`ingest_visits`.
A visit needs about a dozen statements (the household and its assignments, the form, the
members, the helper's neighbouring visits, the visit's INSERT, its checks, its household's
problems and warning flags, two coverage upserts); here they are run once per *batch*, with
the rows of every visit of the batch, so that their cost (SQLAlchemy, the driver, a round trip,
PostgreSQL's per-statement work) is paid once for many visits.

The outcome is the same as storing the submissions one after the other:

- A batch holds at most one submission per helper, per household and per ``client_uuid``;
  the others wait for the next batch. So a visit sees the visits before it of its helper
  (impossible travel) and of its household (problems, warning flags, coverage), exactly as
  one at a time.
- Each submission is validated on its own, in the order the single-visit API always used
  (household, form, times, GPS, answers, photos), so a bad one gets the error it always got
  and never stops the others. Nothing is written before every submission of the batch is
  validated.
- The writes of a batch run in one savepoint. Should one fail (a concurrent retry of the same
  ``client_uuid`` won the race, a photo was claimed meanwhile), the savepoint is rolled back
  and each submission of the batch is stored on its own, so no visit is lost or stored twice,
  and none is stored without its checks, problems and coverage.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import Boolean, Float, Integer, bindparam, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import make_transient_to_detached

from backend import jsonfast
from backend.errors import DomainError
from backend.extensions import db
from backend.models import (
    Assignment,
    Household,
    LocationProposal,
    Member,
    Photo,
    ReviewStatus,
    Role,
    Visit,
    utcnow,
)
from backend.models.base import UTCDateTime
from backend.services import survey
from backend.services.authenticity import (
    AuthenticitySettings,
    GpsFix,
    HelperVisitPoint,
    PhotoFacts,
    VisitFacts,
    assess_visit,
)
from backend.services.authz import Actor, can_read_household
from backend.services.cards import find_cards
from backend.services.clock import CHINA_TZ
from backend.services.forms import PublishedForm, published_form_for_visit
from backend.services.geo import coordinate_problem, to_wgs84
from backend.services.photos import claim_photos, photo_reuse_matches
from backend.services.rollups import record_visits
from backend.services.visit_forms import MEMBER_SURVEY_FIELDS
from backend.services.visit_problems import apply_visits_checks

# Staff who may record a visit to any household in their region (secretaries' visits, 遍访).
VISITING_ROLES = frozenset({Role.VILLAGE_CADRE, Role.TOWN_ADMIN, Role.DISTRICT})
# Fields that may differ between retries of one submission without making it a new one.
_VOLATILE_FIELDS = frozenset({"device_sent_at"})
# A member's columns the survey engine reads, in members_for_survey's keys.
_SURVEY_MEMBER_COLUMNS = ("id", "name", "birth_date", "relation", "sex", *MEMBER_SURVEY_FIELDS)

# The statements every batch runs, built once: building a SELECT costs about as much CPU as
# executing it, and SQLAlchemy caches only the compiled SQL, not the construct.
_RETRY_QUERY = select(Visit.client_uuid, Visit.id, Visit.helper_id, Visit.body_hash).where(
    Visit.client_uuid.in_(bindparam("client_uuids", expanding=True))
)
_HOUSEHOLDS_QUERY = select(Household).where(
    Household.id.in_(bindparam("household_ids", expanding=True))
)
_ASSIGNMENTS_QUERY = select(
    Assignment.household_id, Assignment.helper_id, Assignment.start_date, Assignment.end_date
).where(Assignment.household_id.in_(bindparam("household_ids", expanding=True)))
_MEMBERS_QUERY = (
    select(Member.household_id, *[getattr(Member, name) for name in _SURVEY_MEMBER_COLUMNS])
    .where(Member.household_id.in_(bindparam("household_ids", expanding=True)))
    .order_by(Member.household_id, Member.id)
)
# A batch's failing check rows (see VisitCheck) from one JSON array that the database expands:
# an executemany costs the driver a parameter set per row, 3-4 times the CPU of this. Each row
# is the result as serialised for the visit's check_results, with its visit's id in front (see
# _store_failed_checks). Rows go in in form order. json (not jsonb) keeps the evidence's text
# as given. On PostgreSQL json_to_recordset parses each element once (seven ->> per row parsed
# it seven times).
_INSERT_CHECKS_PG = text(
    """
    INSERT INTO visit_checks
        (visit_id, check_key, label, area, office_codes, passed, applicable, evidence)
    SELECT r.visit_id, r.check_key, r.label, r.area, r.office_codes, r.passed, r.applicable,
           r.evidence
    FROM ROWS FROM (
        json_to_recordset(CAST(:rows AS json)) AS (
            visit_id integer, check_key text, label text, area text, office_codes json,
            passed boolean, applicable boolean, evidence json
        )
    ) WITH ORDINALITY AS r(
        visit_id, check_key, label, area, office_codes, passed, applicable, evidence, n
    )
    ORDER BY r.n
    """
)
_INSERT_CHECKS_SQLITE = text(
    """
    INSERT INTO visit_checks
        (visit_id, check_key, label, area, office_codes, passed, applicable, evidence)
    SELECT json_extract(e.value, '$.visit_id'), json_extract(e.value, '$.check_key'),
           json_extract(e.value, '$.label'), json_extract(e.value, '$.area'),
           json_extract(e.value, '$.office_codes'), json_extract(e.value, '$.passed'),
           json_extract(e.value, '$.applicable'), json_extract(e.value, '$.evidence')
    FROM json_each(:rows) AS e
    ORDER BY e.key
    """
)


@dataclass(eq=False)
class Submission:
    """One submitted visit and, once ingested, its outcome.

    Exactly one of these holds afterwards: ``error`` (the DomainError it gets), or
    ``visit_id`` with ``created`` True (``visit`` is the new row, carrying ``check_rows_json`` and
    ``photo_ids`` as stored, so that an answer need not read them back) or False (an
    identical retry of the stored visit ``visit_id``).
    """

    actor: Actor
    data: dict[str, Any]
    received_at: datetime = field(default_factory=utcnow)
    visit: Visit | None = None
    visit_id: int | None = None
    created: bool = False
    error: DomainError | None = None
    # canonical_hash(data), taken where the submission is made: under the group commit that
    # is the request's own thread, off the commit thread that stores every submission in turn.
    body_hash: str = field(init=False)

    def __post_init__(self) -> None:
        self.body_hash = canonical_hash(self.data)


@dataclass(eq=False)
class _Work:
    # What one submission needs between validation and its writes.
    sub: Submission
    visit_date: date
    household_id: int | None = None
    household: Household | None = None
    assigned_on_day: bool = False
    form: PublishedForm | None = None
    gps_columns: dict[str, Any] = field(default_factory=dict)
    fix: GpsFix | None = None
    answers: dict[str, Any] | None = None
    checks: list[survey.CheckResult] = field(default_factory=list)
    photo_ids: list[int] = field(default_factory=list)
    previous: HelperVisitPoint | None = None
    following: HelperVisitPoint | None = None
    # The serialised rows of the checks that did not pass (_set_check_results).
    failed_rows: list[bytes] = field(default_factory=list)

    def fail(self, error: DomainError) -> None:
        if self.sub.error is None:
            self.sub.error = error

    @property
    def ok(self) -> bool:
        return self.sub.error is None


def canonical_hash(data: dict[str, Any]) -> str:
    """SHA-256 of a submission in canonical form (sorted keys, UTC times, no volatile fields)."""
    body = {k: v for k, v in data.items() if k not in _VOLATILE_FIELDS}
    # Times are written as UTC instants where the encoder meets them (a walk of the whole
    # body in Python first cost more than the encoding). The text must never change: stored
    # visits keep the hash taken when they were stored (tests/unit/test_canonical_hash.py).
    encoded = json.dumps(
        body, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=_utc_text
    )
    return hashlib.sha256(encoded.encode("utf-8")).hexdigest()


def _utc_text(value: Any) -> str:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    raise TypeError(f"{type(value).__name__} is not part of a submission")


def ingest_visits(*, submissions: list[Submission]) -> list[Submission]:
    """Store submitted visits, in batches; each submission gets its own outcome (see above)."""
    todo = list(submissions)
    while todo:
        batch, todo = _next_batch(todo)
        todo = _ingest_batch(batch) + todo
    return submissions


def _next_batch(todo: list[Submission]) -> tuple[list[Submission], list[Submission]]:
    # The longest prefix with one submission per helper and per client_uuid: a batch is
    # written in order, so keeping the batches in the submissions' order keeps every outcome
    # that depends on order across helpers too (a photo's reuse by another household).
    helpers: set[int | None] = set()
    uuids: set[str] = set()
    for index, sub in enumerate(todo):
        helper, client_uuid = sub.actor.user_id, str(sub.data.get("client_uuid"))
        if helper in helpers or client_uuid in uuids:
            return todo[:index], todo[index:]
        helpers.add(helper)
        uuids.add(client_uuid)
    return todo, []


def _ingest_batch(batch: list[Submission]) -> list[Submission]:
    """Validate and store one batch; return the submissions deferred to a later batch."""
    works = []
    for sub in batch:
        sub.visit, sub.visit_id, sub.created, sub.error = None, None, False, None
        if not sub.actor.is_authenticated:
            sub.error = DomainError("auth.required")
            continue
        visit_date = sub.data["ended_at"].astimezone(CHINA_TZ).date()
        works.append(_Work(sub=sub, visit_date=visit_date))
    works = _without_retries(works)
    deferred = _resolve_households(works)
    works = [w for w in works if w.ok and w.sub not in deferred]
    _validate(works)
    works = [w for w in works if w.ok]
    if not works:
        return deferred
    _neighbours(works)
    try:
        with db.session.begin_nested():
            _write(works)
    except (IntegrityError, DomainError) as exc:
        # Nothing of the batch was kept (the visits' objects go too: they joined the session
        # as stored rows, which the rollback does not undo). Alone, each one replays a
        # concurrent retry that won the race on client_uuid, or gets its own error.
        _forget_visits(works)
        if len(works) > 1:
            for work in works:
                _ingest_batch([work.sub])
            return deferred
        work = works[0]
        if isinstance(exc, DomainError):
            work.sub.error = exc
            return deferred
        existing = _stored_visits([work.sub.data["client_uuid"]]).get(work.sub.data["client_uuid"])
        if existing is None:
            raise
        _replay(work, existing)
    return deferred


def _forget_visits(works: list[_Work]) -> None:
    for work in works:
        visit, work.sub.visit = work.sub.visit, None
        work.sub.visit_id, work.sub.created = None, False
        if visit is not None and visit in db.session:
            db.session.expunge(visit)


def _stored_visits(client_uuids: list[str]) -> dict[str, Any]:
    rows = db.session.execute(_RETRY_QUERY, {"client_uuids": sorted(set(client_uuids))})
    return {row.client_uuid: row for row in rows}


def _without_retries(works: list[_Work]) -> list[_Work]:
    # Only what a retry is judged on: nearly every submission is new, and the full row (the
    # answers' JSON) is loaded only to answer an identical retry.
    if not works:
        return works
    stored = _stored_visits([w.sub.data["client_uuid"] for w in works])
    fresh = []
    for work in works:
        existing = stored.get(work.sub.data["client_uuid"])
        if existing is None:
            fresh.append(work)
        else:
            _replay(work, existing)
    return fresh


def _replay(work: _Work, existing) -> None:
    if existing.helper_id != work.sub.actor.user_id or existing.body_hash != work.sub.body_hash:
        work.fail(DomainError("visit.conflict", details={"visit_id": existing.id}))
    else:
        work.sub.visit_id, work.sub.created = existing.id, False


def _resolve_households(works: list[_Work]) -> list[Submission]:
    """Each submission's household and assignment; return those deferred (from a repeat on)."""
    tokens = [w.sub.data["card_token"] for w in works if w.sub.data.get("card_token")]
    cards = find_cards(tokens=tokens) if tokens else {}
    for work in works:
        token = work.sub.data.get("card_token")
        if not token:
            work.household_id = work.sub.data["household_id"]
        elif isinstance(cards[token], DomainError):
            work.fail(cards[token])
        else:
            work.household_id = cards[token].household_id
    ids = sorted({w.household_id for w in works if w.ok})
    if not ids:
        return []
    households = {h.id: h for h in db.session.scalars(_HOUSEHOLDS_QUERY, {"household_ids": ids})}
    assignments: dict[int, list] = {}
    for row in db.session.execute(_ASSIGNMENTS_QUERY, {"household_ids": ids}):
        assignments.setdefault(row.household_id, []).append(row)
    seen: set[int] = set()
    for index, work in enumerate(works):
        if not work.ok:
            continue
        household = households.get(work.household_id)
        if household is None:
            work.fail(DomainError("household.not_found"))
            continue
        if household.id in seen:
            # A household's second submission, and all after it, wait for the next batch:
            # the batch stays a prefix of the submissions, in their order (see _next_batch).
            return [w.sub for w in works[index:] if w.ok]
        seen.add(household.id)
        work.household = household
        _authorise(work, assignments.get(household.id, []))
    return []


def _authorise(work: _Work, assignments: list) -> None:
    """May the actor record this visit? Note whether they were assigned on the visit's date."""
    actor, household, day = work.sub.actor, work.household, work.visit_date
    mine = [a for a in assignments if a.helper_id == actor.user_id]
    # rollups.assigned_on: does coverage count the visit?
    work.assigned_on_day = any(
        a.start_date <= day and (a.end_date is None or a.end_date >= day) for a in mine
    )
    # authz.is_assigned_helper: may they submit?
    if any(a.end_date is None for a in mine) or actor.covers_path(
        household.region_path, VISITING_ROLES
    ):
        return
    # A helper of the same village learns only that this is not their household.
    if actor.covers_path(household.region_path, {Role.HELPER}) or can_read_household(
        actor, household
    ):
        work.fail(DomainError("visit.not_assigned"))
    else:
        work.fail(DomainError("household.not_found"))


def _validate(works: list[_Work]) -> None:
    """Form, times, GPS, answers and photos of each submission, in the API's order of errors."""
    forms: dict[int, PublishedForm | DomainError] = {}
    for version in sorted({w.sub.data["form_version"] for w in works}):
        try:
            forms[version] = published_form_for_visit(version=version)
        except DomainError as exc:
            forms[version] = exc
    config = current_app.config
    for work in works:
        form = forms[work.sub.data["form_version"]]
        if isinstance(form, DomainError):
            work.fail(form)
            continue
        work.form = form
        try:
            _check_times(work.sub.data, work.sub.received_at)
            work.gps_columns, work.fix = _gps_fix(work.sub.data.get("gps"))
        except DomainError as exc:
            work.fail(exc)
    live = [w for w in works if w.ok]
    if not live:
        return
    members = _survey_members([w.household.id for w in live])
    settings = {"income_monitoring_line": config["INCOME_MONITORING_LINE"]}
    for work in live:
        assessed = survey.assess(
            work.form.definition,
            work.sub.data["answers"],
            members=members.get(work.household.id, []),
            visit_date=work.visit_date,
            settings=settings,
            plan=work.form.plan,
        )
        if assessed.errors:
            work.fail(DomainError("visit.invalid_answers", fields={"answers": assessed.errors}))
            continue
        work.answers, work.checks = assessed.answers, assessed.checks
        try:
            work.photo_ids = _photo_ids(
                work.form.photo_keys,
                work.answers,
                work.sub.data.get("photo_ids") or [],
                work.sub.actor,
            )
        except DomainError as exc:
            work.fail(exc)


def _check_times(data: dict[str, Any], received_at: datetime) -> None:
    if data["started_at"] > data["ended_at"]:
        raise DomainError(
            "visit.invalid_times", fields={"json": {"started_at": ["开始时间不能晚于结束时间。"]}}
        )
    horizon = received_at + timedelta(seconds=current_app.config["VISIT_MAX_FUTURE_SECONDS"])
    late = [k for k in ("started_at", "ended_at") if data[k] > horizon]
    gps = data.get("gps") or {}
    if gps.get("captured_at") and gps["captured_at"] > horizon:
        late.append("gps.captured_at")
    if late:
        raise DomainError(
            "visit.future_time",
            fields={"json": {k: ["时间超出服务器时间一天以上。"] for k in late}},
        )


def _gps_fix(gps: dict[str, Any] | None) -> tuple[dict[str, Any], GpsFix | None]:
    if not gps:
        return {}, None
    problem = coordinate_problem(gps["lat"], gps["lon"])
    if problem:
        raise DomainError("visit.invalid_gps", fields={"json": {"gps": [problem]}})
    lat, lon = to_wgs84(gps["lat"], gps["lon"], gps["coord"])
    columns = {
        "gps_lat": lat,
        "gps_lon": lon,
        "gps_accuracy": gps["accuracy"],
        "gps_altitude": gps.get("altitude"),
        "gps_coord": gps["coord"],
        "gps_raw_lat": gps["lat"],
        "gps_raw_lon": gps["lon"],
        "gps_captured_at": gps.get("captured_at"),
    }
    return columns, GpsFix(
        lat=lat, lon=lon, accuracy_m=gps["accuracy"], captured_at=gps.get("captured_at")
    )


def _survey_members(household_ids: list[int]) -> dict[int, list[dict[str, Any]]]:
    """Each household's members as the survey engine takes them (see members_for_survey)."""
    # The same dicts as visit_forms.members_for_survey, from the needed columns only.
    members: dict[int, list[dict[str, Any]]] = {}
    rows = db.session.execute(_MEMBERS_QUERY, {"household_ids": sorted(set(household_ids))})
    for household_id, *row in rows:
        members.setdefault(household_id, []).append(
            dict(zip(_SURVEY_MEMBER_COLUMNS, row, strict=True))
        )
    return members


def _photo_ids(
    photo_keys: tuple[str, ...], answers: dict, extra: list[int], actor: Actor
) -> list[int]:
    # Photo slots may name photos by id or, from an offline queue, by their client_uuid.
    refs: list[int | str] = list(extra)
    for key in photo_keys:
        refs.extend(answers.get(key) or [])
    ids = {r for r in refs if isinstance(r, int)}
    uuids = {str(r) for r in refs if isinstance(r, str)}
    if uuids:
        found = dict(
            db.session.execute(
                select(Photo.client_uuid, Photo.id).where(
                    Photo.client_uuid.in_(uuids), Photo.uploader_id == actor.user_id
                )
            ).all()
        )
        missing = sorted(uuids - set(found))
        if missing:
            raise DomainError(
                "visit.photo_invalid", f"找不到这些照片：{'、'.join(missing)}，请先上传照片。"
            )
        ids.update(found.values())
    return sorted(ids)


# A batch's visits in one INSERT of one JSON parameter, as the check rows: a multi-row VALUES
# list of ~20 parameters a row is SQL text the driver must parse anew for every batch size
# (psycopg caches only short statements), which cost more than the INSERT itself.
_VISIT_COLUMNS = (
    ("client_uuid", "text"),
    ("body_hash", "text"),
    ("household_id", "integer"),
    ("helper_id", "integer"),
    ("form_version_id", "integer"),
    ("answers", "json"),
    ("started_at", "timestamptz"),
    ("ended_at", "timestamptz"),
    ("received_at", "timestamptz"),
    ("gps_lat", "double precision"),
    ("gps_lon", "double precision"),
    ("gps_accuracy", "double precision"),
    ("gps_altitude", "double precision"),
    ("gps_coord", "text"),
    ("gps_raw_lat", "double precision"),
    ("gps_raw_lon", "double precision"),
    ("gps_captured_at", "timestamptz"),
    ("distance_m", "double precision"),
    ("flags", "json"),
    ("flag_count", "integer"),
    ("failed_check_count", "integer"),
    ("check_results", "json"),
    ("review_status", "text"),
    ("created_at", "timestamptz"),
)
_GPS_COLUMNS = tuple(name for name, _kind in _VISIT_COLUMNS if name.startswith("gps_"))
_VISIT_TIMES = frozenset(name for name, kind in _VISIT_COLUMNS if kind == "timestamptz")
_ROW_COLUMNS = tuple(name for name, _kind in _VISIT_COLUMNS if name != "check_results")
_NAMES = ", ".join(name for name, _kind in _VISIT_COLUMNS)
_INSERT_VISITS_PG = text(
    f"""
    INSERT INTO visits ({_NAMES})
    SELECT {", ".join(f"r.{name}" for name, _kind in _VISIT_COLUMNS)}
    FROM ROWS FROM (
        json_to_recordset(CAST(:rows AS json))
        AS ({", ".join(f"{name} {kind}" for name, kind in _VISIT_COLUMNS)})
    ) WITH ORDINALITY AS r({_NAMES}, n)
    ORDER BY r.n
    RETURNING id, client_uuid
    """
)
_INSERT_VISITS_SQLITE = text(
    f"""
    INSERT INTO visits ({_NAMES})
    SELECT {", ".join(f"json_extract(e.value, '$.{name}')" for name, _kind in _VISIT_COLUMNS)}
    FROM json_each(:rows) AS e
    WHERE true
    ORDER BY e.key
    RETURNING id, client_uuid
    """
)


# For each submission of a batch, its helper's located visits just before and just after it
# (impossible travel): one statement of fixed text, whatever the batch's size, with the
# submissions as one JSON parameter. Per dialect, as the check rows.
_NEIGHBOURS_PG = text(
    """
    SELECT p.n AS n, b.before AS before, b.id AS id, b.gps_lat AS gps_lat,
           b.gps_lon AS gps_lon, b.gps_captured_at AS gps_captured_at, b.at AS at
    FROM json_to_recordset(CAST(:items AS json))
         AS p(n integer, helper_id integer, started_at timestamptz, ended_at timestamptz)
    CROSS JOIN LATERAL (
        (SELECT true AS before, v.id, v.gps_lat, v.gps_lon, v.gps_captured_at, v.ended_at AS at
         FROM visits AS v
         WHERE v.helper_id = p.helper_id AND v.gps_lat IS NOT NULL
           AND v.ended_at <= p.started_at
         ORDER BY v.ended_at DESC LIMIT 1)
        UNION ALL
        (SELECT false, v.id, v.gps_lat, v.gps_lon, v.gps_captured_at, v.started_at
         FROM visits AS v
         WHERE v.helper_id = p.helper_id AND v.gps_lat IS NOT NULL
           AND v.started_at >= p.ended_at
         ORDER BY v.started_at LIMIT 1)
    ) AS b
    """
)
# SQLite has no LATERAL: the neighbour's id comes from a correlated subquery. Times are
# compared as SQLite stores them (naive UTC text, see _sqlite_time).
_NEIGHBOURS_SQLITE = text(
    """
    WITH p AS (
        SELECT json_extract(e.value, '$.n') AS n,
               json_extract(e.value, '$.helper_id') AS helper_id,
               json_extract(e.value, '$.started_at') AS started_at,
               json_extract(e.value, '$.ended_at') AS ended_at
        FROM json_each(:items) AS e
    )
    SELECT p.n AS n, 1 AS before, v.id AS id, v.gps_lat AS gps_lat, v.gps_lon AS gps_lon,
           v.gps_captured_at AS gps_captured_at, v.ended_at AS at
    FROM p JOIN visits AS v ON v.id = (
        SELECT b.id FROM visits AS b
        WHERE b.helper_id = p.helper_id AND b.gps_lat IS NOT NULL
          AND b.ended_at <= p.started_at
        ORDER BY b.ended_at DESC LIMIT 1)
    UNION ALL
    SELECT p.n, 0, v.id, v.gps_lat, v.gps_lon, v.gps_captured_at, v.started_at
    FROM p JOIN visits AS v ON v.id = (
        SELECT a.id FROM visits AS a
        WHERE a.helper_id = p.helper_id AND a.gps_lat IS NOT NULL
          AND a.started_at >= p.ended_at
        ORDER BY a.started_at LIMIT 1)
    """
)
_NEIGHBOUR_COLUMNS = {
    "n": Integer,
    "before": Boolean,
    "id": Integer,
    "gps_lat": Float,
    "gps_lon": Float,
    "gps_captured_at": UTCDateTime,
    "at": UTCDateTime,
}
_NEIGHBOURS = {
    "postgresql": _NEIGHBOURS_PG.columns(**_NEIGHBOUR_COLUMNS),
    "sqlite": _NEIGHBOURS_SQLITE.columns(**_NEIGHBOUR_COLUMNS),
}


def _time_text(dialect: str):
    """How a JSON parameter carries a timestamp to ``dialect`` (see _sqlite_time)."""
    return _sqlite_time if dialect == "sqlite" else datetime.isoformat


def _sqlite_time(moment: datetime) -> str:
    # How UTCDateTime is stored on SQLite: naive UTC in SQLAlchemy's DateTime text format.
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def _neighbours(works: list[_Work]) -> None:
    """Each submission's helper's located visits just before and after it (impossible travel)."""
    # Runs before the new visits are inserted, so none finds itself; a batch holds one
    # submission per helper, so none misses another of the same batch.
    dialect = db.session.get_bind().dialect.name
    as_text = _time_text(dialect)
    items = [
        {
            "n": n,
            "helper_id": work.sub.actor.user_id,
            "started_at": as_text(work.sub.data["started_at"]),
            "ended_at": as_text(work.sub.data["ended_at"]),
        }
        for n, work in enumerate(works)
    ]
    for row in db.session.execute(
        _NEIGHBOURS[dialect], {"items": jsonfast.json_param(items, dialect=dialect)}
    ):
        point = HelperVisitPoint(
            at=row.gps_captured_at or row.at, lat=row.gps_lat, lon=row.gps_lon, visit_id=row.id
        )
        if row.before:
            works[row.n].previous = point
        else:
            works[row.n].following = point


def _write(works: list[_Work]) -> None:
    # Everything is read and validated: each statement here now serves the whole batch. The
    # flags are computed before the INSERT (one write of a row, not an INSERT and an UPDATE),
    # except for visits with photos, which must be linked to the visit's id first.
    settings = AuthenticitySettings.from_config(current_app.config)
    now = utcnow()
    for work in works:
        sub = work.sub
        sub.visit = Visit(
            client_uuid=sub.data["client_uuid"],
            body_hash=work.sub.body_hash,
            household_id=work.household.id,
            helper_id=sub.actor.user_id,
            form_version_id=work.form.id,
            answers=work.answers,
            started_at=sub.data["started_at"],
            ended_at=sub.data["ended_at"],
            received_at=sub.received_at,
            review_status=ReviewStatus.UNREVIEWED,
            failed_check_count=sum(c.failed for c in work.checks),
            flags=[],
            flag_count=0,
            distance_m=None,
            created_at=now,
            **{**dict.fromkeys(_GPS_COLUMNS), **work.gps_columns},
        )
        _set_check_results(work)
        if not work.photo_ids:
            _set_flags(work, [], settings)
    _insert_visits(works)
    photos: dict[int, list[Photo]] = {}
    for work in works:
        if work.photo_ids:
            # Claiming a photo links it to the visit's id; the flags, which look at the
            # photos, follow as an UPDATE of the row.
            photos[id(work)] = claim_photos(
                actor=work.sub.actor, photo_ids=work.photo_ids, visit=work.sub.visit
            )
            _set_flags(work, photos[id(work)], settings)
    if photos:
        db.session.flush()

    for work in works:
        work.sub.visit.photo_ids = [p.id for p in photos.get(id(work), [])]
        work.sub.visit_id, work.sub.created = work.sub.visit.id, True
    _store_failed_checks(works)
    # Same transaction as the visits: a failing check's problem exists iff the visit does.
    apply_visits_checks(entries=[(w.sub.visit, w.household, w.checks, w.sub.actor) for w in works])
    _propose_locations(works)
    # Same transaction (and savepoint) as the visits: coverage counts a visit iff it exists.
    record_visits(entries=[(w.sub.visit, w.household, w.assigned_on_day) for w in works])


def _insert_visits(works: list[_Work]) -> None:
    """INSERT the batch's visits in one statement; attach them to the session as stored rows."""
    dialect = db.session.get_bind().dialect.name
    as_text = _time_text(dialect)
    rows = []
    for work in works:
        visit = work.sub.visit
        # The check results are serialised already (_set_check_results): embedded as they are.
        row = {"check_results": jsonfast.Fragment(visit.check_rows_json)}
        for name in _ROW_COLUMNS:
            value = getattr(visit, name)
            row[name] = as_text(value) if name in _VISIT_TIMES and value is not None else value
        rows.append(row)
    statement = _INSERT_VISITS_PG if dialect == "postgresql" else _INSERT_VISITS_SQLITE
    ids = dict(
        (client_uuid, visit_id)
        for visit_id, client_uuid in db.session.execute(
            statement, {"rows": jsonfast.json_param(rows, dialect=dialect)}
        )
    )
    for work in works:
        visit = work.sub.visit
        visit.id = ids[visit.client_uuid]
        # An object of a row that a rolled-back savepoint took away may still hold this id
        # (SQLite reuses the ids of rolled-back rows): the new row is the one now.
        stale = db.session.identity_map.get(db.session.identity_key(Visit, visit.id))
        if stale is not None:
            db.session.expunge(stale)
        # The row is stored: the object joins the session as if loaded from it, with what was
        # written as its state (unwritten columns, all NULL, load on first access).
        make_transient_to_detached(visit)
        db.session.add(visit)


def _set_check_results(work: _Work) -> None:
    # The visit's check_results, each row serialised once (keys sorted, as the API writes
    # them): the same bytes go into the INSERT, the failing rows and the 201 answer.
    visit = work.sub.visit
    rows = [_check_row(check) for check in work.checks]
    encoded = [jsonfast.dumps_sorted(row) for row in rows]
    visit.check_results = rows
    visit.check_rows_json = b"[" + b",".join(encoded) + b"]"
    work.failed_rows = [
        row for row, check in zip(encoded, work.checks, strict=True) if not check.passed
    ]


def _store_failed_checks(works: list[_Work]) -> None:
    """Insert the rows of the batch's checks that did not pass, in one statement."""
    parts: list[bytes] = []
    for work in works:
        visit = work.sub.visit
        # Each row as the database takes it: the result with the visit's id in front.
        head = b'{"visit_id":%d,' % visit.id
        parts.extend(head + row[1:] for row in work.failed_rows)
        # visit.failed_checks was never loaded; a later read goes to the rows written here.
        db.session.expire(visit, ["failed_checks"])
    if parts:
        dialect = db.session.get_bind().dialect.name
        statement = _INSERT_CHECKS_PG if dialect == "postgresql" else _INSERT_CHECKS_SQLITE
        rows = b"[" + b",".join(parts) + b"]"
        db.session.execute(statement, {"rows": jsonfast.json_param(rows, dialect=dialect)})


def _check_row(check: survey.CheckResult) -> dict[str, Any]:
    # A check result with the schema's keys (VisitCheckSchema); the evidence is the result.
    return {
        "check_key": check.key,
        "label": check.label,
        "area": check.area,
        "office_codes": list(check.offices),
        "passed": check.passed,
        "applicable": not check.not_applicable,
        "evidence": check.to_dict(shared=True),
    }


def _set_flags(work: _Work, photos: list[Photo], settings: AuthenticitySettings) -> None:
    visit = work.sub.visit
    result = assess_visit(_visit_facts(work, photos), settings)
    visit.flags = [
        {"code": f.code, "title": f.title, "description": f.description, "detail": f.detail}
        for f in result.flags
    ]
    visit.flag_count = len(result.flags)
    visit.distance_m = result.distance_to_household_m


def _visit_facts(work: _Work, photos: list[Photo]) -> VisitFacts:
    household, visit = work.household, work.sub.visit
    matches = photo_reuse_matches(photos=photos, household_id=household.id) if photos else {}
    photo_facts = []
    for photo in photos:
        match = matches.get(photo.id) or {}
        photo_facts.append(
            PhotoFacts(
                exif_taken_at=photo.exif_taken_at,
                duplicate_of_other_household=match.get("duplicate_of") is not None,
                near_duplicate_of_other_household=match.get("near_duplicate_of") is not None,
                ref=photo.id,
                matched_ref=match.get("duplicate_of") or match.get("near_duplicate_of"),
            )
        )
    location = (household.lat, household.lon) if household.lat is not None else None
    return VisitFacts(
        started_at=visit.started_at,
        ended_at=visit.ended_at,
        received_at=visit.received_at,
        gps=work.fix,
        household_location=location,
        device_sent_at=work.sub.data.get("device_sent_at"),
        previous_visit_of_helper=work.previous,
        next_visit_of_helper=work.following,
        photos=photo_facts,
    )


# A household's pending location proposals (one read for the batch).
_PENDING_PROPOSALS_QUERY = select(LocationProposal.household_id).where(
    LocationProposal.household_id.in_(bindparam("household_ids", expanding=True)),
    LocationProposal.status == "pending",
)


def _propose_locations(works: list[_Work]) -> None:
    """A household without a location gets one proposed by its first well-located visit."""
    limit = current_app.config["VISIT_LOCATION_PROPOSAL_MAX_ACCURACY_M"]
    candidates = [
        w
        for w in works
        if w.household.lat is None and w.fix is not None and 0 < w.fix.accuracy_m <= limit
    ]
    if not candidates:
        return
    # A batch holds one visit per household, so none of these proposes twice.
    pending = set(
        db.session.scalars(
            _PENDING_PROPOSALS_QUERY, {"household_ids": sorted(w.household.id for w in candidates)}
        )
    )
    for work in candidates:
        if work.household.id in pending:
            continue
        db.session.add(
            LocationProposal(
                household_id=work.household.id,
                visit_id=work.sub.visit.id,
                lat=work.fix.lat,
                lon=work.fix.lon,
                accuracy=work.fix.accuracy_m,
            )
        )


__all__ = ["VISITING_ROLES", "Submission", "canonical_hash", "ingest_visits"]
