"""HNSW with an exact re-rank stage: graph candidates from the reduced space, exact cosine over the original vectors."""

from __future__ import annotations

import numpy as np
import pytest
from test_optimised import tie_aware_recall

from recsys.artifacts import load_model, save_model
from recsys.features import build_artist_space
from recsys.models import ExactCosine, HNSWIndex


@pytest.fixture(scope="module")
def space(small_demo):
    return build_artist_space(small_demo[1])


def test_rerank_raises_recall_against_full_space_exact_search(space):
    X = space.X
    exact = ExactCosine().fit(X)
    q = np.random.default_rng(0).choice(X.shape[0], 300, replace=False)
    plain = HNSWIndex(n_components=16, rerank=0).fit(X)
    reranked = HNSWIndex(n_components=16, rerank=200).fit(X)
    r_plain = tie_aware_recall(exact, q, plain.similar_items(q, 10)[0])
    r_rerank = tie_aware_recall(exact, q, reranked.similar_items(q, 10)[0])
    assert r_rerank > r_plain + 0.1 and r_rerank >= 0.8
    # scores of the re-ranked model are exact cosines
    ids, scores = reranked.similar_items(int(q[0]), 5)
    _, ex_scores = exact.similar_items(int(q[0]), 200)
    assert set(np.round(scores[ids >= 0], 5)) <= set(np.round(ex_scores, 5))


def test_rerank_keeps_the_contract_and_round_trips(space, tmp_path):
    m = HNSWIndex(n_components=16, rerank=50).fit(space.X)
    q = np.arange(0, 200, 7)
    ids, scores = m.similar_items(q, 10)
    for k, r in enumerate(q[:5]):
        one = m.similar_items(int(r), 10)
        np.testing.assert_array_equal(one[0], ids[k])
    assert (scores[:, :-1] >= scores[:, 1:] - 1e-6).all() and not (ids == q[:, None]).any()
    save_model(m, tmp_path / "m")
    loaded, _ = load_model(tmp_path / "m")
    np.testing.assert_array_equal(loaded.similar_items(q, 10)[0], ids)


def test_rerank_validated():
    with pytest.raises(ValueError, match="rerank must be >= 0"):
        HNSWIndex(rerank=-1).fit(np.eye(5, dtype=np.float32))


def test_rerank_candidates_come_from_the_graph(space, monkeypatch):
    # A large candidate pool must still be answered by the graph (hnswlib needs ef >= k), not the exact fallback.
    m = HNSWIndex(n_components=16, rerank=500).fit(space.X)

    def fail(*args, **kwargs):
        raise AssertionError("the exact scan ran where the graph should have answered")

    monkeypatch.setattr(HNSWIndex, "_exact_topk", fail)
    ids, _ = m.similar_items(np.arange(20), 10)
    assert (ids >= 0).all()
