"""The problem services: a stateful property test of transitions by random roles, and the
scoped reading (lists, overdue, counts) of problem_queries."""

from __future__ import annotations

import itertools
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import func, select

from backend.errors import DomainError
from backend.extensions import db
from backend.models import (
    Assignment,
    AuditLog,
    Photo,
    Problem,
    ProblemEvent,
    ProblemSource,
    Role,
    utcnow,
)
from backend.models import ProblemStatus as S
from backend.services import pii
from backend.services import problems as problem_service
from backend.services.auth import actor_for_user
from backend.services.problem_machine import TRANSITIONS
from backend.services.problem_queries import (
    count_problems,
    get_problem,
    is_overdue,
    list_problems,
    transition_problem_for,
)
from tests.factories import PhotoFactory, user_with_role
from tests.helpers import make_problem
from tests.unit.test_problem_machine import SPEC, SPEC_NEEDS, spec_allowed, spec_roles

ACTORS = [
    "village_cadre",
    "town_admin",
    "office_nyfw",
    "office_mzb",
    "inspector",
    "helper",
    "district",
    "system",
]
ACTIONS = [*SPEC, "bogus"]


def _open(household, *, status=S.ASSIGNED, area="water", check_key="water_quality", **kw):
    title = kw.pop("title", "饮用水水质不达标")
    return make_problem(household, title, status=status, area=area, check_key=check_key, **kw)


def _events(problem_id: int) -> list[ProblemEvent]:
    return list(
        db.session.scalars(
            select(ProblemEvent)
            .where(ProblemEvent.problem_id == problem_id)
            .order_by(ProblemEvent.id)
        )
    )


def assert_complete_timeline(problem: Problem) -> list[ProblemEvent]:
    """The events chain from "open" to the problem's current status without a gap."""
    events = _events(problem.id)
    assert events and events[0].action == "open" and events[0].from_status is None
    for before, after in itertools.pairwise(events):
        assert after.from_status == before.to_status, (before.action, after.action)
    assert events[-1].to_status == problem.status
    return events


# --- the stateful property test ----------------------------------------------------------------


def _machine(town, users):
    """A state machine over one problem of ``town.household`` and a duplicate to merge into."""

    class ProblemLife(RuleBasedStateMachine):
        def __init__(self):
            super().__init__()
            # Each example runs in its own SAVEPOINT inside the test's rolled-back transaction.
            self.savepoint = db.session.begin_nested()
            self.problem_id = None

        @initialize(entry=st.sampled_from([S.REPORTED, S.ASSIGNED]))
        def open_problems(self, entry):
            source = ProblemSource.VILLAGER_REPORT if entry == S.REPORTED else "visit_check"
            problem = _open(town.household, status=entry, source=source, dedup_key=None)
            other = _open(
                town.household, status=S.ASSIGNED, check_key="water_quantity", title="水量不足"
            )
            self.problem_id, self.other_id = problem.id, other.id
            self.status, self.office = entry, "nyfw"
            self.check_state()

        def _held_roles(self, who: str) -> set[str]:
            return {
                "village_cadre": {Role.VILLAGE_CADRE},
                "town_admin": {Role.TOWN_ADMIN},
                "office_nyfw": {Role.OFFICE} if self.office == "nyfw" else set(),
                "office_mzb": {Role.OFFICE} if self.office == "mzb" else set(),
                "inspector": {Role.INSPECTOR},
                "helper": set(),
                "district": {Role.DISTRICT},
                "system": {"system"},
            }[who]

        def _expected(self, who, action, note, photo, office, target) -> tuple[str, dict]:
            """What the rules say should happen: ("ok", {}) or (error code, details)."""
            if who.startswith("office_") and who != f"office_{self.office}":
                return "problem.not_found", {}  # another office does not even see it
            held = self._held_roles(who)
            if action not in SPEC or self.status not in SPEC[action][0]:
                return "problem.transition_not_allowed", {
                    "allowed": spec_allowed(self.status, held)
                }
            if not spec_roles(action, self.status) & held:
                return "problem.role_not_allowed", {"allowed": spec_allowed(self.status, held)}
            needs = SPEC_NEEDS.get(action, set())
            if "photos" in needs and not photo:
                return "problem.evidence_required", {}
            missing = (
                ("note" in needs or "photos" in needs) and not note.strip(),
                "office" in needs and office not in ("nyfw", "mzb"),
                "target" in needs and not target,
            )
            if any(missing):
                return "problem.transition_invalid", {}
            return "ok", {}

        @rule(
            who=st.sampled_from(ACTORS),
            action=st.sampled_from(ACTIONS),
            note=st.sampled_from(["", "  ", "已现场处理"]),
            photo=st.booleans(),
            office=st.sampled_from([None, "nyfw", "mzb", "nosuch"]),
            merge_into=st.booleans(),
        )
        def act(self, who, action, note, photo, office, merge_into):
            user = users.get(who)
            photo_ids = []
            if photo:
                photo_ids = [
                    PhotoFactory(uploader_id=user.id if user else None, purpose="evidence").id
                ]
            expected, details = self._expected(who, action, note, photo, office, merge_into)
            kwargs = dict(
                action=action,
                note=note,
                photo_ids=photo_ids,
                office_code=office,
                target_problem_id=self.other_id if merge_into else None,
            )
            try:
                with db.session.begin_nested():
                    if user is None:
                        problem = db.session.get(Problem, self.problem_id)
                        problem_service.transition_problem(actor=None, problem=problem, **kwargs)
                    else:
                        transition_problem_for(
                            actor=actor_for_user(user=user), problem_id=self.problem_id, **kwargs
                        )
            except DomainError as exc:
                assert exc.code == expected, (who, action, self.status, exc.code, exc.details)
                if "allowed" in details:
                    assert set(exc.details["allowed"]) == details["allowed"]
                status = db.session.scalar(
                    select(Problem.status).where(Problem.id == self.problem_id)
                )
                assert status == self.status  # a refused step leaves no trace
                return
            assert expected == "ok", (who, action, self.status, expected)
            self.status = SPEC[action][1]
            if action in ("assign", "reassign"):
                self.office = office
            self.check_state()

        @rule(
            pick=st.integers(0, 10_000),
            office=st.sampled_from(["nyfw", "mzb"]),
            finish=st.integers(0, 5),
            drop=st.sampled_from([None, None, None, "note", "photo", "office", "target"]),
        )
        def act_forward(self, pick, office, finish, drop):
            """A move someone may make, usually with all it needs (``drop`` leaves one thing
            out): drives the problem deep into its life and tries skipping the evidence there."""
            moves = [
                (who, action)
                for who in ACTORS
                if not (who.startswith("office_") and who != f"office_{self.office}")
                for action in sorted(spec_allowed(self.status, self._held_roles(who)))
                # Merging and rejecting end the problem's life: only now and then.
                if not finish or action not in ("merge", "reject")
            ]
            if moves:
                who, action = moves[pick % len(moves)]
                self.act(
                    who,
                    action,
                    "" if drop == "note" else "已现场处理",
                    drop != "photo",
                    None if drop == "office" else office,
                    drop != "target",
                )
                event(f"reached {self.status}")

        def check_state(self):
            """The invariants, checked after every change (a refused step changes nothing)."""
            problem = db.session.get(Problem, self.problem_id)
            db.session.refresh(problem)
            assert problem.status == self.status
            assert problem.status in S.ALL
            assert problem.office_code == self.office
            assert (problem.closed_at is not None) == (problem.status == S.CLOSED)
            assert (problem.merged_into_id is not None) == (problem.status == S.MERGED)
            if problem.status not in S.FINISHED:
                assert problem.deadline_at is not None
            # The timeline is complete, and every way into "rectified" carried its evidence.
            events = assert_complete_timeline(problem)
            assert_complete_timeline(db.session.get(Problem, self.other_id))
            into_rectified = [e for e in events if e.to_status == S.RECTIFIED != e.from_status]
            for entry in into_rectified:
                assert entry.action == "rectify" and entry.note.strip() and entry.photo_ids
                owners = db.session.scalars(
                    select(Photo.problem_id).where(Photo.id.in_(entry.photo_ids))
                ).all()
                assert owners and set(owners) == {problem.id}
            if problem.status in (S.RECTIFIED, S.VERIFIED, S.CLOSED):
                assert into_rectified
            # Every transition is in the audit log too.
            audited = db.session.scalar(
                select(func.count(AuditLog.id)).where(
                    AuditLog.action == "problem.transition",
                    AuditLog.target_id == str(problem.id),
                )
            )
            assert audited == sum(e.action in TRANSITIONS for e in events)

        def teardown(self):
            self.savepoint.rollback()

    return ProblemLife


def test_random_transitions_by_random_roles_keep_the_rules(town):
    users = {
        "village_cadre": town.village_cadre,
        "town_admin": town.town_admin,
        "office_nyfw": town.office,
        "office_mzb": user_with_role(Role.OFFICE, town.town, office_code="mzb"),
        "inspector": town.inspector,
        "helper": town.helper,
        "district": town.district_user,
    }
    run_state_machine_as_test(
        _machine(town, users),
        settings=settings(
            max_examples=50,
            stateful_step_count=15,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )


# --- scope ----------------------------------------------------------------------------------


@pytest.fixture
def world(town):
    """Problems in and out of every scope, and an office user of 镇民政办."""
    mzb = user_with_role(Role.OFFICE, town.town, office_code="mzb", display_name="民政办")
    water = _open(town.household)  # 石桥村, nyfw
    food = _open(
        town.other_household, area="food_clothing", check_key="food_secure", title="不愁吃"
    )  # 观音村, mzb
    far = _open(town.far_household)  # another district, nyfw
    return {"mzb": mzb, "water": water, "food": food, "far": far}


def _ids(user, **filters) -> set[int]:
    items, total = list_problems(actor=actor_for_user(user=user), page_size=500, **filters)
    assert total == len(items)
    return {i["id"] for i in items}


def test_each_role_sees_only_its_scope(town, world):
    water, food = world["water"].id, world["food"].id
    assert _ids(town.office) == {water}
    assert _ids(world["mzb"]) == {food}
    assert _ids(town.village_cadre) == {water}
    assert _ids(town.helper) == {water}
    assert _ids(town.other_helper) == {food}
    assert _ids(town.helper_b) == set()  # same village, no household assigned
    for user in (town.town_admin, town.inspector, town.district_user):
        assert _ids(user) == {water, food}
    assert _ids(town.far_helper) == {world["far"].id}


def test_office_loses_a_problem_reassigned_away_and_helper_one_no_longer_assigned(town, world):
    problem = world["water"]
    admin = actor_for_user(user=town.town_admin)
    transition_problem_for(
        actor=admin, problem_id=problem.id, action="reassign", office_code="mzb", note="属民政"
    )
    assert _ids(town.office) == set()
    assert _ids(world["mzb"]) == {problem.id, world["food"].id}
    with pytest.raises(DomainError) as info:
        get_problem(actor=actor_for_user(user=town.office), problem_id=problem.id)
    assert (info.value.code, info.value.status) == ("problem.not_found", 404)

    assignment = db.session.scalar(
        select(Assignment).where(Assignment.household_id == town.household.id)
    )
    assignment.end_date = assignment.start_date + timedelta(days=30)
    db.session.flush()
    assert _ids(town.helper) == set()


def test_unknown_and_out_of_scope_ids_are_not_found(town, world):
    for problem_id in (world["far"].id, 999_999):
        with pytest.raises(DomainError) as info:
            get_problem(actor=actor_for_user(user=town.town_admin), problem_id=problem_id)
        assert info.value.code == "problem.not_found"
        assert info.value.message == "问题不存在或您无权查看。"


def test_lists_mask_head_names_and_detail_shows_them(town, world):
    actor = actor_for_user(user=town.town_admin)
    items, _ = list_problems(actor=actor, household_id=town.household.id)
    assert items[0]["head_name"] == pii.mask_name(town.household.head_name)
    assert items[0]["head_name"] != town.household.head_name
    detail = get_problem(actor=actor, problem_id=world["water"].id)
    assert detail["household"]["head_name"] == town.household.head_name


def test_mask_name():
    assert pii.mask_name("张三丰") == "张**"
    assert pii.mask_name("李四") == "李*"
    assert pii.mask_name("王") == "王*"
    assert pii.mask_name("") == "" and pii.mask_name(None) is None


# --- overdue and counts ------------------------------------------------------------------------


def test_overdue_is_an_open_state_past_its_deadline_except_awaiting_verification(town, world):
    problem = world["water"]
    past = utcnow() - timedelta(days=1)
    expectations = {
        S.ASSIGNED: True,
        S.RECTIFYING: True,
        S.REOPENED: True,
        S.REPORTED: True,
        S.RECTIFIED: False,
        S.VERIFIED: False,
        S.CLOSED: False,
        S.REJECTED: False,
    }
    admin = town.town_admin
    for status, overdue in expectations.items():
        problem.status, problem.deadline_at = status, past
        db.session.flush()
        assert is_overdue(problem) is overdue, status
        assert (problem.id in _ids(admin, overdue=True)) is overdue, status
        assert (problem.id in _ids(admin, overdue=False)) is not overdue, status
    problem.status, problem.deadline_at = S.ASSIGNED, utcnow() + timedelta(days=1)
    db.session.flush()
    assert not is_overdue(problem)
    assert problem.id not in _ids(admin, overdue=True)


def test_counts_by_office_and_by_village(town, world):
    water, food = world["water"], world["food"]
    water.deadline_at = utcnow() - timedelta(hours=1)
    food.status = S.CLOSED
    food.closed_at = utcnow()
    db.session.flush()

    counts = count_problems(actor=actor_for_user(user=town.town_admin), by="office")
    rows = {r["key"]: r for r in counts["rows"]}
    assert [r["key"] for r in counts["rows"]][:5] == ["mzb", "wjb", "sbs", "ghjs", "nyfw"]
    assert rows["nyfw"]["label"] == "镇农业服务中心"
    assert rows["nyfw"]["by_status"]["assigned"] == 1
    assert (rows["nyfw"]["open"], rows["nyfw"]["overdue"], rows["nyfw"]["total"]) == (1, 1, 1)
    assert (rows["mzb"]["open"], rows["mzb"]["overdue"], rows["mzb"]["total"]) == (0, 0, 1)
    assert rows["mzb"]["by_status"]["closed"] == 1
    assert rows["wjb"]["total"] == 0  # every office has a row for the town
    assert counts["total"] == {
        "by_status": {**dict.fromkeys(S.ALL, 0), "assigned": 1, "closed": 1},
        "open": 1,
        "overdue": 1,
        "total": 2,
    }
    assert [s["status"] for s in counts["statuses"]] == list(S.ALL)

    villages = count_problems(actor=actor_for_user(user=town.town_admin), by="village")
    rows = {r["label"]: r for r in villages["rows"]}
    assert set(rows) == {"石桥村", "观音村"}  # the far village is out of scope
    assert rows["石桥村"]["key"] == str(town.village.id)
    assert (rows["石桥村"]["open"], rows["石桥村"]["overdue"]) == (1, 1)
    assert (rows["观音村"]["open"], rows["观音村"]["total"]) == (0, 1)

    office_counts = count_problems(actor=actor_for_user(user=town.office), by="office")
    assert [r["key"] for r in office_counts["rows"]] == ["nyfw"]
    assert office_counts["total"]["total"] == 1


def test_every_transition_is_audited(town, world):
    problem = world["water"]
    office = actor_for_user(user=town.office)
    transition_problem_for(actor=office, problem_id=problem.id, action="start")
    row = db.session.scalar(
        select(AuditLog).where(
            AuditLog.action == "problem.transition", AuditLog.target_id == str(problem.id)
        )
    )
    assert row.actor_user_id == town.office.id
    assert row.target_type == "problem"
    assert row.detail["action"] == "start"
    assert (row.detail["from_status"], row.detail["to_status"]) == ("assigned", "rectifying")
    assert row.detail["role"] == "office"
