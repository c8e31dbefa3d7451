"""Roll-ups kept up to date at ingest, so coverage never has to scan the visits table."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from backend.models.base import Base, UTCDateTime, utcnow


class HouseholdVisitMonth(Base):
    """One household's visits in one China calendar month, sorted by what coverage needs.

    "Assigned" below means: made by the helper assigned to the household on the visit's China
    date. Visits reviewed invalid count only in ``invalid_visits``.
    """

    __tablename__ = "household_visit_months"
    __table_args__ = (
        # Coverage reads one month (or a quarter's three) of a town's villages, or a county's.
        Index("ix_household_visit_months_month_village", "month", "village_id"),
    )

    household_id: Mapped[int] = mapped_column(ForeignKey("households.id"), primary_key=True)
    # The first day of the month, in China time.
    month: Mapped[date] = mapped_column(Date, primary_key=True)
    # Copied from the household (and rewritten if it moves or changes category), so that a
    # county's figures per village need no join with the households table.
    region_id: Mapped[int] = mapped_column(ForeignKey("regions.id"))
    village_id: Mapped[int] = mapped_column(ForeignKey("regions.id"))
    category: Mapped[str] = mapped_column(String(32))
    # Assigned, not invalid, and either unflagged or reviewed valid: always count.
    counted_visits: Mapped[int] = mapped_column(Integer, default=0)
    # Assigned, flagged and not reviewed yet: count only when COVERAGE_COUNT_UNREVIEWED_FLAGGED.
    pending_visits: Mapped[int] = mapped_column(Integer, default=0)
    # Assigned and flagged, whatever the review said (the per-helper anomaly figure).
    flagged_visits: Mapped[int] = mapped_column(Integer, default=0)
    # Assigned and reviewed invalid.
    invalid_visits: Mapped[int] = mapped_column(Integer, default=0)
    # Made by someone else (a cadre, a secretary, a former helper), not invalid.
    other_visits: Mapped[int] = mapped_column(Integer, default=0)
    # The latest counted visit and the latest pending one: the household's "latest survey".
    last_counted_visit_id: Mapped[int | None] = mapped_column(ForeignKey("visits.id"))
    last_counted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_pending_visit_id: Mapped[int | None] = mapped_column(ForeignKey("visits.id"))
    last_pending_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class RegionVisitMonth(Base):
    """Per lowest region (group, or village without groups), China month and household
    category: the sums of that month's ``household_visit_months`` rows, so that a county's
    month is read from a few thousand rows instead of one per household."""

    __tablename__ = "region_visit_months"

    region_id: Mapped[int] = mapped_column(ForeignKey("regions.id"), primary_key=True)
    month: Mapped[date] = mapped_column(Date, primary_key=True)
    category: Mapped[str] = mapped_column(String(32), primary_key=True)
    # Households with a counted visit; with a counted or a pending one.
    households_counted: Mapped[int] = mapped_column(Integer, default=0)
    households_any: Mapped[int] = mapped_column(Integer, default=0)
    counted_visits: Mapped[int] = mapped_column(Integer, default=0)
    pending_visits: Mapped[int] = mapped_column(Integer, default=0)
    flagged_visits: Mapped[int] = mapped_column(Integer, default=0)
    invalid_visits: Mapped[int] = mapped_column(Integer, default=0)
    other_visits: Mapped[int] = mapped_column(Integer, default=0)
