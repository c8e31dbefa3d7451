"""Visit coverage through HTTP: exact figures, review and assignment rules, bad input."""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, date, datetime, timedelta

import pytest
from flask_migrate import downgrade, upgrade
from sqlalchemy import select

from backend.extensions import db
from backend.models import HouseholdVisitMonth, RegionVisitMonth, Visit
from backend.services import coverage as coverage_service
from backend.services.assignments import assign_helper
from backend.services.auth import actor_for_user
from backend.services.clock import CHINA_TZ
from backend.services.periods import month_period, parse_period, range_period
from backend.services.rollups import (
    household_month_rows,
    rebuild_household_months,
    region_sums_from_rows,
)
from tests import live_app
from tests.factories import (
    AssignmentFactory,
    HouseholdFactory,
    MemberFactory,
    PhotoFactory,
    auth_headers,
    build_town,
    default_answers,
)


def china(day: date, hour: int = 10, minute: int = 0) -> datetime:
    """A moment on a China calendar day, as UTC."""
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=CHINA_TZ).astimezone(UTC)


def post_visit(client, login, user, household, ended_at, *, minutes=20, changes=None):
    """Submit a visit through the API; returns its JSON."""
    slots = {
        slot: [PhotoFactory(uploader_id=user.id, household_id=household.id).id]
        for slot in ("photo_house", "photo_water", "photo_helper_with_head")
    }
    answers = default_answers(household, slots)
    answers.update(changes or {})
    body = {
        "client_uuid": str(uuid.uuid4()),
        "household_id": household.id,
        "form_version": 1,
        "answers": answers,
        "started_at": (ended_at - timedelta(minutes=minutes)).isoformat(),
        "ended_at": ended_at.isoformat(),
        "gps": {
            "lat": household.lat,
            "lon": household.lon,
            "accuracy": 10.0,
            "coord": "wgs84",
            "captured_at": (ended_at - timedelta(minutes=1)).isoformat(),
        },
    }
    resp = client.post("/api/v1/visits", json=body, headers=login(user))
    assert resp.status_code == 201, resp.json
    return resp.json


def new_household(region, village, helper=None, **kw):
    """A household with a head, assigned to ``helper`` since 2026-01-01."""
    household = HouseholdFactory(region=region, village=village, **kw)
    MemberFactory(household=household, name=household.head_name)
    if helper is not None:
        AssignmentFactory(helper=helper, household=household)
    db.session.refresh(household)
    return household


OCT = date(2026, 10, 1)


@pytest.fixture
def world(town, client, login):
    """Six households in the town, visited in September and October 2026 in known ways."""
    w = town
    w.h1 = town.household  # helper, clean visit
    w.h2 = new_household(town.group, town.village, town.helper)  # helper, flagged visit
    w.h3 = new_household(town.group, town.village, town.helper_b, category="dibao")  # clean
    w.h4 = new_household(town.group, town.village, town.helper)  # only a cadre's visit
    w.h5 = town.other_household  # other_helper, visit reviewed invalid
    w.h6 = new_household(town.other_group, town.other_village, town.other_helper)  # September
    w.v1 = post_visit(client, login, town.helper, w.h1, china(date(2026, 10, 5), 9))
    # Two minutes is "too short": flagged, not reviewed.
    w.v2 = post_visit(client, login, town.helper, w.h2, china(date(2026, 10, 5), 11), minutes=2)
    assert w.v2["flags"]
    w.v3 = post_visit(client, login, town.helper_b, w.h3, china(date(2026, 10, 6), 9))
    w.v4 = post_visit(client, login, town.village_cadre, w.h4, china(date(2026, 10, 7), 9))
    w.v5 = post_visit(client, login, town.other_helper, w.h5, china(date(2026, 10, 8), 9))
    w.v6 = post_visit(client, login, town.other_helper, w.h6, china(date(2026, 9, 20), 9))
    visit = db.session.get(Visit, w.v5["id"])
    visit.review_status = "invalid"
    visit.review_note = "电话回访户主称未走访"
    db.session.flush()
    return w


def get(client, login, user, **params):
    return client.get("/api/v1/coverage", query_string=params, headers=login(user))


def by_key(items, key="label"):
    return {item[key]: item for item in items}


def test_town_coverage_figures_are_exact(client, login, world):
    resp = get(client, login, world.town_admin, period="2026-10")
    assert resp.status_code == 200, resp.json
    body = resp.json
    assert body["period"] == {
        "kind": "month",
        "key": "2026-10",
        "from": "2026-10-01",
        "to": "2026-10-31",
        "label": "2026年10月",
    }
    assert body["scope"] == "town" and body["source"] == "rollup"
    assert body["counts_unreviewed_flagged"] is True
    rows = by_key(body["rows"])
    assert list(rows) == ["石桥村", "观音村"]
    assert (rows["石桥村"]["households"], rows["石桥村"]["visited"]) == (4, 3)
    assert rows["石桥村"]["coverage_pct"] == 75.0
    assert rows["石桥村"]["flagged_visits"] == 1 and rows["石桥村"]["other_visits"] == 1
    assert (rows["观音村"]["households"], rows["观音村"]["visited"]) == (2, 0)
    assert rows["观音村"]["invalid_visits"] == 1 and rows["观音村"]["coverage_pct"] == 0.0
    total = body["total"]
    assert (total["households"], total["visited"], total["not_visited"]) == (6, 3, 3)
    assert total["coverage_pct"] == 50.0 and total["visits"] == 3
    assert body["visits_by_role"] == [
        {"role": "assigned_helper", "label": "帮扶责任人走访本户", "visits": 3},
        {"role": "other_staff", "label": "其他干部走访", "visits": 1},
    ]
    helpers = by_key(body["helpers"], "display_name")
    assert {k: (v["households"], v["visited"], v["invalid"]) for k, v in helpers.items()} == {
        "帮扶乙": (2, 0, 1),
        "帮扶甲": (3, 2, 0),
        "帮扶丙": (1, 1, 0),
    }
    # Lowest coverage first.
    assert [h["display_name"] for h in body["helpers"]] == ["帮扶乙", "帮扶甲", "帮扶丙"]
    assert helpers["帮扶甲"]["flagged"] == 1 and body["helpers_total"] == 3
    missing = {item["household_id"]: item for item in body["not_visited"]}
    assert set(missing) == {world.h4.id, world.h5.id, world.h6.id}
    assert body["not_visited_total"] == 3
    # The cadre's visit is H4's last visit; H5's only visit is invalid; H6's is September's.
    assert missing[world.h4.id]["last_visit_at"].startswith("2026-10-07T01:00")
    assert missing[world.h5.id]["last_visit_at"] is None
    assert missing[world.h6.id]["last_visit_at"].startswith("2026-09-20T01:00")
    assert missing[world.h4.id]["helper"] == {
        "id": world.helper.id,
        "display_name": "帮扶甲",
    }
    assert missing[world.h4.id]["village"]["name"] == "石桥村"
    assert missing[world.h4.id]["group"]["name"] == "一组"
    head = world.h4.head_name
    assert missing[world.h4.id]["head_name"] == head[0] + "*" * (len(head) - 1)


def test_not_visited_list_is_paged(client, login, world):
    first = get(client, login, world.town_admin, period="2026-10", not_visited_page_size=2).json
    second = get(
        client,
        login,
        world.town_admin,
        period="2026-10",
        not_visited_page_size=2,
        not_visited_page=2,
    ).json
    assert first["not_visited_total"] == second["not_visited_total"] == 3
    ids = [i["household_id"] for i in first["not_visited"] + second["not_visited"]]
    assert sorted(ids) == sorted({world.h4.id, world.h5.id, world.h6.id})
    assert len(first["not_visited"]) == 2


def test_flagged_unreviewed_visits_follow_the_setting(app, client, login, world, monkeypatch):
    monkeypatch.setitem(app.config, "COVERAGE_COUNT_UNREVIEWED_FLAGGED", False)
    body = get(client, login, world.town_admin, period="2026-10").json
    assert body["counts_unreviewed_flagged"] is False
    assert body["total"]["visited"] == 2
    assert world.h2.id in {i["household_id"] for i in body["not_visited"]}
    # Reviewed valid, the flagged visit counts whatever the setting says.
    visit = db.session.get(Visit, world.v2["id"])
    visit.review_status = "valid"
    db.session.flush()
    assert get(client, login, world.town_admin, period="2026-10").json["total"]["visited"] == 3


def test_invalid_visits_never_count(app, client, login, world, monkeypatch):
    body = get(client, login, world.town_admin, period="2026-10").json
    assert world.h5.id in {i["household_id"] for i in body["not_visited"]}
    # Marking H1's visit invalid takes H1 out too (the roll-up follows the review).
    visit = db.session.get(Visit, world.v1["id"])
    visit.review_status = "invalid"
    db.session.flush()
    body = get(client, login, world.town_admin, period="2026-10").json
    assert body["total"]["visited"] == 2
    assert world.h1.id in {i["household_id"] for i in body["not_visited"]}
    row = db.session.get(HouseholdVisitMonth, (world.h1.id, OCT))
    assert (row.counted_visits, row.invalid_visits, row.last_counted_visit_id) == (0, 1, None)


def test_only_the_helper_assigned_on_the_visit_day_counts(client, login, world):
    # helper_b visited H3 on 6 October. The town then records, back-dated, that H3 had been
    # handed to 帮扶甲 from 1 October: on the visit's day helper_b was no longer its helper.
    assign_helper(
        household=world.h3,
        helper=world.helper,
        start_date=date(2026, 10, 1),
        actor=actor_for_user(user=world.town_admin),
    )
    body = get(client, login, world.town_admin, period="2026-10").json
    assert body["total"]["visited"] == 2
    assert body["visits_by_role"][1]["visits"] == 2  # the cadre's and helper_b's
    assert world.h3.id in {i["household_id"] for i in body["not_visited"]}
    helpers = by_key(body["helpers"], "display_name")
    assert (helpers["帮扶甲"]["households"], helpers["帮扶甲"]["visited"]) == (4, 2)
    assert "帮扶丙" not in helpers
    # Had the hand-over been from 7 October, helper_b's visit on the 6th would still count.
    from backend.models import Assignment

    rows = db.session.scalars(
        select(Assignment)
        .where(Assignment.household_id == world.h3.id)
        .order_by(Assignment.start_date)
    ).all()
    rows[0].end_date = date(2026, 10, 6)
    rows[1].start_date = date(2026, 10, 7)
    db.session.flush()
    body = get(client, login, world.town_admin, period="2026-10").json
    assert body["total"]["visited"] == 3


def test_village_scope_rows_are_groups_and_category_filter(client, login, world):
    body = get(client, login, world.village_cadre, period="2026-10").json
    assert body["scope"] == "village"
    assert [(r["label"], r["households"], r["visited"]) for r in body["rows"]] == [("一组", 4, 3)]
    body = get(client, login, world.town_admin, period="2026-10", category="dibao").json
    assert (body["total"]["households"], body["total"]["visited"]) == (1, 1)
    assert body["category_label"] == "低保户"


def test_helper_scope(client, login, world):
    body = get(client, login, world.helper, period="2026-10").json
    assert body["scope"] == "helper"
    assert body["scope_detail"]["helper"] == {"id": world.helper.id, "display_name": "帮扶甲"}
    assert (body["total"]["households"], body["total"]["visited"]) == (3, 2)
    assert [r["label"] for r in body["rows"]] == ["石桥村"]
    assert body["secretaries"] is None
    admin = get(client, login, world.town_admin, scope="helper", helper_id=world.helper.id)
    assert admin.status_code == 200 and admin.json["scope"] == "helper"


def test_quarter_and_ranges(client, login, world):
    quarter = get(client, login, world.town_admin, period="2026-Q4").json
    assert quarter["period"]["label"] == "2026年第4季度"
    assert quarter["total"]["visited"] == 3 and quarter["source"] == "rollup"
    q3 = get(client, login, world.town_admin, period="2026-Q3").json
    assert q3["total"]["visited"] == 1  # H6 in September
    part = get(client, login, world.town_admin, **{"from": "2026-10-01", "to": "2026-10-05"}).json
    assert part["source"] == "visits" and part["total"]["visited"] == 2
    whole = get(client, login, world.town_admin, **{"from": "2026-09-01", "to": "2026-10-31"}).json
    assert whole["source"] == "rollup" and whole["total"]["visited"] == 4


def test_rollup_agrees_with_the_visits(app, world):
    """The maintained rows equal a rebuild from the visits, and both computations agree."""
    table = HouseholdVisitMonth.__table__
    columns = [c.name for c in table.columns if c.name != "updated_at"]

    def stored():
        return sorted(
            tuple(row) for row in db.session.execute(select(*[table.c[n] for n in columns]))
        )

    def fresh():
        rows = household_month_rows().subquery()
        return sorted(
            tuple(row) for row in db.session.execute(select(*[rows.c[n] for n in columns]))
        )

    assert len(stored()) == 6
    assert stored() == fresh()
    assert _region_sums_agree()
    rebuild_household_months()
    assert stored() == fresh()
    assert _region_sums_agree()
    actor = actor_for_user(user=world.town_admin)
    for setting in (True, False):
        app.config["COVERAGE_COUNT_UNREVIEWED_FLAGGED"] = setting
        try:
            for period in (month_period(OCT), parse_period(period="2026-Q4")):
                a = coverage_service.get_coverage(actor=actor, period=period)
                b = coverage_service.get_coverage(actor=actor, period=period, source="direct")
                assert a.pop("source") == "rollup" and b.pop("source") == "visits"
                assert a == b
        finally:
            app.config["COVERAGE_COUNT_UNREVIEWED_FLAGGED"] = True
    odd = range_period(date(2026, 9, 15), date(2026, 10, 6))
    assert coverage_service.get_coverage(actor=actor, period=odd)["total"]["visited"] == 4


def test_secretaries_coverage_of_poor_households(client, login, world):
    world.village_cadre.is_party_secretary = True
    world.town_admin.is_party_secretary = True
    db.session.flush()
    # The cadre visited H4 (registered poor) in October; H3 is not a poor household.
    body = get(client, login, world.town_admin, period="2026-10").json
    sec = body["secretaries"]
    assert sec["label"] == "二级书记遍访贫困户"
    assert (sec["poor_households"], sec["visited"]) == (5, 1)
    rows = {r["display_name"]: r for r in sec["by_secretary"]}
    assert rows["扶贫办"]["title"] == "镇党委书记"
    assert (rows["扶贫办"]["households"], rows["扶贫办"]["visited"]) == (5, 0)
    assert rows["村干部"]["title"] == "村党组织书记"
    assert (rows["村干部"]["households"], rows["村干部"]["visited"]) == (3, 1)
    assert rows["村干部"]["coverage_pct"] == 33.3 and rows["村干部"]["visits"] == 1
    assert rows["村干部"]["region"]["name"] == "石桥村"


# ----- bad input ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "field", "message"),
    [
        ({"period": "2026-13"}, "period", "月份应在 1 到 12 之间。"),
        (
            {"period": "十一月"},
            "period",
            "统计期间格式有误：按月填 2026-11，按季度填 2026-Q4，或用 from 和 to 指定日期。",
        ),
        ({"period": "2026-Q5"}, "period", None),
        ({"period": "1999-01"}, "period", "年份应在 2000 到 2100 之间。"),
        (
            {"from": "2026-10-01"},
            "to",
            "按日期范围统计时须同时提供开始日期 from 和结束日期 to。",
        ),
        ({"from": "2026-10-09", "to": "2026-10-01"}, "to", "结束日期不能早于开始日期。"),
        ({"from": "2026-02-30", "to": "2026-03-01"}, "from", "日期不存在，请检查月份和日期。"),
        ({"from": "2026/10/01", "to": "2026-10-02"}, "from", None),
        ({"from": "2025-01-01", "to": "2026-10-02"}, "to", "日期范围不能超过 366 天。"),
        (
            {"period": "2026-10", "from": "2026-10-01", "to": "2026-10-02"},
            "period",
            "请只用一种方式指定统计期间：period，或 from 和 to。",
        ),
    ],
)
def test_invalid_period_is_422(client, login, town, params, field, message):
    resp = get(client, login, town.town_admin, **params)
    assert resp.status_code == 422
    error = resp.json["error"]
    assert error["code"] == "period.invalid"
    assert list(error["fields"]["query"]) == [field]
    if message:
        assert error["message"] == message
        assert error["fields"]["query"][field] == [message]
    else:
        assert error["message"]


def test_bad_scope_arguments_are_422(client, login, town):
    resp = get(client, login, town.town_admin, scope="county")
    assert resp.status_code == 422
    assert resp.json["error"]["code"] == "request.validation"
    assert "scope" in resp.json["error"]["fields"]["query"]
    resp = get(client, login, town.town_admin, scope="village")
    assert resp.status_code == 422
    assert resp.json["error"]["code"] == "coverage.scope_invalid"
    assert "scope" in resp.json["error"]["fields"]["query"]
    resp = get(client, login, town.town_admin, scope="helper")
    assert resp.json["error"]["code"] == "coverage.scope_invalid"
    assert resp.json["error"]["fields"] == {
        "query": {"helper_id": ["按帮扶责任人统计时须指定 helper_id。"]}
    }
    resp = get(client, login, town.town_admin, category="rich")
    assert resp.status_code == 422
    assert resp.json["error"]["code"] == "coverage.scope_invalid"
    assert "category" in resp.json["error"]["fields"]["query"]


@pytest.mark.parametrize(
    ("who", "params"),
    [
        ("village_cadre", {"region_id": "other_village"}),
        ("village_cadre", {"region_id": "town"}),
        ("town_admin", {"region_id": "far_village"}),
        ("town_admin", {"region_id": "district"}),
        ("office", {}),
        ("helper", {"region_id": "village"}),
        ("helper", {"scope": "helper", "helper_id": "helper_b"}),
        ("village_cadre", {"scope": "helper", "helper_id": "other_helper"}),
    ],
)
def test_scope_outside_the_callers_is_403(client, login, town, who, params):
    resolved = {}
    for key, value in params.items():
        target = getattr(town, value, None) if isinstance(value, str) else None
        resolved[key] = target.id if target is not None and key != "scope" else value
    resp = get(client, login, getattr(town, who), **resolved)
    assert resp.status_code == 403, resp.json
    assert resp.json["error"] == {"code": "auth.forbidden", "message": "您无权查看该范围的统计。"}


def test_unknown_region_or_helper_is_404(client, login, town):
    resp = get(client, login, town.town_admin, region_id=999999)
    assert resp.status_code == 404
    assert resp.json["error"] == {"code": "region.not_found", "message": "地区不存在。"}
    resp = get(client, login, town.town_admin, scope="helper", helper_id=999999)
    assert resp.status_code == 404
    assert resp.json["error"] == {
        "code": "coverage.helper_not_found",
        "message": "帮扶责任人不存在。",
    }
    # A user who is no helper is not a helper either.
    resp = get(client, login, town.town_admin, scope="helper", helper_id=town.inspector.id)
    assert resp.status_code == 404
    assert resp.json["error"]["code"] == "coverage.helper_not_found"


def test_anonymous_is_401(client):
    resp = client.get("/api/v1/coverage")
    assert resp.status_code == 401
    assert resp.json["error"]["code"] == "auth.required"


def test_district_sees_towns(client, login, world):
    body = get(client, login, world.district_user, period="2026-10").json
    assert body["scope"] == "district"
    assert [(r["label"], r["households"], r["visited"]) for r in body["rows"]] == [("土桥镇", 6, 3)]


def test_rollup_follows_a_household_that_moves(client, login, world):
    world.h1.region_id = world.other_group.id
    world.h1.village_id = world.other_village.id
    world.h1.region_path = world.other_group.path
    world.h1.category = "dibao"
    db.session.flush()
    row = db.session.get(HouseholdVisitMonth, (world.h1.id, OCT))
    assert (row.village_id, row.region_id, row.category) == (
        world.other_village.id,
        world.other_group.id,
        "dibao",
    )
    assert _region_sums_agree()
    body = get(client, login, world.town_admin, period="2026-10").json
    rows = {r["label"]: (r["households"], r["visited"]) for r in body["rows"]}
    assert rows == {"石桥村": (3, 2), "观音村": (3, 1)}
    dibao = get(client, login, world.town_admin, period="2026-10", category="dibao").json
    assert (dibao["total"]["households"], dibao["total"]["visited"]) == (2, 2)


# ----- on a database of its own: real commits, concurrent requests, the migration's backfill --


@pytest.fixture
def own_app(tmp_path):
    """The app on a fresh database of the kind the suite runs on (PostgreSQL or SQLite)."""
    with live_app.own_app(tmp_path, "cov", TESTING=True) as app:
        yield app


def _rollup_rows():
    table = HouseholdVisitMonth.__table__
    columns = [c for c in table.columns if c.name != "updated_at"]
    return sorted(tuple(row) for row in db.session.execute(select(*columns)))


def _region_sums_agree() -> bool:
    """The maintained region sums equal the sums of the household rows (zero rows aside)."""
    table = RegionVisitMonth.__table__
    stored = {
        tuple(row[:3]): tuple(row[3:])
        for row in db.session.execute(select(*table.columns))
        if any(row[3:])
    }
    fresh = {tuple(row[:3]): tuple(row[3:]) for row in db.session.execute(region_sums_from_rows())}
    return stored == fresh


def _fresh_rows():
    rows = household_month_rows().subquery()
    names = [c.name for c in HouseholdVisitMonth.__table__.columns if c.name != "updated_at"]
    return sorted(tuple(row) for row in db.session.execute(select(*[rows.c[n] for n in names])))


@pytest.mark.own_database
def test_migration_backfill_equals_the_maintained_rows(own_app):
    """Downgrade below 0006 and upgrade again: the backfill rebuilds the same rows."""
    with own_app.app_context():
        town = build_town()
        h2 = new_household(town.group, town.village, town.helper)
        db.session.commit()
        client = own_app.test_client()

        def login(user):
            return auth_headers(user)

        post_visit(client, login, town.helper, town.household, china(date(2026, 10, 5), 9))
        post_visit(client, login, town.helper, h2, china(date(2026, 10, 5), 10), minutes=2)
        post_visit(client, login, town.helper, h2, china(date(2026, 9, 5), 10))
        post_visit(client, login, town.village_cadre, h2, china(date(2026, 10, 6), 10))
        post_visit(client, login, town.other_helper, town.other_household, china(OCT, 9))
        db.session.commit()
        visit = db.session.scalar(
            select(Visit).where(Visit.household_id == town.other_household.id)
        )
        visit.review_status = "invalid"
        db.session.commit()
        before = _rollup_rows()
        assert len(before) == 4 and before == _fresh_rows()
        db.session.remove()
        sums = sorted(tuple(r) for r in db.session.execute(select(RegionVisitMonth.__table__)))
        assert _region_sums_agree()
        db.session.remove()
        downgrade(revision="0005")
        upgrade()
        assert _rollup_rows() == before
        assert (
            sorted(tuple(r) for r in db.session.execute(select(RegionVisitMonth.__table__))) == sums
        )


@pytest.mark.own_database
def test_concurrent_visits_and_a_review_lose_nothing(own_app):
    """Twelve visits of one household at once, while a reviewer rules on an older one."""
    if not own_app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql"):
        pytest.skip("concurrency is proven on PostgreSQL; this run is on SQLite")
    with own_app.app_context():
        town = build_town()
        db.session.commit()
        client = own_app.test_client()
        headers = auth_headers(town.helper)
        first = post_visit(
            client, lambda _u: headers, town.helper, town.household, china(OCT, 8), minutes=2
        )
        bodies = []
        for n in range(12):
            slots = {
                slot: [PhotoFactory(uploader_id=town.helper.id).id]
                for slot in ("photo_house", "photo_water", "photo_helper_with_head")
            }
            ended = china(date(2026, 10, 2 + n), 10)
            bodies.append(
                {
                    "client_uuid": str(uuid.uuid4()),
                    "household_id": town.household.id,
                    "form_version": 1,
                    "answers": default_answers(town.household, slots),
                    "started_at": (ended - timedelta(minutes=20)).isoformat(),
                    "ended_at": ended.isoformat(),
                }
            )
        db.session.commit()
        barrier = threading.Barrier(len(bodies) + 1)
        statuses: list[int] = []

        def submit(body):
            barrier.wait()
            statuses.append(
                own_app.test_client().post("/api/v1/visits", json=body, headers=headers).status_code
            )

        def review():
            barrier.wait()
            with own_app.app_context():
                visit = db.session.get(Visit, first["id"])
                visit.review_status = "valid"
                db.session.commit()
                db.session.remove()

        threads = [threading.Thread(target=submit, args=(b,)) for b in bodies]
        threads.append(threading.Thread(target=review))
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
        assert statuses == [201] * len(bodies)
        household_id = bodies[0]["household_id"]
        db.session.remove()
        row = db.session.get(HouseholdVisitMonth, (household_id, OCT))
        # The first visit, reviewed valid, counts; the twelve (sent without GPS) are flagged
        # and wait for review. None is lost.
        assert (row.counted_visits, row.pending_visits) == (1, 12)
        assert row.last_pending_at == china(date(2026, 10, 13), 10)
        assert _rollup_rows() == _fresh_rows()
        assert _region_sums_agree()
