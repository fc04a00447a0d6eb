"""Text of a petition -> a sparse feature vector, for :mod:`services.intake.clustering`.

Text is folded (lower case, no diacritics, đ -> d) so "Đường làng bị ngập" and
"duong lang bi ngap" look the same; letter/digit runs are split ("ĐT477" -> dt 477)
and a few abbreviations and synonyms are normalised (BHXH, KCN, heo -> lợn).
Three groups of features are built:

* ``w:`` word unigrams minus Vietnamese stop words and petition boilerplate;
* ``b:`` word bigrams, because a Vietnamese word is a syllable and meaning often
  lives in the pair ("ngap nuoc", "trai lon", "tran hung dao");
* ``c:`` character 3-grams of each content word, so that typos and half-typed
  Telex ("ngapj", "nuocs") still overlap with the intended word.

Each group is L2-normalised and scaled so that the cosine of two vectors is a fixed
weighted mix of the per-group cosines (see ``GROUP_WEIGHTS``). Title words count
double because titles are short summaries of the problem.

Pure: no I/O, no clock, no randomness.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Mapping

from services.common.text import words

__all__ = [
    "CHARGRAM",
    "GROUP_WEIGHTS",
    "STOP_WORDS",
    "SYNONYMS",
    "features",
    "similarity",
]

# Share of the cosine carried by each feature group; the squares of the scale factors
# below sum to 1 so that a full vector has unit length.
GROUP_WEIGHTS: Mapping[str, float] = {"w": 0.40, "b": 0.35, "c": 0.25}

TITLE_WEIGHT = 2

CHAR_NGRAM = 3

# Folded. Function words, pronouns, chat shorthand ("ko", "tui", "giùm") and the
# boilerplate of petitions ("kính gửi UBND xã, đề nghị xem xét giải quyết"): they occur
# in petitions about anything and would make unrelated petitions of one bucket look
# alike. Words that fold onto a content word stay in when the content reading matters
# (den: đến/đèn/đen, so: số/sổ, hoi: hỏi/hôi, gia: gia/giá) unless the function reading
# dominates (da: đã/đá, de: đề/để/đê, xa: xã/xả); bigrams keep the content reading
# alive ("mo_da", "xa_thai").
STOP_WORDS: frozenset[str] = frozenset(
    """
    a ah ai anh ay ba bao bay be bi bo cac can canh cap chi cho chua chuc chung co con
    cu cua cung cuoc da dang de deu di dieu do du dum duoc em gan gi giai gium giup gui
    ha hai hay hien hon k khac khi khong kiem kien kinh ko la lai lam len luc ly ma mai
    minh moi mong mot muon nao nay nen neu ngay nghi nguoi nhan nhe nhieu nhu nhung noi
    nua o oi ong phai phan phuong qua quyet ra rang rat roi sao sau se som ta tai the
    thi thoi thuoc tinh toi tren trong tu tui tung ubnd uy va van vao vay ve vi viec voi
    vua xa xem xet xin xu
    """.split()
)

# Folded phrase -> canonical folded phrase. Only abbreviations that petitioners use
# interchangeably with the full form, and synonyms with a single reading once folded:
# "heo" is mapped only inside phrases because it also folds from "héo" (wilted), and
# "úng" not at all because it also folds from "ứng" (ứng xử, tạm ứng).
SYNONYMS: Mapping[str, str] = {
    "cty": "cong ty",
    "bhxh": "bao hiem xa hoi",
    "bhyt": "bao hiem y te",
    "bhtn": "bao hiem that nghiep",
    "kcn": "khu cong nghiep",
    "ccn": "cum cong nghiep",
    "gpmb": "giai phong mat bang",
    "tdc": "tai dinh cu",
    "xkld": "xuat khau lao dong",
    "tdp": "to dan pho",
    "cccd": "can cuoc",
    "cmnd": "can cuoc",
    "gcn": "so do",
    "giay chung nhan quyen su dung dat": "so do",
    "so hong": "so do",
    "trai heo": "trai lon",
    "nuoi heo": "nuoi lon",
    "phan heo": "phan lon",
    "chuong heo": "chuong lon",
    "den bu": "boi thuong",
    "cup dien": "mat dien",
}
_SYNONYM_TABLE: dict[tuple[str, ...], list[str]] = {
    tuple(src.split()): dst.split() for src, dst in SYNONYMS.items()
}
_LONGEST_SYNONYM = max(len(src) for src in _SYNONYM_TABLE)
_SYNONYM_STARTS = frozenset(src[0] for src in _SYNONYM_TABLE)
# "ĐT477", "QL1A", "km12": the number is what other petitions repeat, with or without
# the prefix, so letters and digits become separate words.
_ALNUM_RUN = re.compile(r"[a-z]+|[0-9]+")
# Road prefixes, expanded only before a number: alone "dt" is as often điện thoại.
_ROAD_PREFIXES = {"dt": ["duong", "tinh"], "dh": ["duong", "huyen"], "ql": ["quoc", "lo"]}

_GROUP_SCALE = {group: math.sqrt(weight) for group, weight in GROUP_WEIGHTS.items()}
# Prefix of the character 3-gram features; every other feature is a word or bigram,
# which the clusterer indexes and weights by IDF.
CHARGRAM = "c:"


def _tokens(text: str) -> list[str]:
    split = [part for word in words(text) for part in _ALNUM_RUN.findall(word)]
    out: list[str] = []
    i = 0
    n = len(split)
    while i < n:
        word = split[i]
        if word in _SYNONYM_STARTS:
            for size in range(min(_LONGEST_SYNONYM, n - i), 0, -1):
                replacement = _SYNONYM_TABLE.get(tuple(split[i : i + size]))
                if replacement is not None:
                    out.extend(replacement)
                    i += size
                    break
            else:
                out.append(word)
                i += 1
            continue
        road = _ROAD_PREFIXES.get(word)
        if road is not None and i + 1 < n and split[i + 1].isdigit():
            out.extend(road)
        else:
            out.append(word)
        i += 1
    return out


def _count(text: str, weight: int, unigrams: Counter[str], bigrams: Counter[str],
           chargrams: Counter[str]) -> None:
    # Bigrams are taken over the full word sequence and kept when at least one side is a
    # content word: dropping stop words first would glue unrelated words together,
    # and "mo da" (stone quarry) must survive although "da" alone is a stop word.
    seq = _tokens(text)
    for i, word in enumerate(seq):
        content = word not in STOP_WORDS
        if content:
            unigrams[word] += weight
            padded = f"#{word}#"
            for j in range(len(padded) - CHAR_NGRAM + 1):
                chargrams[padded[j : j + CHAR_NGRAM]] += weight
        if i + 1 < len(seq):
            nxt = seq[i + 1]
            if content or nxt not in STOP_WORDS:
                bigrams[f"{word}_{nxt}"] += weight


def _scaled_unit(counts: Counter[str], prefix: str, out: dict[str, float]) -> None:
    if not counts:
        return
    # Sublinear term frequency: repeating a word ten times is not ten times the evidence.
    weights = {key: 1.0 + math.log(n) for key, n in counts.items()}
    norm = math.sqrt(sum(v * v for v in weights.values()))
    scale = _GROUP_SCALE[prefix] / norm
    for key, value in weights.items():
        out[f"{prefix}:{key}"] = value * scale


def _normalise(vector: dict[str, float]) -> dict[str, float]:
    norm = math.sqrt(sum(v * v for v in vector.values()))
    if norm == 0.0:
        return {}
    return {k: v / norm for k, v in vector.items()}


def features(title: str, content: str) -> dict[str, float]:
    """Return the unit-length sparse feature vector of a petition.

    Keys are ``"w:<word>"``, ``"b:<word>_<word>"`` and ``"c:<3-gram>"`` over folded
    text. An empty petition (only stop words) gives an empty vector.
    """
    unigrams: Counter[str] = Counter()
    bigrams: Counter[str] = Counter()
    chargrams: Counter[str] = Counter()
    _count(title, TITLE_WEIGHT, unigrams, bigrams, chargrams)
    _count(content, 1, unigrams, bigrams, chargrams)
    vector: dict[str, float] = {}
    _scaled_unit(unigrams, "w", vector)
    _scaled_unit(bigrams, "b", vector)
    _scaled_unit(chargrams, "c", vector)
    # A group can be empty (one-word title, no bigram); renormalise so the result is
    # still a unit vector and cosines stay comparable.
    return _normalise(vector)


def _dot(a: Mapping[str, float], b: Mapping[str, float]) -> float:
    if len(a) > len(b):
        a, b = b, a
    return sum(value * b.get(key, 0.0) for key, value in a.items())


def _norm(vector: Mapping[str, float]) -> float:
    return math.sqrt(sum(v * v for v in vector.values()))


def similarity(a: Mapping[str, float], b: Mapping[str, float]) -> float:
    """Plain cosine of two sparse vectors (0.0 when either is empty).

    :meth:`Clusterer.assign` scores with IDF weighting on top, so its scores are lower
    than this for petitions that share only common words.
    """
    na, nb = _norm(a), _norm(b)
    if na == 0.0 or nb == 0.0:
        return 0.0
    return _dot(a, b) / (na * nb)
