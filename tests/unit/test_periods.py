"""Period parsing: months, quarters, date ranges and the Chinese 422s."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from backend.errors import DomainError
from backend.services.periods import (
    last_months,
    month_period,
    next_month,
    parse_period,
    quarter_period,
    range_period,
)


def test_default_is_the_current_china_month():
    period = parse_period(today=date(2026, 11, 29))
    assert (period.kind, period.key, period.label) == ("month", "2026-11", "2026年11月")
    assert (period.start, period.end) == (date(2026, 11, 1), date(2026, 11, 30))


def test_month_bounds_are_china_midnights_in_utc():
    period = parse_period(period="2026-02")
    assert period.end == date(2026, 2, 28)
    assert period.start_utc == datetime(2026, 1, 31, 16, tzinfo=UTC)
    assert period.end_utc == datetime(2026, 2, 28, 16, tzinfo=UTC)
    assert period.months == [date(2026, 2, 1)]
    assert parse_period(period="2028-2").end == date(2028, 2, 29)


def test_quarter():
    period = parse_period(period="2026-q4")
    assert (period.kind, period.key, period.label) == ("quarter", "2026-Q4", "2026年第4季度")
    assert (period.start, period.end) == (date(2026, 10, 1), date(2026, 12, 31))
    assert period.months == [date(2026, 10, 1), date(2026, 11, 1), date(2026, 12, 1)]
    assert quarter_period(2027, 1).end == date(2027, 3, 31)


def test_range_of_days():
    period = parse_period(start="2026-10-03", end="2026-10-20")
    assert (period.kind, period.key) == ("range", "2026-10-03~2026-10-20")
    assert period.label == "2026-10-03 至 2026-10-20"
    assert period.months is None
    # A range of whole months is answered from the monthly roll-up.
    assert parse_period(start="2026-09-01", end="2026-10-31").months == [
        date(2026, 9, 1),
        date(2026, 10, 1),
    ]
    assert parse_period(start="2026-12-01", end="2027-01-31").months == [
        date(2026, 12, 1),
        date(2027, 1, 1),
    ]


def test_as_of_and_reference_day():
    period = month_period(date(2026, 10, 1))
    before_end = datetime(2026, 10, 20, tzinfo=UTC)
    assert period.as_of(before_end) == before_end
    assert period.as_of(datetime(2027, 1, 1, tzinfo=UTC)) == period.end_utc
    assert period.reference_day(date(2026, 10, 9)) == date(2026, 10, 9)
    assert period.reference_day(date(2026, 12, 9)) == date(2026, 10, 31)
    assert period.reference_day(date(2026, 9, 9)) == date(2026, 10, 1)


def test_to_dict():
    assert range_period(date(2026, 1, 2), date(2026, 1, 3)).to_dict() == {
        "kind": "range",
        "key": "2026-01-02~2026-01-03",
        "from": date(2026, 1, 2),
        "to": date(2026, 1, 3),
        "label": "2026-01-02 至 2026-01-03",
    }


def test_month_helpers():
    assert next_month(date(2026, 12, 1)) == date(2027, 1, 1)
    assert [p.key for p in last_months(count=3, until=date(2027, 1, 15))] == [
        "2026-11",
        "2026-12",
        "2027-01",
    ]


@pytest.mark.parametrize(
    ("kwargs", "field", "message"),
    [
        ({"period": "2026-13"}, "period", "月份应在 1 到 12 之间。"),
        ({"period": "2026-0"}, "period", "月份应在 1 到 12 之间。"),
        ({"period": "2026-Q0"}, "period", None),
        ({"period": "2026/11"}, "period", None),
        ({"period": "2101-01"}, "period", "年份应在 2000 到 2100 之间。"),
        ({"start": "2026-10-01"}, "to", None),
        ({"end": "2026-10-01"}, "from", None),
        ({"start": "2026-1-1", "end": "2026-01-02"}, "from", None),
        ({"start": "2026-01-01", "end": "2026-02-30"}, "to", "日期不存在，请检查月份和日期。"),
        ({"start": "2026-01-05", "end": "2026-01-04"}, "to", "结束日期不能早于开始日期。"),
        ({"start": "2026-01-01", "end": "2027-01-02"}, "to", "日期范围不能超过 366 天。"),
        ({"period": "2026-11", "end": "2026-11-02"}, "period", None),
    ],
)
def test_invalid_periods(kwargs, field, message):
    with pytest.raises(DomainError) as caught:
        parse_period(**kwargs)
    error = caught.value
    assert (error.code, error.status) == ("period.invalid", 422)
    assert list(error.fields["query"]) == [field]
    assert error.fields["query"][field] == [error.message]
    if message:
        assert error.message == message


def test_a_leap_year_range_of_366_days_is_allowed():
    assert parse_period(start="2028-01-01", end="2028-12-31").kind == "range"
