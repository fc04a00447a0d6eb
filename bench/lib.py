"""Helpers of the benchmarks: statistics, an HTTP load generator with keep-alive, the
petition bodies, and a sampler of the processes' resident memory (from /proc)."""

from __future__ import annotations

import http.client
import itertools
import json
import os
import random
import statistics
import sys
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from services.common import localities  # noqa: E402

DATASET = ROOT / "tests" / "data" / "petitions.jsonl"
PROVINCE = "37"


def log(message: str) -> None:
    """A progress line (stderr, so that the table on stdout stays clean)."""
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# --- statistics ------------------------------------------------------------------------
def pct(values: list[float], q: float) -> float | None:
    """The q-quantile (0..1) by nearest rank; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


def spread(values: Iterable[float | None]) -> dict[str, Any]:
    """Median of several runs with min and max (the spread we print)."""
    vals = [v for v in values if v is not None]
    if not vals:
        return {"median": None, "min": None, "max": None, "runs": []}
    return {"median": statistics.median(vals), "min": min(vals), "max": max(vals),
            "runs": vals}


def fmt(s: dict[str, Any] | None, unit: str = "", digits: int = 1) -> str:
    if not s or s.get("median") is None:
        return "n/a"
    return (f"{s['median']:.{digits}f}{unit} "
            f"[{s['min']:.{digits}f}–{s['max']:.{digits}f}]")


# --- petitions -------------------------------------------------------------------------
def dataset() -> list[dict[str, str]]:
    """Realistic Vietnamese petitions of province 37 (Ninh Bình) from the test data."""
    with DATASET.open(encoding="utf-8") as fh:
        rows = [json.loads(line) for line in fh if line.strip()]
    ok = []
    for row in rows:
        ward = localities.ward(row["ward_code"])
        if ward is not None and ward.province_code == PROVINCE:
            ok.append(row)
    return ok


class Bodies:
    """JSON bodies of ``POST /api/v1/petitions``: each a unique phone, consent given."""

    def __init__(self, seed: int = 1) -> None:
        self.rows = dataset()
        rng = random.Random(seed)
        self._serial = itertools.count(rng.randrange(10**6))
        self._lock = threading.Lock()

    def next(self) -> tuple[str, bytes]:
        with self._lock:
            n = next(self._serial)
        row = self.rows[n % len(self.rows)]
        phone = f"+8491{n % 10**7:07d}"
        body = {"kind": "feedback", "title": row["title"], "content": row["content"],
                "category": row["category"],
                "locality": {"province_code": PROVINCE, "ward_code": row["ward_code"]},
                "channel": "web",
                "petitioner": {"full_name": "Nguyễn Văn An", "phone": phone,
                               "consent_notifications": True}}
        return phone, json.dumps(body, ensure_ascii=False).encode()


# --- HTTP load -------------------------------------------------------------------------
class Conn:
    """One keep-alive connection of one client thread; reconnects after an error."""

    def __init__(self, host: str, port: int, timeout: float = 30) -> None:
        self.host, self.port, self.timeout = host, port, timeout
        self.conn: http.client.HTTPConnection | None = None

    def request(self, method: str, path: str, body: bytes | None = None,
                headers: dict[str, str] | None = None) -> tuple[int, bytes]:
        for attempt in range(2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection(self.host, self.port,
                                                       timeout=self.timeout)
            try:
                self.conn.request(method, path, body=body, headers=headers or {})
                response = self.conn.getresponse()
                return response.status, response.read()
            except (OSError, http.client.HTTPException):
                self.conn.close()
                self.conn = None
                if attempt:
                    raise
        raise AssertionError("unreachable")


JSON = {"Content-Type": "application/json"}


@dataclass
class LoadResult:
    ok: int = 0
    errors: int = 0
    statuses: dict[int, int] = field(default_factory=dict)
    latencies_ms: list[float] = field(default_factory=list)
    elapsed: float = 0.0

    def summary(self) -> dict[str, Any]:
        lat = self.latencies_ms
        return {"rps": self.ok / self.elapsed if self.elapsed else 0.0, "ok": self.ok,
                "errors": self.errors, "statuses": {str(k): v for k, v in self.statuses.items()},
                "p50_ms": pct(lat, 0.50), "p95_ms": pct(lat, 0.95), "p99_ms": pct(lat, 0.99)}


def closed_loop(port: int, path: str, make_body: Callable[[], bytes], *, concurrency: int,
                duration: float, expect: int = 201, host: str = "127.0.0.1") -> LoadResult:
    """``concurrency`` client threads, each sending its next request as soon as the last
    one is answered, over one keep-alive connection, for ``duration`` seconds."""
    result = LoadResult()
    lock = threading.Lock()
    start = threading.Barrier(concurrency + 1)
    deadline = [0.0]

    def client() -> None:
        conn = Conn(host, port)
        local_lat: list[float] = []
        ok = errors = 0
        statuses: dict[int, int] = {}
        start.wait()
        while time.perf_counter() < deadline[0]:
            body = make_body()
            t0 = time.perf_counter()
            try:
                status, _ = conn.request("POST", path, body, JSON)
            except (OSError, http.client.HTTPException):
                status = 0
            t1 = time.perf_counter()
            statuses[status] = statuses.get(status, 0) + 1
            if status == expect:
                ok += 1
                local_lat.append((t1 - t0) * 1000)
            else:
                errors += 1
        with lock:
            result.ok += ok
            result.errors += errors
            result.latencies_ms.extend(local_lat)
            for k, v in statuses.items():
                result.statuses[k] = result.statuses.get(k, 0) + v

    threads = [threading.Thread(target=client, daemon=True) for _ in range(concurrency)]
    for t in threads:
        t.start()
    t0 = time.perf_counter()
    deadline[0] = t0 + duration
    start.wait()
    for t in threads:
        t.join(duration + 60)
    result.elapsed = time.perf_counter() - t0
    return result


def get_json(port: int, path: str, headers: dict[str, str] | None = None,
             conn: Conn | None = None) -> tuple[int, Any, float]:
    conn = conn or Conn("127.0.0.1", port, timeout=120)
    t0 = time.perf_counter()
    status, data = conn.request("GET", path, None, headers)
    elapsed = (time.perf_counter() - t0) * 1000
    try:
        body = json.loads(data) if data else None
    except ValueError:
        body = None
    return status, body, elapsed


# --- memory ----------------------------------------------------------------------------
def _status(pid: int) -> dict[str, int]:
    out: dict[str, int] = {}
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith(("VmRSS:", "VmHWM:")):
                    key, value = line.split(":", 1)
                    out[key] = int(value.split()[0])  # kB
    except (OSError, ValueError):
        pass
    return out


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as fh:
                stat = fh.read()
            ppid = int(stat[stat.rfind(")") + 2:].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        tree.setdefault(ppid, []).append(int(name))
    return tree


def tree_pids(root: int, tree: dict[int, list[int]]) -> list[int]:
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(tree.get(pid, []))
    return out


class MemorySampler:
    """Samples VmRSS and VmHWM of every process tree (a gunicorn master and its workers,
    a worker) once a second, per phase: peak of the largest single process, peak of the
    tree's sum, and the tree's RSS at the phase's start and end (growth)."""

    def __init__(self, roots: Callable[[], dict[str, int]], interval: float = 1.0) -> None:
        self.roots = roots
        self.interval = interval
        self.phase: str | None = None
        self.data: dict[str, dict[str, dict[str, Any]]] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)

    def begin(self, phase: str) -> None:
        self.sample_once(phase)
        self.phase = phase

    def end(self) -> None:
        if self.phase:
            self.sample_once(self.phase)
        self.phase = None

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            if self.phase:
                self.sample_once(self.phase)

    def sample_once(self, phase: str) -> None:
        tree = _children()
        for name, pid in self.roots().items():
            pids = tree_pids(pid, tree)
            stats = [_status(p) for p in pids]
            rss = sum(s.get("VmRSS", 0) for s in stats)
            hwm = max((s.get("VmHWM", 0) for s in stats), default=0)
            row = self.data.setdefault(phase, {}).setdefault(
                name, {"processes": 0, "peak_process_mb": 0.0, "peak_tree_mb": 0.0,
                       "start_tree_mb": rss / 1024, "end_tree_mb": 0.0})
            row["processes"] = max(row["processes"], len(pids))
            row["peak_process_mb"] = max(row["peak_process_mb"], hwm / 1024)
            row["peak_tree_mb"] = max(row["peak_tree_mb"], rss / 1024)
            row["end_tree_mb"] = rss / 1024
