"""Hand-computed cases for the measures the experiment harness added: serendipity, standard error, coverage per
popularity decile, and the fast sparse ILD path against the per-list Gram matrices."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.sparse as sp

from recsys.evaluation.metrics import coverage_by_decile, ild, serendipity_at_k, standard_error


def test_serendipity_by_hand():
    ids = np.array([[1, 2, 3, -1],
                    [5, 6, 7, 8],
                    [9, 1, 2, 3]])
    relevant = [{1, 3}, {6, 8, 9}, set()]
    obvious = np.array([[1, 9], [8, -1], [1, 2]])  # the most-popular baseline's lists
    mean, per = serendipity_at_k(ids, relevant, obvious, 3)
    # query 0, top 3 = 1, 2, 3: relevant 1 and 3; 1 is obvious -> only 3 counts: 1/3
    # query 1, top 3 = 5, 6, 7: relevant 6, not obvious (8 is obvious but is not in the top 3): 1/3
    # query 2: no relevant item -> nan, left out of the mean; mean = (1/3 + 1/3) / 2 = 1/3
    assert per[0] == pytest.approx(1 / 3) and per[1] == pytest.approx(1 / 3) and math.isnan(per[2])
    assert mean == pytest.approx(1 / 3)
    # nothing obvious (all padding): serendipity = precision: query 0 hits 1 and 3 -> 2/3
    m2, per2 = serendipity_at_k(ids, relevant, np.full((3, 2), -1), 3)
    assert per2[0] == pytest.approx(2 / 3)


def test_serendipity_checks_the_obvious_lists():
    with pytest.raises(ValueError, match="obvious"):
        serendipity_at_k(np.array([[1, 2]]), [{1}], np.array([[1], [2]]), 2)


def test_standard_error_by_hand():
    # values 1, 2, 3, 4 (nan ignored): mean 2.5, sample variance ((1.5^2 + 0.5^2) * 2) / 3 = 5/3,
    # se = sqrt(5/3) / sqrt(4) = 0.645497...
    assert standard_error([1.0, 2.0, np.nan, 3.0, 4.0]) == pytest.approx(math.sqrt(5 / 3) / 2)
    assert math.isnan(standard_error([1.0, np.nan]))


def test_coverage_by_decile_by_hand():
    # 10 items, pop 0..9 reversed by row: row r has pop 9 - r; 5 bins of 2 items each by rising popularity:
    # bin 0 = rows 9, 8 (pop 0, 1); bin 1 = rows 7, 6; bin 2 = rows 5, 4; bin 3 = rows 3, 2; bin 4 = rows 1, 0
    pop = np.arange(9, -1, -1)
    ids = np.array([[0, 1, 9], [0, 4, -1]])  # recommended: rows 0, 1 (bin 4 twice), 4 (bin 2), 9 (bin 0)
    share, upper = coverage_by_decile(ids, pop, n_bins=5)
    np.testing.assert_allclose(share, [0.5, 0.0, 0.5, 0.0, 1.0])
    np.testing.assert_allclose(upper, [1, 3, 5, 7, 9])


def test_coverage_by_decile_splits_ties_evenly():
    # 4 items all pop 0, 2 bins: ties are split by row, rows 0, 1 -> bin 0 and rows 2, 3 -> bin 1
    share, _ = coverage_by_decile(np.array([[3]]), np.zeros(4), n_bins=2)
    np.testing.assert_allclose(share, [0.0, 0.5])


def test_sparse_ild_matches_dense():
    rng = np.random.default_rng(0)
    X = sp.random(40, 15, density=0.3, format="csr", random_state=1)
    ids = rng.integers(-1, 40, size=(25, 6))
    assert ild(ids, X) == pytest.approx(ild(ids, X.toarray()), abs=1e-12)
