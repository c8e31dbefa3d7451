"""Early-warning rules: hardship words, monitored-household kinds, flags from visits and reports."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from sqlalchemy import select

from backend.extensions import db
from backend.models import Household, Report, WarningFlag
from backend.services import warnings as w


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("家里老人得了大病住院，开销很大", ["大病", "住院"]),
        ("上个月遭了洪灾，房屋受损", ["灾"]),
        ("儿子车祸受伤", ["车祸", "受伤"]),
        ("自来水经常停水", []),
        (None, []),
    ],
)
def test_hardship_words(text, words):
    assert w.hardship_words(text) == words


def _household(category, poverty_status=None):
    return Household(category=category, poverty_status=poverty_status)


@pytest.mark.parametrize(
    ("category", "status", "monitor_type", "problem"),
    [
        ("registered_poor", "lifted", "unstable", None),
        ("registered_poor", "lifted", "edge", "已脱贫的建档立卡贫困户应纳入为脱贫不稳定户。"),
        ("registered_poor", "not_lifted", "unstable", "仍按贫困户帮扶"),
        ("ordinary", None, "edge", None),
        ("ordinary", None, "sudden_hardship", None),
        ("dibao", None, "unstable", "脱贫不稳定户仅适用于已脱贫的建档立卡贫困户"),
        ("ordinary", None, "rich", "监测对象类型无效。"),
    ],
)
def test_monitor_type_must_fit(category, status, monitor_type, problem):
    found = w.monitor_type_problem(_household(category, status), monitor_type)
    if problem is None:
        assert found is None
    else:
        assert found is not None and problem in found


@pytest.mark.parametrize(
    ("category", "status", "reason", "suggested"),
    [
        ("registered_poor", "lifted", "income_below_line", "unstable"),
        ("registered_poor", "not_lifted", "income_below_line", None),
        ("ordinary", None, "sudden_hardship", "sudden_hardship"),
        ("dibao", None, "microloan_overdue", "edge"),
    ],
)
def test_suggested_monitor_type(category, status, reason, suggested):
    assert w.suggested_monitor_type(_household(category, status), reason) == suggested


def _flags(household_id):
    return list(
        db.session.scalars(
            select(WarningFlag)
            .where(WarningFlag.household_id == household_id)
            .order_by(WarningFlag.id)
        )
    )


def test_evaluate_visit_reads_the_answers(town):
    at_line = SimpleNamespace(id=None, answers={"income_per_capita": 6000, "hardship": False})
    assert w.evaluate_visit(visit=at_line, household=town.household) == []
    odd = SimpleNamespace(id=None, answers={"income_per_capita": True, "microloan_overdue": 1})
    assert w.evaluate_visit(visit=odd, household=town.household) == []
    visit = SimpleNamespace(
        id=None,
        answers={
            "income_per_capita": 5999.5,
            "hardship": True,
            "hardship_types": ["disaster"],
            "remarks": "冰雹",
            "microloan_overdue": True,
            "microloan_amount": 10000,
        },
    )
    raised = w.evaluate_visit(visit=visit, household=town.household)
    assert [f.reason for f in raised] == [
        "income_below_line",
        "sudden_hardship",
        "microloan_overdue",
    ]
    hardship = raised[1].detail["evidence"][0]
    assert hardship["facts"]["hardship_types"] == ["disaster"]
    assert hardship["text"] == "冰雹" and hardship["source"] == "visit"


def _report(household, area, text, code):
    report = Report(
        receipt_code=code,
        household_id=household.id,
        region_path=household.region_path,
        area=area,
        description=text,
        photo_ids=[],
        channel="web",
    )
    db.session.add(report)
    db.session.flush()
    return report


def test_reports_of_sudden_hardship_flag_and_then_add_evidence(town):
    household = town.household
    water = _report(household, "water", "洪水把水管冲坏了", "R-WATER-1")
    assert w.flag_report_hardship(report=water) is None
    calm = _report(household, "basic_living", "想咨询低保政策", "R-CALM-1")
    assert w.flag_report_hardship(report=calm) is None
    first = _report(household, "basic_living", "老伴突发重病住院，家里没钱了", "R-HARD-1")
    flag = w.flag_report_hardship(report=first)
    assert flag is not None
    assert (flag.reason, flag.source, flag.source_report_id) == (
        "sudden_hardship",
        "report",
        first.id,
    )
    assert flag.detail["evidence"][0]["facts"] == {
        "words": ["重病", "住院"],
        "receipt_code": "R-HARD-1",
    }
    second = _report(household, "other", "又遭了灾", "R-HARD-2")
    same = w.flag_report_hardship(report=second)
    assert same.id == flag.id
    assert [e["report_id"] for e in same.detail["evidence"]] == [first.id, second.id]
    assert len(_flags(household.id)) == 1


def test_monitored_households_are_not_flagged_anew(town):
    household = town.other_household
    household.is_monitored = True
    household.monitor_type = "edge"
    flag, created = w.flag_household(
        household=household, reason="income_below_line", source="visit", facts={}
    )
    assert (flag, created) == (None, False)
    assert _flags(household.id) == []


def test_unknown_reason_is_a_programming_error(town):
    with pytest.raises(ValueError):
        w.flag_household(household=town.household, reason="bored", source="visit")


def test_a_pending_flag_keeps_its_first_and_latest_evidence_only():
    """Evidence on a pending flag is bounded: the entry that raised it plus the latest ones."""
    from backend.services.warnings import MAX_EVIDENCE, _with_evidence

    detail = {"evidence": [{"n": 0}]}
    for n in range(1, 50):
        detail = _with_evidence(detail, {"n": n})
    assert len(detail["evidence"]) == MAX_EVIDENCE
    assert detail["evidence"][0] == {"n": 0}
    assert [e["n"] for e in detail["evidence"][1:]] == list(range(50 - MAX_EVIDENCE + 1, 50))
    assert detail["evidence_count"] == 50
