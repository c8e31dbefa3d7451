"""Recording security-relevant events in the append-only audit log."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select

from backend.extensions import db
from backend.models import AuditLog, Role
from backend.services.authz import Actor, require_role


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
    target_type: str | None = None,
    target_id: str | None = None,
    page: int = 1,
    page_size: int = 50,
) -> tuple[list[AuditLog], int]:
    """Page through the audit log (town admins, inspectors and the district)."""
    require_role(actor, {Role.TOWN_ADMIN, Role.INSPECTOR, Role.DISTRICT})
    query = select(AuditLog)
    if action:
        query = query.where(AuditLog.action == action)
    if target_type:
        query = query.where(AuditLog.target_type == target_type)
    if target_id:
        query = query.where(AuditLog.target_id == target_id)
    total = db.session.scalar(select(func.count()).select_from(query.subquery()))
    rows = db.session.scalars(
        query.order_by(AuditLog.id.desc()).offset((page - 1) * page_size).limit(page_size)
    ).all()
    return list(rows), total
