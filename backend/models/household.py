"""Households and their members."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import Boolean, Date, Float, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from backend.models.base import Base, UTCDateTime, utcnow
from backend.models.region import Region


class HouseholdCategory(StrEnum):
    """Household categories from DOMAIN.md."""

    REGISTERED_POOR = "registered_poor"  # 建档立卡贫困户
    MONITORED = "monitored"  # 监测对象
    DIBAO = "dibao"  # 低保户
    TEKUN = "tekun"  # 特困供养
    DISABLED = "disabled"  # 贫困残疾人家庭
    ORDINARY = "ordinary"  # 一般农户


CATEGORY_LABELS = {
    HouseholdCategory.REGISTERED_POOR: "建档立卡贫困户",
    HouseholdCategory.MONITORED: "监测对象",
    HouseholdCategory.DIBAO: "低保户",
    HouseholdCategory.TEKUN: "特困供养",
    HouseholdCategory.DISABLED: "贫困残疾人家庭",
    HouseholdCategory.ORDINARY: "一般农户",
}


class PovertyStatus(StrEnum):
    """Whether a registered poor household has been lifted out."""

    LIFTED = "lifted"  # 已脱贫
    NOT_LIFTED = "not_lifted"  # 未脱贫


POVERTY_STATUS_LABELS = {PovertyStatus.LIFTED: "已脱贫", PovertyStatus.NOT_LIFTED: "未脱贫"}


class MonitorType(StrEnum):
    """Kinds of monitored household (监测对象)."""

    UNSTABLE = "unstable"  # 脱贫不稳定户
    EDGE = "edge"  # 边缘易致贫户
    SUDDEN_HARDSHIP = "sudden_hardship"  # 突发严重困难户


MONITOR_TYPE_LABELS = {
    MonitorType.UNSTABLE: "脱贫不稳定户",
    MonitorType.EDGE: "边缘易致贫户",
    MonitorType.SUDDEN_HARDSHIP: "突发严重困难户",
}


class Household(Base):
    """A registered household (户)."""

    __tablename__ = "households"

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(32), unique=True)
    # The lowest region the household sits in (a group, or a village without groups).
    region_id: Mapped[int] = mapped_column(ForeignKey("regions.id"), index=True)
    village_id: Mapped[int] = mapped_column(ForeignKey("regions.id"), index=True)
    # Copy of the region's path so that scope checks are one indexed prefix match.
    region_path: Mapped[str] = mapped_column(String(255), index=True)
    head_name: Mapped[str] = mapped_column(String(64))
    address: Mapped[str] = mapped_column(String(255), default="")
    phone: Mapped[str | None] = mapped_column(String(32))
    lat: Mapped[float | None] = mapped_column(Float)
    lon: Mapped[float | None] = mapped_column(Float)
    category: Mapped[str] = mapped_column(String(32), index=True)
    poverty_status: Mapped[str | None] = mapped_column(String(16))
    monitor_type: Mapped[str | None] = mapped_column(String(32))
    is_dibao: Mapped[bool] = mapped_column(Boolean, default=False)
    is_tekun: Mapped[bool] = mapped_column(Boolean, default=False)
    is_disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    is_monitored: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    region: Mapped[Region] = relationship(foreign_keys=[region_id])
    village: Mapped[Region] = relationship(foreign_keys=[village_id])
    members: Mapped[list[Member]] = relationship(
        back_populates="household", order_by="Member.id", cascade="all, delete-orphan"
    )


class Member(Base):
    """A member of a household, with the facts the visit checks need."""

    __tablename__ = "members"

    id: Mapped[int] = mapped_column(primary_key=True)
    household_id: Mapped[int] = mapped_column(ForeignKey("households.id"), index=True)
    name: Mapped[str] = mapped_column(String(64))
    relation: Mapped[str] = mapped_column(String(16))
    sex: Mapped[str] = mapped_column(String(1))
    birth_date: Mapped[date] = mapped_column(Date)
    id_number: Mapped[str] = mapped_column(String(18), unique=True)
    schooling: Mapped[str | None] = mapped_column(String(32))
    medical_insurance: Mapped[bool] = mapped_column(Boolean, default=False)
    serious_illness_insurance: Mapped[bool] = mapped_column(Boolean, default=False)
    doctor_name: Mapped[str | None] = mapped_column(String(64))
    doctor_phone: Mapped[str | None] = mapped_column(String(32))
    disability: Mapped[str | None] = mapped_column(String(64))
    chronic_illness: Mapped[str | None] = mapped_column(String(128))
    migrant_work: Mapped[bool] = mapped_column(Boolean, default=False)

    household: Mapped[Household] = relationship(back_populates="members")
