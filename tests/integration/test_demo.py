"""The synthetic demo town: shape, invariants, guards, the CLI and a real login."""

from __future__ import annotations

from collections import Counter
from datetime import date

import pytest
from sqlalchemy import func, select

from backend.extensions import db
from backend.models import (
    Assignment,
    AuditLog,
    CardStatus,
    Household,
    HouseholdCard,
    Member,
    Region,
    Role,
    RoleGrant,
    User,
)
from backend.models.office import STANDARD_OFFICES
from backend.services.auth import verify_password
from backend.services.demo import (
    CENTER_LAT,
    CENTER_LON,
    DEMO_PASSWORD,
    DemoError,
    build_demo_town,
    demo_logins,
)
from backend.services.idnumber import is_valid_id_number
from tests.factories import UserFactory

AS_OF = date(2026, 3, 1)


def _age(born: date) -> int:
    return AS_OF.year - born.year - ((AS_OF.month, AS_OF.day) < (born.month, born.day))


def _helper_loads() -> list[int]:
    rows = db.session.execute(
        select(Assignment.helper_id, func.count())
        .where(Assignment.end_date.is_(None))
        .group_by(Assignment.helper_id)
    ).all()
    return [n for _, n in rows]


def _assert_town_invariants(*, households: int, poor: int, villages: int) -> None:
    assert db.session.scalar(select(func.count()).select_from(Household)) == households
    poor_count = db.session.scalar(
        select(func.count()).where(Household.category == "registered_poor")
    )
    assert poor_count == poor
    village_count = db.session.scalar(select(func.count()).where(Region.level == "village"))
    assert village_count == villages
    for village_id, groups in db.session.execute(
        select(Region.parent_id, func.count())
        .where(Region.level == "group")
        .group_by(Region.parent_id)
    ).all():
        assert 3 <= groups <= 6, village_id

    # Every household: one active card and exactly one open assignment.
    cards = Counter(
        db.session.scalars(
            select(HouseholdCard.household_id).where(HouseholdCard.status == CardStatus.ACTIVE)
        ).all()
    )
    assert len(cards) == households and set(cards.values()) == {1}
    open_assignments = Counter(
        db.session.scalars(
            select(Assignment.household_id).where(Assignment.end_date.is_(None))
        ).all()
    )
    assert len(open_assignments) == households and set(open_assignments.values()) == {1}
    loads = _helper_loads()
    assert all(5 <= n <= 10 for n in loads), sorted(loads)
    helpers = db.session.scalar(select(func.count()).where(RoleGrant.role == Role.HELPER.value))
    assert helpers == len(loads)

    # Helpers only hold households of their own village.
    mismatched = db.session.scalar(
        select(func.count())
        .select_from(Assignment)
        .join(Household, Household.id == Assignment.household_id)
        .join(RoleGrant, RoleGrant.user_id == Assignment.helper_id)
        .where(RoleGrant.region_id != Household.village_id)
    )
    assert mismatched == 0

    id_numbers = db.session.scalars(select(Member.id_number)).all()
    assert all(is_valid_id_number(n) for n in id_numbers)
    assert all(n.startswith("500224") for n in id_numbers)
    assert len(set(id_numbers)) == len(id_numbers)

    located = db.session.execute(
        select(Household.lat, Household.lon).where(Household.lat.is_not(None))
    ).all()
    assert 0 < len(located) < households
    for lat, lon in located:
        assert abs(lat - CENTER_LAT) <= 0.1 and abs(lon - CENTER_LON) <= 0.1


def test_small_town_has_the_expected_shape(app):
    summary = build_demo_town(households=150, poor=13, seed=7, as_of=AS_OF)
    assert summary.households == 150 and summary.poor == 13 and summary.villages == 8
    assert summary.poor_lifted + summary.poor_not_lifted == 13
    assert summary.poor_not_lifted >= 1
    _assert_town_invariants(households=150, poor=13, villages=8)

    members = db.session.scalars(select(Member)).all()
    sizes = db.session.scalars(
        select(func.count()).select_from(Member).group_by(Member.household_id)
    ).all()
    assert len(sizes) == 150 and set(sizes) <= {1, 2, 3, 4, 5, 6}
    assert all("测" in m.name for m in members)
    phones = db.session.scalars(select(Household.phone).where(Household.phone.is_not(None)))
    assert all(p.startswith("199") and len(p) == 11 for p in phones)
    for m in members:
        if 6 <= _age(m.birth_date) <= 15:
            assert m.schooling in {
                "在读小学",
                "在读初中",
                "在读高中",
                "辍学",
                "因病休学",
                "送教上门",
            }
        assert m.birth_date <= AS_OF

    demo_row = db.session.scalar(select(AuditLog).where(AuditLog.action == "demo.loaded"))
    assert demo_row.detail["households"] == 150


def test_build_is_deterministic_for_a_seed(app):
    def snapshot():
        rows = db.session.execute(
            select(Household.number, Household.head_name, Household.category, Household.lat)
        ).all()
        ids = db.session.scalars(select(Member.id_number).order_by(Member.id_number)).all()
        return sorted(rows, key=lambda r: r[0]), ids

    nested = db.session.begin_nested()
    build_demo_town(households=120, poor=10, villages=4, seed=42, as_of=AS_OF)
    first = snapshot()
    nested.rollback()
    assert db.session.scalar(select(func.count()).select_from(Household)) == 0

    build_demo_town(households=120, poor=10, villages=4, seed=42, as_of=AS_OF)
    assert snapshot() == first


def test_refuses_a_non_empty_database(app, town):
    with pytest.raises(DemoError) as info:
        build_demo_town(households=150, poor=13, seed=1)
    assert "--force" in str(info.value)
    # Even with --force it never adds a second set of villages under 土桥镇.
    with pytest.raises(DemoError):
        build_demo_town(households=150, poor=13, seed=1, force=True)


def test_force_loads_next_to_unrelated_data(app):
    UserFactory(username="someone")
    with pytest.raises(DemoError):
        build_demo_town(households=150, poor=13, seed=1)
    summary = build_demo_town(households=150, poor=13, seed=1, force=True)
    assert summary.households == 150
    with pytest.raises(DemoError) as info:
        build_demo_town(households=150, poor=13, seed=2, force=True)
    assert "已存在" in str(info.value)


def test_rejects_impossible_sizes(app):
    with pytest.raises(DemoError):
        build_demo_town(households=20, poor=2)
    with pytest.raises(DemoError):
        build_demo_town(households=150, poor=151)
    with pytest.raises(DemoError):
        build_demo_town(households=150, poor=10, villages=0)


def test_every_demo_login_signs_in(app, client):
    build_demo_town(households=150, poor=13, seed=3)
    logins = demo_logins()
    users = {
        u.username: u
        for u in db.session.scalars(
            select(User).where(User.username.in_([name for _, name, _ in logins]))
        )
    }
    assert set(users) == {name for _, name, _ in logins}
    # Every demo account shares one Argon2 hash of the demo password: check it once.
    assert len({u.password_hash for u in users.values()}) == 1
    assert verify_password(password_hash=users["town_admin"].password_hash, password=DEMO_PASSWORD)
    assert all(u.is_active for u in users.values())
    for username in ("town_admin", "helper_01_01"):
        resp = client.post(
            "/api/v1/auth/login", json={"username": username, "password": DEMO_PASSWORD}
        )
        assert resp.status_code == 200, resp.json
        assert resp.json["token"].startswith("hhq_")
    offices = db.session.scalars(
        select(RoleGrant.office_code).where(RoleGrant.role == Role.OFFICE.value)
    ).all()
    assert sorted(offices) == sorted(code for code, _ in STANDARD_OFFICES)
    resp = client.post("/api/v1/auth/login", json={"username": "town_admin", "password": "x"})
    assert resp.status_code == 401
    assert resp.json["error"]["code"] == "auth.bad_credentials"


def test_cli_loads_and_skips_when_not_empty(app):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["hhq", "demo", "--households", "150", "--poor", "13"])
    assert result.exit_code == 0, result.output
    assert "150 households" in result.output
    assert "town_admin" in result.output and DEMO_PASSWORD in result.output

    skipped = runner.invoke(args=["hhq", "demo", "--if-empty"])
    assert skipped.exit_code == 0
    assert "not loaded" in skipped.output
    refused = runner.invoke(args=["hhq", "demo"])
    assert refused.exit_code == 1
    assert "--force" in refused.output
    assert db.session.scalar(select(func.count()).select_from(Household)) == 150


def test_full_size_town(app):
    summary = build_demo_town(seed=20200301, as_of=AS_OF)
    _assert_town_invariants(households=1500, poor=131, villages=8)
    assert summary.helpers >= 150
    assert 0 < summary.poor_not_lifted < summary.poor_lifted

    monitor_types = set(
        db.session.scalars(select(Household.monitor_type).where(Household.is_monitored)).all()
    )
    assert monitor_types == {"unstable", "edge", "sudden_hardship"}
    categories = set(db.session.scalars(select(Household.category)).all())
    assert categories == {
        "registered_poor",
        "monitored",
        "dibao",
        "tekun",
        "disabled",
        "ordinary",
    }
    members = db.session.scalars(select(Member)).all()
    school_age = [m for m in members if 6 <= _age(m.birth_date) <= 15]
    out = [m for m in school_age if not m.schooling.startswith("在读")]
    assert 0 < len(out) < len(school_age) * 0.05
    assert any(m.doctor_name is None for m in members)
    assert any(m.migrant_work for m in members)
    assert sum(m.medical_insurance for m in members) > 0.95 * len(members)
    # Most helpers sign in with a password; a few wait for a WeChat binding code.
    helper_users = db.session.scalars(
        select(User).join(RoleGrant).where(RoleGrant.role == Role.HELPER.value)
    ).all()
    without_password = [u for u in helper_users if u.password_hash is None]
    assert 0 < len(without_password) < len(helper_users) * 0.2
