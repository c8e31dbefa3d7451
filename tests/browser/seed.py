"""A small town with a few weeks of field work, for the dashboard's browser tests.

The demo town (small) is loaded into a fresh database, then the field-phone simulator plays
helpers' phones against the live server over HTTP: visits with photos, failing checks that
open problems, faked visits that come back flagged, villagers' reports. Two stretches of days,
a month apart, give the trend chart two months. Everything is committed, as in production.
"""

from __future__ import annotations

import io
from datetime import date, timedelta

from backend.extensions import db
from backend.services.demo import build_demo_town
from scripts.fieldsim.plan import default_end_day
from scripts.fieldsim.run import Options, run_simulation

HOUSEHOLDS = 90
POOR = 12
VILLAGES = 3


def seed_town(app, *, end_day: date) -> None:
    """Load the demo town, its assignments in force well before ``end_day``."""
    with app.app_context():
        build_demo_town(
            households=HOUSEHOLDS,
            poor=POOR,
            villages=VILLAGES,
            seed=5,
            as_of=end_day - timedelta(days=120),
        )
        db.session.commit()
        db.session.remove()


def simulate_field_work(base_url: str, *, end_day: date) -> None:
    """Helpers' visits on the last days up to ``end_day``, and a few days a month earlier."""
    common = {
        "base_url": base_url,
        "helpers": 8,
        "per_day": 3,
        "fake_share": 0.2,
        "report_share": 0.03,
        "offline_share": 0.1,
        "duplicate_share": 0.0,
        "workers": 2,
    }
    log = io.StringIO()
    run_simulation(
        Options(**common, days=2, end_date=end_day - timedelta(days=31), seed=3), out=log
    )
    run_simulation(Options(**common, days=3, end_date=end_day, seed=4), out=log)


def last_working_day(now) -> date:
    """The simulator's default last day: today after the working day, else yesterday."""
    return default_end_day(now)
