"""The field-phone simulator against a live server: nothing lost, fakes flagged, replays idempotent.

The app runs in a werkzeug server thread on a loopback port, on a database of its own (a
temporary SQLite file, or a throwaway PostgreSQL database when the suite runs on PostgreSQL)
holding a small demo town; the simulator runs in this process against it over real HTTP.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date

import pytest
from flask import Flask
from sqlalchemy import func, select

from backend.extensions import db
from backend.models import Assignment, Household, Photo, User, Visit
from backend.services.demo import build_demo_town
from scripts.field_sim import run
from scripts.fieldsim.phone import CREATED, DUPLICATE
from scripts.fieldsim.plan import REUSED_PHOTO, TOO_SHORT, WRONG_PLACE
from tests.live_app import SERVED_CONFIG, own_app, serve

pytestmark = pytest.mark.own_database

# A fixed past day and a fixed demo town: the plan, and so what these tests see, never changes.
END_DATE = "2025-06-16"
DEMO_AS_OF = date(2025, 6, 1)
ARGS = ["--helpers", "3", "--days", "1", "--fake-share", "0.3", "--seed", "7"]
ARGS += ["--end-date", END_DATE]
# More of the paths in one small run: queued days, replays and a few villagers' reports.
EXTRA = ["--offline-share", "0.5", "--duplicate-share", "0.3", "--report-share", "0.1"]
EXPECTED_FLAG = {
    WRONG_PLACE: "gps.far_from_household",
    REUSED_PHOTO: "photo.duplicate",
    TOO_SHORT: "visit.too_short",
}


@dataclass
class LiveServer:
    """The app and the URL it answers on."""

    app: Flask
    url: str
    unlocated_household_id: int


@pytest.fixture
def live_server(tmp_path) -> Iterator[LiveServer]:
    """A small demo town served over HTTP on a free loopback port."""
    with own_app(tmp_path, "fieldsim", **SERVED_CONFIG) as app:
        with app.app_context():
            build_demo_town(households=48, poor=6, villages=2, seed=3, as_of=DEMO_AS_OF)
            # The first helper's first household has no location: its first visit proposes one.
            first = db.session.scalar(
                select(Household)
                .join(Assignment, Assignment.household_id == Household.id)
                .join(User, User.id == Assignment.helper_id)
                .where(User.username == "helper_01_01", Assignment.end_date.is_(None))
                .order_by(Household.id)
                .limit(1)
            )
            first.lat = first.lon = None
            unlocated = first.id
            db.session.commit()
        with serve(app) as url:
            yield LiveServer(app=app, url=url, unlocated_household_id=unlocated)


def _counts(app: Flask) -> tuple[int, set[str], int, int]:
    with app.app_context():
        visits = db.session.scalar(select(func.count()).select_from(Visit))
        uuids = set(db.session.scalars(select(Visit.client_uuid)))
        # Helpers' uploads only: villagers' report photos have no uploader.
        photos = db.session.scalar(
            select(func.count()).select_from(Photo).where(Photo.uploader_id.is_not(None))
        )
        claimed = db.session.scalar(
            select(func.count()).select_from(Photo).where(Photo.visit_id.is_not(None))
        )
        db.session.remove()
    return visits, uuids, photos, claimed


def test_simulated_day_is_stored_whole_and_fakes_are_flagged(live_server):
    summary = run([*ARGS, *EXTRA, "--base-url", live_server.url])

    assert summary.exit_code == 0, summary.render()
    assert summary.traffic.server_errors == 0
    assert summary.traffic.unanswered == 0
    assert summary.local_invalid == 0
    assert summary.sent >= 6
    # The run went through both ways in: straight submits and the offline queue.
    offline = [o for o in summary.outcomes if o.visit.offline]
    assert 0 < len(offline) < summary.sent, summary.render()
    assert summary.sync_batches >= 1
    # Every visit sent was stored exactly once; every deliberate second send was a duplicate.
    assert [o.status for o in summary.outcomes] == [CREATED] * summary.sent, summary.render()
    replays = [o for o in summary.outcomes if o.visit.replay]
    assert replays, summary.render()
    assert all(o.replay_status == DUPLICATE for o in replays), summary.render()
    assert summary.duplicates == len(replays)
    visits, uuids, photos, claimed = _counts(live_server.app)
    assert visits == summary.sent
    assert uuids == {o.visit.client_uuid for o in summary.outcomes}
    # Photos: every upload stored once (retries answered with the stored photo) and claimed.
    assert photos == summary.photos_created == claimed
    assert summary.photo_errors == 0
    assert summary.photos_created >= 2 * summary.sent  # two photo slots are required

    # Faked visits are all flagged, each for what was faked; honest ones are not.
    fakes = [o for o in summary.outcomes if o.visit.fake]
    assert len(fakes) == round(0.3 * summary.sent)
    assert len({o.visit.fake for o in fakes}) >= 2  # the kinds are taken in turn
    for outcome in fakes:
        assert EXPECTED_FLAG[outcome.visit.fake] in outcome.flags, (outcome.visit, outcome.flags)
    honest_flagged = [o for o in summary.outcomes if not o.visit.fake and o.flags]
    assert honest_flagged == [], [(o.visit.household.id, o.flags) for o in honest_flagged]
    assert abs(summary.flagged_share - 0.3) <= 0.1
    # No location registered: nothing to be far from, so never the "wrong place" kind.
    unlocated = [
        o for o in summary.outcomes if o.visit.household.id == live_server.unlocated_household_id
    ]
    assert all(o.visit.fake != WRONG_PLACE for o in unlocated)
    text = summary.render()
    assert f"flagged           {len(fakes)} of {summary.sent}" in text
    assert "(--fake-share 30.0%)" in text

    # Villagers' reports: none failed (skipped while the server has no /reports).
    if summary.reports_skipped is None:
        assert summary.reports.failed == 0, summary.render()
        assert summary.reports.traffic.server_errors == 0


def test_running_the_same_simulation_again_replays_it(live_server):
    first = run([*ARGS, "--base-url", live_server.url, "--report-share", "0"])
    assert first.exit_code == 0, first.render()
    before = _counts(live_server.app)

    again = run([*ARGS, "--base-url", live_server.url, "--report-share", "0"])

    assert again.exit_code == 0, again.render()
    assert [o.visit.client_uuid for o in again.outcomes] == [
        o.visit.client_uuid for o in first.outcomes
    ]
    assert {o.status for o in again.outcomes} == {DUPLICATE}, again.render()
    assert [o.visit_id for o in again.outcomes] == [o.visit_id for o in first.outcomes]
    assert [o.flags for o in again.outcomes] == [o.flags for o in first.outcomes]
    assert again.photos_created == 0
    assert _counts(live_server.app) == before


def test_setup_failure_exits_with_status_2(live_server, capsys):
    from scripts.field_sim import main

    code = main(["--base-url", live_server.url, "--password", "wrong-password"])

    assert code == 2
    assert "cannot log in as 'town_admin'" in capsys.readouterr().err
