#!/usr/bin/env python3
"""PostgreSQL catalog scan against pg_dump --schema-only (BENCHMARKS.md, "PostgreSQL").

A throwaway cluster (initdb / pg_ctl under /tmp, 127.0.0.1, a free port)
with one database of N tables: 8 columns each, a primary key, every tenth
table with a foreign key to the one before it, and a view per 20 tables.
Then, in interleaved rounds after an untimed warm-up of each:

- `surveyor scan --source pg.toml` (metadata only: the catalog read with the
  postgresql connector, output written to a fresh folder);
- `pg_dump --schema-only` of the same database to /dev/null.

Printed: medians of wall time, CPU time (user + sys of the process itself;
the server's work is not in it) and peak RSS, and Surveyor's wall time as
a share of pg_dump's.
"""

import argparse
import os
import shutil
import statistics
import subprocess
import tempfile

from classify_bench import PG_PASSWORD, Cluster, as_postgres, pg_bin, timed


def make_database(cluster, tables):
    cluster.psql("postgres", "CREATE DATABASE bench")
    # 500 tables per transaction: one transaction would run out of lock slots.
    for first in range(1, tables + 1, 500):
        last = min(first + 499, tables)
        cluster.psql("bench", f"""
DO $$
BEGIN
  FOR t IN {first}..{last} LOOP
    EXECUTE format('CREATE TABLE public.t%s (id bigint PRIMARY KEY, parent_id bigint, name text NOT NULL,
                    email varchar(200), amount numeric(12,2), created timestamptz DEFAULT now(),
                    flags boolean, payload jsonb)', t);
    EXECUTE format('COMMENT ON TABLE public.t%s IS %L', t, 'table ' || t);
    IF t % 10 = 0 THEN
      EXECUTE format('ALTER TABLE public.t%s ADD FOREIGN KEY (parent_id) REFERENCES public.t%s (id)', t, t - 1);
    END IF;
    IF t % 20 = 0 THEN
      EXECUTE format('CREATE VIEW public.v%s AS SELECT id, name, email FROM public.t%s', t, t);
    END IF;
  END LOOP;
END $$;""")
    cluster.psql("bench", "ANALYZE")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--surveyor", default="target/release/surveyor")
    ap.add_argument("--tables", type=int, default=10000)
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    surveyor = os.path.abspath(args.surveyor)
    # pg_dump locks every table it dumps, in one transaction.
    cluster = Cluster(f"-c max_locks_per_transaction={max(64, args.tables // 50)}")
    src_dir = tempfile.mkdtemp(prefix="surveyor-bench-src-")
    try:
        make_database(cluster, args.tables)
        source = os.path.join(src_dir, "pg.toml")
        cluster.write_source(source)
        env = dict(os.environ, BENCH_PG_PASSWORD=PG_PASSWORD, PGPASSWORD=PG_PASSWORD)
        dump = as_postgres([
            "pg_dump", "--schema-only", "-h", "127.0.0.1", "-p", str(cluster.port), "-U", "postgres",
            "-d", "bench", "-f", "/dev/null",
        ])
        if dump[0] == "runuser":
            # runuser does not pass the environment's password on: a password file.
            pgpass = os.path.join(cluster.dir, "pgpass")
            with open(pgpass, "w") as f:
                f.write(f"127.0.0.1:{cluster.port}:*:postgres:{PG_PASSWORD}\n")
            os.chmod(pgpass, 0o600)
            shutil.chown(pgpass, "postgres")
            dump = dump[:4] + ["env", f"PGPASSFILE={pgpass}"] + dump[4:]

        def run_surveyor():
            out = tempfile.mkdtemp(prefix="surveyor-bench-out-")
            try:
                result = timed([surveyor, "scan", "--source", source, "--out", out, "--json", "--no-progress"], env)
                return result[:3]
            finally:
                shutil.rmtree(out, ignore_errors=True)

        def run_dump():
            return timed(dump, env)[:3]

        run_surveyor()
        run_dump()
        results = {"surveyor": [], "pg_dump": []}
        for _ in range(args.rounds):
            results["surveyor"].append(run_surveyor())
            results["pg_dump"].append(run_dump())
        med = {k: [statistics.median(r[i] for r in v) for i in range(3)] for k, v in results.items()}
        print(f"\n## PostgreSQL, {args.tables} tables ({args.rounds} interleaved rounds, medians; "
              f"server {os.path.basename(os.path.dirname(pg_bin()))})")
        print("| tool | wall time | CPU time | peak RSS |")
        print("|---|---|---|---|")
        for k in ("surveyor", "pg_dump"):
            print(f"| {k} | {med[k][0]:.2f} s | {med[k][1]:.2f} s | {med[k][2]:.0f} MiB |")
        print(f"| **surveyor / pg_dump** | **{med['surveyor'][0] / med['pg_dump'][0]:.2f}×** | | |")
        per_round = [s[0] / d[0] for s, d in zip(results["surveyor"], results["pg_dump"])]
        print(f"wall-time ratio per round: {', '.join(f'{r:.2f}' for r in per_round)}")
    finally:
        cluster.stop()
        shutil.rmtree(src_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
