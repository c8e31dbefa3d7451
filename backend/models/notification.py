"""The notification outbox: every WeChat subscribe message is written here first."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from backend.models.base import Base, UTCDateTime, utcnow


class NotificationKind:
    """Events that notify someone."""

    OFFICE_ASSIGNED = "office_assigned"  # 问题交办
    DEADLINE_SOON = "deadline_soon"  # 即将到期
    OVERDUE = "overdue"  # 已逾期
    REPORT_ACCEPTED = "report_accepted"  # 反映已受理
    REPORT_CLOSED = "report_closed"  # 反映已销号


class NotificationStatus:
    """Where a message is in the outbox."""

    PENDING = "pending"
    SENT = "sent"
    # errcode 43101: the user has no subscription left; recorded, never retried.
    NO_SUBSCRIPTION = "no_subscription"
    # The recipient has no WeChat openid; recorded so the event is not lost from view.
    NO_RECIPIENT = "no_recipient"
    FAILED = "failed"  # gave up after the retry budget


class Notification(Base):
    """One message for one recipient, sent by the outbox worker."""

    __tablename__ = "notifications"
    __table_args__ = (Index("ix_notifications_status_next", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    # Makes enqueueing idempotent: "overdue:17:1:user:5" is queued once, however often the
    # deadline sweep runs.
    dedup_key: Mapped[str] = mapped_column(String(128), unique=True)
    kind: Mapped[str] = mapped_column(String(24))
    problem_id: Mapped[int | None] = mapped_column(ForeignKey("problems.id"), index=True)
    recipient_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    recipient_openid: Mapped[str | None] = mapped_column(String(64))
    template_id: Mapped[str] = mapped_column(String(64))
    page: Mapped[str | None] = mapped_column(String(255))
    data: Mapped[dict] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(16), default=NotificationStatus.PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_errcode: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
