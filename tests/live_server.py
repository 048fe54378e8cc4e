"""The service on a loopback port: uvicorn in a thread of the test process (:func:`serving`, the browser tests),
``equicare serve`` in a subprocess (:class:`Server`, the live tests), a /health prober (:class:`HealthProbe`), and
the check that Debian's chromium is there."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

CHROMIUM = Path("/usr/bin/chromium")


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def require_browser() -> None:
    """Skip (saying why) unless Debian's chromium and Playwright for Python are installed."""
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed at /usr/bin/chromium (apt-get install chromium); "
                    "browser tests skipped")
    pytest.importorskip("playwright.sync_api")


@contextmanager
def serving(app) -> Iterator[str]:
    """Serve ``app`` with uvicorn on a free loopback port until the block ends; yields the base URL."""
    import uvicorn

    port = free_port()
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    th = threading.Thread(target=srv.run, daemon=True)
    th.start()
    for _ in range(100):
        if srv.started:
            break
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        srv.should_exit = True
        th.join(timeout=5)


class Server:
    """``python -m equicare serve`` on a free loopback port; stopped (and its workers with it) at the end."""

    def __init__(self, store: Path, *args: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen([sys.executable, "-m", "equicare", "serve", "--store", str(store), "--port",
                                      str(self.port), *args], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                     env={**os.environ, "PYTHONUNBUFFERED": "1"})
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited: {self.proc.stderr.read().decode()[-2000:]}")
            try:
                if httpx.get(f"{self.url}/health", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.2)
        raise RuntimeError("server did not start in 120 s")

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self) -> None:
        if self.alive():
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class HealthProbe:
    """Polls ``path`` (default /health; ``headers`` e.g. a token) every 50 ms on its own thread and keeps the
    latencies (seconds) and the answers' status codes."""

    def __init__(self, url: str, path: str = "/health", headers: dict | None = None) -> None:
        self.url, self.path, self.headers = url, path, headers or {}
        self.latencies: list[float] = []
        self.statuses: list[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        with httpx.Client(timeout=60) as c:
            while not self._stop.is_set():
                t = time.perf_counter()
                code = c.get(f"{self.url}{self.path}", headers=self.headers).status_code
                self.latencies.append(time.perf_counter() - t)
                self.statuses.append(code)
                time.sleep(0.05)

    def __enter__(self) -> "HealthProbe":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=70)
        if exc[0] is None:  # an error inside the block is reported as it is
            assert set(self.statuses) <= {200}, f"{self.path} answered {sorted(set(self.statuses))}"
