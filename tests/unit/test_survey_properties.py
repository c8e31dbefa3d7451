"""Property tests: the survey engine never crashes on any input and is complete on valid ones."""

from __future__ import annotations

import copy
import json
import re
from datetime import date
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from backend.services.survey import (
    clean_answers,
    evaluate_checks,
    load_default_definition,
    prefill,
    validate_answers,
    validate_definition,
)
from backend.services.survey.answers import value_errors

DEFINITION = load_default_definition()
QUESTIONS = [q for s in DEFINITION["sections"] for q in s["questions"]]
KEYS = [q["key"] for q in QUESTIONS]
CHECK_COUNT = sum(1 for q in QUESTIONS if "check" in q)
VISIT = date(2020, 6, 1)
CJK = re.compile(r"[\u4e00-\u9fff]")
STATUSES = {"pass", "fail", "not_applicable", "unanswered"}

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(10**7), 10**7)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=6)
    | st.sampled_from(
        ["in_school", "out_of_school", "health", "A", "C", "production", "2020-05-01"]
    ),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.text(max_size=4) | st.sampled_from(["1", "2", "3"]), children, max_size=4
        )
    ),
    max_leaves=12,
)

member_ids = st.integers(1, 6)

random_members = st.lists(
    st.fixed_dictionaries(
        {
            "id": member_ids | st.sampled_from(["1", "2"]),
            "name": st.text(max_size=4),
            "relation": st.sampled_from(["户主", "配偶", "子女", "孙子女"]) | st.text(max_size=3),
            "birth_date": st.none()
            | st.dates(date(1920, 1, 1), date(2021, 1, 1))
            | st.dates(date(1920, 1, 1), date(2021, 1, 1)).map(date.isoformat)
            | st.text(max_size=10),
            "schooling": st.sampled_from(
                [None, "在读小学", "在读初中", "辍学", "因病休学", "送教上门", "在读大学", "初中"]
            )
            | st.text(max_size=4),
            "medical_insurance": st.booleans() | json_values,
            "serious_illness_insurance": st.booleans(),
            "doctor_name": st.none() | st.text(max_size=4),
            "chronic_illness": st.none() | st.sampled_from(["高血压", ""]),
            "migrant_work": st.booleans() | json_values,
        }
    ),
    max_size=6,
)

per_member_answers = st.dictionaries(
    member_ids | st.sampled_from(["1", "2", "3", "99", "x"]), json_values, max_size=6
)

random_answers = st.dictionaries(
    st.sampled_from(KEYS) | st.text(max_size=6), json_values | per_member_answers, max_size=30
)


def _assert_errors_shape(errors: Any) -> None:
    assert isinstance(errors, dict)
    for key, messages in errors.items():
        assert isinstance(key, str)
        assert messages and all(isinstance(m, str) and CJK.search(m) for m in messages)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(answers=random_answers | json_values, members=random_members)
def test_random_answers_never_crash(answers, members):
    errors = validate_answers(DEFINITION, answers, members=members, visit_date=VISIT)
    _assert_errors_shape(errors)
    results = evaluate_checks(DEFINITION, answers, members=members, visit_date=VISIT)
    assert len(results) == CHECK_COUNT
    assert {r.status for r in results} <= STATUSES
    json.dumps([r.to_dict() for r in results], ensure_ascii=False, allow_nan=False)
    cleaned = clean_answers(DEFINITION, answers, members=members, visit_date=VISIT)
    # Cleaning only drops answers: what is left can only lack required answers.
    again = validate_answers(DEFINITION, cleaned, members=members, visit_date=VISIT)
    assert all(messages == ["必填项不能为空。"] for messages in again.values())


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    last=random_answers | json_values,
    members=random_members,
    household=st.none() | st.dictionaries(st.sampled_from(["is_dibao", "is_tekun"]), json_values),
)
def test_prefill_never_crashes_and_offers_only_valid_values(last, members, household):
    out = prefill(
        DEFINITION, household=household, members=members, last_answers=last, visit_date=VISIT
    )
    by_key = {q["key"]: q for q in QUESTIONS}
    for key, item in out.items():
        question = by_key[key]
        assert question.get("prefill", True) is not False
        if question.get("per_member"):
            assert item["value"] and item["value"].keys() == item["source"].keys()
            values = item["value"].values()
            assert set(item["source"].values()) <= {"roster", "last_visit"}
        else:
            values = [item["value"]]
            assert item["source"] in ("roster", "last_visit")
        for value in values:
            assert value_errors(question, value) == []


# ----- valid complete answers -----------------------------------------------------------------


def _valid_value(question: dict[str, Any]) -> st.SearchStrategy:
    kind = question["type"]
    if kind == "bool":
        return st.booleans()
    if kind == "single":
        return st.sampled_from([o["value"] for o in question["options"]])
    if kind == "multi":
        return st.lists(
            st.sampled_from([o["value"] for o in question["options"]]), min_size=1, unique=True
        )
    low, high = question.get("min", -(10**6)), question.get("max", 10**6)
    if kind == "int":
        return st.integers(low, high)
    if kind == "number":
        return st.integers(low, high) | st.floats(low, high, allow_nan=False)
    if kind == "text":
        return st.text(min_size=1, max_size=question.get("max_length", 50)).filter(str.strip)
    if kind == "date":
        return st.dates().map(date.isoformat)
    return st.lists(
        st.integers(1, 10**9) | st.uuids().map(str),
        min_size=1,
        max_size=question.get("max_count", 9),
        unique_by=lambda x: str(x).lower(),
    )


valid_members = st.lists(
    st.builds(
        lambda born, doctor, schooling: {
            "birth_date": born,
            "doctor_name": doctor,
            "schooling": schooling,
        },
        st.dates(date(1925, 1, 1), date(2020, 6, 1)),
        st.none() | st.just("李医测甲"),
        st.sampled_from([None, "在读小学", "辍学", "在读大学"]),
    ),
    min_size=1,
    max_size=6,
).map(lambda ms: [m | {"id": i + 1, "name": f"测{i + 1}"} for i, m in enumerate(ms)])


@st.composite
def complete_answers(draw):
    members = draw(valid_members)
    answers: dict[str, Any] = {}
    for question in QUESTIONS:
        value = _valid_value(question)
        if question.get("per_member"):
            answers[question["key"]] = {str(m["id"]): draw(value) for m in members}
        else:
            answers[question["key"]] = draw(value)
    return members, answers


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=complete_answers(), income_line=st.integers(0, 20000))
def test_valid_complete_answers_give_one_decided_result_per_check(data, income_line):
    members, answers = data
    cleaned = clean_answers(DEFINITION, answers, members=members, visit_date=VISIT)
    assert validate_answers(DEFINITION, cleaned, members=members, visit_date=VISIT) == {}
    results = evaluate_checks(
        DEFINITION,
        cleaned,
        members=members,
        visit_date=VISIT,
        settings={"income_monitoring_line": income_line},
    )
    assert [r.key for r in results] == [q["check"]["key"] for q in QUESTIONS if "check" in q]
    ids = {str(m["id"]) for m in members}
    for result in results:
        assert result.status in ("pass", "fail", "not_applicable")
        assert set(result.failing_members) <= ids
        assert result.passed == (result.status != "fail")
        if result.failing_members:
            assert result.failed
    income = next(r for r in results if r.key == "income_above_line")
    assert income.failed == (cleaned["income_per_capita"] < income_line)


# ----- definitions ----------------------------------------------------------------------------


def _paths(node: Any, prefix: tuple = ()) -> list[tuple]:
    out = [prefix]
    if isinstance(node, dict):
        for key, value in node.items():
            out.extend(_paths(value, (*prefix, key)))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            out.extend(_paths(value, (*prefix, index)))
    return out


ALL_PATHS = [p for p in _paths(DEFINITION) if p]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_random_definition_mutations_never_crash(data):
    definition = copy.deepcopy(DEFINITION)
    for _ in range(data.draw(st.integers(1, 3))):
        path = data.draw(st.sampled_from(ALL_PATHS))
        parent = definition
        try:
            for step in path[:-1]:
                parent = parent[step]
            if isinstance(parent, dict) and data.draw(st.booleans()):
                parent.pop(path[-1], None)
            else:
                parent[path[-1]] = data.draw(json_values)
        except (KeyError, IndexError, TypeError):
            continue
    errors = validate_definition(definition)
    assert isinstance(errors, list)
    assert all(isinstance(e, str) and CJK.search(e) for e in errors)
    if not errors:
        # A definition that may be published must also run.
        members = [{"id": 1, "birth_date": "2010-01-01"}, {"id": 2, "birth_date": "1970-01-01"}]
        validate_answers(definition, {}, members=members, visit_date=VISIT)
        evaluate_checks(definition, {}, members=members, visit_date=VISIT)
        prefill(definition, household={}, members=members, last_answers={}, visit_date=VISIT)
