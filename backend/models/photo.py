"""Photos: originals kept as evidence, addressed by SHA-256, with display copies."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Float, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from backend.models.base import Base, UTCDateTime, utcnow


class StorageStatus:
    """Where the photo's files are."""

    STORED = "stored"
    PENDING = "pending"  # spooled locally while the object store was down


class Photo(Base):
    """One uploaded photo. It is linked to a visit (or problem) when that is submitted."""

    __tablename__ = "photos"

    id: Mapped[int] = mapped_column(primary_key=True)
    client_uuid: Mapped[str] = mapped_column(String(36), unique=True)
    # None for a villager's photo, uploaded through the household card (card_id).
    uploader_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    card_id: Mapped[int | None] = mapped_column(ForeignKey("household_cards.id"))
    household_id: Mapped[int | None] = mapped_column(ForeignKey("households.id"), index=True)
    # The phone's uuid of the visit this photo belongs to, known before the visit is sent.
    visit_client_uuid: Mapped[str | None] = mapped_column(String(36), index=True)
    visit_id: Mapped[int | None] = mapped_column(ForeignKey("visits.id"), index=True)
    # Set when the photo is evidence on a problem or part of a villager's report.
    problem_id: Mapped[int | None] = mapped_column(ForeignKey("problems.id"), index=True)
    purpose: Mapped[str] = mapped_column(String(16))
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    phash: Mapped[str | None] = mapped_column(String(16), index=True)
    mime: Mapped[str] = mapped_column(String(32))
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    size_bytes: Mapped[int] = mapped_column(Integer)
    original_key: Mapped[str] = mapped_column(String(255))
    display_key: Mapped[str] = mapped_column(String(255))
    thumb_key: Mapped[str] = mapped_column(String(255))
    storage_status: Mapped[str] = mapped_column(String(16), default=StorageStatus.STORED)
    exif_taken_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    exif_lat: Mapped[float | None] = mapped_column(Float)
    exif_lon: Mapped[float | None] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
