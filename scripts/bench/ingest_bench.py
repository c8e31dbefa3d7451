"""Visit ingest benchmark: POST /api/v1/visits through gunicorn into PostgreSQL, against a baseline.

    python scripts/bench/ingest_bench.py [--config gthread:4x2] [-c 50] [--warmup 3] [-d 15]
    python scripts/bench/ingest_bench.py --sweep gthread:4x2,gthread:3x4,sync:5   # pick workers
    python scripts/bench/ingest_bench.py --photos linked        # visits that claim 3 photos each
    python scripts/bench/ingest_bench.py --in-process 300       # SQL statements + CPU per visit

What it does, all on 127.0.0.1 (the issue: "Ingest: gunicorn on PostgreSQL, 50 concurrent
clients on loopback, visits with 40 answers and no photos. Report visits/s, p50 and p99.
Target: >= 35% of a bare Flask + psycopg endpoint doing one INSERT per request, measured in the
same run by the same script. Target: p99 < 150 ms."):

1. creates a fresh PostgreSQL database (dropped at the end, also on failure or Ctrl-C), runs
   ``flask db upgrade`` and ``flask hhq demo`` (the demo town: 1,500 households, ~200 helpers),
   then, inside the app: issues a bearer token for each of the first C helpers (one per client,
   like C phones) and, because the default survey (v1) *requires* the photo slots
   ``photo_house`` and ``photo_helper_with_head``, publishes survey v2 through the form service:
   v1 with those two slots optional. "No photos" visits are filled on v2; ``--photos linked``
   instead pre-creates 3 Photo rows per visit for each helper and fills v1 (the production path
   with photo claiming and the reuse search);
2. starts ``gunicorn -c gunicorn.conf.py backend.wsgi:app`` with HHQ_ENV=production, a real
   SECRET_KEY and WECHAT_SECRET, LOG_LEVEL=WARNING and the access log sent to /dev/null, and
   the worker class/count/threads of ``--config`` (default ``sync:4``, chosen with ``--sweep``:
   see README.md); the project's other gunicorn settings stay
   (keep-alive 5 s, max_requests 2000 ± 200: workers are recycled during the run, as in
   production; ``--max-requests 0`` turns that off for a comparison);
3. drives it with C concurrent clients: one asyncio task each, raw keep-alive HTTP/1.1 over
   ``asyncio.open_connection`` (the cheapest client there is: it shares the 2 cores with the
   server), each posting distinct visits of its helper in a closed loop: a fresh client_uuid,
   times that move forward 25 minutes a visit from 30 days ago, GPS within ~15 m of the
   household, 40 answers. Warm-up, then a measured window; any non-2xx answer is an error;
4. profiles the ingest path: a fresh gunicorn of sync workers (one thread each, so that py-spy
   does not count threads waiting for the GIL as busy) under light load while
   ``py-spy record --subprocesses --gil`` samples them, and sums where their CPU goes;
5. starts ``scripts/bench/baseline_app.py`` (Flask + psycopg_pool, one INSERT of the same body
   per request) under the same gunicorn settings and drives it with the same client and the
   same bodies;
6. prints visits/s, p50/p95/p99, errors, CPU use by component, the profile, and the ratio
   ingest/baseline against the 35 % target and p99 against 150 ms; the output is also saved
   to /tmp/ingest_bench.txt (``--output``).

``--in-process N`` replaces steps 2-6: N visits (x 3 rounds) through Flask's test client in
one process, printing SQL statements, app CPU and PostgreSQL CPU per visit, figures that other
load on a shared machine hardly moves.
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import io
import json
import math
import os
import random
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path

from benchdb import create_database, drop_database, free_port

ROOT = Path(__file__).resolve().parents[2]
BENCH_DIR = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent
CHINA_TZ = timezone(timedelta(hours=8))
PHOTO_SLOTS = ("photo_house", "photo_water", "photo_helper_with_head")
TARGET_RATIO = 0.35
TARGET_P99_MS = 150.0


# --- output -----------------------------------------------------------------------------------


class Tee(io.TextIOBase):
    """Write to the real stdout and keep a copy for the output file."""

    def __init__(self, stream):
        self.stream = stream
        self.copy = io.StringIO()

    def write(self, text: str) -> int:
        self.stream.write(text)
        self.stream.flush()
        return self.copy.write(text)

    def flush(self) -> None:
        self.stream.flush()


# --- setup inside the app (run as a child process: ``--setup FIXTURE.json``) -------------------


def bench_definition(definition: dict) -> dict:
    """Survey v1 with every photo slot optional: visits without photos validate against it."""
    out = copy.deepcopy(definition)
    for section in out.get("sections", []):
        for question in section.get("questions", []):
            if question.get("type") == "photo":
                question.pop("required", None)
    out.pop("version", None)
    return out


def setup_app(fixture_path: Path, helpers: int, photos: str, photo_visits: int) -> None:
    """Publish the bench survey, issue helper tokens, optionally pre-create photos; dump JSON."""
    from sqlalchemy import func, insert, select

    from backend import create_app
    from backend.extensions import db
    from backend.models import Assignment, FormVersion, Household, Photo, Role, RoleGrant, User
    from backend.services import survey
    from backend.services.auth import actor_for_user, issue_token
    from backend.services.forms import create_form, publish_form

    app = create_app()
    with app.app_context():
        if photos == "none":
            admin = db.session.scalar(
                select(User).join(RoleGrant).where(RoleGrant.role == Role.TOWN_ADMIN.value)
            )
            actor = actor_for_user(user=admin)
            v1 = db.session.scalar(select(FormVersion).where(FormVersion.version == 1))
            draft = create_form(
                actor=actor,
                title=v1.title + "（压测：照片可选）",
                definition=bench_definition(v1.definition),
            )
            form = publish_form(actor=actor, form_id=draft.id)
        else:
            form = db.session.scalar(select(FormVersion).where(FormVersion.version == 1))

        # Helpers with the most assigned households first, so every client has a few to visit.
        today = date.today()
        counts = (
            select(Assignment.helper_id, func.count().label("n"))
            .where(Assignment.end_date.is_(None))
            .group_by(Assignment.helper_id)
            .order_by(func.count().desc(), Assignment.helper_id)
            .limit(helpers)
        )
        rows = db.session.execute(counts).all()
        if len(rows) < helpers:
            raise SystemExit(f"only {len(rows)} helpers with households; fewer clients please")
        out = {"form_version": form.version, "helpers": []}
        sample = None
        for helper_id, _n in rows:
            user = db.session.get(User, helper_id)
            token = issue_token(user=user, method="password").token
            households = db.session.scalars(
                select(Household)
                .join(Assignment, Assignment.household_id == Household.id)
                .where(Assignment.helper_id == helper_id, Assignment.end_date.is_(None))
                .order_by(Household.id)
            ).all()
            entry = {"helper_id": helper_id, "token": token, "households": [], "photos": []}
            for hh in households:
                members = [
                    {"id": m.id, "birth_date": m.birth_date.isoformat() if m.birth_date else None}
                    for m in hh.members
                ]
                entry["households"].append(
                    {"id": hh.id, "lat": hh.lat, "lon": hh.lon, "members": members}
                )
                sample = sample or (hh, members)
            if photos == "linked":
                entry["photos"] = _make_photos(db, insert, Photo, helper_id, 3 * photo_visits)
            out["helpers"].append(entry)
        db.session.commit()

        # Fail early, with the engine's own messages, if the generated answers do not validate.
        hh, members = sample
        answers = make_answers(members, today, seq=0)
        if photos == "linked":
            answers.update({slot: [1] for slot in PHOTO_SLOTS})
        errors = survey.validate_answers(
            form.definition,
            answers,
            members=[{"id": m["id"], "birth_date": m["birth_date"]} for m in members],
            visit_date=today,
        )
        if errors:
            raise SystemExit(f"bench answers do not validate: {errors}")
    fixture_path.write_text(json.dumps(out))


def _make_photos(db, insert, Photo, helper_id: int, count: int) -> list[int]:
    """Photo rows as an upload would leave them (no files: the visit path reads only rows)."""
    rows = []
    for _ in range(count):
        sha = secrets.token_hex(32)
        rows.append(
            {
                "client_uuid": str(uuid.uuid4()),
                "uploader_id": helper_id,
                "purpose": "house",
                "sha256": sha,
                "phash": f"{random.getrandbits(64):016x}",
                "mime": "image/jpeg",
                "width": 4000,
                "height": 3000,
                "size_bytes": 4_000_000,
                "original_key": f"photos/{sha}.jpg",
                "display_key": f"photos/{sha}.display.jpg",
                "thumb_key": f"photos/{sha}.thumb.jpg",
            }
        )
    ids = db.session.scalars(insert(Photo).returning(Photo.id), rows).all()
    return sorted(ids)


# --- visit bodies -----------------------------------------------------------------------------


def _age_on(born: date, day: date) -> int:
    return day.year - born.year - ((day.month, day.day) < (born.month, born.day))


def make_answers(members: list[dict], day: date, seq: int) -> dict:
    """40 answers to the default survey (every conditional branch that adds answers is taken)."""
    ages = {}
    for m in members:
        born = date.fromisoformat(m["birth_date"]) if m["birth_date"] else None
        ages[str(m["id"])] = _age_on(born, day) if born else None
    everyone = dict.fromkeys(ages, True)
    jobs = ("farming", "migrant", "local")
    return {
        "food_secure": True,
        "clothing_secure": True,
        "school_status": {
            k: "in_school" for k, a in ages.items() if a is not None and 6 <= a <= 15
        },
        "college_students": 1,
        "college_aid": True,
        "medical_insurance": dict(everyone),
        "serious_illness_insurance": dict(everyone),
        "medical_aid": "covered",
        "doctor_contracted": dict(everyone),
        "family_doctor_name": "测医生",
        "knows_family_doctor": True,
        "hospitalized": True,
        "inpatient_self_pay_percent": 8.5,
        "outpatient_treated": True,
        "outpatient_self_pay_percent": 20,
        "house_grade": "A",
        "water_quantity": True,
        "water_quality": True,
        "water_outage_days": seq % 3,
        "water_fetch_minutes": 5,
        "dibao_enrolled": False,
        "tekun_enrolled": False,
        "assistance_eligible_unenrolled": False,
        "hardship": True,
        "hardship_types": ["serious_illness"],
        "hardship_date": (day - timedelta(days=40)).isoformat(),
        "temporary_relief": "received",
        "employment": {
            k: jobs[(seq + i) % 3]
            for i, (k, a) in enumerate(ages.items())
            if a is not None and 16 <= a <= 64
        },
        "income_per_capita": 12000 + seq % 500,
        "has_microloan": True,
        "microloan_amount": 30000,
        "microloan_overdue": False,
        "microloan_use": "production",
        "collective_linkage": True,
        "industry_projects": ["planting", "breeding"],
        "sanitary_points": 80,
        "courtyard_points": 85,
        "knows_policies": True,
        "knows_health_policy": True,
        "remarks": "户主今年住院一次，已享受医疗救助和临时救助，家庭生活稳定。",
    }


class VisitMaker:
    """The visits of one helper's phone: distinct, time-ordered, near the household visited."""

    def __init__(
        self, helper: dict, form_version: int, seed: int, linked_photos: bool, part: int = 0
    ):
        self.helper = helper
        self.form_version = form_version
        self.rng = random.Random(seed)
        self.linked = linked_photos
        # The measured run and the profile run claim disjoint halves of the helper's photos.
        self.photos = list(helper["photos"][part::2])
        self.seq = 0
        # Each phone starts 30 days back, a little apart, and moves 25 minutes per visit.
        self.clock = datetime.now(UTC).replace(microsecond=0) - timedelta(
            days=30, minutes=self.rng.randrange(0, 600)
        )
        self._answers: dict[tuple[int, date], str] = {}
        self.fallback = next(
            ((h["lat"], h["lon"]) for h in helper["households"] if h["lat"] is not None),
            (29.80, 106.05),
        )

    def _answers_json(self, household: dict, day: date, extra: dict | None) -> str:
        key = (household["id"], day)
        text = self._answers.get(key) if extra is None else None
        if text is None:
            answers = make_answers(household["members"], day, self.seq)
            if extra:
                answers.update(extra)
            text = json.dumps(answers, ensure_ascii=False, separators=(",", ":"))
            if extra is None:
                self._answers[key] = text
        return text

    def next_body(self) -> bytes | None:
        """The JSON body of this phone's next visit (None when its photos ran out)."""
        households = self.helper["households"]
        household = households[self.seq % len(households)]
        extra = None
        if self.linked:
            if len(self.photos) < 3:
                return None
            ids, self.photos = self.photos[:3], self.photos[3:]
            extra = {
                "photo_house": [ids[0]],
                "photo_water": [ids[1]],
                "photo_helper_with_head": [ids[2]],
            }
        started = self.clock
        ended = started + timedelta(minutes=15)
        captured = started + timedelta(minutes=10)
        self.clock += timedelta(minutes=25)
        day = ended.astimezone(CHINA_TZ).date()
        lat, lon = (
            (household["lat"], household["lon"]) if household["lat"] is not None else self.fallback
        )
        rng = self.rng
        client_uuid = uuid.UUID(int=rng.getrandbits(128), version=4)
        self.seq += 1
        # Formatted by hand: json.dumps of this envelope is a third of the client's CPU per visit.
        head = (
            f'{{"client_uuid":"{client_uuid}","household_id":{household["id"]},'
            f'"form_version":{self.form_version},"started_at":"{started.isoformat()}",'
            f'"ended_at":"{ended.isoformat()}",'
            f'"device_sent_at":"{datetime.now(UTC).isoformat(timespec="seconds")}",'
            f'"gps":{{"lat":{lat + rng.uniform(-1e-4, 1e-4):.7f},'
            f'"lon":{lon + rng.uniform(-1e-4, 1e-4):.7f},'
            f'"accuracy":{rng.uniform(8, 25):.1f},"altitude":310.0,"coord":"wgs84",'
            f'"captured_at":"{captured.isoformat()}"}}'
        )
        answers = self._answers_json(household, day, extra)
        return f'{head},"answers":{answers}}}'.encode()


# --- a small keep-alive HTTP/1.1 client --------------------------------------------------------


@dataclass
class LoadResult:
    """What one load run measured."""

    label: str
    clients: int
    warmup: float
    duration: float
    latencies: list[float] = field(default_factory=list)  # seconds, measured window only
    statuses: Counter = field(default_factory=Counter)  # all requests, warm-up included
    errors: list[str] = field(default_factory=list)  # first few non-2xx bodies
    resent: int = 0  # requests re-sent on a fresh connection after the server closed one
    unfinished: int = 0
    exhausted: int = 0  # clients that ran out of pre-created photos
    config: str = ""  # the gunicorn workers it ran on
    cpu: dict[str, float] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        """Completed requests per second in the measured window."""
        return len(self.latencies) / self.duration

    @property
    def error_count(self) -> int:
        """Non-2xx answers, warm-up included."""
        return sum(n for code, n in self.statuses.items() if not 200 <= code < 300)

    def pct(self, p: float) -> float:
        """Nearest-rank percentile in milliseconds."""
        ordered = sorted(self.latencies)
        if not ordered:
            return float("nan")
        return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)] * 1000


class ServerClosed(Exception):
    """The server closed a keep-alive connection before answering."""


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bool, bytes]:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, ConnectionError) as exc:
        raise ServerClosed from exc
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers = {}
    for line in lines[1:]:
        if line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    close = headers.get("connection", "").lower() == "close"
    if "content-length" in headers:
        body = await reader.readexactly(int(headers["content-length"]))
    elif headers.get("transfer-encoding", "").lower() == "chunked":
        chunks = []
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            chunk = await reader.readexactly(size + 2)
            if size == 0:
                break
            chunks.append(chunk[:-2])
        body = b"".join(chunks)
    else:
        body = await reader.read()
        close = True
    return status, close, body


async def _client(
    port: int, token: str, maker: VisitMaker, state: dict, result: LoadResult
) -> None:
    prefix = (
        f"POST /api/v1/visits HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Authorization: Bearer {token}\r\nContent-Type: application/json\r\n"
        "Accept: application/json\r\nContent-Length: "
    ).encode()
    reader = writer = None
    perf = time.perf_counter
    try:
        while not state["stop"]:
            body = maker.next_body()
            if body is None:
                result.exhausted += 1
                return
            request = prefix + str(len(body)).encode() + b"\r\n\r\n" + body
            started = perf()
            for attempt in range(3):
                fresh = writer is None
                if fresh:
                    reader, writer = await asyncio.open_connection("127.0.0.1", port)
                try:
                    writer.write(request)
                    status, close, payload = await _read_response(reader)
                    break
                except (ServerClosed, ConnectionError):
                    # A recycled worker closes its idle keep-alive connections; a visit is
                    # idempotent by client_uuid, so re-sending it is what a phone does too.
                    writer.close()
                    reader = writer = None
                    if fresh or attempt == 2:
                        raise
                    result.resent += 1
            done = perf()
            result.statuses[status] += 1
            if not 200 <= status < 300 and len(result.errors) < 5:
                result.errors.append(f"HTTP {status}: {payload[:300].decode(errors='replace')}")
            if state["t_measure"] <= done < state["t_end"]:
                result.latencies.append(done - started)
            if close:
                writer.close()
                reader = writer = None
    finally:
        if writer is not None:
            writer.close()


async def _drive(port, fixture, makers, clients, warmup, duration, result, on_measure):
    state = {"stop": False}
    now = time.perf_counter()
    state["t_measure"] = now + warmup
    state["t_end"] = now + warmup + duration
    tasks = [
        asyncio.create_task(_client(port, fixture["helpers"][i]["token"], makers[i], state, result))
        for i in range(clients)
    ]
    await asyncio.sleep(warmup)
    before = on_measure() if on_measure else None
    await asyncio.sleep(duration)
    after = on_measure() if on_measure else None
    state["stop"] = True
    done, pending = await asyncio.wait(tasks, timeout=30)
    for task in pending:
        task.cancel()
    result.unfinished = len(pending)
    for task in done:
        if task.exception() is not None:
            raise task.exception()
    return before, after


def run_load(
    label,
    port,
    fixture,
    args,
    *,
    seed: int,
    server: Server | None = None,
    duration: float | None = None,
) -> LoadResult:
    """Drive ``port`` with args.clients closed-loop clients; warm up, then measure."""
    duration = duration or args.duration
    makers = [
        VisitMaker(
            fixture["helpers"][i], fixture["form_version"], seed + i, args.photos == "linked"
        )
        for i in range(args.clients)
    ]
    result = LoadResult(label=label, clients=args.clients, warmup=args.warmup, duration=duration)
    snap = (lambda: cpu_snapshot(server.process.pid, args.db_name)) if server else None
    wait_until_quiet(args)
    before, after = asyncio.run(
        _drive(port, fixture, makers, args.clients, args.warmup, duration, result, snap)
    )
    if before and after:
        result.cpu = {k: (after[k] - before[k]) / duration for k in after}
    return result


# --- processes, CPU accounting ----------------------------------------------------------------


def _stat(pid: int) -> list[str] | None:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None


def cpu_snapshot(master: int, db_name: str | None = None) -> dict[str, float]:
    """CPU seconds so far: gunicorn (master, live and reaped workers), our PostgreSQL backends,
    other PostgreSQL processes, this client, and the whole machine."""
    tick = os.sysconf("SC_CLK_TCK")
    out = {"gunicorn": 0.0, "postgres": 0.0, "pg_other": 0.0, "client": 0.0, "machine": 0.0}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        pid = int(entry.name)
        fields = _stat(pid)
        if fields is None:
            continue
        ppid, used = int(fields[1]), (int(fields[11]) + int(fields[12])) / tick
        if pid == master:
            # Workers recycled during the window were reaped by the master: their time is here.
            out["gunicorn"] += used + (int(fields[13]) + int(fields[14])) / tick
        elif ppid == master:
            out["gunicorn"] += used
        elif pid == os.getpid():
            out["client"] += used
        else:
            try:
                comm = Path(f"/proc/{pid}/comm").read_text().strip()
                if not comm.startswith("postgres"):
                    continue
                # A backend's title names its database: "postgres: user dbname host(port) …".
                title = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
            except OSError:
                continue
            if not title.startswith("postgres: "):
                # The postmaster reaps backends that exit (a recycled worker closes its
                # connections): their CPU lands in its cutime. Nearly all are ours.
                out["pg_other"] += used
                out["postgres"] += (int(fields[13]) + int(fields[14])) / tick
                continue
            ours = db_name is not None and f" {db_name} " in title
            out["postgres" if ours else "pg_other"] += used
    with open("/proc/stat") as f:
        cpu = [int(x) for x in f.readline().split()[1:]]
    # user nice system idle iowait irq softirq steal: everything but idle and iowait is busy.
    out["machine"] = (sum(cpu[:8]) - cpu[3] - cpu[4]) / tick
    return out


def background_cpu(seconds: float = 2.0) -> float:
    """Cores kept busy by other processes while this script sleeps (other people's tests...)."""
    before = cpu_snapshot(-1)["machine"]
    time.sleep(seconds)
    return (cpu_snapshot(-1)["machine"] - before) / seconds


def wait_until_quiet(args) -> float:
    """Wait (at most args.wait_quiet seconds) for the machine to be idle; return the load seen."""
    deadline = time.monotonic() + args.wait_quiet
    busy = background_cpu(1.0)
    while busy > args.quiet_cores and time.monotonic() < deadline:
        busy = background_cpu(2.0)
    if busy > args.quiet_cores:
        print(f"WARNING: {busy:.2f} cores busy with other work before this run")
    return busy


@dataclass
class Server:
    """A gunicorn master started by this script."""

    process: subprocess.Popen
    port: int

    def stop(self) -> None:
        """Stop gunicorn gracefully (SIGTERM to the master this script started)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def parse_config(text: str) -> tuple[str, int, int]:
    """``gthread:4x2`` → ("gthread", 4 workers, 2 threads); ``sync:5`` → ("sync", 5, 1)."""
    kind, _, shape = text.partition(":")
    if kind not in ("gthread", "sync") or not shape:
        raise argparse.ArgumentTypeError(f"bad worker config {text!r} (gthread:4x2 or sync:5)")
    workers, _, threads = shape.partition("x")
    return kind, int(workers), int(threads or 1)


def start_gunicorn(app: str, config: str, env: dict, log: Path, args, extra=()) -> Server:
    """Start gunicorn with the project's config file on a free loopback port; wait for it."""
    kind, workers, threads = parse_config(config)
    port = free_port()
    cmd = [str(BIN / "gunicorn"), "-c", "gunicorn.conf.py", *extra, app]
    cmd += ["--bind", f"127.0.0.1:{port}", "--workers", str(workers)]
    # gthread is the config file's threaded worker (the project's, which balances connections).
    cmd += ["--threads", str(threads)] + (["--worker-class", kind] if kind == "sync" else [])
    if args.max_requests is not None and "--max-requests" not in extra:
        cmd += ["--max-requests", str(args.max_requests)]
    env = {
        **env,
        "GUNICORN_CMD_ARGS": "--access-logfile /dev/null",
        "BASELINE_POOL_SIZE": str(threads),
    }
    with open(log, "ab") as out:
        process = subprocess.Popen(
            cmd, cwd=env["HHQ_APP_ROOT"], env=env, stdout=out, stderr=subprocess.STDOUT
        )
    server = Server(process=process, port=port)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"gunicorn exited; see {log}:\n{log.read_text()[-3000:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=2) as sock:
                sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                if sock.recv(64).startswith(b"HTTP/1.1 200"):
                    return server
        except OSError:
            pass
        time.sleep(0.2)
    server.stop()
    raise SystemExit(f"gunicorn did not come up; see {log}")


# --- database ---------------------------------------------------------------------------------


def db_counts(url: str) -> dict[str, int]:
    """Rows written, to show the benchmark stored what it claims."""
    import psycopg

    out = {}
    with psycopg.connect(url, connect_timeout=5) as conn:
        for table in ("visits", "visit_checks", "bench_baseline"):
            try:
                out[table] = conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
            except psycopg.errors.UndefinedTable:
                conn.rollback()
    return out


def run(cmd: list[str], env: dict, what: str) -> str:
    """Run a setup command; on failure show its output and stop."""
    done = subprocess.run(cmd, cwd=env["HHQ_APP_ROOT"], env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{what} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return done.stdout


# --- in process -------------------------------------------------------------------------------


def measure_in_process(
    fixture_path: Path, count: int, db_name: str, rounds: int = 3, threads: int = 1
) -> None:
    """``count`` submissions through Flask's test client, ``rounds`` times; print the costs.

    Runs inside the app (a subprocess with the bench's environment). Per request: SQL
    statements (a SQLAlchemy ``before_cursor_execute`` listener; executemany counts once;
    the pool's pre-ping and the BEGIN/COMMIT the driver sends are not statements), this
    process's CPU (``time.process_time``: the worker's share, test client included) and the
    CPU of this database's PostgreSQL backends. The best round is kept: CPU time, unlike
    throughput, barely moves with other load on the machine, but it does a little.
    """
    from sqlalchemy import event

    from backend import create_app
    from backend.extensions import db

    fixture = json.loads(fixture_path.read_text())
    app = create_app()
    makers = [
        VisitMaker(helper, fixture["form_version"], 700_000 + i, False)
        for i, helper in enumerate(fixture["helpers"])
    ]
    client = app.test_client()
    with app.app_context():
        engine = db.engine
    seen: Counter = Counter()

    spent: Counter = Counter()

    @event.listens_for(engine, "before_cursor_execute")
    def _count(conn, _cursor, statement, _params, _context, _executemany):
        seen[" ".join(statement.split())[:96]] += 1
        conn.info["hhq_bench_t0"] = time.perf_counter()

    @event.listens_for(engine, "after_cursor_execute")
    def _time(conn, _cursor, statement, _params, _context, _executemany):
        spent[" ".join(statement.split())[:96]] += time.perf_counter() - conn.info["hhq_bench_t0"]

    def post(i: int) -> None:
        maker = makers[i % len(makers)]
        resp = client.post(
            "/api/v1/visits",
            data=maker.next_body(),
            content_type="application/json",
            headers={"Authorization": "Bearer " + maker.helper["token"]},
        )
        if resp.status_code != 201:
            raise SystemExit(f"in-process submission failed: {resp.status_code} {resp.data[:500]}")

    for i in range(20):  # warm-up: imports, compiled-statement caches, prepared statements
        post(i)
    seen.clear()
    spent.clear()
    best = None
    profiler = None
    if os.environ.get("HHQ_BENCH_CPROFILE"):
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()

    def post_many(r: int) -> None:
        if threads == 1:
            for i in range(count):
                post(20 + r * count + i)
            return
        # Thread t posts for helpers t, t + threads, ... (a maker is not shared by threads),
        # so that concurrent submissions reach the group commit as under a threaded server.
        errors: list[BaseException] = []

        def run(t: int) -> None:
            try:
                for i in range(t, count, threads):
                    post(20 + r * count + i)
            except BaseException as exc:
                errors.append(exc)

        workers = [threading.Thread(target=run, args=(t,)) for t in range(threads)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        if errors:
            raise errors[0]

    for r in range(rounds):
        pg0 = cpu_snapshot(-1, db_name)["postgres"]
        t0, wall0 = time.process_time(), time.perf_counter()
        post_many(r)
        cpu, wall = time.process_time() - t0, time.perf_counter() - wall0
        pg = cpu_snapshot(-1, db_name)["postgres"] - pg0
        print(
            f"round {r + 1}: {cpu * 1000 / count:.2f} ms CPU/request in the app process, "
            f"{pg * 1000 / count:.2f} ms in PostgreSQL, {count / wall:.0f} requests/s"
        )
        best = min(best or (cpu, pg), (cpu, pg))
    if profiler is not None:
        profiler.disable()
        profiler.dump_stats(os.environ["HHQ_BENCH_CPROFILE"])
    total = sum(seen.values()) / (rounds * count)
    print(
        f"\n{count} submissions x {rounds} rounds: {total:.1f} SQL statements/request, "
        f"{best[0] * 1000 / count:.2f} ms CPU/request in the app process, "
        f"{best[1] * 1000 / count:.2f} ms in PostgreSQL (best round)"
    )
    print(
        "statements per request (varies with history: e.g. a household's first flag is an "
        "INSERT in a savepoint, later ones an UPDATE):"
    )
    print("  count/request  wall ms/request (driver + PostgreSQL, this process alone)")
    for text, n in seen.most_common():
        ms = spent[text] * 1000 / (rounds * count)
        print(f"  {n / (rounds * count):5.2f}  {ms:6.3f}  {text}")


# --- profile ----------------------------------------------------------------------------------


_FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^()]*?)(?::(?P<line>\d+))?\)$")

# (label, function, file suffix, depth for indentation): inclusive CPU share per request phase.
# Under the group commit a request's storing runs on its worker's commit thread (the
# "ingest_visits" phases), not under the request's own wsgi_app.
PHASES = [
    ("request threads (Flask wsgi_app)", "wsgi_app", "flask/app.py", 0),
    ("auth: before_request → authenticate_token", "authenticate_token", "services/auth.py", 1),
    ("body: JSON + VisitCreateSchema.load (webargs)", "parse", "webargs/core.py", 1),
    ("hand-over: submit_visit (group commit wait)", "submit_visit", "services/visits.py", 1),
    ("canonical_hash (of the submission)", "canonical_hash", "services/visit_ingest.py", 2),
    ("response: visit_body", "visit_body", "schemas/visits.py", 1),
    ("response: jsonify", "jsonify", "flask/json/__init__.py", 1),
    ("after_request: commit", "_commit_or_rollback", "backend/app.py", 1),
    (
        "storing: ingest_visits (commit thread)",
        "ingest_visits",
        "services/visit_ingest.py",
        0,
    ),
    ("_without_retries (retry lookup)", "_without_retries", "services/visit_ingest.py", 1),
    (
        "_resolve_households (+ cards, assignments)",
        "_resolve_households",
        "services/visit_ingest.py",
        1,
    ),
    ("published_form_for_visit (cached)", "published_form_for_visit", "services/forms.py", 1),
    ("_survey_members", "_survey_members", "services/visit_ingest.py", 1),
    ("survey.assess (validate, clean, checks)", "assess", "survey/checks.py", 1),
    ("_neighbours (impossible travel)", "_neighbours", "services/visit_ingest.py", 1),
    ("_set_flags (photo reuse, assess_visit)", "_set_flags", "services/visit_ingest.py", 1),
    ("_insert_visits", "_insert_visits", "services/visit_ingest.py", 1),
    ("_set_check_results (rows serialised)", "_set_check_results", "services/visit_ingest.py", 1),
    (
        "_store_failed_checks (INSERT rows not passed)",
        "_store_failed_checks",
        "services/visit_ingest.py",
        1,
    ),
    (
        "apply_visits_checks (problems, warnings)",
        "apply_visits_checks",
        "services/visit_problems.py",
        1,
    ),
    ("warnings.evaluate_visits", "evaluate_visits", "services/warnings.py", 2),
    ("_propose_locations", "_propose_locations", "services/visit_ingest.py", 1),
    ("rollups.record_visits (coverage upserts)", "record_visits", "services/rollups.py", 1),
    ("Session.commit (the batch's one commit)", "commit", "orm/session.py", 1),
    ("SQL round trips (psycopg execute, anywhere)", "execute", "psycopg/cursor.py", 0),
    ("pool checkout (pre-ping SELECT 1)", "_checkout", "pool/base.py", 0),
    ("gunicorn access log", "access", "gunicorn/glogging.py", 0),
    ("gunicorn HTTP parsing", "__init__", "gunicorn/http/message.py", 0),
]


def _package(path: str) -> str:
    # py-spy names files relative to their sys.path entry: "sqlalchemy/orm/session.py".
    parts = _short(path).split("/")
    if parts[0] == "backend":
        return "/".join(parts[:-1])
    if len(parts) == 1 or parts[0].startswith("<"):
        return "stdlib"
    return parts[0] if parts[0] not in _STDLIB_DIRS else "stdlib"


_STDLIB_DIRS = {
    "json",
    "concurrent",
    "logging",
    "importlib",
    "email",
    "http",
    "urllib",
    "asyncio",
    "collections",
    "encodings",
    "re",
    "xml",
}


def summarise_profile(raw: Path, top: int = 15) -> list[str]:
    """Phase, package and function shares of the CPU samples py-spy collected."""
    total = 0
    inclusive: Counter = Counter()
    leaf_fn: Counter = Counter()
    leaf_pkg: Counter = Counter()
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        frames = []
        for text in stack.split(";"):
            m = _FRAME.match(text)
            if m:
                frames.append((m["func"], m["file"]))
        if not frames:
            continue
        # Only worker request threads: the master and idle pollers are not request cost.
        total += n
        seen = set()
        for label, func, suffix, _depth in PHASES:
            if any(_is(f, func) and path.endswith(suffix) for f, path in frames):
                seen.add(label)
        for label in seen:
            inclusive[label] += n
        func, path = frames[-1]
        leaf_fn[f"{func} ({_short(path)})"] += n
        leaf_pkg[_package(path)] += n
    if not total:
        return ["(no samples)"]
    out = [f"{total} samples (GIL holders only: waits on PostgreSQL or the network drop out)"]
    out.append("")
    out.append("inclusive share of worker CPU by request phase:")
    for label, _func, _suffix, depth in PHASES:
        share = inclusive[label] / total * 100
        out.append(f"  {'  ' * depth}{label:<{52 - 2 * depth}} {share:5.1f} %")
    out.append("")
    out.append("self time by package:")
    for pkg, n in leaf_pkg.most_common(12):
        out.append(f"  {pkg:<40} {n / total * 100:5.1f} %")
    out.append("")
    out.append(f"top {top} functions by self time:")
    for name, n in leaf_fn.most_common(top):
        out.append(f"  {n / total * 100:5.1f} %  {name}")
    return out


def _short(path: str) -> str:
    parts = path.replace("\\", "/").split("/")
    for anchor in ("site-packages", "lib-dynload"):
        if anchor in parts:
            return "/".join(parts[parts.index(anchor) + 1 :])
    if "backend" in parts:
        return "/".join(parts[parts.index("backend") :])
    if re.match(r"python3\.\d+$", parts[-2] if len(parts) > 1 else ""):
        return parts[-1]
    return "/".join(parts[-3:]) if path.startswith("/") else path


def _is(func: str, name: str) -> bool:
    # py-spy qualifies methods ("Session.flush", "f.<locals>.g"): compare the last part.
    return func == name or func.endswith("." + name)


def profile_run(env: dict, log: Path, fixture, args, tmp: Path) -> list[str]:
    """Load a fresh gunicorn of sync workers while py-spy samples them; summarise the samples.

    py-spy counts a thread as busy whenever the OS says it is runnable, and on a saturated
    machine a worker whose PostgreSQL answer has arrived waits for a core: its samples would
    pile up in psycopg's wait and send functions. So the profile runs below saturation, with
    few clients (``--profile-clients``) on two sync workers (one thread each: no GIL waits
    either), and keeps only samples holding the GIL (``--gil``): even unsaturated, psycopg's
    waits for PostgreSQL otherwise showed up as a third of the "CPU". The code path of a
    request is the same as under load; only queueing differs.
    """
    spy = BIN / "py-spy"
    if not spy.exists():
        return ["py-spy is not installed (pip install py-spy): profile skipped"]
    config = args.profile_config
    server = start_gunicorn(
        "backend.wsgi:app", config, env, log, args, extra=("--max-requests", "0")
    )
    try:
        return _profile(server, config, fixture, args, tmp)
    finally:
        server.stop()


def _profile(server: Server, config: str, fixture, args, tmp: Path) -> list[str]:
    spy = BIN / "py-spy"
    raw = tmp / "profile.txt"
    duration = args.profile
    cmd = [
        str(spy),
        "record",
        "--pid",
        str(server.process.pid),
        "--subprocesses",
        "--rate",
        "200",
        "--function",
        "--nonblocking",
        # Only samples that hold the GIL: psycopg releases it while it waits for PostgreSQL,
        # and without this py-spy counted a third of those waits as CPU (Connection.wait).
        "--gil",
        "--format",
        "raw",
        "--duration",
        str(int(duration)),
        "--output",
        str(raw),
    ]
    spy_proc = None

    def start_spy():
        # Called when the warm-up ends (and again at the end of the window: a no-op).
        nonlocal spy_proc
        if spy_proc is None:
            spy_proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    clients = args.profile_clients
    result = LoadResult(label="profile", clients=clients, warmup=args.warmup, duration=duration)
    makers = [
        VisitMaker(
            fixture["helpers"][i],
            fixture["form_version"],
            900_000 + i,
            args.photos == "linked",
            part=1,
        )
        for i in range(clients)
    ]
    err = b""
    try:
        asyncio.run(
            _drive(
                server.port,
                fixture,
                makers,
                clients,
                args.warmup,
                duration + 1,
                result,
                start_spy,
            )
        )
    finally:
        if spy_proc is not None:
            try:
                _, err = spy_proc.communicate(timeout=60)
            except subprocess.TimeoutExpired:
                spy_proc.kill()
                _, err = spy_proc.communicate()
    if spy_proc is None or not raw.exists():
        return [f"py-spy failed: {err.decode(errors='replace')[-500:]}"]
    if args.keep:
        shutil.copy(raw, Path(tempfile.gettempdir()) / "ingest_bench_profile.txt")
    samples = summarise_profile(raw)
    total = int(samples[0].split()[0]) if samples[0].split()[0].isdigit() else 0
    per_request = total / 200 / max(1, len(result.latencies)) * 1000
    lines = [
        f"py-spy {duration:.0f} s at 200 Hz on gunicorn {config} (same app, no recycling) while "
        f"{clients} client(s) ran: {result.rate:.0f} visits/s under sampling, "
        f"{result.error_count} errors, ~{per_request:.1f} ms of sampled worker CPU per visit"
    ]
    return lines + samples


# --- report -----------------------------------------------------------------------------------


def print_result(r: LoadResult) -> None:
    """Print one run's figures."""
    codes = ", ".join(f"{code}×{n}" for code, n in sorted(r.statuses.items()))
    print(f"\n== {r.label} ==")
    print(
        f"{r.clients} clients, warm-up {r.warmup:.0f} s, measured {r.duration:.0f} s: "
        f"{len(r.latencies)} requests → {r.rate:.0f}/s"
    )
    print(
        f"latency ms: p50 {r.pct(50):.1f}, p95 {r.pct(95):.1f}, p99 {r.pct(99):.1f}, "
        f"max {r.pct(100):.1f}"
    )
    print(f"status codes (warm-up included): {codes}; errors (non-2xx): {r.error_count}")
    if r.resent:
        print(f"re-sent after the server closed a keep-alive connection: {r.resent}")
    if r.unfinished or r.exhausted:
        print(f"unfinished clients: {r.unfinished}; out of photos: {r.exhausted}")
    for err in r.errors:
        print(f"  {err}")
    if r.cpu:
        cores = os.cpu_count() or 1
        other = r.cpu["machine"] - r.cpu["gunicorn"] - r.cpu["postgres"] - r.cpu["client"]
        # Other work on the machine (someone's test suite) takes cores from this run.
        per = 1000 / r.rate if r.rate else float("nan")
        print(
            f"CPU (cores busy, of {cores}): gunicorn {r.cpu['gunicorn']:.2f}, postgres "
            f"{r.cpu['postgres']:.2f}, client {r.cpu['client']:.2f}, other {other:.2f} "
            f"(of which other databases {r.cpu['pg_other']:.2f}); machine {r.cpu['machine']:.2f}"
        )
        print(
            f"CPU per request: gunicorn {r.cpu['gunicorn'] * per:.2f} ms, "
            f"postgres {r.cpu['postgres'] * per:.2f} ms, client {r.cpu['client'] * per:.2f} ms"
        )


def main() -> None:
    """Set up, measure ingest and baseline, profile, report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--config",
        # Measured with --sweep on 2 cores: the same visits/s under every configuration (the
        # workers are CPU-bound), but sync workers share the load evenly while gthread workers
        # keep their keep-alive connections, so a busy worker's clients wait 3-7x longer (p99).
        default="gthread:2x25",
        help="gunicorn workers of the app: gthread:WORKERSxTHREADS or sync:WORKERS "
        "(default gthread:2x25, gunicorn.conf.py on 2 cores)",
    )
    parser.add_argument(
        "--baseline-config",
        default="sync:4,gthread:2x25",
        help="gunicorn workers of the baseline, comma-separated: each is measured and the "
        "fastest is the reference (the baseline gets its best configuration)",
    )
    parser.add_argument("--sweep", help="comma-separated configs: measure ingest under each")
    parser.add_argument("-c", "--clients", type=int, default=50)
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds before measuring")
    parser.add_argument("-d", "--duration", type=float, default=15.0, help="measured seconds")
    parser.add_argument("--profile", type=float, default=10.0, help="py-spy seconds (0: skip)")
    parser.add_argument(
        "--profile-clients", type=int, default=1, help="clients during the profile (unsaturated)"
    )
    parser.add_argument(
        "--profile-config",
        default="sync:2",
        help="gunicorn workers during the profile (e.g. gthread:2x25 with --profile-clients 50)",
    )
    parser.add_argument("--photos", choices=("none", "linked"), default="none")
    parser.add_argument(
        "--photo-visits",
        type=int,
        default=600,
        help="with --photos linked: visits' worth of photos per helper",
    )
    parser.add_argument("--households", type=int, default=1500, help="demo town size")
    parser.add_argument(
        "--max-requests", type=int, help="override gunicorn max_requests (0: never recycle workers)"
    )
    parser.add_argument(
        "--only", choices=("ingest", "baseline"), help="run one side only (no ratio)"
    )
    parser.add_argument(
        "--database-url",
        default="postgresql://postgres@127.0.0.1:5432/postgres",
        help="a PostgreSQL server's maintenance database, to create the bench database from",
    )
    parser.add_argument(
        "--wait-quiet",
        type=float,
        default=120.0,
        help="before each run, wait up to this many seconds for other work to stop",
    )
    parser.add_argument("--quiet-cores", type=float, default=0.25, help=argparse.SUPPRESS)
    parser.add_argument(
        "--app-root",
        type=Path,
        default=ROOT,
        help="measure the app in another checkout (a branch with a fix) with this venv",
    )
    parser.add_argument(
        "--in-process",
        type=int,
        default=0,
        metavar="N",
        help="instead of the HTTP runs: N submissions (x3 rounds) through Flask's test client; "
        "SQL statements and CPU per request",
    )
    parser.add_argument(
        "--in-process-threads",
        type=int,
        default=1,
        metavar="T",
        help="with --in-process: T threads submit at once (group commit batches them)",
    )
    parser.add_argument("--output", default="/tmp/ingest_bench.txt")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (logs, profile)")
    parser.add_argument("--setup", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--helpers", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--measure", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--db-name", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.setup:
        setup_app(args.setup, args.helpers, args.photos, args.photo_visits)
        return
    if args.measure:
        measure_in_process(
            args.measure, args.in_process, args.db_name, threads=args.in_process_threads
        )
        return
    for text in (args.sweep or args.config).split(","):
        parse_config(text)

    tee = Tee(sys.stdout)
    sys.stdout = tee
    tmp = Path(tempfile.mkdtemp(prefix="hhq-visit-bench-"))
    db_name = db_url = None
    servers: list[Server] = []
    # SIGTERM → the finally blocks below (gunicorn stopped, database dropped).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        import psycopg

        if args.app_root.resolve() != ROOT:
            print(f"app under test: {args.app_root.resolve()}")
        print(
            f"machine: {os.cpu_count()} CPUs, Python {sys.version.split()[0]}, "
            f"psycopg {psycopg.__version__}, started {datetime.now().isoformat(timespec='seconds')}"
        )
        busy = background_cpu()
        print(
            f"background load before starting: {busy:.2f} of {os.cpu_count()} cores busy"
            + ("  (WARNING: something else is running; figures will be low)" if busy > 0.2 else "")
        )
        t0 = time.perf_counter()
        db_name, db_url = create_database(args.database_url, "hhq_visit_bench")
        args.db_name = db_name
        with psycopg.connect(db_url, connect_timeout=5) as conn:
            pg_version = conn.execute("SHOW server_version").fetchone()[0]
        env = {
            **os.environ,
            "DATABASE_URL": db_url,
            "HHQ_ENV": "production",
            "SECRET_KEY": secrets.token_hex(32),
            "WECHAT_SECRET": secrets.token_hex(16),
            "LOG_LEVEL": "WARNING",
            "HHQ_VAR_DIR": str(tmp / "var"),
            "LOCAL_STORAGE_DIR": str(tmp / "storage"),
            "STORAGE_BACKEND": "local",
            "FLASK_APP": "backend.wsgi",
            "BASELINE_DATABASE_URL": db_url,
            "PYTHONUNBUFFERED": "1",
            # Which checkout's backend/ and gunicorn.conf.py run (this one unless --app-root).
            "HHQ_APP_ROOT": str(args.app_root.resolve()),
            "PYTHONPATH": str(args.app_root.resolve()),
        }
        flask = str(BIN / "flask")
        run([flask, "db", "upgrade"], env, "flask db upgrade")
        demo = run(
            [flask, "hhq", "demo", "--households", str(args.households)], env, "flask hhq demo"
        )
        fixture_path = tmp / "fixture.json"
        run(
            [
                sys.executable,
                __file__,
                "--setup",
                str(fixture_path),
                "--helpers",
                str(args.clients),
                "--photos",
                args.photos,
                "--photo-visits",
                str(args.photo_visits),
            ],
            env,
            "bench setup",
        )
        fixture = json.loads(fixture_path.read_text())
        with psycopg.connect(db_url, connect_timeout=5) as conn:
            conn.execute(_baseline_table_sql())
        n_households = sum(len(h["households"]) for h in fixture["helpers"])
        sample = VisitMaker(
            fixture["helpers"][0], fixture["form_version"], 0, args.photos == "linked"
        ).next_body()
        n_answers = len(json.loads(sample)["answers"])
        print(
            f"PostgreSQL {pg_version}, database {db_name}: migrated, "
            + demo.splitlines()[0].replace("Demo town loaded", "demo town")
        )
        print(
            f"set up in {time.perf_counter() - t0:.1f} s; {args.clients} helpers with "
            f"{n_households} households; survey v{fixture['form_version']} "
            + (
                "(v1 with photo slots optional; no photos sent)"
                if args.photos == "none"
                else "(v1; 3 pre-created photos claimed per visit)"
            )
            + f"; {n_answers} answers, {len(sample)} bytes a body"
        )
        if args.in_process:
            print(f"\n== in process: {args.in_process} submissions x 3 rounds ==")
            print(
                run(
                    [
                        sys.executable,
                        __file__,
                        "--measure",
                        str(fixture_path),
                        "--in-process",
                        str(args.in_process),
                        "--in-process-threads",
                        str(args.in_process_threads),
                        "--db-name",
                        db_name,
                    ],
                    env,
                    "in-process measurement",
                ).rstrip()
            )
            return
        log = tmp / "gunicorn.log"
        recycle = (
            "max_requests from gunicorn.conf.py"
            if args.max_requests is None
            else f"--max-requests {args.max_requests}"
        )

        if args.sweep:
            rows = []
            side = args.only or "ingest"
            app, extra = (
                ("baseline_app:app", ("--pythonpath", str(BENCH_DIR)))
                if side == "baseline"
                else ("backend.wsgi:app", ())
            )
            for i, config in enumerate(args.sweep.split(",")):
                server = start_gunicorn(app, config, env, log, args, extra=extra)
                servers.append(server)
                r = run_load(
                    f"{side}, {config}",
                    server.port,
                    fixture,
                    args,
                    seed=1000 * (i + 1),
                    server=server,
                )
                server.stop()
                servers.remove(server)
                print_result(r)
                rows.append((config, r))
            print(f"\n== sweep summary: {side} ({args.clients} clients, {recycle}) ==")
            print(f"{'config':<14} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7}")
            for config, r in rows:
                print(
                    f"{config:<14} {r.rate:>9.0f} {r.pct(50):>8.1f} {r.pct(99):>8.1f} "
                    f"{r.error_count:>7}"
                )
            return

        ingest = None
        if args.only != "baseline":
            ingest = measure_ingest(args, env, log, fixture, tmp, servers, recycle)

        baseline = None
        if args.only != "ingest":
            for n, config in enumerate(args.baseline_config.split(",")):
                server = start_gunicorn(
                    "baseline_app:app",
                    config,
                    env,
                    log,
                    args,
                    extra=("--pythonpath", str(BENCH_DIR)),
                )
                servers.append(server)
                result = run_load(
                    f"baseline: Flask + psycopg_pool, one INSERT ({config}, {recycle})",
                    server.port,
                    fixture,
                    args,
                    seed=1 + 1000 * n,  # other client_uuids than the run before
                    server=server,
                )
                result.config = config
                print_result(result)
                server.stop()
                servers.remove(server)
                if baseline is None or result.rate > baseline.rate:
                    baseline = result
        report(args, db_url, ingest, baseline)
    finally:
        for server in servers:
            server.stop()
        if db_name:
            try:
                drop_database(args.database_url, db_name)
            except Exception as exc:
                print(f"could not drop database {db_name}: {exc}", file=sys.stderr)
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
        if isinstance(sys.stdout, Tee):
            Path(args.output).write_text(sys.stdout.copy.getvalue())
            sys.stdout = sys.stdout.stream
            print(f"(output saved to {args.output})")


def measure_ingest(args, env, log, fixture, tmp, servers, recycle) -> LoadResult:
    """The real app: the measured run, then the py-spy profile run on the same gunicorn."""
    server = start_gunicorn("backend.wsgi:app", args.config, env, log, args)
    servers.append(server)
    ingest = run_load(
        f"ingest: POST /api/v1/visits ({args.config}, {recycle})",
        server.port,
        fixture,
        args,
        seed=1,
        server=server,
    )
    ingest.config = args.config
    print_result(ingest)
    server.stop()
    servers.remove(server)
    if args.profile > 0:
        print("\n== profile of the ingest workers ==")
        print("\n".join(profile_run(env, log, fixture, args, tmp)))
    return ingest


def server_cpu_ms(r: LoadResult) -> float:
    """Gunicorn plus its PostgreSQL backends, CPU milliseconds per request."""
    if not r.cpu or not r.rate:
        return float("nan")
    return (r.cpu["gunicorn"] + r.cpu["postgres"]) * 1000 / r.rate


def other_cores(r: LoadResult) -> float:
    """Cores busy with anything but this benchmark during the measured window."""
    if not r.cpu:
        return float("nan")
    return r.cpu["machine"] - r.cpu["gunicorn"] - r.cpu["postgres"] - r.cpu["client"]


def report(args, db_url: str, ingest: LoadResult | None, baseline: LoadResult | None) -> None:
    """The summary table and the verdicts against the issue's targets; exit 1 on errors."""
    counts = db_counts(db_url)
    print(f"\nrows stored: {', '.join(f'{k} {v}' for k, v in counts.items())}")
    print(f"\n== summary ({args.clients} clients on loopback) ==")
    print(
        f"{'':<10} {'gunicorn':<13} {'req/s':>7} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} "
        f"{'errors':>7} {'server CPU ms/req':>18} {'other load':>11}"
    )
    for name, r in (("ingest", ingest), ("baseline", baseline)):
        if r is not None:
            print(
                f"{name:<10} {r.config:<13} {r.rate:>7.0f} {r.pct(50):>8.1f} "
                f"{r.pct(95):>8.1f} {r.pct(99):>8.1f} {r.error_count:>7} "
                f"{server_cpu_ms(r):>18.2f} {other_cores(r):>11.2f}"
            )
    print("(server CPU: gunicorn workers + their PostgreSQL backends; other load: cores busy")
    print(" with work that is not this benchmark during the measured window)")
    verdicts = []
    if ingest is not None and baseline is not None and baseline.rate:
        ratio = ingest.rate / baseline.rate
        verdicts.append(
            f"ingest/baseline = {ratio:.1%} (target ≥ {TARGET_RATIO:.0%}): "
            + ("MET" if ratio >= TARGET_RATIO else "NOT MET")
        )
        cpu_ratio = server_cpu_ms(baseline) / server_cpu_ms(ingest)
        verdicts.append(
            f"  by server CPU per request (less sensitive to other load): {cpu_ratio:.1%}"
        )
    if ingest is not None:
        p99 = ingest.pct(99)
        verdicts.append(
            f"ingest p99 = {p99:.1f} ms (target < {TARGET_P99_MS:.0f} ms): "
            + ("MET" if p99 < TARGET_P99_MS else "NOT MET")
        )
    errors = sum(r.error_count for r in (ingest, baseline) if r is not None)
    verdicts.append(f"errors = {errors} (must be 0): " + ("OK" if errors == 0 else "FAILED"))
    for line in verdicts:
        print(line)
    if errors:
        sys.exit(1)


def _baseline_table_sql() -> str:
    # Read the DDL from the baseline app's module text, without importing it (that opens a pool).
    text = (BENCH_DIR / "baseline_app.py").read_text()
    return text.split('CREATE_TABLE_SQL = """', 1)[1].split('"""', 1)[0]


if __name__ == "__main__":
    main()
