"""Publishing a new petition's outbox after the HTTP answer, not before it.

The petition and its ``petition.received`` are one insert: once it is stored nothing
is lost, so the citizen need not wait for the broker's acknowledgement nor for the
write that clears the outbox. A few daemon threads per web process publish at once
(so the acknowledgement SMS is not delayed); should the process die first, the
worker's outbox relay publishes what is left (services/common/outbox.py).
"""

from __future__ import annotations

import logging
import os
import queue
import threading
from typing import Any

from pymongo.collection import Collection

from services.common.outbox import Outbox

log = logging.getLogger(__name__)


class Deferred:
    def __init__(self, outbox: Outbox, *, threads: int = 2, size: int = 10_000,
                 batch: int = 32) -> None:
        self.outbox = outbox
        self.threads = threads
        self.batch = batch
        self.queue: queue.Queue[tuple[Collection, Any, dict[str, Any]]] = queue.Queue(size)
        self._lock = threading.Lock()
        self._pid: int | None = None

    def flush(self, collection: Collection, doc_id: Any, doc: dict[str, Any]) -> None:
        """Publish ``doc``'s outbox (as just written) soon, on another thread."""
        self._start()
        try:
            self.queue.put_nowait((collection, doc_id, doc))
        except queue.Full:  # the relay publishes it
            log.warning("deferred publishing is behind; left to the outbox relay")

    def drain(self) -> None:
        """Wait until everything handed over so far is published (tests, tools)."""
        self.queue.join()

    def _start(self) -> None:
        if self._pid == os.getpid():
            return
        with self._lock:
            if self._pid == os.getpid():
                return
            for i in range(self.threads):  # started in the process that publishes
                threading.Thread(target=self._run, name=f"intake-publish-{i}",
                                 daemon=True).start()
            self._pid = os.getpid()

    def _run(self) -> None:
        while True:
            batch = [self.queue.get()]
            # Under load, what queued meanwhile goes together: its events are handed to
            # the producer at once and awaited together instead of one petition's at a
            # time. Never waits for a batch to fill: a lone petition goes at once.
            while len(batch) < self.batch:
                try:
                    batch.append(self.queue.get_nowait())
                except queue.Empty:
                    break
            try:
                self._publish(batch)
            finally:
                for _ in batch:
                    self.queue.task_done()

    def _publish(self, batch: list[tuple[Collection, Any, dict[str, Any]]]) -> None:
        # Published, not cleared: intake's grouping clears petition.received in its own
        # write (services/common/outbox.py, Outbox.publish).
        by_collection: dict[int, tuple[Collection, list[dict[str, Any]]]] = {}
        for collection, _doc_id, doc in batch:
            by_collection.setdefault(id(collection), (collection, []))[1].append(doc)
        for collection, docs in by_collection.values():
            self.outbox.publish(collection, docs)  # logs and leaves to the relay
