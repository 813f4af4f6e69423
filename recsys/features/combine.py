"""Combine feature blocks into one item-vector matrix with explicit weights."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp

from ._links import safe_normalize

__all__ = ["combine_blocks"]


def combine_blocks(blocks: Sequence[tuple[str, sp.spmatrix, float]]) -> tuple[sp.csr_matrix, list[tuple[str, slice]]]:
    """L2-normalise each block per row, scale it by sqrt(weight) and stack the blocks side by side.

    The dot product of two combined rows is then the weight-sum of their per-block cosines, so a weight says
    directly how much a block counts. Returns the CSR matrix (n_items, total columns, float32) and the column
    slice of each named block (for explanations).
    """
    if not blocks:
        raise ValueError("blocks must name at least one (name, matrix, weight) block, got none")
    n = blocks[0][1].shape[0]
    parts, slices, start = [], [], 0
    for name, m, w in blocks:
        if m.shape[0] != n:
            raise ValueError(f"block {name!r} has {m.shape[0]} rows, expected {n} like the first block")
        if not np.isfinite(w) or w < 0:
            raise ValueError(f"weight of block {name!r} must be a finite number >= 0, got {w!r}")
        m = sp.csr_matrix(m, dtype=np.float32)
        # a family without data gives a zero-width block (scikit-learn's normalize refuses those)
        parts.append(safe_normalize(m, norm="l2") * np.float32(np.sqrt(w)))
        slices.append((name, slice(start, start + m.shape[1])))
        start += m.shape[1]
    return sp.hstack(parts, format="csr", dtype=np.float32), slices
