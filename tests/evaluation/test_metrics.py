"""Evaluation measures, each checked against a value computed by hand in the comments."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.sparse as sp

from recsys.evaluation import (
    aclt,
    aplt,
    arp,
    bootstrap_ci,
    coverage,
    gini,
    hit_rate_at_k,
    ild,
    long_tail_report,
    ndcg_at_k,
    novelty,
    popularity_histogram,
    precision_at_k,
    recall_at_k,
)

# Catalogue of 5 items. sum(pop) + N = 59 + 5 = 64, so the smoothed shares p(i) = (pop + 1) / 64 are
# 32/64, 16/64, 8/64, 4/64, 4/64 = 1/2, 1/4, 1/8, 1/16, 1/16 and -log2 p(i) = 1, 2, 3, 4, 4 bits.
POP = np.array([31, 15, 7, 3, 3], dtype=np.float64)
N_ITEMS = 5
# Short head (20% of 5 items = 1 item): pop >= 31, i.e. item 0 only; items 1-4 are the long tail.
LISTS = np.array([[0, 1, 2],
                  [0, 1, 3],
                  [0, 2, 3]])


def test_coverage_by_hand():
    # distinct items {0, 1, 2, 3} = 4 of 5
    assert coverage(LISTS, N_ITEMS) == pytest.approx(4 / 5)
    assert coverage(np.array([[0, -1], [-1, -1]]), N_ITEMS) == pytest.approx(1 / 5)


def test_gini_by_hand():
    # exposure counts: item 0: 3, items 1-3: 2 each, item 4: 0. Sorted ascending c = [0, 2, 2, 2, 3], N = 5,
    # total 9. G = sum (2i - N - 1) c_i / (N * total) = (-4*0 - 2*2 + 0*2 + 2*2 + 4*3) / 45 = 12/45 = 4/15
    assert gini(LISTS, N_ITEMS) == pytest.approx(4 / 15)
    # item 4 never shown: counts sorted [0, 1, 1, 1, 1] -> (-4*0 - 2*1 + 0*1 + 2*1 + 4*1) / (5*4) = 4/20
    assert gini(np.array([[0, 1], [2, 3]]), N_ITEMS) == pytest.approx(4 / 20)
    # equal exposure of every item -> 0; all exposure on one item of 5 -> (N-1)/N = 4/5
    assert gini(np.array([[0, 1], [2, 3], [4, -1]]), N_ITEMS) == pytest.approx(0.0)
    assert gini(np.array([[2], [2], [2]]), N_ITEMS) == pytest.approx(4 / 5)
    assert math.isnan(gini(np.array([[-1, -1]]), N_ITEMS))


def test_arp_aplt_aclt_by_hand():
    # ARP: list means (31+15+7)/3 = 53/3, (31+15+3)/3 = 49/3, (31+7+3)/3 = 41/3 -> mean 143/9 = 15.89
    assert arp(LISTS, POP) == pytest.approx(143 / 9)
    # every list: item 0 in the head, 2 of 3 in the tail -> APLT 2/3, ACLT 2
    assert aplt(LISTS, POP) == pytest.approx(2 / 3)
    assert aclt(LISTS, POP) == pytest.approx(2.0)
    # head_share 0.4 -> 2 items: pop >= 15 = {0, 1}. Tail counts per list: [0,1,2] -> 1, [0,1,3] -> 1,
    # [0,2,3] -> 2. APLT = (1/3 + 1/3 + 2/3) / 3 = 4/9; ACLT = 4/3
    assert aplt(LISTS, POP, head_share=0.4) == pytest.approx(4 / 9)
    assert aclt(LISTS, POP, head_share=0.4) == pytest.approx(4 / 3)


def test_per_list_means_skip_padding_and_empty_lists():
    ids = np.array([[0, 1, -1], [2, -1, -1], [-1, -1, -1]])
    # ARP: list means (31+15)/2 = 23 and 7; the empty list is skipped -> (23 + 7)/2 = 15
    # (pooling the 3 slots instead would give 53/3 = 17.67)
    assert arp(ids, POP) == pytest.approx(15.0)
    # tail shares 1/2 and 1/1 -> APLT 3/4; tail counts 1 and 1 -> ACLT 1
    assert aplt(ids, POP) == pytest.approx(0.75)
    assert aclt(ids, POP) == pytest.approx(1.0)
    # novelty: list means (1 + 2)/2 = 1.5 and 3 -> 2.25
    assert novelty(ids, POP) == pytest.approx(2.25)
    assert math.isnan(arp(np.full((2, 3), -1), POP))


def test_novelty_by_hand():
    # bits per item 1, 2, 3, 4, 4 (see POP). Lists: (1+2+3)/3 = 2, (1+2+4)/3 = 7/3, (1+3+4)/3 = 8/3
    # -> mean (2 + 7/3 + 8/3)/3 = 7/3
    assert novelty(LISTS, POP) == pytest.approx(7 / 3)
    # a pop-0 item is finite: pop [0, 1] -> p(0) = 1/3, p(1) = 2/3; the list [0] has log2(3) = 1.585 bits
    assert novelty(np.array([[0]]), np.array([0.0, 1.0])) == pytest.approx(math.log2(3))


@pytest.mark.parametrize("as_sparse", [False, True])
def test_ild_by_hand(as_sparse):
    # v0 = (1,0), v1 = (0,1), v2 = (2,2) (normalised inside to (1,1)/sqrt2).
    # cos(0,1) = 0, cos(0,2) = cos(1,2) = 1/sqrt2.
    # list [0,1,2]: distances 1, 1 - 1/sqrt2, 1 - 1/sqrt2 -> mean (3 - sqrt2)/3 = 0.5286
    # list [0,1,-1]: one pair, distance 1. list [2,-1,-1]: fewer than 2 items, skipped.
    vec = np.array([[1.0, 0.0], [0.0, 1.0], [2.0, 2.0]])
    vec = sp.csr_matrix(vec) if as_sparse else vec
    ids = np.array([[0, 1, 2], [0, 1, -1], [2, -1, -1]])
    assert ild(ids, vec) == pytest.approx(((3 - math.sqrt(2)) / 3 + 1) / 2)
    assert math.isnan(ild(np.array([[2, -1]]), vec))


def test_long_tail_report_and_histogram():
    vec = np.eye(N_ITEMS)  # all items orthogonal: every pair at distance 1
    rep = long_tail_report(LISTS, POP, N_ITEMS, vec)
    assert rep["coverage"] == pytest.approx(4 / 5)
    assert rep["gini"] == pytest.approx(4 / 15)
    assert rep["arp"] == pytest.approx(143 / 9)
    assert rep["aplt"] == pytest.approx(2 / 3)
    assert rep["aclt"] == pytest.approx(2.0)
    assert rep["novelty"] == pytest.approx(7 / 3)
    assert rep["ild"] == pytest.approx(1.0)
    assert rep["head_threshold"] == 31 and rep["n_lists"] == 3 and rep["mean_list_length"] == 3
    assert "ild" not in long_tail_report(LISTS, POP, N_ITEMS)
    # bins [0,5) [5,20) [20,40]: catalogue pops 31,15,7,3,3 -> 2 (items 3,4), 2 (1,2), 1 (0).
    # recommended slots: 31,15,7 | 31,15,3 | 31,7,3 -> [0,5): 2, [5,20): 4, [20,40]: 3
    rec, cat = popularity_histogram(LISTS, POP, [0, 5, 20, 40])
    np.testing.assert_array_equal(rec, [2, 4, 3])
    np.testing.assert_array_equal(cat, [2, 2, 1])
    rec, cat = popularity_histogram(LISTS, POP, 4)
    assert rec.sum() == 9 and cat.sum() == 5


# -- accuracy @k ------------------------------------------------------------------------------------------------

ACC_IDS = np.array([[5, 1, 7, 2],
                    [3, 4, -1, -1],
                    [6, 0, 8, 9]])
RELEVANT = [{1, 2, 9}, {8}, set()]


def test_accuracy_at_3_by_hand():
    # query 0: top 3 = 5, 1, 7 -> one hit, at rank 2. query 1: 3, 4, pad -> no hit. query 2: no relevant -> nan.
    # precision: 1/3, 0 -> mean 1/6.  recall: 1/3 (of 3 relevant), 0 -> 1/6.  hit rate: 1, 0 -> 1/2.
    # nDCG q0: DCG = 1/log2(3) = 0.6309; ideal min(3, 3) = 3 hits: 1 + 1/log2(3) + 1/2 = 2.1309 -> 0.2961
    p, p_q = precision_at_k(ACC_IDS, RELEVANT, 3)
    r, r_q = recall_at_k(ACC_IDS, RELEVANT, 3)
    h, h_q = hit_rate_at_k(ACC_IDS, RELEVANT, 3)
    n, n_q = ndcg_at_k(ACC_IDS, RELEVANT, 3)
    ndcg0 = (1 / math.log2(3)) / (1 + 1 / math.log2(3) + 0.5)
    assert p == pytest.approx(1 / 6) and r == pytest.approx(1 / 6) and h == pytest.approx(0.5)
    assert n == pytest.approx(ndcg0 / 2)
    np.testing.assert_allclose(p_q, [1 / 3, 0, np.nan])
    np.testing.assert_allclose(r_q, [1 / 3, 0, np.nan])
    np.testing.assert_allclose(h_q, [1, 0, np.nan])
    np.testing.assert_allclose(n_q, [ndcg0, 0, np.nan])


def test_accuracy_at_4_and_k_beyond_the_list():
    # query 0, k=4: hits at ranks 2 and 4. precision 2/4, recall 2/3,
    # DCG = 1/log2(3) + 1/log2(5) = 0.6309 + 0.4307 = 1.0616; ideal over min(4, 3) = 3 -> 2.1309 -> 0.4982
    _, p_q = precision_at_k(ACC_IDS[:1], RELEVANT[:1], 4)
    _, r_q = recall_at_k(ACC_IDS[:1], RELEVANT[:1], 4)
    _, n_q = ndcg_at_k(ACC_IDS[:1], RELEVANT[:1], 4)
    assert p_q[0] == pytest.approx(0.5) and r_q[0] == pytest.approx(2 / 3)
    assert n_q[0] == pytest.approx((1 / math.log2(3) + 1 / math.log2(5)) / (1 + 1 / math.log2(3) + 0.5))
    # k = 10 > list length 4: precision still divides by k (2/10); one relevant item at rank 1 -> nDCG 1
    _, p_q = precision_at_k(ACC_IDS[:1], RELEVANT[:1], 10)
    assert p_q[0] == pytest.approx(0.2)
    mean, _ = ndcg_at_k(np.array([[4, 9]]), [np.array([4])], 10)
    assert mean == pytest.approx(1.0)


def test_bootstrap_ci():
    assert bootstrap_ci(np.full(20, 0.3)) == pytest.approx((0.3, 0.3))
    x = np.r_[np.random.default_rng(1).normal(0.5, 0.1, 400), np.nan]
    low, high = bootstrap_ci(x, n_boot=500, seed=3)
    assert low < np.nanmean(x) < high and high - low < 0.05
    assert bootstrap_ci(x, n_boot=500, seed=3) == (low, high)  # same seed, same interval
    assert all(math.isnan(v) for v in bootstrap_ci([np.nan]))


@pytest.mark.parametrize("call, exc, words", [
    (lambda: coverage(LISTS, 2), IndexError, ["3", "0..1"]),
    (lambda: coverage(LISTS, 0), ValueError, ["n_items", ">= 1"]),
    (lambda: gini(LISTS.astype(float), N_ITEMS), TypeError, ["ids", "float"]),
    (lambda: arp(LISTS, POP[:2]), IndexError, ["pop"]),
    (lambda: novelty(LISTS, -POP), ValueError, ["pop", ">= 0"]),
    (lambda: aplt(LISTS, POP, head_share=1.5), ValueError, ["head_share", "1.5"]),
    (lambda: long_tail_report(LISTS, np.r_[POP, 0], N_ITEMS), ValueError, ["pop", "n_items=5", "6"]),
    (lambda: precision_at_k(ACC_IDS, RELEVANT, 0), ValueError, ["k", ">= 1", "0"]),
    (lambda: recall_at_k(ACC_IDS, RELEVANT[:2], 3), ValueError, ["relevant", "3", "2"]),
    (lambda: bootstrap_ci([0.1], alpha=1.0), ValueError, ["alpha", "1.0"]),
    (lambda: bootstrap_ci([0.1], n_boot=0), ValueError, ["n_boot", "0"]),
    (lambda: popularity_histogram(LISTS, POP, [5, 1]), ValueError, ["bins", "increasing"]),
])
def test_argument_errors_name_the_parameter(call, exc, words):
    with pytest.raises(exc) as info:
        call()
    for w in words:
        assert w in str(info.value), f"{w!r} not in {str(info.value)!r}"
