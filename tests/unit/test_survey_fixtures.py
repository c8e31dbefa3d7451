"""Shared data for the survey engine tests (a household, its members, complete answers).

Imported by the other test_survey* modules; its own tests keep the data honest.
"""

from __future__ import annotations

import copy
from datetime import date
from typing import Any

VISIT = date(2020, 6, 1)
PHOTO_UUID = "6f1c2a3e-1b2c-4d5e-8f90-123456789abc"


def member(mid: int, born: str, **facts: Any) -> dict[str, Any]:
    """A member dict as the visit service passes it."""
    base = {
        "id": mid,
        "name": f"王测{mid}",
        "relation": "子女",
        "sex": "M",
        "birth_date": born,
        "schooling": None,
        "medical_insurance": True,
        "serious_illness_insurance": True,
        "doctor_name": "李医测甲",
        "disability": None,
        "chronic_illness": None,
        "migrant_work": False,
    }
    base.update(facts)
    return base


# Ages on VISIT: 45, 41, 10 (school age), 19 (university).
MEMBERS = [
    member(1, "1975-04-10", relation="户主", schooling="初中", migrant_work=True),
    member(2, "1978-09-01", relation="配偶", sex="F", schooling="小学", chronic_illness="高血压"),
    member(3, date(2010, 2, 15), schooling="在读小学"),
    member(4, "2000-07-20", sex="F", schooling="在读大学"),
]

HOUSEHOLD = {"is_dibao": False, "is_tekun": False, "category": "registered_poor"}

_PASSING = {
    "food_secure": True,
    "clothing_secure": True,
    "school_status": {"3": "in_school"},
    "college_students": 1,
    "college_aid": True,
    "medical_insurance": {"1": True, "2": True, "3": True, "4": True},
    "serious_illness_insurance": {"1": True, "2": True, "3": True, "4": True},
    "medical_aid": "covered",
    "doctor_contracted": {"1": True, "2": True, "3": True, "4": True},
    "family_doctor_name": "李医测甲",
    "knows_family_doctor": True,
    "hospitalized": False,
    "outpatient_treated": True,
    "outpatient_self_pay_percent": 15,
    "house_grade": "B",
    "water_quantity": True,
    "water_quality": True,
    "water_outage_days": 3,
    "water_fetch_minutes": 0,
    "dibao_enrolled": False,
    "tekun_enrolled": False,
    "assistance_eligible_unenrolled": False,
    "hardship": False,
    "employment": {"1": "migrant", "2": "farming", "4": "no_need"},
    "income_per_capita": 9800.5,
    "has_microloan": True,
    "microloan_amount": 30000,
    "microloan_overdue": False,
    "microloan_use": "production",
    "collective_linkage": True,
    "industry_projects": ["planting", "breeding"],
    "sanitary_points": 80,
    "courtyard_points": 75,
    "knows_policies": True,
    "knows_health_policy": True,
    "photo_house": [101, 102],
    "photo_water": [PHOTO_UUID],
    "photo_helper_with_head": [103],
    "remarks": "",
}


def passing_answers(**changes: Any) -> dict[str, Any]:
    """Complete answers for MEMBERS on which every check passes, with ``changes`` applied.

    A change to None removes the key.
    """
    answers = copy.deepcopy(_PASSING)
    for key, value in changes.items():
        if value is None:
            answers.pop(key, None)
        else:
            answers[key] = value
    return answers


def test_passing_answers_are_valid_and_pass_every_check():
    from backend.services.survey import evaluate_checks, load_default_definition, validate_answers

    definition = load_default_definition()
    answers = passing_answers()
    assert validate_answers(definition, answers, members=MEMBERS, visit_date=VISIT) == {}
    results = evaluate_checks(definition, answers, members=MEMBERS, visit_date=VISIT)
    assert len(results) == 26
    assert {r.key for r in results if r.status == "not_applicable"} == {
        "inpatient_self_pay",  # nobody was in hospital
        "temporary_relief",  # no sudden hardship
    }
    assert all(r.status in ("pass", "not_applicable") for r in results)
