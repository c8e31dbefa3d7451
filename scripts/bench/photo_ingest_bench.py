"""End-to-end photo ingest benchmark: real HTTP uploads into gunicorn, PostgreSQL and storage.

    python scripts/bench/photo_ingest_bench.py [-n 60] [-c 4] [--workers 2] [--big-count 12]

What it does, all on 127.0.0.1:

1. makes N distinct 12 MP photo-like JPEGs (4000x3000, about 4 MB; one picture, a few pixels
   changed per copy before encoding) and, for the memory run, a few distinct 20 MB ones
   (6000x4500 at quality 99), in child processes;
2. creates a fresh PostgreSQL database (dropped at the end), migrates it and makes a helper
   with a bearer token through the app itself;
3. starts ``gunicorn -c gunicorn.conf.py backend.wsgi:app --workers W --bind 127.0.0.1:<port>``
   with a temporary LOCAL_STORAGE_DIR, warms every worker up, and uploads the photos from C
   client threads (``requests``, multipart field ``file`` like ``wx.uploadFile``);
4. reports photos/s end to end, p50/p99 latency, the workers' CPU time per photo and their peak
   RSS (VmHWM from /proc/<pid>/status); then does the same with a fresh gunicorn for the
   20 MB photos, whose peak RSS is the figure the issue sets a limit on.

Targets from the issue: >= 15 photos/s on 2 cores; peak worker RSS < 250 MB with 20 MB uploads.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import math
import os
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from benchdb import create_database, drop_database, free_port

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

BIN = Path(sys.executable).parent


# --- photos -----------------------------------------------------------------------------------


def generate(out_dir: Path, prefix: str, indices: range, size: tuple[int, int], quality: int):
    """Encode distinct copies of one photo-like picture (child process entry point)."""
    from photo_bench import make_photo_image

    img = make_photo_image(*size)
    for i in indices:
        # A 4x4 block whose colours encode i: distinct bytes, the same picture to the eye.
        for k in range(16):
            img.putpixel((k % 4, k // 4), ((i * 37 + k) % 256, (i * 91) % 256, (i // 256) % 256))
        img.save(out_dir / f"{prefix}-{i:04d}.jpg", "JPEG", quality=quality)


def make_photos(
    out_dir: Path, prefix: str, count: int, size: tuple[int, int], quality: int, jobs: int
) -> list[Path]:
    """Generate ``count`` distinct JPEGs with ``jobs`` child processes; return their paths."""
    per_job = math.ceil(count / jobs)
    children = []
    for j in range(jobs):
        start, stop = j * per_job, min(count, (j + 1) * per_job)
        if start >= stop:
            continue
        cmd = [sys.executable, __file__, "--generate", str(out_dir), "--prefix", prefix]
        cmd += ["--range", f"{start}:{stop}", "--size", f"{size[0]}x{size[1]}"]
        children.append(subprocess.Popen([*cmd, "--quality", str(quality)]))
    for child in children:
        if child.wait() != 0:
            raise SystemExit("photo generation failed")
    return sorted(out_dir.glob(f"{prefix}-*.jpg"))


# --- database and app -------------------------------------------------------------------------


def setup_app() -> None:
    """Migrate the database named by DATABASE_URL and print a helper's bearer token."""
    from flask_migrate import upgrade

    from backend import create_app
    from backend.extensions import db
    from backend.models import Region, Role, RoleGrant, User
    from backend.services.auth import issue_token

    app = create_app()
    with app.app_context():
        upgrade()
        district = Region(code="500151", name="铜梁区", level="district", path="/500151/")
        village = Region(
            code="500151105201",
            name="石桥村",
            level="village",
            parent=district,
            path="/500151/500151105201/",
        )
        user = User(username="bench-helper", display_name="压测帮扶人", password_hash=None)
        db.session.add_all([district, village, user])
        db.session.flush()
        db.session.add(RoleGrant(user_id=user.id, role=Role.HELPER.value, region_id=village.id))
        token = issue_token(user=user, method="password").token
        db.session.commit()
    print(f"TOKEN {token}")


# --- gunicorn and /proc -----------------------------------------------------------------------


def proc_status(pid: int) -> dict[str, int]:
    """VmHWM and VmRSS of a process in KiB."""
    values = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, rest = line.partition(":")
            if key in ("VmHWM", "VmRSS"):
                values[key] = int(rest.split()[0])
    return values


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a process so far."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def system_cpu() -> tuple[float, float, float]:
    """Machine-wide (busy, iowait, total) jiffies since boot, from /proc/stat."""
    with open("/proc/stat") as f:
        values = [int(v) for v in f.readline().split()[1:]]
    idle, iowait = values[3], values[4]
    total = sum(values[:8])
    return total - idle - iowait, iowait, total


def all_cpu(db_name: str) -> dict[tuple[int, str], float]:
    """CPU seconds so far of every process, keyed by (pid, name); our PostgreSQL backends
    are named "postgres (bench)"."""
    ticks = os.sysconf("SC_CLK_TCK")
    result = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            text = (entry / "stat").read_text()
            name = text[text.index("(") + 1 : text.rindex(")")]
            if name == "postgres" and db_name.encode() in (entry / "cmdline").read_bytes():
                name = "postgres (bench)"
        except OSError:
            continue
        fields = text.rsplit(")", 1)[1].split()
        result[(int(entry.name), name)] = (int(fields[11]) + int(fields[12])) / ticks
    return result


def idle_share(seconds: float = 1.0) -> float:
    """How idle the machine is over ``seconds`` (1.0 = nothing else running)."""
    before = system_cpu()
    time.sleep(seconds)
    after = system_cpu()
    return 1 - (after[0] - before[0]) / max(1, after[2] - before[2])


def children_of(pid: int) -> list[int]:
    """Direct child processes of ``pid``."""
    kids = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        text = (task / "children").read_text().split()
        kids.extend(int(k) for k in text)
    return sorted(kids)


@dataclass
class Server:
    """A gunicorn master started by this script."""

    process: subprocess.Popen
    port: int
    workers: list[int] = field(default_factory=list)

    @property
    def base_url(self) -> str:
        """Where it listens."""
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        """Stop gunicorn gracefully (SIGTERM to the master this script started)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_gunicorn(
    env: dict[str, str], workers: int, threads: int | None, log: Path, app: str
) -> Server:
    """Start gunicorn with the project's config on a free loopback port and wait for it."""
    import requests

    port = free_port()
    cmd = [str(BIN / "gunicorn"), "-c", "gunicorn.conf.py", app]
    cmd += ["--workers", str(workers), "--bind", f"127.0.0.1:{port}"]
    if threads:
        cmd += ["--threads", str(threads)]
    with open(log, "ab") as out:
        process = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    server = Server(process=process, port=port)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"gunicorn exited; see {log}")
        try:
            if requests.get(f"{server.base_url}/healthz", timeout=2).status_code == 200:
                server.workers = children_of(process.pid)
                if len(server.workers) == workers:
                    return server
        except requests.RequestException:
            pass
        time.sleep(0.2)
    server.stop()
    raise SystemExit(f"gunicorn did not come up; see {log}")


# --- uploads ----------------------------------------------------------------------------------


_local = threading.local()


def upload(base_url: str, token: str, path: Path, keep_alive: bool = False) -> tuple[float, int]:
    """POST one photo as wx.uploadFile does; return (seconds, HTTP status)."""
    import requests

    session = getattr(_local, "session", None)
    if session is None:
        session = _local.session = requests.Session()
    headers = {"Authorization": f"Bearer {token}"}
    if not keep_alive:
        # As nginx talks to gunicorn with the README's proxy settings: one connection per
        # request. A kept-alive connection stays with the worker that accepted it, and a
        # gthread worker accepts every connection it can, so a few clients may all land on
        # one worker while the other idles.
        headers["Connection"] = "close"
    started = time.perf_counter()
    # The body wx.uploadFile sends: the form fields, then the file. Built by hand, as
    # requests' own multipart encoder costs the client more CPU than the server's parser.
    boundary = uuid.uuid4().hex
    fields = {"client_uuid": str(uuid.uuid4()), "purpose": "house"}
    head = "".join(
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'
        for name, value in fields.items()
    )
    head += (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
        f'filename="{path.name}"\r\nContent-Type: image/jpeg\r\n\r\n'
    )
    body = b"".join([head.encode(), path.read_bytes(), f"\r\n--{boundary}--\r\n".encode()])
    headers["Content-Type"] = f"multipart/form-data; boundary={boundary}"
    response = session.post(f"{base_url}/api/v1/photos", headers=headers, data=body, timeout=120)
    elapsed = time.perf_counter() - started
    if response.status_code != 201:
        print(f"  {path.name}: HTTP {response.status_code} {response.text[:200]}", file=sys.stderr)
    return elapsed, response.status_code


def percentile(values: list[float], pct: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(pct / 100 * len(ordered)) - 1)]


def run_phase(
    label: str,
    photos: list[Path],
    warmup: list[Path],
    *,
    db_name: str,
    env: dict[str, str],
    token: str,
    args: argparse.Namespace,
    log: Path,
) -> dict:
    """One fresh gunicorn: warm up, upload ``photos`` from C threads, measure."""
    deadline = time.monotonic() + args.wait_idle
    while (busy := 1 - idle_share()) > 0.1 and time.monotonic() < deadline:
        pass
    if busy > 0.1:
        print(f"warning: the machine is {busy:.0%} busy with other work; figures will be low")
    server = start_gunicorn(env, args.workers, args.threads, log, args.app)
    try:
        with concurrent.futures.ThreadPoolExecutor(args.clients) as pool:
            # Warm-up: every worker imports the imaging stack and opens its connections.
            def send(path: Path) -> tuple[float, int]:
                return upload(server.base_url, token, path, args.keep_alive)

            for _, status in pool.map(send, warmup):
                if status != 201:
                    raise SystemExit("warm-up upload failed")
            cpu_before = {pid: cpu_seconds(pid) for pid in server.workers}
            sys_before, client_before = system_cpu(), os.times()
            procs_before = all_cpu(db_name)
            started = time.perf_counter()
            results = list(pool.map(send, photos))
            wall = time.perf_counter() - started
            sys_after, client_after = system_cpu(), os.times()
            procs_after = all_cpu(db_name)
        cpu_used = {pid: cpu_seconds(pid) - cpu_before[pid] for pid in server.workers}
        status = {pid: proc_status(pid) for pid in server.workers}
    finally:
        server.stop()
    ours = {os.getpid(), server.process.pid, *server.workers}
    others: dict[str, float] = {}
    for (pid, name), seconds in procs_after.items():
        if pid not in ours:
            used = seconds - procs_before.get((pid, name), 0.0)
            others[name] = others.get(name, 0.0) + used
    pg_ms = others.pop("postgres (bench)", 0.0) / len(photos) * 1000
    latencies = [seconds for seconds, _ in results]
    ok = sum(1 for _, code in results if code == 201)
    mean_size = statistics.mean(p.stat().st_size for p in photos) / 2**20
    report = {
        "label": label,
        "photos": len(photos),
        "ok": ok,
        "mean_mb": mean_size,
        "wall": wall,
        "rate": len(photos) / wall,
        "p50": percentile(latencies, 50) * 1000,
        "p99": percentile(latencies, 99) * 1000,
        "cpu_ms": sum(cpu_used.values()) / len(photos) * 1000,
        "cpu_split": [round(v / sum(cpu_used.values()) * 100) for v in cpu_used.values()],
        "client_cpu_ms": (
            (client_after.user + client_after.system - client_before.user - client_before.system)
            / len(photos)
            * 1000
        ),
        "busy": (sys_after[0] - sys_before[0]) / (sys_after[2] - sys_before[2]) * 100,
        "iowait": (sys_after[1] - sys_before[1]) / (sys_after[2] - sys_before[2]) * 100,
        "others": sorted(others.items(), key=lambda kv: -kv[1])[:4],
        "pg_ms": pg_ms,
        "hwm": {pid: s["VmHWM"] / 1024 for pid, s in status.items()},
        "rss": {pid: s["VmRSS"] / 1024 for pid, s in status.items()},
    }
    print_phase(report, args)
    return report


def print_phase(r: dict, args: argparse.Namespace) -> None:
    """Print one phase's figures."""
    print(f"\n== {r['label']} ==")
    print(
        f"uploads:          {r['ok']}/{r['photos']} × {r['mean_mb']:.2f} MiB accepted (201), "
        f"{args.clients} clients, {args.workers} gunicorn workers"
        f"{', kept-alive connections' if args.keep_alive else ''}"
    )
    print(f"throughput:       {r['rate']:.2f} photos/s end to end ({r['wall']:.2f} s)")
    print(f"latency:          p50 {r['p50']:.0f} ms, p99 {r['p99']:.0f} ms")
    split = "/".join(f"{v}%" for v in r["cpu_split"])
    print(
        f"CPU per photo:    workers {r['cpu_ms']:.0f} ms (split {split}), "
        f"PostgreSQL {r['pg_ms']:.0f} ms, clients {r['client_cpu_ms']:.0f} ms; "
        f"machine {r['busy']:.0f}% busy, {r['iowait']:.0f}% iowait"
    )
    capacity = (os.cpu_count() or 1) * 1000 / (r["cpu_ms"] + r["pg_ms"] + r["client_cpu_ms"])
    print(
        f"CPU-bound limit:  {capacity:.1f} photos/s on {os.cpu_count()} CPUs with nothing else "
        "running (CPUs / CPU per photo)"
    )
    others = ", ".join(f"{name} {seconds:.2f} s" for name, seconds in r["others"] if seconds)
    print(f"other processes:  {others or 'none'} (CPU during the run)")
    hwm = ", ".join(f"{v:.1f}" for v in r["hwm"].values())
    rss = ", ".join(f"{v:.1f}" for v in r["rss"].values())
    print(
        f"worker peak RSS:  {max(r['hwm'].values()):.1f} MiB (VmHWM per worker: {hwm}; now {rss})"
    )


# --- main -------------------------------------------------------------------------------------


def main() -> None:
    """Generate photos, set up a database and gunicorn, and run the phases."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", "--count", type=int, default=60, help="12 MP photos to upload")
    parser.add_argument("-c", "--clients", type=int, default=4, help="concurrent client threads")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, help="gunicorn threads (default: gunicorn.conf)")
    parser.add_argument("--quality", type=int, default=94)
    parser.add_argument("--big-count", type=int, default=12, help="20 MB photos (0: skip)")
    parser.add_argument(
        "--database-url",
        default="postgresql://postgres@127.0.0.1:5432/postgres",
        help="a PostgreSQL server's maintenance database, to create the bench database from",
    )
    parser.add_argument(
        "--app", default="backend.wsgi:app", help="the WSGI app gunicorn serves (experiments)"
    )
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (logs)")
    parser.add_argument(
        "--wait-idle",
        type=float,
        default=120,
        help="seconds to wait for other work on the machine to finish before each phase",
    )
    parser.add_argument(
        "--keep-alive", action="store_true", help="reuse each client's connection (default: close)"
    )
    parser.add_argument("--setup", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--generate", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--prefix", help=argparse.SUPPRESS)
    parser.add_argument("--range", help=argparse.SUPPRESS)
    parser.add_argument("--size", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.setup:
        setup_app()
        return
    if args.generate:
        start, stop = (int(x) for x in args.range.split(":"))
        width, height = (int(x) for x in args.size.split("x"))
        generate(args.generate, args.prefix, range(start, stop), (width, height), args.quality)
        return

    from PIL import __version__ as pillow_version
    from PIL import features

    tmp = Path(tempfile.mkdtemp(prefix="hhq-ingest-bench-"))
    db_name = None
    try:
        print(
            f"machine: {os.cpu_count()} CPUs; Pillow {pillow_version}, "
            f"libjpeg-turbo {features.version('libjpeg_turbo')}"
        )
        jobs = max(1, os.cpu_count() or 1)
        photo_dir = tmp / "photos"
        photo_dir.mkdir()
        t0 = time.perf_counter()
        photos = make_photos(photo_dir, "p12", args.count, (4000, 3000), args.quality, jobs)
        warmup = make_photos(photo_dir, "warm", 2 * args.workers, (1600, 1200), 90, 1)
        big = (
            make_photos(photo_dir, "p20", args.big_count, (6000, 4500), 99, jobs)
            if args.big_count
            else []
        )
        print(f"generated {len(photos) + len(big)} photos in {time.perf_counter() - t0:.1f} s")

        db_name, db_url = create_database(args.database_url, "hhq_ingest_bench")
        env = {
            **os.environ,
            "DATABASE_URL": db_url,
            "HHQ_VAR_DIR": str(tmp / "var"),
            "LOCAL_STORAGE_DIR": str(tmp / "storage"),
            "STORAGE_BACKEND": "local",
            "SECRET_KEY": secrets.token_hex(16),
            # 20 MB photos are over the default limit of 15 MB.
            "PHOTO_MAX_BYTES": str(25 * 1024 * 1024),
            "LOG_LEVEL": "WARNING",
            "GUNICORN_CMD_ARGS": "--access-logfile /dev/null",
        }
        setup = subprocess.run(
            [sys.executable, __file__, "--setup"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        token = next(
            line.split()[1] for line in setup.stdout.splitlines() if line.startswith("TOKEN ")
        )
        log = tmp / "gunicorn.log"
        common = {"db_name": db_name, "env": env, "token": token, "args": args, "log": log}
        run_phase("12 MP photos", photos, warmup, **common)
        if big:
            # Fresh workers, so that their VmHWM is the peak of the 20 MB uploads.
            run_phase("20 MB photos (memory)", big, warmup, **common)
        print("\ntargets: >= 15 photos/s on 2 cores; peak worker RSS < 250 MiB with 20 MB uploads")
    finally:
        if db_name:
            drop_database(args.database_url, db_name)
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
