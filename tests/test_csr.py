"""Row ranges for working through big CSR matrices a piece at a time."""

from __future__ import annotations

import numpy as np

from recsys.csr import row_ranges


def test_row_ranges_cover_every_row_once():
    indptr = np.array([0, 0, 5, 5, 9, 30, 30, 31])  # empty rows at the start, middle and end
    for nnz in (1, 4, 10, 100):
        blocks = row_ranges(indptr, nnz)
        assert blocks[0][0] == 0 and blocks[-1][1] == len(indptr) - 1
        assert all(lo < hi for lo, hi in blocks) and all(a[1] == b[0] for a, b in zip(blocks, blocks[1:]))
        # a block ends at the first row starting at or past its share: at most one row past it
        assert all(indptr[hi] - indptr[lo] <= nnz + int(np.diff(indptr).max()) for lo, hi in blocks)
