"""Check evaluation: each check of a definition passes, fails, is not applicable or unanswered."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from backend.services.survey.answers import (
    QuestionPlan,
    Resolution,
    cleaned,
    compile_questions,
    resolve,
)
from backend.services.survey.common import (
    is_number,
    iter_questions,
    setting_defaults,
)
from backend.services.survey.conditions import (
    Test,
    compile_condition,
    referenced_keys,
    referenced_settings,
)

PASS = "pass"
FAIL = "fail"
NOT_APPLICABLE = "not_applicable"
# The rule needed an answer that is missing; only possible for answers that did not pass
# validate_answers. Neither passed nor failed: it raises no problem and clears nothing.
UNANSWERED = "unanswered"

STATUS_LABELS = {PASS: "通过", FAIL: "未通过", NOT_APPLICABLE: "不适用", UNANSWERED: "未作答"}


@dataclass(frozen=True)
class CheckResult:
    """The outcome of one check of one visit."""

    key: str
    label: str
    area: str
    area_label: str
    offices: tuple[str, ...]
    status: str
    question: str
    # The answers that decided it: question key -> value (None when unanswered); per-member
    # keys map member id -> value over the members the check applied to.
    answers: Mapping[str, Any] = field(default_factory=dict, hash=False)
    failing_members: tuple[str, ...] = ()
    settings: Mapping[str, Any] = field(default_factory=dict, hash=False)
    problem: str | None = None

    @property
    def passed(self) -> bool:
        """Passed, including "not applicable"."""
        return self.status in (PASS, NOT_APPLICABLE)

    @property
    def failed(self) -> bool:
        """Failed: the answers show the problem the check looks for."""
        return self.status == FAIL

    @property
    def not_applicable(self) -> bool:
        """Nothing to check for this household (e.g. no child of school age)."""
        return self.status == NOT_APPLICABLE

    def to_dict(self, *, shared: bool = False) -> dict[str, Any]:
        """A JSON-ready dict; ``shared``: its answers and settings are this result's own."""
        # Runs for every check of every stored visit: the properties are inlined. Ingest
        # serialises the dict at once, so it need not copy (shared=True).
        status = self.status
        if shared and type(self.answers) is dict and type(self.settings) is dict:
            answers, settings = self.answers, self.settings
        else:
            answers = {
                k: v if type(v) in _PLAIN_TYPES else _copied(v) for k, v in self.answers.items()
            }
            settings = dict(self.settings)
        return {
            "key": self.key,
            "label": self.label,
            "area": self.area,
            "area_label": self.area_label,
            "offices": list(self.offices),
            "status": status,
            "status_label": STATUS_LABELS[status],
            "passed": status in (PASS, NOT_APPLICABLE),
            "not_applicable": status == NOT_APPLICABLE,
            "question": self.question,
            "answers": answers,
            "failing_members": list(self.failing_members),
            "settings": settings,
            "problem": self.problem,
        }


# Answer values that are stored as they are; checked by type first because isinstance against
# the Mapping ABC is slow, and a visit's ~25 checks hold a hundred values.
_PLAIN_TYPES = frozenset({str, int, float, bool, list, type(None)})


def _copied(value: Any) -> Any:
    kind = type(value)
    if kind is dict:
        return dict(value)
    if kind in _PLAIN_TYPES:
        return value
    return dict(value) if isinstance(value, Mapping) else value


def merged_settings(
    definition: Mapping[str, Any], settings: Mapping[str, Any] | None
) -> dict[str, Any]:
    """The definition's setting defaults overridden by the caller's settings."""
    declared = setting_defaults(definition)
    merged = dict(declared)
    merged.update({k: v for k, v in (settings or {}).items() if v is not None})
    for name in declared:
        if not is_number(merged[name]):
            raise ValueError(f"survey setting {name!r} must be a number, got {merged[name]!r}")
    return merged


def evaluate_checks(
    definition: Mapping[str, Any],
    answers: Any,
    *,
    members: Sequence[Mapping[str, Any]] | None,
    visit_date: Any,
    settings: Mapping[str, Any] | None = None,
) -> list[CheckResult]:
    """One CheckResult per check of the definition, in form order."""
    res = resolve(definition, answers, members=members, visit_date=visit_date)
    return checks_of(definition, res, settings)


@dataclass(frozen=True)
class CheckSpec:
    """One check of a definition with what evaluating it needs (see ``compile_checks``)."""

    key: str
    label: str
    area: str
    area_label: str
    offices: tuple[str, ...]
    question: str
    rule: Mapping[str, Any]
    # The rule compiled (conditions.compile_condition).
    test: Test
    per_member: bool
    # The answer keys its evidence shows (its question first) and the settings it reads.
    evidence_keys: tuple[str, ...]
    setting_names: tuple[str, ...]
    problem: str | None


def compile_checks(definition: Mapping[str, Any]) -> tuple[CheckSpec, ...]:
    """The checks of a definition, in form order, with what they read worked out once.

    A caller that evaluates many answer sets against one unchanging definition (visit ingest,
    per published version) passes this to ``assess`` instead of walking the form each time.
    """
    sections = {s["key"]: s for s in definition.get("sections") or ()}
    specs = []
    for _, question in iter_questions(definition):
        check = question.get("check")
        if not check:
            continue
        rule = check["rule"]
        qkey = question["key"]
        area = check["area"]
        specs.append(
            CheckSpec(
                key=check["key"],
                label=check["label"],
                area=area,
                area_label=sections.get(area, {}).get("label", area),
                offices=tuple(check["offices"]),
                question=qkey,
                rule=rule,
                test=compile_condition(rule),
                per_member=question.get("per_member") is True,
                evidence_keys=tuple(dict.fromkeys([qkey, *referenced_keys(rule)])),
                setting_names=tuple(dict.fromkeys(referenced_settings(rule))),
                problem=check.get("problem"),
            )
        )
    return tuple(specs)


def checks_of(
    definition: Mapping[str, Any],
    res: Resolution,
    settings: Mapping[str, Any] | None = None,
    *,
    plan: Sequence[CheckSpec] | None = None,
) -> list[CheckResult]:
    """The checks of an already resolved answer set (see ``evaluate_checks``).

    ``plan``: ``compile_checks(definition)``, when the caller keeps it.
    """
    values = merged_settings(definition, settings)
    scope = res.scope(values)
    by_id = {m["id"]: m for m in res.members}
    all_members = [m["id"] for m in res.members]
    results: list[CheckResult] = []
    for spec in compile_checks(definition) if plan is None else plan:
        test = spec.test
        qkey = spec.question
        failing: list[str] = []
        if spec.per_member:
            applicable = res.applicable.get(qkey, [])
            outcomes = [(mid, test(scope, by_id[mid])) for mid in applicable]
            failing = [mid for mid, outcome in outcomes if outcome is False]
            if failing:
                status = FAIL
            elif res.undetermined.get(qkey) or any(o is None for _, o in outcomes):
                status = UNANSWERED
            elif not applicable:
                status = NOT_APPLICABLE
            else:
                status = PASS
            shown_members = applicable
        else:
            shown_members = all_members
            applicable = res.applicable.get(qkey, False)
            if applicable is None:
                status = UNANSWERED
            elif not applicable:
                status = NOT_APPLICABLE
            else:
                outcome = test(scope, None)
                status = {True: PASS, False: FAIL, None: UNANSWERED}[outcome]
        evidence: dict[str, Any] = {}
        for key in spec.evidence_keys:
            value = res.values.get(key)
            if key in res.per_member:
                value = value or {}
                evidence[key] = {mid: value.get(mid) for mid in shown_members}
            else:
                evidence[key] = value
        results.append(
            _check_result(
                key=spec.key,
                label=spec.label,
                area=spec.area,
                area_label=spec.area_label,
                offices=spec.offices,
                status=status,
                question=qkey,
                answers=evidence,
                failing_members=tuple(failing),
                settings={name: values.get(name) for name in spec.setting_names},
                problem=spec.problem,
            )
        )
    return results


def _check_result(**fields: Any) -> CheckResult:
    # A frozen dataclass's __init__ sets each field through object.__setattr__: twice the
    # time of filling the instance's dict, and ingest makes ~25 results a visit. The caller
    # passes every field (tests/unit/test_survey_checks.py holds it to that).
    result = _new_object(CheckResult)
    result.__dict__.update(fields)
    return result


_new_object = object.__new__


@dataclass(frozen=True)
class Assessment:
    """Validation errors, the answers to store and the check results of one submission."""

    errors: dict[str, list[str]]
    answers: dict[str, Any]
    checks: list[CheckResult]


@dataclass(frozen=True)
class FormPlan:
    """A definition's questions and checks with their conditions compiled (``compile_form``)."""

    questions: tuple[QuestionPlan, ...]
    checks: tuple[CheckSpec, ...]


def compile_form(definition: Mapping[str, Any]) -> FormPlan:
    """Everything ``assess`` works out from the definition alone, once.

    A caller that assesses many answer sets against one unchanging definition (visit ingest,
    per published version) keeps this instead of walking and compiling the form each time.
    """
    return FormPlan(questions=compile_questions(definition), checks=compile_checks(definition))


def assess(
    definition: Mapping[str, Any],
    answers: Any,
    *,
    members: Sequence[Mapping[str, Any]] | None,
    visit_date: Any,
    settings: Mapping[str, Any] | None = None,
    plan: FormPlan | None = None,
) -> Assessment:
    """``validate_answers``, ``clean_answers`` and ``evaluate_checks`` from one resolution.

    The same results as calling the three (checks evaluated on the cleaned answers), with the
    form walked once instead of three times: when the answers have no errors, resolving the
    cleaned answers gives back the same effective values, since cleaning drops only empty
    answers and answers of questions or members whose condition is not definitely true, which
    resolution ignores too. With errors, answers and checks are left empty. ``plan``:
    ``compile_form(definition)``, when the caller keeps it.
    """
    res = resolve(
        definition,
        answers,
        members=members,
        visit_date=visit_date,
        questions=plan.questions if plan is not None else None,
    )
    if res.errors:
        return Assessment(errors=res.errors, answers={}, checks=[])
    checks = checks_of(definition, res, settings, plan=plan.checks if plan is not None else None)
    return Assessment(errors={}, answers=cleaned(res), checks=checks)
