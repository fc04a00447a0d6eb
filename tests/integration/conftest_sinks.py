"""Run ``deploy/sinks.py`` as a real process for tests.

Not a conftest.py on purpose: test modules import ``running_sinks`` and wrap it in the
fixture scope they need, so nothing starts unless a test asks for it.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parents[2]
SINKS = ROOT / "deploy" / "sinks.py"


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


@dataclass
class Sinks:
    host: str
    smtp_port: int
    http_port: int
    data_dir: Path
    log_path: Path
    process: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.http_port}"

    def messages(self, channel: str | None = None, to: str | None = None) -> list[dict[str, Any]]:
        params = {k: v for k, v in {"channel": channel, "to": to}.items() if v}
        resp = requests.get(f"{self.url}/messages", params=params, timeout=5)
        resp.raise_for_status()
        return resp.json()

    def clear(self) -> None:
        requests.delete(f"{self.url}/messages", timeout=5).raise_for_status()
        requests.delete(f"{self.url}/faults", timeout=5).raise_for_status()

    def fault(self, to: str, fail: list[Any]) -> None:
        resp = requests.post(f"{self.url}/faults", json={"to": to, "fail": fail}, timeout=5)
        resp.raise_for_status()

    def configure(self, **values: Any) -> dict[str, Any]:
        resp = requests.put(f"{self.url}/config", json=values, timeout=5)
        resp.raise_for_status()
        return resp.json()

    def zalo_refresh_token(self) -> str:
        """A refresh token the Zalo stand-in accepts once (each test gets its own)."""
        resp = requests.post(f"{self.url}/zalo/refresh-tokens", timeout=5)
        resp.raise_for_status()
        return resp.json()["refresh_token"]

    def zalo_stats(self) -> dict[str, Any]:
        return requests.get(f"{self.url}/zalo/stats", timeout=5).json()

    def callbacks(self) -> list[dict[str, Any]]:
        return requests.get(f"{self.url}/callbacks", timeout=5).json()

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def stop(self, timeout: float = 10.0) -> int:
        """SIGTERM and wait; returns the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        return self.process.returncode


def _wait_ready(sinks: Sinks, deadline: float) -> None:
    while time.monotonic() < deadline:
        if sinks.process.poll() is not None:
            raise RuntimeError(f"sinks exited with {sinks.process.returncode}:\n{sinks.log()}")
        try:
            if requests.get(f"{sinks.url}/healthz", timeout=1).ok:
                with socket.create_connection((sinks.host, sinks.smtp_port), timeout=1):
                    return
        except (requests.RequestException, OSError):
            pass
        time.sleep(0.1)
    raise RuntimeError(f"sinks did not become ready:\n{sinks.log()}")


@contextmanager
def running_sinks(
    data_dir: Path,
    *,
    tls_cert: Path | None = None,
    tls_key: Path | None = None,
    startup_timeout: float = 20.0,
) -> Iterator[Sinks]:
    """Start the sinks on free loopback ports, yield them, stop them with SIGTERM."""
    data_dir.mkdir(parents=True, exist_ok=True)
    host = "127.0.0.1"
    smtp_port, http_port = free_port(host), free_port(host)
    args = [
        sys.executable, str(SINKS), "--host", host, "--smtp-port", str(smtp_port),
        "--http-port", str(http_port), "--data", str(data_dir), "--callback-delay", "0.2",
    ]
    if tls_cert and tls_key:
        args += ["--tls-cert", str(tls_cert), "--tls-key", str(tls_key)]
    log_path = data_dir / f"sinks-{smtp_port}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            args, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
    sinks = Sinks(host, smtp_port, http_port, data_dir, log_path, process)
    try:
        _wait_ready(sinks, time.monotonic() + startup_timeout)
        yield sinks
    finally:
        sinks.stop()
