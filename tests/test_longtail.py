"""The long-tail layer: every re-ranker on small pools whose right answer is worked out by hand in the comments."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.sparse as sp

from recsys.longtail import (
    blend_seeds,
    head_threshold,
    hidden_gems,
    mmr,
    popularity_band,
    popularity_penalty,
    xquad,
)

# A catalogue of 10 items; pool = the 7 best neighbours of some query, scores descending as a model returns them.
POP = np.array([100, 90, 80, 70, 1, 1, 0, 0, 0, 50], dtype=np.float64)
POOL_IDS = np.array([0, 1, 2, 3, 4, 5, 6])
POOL_SC = np.array([1.0, 0.95, 0.9, 0.85, 0.8, 0.75, 0.7], dtype=np.float32)


def padded_batch():
    """Two queries, the second with a short (padded) pool, as a model returns a 2-D batch."""
    ids = np.array([[0, 1, 2, 3, 4, 5, 6], [9, 4, 6, -1, -1, -1, -1]])
    sc = np.array([[1.0, 0.95, 0.9, 0.85, 0.8, 0.75, 0.7], [0.9, 0.6, 0.5] + [-np.inf] * 4], dtype=np.float32)
    return ids, sc


def assert_well_formed(ids, scores):
    """Padding only at the end of every row, real scores finite and descending, padding scores -inf."""
    ids2, sc2 = np.atleast_2d(ids), np.atleast_2d(scores)
    for row_ids, row_sc in zip(ids2, sc2):
        real = row_ids != -1
        n_real = int(real.sum())
        assert real[:n_real].all() and not real[n_real:].any(), f"padding ahead of a real item: {row_ids}"
        assert np.isfinite(row_sc[:n_real]).all()
        assert np.all(np.diff(row_sc[:n_real]) <= 1e-12), f"scores not descending: {row_sc}"
        assert np.isneginf(row_sc[n_real:]).all()
        assert len(set(row_ids[real].tolist())) == n_real


# -- head_threshold ---------------------------------------------------------------------------------------------


def test_head_threshold_by_hand():
    # 10 items, top 20% = 2 items: the 2nd largest value is 90 and exactly 2 items have pop >= 90.
    assert head_threshold(POP, 0.2) == 90
    # head_share 0.4 -> 4 items: 4th largest is 70, pop >= 70 holds {100, 90, 80, 70}.
    assert head_threshold(POP, 0.4) == 70


def test_head_threshold_ties_do_not_swallow_the_catalogue():
    # 85 items at 0, 15 at 1..15. Top 20% = 20 items; the 20th largest is 0, but "pop >= 0" would be all 100
    # items (80 too many) while "pop >= 1" is 15 items (5 too few): the closer one, 1, wins.
    pop = np.r_[np.zeros(85), np.arange(1, 16)]
    assert head_threshold(pop) == 1
    # 30 items at 100, 70 at 0: "pop >= 100" is 30 items (10 too many), the alternative is an empty head
    # (20 too few): 100 wins.
    assert head_threshold(np.r_[np.full(30, 100.0), np.zeros(70)]) == 100
    # everything tied: no value separates a head
    assert head_threshold(np.full(10, 5.0)) == math.inf
    assert head_threshold(POP, 0.0) == math.inf


# -- popularity_penalty -----------------------------------------------------------------------------------------


def test_dial_zero_keeps_model_order():
    ids, sc = popularity_penalty(POOL_IDS, POOL_SC, POP, dial=0.0)
    np.testing.assert_array_equal(ids, POOL_IDS)
    np.testing.assert_allclose(sc, POOL_SC / 1.0, rtol=1e-6)  # score / best, best = 1
    bids, bsc = padded_batch()
    out_ids, _ = popularity_penalty(bids, bsc, POP, dial=0.0)
    np.testing.assert_array_equal(out_ids, bids)


def test_dial_one_promotes_a_slightly_weaker_unpopular_item():
    # pool: item 0 (score 1.0, pop 100), item 6 (score 0.95, pop 0), item 9 (score 0.5, pop 50); pop_max = 100.
    # new = score/1.0 - 1 * log1p(pop)/log1p(100):
    #   item 0: 1.0  - 1                          = 0.0
    #   item 6: 0.95 - 0                          = 0.95
    #   item 9: 0.5  - log1p(50)/log1p(100) = 0.5 - 3.9318/4.6151 = -0.3520
    ids, sc = popularity_penalty(np.array([0, 6, 9]), np.array([1.0, 0.95, 0.5]), POP, dial=1.0)
    np.testing.assert_array_equal(ids, [6, 0, 9])
    np.testing.assert_allclose(sc, [0.95, 0.0, 0.5 - math.log1p(50) / math.log1p(100)], atol=1e-9)
    # dial 0.5: item 0 -> 0.5, item 6 -> 0.95, item 9 -> 0.5 - 0.426 = 0.074
    ids, sc = popularity_penalty(np.array([0, 6, 9]), np.array([1.0, 0.95, 0.5]), POP, dial=0.5, n=2)
    np.testing.assert_array_equal(ids, [6, 0])
    np.testing.assert_allclose(sc, [0.95, 0.5])


def test_penalty_is_scale_free_and_strength_scales_it():
    # Scores x10 and popularity on a followers-like scale (x1000 with log1p) keep the same order.
    ids_a, _ = popularity_penalty(POOL_IDS, POOL_SC, POP, dial=0.7)
    ids_b, _ = popularity_penalty(POOL_IDS, POOL_SC * 10, POP, dial=0.7)
    np.testing.assert_array_equal(ids_a, ids_b)
    # strength 0 is the model order at any dial
    ids_c, _ = popularity_penalty(POOL_IDS, POOL_SC, POP, dial=1.0, strength=0.0)
    np.testing.assert_array_equal(ids_c, POOL_IDS)


def test_penalty_batch_keeps_padding_last_and_pads_to_n():
    bids, bsc = padded_batch()
    ids, sc = popularity_penalty(bids, bsc, POP, dial=1.0, n=9)
    assert ids.shape == (2, 9) and sc.shape == (2, 9)
    assert_well_formed(ids, sc)
    # row 2: item 9 0.9/0.9 - log1p(50)/log1p(100) = 1 - 0.852 = 0.148; item 4 0.6/0.9 - log1p(1)/log1p(100)
    # = 0.667 - 0.150 = 0.517; item 6 0.5/0.9 - 0 = 0.556  -> 6, 4, 9
    np.testing.assert_array_equal(ids[1, :4], [6, 4, 9, -1])


# -- popularity_band --------------------------------------------------------------------------------------------


def test_band_keeps_only_in_band_items_and_repads():
    # pops of the pool: 100, 90, 80, 70, 1, 1, 0. Band [1, 80] (inclusive at both ends) keeps items 2 (80),
    # 3 (70), 4 (1), 5 (1); drops 0 (100), 1 (90) and 6 (0).
    ids, sc = popularity_band(POOL_IDS, POOL_SC, POP, min_pop=1, max_pop=80)
    np.testing.assert_array_equal(ids, [2, 3, 4, 5, -1, -1, -1])
    np.testing.assert_array_equal(sc[:4], POOL_SC[[2, 3, 4, 5]])
    assert sc.dtype == np.float32 and np.isneginf(sc[4:]).all()
    ids, _ = popularity_band(POOL_IDS, POOL_SC, POP, max_pop=0, n=2)  # deep cuts only
    np.testing.assert_array_equal(ids, [6, -1])
    bids, bsc = padded_batch()
    ids, sc = popularity_band(bids, bsc, POP, min_pop=1)
    assert_well_formed(ids, sc)
    np.testing.assert_array_equal(ids[1], [9, 4, -1, -1, -1, -1, -1])


# -- xQuAD ------------------------------------------------------------------------------------------------------


def tail_share(ids, pop, threshold):
    real = ids[ids != -1]
    return float(np.mean(pop[real] < threshold))


def test_xquad_lam_zero_is_relevance_order():
    ids, sc = xquad(POOL_IDS, POOL_SC, POP, lam=0.0, head_share=0.4, n=4)
    np.testing.assert_array_equal(ids, [0, 1, 2, 3])
    assert_well_formed(ids, sc)


def test_xquad_binary_by_hand_raises_tail_share():
    # head_share 0.4 -> head = pop >= 70 = items {0,1,2,3}; pool tail = {4,5,6}. P(head|q)=4/7, P(tail|q)=3/7.
    # rel = (s - 0.7)/0.3 = [1, .833, .667, .5, .333, .167, 0]. lam = 0.5:
    #  step 1: head item 0: .5*1 + .5*4/7 = .786 (best)                          -> 0
    #  step 2: head covered; item 1: .5*.833 = .417; item 4: .5*.333 + .5*3/7 = .381   -> 1
    #  step 3: item 2: .333; item 4: .381                                             -> 4
    #  step 4: both groups covered, relevance only: item 2 .333                        -> 2
    ids, sc = xquad(POOL_IDS, POOL_SC, POP, lam=0.5, head_share=0.4, n=4)
    np.testing.assert_array_equal(ids, [0, 1, 4, 2])
    np.testing.assert_allclose(sc, [0.5 + 2 / 7, 0.5 * 5 / 6, 0.5 / 3 + 1.5 / 7, 1 / 3], atol=1e-6)
    t = head_threshold(POP, 0.4)
    base, _ = xquad(POOL_IDS, POOL_SC, POP, lam=0.0, head_share=0.4, n=4)
    assert tail_share(ids, POP, t) > tail_share(base, POP, t) == 0.0
    # the smooth variant keeps pulling towards the pool's 3/7 tail share: at least as many tail items
    smooth, ssc = xquad(POOL_IDS, POOL_SC, POP, lam=0.5, head_share=0.4, n=4, variant="smooth")
    assert tail_share(smooth, POP, t) >= tail_share(ids, POP, t)
    assert_well_formed(smooth, ssc)


def test_xquad_batch_padding():
    bids, bsc = padded_batch()
    ids, sc = xquad(bids, bsc, POP, lam=0.8, n=5)
    assert ids.shape == (2, 5)
    assert_well_formed(ids, sc)
    assert set(ids[1][ids[1] != -1].tolist()) == {9, 4, 6}


# -- MMR --------------------------------------------------------------------------------------------------------


def mmr_vectors():
    v = np.zeros((10, 3))
    v[0] = [1, 0, 0]
    v[1] = [0.99, 0.01, 0]  # a near-duplicate of item 0
    v[2] = [0, 1, 0]
    v[3] = [0, 0, 1]
    return v


def test_mmr_lam_one_is_relevance_order():
    ids, sc = mmr(np.array([0, 1, 2, 3]), np.array([1.0, 0.9, 0.8, 0.5]), mmr_vectors(), lam=1.0, n=4)
    np.testing.assert_array_equal(ids, [0, 1, 2, 3])
    np.testing.assert_allclose(sc, [1.0, 0.8, 0.6, 0.0])  # min-max relevance


@pytest.mark.parametrize("as_sparse", [False, True])
def test_mmr_demotes_a_near_duplicate(as_sparse):
    # rel = [1, .8, .6, 0]; cos(0,1) = .99/sqrt(.99^2+.01^2) = .99995, other pairs 0 (or .0101 for 1-2). lam .5:
    #  step 1: item 0 (.5)
    #  step 2: item 1: .4 - .5*.99995 = -.1; item 2: .3 - 0 = .3; item 3: 0           -> 2
    #  step 3: item 1: .4 - .5*.99995 = -.1; item 3: 0                                -> 3
    #  step 4: item 1                                                                  -> 1
    vec = mmr_vectors()
    vec = sp.csr_matrix(vec) if as_sparse else vec
    ids, sc = mmr(np.array([0, 1, 2, 3]), np.array([1.0, 0.9, 0.8, 0.5]), vec, lam=0.5, n=4)
    np.testing.assert_array_equal(ids, [0, 2, 3, 1])
    cos01 = 0.99 / math.hypot(0.99, 0.01)
    np.testing.assert_allclose(sc, [0.5, 0.3, 0.0, 0.4 - 0.5 * cos01], atol=1e-9)


def test_mmr_batch_padding_and_zero_vectors():
    bids, bsc = padded_batch()  # items 4..9 have zero vectors: cosine 0, never an error
    ids, sc = mmr(bids, bsc, mmr_vectors(), lam=0.5, n=8)
    assert ids.shape == (2, 8)
    assert_well_formed(ids, sc)
    assert (ids[1, 3:] == -1).all()


# -- hidden gems ------------------------------------------------------------------------------------------------


def test_hidden_gems_respects_both_thresholds():
    pop = np.array([50, 30, 31, 0, 0, 10], dtype=float)
    ids = np.array([0, 1, 2, 3, 4, 5])
    sc = np.array([1.0, 0.9, 0.6, 0.55, 0.4, 0.3])
    # seed pop 60 -> pop <= 0.5*60 = 30; best 1.0 -> score >= 0.5.
    # item 0 pop 50 (too popular), 1 pop 30 (keep, bound inclusive), 2 pop 31 (too popular), 3 pop 0 score .55
    # (keep), 4 score .4 (too weak), 5 score .3 (too weak).
    out, osc = hidden_gems(ids, sc, pop, 60)
    np.testing.assert_array_equal(out, [1, 3, -1, -1, -1, -1])
    np.testing.assert_array_equal(osc[:2], [0.9, 0.55])
    # a popularity-0 seed: only pop-0 items (still strong enough): item 3 only
    out, _ = hidden_gems(ids, sc, pop, 0, n=3)
    np.testing.assert_array_equal(out, [3, -1, -1])
    # per-query seed popularity in a batch
    out, osc = hidden_gems(np.stack([ids, ids]), np.stack([sc, sc]), pop, np.array([60.0, 0.0]), n=2)
    np.testing.assert_array_equal(out, [[1, 3], [3, -1]])
    assert_well_formed(out, osc)


# -- blend_seeds ------------------------------------------------------------------------------------------------


def test_blend_seeds_by_hand():
    a = (np.array([1, 2, 3]), np.array([0.9, 0.5, 0.2]))
    b = (np.array([2, 4, 0, -1]), np.array([0.8, 0.6, 0.1, -np.inf]))
    # weights 1 and 2, exclude 0:
    #   item 1: .9*1 + 0      = .9
    #   item 2: .5*1 + .8*2   = 2.1
    #   item 3: .2*1 + 0      = .2
    #   item 4: 0 + .6*2      = 1.2
    ids, sc = blend_seeds([a, b], [1.0, 2.0], exclude=[0], n=6)
    np.testing.assert_array_equal(ids, [2, 4, 1, 3, -1, -1])
    np.testing.assert_allclose(sc[:4], [2.1, 1.2, 0.9, 0.2])
    assert np.isneginf(sc[4:]).all()
    # equal weights: item 2 = 1.3, item 1 = .9, item 4 = .6, item 3 = .2, item 0 = .1 (not excluded now)
    ids, sc = blend_seeds([a, b], None, n=3)
    np.testing.assert_array_equal(ids, [2, 1, 4])


# -- padding and errors ---------------------------------------------------------------------------------------


def test_padding_never_moves_ahead_of_real_items():
    rng = np.random.default_rng(0)
    pop = rng.integers(0, 101, size=50).astype(float)
    vec = rng.random((50, 8))
    q, m = 6, 12
    ids = np.stack([rng.choice(50, size=m, replace=False) for _ in range(q)])
    sc = -np.sort(-rng.random((q, m)), axis=1)
    for r, cut in enumerate([12, 9, 5, 1, 0, 7]):  # rows padded after `cut` real items
        ids[r, cut:] = -1
        sc[r, cut:] = -np.inf
    outs = [
        popularity_penalty(ids, sc, pop, dial=0.8, n=10),
        popularity_band(ids, sc, pop, min_pop=20, max_pop=80),
        xquad(ids, sc, pop, lam=0.6, n=10),
        xquad(ids, sc, pop, lam=0.6, n=10, variant="smooth"),
        mmr(ids, sc, vec, lam=0.3, n=10),
        mmr(ids, sc, sp.csr_matrix(vec), lam=0.3, n=10),
        hidden_gems(ids, sc, pop, pop[0], max_pop_ratio=2.0),
    ]
    for out_ids, out_sc in outs:
        assert out_ids.shape[0] == q
        assert_well_formed(out_ids, out_sc)
        for r in range(q):  # only items of the row's own pool come back
            assert set(out_ids[r][out_ids[r] != -1].tolist()) <= set(ids[r][ids[r] != -1].tolist())
    assert (outs[0][0][4] == -1).all()  # an empty pool stays empty
    # a 1-D pool gives 1-D results
    one_ids, one_sc = popularity_penalty(ids[1], sc[1], pop, dial=0.5)
    assert one_ids.ndim == 1 and one_sc.ndim == 1


@pytest.mark.parametrize("call, exc, words", [
    (lambda: popularity_penalty(POOL_IDS, POOL_SC, POP, dial=1.5), ValueError, ["dial", "[0, 1]", "1.5"]),
    (lambda: popularity_penalty(POOL_IDS, POOL_SC, POP, dial="high"), TypeError, ["dial", "str"]),
    (lambda: popularity_penalty(POOL_IDS, POOL_SC[:3], POP, dial=0.5), ValueError, ["ids", "scores", "(7,)"]),
    (lambda: popularity_penalty(POOL_IDS, POOL_SC, POP, dial=0.5, n=0), ValueError, ["n", ">= 1", "0"]),
    (lambda: popularity_penalty(np.array([42]), np.array([1.0]), POP, dial=0.5), IndexError, ["42", "pop"]),
    (lambda: popularity_band(POOL_IDS, POOL_SC, POP, min_pop=50, max_pop=10), ValueError, ["min_pop", "max_pop"]),
    (lambda: xquad(POOL_IDS, POOL_SC, POP, lam=-0.1, n=3), ValueError, ["lam", "-0.1"]),
    (lambda: xquad(POOL_IDS, POOL_SC, POP, lam=0.5, n=3, variant="fuzzy"), ValueError, ["variant", "fuzzy"]),
    (lambda: xquad(POOL_IDS, POOL_SC, POP, lam=0.5, head_share=2, n=3), ValueError, ["head_share"]),
    (lambda: mmr(POOL_IDS, POOL_SC, mmr_vectors(), lam=2.0, n=3), ValueError, ["lam"]),
    (lambda: mmr(POOL_IDS, POOL_SC, [[1, 0]], lam=0.5, n=3), TypeError, ["vectors"]),
    (lambda: mmr(POOL_IDS, POOL_SC, mmr_vectors(), lam=0.5, n=1.5), TypeError, ["n", "float"]),
    (lambda: hidden_gems(POOL_IDS, POOL_SC, POP, 50, min_relative_score=1.2), ValueError,
     ["min_relative_score", "1.2"]),
    (lambda: hidden_gems(POOL_IDS, POOL_SC, POP, 50, max_pop_ratio=-1), ValueError, ["max_pop_ratio"]),
    (lambda: blend_seeds([(POOL_IDS, POOL_SC)], [1.0, 2.0], n=3), ValueError, ["weights", "1", "2"]),
    (lambda: blend_seeds((POOL_IDS, POOL_SC), None, n=3), TypeError, ["results", "list"]),
    (lambda: popularity_penalty(POOL_IDS.astype(float), POOL_SC, POP, dial=0.5), TypeError, ["ids", "float"]),
    (lambda: popularity_penalty(POOL_IDS, np.where(POOL_IDS == 2, np.nan, POOL_SC), POP, dial=0.5), ValueError,
     ["scores", "finite"]),
])
def test_argument_errors_name_the_parameter(call, exc, words):
    with pytest.raises(exc) as info:
        call()
    for w in words:
        assert w in str(info.value), f"{w!r} not in {str(info.value)!r}"
