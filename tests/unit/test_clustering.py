"""Unit tests for services.intake.clustering."""

from __future__ import annotations

import json
import math
from collections import defaultdict
from pathlib import Path

import pytest
from bson import Binary

from services.common.text import strip_diacritics
from services.intake.clustering import (
    DEFAULT_THRESHOLD,
    MAX_CENTROID_FEATURES,
    Centroid,
    Clusterer,
    features,
    similarity,
)

WARD = "14464"
DATASET = Path(__file__).resolve().parent.parent / "data" / "petitions.jsonl"

PIG_FARM = [
    ("Trang trại lợn gây ô nhiễm",
     "Trang trại chăn nuôi lợn ở thôn Hoàng Các xả nước thải ra mương, mùi hôi thối nồng nặc."),
    ("Mùi hôi từ trại lợn",
     "Nhà tôi cách trại lợn Hoàng Các 100 m, ngày nào cũng ngửi mùi phân lợn, ruồi nhặng."),
    ("Nước thải trại lợn chảy vào ruộng",
     "Nước thải trang trại lợn Hoàng Các tràn vào ruộng, lúa chết vàng."),
]
BRICK_KILN = (
    "Lò gạch thủ công gây khói bụi",
    "Lò gạch ở thôn Đồng Chưa đốt than cả đêm, khói đen bay vào nhà dân, lúa bị lép.",
)
FLOOD_TRAN_HUNG_DAO = [
    ("Đường Trần Hưng Đạo ngập sâu mỗi khi mưa lớn",
     "Đoạn đường Trần Hưng Đạo trước chợ Me ngập sâu 40 cm, cống thoát nước bị tắc."),
    ("Ngập đường Trần Hưng Đạo gần chợ Me",
     "Mưa to, khu vực chợ Me trên đường Trần Hưng Đạo lại ngập, học sinh phải lội nước."),
]
FLOOD_DT477 = (
    "Đường 477 ngập qua thôn Đồng Chưa",
    "Đoạn đường tỉnh 477 qua cánh đồng thôn Đồng Chưa thấp trũng, nước từ ruộng tràn lên "
    "mặt đường, xe máy chết máy.",
)


def vec(pair: tuple[str, str]) -> dict[str, float]:
    return features(*pair)


def issue(vectors: list[dict[str, float]]) -> Centroid:
    centroid = Centroid()
    for v in vectors:
        centroid.add(v)
    return centroid


def add_background(clusterer: Clusterer) -> None:
    """Load the dataset's issues of other wards, as a running service holds many issues.

    Document frequencies come from the open issues; with only two or three of them the
    clusterer cannot tell words every flood shares ("ngap", "mua") from a street name.
    """
    groups: dict[tuple[str, str, str], list[dict[str, float]]] = defaultdict(list)
    with DATASET.open(encoding="utf-8") as fh:
        for line in fh:
            p = json.loads(line)
            if p["ward_code"] != WARD:
                groups[(p["issue"], p["ward_code"], p["category"])].append(
                    features(p["title"], p["content"])
                )
    for (issue_id, ward_code, category), vectors in groups.items():
        clusterer.add_issue(issue_id, ward_code, category, issue(vectors))


def clusterer_with(*issues: tuple[str, str, list[tuple[str, str]]],
                   background: bool = False) -> Clusterer:
    clusterer = Clusterer()
    if background:
        add_background(clusterer)
    for issue_id, category, petitions in issues:
        clusterer.add_issue(issue_id, WARD, category, issue([vec(p) for p in petitions]))
    return clusterer


# --- features / similarity ------------------------------------------------------------


def test_features_are_unit_length_and_sparse() -> None:
    v = vec(PIG_FARM[0])
    assert math.isclose(math.sqrt(sum(x * x for x in v.values())), 1.0)
    assert {k.split(":", 1)[0] for k in v} == {"w", "b", "c"}
    assert "w:lon" in v and "b:trai_lon" in v


def test_stop_words_only_gives_empty_vector() -> None:
    assert features("Kính gửi", "đề nghị xem xét") == {}
    assert similarity({}, vec(PIG_FARM[0])) == 0.0


def test_unaccented_copy_scores_like_the_original() -> None:
    title, content = FLOOD_TRAN_HUNG_DAO[0]
    accented = features(title, content)
    plain = features(strip_diacritics(title).lower(), strip_diacritics(content).lower())
    assert similarity(accented, plain) > 0.999


def test_unaccented_petition_joins_the_accented_issue() -> None:
    clusterer = clusterer_with(("flood", "infrastructure", FLOOD_TRAN_HUNG_DAO),
                               background=True)
    issue_id, score = clusterer.assign(
        WARD, "infrastructure",
        features("duong tran hung dao bi ngap", "doan cho me cu mua la ngap, cong bi tac"),
    )
    assert issue_id == "flood"
    assert score >= DEFAULT_THRESHOLD


def test_typos_still_match() -> None:
    original = vec(PIG_FARM[0])
    typo = features(
        "Trang trai lonj gay o nhiem",
        "Trang trại chăn nuôii lợn ở thôn Hoàng Cá xả nươc thải ra muơng, mui hôi thôí.",
    )
    assert similarity(original, typo) > 0.5
    clusterer = clusterer_with(("pigs", "environment", PIG_FARM), background=True)
    assert clusterer.assign(WARD, "environment", typo)[0] == "pigs"


def test_synonyms_and_abbreviations_are_normalised() -> None:
    assert similarity(features("Trại heo xả thải", ""), features("Trại lợn xả thải", "")) > 0.9
    short = features("Công ty nợ BHXH", "")
    full = features("Công ty nợ bảo hiểm xã hội", "")
    assert similarity(short, full) > 0.9


def test_different_problems_score_below_the_threshold() -> None:
    clusterer = clusterer_with(
        ("pigs", "environment", PIG_FARM),
        ("flood-thd", "infrastructure", FLOOD_TRAN_HUNG_DAO),
        background=True,
    )
    issue_id, score = clusterer.assign(WARD, "environment", vec(BRICK_KILN))
    assert issue_id is None
    assert score < DEFAULT_THRESHOLD
    # Same commune, same category, same kind of problem, different road.
    issue_id, score = clusterer.assign(WARD, "infrastructure", vec(FLOOD_DT477))
    assert issue_id is None
    assert score < DEFAULT_THRESHOLD


def test_assign_stays_inside_ward_and_category() -> None:
    clusterer = clusterer_with(("pigs", "environment", PIG_FARM))
    v = vec(PIG_FARM[1])
    assert clusterer.assign(WARD, "environment", v)[0] == "pigs"
    assert clusterer.assign("14428", "environment", v) == (None, 0.0)
    assert clusterer.assign(WARD, "land", v) == (None, 0.0)


def test_assign_picks_the_most_similar_issue() -> None:
    clusterer = clusterer_with(
        ("pigs", "environment", PIG_FARM),
        ("kiln", "environment", [BRICK_KILN]),
    )
    kiln_again = features("Khói lò gạch Đồng Chưa", "Lò gạch đốt than, khói đen mù mịt.")
    assert clusterer.assign(WARD, "environment", kiln_again)[0] == "kiln"
    pigs_again = features("Trại lợn bốc mùi", "Mùi phân lợn từ trại Hoàng Các không chịu nổi.")
    assert clusterer.assign(WARD, "environment", pigs_again)[0] == "pigs"


def test_empty_vector_or_unknown_bucket_assigns_nothing() -> None:
    clusterer = clusterer_with(("pigs", "environment", PIG_FARM))
    assert clusterer.assign(WARD, "environment", {}) == (None, 0.0)
    assert Clusterer().assign(WARD, "environment", vec(PIG_FARM[0])) == (None, 0.0)


# --- Centroid ---------------------------------------------------------------------------


def test_centroid_to_doc_round_trips() -> None:
    centroid = issue([vec(p) for p in PIG_FARM])
    centroid.vector["w:odd.key"] = 0.5
    centroid.vector["$dollar"] = 0.25
    centroid.vector["w:100%.$"] = 0.125
    doc = centroid.to_doc()
    restored = Centroid.from_doc(doc)
    assert restored.count == centroid.count == 3
    assert restored.vector.keys() == centroid.vector.keys()
    for key, value in centroid.vector.items():
        assert restored.vector[key] == pytest.approx(value, abs=1e-6)


def test_centroid_doc_is_one_packed_value() -> None:
    centroid = issue([vec(p) for p in PIG_FARM])
    centroid.vector["w:a.b"] = 1.0
    centroid.vector["$where"] = 1.0
    doc = centroid.to_doc()
    # one binary value, not a field per feature: FerretDB re-encodes every field on update
    assert set(doc) == {"count", "packed"} and isinstance(doc["packed"], Binary)
    assert len(doc["packed"]) < len(json.dumps(centroid.vector))  # compressed


def test_centroid_reads_the_earlier_map_form() -> None:
    earlier = {"count": 2, "vector": {"w:ngap": 1.5, "w:a%2Eb": 0.5, "%24where": 0.25,
                                      "w:100%25": 0.125}}
    restored = Centroid.from_doc(earlier)
    assert restored.count == 2
    assert restored.vector == {"w:ngap": 1.5, "w:a.b": 0.5, "$where": 0.25, "w:100%": 0.125}


def test_centroid_merge_combines_counts_and_vectors() -> None:
    a = issue([vec(PIG_FARM[0]), vec(PIG_FARM[1])])
    b = issue([vec(PIG_FARM[2])])
    b_vector = dict(b.vector)
    a_before = dict(a.vector)
    a.merge(b)
    assert a.count == 3
    for key in b_vector.keys() & a_before.keys():
        assert a.vector[key] == pytest.approx(a_before[key] + b_vector[key])


def test_centroid_is_capped() -> None:
    centroid = Centroid()
    for i in range(60):
        centroid.add(features(f"Phản ánh số {i}", f"nội dung khác nhau thứ {i} về chủ đề {i * 7}"))
    assert centroid.count == 60
    assert len(centroid.vector) <= MAX_CENTROID_FEATURES


# --- Clusterer lifecycle ----------------------------------------------------------------


def test_observe_updates_the_centroid() -> None:
    clusterer = clusterer_with(("pigs", "environment", PIG_FARM[:1]))
    clusterer.observe("pigs", vec(PIG_FARM[1]))
    assert clusterer.centroid("pigs").count == 2
    assert "b:phan_lon" in clusterer.centroid("pigs").vector


def test_remove_issue_forgets_it() -> None:
    clusterer = clusterer_with(("pigs", "environment", PIG_FARM))
    clusterer.remove_issue("pigs")
    clusterer.remove_issue("pigs")  # idempotent
    assert "pigs" not in clusterer
    assert len(clusterer) == 0
    assert clusterer.assign(WARD, "environment", vec(PIG_FARM[0])) == (None, 0.0)


def test_merge_issues() -> None:
    clusterer = clusterer_with(
        ("pigs-1", "environment", PIG_FARM[:2]),
        ("pigs-2", "environment", PIG_FARM[2:]),
    )
    clusterer.merge("pigs-1", "pigs-2")
    assert "pigs-2" not in clusterer
    assert clusterer.centroid("pigs-1").count == 3
    assert clusterer.assign(WARD, "environment", vec(PIG_FARM[2]))[0] == "pigs-1"


def test_add_issue_replaces_existing_id() -> None:
    clusterer = clusterer_with(("x", "environment", PIG_FARM))
    clusterer.add_issue("x", WARD, "environment", issue([vec(BRICK_KILN)]))
    assert len(clusterer) == 1
    assert clusterer.assign(WARD, "environment", vec(PIG_FARM[0]))[0] is None
    assert clusterer.assign(WARD, "environment", vec(BRICK_KILN))[0] == "x"


def test_reloading_from_docs_gives_the_same_answer() -> None:
    live = clusterer_with(
        ("pigs", "environment", PIG_FARM),
        ("kiln", "environment", [BRICK_KILN]),
    )
    reloaded = Clusterer()
    for issue_id in ("pigs", "kiln"):
        doc = live.centroid(issue_id).to_doc()
        reloaded.add_issue(issue_id, WARD, "environment", Centroid.from_doc(doc))
    query = features("Trại lợn Hoàng Các", "mùi hôi thối từ trại lợn")
    got, score = reloaded.assign(WARD, "environment", query)
    want, want_score = live.assign(WARD, "environment", query)
    assert got == want == "pigs"
    assert score == pytest.approx(want_score, abs=1e-4)
