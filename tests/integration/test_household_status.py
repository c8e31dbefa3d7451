"""户户清 status through HTTP: reasons, the problems behind them, lists, roll-ups and trend."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select

from backend.extensions import db
from backend.models import Problem
from backend.services import coverage as coverage_service
from backend.services import household_status as status_service
from backend.services import problems as problem_service
from backend.services.auth import actor_for_user
from backend.services.periods import month_period
from tests.integration.test_coverage import china, new_household, post_visit

FAIL_WATER = {"water_quality": False}


def _problem(household, key="check:water_quality"):
    return db.session.scalar(
        select(Problem).where(Problem.household_id == household.id, Problem.dedup_key == key)
    )


@pytest.fixture
def world(town, client, login):
    """Households whose October 2026 status is known, for each reason."""
    w = town
    w.h1 = town.household  # clean visit → cleared
    w.h2 = new_household(town.group, town.village, town.helper)  # failing check, open problem
    w.h4 = new_household(town.group, town.village, town.helper)  # not visited
    w.h5 = town.other_household  # clean visit, but an open villager's report
    w.h6 = new_household(town.other_group, town.other_village, town.other_helper)
    w.h7 = new_household(town.other_group, town.other_village, town.other_helper)
    post_visit(client, login, town.helper, w.h1, china(date(2026, 10, 5), 9))
    w.v2 = post_visit(
        client, login, town.helper, w.h2, china(date(2026, 10, 5), 11), changes=FAIL_WATER
    )
    post_visit(client, login, town.other_helper, w.h5, china(date(2026, 10, 8), 9))
    w.report = problem_service.open_problem(
        household=w.h5,
        area="other",
        source="villager_report",
        title="自来水停了三天",
        actor=None,
    )[0]
    # H6 failed the water check in September and again in October: the October visit finds
    # September's problem open and links to it instead of opening another.
    w.v6_sep = post_visit(
        client, login, town.other_helper, w.h6, china(date(2026, 9, 10), 9), changes=FAIL_WATER
    )
    w.v6_oct = post_visit(
        client, login, town.other_helper, w.h6, china(date(2026, 10, 10), 9), changes=FAIL_WATER
    )
    # H7 failed in September and passed in October; the problem is still open.
    post_visit(
        client, login, town.other_helper, w.h7, china(date(2026, 9, 11), 9), changes=FAIL_WATER
    )
    post_visit(client, login, town.other_helper, w.h7, china(date(2026, 10, 11), 9))
    w.p2, w.p6, w.p7 = _problem(w.h2), _problem(w.h6), _problem(w.h7)
    assert w.p6.source_visit_id == w.v6_sep["id"]
    # Problems open when their visit is made; the report on 20 October.
    for problem, when in (
        (w.p2, china(date(2026, 10, 5), 11)),
        (w.p6, china(date(2026, 9, 10), 9)),
        (w.p7, china(date(2026, 9, 11), 9)),
        (w.report, china(date(2026, 10, 20), 9)),
    ):
        problem.opened_at = problem.updated_at = when
    db.session.flush()
    return w


def status(client, login, user, household, **params):
    return client.get(
        f"/api/v1/households/{household.id}/status", query_string=params, headers=login(user)
    )


def test_each_reason(client, login, world):
    h1 = status(client, login, world.town_admin, world.h1, period="2026-10")
    assert h1.status_code == 200, h1.json
    assert (h1.json["cleared"], h1.json["status_label"], h1.json["reasons"]) == (True, "已清", [])
    assert h1.json["period"]["key"] == "2026-10"
    h2 = status(client, login, world.town_admin, world.h2, period="2026-10").json
    assert (h2["cleared"], h2["status_label"]) == (False, "未清")
    assert h2["latest_visit"]["id"] == world.v2["id"]
    assert h2["reasons"] == [
        {
            "code": "failing_checks_open",
            "label": "最近一次走访发现的问题尚未销号",
            "visit_id": world.v2["id"],
            "check_keys": ["water_quality"],
            "problem_ids": [world.p2.id],
        }
    ]
    h4 = status(client, login, world.town_admin, world.h4, period="2026-10").json
    assert h4["reasons"] == [{"code": "not_visited", "label": "本期未走访"}]
    assert h4["latest_visit"] is None
    h5 = status(client, login, world.town_admin, world.h5, period="2026-10").json
    assert h5["reasons"] == [
        {
            "code": "open_reports",
            "label": "农户反映的问题尚未办结",
            "problem_ids": [world.report.id],
        }
    ]


def test_a_failing_check_linked_to_an_open_problem_blocks(client, login, world):
    h6 = status(client, login, world.town_admin, world.h6, period="2026-10").json
    assert h6["cleared"] is False
    assert h6["latest_visit"]["id"] == world.v6_oct["id"]
    assert h6["reasons"][0]["problem_ids"] == [world.p6.id]
    assert h6["reasons"][0]["visit_id"] == world.v6_oct["id"]


def test_latest_survey_passing_clears_despite_an_earlier_problem(client, login, world):
    assert status(client, login, world.town_admin, world.h7, period="2026-10").json["cleared"]
    september = status(client, login, world.town_admin, world.h7, period="2026-09").json
    assert september["cleared"] is False
    assert september["reasons"][0]["problem_ids"] == [world.p7.id]


def test_closing_the_problem_clears_from_the_moment_it_closed(client, login, world):
    world.p2.status = "closed"
    world.p2.closed_at = world.p2.updated_at = china(date(2026, 11, 3), 9)
    db.session.flush()
    # Closed after October ended: October stays not cleared; a range up to 3 November clears.
    assert not status(client, login, world.town_admin, world.h2, period="2026-10").json["cleared"]
    later = status(
        client, login, world.town_admin, world.h2, **{"from": "2026-10-01", "to": "2026-11-03"}
    ).json
    assert later["cleared"] is True and later["period"]["kind"] == "range"
    world.p2.closed_at = world.p2.updated_at = china(date(2026, 10, 20), 9)
    db.session.flush()
    assert status(client, login, world.town_admin, world.h2, period="2026-10").json["cleared"]
    # A rejected problem is finished too (it has no closed_at: its last update counts).
    world.report.status = "rejected"
    world.report.updated_at = china(date(2026, 11, 2), 9)
    db.session.flush()
    h5 = status(client, login, world.town_admin, world.h5, period="2026-10").json
    assert h5["reasons"][0]["code"] == "open_reports"  # rejected after October
    h5 = status(client, login, world.town_admin, world.h5, period="2026-11").json
    assert [r["code"] for r in h5["reasons"]] == ["not_visited"]


def test_report_opened_after_the_period_does_not_count(client, login, world):
    world.report.opened_at = china(date(2026, 11, 2), 9)
    db.session.flush()
    assert status(client, login, world.town_admin, world.h5, period="2026-10").json["cleared"]


def test_list_filters_and_paging(client, login, world):
    def page(**params):
        resp = client.get(
            "/api/v1/household-status",
            query_string={"period": "2026-10", **params},
            headers=login(world.town_admin),
        )
        assert resp.status_code == 200, resp.json
        return resp.json

    everything = page()
    assert everything["total"] == 6 and everything["page_size"] == 50
    cleared = {i["household_id"] for i in page(status="cleared")["items"]}
    assert cleared == {world.h1.id, world.h7.id}
    not_cleared = page(status="not_cleared")
    assert not_cleared["total"] == 4
    assert {i["household_id"] for i in page(reason="not_visited")["items"]} == {world.h4.id}
    assert {i["household_id"] for i in page(reason="failing_checks_open")["items"]} == {
        world.h2.id,
        world.h6.id,
    }
    assert {i["household_id"] for i in page(reason="open_reports")["items"]} == {world.h5.id}
    village = page(region_id=world.village.id)
    assert village["total"] == 3
    first, second = page(page_size=4), page(page_size=4, page=2)
    assert len(first["items"]) == 4 and len(second["items"]) == 2
    assert {i["household_id"] for i in first["items"] + second["items"]} == {
        i["household_id"] for i in everything["items"]
    }
    item = next(i for i in everything["items"] if i["household_id"] == world.h2.id)
    assert item["helper"]["display_name"] == "帮扶甲"
    assert item["last_visit_at"].startswith("2026-10-05T03:00")
    assert item["head_name"].endswith("*")


def test_list_bad_filters(client, login, world):
    resp = client.get(
        "/api/v1/household-status",
        query_string={"status": "done", "reason": "lazy"},
        headers=login(world.town_admin),
    )
    assert resp.status_code == 422
    assert resp.json["error"]["code"] == "request.validation"
    assert set(resp.json["error"]["fields"]["query"]) == {"status", "reason"}
    resp = client.get(
        "/api/v1/household-status",
        query_string={"period": "2026-00"},
        headers=login(world.town_admin),
    )
    assert resp.status_code == 422
    assert resp.json["error"]["code"] == "period.invalid"
    assert resp.json["error"]["fields"] == {"query": {"period": ["月份应在 1 到 12 之间。"]}}


def test_rollup_by_village_and_group(client, login, world):
    resp = client.get(
        "/api/v1/household-status/rollup",
        query_string={"period": "2026-10"},
        headers=login(world.town_admin),
    )
    assert resp.status_code == 200, resp.json
    rows = {r["label"]: r for r in resp.json["rows"]}
    assert (rows["石桥村"]["households"], rows["石桥村"]["cleared"]) == (3, 1)
    assert rows["石桥村"]["reasons"] == {
        "not_visited": 1,
        "failing_checks_open": 1,
        "open_reports": 0,
    }
    assert rows["观音村"]["cleared"] == 1 and rows["观音村"]["cleared_pct"] == 33.3
    total = resp.json["total"]
    assert (total["households"], total["cleared"], total["not_cleared"]) == (6, 2, 4)
    assert total["visited"] == 5 and total["coverage_pct"] == 83.3
    groups = client.get(
        "/api/v1/household-status/rollup",
        query_string={"period": "2026-10", "by": "group", "region_id": world.village.id},
        headers=login(world.town_admin),
    ).json
    assert [(r["label"], r["households"], r["cleared"]) for r in groups["rows"]] == [("一组", 3, 1)]
    bad = client.get(
        "/api/v1/household-status/rollup",
        query_string={"by": "street"},
        headers=login(world.town_admin),
    )
    assert bad.status_code == 422 and "by" in bad.json["error"]["fields"]["query"]


def test_trend_month_by_month(client, login, world, monkeypatch):
    monkeypatch.setattr(status_service, "china_today", lambda: date(2026, 11, 15))
    resp = client.get(
        "/api/v1/household-status/trend",
        query_string={"months": 3},
        headers=login(world.town_admin),
    )
    assert resp.status_code == 200, resp.json
    months = resp.json["months"]
    assert [m["period"]["key"] for m in months] == ["2026-09", "2026-10", "2026-11"]
    assert [(m["visited"], m["cleared"]) for m in months] == [(2, 0), (5, 2), (0, 0)]
    assert months[1]["cleared_pct"] == 33.3 and months[1]["households"] == 6
    bad = client.get(
        "/api/v1/household-status/trend",
        query_string={"months": 0},
        headers=login(world.town_admin),
    )
    assert bad.status_code == 422
    assert bad.json["error"] == {
        "code": "period.invalid",
        "message": "月数应在 1 到 36 之间。",
        "fields": {"query": {"months": ["月数应在 1 到 36 之间。"]}},
    }


def test_status_matches_the_direct_computation(app, world):
    actor = actor_for_user(user=world.town_admin)
    period = month_period(date(2026, 10, 1))
    for setting in (True, False):
        app.config["COVERAGE_COUNT_UNREVIEWED_FLAGGED"] = setting
        try:
            a = status_service.list_household_status(actor=actor, period=period)
            b = status_service.list_household_status(actor=actor, period=period, source="direct")
            assert a == b and a[1] == 6
        finally:
            app.config["COVERAGE_COUNT_UNREVIEWED_FLAGGED"] = True


def test_who_may_read_status(client, login, world):
    # The household's helper may; another village's helper learns nothing.
    assert status(client, login, world.helper, world.h1).status_code == 200
    resp = status(client, login, world.other_helper, world.h1)
    assert resp.status_code == 404
    assert resp.json["error"]["code"] == "household.not_found"
    resp = client.get("/api/v1/households/999999/status", headers=login(world.town_admin))
    assert resp.status_code == 404
    assert resp.json["error"] == {
        "code": "household.not_found",
        "message": "农户不存在或不在您的管辖范围内。",
    }
    resp = client.get(
        "/api/v1/household-status",
        query_string={"region_id": world.other_village.id},
        headers=login(world.village_cadre),
    )
    assert resp.status_code == 403
    assert resp.json["error"] == {"code": "auth.forbidden", "message": "您无权查看该范围的统计。"}
    resp = client.get("/api/v1/household-status", headers=login(world.office))
    assert resp.status_code == 403
    assert resp.json["error"]["code"] == "auth.forbidden"
    mine = client.get(
        "/api/v1/household-status", query_string={"period": "2026-10"}, headers=login(world.helper)
    ).json
    assert {i["household_id"] for i in mine["items"]} == {world.h1.id, world.h2.id, world.h4.id}


def test_both_query_shapes_agree(world):
    """The grouped joins (a town and more) and the correlated counts (a village and less)."""
    scope = coverage_service.Scope(kind="town", region=world.town)
    for month in (date(2026, 9, 1), date(2026, 10, 1)):
        period = month_period(month)
        results = []
        for grouped in (True, False):
            s = status_service.status_query(
                period=period,
                scope=scope,
                category=None,
                pending_counts=True,
                as_of=period.end_utc,
                reference_day=period.end,
                grouped=grouped,
            )
            results.append(sorted(tuple(r) for r in db.session.execute(select(s))))
        assert results[0] == results[1] and len(results[0]) == 6
        cleared = sum(r[-1] for r in results[0])
        assert cleared == (2 if month.month == 10 else 0)
