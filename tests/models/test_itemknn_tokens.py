"""ItemKNN leaves near-universal feature columns out of its fit (they would make it quadratic)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from recsys.models import ItemKNN


def test_universal_column_is_left_out():
    rng = np.random.default_rng(0)
    base = sp.random(60, 30, density=0.08, random_state=1, dtype=np.float32).tocsr()
    universal = sp.csr_matrix(rng.random((60, 1)).astype(np.float32) + 0.5)
    X = sp.hstack([base, universal], format="csr")
    capped = ItemKNN(max_token_items=40).fit(X)
    plain = ItemKNN(max_token_items=None).fit(base)
    assert capped.dropped_tokens_ == 1
    a, b = capped.similar_items(np.arange(60), 5), plain.similar_items(np.arange(60), 5)
    np.testing.assert_array_equal(a[0], b[0])
    # without the cap, the universal column links everything to everything
    uncapped = ItemKNN(max_token_items=None).fit(X)
    assert (uncapped.similar_items(np.arange(60), 5)[0] >= 0).all()
    assert (a[0] < 0).any()


def test_max_token_items_validated():
    with pytest.raises(ValueError, match="max_token_items"):
        ItemKNN(max_token_items=1).fit(sp.eye(4, format="csr"))
