"""``vksnd run --http`` as a real subprocess, and its ``/healthz`` read over HTTP.

For the tests that check what the daemon reports (status code, ``status``, ``reasons``) in a
scenario; the process is always stopped (SIGKILL as a last resort) when the block ends.
"""

from __future__ import annotations

import contextlib
import socket
import sqlite3
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from support.crawl import cli, site_args, subprocess_env
from support.reliability import stop_process

# One pass at the start, the next an hour away: what /healthz says is about that first pass.
ONE_PASS = ("--interval", "1h", "--jitter", "0", "--retry-attempts", "1")


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def poll_http(
    proc: subprocess.Popen[str], url: str, done: Callable[[httpx.Response], bool], timeout: float
) -> httpx.Response:
    """GET ``url`` until ``done(response)``; fails at the deadline or if the process exits."""
    deadline = time.monotonic() + timeout
    while True:
        assert proc.poll() is None, f"exited with {proc.returncode}"
        try:
            response = httpx.get(url, timeout=5)
            if done(response):
                return response
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, f"{url}: not ready in {timeout}s"
        time.sleep(0.1)  # polling with a deadline


@dataclass(slots=True)
class DaemonProcess:
    proc: subprocess.Popen[str]
    base: str  # http://127.0.0.1:PORT of its API
    log: Path  # its stderr

    def healthz(
        self, done: Callable[[dict[str, Any]], bool], timeout: float = 60
    ) -> httpx.Response:
        """``/healthz`` once ``done(body)`` holds."""
        return poll_http(self.proc, f"{self.base}/healthz", lambda r: done(r.json()), timeout)

    def stderr(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")


def crawl_pass_done(body: dict[str, Any]) -> bool:
    return body["last_crawl_pass"] is not None


def health_tokens(response: httpx.Response) -> list[str]:
    """What a table cell says of ``/healthz``: status code, status, each reason's code, and the
    outcome of the last crawl pass."""
    body = response.json()
    crawl = body["last_crawl_pass"]
    return [
        str(response.status_code),
        body["status"],
        *(reason["code"] for reason in body["reasons"]),
        *([crawl["outcome"]] if crawl else []),
    ]


@contextlib.contextmanager
def daemon(
    base_url: str, db: Path, cwd: Path, *extra: str, env: dict[str, str] | None = None
) -> Iterator[DaemonProcess]:
    """``vksnd run`` serving its API on a free loopback port, stderr in ``cwd``."""
    port = closed_port()
    log = cwd / f"daemon-{port}.log"
    with log.open("w") as log_file:
        proc = subprocess.Popen(
            cli("run", *site_args(base_url, db), *ONE_PASS, "--http", f"127.0.0.1:{port}", *extra),
            cwd=cwd, env=subprocess_env(**(env or {})), stdout=subprocess.DEVNULL,
            stderr=log_file, text=True,
        )  # fmt: skip
    try:
        yield DaemonProcess(proc, f"http://127.0.0.1:{port}", log)
    finally:
        stop_process(proc)


def last_run(db: Path) -> dict[str, Any] | None:
    """The newest row of the run table (plain ``sqlite3``, read-only), None if there is none."""
    if not db.exists():
        return None
    with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
        conn.row_factory = sqlite3.Row
        try:
            row = conn.execute("SELECT * FROM runs ORDER BY id DESC LIMIT 1").fetchone()
        except sqlite3.OperationalError:  # no schema yet
            return None
    return None if row is None else dict(row)
