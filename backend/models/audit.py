"""Append-only audit log."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, BigInteger, ForeignKey, Integer, String, event
from sqlalchemy.orm import Mapped, mapped_column

from backend.models.base import Base, UTCDateTime, utcnow


class AuditLog(Base):
    """One security-relevant event. Rows are never updated or deleted."""

    __tablename__ = "audit_logs"

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    actor_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    action: Mapped[str] = mapped_column(String(64), index=True)
    # Who or what the event is about, e.g. a username for failed logins.
    subject: Mapped[str | None] = mapped_column(String(128), index=True)
    target_type: Mapped[str | None] = mapped_column(String(32))
    target_id: Mapped[str | None] = mapped_column(String(64))
    ip: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[dict | None] = mapped_column(JSON)
    # The region subtree the event belongs to (the household's, the problem's, or else the
    # actor's), which decides who may read it; None: only readers over a whole district.
    region_path: Mapped[str | None] = mapped_column(String(255), index=True)


class AuditLogImmutableError(RuntimeError):
    """Raised when code tries to change or delete an audit row."""


@event.listens_for(AuditLog, "before_update")
def _forbid_update(mapper, connection, target):
    raise AuditLogImmutableError("audit log rows are append-only")


@event.listens_for(AuditLog, "before_delete")
def _forbid_delete(mapper, connection, target):
    raise AuditLogImmutableError("audit log rows are append-only")
