"""Many visits in one ``ingest_visits`` call: each gets what it would get stored alone, in order.

A batch holds at most one submission per helper, household and client_uuid; the others wait
for a later batch. These tests hold ingest to its promise that the outcome (visits, checks,
flags, problems, warning flags, coverage) equals submitting the same list one after another,
and that a failed batch write is re-stored one submission at a time without partial rows.
"""

from __future__ import annotations

import copy
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from backend.api.schemas.visits import VisitCreateSchema
from backend.errors import DomainError, error_body
from backend.extensions import db
from backend.models import (
    HouseholdVisitMonth,
    LocationProposal,
    Photo,
    Problem,
    ProblemEvent,
    RegionVisitMonth,
    Role,
    Visit,
    WarningFlag,
)
from backend.services import visit_ingest
from backend.services.auth import actor_for_user
from backend.services.authz import Actor
from backend.services.cards import ensure_active_card, reissue_card
from backend.services.clock import CHINA_TZ
from backend.services.visit_ingest import Submission, canonical_hash, ingest_visits
from backend.services.visits import submit_visit
from tests.factories import (
    AssignmentFactory,
    HouseholdFactory,
    MemberFactory,
    PhotoFactory,
    VisitFactory,
    user_with_role,
)
from tests.helpers import gps_fix, stored_check_results, visit_body

# Checks of the default survey (form version 1).
CHECKS = 26
HARDSHIP = {
    "hardship": True,
    "hardship_types": ["serious_illness"],
    "hardship_date": "2026-01-05",
    "temporary_relief": "applying",
    "remarks": "户主住院，花费较大",
}
# About 39 km north of the factories' default household location.
FAR_LAT = 30.15
# A good fix for a household with no registered location.
NEW_FIX = {"lat": 29.81, "lon": 106.06, "accuracy": 8.0, "coord": "wgs84"}


# --------------------------------------------------------------------------------------------
# Arrange


def _helper(town):
    """A new helper of ``town.village`` (no household yet)."""
    return user_with_role(Role.HELPER, town.village)


def _household(town, helper=None, **kw):
    """A household in ``town.group`` with a head, assigned to ``helper`` if given."""
    household = HouseholdFactory(region=town.group, village=town.village, **kw)
    MemberFactory(household=household, name=household.head_name)
    if helper is not None:
        AssignmentFactory(helper=helper, household=household)
    db.session.refresh(household)
    return household


def _body(household, user, ended_at, *, minutes=20, gps=True, **answers):
    """A visit body by ``user``: every check passes unless ``answers`` say.

    ``gps``: True for a fix at the household five minutes before the end, False for none, or
    the fix itself.
    """
    fix = gps
    if gps is True:
        fix = gps_fix(household, captured_at=ended_at - timedelta(minutes=5))
    elif gps is False:
        fix = None
    return visit_body(household, user, ended_at=ended_at, minutes=minutes, gps=fix, **answers)


def _data(body):
    """The body as the API hands it to the service."""
    data = VisitCreateSchema().load(copy.deepcopy(body))
    data["client_uuid"] = str(data["client_uuid"])
    return data


def _sub(who, body, received_at=None):
    actor = who if isinstance(who, Actor) else actor_for_user(user=who)
    sub = Submission(actor=actor, data=_data(body))
    if received_at is not None:
        sub.received_at = received_at
    return sub


def _error(sub):
    """The JSON error document the API answers for the submission's error."""
    exc = sub.error
    assert exc is not None, (sub.visit_id, sub.created)
    return error_body(exc.code, exc.message, details=exc.details, fields=exc.fields)


def _count(model, *where):
    return db.session.scalar(select(func.count()).select_from(model).where(*where))


def _slot_ids(body):
    return sorted(
        pid for key, ids in body["answers"].items() if key.startswith("photo_") for pid in ids
    )


@pytest.fixture
def write_sizes(monkeypatch):
    """The number of submissions of each batch write, in order."""
    sizes: list[int] = []
    real = visit_ingest._write

    def spy(works):
        sizes.append(len(works))
        return real(works)

    monkeypatch.setattr(visit_ingest, "_write", spy)
    return sizes


# --------------------------------------------------------------------------------------------
# Comparing a batch with the same submissions one by one


def _run(bodies, received_at, *, together):
    """Store ``bodies`` ((user, body) pairs) in one call or one by one; their submissions."""
    subs = [_sub(user, body, received_at) for user, body in bodies]
    if together:
        ingest_visits(submissions=subs)
        return subs
    for sub in subs:
        try:
            visit, created = submit_visit(
                actor=sub.actor, data=sub.data, received_at=sub.received_at
            )
        except DomainError as exc:
            sub.error = exc
        else:
            sub.visit_id, sub.created = visit.id, created
    return subs


def _snapshot(subs):
    """Everything ingest wrote, with visit ids replaced by the submission that made them."""
    refs: dict[int, int] = {}
    for index, sub in enumerate(subs):
        if sub.visit_id is not None and sub.created:
            refs[sub.visit_id] = index

    def ref(visit_id):
        if visit_id is None:
            return None
        return refs.get(visit_id, "stored before")

    def flag_body(flag):
        flag = copy.deepcopy(flag)
        for leg in flag.get("detail", {}).get("legs", []):
            leg["other_visit_id"] = ref(leg["other_visit_id"])
        return flag

    outcomes = []
    for sub in subs:
        if sub.error is not None:
            outcomes.append(("error", _error(sub)))
            continue
        visit = db.session.get(Visit, sub.visit_id)
        checks = [
            (c["check_key"], c["passed"], c["applicable"], c["evidence"])
            for c in visit.check_results
        ]
        photos = db.session.scalars(
            select(Photo.id).where(Photo.visit_id == visit.id).order_by(Photo.id)
        ).all()
        outcomes.append(
            (
                "created" if sub.created else "duplicate",
                ref(visit.id),
                [flag_body(f) for f in visit.flags],
                visit.flag_count,
                visit.failed_check_count,
                None if visit.distance_m is None else round(visit.distance_m, 3),
                [tuple(c) for c in checks],
                list(photos),
            )
        )
    problems = sorted(
        (
            p.household_id,
            p.dedup_key,
            p.status,
            ref(p.source_visit_id),
            ref(p.verification_visit_id),
            p.reopen_count,
            tuple(
                db.session.scalars(
                    select(ProblemEvent.action)
                    .where(ProblemEvent.problem_id == p.id)
                    .order_by(ProblemEvent.id)
                )
            ),
        )
        for p in db.session.scalars(select(Problem))
    )
    flags = sorted(
        (
            f.household_id,
            f.reason,
            f.status,
            ref(f.source_visit_id),
            tuple(ref(e["visit_id"]) for e in f.detail["evidence"]),
            f.detail.get("evidence_count", len(f.detail["evidence"])),
        )
        for f in db.session.scalars(select(WarningFlag))
    )
    months = HouseholdVisitMonth.__table__
    coverage = sorted(
        tuple(
            ref(value) if name.startswith("last_") and name.endswith("_id") else value
            for name, value in row._mapping.items()
        )
        for row in db.session.execute(
            select(*[c for c in months.columns if c.name != "updated_at"])
        )
    )
    regions = sorted(
        tuple(row) for row in db.session.execute(select(RegionVisitMonth.__table__)) if any(row[3:])
    )
    proposals = sorted(
        (p.household_id, ref(p.visit_id), p.status)
        for p in db.session.scalars(select(LocationProposal))
    )
    return {
        "outcomes": outcomes,
        "problems": problems,
        "warning_flags": flags,
        "coverage": coverage,
        "regions": regions,
        "proposals": proposals,
        "visits": _count(Visit),
        "checks": stored_check_results(),
    }


def _both_ways(bodies, received_at):
    """Snapshots after storing ``bodies`` in one call and one by one, from the same state."""
    snapshots = {}
    for together in (True, False):
        savepoint = db.session.begin_nested()
        try:
            subs = _run(bodies, received_at, together=together)
            snapshots[together] = _snapshot(subs)
        finally:
            savepoint.rollback()
    return snapshots[True], snapshots[False]


# --------------------------------------------------------------------------------------------
# One call, many outcomes


def test_a_mixed_batch_gives_each_submission_its_own_outcome(town):
    now = datetime.now(UTC)
    end = now - timedelta(minutes=30)
    h_b = _household(town, town.helper_b)
    helper_c, helper_d, helper_e = _helper(town), _helper(town), _helper(town)
    h_c = _household(town, helper_c)
    h_e = _household(town, helper_e)
    h_stored = _household(town)
    stored_body = _body(h_stored, town.village_cadre, end - timedelta(hours=2))
    stored, created = submit_visit(
        actor=actor_for_user(user=town.village_cadre), data=_data(stored_body)
    )
    assert created
    h_card = _household(town, helper_c)
    revoked = ensure_active_card(household=h_card).token
    reissue_card(actor=actor_for_user(user=town.town_admin), household_id=h_card.id)

    new = [
        (town.helper, _body(town.household, town.helper, end)),
        (town.helper_b, _body(h_b, town.helper_b, end)),
        (town.other_helper, _body(town.other_household, town.other_helper, end)),
        (town.far_helper, _body(town.far_household, town.far_helper, end)),
    ]
    conflicting = copy.deepcopy(stored_body)
    conflicting["answers"]["remarks"] = "改了内容"
    bad_answers = _body(h_c, helper_c, end, income_per_capita="很多")
    bad_version = dict(_body(h_e, helper_e, end), form_version=99)
    by_revoked = dict(_body(h_card, helper_c, end), household_id=None, card_token=revoked)
    by_unknown = dict(
        _body(h_card, helper_c, end), household_id=None, card_token="NoSuchCardToken0000000001"
    )
    subs = [_sub(user, body) for user, body in new] + [
        _sub(town.village_cadre, stored_body),  # identical retry
        _sub(town.town_admin, conflicting),
        _sub(helper_c, bad_answers),
        _sub(helper_d, _body(h_b, helper_d, end)),  # a helper of the village, not h_b's
        _sub(helper_e, bad_version),
        _sub(helper_c, by_revoked),
        _sub(helper_c, by_unknown),
        _sub(town.helper, _body(town.far_household, town.helper, end)),  # out of their scope
        _sub(town.helper_b, dict(_body(h_b, town.helper_b, end), household_id=987654321)),
        _sub(Actor.anonymous(), _body(h_e, helper_e, end)),
    ]
    photo_owners = [_slot_ids(body) for _user, body in new]

    assert ingest_visits(submissions=subs) is subs

    for sub, (user, body), photos in zip(subs[:4], new, photo_owners, strict=True):
        assert sub.error is None, _error(sub)
        assert sub.created is True
        assert sub.visit.id == sub.visit_id
        assert (sub.visit.household_id, sub.visit.helper_id) == (body["household_id"], user.id)
        assert len(sub.visit.check_results) == CHECKS
        assert sub.visit.photo_ids == photos
    assert len({sub.visit_id for sub in subs[:4]}) == 4
    retry = subs[4]
    assert (retry.error, retry.created, retry.visit_id) == (None, False, stored.id)
    errors = [_error(sub) for sub in subs[5:]]
    assert [sub.error.status for sub in subs[5:]] == [409, 422, 403, 422, 410, 404, 404, 404, 401]
    assert errors == [
        {
            "error": {
                "code": "visit.conflict",
                "message": "该走访编号已提交过不同的内容，请勿重复使用编号。",
                "details": {"visit_id": stored.id},
            }
        },
        {
            "error": {
                "code": "visit.invalid_answers",
                "message": "问卷填写有误，请按提示修改。",
                "fields": {"answers": {"income_per_capita": ["应为数字。"]}},
            }
        },
        {
            "error": {
                "code": "visit.not_assigned",
                "message": "该农户不是您的帮扶对象，不能提交走访。",
            }
        },
        {
            "error": {
                "code": "visit.form_version_invalid",
                "message": "问卷版本不存在或已停用，请更新问卷后重新填写。",
                "details": {"version": 99, "form_id": None},
            }
        },
        {"error": {"code": "card.replaced", "message": "此二维码已作废，请使用新换发的明白卡。"}},
        {"error": {"code": "card.not_found", "message": "二维码无效，请核对明白卡。"}},
        {"error": {"code": "household.not_found", "message": "农户不存在或不在您的管辖范围内。"}},
        {"error": {"code": "household.not_found", "message": "农户不存在或不在您的管辖范围内。"}},
        {"error": {"code": "auth.required", "message": "请先登录。"}},
    ]
    for sub in subs[5:]:
        assert (sub.visit, sub.visit_id, sub.created) == (None, None, False)

    # Exactly the created visits were stored, each with all its checks.
    created_ids = {sub.visit_id for sub in subs[:4]}
    assert set(db.session.scalars(select(Visit.id))) == created_ids | {stored.id}
    for visit_id in created_ids | {stored.id}:
        assert len(db.session.get(Visit, visit_id).check_results) == CHECKS
    assert stored_check_results() == CHECKS * 5
    # The refused submissions' photos are still free (the conflicting one's are the stored
    # visit's).
    assert db.session.get(Photo, _slot_ids(stored_body)[0]).visit_id == stored.id
    refused_photos = [
        pid for sub in subs[6:] for pid in _slot_ids({"answers": sub.data["answers"]})
    ]
    assert refused_photos
    assert _count(Photo, Photo.id.in_(refused_photos), Photo.visit_id.is_not(None)) == 0
    # Only the created visits' households are covered.
    assert set(db.session.scalars(select(HouseholdVisitMonth.household_id))) == {
        town.household.id,
        h_b.id,
        town.other_household.id,
        town.far_household.id,
        h_stored.id,
    }


def test_the_same_client_uuid_twice_in_one_call(town):
    end = datetime.now(UTC) - timedelta(minutes=30)
    body = _body(town.household, town.helper, end)
    changed = copy.deepcopy(body)
    changed["answers"]["remarks"] = "第二次内容不同"
    subs = [_sub(town.helper, body), _sub(town.helper, body), _sub(town.helper, changed)]

    ingest_visits(submissions=subs)

    first, again, conflicting = subs
    assert (first.error, first.created) == (None, True)
    assert (again.error, again.created, again.visit_id) == (None, False, first.visit_id)
    assert _error(conflicting) == {
        "error": {
            "code": "visit.conflict",
            "message": "该走访编号已提交过不同的内容，请勿重复使用编号。",
            "details": {"visit_id": first.visit_id},
        }
    }
    assert _count(Visit) == 1
    assert stored_check_results() == CHECKS


# --------------------------------------------------------------------------------------------
# The same as one by one


def test_two_visits_of_one_household_act_as_if_one_after_the_other(town, write_sizes):
    # The assigned helper and the village cadre (who may visit any household of the village)
    # both find the water unsafe and the family in sudden hardship.
    now = datetime.now(UTC)
    # Yesterday morning in China: both visits in one China month, whenever this runs.
    yesterday = (now.astimezone(CHINA_TZ) - timedelta(days=1)).date()
    morning = datetime(yesterday.year, yesterday.month, yesterday.day, 9, tzinfo=CHINA_TZ)
    household = town.household
    bodies = [
        (
            town.helper,
            _body(household, town.helper, morning, water_quality=False, **HARDSHIP),
        ),
        (
            town.village_cadre,
            _body(
                household,
                town.village_cadre,
                morning + timedelta(hours=2),
                water_quality=False,
                **HARDSHIP,
            ),
        ),
    ]

    batch, one_by_one = _both_ways(bodies, now)

    assert batch == one_by_one
    # The household's second visit waited for the first: two writes of one visit each.
    assert write_sizes == [1, 1, 1, 1]
    assert [o[0] for o in batch["outcomes"]] == ["created", "created"]
    assert [o[4] for o in batch["outcomes"]] == [1, 1]  # failed_check_count
    # One problem, opened by the first visit; the second found it open.
    assert [p[:5] for p in batch["problems"]] == [
        (household.id, "check:water_quality", "assigned", 0, None)
    ]
    # One pending flag, raised by the first visit, with the evidence of both.
    assert batch["warning_flags"] == [(household.id, "sudden_hardship", "pending", 0, (0, 1), 2)]
    # One coverage row: the helper's visit counts, the cadre's is someone else's.
    [row] = batch["coverage"]
    names = [c.name for c in HouseholdVisitMonth.__table__.columns if c.name != "updated_at"]
    row = dict(zip(names, row, strict=True))
    assert (row["household_id"], row["counted_visits"], row["other_visits"]) == (
        household.id,
        1,
        1,
    )
    assert (row["pending_visits"], row["flagged_visits"], row["last_counted_visit_id"]) == (
        0,
        0,
        0,
    )


@pytest.mark.parametrize("order", ["in_time_order", "later_one_first"])
def test_impossible_travel_of_one_helper_is_flagged_as_one_by_one(town, order, write_sizes):
    now = datetime.now(UTC)
    far = _household(town, town.helper, lat=FAR_LAT)
    first = _body(town.household, town.helper, now - timedelta(minutes=60))
    # 39 km in about ten minutes.
    second = _body(far, town.helper, now - timedelta(minutes=45), minutes=10)
    bodies = [(town.helper, first), (town.helper, second)]
    if order == "later_one_first":
        bodies.reverse()

    batch, one_by_one = _both_ways(bodies, now)

    assert batch == one_by_one
    assert write_sizes == [1, 1, 1, 1]  # one helper: one visit per batch
    codes = [[f["code"] for f in outcome[2]] for outcome in batch["outcomes"]]
    assert codes == [[], ["travel.impossible"]]
    [flag] = batch["outcomes"][1][2]
    [leg] = flag["detail"]["legs"]
    # The visit stored first is the other end of the leg (its index in the list).
    assert leg["leg"] == ("previous" if order == "in_time_order" else "next")
    assert leg["other_visit_id"] == 0
    assert leg["distance_m"] > 38_000 and leg["speed_kmh"] > 120


def test_each_helper_of_a_batch_finds_their_own_neighbouring_visits(town, write_sizes):
    # One neighbour query serves the whole batch: each visit must get its own helper's
    # visits before and after it, not another submission's.
    now = datetime.now(UTC)
    t = now - timedelta(hours=8)
    helpers = [town.helper, town.helper_b, town.other_helper, town.far_helper]
    homes = [town.household, _household(town, town.helper_b), town.other_household]
    homes.append(town.far_household)
    earlier = []
    for n, helper in enumerate(helpers):
        far = _household(town, helper, lat=FAR_LAT + 0.01 * n)
        body = _body(far, helper, t + timedelta(minutes=n), minutes=5)
        visit, created = submit_visit(actor=actor_for_user(user=helper), data=_data(body))
        assert created
        earlier.append(visit.id)
    bodies = [
        # Ten minutes after their stored visit, 39 km away: the previous leg.
        (helpers[0], _body(homes[0], helpers[0], t + timedelta(minutes=15), minutes=5)),
        # Ended six minutes before their stored visit began: the next leg.
        (helpers[1], _body(homes[1], helpers[1], t - timedelta(minutes=10), minutes=5)),
        # Five hours later: a possible journey.
        (helpers[2], _body(homes[2], helpers[2], t + timedelta(hours=5))),
        # The far helper's own village is far from FAR_LAT too, but hours apart.
        (helpers[3], _body(homes[3], helpers[3], t - timedelta(hours=5))),
    ]
    subs = [_sub(user, body, now) for user, body in bodies]
    write_sizes.clear()

    ingest_visits(submissions=subs)

    assert write_sizes == [4]
    legs = [
        [(leg["leg"], leg["other_visit_id"]) for f in s.visit.flags for leg in f["detail"]["legs"]]
        for s in subs
    ]
    assert legs == [[("previous", earlier[0])], [("next", earlier[1])], [], []]
    assert [[f["code"] for f in s.visit.flags] for s in subs] == [
        ["travel.impossible"],
        ["travel.impossible"],
        [],
        [],
    ]


def test_a_batch_equals_the_same_submissions_one_by_one(town, write_sizes):
    now = datetime.now(UTC)
    t = now - timedelta(hours=4)
    h_b = _household(town, town.helper_b)
    h_far = _household(town, town.helper, lat=FAR_LAT)
    h_new = _household(town, town.other_helper, lat=None, lon=None)
    h_monitored = _household(town, town.helper_b, is_monitored=True)
    bodies = [
        # The helper finds the water unsafe: a problem is opened.
        (town.helper, _body(town.household, town.helper, t, water_quality=False)),
        # Sudden hardship at h_b: a warning flag.
        (town.helper_b, _body(h_b, town.helper_b, t + timedelta(minutes=5), **HARDSHIP)),
        # The cadre at the same household, water still unsafe, income below the line.
        (
            town.village_cadre,
            _body(
                town.household,
                town.village_cadre,
                t + timedelta(minutes=10),
                water_quality=False,
                income_per_capita=3200,
            ),
        ),
        # The helper 39 km away ten minutes after their first visit: impossible travel.
        (town.helper, _body(h_far, town.helper, t + timedelta(minutes=15), minutes=10)),
        # A household without a location: the fix is proposed; a short visit is flagged.
        (
            town.other_helper,
            _body(h_new, town.other_helper, t + timedelta(minutes=5), minutes=2, gps=NEW_FIX),
        ),
        # The town admin adds hardship evidence at h_b.
        (town.town_admin, _body(h_b, town.town_admin, t + timedelta(minutes=30), **HARDSHIP)),
        # The helper back at the first household, water now safe: verification is offered.
        (town.helper, _body(town.household, town.helper, t + timedelta(hours=2))),
        # h_b's helper, without GPS, at a monitored household in hardship.
        (
            town.helper_b,
            _body(h_monitored, town.helper_b, t + timedelta(hours=1), gps=False, **HARDSHIP),
        ),
        # A bad one in the middle changes nothing for the others.
        (town.helper_b, _body(h_b, town.helper_b, t + timedelta(hours=2), water_fetch_minutes=-5)),
    ]

    batch, one_by_one = _both_ways(bodies, now)

    assert batch == one_by_one
    # Batching happened: the first write carried several visits.
    assert write_sizes[0] > 1 and max(write_sizes) > 1
    kinds = [o[0] for o in batch["outcomes"]]
    assert kinds == ["created"] * 8 + ["error"]
    assert batch["outcomes"][8][1]["error"]["code"] == "visit.invalid_answers"
    flags = [[f["code"] for f in o[2]] for o in batch["outcomes"][:8]]
    assert flags[3] == ["travel.impossible"]
    assert "visit.too_short" in flags[4]
    assert flags[7] == ["gps.missing"]
    assert [o[4] for o in batch["outcomes"][:8]] == [1, 0, 2, 0, 0, 0, 0, 0]
    # Two problems at the first household, each offered for verification by the helper's
    # later visit on which both checks pass.
    offered = ("open", "verification_offered")
    assert batch["problems"] == [
        (town.household.id, "check:income_above_line", "assigned", 2, 6, 0, offered),
        (town.household.id, "check:water_quality", "assigned", 0, 6, 0, offered),
    ]
    assert sorted(f[:6] for f in batch["warning_flags"]) == sorted(
        [
            (town.household.id, "income_below_line", "pending", 2, (2,), 1),
            (h_b.id, "sudden_hardship", "pending", 1, (1, 5), 2),
        ]
    )
    assert batch["proposals"] == [(h_new.id, 4, "pending")]
    assert batch["visits"] == 8 and batch["checks"] == 8 * CHECKS


def test_photo_reuse_between_helpers_is_flagged_as_one_by_one(town):
    # Photos uploaded without a household are linked to one when a visit claims them, and
    # reuse is judged against photos already linked to another household. The helper's second
    # visit ends the first batch (a batch is a prefix of the list), so helper_b's visit, after
    # it in the list, is judged after it too: the duplicate is found on helper_b's visit.
    now = datetime.now(UTC)
    h_a2 = _household(town, town.helper)
    h_b = _household(town, town.helper_b)
    sha = uuid.uuid4().hex * 2

    def body(household, user, ended_at, **photo):
        result = _body(household, user, ended_at)
        for slot, kwargs in photo.items():
            result["answers"][slot] = [
                PhotoFactory(uploader_id=user.id, household_id=None, **kwargs).id
            ]
        return result

    bodies = [
        (town.helper, body(town.household, town.helper, now - timedelta(hours=3))),
        (
            town.helper,
            body(h_a2, town.helper, now - timedelta(hours=2), photo_house={"sha256": sha}),
        ),
        (
            town.helper_b,
            body(h_b, town.helper_b, now - timedelta(hours=1), photo_house={"sha256": sha}),
        ),
    ]

    batch, one_by_one = _both_ways(bodies, now)

    assert [[f["code"] for f in o[2]] for o in one_by_one["outcomes"]] == [
        [],
        [],
        ["photo.duplicate"],
    ]
    assert batch == one_by_one


# --------------------------------------------------------------------------------------------
# A batch whose writes fail


def test_a_photo_claimed_twice_fails_only_its_submission(town, write_sizes):
    end = datetime.now(UTC) - timedelta(minutes=30)
    h_b = _household(town, town.helper_b)
    mine = _body(town.household, town.helper, end)
    taken = mine["answers"]["photo_house"][0]
    # helper_b names the helper's photo by id: only the claim, in the write, can refuse it.
    theirs = _body(h_b, town.helper_b, end, water_quality=False, **HARDSHIP)
    theirs["answers"]["photo_house"] = [taken]
    own_photos = [*theirs["answers"]["photo_water"], *theirs["answers"]["photo_helper_with_head"]]
    other = _body(town.other_household, town.other_helper, end)
    subs = [_sub(town.helper, mine), _sub(town.helper_b, theirs), _sub(town.other_helper, other)]

    ingest_visits(submissions=subs)

    # The batch's write failed as a whole and each was stored again on its own.
    assert write_sizes == [3, 1, 1, 1]
    first, refused, third = subs
    assert (first.error, first.created, third.error, third.created) == (None, True, None, True)
    assert refused.error.status == 422
    assert _error(refused) == {
        "error": {
            "code": "visit.photo_invalid",
            "message": f"以下照片不存在、不是您上传的或已用于其他走访：{taken}。"
            "请重新上传这些照片后再提交。",
            "details": {"photo_ids": [taken]},
        }
    }
    # Not even an object of the rolled-back row is left on it.
    assert (refused.visit, refused.visit_id, refused.created) == (None, None, False)
    assert set(db.session.scalars(select(Visit.id))) == {first.visit_id, third.visit_id}
    assert stored_check_results() == 2 * CHECKS
    assert db.session.get(Photo, taken).visit_id == first.visit_id
    assert _count(Photo, Photo.id.in_(own_photos), Photo.visit_id.is_not(None)) == 0
    # Nothing of the refused visit: no problem, no warning flag, no coverage.
    assert _count(Problem) == 0
    assert _count(WarningFlag) == 0
    assert set(db.session.scalars(select(HouseholdVisitMonth.household_id))) == {
        town.household.id,
        town.other_household.id,
    }


def test_a_rolled_back_batch_leaves_no_evidence_on_a_pending_flag(town, write_sizes, monkeypatch):
    end = datetime.now(UTC) - timedelta(minutes=30)
    earlier = _sub(
        town.helper, _body(town.household, town.helper, end - timedelta(days=2), **HARDSHIP)
    )
    ingest_visits(submissions=[earlier])
    [flag] = db.session.scalars(select(WarningFlag)).all()
    assert len(flag.detail["evidence"]) == 1
    h_b = _household(town, town.helper_b)
    subs = [
        _sub(town.helper, _body(town.household, town.helper, end, **HARDSHIP)),
        _sub(town.helper_b, _body(h_b, town.helper_b, end)),
    ]
    real = visit_ingest.record_visits
    failed = []

    def fail_once(*, entries):
        # The last write of the batch, after the flag's evidence was appended, fails once.
        if not failed:
            failed.append(len(entries))
            raise IntegrityError("INSERT INTO household_visit_months", {}, Exception("lost"))
        return real(entries=entries)

    monkeypatch.setattr(visit_ingest, "record_visits", fail_once)

    ingest_visits(submissions=subs)

    # The batch was rolled back and each submission stored again on its own.
    assert failed == [2] and write_sizes == [1, 2, 1, 1]
    assert [(s.error, s.created) for s in subs] == [(None, True), (None, True)]
    db.session.expire_all()
    detail = db.session.get(WarningFlag, flag.id).detail
    assert [e["visit_id"] for e in detail["evidence"]] == [earlier.visit_id, subs[0].visit_id]
    assert detail["evidence_count"] == 2


@pytest.mark.parametrize("racer", ["identical", "different"])
def test_a_concurrent_retry_that_wins_the_race_is_replayed(town, write_sizes, monkeypatch, racer):
    end = datetime.now(UTC) - timedelta(minutes=30)
    h_b = _household(town, town.helper_b)
    subs = [
        _sub(town.helper, _body(town.household, town.helper, end)),
        _sub(town.helper_b, _body(h_b, town.helper_b, end)),
        _sub(town.other_helper, _body(town.other_household, town.other_helper, end)),
    ]
    late = subs[2]
    real = visit_ingest._neighbours
    raced = []

    def neighbours_then_race(works):
        # Validated and about to write: another request stores the same client_uuid now.
        if not raced:
            raced.append(
                VisitFactory(
                    client_uuid=late.data["client_uuid"],
                    body_hash=canonical_hash(late.data) if racer == "identical" else "1" * 64,
                    household=town.other_household,
                    helper=town.other_helper,
                )
            )
        return real(works)

    monkeypatch.setattr(visit_ingest, "_neighbours", neighbours_then_race)

    ingest_visits(submissions=subs)

    assert write_sizes == [3, 1, 1]  # the last one, alone, finds the winner before writing
    [winner] = raced
    assert [(s.error, s.created) for s in subs[:2]] == [(None, True), (None, True)]
    assert late.visit is None
    if racer == "identical":
        assert (late.error, late.created, late.visit_id) == (None, False, winner.id)
    else:
        assert _error(late) == {
            "error": {
                "code": "visit.conflict",
                "message": "该走访编号已提交过不同的内容，请勿重复使用编号。",
                "details": {"visit_id": winner.id},
            }
        }
    assert set(db.session.scalars(select(Visit.id))) == {s.visit_id for s in subs[:2]} | {winner.id}
    assert stored_check_results() == 2 * CHECKS
    assert set(db.session.scalars(select(HouseholdVisitMonth.household_id))) == {
        town.household.id,
        h_b.id,
    }


# --------------------------------------------------------------------------------------------
# Through HTTP


def test_sync_answers_a_mixed_list_item_by_item_in_order(client, town, login):
    headers = login(town.helper)
    end = datetime.now(UTC) - timedelta(minutes=30)
    h2 = _household(town, town.helper)
    h_b = _household(town, town.helper_b)
    stored = _body(town.household, town.helper, end - timedelta(hours=3))
    resp = client.post("/api/v1/visits", json=stored, headers=headers)
    assert resp.status_code == 201, resp.json
    stored_id = resp.json["id"]
    revoked = ensure_active_card(household=h2).token
    reissue_card(actor=actor_for_user(user=town.town_admin), household_id=h2.id)
    fresh = _body(town.household, town.helper, end - timedelta(hours=2), water_quality=False)
    conflicting = copy.deepcopy(stored)
    conflicting["answers"]["remarks"] = "不同"
    bad_answers = _body(h2, town.helper, end - timedelta(hours=1), income_per_capita="很多")
    not_mine = _body(h_b, town.helper, end - timedelta(minutes=50))
    by_revoked = dict(_body(h2, town.helper, end), household_id=None, card_token=revoked)
    by_unknown = dict(
        _body(h2, town.helper, end), household_id=None, card_token="NoSuchCardToken0000000002"
    )
    malformed_uuid = str(uuid.uuid4())
    malformed = {"client_uuid": malformed_uuid, "answers": "x"}
    second = _body(h2, town.helper, end - timedelta(minutes=10))
    items = [
        fresh,
        stored,
        conflicting,
        bad_answers,
        not_mine,
        by_revoked,
        by_unknown,
        malformed,
        second,
        fresh,
    ]

    resp = client.post("/api/v1/sync/visits", json={"visits": items}, headers=headers)

    assert resp.status_code == 200, resp.json
    results = resp.json["results"]
    assert [r["client_uuid"] for r in results] == [
        *[item["client_uuid"] for item in items[:7]],
        malformed_uuid,
        second["client_uuid"],
        fresh["client_uuid"],
    ]
    assert [r["status"] for r in results] == [
        "created",
        "duplicate",
        "conflict",
        "invalid",
        "invalid",
        "invalid",
        "invalid",
        "invalid",
        "created",
        "duplicate",
    ]
    fresh_id, second_id = results[0]["visit_id"], results[8]["visit_id"]
    assert results[1]["visit_id"] == stored_id and results[9]["visit_id"] == fresh_id
    assert [r["error"] for r in results[2:8]] == [
        {
            "code": "visit.conflict",
            "message": "该走访编号已提交过不同的内容，请勿重复使用编号。",
            "details": {"visit_id": stored_id},
        },
        {
            "code": "visit.invalid_answers",
            "message": "问卷填写有误，请按提示修改。",
            "fields": {"answers": {"income_per_capita": ["应为数字。"]}},
        },
        {"code": "visit.not_assigned", "message": "该农户不是您的帮扶对象，不能提交走访。"},
        {"code": "card.replaced", "message": "此二维码已作废，请使用新换发的明白卡。"},
        {"code": "card.not_found", "message": "二维码无效，请核对明白卡。"},
        {
            "code": "request.validation",
            "message": "提交的数据有误，请检查后重试。",
            "fields": results[7]["error"]["fields"],
        },
    ]
    assert set(results[7]["error"]["fields"]["json"]) >= {"answers", "form_version"}
    assert set(db.session.scalars(select(Visit.id))) == {stored_id, fresh_id, second_id}
    assert stored_check_results() == 3 * CHECKS
    shown = client.get(f"/api/v1/visits/{fresh_id}", headers=headers)
    assert shown.status_code == 200
    assert shown.json["failed_check_count"] == 1
    assert [c["check_key"] for c in shown.json["checks"] if not c["passed"]] == ["water_quality"]
