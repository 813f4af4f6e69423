"""Combine feature blocks into one item-vector matrix with explicit weights."""

from __future__ import annotations

import os
import shutil
import tempfile
import weakref
from collections.abc import Callable, MutableSequence, Sequence
from pathlib import Path
from typing import BinaryIO, NamedTuple

import numpy as np
import scipy.sparse as sp

from ..csr import row_ranges
from ..errors import RecsysError
from ._links import return_freed_memory, row_dtype, safe_normalize

__all__ = ["BlockStack", "SPILL_MIN_ROWS", "combine_blocks", "nnz_ranges", "spill_dir_for", "stack_columns"]

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


#: rows from which :func:`spill_dir_for` (the default of ``build_artist_space``) keeps finished blocks on disk:
#: below it the blocks are under ~100 MB (about 500 bytes per row), not worth a round trip through files
SPILL_MIN_ROWS = 200_000

_SPILL_HINT = ("point TMPDIR (or the spill_dir parameter) at an existing, writable directory on a disk with room "
               "for about 600 bytes per artist (~9 GB for the full 15.4M-artist dump), or pass spill_dir=False to "
               "keep the blocks in memory instead")


def spill_dir_for(spill_dir: str | os.PathLike | bool | None, n_rows: int) -> str | None:
    """Directory a :class:`BlockStack` of ``n_rows`` rows spills its blocks to, None for in memory.

    ``None`` (the default rule): :func:`tempfile.gettempdir` (``TMPDIR`` when that is a writable directory, else
    ``/tmp`` or another standard place) from :data:`SPILL_MIN_ROWS` rows on, in memory below. ``True``: always
    ``tempfile.gettempdir()``. ``False``: always in memory. A path: always there.
    """
    if spill_dir is None:
        return tempfile.gettempdir() if n_rows >= SPILL_MIN_ROWS else None
    if isinstance(spill_dir, bool):
        return tempfile.gettempdir() if spill_dir else None
    if not isinstance(spill_dir, (str, os.PathLike)) or not os.fspath(spill_dir):
        raise ValueError(f"spill_dir must be None, True, False or a directory path, got {spill_dir!r}")
    return os.fspath(spill_dir)


class _SpilledChunk(NamedTuple):
    """Where one row chunk of a spilled block lies in that block's three files."""

    stem: str  # the block's files are stem + ".data" (float32), ".indices" and ".counts" (values per row)
    value_start: int  # first value of the chunk in .data / .indices
    nnz: int
    row_start: int  # first row of the chunk in .counts (which holds every row of the block in order)
    n_rows: int
    idx_dt: np.dtype
    cnt_dt: np.dtype


def _append(f: BinaryIO, a: np.ndarray) -> None:
    """Append the raw bytes of ``a`` to ``f``.

    Not ``ndarray.tofile``: on a full disk it loses writes smaller than its stdio buffer without an error (numpy
    2.4), where Python's file object raises OSError (ENOSPC) on the write or at the latest on close.
    """
    f.write(memoryview(np.ascontiguousarray(a)).cast("B"))


def _read(path: str, dtype: np.dtype, count: int, start: int) -> np.ndarray:
    """``count`` values of ``dtype`` from ``path``, starting at value ``start`` (only these are read)."""
    a = np.fromfile(path, dtype=dtype, count=count, offset=start * np.dtype(dtype).itemsize)
    if len(a) != count:
        raise OSError(f"{path!r} ends early ({len(a)} of {count} values at value {start}): was it removed or "
                      "cut short while the build ran?")
    return a


class BlockStack:
    """Weighted blocks collected one at a time, in any order, then stacked side by side into one CSR matrix.

    Mental model: *each block is normalised and weighted when it arrives and kept as row chunks (in memory, or
    in files when spilling); the stack is filled a row chunk at a time and each chunk of every block is freed
    once copied.* So the blocks and the result are never held whole at the same time: the peak of :meth:`stack`
    is the result plus one row chunk of every block, where one preallocated result filled block by block
    (:func:`stack_columns`) held the result and every block (twice the result). A chunk stores its column
    indices as uint16 when the block has at most 65,536 columns (6 bytes a value instead of 8, for the narrow
    blocks: genres, era, markets, audio ...).

    With ``spill_dir`` the finished blocks wait on disk, not in memory, while later blocks are made (in a build,
    genre inference runs last and is the most memory-hungry step): each block goes to three files (values,
    column indices, values per row) in a private directory ``recsys-blocks-*`` made inside ``spill_dir``, its
    chunks appended in row order, and only their offsets stay in memory. :meth:`stack` reads a chunk back when it
    copies it, so the result is bit for bit the one made in memory. Disk needed: about the size of the result
    (~600 bytes per artist for the artist space).

    The private directory is removed by :meth:`stack`, :meth:`close`, leaving a ``with`` block (also on an
    exception or Ctrl-C), a failed write, or at the latest when the stack is garbage-collected or the interpreter
    exits.

    Parameters
    ----------
    n_rows : int
        Rows of every block.
    order : sequence of str
        Block names in column order (the order :meth:`stack` places them; :meth:`add` may come in any order).
    spill_dir : str or path-like, optional
        Existing directory to keep the blocks in until :meth:`stack` (None: in memory).

    Raises
    ------
    RecsysError
        ``spill_dir`` is missing, not a directory or not writable (and later: a block cannot be written there,
        e.g. the disk is full).
    """

    def __init__(self, n_rows: int, order: Sequence[str], *, spill_dir: str | os.PathLike | None = None) -> None:
        self.n_rows = int(n_rows)
        self.order = list(order)
        step = max(_STACK_MIN_ROWS, -(-self.n_rows // _STACK_CHUNKS))
        bounds = list(range(0, self.n_rows, step)) + [self.n_rows]
        #: (start, stop) row range of each chunk
        self.ranges: list[tuple[int, int]] = list(zip(bounds[:-1], bounds[1:])) or [(0, 0)]
        #: name -> (n_cols, chunks): each chunk (data float32, indices, row counts), a _SpilledChunk, or None
        #: once stacked
        self._blocks: dict[str, tuple[int, list]] = {}
        self.closed = False
        #: the private directory holding the spilled blocks (None: blocks in memory)
        self.spill_path: Path | None = None
        self._cleanup: weakref.finalize | None = None
        if spill_dir is not None:
            try:
                self.spill_path = Path(tempfile.mkdtemp(prefix="recsys-blocks-", dir=spill_dir))
            except OSError as e:
                raise RecsysError(f"cannot keep feature blocks in {os.fspath(spill_dir)!r}: "
                                  f"{e.strerror or e}", hint=_SPILL_HINT) from e
            # the safety net for a caller that neither closes nor stacks: removed on collection or at exit
            self._cleanup = weakref.finalize(self, shutil.rmtree, str(self.spill_path), ignore_errors=True)

    def __enter__(self) -> BlockStack:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Drop every block and remove the spill directory (if any). Safe to call more than once."""
        self._blocks.clear()
        self.closed = True
        if self._cleanup is not None:
            self._cleanup()  # runs shutil.rmtree once; later calls do nothing

    def _check_open(self) -> None:
        if self.closed:
            raise ValueError("this BlockStack is closed (stacked already, or closed): make a new one")

    def add(self, name: str, m: sp.spmatrix, weight: float) -> None:
        """Normalise the rows of block ``name`` (n_rows, any width), scale it by sqrt(``weight``) and keep it in
        row chunks, a chunk at a time (no normalised copy of the whole block), in memory or in the spill
        directory. ``m`` is not modified; drop it after the call to free it.

        Raises
        ------
        ValueError
            Unknown or repeated name, wrong number of rows, negative or non-finite weight, closed stack.
        RecsysError
            The block cannot be written to the spill directory (e.g. disk full); the stack is then closed and its
            directory removed.
        """
        self._check_open()
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
        idx_dt = np.dtype(np.uint16 if n_cols <= 1 << 16 else m.indices.dtype)
        cnt_dt = np.dtype(np.uint16 if n_cols < 1 << 16 else np.int32)  # a row holds at most n_cols values

        def chunks_of_m():
            for r0, r1 in self.ranges:
                # rows are normalised on their own: a chunk at a time gives the same values as the whole block
                lo, hi = int(m.indptr[r0]), int(m.indptr[r1])
                part = sp.csr_matrix((m.data[lo:hi], m.indices[lo:hi], m.indptr[r0:r1 + 1] - lo),
                                     shape=(r1 - r0, n_cols))
                part = _weighted_block(part, scale)
                yield r0, part.data, part.indices.astype(idx_dt), np.diff(part.indptr).astype(cnt_dt)
                del part

        if self.spill_path is None:
            self._blocks[name] = (n_cols, [(d.copy(), ix, c) for _, d, ix, c in chunks_of_m()])
            return
        # files named by position: block names may hold any character
        stem = str(self.spill_path / f"block{self.order.index(name)}")
        chunks, pos = [], 0
        try:
            with open(stem + ".data", "wb") as fd, open(stem + ".indices", "wb") as fi, \
                    open(stem + ".counts", "wb") as fc:
                for r0, d, ix, c in chunks_of_m():
                    _append(fd, d.astype(np.float32, copy=False))
                    _append(fi, ix)
                    _append(fc, c)
                    chunks.append(_SpilledChunk(stem, pos, len(d), r0, len(c), idx_dt, cnt_dt))
                    pos += len(d)
                    del d, ix, c
        except OSError as e:
            where = self.spill_path.parent
            self.close()  # a half-written stack is of no use: leave nothing behind
            raise RecsysError(f"cannot write feature block {name!r} to {str(where)!r}: {e.strerror or e}",
                              hint=_SPILL_HINT) from e
        self._blocks[name] = (n_cols, chunks)
        return_freed_memory()  # the chunks just written (small arrays stay in glibc's heap otherwise)

    @staticmethod
    def _counts(chunk: tuple | _SpilledChunk) -> np.ndarray:
        """Values per row of a chunk."""
        if isinstance(chunk, _SpilledChunk):
            return _read(chunk.stem + ".counts", chunk.cnt_dt, chunk.n_rows, chunk.row_start)
        return chunk[2]

    @staticmethod
    def _arrays(chunk: tuple | _SpilledChunk) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(data float32, column indices, values per row) of a chunk, read back if it was spilled."""
        if isinstance(chunk, _SpilledChunk):
            return (_read(chunk.stem + ".data", np.dtype(np.float32), chunk.nnz, chunk.value_start),
                    _read(chunk.stem + ".indices", chunk.idx_dt, chunk.nnz, chunk.value_start),
                    _read(chunk.stem + ".counts", chunk.cnt_dt, chunk.n_rows, chunk.row_start))
        return chunk

    def stack(self) -> tuple[sp.csr_matrix, list[tuple[str, slice]]]:
        """(CSR float32 (n_rows, total columns), column slice of each block in ``order``); every block must have
        been added. Each chunk is freed once copied, so the stack is empty (and closed, its spill directory
        removed) afterwards, also when this fails.

        Raises
        ------
        ValueError
            A block was never added, or the stack is closed.
        RecsysError
            A spilled chunk cannot be read back (its file was removed or cut short while the build ran).
        """
        self._check_open()
        missing = [b for b in self.order if b not in self._blocks]
        if missing:
            raise ValueError(f"blocks {missing} were never added")
        try:
            return self._stack()
        except OSError as e:
            raise RecsysError(f"cannot read feature blocks back from {str(self.spill_path)!r}: {e.strerror or e}",
                              hint="keep the spill directory while a build runs (a temp cleaner may have removed "
                                   "it), or " + _SPILL_HINT) from e
        finally:
            self.close()

    def _stack(self) -> tuple[sp.csr_matrix, list[tuple[str, slice]]]:
        slices, offsets, start = [], [], 0
        for name in self.order:
            n_cols = self._blocks[name][0]
            slices.append((name, slice(start, start + n_cols)))
            offsets.append(start)
            start += n_cols
        row_nnz = np.zeros(self.n_rows, dtype=np.int64)
        for ci, (r0, r1) in enumerate(self.ranges):
            for name in self.order:
                row_nnz[r0:r1] += self._counts(self._blocks[name][1][ci])
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
                d, ix, counts = self._arrays(chunks[ci])
                chunks[ci] = None
                counts = counts.astype(np.int64)
                starts = np.cumsum(counts) - counts  # first value of each row within the chunk
                dest = np.repeat(filled - starts, counts) + np.arange(len(d))
                data[dest] = d
                indices[dest] = ix.astype(dt) + offset
                filled += counts
                del d, ix, counts, starts, dest
            return_freed_memory()  # the chunks just copied (glibc keeps freed arrays below 32 MB otherwise)
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
