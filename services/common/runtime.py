"""Process plumbing shared by every service's worker: threads, timers, clean shutdown."""

from __future__ import annotations

import logging
import os
import signal
import threading
from collections.abc import Callable
from pathlib import Path

from services.common.kafka import Consumer

log = logging.getLogger(__name__)


class Worker:
    """Runs consumers and periodic jobs in threads until SIGTERM or SIGINT.

    On a signal each consumer finishes the record in hand, commits and leaves
    its group; periodic jobs finish their current run.
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self.stopping = threading.Event()
        self._consumers: list[Consumer] = []
        self._jobs: list[tuple[str, float, Callable[[], object]]] = []
        self._threads: list[threading.Thread] = []

    def consume(self, consumer: Consumer) -> None:
        self._consumers.append(consumer)

    def every(self, seconds: float, job: Callable[[], object], name: str) -> None:
        self._jobs.append((name, seconds, job))

    def stop(self, *_args: object) -> None:
        if not self.stopping.is_set():
            log.info("worker stopping", extra={"worker": self.name})
        self.stopping.set()
        for consumer in self._consumers:
            consumer.stop()

    def _loop(self, name: str, seconds: float, job: Callable[[], object]) -> None:
        while not self.stopping.is_set():
            try:
                job()
            except Exception:
                log.exception("periodic job failed", extra={"job": name})
            self.stopping.wait(seconds)

    def _consume(self, consumer: Consumer) -> None:
        try:
            consumer.run()
        except Exception:
            log.exception("consumer crashed; stopping the worker so it is restarted")
            self.stop()

    def start(self) -> None:
        for consumer in self._consumers:
            self._spawn(f"consumer-{consumer.group}", self._consume, consumer)
        for name, seconds, job in self._jobs:
            self._spawn(f"job-{name}", self._loop, name, seconds, job)

    def _spawn(self, name: str, target: Callable, *args: object) -> None:
        thread = threading.Thread(target=target, args=args, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    def join(self, timeout: float = 30) -> None:
        for thread in self._threads:
            thread.join(timeout)

    def run_forever(self) -> None:
        signal.signal(signal.SIGTERM, self.stop)
        signal.signal(signal.SIGINT, self.stop)
        self.start()
        log.info("worker started", extra={"worker": self.name,
                                          "consumers": [c.group for c in self._consumers],
                                          "jobs": [j[0] for j in self._jobs]})
        heartbeat = os.environ.get("WORKER_HEARTBEAT_FILE")
        while not self.stopping.wait(1):
            if heartbeat:  # read by the container health check
                Path(heartbeat).touch()
        self.join()
        log.info("worker stopped", extra={"worker": self.name})
