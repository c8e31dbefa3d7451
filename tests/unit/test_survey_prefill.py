"""Prefill of the default survey from the roster and from the last visit (减少填表报数)."""

from __future__ import annotations

from backend.services.survey import load_default_definition, prefill, validate_answers
from tests.unit.test_survey_fixtures import HOUSEHOLD, MEMBERS, VISIT, member, passing_answers


def _prefill(household=HOUSEHOLD, members=MEMBERS, last_answers=None):
    return prefill(
        load_default_definition(),
        household=household,
        members=members,
        last_answers=last_answers,
        visit_date=VISIT,
    )


def test_per_member_facts_come_from_the_roster():
    members = [*MEMBERS[:3], member(4, "2000-07-20", medical_insurance=False, doctor_name=None)]
    out = _prefill(members=members)
    assert out["medical_insurance"] == {
        "value": {"1": True, "2": True, "3": True, "4": False},
        "source": {"1": "roster", "2": "roster", "3": "roster", "4": "roster"},
    }
    assert out["serious_illness_insurance"]["value"] == {"1": True, "2": True, "3": True, "4": True}
    assert out["doctor_contracted"]["value"] == {"1": True, "2": True, "3": True, "4": False}
    assert out["family_doctor_name"] == {"value": "李医测甲", "source": "roster"}


def test_schooling_and_household_flags_come_from_the_roster():
    out = _prefill(household={"is_dibao": True, "is_tekun": False})
    assert out["school_status"] == {"value": {"3": "in_school"}, "source": {"3": "roster"}}
    assert out["college_students"] == {"value": 1, "source": "roster"}
    assert out["dibao_enrolled"] == {"value": True, "source": "roster"}
    assert out["tekun_enrolled"] == {"value": False, "source": "roster"}
    assert out["outpatient_treated"] == {"value": True, "source": "roster"}  # member 2 高血压
    assert out["employment"] == {"value": {"1": "migrant"}, "source": {"1": "roster"}}


def test_roster_school_exceptions_map_to_answers():
    members = [
        member(1, "1980-01-01", relation="户主"),
        member(5, "2010-01-01", schooling="因病休学"),
        member(6, "2011-01-01", schooling="辍学"),
        member(7, "2012-01-01", schooling="送教上门"),
    ]
    out = _prefill(members=members)
    assert out["school_status"]["value"] == {
        "5": "out_of_school",
        "6": "out_of_school",
        "7": "home_taught",
    }
    assert out["out_of_school_reason"]["value"] == {"5": "health"}


def test_last_visit_fills_what_the_roster_does_not_know():
    last = passing_answers(house_grade="A", water_outage_days=5)
    out = _prefill(last_answers=last)
    assert out["house_grade"] == {"value": "A", "source": "last_visit"}
    assert out["water_outage_days"] == {"value": 5, "source": "last_visit"}
    assert out["microloan_use"] == {"value": "production", "source": "last_visit"}
    assert out["employment"] == {
        "value": {"1": "migrant", "2": "farming", "4": "no_need"},
        "source": {"1": "roster", "2": "last_visit", "4": "last_visit"},
    }


def test_roster_wins_over_the_last_visit():
    last = passing_answers(
        medical_insurance={"1": False, "2": False, "3": False, "4": False}, dibao_enrolled=True
    )
    out = _prefill(last_answers=last)
    assert out["medical_insurance"]["value"]["1"] is True
    assert out["medical_insurance"]["source"]["1"] == "roster"
    assert out["dibao_enrolled"] == {"value": False, "source": "roster"}


def test_fresh_observations_are_never_prefilled():
    out = _prefill(last_answers=passing_answers())
    for key in (
        "food_secure",
        "clothing_secure",
        "knows_family_doctor",
        "hardship",
        "microloan_overdue",
        "sanitary_points",
        "knows_policies",
        "photo_house",
        "photo_water",
        "photo_helper_with_head",
        "remarks",
    ):
        assert key not in out, key


def test_stale_last_answers_are_not_offered():
    last = {
        "house_grade": "E",  # an option a later version removed
        "water_outage_days": "3",  # wrong type
        "school_status": {"3": "in_school", "1": "in_school", "42": "in_school"},
        "not_a_question": True,
    }
    members = [m | {"schooling": None} for m in MEMBERS]
    out = _prefill(members=members, last_answers=last)
    assert "house_grade" not in out
    assert "water_outage_days" not in out
    assert "not_a_question" not in out
    # Member 1 is an adult and member 42 left the household: only the child is offered.
    assert out["school_status"] == {"value": {"3": "in_school"}, "source": {"3": "last_visit"}}


def test_suggestions_whose_condition_is_false_are_dropped():
    last = passing_answers(hospitalized=False, inpatient_self_pay_percent=8, has_microloan=False)
    out = _prefill(last_answers=last)
    assert out["hospitalized"]["value"] is False
    assert "inpatient_self_pay_percent" not in out
    assert "microloan_amount" not in out and "microloan_use" not in out


def test_prefilled_values_are_valid_answers():
    out = _prefill(last_answers=passing_answers())
    suggested = {key: item["value"] for key, item in out.items()}
    errors = validate_answers(
        load_default_definition(), suggested, members=MEMBERS, visit_date=VISIT
    )
    assert all(message == ["必填项不能为空。"] for message in errors.values()), errors


def test_no_roster_and_no_last_visit():
    assert _prefill(household=None, members=[], last_answers=None) == {
        "college_students": {"value": 0, "source": "roster"},
    }


def test_roster_without_illness_leaves_outpatient_care_to_the_last_visit():
    members = [m | {"chronic_illness": None} for m in MEMBERS]
    assert "outpatient_treated" not in _prefill(members=members)
    out = _prefill(members=members, last_answers={"outpatient_treated": True})
    assert out["outpatient_treated"] == {"value": True, "source": "last_visit"}
