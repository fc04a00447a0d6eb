"""What a `find({_id: {$in: ids}})` costs through the proxy, which answers it with one
`_id` lookup per id (findin.go), against the same find forwarded to FerretDB as it
came (a full scan there): the forwarded one carries `hint({_id: 1})`, which FerretDB
ignores and the proxy does not rewrite. Prints milliseconds per find, on collections
of each size, for each number of ids, against the server at MONGO_URL.

    MONGO_URL=mongodb://127.0.0.1:27217/ .venv/bin/python deploy/ferretdb/bench_find.py \
        [SIZES=10000,50000] [IDS=50] [ROUNDS=15]
"""

from __future__ import annotations

import os
import random
import statistics
import sys
import time
import uuid

from pymongo import MongoClient


def _median_ms(run, rounds: int) -> float:
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        run()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def main() -> None:
    sizes = [int(s) for s in (sys.argv[1] if len(sys.argv) > 1 else "10000,50000").split(",")]
    counts = [int(s) for s in (sys.argv[2] if len(sys.argv) > 2 else "50").split(",")]
    rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 15
    client = MongoClient(os.environ.get("MONGO_URL", "mongodb://127.0.0.1:27017/"),
                         serverSelectionTimeoutMS=5000, socketTimeoutMS=120000)
    db = client[f"bench_find_{uuid.uuid4().hex[:8]}"]
    docs = db["petitions"]
    rng = random.Random(12)
    try:
        have = 0
        for size in sizes:
            # petition-like documents of about 600 bytes, string ids as the services use
            docs.insert_many([{"_id": f"p-{i:08d}", "issue_id": f"i-{i % 97}", "status": "received",
                               "text": "Đường liên xã bị sạt lở, đề nghị sửa chữa sớm. " * 10,
                               "n": i} for i in range(have, size)])
            have = size
            for count in counts:
                ids = [f"p-{rng.randrange(size):08d}" for _ in range(count)]
                want = len(set(ids))
                assert len(list(docs.find({"_id": {"$in": ids}}))) == want
                assert len(list(docs.find({"_id": {"$in": ids}}).hint([("_id", 1)]))) == want
                query = {"_id": {"$in": ids}}
                after = _median_ms(lambda q=query: list(docs.find(q)), rounds)
                before = _median_ms(lambda q=query: list(docs.find(q).hint([("_id", 1)])), rounds)
                print(f"{size:>7,} documents, {count:>4} ids: forwarded (scan) {before:8.1f} ms"
                      f"   rewritten (lookups) {after:7.1f} ms   ({before / after:5.1f}x)")
    finally:
        client.drop_database(db.name)
        client.close()


if __name__ == "__main__":
    main()
