"""Clustering quality on the labelled dataset tests/data/petitions.jsonl.

Petitions are streamed one by one, as the intake service sees them: each is assigned
to an open issue of its ward and category or starts a new one. Quality is pairwise:
precision = share of pairs put in the same issue that really are the same problem,
recall = share of same-problem pairs that were put together.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from pathlib import Path

import pytest

from services.intake.clustering import Centroid, Clusterer, features

DATASET = Path(__file__).resolve().parent.parent / "data" / "petitions.jsonl"
MIN_PRECISION = 0.85
MIN_RECALL = 0.85


def load() -> list[dict[str, str]]:
    with DATASET.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def cluster(petitions: list[dict[str, str]]) -> list[str]:
    clusterer = Clusterer()
    predicted: list[str] = []
    for i, petition in enumerate(petitions):
        vector = features(petition["title"], petition["content"])
        issue_id, _ = clusterer.assign(petition["ward_code"], petition["category"], vector)
        if issue_id is None:
            issue_id = f"issue-{i}"
            centroid = Centroid()
            centroid.add(vector)
            clusterer.add_issue(issue_id, petition["ward_code"], petition["category"], centroid)
        else:
            clusterer.observe(issue_id, vector)
        predicted.append(issue_id)
    return predicted


def pairwise(predicted: list[str], labels: list[str]) -> tuple[float, float]:
    # Counting via contingency cells is O(n) and equals the explicit all-pairs count.
    def pairs(counter: Counter[object]) -> int:
        return sum(n * (n - 1) // 2 for n in counter.values())

    together_both = pairs(Counter(zip(predicted, labels, strict=True)))
    together_pred = pairs(Counter(predicted))
    together_true = pairs(Counter(labels))
    precision = together_both / together_pred if together_pred else 1.0
    recall = together_both / together_true if together_true else 1.0
    return precision, recall


def test_dataset_shape() -> None:
    petitions = load()
    sizes = Counter(p["issue"] for p in petitions)
    assert len(petitions) >= 320
    assert 45 <= len(sizes) <= 60
    assert all(3 <= n <= 12 for n in sizes.values())
    for p in petitions:
        assert set(p) == {"ward_code", "category", "issue", "title", "content"}
        assert len(p["ward_code"]) == 5 and p["ward_code"].isdigit()
    # An issue lives in exactly one ward and category.
    homes = {(p["issue"], p["ward_code"], p["category"]) for p in petitions}
    assert len(homes) == len(sizes)


def test_pairwise_counting_matches_brute_force() -> None:
    predicted = ["a", "a", "b", "b", "b", "c"]
    labels = ["x", "x", "x", "y", "y", "y"]
    n = len(labels)
    pairs = [(i, j) for i in range(n) for j in range(i + 1, n)]
    tp = sum(predicted[i] == predicted[j] and labels[i] == labels[j] for i, j in pairs)
    pred = sum(predicted[i] == predicted[j] for i, j in pairs)
    true = sum(labels[i] == labels[j] for i, j in pairs)
    assert pairwise(predicted, labels) == (tp / pred, tp / true)


@pytest.mark.parametrize("seed", [20240601, 7, 99])
def test_pairwise_precision_and_recall(seed: int) -> None:
    petitions = load()
    random.Random(seed).shuffle(petitions)
    predicted = cluster(petitions)
    precision, recall = pairwise(predicted, [p["issue"] for p in petitions])
    print(
        f"\nseed={seed}: {len(petitions)} petitions, {len({p['issue'] for p in petitions})} "
        f"labelled issues -> {len(set(predicted))} predicted; "
        f"pairwise precision={precision:.3f} recall={recall:.3f}"
    )
    assert precision >= MIN_PRECISION
    assert recall >= MIN_RECALL
