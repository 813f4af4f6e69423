"""Translate source rowids into catalog rows (positions), the index space of every feature block."""

from __future__ import annotations

import numpy as np


def rowid_to_row(sorted_rowids: np.ndarray, rowids: np.ndarray) -> np.ndarray:
    """Positions of ``rowids`` in ``sorted_rowids`` (ascending), -1 where absent."""
    rowids = np.asarray(rowids, dtype=np.int64)
    if len(sorted_rowids) == 0:
        return np.full(len(rowids), -1, dtype=np.int64)
    pos = np.searchsorted(sorted_rowids, rowids)
    pos = np.clip(pos, 0, len(sorted_rowids) - 1)
    return np.where(sorted_rowids[pos] == rowids, pos, -1).astype(np.int64)
