"""Starts the whole system as real processes: the four services (gunicorn + worker each)
and the local SMTP/SMS sinks. Used by ``make run`` (in the foreground, one log
stream) and by the end-to-end tests (on free ports, logs to files)."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

ROOT = Path(__file__).resolve().parents[1]
SERVICES = ("intake", "scheduling", "followup", "notify")
DEFAULT_PORTS = {"intake": 8001, "scheduling": 8002, "followup": 8003, "notify": 8004,
                 "smtp": 2525, "sinks": 8025, "portal": 8000}
# On one host the citizen's request comes first. The consumers run at a lower CPU
# priority: notify's (the citizen's acknowledgement) a little lower than the web
# processes, grouping and the read models lower still, so a burst of submissions is
# answered at once and the backlog it leaves is worked off right behind it
# (bench/README.md, round 5). In Kubernetes the pods' CPU requests weigh them instead
# (deploy/helm). `WORKER_NICE=` (empty) runs them all level.
DEFAULT_WORKER_NICE = "intake=10,scheduling=10,followup=10,notify=3"


def worker_nice(raw: str) -> dict[str, int]:
    """``service=nice,...`` as a mapping; a clear error for anything else."""
    out: dict[str, int] = {}
    for pair in filter(None, (p.strip() for p in raw.split(","))):
        service, _, value = (part.strip() for part in pair.partition("="))
        if service not in SERVICES or not value.isdigit() or int(value) > 19:
            raise ValueError(f"WORKER_NICE: {pair!r} is not service=0..19 "
                             f"(services: {', '.join(SERVICES)})")
        out[service] = int(value)
    return out


WORKER_NICE = worker_nice(os.environ.get("WORKER_NICE", DEFAULT_WORKER_NICE))
COLOURS = {"intake": 32, "scheduling": 34, "followup": 35, "notify": 36, "sinks": 33,
           "portal": 31}


class StartError(RuntimeError):
    pass


def port_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.3)
        return sock.connect_ex((host, port)) != 0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def lower_session(pid: int, nice: int) -> None:
    """Give the session ``pid`` leads a lower CPU priority. Where the kernel groups
    processes by session (autogroups, Linux's default), it shares the CPU between
    sessions first, and a process's nice value ranks it only inside its own; each process
    here leads its own session."""
    try:
        Path(f"/proc/{pid}/autogroup").write_text(str(nice))
    except OSError:  # no autogroups (another kernel or OS): the nice value is enough
        pass


@dataclass
class Proc:
    name: str
    argv: list[str]
    env: dict[str, str]
    popen: subprocess.Popen | None = None
    log_path: Path | None = None
    nice: int = 0  # how much lower than the launcher's its CPU priority is
    _pump: threading.Thread | None = field(default=None, repr=False)


class System:
    """The processes of one running system; ``env`` is added to every process."""

    def __init__(self, *, ports: dict[str, int] | None = None, env: dict[str, str] | None = None,
                 log_dir: Path | None = None, stream: IO[str] | None = None,
                 web_workers: int = 2, python: str = sys.executable,
                 portal: bool = False) -> None:
        self.ports = {**DEFAULT_PORTS, **(ports or {})}
        # The portal needs an OpenID provider (deploy/keycloak), so it is opt-in.
        self.portal = portal
        self.extra_env = env or {}
        self.log_dir = log_dir
        self.stream = stream
        self.web_workers = web_workers
        self.python = python
        self.procs: dict[str, Proc] = {}
        self._lock = threading.Lock()

    def url(self, service: str) -> str:
        return f"http://127.0.0.1:{self.ports[service]}"

    def base_env(self, service: str) -> dict[str, str]:
        metrics = (self.log_dir or ROOT / "var") / "metrics" / service
        # Prometheus multi-process files of earlier runs would be summed with ours.
        shutil.rmtree(metrics, ignore_errors=True)
        metrics.mkdir(parents=True, exist_ok=True)
        env = {
            **os.environ,
            "SERVICE_NAME": service,
            "PYTHONUNBUFFERED": "1",
            "PROMETHEUS_MULTIPROC_DIR": str(metrics),
            "SMTP_HOST": "127.0.0.1",
            "SMTP_PORT": str(self.ports["smtp"]),
            "SMS_URL": f"http://127.0.0.1:{self.ports['sinks']}/sms",
            # eSMS and Zalo stand-ins live in the sinks; reports come back to notify.
            "ESMS_URL": self.url("sinks"), "ZALO_API_URL": self.url("sinks"),
            "ZALO_OAUTH_URL": self.url("sinks"), "NOTIFY_CALLBACK_URL": self.url("notify"),
            "PUBLIC_BASE_URL": self.url("intake"),
            # Links in messages open the portal's tracking page (intake's own page when
            # the portal is not started); the portal's page takes ?code= to come prefilled.
            "NOTIFY_LOOKUP_URL": f"{self.url('portal' if self.portal else 'intake')}/tra-cuu",
            # Each service on its own Kafka principal (services/common/acls.py), with the
            # password `services.cli kafka setup` keeps under <DOITHOAI_VAR>/kafka/users/.
            "KAFKA_USERNAME": service,
            "KAFKA_PASSWORD": "",
            "KAFKA_PASSWORD_FILE": "",
            **self.extra_env,
        }
        return env

    def definitions(self) -> list[Proc]:
        procs = [Proc("sinks", [self.python, str(ROOT / "deploy" / "sinks.py"),
                                "--smtp-port", str(self.ports["smtp"]),
                                "--http-port", str(self.ports["sinks"]),
                                "--zalo-webhook", f"{self.url('notify')}/api/v1/callbacks/zalo",
                                "--data", str((self.log_dir or ROOT / "var") / "sinks")],
                      {**os.environ, **self.extra_env, "PYTHONUNBUFFERED": "1"})]
        for service in SERVICES:
            env = self.base_env(service)
            procs.append(Proc(f"{service}-web", [
                self.python, "-m", "gunicorn", "-c", str(ROOT / "deploy" / "gunicorn.conf.py"),
                "--bind", f"127.0.0.1:{self.ports[service]}",
                "--workers", str(self.web_workers), f"services.{service}.app:app"], env))
            procs.append(Proc(f"{service}-worker",
                              [self.python, "-m", f"services.{service}.worker"], env,
                              nice=WORKER_NICE.get(service, 0)))
        if self.portal:
            env = {**self.base_env("portal"),
                   **{f"PORTAL_{s.upper()}_URL": self.url(s)
                      for s in ("intake", "scheduling", "followup")}}
            procs.append(Proc("portal-web", [
                self.python, "-m", "gunicorn", "-c", str(ROOT / "deploy" / "gunicorn.conf.py"),
                "--bind", f"127.0.0.1:{self.ports['portal']}",
                "--workers", str(self.web_workers), "services.portal.app:app"], env))
        return procs

    def check_ports(self) -> None:
        taken = [f"{name} ({port})" for name, port in self.ports.items()
                 if (name != "portal" or self.portal) and not port_free(port)]
        if taken:
            raise StartError("ports already in use: " + ", ".join(taken)
                             + "; stop what holds them or choose other ports")

    def start(self, only: Iterable[str] | None = None) -> None:
        wanted = set(only) if only else None
        for proc in self.definitions():
            if wanted is None or proc.name in wanted:
                self.start_proc(proc)

    def start_proc(self, proc: Proc) -> None:
        if self.log_dir is not None:
            self.log_dir.mkdir(parents=True, exist_ok=True)
            proc.log_path = self.log_dir / f"{proc.name}.log"
            out: IO | int = open(proc.log_path, "a")  # noqa: SIM115 - owned by the process
        else:
            out = subprocess.PIPE
        # `nice` execs the command in place (same pid), and every thread it starts
        # inherits the priority
        argv = ["nice", "-n", str(proc.nice), *proc.argv] if proc.nice else proc.argv
        proc.popen = subprocess.Popen(argv, env=proc.env, cwd=ROOT, stdout=out,
                                      stderr=subprocess.STDOUT, text=True,
                                      start_new_session=True)
        if proc.nice:
            lower_session(proc.popen.pid, proc.nice)
        if out is subprocess.PIPE:
            proc._pump = threading.Thread(target=self._pump, args=(proc,), daemon=True)
            proc._pump.start()
        self.procs[proc.name] = proc

    def _pump(self, proc: Proc) -> None:
        colour = COLOURS.get(proc.name.split("-")[0], 37)
        prefix = f"\033[{colour}m{proc.name:<18}\033[0m| "
        assert proc.popen and proc.popen.stdout
        for line in proc.popen.stdout:
            with self._lock:
                (self.stream or sys.stdout).write(prefix + line)
                (self.stream or sys.stdout).flush()

    def restart(self, name: str) -> None:
        proc = self.procs[name]
        self.stop_proc(proc)
        self.start_proc(Proc(proc.name, proc.argv, proc.env, nice=proc.nice))

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        proc = self.procs[name]
        if proc.popen and proc.popen.poll() is None:
            os.killpg(proc.popen.pid, sig)
            proc.popen.wait(30)

    def wait_ready(self, timeout: float = 90) -> None:
        """Wait for every web process's /readyz and the sinks; fail naming the culprit."""
        deadline = time.monotonic() + timeout
        targets = {"sinks": f"{self.url('sinks')}/healthz"}
        targets.update({f"{s}-web": f"{self.url(s)}/readyz" for s in (*SERVICES, "portal")
                        if f"{s}-web" in self.procs})
        pending = dict(targets)
        last_error: dict[str, str] = {}
        while pending:
            for name, url in list(pending.items()):
                self._check_alive()
                try:
                    with urllib.request.urlopen(url, timeout=2) as response:
                        if response.status == 200:
                            del pending[name]
                except (urllib.error.URLError, OSError) as exc:
                    last_error[name] = str(exc)
            if pending and time.monotonic() > deadline:
                detail = "; ".join(f"{n}: {last_error.get(n, 'no answer')}" for n in pending)
                raise StartError(f"not ready after {timeout:.0f}s: {detail}")
            time.sleep(0.3)

    def _check_alive(self) -> None:
        for proc in self.procs.values():
            if proc.popen and proc.popen.poll() is not None:
                where = f"; see {proc.log_path}" if proc.log_path else ""
                raise StartError(f"{proc.name} exited with code {proc.popen.returncode}{where}")

    def stop_proc(self, proc: Proc, timeout: float = 20) -> None:
        if not proc.popen or proc.popen.poll() is not None:
            return
        try:
            os.killpg(proc.popen.pid, signal.SIGTERM)
            proc.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.popen.pid, signal.SIGKILL)
            proc.popen.wait(10)
        except ProcessLookupError:
            pass

    def stop(self) -> None:
        """SIGTERM to every process at once (workers finish the record in hand), then
        SIGKILL to any still running after the grace period."""
        threads = [threading.Thread(target=self.stop_proc, args=(p,))
                   for p in self.procs.values()]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
