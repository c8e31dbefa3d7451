"""Submitting visits: validation, GPS, checks, authenticity flags and idempotent retries.

A phone may send the same visit many times (weak network, offline queue, double taps). The
visit's ``client_uuid`` is unique in the table; a retry with the identical body returns the
stored visit, a different body under the same uuid is a conflict. Concurrent retries race on
the unique constraint: the loser rolls back its savepoint and replays against the winner.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import bindparam, exists, func, literal, select, text, union_all
from sqlalchemy.exc import IntegrityError

from backend.errors import CATALOGUE, DomainError
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
from backend.services import survey
from backend.services.authenticity import (
    AuthenticitySettings,
    GpsFix,
    HelperVisitPoint,
    PhotoFacts,
    VisitFacts,
    assess_visit,
)
from backend.services.authz import (
    Actor,
    can_read_household,
    household_scope,
    require_authenticated,
)
from backend.services.cards import find_card
from backend.services.clock import CHINA_TZ
from backend.services.forms import published_form_for_visit
from backend.services.geo import coordinate_problem, to_wgs84
from backend.services.photos import claim_photos, photo_reuse_matches
from backend.services.rollups import assigned_on, record_visit
from backend.services.visit_forms import MEMBER_SURVEY_FIELDS
from backend.services.visit_problems import apply_visit_checks

# Staff who may record a visit to any household in their region (secretaries' visits, 遍访).
VISITING_ROLES = frozenset({Role.VILLAGE_CADRE, Role.TOWN_ADMIN, Role.DISTRICT})
# Fields that may differ between retries of one submission without making it a new one.
_VOLATILE_FIELDS = frozenset({"device_sent_at"})
# A member's columns the survey engine reads, in members_for_survey's keys.
_SURVEY_MEMBER_COLUMNS = ("id", "name", "birth_date", "relation", "sex", *MEMBER_SURVEY_FIELDS)

# The statements every submission runs, built once: building a SELECT costs about as much CPU
# as executing it, and SQLAlchemy caches only the compiled SQL, not the construct.

# Only what a retry is judged on: nearly every submission is new, and the full row (the
# answers' JSON) is loaded only to answer an identical retry.
_RETRY_QUERY = select(Visit.id, Visit.helper_id, Visit.body_hash).where(
    Visit.client_uuid == bindparam("client_uuid")
)
# The household with both assignment questions, in one round trip: is the actor its helper
# now (authz.is_assigned_helper: may they submit?), and on the visit's China date
# (rollups.assigned_on: does coverage count the visit?).
_HOUSEHOLD_QUERY = select(
    Household,
    exists().where(
        Assignment.helper_id == bindparam("helper_id"),
        Assignment.household_id == Household.id,
        Assignment.end_date.is_(None),
    ),
    assigned_on(household_id=Household.id, helper_id=bindparam("helper_id"), day=bindparam("day")),
).where(Household.id == bindparam("household_id"))
_MEMBERS_QUERY = (
    select(*[getattr(Member, name) for name in _SURVEY_MEMBER_COLUMNS])
    .where(Member.household_id == bindparam("household_id"))
    .order_by(Member.id)
)


def _neighbours_query():
    # The helper's located visits just before and just after a visit, in one round trip and
    # with only the columns the travel check reads.
    located = (Visit.helper_id == bindparam("helper_id"), Visit.gps_lat.is_not(None))
    columns = (Visit.id, Visit.gps_lat, Visit.gps_lon, Visit.gps_captured_at)
    before = (
        select(literal(True).label("before"), *columns, Visit.ended_at.label("at"))
        .where(*located, Visit.ended_at <= bindparam("started_at"))
        .order_by(Visit.ended_at.desc())
        .limit(1)
        .subquery()
    )
    after = (
        select(literal(False).label("before"), *columns, Visit.started_at.label("at"))
        .where(*located, Visit.started_at >= bindparam("ended_at"))
        .order_by(Visit.started_at)
        .limit(1)
        .subquery()
    )
    return union_all(select(before), select(after))


_NEIGHBOURS_QUERY = _neighbours_query()

# A visit's check rows from one JSON array (see _store_checks). The column list is
# VisitCheck's; json (not jsonb) keeps the evidence's text, key order included, as given.
_INSERT_CHECKS_PG = text(
    """
    INSERT INTO visit_checks
        (visit_id, check_key, label, area, office_codes, passed, applicable, evidence)
    SELECT :visit_id, e.value ->> 'check_key', e.value ->> 'label', e.value ->> 'area',
           e.value -> 'office_codes', (e.value ->> 'passed')::boolean,
           (e.value ->> 'applicable')::boolean, e.value -> 'evidence'
    FROM json_array_elements(CAST(:rows AS json)) WITH ORDINALITY AS e(value, n)
    ORDER BY e.n
    """
)
_INSERT_CHECKS_SQLITE = text(
    """
    INSERT INTO visit_checks
        (visit_id, check_key, label, area, office_codes, passed, applicable, evidence)
    SELECT :visit_id, json_extract(e.value, '$.check_key'), json_extract(e.value, '$.label'),
           json_extract(e.value, '$.area'), json_extract(e.value, '$.office_codes'),
           json_extract(e.value, '$.passed'), json_extract(e.value, '$.applicable'),
           json_extract(e.value, '$.evidence')
    FROM json_each(:rows) AS e
    ORDER BY e.key
    """
)


def canonical_hash(data: dict[str, Any]) -> str:
    """SHA-256 of a submission in canonical form (sorted keys, UTC times, no volatile fields)."""

    def _norm(value: Any) -> Any:
        if isinstance(value, datetime):
            return value.astimezone(UTC).isoformat()
        if isinstance(value, dict):
            return {str(k): _norm(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [_norm(v) for v in value]
        return value

    body = {k: _norm(v) for k, v in data.items() if k not in _VOLATILE_FIELDS}
    encoded = json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(encoded.encode("utf-8")).hexdigest()


def _visit_by_uuid(client_uuid: str):
    return db.session.execute(_RETRY_QUERY, {"client_uuid": client_uuid}).first()


def _replay(existing, body_hash: str, actor: Actor) -> tuple[Visit, bool]:
    if existing.helper_id != actor.user_id or existing.body_hash != body_hash:
        raise DomainError("visit.conflict", details={"visit_id": existing.id})
    return db.session.get(Visit, existing.id), False


def submit_visit(
    *, actor: Actor, data: dict[str, Any], received_at: datetime | None = None
) -> tuple[Visit, bool]:
    """Store one visit, or return the stored one for an identical retry (created=False).

    A created visit carries ``photo_ids`` and ``check_rows`` (what was just stored), so that
    the response need not read them back.
    """
    require_authenticated(actor)
    body_hash = canonical_hash(data)
    existing = _visit_by_uuid(data["client_uuid"])
    if existing is not None:
        return _replay(existing, body_hash, actor)
    try:
        with db.session.begin_nested():
            visit = _create_visit(actor, data, body_hash, received_at or utcnow())
    except IntegrityError:
        # A concurrent retry of the same submission committed first.
        existing = _visit_by_uuid(data["client_uuid"])
        if existing is None:
            raise
        return _replay(existing, body_hash, actor)
    return visit, True


@dataclass
class SyncItem:
    """One queued visit of a batch: parsed data, or the validation errors of its raw form."""

    client_uuid: str | None
    data: dict[str, Any] | None = None
    errors: dict[str, Any] | None = None


def sync_visits(*, actor: Actor, items: list[SyncItem]) -> list[dict[str, Any]]:
    """Submit a batch of queued visits; each item succeeds or fails on its own."""
    require_authenticated(actor)
    limit = current_app.config["SYNC_MAX_ITEMS"]
    if len(items) > limit:
        raise DomainError("sync.too_many", f"一次最多同步 {limit} 条走访记录。")
    results: list[dict[str, Any]] = []
    for item in items:
        if item.data is None:
            results.append(
                _sync_result(
                    item.client_uuid, "invalid", code="request.validation", fields=item.errors
                )
            )
            continue
        try:
            with db.session.begin_nested():
                visit, created = submit_visit(actor=actor, data=item.data)
        except DomainError as exc:
            status = "conflict" if exc.code == "visit.conflict" else "invalid"
            results.append(
                _sync_result(
                    item.client_uuid,
                    status,
                    code=exc.code,
                    message=exc.message,
                    fields=exc.fields,
                    details=exc.details,
                )
            )
            continue
        results.append(
            {
                "client_uuid": item.client_uuid,
                "status": "created" if created else "duplicate",
                "visit_id": visit.id,
            }
        )
    return results


def _sync_result(client_uuid, status, *, code, message=None, fields=None, details=None):
    error: dict[str, Any] = {"code": code, "message": message or CATALOGUE[code].message}
    if fields:
        error["fields"] = fields
    if details:
        error["details"] = details
    return {"client_uuid": client_uuid, "status": status, "error": error}


def _resolve_household(
    actor: Actor, data: dict[str, Any], visit_day: date
) -> tuple[Household, bool]:
    """The household visited, and whether the actor was its assigned helper on ``visit_day``."""
    if data.get("card_token"):
        household_id = find_card(token=data["card_token"]).household_id
    else:
        household_id = data["household_id"]
    row = db.session.execute(
        _HOUSEHOLD_QUERY,
        {"household_id": household_id, "helper_id": actor.user_id, "day": visit_day},
    ).first()
    if row is None:
        raise DomainError("household.not_found")
    household, is_assigned, was_assigned = row
    if is_assigned or actor.covers_path(household.region_path, VISITING_ROLES):
        return household, bool(was_assigned)
    # A helper of the same village learns only that this is not their household.
    if actor.covers_path(household.region_path, {Role.HELPER}) or can_read_household(
        actor, household
    ):
        raise DomainError("visit.not_assigned")
    raise DomainError("household.not_found")


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


def _create_visit(
    actor: Actor, data: dict[str, Any], body_hash: str, received_at: datetime
) -> Visit:
    # Each statement here is a round trip on every submission, so everything is read first,
    # the flags are computed before the visit's INSERT (one write of the row, not an INSERT
    # and an UPDATE), and rows nobody reads back in this request (checks) are written with
    # Core. The validations keep their order: which error a bad body gets is part of the API.
    visit_date = data["ended_at"].astimezone(CHINA_TZ).date()
    household, assigned_on_visit_day = _resolve_household(actor, data, visit_date)
    form = published_form_for_visit(version=data["form_version"])
    _check_times(data, received_at)
    gps_columns, fix = _gps_fix(data.get("gps"))

    members = _survey_members(household.id)
    config = current_app.config
    assessed = survey.assess(
        form.definition,
        data["answers"],
        members=members,
        visit_date=visit_date,
        settings={"income_monitoring_line": config["INCOME_MONITORING_LINE"]},
    )
    if assessed.errors:
        raise DomainError("visit.invalid_answers", fields={"answers": assessed.errors})
    answers, checks = assessed.answers, assessed.checks
    photo_ids = _photo_ids(form.photo_keys, answers, data.get("photo_ids") or [], actor)
    previous, following = _helper_neighbours(actor.user_id, data["started_at"], data["ended_at"])

    visit = Visit(
        client_uuid=data["client_uuid"],
        body_hash=body_hash,
        household_id=household.id,
        helper_id=actor.user_id,
        form_version_id=form.id,
        answers=answers,
        started_at=data["started_at"],
        ended_at=data["ended_at"],
        received_at=received_at,
        review_status=ReviewStatus.UNREVIEWED,
        failed_check_count=sum(c.failed for c in checks),
        **gps_columns,
    )
    db.session.add(visit)
    photos: list[Photo] = []
    if photo_ids:
        # Claiming a photo links it to the visit's id, so the row goes in first here; the
        # flags, which look at the photos, follow as an UPDATE.
        db.session.flush()
        photos = claim_photos(actor=actor, photo_ids=photo_ids, visit=visit)
    _set_flags(visit, household, fix, photos, data.get("device_sent_at"), previous, following)
    db.session.flush()

    visit.photo_ids = [p.id for p in photos]
    visit.check_rows = _store_checks(visit, checks)
    # Same transaction as the visit: a failing check's problem exists iff the visit does.
    apply_visit_checks(visit=visit, household=household, checks=checks, actor=actor)
    _propose_location(visit, household, fix)
    # Same transaction (and savepoint) as the visit: coverage counts it iff it exists.
    record_visit(visit=visit, household=household, assigned=assigned_on_visit_day)
    return visit


def _survey_members(household_id: int) -> list[dict[str, Any]]:
    """The household's members as the survey engine takes them (see members_for_survey)."""
    # The same dicts as visit_forms.members_for_survey, from the needed columns only.
    rows = db.session.execute(_MEMBERS_QUERY, {"household_id": household_id})
    return [dict(zip(_SURVEY_MEMBER_COLUMNS, row, strict=True)) for row in rows]


def _store_checks(visit: Visit, checks: list[survey.CheckResult]) -> list[dict[str, Any]]:
    """Insert the visit's check rows in one statement; return them as the API shows them."""
    rows = [
        {
            "check_key": check.key,
            "label": check.label,
            "area": check.area,
            "office_codes": list(check.offices),
            "passed": check.status in (survey.PASS, survey.NOT_APPLICABLE),
            "applicable": check.status != survey.NOT_APPLICABLE,
            "evidence": check.to_dict(),
        }
        for check in checks
    ]
    if rows:
        # ~25 rows a visit as ONE JSON parameter that the database expands: an executemany
        # costs the driver a parameter set per row, 3-4 times the CPU of this. Rows go in in
        # form order, so ids (visit.checks' order) follow the form.
        dialect = db.session.get_bind().dialect.name
        statement = _INSERT_CHECKS_PG if dialect == "postgresql" else _INSERT_CHECKS_SQLITE
        db.session.execute(
            statement,
            {
                "visit_id": visit.id,
                "rows": json.dumps(rows, ensure_ascii=False, separators=(",", ":")),
            },
        )
    # visit.checks was never loaded; make sure a later read goes to the rows just written.
    db.session.expire(visit, ["checks"])
    return rows


def _set_flags(visit, household, fix, photos, device_sent_at, previous, following) -> None:
    result = assess_visit(
        _visit_facts(visit, household, fix, photos, device_sent_at, previous, following),
        AuthenticitySettings.from_config(current_app.config),
    )
    visit.flags = [
        {"code": f.code, "title": f.title, "description": f.description, "detail": f.detail}
        for f in result.flags
    ]
    visit.flag_count = len(result.flags)
    visit.distance_m = result.distance_to_household_m


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


def _helper_neighbours(
    helper_id: int, started_at: datetime, ended_at: datetime
) -> tuple[HelperVisitPoint | None, HelperVisitPoint | None]:
    """The helper's located visits just before and just after this one (impossible travel)."""
    # Runs before the new visit is inserted, so it cannot find itself.
    params = {"helper_id": helper_id, "started_at": started_at, "ended_at": ended_at}
    found: dict[bool, HelperVisitPoint] = {}
    for row in db.session.execute(_NEIGHBOURS_QUERY, params):
        found[bool(row.before)] = HelperVisitPoint(
            at=row.gps_captured_at or row.at, lat=row.gps_lat, lon=row.gps_lon, visit_id=row.id
        )
    return found.get(True), found.get(False)


def _visit_facts(visit, household, fix, photos: list[Photo], device_sent_at, previous, following):
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
        gps=fix,
        household_location=location,
        device_sent_at=device_sent_at,
        previous_visit_of_helper=previous,
        next_visit_of_helper=following,
        photos=photo_facts,
    )


def _propose_location(visit: Visit, household: Household, fix: GpsFix | None) -> None:
    limit = current_app.config["VISIT_LOCATION_PROPOSAL_MAX_ACCURACY_M"]
    if household.lat is not None or fix is None or not (0 < fix.accuracy_m <= limit):
        return
    pending = db.session.scalar(
        select(LocationProposal.id).where(
            LocationProposal.household_id == household.id, LocationProposal.status == "pending"
        )
    )
    if pending is None:
        db.session.add(
            LocationProposal(
                household_id=household.id,
                visit_id=visit.id,
                lat=fix.lat,
                lon=fix.lon,
                accuracy=fix.accuracy_m,
            )
        )


def get_visit(*, actor: Actor, visit_id: int) -> Visit:
    """One visit, for its helper or staff who can read its household."""
    require_authenticated(actor)
    visit = db.session.get(Visit, visit_id)
    if visit is None or not (
        visit.helper_id == actor.user_id or can_read_household(actor, visit.household)
    ):
        raise DomainError("visit.not_found")
    return visit


def list_visits(
    *,
    actor: Actor,
    household_id: int | None = None,
    helper_id: int | None = None,
    flagged: bool | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    page: int = 1,
    page_size: int = 50,
) -> tuple[list[Visit], int]:
    """Visits of households the actor may read (and their own), newest first."""
    require_authenticated(actor)
    in_scope = select(Household.id).where(household_scope(actor))
    query = select(Visit).where(
        (Visit.household_id.in_(in_scope)) | (Visit.helper_id == actor.user_id)
    )
    if household_id is not None:
        query = query.where(Visit.household_id == household_id)
    if helper_id is not None:
        query = query.where(Visit.helper_id == helper_id)
    if flagged is not None:
        query = query.where(Visit.flag_count > 0 if flagged else Visit.flag_count == 0)
    if since is not None:
        query = query.where(Visit.ended_at >= since)
    if until is not None:
        query = query.where(Visit.ended_at < until)
    total = db.session.scalar(select(func.count()).select_from(query.subquery()))
    rows = db.session.scalars(
        query.order_by(Visit.ended_at.desc(), Visit.id.desc())
        .offset((page - 1) * page_size)
        .limit(page_size)
    ).all()
    return list(rows), total


def visit_photo_ids(visit: Visit) -> list[int]:
    """Ids of the photos attached to a visit."""
    return list(
        db.session.scalars(select(Photo.id).where(Photo.visit_id == visit.id).order_by(Photo.id))
    )


__all__ = [
    "ReviewStatus",
    "SyncItem",
    "canonical_hash",
    "get_visit",
    "list_visits",
    "submit_visit",
    "sync_visits",
]
