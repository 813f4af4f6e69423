"""Columns of strings held in one Arrow array instead of one Python object per value.

A Python ``str`` costs ~50 bytes plus its text, and a numpy object array another 8 bytes per pointer; an Arrow
string array costs its text plus an 8-byte offset. At the full dump that is the difference between ~2.3 GB and
~1 GB for the artists' ids and names, and again for the millions of feature names (collaborators, compilations,
playlists), all of which a build or the app holds while it works. :class:`StringColumn` keeps the text in Arrow
and makes Python strings only for the values asked for.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any, overload

import numpy as np
import pyarrow as pa

__all__ = ["StringColumn"]

_ITER_ROWS = 1 << 16  # values turned into Python strings at a time while iterating


class StringColumn(Sequence):
    """A read-only sequence of strings (or None) backed by one Arrow ``large_string`` array.

    Indexing follows numpy: an integer gives a ``str`` (or None), a slice gives a ``StringColumn``, and an integer
    array or a boolean mask gives an ndarray of object. ``np.asarray(column)`` gives every value as an ndarray of
    object (one Python string per value: for small columns or a final export only).

    Parameters
    ----------
    values : pyarrow Array or ChunkedArray of strings, or an iterable of str / None
    """

    __slots__ = ("_arr",)

    def __init__(self, values: pa.Array | pa.ChunkedArray | Iterable[str | None]) -> None:
        if isinstance(values, StringColumn):
            arr = values._arr
        elif isinstance(values, pa.ChunkedArray | pa.Array):
            if not (pa.types.is_string(values.type) or pa.types.is_large_string(values.type)
                    or pa.types.is_null(values.type)):
                raise TypeError(f"a StringColumn holds strings, got Arrow type {values.type}")
            # large_string: 8-byte offsets, so a column may hold more than 2 GB of text
            arr = values.cast(pa.large_string())
            if isinstance(arr, pa.ChunkedArray):
                arr = arr.combine_chunks() if arr.num_chunks != 1 else arr.chunk(0)
        else:
            vals = values.tolist() if isinstance(values, np.ndarray) else list(values)
            arr = pa.array(vals, type=pa.large_string())
        self._arr: pa.LargeStringArray = arr

    @classmethod
    def concat(cls, columns: Iterable[StringColumn | Sequence[str]]) -> StringColumn:
        """One column of the given columns' values, in order."""
        arrs = [c._arr if isinstance(c, StringColumn) else StringColumn(c)._arr for c in columns]
        return cls(pa.concat_arrays(arrs) if arrs else pa.array([], pa.large_string()))

    def to_arrow(self) -> pa.LargeStringArray:
        """The values as the Arrow array they are held in (no copy)."""
        return self._arr

    def __len__(self) -> int:
        return len(self._arr)

    @property
    def nbytes(self) -> int:
        """Bytes held (text, offsets and validity)."""
        return int(self._arr.nbytes)

    @overload
    def __getitem__(self, key: int | np.integer) -> str | None: ...
    @overload
    def __getitem__(self, key: slice) -> StringColumn: ...
    @overload
    def __getitem__(self, key: Any) -> np.ndarray: ...

    def __getitem__(self, key):
        if isinstance(key, int | np.integer):
            n = len(self._arr)
            i = int(key)
            if not -n <= i < n:
                raise IndexError(f"index {i} is out of bounds for a column of {n} strings")
            return self._arr[i + n if i < 0 else i].as_py()
        if isinstance(key, slice):
            start, stop, step = key.indices(len(self._arr))
            if step == 1:
                return StringColumn(self._arr.slice(start, max(stop - start, 0)))
            return StringColumn(self._arr.take(pa.array(np.arange(start, stop, step, dtype=np.int64))))
        idx = np.asarray(key)
        if idx.dtype == bool:
            if idx.shape != (len(self._arr),):
                raise IndexError(f"boolean index of shape {idx.shape} for a column of {len(self._arr)} strings")
            idx = np.flatnonzero(idx)
        if idx.size == 0:
            return np.empty(idx.shape, dtype=object)
        if not np.issubdtype(idx.dtype, np.integer):
            raise IndexError(f"a StringColumn is indexed by integers, slices or boolean masks, got {idx.dtype}")
        n = len(self._arr)
        if idx.min() < -n or idx.max() >= n:
            raise IndexError(f"index out of bounds for a column of {n} strings")
        flat = np.where(idx < 0, idx + n, idx).astype(np.int64, copy=False).ravel()
        out = self._arr.take(pa.array(flat)).to_numpy(zero_copy_only=False)
        return np.asarray(out, dtype=object).reshape(idx.shape)

    def __iter__(self) -> Iterator[str | None]:
        for start in range(0, len(self._arr), _ITER_ROWS):
            yield from self._arr.slice(start, _ITER_ROWS).to_pylist()

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        out = np.asarray(self._arr.to_numpy(zero_copy_only=False), dtype=object)
        return out if dtype is None or np.dtype(dtype) == np.dtype(object) else out.astype(dtype)

    def __eq__(self, other: object) -> bool:
        """Whether ``other`` is a StringColumn with the same values (not elementwise, unlike numpy)."""
        if not isinstance(other, StringColumn):
            return NotImplemented
        return self._arr.equals(other._arr)

    __hash__ = None  # type: ignore[assignment]  # mutable-looking sequence semantics: not hashable

    def __repr__(self) -> str:
        head = ", ".join(repr(v) for v in self._arr.slice(0, 3).to_pylist())
        return f"StringColumn([{head}{', ...' if len(self) > 3 else ''}], n={len(self)})"
