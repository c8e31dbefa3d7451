"""Problems (问题清单) and their timeline, the routing table, and villagers' reports."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from backend.models.base import Base, UTCDateTime, utcnow
from backend.models.household import Household


class ProblemStatus:
    """States of a problem's life (DOMAIN.md, "A problem's life")."""

    REPORTED = "reported"  # 已反映
    ACCEPTED = "accepted"  # 村支两委受理并调查
    TOWN_REVIEW = "town_review"  # 镇审核
    ASSIGNED = "assigned"  # 已交办责任单位
    RECTIFYING = "rectifying"  # 整改中
    RECTIFIED = "rectified"  # 已整改（附证据）
    VERIFIED = "verified"  # 已核验
    CLOSED = "closed"  # 已销号
    REJECTED = "rejected"  # 不予受理
    MERGED = "merged"  # 已合并
    REOPENED = "reopened"  # 已重新打开

    # Terminal for the "same open problem" rule: a problem in one of these is no longer open.
    FINISHED = ("closed", "rejected", "merged")
    ALL = (
        "reported",
        "accepted",
        "town_review",
        "assigned",
        "rectifying",
        "rectified",
        "verified",
        "closed",
        "rejected",
        "merged",
        "reopened",
    )


class ProblemSource:
    """Where a problem was found."""

    VISIT_CHECK = "visit_check"  # 走访核查
    VILLAGER_REPORT = "villager_report"  # 农户主动反映
    VILLAGE_REPORT = "village_report"  # 村级上报
    DATA_SCREENING = "data_screening"  # 部门大数据筛查比对
    SPOT_CHECK = "spot_check"  # 抽查核验

    ALL = ("visit_check", "villager_report", "village_report", "data_screening", "spot_check")


_OPEN_SQL = "status NOT IN ('closed', 'rejected', 'merged')"


class Problem(Base):
    """One problem of one household, routed to one responsible office."""

    __tablename__ = "problems"
    __table_args__ = (
        # The same open problem is never opened twice: at most one open row per household and
        # dedup key (e.g. "check:water_quality"). Problems without a key are not deduplicated.
        Index(
            "uq_problems_open_dedup",
            "household_id",
            "dedup_key",
            unique=True,
            sqlite_where=text(_OPEN_SQL + " AND dedup_key IS NOT NULL"),
            postgresql_where=text(_OPEN_SQL + " AND dedup_key IS NOT NULL"),
        ),
        Index("ix_problems_office_status", "office_code", "status"),
        Index("ix_problems_status_deadline", "status", "deadline_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    household_id: Mapped[int] = mapped_column(ForeignKey("households.id"), index=True)
    # Copied from the household so scope filters need no join (as on households).
    region_path: Mapped[str] = mapped_column(String(255), index=True)
    village_id: Mapped[int] = mapped_column(ForeignKey("regions.id"), index=True)
    area: Mapped[str] = mapped_column(String(32), index=True)
    check_key: Mapped[str | None] = mapped_column(String(64))
    office_code: Mapped[str] = mapped_column(ForeignKey("offices.code"))
    source: Mapped[str] = mapped_column(String(24), index=True)
    source_visit_id: Mapped[int | None] = mapped_column(ForeignKey("visits.id"), index=True)
    source_import_id: Mapped[int | None] = mapped_column(ForeignKey("screening_imports.id"))
    dedup_key: Mapped[str | None] = mapped_column(String(96))
    title: Mapped[str] = mapped_column(String(128))
    description: Mapped[str] = mapped_column(Text, default="")
    photo_ids: Mapped[list] = mapped_column(JSON, default=list)
    status: Mapped[str] = mapped_column(String(16), index=True)
    deadline_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # 0 = on time; 1 = overdue, office and town notified; 2+ = further escalations.
    escalation_level: Mapped[int] = mapped_column(Integer, default=0)
    escalated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    deadline_warned_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    merged_into_id: Mapped[int | None] = mapped_column(ForeignKey("problems.id"))
    # A later visit whose check passes, offered to the verifier.
    verification_visit_id: Mapped[int | None] = mapped_column(ForeignKey("visits.id"))
    reopen_count: Mapped[int] = mapped_column(Integer, default=0)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    household: Mapped[Household] = relationship()
    events: Mapped[list[ProblemEvent]] = relationship(
        back_populates="problem", cascade="all, delete-orphan", order_by="ProblemEvent.id"
    )


class ProblemEvent(Base):
    """One entry of a problem's timeline: who did what, when, with which note and photos."""

    __tablename__ = "problem_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    problem_id: Mapped[int] = mapped_column(ForeignKey("problems.id"), index=True)
    action: Mapped[str] = mapped_column(String(24))
    from_status: Mapped[str | None] = mapped_column(String(16))
    to_status: Mapped[str] = mapped_column(String(16))
    # None for the system (visit ingest, deadline worker) and for anonymous villagers.
    actor_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    actor_label: Mapped[str] = mapped_column(String(64), default="")
    actor_role: Mapped[str | None] = mapped_column(String(32))
    note: Mapped[str] = mapped_column(Text, default="")
    photo_ids: Mapped[list] = mapped_column(JSON, default=list)
    data: Mapped[dict] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    problem: Mapped[Problem] = relationship(back_populates="events")


class RoutingRule(Base):
    """Area (and optionally one check) → responsible offices; the first office leads."""

    __tablename__ = "routing_rules"
    __table_args__ = (Index("uq_routing_rules_area_check", "area", "check_key", unique=True),)

    id: Mapped[int] = mapped_column(primary_key=True)
    area: Mapped[str] = mapped_column(String(32))
    # "" for the area's default rule; a check key overrides it for that check.
    check_key: Mapped[str] = mapped_column(String(64), default="")
    area_label: Mapped[str] = mapped_column(String(64))
    office_codes: Mapped[list] = mapped_column(JSON)
    # Days to rectify once assigned; None falls back to the PROBLEM_DEADLINE_DAYS setting.
    deadline_days: Mapped[int | None] = mapped_column(Integer)
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class ReportModeration:
    """Content-security outcome of a villager's report text."""

    PASS = "pass"
    REVIEW = "review"  # held for a person before it becomes a problem
    RELEASED = "released"  # a person let a held report through
    DISCARDED = "discarded"  # a person refused a held report


class Report(Base):
    """A villager's own report (农户主动反映), made by scanning the household card."""

    __tablename__ = "reports"

    id: Mapped[int] = mapped_column(primary_key=True)
    # Given to the reporter to follow the status; unguessable, shows no personal data.
    receipt_code: Mapped[str] = mapped_column(String(16), unique=True)
    client_uuid: Mapped[str | None] = mapped_column(String(36), unique=True)
    household_id: Mapped[int] = mapped_column(ForeignKey("households.id"), index=True)
    card_id: Mapped[int | None] = mapped_column(ForeignKey("household_cards.id"))
    region_path: Mapped[str] = mapped_column(String(255), index=True)
    area: Mapped[str] = mapped_column(String(32))
    description: Mapped[str] = mapped_column(Text)
    photo_ids: Mapped[list] = mapped_column(JSON, default=list)
    channel: Mapped[str] = mapped_column(String(16))  # miniprogram | web
    reporter_openid: Mapped[str | None] = mapped_column(String(64), index=True)
    # SHA-256 of the IP: enough to rate-limit and spot floods without keeping the address.
    reporter_ip_hash: Mapped[str | None] = mapped_column(String(64))
    moderation: Mapped[str] = mapped_column(String(16), default=ReportModeration.PASS)
    moderation_detail: Mapped[dict] = mapped_column(JSON, default=dict)
    problem_id: Mapped[int | None] = mapped_column(ForeignKey("problems.id"), index=True)
    # True when this report was linked to an earlier one's problem instead of opening another.
    linked: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


class ScreeningImport(Base):
    """One uploaded screening list (部门大数据筛查比对 or a village report) and its row report."""

    __tablename__ = "screening_imports"

    id: Mapped[int] = mapped_column(primary_key=True)
    source: Mapped[str] = mapped_column(String(24))  # data_screening | village_report
    filename: Mapped[str] = mapped_column(String(255))
    sha256: Mapped[str] = mapped_column(String(64))
    uploaded_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    region_path: Mapped[str] = mapped_column(String(255))
    row_count: Mapped[int] = mapped_column(Integer, default=0)
    created_count: Mapped[int] = mapped_column(Integer, default=0)
    linked_count: Mapped[int] = mapped_column(Integer, default=0)
    unknown_count: Mapped[int] = mapped_column(Integer, default=0)
    error_count: Mapped[int] = mapped_column(Integer, default=0)
    rows: Mapped[list] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
