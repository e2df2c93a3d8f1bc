#!/usr/bin/env python3
"""API latency and scheduler overhead of `surveyor serve`, on loopback.

    python3 benches/scripts/api_bench.py [--surveyor target/release/surveyor]
        [--rounds 3] [--duration 3] [--connections 4] [--idle 30] [--skip-api] [--skip-scheduler]

Needs `wrk` (Debian: apt-get install wrk) and Python 3 (stdlib only). Every
service runs as a real process on 127.0.0.1 with a fresh data directory
under a temporary folder, which is removed at the end (--keep keeps it).

Part 1, listing runs (`GET /v1/runs`), 100 vs 10,000 runs of history:
  Two services run side by side with the same 100 scans (manual triggers)
  of one local-folder source. Their history is seeded with 100 and with
  10,000 finished runs (see `seed_runs`). wrk measures each endpoint against
  both, interleaved, `--rounds` times for `--duration` seconds each, with
  `--connections` connections from one wrk thread (a second process, the
  other core). `/healthz` (no database) and `?limit=1` (one row) are floors.

Part 2, scheduler overhead, 1,000 scheduled scans:
  (a) Idle CPU: a service with 0 scheduled scans and a service with 1,000
      scans with cron triggers, side by side, over the same `--idle` seconds
      of wall time: utime+stime from /proc/<pid>/stat.
  (b) Burst: the 1,000 scans all have the cron expression `M H * * *` of the
      same minute slot T. The time from T until the last run is queued,
      from the runs' `queued_at`.
  (c) API latency while the scheduler works: wrk on `GET /v1/runs` from
      T-1 s to T+4 s, against the same endpoint before the slot.
  The queued runs then start (concurrency 1); how many finish in the next
  seconds gives the rate at which this machine executes tiny runs.

Prints the figures as Markdown tables (the format of BENCHMARKS.md).
"""
import argparse, datetime as dt, http.client, json, os, random, re, shutil, signal, sqlite3
import statistics, subprocess, sys, tempfile, time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
STATES = ["succeeded"] * 85 + ["completed_with_exceptions"] * 8 + ["failed"] * 5 + ["canceled"] * 2
SCANS = 100
RUNNING = []  # services to stop if the benchmark stops early


def die(msg):
    sys.exit(f"api_bench: {msg}")


class Service:
    """`surveyor serve` on 127.0.0.1:0 with its own data directory."""

    def __init__(self, binary, data, log):
        self.data, self.log_path = data, log
        self.proc = subprocess.Popen(
            [binary, "serve", "--listen", "127.0.0.1:0", "--data-dir", data, "--concurrency", "1",
             "--grace-period", "1"],
            stdout=subprocess.PIPE, stderr=open(log, "ab"))
        line = self.proc.stdout.readline().decode().strip()
        prefix = "surveyor service listening on http://"
        if not line.startswith(prefix):
            self.proc.kill()
            die(f"the service did not start: {line!r}; log {log}:\n{open(log).read()[-2000:]}")
        self.addr = line[len(prefix):]
        self.url = "http://" + self.addr
        with open(os.path.join(data, "admin-token")) as f:
            self.token = f.read().strip()
        self.conn = http.client.HTTPConnection(self.addr, timeout=30)
        RUNNING.append(self)

    def call(self, method, path, body=None, expect=(200, 201, 202, 204)):
        headers = {"Authorization": f"Bearer {self.token}"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        self.conn.request(method, path, body=data, headers=headers)
        resp = self.conn.getresponse()
        text = resp.read().decode()
        if resp.status not in expect:
            die(f"{method} {path}: HTTP {resp.status}: {text}")
        return json.loads(text) if text else None

    def cpu_seconds(self):
        """utime + stime of the whole process (all threads, live and exited)."""
        with open(f"/proc/{self.proc.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self):
        RUNNING.remove(self)
        self.conn.close()
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            die(f"the service did not stop on SIGTERM; log {self.log_path}")


def make_lake(root):
    """A tiny local folder to scan: two CSV files."""
    os.makedirs(os.path.join(root, "sales"), exist_ok=True)
    for i in range(2):
        with open(os.path.join(root, "sales", f"part-{i}.csv"), "w") as f:
            f.write("id,amount,day\n" + "".join(f"{n},{n * 1.5},2026-01-{n % 28 + 1:02}\n" for n in range(20)))


def run_id(ms, rng):
    t = dt.datetime.fromtimestamp(ms / 1000, dt.timezone.utc)
    return t.strftime("%Y%m%dT%H%M%SZ") + "-" + "%06x" % rng.getrandbits(24)


def seed_runs(data, count, seed=7):
    """Inserts `count` finished runs of the data directory's scans into its
    state.db, the service stopped: one transaction, a fraction of a second.
    Through the API each run would be queued and then executed for real
    (see the execution rate of part 2: minutes for 10,000), leaving 10,000
    output folders; this keeps the set-up to seconds. The rows are what the
    runner writes (engine/src/service/state.rs: queue_run, claim_queued_run,
    finish_run): ids of the same form, queued over the last 30 days (inside
    the 90-day retention), 85% succeeded, 8% completed_with_exceptions, 5%
    failed, 2% canceled, counts, output locations, errors."""
    rng = random.Random(seed)
    db = sqlite3.connect(os.path.join(data, "state.db"))
    scans = db.execute("SELECT c.id, c.name, s.name FROM scans c JOIN sources s ON s.id = c.source_id "
                       "ORDER BY c.name").fetchall()
    if not scans:
        die("no scans to seed runs for")
    now = int(time.time() * 1000)
    span = 30 * 86_400_000
    rows = []
    for i in range(count):
        scan_id, scan, source = scans[i % len(scans)]
        queued = now - span + (span * i) // count + rng.randrange(0, 60_000)
        started = queued + rng.randrange(5, 2_000)
        finished = started + rng.randrange(200, 600_000)
        state = rng.choice(STATES)
        files = rng.randrange(10, 20_000)
        errors = rng.randrange(1, 40) if state == "completed_with_exceptions" else 0
        error = {"failed": "listing the source: permission denied (os error 13)", "canceled": "canceled"}.get(state)
        rid = run_id(queued, rng)
        location = None if state == "failed" else os.path.join(data, "output", scan, "runs", rid)
        rows.append((rid, scan_id, scan, source, state, "schedule" if i % 3 else "manual", 1, queued, started,
                     finished, files + files // 10, files, files - errors, files // 400, files * 3, errors,
                     files * 70_000, error, location))
    with db:
        db.executemany(
            "INSERT INTO runs (id, scan_id, scan_name, source_name, state, reason, attempt, queued_at, started_at, "
            "finished_at, assets, files, schemas, resource_sets, entities, item_errors, bytes_read, error, location) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
    total = db.execute("SELECT COUNT(*) FROM runs").fetchone()[0]
    db.close()
    return total


UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}


def wrk(url, token, duration, connections):
    """wrk --latency; returns {p50, p99, max (ms), rps}."""
    cmd = ["wrk", "-t1", f"-c{connections}", f"-d{duration}s", "--latency", "--timeout", "10s",
           "-H", f"Authorization: Bearer {token}", url]
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode != 0:
        die(f"wrk failed on {url}: {out.stderr}")
    text = out.stdout
    if "Non-2xx" in text or "Socket errors" in text:
        die(f"wrk saw errors on {url}:\n{text}")

    def ms(value):
        m = re.fullmatch(r"([\d.]+)(us|ms|s|m)", value)
        return float(m.group(1)) * UNITS[m.group(2)]

    lat = dict(re.findall(r"^\s+(50|99)%\s+(\S+)$", text, re.M))
    mx = re.search(r"^\s+Latency\s+\S+\s+\S+\s+(\S+)", text, re.M)
    rps = re.search(r"^Requests/sec:\s+([\d.]+)", text, re.M)
    if not (lat.get("50") and lat.get("99") and mx and rps):
        die(f"unexpected wrk output:\n{text}")
    return {"p50": ms(lat["50"]), "p99": ms(lat["99"]), "max": ms(mx.group(1)), "rps": float(rps.group(1))}


def fmt_ms(v):
    return f"{v * 1000:.0f} µs" if v < 1 else f"{v:.2f} ms"


def median_of(results, key):
    return statistics.median(r[key] for r in results)


def start_pair_with_history(binary, tmp, lake):
    """Two services with the same 100 scans; 100 and 10,000 runs of history."""
    base = os.path.join(tmp, "history-base")
    svc = Service(binary, base, base + ".log")
    svc.call("POST", "/v1/sources", {"name": "lake", "type": "local-folder", "connection": {"path": lake}})
    for i in range(SCANS):
        svc.call("POST", "/v1/scans", {"name": f"scan-{i:03}", "source": "lake", "scope": ["sales"]})
    svc.stop()
    small, large = os.path.join(tmp, "history-100"), os.path.join(tmp, "history-10k")
    shutil.copytree(base, small)
    shutil.copytree(base, large)
    for path in (small, large):
        try:
            os.remove(os.path.join(path, "serve.lock"))
        except FileNotFoundError:
            pass
    t = time.perf_counter()
    n_small = seed_runs(small, 100)
    n_large = seed_runs(large, 10_000)
    seeding = time.perf_counter() - t
    return (Service(binary, small, small + ".log"), n_small), (Service(binary, large, large + ".log"), n_large), seeding


def part_api(args, tmp, lake):
    (small, n_small), (large, n_large), seeding = start_pair_with_history(args.surveyor, tmp, lake)
    print(f"\n## Listing runs: {n_small} vs {n_large} runs of history\n")
    print(f"Seeded {n_small} + {n_large} runs into state.db in {seeding:.2f} s (services stopped).")
    # What a user would check first: the API returns the seeded history.
    got = large.call("GET", "/v1/runs?limit=1000")
    if len(got) != 1000 or got[0]["queued_at"] < got[-1]["queued_at"]:
        die("GET /v1/runs?limit=1000 did not return 1000 runs, newest first")
    per_scan = large.call("GET", "/v1/runs?scan=scan-042&limit=1000")
    if len(per_scan) != n_large // SCANS or any(r["scan"] != "scan-042" for r in per_scan):
        die(f"GET /v1/runs?scan=scan-042 returned {len(per_scan)} runs, expected {n_large // SCANS}")
    failed42 = len(large.call("GET", "/v1/runs?scan=scan-042&state=failed&limit=1000"))
    failed = len(large.call("GET", "/v1/runs?state=failed&limit=1000"))
    endpoints = [
        ("/healthz", "no database: the floor"),
        ("/v1/runs?limit=1", "one row"),
        ("/v1/runs", "default limit (100)"),
        ("/v1/runs?limit=1000", "the largest page"),
        ("/v1/runs?scan=scan-042", f"one scan's runs ({n_large // SCANS} of {n_large})"),
        ("/v1/runs?scan=scan-042&state=failed", f"one scan's failed runs ({failed42})"),
        ("/v1/runs?state=failed", f"failed runs, all scans ({failed}; 100 returned)"),
    ]
    results = {(e, s): [] for e, _ in endpoints for s in ("small", "large")}
    for r in range(args.rounds):
        for path, _ in endpoints:
            for name, svc in (("small", small), ("large", large)):
                results[(path, name)].append(wrk(svc.url + path, svc.token, args.duration, args.connections))
        print(f"round {r + 1}/{args.rounds} done", file=sys.stderr)
    small.stop()
    large.stop()
    print(f"\nwrk, 1 thread, {args.connections} connections, {args.duration} s per endpoint and history, "
          f"median of {args.rounds} interleaved rounds.\n")
    print(f"| endpoint | what | p50 ({n_small} runs) | p99 ({n_small}) | req/s ({n_small}) "
          f"| p50 ({n_large} runs) | p99 ({n_large}) | req/s ({n_large}) | req/s {n_large} vs {n_small} |")
    print("|---|---|---|---|---|---|---|---|---|")
    for path, what in endpoints:
        s, l = results[(path, "small")], results[(path, "large")]
        rs, rl = median_of(s, "rps"), median_of(l, "rps")
        print(f"| `{path}` | {what} | {fmt_ms(median_of(s, 'p50'))} | {fmt_ms(median_of(s, 'p99'))} | {rs:,.0f} "
              f"| {fmt_ms(median_of(l, 'p50'))} | {fmt_ms(median_of(l, 'p99'))} | {rl:,.0f} | {rl / rs:.2f}× |")


def part_scheduler(args, tmp, lake):
    print("\n## Scheduler: 1,000 scheduled scans\n")
    idle0 = Service(args.surveyor, os.path.join(tmp, "sched-0"), os.path.join(tmp, "sched-0.log"))
    busy = Service(args.surveyor, os.path.join(tmp, "sched-1k"), os.path.join(tmp, "sched-1k.log"))
    for svc in (idle0, busy):
        svc.call("POST", "/v1/sources", {"name": "lake", "type": "local-folder", "connection": {"path": lake}})
    # The slot: a whole minute far enough ahead for creating the scans and the idle window.
    slot = (int(time.time()) + 40 + args.idle) // 60 * 60 + 60
    t = dt.datetime.fromtimestamp(slot, dt.timezone.utc)
    trigger = {"kind": "cron", "expression": f"{t.minute} {t.hour} * * *", "time_zone": "UTC"}
    created = []
    t0 = time.perf_counter()
    for i in range(1000):
        a = time.perf_counter()
        scan = busy.call("POST", "/v1/scans", {"name": f"cron-{i:04}", "source": "lake", "scope": ["sales"],
                                               "trigger": trigger})
        created.append(time.perf_counter() - a)
        if scan["next_run_at"] is None or not scan["next_run_at"].startswith(t.strftime("%Y-%m-%dT%H:%M:00")):
            die(f"scan cron-{i:04}: next_run_at {scan['next_run_at']}, expected the slot {t.isoformat()}")
    create_s = time.perf_counter() - t0
    created.sort()
    print(f"Created 1,000 cron scans through the API in {create_s:.2f} s ({1000 / create_s:,.0f}/s, one client, "
          f"one connection; p50 {fmt_ms(created[500] * 1000)}, p99 {fmt_ms(created[990] * 1000)} per POST).")
    if time.time() + args.idle + 4 > slot:
        die("creating the scans took too long for the chosen slot; try a smaller --idle")

    # (a) idle CPU, both services over the same wall time.
    time.sleep(1)
    c0, c1 = idle0.cpu_seconds(), busy.cpu_seconds()
    w0 = time.perf_counter()
    time.sleep(args.idle)
    wall = time.perf_counter() - w0
    d0, d1 = idle0.cpu_seconds() - c0, busy.cpu_seconds() - c1
    idle0.stop()

    # (c) baseline latency before the slot, then (b) + (c) across the slot.
    while time.time() < slot - 9:
        time.sleep(0.1)
    before = wrk(busy.url + "/v1/runs", busy.token, 5, args.connections)
    while time.time() < slot - 1:
        time.sleep(0.01)
    cpu_at_slot = busy.cpu_seconds()
    during = wrk(busy.url + "/v1/runs", busy.token, 5, args.connections)
    runs = busy.call("GET", "/v1/runs?limit=1000")
    deadline = time.time() + 60
    while len(runs) < 1000 and time.time() < deadline:
        time.sleep(0.5)
        runs = busy.call("GET", "/v1/runs?limit=1000")
    if len(runs) != 1000 or any(r["reason"] != "schedule" for r in runs) or len({r["scan"] for r in runs}) != 1000:
        die(f"expected one scheduled run for each of the 1,000 scans, got {len(runs)}")
    queued = sorted(dt.datetime.fromisoformat(r["queued_at"].replace("Z", "+00:00")).timestamp() for r in runs)
    first, last = queued[0] - slot, queued[-1] - slot
    # Runs executed after the burst (tiny runs, concurrency 1).
    time.sleep(5)
    runs = busy.call("GET", "/v1/runs?limit=1000")
    ended = [r for r in runs if r["finished_at"]]
    failed = [r for r in ended if r["state"] not in ("succeeded", "completed_with_exceptions")]
    if failed:
        die(f"a run failed: {failed[0]}")
    span = 0.0
    if len(ended) > 1:
        ts = sorted(dt.datetime.fromisoformat(r["finished_at"].replace("Z", "+00:00")).timestamp() for r in ended)
        span = ts[-1] - ts[0]
    cpu_burst = busy.cpu_seconds() - cpu_at_slot
    busy.stop()

    print(f"\n(a) Idle CPU over the same {wall:.0f} s of wall time (utime+stime, /proc/<pid>/stat):\n")
    print("| scheduled scans | CPU time | share of one core |\n|---|---|---|")
    print(f"| 0 | {d0:.2f} s | {d0 / wall:.2%} |\n| 1,000 (cron, next slot ahead) | {d1:.2f} s | {d1 / wall:.2%} |")
    print(f"\n(b) Burst: 1,000 scans due at the same minute ({t.strftime('%H:%M')} UTC):\n")
    print("| first run queued | last run queued | queued/s |\n|---|---|---|")
    print(f"| T + {first * 1000:.0f} ms | T + {last:.2f} s | {1000 / max(last - first, 1e-3):,.0f} |")
    print(f"\n(c) `GET /v1/runs` (default limit), wrk {args.connections} connections, 5 s each:\n")
    print("| window | p50 | p99 | max | req/s |\n|---|---|---|---|---|")
    for name, r in (("idle, T-9 s to T-4 s", before), ("T-1 s to T+4 s (burst, then runs executing)", during)):
        print(f"| {name} | {fmt_ms(r['p50'])} | {fmt_ms(r['p99'])} | {fmt_ms(r['max'])} | {r['rps']:,.0f} |")
    rate = f", {(len(ended) - 1) / span:.1f} runs/s" if span > 0 else ""
    print(f"\nService CPU from T-1 s to the end: {cpu_burst:.2f} s. Runs finished by then: {len(ended)}{rate} "
          f"(2-file folder, concurrency 1).")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--surveyor", default=os.path.join(os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target")),
                                                       "release", "surveyor"))
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--duration", type=int, default=3, help="seconds of wrk per endpoint and round")
    ap.add_argument("--connections", type=int, default=4)
    ap.add_argument("--idle", type=int, default=30, help="seconds of the idle CPU window")
    ap.add_argument("--skip-api", action="store_true")
    ap.add_argument("--skip-scheduler", action="store_true")
    ap.add_argument("--keep", action="store_true", help="keep the temporary folder (data directories, logs)")
    args = ap.parse_args()
    if not os.access(args.surveyor, os.X_OK):
        die(f"{args.surveyor} is not an executable; build it: cargo build --release -p surveyor-engine")
    if shutil.which("wrk") is None:
        die("wrk is not installed (Debian: apt-get install wrk)")
    tmp = tempfile.mkdtemp(prefix="surveyor-api-bench-")
    try:
        lake = os.path.join(tmp, "lake")
        make_lake(lake)
        print(f"surveyor: {args.surveyor}; {os.cpu_count()} cores; data under {tmp}", file=sys.stderr)
        if not args.skip_api:
            part_api(args, tmp, lake)
        if not args.skip_scheduler:
            part_scheduler(args, tmp, lake)
    finally:
        for svc in list(RUNNING):
            svc.proc.kill()
            svc.proc.wait()
        if args.keep:
            print(f"kept {tmp}", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
