"""Shared machinery of the artist x token families: vocabulary, document-frequency filters and weighting.

Mental model: *a family turns the catalog into an artist x code count matrix plus one string key per code; this
base class learns which keys to keep (``min_df``/``max_df``), maps any catalog's codes onto that vocabulary and
weights the counts (TF-IDF via scikit-learn, BM25, or log counts).*
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import scipy.sparse as sp
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.feature_extraction.text import TfidfTransformer
from sklearn.utils.validation import check_is_fitted

from ..catalog import Catalog
from .combine import nnz_ranges

__all__ = ["Bm25Transformer", "TokenFamily", "WEIGHTINGS", "topk_per_row"]

#: weighting schemes a :class:`TokenFamily` accepts
WEIGHTINGS = ("tfidf", "bm25", "log", "binary")


class Bm25Transformer(TransformerMixin, BaseEstimator):
    """Okapi BM25 weighting of a (documents x terms) count matrix.

    ``w = idf * tf * (k1 + 1) / (tf + k1 * (1 - b + b * len / avg_len))`` with the smoothed IDF of scikit-learn's
    ``TfidfTransformer`` (always > 0, so cosines stay non-negative) and ``avg_len`` learned in ``fit``.

    Parameters
    ----------
    k1 : float
        Term-frequency saturation (>= 0); 0 makes every present term count once.
    b : float
        Length normalisation in [0, 1]; 1 divides fully by relative document length.
    """

    def __init__(self, *, k1: float = 1.2, b: float = 0.75) -> None:
        self.k1 = k1
        self.b = b

    def fit(self, X: sp.spmatrix, y=None) -> Bm25Transformer:
        if not (np.isfinite(self.k1) and self.k1 >= 0):
            raise ValueError(f"k1 must be a finite number >= 0, got {self.k1!r}")
        if not (np.isfinite(self.b) and 0 <= self.b <= 1):
            raise ValueError(f"b must be in [0, 1], got {self.b!r}")
        X = sp.csr_matrix(X)
        self.idf_ = TfidfTransformer(smooth_idf=True).fit(X).idf_.astype(np.float32)
        lengths = np.asarray(X.sum(axis=1)).ravel()
        nonempty = lengths[lengths > 0]
        self.avg_len_ = float(nonempty.mean()) if len(nonempty) else 1.0
        return self

    def transform(self, X: sp.spmatrix, copy: bool = True) -> sp.csr_matrix:
        """BM25 weights of the counts ``X``, CSR float32; ``copy=False`` weighs a CSR float32 ``X`` in place.

        Worked a row range at a time (the per-value temporaries, ~40 bytes a value, stay bounded)."""
        check_is_fitted(self, "idf_")
        X = sp.csr_matrix(X, dtype=np.float32, copy=copy)
        lengths = np.asarray(X.sum(axis=1)).ravel()
        for r0, r1 in nnz_ranges(X.indptr):
            lo, hi = int(X.indptr[r0]), int(X.indptr[r1])
            row = np.repeat(np.arange(r0, r1), np.diff(X.indptr[r0:r1 + 1]))
            norm = self.k1 * (1.0 - self.b + self.b * lengths[row] / self.avg_len_)
            tf = X.data[lo:hi]
            X.data[lo:hi] = (self.idf_[X.indices[lo:hi]] * tf * (self.k1 + 1.0) / (tf + norm)).astype(np.float32)
        return X


def topk_per_row(m: sp.csr_matrix, k: int) -> sp.csr_matrix:
    """Keep the ``k`` largest entries of every row of a CSR matrix (ties by lower column); vectorised."""
    m = sp.csr_matrix(m)
    m.sort_indices()
    counts = np.diff(m.indptr)
    over = counts > k
    if not over.any():
        return m.copy()  # callers may modify the result
    # only the entries of rows longer than k need sorting; a stable sort keeps column order among ties
    row = np.repeat(np.arange(m.shape[0]), counts)
    sel = np.flatnonzero(over[row])
    vals = m.data[sel].astype(np.float32)
    if len(vals) and vals.min() >= 0:
        # one int64 key (row, descending value) sorts much faster than a two-key lexsort: the bits of a
        # non-negative float32 order like its value; the stable sort keeps column order among ties
        bits = vals.view(np.int32).astype(np.int64)
        o = sel[np.argsort((row[sel].astype(np.int64) << 31) | (0x7FFFFFFF - bits), kind="stable")]
    else:
        o = sel[np.lexsort((-m.data[sel], row[sel]))]
    rank = np.empty(len(m.data), dtype=np.int64)
    rank[o] = np.arange(len(o)) - np.repeat(np.cumsum(counts[over]) - counts[over], counts[over])
    keep = np.ones(len(m.data), dtype=bool)
    keep[sel] = rank[sel] < k
    out = sp.csr_matrix((m.data[keep], m.indices[keep], np.concatenate([[0], np.cumsum(np.minimum(counts, k))])),
                        shape=m.shape)
    return out


def _as_string_array(keys: pa.Array | pa.ChunkedArray | np.ndarray | list) -> pa.Array:
    if isinstance(keys, pa.ChunkedArray):
        keys = keys.combine_chunks()
    if not isinstance(keys, pa.Array):
        keys = pa.array(np.asarray(keys, dtype=object), type=pa.string())
    return keys.cast(pa.string())


class TokenFamily(TransformerMixin, BaseEstimator):
    """Base class of the artist x token families (labels, markets, collaborators, compilations, playlists ...).

    Subclasses set :attr:`prefix` and implement :meth:`_counts`, returning an artist x code count matrix and the
    string key of each code. ``fit`` keeps the keys used by ``min_df`` .. ``max_df`` artists; ``transform``
    returns CSR float32 (n_artists, n_vocabulary) aligned with the catalog's artists table, weighted by
    ``weighting``. Artists without data get an all-zero row; an empty source table gives shape (n_artists, 0).

    Subclasses store these parameters (keyword-only, defaults per family): ``weighting`` (one of
    :data:`WEIGHTINGS`), ``sublinear_tf``, ``k1``, ``b`` (BM25), ``min_df``, ``max_df`` (int = artists,
    float in (0, 1] = share of artists).
    """

    #: feature-name prefix, the ``<family>`` of ``"<family>=<key>"``
    prefix: ClassVar[str] = ""

    # -- to implement ------------------------------------------------------------------------------------------
    def _counts(self, catalog: Catalog) -> tuple[sp.csr_matrix, pa.Array]:
        """(artist x code counts, CSR float32 (n_artists, n_codes); string key of each code, length n_codes)."""
        raise NotImplementedError

    def _display(self, keys: np.ndarray, catalog: Catalog) -> np.ndarray:
        """Readable key for each vocabulary key (identity unless a family normalises its keys)."""
        return keys

    # -- shared ------------------------------------------------------------------------------------------------
    def _check_params(self) -> None:
        if self.weighting not in WEIGHTINGS:
            raise ValueError(f"weighting must be one of {WEIGHTINGS}, got {self.weighting!r}")
        for name in ("min_df", "max_df"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)) or v <= 0:
                raise ValueError(f"{name} must be a positive int (artists) or a float share in (0, 1], got {v!r}")
            if isinstance(v, (float, np.floating)) and v > 1:
                raise ValueError(f"{name} as a share must be in (0, 1], got {v!r}")

    @staticmethod
    def _df_bound(v: int | float, n: int) -> float:
        return float(v) * n if isinstance(v, (float, np.floating)) else float(v)

    def __sklearn_is_fitted__(self) -> bool:
        # what check_is_fitted asks: without this it would build vocabulary_ (every key as a Python string)
        return "_vocab_arrow" in self.__dict__

    @property
    def vocabulary_(self) -> np.ndarray:
        """Fitted keys (sorted), ndarray of object. Made from the Arrow vocabulary on each access: the keys of a
        family are held once, in Arrow (~26 bytes a key), not also as Python strings (~75 bytes; the full dump's
        collaborator, compilation and playlist families have tens of millions)."""
        try:
            keys = self.__dict__["_vocab_arrow"]
        except KeyError:
            raise AttributeError("vocabulary_ is set by fit") from None
        return np.asarray(keys.to_numpy(zero_copy_only=False), dtype=object)

    @property
    def feature_keys_(self) -> np.ndarray:
        """Readable key of each feature (``vocabulary_`` unless the family shows keys its own way)."""
        try:
            shown = self.__dict__["_shown_keys"]
        except KeyError:
            raise AttributeError("feature_keys_ is set by fit") from None
        return self.vocabulary_ if shown is None else shown

    def _map(self, counts: sp.csr_matrix, keys: pa.Array) -> sp.csr_matrix:
        """Re-index code columns onto the fitted vocabulary (unknown keys dropped)."""
        col = pc.index_in(_as_string_array(keys), value_set=self._vocab_arrow).fill_null(-1).to_numpy()
        ok = np.flatnonzero(col >= 0)
        P = sp.csr_matrix((np.ones(len(ok), dtype=np.float32), (ok, col[ok])),
                          shape=(counts.shape[1], len(self._vocab_arrow)))
        out = (sp.csr_matrix(counts, dtype=np.float32) @ P).tocsr()
        out.sort_indices()
        return out

    def fit(self, catalog: Catalog, y=None) -> TokenFamily:
        """Learn the vocabulary (keys used by min_df..max_df artists) and the weighting's statistics."""
        self._check_params()
        counts, keys = self._counts(catalog)
        keys = _as_string_array(keys)
        n = counts.shape[0]
        df = np.bincount(counts.indices, minlength=counts.shape[1]) if counts.nnz else np.zeros(counts.shape[1])
        keep = (df >= self._df_bound(self.min_df, n)) & (df <= self._df_bound(self.max_df, n)) & (df > 0)
        kept = pc.unique(keys.filter(pa.array(keep)).drop_null())
        self._vocab_arrow = kept.take(pc.sort_indices(kept))
        vocabulary = self.vocabulary_
        shown = self._display(vocabulary, catalog)
        self._shown_keys = None if shown is vocabulary else shown  # identity: read from the vocabulary
        del vocabulary, shown
        X = self._map(counts, keys)
        self.weighter_ = self._make_weighter()
        if self.weighter_ is not None and X.shape[1]:  # scikit-learn refuses 0 columns; nothing to weigh then
            self.weighter_.fit(X)
        self.n_features_out_ = X.shape[1]
        return self

    def _make_weighter(self):
        if self.weighting == "tfidf":
            return TfidfTransformer(norm=None, sublinear_tf=self.sublinear_tf)
        if self.weighting == "bm25":
            return Bm25Transformer(k1=self.k1, b=self.b)
        return None

    def _weigh(self, X: sp.csr_matrix) -> sp.csr_matrix:
        """The weighted block of the counts ``X`` (CSR float32, made by :meth:`_map` for this call): weighed in
        place, no copy of the block (the full dump's market and collaborator blocks are GBs)."""
        if self.weighting == "log":
            np.log1p(X.data, out=X.data)
        elif self.weighting == "binary":
            X.data[:] = 1.0
        elif X.shape[1]:
            X = self.weighter_.transform(X, copy=False)
        return sp.csr_matrix(X, dtype=np.float32)

    def link_counts(self, catalog: Catalog) -> sp.csr_matrix:
        """Unweighted artist x vocabulary counts, CSR float32 (n_artists, n_features): the links genre inference
        propagates over."""
        check_is_fitted(self)
        counts, keys = self._counts(catalog)
        return self._map(counts, keys)

    def transform(self, catalog: Catalog) -> sp.csr_matrix:
        """Weighted artist x vocabulary block, CSR float32 (n_artists, n_features)."""
        return self._weigh(self.link_counts(catalog))

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        """``"<prefix>=<key>"`` per column, ndarray of object."""
        return np.asarray(self.feature_names_arrow().to_numpy(zero_copy_only=False), dtype=object)

    def feature_names_arrow(self) -> pa.Array:
        """``"<prefix>=<key>"`` per column as an Arrow string array (no Python string per column)."""
        check_is_fitted(self)
        keys = self._vocab_arrow if self._shown_keys is None else pa.array(self._shown_keys, pa.string())
        return pc.binary_join_element_wise(pa.scalar(f"{self.prefix}="), keys.cast(pa.string()), "")
