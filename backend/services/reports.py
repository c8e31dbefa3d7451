"""Villagers' own reports (农户主动反映): made through the household card's QR, without an account.

A report is reached two ways: the mini-program (``channel="miniprogram"``; a WeChat login is
optional and its openid is kept for notifications) and the mobile web page ``/q/<token>``
(``channel="web"``). Either way:

1. the card token names the household (unknown → 404 ``card.not_found``, replaced → 410
   ``card.replaced``); photos were uploaded before, anonymously, against the same card;
2. the text goes through content security (``content_check``): ``risky`` is refused with the
   reason, ``review`` is stored but held (``moderation="review"``) until a town admin releases
   or discards it, ``pass`` goes on;
3. the report opens a problem (source ``villager_report``, status ``reported``, the village's
   acceptance deadline, the area's office from the routing table), or, when the same household
   reported the same area within ``REPORT_LINK_WINDOW_DAYS`` and that problem is still open, it
   is linked to that problem (``linked=True``, a ``report_linked`` timeline entry) instead;
4. the reporter gets a receipt code. Its status follows the problem (through merges), and the
   receipt view carries no personal data: no name, household number, place, phone or person.

A retry with the same ``client_uuid`` returns the first report unchanged (idempotent).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import IO, Any

from flask import current_app
from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError

from backend.errors import DomainError
from backend.extensions import db
from backend.models import (
    Household,
    HouseholdCard,
    Photo,
    Problem,
    ProblemEvent,
    ProblemSource,
    ProblemStatus,
    Report,
    ReportModeration,
    Role,
    RoutingRule,
    StorageStatus,
    utcnow,
)
from backend.services import content_check
from backend.services import problem_machine as machine
from backend.services.audit import record_event
from backend.services.authz import Actor, require_role
from backend.services.cards import find_card, get_public_card_view
from backend.services.photos import (
    add_photo,
    find_photos,
    photo_urls,
    process_photo_upload,
    store_photo_objects,
)
from backend.services.problems import append_event, open_problem
from backend.services.warnings import flag_report_hardship
from backend.wechat import WeChatError, get_wechat_client

log = logging.getLogger(__name__)

# No 0/O, 1/I: a receipt code is read aloud over the phone and copied by hand.
RECEIPT_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"
RECEIPT_LENGTH = 10  # 50 random bits
_RECEIPT_ATTEMPTS = 5
CHANNELS = ("miniprogram", "web")
DEFAULT_AREA = "other"
# Routing areas that are not a villager's to pick (spot-checks that could not be confirmed).
INTERNAL_AREAS = frozenset({"authenticity"})
PHOTO_PURPOSE = "report"
# Who may list villagers' reports, and who decides on held ones.
LIST_ROLES = frozenset({Role.TOWN_ADMIN, Role.VILLAGE_CADRE})
DECIDE_ROLES = frozenset({Role.TOWN_ADMIN})
MODERATION_LABELS = {
    ReportModeration.PASS: "已通过",
    ReportModeration.REVIEW: "待人工审核",
    ReportModeration.RELEASED: "审核放行",
    ReportModeration.DISCARDED: "审核退回",
}
# Receipt statuses of reports that have no problem (yet); otherwise the problem's status.
HELD = "held"
DISCARDED = "discarded"
RECEIPT_STATUS_LABELS = {HELD: "已收到，待审核", DISCARDED: "未予受理"}
SUBMITTED_LABEL = "已提交反映"
# The coarse timeline a reporter sees: what happened, never who did it or what they wrote.
PUBLIC_EVENT_LABELS = {
    "accept": "村里已受理，正在调查",
    "submit_review": "已报镇里审核",
    "assign": "已交给责任单位办理",
    "reassign": "已改由其他责任单位办理",
    "start": "责任单位开始整改",
    "rectify": "整改完成，等待核验",
    "return": "核验未通过，继续整改",
    "verify": "核验通过",
    "close": "已办结销号",
    "reject": "不予受理",
    "merge": "已与同类问题合并办理",
    "reopen": "问题重新打开办理",
}
_MAX_MERGE_HOPS = 20


@dataclass(frozen=True)
class ReportOutcome:
    """A stored report, and whether this call only replayed an earlier submission."""

    report: Report
    replayed: bool


@dataclass(frozen=True)
class PhotoUpload:
    """One file of a web form submission."""

    stream: IO[bytes]
    filename: str | None


# --- areas, codes, reporters ------------------------------------------------------------------


def report_areas() -> list[dict[str, str]]:
    """The areas a villager may pick, from the routing table ("other" last)."""
    rules = db.session.scalars(
        select(RoutingRule).where(RoutingRule.check_key == "").order_by(RoutingRule.id)
    )
    areas = [{"area": r.area, "label": r.area_label} for r in rules if r.area not in INTERNAL_AREAS]
    return sorted(areas, key=lambda a: a["area"] == DEFAULT_AREA)


def area_label(area: str) -> str:
    """The Chinese name of an area, or the area itself when the table does not know it."""
    label = db.session.scalar(
        select(RoutingRule.area_label).where(RoutingRule.area == area, RoutingRule.check_key == "")
    )
    return label or area


def report_form_context(*, card_token: str) -> dict[str, Any]:
    """What the card's web page shows: the village, the areas and the limits (no personal data)."""
    config = current_app.config
    return {
        **get_public_card_view(token=card_token),
        "areas": report_areas(),
        "max_chars": config["REPORT_MAX_TEXT_CHARS"],
        "max_photos": config["REPORT_MAX_PHOTOS"],
    }


def new_receipt_code() -> str:
    """A fresh receipt code: 10 characters of an alphabet without 0/O/1/I (50 bits)."""
    return "".join(secrets.choice(RECEIPT_ALPHABET) for _ in range(RECEIPT_LENGTH))


def normalise_receipt_code(raw: str) -> str | None:
    """The code as stored (upper case, no spaces or dashes), or None when it cannot be one."""
    code = "".join((raw or "").split()).replace("-", "").upper()
    if len(code) != RECEIPT_LENGTH or any(ch not in RECEIPT_ALPHABET for ch in code):
        return None
    return code


def openid_for_code(*, code: str) -> str | None:
    """The reporter's openid for a ``wx.login`` code, or None when WeChat will not say."""
    # The report matters more than the login: an expired code or a WeChat outage only costs
    # the notifications, so the report goes on without an openid.
    try:
        return get_wechat_client().code2session(code).openid
    except WeChatError as exc:
        log.warning("report login: code2session failed (errcode=%s)", exc.errcode)
        return None


def ip_fingerprint(ip: str | None) -> str | None:
    """A keyed SHA-256 of the address: floods can be traced without keeping the address."""
    if not ip:
        return None
    key = current_app.config["SECRET_KEY"].encode()
    return hmac.new(key, ip.encode(), hashlib.sha256).hexdigest()


# --- photos -----------------------------------------------------------------------------------


def upload_report_photo(
    *, card_token: str, stream: IO[bytes], filename: str | None, client_uuid: str
) -> tuple[Photo, bool]:
    """Validate and store a villager's photo against the card; True when this call created it."""
    card = find_card(token=card_token)
    client_uuid = str(client_uuid).lower()
    replay = _photo_replay(card, client_uuid)
    if replay is not None:
        return replay, False
    processed = process_photo_upload(stream)
    with processed:  # the temp file of the original is deleted however this ends
        keys, status = store_photo_objects(processed)
    photo, created = add_photo(
        processed,
        keys,
        status,
        replay=lambda: _photo_replay(card, client_uuid),
        client_uuid=client_uuid,
        uploader_id=None,
        card_id=card.id,
        household_id=card.household_id,
        purpose=PHOTO_PURPOSE,
    )
    if created:
        log.info("report photo %s uploaded for card %s (%s)", photo.id, card.id, status)
    return photo, created


def _photo_replay(card: HouseholdCard, client_uuid: str) -> Photo | None:
    existing = db.session.scalar(select(Photo).where(Photo.client_uuid == client_uuid))
    if existing is None:
        return None
    if existing.card_id != card.id or existing.uploader_id is not None:
        raise DomainError("photo.conflict")
    return existing


def photo_thumb_url(photo: Photo) -> str | None:
    """A short-lived link to the thumbnail (None while the photo waits in the spool)."""
    if photo.storage_status == StorageStatus.PENDING:
        return None
    return photo_urls(photo)["thumb"]


# --- reporting --------------------------------------------------------------------------------


def create_report(
    *,
    card_token: str,
    description: str,
    area: str | None = None,
    photo_ids: Sequence[int] = (),
    client_uuid: str | None = None,
    openid: str | None = None,
    ip: str | None = None,
    channel: str = "miniprogram",
    contact_ok: bool | None = None,
) -> ReportOutcome:
    """Take a villager's report: check it, store it, open or join its problem (or hold it)."""
    if channel not in CHANNELS:
        raise ValueError(f"unknown report channel {channel!r}")
    card = find_card(token=card_token)
    client_uuid = str(client_uuid).lower() if client_uuid else None
    replay = _report_replay(card, client_uuid)
    if replay is not None:
        return ReportOutcome(replay, True)
    text, area = _validated(description=description, area=area, photo_ids=photo_ids)
    photos = _card_photos(card, photo_ids)

    verdict = content_check.check_text(text=text, openid=openid)
    if verdict.suggest == content_check.RISKY:
        raise DomainError(
            "report.content_refused",
            f"反映内容未通过内容安全检查（{verdict.reason}），请修改后重新提交。",
            details={"reason": verdict.reason, "label": verdict.label, "source": verdict.source},
        )
    detail = verdict.as_record()
    if contact_ok is not None:
        detail["contact_ok"] = bool(contact_ok)
    report = Report(
        client_uuid=client_uuid,
        household_id=card.household_id,
        card_id=card.id,
        region_path=card.household.region_path,
        area=area,
        description=text,
        photo_ids=[p.id for p in photos],
        channel=channel,
        reporter_openid=openid,
        reporter_ip_hash=ip_fingerprint(ip),
        moderation=(
            ReportModeration.REVIEW
            if verdict.suggest == content_check.REVIEW
            else ReportModeration.PASS
        ),
        moderation_detail=detail,
        linked=False,
        created_at=utcnow(),
    )
    stored = _insert_report(report, card)
    if stored is not report:
        return ReportOutcome(stored, True)  # a concurrent retry of the same submission won
    if report.moderation == ReportModeration.PASS:
        route_report(report=report)
    return ReportOutcome(report, False)


def submit_web_report(
    *,
    card_token: str,
    description: str,
    area: str | None,
    uploads: Sequence[PhotoUpload],
    client_uuid: str | None,
    ip: str | None,
) -> ReportOutcome:
    """The web form in one go: store its photos, then the report (a resubmission replays)."""
    card = find_card(token=card_token)
    client_uuid = _uuid_or_none(client_uuid)
    replay = _report_replay(card, client_uuid)
    if replay is not None:
        return ReportOutcome(replay, True)
    max_photos = current_app.config["REPORT_MAX_PHOTOS"]
    if len(uploads) > max_photos:
        raise DomainError(
            "request.validation", fields={"form": {"photos": [f"最多上传 {max_photos} 张照片。"]}}
        )
    photo_ids = []
    for index, upload in enumerate(uploads, start=1):
        # Derived ids: the same form sent twice stores each of its photos once.
        photo_uuid = (
            str(uuid.uuid5(uuid.UUID(client_uuid), f"photo-{index}"))
            if client_uuid
            else str(uuid.uuid4())
        )
        try:
            photo, _ = upload_report_photo(
                card_token=card_token,
                stream=upload.stream,
                filename=upload.filename,
                client_uuid=photo_uuid,
            )
        except DomainError as exc:
            if exc.code.startswith("photo."):
                exc.message = f"第 {index} 张照片：{exc.message}"
                exc.details = {**(exc.details or {}), "photo_index": index}
            raise
        photo_ids.append(photo.id)
    return create_report(
        card_token=card_token,
        description=description,
        area=area,
        photo_ids=photo_ids,
        client_uuid=client_uuid,
        ip=ip,
        channel="web",
    )


def _uuid_or_none(value: str | None) -> str | None:
    # The form's hidden field comes back from the browser: anything but a UUID is ignored.
    try:
        return str(uuid.UUID(str(value))) if value else None
    except ValueError:
        return None


def is_stored_submission(*, client_uuid: str, photo: bool = False) -> bool:
    """True when a report (or a photo) with this client_uuid is already stored."""
    value = _uuid_or_none(client_uuid)
    if value is None:
        return False
    model = Photo if photo else Report
    return db.session.scalar(select(model.id).where(model.client_uuid == value)) is not None


def _report_replay(card: HouseholdCard, client_uuid: str | None) -> Report | None:
    if not client_uuid:
        return None
    existing = db.session.scalar(select(Report).where(Report.client_uuid == client_uuid))
    if existing is not None and existing.household_id != card.household_id:
        raise DomainError("report.conflict")
    return existing


def _validated(*, description: str, area: str | None, photo_ids: Sequence[int]) -> tuple[str, str]:
    config = current_app.config
    max_chars = config["REPORT_MAX_TEXT_CHARS"]
    max_photos = config["REPORT_MAX_PHOTOS"]
    errors: dict[str, list[str]] = {}
    # Browsers send a textarea's line breaks as CRLF; count them as one character, as typed.
    text = (description or "").replace("\r\n", "\n").strip()
    if not text:
        errors["description"] = ["请写下您要反映的问题。"]
    elif len(text) > max_chars:
        errors["description"] = [f"内容过长：最多 {max_chars} 字，现在 {len(text)} 字。"]
    area = (area or "").strip() or DEFAULT_AREA
    if area not in {a["area"] for a in report_areas()}:
        errors["area"] = ["问题类别不存在，请从列表中选择。"]
    if len(set(photo_ids)) > max_photos:
        errors["photo_ids"] = [f"最多上传 {max_photos} 张照片。"]
    if errors:
        raise DomainError("request.validation", fields={"json": errors})
    return text, area


def _card_photos(card: HouseholdCard, photo_ids: Sequence[int]) -> list[Photo]:
    photos, bad = find_photos(
        photo_ids,
        refuse=lambda photo: (
            photo.card_id != card.id
            or photo.uploader_id is not None
            or photo.visit_id is not None
            or photo.problem_id is not None
        ),
    )
    if bad:
        raise DomainError("report.photo_invalid", details={"photo_ids": bad})
    return photos


def _insert_report(report: Report, card: HouseholdCard) -> Report:
    """Insert with a fresh receipt code; a concurrent twin (same client_uuid) wins instead."""
    for _ in range(_RECEIPT_ATTEMPTS):
        report.receipt_code = new_receipt_code()
        try:
            with db.session.begin_nested():
                db.session.add(report)
                db.session.flush()
            return report
        except IntegrityError:
            twin = _report_replay(card, report.client_uuid)
            if twin is not None:
                return twin
            # Otherwise the receipt code was taken (50 bits: practically never); draw again.
    raise DomainError("request.conflict")


def route_report(*, report: Report) -> Problem:
    """Open the report's problem, or link it to the open one of the same household and area."""
    household = db.session.get(Household, report.household_id)
    # One household's reports are routed one at a time, so two at once link, not both open.
    db.session.execute(select(Household.id).where(Household.id == household.id).with_for_update())
    villager = Actor.anonymous(openid=report.reporter_openid)
    data = {
        "report_id": report.id,
        "receipt_code": report.receipt_code,
        "channel": report.channel,
    }
    if "contact_ok" in (report.moderation_detail or {}):
        data["contact_ok"] = report.moderation_detail["contact_ok"]
    problem = _linkable_problem(report)
    if problem is not None:
        report.linked = True
        problem.updated_at = utcnow()
        append_event(
            problem=problem,
            action="report_linked",
            from_status=problem.status,
            actor=villager,
            role=None,
            note=report.description,
            photo_ids=report.photo_ids,
            data=data,
        )
    else:
        label = area_label(report.area)
        snippet = " ".join(report.description.split())[:40]
        problem, _ = open_problem(
            household=household,
            area=report.area,
            source=ProblemSource.VILLAGER_REPORT,
            title=f"农户反映（{label}）：{snippet}",
            actor=villager,
            status=ProblemStatus.REPORTED,
            description=report.description,
            photo_ids=report.photo_ids,
            data=data,
        )
    report.problem_id = problem.id
    for photo in db.session.scalars(select(Photo).where(Photo.id.in_(report.photo_ids or [-1]))):
        photo.problem_id = problem.id
    db.session.flush()
    # Sudden hardship told by the villager is an early-warning signal as much as a visit's.
    flag_report_hardship(report=report)
    return problem


def _linkable_problem(report: Report) -> Problem | None:
    window = timedelta(days=current_app.config["REPORT_LINK_WINDOW_DAYS"])
    earlier = db.session.scalars(
        select(Report)
        .where(
            Report.household_id == report.household_id,
            Report.area == report.area,
            Report.problem_id.is_not(None),
            Report.id != report.id,
            Report.created_at >= report.created_at - window,
        )
        .order_by(Report.created_at.desc(), Report.id.desc())
    )
    for other in earlier:
        problem = final_problem(db.session.get(Problem, other.problem_id))
        if machine.is_open(problem.status):
            return problem
    return None


def final_problem(problem: Problem) -> Problem:
    """The problem a (possibly merged) problem now lives on."""
    for _ in range(_MAX_MERGE_HOPS):
        if problem.status != ProblemStatus.MERGED or problem.merged_into_id is None:
            break
        problem = db.session.get(Problem, problem.merged_into_id)
    return problem


# --- what the reporter sees -------------------------------------------------------------------


def receipt_status(report: Report) -> tuple[str, str]:
    """The report's status and its Chinese label, following its problem through merges."""
    if report.moderation == ReportModeration.REVIEW:
        return HELD, RECEIPT_STATUS_LABELS[HELD]
    if report.moderation == ReportModeration.DISCARDED:
        return DISCARDED, RECEIPT_STATUS_LABELS[DISCARDED]
    if report.problem_id is None:  # released while routing failed: cannot happen in one commit
        return HELD, RECEIPT_STATUS_LABELS[HELD]
    problem = final_problem(db.session.get(Problem, report.problem_id))
    return problem.status, machine.STATUS_LABELS[problem.status]


def created_view(report: Report) -> dict[str, Any]:
    """What the reporter gets back on submitting (and on a replay)."""
    status, label = receipt_status(report)
    return {
        "receipt_code": report.receipt_code,
        "status": status,
        "status_label": label,
        "area": report.area,
        "area_label": area_label(report.area),
        "created_at": report.created_at,
        "linked": report.linked,
        "moderation": report.moderation,
    }


def get_receipt(*, receipt_code: str) -> dict[str, Any]:
    """A report's progress by its receipt code: status, area, dates, a coarse timeline."""
    code = normalise_receipt_code(receipt_code)
    report = db.session.scalar(select(Report).where(Report.receipt_code == code)) if code else None
    if report is None:
        raise DomainError("report.not_found")
    status, label = receipt_status(report)
    timeline = public_timeline(report)
    return {
        "receipt_code": report.receipt_code,
        "status": status,
        "status_label": label,
        "area_label": area_label(report.area),
        "created_at": report.created_at,
        "updated_at": max(entry["at"] for entry in timeline),
        "timeline": timeline,
    }


def public_timeline(report: Report) -> list[dict[str, Any]]:
    """[{label, at}] of what happened since the report, without notes, names or offices."""
    entries: list[dict[str, Any]] = [{"label": SUBMITTED_LABEL, "at": report.created_at}]
    decision = (report.moderation_detail or {}).get("decision") or {}
    decided_at = _parse_time(decision.get("at")) or report.created_at
    if report.moderation == ReportModeration.DISCARDED:
        entries.append({"label": RECEIPT_STATUS_LABELS[DISCARDED], "at": decided_at})
        return entries
    if report.moderation == ReportModeration.RELEASED:
        entries.append({"label": "已通过审核", "at": decided_at})
    if report.problem_id is None:
        return entries
    if report.linked:
        entries.append({"label": "已与本户同类反映一并办理", "at": decided_at})
    since = decided_at
    problem = db.session.get(Problem, report.problem_id)
    for _ in range(_MAX_MERGE_HOPS):
        events = db.session.scalars(
            select(ProblemEvent)
            .where(ProblemEvent.problem_id == problem.id, ProblemEvent.created_at >= since)
            .order_by(ProblemEvent.id)
        )
        merged_at = None
        for event in events:
            if event.action in PUBLIC_EVENT_LABELS:
                entries.append({"label": PUBLIC_EVENT_LABELS[event.action], "at": event.created_at})
            if event.action == "merge":
                merged_at = event.created_at
        if problem.status != ProblemStatus.MERGED or problem.merged_into_id is None:
            break
        since = merged_at or since
        problem = db.session.get(Problem, problem.merged_into_id)
    return entries


def _parse_time(value: Any) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value)
    except (TypeError, ValueError):
        return None


# --- staff ------------------------------------------------------------------------------------


def list_reports(
    *,
    actor: Actor,
    moderation: str | None = None,
    household_id: int | None = None,
    page: int = 1,
    page_size: int = 50,
) -> tuple[list[dict[str, Any]], int]:
    """Villagers' reports in the actor's region (town admins, village cadres), newest first."""
    require_role(actor, LIST_ROLES)
    paths = actor.paths_for(LIST_ROLES)
    scope = [Report.region_path.startswith(p, autoescape=True) for p in paths]
    query = select(Report).where(or_(*scope))
    if moderation:
        query = query.where(Report.moderation == moderation)
    if household_id is not None:
        query = query.where(Report.household_id == household_id)
    total = db.session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = db.session.scalars(
        query.order_by(Report.created_at.desc(), Report.id.desc())
        .limit(page_size)
        .offset((page - 1) * page_size)
    )
    return [staff_view(r) for r in rows], total


def staff_view(report: Report) -> dict[str, Any]:
    """A report as staff see it: the text and household, never the openid or the address."""
    household = db.session.get(Household, report.household_id)
    status, label = receipt_status(report)
    detail = report.moderation_detail or {}
    photos = []
    if report.photo_ids:
        for photo in db.session.scalars(
            select(Photo).where(Photo.id.in_(report.photo_ids)).order_by(Photo.id)
        ):
            photos.append({"id": photo.id, "thumb_url": photo_thumb_url(photo)})
    return {
        "id": report.id,
        "receipt_code": report.receipt_code,
        "household_id": household.id,
        "household_number": household.number,
        "village": {"id": household.village.id, "name": household.village.name},
        "area": report.area,
        "area_label": area_label(report.area),
        "description": report.description,
        "photos": photos,
        "channel": report.channel,
        "from_wechat": report.reporter_openid is not None,
        "moderation": report.moderation,
        "moderation_label": MODERATION_LABELS.get(report.moderation, report.moderation),
        "moderation_reason": detail.get("reason") or "",
        "moderation_source": detail.get("source"),
        "status": status,
        "status_label": label,
        "problem_id": report.problem_id,
        "linked": report.linked,
        "created_at": report.created_at,
    }


def release_report(*, actor: Actor, report_id: int, note: str = "") -> dict[str, Any]:
    """A town admin lets a held report through: it opens (or joins) its problem now."""
    report = _held_report(actor, report_id)
    report.moderation = ReportModeration.RELEASED
    _record_decision(actor, report, note)
    problem = route_report(report=report)
    record_event(
        actor=actor,
        action="report.released",
        region_path=report.region_path,
        target_type="report",
        target_id=report.id,
        detail={"problem_id": problem.id, "linked": report.linked, "note": note},
    )
    return staff_view(report)


def discard_report(*, actor: Actor, report_id: int, note: str) -> dict[str, Any]:
    """A town admin refuses a held report, with the reason; no problem is opened."""
    note = (note or "").strip()
    if not note:
        raise DomainError("request.validation", fields={"json": {"note": ["请填写退回理由。"]}})
    report = _held_report(actor, report_id)
    report.moderation = ReportModeration.DISCARDED
    _record_decision(actor, report, note)
    db.session.flush()
    record_event(
        actor=actor,
        action="report.discarded",
        region_path=report.region_path,
        target_type="report",
        target_id=report.id,
        detail={"note": note},
    )
    return staff_view(report)


def _held_report(actor: Actor, report_id: int) -> Report:
    require_role(actor, DECIDE_ROLES)
    report = db.session.scalar(select(Report).where(Report.id == report_id).with_for_update())
    if report is None or not actor.covers_path(report.region_path, DECIDE_ROLES):
        raise DomainError("report.not_found")
    if report.moderation != ReportModeration.REVIEW:
        raise DomainError("report.not_held", details={"moderation": report.moderation})
    return report


def _record_decision(actor: Actor, report: Report, note: str) -> None:
    # A new dict: the JSON column does not track changes made inside the old one.
    report.moderation_detail = {
        **(report.moderation_detail or {}),
        "decision": {
            "by_user_id": actor.user_id,
            "at": utcnow().isoformat(),
            "note": (note or "").strip(),
        },
    }
