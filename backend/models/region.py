"""Region tree: district → town → village → group."""

from __future__ import annotations

from enum import StrEnum

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from backend.models.base import Base


class RegionLevel(StrEnum):
    """Levels of the administrative tree."""

    DISTRICT = "district"
    TOWN = "town"
    VILLAGE = "village"
    GROUP = "group"


LEVEL_ORDER = [RegionLevel.DISTRICT, RegionLevel.TOWN, RegionLevel.VILLAGE, RegionLevel.GROUP]
LEVEL_LABELS = {
    RegionLevel.DISTRICT: "区",
    RegionLevel.TOWN: "镇",
    RegionLevel.VILLAGE: "村",
    RegionLevel.GROUP: "组",
}


class Region(Base):
    """One node of the region tree, addressed by its official code."""

    __tablename__ = "regions"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(64))
    level: Mapped[str] = mapped_column(String(16))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("regions.id"), index=True)
    # Materialised path of codes ("/500151/500151105/"): a subtree is a prefix match.
    path: Mapped[str] = mapped_column(String(255), index=True)

    parent: Mapped[Region | None] = relationship(remote_side=[id])

    def __repr__(self) -> str:
        return f"<Region {self.code} {self.name}>"
