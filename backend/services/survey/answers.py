"""Answer validation: types, ranges, options, conditions and per-member answers."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from backend.services.survey.common import (
    CHOICE_TYPES,
    is_empty,
    is_number,
    iter_questions,
    member_facts,
    member_id,
    option_labels,
    option_values,
    parse_date,
    visit_day,
)
from backend.services.survey.conditions import Scope, Test, compile_condition

ROOT_KEY = "_schema"
DEFAULT_MAX_LENGTH = 1000
DEFAULT_MAX_PHOTOS = 9

REQUIRED = "必填项不能为空。"
NOT_APPLICABLE = "本题当前不适用，请不要填写。"
MEMBER_NOT_APPLICABLE = "该成员不适用本题，请不要填写。"
NOT_A_MEMBER = "不是本户的家庭成员。"
PER_MEMBER_SHAPE = "应按家庭成员分别填写（成员编号对应答案）。"
ROOT_SHAPE = "答卷应为JSON对象（问题编码对应答案）。"


def _unknown(key: str) -> str:
    return f"未知的问题：{key}"


def _fmt(number: Any) -> str:
    return f"{number:g}" if isinstance(number, float) else str(number)


def value_errors(
    question: Mapping[str, Any], value: Any, *, options: Collection[str] | None = None
) -> list[str]:
    """Chinese messages for a non-empty answer that does not fit its question; empty when fine.

    ``options``: a choice question's option values, when the caller has them already.
    """
    kind = question["type"]
    if kind == "bool":
        return [] if isinstance(value, bool) else ["应为是或否。"]
    if kind == "single":
        if options is None:
            options = option_values(question)
        if isinstance(value, str) and value in options:
            return []
        return [f"取值应为以下之一：{option_labels(question)}。"]
    if kind == "multi":
        if not isinstance(value, list):
            return ["应为多选列表。"]
        if options is None:
            options = option_values(question)
        if not all(isinstance(v, str) and v in options for v in value):
            return [f"取值应为以下之一：{option_labels(question)}。"]
        if len(set(value)) != len(value):
            return ["选项不能重复。"]
        return []
    if kind in ("int", "number"):
        if kind == "int" and (isinstance(value, bool) or not isinstance(value, int)):
            return ["应为整数。"]
        if not is_number(value):
            return ["应为数字。"]
        errors = []
        if question.get("min") is not None and value < question["min"]:
            errors.append(f"不能小于{_fmt(question['min'])}。")
        if question.get("max") is not None and value > question["max"]:
            errors.append(f"不能大于{_fmt(question['max'])}。")
        return errors
    if kind == "text":
        if not isinstance(value, str):
            return ["应为文字。"]
        limit = question.get("max_length", DEFAULT_MAX_LENGTH)
        return [f"长度不能超过{limit}个字。"] if len(value) > limit else []
    if kind == "date":
        if isinstance(value, str) and parse_date(value) is not None:
            return []
        return ["日期格式应为YYYY-MM-DD，且须为有效日期。"]
    if kind == "photo":
        return _photo_errors(question, value)
    return [f"未知的题型：{kind}"]


def _photo_errors(question: Mapping[str, Any], value: Any) -> list[str]:
    if not isinstance(value, list):
        return ["应为照片编号列表。"]
    bad = [item for item in value if not _photo_id(item)]
    if bad:
        return [f"照片编号无效：{'、'.join(str(b) for b in bad[:5])}。"]
    errors = []
    if len({str(item).lower() for item in value}) != len(value):
        errors.append("照片不能重复。")
    limit = question.get("max_count", DEFAULT_MAX_PHOTOS)
    if len(value) > limit:
        errors.append(f"最多上传{limit}张照片。")
    return errors


def _photo_id(item: Any) -> bool:
    # The visit service checks that the photo exists and belongs to the visit; here only shape.
    if isinstance(item, bool):
        return False
    if isinstance(item, int):
        return item > 0
    if isinstance(item, str):
        try:
            return str(uuid.UUID(item)) == item.lower()
        except ValueError:
            return False
    return False


@dataclass
class Resolution:
    """Answers resolved against a definition: effective values, applicability and errors."""

    # Household question key -> value; per-member key -> {member id: value}. Only applicable,
    # valid, non-empty answers are present.
    values: dict[str, Any] = field(default_factory=dict)
    # Household question key -> True/False, or None while its "when" waits for a missing
    # answer; per-member key -> the member ids it definitely applies to, in roster order.
    applicable: dict[str, Any] = field(default_factory=dict)
    # Per-member key -> member ids whose "when" waits for a missing answer.
    undetermined: dict[str, list[str]] = field(default_factory=dict)
    errors: dict[str, list[str]] = field(default_factory=dict)
    members: list[dict[str, Any]] = field(default_factory=list)
    per_member: frozenset[str] = frozenset()

    def scope(self, settings: Mapping[str, Any] | None = None) -> Scope:
        """A condition scope over the effective answers."""
        return Scope(self.values, self.per_member, self.members, settings or {})

    def add(self, key: str, messages: Sequence[str] | str) -> None:
        """Record error messages under a key."""
        if isinstance(messages, str):
            messages = [messages]
        self.errors.setdefault(key, []).extend(messages)


@dataclass(frozen=True)
class QuestionPlan:
    """One question of a definition with its conditions compiled (see ``compile_questions``)."""

    question: Mapping[str, Any]
    key: str
    per_member: bool
    # None: asked everywhere. "required" is True/False or a required-if condition.
    when: Test | None
    member_filter: Test | None
    required: bool | Test
    # A choice question's option values, for value_errors.
    options: frozenset[str] | None


def compile_questions(definition: Mapping[str, Any]) -> tuple[QuestionPlan, ...]:
    """The questions of a (validated) definition in form order, their conditions compiled."""
    plans = []
    for _, question in iter_questions(definition):
        required = question.get("required", False)
        kind = question.get("type")
        plans.append(
            QuestionPlan(
                question=question,
                key=question["key"],
                per_member=question.get("per_member") is True,
                when=compile_condition(question["when"]) if "when" in question else None,
                member_filter=(
                    compile_condition(question["member_filter"])
                    if "member_filter" in question
                    else None
                ),
                required=required if isinstance(required, bool) else compile_condition(required),
                options=frozenset(option_values(question)) if kind in CHOICE_TYPES else None,
            )
        )
    return tuple(plans)


def is_required(plan: QuestionPlan, scope: Scope, member: Mapping[str, Any] | None = None) -> bool:
    """Whether a question is required here (a required-if condition must be definitely true)."""
    required = plan.required
    if required is True or required is False:
        return required
    return required(scope, member) is True


def applies(
    plan: QuestionPlan, scope: Scope, member: Mapping[str, Any] | None = None
) -> bool | None:
    """Whether a question is asked here; None when its "when" waits for a missing answer.

    A member outside the member filter is never asked (an unknown age is outside the filter:
    no answer could change it).
    """
    if (
        member is not None
        and plan.member_filter is not None
        and plan.member_filter(scope, member) is not True
    ):
        return False
    if plan.when is not None:
        return plan.when(scope, member)
    return True


def resolve(
    definition: Mapping[str, Any],
    answers: Any,
    *,
    members: Sequence[Mapping[str, Any]] | None,
    visit_date: Any,
    questions: Sequence[QuestionPlan] | None = None,
) -> Resolution:
    """Walk the form in order, deciding applicability from earlier effective answers.

    ``questions``: ``compile_questions(definition)``, when the caller keeps it.
    """
    if questions is None:
        questions = compile_questions(definition)
    day = visit_day(visit_date)
    facts = member_facts(members, day)
    per_member = frozenset(plan.key for plan in questions if plan.per_member)
    res = Resolution(members=facts, per_member=per_member)
    if not isinstance(answers, Mapping):
        if answers is not None:
            res.add(ROOT_KEY, ROOT_SHAPE)
        answers = {}
    # One scope for the whole walk: it reads res.values, which fills as the walk goes.
    scope = res.scope()
    for plan in questions:
        if plan.per_member:
            _resolve_members(res, plan, answers.get(plan.key), scope)
        else:
            _resolve_household(res, plan, answers.get(plan.key), scope)
    known = {plan.key for plan in questions}
    for key in answers:
        if key not in known:
            res.add(str(key), _unknown(str(key)))
    return res


def _resolve_household(res: Resolution, plan: QuestionPlan, raw: Any, scope: Scope) -> None:
    key = plan.key
    applicable = applies(plan, scope)
    res.applicable[key] = applicable
    if applicable is False:
        if not is_empty(raw):
            res.add(key, NOT_APPLICABLE)
        return
    if is_empty(raw):
        if applicable and is_required(plan, scope):
            res.add(key, REQUIRED)
        return
    errors = value_errors(plan.question, raw, options=plan.options)
    if errors:
        res.add(key, errors)
    elif applicable:
        res.values[key] = raw


def _resolve_members(res: Resolution, plan: QuestionPlan, raw: Any, scope: Scope) -> None:
    key = plan.key
    outcome = {m["id"]: applies(plan, scope, m) for m in res.members}
    res.applicable[key] = [mid for mid, ok in outcome.items() if ok]
    res.undetermined[key] = [mid for mid, ok in outcome.items() if ok is None]
    if is_empty(raw):
        raw = {}
    shaped = isinstance(raw, Mapping)
    if not shaped:
        # One error for the whole question rather than "required" for every member.
        res.add(key, PER_MEMBER_SHAPE)
        raw = {}
    given = {member_id(k): v for k, v in raw.items()}
    for mid, value in given.items():
        if mid not in outcome:
            res.add(f"{key}.{mid}", NOT_A_MEMBER)
        elif outcome[mid] is False and not is_empty(value):
            res.add(f"{key}.{mid}", MEMBER_NOT_APPLICABLE)
    values: dict[str, Any] = {}
    for member in res.members:
        mid = member["id"]
        if outcome[mid] is False:
            continue
        value = given.get(mid)
        if is_empty(value):
            if shaped and outcome[mid] and is_required(plan, scope, member):
                res.add(f"{key}.{mid}", REQUIRED)
            continue
        errors = value_errors(plan.question, value, options=plan.options)
        if errors:
            res.add(f"{key}.{mid}", errors)
        elif outcome[mid]:
            values[mid] = value
    res.values[key] = values


def validate_answers(
    definition: Mapping[str, Any],
    answers: Any,
    *,
    members: Sequence[Mapping[str, Any]] | None,
    visit_date: Any,
) -> dict[str, list[str]]:
    """Field errors in Chinese keyed by question key ("key.<member id>" per member); {} if valid."""
    return resolve(definition, answers, members=members, visit_date=visit_date).errors


def clean_answers(
    definition: Mapping[str, Any],
    answers: Any,
    *,
    members: Sequence[Mapping[str, Any]] | None,
    visit_date: Any,
) -> dict[str, Any]:
    """Only the applicable, valid, non-empty answers, with member ids as strings."""
    return cleaned(resolve(definition, answers, members=members, visit_date=visit_date))


def cleaned(res: Resolution) -> dict[str, Any]:
    """The answers to store from a resolution: its non-empty effective values."""
    return {k: v for k, v in res.values.items() if not is_empty(v)}
