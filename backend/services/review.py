"""Visit authenticity review: the queue of flagged visits, the reviewer's verdict, per-helper counts.

Flags are computed at ingest (``backend/services/authenticity.py``) and never reject a visit;
here the town office and the inspector look at them and decide. A visit marked invalid drops
out of coverage. Spot-checks (``backend/services/spot_checks.py``) invalidate visits through
``mark_visit_invalid`` so both paths leave the same trace.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import String, case, cast, func, select
from sqlalchemy.orm import selectinload

from backend.errors import DomainError
from backend.extensions import db
from backend.models import (
    Household,
    Photo,
    Region,
    ReviewStatus,
    Role,
    SpotCheckItem,
    SpotCheckOutcome,
    User,
    Visit,
    utcnow,
)
from backend.services.audit import record_event
from backend.services.authenticity import FLAG_TITLES
from backend.services.authz import Actor, can_read_household, household_scope, require_role
from backend.services.periods import Period, parse_period
from backend.services.photos import photo_urls
from backend.services.refs import group_name, user_names, user_ref_by_id
from backend.services.regions import get_region

# Who sees the queue and the per-helper counts, and who may decide.
REVIEW_READ_ROLES = frozenset({Role.TOWN_ADMIN, Role.INSPECTOR, Role.DISTRICT})
REVIEW_DECIDE_ROLES = frozenset({Role.TOWN_ADMIN, Role.INSPECTOR})

REVIEW_STATUS_LABELS = {
    ReviewStatus.UNREVIEWED: "未审核",
    ReviewStatus.VALID: "有效",
    ReviewStatus.INVALID: "无效",
}
QUEUE_STATUSES = ("unreviewed", "valid", "invalid", "all")
DECISIONS = (ReviewStatus.VALID, ReviewStatus.INVALID)
# Earlier photos of the same household shown next to each queued visit.
EARLIER_PHOTOS_PER_VISIT = 6


# --- periods ----------------------------------------------------------------------------------


def optional_period(
    *, period: str | None = None, date_from: str | None = None, date_to: str | None = None
) -> Period | None:
    """The period named by ``period`` or ``from``/``to``, or None when none was given."""
    if not (period or date_from or date_to):
        return None
    return parse_period(period=period, start=date_from, end=date_to)


# --- scope -------------------------------------------------------------------------------------


def _scoped_region(actor: Actor, region_id: int, roles) -> Region:
    # Ancestors of a grant are visible (a village cadre sees the town's name) but not in scope:
    # asking for them is 403, an unknown or foreign region 404.
    region = get_region(actor=actor, region_id=region_id)
    if not actor.covers_path(region.path, roles):
        raise DomainError("auth.forbidden", "所选地区不在您的管辖范围内。")
    return region


def _in_village(actor: Actor, village_id: int):
    """Visits to households of a village in the actor's review scope."""
    village = _scoped_region(actor, village_id, REVIEW_READ_ROLES)
    return Visit.household_id.in_(
        select(Household.id).where(Household.region_path.startswith(village.path, autoescape=True))
    )


def flag_clause(code: str):
    """A WHERE clause for visits carrying the flag ``code`` (portable JSON-as-text match)."""
    return cast(Visit.flags, String).contains(f'"{code}"', autoescape=True)


def _visits_in_scope(actor: Actor):
    return select(Household.id).where(household_scope(actor, REVIEW_READ_ROLES))


# --- the queue ---------------------------------------------------------------------------------


@dataclass
class ReviewPage:
    """One page of the review queue."""

    items: list[dict[str, Any]]
    total: int
    page: int
    page_size: int


def list_review_queue(
    *,
    actor: Actor,
    status: str = "unreviewed",
    flagged_only: bool = True,
    flag: str | None = None,
    village_id: int | None = None,
    helper_id: int | None = None,
    period: str | None = None,
    date_from: str | None = None,
    date_to: str | None = None,
    page: int = 1,
    page_size: int = 20,
) -> ReviewPage:
    """Visits to review in the actor's scope (flagged and unreviewed by default), oldest first."""
    require_role(actor, REVIEW_READ_ROLES)
    query = select(Visit).where(Visit.household_id.in_(_visits_in_scope(actor)))
    if status != "all":
        query = query.where(Visit.review_status == status)
    if flagged_only:
        query = query.where(Visit.flag_count > 0)
    if flag:
        query = query.where(flag_clause(flag))
    if village_id is not None:
        query = query.where(_in_village(actor, village_id))
    if helper_id is not None:
        query = query.where(Visit.helper_id == helper_id)
    window = optional_period(period=period, date_from=date_from, date_to=date_to)
    if window is not None:
        query = query.where(Visit.ended_at >= window.start_utc, Visit.ended_at < window.end_utc)
    total = db.session.scalar(select(func.count()).select_from(query.subquery()))
    visits = db.session.scalars(
        query.options(
            selectinload(Visit.household).selectinload(Household.region),
            selectinload(Visit.household).selectinload(Household.village),
            selectinload(Visit.helper),
        )
        .order_by(Visit.ended_at, Visit.id)
        .offset((page - 1) * page_size)
        .limit(page_size)
    ).all()
    return ReviewPage(
        items=_queue_items(actor, list(visits)), total=total, page=page, page_size=page_size
    )


def _photo_view(photo: Photo) -> dict[str, Any]:
    urls = photo_urls(photo)
    return {
        "id": photo.id,
        "purpose": photo.purpose,
        "taken_at": photo.exif_taken_at,
        "thumb_url": urls["thumb"],
        "display_url": urls["display"],
    }


def _queue_items(actor: Actor, visits: list[Visit]) -> list[dict[str, Any]]:
    if not visits:
        return []
    visit_ids = [v.id for v in visits]
    own: dict[int, list[Photo]] = {}
    for photo in db.session.scalars(
        select(Photo).where(Photo.visit_id.in_(visit_ids)).order_by(Photo.id)
    ):
        own.setdefault(photo.visit_id, []).append(photo)
    latest = max(v.ended_at for v in visits)
    earlier_rows = db.session.execute(
        select(Photo, Visit.household_id, Visit.ended_at)
        .join(Visit, Visit.id == Photo.visit_id)
        .where(
            Visit.household_id.in_({v.household_id for v in visits}),
            Visit.ended_at < latest,
        )
        .order_by(Visit.ended_at.desc(), Photo.id)
    ).all()
    reviewers = user_names(v.reviewed_by_id for v in visits)
    matched = _matched_photos(actor, [p for photos in own.values() for p in photos], visits)
    items = []
    for visit in visits:
        earlier = [
            {**_photo_view(photo), "visit_id": photo.visit_id, "visit_ended_at": ended_at}
            for photo, household_id, ended_at in earlier_rows
            if household_id == visit.household_id
            and ended_at < visit.ended_at
            and photo.visit_id != visit.id
        ][:EARLIER_PHOTOS_PER_VISIT]
        photos = []
        for photo in own.get(visit.id, []):
            view = _photo_view(photo)
            view["matched_photo"] = matched.get(photo.id)
            photos.append(view)
        items.append(
            {
                **visit_review_view(visit, reviewers),
                "photos": photos,
                "earlier_photos": earlier,
            }
        )
    return items


def _matched_photos(
    actor: Actor, photos: list[Photo], visits: list[Visit]
) -> dict[int, dict[str, Any]]:
    # A reused photo's twin belongs to another household; show it only when the reviewer may
    # read that household.
    refs: dict[int, int] = {}
    for visit in visits:
        for flag in visit.flags or []:
            for entry in (flag.get("detail") or {}).get("photos", []):
                if entry.get("matched_ref") and entry.get("ref"):
                    refs[int(entry["ref"])] = int(entry["matched_ref"])
    if not refs:
        return {}
    twins = {p.id: p for p in db.session.scalars(select(Photo).where(Photo.id.in_(refs.values())))}
    result: dict[int, dict[str, Any]] = {}
    for ref, twin_id in refs.items():
        twin = twins.get(twin_id)
        if twin is None:
            continue
        household_id = twin.household_id
        if twin.visit_id is not None:
            household_id = db.session.scalar(
                select(Visit.household_id).where(Visit.id == twin.visit_id)
            )
        household = db.session.get(Household, household_id) if household_id else None
        if household is not None and can_read_household(actor, household, REVIEW_READ_ROLES):
            result[ref] = {
                **_photo_view(twin),
                "household_id": household.id,
                "household_number": household.number,
            }
    return result


def visit_review_view(visit: Visit, reviewers: dict[int, str] | None = None) -> dict[str, Any]:
    """A visit as the reviewer sees it: household, helper, GPS, flags and the verdict."""
    household = visit.household
    if reviewers is None:
        reviewers = user_names([visit.reviewed_by_id])
    duration = (visit.ended_at - visit.started_at).total_seconds() / 60
    return {
        "id": visit.id,
        "household": {
            "id": household.id,
            "number": household.number,
            "head_name": household.head_name,
            "village": {"id": household.village_id, "name": household.village.name},
            "group_name": group_name(household),
        },
        "helper": {"id": visit.helper_id, "display_name": visit.helper.display_name},
        "started_at": visit.started_at,
        "ended_at": visit.ended_at,
        "received_at": visit.received_at,
        "duration_minutes": round(duration, 1),
        "gps": (
            {"lat": visit.gps_lat, "lon": visit.gps_lon, "accuracy": visit.gps_accuracy}
            if visit.gps_lat is not None
            else None
        ),
        "household_location": (
            {"lat": household.lat, "lon": household.lon} if household.lat is not None else None
        ),
        "distance_m": visit.distance_m,
        "failed_check_count": visit.failed_check_count,
        "flags": [
            {
                "code": f.get("code"),
                "title": FLAG_TITLES.get(f.get("code"), f.get("title") or f.get("code")),
                "description": f.get("description") or "",
                "detail": f.get("detail") or {},
            }
            for f in visit.flags or []
        ],
        "review": {
            "status": visit.review_status,
            "status_label": REVIEW_STATUS_LABELS.get(visit.review_status, visit.review_status),
            "note": visit.review_note,
            "reviewed_by": user_ref_by_id(visit.reviewed_by_id, reviewers),
            "reviewed_at": visit.reviewed_at,
        },
    }


# --- the verdict -------------------------------------------------------------------------------


def load_visit_for_review(actor: Actor, visit_id: int) -> Visit:
    """A visit whose household is in the actor's review scope, or visit.not_found."""
    visit = db.session.get(Visit, visit_id)
    if visit is None or not can_read_household(actor, visit.household, REVIEW_READ_ROLES):
        raise DomainError("visit.not_found")
    return visit


def mark_visit_invalid(*, actor: Actor, visit: Visit, note: str, via: str) -> None:
    """Set a visit invalid with the reviewer and note, and audit it (review or spot-check)."""
    _set_review(actor, visit, ReviewStatus.INVALID, note, via)


def _set_review(actor: Actor, visit: Visit, status: str, note: str | None, via: str) -> None:
    previous = visit.review_status
    visit.review_status = status
    visit.review_note = note or None
    visit.reviewed_by_id = actor.user_id
    visit.reviewed_at = utcnow()
    record_event(
        actor=actor,
        action="visit.review",
        region_path=visit.household.region_path,
        target_type="visit",
        target_id=visit.id,
        detail={"from": previous, "to": status, "note": note or "", "via": via},
    )
    db.session.flush()


def _not_confirmed_by_spot_check(visit: Visit) -> bool:
    return (
        db.session.scalar(
            select(SpotCheckItem.id).where(
                SpotCheckItem.visit_id == visit.id,
                SpotCheckItem.outcome == SpotCheckOutcome.NOT_CONFIRMED,
            )
        )
        is not None
    )


def review_visit(*, actor: Actor, visit_id: int, status: str, note: str | None = None) -> dict:
    """Mark a visit valid or invalid (a note is required for invalid); audited."""
    require_role(actor, REVIEW_DECIDE_ROLES)
    visit = load_visit_for_review(actor, visit_id)
    if not actor.covers_path(visit.household.region_path, REVIEW_DECIDE_ROLES):
        raise DomainError("auth.forbidden")
    note = (note or "").strip()
    if status not in DECISIONS:
        raise DomainError(
            "request.validation", fields={"json": {"status": ["取值应为 valid 或 invalid。"]}}
        )
    if status == ReviewStatus.INVALID and not note:
        raise DomainError("review.note_required", fields={"json": {"note": ["请填写无效的原因。"]}})
    # 镇纪委 audits the town office: its spot-check finding is not the audited office's to undo.
    if (
        status != visit.review_status
        and not actor.covers_path(visit.household.region_path, {Role.INSPECTOR})
        and _not_confirmed_by_spot_check(visit)
    ):
        raise DomainError("review.locked", details={"visit_id": visit.id})
    _set_review(actor, visit, status, note, "review")
    return visit_review_view(visit)


# --- anomaly counts per helper -----------------------------------------------------------------


def helper_anomalies(
    *,
    actor: Actor,
    period: str | None = None,
    date_from: str | None = None,
    date_to: str | None = None,
    village_id: int | None = None,
) -> dict[str, Any]:
    """Per helper: visits, flagged, invalid and counts by flag code (default: this month)."""
    require_role(actor, REVIEW_READ_ROLES)
    window = parse_period(period=period, start=date_from, end=date_to)
    codes = list(FLAG_TITLES)

    def _count(condition):
        return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)

    columns = [
        Visit.helper_id,
        User.display_name,
        func.count(Visit.id),
        _count(Visit.flag_count > 0),
        _count(Visit.review_status == ReviewStatus.INVALID),
        _count(Visit.review_status == ReviewStatus.VALID),
        _count((Visit.flag_count > 0) & (Visit.review_status == ReviewStatus.UNREVIEWED)),
        *[_count(flag_clause(code)) for code in codes],
    ]
    query = (
        select(*columns)
        .join(User, User.id == Visit.helper_id)
        .where(Visit.household_id.in_(_visits_in_scope(actor)))
        .group_by(Visit.helper_id, User.display_name)
    )
    if village_id is not None:
        query = query.where(_in_village(actor, village_id))
    query = query.where(Visit.ended_at >= window.start_utc, Visit.ended_at < window.end_utc)
    rows = []
    for row in db.session.execute(query):
        helper_id, name, visits, flagged, invalid, valid, pending, *by_code = row
        rows.append(
            {
                "helper_id": helper_id,
                "display_name": name,
                "visits": int(visits),
                "flagged": int(flagged),
                "invalid": int(invalid),
                "valid": int(valid),
                "flagged_unreviewed": int(pending),
                "flagged_pct": round(100.0 * int(flagged) / int(visits), 1) if visits else 0.0,
                "by_flag": {code: int(n) for code, n in zip(codes, by_code, strict=True)},
            }
        )
    rows.sort(key=lambda r: (-r["flagged"], -r["invalid"], r["display_name"], r["helper_id"]))
    return {
        "period": window.to_dict(),
        "flag_codes": [{"code": code, "title": FLAG_TITLES[code]} for code in codes],
        "rows": rows,
    }
