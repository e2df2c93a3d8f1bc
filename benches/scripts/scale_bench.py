#!/usr/bin/env python3
"""Issue 16, target 3: files/s and peak RSS of a large lake against the
10,000-file lake, in interleaved rounds of one run.

Each round scans the small lake (one untimed run to bring it back into the
page cache, which the large lake pushes out, then `--small-runs` timed
runs) and then the large lake once, with the same binary and defaults.
Peak RSS is `ru_maxrss` of the child. Prints each run and the medians.

    ./target/release/gen-lake /tmp/lake10k 10000
    ./target/release/gen-lake /tmp/lake1m 1000000
    python3 benches/scripts/scale_bench.py --surveyor target/release/surveyor \\
        --small /tmp/lake10k --large /tmp/lake1m --rounds 3
"""

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import tempfile
import time


def scan(surveyor, lake, extra):
    out = tempfile.mkdtemp(prefix="scale-bench-")
    try:
        before = time.perf_counter()
        pid = os.fork()
        if pid == 0:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, 1)
            os.dup2(devnull, 2)
            args = [surveyor, "scan", lake, "--out", out, "--no-progress", "--plugins", "/nonexistent", *extra]
            os.execv(surveyor, args)
        _, status, usage = os.wait4(pid, 0)
        elapsed = time.perf_counter() - before
        if status != 0:
            raise SystemExit(f"scan of {lake} failed ({status})")
        return elapsed, usage.ru_maxrss / 1024
    finally:
        shutil.rmtree(out, ignore_errors=True)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--surveyor", required=True)
    p.add_argument("--small", required=True, help="the 10,000-file lake")
    p.add_argument("--large", required=True, help="the large lake")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--small-runs", type=int, default=3)
    p.add_argument("--arg", action="append", default=[], help="extra argument to both scans")
    a = p.parse_args()
    count = lambda lake: sum(len(files) for _, _, files in os.walk(lake))
    small_files, large_files = count(a.small), count(a.large)
    small, large = [], []
    for r in range(a.rounds):
        scan(a.surveyor, a.small, a.arg)
        for _ in range(a.small_runs):
            t, rss = scan(a.surveyor, a.small, a.arg)
            small.append((small_files / t, rss))
            print(f"round {r + 1} small: {small_files / t:,.0f} files/s, {rss:.0f} MB", flush=True)
        t, rss = scan(a.surveyor, a.large, a.arg)
        large.append((large_files / t, rss))
        print(f"round {r + 1} large: {large_files / t:,.0f} files/s, {rss:.0f} MB", flush=True)
    ms = statistics.median(f for f, _ in small)
    ml = statistics.median(f for f, _ in large)
    print(f"median small ({small_files:,} files): {ms:,.0f} files/s, peak {max(r for _, r in small):.0f} MB")
    print(f"median large ({large_files:,} files): {ml:,.0f} files/s, peak {max(r for _, r in large):.0f} MB")
    print(f"large / small: {ml / ms:.2f}")


if __name__ == "__main__":
    main()
