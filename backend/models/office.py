"""Responsible offices (责任单位)."""

from __future__ import annotations

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from backend.models.base import Base

# Reference data, seeded by the first migration; DOMAIN.md lists them.
STANDARD_OFFICES = [
    ("mzb", "镇民政办"),
    ("wjb", "镇卫健办"),
    ("sbs", "镇社保所"),
    ("ghjs", "镇规划建设管理环保办"),
    ("nyfw", "镇农业服务中心"),
    ("fpb", "镇扶贫办"),
    ("jw", "镇纪委"),
]


class Office(Base):
    """A town office that problems are routed to."""

    __tablename__ = "offices"

    code: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
