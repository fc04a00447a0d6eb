"""The conformance suite needs only a MongoDB-protocol server at ``MONGO_URL``: the
embedded FerretDB in ``make test``, a real MongoDB in ``make test-mongo-semantics``.
It uses plain pymongo, never the kit, so that it tests the server and nothing else."""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Callable, Iterator

import pytest
from pymongo import MongoClient
from pymongo.database import Database

URL = os.environ.get(
    "MONGO_URL", f"mongodb://127.0.0.1:{os.environ.get('MONGO_PORT', '27017')}/")


@pytest.fixture(scope="session")
def mongo() -> Iterator[MongoClient]:
    # maxPoolSize above the thread count: every thread gets its own connection, as
    # separate processes would.
    client = MongoClient(URL, tz_aware=True, serverSelectionTimeoutMS=5000, maxPoolSize=32,
                         socketTimeoutMS=60000)  # a hung server fails, never blocks
    try:
        client.admin.command("ping")
    except Exception as exc:  # fail, never skip: the server is part of the test
        pytest.fail(f"no MongoDB-protocol server at {URL}: {exc}")
    yield client
    client.close()


@pytest.fixture
def db(mongo: MongoClient) -> Iterator[Database]:
    name = f"conf_{uuid.uuid4().hex[:12]}"
    yield mongo[name]
    mongo.drop_database(name)


THREADS = 8
OPS = 200


@pytest.fixture
def hammer() -> Callable[[Callable[[int], list]], list]:
    """Run ``work(thread_number)`` in THREADS threads at once; their results, joined.
    A barrier starts them together so that they really overlap."""

    def run_all(work: Callable[[int], list], threads: int = THREADS) -> list:
        results: list = []
        errors: list[BaseException] = []
        guard = threading.Lock()
        start = threading.Barrier(threads)

        def run(k: int) -> None:
            try:
                start.wait()
                out = work(k)
                with guard:
                    results.extend(out)
            except BaseException as exc:  # surfaced below, in the test's thread
                with guard:
                    errors.append(exc)

        pool = [threading.Thread(target=run, args=(k,)) for k in range(threads)]
        for thread in pool:
            thread.start()
        for thread in pool:
            thread.join()
        if errors:
            raise errors[0]
        return results

    return run_all
