"""Monthly spot-checks (抽查核验): a reproducible, stratified sample of visits to re-verify."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Float, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from backend.models.base import Base, UTCDateTime, utcnow


class SpotCheckOutcome:
    """What the inspector found for one sampled visit."""

    PENDING = "pending"
    CONFIRMED_PHONE = "confirmed_phone"  # 电话回访属实
    CONFIRMED_REVISIT = "confirmed_revisit"  # 实地复核属实
    NOT_CONFIRMED = "not_confirmed"  # 核实不属实

    ALL = ("pending", "confirmed_phone", "confirmed_revisit", "not_confirmed")


class SpotCheck(Base):
    """One month's sample for one region (usually the town), reproducible from its seed."""

    __tablename__ = "spot_checks"
    __table_args__ = (UniqueConstraint("region_id", "period"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    region_id: Mapped[int] = mapped_column(ForeignKey("regions.id"), index=True)
    region_path: Mapped[str] = mapped_column(String(255), index=True)
    period: Mapped[str] = mapped_column(String(7))  # YYYY-MM, China time
    share: Mapped[float] = mapped_column(Float)
    seed: Mapped[str] = mapped_column(String(64))
    population_size: Mapped[int] = mapped_column(Integer, default=0)
    sample_size: Mapped[int] = mapped_column(Integer, default=0)
    # Per village: {"village_id": {"population": n, "sample": k}}.
    strata: Mapped[dict] = mapped_column(JSON, default=dict)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    items: Mapped[list[SpotCheckItem]] = relationship(
        back_populates="spot_check", cascade="all, delete-orphan", order_by="SpotCheckItem.id"
    )


class SpotCheckItem(Base):
    """One sampled visit and the inspector's outcome for it."""

    __tablename__ = "spot_check_items"
    __table_args__ = (UniqueConstraint("spot_check_id", "visit_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    spot_check_id: Mapped[int] = mapped_column(ForeignKey("spot_checks.id"), index=True)
    visit_id: Mapped[int] = mapped_column(ForeignKey("visits.id"), index=True)
    village_id: Mapped[int] = mapped_column(ForeignKey("regions.id"))
    outcome: Mapped[str] = mapped_column(String(24), default=SpotCheckOutcome.PENDING)
    note: Mapped[str] = mapped_column(Text, default="")
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The 镇纪委 problem opened when the visit could not be confirmed.
    problem_id: Mapped[int | None] = mapped_column(ForeignKey("problems.id"))

    spot_check: Mapped[SpotCheck] = relationship(back_populates="items")
