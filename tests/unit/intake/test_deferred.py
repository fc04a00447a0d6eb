"""The POST's outbox published after the answer, on another thread (no servers)."""

from __future__ import annotations

import threading

from services.intake.deferred import Deferred


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str, str]] = []
        self.batches: list[list[str]] = []
        self.threads: set[str] = set()

    def publish(self, collection, docs) -> None:
        self.threads.add(threading.current_thread().name)
        self.batches.append([doc["tracking_code"] for doc in docs])
        self.calls += [(collection, doc["_id"], doc["tracking_code"]) for doc in docs]


def test_each_handed_document_is_published_once_off_the_caller_thread():
    outbox = Recorder()
    deferred = Deferred(outbox, threads=2)
    for i in range(50):
        deferred.flush("petitions", f"p{i}", {"_id": f"p{i}", "tracking_code": f"C{i}"})
    deferred.drain()
    assert sorted(c[1] for c in outbox.calls) == sorted(f"p{i}" for i in range(50))
    assert threading.current_thread().name not in outbox.threads
    assert outbox.threads <= {"intake-publish-0", "intake-publish-1"}


def test_a_full_queue_leaves_the_rest_to_the_relay():
    gate, busy = threading.Event(), threading.Event()

    class Slow(Recorder):
        def publish(self, collection, docs) -> None:
            busy.set()
            gate.wait(5)
            super().publish(collection, docs)

    outbox = Slow()
    deferred = Deferred(outbox, threads=1, size=2)
    deferred.flush("petitions", "p0", {"_id": "p0", "tracking_code": "C0"})
    assert busy.wait(5)  # taken by the thread
    for i in range(1, 6):  # two queued, the rest refused
        deferred.flush("petitions", f"p{i}", {"_id": f"p{i}", "tracking_code": f"C{i}"})
    gate.set()
    deferred.drain()
    assert [c[1] for c in outbox.calls] == ["p0", "p1", "p2"]


def test_what_queues_meanwhile_is_published_as_one_batch():
    gate, busy = threading.Event(), threading.Event()

    class Batches(Recorder):
        def publish(self, collection, docs) -> None:
            if not busy.is_set():
                busy.set()
                gate.wait(5)  # the first petition is slow: the next ones queue behind it
            super().publish(collection, docs)

    outbox = Batches()
    deferred = Deferred(outbox, threads=1, batch=8)
    deferred.flush("petitions", "p0", {"_id": "p0", "tracking_code": "C0"})
    assert busy.wait(5)
    for i in range(1, 11):
        deferred.flush("petitions", f"p{i}", {"_id": f"p{i}", "tracking_code": f"C{i}"})
    gate.set()
    deferred.drain()
    assert outbox.batches == [["C0"], [f"C{i}" for i in range(1, 9)], ["C9", "C10"]]
