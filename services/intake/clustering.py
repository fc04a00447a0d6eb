"""Incremental clustering of citizens' petitions into issues.

A new petition joins the most similar *open* issue with the same ``ward_code`` and
``category``, or starts a new issue when nothing scores at least the threshold.

Features
    :mod:`services.intake.features` turns a petition's title and text into a unit
    vector of word (``w:``), bigram (``b:``) and character 3-gram (``c:``) features.

Scoring
    :meth:`Clusterer.assign` weights word and bigram features by their inverse document
    frequency over the open issues, so the words every flood shares ("ngap", "mua")
    count less than what tells two floods apart (the street name). Only issues sharing
    at least one word or bigram with the petition are scored.

Issues
    An issue is a :class:`Centroid`: the sum of its petitions' unit vectors plus a count.
    The sum is capped to the ``MAX_CENTROID_FEATURES`` heaviest features so that memory
    per issue is bounded however many petitions it gathers.

Cost
    Issues are indexed per (ward_code, category) bucket, and inside a bucket by an
    inverted index from word/bigram feature to issue ids. Assigning one petition costs
    O(F x C): F is the petition's feature count (a few hundred) and C the number of open
    issues in its bucket sharing a word or bigram with it. Centroid norms are cached,
    so no per-candidate work depends on the centroid size (except once after a bulk
    load, when the first assign in a bucket refreshes its stale norms). Cost does not
    depend on the total number of petitions stored, nor on issues of other wards or
    categories. Memory is O(open issues x MAX_CENTROID_FEATURES).

Threshold and cold start
    ``DEFAULT_THRESHOLD`` was tuned by streaming the labelled dataset (341 petitions,
    57 issues, 8 wards) in 36 shuffled orders: at 0.18 pairwise precision averages
    0.97 and recall 0.91, both >= 0.85 in every order; 0.17 and 0.19 each fail one.
    Because document frequencies come from the open issues, a clusterer holding only a
    handful of issues cannot yet tell shared topic words from distinguishing names and
    merges more eagerly; load all open issues at start-up.

The module is pure: no I/O, no clock, no randomness. :class:`Clusterer` is not
thread-safe; callers serialise access (one intake consumer per partition).
"""

from __future__ import annotations

import json
import math
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from bson import Binary

# Re-exported: grouping, settings, tests and bench import these from here.
from services.intake.features import (
    CHARGRAM,
    GROUP_WEIGHTS,
    STOP_WORDS,
    SYNONYMS,
    features,
    similarity,
)

__all__ = [
    "DEFAULT_THRESHOLD",
    "GROUP_WEIGHTS",
    "MAX_CENTROID_FEATURES",
    "STOP_WORDS",
    "SYNONYMS",
    "Centroid",
    "Clusterer",
    "features",
    "similarity",
]

# Tuned on tests/data/petitions.jsonl (see tests/unit/test_clustering_quality.py).
DEFAULT_THRESHOLD = 0.18

# A dozen petitions give ~650 distinct features; the cap keeps the recurring words,
# bigrams and 3-grams and evicts the long tail seen once.
MAX_CENTROID_FEATURES = 400

# Relative change of the total document frequency after which cached centroid norms
# are recomputed; see Clusterer._weighted_norm.
NORM_REFRESH = 0.05


def _decode_key(key: str) -> str:
    return key.replace("%24", "$").replace("%2E", ".").replace("%25", "%")


@dataclass
class Centroid:
    """Sum of the unit vectors of an issue's petitions, capped to the heaviest features."""

    vector: dict[str, float] = field(default_factory=dict)
    count: int = 0

    def add(self, vector: Mapping[str, float]) -> None:
        """Add one petition's vector."""
        self._accumulate(vector)
        self.count += 1

    def merge(self, other: Centroid) -> None:
        """Absorb another issue's centroid (its petitions now belong here)."""
        self._accumulate(other.vector)
        self.count += other.count

    def _accumulate(self, vector: Mapping[str, float]) -> None:
        acc = self.vector
        for key, value in vector.items():
            acc[key] = acc.get(key, 0.0) + value
        if len(acc) > MAX_CENTROID_FEATURES:
            kept = sorted(acc.items(), key=lambda kv: kv[1], reverse=True)
            self.vector = dict(kept[:MAX_CENTROID_FEATURES])

    def to_doc(self) -> dict[str, Any]:
        """Storable form: the weights packed into one binary value (JSON pairs, zlib).

        FerretDB decodes and re-encodes every field of a document on each read and
        update: as a map of up to 400 fields a centroid cost it 6 ms of CPU per update
        and 4 ms per read; packed, 1.5 ms and 1 ms.
        """
        pairs = [[k, round(v, 6)] for k, v in self.vector.items()]
        raw = json.dumps(pairs, ensure_ascii=False, separators=(",", ":")).encode()
        return {"count": self.count, "packed": Binary(zlib.compress(raw, 1))}

    @classmethod
    def from_doc(cls, doc: Mapping[str, Any]) -> Centroid:
        """Inverse of :meth:`to_doc`; also reads the earlier ``{feature: weight}`` map."""
        if doc.get("packed") is not None:
            pairs = json.loads(zlib.decompress(doc["packed"]))
            vector = {k: float(v) for k, v in pairs}
        else:
            vector = {_decode_key(k): float(v) for k, v in (doc.get("vector") or {}).items()}
        return cls(vector=vector, count=int(doc.get("count", 0)))


@dataclass
class _Bucket:
    issues: set[str] = field(default_factory=set)
    postings: dict[str, set[str]] = field(default_factory=dict)


def _indexed_keys(vector: Iterable[str]) -> set[str]:
    return {k for k in vector if not k.startswith(CHARGRAM)}


def _chargram_sq(vector: Mapping[str, float]) -> float:
    return sum(v * v for k, v in vector.items() if k.startswith(CHARGRAM))


class Clusterer:
    """In-memory index of open issues, bucketed by (ward_code, category).

    Callers load open issues with :meth:`add_issue`, ask :meth:`assign` for each new
    petition, then either :meth:`observe` the petition into the returned issue or
    :meth:`add_issue` a new one. Closed issues are dropped with :meth:`remove_issue`.

    Scores are cosines after weighting word and bigram features by their inverse
    document frequency over the open issues (all buckets): words every flooding issue
    shares ("ngap", "mua") then count less than what tells two floods apart (the street
    name). Document frequencies are derived from the centroids themselves, so loading
    the open issues rebuilds them and nothing extra has to be stored.
    """

    def __init__(self, threshold: float = DEFAULT_THRESHOLD) -> None:
        self.threshold = threshold
        self._buckets: dict[tuple[str, str], _Bucket] = {}
        self._centroids: dict[str, Centroid] = {}
        self._bucket_of: dict[str, tuple[str, str]] = {}
        # Open issues whose centroid holds each word/bigram feature.
        self._df: dict[str, int] = {}
        self._df_updates = 0
        self._df_mass = 0
        # issue id -> sums giving its IDF-weighted norm (see _weighted_norm)
        self._norms: dict[str, tuple[float, float, float, float, int]] = {}

    def __len__(self) -> int:
        return len(self._centroids)

    def __contains__(self, issue_id: object) -> bool:
        return issue_id in self._centroids

    def issues_in(self, ward_code: str, category: str) -> set[str]:
        """The open issues known in one bucket."""
        bucket = self._buckets.get((ward_code, category))
        return set(bucket.issues) if bucket else set()

    def centroid(self, issue_id: str) -> Centroid:
        """The live centroid of an issue, e.g. to persist it after :meth:`observe`."""
        return self._centroids[issue_id]

    def add_issue(self, issue_id: str, ward_code: str, category: str,
                  centroid: Centroid) -> None:
        """Register an open issue; replaces any issue already known under ``issue_id``.

        The clusterer keeps ``centroid`` itself and its indexes follow it, so change it
        only through :meth:`observe` and :meth:`merge`.
        """
        if issue_id in self._centroids:
            self.remove_issue(issue_id)
        key = (ward_code, category)
        bucket = self._buckets.setdefault(key, _Bucket())
        bucket.issues.add(issue_id)
        self._centroids[issue_id] = centroid
        self._bucket_of[issue_id] = key
        self._index(issue_id, _indexed_keys(centroid.vector), set())

    def assign(self, ward_code: str, category: str,
               vector: Mapping[str, float]) -> tuple[str | None, float]:
        """Best open issue of the bucket and its score (IDF-weighted cosine, 0..1).

        Only issues sharing at least one word or bigram with the petition are scored:
        matching on character 3-grams alone is not evidence of the same problem.
        Returns ``(None, best_score)`` when no issue reaches the threshold, so that the
        caller can log how close the nearest issue was. Ties go to the issue id that
        sorts first, which keeps results reproducible.
        """
        bucket = self._buckets.get((ward_code, category))
        if bucket is None or not vector:
            return None, 0.0
        candidates: set[str] = set()
        for feature in vector:
            ids = bucket.postings.get(feature)
            if ids:
                candidates.update(ids)
        if not candidates:
            return None, 0.0
        offset = self._idf_offset()
        df = self._df
        # The query is weighted once; weighting the centroid side too is folded into
        # the per-feature factor, so the dot product is one multiply per feature.
        factors: dict[str, float] = {}
        qnorm_sq = 0.0
        for feature, value in vector.items():
            # 3-grams are not IDF-weighted.
            chargram = feature.startswith(CHARGRAM)
            idf = 1.0 if chargram else offset - math.log(df.get(feature, 0) + 1)
            weighted = value * idf
            qnorm_sq += weighted * weighted
            factors[feature] = weighted * idf
        if qnorm_sq == 0.0:
            return None, 0.0
        qnorm = math.sqrt(qnorm_sq)
        best_id: str | None = None
        best = 0.0
        for issue_id in sorted(candidates):
            cnorm = self._weighted_norm(issue_id, offset)
            if cnorm == 0.0:
                continue
            cv = self._centroids[issue_id].vector
            # Intersecting the key views runs in C; most query 3-grams are absent.
            dot = sum(factors[feature] * cv[feature] for feature in factors.keys() & cv.keys())
            score = dot / (qnorm * cnorm)
            if score > best:
                best_id, best = issue_id, score
        if best_id is None or best < self.threshold:
            return None, best
        return best_id, best

    def observe(self, issue_id: str, vector: Mapping[str, float]) -> None:
        """Add a petition assigned to ``issue_id`` to its centroid."""
        centroid = self._centroids[issue_id]
        before = _indexed_keys(centroid.vector)
        centroid.add(vector)
        self._index(issue_id, _indexed_keys(centroid.vector), before)

    def remove_issue(self, issue_id: str) -> None:
        """Forget an issue (closed, deleted or merged away); unknown ids are ignored."""
        centroid = self._centroids.get(issue_id)
        if centroid is None:
            return
        self._index(issue_id, set(), _indexed_keys(centroid.vector))
        del self._centroids[issue_id]
        key = self._bucket_of.pop(issue_id)
        bucket = self._buckets[key]
        bucket.issues.discard(issue_id)
        if not bucket.issues:
            del self._buckets[key]

    def merge(self, into_id: str, from_id: str) -> None:
        """Fold issue ``from_id`` into ``into_id`` and forget ``from_id``."""
        if into_id == from_id:
            return
        target = self._centroids[into_id]
        source = self._centroids[from_id]
        self.remove_issue(from_id)
        before = _indexed_keys(target.vector)
        target.merge(source)
        self._index(into_id, _indexed_keys(target.vector), before)

    def _idf_offset(self) -> float:
        # idf(f) = log((N + 1) / (df + 1)) + 1, split so that log(N + 1) + 1 is computed
        # once per call instead of once per feature.
        return math.log(len(self._centroids) + 1) + 1.0

    def _weighted_norm(self, issue_id: str, offset: float) -> float:
        # Recomputing this for every candidate would dominate assign(), so it is cached.
        # With idf = A - L(f), A = log(N + 1) + 1 and L(f) = log(df + 1), the squared
        # norm is C + A^2 S0 - 2 A S1 + S2 (C: the 3-grams, which are not weighted),
        # which stays exact when N changes. The sums are computed whenever the issue
        # changes and go stale only as other issues move document frequencies; they
        # are refreshed once the total document frequency has moved by NORM_REFRESH
        # (relative), i.e. L(f) has moved by about log(1.05) = 0.05 on average against
        # idf values of 1 to 10; measured score drift stays under 0.01.
        cached = self._norms.get(issue_id)
        if cached is None or self._df_updates - cached[4] > NORM_REFRESH * self._df_mass:
            cached = self._norm_sums(issue_id)
        c_sq, s0, s1, s2, _ = cached
        return math.sqrt(max(0.0, c_sq + offset * offset * s0 - 2.0 * offset * s1 + s2))

    def _norm_sums(self, issue_id: str,
                   c_sq: float | None = None) -> tuple[float, float, float, float, int]:
        df = self._df
        vector = self._centroids[issue_id].vector
        if c_sq is None:
            old = self._norms.get(issue_id)
            c_sq = old[0] if old is not None else _chargram_sq(vector)
        s0 = s1 = s2 = 0.0
        for feature, value in vector.items():
            if not feature.startswith(CHARGRAM):
                sq = value * value
                log_df = math.log(df.get(feature, 0) + 1)
                s0 += sq
                s1 += sq * log_df
                s2 += sq * log_df * log_df
        sums = (c_sq, s0, s1, s2, self._df_updates)
        self._norms[issue_id] = sums
        return sums

    def _index(self, issue_id: str, after: set[str], before: set[str]) -> None:
        # Adding features can evict others past the cap, so both directions are updated.
        postings = self._buckets[self._bucket_of[issue_id]].postings
        df = self._df
        for feature in after - before:
            postings.setdefault(feature, set()).add(issue_id)
            df[feature] = df.get(feature, 0) + 1
        for feature in before - after:
            ids = postings.get(feature)
            if ids is not None:
                ids.discard(issue_id)
                if not ids:
                    del postings[feature]
            left = df.get(feature, 0) - 1
            if left > 0:
                df[feature] = left
            else:
                df.pop(feature, None)
        changed = len(after ^ before)
        self._df_updates += changed
        self._df_mass += len(after - before) - len(before - after)
        if issue_id in self._centroids and after:
            # The centroid changed: its 3-gram part too, and computing now keeps the
            # cost off the read path.
            self._norm_sums(issue_id, _chargram_sq(self._centroids[issue_id].vector))
        else:
            self._norms.pop(issue_id, None)
