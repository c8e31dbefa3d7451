"""Setting up, running and summing up a simulation.

Setup: a town admin logs in and lists the helpers (those with a username, taken in turn from
each village so a small run still spreads over the town); each helper logs in with the demo
password and fetches "my households". Then the plan is made (``plan.plan_visits``) and carried
out: each helper's phone is one task, each villager's report another, on a bounded thread pool.
"""

from __future__ import annotations

import importlib.util
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date
from typing import TextIO

from backend.services.demo import DEMO_PASSWORD
from scripts.fieldsim.http import Api, SetupError, Traffic
from scripts.fieldsim.phone import CREATED, DUPLICATE, Outcome, Phone, PhoneResult
from scripts.fieldsim.plan import (
    FAKE_KINDS,
    FAKE_LABELS,
    Helper,
    Household,
    PlanOptions,
    plan_visits,
    simulated_days,
)
from scripts.fieldsim.reports import ReportTally, plan_reports, report_areas, send_report


@dataclass
class Options:
    """The command line's options."""

    base_url: str = "http://127.0.0.1:8000"
    helpers: int = 5
    days: int = 1
    end_date: date | None = None  # the last simulated day; see plan.default_end_day
    per_day: int = 3
    fake_share: float = 0.1
    report_share: float = 0.05
    offline_share: float = 0.2
    duplicate_share: float = 0.1
    gcj02_share: float = 0.7
    workers: int = 4
    batch_size: int = 20
    seed: int = 1
    admin: str = "town_admin"
    password: str = DEMO_PASSWORD
    verbose: bool = False


@dataclass
class Summary:
    """What a run did, as counted by the phones."""

    options: Options
    days: list[date]
    helpers: list[str]
    outcomes: list[Outcome] = field(default_factory=list)
    photos_created: int = 0
    photo_replays: int = 0
    photo_errors: int = 0
    sync_batches: int = 0
    local_invalid: int = 0
    reports: ReportTally = field(default_factory=ReportTally)
    reports_skipped: str | None = None
    traffic: Traffic = field(default_factory=Traffic)
    setup_seconds: float = 0.0
    run_seconds: float = 0.0

    def add_phone(self, result: PhoneResult) -> None:
        """Add one phone's results."""
        self.outcomes.extend(result.outcomes)
        self.photos_created += result.photos_created
        self.photo_replays += result.photo_replays
        self.photo_errors += result.photo_errors
        self.sync_batches += result.sync_batches
        self.local_invalid += result.local_invalid
        self.traffic.merge(result.traffic)

    # --- figures ---------------------------------------------------------------------------

    def count(self, status: str | None) -> int:
        """Visits whose first send got ``status`` (None: never got a verdict)."""
        return sum(o.status == status for o in self.outcomes)

    @property
    def sent(self) -> int:
        """Distinct visits sent (replays not counted)."""
        return len(self.outcomes)

    @property
    def stored(self) -> list[Outcome]:
        """Visits the server holds (created now, or already there)."""
        return [o for o in self.outcomes if o.status in (CREATED, DUPLICATE)]

    @property
    def duplicates(self) -> int:
        """Answers "duplicate": first sends of visits already stored, and every replay."""
        replays = sum(o.replay_status == DUPLICATE for o in self.outcomes)
        return self.count(DUPLICATE) + replays

    @property
    def replays_sent(self) -> int:
        """Visits sent a second time on purpose."""
        return sum(o.visit.replay for o in self.outcomes)

    @property
    def flagged(self) -> list[Outcome]:
        """Stored visits with at least one authenticity flag."""
        return [o for o in self.stored if o.flags]

    @property
    def flagged_share(self) -> float:
        """Flagged visits among the stored ones whose flags are known."""
        known = [o for o in self.stored if o.flags is not None]
        return len([o for o in known if o.flags]) / len(known) if known else 0.0

    @property
    def fakes(self) -> list[Outcome]:
        """Visits faked on purpose."""
        return [o for o in self.outcomes if o.visit.fake]

    @property
    def lost(self) -> int:
        """Visits that never got a verdict (no answer, a 5xx, or the form would not open)."""
        return self.count(None)

    @property
    def exit_code(self) -> int:
        """0 when the server answered everything it was sent without failing."""
        failed = self.traffic.server_errors + self.reports.traffic.server_errors
        unanswered = self.traffic.unanswered + self.reports.traffic.unanswered
        return 1 if failed or unanswered or self.lost else 0

    # --- text ------------------------------------------------------------------------------

    def render(self) -> str:
        """The summary the command prints."""
        o = self.options
        n_stored = len(self.stored)
        fakes = self.fakes
        kinds = Counter(v.visit.fake for v in fakes)
        fakes_flagged = sum(bool(v.flags) for v in fakes)
        honest = [v for v in self.stored if not v.visit.fake]
        honest_flagged = [v for v in honest if v.flags]
        codes = Counter(code for v in self.stored for code in v.flags or [])
        failing = sum(bool(v.failed_checks) for v in self.stored)
        elapsed = self.run_seconds
        requests = self.traffic.requests + self.reports.traffic.requests
        offline = sum(v.visit.offline for v in self.outcomes)
        lines = [
            f"Field simulation: {len(self.helpers)} helpers × {len(self.days)} days "
            f"({self.days[0]} … {self.days[-1]}, China time), seed {o.seed}, {o.base_url}",
            "Visits",
            f"  sent              {self.sent} distinct ({offline} offline via "
            f"{self.sync_batches} sync batches; {self.replays_sent} sent twice)",
            f"  accepted          {self.count(CREATED)} created",
            f"  duplicates        {self.duplicates}",
            f"  conflicts         {self.count('conflict')}",
            f"  invalid           {self.count('invalid')}",
            f"  lost              {self.lost}",
            f"  flagged           {len(self.flagged)} of {n_stored} = "
            f"{self.flagged_share:.1%} (--fake-share {o.fake_share:.1%})",
            f"    faked           {len(fakes)} ("
            + ", ".join(f"{FAKE_LABELS[k]} {kinds[k]}" for k in FAKE_KINDS)
            + f"), flagged {fakes_flagged} of {len(fakes)}",
            f"    honest          flagged {len(honest_flagged)} of {len(honest)}",
            "    flags           "
            + (", ".join(f"{c} {n}" for c, n in codes.most_common()) or "none"),
            f"  failing checks    {failing} visits (problems opened for them)",
            f"Photos              uploaded {self.photos_created}, retries answered as stored "
            f"{self.photo_replays}, refused {self.photo_errors}",
        ]
        r = self.reports
        if self.reports_skipped:
            lines.append(f"Reports             skipped: {self.reports_skipped}")
        else:
            lines.append(
                f"Reports             sent {r.sent}, accepted {r.accepted}, replays {r.replays}, "
                f"rate-limited {r.rate_limited}, refused {r.refused}, failed {r.failed}, "
                f"photos {r.photos}"
            )
        t = self.traffic
        lines += [
            f"Requests            {requests}, 5xx {t.server_errors + r.traffic.server_errors}, "
            f"network errors {t.network_errors + r.traffic.network_errors}, "
            f"retries {t.retries + r.traffic.retries}",
            f"Elapsed             {elapsed:.1f} s (+ {self.setup_seconds:.1f} s setup), "
            f"{self.sent / elapsed if elapsed else 0:.1f} visits/s, "
            f"{requests / elapsed if elapsed else 0:.1f} requests/s, {o.workers} workers",
        ]
        problems = [
            f"  {v.visit.helper} household {v.visit.household.id}: {v.status or 'lost'}: {v.error}"
            for v in self.outcomes
            if v.status not in (CREATED, DUPLICATE)
        ]
        if self.local_invalid:
            problems.append(f"  {self.local_invalid} answer sets failed local validation")
        problems += [f"  {text}" for text in t.failures + r.traffic.failures]
        if problems:
            lines += ["Problems", *problems[:30]]
        return "\n".join(lines)


def _helper_usernames(admin: Api) -> list[str]:
    """Helpers who can log in with a password, taken in turn from each village."""
    by_village: dict[int, list[str]] = {}
    page = 1
    while True:
        body = admin.get_json("/users", params={"role": "helper", "page": page, "page_size": 500})
        for user in body["items"]:
            if not user.get("username") or not user.get("is_active", True):
                continue
            grants = [g for g in user.get("grants", []) if g.get("role") == "helper"]
            village = min((g["region_id"] for g in grants), default=0)
            by_village.setdefault(village, []).append(user["username"])
        if page * body["page_size"] >= body["total"]:
            break
        page += 1
    columns = [sorted(names) for _, names in sorted(by_village.items())]
    longest = max((len(c) for c in columns), default=0)
    return [c[i] for i in range(longest) for c in columns if i < len(c)]


def _open_phone(options: Options, username: str) -> Helper | None:
    api = Api(options.base_url)
    try:
        if api.login(username, options.password) is None:
            return None
        rows = api.get_json("/assignments/mine")
    finally:
        api.close()
    households = [
        Household(
            id=row["id"],
            number=row["number"],
            village_id=row.get("village_id"),
            lat=row.get("lat"),
            lon=row.get("lon"),
        )
        for row in sorted(rows, key=lambda r: r["id"])
    ]
    return Helper(username=username, token=api.token or "", households=households)


def _log(out: TextIO | None, text: str) -> None:
    if out is not None:
        print(text, file=out, flush=True)


def run_simulation(options: Options, *, out: TextIO | None = None) -> Summary:
    """Run the whole simulation against ``options.base_url``; raise SetupError if it cannot."""
    started = time.perf_counter()
    if options.end_date is None:
        raise ValueError("options.end_date is required")
    days = simulated_days(options.end_date, options.days)
    admin = Api(options.base_url)
    if admin.login(options.admin, options.password) is None:
        if admin.traffic.unanswered:
            raise SetupError(f"no answer from {options.base_url} (is the server running?)")
        raise SetupError(f"cannot log in as {options.admin!r} at {options.base_url}")
    candidates = _helper_usernames(admin)
    helpers: list[Helper] = []
    with ThreadPoolExecutor(max_workers=options.workers) as pool:
        position = 0
        while len(helpers) < options.helpers and position < len(candidates):
            chunk = candidates[position : position + options.helpers - len(helpers)]
            position += len(chunk)
            opened = pool.map(lambda name: _open_phone(options, name), chunk)
            helpers += [h for h in opened if h is not None]
    if not helpers:
        raise SetupError("no helper could log in (is the demo town loaded?)")
    if len(helpers) < options.helpers:
        _log(out, f"warning: only {len(helpers)} helpers could log in")

    plan = plan_visits(
        helpers,
        PlanOptions(
            seed=options.seed,
            days=days,
            per_day=options.per_day,
            fake_share=options.fake_share,
            offline_share=options.offline_share,
            duplicate_share=options.duplicate_share,
            gcj02_share=options.gcj02_share,
        ),
    )
    summary = Summary(options=options, days=days, helpers=[h.username for h in helpers])
    reports = []
    areas = None
    if options.report_share > 0:
        areas = report_areas(admin)
        if areas is None:
            summary.reports_skipped = "this server has no /reports endpoint yet"
        elif importlib.util.find_spec("zxingcpp") is None:
            summary.reports_skipped = "zxing-cpp is not installed (pip install zxing-cpp)"
        else:
            reports = plan_reports(
                helpers,
                days,
                share=options.report_share,
                replay_share=options.duplicate_share,
                seed=options.seed,
            )
        if summary.reports_skipped:
            _log(out, f"warning: villagers' reports skipped: {summary.reports_skipped}")
    summary.traffic.merge(admin.traffic)
    admin_token = admin.token or ""
    admin.close()
    summary.setup_seconds = time.perf_counter() - started
    _log(
        out,
        f"{len(helpers)} helpers, {len(plan)} visits over {len(days)} days, "
        f"{len(reports)} reports; {options.workers} workers …",
    )

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=options.workers) as pool:
        phones = [
            pool.submit(
                Phone(
                    Api(options.base_url, token=h.token),
                    h.username,
                    [v for v in plan if v.helper == h.username],
                    seed=options.seed,
                    batch_size=options.batch_size,
                ).run
            )
            for h in helpers
        ]
        villagers = [
            pool.submit(send_report, options.base_url, admin_token, r, areas or []) for r in reports
        ]
        for future in phones:
            result = future.result()
            summary.add_phone(result)
            if options.verbose:
                stored = sum(o.status in (CREATED, DUPLICATE) for o in result.outcomes)
                _log(out, f"  {result.helper}: {stored}/{len(result.outcomes)} visits stored")
        for future in villagers:
            summary.reports.merge(future.result())
    summary.run_seconds = time.perf_counter() - started
    return summary
