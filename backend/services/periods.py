"""Reporting periods: a China calendar month (the default), a quarter, or a date range.

``period=2026-11`` is November 2026, ``period=2026-Q4`` the fourth quarter, ``from=2026-11-03
&to=2026-11-20`` a range of whole China days (both ends included). Without any of them the
period is the current China month. Bad input is a 422 ``period.invalid`` whose ``fields`` name
the parameter at fault, in Chinese.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from backend.errors import DomainError
from backend.services.clock import CHINA_TZ, china_today

MIN_YEAR = 2000
MAX_YEAR = 2100
# A range longer than this is refused: it is no longer "a period" and only costs time.
MAX_RANGE_DAYS = 366

_MONTH = re.compile(r"^(\d{4})-(\d{1,2})$")
_QUARTER = re.compile(r"^(\d{4})-[Qq]([1-4])$")
_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@dataclass(frozen=True)
class Period:
    """Whole China days from ``start`` to ``end`` (both included)."""

    kind: str  # month | quarter | range
    start: date
    end: date
    key: str
    label: str

    @property
    def start_utc(self) -> datetime:
        """The first instant of the period, in UTC."""
        return datetime.combine(self.start, time.min, CHINA_TZ).astimezone(UTC)

    @property
    def end_utc(self) -> datetime:
        """The first instant after the period, in UTC (exclusive bound)."""
        return datetime.combine(self.end + timedelta(days=1), time.min, CHINA_TZ).astimezone(UTC)

    @property
    def months(self) -> list[date] | None:
        """The first days of the months the period is made of, if it is whole months."""
        if self.start.day != 1 or (self.end + timedelta(days=1)).day != 1:
            return None
        months, cursor = [], self.start
        while cursor <= self.end:
            months.append(cursor)
            cursor = next_month(cursor)
        return months

    def as_of(self, now: datetime) -> datetime:
        """The moment the period's state is judged at: its end, or now while it runs."""
        return min(self.end_utc, now)

    def reference_day(self, today: date) -> date:
        """The day whose assignments say who is responsible: the last day, or today."""
        return min(self.end, max(today, self.start))

    def to_dict(self) -> dict:
        """The period as the API shows it."""
        return {
            "kind": self.kind,
            "key": self.key,
            "from": self.start,
            "to": self.end,
            "label": self.label,
        }


def next_month(first: date) -> date:
    """The first day of the month after the one starting on ``first``."""
    return date(first.year + first.month // 12, first.month % 12 + 1, 1)


def month_period(first: date) -> Period:
    """The month starting on ``first``."""
    first = first.replace(day=1)
    return Period(
        kind="month",
        start=first,
        end=next_month(first) - timedelta(days=1),
        key=f"{first.year:04d}-{first.month:02d}",
        label=f"{first.year}年{first.month}月",
    )


def quarter_period(year: int, quarter: int) -> Period:
    """Quarter ``quarter`` (1–4) of ``year``."""
    first = date(year, 3 * quarter - 2, 1)
    last = next_month(date(year, 3 * quarter, 1)) - timedelta(days=1)
    return Period(
        kind="quarter",
        start=first,
        end=last,
        key=f"{year:04d}-Q{quarter}",
        label=f"{year}年第{quarter}季度",
    )


def range_period(start: date, end: date) -> Period:
    """Whole days from ``start`` to ``end``."""
    return Period(
        kind="range",
        start=start,
        end=end,
        key=f"{start.isoformat()}~{end.isoformat()}",
        label=f"{start.isoformat()} 至 {end.isoformat()}",
    )


def _invalid(field: str, message: str) -> DomainError:
    return DomainError("period.invalid", message, fields={"query": {field: [message]}})


def _year(raw: str, field: str) -> int:
    year = int(raw)
    if not MIN_YEAR <= year <= MAX_YEAR:
        raise _invalid(field, f"年份应在 {MIN_YEAR} 到 {MAX_YEAR} 之间。")
    return year


def _day(raw: str, field: str) -> date:
    if not _DAY.match(raw):
        raise _invalid(field, "日期格式有误，应为 YYYY-MM-DD，例如 2026-11-03。")
    try:
        day = date.fromisoformat(raw)
    except ValueError:
        raise _invalid(field, "日期不存在，请检查月份和日期。") from None
    _year(str(day.year), field)
    return day


def parse_period(
    *,
    period: str | None = None,
    start: str | None = None,
    end: str | None = None,
    today: date | None = None,
) -> Period:
    """Parse the period parameters (``period``, or ``from`` and ``to``) of a request."""
    period = (period or "").strip()
    start = (start or "").strip()
    end = (end or "").strip()
    if period and (start or end):
        raise _invalid("period", "请只用一种方式指定统计期间：period，或 from 和 to。")
    if start or end:
        if not (start and end):
            missing = "to" if start else "from"
            raise _invalid(missing, "按日期范围统计时须同时提供开始日期 from 和结束日期 to。")
        first, last = _day(start, "from"), _day(end, "to")
        if first > last:
            raise _invalid("to", "结束日期不能早于开始日期。")
        if (last - first).days + 1 > MAX_RANGE_DAYS:
            raise _invalid("to", f"日期范围不能超过 {MAX_RANGE_DAYS} 天。")
        return range_period(first, last)
    if not period:
        return month_period(today or china_today())
    if match := _MONTH.match(period):
        year, month = _year(match.group(1), "period"), int(match.group(2))
        if not 1 <= month <= 12:
            raise _invalid("period", "月份应在 1 到 12 之间。")
        return month_period(date(year, month, 1))
    if match := _QUARTER.match(period):
        return quarter_period(_year(match.group(1), "period"), int(match.group(2)))
    raise _invalid(
        "period", "统计期间格式有误：按月填 2026-11，按季度填 2026-Q4，或用 from 和 to 指定日期。"
    )


def last_months(*, count: int, until: date) -> list[Period]:
    """The ``count`` months ending with the month of ``until``, oldest first."""
    first = until.replace(day=1)
    months = [first]
    for _ in range(count - 1):
        previous = (months[-1] - timedelta(days=1)).replace(day=1)
        months.append(previous)
    return [month_period(m) for m in reversed(months)]
