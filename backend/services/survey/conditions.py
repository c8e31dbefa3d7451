"""The condition language: evaluation (three-valued) and structural validation.

A condition is a JSON object; see README.md in this package for the grammar. Evaluation is
Kleene logic: True, False, or None ("unknown") when an answer it needs is missing. Callers
decide what unknown means (a condition that gates a question treats it as false; a check rule
that ends unknown makes the check "unanswered").
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from backend.services.survey.common import (
    MEMBER_FACTS,
    MISSING,
    NUMERIC_TYPES,
    is_empty,
    is_number,
    option_values,
    parse_date,
)

ORDERINGS = ("lt", "lte", "gt", "gte")
COMPARISONS = ("eq", "ne", *ORDERINGS, "in", "has")
LOGICAL = ("all", "any", "not")
MEMBER_OPS = ("any_member", "all_members")
OPS = (*COMPARISONS, *LOGICAL, *MEMBER_OPS, "answered")
MAX_DEPTH = 12


@dataclass
class Scope:
    """What a condition can see: effective answers, members and settings."""

    values: Mapping[str, Any]
    per_member: frozenset[str]
    members: Sequence[Mapping[str, Any]] = ()
    settings: Mapping[str, Any] = field(default_factory=dict)


# A condition compiled to a function of (scope, member): see compile_condition.
Test = Callable[[Scope, "Mapping[str, Any] | None"], "bool | None"]


def evaluate(
    condition: Mapping[str, Any], scope: Scope, member: Mapping[str, Any] | None = None
) -> bool | None:
    """Evaluate a condition for the household (``member`` None) or for one member."""
    return compile_condition(condition)(scope, member)


def compile_condition(condition: Mapping[str, Any]) -> Test:
    """The function ``(scope, member) -> evaluate(condition, scope, member)``.

    The tree is walked once, here, instead of at every evaluation: a published form's
    conditions are compiled once and evaluated for every visit (see ``compile_form``). This
    is the only implementation of the language's semantics; ``evaluate`` compiles and calls.
    """
    op = condition["op"]
    if op in ("all", "any"):
        parts = tuple(compile_condition(c) for c in condition["of"])
        return _all_of(parts) if op == "all" else _any_of(parts)
    if op == "not":
        inner = compile_condition(condition["of"])

        def negated(scope: Scope, member: Mapping[str, Any] | None) -> bool | None:
            result = inner(scope, member)
            return None if result is None else not result

        return negated
    if op in MEMBER_OPS:
        each = compile_condition(condition["of"])
        return _for_members(each, every=op == "all_members")
    left = _compile_operand(condition)
    if op == "answered":
        return lambda scope, member: not is_empty(left(scope, member))
    if "setting" in condition:
        setting = condition["setting"]

        def against_setting(scope: Scope, member: Mapping[str, Any] | None) -> bool | None:
            value = left(scope, member)
            if is_empty(value):
                return None
            return _compare(op, value, scope.settings.get(setting))

        return against_setting
    right = condition.get("value")

    def against_value(scope: Scope, member: Mapping[str, Any] | None) -> bool | None:
        value = left(scope, member)
        if is_empty(value):
            return None
        return _compare(op, value, right)

    return against_value


def _all_of(parts: tuple[Test, ...]) -> Test:
    # Kleene "and": False wins, then unknown.
    return _kleene(parts, decisive=False)


def _any_of(parts: tuple[Test, ...]) -> Test:
    # Kleene "or": True wins, then unknown.
    return _kleene(parts, decisive=True)


def _kleene(parts: tuple[Test, ...], *, decisive: bool) -> Test:
    def combined(scope: Scope, member: Mapping[str, Any] | None) -> bool | None:
        unknown = False
        for part in parts:
            result = part(scope, member)
            if result is decisive:
                return decisive
            if result is None:
                unknown = True
        return None if unknown else not decisive

    return combined


def _for_members(each: Test, *, every: bool) -> Test:
    # any_member / all_members: the inner condition for each member of the scope.
    decisive = not every

    def for_members(scope: Scope, member: Mapping[str, Any] | None) -> bool | None:
        unknown = False
        for m in scope.members:
            result = each(scope, m)
            if result is decisive:
                return decisive
            if result is None:
                unknown = True
        return None if unknown else every

    return for_members


def _compile_operand(condition: Mapping[str, Any]) -> Callable[[Scope, Any], Any]:
    if "fact" in condition:
        fact = condition["fact"]

        def member_fact(scope: Scope, member: Mapping[str, Any] | None) -> Any:
            if member is None:
                return MISSING
            value = member.get(fact)
            return MISSING if value is None else value

        return member_fact
    key = condition["key"]

    def answer(scope: Scope, member: Mapping[str, Any] | None) -> Any:
        value = scope.values.get(key, MISSING)
        if key in scope.per_member:
            if member is None or not (type(value) is dict or isinstance(value, Mapping)):
                return MISSING
            return value.get(member["id"], MISSING)
        return value

    return answer


def _same(a: Any, b: Any) -> bool:
    # True == 1 in Python; a yes/no answer must not equal a number.
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    return a == b


def _compare(op: str, left: Any, right: Any) -> bool | None:
    if op == "eq":
        return _same(left, right)
    if op == "ne":
        return not _same(left, right)
    if op == "in":
        if isinstance(left, list | dict) or not isinstance(right, list):
            return None
        return any(_same(left, r) for r in right)
    if op == "has":
        if not isinstance(left, list):
            return None
        wanted = right if isinstance(right, list) else [right]
        return any(_same(item, w) for item in left for w in wanted)
    if not (is_number(left) and is_number(right)):
        return None
    if op == "lt":
        return left < right
    if op == "lte":
        return left <= right
    if op == "gt":
        return left > right
    return left >= right


def referenced_keys(condition: Any) -> Iterator[str]:
    """Question keys a (well-formed) condition reads, in order, possibly repeated."""
    if not isinstance(condition, Mapping):
        return
    if isinstance(condition.get("key"), str):
        yield condition["key"]
    inner = condition.get("of")
    for sub in inner if isinstance(inner, list) else [inner]:
        yield from referenced_keys(sub)


def referenced_settings(condition: Any) -> Iterator[str]:
    """Setting names a (well-formed) condition reads."""
    if not isinstance(condition, Mapping):
        return
    if isinstance(condition.get("setting"), str):
        yield condition["setting"]
    inner = condition.get("of")
    for sub in inner if isinstance(inner, list) else [inner]:
        yield from referenced_settings(sub)


# ----- structural validation ------------------------------------------------------------------


@dataclass
class ConditionContext:
    """Where a condition sits, which decides what it may reference."""

    where: str  # Chinese location prefix for messages, e.g. 问题“x”的显示条件
    questions: Mapping[str, Mapping[str, Any]]  # every question of the definition, by key
    settings: frozenset[str]
    allowed_keys: frozenset[str] | None = None  # None: any question key
    member: bool = False  # evaluated for one member (facts and per-member keys allowed)
    facts_only: bool = False  # member filters read member facts only


def check_condition(condition: Any, ctx: ConditionContext) -> list[str]:
    """Structural problems of a condition, as Chinese messages."""
    errors: list[str] = []
    _check(condition, ctx, ctx.member, 0, errors)
    return errors


def _check(cond: Any, ctx: ConditionContext, member: bool, depth: int, errors: list[str]) -> None:
    where = ctx.where
    if depth > MAX_DEPTH:
        errors.append(f"{where}：条件嵌套层数过多（最多{MAX_DEPTH}层）。")
        return
    if not isinstance(cond, Mapping):
        errors.append(f"{where}：条件应为对象。")
        return
    op = cond.get("op")
    if op not in OPS:
        errors.append(f"{where}：未知的条件运算“{op}”。")
        return
    if op in ("all", "any"):
        parts = cond.get("of")
        if not isinstance(parts, list) or not parts:
            errors.append(f"{where}：“{op}”条件的 of 应为非空列表。")
            return
        _extra(cond, {"op", "of"}, where, errors)
        for part in parts:
            _check(part, ctx, member, depth + 1, errors)
        return
    if op in ("not", *MEMBER_OPS):
        if "of" not in cond or isinstance(cond.get("of"), list):
            errors.append(f"{where}：“{op}”条件的 of 应为一个条件。")
            return
        _extra(cond, {"op", "of"}, where, errors)
        if op in MEMBER_OPS and ctx.facts_only:
            errors.append(f"{where}：成员筛选条件不能使用“{op}”。")
            return
        _check(cond["of"], ctx, member or op in MEMBER_OPS, depth + 1, errors)
        return
    _check_comparison(cond, ctx, member, errors)


def _extra(cond: Mapping[str, Any], allowed: set[str], where: str, errors: list[str]) -> None:
    for name in cond:
        if name not in allowed:
            errors.append(f"{where}：条件中有未知的字段“{name}”。")


def _check_comparison(
    cond: Mapping[str, Any], ctx: ConditionContext, member: bool, errors: list[str]
) -> None:
    where, op = ctx.where, cond["op"]
    has_key, has_fact = "key" in cond, "fact" in cond
    if has_key == has_fact:
        errors.append(f"{where}：“{op}”条件须指定 key（问题）或 fact（成员信息）其中之一。")
        return
    if op == "answered":
        _extra(cond, {"op", "key", "fact"}, where, errors)
    else:
        _extra(cond, {"op", "key", "fact", "value", "setting"}, where, errors)
        if ("value" in cond) == ("setting" in cond):
            errors.append(f"{where}：“{op}”条件须指定 value 或 setting 其中之一。")
            return
    kind, options = _operand_kind(cond, ctx, member, errors)
    if kind is None or op == "answered":
        return
    if "setting" in cond:
        setting = cond["setting"]
        if op not in ("eq", "ne", *ORDERINGS) or kind not in ("int", "number"):
            errors.append(f"{where}：只有数值比较可以引用设置项。")
        elif not isinstance(setting, str) or setting not in ctx.settings:
            errors.append(f"{where}：引用了未声明的设置项“{setting}”。")
        return
    _check_value(op, cond["value"], kind, options, where, errors)


def _operand_kind(
    cond: Mapping[str, Any], ctx: ConditionContext, member: bool, errors: list[str]
) -> tuple[str | None, list[str]]:
    where = ctx.where
    if "fact" in cond:
        fact = cond["fact"]
        if not member:
            errors.append(f"{where}：只有按成员填写的问题或成员条件中可以引用成员信息“{fact}”。")
            return None, []
        if not isinstance(fact, str) or fact not in MEMBER_FACTS:
            errors.append(f"{where}：未知的成员信息“{fact}”。")
            return None, []
        return MEMBER_FACTS[fact], []
    key = cond["key"]
    if ctx.facts_only:
        errors.append(f"{where}：成员筛选条件只能引用成员信息（fact），不能引用问题“{key}”。")
        return None, []
    question = ctx.questions.get(key) if isinstance(key, str) else None
    if question is None:
        errors.append(f"{where}：引用了不存在的问题“{key}”。")
        return None, []
    if ctx.allowed_keys is not None and key not in ctx.allowed_keys:
        errors.append(f"{where}：只能引用排在本题之前的问题，不能引用“{key}”。")
        return None, []
    if question.get("per_member") is True and not member:
        errors.append(
            f"{where}：整户条件不能直接引用按成员填写的问题“{key}”，请使用 any_member 或 all_members。"
        )
        return None, []
    kind = question.get("type")
    return kind, option_values(question) if kind in ("single", "multi") else []


def _check_value(
    op: str, value: Any, kind: str, options: list[str], where: str, errors: list[str]
) -> None:
    def bad(message: str) -> None:
        errors.append(f"{where}：{message}")

    if op == "has":
        if kind != "multi":
            bad("“has”只能用于多选题。")
            return
        values = value if isinstance(value, list) else [value]
        if not values or any(v not in options for v in values):
            bad(f"比较值应为该题的选项：{value!r}。")
        return
    if op == "in":
        if not isinstance(value, list) or not value:
            bad("“in”条件的 value 应为非空列表。")
            return
        values = value
    else:
        values = [value]
    if op in ORDERINGS:
        if kind not in ("int", "number"):
            bad(f"“{op}”只能用于数值。")
        elif not all(is_number(v) for v in values):
            bad(f"比较值应为数字：{value!r}。")
        return
    if kind in ("multi", "photo"):
        bad(f"“{op}”不能用于多选题或照片。")
    elif kind == "single":
        if any(v not in options for v in values):
            bad(f"比较值应为该题的选项：{value!r}。")
    elif kind == "bool":
        if not all(isinstance(v, bool) for v in values):
            bad(f"比较值应为 true 或 false：{value!r}。")
    elif kind in NUMERIC_TYPES:
        if not all(is_number(v) for v in values):
            bad(f"比较值应为数字：{value!r}。")
    elif kind == "date":
        if not all(isinstance(v, str) and parse_date(v) for v in values):
            bad(f"比较值应为YYYY-MM-DD格式的日期：{value!r}。")
    elif not all(isinstance(v, str) for v in values):
        bad(f"比较值应为文字：{value!r}。")
