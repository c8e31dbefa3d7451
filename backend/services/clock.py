"""The town's calendar: China Standard Time."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

from backend.models.base import utcnow

# China has had no daylight saving since 1991, so a fixed +08:00 is exact and needs no tz
# database (slim containers often lack one).
CHINA_TZ = timezone(timedelta(hours=8), "Asia/Shanghai")


def china_today(now: datetime | None = None) -> date:
    """Today's date in China (Asia/Shanghai), the town's calendar day."""
    return (now or utcnow()).astimezone(CHINA_TZ).date()
