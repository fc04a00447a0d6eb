"""What a multi-statement update costs through the proxy: one `bulk_write` of N
`UpdateOne` (split by the proxy into N commands on one backend connection) against N
`update_one` calls, against the server at MONGO_URL. Prints milliseconds per batch.

    MONGO_URL=mongodb://127.0.0.1:27217/ .venv/bin/python deploy/ferretdb/bench_bulk.py [N] [ROUNDS]
"""

from __future__ import annotations

import os
import statistics
import sys
import time
import uuid

from pymongo import MongoClient, UpdateOne


def main() -> None:
    size = int(sys.argv[1]) if len(sys.argv) > 1 else 100
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 15
    client = MongoClient(os.environ.get("MONGO_URL", "mongodb://127.0.0.1:27017/"),
                         serverSelectionTimeoutMS=5000, socketTimeoutMS=60000)
    db = client[f"bench_bulk_{uuid.uuid4().hex[:8]}"]
    docs = db["docs"]
    try:
        docs.insert_many([{"_id": i, "n": 0} for i in range(size)])
        timings: dict[str, list[float]] = {"bulk_write": [], "update_one": [],
                                           "bulk_write unordered": []}
        for _ in range(rounds):
            start = time.perf_counter()
            docs.bulk_write([UpdateOne({"_id": i}, {"$inc": {"n": 1}}) for i in range(size)])
            timings["bulk_write"].append(time.perf_counter() - start)
            start = time.perf_counter()
            docs.bulk_write([UpdateOne({"_id": i}, {"$inc": {"n": 1}}) for i in range(size)],
                            ordered=False)
            timings["bulk_write unordered"].append(time.perf_counter() - start)
            start = time.perf_counter()
            for i in range(size):
                docs.update_one({"_id": i}, {"$inc": {"n": 1}})
            timings["update_one"].append(time.perf_counter() - start)
        assert all(d["n"] == 3 * rounds for d in docs.find())
        for name, times in timings.items():
            ms = sorted(t * 1000 for t in times)
            print(f"{size} x {name:<21} median {statistics.median(ms):7.1f} ms"
                  f"  min {ms[0]:7.1f} ms  ({statistics.median(ms) / size:.2f} ms/statement)")
    finally:
        client.drop_database(db.name)
        client.close()


if __name__ == "__main__":
    main()
