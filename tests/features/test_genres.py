"""GenreTfidf weighting options and the shared weighting machinery (BM25, top-k per row)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from features_helpers import artists_only, column, make_catalog

from recsys.features import GenreTfidf
from recsys.features._base import Bm25Transformer, topk_per_row


@pytest.fixture
def catalog(tmp_path):
    genres = [(0, "drone"), (1, "drone"), (1, "ambient"), (1, "noise"), (1, "idm"), (2, "punk"), (2, "drone")]
    return make_catalog(tmp_path / "c", artists=4, genres=genres)


def test_tfidf_and_bm25(catalog):
    tf = GenreTfidf().fit(catalog)
    X = tf.transform(catalog)
    names = list(tf.get_feature_names_out())
    assert names == ["genre=ambient", "genre=drone", "genre=idm", "genre=noise", "genre=punk"]
    assert X[3].nnz == 0
    bm = GenreTfidf(weighting="bm25", b=1.0).fit(catalog)
    B = bm.transform(catalog)
    assert list(bm.get_feature_names_out()) == names and (B.indices == X.indices).all()
    # TF-IDF gives "drone" the same weight in every row; BM25 with length normalisation lowers it in the
    # four-genre row
    d_tf, d_bm = column(X, names, "genre=drone"), column(B, names, "genre=drone")
    assert d_tf[0] == pytest.approx(d_tf[1])
    assert d_bm[1] < d_bm[0]


def test_bad_weighting(catalog):
    with pytest.raises(ValueError, match="weighting must be one of"):
        GenreTfidf(weighting="bm42").fit(catalog)


def test_no_genres(tmp_path):
    empty = artists_only(tmp_path)
    g = GenreTfidf().fit(empty)
    assert g.transform(empty).shape == (3, 0) and len(g.get_feature_names_out()) == 0


def test_bm25_saturation_and_idf():
    X = sp.csr_matrix(np.array([[1.0, 0, 0], [10.0, 0, 1.0], [0, 1.0, 1.0]]))
    bm = Bm25Transformer(k1=1.2, b=0.0).fit(X)
    W = bm.transform(X).toarray()
    ratio = W[1, 0] / W[0, 0]
    assert 1 < ratio < 2.2  # tf 10 vs 1: saturates below k1 + 1
    assert (W[X.toarray() > 0] > 0).all()  # smoothed IDF keeps every weight positive
    with pytest.raises(ValueError, match="b must be"):
        Bm25Transformer(b=2).fit(X)


def test_topk_per_row_keeps_largest_lowest_column_on_ties():
    m = sp.csr_matrix(np.array([[0.1, 0.5, 0.5, 0.2], [0, 0, 0.3, 0], [0.4, 0.4, 0.4, 0.9]]))
    out = topk_per_row(m, 2).toarray()
    np.testing.assert_array_equal(out, [[0, 0.5, 0.5, 0], [0, 0, 0.3, 0], [0.4, 0, 0, 0.9]])
