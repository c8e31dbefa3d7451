"""``survey.assess`` (one resolution) gives what validate, clean and evaluate give separately."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from backend.services.survey import (
    assess,
    clean_answers,
    compile_form,
    evaluate_checks,
    validate_answers,
)
from tests.unit.test_survey_properties import (
    DEFINITION,
    VISIT,
    complete_answers,
    json_values,
    random_answers,
    random_members,
)


def _separately(answers, members, line):
    errors = validate_answers(DEFINITION, answers, members=members, visit_date=VISIT)
    if errors:
        return errors, {}, []
    cleaned = clean_answers(DEFINITION, answers, members=members, visit_date=VISIT)
    checks = evaluate_checks(
        DEFINITION,
        cleaned,
        members=members,
        visit_date=VISIT,
        settings={"income_monitoring_line": line},
    )
    return errors, cleaned, checks


def _assessed(answers, members, line, plan=None):
    result = assess(
        DEFINITION,
        answers,
        members=members,
        visit_date=VISIT,
        settings={"income_monitoring_line": line},
        plan=plan,
    )
    return result.errors, result.answers, result.checks


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=complete_answers(), line=st.integers(0, 20000))
def test_valid_answers_give_the_same_cleaned_answers_and_checks(data, line):
    members, complete = data
    # An answer to every question is refused where a question does not apply; what cleaning
    # keeps is a valid submission.
    answers = clean_answers(DEFINITION, complete, members=members, visit_date=VISIT)
    expected = _separately(answers, members, line)
    assert expected[0] == {}
    assert _assessed(answers, members, line) == expected


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(answers=random_answers | json_values, members=random_members)
def test_any_answers_give_the_same_errors(answers, members):
    assert _assessed(answers, members, 6000) == _separately(answers, members, 6000)


PLAN = compile_form(DEFINITION)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=complete_answers(), line=st.integers(0, 20000))
def test_a_compiled_plan_gives_the_same_checks(data, line):
    members, complete = data
    answers = clean_answers(DEFINITION, complete, members=members, visit_date=VISIT)
    planned = _assessed(answers, members, line, plan=PLAN)
    assert planned[2] and planned == _assessed(answers, members, line)


def test_a_plan_lists_every_check_in_form_order_with_what_it_reads():
    checks = evaluate_checks(DEFINITION, {}, members=[], visit_date=VISIT)
    assert [spec.key for spec in PLAN.checks] == [c.key for c in checks]
    dropout = next(spec for spec in PLAN.checks if spec.per_member)
    assert dropout.evidence_keys[0] == dropout.question
    income = next(spec for spec in PLAN.checks if spec.setting_names)
    assert income.setting_names == ("income_monitoring_line",)
