"""Field-phone simulator: N helpers' phones for D days against a running server.

    ./scripts/serve &                                   # the demo town on :8000
    python scripts/field_sim.py --helpers 10 --days 2 --fake-share 0.2
    python scripts/field_sim.py --helpers 50 --workers 16 --days 1      # as a load generator

Each helper logs in with the demo password, fetches "my households" and, on each simulated day
(08:30–17:30 China time, the last day being today once the working day is over, else yesterday:
nothing is ever in the future), visits a few of them: the prefilled survey answered (a few real
shortfalls that open problems), photos made with Pillow and uploaded one per request, a GPS fix
near the house in GCJ-02 or WGS-84. Some visits are made offline, queued, and flushed through
the batch sync endpoint when the phone is next online; some visits are sent twice. ``--fake-share`` of the visits are faked (wrong
place, a photo reused from another household, one minute long) and should come back flagged.
Villagers report through their cards (``--report-share`` per household and day) when the
server has the reports endpoint. The same ``--seed`` on the same day replays the same visits
(the server answers "duplicate"). Exit status 1 when the server failed (5xx) or a visit got no
verdict; 2 when the simulation could not start.
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, date, datetime
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make ``scripts`` and ``backend`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from scripts.fieldsim.http import SetupError
from scripts.fieldsim.plan import default_end_day, latest_visit_end
from scripts.fieldsim.run import Options, Summary, run_simulation

# The --<name>-share options, in the order --help lists them.
_SHARES = {
    "fake": "share of faked visits",
    "report": "villagers' reports per household and day",
    "offline": "share of visits made offline (queued, then batch-synced when next online)",
    "duplicate": "share of visits (and reports) sent twice, as after a lost answer",
    "gcj02": "share of fixes sent in GCJ-02 (the rest WGS-84)",
}


def _share(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError("must be between 0 and 1")
    return value


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def parse_args(argv: list[str] | None = None) -> Options:
    """Options from the command line."""
    defaults = Options()
    p = argparse.ArgumentParser(
        prog="field_sim.py",
        description="Play helpers' phones (and villagers) against a running Huhuqing server.",
    )
    p.add_argument("--base-url", default=defaults.base_url, help="server address")
    p.add_argument("--helpers", type=_positive, default=defaults.helpers, help="phones to play")
    p.add_argument("--days", type=_positive, default=defaults.days, help="days to simulate")
    p.add_argument(
        "--end-date",
        type=date.fromisoformat,
        help="last simulated day, YYYY-MM-DD (default: today after 17:30 China time, else "
        "yesterday)",
    )
    p.add_argument(
        "--per-day",
        type=int,
        choices=range(1, 11),
        default=defaults.per_day,
        metavar="{1..10}",
        help="visits per helper and day, on average",
    )
    for name, text in _SHARES.items():
        default = getattr(defaults, f"{name}_share")
        p.add_argument(f"--{name}-share", type=_share, default=default, help=text)
    p.add_argument(
        "--workers", type=_positive, default=defaults.workers, help="concurrent phones (threads)"
    )
    p.add_argument(
        "--batch-size",
        type=int,
        choices=range(1, 201),
        default=defaults.batch_size,
        metavar="{1..200}",
        help="visits per offline sync request",
    )
    p.add_argument("--seed", type=int, default=defaults.seed, help="random seed")
    p.add_argument("--admin", default=defaults.admin, help="town admin username")
    p.add_argument("--password", default=defaults.password, help="password of every login")
    p.add_argument("--verbose", action="store_true", help="a line per helper")
    args = p.parse_args(argv)
    now = datetime.now(UTC)
    if args.end_date is not None and latest_visit_end(args.end_date) > now:
        p.error(f"--end-date {args.end_date}: its working day is not over yet")
    # Every option's name is an Options field.
    return Options(**{**vars(args), "end_date": args.end_date or default_end_day(now)})


def run(argv: list[str] | None = None, *, out=None) -> Summary:
    """Parse ``argv``, run the simulation and return its summary (SetupError if it cannot)."""
    options = parse_args(argv)
    return run_simulation(options, out=out)


def main(argv: list[str] | None = None) -> int:
    """The command: run, print the summary, return the exit status."""
    try:
        summary = run(argv, out=sys.stdout)
    except SetupError as exc:
        print(f"field_sim: cannot start: {exc}", file=sys.stderr)
        return 2
    print(summary.render())
    return summary.exit_code


if __name__ == "__main__":
    sys.exit(main())
