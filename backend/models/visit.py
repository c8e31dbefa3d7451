"""Visits (走访): answers, GPS, device and server times, checks and authenticity flags."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from backend.models.base import Base, UTCDateTime, utcnow
from backend.models.form import FormVersion
from backend.models.household import Household
from backend.models.user import User


class ReviewStatus:
    """The town office's verdict on a visit's authenticity."""

    UNREVIEWED = "unreviewed"
    VALID = "valid"
    INVALID = "invalid"


class Visit(Base):
    """One submitted visit. ``client_uuid`` makes every retry land on the same row."""

    __tablename__ = "visits"
    __table_args__ = (
        # The helper's neighbouring visits (impossible-travel flag) are looked up both ways.
        Index("ix_visits_helper_ended", "helper_id", "ended_at"),
        Index("ix_visits_helper_started", "helper_id", "started_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    client_uuid: Mapped[str] = mapped_column(String(36), unique=True)
    # SHA-256 of the canonical submission: a retry must match it exactly.
    body_hash: Mapped[str] = mapped_column(String(64))
    household_id: Mapped[int] = mapped_column(ForeignKey("households.id"), index=True)
    helper_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    form_version_id: Mapped[int] = mapped_column(ForeignKey("form_versions.id"))
    answers: Mapped[dict] = mapped_column(JSON)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    gps_lat: Mapped[float | None] = mapped_column(Float)
    gps_lon: Mapped[float | None] = mapped_column(Float)
    gps_accuracy: Mapped[float | None] = mapped_column(Float)
    gps_altitude: Mapped[float | None] = mapped_column(Float)
    gps_coord: Mapped[str | None] = mapped_column(String(8))  # as sent: wgs84 | gcj02
    gps_raw_lat: Mapped[float | None] = mapped_column(Float)
    gps_raw_lon: Mapped[float | None] = mapped_column(Float)
    gps_captured_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    distance_m: Mapped[float | None] = mapped_column(Float)
    flags: Mapped[list] = mapped_column(JSON, default=list)
    flag_count: Mapped[int] = mapped_column(Integer, default=0, index=True)
    failed_check_count: Mapped[int] = mapped_column(Integer, default=0)
    # Every check's result, in form order, as the API shows it (VisitCheckSchema's keys).
    # Stored with the visit rather than as ~26 rows: the rows cost the database more than the
    # rest of a submission (scripts/bench/README.md). The checks that did not pass are also
    # rows of visit_checks, which problems and household status query.
    check_results: Mapped[list] = mapped_column(JSON, default=list, server_default="[]")
    review_status: Mapped[str] = mapped_column(
        String(16), default=ReviewStatus.UNREVIEWED, index=True
    )
    review_note: Mapped[str | None] = mapped_column(Text)
    reviewed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    reviewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    household: Mapped[Household] = relationship()
    helper: Mapped[User] = relationship(foreign_keys=[helper_id])
    form_version: Mapped[FormVersion] = relationship()
    failed_checks: Mapped[list[VisitCheck]] = relationship(
        back_populates="visit", cascade="all, delete-orphan", order_by="VisitCheck.id"
    )


class VisitCheck(Base):
    """A check of a visit that did not pass (failed, or left unanswered), with its evidence.

    Only these are rows: they are what problems are raised from and what household status and
    exports look up by visit. Every result, passed or not, is in ``Visit.check_results``.
    """

    __tablename__ = "visit_checks"

    id: Mapped[int] = mapped_column(primary_key=True)
    visit_id: Mapped[int] = mapped_column(ForeignKey("visits.id"), index=True)
    check_key: Mapped[str] = mapped_column(String(64))
    label: Mapped[str] = mapped_column(String(128))
    area: Mapped[str] = mapped_column(String(32))
    office_codes: Mapped[list] = mapped_column(JSON)
    passed: Mapped[bool] = mapped_column(Boolean)
    applicable: Mapped[bool] = mapped_column(Boolean, default=True)
    evidence: Mapped[dict] = mapped_column(JSON)

    visit: Mapped[Visit] = relationship(back_populates="failed_checks")


class LocationProposal(Base):
    """A household location proposed by a good-accuracy visit, pending a town admin."""

    __tablename__ = "location_proposals"

    id: Mapped[int] = mapped_column(primary_key=True)
    household_id: Mapped[int] = mapped_column(ForeignKey("households.id"), index=True)
    visit_id: Mapped[int] = mapped_column(ForeignKey("visits.id"))
    lat: Mapped[float] = mapped_column(Float)
    lon: Mapped[float] = mapped_column(Float)
    accuracy: Mapped[float] = mapped_column(Float)
    status: Mapped[str] = mapped_column(String(16), default="pending", index=True)
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
