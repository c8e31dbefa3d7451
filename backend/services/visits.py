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
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from backend.errors import CATALOGUE, DomainError
from backend.extensions import db
from backend.models import (
    Household,
    LocationProposal,
    Photo,
    ReviewStatus,
    Role,
    Visit,
    VisitCheck,
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
    is_assigned_helper,
    require_authenticated,
)
from backend.services.cards import find_card
from backend.services.clock import CHINA_TZ
from backend.services.forms import get_form_for_visit
from backend.services.geo import coordinate_problem, to_wgs84
from backend.services.photos import claim_photos, photo_reuse_matches
from backend.services.visit_forms import members_for_survey
from backend.services.visit_problems import apply_visit_checks

# Staff who may record a visit to any household in their region (secretaries' visits, 遍访).
VISITING_ROLES = frozenset({Role.VILLAGE_CADRE, Role.TOWN_ADMIN, Role.DISTRICT})
# Fields that may differ between retries of one submission without making it a new one.
_VOLATILE_FIELDS = frozenset({"device_sent_at"})


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


def _visit_by_uuid(client_uuid: str) -> Visit | None:
    return db.session.scalar(select(Visit).where(Visit.client_uuid == client_uuid))


def _replay(existing: Visit, body_hash: str, actor: Actor) -> tuple[Visit, bool]:
    if existing.helper_id != actor.user_id or existing.body_hash != body_hash:
        raise DomainError("visit.conflict", details={"visit_id": existing.id})
    return existing, False


def submit_visit(
    *, actor: Actor, data: dict[str, Any], received_at: datetime | None = None
) -> tuple[Visit, bool]:
    """Store one visit, or return the stored one for an identical retry (created=False)."""
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


def _resolve_household(actor: Actor, data: dict[str, Any]) -> Household:
    if data.get("card_token"):
        household = find_card(token=data["card_token"]).household
    else:
        household = db.session.get(Household, data["household_id"])
        if household is None:
            raise DomainError("household.not_found")
    if is_assigned_helper(actor, household.id):
        return household
    if actor.covers_path(household.region_path, VISITING_ROLES):
        return household
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
    household = _resolve_household(actor, data)
    form = get_form_for_visit(version=data["form_version"], form_id=None)
    _check_times(data, received_at)
    gps_columns, fix = _gps_fix(data.get("gps"))

    members = members_for_survey(household)
    visit_date = data["ended_at"].astimezone(CHINA_TZ).date()
    definition = form.definition
    errors = survey.validate_answers(
        definition, data["answers"], members=members, visit_date=visit_date
    )
    if errors:
        raise DomainError("visit.invalid_answers", fields={"answers": errors})
    answers = survey.clean_answers(
        definition, data["answers"], members=members, visit_date=visit_date
    )
    config = current_app.config
    checks = survey.evaluate_checks(
        definition,
        answers,
        members=members,
        visit_date=visit_date,
        settings={"income_monitoring_line": config["INCOME_MONITORING_LINE"]},
    )

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
        flags=[],
        **gps_columns,
    )
    db.session.add(visit)
    db.session.flush()

    photo_ids = _photo_ids(definition, answers, data.get("photo_ids") or [], actor)
    photos = claim_photos(actor=actor, photo_ids=photo_ids, visit=visit)
    result = assess_visit(
        _visit_facts(visit, household, fix, photos, data.get("device_sent_at")),
        AuthenticitySettings.from_config(config),
    )
    visit.flags = [
        {"code": f.code, "title": f.title, "description": f.description, "detail": f.detail}
        for f in result.flags
    ]
    visit.flag_count = len(result.flags)
    visit.distance_m = result.distance_to_household_m
    failed = 0
    for check in checks:
        status = check.status
        failed += status == "fail"
        db.session.add(
            VisitCheck(
                visit_id=visit.id,
                check_key=check.key,
                label=check.label,
                area=check.area,
                office_codes=list(check.offices),
                passed=status in ("pass", "not_applicable"),
                applicable=status != "not_applicable",
                evidence=check.to_dict(),
            )
        )
    visit.failed_check_count = failed
    # Same transaction as the visit: a failing check's problem exists iff the visit does.
    apply_visit_checks(visit=visit, household=household, checks=checks, actor=actor)
    _propose_location(visit, household, fix)
    db.session.flush()
    return visit


def _photo_ids(definition: dict, answers: dict, extra: list[int], actor: Actor) -> list[int]:
    # Photo slots may name photos by id or, from an offline queue, by their client_uuid.
    refs: list[int | str] = list(extra)
    for section in definition.get("sections", []):
        for question in section.get("questions", []):
            if question.get("type") == "photo":
                refs.extend(answers.get(question["key"]) or [])
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


def _neighbour(helper_id: int, visit: Visit, *, before: bool) -> HelperVisitPoint | None:
    query = select(Visit).where(
        Visit.helper_id == helper_id, Visit.id != visit.id, Visit.gps_lat.is_not(None)
    )
    if before:
        query = query.where(Visit.ended_at <= visit.started_at).order_by(Visit.ended_at.desc())
    else:
        query = query.where(Visit.started_at >= visit.ended_at).order_by(Visit.started_at)
    other = db.session.scalar(query.limit(1))
    if other is None:
        return None
    at = other.gps_captured_at or (other.ended_at if before else other.started_at)
    return HelperVisitPoint(at=at, lat=other.gps_lat, lon=other.gps_lon, visit_id=other.id)


def _visit_facts(visit, household, fix, photos: list[Photo], device_sent_at):
    matches = photo_reuse_matches(photos=photos, household_id=household.id)
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
        previous_visit_of_helper=_neighbour(visit.helper_id, visit, before=True),
        next_visit_of_helper=_neighbour(visit.helper_id, visit, before=False),
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
