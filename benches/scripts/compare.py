#!/usr/bin/env python3
"""End-to-end schema scan of one Parquet lake, several tools, one run.

    python3 benches/scripts/compare.py LAKE [--rounds N] [--surveyor BIN] [--skip-references]

Tools, run in turn within each round (interleaved, so that the machine's
noise hits them alike):
  surveyor         `surveyor scan LAKE`: sandboxed connectors, output written
                   (Atlas JSON, report, manifest), whole process timed.
  surveyor-native  the same binary with `--native-parquet` (built with
                   `--features bench-native`): Parquet parsed natively,
                   outside the sandbox; everything else identical.
  duckdb           `SELECT count(*) FROM parquet_schema('LAKE/**/*.parquet')`,
                   timed inside Python (interpreter start-up excluded).
  pyarrow          `pyarrow.parquet.read_schema(path)` for every file, one
                   thread, timed inside Python.
  surveyor-ab      with `--ab-plugins DIR`: the same binary with `--plugins
                   DIR`, i.e. another build of a connector (with a higher
                   version, so that it replaces the built-in one): an A/B of
                   two connector builds in the same run.

For each tool: wall time (median and best of N), CPU time, peak RSS of the
process, files/s on the median. Ratios are taken on the medians.
"""
import argparse, json, os, statistics, subprocess, sys, tempfile, time

def count_parquet(lake):
    n = 0
    for root, _, files in os.walk(lake):
        n += sum(1 for f in files if f.endswith(".parquet"))
    return n

def run(cmd, inner_time=False):
    """Runs cmd; returns (seconds, cpu seconds, peak rss MiB)."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    out = proc.stdout.read().decode()
    err = proc.stderr.read().decode()
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"{cmd[0]} failed: {err}")
    if inner_time:
        wall = float(out.strip().split()[-1])
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024

DUCKDB = """
import duckdb, sys, time
con = duckdb.connect()
con.execute("SET enable_progress_bar = false")
t = time.perf_counter()
n = con.execute("SELECT count(DISTINCT file_name) FROM parquet_schema(?)", [sys.argv[1] + '/**/*.parquet']).fetchone()[0]
d = time.perf_counter() - t
assert n == int(sys.argv[2]), (n, sys.argv[2])
print(d)
"""

PYARROW = """
import os, sys, time
import pyarrow.parquet as pq
paths = [os.path.join(r, f) for r, _, fs in os.walk(sys.argv[1]) for f in fs if f.endswith('.parquet')]
t = time.perf_counter()
cols = sum(len(pq.read_schema(p)) for p in paths)
d = time.perf_counter() - t
assert len(paths) == int(sys.argv[2])
print(d)
"""

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("lake")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--surveyor", default="target/release/surveyor")
    ap.add_argument("--skip-references", action="store_true")
    ap.add_argument("--no-native", action="store_true")
    ap.add_argument("--ab-plugins", help="also run surveyor with --plugins DIR (another connector build)")
    ap.add_argument("--json", help="also write the results here")
    a = ap.parse_args()
    files = count_parquet(a.lake)
    out = tempfile.mkdtemp(prefix="surveyor-bench-out-")
    tools = {
        "surveyor": lambda: run([a.surveyor, "scan", a.lake, "--out", out, "--no-progress"]),
    }
    if a.ab_plugins:
        tools["surveyor-ab"] = lambda: run([a.surveyor, "--plugins", a.ab_plugins, "scan", a.lake, "--out", out, "--no-progress"])
    if not a.no_native:
        tools["surveyor-native"] = lambda: run([a.surveyor, "scan", a.lake, "--out", out, "--no-progress", "--native-parquet"])
    if not a.skip_references:
        tools["duckdb"] = lambda: run([sys.executable, "-c", DUCKDB, a.lake, str(files)], inner_time=True)
        tools["pyarrow"] = lambda: run([sys.executable, "-c", PYARROW, a.lake, str(files)], inner_time=True)
    # Warm-up: page cache, compiled-component cache.
    for t in tools.values():
        t()
    results = {name: [] for name in tools}
    for _ in range(a.rounds):
        for name, t in tools.items():
            results[name].append(t())
        subprocess.run(["rm", "-rf", out])
    summary = {}
    print(f"lake: {a.lake} ({files} Parquet files), {a.rounds} rounds, interleaved")
    print(f"{'tool':<16} {'median s':>9} {'best s':>8} {'cpu s':>7} {'peak RSS MiB':>13} {'files/s':>9}")
    for name, rs in results.items():
        walls = [r[0] for r in rs]
        med = statistics.median(walls)
        summary[name] = {
            "median_s": med, "best_s": min(walls), "cpu_s": statistics.median(r[1] for r in rs),
            "peak_rss_mib": max(r[2] for r in rs), "files_per_s": files / med,
        }
        s = summary[name]
        print(f"{name:<16} {med:>9.3f} {min(walls):>8.3f} {s['cpu_s']:>7.2f} {s['peak_rss_mib']:>13.0f} {s['files_per_s']:>9.0f}")
    base = summary["surveyor"]["median_s"]
    for name in summary:
        if name != "surveyor":
            if name == "surveyor-native":
                print(f"sandboxed / native time: {base / summary[name]['median_s']:.2f}x")
            elif name == "surveyor-ab":
                print(f"surveyor-ab / surveyor time: {summary[name]['median_s'] / base:.2f}x")
            else:
                print(f"surveyor vs {name}: {summary[name]['median_s'] / base:.2f}x the speed")
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"files": files, "rounds": a.rounds, "results": summary}, f, indent=2)

if __name__ == "__main__":
    main()
