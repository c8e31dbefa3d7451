"""Authorization matrix: every role × every endpoint × an in-scope and an out-of-scope target.

`in` targets sit inside every role's scope (the household in 石桥村 is assigned to the helper,
in the cadre's village, in the town and district). `out` targets sit in another district,
outside every role's scope. Statuses are the contract; a body check guards against leaks.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from backend.extensions import db
from backend.models import FormVersion, Visit
from backend.services.cards import ensure_active_card
from tests.helpers import make_problem

ROLES = ["helper", "village_cadre", "office", "town_admin", "inspector", "district"]


@dataclass(frozen=True)
class Case:
    """One endpoint: how to call it for a target, and the expected status per role."""

    name: str
    call: Callable  # (client, town, target, headers) -> response
    inside: dict[str, int]  # role -> status for the in-scope target
    outside: dict[str, int]  # role -> status for the out-of-scope target
    anonymous: int = 401


def _all(status: int) -> dict[str, int]:
    return dict.fromkeys(ROLES, status)


def _only(allowed: set[str], ok: int, other: int) -> dict[str, int]:
    return {r: ok if r in allowed else other for r in ROLES}


def _hh(town, target):
    return town.household if target == "in" else town.far_household


def _village(town, target):
    return town.village if target == "in" else town.far_village


def _visit(town, target):
    household = _hh(town, target)
    helper = town.helper if target == "in" else town.far_helper
    now = datetime.now(UTC)
    visit = Visit(
        client_uuid=str(uuid.uuid4()),
        body_hash="0" * 64,
        household_id=household.id,
        helper_id=helper.id,
        form_version_id=db.session.scalar(select(FormVersion.id).where(FormVersion.version == 1)),
        answers={},
        started_at=now - timedelta(minutes=20),
        ended_at=now,
        received_at=now,
    )
    db.session.add(visit)
    db.session.flush()
    return visit


def _problem(town, target):
    # A water problem routed to 镇农业服务中心, the office of ``town.office``.
    return make_problem(_hh(town, target), "饮用水水质不达标", check_key="water_quality")


def _helper_user(town, target):
    return town.helper if target == "in" else town.far_helper


ADMINS = {"town_admin", "district"}
CARDS = {"village_cadre", "town_admin", "district"}

CASES = [
    Case(
        "household detail",
        lambda c, t, tg, h: c.get(f"/api/v1/households/{_hh(t, tg).id}", headers=h),
        inside=_all(200),
        outside=_all(404),
    ),
    Case(
        "household detail unmasked",
        lambda c, t, tg, h: c.get(f"/api/v1/households/{_hh(t, tg).id}?unmask=true", headers=h),
        inside=_only(set(ROLES) - {"office"}, 200, 403),
        outside=_all(404),
    ),
    Case(
        "assignment history",
        lambda c, t, tg, h: c.get(f"/api/v1/households/{_hh(t, tg).id}/assignments", headers=h),
        inside=_all(200),
        outside=_all(404),
    ),
    Case(
        "reassign household",
        lambda c, t, tg, h: c.post(
            f"/api/v1/households/{_hh(t, tg).id}/assignments",
            json={"helper_id": t.helper_b.id, "start_date": "2026-11-01"},
            headers=h,
        ),
        inside=_only(ADMINS, 201, 403),
        outside=_all(404),
    ),
    Case(
        "region",
        lambda c, t, tg, h: c.get(f"/api/v1/regions/{_village(t, tg).id}", headers=h),
        inside=_all(200),
        outside=_all(404),
    ),
    Case(
        "user detail",
        lambda c, t, tg, h: c.get(f"/api/v1/users/{_helper_user(t, tg).id}", headers=h),
        inside=_only(ADMINS, 200, 403),
        outside=_all(403),
    ),
    Case(
        "grant role",
        lambda c, t, tg, h: c.post(
            f"/api/v1/users/{_helper_user(t, tg).id}/roles",
            json={"role": "helper", "region_id": t.other_village.id},
            headers=h,
        ),
        inside=_only(ADMINS, 201, 403),
        outside=_all(403),
    ),
    Case(
        "household QR image",
        lambda c, t, tg, h: c.get(f"/api/v1/households/{_hh(t, tg).id}/qr.png", headers=h),
        inside=_only(CARDS | {"helper"}, 200, 403),
        outside=_all(404),
    ),
    Case(
        "reissue card",
        lambda c, t, tg, h: c.post(f"/api/v1/households/{_hh(t, tg).id}/card/reissue", headers=h),
        inside=_only(CARDS, 201, 403),
        outside=_all(404),
    ),
    Case(
        "village cards PDF",
        lambda c, t, tg, h: c.get(f"/api/v1/villages/{_village(t, tg).id}/cards.pdf", headers=h),
        inside=_only(CARDS, 200, 403),
        outside=_all(404),
    ),
    Case(
        "issue binding code",
        lambda c, t, tg, h: c.post(
            f"/api/v1/users/{_helper_user(t, tg).id}/binding-codes", headers=h
        ),
        inside=_only(ADMINS, 201, 403),
        outside=_all(403),
    ),
    Case(
        "prefilled visit form",
        lambda c, t, tg, h: c.get(f"/api/v1/households/{_hh(t, tg).id}/visit-form", headers=h),
        inside=_all(200),
        outside=_all(404),
    ),
    Case(
        "create survey draft",
        lambda c, t, tg, h: c.post(
            "/api/v1/forms", json={"title": "测试", "definition": {"sections": []}}, headers=h
        ),
        inside=_only(ADMINS, 201, 403),
        outside=_only(ADMINS, 201, 403),
    ),
    Case(
        "location proposals",
        lambda c, t, tg, h: c.get("/api/v1/location-proposals", headers=h),
        inside=_only({"village_cadre", "town_admin", "district"}, 200, 403),
        outside=_only({"village_cadre", "town_admin", "district"}, 200, 403),
    ),
    Case(
        "visit detail",
        lambda c, t, tg, h: c.get(f"/api/v1/visits/{_visit(t, tg).id}", headers=h),
        inside=_all(200),
        outside=_all(404),
    ),
    Case(
        "audit log",
        lambda c, t, tg, h: c.get("/api/v1/audit-logs", headers=h),
        inside=_only({"town_admin", "inspector", "district"}, 200, 403),
        outside=_only({"town_admin", "inspector", "district"}, 200, 403),
    ),
    Case(
        "my households",
        lambda c, t, tg, h: c.get("/api/v1/assignments/mine", headers=h),
        inside=_only({"helper"}, 200, 403),
        outside=_only({"helper"}, 200, 403),
    ),
    Case(
        "problem list",
        lambda c, t, tg, h: c.get(
            f"/api/v1/problems?household_id={_problem(t, tg).household_id}", headers=h
        ),
        inside=_all(200),
        outside=_all(200),
    ),
    Case(
        "problem detail",
        lambda c, t, tg, h: c.get(f"/api/v1/problems/{_problem(t, tg).id}", headers=h),
        inside=_all(200),
        outside=_all(404),
    ),
    Case(
        "problem transition",
        lambda c, t, tg, h: c.post(
            f"/api/v1/problems/{_problem(t, tg).id}/transitions",
            json={"action": "start"},
            headers=h,
        ),
        inside=_only({"office"}, 200, 403),
        outside=_all(404),
    ),
]


def _params():
    for case in CASES:
        for role in ROLES:
            yield pytest.param(case, role, "in", id=f"{case.name}-{role}-in")
            yield pytest.param(case, role, "out", id=f"{case.name}-{role}-out")


@pytest.mark.parametrize(("case", "role", "target"), list(_params()))
def test_matrix(client, town, login, case, role, target):
    headers = login(town.users_by_role()[role])
    resp = case.call(client, town, target, headers)
    expected = (case.inside if target == "in" else case.outside)[role]
    assert resp.status_code == expected, (resp.status_code, resp.get_json())
    if expected >= 400:
        body = resp.get_json()
        assert body["error"]["code"] in {
            "auth.forbidden",
            "household.not_found",
            "region.not_found",
            "user.not_found",
            "visit.not_found",
            "problem.not_found",
            "problem.role_not_allowed",
        }
        # A refusal never carries the target's personal data.
        text = resp.get_data(as_text=True)
        household = _hh(town, target)
        assert household.head_name not in text
        assert household.phone not in text


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_matrix_anonymous(client, town, case):
    resp = case.call(client, town, "in", {})
    assert resp.status_code == case.anonymous
    assert resp.json["error"]["code"] == "auth.required"


@pytest.mark.parametrize("role", ROLES)
def test_scan_shows_the_household_only_in_scope(client, town, login, role):
    headers = login(town.users_by_role()[role])
    for household, expected in ((town.household, "household"), (town.far_household, "public")):
        token = ensure_active_card(household=household).token
        resp = client.get(f"/api/v1/scan/{token}", headers=headers)
        assert resp.status_code == 200
        assert resp.json["view"] == expected
        if expected == "public":
            text = resp.get_data(as_text=True)
            assert household.head_name not in text and household.number not in text


@pytest.mark.parametrize("role", ROLES)
def test_lists_never_leak_out_of_scope_households(client, town, login, role):
    resp = client.get("/api/v1/households?page_size=500", headers=login(town.users_by_role()[role]))
    assert resp.status_code == 200
    ids = {item["id"] for item in resp.json["items"]}
    assert town.household.id in ids
    assert town.far_household.id not in ids
    if role in {"helper", "village_cadre"}:
        assert town.other_household.id not in ids
    else:
        assert town.other_household.id in ids
    text = resp.get_data(as_text=True)
    for member in town.household.members:
        assert member.id_number not in text
