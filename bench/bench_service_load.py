"""Load test of the web service on loopback: dataset listing alone, then during 50 runs and 10 what-ifs.

Starts ``equicare serve`` (uvicorn, worker pool of ``--workers`` processes) on 127.0.0.1 with a throw-away
store, ten planners in two organisations and a few datasets, then measures

1. authenticated ``GET /api/datasets``: 2,000 requests from 16 threads (persistent connections):
   requests per second, median and 99th-percentile latency, errors;
2. the same 2,000 requests while 50 scenario runs (allocate, each with another stockpile) and 10 what-ifs
   (each for another, uncached forecast date) are posted at once: the same figures, how the runs and
   what-ifs were answered (accepted, result, or "busy, try again" -- which is an answer, not an error),
   and how long the queue took to drain;

and the resident memory (RSS) of the web process and of the web process with its workers, sampled every
half second. Everything is bounded: the script stops the server and exits by itself (at the latest after
``--timeout`` seconds). It prints figures; it never fails on time.

The figures of the issue (#17) for the code before the worker pool, on the same machine class: listing
about 210 requests/s with p99 180 ms alone; during a storm of 50 runs the listing took 1.2 s at the median
(13.7 s at worst) and memory peaked at 3.5 GB; ten concurrent what-ifs crashed the server.

Run: ``PYTHONPATH=src .venv/bin/python bench/bench_service_load.py [--workers 2]``.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
import psutil

from equicare.service.accounts import add_user
from equicare.store import Store

FACILITIES = "id,name,region,lat,lon,cap_beds,cap_icu_beds\n" + "".join(
    f"h{i},Hospital {i},{1 + i % 50:02d},{30 + i % 10}.5,-{80 + i % 20}.5,{50 + i},{5 + i % 7}\n" for i in range(200))
WHATIF_DATES = ["2023-10-07", "2023-10-14", "2023-10-21", "2023-10-28", "2023-11-04", "2023-11-11", "2023-11-18",
                "2023-11-25", "2023-12-02", "2023-12-09"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Memory:
    """Peak RSS of the server process and of the server with its worker processes (sampled every 0.5 s)."""

    def __init__(self, pid: int) -> None:
        self.proc = psutil.Process(pid)
        self.web_peak = self.total_peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                web = self.proc.memory_info().rss
                total = web + sum(c.memory_info().rss for c in self.proc.children(recursive=True))
            except psutil.Error:
                break
            self.web_peak, self.total_peak = max(self.web_peak, web), max(self.total_peak, total)
            time.sleep(0.5)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


def listing(url: str, token: str, n: int = 2000, threads: int = 16) -> dict:
    """``n`` authenticated dataset listings from ``threads`` threads: throughput, latency, errors."""
    per = [n // threads + (i < n % threads) for i in range(threads)]

    def worker(k: int) -> tuple[list[float], int]:
        lat, errors = [], 0
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=120) as c:
            for _ in range(k):
                t = time.perf_counter()
                try:
                    ok = c.get("/api/datasets").status_code == 200
                except httpx.HTTPError:
                    ok = False
                lat.append(time.perf_counter() - t)
                errors += not ok
        return lat, errors

    t0 = time.perf_counter()
    with ThreadPoolExecutor(threads) as ex:
        parts = list(ex.map(worker, per))
    wall = time.perf_counter() - t0
    lat = np.array([x for p, _ in parts for x in p])
    return {"n": len(lat), "rps": len(lat) / wall, "p50": float(np.percentile(lat, 50)),
            "p99": float(np.percentile(lat, 99)), "max": float(lat.max()), "errors": sum(e for _, e in parts)}


def show(label: str, r: dict) -> None:
    print(f"{label:<44} {r['n']:>5} requests  {r['rps']:7.1f} req/s  p50 {1000 * r['p50']:7.1f} ms  "
          f"p99 {1000 * r['p99']:8.1f} ms  max {1000 * r['max']:8.1f} ms  errors {r['errors']}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--timeout", type=float, default=1800, help="stop everything after this many seconds")
    args = ap.parse_args()
    deadline = time.monotonic() + args.timeout
    tmp = Path(tempfile.mkdtemp(prefix="equicare-load-"))
    store_path = tmp / "load.duckdb"
    with Store(store_path) as st:
        tokens = {f"p{i}": add_user(st, f"p{i}", "north" if i < 5 else "south", "planner") for i in range(11)}
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    srv = subprocess.Popen([sys.executable, "-m", "equicare", "serve", "--store", str(store_path), "--port", str(port),
                            "--workers", str(args.workers), "--queue", "64", "--per-user", "16"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    mem = None
    try:
        while True:
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                if srv.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit("the server did not start") from None
                time.sleep(0.2)
        mem = Memory(srv.pid)
        lister = tokens["p0"]
        for i in range(3):
            r = httpx.post(f"{url}/api/datasets", headers={"Authorization": f"Bearer {lister}"},
                           data={"kind": "facilities", "name": f"hospitals {i}"},
                           files={"file": ("h.csv", FACILITIES.encode(), "text/csv")}, timeout=120)
            assert r.status_code == 201, r.text
        print(f"equicare service on {url}: {args.workers} worker processes, queue 64, 16 jobs per account; "
              f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")
        listing(url, lister, n=200)  # warm-up (connections, caches)
        show("1. dataset listing alone", listing(url, lister))

        # 2. the same during 50 runs and 10 what-ifs posted at once
        run_ids, run_codes, whatif_codes = [], [], []

        def post_run(i: int) -> None:
            who = tokens[f"p{1 + i % 10}"]
            r = httpx.post(f"{url}/api/runs", headers={"Authorization": f"Bearer {who}"}, timeout=120,
                           json={"kind": "allocate", "params": {"stockpile": 1000 + 37 * i}})
            run_codes.append(r.status_code)
            if r.status_code == 202:
                run_ids.append((who, r.json()["id"]))

        def post_whatif(i: int) -> None:
            r = httpx.post(f"{url}/api/whatif", headers={"Authorization": f"Bearer {tokens['p10']}"},
                           json={"as_of": WHATIF_DATES[i], "stockpile": 2000}, timeout=1200)
            whatif_codes.append(r.status_code)

        t_storm = time.perf_counter()
        storm = ThreadPoolExecutor(60)
        futs = [storm.submit(post_run, i) for i in range(50)] + [storm.submit(post_whatif, i) for i in range(10)]
        time.sleep(0.5)
        during = listing(url, lister)
        show("2. dataset listing during 50 runs + 10 what-ifs", during)
        for f in futs[:50]:
            f.result()
        # the runs drain through the workers; the listing keeps working meanwhile
        status: dict[str, str] = {}
        with httpx.Client(base_url=url, timeout=60) as c:
            while time.monotonic() < deadline:
                for who, rid in run_ids:
                    if status.get(rid) in (None, "running"):
                        status[rid] = c.get(f"/api/runs/{rid}", headers={"Authorization": f"Bearer {who}"}
                                            ).json()["status"]
                if all(s != "running" for s in status.values()) and all(f.done() for f in futs):
                    break
                time.sleep(1.0)
        drained = time.perf_counter() - t_storm
        storm.shutdown(wait=False, cancel_futures=True)
        codes = {c: run_codes.count(c) for c in sorted(set(run_codes))}
        print(f"   runs posted: 50, answers {codes}; finished: {sum(s == 'succeeded' for s in status.values())} "
              f"succeeded, {sum(s == 'failed' for s in status.values())} failed, "
              f"{sum(s == 'running' for s in status.values())} still running; queue drained in {drained:.0f} s")
        wcodes = {c: whatif_codes.count(c) for c in sorted(set(whatif_codes))}
        print(f"   what-ifs posted: 10, answers {wcodes} (200 result; 429/503 busy, try again)")
        print(f"   server alive: {srv.poll() is None}; health {httpx.get(f'{url}/health').status_code}")
        show("3. dataset listing after the storm", listing(url, lister))
        mem.stop()
        print(f"peak RSS: web process {mem.web_peak / 2**20:.0f} MB; web process + workers "
              f"{mem.total_peak / 2**20:.0f} MB")
        print("reference (issue 17, before the worker pool): listing ~210 req/s, p99 180 ms alone; median 1.2 s "
              "and worst 13.7 s during 50 runs; 3.5 GB peak; ten concurrent what-ifs crashed the server")
    finally:
        if mem is not None:
            mem.stop()
        if srv.poll() is None:
            srv.send_signal(signal.SIGINT)
            try:
                srv.wait(timeout=60)
            except subprocess.TimeoutExpired:
                srv.kill()


if __name__ == "__main__":
    main()
