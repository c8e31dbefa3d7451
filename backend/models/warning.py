"""Early-warning flags (返贫监测预警) and the town's review of them (研判)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from backend.models.base import Base, UTCDateTime, utcnow
from backend.models.household import Household


class WarningReason:
    """Why a household was flagged."""

    INCOME_BELOW_LINE = "income_below_line"  # 人均纯收入低于监测线
    SUDDEN_HARDSHIP = "sudden_hardship"  # 突发严重困难（大病、意外、灾害）
    MICROLOAN_OVERDUE = "microloan_overdue"  # 小额信贷逾期

    ALL = ("income_below_line", "sudden_hardship", "microloan_overdue")


class WarningStatus:
    """The town's decision on a flag."""

    PENDING = "pending"
    CONFIRMED = "confirmed"
    DISMISSED = "dismissed"


class WarningFlag(Base):
    """One early-warning flag of one household, pending the town's review or decided."""

    __tablename__ = "warning_flags"
    __table_args__ = (
        # A household carries at most one pending flag per reason; new evidence is appended.
        Index(
            "uq_warning_flags_pending",
            "household_id",
            "reason",
            unique=True,
            sqlite_where=text("status = 'pending'"),
            postgresql_where=text("status = 'pending'"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    household_id: Mapped[int] = mapped_column(ForeignKey("households.id"), index=True)
    region_path: Mapped[str] = mapped_column(String(255), index=True)
    reason: Mapped[str] = mapped_column(String(24))
    # visit | report | screening
    source: Mapped[str] = mapped_column(String(16))
    source_visit_id: Mapped[int | None] = mapped_column(ForeignKey("visits.id"))
    source_report_id: Mapped[int | None] = mapped_column(ForeignKey("reports.id"))
    # What triggered it (e.g. income per person and the line), plus later evidence.
    detail: Mapped[dict] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(16), default=WarningStatus.PENDING, index=True)
    # On confirm: the monitored-household kind (MonitorType) given to the household.
    monitor_type: Mapped[str | None] = mapped_column(String(32))
    decision_note: Mapped[str] = mapped_column(Text, default="")
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)

    household: Mapped[Household] = relationship()
