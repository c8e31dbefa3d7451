"""Compiled conditions give what a plain walk of the condition tree gives, on any input.

``compile_condition`` is the engine's only implementation of the condition language. The
reference below is the tree-walking interpreter it replaced, kept here as the oracle.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from backend.services.survey.common import MISSING, is_empty
from backend.services.survey.conditions import Scope, _compare, compile_condition, evaluate


def reference(condition: Mapping[str, Any], scope: Scope, member=None) -> bool | None:
    op = condition["op"]
    if op == "all":
        return _and(reference(c, scope, member) for c in condition["of"])
    if op == "any":
        return _or(reference(c, scope, member) for c in condition["of"])
    if op == "not":
        inner = reference(condition["of"], scope, member)
        return None if inner is None else not inner
    if op == "any_member":
        return _or(reference(condition["of"], scope, m) for m in scope.members)
    if op == "all_members":
        return _and(reference(condition["of"], scope, m) for m in scope.members)
    left = _operand(condition, scope, member)
    if op == "answered":
        return not is_empty(left)
    if is_empty(left):
        return None
    right = (
        scope.settings.get(condition["setting"])
        if "setting" in condition
        else condition.get("value")
    )
    return _compare(op, left, right)


def _and(results) -> bool | None:
    return _kleene(results, decisive=False)


def _or(results) -> bool | None:
    return _kleene(results, decisive=True)


def _kleene(results, *, decisive: bool) -> bool | None:
    unknown = False
    for result in results:
        if result is decisive:
            return decisive
        unknown = unknown or result is None
    return None if unknown else not decisive


def _operand(condition, scope: Scope, member) -> Any:
    if "fact" in condition:
        if member is None:
            return MISSING
        value = member.get(condition["fact"])
        return MISSING if value is None else value
    key = condition["key"]
    value = scope.values.get(key, MISSING)
    if key in scope.per_member:
        if member is None or not isinstance(value, Mapping):
            return MISSING
        return value.get(member["id"], MISSING)
    return value


KEYS = ["a", "b", "m"]  # "m" is answered per member
MEMBER_IDS = ["1", "2", "3"]
values = (
    st.none()
    | st.booleans()
    | st.integers(-3, 3)
    | st.floats(-3, 3)
    | st.sampled_from(["", " ", "x", "y", "2020-01-01"])
)
lists = st.lists(st.sampled_from(["x", "y", "z"]) | st.integers(0, 2), max_size=3)
operands = st.one_of(
    st.fixed_dictionaries({"key": st.sampled_from(KEYS)}),
    st.fixed_dictionaries({"fact": st.sampled_from(["age", "sex", "migrant_work"])}),
)
comparisons = st.builds(
    lambda operand, op, right: {**operand, "op": op, **right},
    operands,
    st.sampled_from(["eq", "ne", "lt", "lte", "gt", "gte", "in", "has", "answered"]),
    st.one_of(
        st.fixed_dictionaries({"value": values | lists}),
        st.fixed_dictionaries({"setting": st.sampled_from(["line", "absent"])}),
        st.just({}),
    ),
)
conditions = st.recursive(
    comparisons,
    lambda inner: st.one_of(
        st.builds(lambda of: {"op": "all", "of": of}, st.lists(inner, min_size=1, max_size=3)),
        st.builds(lambda of: {"op": "any", "of": of}, st.lists(inner, min_size=1, max_size=3)),
        st.builds(lambda of: {"op": "not", "of": of}, inner),
        st.builds(lambda of: {"op": "any_member", "of": of}, inner),
        st.builds(lambda of: {"op": "all_members", "of": of}, inner),
    ),
    max_leaves=8,
)
members = st.lists(
    st.fixed_dictionaries(
        {
            "id": st.sampled_from(MEMBER_IDS),
            "age": st.none() | st.integers(0, 90),
            "sex": st.none() | st.sampled_from(["男", "女"]),
            "migrant_work": st.none() | st.booleans(),
        }
    ),
    max_size=3,
)
scopes = st.builds(
    lambda a, b, m, mem, line: Scope(
        values={k: v for k, v in (("a", a), ("b", b), ("m", m)) if v is not MISSING},
        per_member=frozenset({"m"}),
        members=mem,
        settings={"line": line},
    ),
    values | lists | st.just(MISSING),
    values | lists | st.just(MISSING),
    st.dictionaries(st.sampled_from(MEMBER_IDS), values | lists, max_size=3)
    | values
    | st.just(MISSING),
    members,
    st.none() | st.integers(-3, 3),
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(condition=conditions, scope=scopes, data=st.data())
def test_compiled_conditions_agree_with_the_tree_walk(condition, scope, data):
    member = data.draw(st.none() | st.sampled_from(scope.members or [None]))
    compiled = compile_condition(condition)
    expected = reference(condition, scope, member)
    assert compiled(scope, member) is expected
    assert evaluate(condition, scope, member) is expected
    # A compiled condition keeps no state between calls.
    assert compiled(scope, member) is expected
