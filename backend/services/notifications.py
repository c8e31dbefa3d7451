"""The notification outbox: WeChat subscribe messages, queued with their event, sent later.

Every message is first a row of ``notifications``, written in the transaction of the event that
causes it (a problem assigned, a deadline approaching, an overdue escalation, a villager's
report accepted or closed), so it is never lost and never sent for an event that rolled back.
``dedup_key`` is unique: enqueueing the same event twice is a no-op. Only the worker
(``send_due_notifications``, run by ``flask hhq send-notifications``) talks to WeChat, so a
WeChat outage never fails a request.

The subscribe-message templates must be created in the WeChat admin console with these keys
(their ids go into the ``WECHAT_TEMPLATE_*`` settings):

- office_assigned 问题交办: character_string1 问题编号, thing2 问题, thing3 所在村,
  time4 整改期限, thing5 备注
- deadline_soon 到期提醒: character_string1 问题编号, thing2 问题, phrase3 当前状态,
  time4 办理期限, thing5 备注
- overdue 逾期督办: character_string1 问题编号, thing2 问题, time3 办理期限, phrase4 当前状态,
  thing5 督办说明
- report_accepted / report_closed 反映办理进度: character_string1 回执码, thing2 反映事项,
  phrase3 办理状态, time4 办理时间, thing5 备注
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError

from backend.errors import DomainError
from backend.extensions import db
from backend.models import (
    Notification,
    NotificationKind,
    NotificationStatus,
    Problem,
    ProblemEvent,
    ProblemStatus,
    Region,
    Report,
    Role,
    User,
    utcnow,
)
from backend.services import problems as problem_service
from backend.services.authz import ADMIN_ROLES, Actor, require_role
from backend.services.clock import CHINA_TZ
from backend.services.problem_machine import STATUS_LABELS
from backend.services.refs import user_ref
from backend.wechat.client import ERR_NO_SUBSCRIPTION, WeChatClient, WeChatError, WeChatUnavailable

log = logging.getLogger(__name__)

KIND_LABELS = {
    NotificationKind.OFFICE_ASSIGNED: "问题交办",
    NotificationKind.DEADLINE_SOON: "即将到期",
    NotificationKind.OVERDUE: "逾期督办",
    NotificationKind.REPORT_ACCEPTED: "反映已受理",
    NotificationKind.REPORT_CLOSED: "反映已销号",
}
STATUS_LABELS_OUTBOX = {
    NotificationStatus.PENDING: "待发送",
    NotificationStatus.SENT: "已发送",
    NotificationStatus.NO_SUBSCRIPTION: "用户未订阅",
    NotificationStatus.NO_RECIPIENT: "未绑定微信",
    NotificationStatus.FAILED: "发送失败",
}
TEMPLATE_SETTINGS = {
    NotificationKind.OFFICE_ASSIGNED: "WECHAT_TEMPLATE_OFFICE_ASSIGNED",
    NotificationKind.DEADLINE_SOON: "WECHAT_TEMPLATE_DEADLINE_SOON",
    NotificationKind.OVERDUE: "WECHAT_TEMPLATE_OVERDUE",
    NotificationKind.REPORT_ACCEPTED: "WECHAT_TEMPLATE_REPORT_ACCEPTED",
    NotificationKind.REPORT_CLOSED: "WECHAT_TEMPLATE_REPORT_CLOSED",
}

# WeChat refuses (47003) values longer than these, per key type.
VALUE_LIMITS = {"thing": 20, "phrase": 5, "character_string": 32, "number": 32, "letter": 32}
_KEY_TYPE = re.compile(r"^([a-z_]+?)\d*$")

PROBLEM_PAGE = "pages/problems/detail?id={id}"
REPORT_PAGE = "pages/report/status?code={code}"

# Retries wait 1, 2, 4, 8 … minutes, never more than six hours.
BACKOFF_BASE_SECONDS = 60
BACKOFF_MAX_SECONDS = 6 * 3600
# Errors a retry cannot mend: a bad openid, template, data or page.
PERMANENT_ERRCODES = frozenset({40003, 40037, 41030, 47003})

# Problem states whose deadline is running for the village (reported, accepted) or the town.
_VILLAGE_STATES = frozenset({ProblemStatus.REPORTED, ProblemStatus.ACCEPTED})
_TOWN_STATES = frozenset({ProblemStatus.TOWN_REVIEW})


# Message data.


def fit_value(key: str, value: Any) -> str:
    """``value`` as text cut to WeChat's length limit for the type of ``key`` (thing2 → 20)."""
    text = " ".join(str(value if value is not None else "").split())
    match = _KEY_TYPE.match(key)
    limit = VALUE_LIMITS.get(match.group(1)) if match else None
    if limit is None or len(text) <= limit:
        return text
    if match.group(1) == "thing":
        return text[: limit - 1] + "…"
    return text[:limit]


def format_time(value: datetime | None) -> str:
    """A moment in China time, as WeChat's ``time`` values show it."""
    if value is None:
        return ""
    return value.astimezone(CHINA_TZ).strftime("%Y-%m-%d %H:%M")


def message_data(values: Mapping[str, Any]) -> dict[str, dict[str, str]]:
    """Subscribe-message ``data``: each key's value fitted to its limit."""
    return {key: {"value": fit_value(key, value)} for key, value in values.items()}


def problem_page(problem: Problem) -> str:
    """The mini-program page of a problem, for staff."""
    return PROBLEM_PAGE.format(id=problem.id)


def _village_name(problem: Problem) -> str:
    region = db.session.get(Region, problem.village_id)
    return region.name if region is not None else ""


def _area_label(area: str) -> str:
    try:
        return problem_service.route_for(area=area).area_label
    except DomainError:
        return area


# Recipients.


def responsible_users(problem: Problem) -> list[User]:
    """Who must act on ``problem`` now: the village early on, the town in review, else the office."""
    if problem.status in _VILLAGE_STATES:
        return problem_service.role_holders(
            role=Role.VILLAGE_CADRE, region_path=problem.region_path
        )
    if problem.status in _TOWN_STATES:
        return town_admins(problem)
    return problem_service.office_users(problem.office_code, problem.region_path)


def town_admins(problem: Problem) -> list[User]:
    """Active town admins whose region covers ``problem``."""
    return problem_service.role_holders(role=Role.TOWN_ADMIN, region_path=problem.region_path)


# Enqueueing.


def template_for(kind: str) -> str:
    """The configured template id for ``kind`` ("" when that message is switched off)."""
    return current_app.config.get(TEMPLATE_SETTINGS[kind]) or ""


def enqueue_notification(
    *,
    kind: str,
    dedup_key: str,
    data: Mapping[str, Any],
    page: str | None,
    problem_id: int | None,
    recipient_user_id: int | None = None,
    recipient_openid: str | None = None,
) -> tuple[Notification | None, bool]:
    """Queue one message unless ``dedup_key`` is already queued; True if a row was added.

    A recipient without an openid gets a ``no_recipient`` row: never sent, but visible.
    """
    template_id = template_for(kind)
    if not template_id:
        log.info("notification %s not queued: no template configured", kind)
        return None, False
    existing = db.session.scalar(select(Notification).where(Notification.dedup_key == dedup_key))
    if existing is not None:
        return existing, False
    now = utcnow()
    row = Notification(
        dedup_key=dedup_key[:128],
        kind=kind,
        problem_id=problem_id,
        recipient_user_id=recipient_user_id,
        recipient_openid=recipient_openid or None,
        template_id=template_id,
        page=page,
        data=message_data(data),
        status=NotificationStatus.PENDING if recipient_openid else NotificationStatus.NO_RECIPIENT,
        attempts=0,
        next_attempt_at=now,
        created_at=now,
    )
    # Two sweeps or requests may queue the same event at once: the unique key decides.
    try:
        with db.session.begin_nested():
            db.session.add(row)
            db.session.flush()
    except IntegrityError:
        existing = db.session.scalar(
            select(Notification).where(Notification.dedup_key == dedup_key)
        )
        if existing is None:
            raise
        return existing, False
    return row, True


def notify_users(
    *,
    kind: str,
    problem: Problem,
    users: Iterable[User],
    key: str,
    data: Mapping[str, Any],
) -> list[Notification]:
    """Queue one message per user (deduplicated by user), keyed ``"{key}:user:{id}"``."""
    added = []
    seen: set[int] = set()
    for user in users:
        if user.id in seen:
            continue
        seen.add(user.id)
        row, created = enqueue_notification(
            kind=kind,
            dedup_key=f"{key}:user:{user.id}",
            data=data,
            page=problem_page(problem),
            problem_id=problem.id,
            recipient_user_id=user.id,
            recipient_openid=user.wechat_openid,
        )
        if created and row is not None:
            added.append(row)
    return added


def notify_office_assigned(*, problem: Problem, event_id: int) -> list[Notification]:
    """Tell the office's users that ``problem`` is theirs (once per assigning event)."""
    return notify_users(
        kind=NotificationKind.OFFICE_ASSIGNED,
        problem=problem,
        users=problem_service.office_users(problem.office_code, problem.region_path),
        key=f"assigned:{problem.id}:{event_id}",
        data={
            "character_string1": problem.id,
            "thing2": problem.title,
            "thing3": _village_name(problem),
            "time4": format_time(problem.deadline_at),
            "thing5": "请于期限前完成整改并上传整改照片",
        },
    )


def _deadline_stamp(problem: Problem) -> int:
    return int(problem.deadline_at.timestamp()) if problem.deadline_at else 0


def notify_deadline_soon(*, problem: Problem, now: datetime) -> list[Notification]:
    """Warn whoever must act that ``problem``'s deadline is near (once per deadline)."""
    hours = max(1, int((problem.deadline_at - now).total_seconds() // 3600))
    return notify_users(
        kind=NotificationKind.DEADLINE_SOON,
        problem=problem,
        users=responsible_users(problem),
        key=f"deadline_soon:{problem.id}:{_deadline_stamp(problem)}",
        data={
            "character_string1": problem.id,
            "thing2": problem.title,
            "phrase3": STATUS_LABELS.get(problem.status, problem.status),
            "time4": format_time(problem.deadline_at),
            "thing5": f"距办理期限不足{hours}小时，请尽快处理",
        },
    )


def overdue_note(*, problem: Problem, now: datetime) -> str:
    """How the overdue message and the timeline describe an escalation."""
    days = (now - problem.deadline_at).days if problem.deadline_at else 0
    late = f"已逾期{days}天" if days >= 1 else "已超过办理期限"
    return f"{late}，第{problem.escalation_level}次督办"


def notify_overdue(*, problem: Problem, now: datetime) -> list[Notification]:
    """Tell whoever must act, and the town, that ``problem`` is overdue (once per level)."""
    users = [*responsible_users(problem), *town_admins(problem)]
    return notify_users(
        kind=NotificationKind.OVERDUE,
        problem=problem,
        users=users,
        key=f"overdue:{problem.id}:{_deadline_stamp(problem)}:{problem.escalation_level}",
        data={
            "character_string1": problem.id,
            "thing2": problem.title,
            "time3": format_time(problem.deadline_at),
            "phrase4": STATUS_LABELS.get(problem.status, problem.status),
            "thing5": overdue_note(problem=problem, now=now),
        },
    )


def reports_of(problem: Problem) -> list[Report]:
    """The villagers' reports of ``problem`` and of the duplicates merged into it."""
    merged = select(Problem.id).where(Problem.merged_into_id == problem.id)
    return list(
        db.session.scalars(
            select(Report)
            .where(or_(Report.problem_id == problem.id, Report.problem_id.in_(merged)))
            .order_by(Report.id)
        )
    )


def notify_reporters(*, problem: Problem, kind: str, event_id: int) -> list[Notification]:
    """Tell each villager who reported ``problem`` from WeChat how it stands."""
    accepted = kind == NotificationKind.REPORT_ACCEPTED
    added = []
    for report in reports_of(problem):
        if not report.reporter_openid:
            continue  # reported from a browser: there is nobody to message
        # Accepted happens once per report; a closed problem may be reopened and closed again.
        key = (
            f"report_accepted:{report.id}" if accepted else f"report_closed:{report.id}:{event_id}"
        )
        row, created = enqueue_notification(
            kind=kind,
            dedup_key=key,
            data={
                "character_string1": report.receipt_code,
                "thing2": _area_label(report.area),
                "phrase3": "已受理" if accepted else "已销号",
                "time4": format_time(utcnow()),
                "thing5": "村支两委已受理，正在调查核实"
                if accepted
                else "问题已整改完成并销号，感谢您的反映",
            },
            page=REPORT_PAGE.format(code=report.receipt_code),
            problem_id=problem.id,
            recipient_openid=report.reporter_openid,
        )
        if created and row is not None:
            added.append(row)
    return added


@problem_service.on_transition
def notify_on_transition(
    problem: Problem, action: str, from_status: str | None, event: ProblemEvent
) -> None:
    """Queue the messages a problem's transition (or opening) causes, in its transaction."""
    if problem.status in (ProblemStatus.ASSIGNED, ProblemStatus.REOPENED) and (
        action in ("assign", "reassign", "reopen") or from_status is None
    ):
        notify_office_assigned(problem=problem, event_id=event.id)
    elif action == "accept":
        notify_reporters(
            problem=problem,
            kind=NotificationKind.REPORT_ACCEPTED,
            event_id=event.id,
        )
    elif action == "close":
        notify_reporters(problem=problem, kind=NotificationKind.REPORT_CLOSED, event_id=event.id)
    db.session.flush()


# Sending (the worker).


@dataclass
class SendReport:
    """What one pass of the worker did."""

    sent: int = 0
    no_subscription: int = 0
    retried: int = 0
    failed: int = 0
    ids: list[int] = field(default_factory=list)

    @property
    def handled(self) -> int:
        """Messages taken from the queue in this pass."""
        return self.sent + self.no_subscription + self.retried + self.failed


def backoff_delay(attempts: int) -> timedelta:
    """How long to wait after the ``attempts``-th failed try."""
    seconds = BACKOFF_BASE_SECONDS * 2 ** max(attempts - 1, 0)
    return timedelta(seconds=min(seconds, BACKOFF_MAX_SECONDS))


def _claim_next(now: datetime, skip: set[int]) -> Notification | None:
    query = (
        select(Notification)
        .where(
            Notification.status == NotificationStatus.PENDING,
            Notification.next_attempt_at <= now,
        )
        .order_by(Notification.next_attempt_at, Notification.id)
        .limit(1)
    )
    if skip:
        query = query.where(Notification.id.not_in(skip))
    if db.session.get_bind().dialect.name == "postgresql":
        # Two workers never take the same row; the lock lasts until this message's commit.
        query = query.with_for_update(skip_locked=True)
    return db.session.scalar(query)


def _record_failure(row: Notification, *, errcode: int | None, error: str, now: datetime) -> str:
    row.attempts += 1
    row.last_errcode = errcode
    row.last_error = error[:1000]
    if errcode == ERR_NO_SUBSCRIPTION:
        # The user refused or has used up their subscriptions: retrying only annoys WeChat.
        row.status = NotificationStatus.NO_SUBSCRIPTION
        return "no_subscription"
    if errcode in PERMANENT_ERRCODES or row.attempts >= current_app.config["NOTIFY_MAX_ATTEMPTS"]:
        row.status = NotificationStatus.FAILED
        return "failed"
    row.next_attempt_at = now + backoff_delay(row.attempts)
    return "retried"


def send_notification(*, client: WeChatClient, row: Notification, now: datetime) -> str:
    """Send one queued message and record the outcome on its row (flushes, never commits)."""
    try:
        client.send_subscribe_message(
            row.recipient_openid,
            row.template_id,
            row.data,
            row.page,
            miniprogram_state=current_app.config.get("WECHAT_MINIPROGRAM_STATE"),
        )
    except WeChatUnavailable as exc:
        outcome = _record_failure(row, errcode=None, error=str(exc), now=now)
    except WeChatError as exc:
        outcome = _record_failure(row, errcode=exc.errcode, error=str(exc), now=now)
    except Exception as exc:
        log.exception("notification %s: unexpected error", row.id)
        outcome = _record_failure(row, errcode=None, error=type(exc).__name__, now=now)
    else:
        row.attempts += 1
        row.status = NotificationStatus.SENT
        row.sent_at = now
        row.last_errcode = None
        row.last_error = None
        outcome = "sent"
    db.session.flush()
    return outcome


def send_due_notifications(
    *, client: WeChatClient, limit: int | None = None, now: datetime | None = None
) -> SendReport:
    """Worker: send pending messages that are due, committing after each one."""
    limit = limit or current_app.config["NOTIFY_BATCH_SIZE"]
    report = SendReport()
    tried: set[int] = set()
    while report.handled < limit:
        moment = now or utcnow()
        row = _claim_next(moment, tried)
        if row is None:
            db.session.commit()
            break
        tried.add(row.id)
        outcome = send_notification(client=client, row=row, now=moment)
        db.session.commit()
        setattr(report, outcome, getattr(report, outcome) + 1)
        report.ids.append(row.id)
    return report


# The outbox view for town admins.


def notification_view(row: Notification, user: User | None) -> dict[str, Any]:
    """One outbox row as the town admin sees it (no openids)."""
    return {
        "id": row.id,
        "kind": row.kind,
        "kind_label": KIND_LABELS.get(row.kind, row.kind),
        "problem_id": row.problem_id,
        "recipient": user_ref(user),
        "recipient_type": "staff" if row.recipient_user_id else "villager",
        "has_openid": bool(row.recipient_openid),
        "template_id": row.template_id,
        "page": row.page,
        "data": row.data,
        "status": row.status,
        "status_label": STATUS_LABELS_OUTBOX.get(row.status, row.status),
        "attempts": row.attempts,
        "next_attempt_at": row.next_attempt_at,
        "last_errcode": row.last_errcode,
        "last_error": row.last_error,
        "sent_at": row.sent_at,
        "created_at": row.created_at,
    }


def list_notifications(
    *,
    actor: Actor,
    status: str | None = None,
    kind: str | None = None,
    problem_id: int | None = None,
    page: int = 1,
    page_size: int = 50,
) -> tuple[list[dict[str, Any]], int]:
    """Page through the outbox of the problems in the admin's region, newest first."""
    require_role(actor, ADMIN_ROLES)
    paths = actor.paths_for(ADMIN_ROLES)
    query = (
        select(Notification, User)
        .join(Problem, Problem.id == Notification.problem_id)
        .outerjoin(User, User.id == Notification.recipient_user_id)
        .where(or_(*[Problem.region_path.startswith(p, autoescape=True) for p in paths]))
    )
    if status:
        query = query.where(Notification.status == status)
    if kind:
        query = query.where(Notification.kind == kind)
    if problem_id is not None:
        query = query.where(Notification.problem_id == problem_id)
    total = db.session.scalar(select(func.count()).select_from(query.subquery()))
    rows = db.session.execute(
        query.order_by(Notification.id.desc()).offset((page - 1) * page_size).limit(page_size)
    ).all()
    return [notification_view(row, user) for row, user in rows], total
