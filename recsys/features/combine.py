"""Combine feature blocks into one item-vector matrix with explicit weights."""

from __future__ import annotations

from collections.abc import Callable, MutableSequence, Sequence

import numpy as np
import scipy.sparse as sp

from ..csr import row_ranges
from ._links import return_freed_memory, row_dtype, safe_normalize

__all__ = ["BlockStack", "combine_blocks", "stack_columns", "nnz_ranges"]

#: stored values per chunk when a CSR matrix is worked through in row ranges (bounds the per-entry temporaries,
#: 16 bytes each: the link matrices of the full dump hold hundreds of millions of entries)
_CHUNK_NNZ = 1 << 22


def nnz_ranges(indptr: np.ndarray) -> list[tuple[int, int]]:
    """Row ranges ``(start, stop)`` of a CSR matrix (its ``indptr``) holding about :data:`_CHUNK_NNZ` values each."""
    return row_ranges(indptr, _CHUNK_NNZ)


def stack_columns(blocks: list[tuple[sp.spmatrix, int]], n_cols: int, *,
                  prepare: Callable[[int, sp.csr_matrix], sp.csr_matrix] | None = None) -> sp.csr_matrix:
    """Place every ``(block, column offset)`` in one CSR float32 matrix of ``n_cols`` columns.

    The blocks have the same rows; within a row their entries follow in list order (blocks sharing columns give
    duplicate entries, which scipy sums). The result is allocated once and ``blocks`` is emptied as each block is
    copied into place, so the peak is the result plus one block (``scipy.sparse.hstack`` held every block and a
    COO copy of all of them: about three times the result). ``prepare(i, block)``, if given, maps the i-th block
    (as CSR float32) just before its copy and must keep its structure (e.g. a row normalisation).
    """
    n = blocks[0][0].shape[0]
    row_nnz = np.zeros(n, dtype=np.int64)
    for b, _ in blocks:
        row_nnz += (b if b.format == "csr" else sp.csr_matrix(b)).getnnz(axis=1)
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(row_nnz, out=indptr[1:])
    del row_nnz
    dt = row_dtype(max(n_cols, int(indptr[-1])))
    data = np.empty(int(indptr[-1]), dtype=np.float32)
    indices = np.empty(int(indptr[-1]), dtype=dt)
    filled = indptr[:-1].copy()  # next free position in each row
    i = 0
    while blocks:
        m, offset = blocks.pop(0)
        m = sp.csr_matrix(m, dtype=np.float32)
        if prepare is not None:
            m = prepare(i, m)
        for r0, r1 in nnz_ranges(m.indptr):
            lo, hi = int(m.indptr[r0]), int(m.indptr[r1])
            counts = np.diff(m.indptr[r0:r1 + 1])
            dest = np.repeat(filled[r0:r1] - m.indptr[r0:r1], counts) + np.arange(lo, hi)
            data[dest] = m.data[lo:hi]
            indices[dest] = m.indices[lo:hi] + offset
            filled[r0:r1] += counts
        del m
        i += 1
    return sp.csr_matrix((data, indices, indptr.astype(dt)), shape=(n, n_cols))


#: fewest rows of a row chunk of :class:`BlockStack` (a build holds one chunk of every block twice while stacking)
_STACK_MIN_ROWS = 1 << 16

#: most row chunks of :class:`BlockStack`: the stacking peak is X plus about 1/_STACK_CHUNKS of the blocks
_STACK_CHUNKS = 64


def _weighted_block(m: sp.spmatrix, weight: np.float32) -> sp.csr_matrix:
    """``m`` as CSR float32, each row L2-normalised, times ``weight`` (a zero-width block as it is)."""
    m = sp.csr_matrix(m, dtype=np.float32)
    if not m.shape[1]:  # a family without data gives a zero-width block (scikit-learn's normalize refuses it)
        return m
    m = safe_normalize(m, norm="l2")
    m.data *= weight
    return m


class BlockStack:
    """Weighted blocks collected one at a time, in any order, then stacked side by side into one CSR matrix.

    Mental model: *each block is normalised and weighted when it arrives and kept as row chunks; the stack is
    filled a row chunk at a time and each chunk of every block is freed once copied.* So the blocks and the
    result are never held whole at the same time: the peak of :meth:`stack` is the result plus one row chunk of
    every block, where one preallocated result filled block by block (:func:`stack_columns`) held the result and
    every block (twice the result). A chunk stores its column indices as uint16 when the block has at most
    65,536 columns (6 bytes a value instead of 8, for the narrow blocks: genres, era, markets, audio ...).

    Parameters
    ----------
    n_rows : int
        Rows of every block.
    order : sequence of str
        Block names in column order (the order :meth:`stack` places them; :meth:`add` may come in any order).
    """

    def __init__(self, n_rows: int, order: Sequence[str]) -> None:
        self.n_rows = int(n_rows)
        self.order = list(order)
        step = max(_STACK_MIN_ROWS, -(-self.n_rows // _STACK_CHUNKS))
        bounds = list(range(0, self.n_rows, step)) + [self.n_rows]
        #: (start, stop) row range of each chunk
        self.ranges: list[tuple[int, int]] = list(zip(bounds[:-1], bounds[1:])) or [(0, 0)]
        #: name -> (n_cols, chunks): each chunk (data float32, indices, row counts) or None once stacked
        self._blocks: dict[str, tuple[int, list]] = {}

    def add(self, name: str, m: sp.spmatrix, weight: float) -> None:
        """Normalise the rows of block ``name`` (n_rows, any width), scale it by sqrt(``weight``) and keep it in
        row chunks, a chunk at a time (no normalised copy of the whole block). ``m`` is not modified; drop it
        after the call to free it."""
        if name not in self.order:
            raise ValueError(f"block {name!r} is not one of {self.order}")
        if name in self._blocks:
            raise ValueError(f"block {name!r} was added already")
        if m.shape[0] != self.n_rows:
            raise ValueError(f"block {name!r} has {m.shape[0]} rows, expected {self.n_rows}")
        if not np.isfinite(weight) or weight < 0:
            raise ValueError(f"weight of block {name!r} must be a finite number >= 0, got {weight!r}")
        m = sp.csr_matrix(m, dtype=np.float32)  # no copy when it is one already
        scale = np.float32(np.sqrt(weight))
        n_cols = m.shape[1]
        idx_dt = np.uint16 if n_cols <= 1 << 16 else m.indices.dtype
        cnt_dt = np.uint16 if n_cols < 1 << 16 else np.int32  # a row holds at most n_cols values
        chunks = []
        for r0, r1 in self.ranges:
            # rows are normalised on their own: a chunk at a time gives the same values as the whole block
            lo, hi = int(m.indptr[r0]), int(m.indptr[r1])
            part = sp.csr_matrix((m.data[lo:hi], m.indices[lo:hi], m.indptr[r0:r1 + 1] - lo), shape=(r1 - r0, n_cols))
            part = _weighted_block(part, scale)
            chunks.append((part.data.copy(), part.indices.astype(idx_dt), np.diff(part.indptr).astype(cnt_dt)))
            del part
        self._blocks[name] = (n_cols, chunks)

    def stack(self) -> tuple[sp.csr_matrix, list[tuple[str, slice]]]:
        """(CSR float32 (n_rows, total columns), column slice of each block in ``order``); every block must have
        been added. Each chunk is freed once copied, so the stack is empty afterwards."""
        missing = [b for b in self.order if b not in self._blocks]
        if missing:
            raise ValueError(f"blocks {missing} were never added")
        slices, offsets, start = [], [], 0
        for name in self.order:
            n_cols = self._blocks[name][0]
            slices.append((name, slice(start, start + n_cols)))
            offsets.append(start)
            start += n_cols
        row_nnz = np.zeros(self.n_rows, dtype=np.int64)
        for ci, (r0, r1) in enumerate(self.ranges):
            for name in self.order:
                row_nnz[r0:r1] += self._blocks[name][1][ci][2]
        indptr = np.zeros(self.n_rows + 1, dtype=np.int64)
        np.cumsum(row_nnz, out=indptr[1:])
        del row_nnz
        nnz = int(indptr[-1])
        dt = row_dtype(max(start, nnz))
        # untouched pages of np.empty take no memory: the result grows as the chunks are copied and freed
        data, indices = np.empty(nnz, dtype=np.float32), np.empty(nnz, dtype=dt)
        for ci, (r0, r1) in enumerate(self.ranges):
            filled = indptr[r0:r1].copy()  # next free position in each row of the chunk
            for name, offset in zip(self.order, offsets):
                chunks = self._blocks[name][1]
                d, ix, counts = chunks[ci]
                chunks[ci] = None
                counts = counts.astype(np.int64)
                starts = np.cumsum(counts) - counts  # first value of each row within the chunk
                dest = np.repeat(filled - starts, counts) + np.arange(len(d))
                data[dest] = d
                indices[dest] = ix.astype(dt) + offset
                filled += counts
                del d, ix, counts, starts, dest
            return_freed_memory()  # the chunks just copied (glibc keeps freed arrays below 32 MB otherwise)
        self._blocks.clear()
        return sp.csr_matrix((data, indices, indptr.astype(dt)), shape=(self.n_rows, start)), slices


def combine_blocks(blocks: Sequence[tuple[str, sp.spmatrix, float]], *, release: bool = False
                   ) -> tuple[sp.csr_matrix, list[tuple[str, slice]]]:
    """L2-normalise each block per row, scale it by sqrt(weight) and stack the blocks side by side.

    The dot product of two combined rows is then the weight-sum of their per-block cosines, so a weight says
    directly how much a block counts. Returns the CSR matrix (n_items, total columns, float32) and the column
    slice of each named block (for explanations).

    The blocks go through a :class:`BlockStack` (normalised and cut into row chunks one block at a time, then
    stacked a row chunk at a time). With ``release=True`` (``blocks`` must then be a list) every entry of
    ``blocks`` is set to None once its block is in the stack, so the caller's blocks are freed as it fills.
    """
    if not blocks:
        raise ValueError("blocks must name at least one (name, matrix, weight) block, got none")
    if release and not isinstance(blocks, MutableSequence):
        raise TypeError("release=True needs blocks as a list (its entries are dropped once copied)")
    n = blocks[0][1].shape[0]
    for name, m, w in blocks:
        if m.shape[0] != n:
            raise ValueError(f"block {name!r} has {m.shape[0]} rows, expected {n} like the first block")
        if not np.isfinite(w) or w < 0:
            raise ValueError(f"weight of block {name!r} must be a finite number >= 0, got {w!r}")
    names = [name for name, _, _ in blocks]
    stack = BlockStack(n, [str(i) for i in range(len(blocks))])  # positional keys: names may repeat here
    for i in range(len(blocks)):
        stack.add(str(i), blocks[i][1], blocks[i][2])
        if release:
            blocks[i] = None
    X, slices = stack.stack()
    return X, [(name, sl) for name, (_, sl) in zip(names, slices)]
