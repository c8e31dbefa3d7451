"""Coverage building blocks: the visit classification, in Python and in SQL, and China months."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from sqlalchemy import literal, select

from backend.extensions import db
from backend.services.coverage import pct
from backend.services.rollups import china_date, china_month, kind_sql, month_of, visit_kind

CASES = [
    # assigned, review_status, flag_count → kind
    (True, "unreviewed", 0, "counted"),
    (True, "valid", 0, "counted"),
    (True, "valid", 2, "counted"),
    (True, "unreviewed", 1, "pending"),
    (True, "invalid", 0, "invalid"),
    (True, "invalid", 3, "invalid"),
    (False, "unreviewed", 0, "other"),
    (False, "valid", 1, "other"),
    (False, "invalid", 0, "none"),
]


@pytest.mark.parametrize(("assigned", "review", "flags", "kind"), CASES)
def test_visit_kind(assigned, review, flags, kind):
    assert visit_kind(assigned=assigned, review_status=review, flag_count=flags) == kind


def test_sql_classification_matches_python(app):
    with app.app_context():
        for assigned, review, flags, kind in CASES:
            expression = kind_sql(
                assigned=literal(int(assigned)),
                review_status=literal(review),
                flag_count=literal(flags),
            )
            assert db.session.scalar(select(expression)) == kind


@pytest.mark.parametrize(
    ("moment", "day"),
    [
        (datetime(2026, 10, 31, 15, 59, 59, tzinfo=UTC), date(2026, 10, 31)),
        (datetime(2026, 10, 31, 16, 0, 0, tzinfo=UTC), date(2026, 11, 1)),
        (datetime(2026, 12, 31, 16, 30, tzinfo=UTC), date(2027, 1, 1)),
        (datetime(2026, 2, 28, 3, 0, tzinfo=UTC), date(2026, 2, 28)),
    ],
)
def test_china_date_and_month_in_sql_match_python(app, moment, day):
    from backend.models.base import UTCDateTime

    with app.app_context():
        value = literal(moment, type_=UTCDateTime())
        assert db.session.scalar(select(china_date(value))) == day
        assert db.session.scalar(select(china_month(value))) == day.replace(day=1)
        assert month_of(moment) == day.replace(day=1)


def test_pct():
    assert pct(1, 3) == 33.3
    assert pct(2, 3) == 66.7
    assert pct(0, 5) == 0.0
    assert pct(0, 0) is None
