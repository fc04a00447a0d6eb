"""``make bench``: how fast the system is, how far it scales, and how close it gets to
what the machine allows. Every figure is the median of several runs with its spread
(min–max), beside a baseline measured in the same run. Never fails on timing.

Usage: .venv/bin/python bench/run.py [--quick] [--only intake pipeline consumers scale
clustering] [--cluster-sizes 10000 100000] [--scale-sizes 10000 100000] [--no-readme]

Writes the table to stdout, progress to stderr, bench/results/<UTC timestamp>.json and
(unless --no-readme) the latest table into bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from lib import (  # noqa: E402
    JSON,
    ROOT,
    Bodies,
    Conn,
    MemorySampler,
    closed_loop,
    dataset,
    fmt,
    get_json,
    log,
    pct,
    spread,
)

from services.system import DEFAULT_WORKER_NICE, System, free_port  # noqa: E402

SECTIONS = ("commands", "intake", "pipeline", "consumers", "scale", "clustering")
POOL = 2_000  # distinct sealed contacts among seeded petitions
RESULTS = HERE / "results"


# --- plan ------------------------------------------------------------------------------
def plan(quick: bool) -> dict[str, Any]:
    if quick:
        return {"runs": 3, "levels": [1, 4, 16], "load_seconds": 3, "profile_posts": 10,
                "rates": [(2, 10), (10, 10)], "drain": 45,
                "backlog": 20_000, "consumer_cap": 12,
                "scale_sizes": [2_000, 10_000], "commitments": 2_000, "scale_requests": 5,
                "cluster_sizes": [2_000, 10_000], "cluster_queries": 300}
    return {"runs": 3, "levels": [1, 4, 16], "load_seconds": 8, "profile_posts": 30,
            "rates": [(5, 20), (10, 20), (20, 20), (40, 60), (50, 60), (200, 60)], "drain": 90,
            "backlog": 100_000, "consumer_cap": 15,
            "scale_sizes": [10_000, 100_000, 1_000_000], "commitments": 10_000,
            "scale_requests": 20,
            "cluster_sizes": [10_000, 100_000], "cluster_queries": 1000}


def machine() -> dict[str, Any]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_gb = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                mem_gb = round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    jars = sorted((ROOT / "var" / "kafka" / "lib").glob("kafka-clients-*.jar"))
    kafka = ["Kafka " + jars[0].stem.split("-")[-1]] if jars else []
    ferret = None
    try:
        from pymongo import MongoClient

        info = MongoClient(os.environ.get("MONGO_URL", "mongodb://127.0.0.1:27017/"),
                           serverSelectionTimeoutMS=3000).admin.command("buildInfo")
        if "ferretdbFeatures" in info:
            version = info.get("ferretdbVersion")
            version = "1.24" if version in (None, "unknown") else version
            ferret = f"FerretDB {version} (PostgreSQL backend)"
        else:
            ferret = f"MongoDB {info.get('version')}"
    except Exception as exc:  # the machine line must never stop the run
        ferret = f"unknown ({exc.__class__.__name__})"
    return {"cpu": cpu, "cores": os.cpu_count(), "memory_gb": mem_gb,
            "os": f"{platform.system()} {platform.release()}",
            "python": platform.python_version(), "kafka": ", ".join(kafka) or "unknown",
            "database": ferret,
            "note": "Kafka, FerretDB and PostgreSQL run on the same cores as the services "
                    "and the load generator"}


# --- the running system ----------------------------------------------------------------
class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.plan = plan(args.quick)
        if args.scale_sizes:
            self.plan["scale_sizes"] = args.scale_sizes
        if args.cluster_sizes:
            self.plan["cluster_sizes"] = args.cluster_sizes
        if getattr(args, "rates", None):
            self.plan["rates"] = [tuple(int(v) for v in r.split("x")) for r in args.rates]
        self.stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        self.prefix = "bench" + self.stamp.lower().replace("t", "").replace("z", "")
        self.results: dict[str, Any] = {
            "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "quick": args.quick, "machine": machine(), "plan": self.plan,
            "worker_nice": os.environ.get("WORKER_NICE", DEFAULT_WORKER_NICE), "sections": {},
            "notes": []}
        self.system: System | None = None
        self.memory: MemorySampler | None = None
        self.log_dir = ROOT / "var" / "bench" / self.stamp
        self.bodies = Bodies(seed=int(time.time()))
        self.trivial: subprocess.Popen | None = None
        self.trivial_port = 0
        self._cleanups: list[Callable[[], None]] = []  # run by cleanup()

    # environment of the services: isolated prefixes; limits that would throttle the
    # benchmark rather than measure it are lifted (and said so in the output)
    def env(self) -> dict[str, str]:
        return {"TOPIC_PREFIX": f"{self.prefix}.", "DB_PREFIX": f"{self.prefix}_",
                "PUBLIC_RATE_LIMIT": "1000000", "NOTIFY_SMS_RATE": "1000000",
                "NOTIFY_QUIET_START": "00:00", "NOTIFY_QUIET_END": "00:00"}

    def settings(self, **overrides: Any):
        """The bench's own Kafka clients are operator tooling (the admin principal); the
        services it starts run on their own principals."""
        from services.common.config import Settings
        from services.common.kafka_security import operator

        return operator(Settings.from_env(topic_prefix=f"{self.prefix}.",
                                          db_prefix=f"{self.prefix}_", **overrides))

    def token(self, *roles: str) -> dict[str, str]:
        from services.common.auth import issue_token

        tok = issue_token(self.settings(), "bench", list(roles) or ["admin"])
        return {"Authorization": f"Bearer {tok}"}

    def start_system(self) -> None:
        ports = {n: free_port() for n in ("intake", "scheduling", "followup", "notify",
                                          "smtp", "sinks")}
        log(f"starting the system (prefix {self.prefix}, logs in {self.log_dir})")
        from services.common.kafka_security import setup

        setup(self.settings())  # the services' users, ACLs and topics for the bench's prefix
        self.system = System(ports=ports, env=self.env(), log_dir=self.log_dir, web_workers=2,
                             python=str(ROOT / ".venv" / "bin" / "python"))
        self.system.start()
        self.system.wait_ready(timeout=180)
        self.memory = MemorySampler(self._roots)
        self.memory.start()
        log("system ready")

    def _roots(self) -> dict[str, int]:
        assert self.system
        roots = {name: p.popen.pid for name, p in self.system.procs.items()
                 if p.popen and p.popen.poll() is None and name != "sinks"}
        if self.trivial and self.trivial.poll() is None:
            roots["trivial-web"] = self.trivial.pid
        return roots

    def port(self, service: str) -> int:
        assert self.system
        return self.system.ports[service]

    @property
    def sink_file(self) -> Path:
        return self.log_dir / "sinks" / "messages.jsonl"

    def start_trivial(self) -> None:
        self.trivial_port = free_port()
        py = str(ROOT / ".venv" / "bin" / "python")
        self.trivial = subprocess.Popen(
            [py, "-m", "gunicorn", "-c", str(ROOT / "deploy" / "gunicorn.conf.py"),
             "--bind", f"127.0.0.1:{self.trivial_port}", "--workers", "2",
             "--pythonpath", str(HERE), "trivial_app:app"],
            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if get_json(self.trivial_port, "/healthz")[0] == 200:
                    return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError("trivial app did not start")

    def stop_trivial(self) -> None:
        if self.trivial and self.trivial.poll() is None:
            os.killpg(self.trivial.pid, 15)
            self.trivial.wait(20)

    def quiesce(self, submitted: int, timeout: float = 60) -> float | None:
        """Wait until the pipeline has caught up (one SMS per petition submitted so far,
        then every consumer at the end of its topics: grouping lags the SMS), so that one
        run's background work does not slow the next run down; seconds waited, or None
        if the timeout came first."""
        start = time.monotonic()
        deadline = start + timeout
        while time.monotonic() < deadline and sms_count(self.sink_file) < submitted:
            time.sleep(0.5)
        return None if self._quiet(deadline) is None else time.monotonic() - start

    # --- 0. database commands per petition ----------------------------------------------
    def commands(self) -> dict[str, Any]:
        """bench/commands.py in its own process (it registers a global command listener):
        commands per petition from the POST to the acknowledgement SMS, per service."""
        n = 10 if self.args.quick else 30
        run = subprocess.run([sys.executable, str(HERE / "commands.py"), "--petitions", str(n)],
                             cwd=ROOT, capture_output=True, text=True, timeout=1800)
        if run.returncode:
            raise RuntimeError(run.stderr[-2000:])
        out = json.loads(run.stdout)
        log(f"commands: POST {out['post_median']}, to the SMS {out['to_sms_median']}, end to "
            f"end {out['end_to_end_median']} (median of {out['petitions']} petitions)")
        return out

    # --- 1. intake over HTTP -----------------------------------------------------------
    def intake(self) -> dict[str, Any]:
        p = self.plan
        self.start_trivial()
        assert self.memory
        self.memory.begin("intake")
        intake_port = self.port("intake")
        submitted = [0]

        def body() -> bytes:
            return self.bodies.next()[1]

        submitted[0] = sms_count(self.sink_file)
        for port in (self.trivial_port, intake_port):  # warm-up (imports, connections)
            warm = closed_loop(port, "/api/v1/petitions", body, concurrency=2, duration=1.5)
        # counted before the warm-up: counted after, its SMS already out were counted twice
        # and quiesce never saw the pipeline catch up
        submitted[0] += warm.ok
        runs: dict[str, dict[int, list[dict[str, Any]]]] = {"trivial": {}, "intake": {}}
        for run in range(p["runs"]):
            for c in p["levels"]:
                for name, port in (("trivial", self.trivial_port), ("intake", intake_port)):
                    waited = self.quiesce(submitted[0])  # the baseline too: a quiet machine
                    r = closed_loop(port, "/api/v1/petitions", body, concurrency=c,
                                    duration=p["load_seconds"]).summary()
                    r["quiet_after_s"] = waited
                    if name == "intake":
                        submitted[0] += r["ok"]
                    runs[name].setdefault(c, []).append(r)
                    log(f"intake run {run + 1}/{p['runs']} c={c:<2} {name:<7} "
                        f"{r['rps']:7.1f} req/s p50={r['p50_ms'] or 0:.1f} ms "
                        f"p99={r['p99_ms'] or 0:.1f} ms errors={r['errors']}, started "
                        + (f"quiet ({waited:.0f} s waited)" if waited is not None
                           else "with a backlog (60 s waited)"))
        peak_c = max(p["levels"])
        cross: dict[str, Any] = {}
        for name, port in (("trivial", self.trivial_port), ("intake", intake_port)):
            self.quiesce(submitted[0])
            cross[name] = self.locust(port, peak_c, p["load_seconds"])
        self.memory.end()
        self.stop_trivial()
        profile = self.profile_post()
        out: dict[str, Any] = {"load_generator": "threaded http.client, one keep-alive "
                               "connection per client thread, closed loop",
                               "seconds_per_run": p["load_seconds"], "levels": {}}
        for c in p["levels"]:
            row: dict[str, Any] = {}
            for name in ("trivial", "intake"):
                rs = runs[name][c]
                row[name] = {k: spread(r[k] for r in rs) for k in
                             ("rps", "p50_ms", "p95_ms", "p99_ms")}
                row[name]["errors"] = sum(r["errors"] for r in rs)
                row[name]["statuses"] = rs[-1]["statuses"]
            row["ratio"] = spread(i["rps"] / t["rps"] for i, t in
                                  zip(runs["intake"][c], runs["trivial"][c], strict=True)
                                  if t["rps"])
            out["levels"][str(c)] = row
        peak = max(p["levels"], key=lambda c: out["levels"][str(c)]["intake"]["rps"]["median"])
        out["peak_concurrency"] = peak
        out["profile"] = profile
        out["locust"] = {"users": peak_c, "seconds": p["load_seconds"], **cross}
        best_trivial = max(out["levels"][str(c)]["trivial"]["rps"]["median"] for c in p["levels"])
        out["peak_vs_best_trivial"] = (out["levels"][str(peak)]["intake"]["rps"]["median"]
                                       / best_trivial if best_trivial else None)
        return out

    def locust(self, port: int, users: int, seconds: int) -> dict[str, Any]:
        """The same load from locust (headless, FastHttpUser): its requests per second
        and percentiles, to check the bench's own load generator against."""
        import csv
        import tempfile

        with tempfile.TemporaryDirectory() as tmp:
            cmd = [sys.executable, "-m", "locust", "-f", str(HERE / "locustfile.py"),
                   "--headless", "-u", str(users), "-r", str(users), "-t", f"{seconds}s",
                   "--host", f"http://127.0.0.1:{port}", "--csv", f"{tmp}/run",
                   "--only-summary", "--loglevel", "WARNING", "--stop-timeout", "10"]
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 120)
            try:
                with open(f"{tmp}/run_stats.csv", newline="") as f:
                    row = next(r for r in csv.DictReader(f) if r["Name"] == "Aggregated")
            except (OSError, StopIteration):
                log(f"locust failed: {done.stderr[-500:]}")
                return {"error": done.stderr[-500:]}
        # locust writes N/A for the percentiles of a run without one success
        out = {"rps": float(row["Requests/s"]), "requests": int(row["Request Count"]),
               "failures": int(row["Failure Count"]),
               **{f"p{q}_ms": float(row[f"{q}%"]) if row[f"{q}%"] != "N/A" else None
                  for q in (50, 95, 99)}}
        log(f"locust u={users} port {port}: {out['rps']:.1f} req/s p50={out['p50_ms']} ms "
            f"p99={out['p99_ms']} ms failures={out['failures']}")
        return out

    def profile_post(self) -> dict[str, Any]:
        """Where a POST's time goes: the same intake app in this process (Flask test
        client, same settings and database), counting every database command it sends
        and the time spent waiting for them; plus the database's bare round trip."""
        from pymongo import MongoClient, monitoring

        from services.intake import bootstrap as intake_bootstrap
        from services.intake.settings import IntakeSettings

        class Counter(monitoring.CommandListener):
            def __init__(self) -> None:
                self.reset()

            def reset(self) -> None:
                self.commands: dict[str, int] = {}
                self.seconds = 0.0

            def started(self, event) -> None:
                self.commands[event.command_name] = self.commands.get(event.command_name, 0) + 1

            def succeeded(self, event) -> None:
                self.seconds += event.duration_micros / 1e6

            def failed(self, event) -> None:
                self.seconds += event.duration_micros / 1e6

        counter = Counter()
        monitoring.register(counter)
        settings = IntakeSettings.from_env(topic_prefix=f"{self.prefix}.",
                                           db_prefix=f"{self.prefix}_",
                                           public_rate_limit=1_000_000)
        app = intake_bootstrap.build(settings=settings).web()
        client = app.test_client()
        client.post("/api/v1/petitions", data=self.bodies.next()[1], headers=JSON)  # warm-up
        rows = []
        for _ in range(self.plan["profile_posts"]):
            counter.reset()
            t0 = time.perf_counter()
            response = client.post("/api/v1/petitions", data=self.bodies.next()[1],
                                   headers=JSON)
            wall = time.perf_counter() - t0
            if response.status_code == 201:
                rows.append((wall * 1000, counter.seconds * 1000,
                             sum(counter.commands.values()), dict(counter.commands)))
        # the database's bare round trip, for scale
        coll = MongoClient(settings.mongo_url)[f"{self.prefix}_bench"]["ping"]
        coll.insert_one({"_id": "x", "n": 0})
        rt_find, rt_update = [], []
        for _ in range(100):
            t0 = time.perf_counter()
            coll.find_one({"_id": "x"})
            t1 = time.perf_counter()
            coll.update_one({"_id": "x"}, {"$inc": {"n": 1}})
            t2 = time.perf_counter()
            rt_find.append((t1 - t0) * 1000)
            rt_update.append((t2 - t1) * 1000)
        out = {"posts": len(rows),
               "wall_ms_p50": pct([r[0] for r in rows], .5),
               "db_ms_p50": pct([r[1] for r in rows], .5),
               "db_commands_p50": pct([r[2] for r in rows], .5),
               "commands_last": rows[-1][3] if rows else {},
               "db_find_by_id_ms_p50": pct(rt_find, .5),
               "db_update_by_id_ms_p50": pct(rt_update, .5)}
        log(f"intake profile: POST {out['wall_ms_p50']:.0f} ms of which database "
            f"{out['db_ms_p50']:.0f} ms in {out['db_commands_p50']} commands; bare find by _id "
            f"{out['db_find_by_id_ms_p50']:.1f} ms, update by _id "
            f"{out['db_update_by_id_ms_p50']:.1f} ms")
        return out

    # --- 2. pipeline end to end ----------------------------------------------------------
    def pipeline(self) -> dict[str, Any]:
        p = self.plan
        assert self.memory
        self.memory.begin("pipeline")
        out: dict[str, Any] = {"rates": {}, "how": (
            "open loop: a scheduler offers petitions at the fixed rate to 64 client threads "
            "(keep-alive); an offer finding all 64 busy is counted as not submitted. Latency: "
            "HTTP 201 received -> the acknowledgement SMS's received_at at the SMS sink "
            "(read from the sink's messages.jsonl, the same records GET /messages serves). "
            "Figures: median of three equal windows of the run with min-max. A warm-up "
            "(10/s for 10 s, not reported) comes first; after each rate the bench waits for "
            "every consumer to catch up (grouping lags the acknowledgements), at most twice "
            "the drain time, so that the next rate starts from a quiet system.")}
        # Not measured: the first petitions through a freshly started system pay for the
        # consumers' group joins, first connections and caches (a first rate of 20/s
        # measured unstable where the same rate later was not).
        self._quiet(time.monotonic() + 120)  # what the intake section left behind
        warm = self.pipeline_rate(10, 10)
        out["warm_up"] = {"offered_per_s": 10, "seconds": 10,
                          "acknowledged": warm["acknowledged"]}
        stable = []
        for rate, seconds in p["rates"]:
            r = self.pipeline_rate(rate, seconds)
            out["rates"][str(rate)] = r
            if r["stable"]:
                stable.append(rate)
        out["highest_stable_rate"] = max(stable) if stable else None
        self.memory.end()
        return out

    def pipeline_rate(self, rate: int, seconds: int) -> dict[str, Any]:
        port = self.port("intake")
        tail = SinkTail(self.sink_file)
        tail.read()  # skip what earlier steps produced
        sent: dict[str, tuple[float, str]] = {}  # phone -> (epoch of 201, tracking code)
        lock = threading.Lock()
        inflight = [0]
        skipped = errors = 0
        local = threading.local()
        workers = 64

        def submit() -> None:
            nonlocal errors
            phone, body = self.bodies.next()
            conn = getattr(local, "conn", None) or Conn("127.0.0.1", port)
            local.conn = conn
            try:
                status, data = conn.request("POST", "/api/v1/petitions", body, JSON)
                if status == 201:
                    code = json.loads(data)["tracking_code"]
                    with lock:
                        sent[phone] = (time.time(), code)
                else:
                    with lock:
                        errors += 1
            except Exception:
                with lock:
                    errors += 1
            finally:
                with lock:
                    inflight[0] -= 1

        samples: list[tuple[float, int, int]] = []
        acked: dict[str, float] = {}
        log(f"pipeline: offering {rate}/s for {seconds}s")
        t0 = time.time()
        next_sample = t0 + 1
        with ThreadPoolExecutor(workers) as pool:
            k = 0
            while True:
                due = t0 + k / rate
                now = time.time()
                if due >= t0 + seconds:
                    break
                if due > now:
                    time.sleep(min(due - now, 0.05))
                    continue
                with lock:
                    busy = inflight[0] >= workers
                    if not busy:
                        inflight[0] += 1
                if busy:
                    skipped += 1
                else:
                    pool.submit(submit)
                k += 1
                if now >= next_sample:
                    self._ack(tail, sent, acked, lock)
                    with lock:
                        samples.append((now - t0, len(sent), len(acked)))
                    next_sample += 1
        end_submit = time.time()
        with lock:
            submitted = len(sent)
        log(f"pipeline: {rate}/s offered, {submitted} submitted "
            f"({submitted / (end_submit - t0):.1f}/s), {skipped} not submitted; draining")
        drain_deadline = time.monotonic() + self.plan["drain"]
        while time.monotonic() < drain_deadline:
            self._ack(tail, sent, acked, lock)
            samples.append((time.time() - t0, submitted, len(acked)))
            if len(acked) >= submitted:
                break
            time.sleep(1)
        drained_in = time.time() - end_submit
        quiet_in = self._quiet(time.monotonic() + 2 * self.plan["drain"])
        lat = {ph: (acked[ph] - sent[ph][0]) * 1000 for ph in acked if ph in sent}
        windows = []
        for w in range(3):
            lo, hi = t0 + w * seconds / 3, t0 + (w + 1) * seconds / 3
            vals = [lat[ph] for ph, (t, _) in sent.items() if lo <= t < hi and ph in lat]
            windows.append({"p50": pct(vals, .5), "p95": pct(vals, .95), "p99": pct(vals, .99),
                            "n": len(vals)})
        # Backlog (201 received, SMS not yet) over the second half of the offered period:
        # its growth per second by least squares.
        half = [(t, s - a) for t, s, a in samples if seconds / 2 <= t <= seconds]
        slope = None
        if len(half) >= 3:
            mt = statistics.mean(t for t, _ in half)
            mb = statistics.mean(b for _, b in half)
            den = sum((t - mt) ** 2 for t, _ in half)
            slope = sum((t - mt) * (b - mb) for t, b in half) / den if den else 0.0
        achieved = submitted / (end_submit - t0)
        is_stable = (achieved >= 0.95 * rate and slope is not None
                     and slope <= max(1.0, 0.05 * rate) and len(acked) >= submitted)
        result = {
            "offered_per_s": rate, "seconds": seconds, "submitted": submitted,
            "achieved_per_s": achieved, "not_submitted": skipped, "http_errors": errors,
            "acknowledged": len(acked), "unacknowledged_after_drain": submitted - len(acked),
            "drained_in_s": drained_in, "backlog_growth_per_s": slope, "stable": is_stable,
            "consumers_quiet_after_s": quiet_in,
            "p50_ms": spread(w["p50"] for w in windows),
            "p95_ms": spread(w["p95"] for w in windows),
            "p99_ms": spread(w["p99"] for w in windows),
            "all_p50_ms": pct(list(lat.values()), .5), "all_p99_ms": pct(list(lat.values()), .99),
            "backlog_samples": samples[:: max(1, len(samples) // 60)],
        }
        log(f"pipeline {rate}/s: achieved {achieved:.1f}/s, p50 {fmt(result['p50_ms'], ' ms', 0)}"
            f", p99 {fmt(result['p99_ms'], ' ms', 0)}, backlog growth "
            f"{slope if slope is not None else float('nan'):.2f}/s, stable={is_stable}, "
            f"consumers quiet after {quiet_in if quiet_in is not None else float('nan'):.0f} s")
        return result

    def _quiet(self, deadline: float) -> float | None:
        """Wait, until ``deadline`` (monotonic), for every consumer of the system to have
        handled everything (grouping lags the acknowledgements), so that the next rate
        starts from a quiet system; seconds waited, or None if the deadline came first."""
        from services.cli import consumer_lag

        start = time.monotonic()
        while time.monotonic() < deadline:
            if not any(any(t.values()) for t in consumer_lag(self.settings(),
                                                              self.prefix).values()):
                return time.monotonic() - start
            time.sleep(2)
        return None

    @staticmethod
    def _ack(tail: SinkTail, sent: dict[str, tuple[float, str]], acked: dict[str, float],
             lock: threading.Lock) -> None:
        for msg in tail.read():
            if msg.get("channel") != "sms":
                continue
            with lock:
                found = sent.get(msg.get("to"))
            if found and found[1] in (msg.get("body") or "") and msg["to"] not in acked:
                acked[msg["to"]] = datetime.fromisoformat(msg["received_at"]).timestamp()

    # --- 3. consumers --------------------------------------------------------------------
    def consumers(self) -> dict[str, Any]:
        from kafka import KafkaConsumer
        from pymongo import MongoClient

        from services.common.contracts import intake as intake_contract
        from services.common.events import new_event
        from services.common.kafka import Bus, client_config
        from services.common.kafka_security import operator, setup, teardown
        from services.notify import bootstrap as notify_bootstrap
        from services.notify.settings import NotifySettings

        p = self.plan
        n = p["backlog"]
        tprefix = f"{self.prefix}c."
        # notify's principal (the kit loop) may not create topics: the services' ACLs and
        # topics for this prefix, made as an operator would; the bench's own producer and
        # bare loops are operator tooling (the admin principal).
        setup(self.settings(), prefix=tprefix)
        self._cleanups.append(lambda: teardown(self.settings(), tprefix))
        settings = operator(NotifySettings.from_env(topic_prefix=tprefix,
                                                    db_prefix=f"{self.prefix}c_"))
        topic = tprefix + intake_contract.TOPIC
        log(f"consumers: producing a backlog of {n} petition.accepted events to {topic}")
        bus = Bus(settings)
        rows = dataset()
        now = datetime.now(UTC)
        t0 = time.perf_counter()
        # One event built and validated by new_event, then re-serialised with a fresh id,
        # subject, petition id and tracking code per record (new_event per record would
        # make producing the backlog the slowest step of the benchmark).
        pid0 = str(uuid.uuid4())
        template = json.loads(new_event("petition.accepted", pid0, {
            "petition_id": pid0, "tracking_code": "BN000000",
            "locality": {"province_code": "37", "ward_code": rows[0]["ward_code"]},
            "category": rows[0]["category"], "issue_id": str(uuid.uuid4()),
            "due_date": date.today() + timedelta(days=15), "accepted_at": now},
            source="intake").to_json())
        for i in range(n):
            row = rows[i % len(rows)]
            pid = str(uuid.uuid4())
            record = {**template, "id": str(uuid.uuid4()), "subject": pid,
                      "data": {**template["data"], "petition_id": pid,
                               "tracking_code": f"BN{i:06d}",
                               "locality": {"province_code": "37",
                                            "ward_code": row["ward_code"]},
                               "category": row["category"]}}
            bus.send(topic, pid, json.dumps(record).encode(), wait=False)
            if (i + 1) % 20_000 == 0:
                log(f"consumers: produced {i + 1}/{n}")
        bus.flush()
        bus.close()
        produce_s = time.perf_counter() - t0
        cap = p["consumer_cap"]

        def timed(loop) -> dict[str, Any]:
            """Events per second from the first record to the last (group join excluded),
            stopping at the whole backlog or ``cap`` seconds."""
            count, first, last = 0, None, None
            hard = time.monotonic() + cap + 30
            while count < n and time.monotonic() < hard:
                got = loop()
                if got:
                    if first is None:
                        first = time.perf_counter()
                    count += got
                    last = time.perf_counter()
                    if last - first >= cap:
                        break
            elapsed = (last - first) if first and last and last > first else None
            return {"events": count, "seconds": elapsed,
                    "per_s": count / elapsed if elapsed else None}

        def bare_read(run: int) -> dict[str, Any]:
            consumer = KafkaConsumer(topic, **client_config(settings),
                                     group_id=f"{tprefix}bare-read-{run}",
                                     enable_auto_commit=False, auto_offset_reset="earliest",
                                     max_poll_records=200)
            try:
                return timed(lambda: sum(len(v) for v in
                                         consumer.poll(timeout_ms=500).values()))
            finally:
                consumer.close(autocommit=False)

        def bare_write(run: int) -> dict[str, Any]:
            consumer = KafkaConsumer(topic, **client_config(settings),
                                     group_id=f"{tprefix}bare-write-{run}",
                                     enable_auto_commit=False, auto_offset_reset="earliest",
                                     max_poll_records=200)
            coll = MongoClient(settings.mongo_url, tz_aware=True)[
                f"{self.prefix}b{run}_notify"]["petitions"]

            def loop() -> int:
                batches = consumer.poll(timeout_ms=500)
                k = 0
                for records in batches.values():
                    for record in records:
                        ev = json.loads(record.value)
                        d = ev["data"]
                        coll.update_one(
                            {"_id": d["petition_id"]},
                            {"$set": {"status": "accepted", "status_at": ev["time"],
                                      "locality": d["locality"],
                                      "tracking_code": d["tracking_code"].upper()},
                             "$setOnInsert": {"stopped": False}}, upsert=True)
                        k += 1
                if k:
                    consumer.commit()
                return k
            try:
                return timed(loop)
            finally:
                consumer.close(autocommit=False)

        def kit_consumer(run: int) -> dict[str, Any]:
            # as the operator: a fresh group per run has a dead-letter topic of its own,
            # which no service principal may create
            s = operator(NotifySettings.from_env(topic_prefix=tprefix,
                                                 db_prefix=f"{self.prefix}k{run}_"))
            app = notify_bootstrap.build(settings=s)
            app.prepare()
            consumer = app.kit.consumer(f"notify-bench-{run}", app.handlers,
                                        topics=notify_bootstrap_topics())
            try:
                return timed(lambda: consumer.poll_once(timeout_ms=500))
            finally:
                consumer.close()
                app.close()

        loops = {"bare_read": bare_read, "bare_read_write": bare_write, "kit": kit_consumer}
        runs: dict[str, list[dict[str, Any]]] = {k: [] for k in loops}
        for run in range(p["runs"]):
            for name, fn in loops.items():
                r = fn(run)
                runs[name].append(r)
                log(f"consumers run {run + 1}/{p['runs']} {name:<17} {r['events']:>6} events "
                    f"{r['per_s'] or 0:8.0f}/s")
        out: dict[str, Any] = {
            "backlog": n, "produce_seconds": produce_s, "cap_seconds": cap,
            "event": "petition.accepted (notify: petition read model upsert)",
            "how": ("each loop reads the same backlog from the start with a fresh consumer "
                    "group and writes into a fresh database; rate from its first record to "
                    f"its last, over the whole backlog or at most {cap} s of it"),
            "loops": {k: {"per_s": spread(r["per_s"] for r in v),
                          "events": [r["events"] for r in v]} for k, v in runs.items()}}
        med = {k: out["loops"][k]["per_s"]["median"] for k in loops}
        out["ratio_kit_to_bare_read"] = med["kit"] / med["bare_read"] if med["bare_read"] else None
        out["ratio_kit_to_bare_read_write"] = (med["kit"] / med["bare_read_write"]
                                               if med["bare_read_write"] else None)
        return out

    # --- 4. scale ------------------------------------------------------------------------
    def scale(self) -> dict[str, Any]:
        from pymongo import MongoClient

        p = self.plan
        db_url = self.settings().mongo_url
        client = MongoClient(db_url, tz_aware=True)
        intake_db = client[f"{self.prefix}_intake"]
        seeder = Seeder(intake_db, client[f"{self.prefix}_followup"], self.settings())
        seeder.check_shape(self.port("intake"), self.bodies)
        seeder.commitments(p["commitments"])
        out: dict[str, Any] = {"sizes": {}, "commitments": p["commitments"],
                               "shape_errors": seeder.shape_errors,
                               "how": ("petitions and issues inserted straight into intake's "
                                       "database (documents built as intake stores them, PII "
                                       "encrypted), commitments into followup's; each query "
                                       f"{p['scale_requests']} times per round, 3 rounds; "
                                       "p50/p95 per round, median of rounds [min-max]. "
                                       "Baseline: GET /healthz of the same service.")}
        admin = self.token("admin")
        year = datetime.now(UTC).year
        for size in p["scale_sizes"]:
            seeder.petitions_up_to(size)
            combos = seeder.filter_combos()
            queries = {
                "petition_list": ("intake", [
                    f"/api/v1/petitions?ward_code={w}&category={c}&q={q}"
                    for w, c, q in combos]),
                "petition_list_no_text": ("intake", [
                    f"/api/v1/petitions?ward_code={w}&category={c}" for w, c, _ in combos]),
                "issues_list": ("intake", ["/api/v1/issues?province_code=37",
                                           "/api/v1/issues?province_code=37&sort=-created_at"]),
                "compliance": ("scheduling", [
                    f"/api/v1/compliance?province_code=37&year={year}"]),
                "commitments_report": ("followup", [
                    "/api/v1/reports/commitments?province_code=37"]),
                "healthz_intake": ("intake", ["/healthz"]),
            }
            row: dict[str, Any] = {}
            for name, (service, paths) in queries.items():
                row[name] = self.time_query(service, paths, admin, name, size)
            # the database's share of the petition list: the same query, straight to it
            row["petition_list_db_only"] = seeder.db_only(combos, p["scale_requests"])
            row["commitments_report_db_only"] = seeder.report_db_only()
            log(f"scale N={size} commitments report in-process, straight to the "
                f"database: {fmt(row['commitments_report_db_only']['p50_ms'], ' ms', 0)}")
            out["sizes"][str(size)] = row
        return out

    def time_query(self, service: str, paths: list[str], headers: dict[str, str], name: str,
                   size: int) -> dict[str, Any]:
        port = self.port(service)
        conn = Conn("127.0.0.1", port, timeout=300)
        n = self.plan["scale_requests"]
        status, body, first_ms = get_json(port, paths[0], headers, conn)  # warm-up
        if status != 200:
            log(f"scale {name}: HTTP {status} {str(body)[:200]}")
            return {"error": f"HTTP {status}", "body": str(body)[:300]}
        # a query slower than ~3 s gets fewer repetitions, to keep within the time budget
        per_round = n if first_ms < 500 else (min(n, 3) if first_ms < 3000 else 1)
        rounds = []
        for _ in range(3):
            lat = []
            for i in range(per_round):
                _, _, ms = get_json(port, paths[i % len(paths)], headers, conn)
                lat.append(ms)
            rounds.append({"p50": pct(lat, .5), "p95": pct(lat, .95)})
        total = body.get("total") if isinstance(body, dict) else None
        r = {"p50_ms": spread(x["p50"] for x in rounds), "p95_ms": spread(x["p95"] for x in rounds),
             "requests_per_round": per_round, "total_matched_first": total}
        log(f"scale N={size} {name:<22} p50 {fmt(r['p50_ms'], ' ms')} "
            f"p95 {fmt(r['p95_ms'], ' ms')}")
        return r

    # --- 5. clustering -------------------------------------------------------------------
    def clustering(self) -> dict[str, Any]:
        import clustering_bench as cb

        base = cb.load()
        out: dict[str, Any] = {"how": (
            "bench/clustering_bench.py 'fixed' mode: N stored petitions grouped into issues of "
            "4 similar petitions over 100 wards x 9 categories, then features + assign for "
            f"{self.plan['cluster_queries']} fresh petitions; median and p95 of three steady "
            "passes [min-max]"), "sizes": {}}
        for size in self.plan["cluster_sizes"]:
            rng = random.Random(7)
            log(f"clustering: building an index of {size} petitions")
            rows = cb.variants(base, size, rng)
            queries = cb.variants(base, self.plan["cluster_queries"], rng)
            t0 = time.perf_counter()
            clusterer = cb.build_fixed(rows, 4)
            build_s = time.perf_counter() - t0
            cb.time_assign(clusterer, queries)  # first pass: refreshes stale norms
            passes = [cb.time_assign(clusterer, queries) for _ in range(3)]
            out["sizes"][str(size)] = {
                "issues": len(clusterer), "build_s": build_s,
                "assign_median_ms": spread(x[0] for x in passes),
                "assign_p95_ms": spread(x[1] for x in passes),
                "per_petition_median_ms": spread(x[2] for x in passes),
                "per_petition_p95_ms": spread(x[3] for x in passes)}
            log(f"clustering N={size}: features+assign median "
                f"{fmt(out['sizes'][str(size)]['per_petition_median_ms'], ' ms', 3)}")
            del clusterer, rows
        sizes = [str(s) for s in self.plan["cluster_sizes"]]
        if len(sizes) >= 2:
            a, b = out["sizes"][sizes[0]], out["sizes"][sizes[-1]]
            growth = b["per_petition_median_ms"]["median"] / a["per_petition_median_ms"]["median"]
            factor = int(sizes[-1]) / int(sizes[0])
            out["growth"] = {"size_factor": factor, "time_factor": growth,
                             "sub_linear": growth < factor}
        return out

    # --- teardown ------------------------------------------------------------------------
    def cleanup(self) -> None:
        from kafka.admin import KafkaAdminClient
        from pymongo import MongoClient

        s = self.settings()
        try:
            client = MongoClient(s.mongo_url)
            for name in client.list_database_names():
                if name.startswith(self.prefix):
                    client.drop_database(name)
            log(f"dropped databases {self.prefix}*")
        except Exception as exc:
            log(f"could not drop databases: {exc!r}")
        try:
            from services.common.kafka import client_config
            from services.common.kafka_security import teardown

            teardown(s, s.topic_prefix)
            for extra in self._cleanups:
                extra()
            admin = KafkaAdminClient(**client_config(s))
            topics = [t for t in admin.list_topics() if t.startswith(self.prefix)]
            if topics:
                admin.delete_topics(topics)
            groups: list[str] = []
            try:
                groups = [g["group_id"] if isinstance(g, dict) else g[0]
                          for g in admin.list_groups()]
                groups = [g for g in groups if g.startswith(self.prefix)]
                if groups:
                    admin.delete_groups(groups)
            except Exception as exc:
                log(f"could not delete consumer groups: {exc!r}")
            admin.close()
            log(f"deleted {len(topics)} topics and {len(groups)} consumer groups {self.prefix}*")
        except Exception as exc:
            log(f"could not delete topics: {exc!r}")


def notify_bootstrap_topics() -> tuple[str, ...]:
    from services.notify.handlers import TOPICS

    return TOPICS


def sms_count(path: Path) -> int:
    try:
        with path.open("rb") as fh:
            return sum(1 for line in fh if b'"channel": "sms"' in line)
    except OSError:
        return 0


class SinkTail:
    """New records of the sinks' messages.jsonl since the last read."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = 0

    def read(self) -> list[dict[str, Any]]:
        try:
            with self.path.open("rb") as fh:
                fh.seek(self.offset)
                data = fh.read()
        except OSError:
            return []
        end = data.rfind(b"\n") + 1
        self.offset += end
        return [json.loads(line) for line in data[:end].splitlines() if line.strip()]


class Seeder:
    """Petitions, issues and commitments written straight to the databases."""

    def __init__(self, intake_db, followup_db, settings) -> None:
        from services.common.crypto import KeyRing
        from services.intake.settings import IntakeSettings

        self.db = intake_db
        self.fdb = followup_db
        isettings = IntakeSettings.from_env()
        self.keys = KeyRing(isettings.pii_keys, isettings.fingerprint_key)
        self.contact_key = isettings.contact_public_key
        self.rows = dataset()
        self.rng = random.Random(11)
        self.count = 0
        self.issues: dict[tuple[str, str], list[str]] = {}
        self.sealed: dict[int, str] = {}
        self.inserts = ThreadPoolExecutor(2)  # FerretDB takes inserts on two connections
        self.pending: list[Any] = []
        self.reference_keys: set[str] | None = None
        self.reference_issue_keys: set[str] | None = None
        self.shape_errors: list[str] = []

    def check_shape(self, port: int, bodies: Bodies) -> None:
        """Submit one petition through the API and keep its stored document's keys: every
        seeded document must have the same ones."""
        _, body = bodies.next()
        status, data = Conn("127.0.0.1", port).request("POST", "/api/v1/petitions", body, JSON)
        if status != 201:
            raise RuntimeError(f"reference petition: HTTP {status} {data[:200]!r}")
        created = json.loads(data)
        doc = self.db.petitions.find_one({"_id": created["id"]})
        self.reference_keys = set(doc)
        issue = self.db.issues.find_one({"_id": doc["issue_id"]}) if doc.get("issue_id") else None
        self.reference_issue_keys = set(issue) if issue else None
        self.count = self.db.petitions.count_documents({})

    def petition(self, i: int) -> dict[str, Any]:
        from services.common import phones
        from services.common.crypto import seal
        from services.intake import domain

        row = self.rows[self.rng.randrange(len(self.rows))]
        pid = str(uuid.uuid4())
        now = datetime.now(UTC) - timedelta(seconds=self.rng.randrange(365 * 86400))
        phone = f"+8498{i % 10**7:07d}"
        pii = {"full_name": "Trần Thị Bình", "phone": phone, "email": None,
               "address": "Thôn Tập Ninh"}
        status = self.rng.choice([domain.RECEIVED] * 3 + [domain.ACCEPTED, domain.ANSWERED,
                                                            domain.CLOSED])
        code = domain.new_code()
        # Sealing is the slow part of building a document; past the first POOL
        # petitions, reuse those ciphertexts (same sizes, same shape: the queries
        # measured never open them).
        slot = i % POOL
        if slot not in self.sealed:
            self.sealed[slot] = seal(self.contact_key, {"phone": phone, "email": None,
                                                        "name": pii["full_name"],
                                                        "tracking_code": code})
        contact = {"contact_token": self.sealed[slot],
                   "masked_phone": phones.mask(phone), "masked_email": None,
                   "consent_notifications": True}
        bucket = (row["ward_code"], row["category"])
        issues = self.issues.setdefault(bucket, [])
        if not issues or self.rng.random() < 0.1:
            issues.append(str(uuid.uuid4()))
        doc = {
            "_id": pid, "kind": "feedback", "title": row["title"], "content": row["content"],
            "category": row["category"],
            "locality": {"province_code": "37", "ward_code": row["ward_code"]},
            "channel": "web", "status": status,
            "history": [{"status": domain.RECEIVED, "at": now, "note": None}],
            "pii": self.keys.encrypt_json(pii, context=pid),
            "phone_fingerprint": self.keys.fingerprint(phone),
            "petitioner_fingerprint": self.keys.fingerprint(f"phone:{phone}"),
            "last4_fp": self.keys.fingerprint(f"{pid}|last4|{phone[-4:]}"),
            "email_fp": None, "masked_phone": phones.mask(phone),
            "consent_notifications": True, "attachments": [], "submitted_by": None,
            "source_system": None, "external_ref": None,
            **self.searchable(row["title"], row["content"], now),
            "due_date": (now + timedelta(days=15)).date().isoformat(),
            "issue_id": self.rng.choice(issues), "events_seen": [],
            "created_at": now, "updated_at": now, "tracking_code": code, "contact": contact,
            "similarity": 0.5, "outbox": [],
        }
        # fields intake adds for FerretDB's push-down (top-level copies of the locality)
        doc.update(self.top_level(doc["locality"]))
        return doc

    @staticmethod
    def top_level(locality: dict[str, Any]) -> dict[str, Any]:
        from services.intake import service as intake_service

        helper = getattr(intake_service, "top_level", None)
        return helper(locality) if helper else {}

    @staticmethod
    def searchable(title: str, content: str, at: datetime) -> dict[str, Any]:
        from services.intake.service import searchable

        return searchable(title, content, at)

    @staticmethod
    def ranked(heat: float, at: datetime) -> dict[str, Any]:
        """The bucket fields intake's issue lists walk (services/common/paging.py)."""
        from services.common import paging

        return {**paging.heat_keys(heat), **paging.time_keys(at)}

    @staticmethod
    def bucket(ward: str, category: str) -> dict[str, Any]:
        from services.intake import service as intake_service

        helper = getattr(intake_service, "bucket_key", None)
        return {"bucket": helper(ward, category)} if helper else {}

    def petitions_up_to(self, size: int) -> None:
        from services.intake.clustering import Centroid, features

        batch: list[dict[str, Any]] = []
        t0 = time.perf_counter()
        start = self.count
        checked = False
        while self.count < size:
            doc = self.petition(self.count)
            if not checked and self.reference_keys is not None:
                missing = self.reference_keys - set(doc)
                extra = set(doc) - self.reference_keys
                if missing or extra:
                    msg = (f"seeded petitions differ from intake's: missing {sorted(missing)}, "
                           f"extra {sorted(extra)}")
                    self.shape_errors.append(msg)
                    log(msg)
                checked = True
            batch.append(doc)
            self.count += 1
            if len(batch) == 1000:
                self._insert(batch)
                batch = []
                if self.count % 10_000 == 0:
                    rate = (self.count - start) / (time.perf_counter() - t0)
                    log(f"scale: seeded {self.count}/{size} petitions ({rate:.0f}/s)")
        if batch:
            self._insert(batch)
        self._drain()
        # the oldest petition's day, which intake keeps for its newest-first walk
        oldest = (datetime.now(UTC) - timedelta(days=366)).date().isoformat()
        self.db.meta.update_one({"_id": "petitions.first_day"}, {"$set": {"value": oldest}},
                                upsert=True)
        # the issues of those petitions (one document per issue id, as intake stores it)
        known = {d["_id"] for d in self.db.issues.find({}, {"_id": 1})}
        now = datetime.now(UTC)
        docs, centroids = [], []
        for (ward, category), ids in self.issues.items():
            row = next((r for r in self.rows if r["ward_code"] == ward
                        and r["category"] == category), self.rows[0])
            for iid in ids:
                if iid in known:
                    continue
                centroid = Centroid()
                centroid.add(features(row["title"], row["content"]))
                heat = round(self.rng.random() * 20, 2)
                count = self.rng.randint(1, 40)
                # issues emerge through the year, as their petitions do
                created = now - timedelta(seconds=self.rng.randrange(365 * 86400))
                docs.append({
                    "_id": iid, "title": row["title"], "category": category,
                    "locality": {"province_code": "37", "ward_code": ward}, "status": "open",
                    "petition_count": count,
                    "distinct_petitioners": self.rng.randint(1, 30), "heat": heat,
                    "trending": heat > 15, **({"trending_since": now} if heat > 15 else {}),
                    "version": 1,
                    "daily": {now.date().isoformat(): count}, "merged_into": None,
                    "created_at": created, "updated_at": now, "last_petition_at": now,
                    "outbox": [], **self.top_level({"province_code": "37", "ward_code": ward}),
                    **self.ranked(heat, created)})
                centroids.append({"_id": iid, "status": "open", "cv": 1,
                                  "slot": int(now.timestamp()) // 10,
                                  "centroid": centroid.to_doc(), "updated_at": now,
                                  **self.bucket(ward, category)})
        if docs and self.reference_issue_keys is not None:
            # set only once an issue trended, or was split off another
            optional = {"trending_since", "split_from"}
            missing = self.reference_issue_keys - set(docs[0]) - optional
            extra = set(docs[0]) - self.reference_issue_keys - optional
            if missing or extra:
                msg = (f"seeded issues differ from intake's: missing {sorted(missing)}, "
                       f"extra {sorted(extra)}")
                self.shape_errors.append(msg)
                log(msg)
        if docs:  # the highest heat band, where intake's hottest-first walk starts
            top = max(d.get("heat_band", 0) for d in docs)
            known = self.db.meta.find_one({"_id": "issues.max_band"}) or {"value": 0}
            self.db.meta.update_one({"_id": "issues.max_band"},
                                    {"$set": {"value": max(top, known["value"])}}, upsert=True)
        for i in range(0, len(docs), 1000):
            self.db.issues.insert_many(docs[i:i + 1000], ordered=False)
            self.db.issue_centroids.insert_many(centroids[i:i + 1000], ordered=False)
        log(f"scale: {self.count} petitions, {self.db.issues.estimated_document_count()} issues "
            f"stored ({time.perf_counter() - t0:.0f}s)")

    def _insert(self, batch: list[dict[str, Any]]) -> None:
        """Insert in the background, at most two batches at a time."""
        while len(self.pending) >= 2:
            self.pending.pop(0).result()
        self.pending.append(self.inserts.submit(self._insert_now, batch))

    def _drain(self) -> None:
        while self.pending:
            self.pending.pop(0).result()

    def _insert_now(self, batch: list[dict[str, Any]]) -> None:
        from pymongo.errors import BulkWriteError

        try:
            self.db.petitions.insert_many(batch, ordered=False)
        except BulkWriteError:  # a tracking code drawn twice (rare): that one is skipped
            pass

    def filter_combos(self) -> list[tuple[str, str, str]]:
        """(ward, category, text) triples that match something, as an officer would ask."""
        from urllib.parse import quote

        rng = random.Random(3)
        combos = []
        for _ in range(8):
            row = rng.choice(self.rows)
            words = [w for w in row["title"].split() if len(w) > 3]
            q = " ".join(words[:2]) if words else row["title"][:8]
            combos.append((row["ward_code"], row["category"], quote(q)))
        return combos

    def db_only(self, combos: list[tuple[str, str, str]], n: int) -> dict[str, Any]:
        """The petition list's queries (the newest-first walk, see
        services/common/paging.py) sent straight to the database with pymongo: the
        database's share of the HTTP figure."""
        import re
        from urllib.parse import unquote

        from services.common import paging
        from services.common.text import fold, words
        from services.intake import service as intake_service

        first = date.fromisoformat(
            self.db.meta.find_one({"_id": "petitions.first_day"})["value"])
        rounds = []
        for _ in range(3):
            lat = []
            for i in range(n):
                w, c, q = combos[i % len(combos)]
                text = unquote(q)
                asked = words(text)
                query = {"ward_code": w, "category": c,
                         "terms": max(intake_service.pairs(asked) or asked or [""], key=len),
                         "search": {"$regex": re.escape(fold(text))}}
                t0 = time.perf_counter()
                paging.newest_first(
                    lambda f: self.db.petitions.find(f, {"outbox": 0, "content": 0, "terms": 0}),
                    query, newest=datetime.now(UTC).date(), oldest=first, need=20,
                    key=lambda d: (d["created_at"], d["_id"]))
                lat.append((time.perf_counter() - t0) * 1000)
            rounds.append({"p50": pct(lat, .5), "p95": pct(lat, .95)})
        return {"p50_ms": spread(x["p50"] for x in rounds),
                "p95_ms": spread(x["p95"] for x in rounds)}

    def report_db_only(self) -> dict[str, Any]:
        """The commitments report computed in this process straight from followup's
        database (services.followup.views.report): the database's share, without HTTP."""
        from services.followup import views

        store = self.followup_store()
        times = []
        for _ in range(3):
            t0 = time.perf_counter()
            views.report(store, {"province_code": "37"})
            times.append((time.perf_counter() - t0) * 1000)
        return {"p50_ms": spread(times), "p95_ms": spread(times)}

    def commitments(self, n: int) -> None:
        from services.common.outbox import new_document
        from services.followup import domain as fd
        from services.followup.settings import FollowupSettings

        fs = FollowupSettings.from_env()
        wards = sorted({r["ward_code"] for r in self.rows})
        today = date.today()
        docs = []
        for i in range(n):
            c = fd.Commitment(
                id=str(uuid.uuid4()), conclusion_id=str(uuid.uuid4()),
                dialogue_id=f"dlg-{i % 300}", text="Nạo vét cống thoát nước thôn Đông Thượng",
                agency_id=f"agency-{i % 25}", deadline=today + timedelta(days=i % 120 - 60),
                locality={"province_code": "37", "ward_code": wards[i % len(wards)]},
                petition_ids=[str(uuid.uuid4())])
            doc = fd.new_doc(c, now=datetime.now(UTC), reminder_days=fs.reminder_working_days,
                             steps=fs.steps)
            if i % 3 == 0:
                doc.update(status=fd.RESOLVED, on_time=bool(i % 2), percent=100)
            elif c.deadline < today:
                doc["overdue"] = True
            docs.append(new_document(doc, [], datetime.now(UTC)))
        for i in range(0, n, 1000):
            self.fdb.commitments.insert_many(docs[i:i + 1000], ordered=False)
        # followup counts each dialogue's commitments into its report summary as they
        # change; seeded ones are counted here the same way, once per dialogue
        store = self.followup_store()
        for dialogue_id in sorted({d["dialogue_id"] for d in docs}):
            store.refresh(dialogue_id)
        log(f"scale: seeded {n} commitments")

    def followup_store(self) -> Any:
        from services.followup.store import Store

        return Store(self.fdb)


# --- output ----------------------------------------------------------------------------
def table(res: dict[str, Any]) -> str:
    s = res["sections"]
    lines: list[str] = []
    m = res["machine"]
    lines.append(f"Machine: {m['cpu']}, {m['cores']} cores, {m['memory_gb']} GB, {m['os']}, "
                 f"Python {m['python']}, {m['kafka']}, {m['database']}. {m['note']}.")
    lines.append(f"Run: {res['started_at']}{' (--quick)' if res['quick'] else ''}; "
                 "figures are median [min–max] of 3 runs unless said otherwise.")
    lines.append("")
    if "commands" in s and "error" not in s["commands"]:
        x = s["commands"]
        per = ", ".join(f"{k} {v:g}" for k, v in x["by_service_median"].items())
        lines += ["### 0. Database commands per petition (pymongo command listener)", "",
                  "| in the intake POST | POST to acknowledgement SMS | end to end (with "
                  "grouping) | by service, end to end |", "|---|---|---|---|",
                  f"| {x['post_median']:g} (max {x['post_max']}) | {x['to_sms_median']:g} "
                  f"(max {x['to_sms_max']}) | {x['end_to_end_median']:g} (max "
                  f"{x['end_to_end_max']}) | {per} |", "",
                  f"Median of {x['petitions']} petitions followed one at a time through the "
                  "four services in one process (bench/commands.py); timed jobs not run. "
                  "One petition's commands: " + ", ".join(
                      f"{k} {v}" for k, v in x["last_petition_by_command"].items()) + ".", ""]
    if "intake" in s and "error" not in s["intake"]:
        x = s["intake"]
        lines += ["### 1. Intake over HTTP (POST /api/v1/petitions, gunicorn 2 workers x "
                  f"{os.environ.get('WEB_THREADS', '8')} threads)",
                  "",
                  "| concurrency | trivial req/s | intake req/s | ratio | intake p50 ms | "
                  "intake p95 ms | intake p99 ms | trivial p99 ms |",
                  "|---|---|---|---|---|---|---|---|"]
        for c, row in x["levels"].items():
            i, t = row["intake"], row["trivial"]
            lines.append(f"| {c} | {fmt(t['rps'])} | {fmt(i['rps'])} | "
                         f"{fmt(row['ratio'], '', 3)} | {fmt(i['p50_ms'])} | {fmt(i['p95_ms'])} "
                         f"| {fmt(i['p99_ms'])} | {fmt(t['p99_ms'])} |")
        lines.append("")
        lines.append(f"Intake peaks at concurrency {x['peak_concurrency']}; there it reaches "
                     f"{x['peak_vs_best_trivial']:.3f} of the trivial endpoint's best "
                     f"throughput. Load generator: {x['load_generator']}, "
                     f"{x['seconds_per_run']} s per run.")
        lc = x.get("locust") or {}
        if all((lc.get(n) or {}).get("rps") and (lc.get(n) or {}).get("p99_ms") is not None
               for n in ("intake", "trivial")):
            li, lt = lc["intake"], lc["trivial"]
            lines.append("")
            lines.append(
                f"Cross-check with locust (headless, FastHttpUser, {lc['users']} users, "
                f"{lc['seconds']} s, one run): trivial {lt['rps']:.1f} req/s (p99 "
                f"{lt['p99_ms']:.0f} ms), intake {li['rps']:.1f} req/s (p50 {li['p50_ms']:.0f}"
                f" ms, p95 {li['p95_ms']:.0f} ms, p99 {li['p99_ms']:.0f} ms, "
                f"{li['failures']} failures); ratio {li['rps'] / lt['rps']:.3f}.")
        pr = x.get("profile") or {}
        if pr.get("posts"):
            lines.append("")
            lines.append(
                f"Where a POST's time goes (same app in-process, {pr['posts']} sequential "
                f"POSTs, p50): {pr['wall_ms_p50']:.0f} ms, of which {pr['db_ms_p50']:.0f} ms "
                f"waiting for {pr['db_commands_p50']} database commands "
                f"({', '.join(f'{k} {v}' for k, v in sorted(pr['commands_last'].items()))}); "
                f"one find by _id takes {pr['db_find_by_id_ms_p50']:.1f} ms and one update "
                f"by _id {pr['db_update_by_id_ms_p50']:.1f} ms on this FerretDB.")
        lines.append("")
    if "pipeline" in s and "error" not in s["pipeline"]:
        x = s["pipeline"]
        lines += ["### 2. Pipeline end to end (HTTP 201 → acknowledgement SMS at the sink)", "",
                  "| offered /s | seconds | achieved /s | not submitted | p50 ms | p95 ms | "
                  "p99 ms | backlog growth /s | unacked after drain | stable |",
                  "|---|---|---|---|---|---|---|---|---|---|"]
        for rate, r in x["rates"].items():
            g = r["backlog_growth_per_s"]
            lines.append(f"| {rate} | {r['seconds']} | {r['achieved_per_s']:.1f} | "
                         f"{r['not_submitted']} | {fmt(r['p50_ms'], '', 0)} | "
                         f"{fmt(r['p95_ms'], '', 0)} | {fmt(r['p99_ms'], '', 0)} | "
                         f"{'n/a' if g is None else f'{g:.2f}'} | "
                         f"{r['unacknowledged_after_drain']} | {'yes' if r['stable'] else 'no'} |")
        lines.append("")
        lines.append(f"Highest stable offered rate: {x['highest_stable_rate']}/s. "
                     "Latency spread: median [min–max] over three equal windows of each run.")
        lines.append("")
    if "consumers" in s and "error" not in s["consumers"]:
        x = s["consumers"]
        lines += [f"### 3. Consumers ({x['backlog']} events backlog, {x['event']})", "",
                  "| loop | events/s |", "|---|---|"]
        for name, r in x["loops"].items():
            lines.append(f"| {name} | {fmt(r['per_s'], '', 0)} |")
        lines.append("")
        lines.append(f"Kit consumer / bare read: {x['ratio_kit_to_bare_read']:.3f}; "
                     f"kit consumer / bare read+write: {x['ratio_kit_to_bare_read_write']:.3f}. "
                     f"{x['how']}.")
        lines.append("")
    if "scale" in s and "error" not in s["scale"]:
        x = s["scale"]
        sizes = list(x["sizes"])
        lines += [f"### 4. Scale ({x['commitments']} commitments stored)", "",
                  "| query | " + " | ".join(f"p50 ms @{int(n):,} | p95 ms @{int(n):,}"
                                            for n in sizes) + " |",
                  "|---|" + "---|---|" * len(sizes)]
        names = list(next(iter(x["sizes"].values())))
        for q in names:
            cells = []
            for n in sizes:
                r = x["sizes"][n].get(q, {})
                cells += [fmt(r.get("p50_ms"), "", 0), fmt(r.get("p95_ms"), "", 0)]
            lines.append(f"| {q} | " + " | ".join(cells) + " |")
        lines.append("")
        lines.append(x["how"])
        lines.append("")
    if "clustering" in s and "error" not in s["clustering"]:
        x = s["clustering"]
        lines += ["### 4b. Clustering time per new petition (features + assign)", "",
                  "| stored petitions | open issues | median ms | p95 ms |", "|---|---|---|---|"]
        for n, r in x["sizes"].items():
            lines.append(f"| {int(n):,} | {r['issues']:,} | "
                         f"{fmt(r['per_petition_median_ms'], '', 3)} | "
                         f"{fmt(r['per_petition_p95_ms'], '', 3)} |")
        if "growth" in x:
            g = x["growth"]
            lines.append("")
            shape = "sub-linear" if g["sub_linear"] else "linear or worse"
            lines.append(f"{g['size_factor']:.0f}x the petitions -> {g['time_factor']:.1f}x the "
                         f"time per petition ({shape}).")
        lines.append("")
    if "footprint" in s:
        lines += ["### 5. Footprint (peak resident memory, MB)", "",
                  "| process | phase | processes | peak single process | peak tree sum | "
                  "tree at start | tree at end |", "|---|---|---|---|---|---|---|"]
        for phase, procs in s["footprint"].items():
            for name, r in sorted(procs.items()):
                lines.append(f"| {name} | {phase} | {r['processes']} | "
                             f"{r['peak_process_mb']:.0f} | {r['peak_tree_mb']:.0f} | "
                             f"{r['start_tree_mb']:.0f} | {r['end_tree_mb']:.0f} |")
        lines.append("")
    for name, sec in s.items():
        if isinstance(sec, dict) and "error" in sec:
            lines.append(f"**{name}: failed** — {sec['error']}")
    for note in res.get("notes", []):
        lines.append(f"- {note}")
    return "\n".join(lines)


def write_readme(text: str, json_name: str) -> None:
    path = HERE / "README.md"
    begin, end = "<!-- bench:begin -->", "<!-- bench:end -->"
    block = f"{begin}\n\nRaw figures: `bench/results/{json_name}`.\n\n{text}\n\n{end}"
    current = path.read_text(encoding="utf-8") if path.exists() else ""
    if begin in current and end in current:
        head, rest = current.split(begin, 1)
        tail = rest.split(end, 1)[1]
        path.write_text(head + block + tail, encoding="utf-8")
    else:
        path.write_text(current + "\n## Latest results\n\n" + block + "\n", encoding="utf-8")


def main() -> int:
    parser = argparse.ArgumentParser(description="make bench")
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke run")
    parser.add_argument("--only", nargs="+", choices=SECTIONS, default=list(SECTIONS))
    parser.add_argument("--scale-sizes", type=int, nargs="+")
    parser.add_argument("--cluster-sizes", type=int, nargs="+")
    parser.add_argument("--rates", nargs="+", metavar="RATExSECONDS",
                        help="pipeline rates to offer, e.g. 40x60 60x60")
    parser.add_argument("--no-readme", action="store_true")
    parser.add_argument("--keep", action="store_true", help="keep the bench databases/topics")
    args = parser.parse_args()
    bench = Bench(args)
    RESULTS.mkdir(exist_ok=True)
    started = time.monotonic()
    needs_system = {"intake", "pipeline", "scale"} & set(args.only)
    try:
        if needs_system:
            bench.start_system()
        for name in SECTIONS:
            if name not in args.only:
                continue
            log(f"== {name}")
            t0 = time.monotonic()
            try:
                bench.results["sections"][name] = getattr(bench, name)()
            except Exception as exc:  # a broken section is reported, the others still run
                traceback.print_exc()
                bench.results["sections"][name] = {"error": repr(exc)}
            bench.results["sections"].setdefault(name, {})["elapsed_s"] = \
                round(time.monotonic() - t0, 1)
        if bench.memory:
            bench.memory.stop()
            bench.results["sections"]["footprint"] = bench.memory.data
    finally:
        if bench.system:
            bench.system.stop()
        bench.stop_trivial()
        if not args.keep:
            bench.cleanup()
    bench.results["elapsed_s"] = round(time.monotonic() - started, 1)
    bench.results["notes"] += [
        "The services ran with PUBLIC_RATE_LIMIT=1000000, NOTIFY_SMS_RATE=1000000 and no SMS "
        "quiet hours: with the defaults (30 submissions per address per minute, 120 SMS per "
        "minute) those limits, not the code, would be what is measured.",
        f"Whole run: {bench.results['elapsed_s'] / 60:.1f} min.",
    ]
    text = table(bench.results)
    print(text)
    name = f"{bench.stamp}.json"
    (RESULTS / name).write_text(json.dumps(bench.results, indent=1, default=str,
                                           ensure_ascii=False), encoding="utf-8")
    log(f"wrote bench/results/{name}")
    if not args.no_readme:
        write_readme(text, name)
        log("updated bench/README.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
