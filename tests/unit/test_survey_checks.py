"""Check evaluation of the default 户户清 survey, area by area."""

from __future__ import annotations

import dataclasses
import json

import pytest

from backend.services.survey import CheckResult, evaluate_checks, load_default_definition
from tests.unit.test_survey_fixtures import MEMBERS, VISIT, member, passing_answers


def _results(answers, members=MEMBERS, settings=None) -> dict[str, CheckResult]:
    results = evaluate_checks(
        load_default_definition(), answers, members=members, visit_date=VISIT, settings=settings
    )
    return {r.key: r for r in results}


def _status(answers, key, members=MEMBERS, settings=None) -> str:
    return _results(answers, members, settings)[key].status


def _only_failures(answers, members=MEMBERS, settings=None) -> set[str]:
    return {k for k, r in _results(answers, members, settings).items() if r.status == "fail"}


# ----- food and clothing ----------------------------------------------------------------------


def test_food_and_clothing():
    result = _results(passing_answers(food_secure=False))["food_secure"]
    assert result.status == "fail" and not result.passed and result.failed
    assert result.area == "food_clothing" and result.area_label == "不愁吃穿"
    assert result.offices == ("mzb",)
    assert result.answers == {"food_secure": False}
    assert result.problem == "家庭存在吃饭发愁的情况"
    assert _only_failures(passing_answers(clothing_secure=False)) == {"clothing_secure"}


# ----- schooling ------------------------------------------------------------------------------


def test_child_in_school_or_taught_at_home_passes():
    assert _status(passing_answers(), "compulsory_schooling") == "pass"
    answers = passing_answers(school_status={"3": "home_taught"})
    assert _status(answers, "compulsory_schooling") == "pass"


def test_dropout_fails_with_the_child_named():
    answers = passing_answers(
        school_status={"3": "out_of_school"}, out_of_school_reason={"3": "work"}
    )
    result = _results(answers)["compulsory_schooling"]
    assert result.status == "fail"
    assert result.failing_members == ("3",)
    assert result.answers == {
        "school_status": {"3": "out_of_school"},
        "out_of_school_reason": {"3": "work"},
    }
    assert result.to_dict()["failing_members"] == ["3"]


def test_out_of_school_for_health_passes():
    answers = passing_answers(
        school_status={"3": "out_of_school"}, out_of_school_reason={"3": "health"}
    )
    assert _status(answers, "compulsory_schooling") == "pass"


def test_only_the_failing_child_is_listed():
    members = [*MEMBERS, member(5, "2006-01-01", schooling="辍学")]  # 14 on the visit date
    answers = passing_answers(
        school_status={"3": "out_of_school", "5": "out_of_school"},
        out_of_school_reason={"3": "health", "5": "family"},
        medical_insurance={"1": True, "2": True, "3": True, "4": True, "5": True},
        serious_illness_insurance={"1": True, "2": True, "3": True, "4": True, "5": True},
        doctor_contracted={"1": True, "2": True, "3": True, "4": True, "5": True},
    )
    result = _results(answers, members)["compulsory_schooling"]
    assert result.status == "fail" and result.failing_members == ("5",)


def test_no_child_of_school_age_is_not_applicable():
    members = [m for m in MEMBERS if m["id"] != 3]
    answers = passing_answers(
        school_status=None,
        medical_insurance={"1": True, "2": True, "4": True},
        serious_illness_insurance={"1": True, "2": True, "4": True},
        doctor_contracted={"1": True, "2": True, "4": True},
    )
    result = _results(answers, members)["compulsory_schooling"]
    assert result.status == "not_applicable"
    assert result.passed and result.not_applicable and not result.failed
    assert result.to_dict()["status_label"] == "不适用"


def test_university_students_get_aid():
    assert _status(passing_answers(college_aid=False), "college_aid") == "fail"
    answers = passing_answers(college_students=0, college_aid=None)
    assert _status(answers, "college_aid") == "not_applicable"


# ----- medical --------------------------------------------------------------------------------


def test_member_without_medical_insurance_fails():
    answers = passing_answers(medical_insurance={"1": True, "2": False, "3": True, "4": True})
    result = _results(answers)["basic_medical_insurance"]
    assert result.status == "fail" and result.failing_members == ("2",)
    assert result.offices == ("sbs", "wjb")
    assert _only_failures(answers) == {"basic_medical_insurance"}


def test_serious_illness_insurance_and_medical_aid():
    answers = passing_answers(
        serious_illness_insurance={"1": True, "2": True, "3": False, "4": True}
    )
    assert _only_failures(answers) == {"serious_illness_insurance"}
    assert _only_failures(passing_answers(medical_aid="not_covered")) == {"medical_aid"}
    assert _status(passing_answers(medical_aid="not_eligible"), "medical_aid") == "pass"


def test_family_doctor_contracted_but_unknown_to_the_household():
    failures = _only_failures(passing_answers(knows_family_doctor=False))
    assert failures == {"family_doctor", "policy_awareness"}
    result = _results(passing_answers(knows_family_doctor=False))["family_doctor"]
    assert result.failing_members == ("1", "2", "3", "4")


def test_member_without_family_doctor_fails():
    answers = passing_answers(doctor_contracted={"1": True, "2": True, "3": True, "4": False})
    result = _results(answers)["family_doctor"]
    assert result.status == "fail" and result.failing_members == ("4",)


def test_nobody_contracted_fails_family_doctor_but_not_policy_awareness():
    answers = passing_answers(
        doctor_contracted={"1": False, "2": False, "3": False, "4": False},
        family_doctor_name=None,
        knows_family_doctor=None,
    )
    assert _only_failures(answers) == {"family_doctor"}


@pytest.mark.parametrize(("percent", "status"), [(0, "pass"), (10, "pass"), (10.5, "fail")])
def test_inpatient_self_pay_at_most_ten_percent(percent, status):
    answers = passing_answers(hospitalized=True, inpatient_self_pay_percent=percent)
    result = _results(answers)["inpatient_self_pay"]
    assert result.status == status
    assert result.answers == {"inpatient_self_pay_percent": percent}


def test_inpatient_self_pay_not_applicable_without_hospital_stay():
    assert _status(passing_answers(hospitalized=False), "inpatient_self_pay") == "not_applicable"


@pytest.mark.parametrize(("percent", "status"), [(20, "pass"), (20.1, "fail")])
def test_outpatient_self_pay_at_most_twenty_percent(percent, status):
    answers = passing_answers(outpatient_self_pay_percent=percent)
    assert _status(answers, "outpatient_self_pay") == status


def test_outpatient_self_pay_not_applicable_without_outpatient_care():
    answers = passing_answers(outpatient_treated=False, outpatient_self_pay_percent=None)
    assert _status(answers, "outpatient_self_pay") == "not_applicable"


# ----- housing --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("grade", "inhabited", "status"),
    [
        ("A", None, "pass"),
        ("B", None, "pass"),
        ("C", True, "fail"),
        ("C", False, "pass"),
        ("D", True, "fail"),
        ("D", False, "pass"),
    ],
)
def test_nobody_lives_in_a_dangerous_house(grade, inhabited, status):
    answers = passing_answers(house_grade=grade, house_inhabited=inhabited)
    result = _results(answers)["housing_safety"]
    assert result.status == status
    assert result.offices == ("ghjs",)
    assert result.answers == {"house_grade": grade, "house_inhabited": inhabited}


# ----- drinking water -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "failing"),
    [
        ({"water_quantity": False}, "water_quantity"),
        ({"water_quality": False}, "water_quality"),
        ({"water_outage_days": 37}, "water_reliability"),
        ({"water_fetch_minutes": 21}, "water_convenience"),
    ],
)
def test_each_water_indicator_fails_on_its_own(changes, failing):
    results = _results(passing_answers(**changes))
    assert {k for k, r in results.items() if r.failed} == {failing}
    assert results[failing].area == "water" and results[failing].offices == ("nyfw",)


def test_water_indicator_limits_pass():
    answers = passing_answers(water_outage_days=36, water_fetch_minutes=20)
    results = _results(answers)
    assert results["water_reliability"].status == "pass"
    assert results["water_convenience"].status == "pass"


# ----- basic living ---------------------------------------------------------------------------


def test_eligible_household_not_enrolled_fails():
    answers = passing_answers(assistance_eligible_unenrolled=True)
    assert _only_failures(answers) == {"assistance_enrolled"}


def test_enrolled_household_is_not_asked_about_eligibility():
    answers = passing_answers(dibao_enrolled=True, assistance_eligible_unenrolled=None)
    assert _status(answers, "assistance_enrolled") == "not_applicable"


@pytest.mark.parametrize(
    ("relief", "status"), [("received", "pass"), ("applying", "pass"), ("none", "fail")]
)
def test_sudden_hardship_gets_temporary_relief(relief, status):
    answers = passing_answers(
        hardship=True,
        hardship_types=["disaster"],
        hardship_date="2020-05-20",
        temporary_relief=relief,
        remarks="暴雨冲毁偏房",
    )
    assert _status(answers, "temporary_relief") == status


def test_no_hardship_makes_temporary_relief_not_applicable():
    assert _status(passing_answers(), "temporary_relief") == "not_applicable"


# ----- jobs -----------------------------------------------------------------------------------


def test_member_seeking_work_fails_and_welfare_post_passes():
    answers = passing_answers(employment={"1": "migrant", "2": "seeking", "4": "no_need"})
    result = _results(answers)["employment"]
    assert result.status == "fail" and result.failing_members == ("2",)
    assert result.offices == ("sbs",)
    answers = passing_answers(employment={"1": "migrant", "2": "welfare_post", "4": "no_need"})
    assert _status(answers, "employment") == "pass"


def test_no_working_age_member_makes_employment_not_applicable():
    members = [member(1, "1945-01-01", relation="户主")]
    answers = passing_answers(
        school_status=None,
        college_students=0,
        college_aid=None,
        medical_insurance={"1": True},
        serious_illness_insurance={"1": True},
        doctor_contracted={"1": True},
        employment=None,
    )
    results = _results(answers, members)
    assert results["employment"].status == "not_applicable"
    assert results["compulsory_schooling"].status == "not_applicable"


# ----- income ---------------------------------------------------------------------------------


def test_income_below_the_default_monitoring_line_fails():
    result = _results(passing_answers(income_per_capita=5999))["income_above_line"]
    assert result.status == "fail" and result.offices == ("fpb",)
    assert result.settings == {"income_monitoring_line": 6000}
    assert _status(passing_answers(income_per_capita=6000), "income_above_line") == "pass"


def test_income_line_comes_from_settings():
    answers = passing_answers(income_per_capita=5000)
    assert _status(answers, "income_above_line", settings={"income_monitoring_line": 4000}) == (
        "pass"
    )
    result = _results(passing_answers(), settings={"income_monitoring_line": 10000})
    assert result["income_above_line"].status == "fail"
    assert result["income_above_line"].settings == {"income_monitoring_line": 10000}


def test_a_bad_setting_is_a_programming_error():
    with pytest.raises(ValueError, match="income_monitoring_line"):
        _results(passing_answers(), settings={"income_monitoring_line": "6000"})


# ----- microloan ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "failing"),
    [
        ({}, set()),
        ({"microloan_overdue": True}, {"microloan_overdue"}),
        ({"microloan_amount": 1500}, {"microloan_amount"}),
        ({"microloan_amount": 2000}, set()),
        ({"microloan_use": "consumption"}, {"microloan_use"}),
        ({"microloan_use": "enterprise"}, {"microloan_use"}),
    ],
)
def test_microloan_rules(changes, failing):
    assert _only_failures(passing_answers(**changes)) == failing


def test_no_microloan_makes_its_checks_not_applicable():
    answers = passing_answers(
        has_microloan=False, microloan_amount=None, microloan_overdue=None, microloan_use=None
    )
    results = _results(answers)
    for key in ("microloan_amount", "microloan_overdue", "microloan_use"):
        assert results[key].status == "not_applicable"


# ----- industry, environment, policy ----------------------------------------------------------


def test_benefit_linkage_with_the_collective():
    result = _results(passing_answers(collective_linkage=False))["collective_linkage"]
    assert result.status == "fail" and result.offices == ("nyfw",)


@pytest.mark.parametrize(
    ("points", "setting", "status"),
    [(60, None, "pass"), (59, None, "fail"), (59, 50, "pass"), (75, 80, "fail")],
)
def test_living_environment_points(points, setting, status):
    settings = {"environment_pass_points": setting} if setting is not None else None
    answers = passing_answers(sanitary_points=points, courtyard_points=points)
    results = _results(answers, settings=settings)
    assert results["sanitary_household"].status == status
    assert results["beautiful_courtyard"].status == status


def test_policy_awareness():
    result = _results(passing_answers(knows_policies=False))["policy_awareness"]
    assert result.status == "fail" and result.offices == ("fpb", "wjb")
    assert result.answers["knows_policies"] is False
    assert result.answers["doctor_contracted"] == {"1": True, "2": True, "3": True, "4": True}
    assert _only_failures(passing_answers(knows_health_policy=False)) == {"policy_awareness"}


# ----- results as such ------------------------------------------------------------------------


def test_one_result_per_check_in_form_order_even_without_answers():
    results = evaluate_checks(load_default_definition(), {}, members=MEMBERS, visit_date=VISIT)
    assert len(results) == 26
    assert results[0].key == "food_secure" and results[-1].key == "policy_awareness"
    assert not any(r.failed for r in results)
    statuses = {r.key: r.status for r in results}
    assert statuses["food_secure"] == "unanswered"
    assert statuses["college_aid"] == "unanswered"  # its gate is unanswered too
    assert statuses["inpatient_self_pay"] == "unanswered"
    assert all(not r.passed for r in results if r.status == "unanswered")


def test_invalid_answers_count_as_missing():
    answers = passing_answers(water_outage_days="3")
    assert _status(answers, "water_reliability") == "unanswered"


def test_check_result_is_frozen_and_serialisable():
    result = _results(passing_answers(house_grade="C", house_inhabited=True))["housing_safety"]
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.status = "pass"  # type: ignore[misc]
    data = result.to_dict()
    assert json.loads(json.dumps(data, ensure_ascii=False)) == data
    assert data == {
        "key": "housing_safety",
        "label": "危房不住人",
        "area": "housing",
        "area_label": "住房安全保障",
        "offices": ["ghjs"],
        "status": "fail",
        "status_label": "未通过",
        "passed": False,
        "not_applicable": False,
        "question": "house_grade",
        "answers": {"house_grade": "C", "house_inhabited": True},
        "failing_members": [],
        "settings": {},
        "problem": "有人居住在C级或D级危房中",
    }
    assert hash(result) == hash(result)


def test_evaluated_results_are_whole_check_results():
    # checks_of fills the instances without __init__: every field must be set, and a result
    # must equal the one the dataclass's own constructor makes from the same values.
    results = evaluate_checks(
        load_default_definition(), passing_answers(), members=MEMBERS, visit_date=VISIT
    )
    names = {f.name for f in dataclasses.fields(CheckResult)}
    for result in results:
        assert set(vars(result)) == names
        assert dataclasses.replace(result) == result
        assert CheckResult(**vars(result)) == result
