#!/usr/bin/env python3
"""Classification on versus off (BENCHMARKS.md, "Classification").

Two workloads, each scanned with and without `--classify` in interleaved
rounds (off, on, off, on, ...) by the same release binary:

- a lake made by `gen-lake` (Parquet; the sampler decodes the first rows of
  each file's first row group);
- a PostgreSQL database of N tables (6 columns, 200 rows each: e-mails,
  card numbers, phones, names, integers, timestamps) in a throwaway cluster
  made here with initdb / pg_ctl under /tmp, on 127.0.0.1 and a free port.

Per run: wall time, CPU time (user + sys) and peak RSS of the surveyor
process (os.wait4). Printed: medians, the on/off ratios, and classified
values per second per core (sampled values / CPU seconds of the "on" run,
and / the CPU seconds classification added over "off").
"""

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

PG_PASSWORD = "bench-pw"


def pg_bin():
    versions = sorted(
        os.path.join("/usr/lib/postgresql", v, "bin")
        for v in os.listdir("/usr/lib/postgresql")
        if os.path.isfile(os.path.join("/usr/lib/postgresql", v, "bin", "initdb"))
    )
    return versions[-1]


def as_postgres(args):
    cmd = [os.path.join(pg_bin(), args[0])] + args[1:]
    return (["runuser", "-u", "postgres", "--"] + cmd) if os.geteuid() == 0 else cmd


class Cluster:
    def __init__(self, settings=""):
        self.dir = tempfile.mkdtemp(prefix="surveyor-bench-pg-")
        os.chmod(self.dir, 0o777)
        pw = os.path.join(self.dir, "pw")
        with open(pw, "w") as f:
            f.write(PG_PASSWORD + "\n")
        os.chmod(pw, 0o644)
        data = os.path.join(self.dir, "data")
        subprocess.run(
            as_postgres(["initdb", "-D", data, "-U", "postgres", "--auth-local=trust",
                         "--auth-host=scram-sha-256", "--no-sync", f"--pwfile={pw}"]),
            check=True, stdout=subprocess.DEVNULL)
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        self.port = s.getsockname()[1]
        s.close()
        subprocess.run(
            as_postgres(["pg_ctl", "-D", data, "-l", os.path.join(self.dir, "log"), "-o",
                         f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off {settings}",
                         "-w", "-t", "300", "start"]),
            check=True, stdout=subprocess.DEVNULL)

    def psql(self, db, sql):
        subprocess.run(
            as_postgres(["psql", "-h", self.dir, "-p", str(self.port), "-U", "postgres", "-d", db,
                         "-v", "ON_ERROR_STOP=1", "-q", "-c", sql]),
            check=True, stdout=subprocess.DEVNULL)

    def write_source(self, path):
        """A `postgresql` source definition for the database `bench`, password from BENCH_PG_PASSWORD."""
        with open(path, "w") as f:
            f.write(f"""name = "bench"
type = "postgresql"

[connection]
host = "127.0.0.1"
port = {self.port}
encryption = "off"
credential = {{ kind = "password", user = "postgres", password = {{ env = "BENCH_PG_PASSWORD" }} }}

[config]
databases = ["bench"]
""")

    def stop(self):
        subprocess.run(as_postgres(["pg_ctl", "-D", os.path.join(self.dir, "data"), "-m", "immediate", "stop"]),
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        shutil.rmtree(self.dir, ignore_errors=True)


def make_database(cluster, tables):
    cluster.psql("postgres", "CREATE DATABASE bench")
    # One DO block: N tables of 200 rows, planted values made by SQL.
    cluster.psql("bench", f"""
DO $$
BEGIN
  FOR t IN 1..{tables} LOOP
    EXECUTE format('CREATE TABLE public.t%s (id int, email text, card text, phone text, full_name text, seen timestamptz)', t);
    EXECUTE format($q$INSERT INTO public.t%s
      SELECT g, 'user' || g || '.' || %s || '@example.com',
             '4111111111111111', '(206) 555-' || lpad((g %% 10000)::text, 4, '0'),
             (ARRAY['James Smith','Mary Garcia','Ada Lovelace','Alan Turing'])[1 + g %% 4],
             now() - g * interval '1 hour'
      FROM generate_series(1, 200) g$q$, t, t);
  END LOOP;
END $$;""")
    cluster.psql("bench", "ANALYZE")


def timed(cmd, env=None):
    """Runs cmd; returns (wall s, cpu s, peak RSS MiB, stdout)."""
    started = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env)
    out = p.stdout.read()
    _, status, usage = os.wait4(p.pid, 0)
    wall = time.perf_counter() - started
    if status != 0 and os.waitstatus_to_exitcode(status) not in (0, 2):
        sys.exit(f"{cmd} failed with status {status}")
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, out


def bench(name, scan_args, rounds, values, env=None):
    results = {"off": [], "on": []}
    report = None
    # Warm-up (untimed): compiles the connectors into the cache, warms the page cache.
    out_dir = tempfile.mkdtemp(prefix="surveyor-bench-out-")
    timed(scan_args + ["--out", out_dir, "--no-progress", "--classify"], env)
    shutil.rmtree(out_dir, ignore_errors=True)
    for _ in range(rounds):
        for mode in ("off", "on"):
            out_dir = tempfile.mkdtemp(prefix="surveyor-bench-out-")
            extra = ["--classify"] if mode == "on" else []
            wall, cpu, rss, stdout = timed(scan_args + ["--out", out_dir, "--json", "--no-progress"] + extra, env)
            if mode == "on":
                report = json.loads(stdout)
            shutil.rmtree(out_dir, ignore_errors=True)
            results[mode].append((wall, cpu, rss))
    med = {m: [statistics.median(r[i] for r in results[m]) for i in range(3)] for m in results}
    print(f"\n## {name} ({rounds} interleaved rounds, medians)")
    print("| mode | wall time | CPU time | peak RSS |")
    print("|---|---|---|---|")
    for m in ("off", "on"):
        print(f"| classification {m} | {med[m][0]:.2f} s | {med[m][1]:.2f} s | {med[m][2]:.0f} MiB |")
    print(f"| **on / off** | **{med['on'][0] / med['off'][0]:.2f}×** | {med['on'][1] / med['off'][1]:.2f}× "
          f"| {med['on'][2] / med['off'][2]:.2f}× |")
    per_round = [on[0] / off[0] for off, on in zip(results["off"], results["on"])]
    print(f"wall-time ratio per round: {', '.join(f'{r:.2f}' for r in per_round)}")
    extra_cpu = med["on"][1] - med["off"][1]
    print(f"sampled values: {values:,}; classified columns: {json.dumps(report.get('classifications', {}))}")
    print(f"classified values per CPU-second: {values / med['on'][1]:,.0f} (whole run), "
          f"{values / extra_cpu if extra_cpu > 0 else float('inf'):,.0f} (classification's extra CPU time only)")


def sampled(column):
    """Whether a column is sampled with system classifications alone (contract
    0.1.4, `Classifier::selection`): not booleans, fractional decimals, or
    dates and times unless named for a birth."""
    t, name = column["type"].lower(), "".join(c for c in column["name"].lower() if c.isalnum())
    family = t.replace("[", "(").split("(")[0].split(" ")[0]
    if family in ("boolean", "bool"):
        return False
    if family in ("decimal", "numeric") and t.endswith(")") and "," in t:
        return int(t[:-1].rsplit(",", 1)[1]) == 0
    if family in ("date", "date32", "date64", "time", "timestamp", "timestamptz", "datetime", "datetime2",
                  "datetimeoffset", "smalldatetime", "interval", "duration"):
        return any(k in name for k in ("birth", "dob", "born"))
    return True


def lake_values(surveyor, lake):
    """Values the Parquet sampler sees: rows of each file (gen-lake: 20) times
    its columns that are sampled (an upper bound: it counts nested ones)."""
    out_dir = tempfile.mkdtemp(prefix="surveyor-bench-out-")
    subprocess.run([surveyor, "scan", lake, "--out", out_dir, "--no-progress", "--no-resource-sets"],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    latest = open(os.path.join(out_dir, "LATEST")).read().strip()
    columns = 0
    batches = os.path.join(out_dir, "runs", latest, "batches")
    for f in os.listdir(batches):
        for e in json.load(open(os.path.join(batches, f)))["entities"]:
            if e["typeName"] == "column" and sampled(e["attributes"]):
                columns += 1
    shutil.rmtree(out_dir, ignore_errors=True)
    return columns * 20


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--surveyor", default="target/release/surveyor")
    ap.add_argument("--lake", default="/tmp/lake10k")
    ap.add_argument("--tables", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--skip-lake", action="store_true")
    ap.add_argument("--skip-pg", action="store_true")
    args = ap.parse_args()
    surveyor = os.path.abspath(args.surveyor)
    if not args.skip_lake:
        bench(f"lake {args.lake}", [surveyor, "scan", args.lake], args.rounds,
              lake_values(surveyor, args.lake))
    if not args.skip_pg:
        cluster = Cluster()
        try:
            make_database(cluster, args.tables)
            src_dir = tempfile.mkdtemp(prefix="surveyor-bench-src-")
            source = os.path.join(src_dir, "pg.toml")
            cluster.write_source(source)
            env = dict(os.environ, BENCH_PG_PASSWORD=PG_PASSWORD)
            # 128 rows sampled of each table's 200, 5 of its 6 columns (not the timestamps).
            bench(f"PostgreSQL, {args.tables} tables", [surveyor, "scan", "--source", source], args.rounds,
                  args.tables * 128 * 5, env)
        finally:
            cluster.stop()


if __name__ == "__main__":
    main()
