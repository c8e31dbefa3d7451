"""Helper ↔ household assignments, with history."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, ForeignKey, Index, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from backend.models.base import Base, UTCDateTime, utcnow
from backend.models.household import Household
from backend.models.user import User


class Assignment(Base):
    """A helper is responsible for a household from start_date until end_date."""

    __tablename__ = "assignments"
    __table_args__ = (
        # At most one open assignment per household: reassignment must end the old one first.
        Index(
            "uq_assignments_one_open",
            "household_id",
            unique=True,
            postgresql_where=text("end_date IS NULL"),
            sqlite_where=text("end_date IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    helper_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    household_id: Mapped[int] = mapped_column(ForeignKey("households.id"), index=True)
    start_date: Mapped[date] = mapped_column(Date)
    end_date: Mapped[date | None] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    helper: Mapped[User] = relationship(foreign_keys=[helper_id])
    household: Mapped[Household] = relationship()
