"""Exact cosine similarity: the reference every approximate model is measured against."""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp
from sklearn.preprocessing import normalize

from .base import SimilarityModel, register_model

__all__ = ["ExactCosine"]


@register_model
class ExactCosine(SimilarityModel):
    """Brute-force cosine similarity over L2-normalised item vectors.

    Score = cosine in (0, 1] for non-negative features. Items with cosine <= 0 share no feature with the query
    and are not returned (lists are padded instead), so an item without any features has no neighbours.

    Sparse input is split by column frequency: columns present in at least ``dense_min_share`` of the items
    (audio, era, market profiles: nearly every item has them) are kept as a dense matrix and multiplied with
    BLAS; the rest stay sparse. A sparse x sparse product over such columns would produce an almost dense
    *sparse* result, which is what makes naive sparse cosine slow; the split gives identical scores.

    Parameters
    ----------
    dtype : {"float32", "float64"}
        Precision of the stored vectors.
    dense_min_share : float in (0, 1]
        Column frequency from which a column is handled densely.
    max_dense_columns : int
        At most this many columns are made dense (the most frequent ones), bounding memory at
        n_items x max_dense_columns values.
    """

    name = "exact_cosine"

    def __init__(self, *, dtype: str = "float32", dense_min_share: float = 0.02,
                 max_dense_columns: int = 512) -> None:
        self.dtype = dtype
        self.dense_min_share = dense_min_share
        self.max_dense_columns = max_dense_columns

    def _check_params(self) -> None:
        if self.dtype not in ("float32", "float64"):
            raise ValueError(f"dtype must be 'float32' or 'float64', got {self.dtype!r}")
        if not 0 < float(self.dense_min_share) <= 1:
            raise ValueError(f"dense_min_share must be in (0, 1], got {self.dense_min_share!r}")
        if isinstance(self.max_dense_columns, bool) or not isinstance(self.max_dense_columns, int) \
                or self.max_dense_columns < 0:
            raise ValueError(f"max_dense_columns must be an int >= 0, got {self.max_dense_columns!r}")

    def _fit(self, X: Any) -> None:
        if not sp.issparse(X):
            self.dense_ = normalize(np.asarray(X, dtype=self.dtype), norm="l2", axis=1)
            self.sparse_ = self._sparse_t_cache = None
            return
        v = normalize(sp.csr_matrix(X, dtype=self.dtype), norm="l2", axis=1).tocsc()
        df = np.diff(v.indptr)
        order = np.argsort(-df, kind="stable")[: self.max_dense_columns]
        dense_cols = np.sort(order[df[order] >= self.dense_min_share * v.shape[0]])
        rest = np.setdiff1d(np.arange(v.shape[1]), dense_cols)
        self._sparse_t_cache = None
        self.dense_ = v[:, dense_cols].toarray() if len(dense_cols) else None
        self.sparse_ = v[:, rest].tocsr() if len(rest) else None

    def _scores(self, rows: np.ndarray) -> np.ndarray:
        block = np.zeros((len(rows), self.n_items_), dtype=self.dtype)
        if self.dense_ is not None:
            block += self.dense_[rows] @ self.dense_.T
        if self.sparse_ is not None:
            block += (self.sparse_[rows] @ self._sparse_t()).toarray()
        block[block <= 0] = -np.inf  # no shared evidence: not a neighbour
        return block

    @property
    def vectors_(self) -> np.ndarray | sp.csr_matrix:
        """The L2-normalised item vectors, shape (n_items, n_features); dense columns first (order differs from X,
        dot products do not)."""
        if self.sparse_ is None:
            return self.dense_
        if self.dense_ is None:
            return self.sparse_
        return sp.hstack([sp.csr_matrix(self.dense_), self.sparse_], format="csr")

    def _sparse_t(self) -> sp.csr_matrix:
        # CSR of the transpose, made once: `A @ B.T` with CSR B would convert B on every query.
        if getattr(self, "_sparse_t_cache", None) is None:
            self._sparse_t_cache = self.sparse_.T.tocsr()
        return self._sparse_t_cache

    def _get_state(self) -> dict[str, np.ndarray]:
        state: dict[str, np.ndarray] = {}
        if self.dense_ is not None:
            state["dense"] = self.dense_
        if self.sparse_ is not None:
            v = self.sparse_
            state |= {"data": v.data, "indices": v.indices, "indptr": v.indptr, "shape": np.array(v.shape)}
        return state

    def _set_state(self, arrays: dict[str, np.ndarray]) -> None:
        self._sparse_t_cache = None
        self.dense_ = arrays.get("dense")
        self.sparse_ = (sp.csr_matrix((arrays["data"], arrays["indices"], arrays["indptr"]),
                                      shape=tuple(int(x) for x in arrays["shape"])) if "data" in arrays else None)
