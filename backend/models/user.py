"""Users and their scoped role grants."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Boolean, ForeignKey, String, UniqueConstraint, false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from backend.models.base import Base, UTCDateTime, utcnow
from backend.models.region import Region


class Role(StrEnum):
    """Roles of DOMAIN.md. Each grant binds one to a region subtree."""

    HELPER = "helper"  # 帮扶责任人
    VILLAGE_CADRE = "village_cadre"  # 村支两委
    OFFICE = "office"  # 责任单位
    TOWN_ADMIN = "town_admin"  # 镇扶贫办
    INSPECTOR = "inspector"  # 镇纪委
    DISTRICT = "district"  # 区扶贫办


ROLE_LABELS = {
    Role.HELPER: "帮扶责任人",
    Role.VILLAGE_CADRE: "村支两委",
    Role.OFFICE: "责任单位",
    Role.TOWN_ADMIN: "镇扶贫办",
    Role.INSPECTOR: "镇纪委",
    Role.DISTRICT: "区扶贫办",
}


class User(Base):
    """A staff member: logs in with a password, with WeChat, or both."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str | None] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(64))
    phone: Mapped[str | None] = mapped_column(String(32))
    password_hash: Mapped[str | None] = mapped_column(String(255))
    wechat_openid: Mapped[str | None] = mapped_column(String(64), unique=True)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    # A town or village party secretary (书记): their visits to registered poor households are
    # counted apart (二级书记遍访贫困户).
    is_party_secretary: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    grants: Mapped[list[RoleGrant]] = relationship(
        back_populates="user", cascade="all, delete-orphan", order_by="RoleGrant.id"
    )


class RoleGrant(Base):
    """A role held over a region subtree (and, for offices, an office)."""

    __tablename__ = "role_grants"
    __table_args__ = (UniqueConstraint("user_id", "role", "region_id", "office_code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    role: Mapped[str] = mapped_column(String(32))
    region_id: Mapped[int] = mapped_column(ForeignKey("regions.id"))
    office_code: Mapped[str | None] = mapped_column(ForeignKey("offices.code"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    user: Mapped[User] = relationship(back_populates="grants")
    region: Mapped[Region] = relationship()
