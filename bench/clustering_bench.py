"""Micro-benchmark of services.intake.clustering (not a test).

Builds a Clusterer holding N stored petitions (synthetic variants of
tests/data/petitions.jsonl spread over 100 wards x the dataset's 9 categories), then
times ``assign`` for fresh petitions and prints median / p95 in milliseconds, for the
first pass after loading and for the steady state.

Two ways to store the N petitions:

* ``stream``: every petition goes through assign + observe/add_issue, as the intake
  service would do, so the clusterer decides how many issues there are;
* ``fixed``: petitions are grouped into issues of ``--per-issue`` petitions without
  asking the clusterer, which pins the number of open issues per bucket (the quantity
  assignment cost depends on) at N / (buckets x per-issue).

Usage: python bench/clustering_bench.py [--sizes 10000 100000] [--queries 2000]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from services.common.text import strip_diacritics  # noqa: E402
from services.intake.clustering import Centroid, Clusterer, features  # noqa: E402

DATASET = ROOT / "tests" / "data" / "petitions.jsonl"
WARDS = [f"{90000 + i}" for i in range(100)]
LETTERS = "abcdeghiklmnopqrstuvxy"


def load() -> list[dict[str, str]]:
    with DATASET.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def mutate(text: str, rng: random.Random) -> str:
    """A plausible rewording: dropped and repeated words, typos, sometimes no diacritics."""
    out: list[str] = []
    for word in text.split():
        roll = rng.random()
        if roll < 0.12:
            continue
        if roll < 0.17 and len(word) > 2:
            i = rng.randrange(len(word))
            word = word[:i] + rng.choice(LETTERS) + word[i + 1 :]
        out.append(word)
        if rng.random() < 0.03:
            out.append(word)
    result = " ".join(out) or text
    return strip_diacritics(result) if rng.random() < 0.25 else result


def variants(base: list[dict[str, str]], n: int, rng: random.Random) -> list[dict[str, str]]:
    rows = []
    for _ in range(n):
        src = rng.choice(base)
        rows.append({
            "ward_code": rng.choice(WARDS),
            "category": src["category"],
            "issue": src["issue"],
            "title": mutate(src["title"], rng),
            "content": mutate(src["content"], rng),
        })
    return rows


def build_stream(rows: list[dict[str, str]]) -> Clusterer:
    clusterer = Clusterer()
    for i, row in enumerate(rows):
        vector = features(row["title"], row["content"])
        issue_id, _ = clusterer.assign(row["ward_code"], row["category"], vector)
        if issue_id is None:
            centroid = Centroid()
            centroid.add(vector)
            clusterer.add_issue(f"s{i}", row["ward_code"], row["category"], centroid)
        else:
            clusterer.observe(issue_id, vector)
    return clusterer


def build_fixed(rows: list[dict[str, str]], per_issue: int) -> Clusterer:
    groups: dict[tuple[str, str, str], list[dict[str, str]]] = defaultdict(list)
    for row in rows:
        groups[(row["ward_code"], row["category"], row["issue"])].append(row)
    clusterer = Clusterer()
    serial = 0
    for (ward, category, _), members in groups.items():
        for start in range(0, len(members), per_issue):
            centroid = Centroid()
            for row in members[start : start + per_issue]:
                centroid.add(features(row["title"], row["content"]))
            clusterer.add_issue(f"f{serial}", ward, category, centroid)
            serial += 1
    return clusterer


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def time_assign(clusterer: Clusterer, queries: list[dict[str, str]]) -> tuple[float, float,
                                                                                  float, float]:
    assign_ms: list[float] = []
    total_ms: list[float] = []
    for row in queries:
        t0 = time.perf_counter()
        vector = features(row["title"], row["content"])
        t1 = time.perf_counter()
        clusterer.assign(row["ward_code"], row["category"], vector)
        t2 = time.perf_counter()
        assign_ms.append((t2 - t1) * 1000)
        total_ms.append((t2 - t0) * 1000)
    return (statistics.median(assign_ms), percentile(assign_ms, 0.95),
            statistics.median(total_ms), percentile(total_ms, 0.95))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--queries", type=int, default=2000)
    parser.add_argument("--per-issue", type=int, default=4)
    parser.add_argument("--modes", nargs="+", default=["stream", "fixed"],
                        choices=["stream", "fixed"])
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    base = load()
    buckets = len(WARDS) * len({row["category"] for row in base})
    print(f"dataset {len(base)} petitions; {len(WARDS)} wards x categories = {buckets} buckets")
    for size in args.sizes:
        for mode in args.modes:
            rng = random.Random(args.seed)
            rows = variants(base, size, rng)
            queries = variants(base, args.queries, rng)
            t0 = time.perf_counter()
            if mode == "stream":
                clusterer = build_stream(rows)
            else:
                clusterer = build_fixed(rows, args.per_issue)
            build_s = time.perf_counter() - t0
            per_bucket = len(clusterer) / buckets
            print(
                f"N={size:>7} {mode:<6} issues={len(clusterer):>6} (~{per_bucket:.1f}/bucket) "
                f"build={build_s:6.1f}s"
            )
            # The first pass also pays for refreshing centroid norms that went stale
            # while the other issues were loaded; the second pass is the steady state.
            for label in ("first pass", "steady"):
                med, p95, tmed, tp95 = time_assign(clusterer, queries)
                print(
                    f"    {label:<10} assign median={med:.3f} ms p95={p95:.3f} ms | "
                    f"features+assign median={tmed:.3f} ms p95={tp95:.3f} ms"
                )

if __name__ == "__main__":
    main()
