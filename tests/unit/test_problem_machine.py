"""The problem state machine as pure data: it matches the issue's rules, has no dead ends,
and random walks through it stay legal."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from backend.models import ProblemStatus as S
from backend.models import Role
from backend.services.problem_machine import (
    EARLY_STATES,
    OPEN_STATES,
    STATUS_LABELS,
    SYSTEM,
    TRANSITIONS,
    allowed_transitions,
    is_open,
    roles_for,
)

V, T, OFF, INS = Role.VILLAGE_CADRE, Role.TOWN_ADMIN, Role.OFFICE, Role.INSPECTOR

# The rules as the issue states them, written out independently of the machine: action ->
# (from states, to state, roles). The village accepts; the town reviews and assigns; the
# office rectifies (with evidence); the town or an inspector verifies and closes.
SPEC: dict[str, tuple[frozenset[str], str, frozenset[str]]] = {
    "accept": (frozenset({S.REPORTED}), S.ACCEPTED, frozenset({V})),
    "submit_review": (frozenset({S.ACCEPTED}), S.TOWN_REVIEW, frozenset({V})),
    "assign": (frozenset({S.TOWN_REVIEW}), S.ASSIGNED, frozenset({T})),
    "reassign": (frozenset({S.ASSIGNED, S.RECTIFYING, S.REOPENED}), S.ASSIGNED, frozenset({T})),
    "start": (frozenset({S.ASSIGNED, S.REOPENED}), S.RECTIFYING, frozenset({OFF})),
    "rectify": (frozenset({S.RECTIFYING}), S.RECTIFIED, frozenset({OFF})),
    "verify": (frozenset({S.RECTIFIED}), S.VERIFIED, frozenset({T, INS})),
    "return": (frozenset({S.RECTIFIED}), S.RECTIFYING, frozenset({T, INS})),
    "close": (frozenset({S.VERIFIED}), S.CLOSED, frozenset({T, INS})),
    "reject": (frozenset({S.REPORTED, S.ACCEPTED, S.TOWN_REVIEW}), S.REJECTED, frozenset({V, T})),
    "merge": (frozenset(OPEN_STATES), S.MERGED, frozenset({V, T})),
    "reopen": (frozenset({S.CLOSED, S.VERIFIED}), S.REOPENED, frozenset({T, INS, SYSTEM})),
}
# Once a problem is under town review, only the town may reject it.
SPEC_REJECT_BY_STATE = {S.REPORTED: {V, T}, S.ACCEPTED: {V, T}, S.TOWN_REVIEW: {T}}
# What each step needs besides the right role.
SPEC_NEEDS = {
    "submit_review": {"note"},
    "assign": {"office"},
    "reassign": {"office", "note"},
    "rectify": {"note", "photos"},
    "return": {"note"},
    "reject": {"note"},
    "merge": {"target"},
    "reopen": {"note"},
}
ALL_ROLES = [*Role, SYSTEM]


def spec_roles(action: str, status: str) -> set[str]:
    """Roles the issue allows to make ``action`` from ``status``."""
    if action == "reject":
        return set(SPEC_REJECT_BY_STATE.get(status, set()))
    return set(SPEC[action][2])


def spec_allowed(status: str, roles: set[str]) -> set[str]:
    """Actions the issue allows ``roles`` from ``status``."""
    return {a for a, (src, _, _) in SPEC.items() if status in src and spec_roles(a, status) & roles}


def test_machine_matches_the_spec():
    assert set(TRANSITIONS) == set(SPEC)
    for name, (sources, target, roles) in SPEC.items():
        t = TRANSITIONS[name]
        assert t.sources == sources, name
        assert t.target == target, name
        assert t.roles == roles, name
        needs = SPEC_NEEDS.get(name, set())
        assert t.note_required == ("note" in needs and "photos" not in needs), name
        assert t.evidence_required == ("photos" in needs), name
        assert t.office_required == ("office" in needs), name
        assert t.target_problem_required == ("target" in needs), name


def test_reject_is_narrowed_per_state():
    for status in S.ALL:
        assert roles_for(TRANSITIONS["reject"], status) == SPEC_REJECT_BY_STATE.get(status, set())


def test_only_rectify_enters_rectified_and_it_needs_evidence():
    into_rectified = [t for t in TRANSITIONS.values() if t.target == S.RECTIFIED]
    assert [t.name for t in into_rectified] == ["rectify"]
    assert into_rectified[0].evidence_required


def test_every_state_has_a_label_and_every_transition_a_chinese_label():
    assert set(STATUS_LABELS) == set(S.ALL)
    for t in TRANSITIONS.values():
        assert t.label and not t.label.isascii()


def test_finished_states():
    assert set(S.FINISHED) == set(S.ALL) - OPEN_STATES
    assert EARLY_STATES < OPEN_STATES
    for status in (S.REJECTED, S.MERGED):
        assert allowed_transitions(status) == [], status
    assert allowed_transitions(S.CLOSED) == ["reopen"]
    for status in S.ALL:
        assert is_open(status) == (status in OPEN_STATES)


def _reachable(start: str) -> set[str]:
    seen, todo = {start}, [start]
    while todo:
        status = todo.pop()
        for name in allowed_transitions(status):
            target = TRANSITIONS[name].target
            if target not in seen:
                seen.add(target)
                todo.append(target)
    return seen


def test_every_state_is_reachable_and_every_open_state_can_finish():
    assert _reachable(S.REPORTED) == set(S.ALL)
    for status in OPEN_STATES:
        assert _reachable(status) & {S.CLOSED, S.REJECTED, S.MERGED}, status


@given(status=st.sampled_from(S.ALL), roles=st.sets(st.sampled_from(ALL_ROLES)))
def test_allowed_transitions_for_roles_match_the_spec(status, roles):
    allowed = allowed_transitions(status, roles)
    assert set(allowed) == spec_allowed(status, set(roles))
    assert set(allowed) <= set(allowed_transitions(status))
    # Declaration order, without repeats: clients render the buttons in this order.
    order = list(TRANSITIONS)
    assert allowed == sorted(allowed, key=order.index)


@settings(max_examples=200)
@given(steps=st.lists(st.tuples(st.sampled_from(ALL_ROLES), st.integers(0, 50)), max_size=40))
def test_random_walks_stay_legal_and_pass_through_rectify(steps):
    status, path = S.REPORTED, [S.REPORTED]
    for role, pick in steps:
        allowed = allowed_transitions(status, {role})
        if not allowed:
            continue
        t = TRANSITIONS[allowed[pick % len(allowed)]]
        assert status in t.sources and role in roles_for(t, status)
        status = t.target
        path.append(status)
        assert status in S.ALL
    # Verified and closed are only reached after a rectification in between.
    for i, s in enumerate(path):
        if s in (S.VERIFIED, S.CLOSED) and path[i - 1] != S.VERIFIED:
            assert path[i - 1] == S.RECTIFIED
