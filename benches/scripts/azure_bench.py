#!/usr/bin/env python3
"""Azure Blob Storage on Azurite: Surveyor's files/s against the emulator's
own ceiling, measured in the same run.

Azurite's blob service (in memory, access log on) is started on 127.0.0.1
and a port of its choosing, and N small Parquet files of a `gen-lake` lake
(the first N in sorted order, relative paths kept as blob names) are put
into a container (not timed). Then, after one untimed run of each, rounds of:

- the ceiling: `wrk -t1 -c16` for --wrk-seconds, cycling over the N blobs
  with the request Surveyor sends for each file: a GET with an account SAS
  and `Range: bytes=<size - tail>-<size - 1>` (the last 64 KiB, or the whole
  blob when smaller, sizes known from the listing), `x-ms-version`, `x-ms-date`;
- one Surveyor scan of the container (`--source`, fresh `--out` each run, so
  no state and no incremental run), checked to have read N files, every
  byte of their tails, with no errors.

Per run: wall time, CPU (user + sys) and peak RSS of surveyor or wrk
(os.wait4); Azurite's CPU (utime + stime of the node process and its
waited-for children, /proc/PID/stat; it spawns none); Azurite's access-log
lines written during the run, split into ranged GETs (206), other GETs of a
blob, listings and other requests. Printed: each round and the medians; the
target is surveyor files/s / wrk GET/s >= 0.80 with one GET per file.

    python3 benches/scripts/azure_bench.py --surveyor target/release/surveyor \\
        --lake /tmp/lake10k --files 2000 --rounds 5
"""

import argparse
import base64
import concurrent.futures
import hashlib
import hmac
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request

ACCOUNT = "devstoreaccount1"
KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
CONTAINER = "bench"
API_VERSION = "2024-11-04"  # what Surveyor sends (engine/core/src/storage/azure/client.rs)
TICK = os.sysconf("SC_CLK_TCK")


def account_sas(permissions, services="b", resource_types="sco"):
    """An account SAS (version 2020-12-06 and later), as tests/support/azurite.rs signs it."""
    version, expiry = "2022-11-02", "2099-01-01T00:00:00Z"
    to_sign = f"{ACCOUNT}\n{permissions}\n{services}\n{resource_types}\n\n{expiry}\n\nhttps,http\n{version}\n\n"
    sig = base64.b64encode(hmac.new(base64.b64decode(KEY), to_sign.encode(), hashlib.sha256).digest()).decode()
    q = lambda v: urllib.parse.quote(v, safe="")
    return (f"sv={version}&ss={services}&srt={resource_types}&sp={permissions}"
            f"&se={q(expiry)}&spr=https,http&sig={q(sig)}")


class Azurite:
    """azurite-blob on a port of its choosing, its output (one line per request) in a log file."""

    def __init__(self, workdir):
        self.log = os.path.join(workdir, "azurite.log")
        args = ["azurite-blob", "--blobHost", "127.0.0.1", "--blobPort", "0", "--inMemoryPersistence",
                "--disableTelemetry", "--skipApiVersionCheck", "--loose"]
        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)
        marker = re.compile(r"Azurite Blob service successfully listens on http://127\.0\.0\.1:(\d+)")
        deadline = time.monotonic() + 120
        while not (m := marker.search(open(self.log).read())):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                sys.exit(f"azurite-blob did not start: {open(self.log).read()}")
            time.sleep(0.1)
        self.port = int(m.group(1))
        self.base = f"http://127.0.0.1:{self.port}/{ACCOUNT}"

    def cpu(self):
        """utime + stime (+ waited-for children) of the node process, in seconds."""
        with open(f"/proc/{self.proc.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return sum(int(v) for v in fields[11:15]) / TICK

    def log_size(self):
        """The access log's length once Azurite has stopped writing to it."""
        size = -1
        while size != (now := os.path.getsize(self.log)):
            size = now
            time.sleep(0.3)
        return size

    def requests(self, start, end):
        """Access-log lines between two offsets, by kind."""
        with open(self.log, "rb") as f:
            f.seek(start)
            text = f.read(end - start).decode(errors="replace")
        kinds = {"ranged GET": 0, "other GET": 0, "listing": 0, "other": 0, "errors": 0}
        for m in re.finditer(r'"(\w+) (\S+) HTTP/[\d.]+" (\d+)', text):
            method, target, status = m.group(1), m.group(2), int(m.group(3))
            query = urllib.parse.parse_qs(urllib.parse.urlsplit(target).query)
            if "list" in query.get("comp", []):
                kinds["listing"] += 1
            elif method == "GET" and "comp" not in query and "restype" not in query:
                kinds["ranged GET" if status == 206 else "other GET"] += 1
            else:
                kinds["other"] += 1
            kinds["errors"] += status >= 400
        return kinds

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def put(url, data=None, headers=None):
    req = urllib.request.Request(url, data=data if data is not None else b"", method="PUT", headers=headers or {})
    with urllib.request.urlopen(req, timeout=60) as resp:
        if resp.status != 201:
            sys.exit(f"PUT {url}: {resp.status}")


def upload(azurite, lake, count):
    """The first `count` files of the lake (sorted), as block blobs; returns [(name, size)]."""
    paths = sorted(os.path.relpath(os.path.join(d, f), lake) for d, _, fs in os.walk(lake) for f in fs)[:count]
    if len(paths) < count:
        sys.exit(f"{lake} holds {len(paths)} files, fewer than {count}")
    sas = account_sas("rwlac")
    put(f"{azurite.base}/{CONTAINER}?restype=container&{sas}")

    def one(name):
        data = open(os.path.join(lake, name), "rb").read()
        put(f"{azurite.base}/{CONTAINER}/{urllib.parse.quote(name)}?{sas}", data, {"x-ms-blob-type": "BlockBlob"})
        return name, len(data)

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        return list(pool.map(one, paths))


def tail_range(size, tail):
    """Surveyor's one read of a file: its last `tail` bytes (engine/core/src/scan/pipeline.rs)."""
    n = min(size, tail)
    return f"bytes={size - n}-{size - 1}"


def wrk_script(path, blobs, sas, tail):
    rows = ",\n".join(f'  {{"/{ACCOUNT}/{CONTAINER}/{urllib.parse.quote(n)}?{sas}", "{tail_range(s, tail)}"}}'
                      for n, s in blobs)
    with open(path, "w") as f:
        f.write(f"""local blobs = {{
{rows}
}}
local requests, i = {{}}, 0
function init(args)
  for k, b in ipairs(blobs) do
    requests[k] = wrk.format("GET", b[1], {{["Range"] = b[2], ["x-ms-version"] = "{API_VERSION}",
      ["x-ms-date"] = "Mon, 01 Jan 2024 00:00:00 GMT"}})
  end
end
function request()
  i = i % #requests + 1
  return requests[i]
end
""")


def run(cmd, stdout):
    """Runs cmd; returns (exit status, wall s, CPU s, peak RSS MiB)."""
    started = time.perf_counter()
    p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=stdout, stderr=subprocess.STDOUT)
    _, status, usage = os.wait4(p.pid, 0)
    p.returncode = os.waitstatus_to_exitcode(status)
    return p.returncode, time.perf_counter() - started, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


def measure(azurite, fn):
    """Runs fn(); returns its result, Azurite's CPU seconds and its access-log kinds during it."""
    log0, cpu0 = azurite.log_size(), azurite.cpu()
    result = fn()
    log1 = azurite.log_size()
    return result, azurite.cpu() - cpu0, azurite.requests(log0, log1)


def ceiling(azurite, script, seconds, workdir):
    out = os.path.join(workdir, "wrk.out")
    with open(out, "w") as f:
        status, _, cpu, _ = run(["wrk", "-t1", "-c16", f"-d{seconds}s", "-s", script,
                                 f"http://127.0.0.1:{azurite.port}/"], f)
    text = open(out).read()
    if status != 0 or "Non-2xx" in text or not (m := re.search(r"Requests/sec:\s+([\d.]+)", text)):
        sys.exit(f"wrk failed ({status}):\n{text}")
    if "Socket errors" in text:
        print(f"wrk: {re.search(r'Socket errors.*', text).group(0)}", flush=True)
    return float(m.group(1)), cpu


def scan(surveyor, source, workdir, blobs, tail):
    out = tempfile.mkdtemp(prefix="out-", dir=workdir)
    report = os.path.join(workdir, "report.json")
    try:
        with open(report, "w") as f:
            status, wall, cpu, rss = run([surveyor, "--plugins", "/nonexistent", "scan", "--source", source,
                                          "--out", out, "--no-progress", "--json"], f)
    finally:
        shutil.rmtree(out, ignore_errors=True)
    text = open(report).read()
    try:
        r = json.loads(text[text.index("{"):])
    except ValueError:
        sys.exit(f"surveyor failed ({status}):\n{text}")
    c, n = r["counts"], len(blobs)
    expected_bytes = sum(min(s, tail) for _, s in blobs)
    if (status != 0 or r["status"] != "succeeded" or c["files"] != n or c["reads"] != n
            or c["itemErrors"] != 0 or c["bytesRead"] != expected_bytes):
        sys.exit(f"surveyor did not read {n} files ({expected_bytes} bytes) cleanly (exit {status}):\n{text}")
    return wall, cpu, rss


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--surveyor", default="target/release/surveyor")
    ap.add_argument("--lake", default="/tmp/lake10k", help="a gen-lake lake")
    ap.add_argument("--files", type=int, default=2000)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--wrk-seconds", type=int, default=5)
    ap.add_argument("--tail-bytes", type=int, default=65536, help="Surveyor's default --tail-bytes")
    args = ap.parse_args()
    surveyor = os.path.abspath(args.surveyor)
    workdir = tempfile.mkdtemp(prefix="surveyor-azure-bench-")
    azurite = Azurite(workdir)
    try:
        began = time.perf_counter()
        blobs = upload(azurite, args.lake, args.files)
        n = len(blobs)
        print(f"Azurite on port {azurite.port} (pid {azurite.proc.pid}); {n:,} blobs, "
              f"{sum(s for _, s in blobs) / 2**20:.1f} MiB, put in {time.perf_counter() - began:.1f} s; "
              f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}", flush=True)
        sas = account_sas("rl")
        name, size = blobs[0]
        req = urllib.request.Request(f"{azurite.base}/{CONTAINER}/{urllib.parse.quote(name)}?{sas}",
                                     headers={"Range": tail_range(size, args.tail_bytes)})
        with urllib.request.urlopen(req) as resp:
            if resp.status != 206 or len(resp.read()) != min(size, args.tail_bytes):
                sys.exit(f"a ranged GET of {name} answered {resp.status}")
        script = os.path.join(workdir, "tails.lua")
        wrk_script(script, blobs, sas, args.tail_bytes)
        source = os.path.join(workdir, "source.toml")
        with open(source, "w") as f:
            f.write(f"""name = "azure-bench"
type = "azure-blob"

[connection]
account = "{ACCOUNT}"
endpoint = "{azurite.base}"
credential = {{ kind = "sas", token = "{sas}" }}
containers = ["{CONTAINER}"]
""")
        # Warm-up, untimed: Azurite's JIT, the plugin cache, the page cache.
        ceiling(azurite, script, args.wrk_seconds, workdir)
        scan(surveyor, source, workdir, blobs, args.tail_bytes)

        rows = []
        head = ("| round | wrk GET/s | surveyor files/s (wall) | ratio "
                "| requests/file (ranged GET + listing + other) | surveyor CPU ms/file | Azurite CPU ms/file "
                "| Azurite CPU ms/req (wrk) | wrk CPU ms/req | surveyor peak RSS |")
        print("\n" + head + "\n" + "|---" * (head.count("|") - 1) + "|", flush=True)
        for r in range(args.rounds):
            (gets, wrk_cpu), az_wrk, wrk_kinds = measure(azurite, lambda: ceiling(
                azurite, script, args.wrk_seconds, workdir))
            served = sum(wrk_kinds[k] for k in ("ranged GET", "other GET", "listing", "other"))
            if wrk_kinds["ranged GET"] != served or wrk_kinds["errors"]:
                sys.exit(f"wrk's requests were not all ranged GETs answered 206: {wrk_kinds}")
            (wall, cpu, rss), az_scan, kinds = measure(azurite, lambda: scan(
                surveyor, source, workdir, blobs, args.tail_bytes))
            if kinds["errors"]:
                sys.exit(f"Azurite answered {kinds['errors']} of Surveyor's requests with an error: {kinds}")
            total = sum(kinds[k] for k in ("ranged GET", "other GET", "listing", "other"))
            row = {"gets": gets, "wall": wall, "fps": n / wall, "ratio": n / wall / gets, "rpf": total / n,
                   "cpu": cpu * 1000 / n, "az": az_scan * 1000 / n, "az_req": az_wrk * 1000 / served,
                   "wrk_req": wrk_cpu * 1000 / served, "rss": rss, "kinds": kinds}
            rows.append(row)
            print(f"| {r + 1} | {gets:,.0f} | {row['fps']:,.0f} ({wall:.2f} s) | {row['ratio']:.2f} "
                  f"| {row['rpf']:.4f} ({kinds['ranged GET']} + {kinds['listing']} "
                  f"+ {kinds['other'] + kinds['other GET']}) "
                  f"| {row['cpu']:.2f} | {row['az']:.2f} | {row['az_req']:.2f} | {row['wrk_req']:.3f} "
                  f"| {rss:.0f} MiB |", flush=True)
        med = {k: statistics.median(row[k] for row in rows) for k in rows[0] if k != "kinds"}
        print(f"| **median** | **{med['gets']:,.0f}** | **{med['fps']:,.0f}** ({med['wall']:.2f} s) "
              f"| **{med['ratio']:.2f}** | {med['rpf']:.4f} | {med['cpu']:.2f} | {med['az']:.2f} | {med['az_req']:.2f} "
              f"| {med['wrk_req']:.3f} | {med['rss']:.0f} MiB |")
        print(f"\n{n:,} files, {args.rounds} rounds, wrk -t1 -c16 -d{args.wrk_seconds}s; target: surveyor files/s "
              f"/ wrk GET/s >= 0.80 -> median {med['ratio']:.2f}: {'met' if med['ratio'] >= 0.8 else 'NOT met'}")
    finally:
        azurite.stop()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
