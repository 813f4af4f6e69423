"""Helpers for working through big CSR matrices a piece at a time (shared by feature builders and models)."""

from __future__ import annotations

import numpy as np

__all__ = ["row_ranges"]


def row_ranges(indptr: np.ndarray, nnz: int) -> list[tuple[int, int]]:
    """Row ranges ``(start, stop)`` of a CSR matrix (its ``indptr``) covering every row, holding about ``nnz``
    stored values each (a range ends at the first row starting at or past its share, so it may hold one row more).
    """
    n = len(indptr) - 1
    cuts = np.searchsorted(indptr, np.arange(nnz, int(indptr[-1]), nnz))
    bounds = np.unique(np.concatenate([[0], cuts, [n]]).astype(np.int64)).tolist()
    return list(zip(bounds[:-1], bounds[1:]))
