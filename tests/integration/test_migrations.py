"""The Alembic migrations build exactly the schema the models describe."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade
from sqlalchemy import inspect as sa_inspect
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from backend.extensions import db
from backend.services.clock import CHINA_TZ
from tests import live_app
from tests.factories import PASSWORD, auth_headers, build_town
from tests.integration.test_coverage import post_visit

_AT = datetime(2026, 10, 5, 10, tzinfo=CHINA_TZ)


def test_models_match_migrations():
    context = MigrationContext.configure(db.session.connection())
    assert compare_metadata(context, db.metadata) == []


@pytest.fixture
def own_app(tmp_path):
    """The app on a fresh database of the kind the suite runs on (PostgreSQL or SQLite)."""
    with live_app.own_app(tmp_path, "mig", TESTING=True) as app:
        yield app


def _check_rows():
    rows = db.session.execute(
        text(
            "SELECT visit_id, check_key, label, area, office_codes, passed, applicable, evidence "
            "FROM visit_checks ORDER BY id"
        )
    )
    return [
        (r.visit_id, r.check_key, r.label, r.area, _json(r.office_codes), bool(r.passed),
         bool(r.applicable), _json(r.evidence))
        for r in rows
    ]  # fmt: skip


def _json(value):
    # SQLite hands JSON columns of a text query back as text, PostgreSQL's driver parses them.
    return json.loads(value) if isinstance(value, str) else value


@pytest.mark.own_database
def test_0008_moves_check_results_to_the_visit_and_back(own_app):
    """Down to 0007 every result is a row again, in form order; up again, the same visits."""
    with own_app.app_context():
        town = build_town()
        db.session.commit()
        client = own_app.test_client()
        passing = post_visit(client, auth_headers, town.helper, town.household, _AT)
        failing = post_visit(
            client,
            auth_headers,
            town.helper,
            town.household,
            _AT + timedelta(days=1),
            changes={"water_quality": False, "water_quantity": False},
        )
        headers = auth_headers(town.helper)
        shown = {
            v["id"]: client.get(f"/api/v1/visits/{v['id']}", headers=headers).json
            for v in (passing, failing)
        }
        failed = [(failing["id"], c["check_key"]) for c in failing["checks"] if not c["passed"]]
        assert len(failed) == 2
        assert [(v, k) for v, k, *_ in _check_rows()] == failed
        db.session.remove()

        downgrade(revision="0007")
        every = [
            (v["id"], c["check_key"], c["label"], c["area"], c["office_codes"], c["passed"],
             c["applicable"], c["evidence"])
            for v in (passing, failing)
            for c in v["checks"]
        ]  # fmt: skip
        assert _check_rows() == every
        db.session.remove()

        upgrade()
        assert [(v, k) for v, k, *_ in _check_rows()] == failed
        for visit_id, before in shown.items():
            again = client.get(f"/api/v1/visits/{visit_id}", headers=headers)
            assert again.json == before


def _audit_regions():
    rows = db.session.execute(text("SELECT action, region_path FROM audit_logs ORDER BY id"))
    return [(r.action, r.region_path) for r in rows]


@pytest.mark.own_database
def test_0009_gives_old_audit_events_their_region(own_app):
    """Old events get the region of what they name, else of their actor's grants, else none."""
    with own_app.app_context():
        town = build_town()
        db.session.commit()
        admin, district = auth_headers(town.town_admin), auth_headers(town.district_user)
        far_id, household_id = town.far_household.id, town.household.id
        login = {"username": town.helper.username, "password": PASSWORD}
        # The town admin's export (no target: the admin's town), a refused read (no row), the
        # district's read of a town household (the household's group), the helper's login
        # (the helper's village), a failed login of no account (no region).
        expected = [
            ("export.households", town.town.path),
            ("pii.read", town.household.region_path),
            ("auth.login", town.helper.grants[0].region.path),
            ("auth.login_failed", None),
        ]
        db.session.commit()
        client = own_app.test_client()
        exported = client.get("/api/v1/exports/households.csv", headers=admin)
        assert exported.status_code == 200
        client.get(f"/api/v1/households/{far_id}?unmask=true", headers=admin)
        client.get(f"/api/v1/households/{household_id}?unmask=true", headers=district)
        assert client.post("/api/v1/auth/login", json=login).status_code == 200
        client.post("/api/v1/auth/login", json={"username": "nobody", "password": "x"})
        db.session.remove()
        assert _audit_regions() == expected
        db.session.remove()

        downgrade(revision="0008")
        assert "region_path" not in {
            c["name"] for c in sa_inspect(db.engine).get_columns("audit_logs")
        }
        db.session.remove()
        upgrade()
        assert _audit_regions() == expected
        if db.engine.dialect.name == "postgresql":
            # The append-only trigger is back once the backfill is done.
            with pytest.raises(DBAPIError, match="append-only"):
                db.session.execute(text("UPDATE audit_logs SET region_path = NULL"))
            db.session.rollback()
