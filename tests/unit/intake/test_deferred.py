"""The POST's outbox published after the answer, on another thread (no servers)."""

from __future__ import annotations

import threading

from services.intake.deferred import Deferred


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str, str]] = []
        self.threads: set[str] = set()

    def publish(self, collection, doc_id, doc) -> None:
        self.threads.add(threading.current_thread().name)
        self.calls.append((collection, doc_id, doc["tracking_code"]))


def test_each_handed_document_is_published_once_off_the_caller_thread():
    outbox = Recorder()
    deferred = Deferred(outbox, threads=2)
    for i in range(50):
        deferred.flush("petitions", f"p{i}", {"tracking_code": f"C{i}"})
    deferred.drain()
    assert sorted(c[1] for c in outbox.calls) == sorted(f"p{i}" for i in range(50))
    assert threading.current_thread().name not in outbox.threads
    assert outbox.threads <= {"intake-publish-0", "intake-publish-1"}


def test_a_full_queue_leaves_the_rest_to_the_relay():
    gate = threading.Event()

    class Slow(Recorder):
        def publish(self, collection, doc_id, doc) -> None:
            gate.wait(5)
            super().publish(collection, doc_id, doc)

    outbox = Slow()
    deferred = Deferred(outbox, threads=1, size=2)
    for i in range(6):  # one taken by the thread, two queued, the rest refused
        deferred.flush("petitions", f"p{i}", {"tracking_code": f"C{i}"})
    gate.set()
    deferred.drain()
    assert 2 <= len(outbox.calls) <= 3
