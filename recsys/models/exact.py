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
    Cost per query is one sparse (or dense) matrix-vector product over all items.

    Parameters
    ----------
    dtype : {"float32", "float64"}
        Precision of the stored vectors.
    """

    name = "exact_cosine"

    def __init__(self, *, dtype: str = "float32") -> None:
        self.dtype = dtype

    def _check_params(self) -> None:
        if self.dtype not in ("float32", "float64"):
            raise ValueError(f"dtype must be 'float32' or 'float64', got {self.dtype!r}")

    def _fit(self, X: Any) -> None:
        if sp.issparse(X):
            self.vectors_ = normalize(sp.csr_matrix(X, dtype=self.dtype), norm="l2", axis=1)
        else:
            self.vectors_ = normalize(np.asarray(X, dtype=self.dtype), norm="l2", axis=1)

    def _scores(self, rows: np.ndarray) -> np.ndarray:
        v = self.vectors_
        block = v[rows] @ v.T
        block = block.toarray() if sp.issparse(block) else np.array(block)
        block[block <= 0] = -np.inf  # no shared evidence: not a neighbour
        return block

    def _get_state(self) -> dict[str, np.ndarray]:
        v = self.vectors_
        if sp.issparse(v):
            v = v.tocsr()
            return {"data": v.data, "indices": v.indices, "indptr": v.indptr, "shape": np.array(v.shape)}
        return {"dense": v}

    def _set_state(self, arrays: dict[str, np.ndarray]) -> None:
        if "dense" in arrays:
            self.vectors_ = arrays["dense"]
        else:
            self.vectors_ = sp.csr_matrix((arrays["data"], arrays["indices"], arrays["indptr"]),
                                          shape=tuple(int(x) for x in arrays["shape"]))
