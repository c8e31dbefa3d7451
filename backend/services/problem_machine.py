"""The problem state machine: states, transitions, who may make them, and what they need.

Pure data and pure functions, so the rules can be read in one place and property-tested.
"""

from __future__ import annotations

from dataclasses import dataclass

from backend.models import ProblemStatus as S
from backend.models import Role

STATUS_LABELS = {
    S.REPORTED: "已反映",
    S.ACCEPTED: "村已受理",
    S.TOWN_REVIEW: "镇审核中",
    S.ASSIGNED: "已交办",
    S.RECTIFYING: "整改中",
    S.RECTIFIED: "已整改",
    S.VERIFIED: "已核验",
    S.CLOSED: "已销号",
    S.REJECTED: "不予受理",
    S.MERGED: "已合并",
    S.REOPENED: "已重新打开",
}

# Problems in these states are open: they count, they can be overdue, they block 户户清.
OPEN_STATES = frozenset(set(S.ALL) - set(S.FINISHED))
# Before the office has it: the first states, from which a problem may be rejected.
EARLY_STATES = frozenset({S.REPORTED, S.ACCEPTED, S.TOWN_REVIEW})

# The system (visit ingest, deadline worker) acts without a role.
SYSTEM = "system"


@dataclass(frozen=True)
class Transition:
    """One allowed move of the state machine."""

    name: str
    label: str
    sources: frozenset[str]
    target: str
    roles: frozenset[str]
    note_required: bool = False
    evidence_required: bool = False  # photos and a note
    office_required: bool = False  # assign/reassign name the office
    target_problem_required: bool = False  # merge names the problem it merges into


def _t(name, label, sources, target, roles, **kw) -> Transition:
    return Transition(name, label, frozenset(sources), target, frozenset(roles), **kw)


TRANSITIONS: dict[str, Transition] = {
    t.name: t
    for t in (
        _t("accept", "受理", {S.REPORTED}, S.ACCEPTED, {Role.VILLAGE_CADRE}),
        _t(
            "submit_review",
            "报镇审核",
            {S.ACCEPTED},
            S.TOWN_REVIEW,
            {Role.VILLAGE_CADRE},
            note_required=True,
        ),
        _t("assign", "交办", {S.TOWN_REVIEW}, S.ASSIGNED, {Role.TOWN_ADMIN}, office_required=True),
        _t(
            "reassign",
            "改派",
            {S.ASSIGNED, S.RECTIFYING, S.REOPENED},
            S.ASSIGNED,
            {Role.TOWN_ADMIN},
            office_required=True,
            note_required=True,
        ),
        _t("start", "开始整改", {S.ASSIGNED, S.REOPENED}, S.RECTIFYING, {Role.OFFICE}),
        _t(
            "rectify",
            "整改完成",
            {S.RECTIFYING},
            S.RECTIFIED,
            {Role.OFFICE},
            evidence_required=True,
        ),
        _t(
            "verify",
            "核验通过",
            {S.RECTIFIED},
            S.VERIFIED,
            {Role.TOWN_ADMIN, Role.INSPECTOR},
        ),
        _t(
            "return",
            "核验不通过",
            {S.RECTIFIED},
            S.RECTIFYING,
            {Role.TOWN_ADMIN, Role.INSPECTOR},
            note_required=True,
        ),
        _t("close", "销号", {S.VERIFIED}, S.CLOSED, {Role.TOWN_ADMIN, Role.INSPECTOR}),
        _t(
            "reject",
            "不予受理",
            EARLY_STATES,
            S.REJECTED,
            {Role.VILLAGE_CADRE, Role.TOWN_ADMIN},
            note_required=True,
        ),
        _t(
            "merge",
            "合并",
            OPEN_STATES,
            S.MERGED,
            {Role.VILLAGE_CADRE, Role.TOWN_ADMIN},
            target_problem_required=True,
        ),
        _t(
            "reopen",
            "重新打开",
            {S.CLOSED, S.VERIFIED},
            S.REOPENED,
            {Role.TOWN_ADMIN, Role.INSPECTOR, SYSTEM},
            note_required=True,
        ),
    )
}

# The village may only accept, submit or reject in the early states; the town may reject a
# problem under its review. Both are encoded by role above; this narrows "reject" per state.
_REJECT_ROLES_BY_STATE = {
    S.REPORTED: frozenset({Role.VILLAGE_CADRE, Role.TOWN_ADMIN}),
    S.ACCEPTED: frozenset({Role.VILLAGE_CADRE, Role.TOWN_ADMIN}),
    S.TOWN_REVIEW: frozenset({Role.TOWN_ADMIN}),
}


def roles_for(transition: Transition, status: str) -> frozenset[str]:
    """Roles allowed to make ``transition`` from ``status``."""
    if transition.name == "reject":
        return _REJECT_ROLES_BY_STATE.get(status, frozenset())
    return transition.roles


def allowed_transitions(status: str, roles: frozenset[str] | set[str] | None = None) -> list[str]:
    """Transitions possible from ``status`` (for ``roles`` when given), in declaration order."""
    names = []
    for t in TRANSITIONS.values():
        if status not in t.sources:
            continue
        if roles is not None and not (roles_for(t, status) & set(roles)):
            continue
        names.append(t.name)
    return names


def is_open(status: str) -> bool:
    """True for a problem that still needs work."""
    return status in OPEN_STATES
