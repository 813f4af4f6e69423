"""Genre features: artist x genre matrix with TF-IDF weighting."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.feature_extraction.text import TfidfTransformer

from ..catalog import Catalog
from ._rows import artist_rows

__all__ = ["GenreTfidf"]


class GenreTfidf(TransformerMixin, BaseEstimator):
    """Artist x genre TF-IDF block.

    ``fit(catalog)`` learns the genre vocabulary and IDF weights from ``artist_genres``; ``transform(catalog)``
    returns a CSR matrix of shape (n_artists, n_genres), float32, rows aligned with ``catalog.artists``.
    Artists without genres get an all-zero row. Rare genres weigh more (smoothed IDF).

    Parameters
    ----------
    sublinear_tf : bool
        Passed to scikit-learn's ``TfidfTransformer`` (genres are 0/1, so it only matters for merged data).
    """

    def __init__(self, *, sublinear_tf: bool = False) -> None:
        self.sublinear_tf = sublinear_tf

    def _counts(self, catalog: Catalog, vocabulary: dict[str, int] | None) -> tuple[sp.csr_matrix, dict[str, int]]:
        t = catalog.table("artist_genres")
        genres = np.asarray(t.column("genre").to_pylist(), dtype=object)
        rows = artist_rows(catalog, t.column("artist_rowid").to_numpy())
        if vocabulary is None:
            vocabulary = {g: i for i, g in enumerate(sorted(set(genres.tolist())))}
        cols = np.fromiter((vocabulary.get(g, -1) for g in genres), dtype=np.int64, count=len(genres))
        ok = (cols >= 0) & (rows >= 0)
        m = sp.csr_matrix((np.ones(int(ok.sum()), dtype=np.float32), (rows[ok], cols[ok])),
                          shape=(catalog.num_rows("artists"), len(vocabulary)))
        m.data[:] = 1.0  # duplicate (artist, genre) rows count once
        return m, vocabulary

    def fit(self, catalog: Catalog, y=None) -> GenreTfidf:
        counts, self.vocabulary_ = self._counts(catalog, None)
        self.tfidf_ = TfidfTransformer(norm=None, sublinear_tf=self.sublinear_tf).fit(counts)
        return self

    def transform(self, catalog: Catalog) -> sp.csr_matrix:
        counts, _ = self._counts(catalog, self.vocabulary_)
        return self.tfidf_.transform(counts).astype(np.float32).tocsr()

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        names = sorted(self.vocabulary_, key=self.vocabulary_.get)
        return np.asarray([f"genre={g}" for g in names], dtype=object)
