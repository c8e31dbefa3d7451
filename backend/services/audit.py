"""Recording security-relevant events in the append-only audit log."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import func, or_, select

from backend.extensions import db
from backend.models import AuditLog, Role, User
from backend.services.authz import Actor, require_role
from backend.services.clock import CHINA_TZ

# Who reads the audit log: the town office, 镇纪委 and the district.
AUDIT_READ_ROLES = frozenset({Role.TOWN_ADMIN, Role.INSPECTOR, Role.DISTRICT})


def record_event(
    *,
    actor: Actor | None,
    action: str,
    subject: str | None = None,
    target_type: str | None = None,
    target_id: str | int | None = None,
    detail: dict[str, Any] | None = None,
) -> AuditLog:
    """Append one audit row in the current transaction."""
    row = AuditLog(
        actor_user_id=actor.user_id if actor else None,
        action=action,
        subject=subject,
        target_type=target_type,
        target_id=str(target_id) if target_id is not None else None,
        ip=actor.ip if actor else None,
        detail=detail,
    )
    db.session.add(row)
    db.session.flush()
    return row


def count_events(*, action: str, subject: str, since: datetime) -> int:
    """Count audit rows of one action about one subject since a moment."""
    return db.session.scalar(
        select(func.count(AuditLog.id)).where(
            AuditLog.action == action, AuditLog.subject == subject, AuditLog.at >= since
        )
    )


def list_events(
    *,
    actor: Actor,
    action: str | None = None,
    actor_user_id: int | None = None,
    target_type: str | None = None,
    target_id: str | None = None,
    date_from: date | None = None,
    date_to: date | None = None,
    page: int = 1,
    page_size: int = 50,
) -> tuple[list[dict[str, Any]], int]:
    """Page through the audit log, newest first (town admins, inspectors and the district).

    ``action`` is a prefix, or several separated by commas: ``export.`` finds every export,
    ``auth.login`` logins with their failures and throttles. Dates are China calendar days.
    """
    require_role(actor, AUDIT_READ_ROLES)
    query = select(AuditLog)
    prefixes = [p.strip() for p in (action or "").split(",") if p.strip()]
    if prefixes:
        query = query.where(
            or_(*[AuditLog.action.startswith(p, autoescape=True) for p in prefixes])
        )
    if actor_user_id is not None:
        query = query.where(AuditLog.actor_user_id == actor_user_id)
    if target_type:
        query = query.where(AuditLog.target_type == target_type)
    if target_id:
        query = query.where(AuditLog.target_id == target_id)
    if date_from is not None:
        query = query.where(AuditLog.at >= datetime.combine(date_from, time(), CHINA_TZ))
    if date_to is not None:
        end = datetime.combine(date_to + timedelta(days=1), time(), CHINA_TZ)
        query = query.where(AuditLog.at < end)
    total = db.session.scalar(select(func.count()).select_from(query.subquery()))
    rows = db.session.execute(
        query.add_columns(User.display_name)
        .outerjoin(User, User.id == AuditLog.actor_user_id)
        .order_by(AuditLog.id.desc())
        .offset((page - 1) * page_size)
        .limit(page_size)
    ).all()
    return [_event_view(row, name) for row, name in rows], total


def _event_view(row: AuditLog, actor_name: str | None) -> dict[str, Any]:
    return {
        "id": row.id,
        "at": row.at,
        "actor_user_id": row.actor_user_id,
        "actor_name": actor_name,
        "action": row.action,
        "subject": row.subject,
        "target_type": row.target_type,
        "target_id": row.target_id,
        "ip": row.ip,
        "detail": row.detail,
    }
