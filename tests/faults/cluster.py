"""A 3-broker KRaft cluster and a FerretDB of their own, on loopback free ports, for the
fault tests. The brokers run the same template as the local broker
(deploy/kafka/server.properties.in: SASL SCRAM-SHA-512, ACLs) with replication factor 3 and
min.insync.replicas=2; FerretDB serves the local PostgreSQL under another port, so it can
be killed without disturbing the shared one."""

from __future__ import annotations

import base64
import os
import signal
import subprocess
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from services.common.config import Settings
from services.system import free_port

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "deploy" / "kafka" / "server.properties.in"
LOG4J = ROOT / "deploy" / "kafka" / "log4j2.properties"
HEAP = os.environ.get("FAULTS_KAFKA_HEAP", "-Xms128m -Xmx384m").split()


def var_dir() -> Path:
    return Path(os.environ.get("DOITHOAI_VAR", ROOT / "var")).resolve()


def _java(*args: str, logs: Path) -> list[str]:
    return ["java", *HEAP, "-XX:+UseG1GC", "-XX:TieredStopAtLevel=1",
            "-Djava.awt.headless=true", f"-Dlog4j2.configurationFile={LOG4J}",
            f"-Dkafka.logs.dir={logs}", "-cp", str(var_dir() / "kafka" / "lib" / "*"), *args]


@dataclass
class Broker:
    node: int
    port: int
    controller_port: int
    home: Path
    popen: subprocess.Popen | None = None
    log: Path = field(init=False)

    def __post_init__(self) -> None:
        self.log = self.home / "server.out"

    @property
    def config(self) -> Path:
        return self.home / "server.properties"

    def start(self) -> None:
        out = open(self.log, "a")  # noqa: SIM115 - owned by the process
        self.popen = subprocess.Popen(_java("kafka.Kafka", str(self.config), logs=self.home),
                                      stdout=out, stderr=subprocess.STDOUT,
                                      start_new_session=True)

    def kill(self) -> None:
        """SIGKILL: no clean shutdown, no controlled leader hand-over."""
        assert self.popen
        os.killpg(self.popen.pid, signal.SIGKILL)
        self.popen.wait(30)

    def stop(self) -> None:
        if self.popen and self.popen.poll() is None:
            os.killpg(self.popen.pid, signal.SIGTERM)
            try:
                self.popen.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait(10)


class Cluster:
    """Three combined broker+controller nodes, one static controller quorum."""

    def __init__(self, home: Path, nodes: int = 3) -> None:
        self.home = home
        # one node (tests/faults/test_restart.py) cannot hold three replicas
        self.replication, self.min_isr = min(3, nodes), min(2, nodes)
        self.admin_password = (var_dir() / "kafka" / "users" / "admin.password").read_text().strip()
        controller = (var_dir() / "kafka" / "users" / "controller.password").read_text().strip()
        self.brokers = [Broker(n, free_port(), free_port(), home / f"node{n}")
                        for n in range(1, nodes + 1)]
        voters = ",".join(f"{b.node}@127.0.0.1:{b.controller_port}" for b in self.brokers)
        template = TEMPLATE.read_text()
        for broker in self.brokers:
            broker.home.mkdir(parents=True, exist_ok=True)
            text = template
            for key, value in {"NODE_ID": broker.node, "VOTERS": voters,
                               "KAFKA_PORT": broker.port,
                               "CONTROLLER_PORT": broker.controller_port,
                               "DATA_DIR": broker.home / "data",
                               "REPLICATION": self.replication, "MIN_ISR": self.min_isr,
                               "ADMIN_PASSWORD": self.admin_password,
                               "CONTROLLER_PASSWORD": controller}.items():
                text = text.replace(f"@{key}@", str(value))
            broker.config.write_text(text)

    @property
    def bootstrap(self) -> str:
        return ",".join(f"127.0.0.1:{b.port}" for b in self.brokers)

    def admin_settings(self, **overrides: object) -> Settings:
        return Settings.from_env(kafka_bootstrap=self.bootstrap, kafka_username="admin",
                                 kafka_password=self.admin_password, kafka_password_file="",
                                 kafka_replication=self.replication, **overrides)

    def start(self) -> None:
        # An id starting with "-" would be read by StorageTool as an option.
        cluster_id = "-"
        while cluster_id.startswith("-"):
            cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        formats = [subprocess.Popen(
            _java("kafka.tools.StorageTool", "format", "-t", cluster_id, "-c", str(b.config),
                  "--add-scram", f"SCRAM-SHA-512=[name=admin,password={self.admin_password}]",
                  logs=b.home),
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            for b in self.brokers]
        for broker, proc in zip(self.brokers, formats, strict=True):
            out, _ = proc.communicate(timeout=120)
            if proc.returncode:
                raise RuntimeError(f"format of node {broker.node} failed: {out}")
        for broker in self.brokers:
            broker.start()
        self.wait_ready()

    def wait_ready(self, timeout: float = 120) -> None:
        """Every broker answers a metadata request listing all three."""
        from kafka import KafkaAdminClient

        from services.common.kafka import client_config

        deadline = time.monotonic() + timeout
        while True:
            for broker in self.brokers:
                if broker.popen and broker.popen.poll() is not None:
                    raise RuntimeError(f"broker {broker.node} exited; see {broker.log}")
            try:
                client = KafkaAdminClient(**client_config(self.admin_settings()),
                                          request_timeout_ms=5000, bootstrap_timeout_ms=5000)
                try:
                    if len(client.describe_cluster()["brokers"]) == len(self.brokers):
                        return
                finally:
                    client.close()
            except Exception:
                if time.monotonic() > deadline:
                    raise
            time.sleep(1)

    def stop(self) -> None:
        """All at once, by SIGKILL: the data is thrown away, and a broker shutting down
        cleanly waits for a quorum its stopped peers no longer give."""
        for broker in self.brokers:
            if broker.popen and broker.popen.poll() is None:
                broker.kill()


class Ferret:
    """A FerretDB process of the fault tests' own over the local PostgreSQL."""

    def __init__(self, home: Path) -> None:
        self.port = free_port()
        self.log = home / "ferretdb.log"
        self.popen: subprocess.Popen | None = None
        pg_port = os.environ.get("PG_PORT", "54329")
        self.argv = [str(var_dir() / "ferretdb" / "bin" / "ferretdb"),
                     "-listen", f"127.0.0.1:{self.port}", "-postgresql-url",
                     f"postgres://ferret@127.0.0.1:{pg_port}/ferretdb?pool_max_conns=20"]

    @property
    def url(self) -> str:
        return f"mongodb://127.0.0.1:{self.port}/"

    def start(self) -> None:
        out = open(self.log, "a")  # noqa: SIM115 - owned by the process
        self.popen = subprocess.Popen(self.argv, stdout=out, stderr=subprocess.STDOUT,
                                      env={**os.environ, "GOGC": "400"},
                                      start_new_session=True)
        from pymongo import MongoClient

        deadline = time.monotonic() + 30
        while True:
            client = MongoClient(self.url, serverSelectionTimeoutMS=1000)
            try:
                client.admin.command("ping")
                return
            except Exception:
                if time.monotonic() > deadline or self.popen.poll() is not None:
                    raise RuntimeError(f"FerretDB did not start; see {self.log}") from None
                time.sleep(0.3)
            finally:
                client.close()

    def kill(self) -> None:
        assert self.popen
        os.killpg(self.popen.pid, signal.SIGKILL)
        self.popen.wait(30)

    def stop(self) -> None:
        if self.popen and self.popen.poll() is None:
            os.killpg(self.popen.pid, signal.SIGTERM)
            self.popen.wait(30)
