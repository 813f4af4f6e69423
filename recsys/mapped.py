"""Arrays read through read-only memory maps, and their pages handed back to the kernel once worked through.

Mental model: *a big saved array is read where it lies on disk; a pass over it drops the pages it has finished
with.* A memory-mapped array costs no memory until it is read, but every page read stays in the process's
resident set (and counts in its peak) until the mapping goes. :func:`drop_pages` tells the kernel a range is not
needed for now (``madvise(MADV_DONTNEED)``): the pages leave the resident set, stay in the page cache while there
is room, and are read again if touched. Only read-only file mappings are ever dropped, so no data can be lost.

numpy maps ``.npy`` files (``np.load(mmap_mode="r")``) but not the members of an ``.npz``; :func:`map_npz` does,
for the uncompressed archives ``np.savez`` writes (a stored member is a plain ``.npy`` at a known file offset).
"""

from __future__ import annotations

import mmap
import os
import struct
import zipfile
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import scipy.sparse as sp

__all__ = ["map_npz", "write_npz", "write_csr", "load_csr", "is_mapped", "drop_pages", "drop_csr_pages"]

#: a zip local file header: signature, versions, flags, method, times, crc, sizes, name and extra lengths
_LOCAL_HEADER = struct.Struct("<4s5H3L2H")


def map_npz(path: str | os.PathLike, names: Iterable[str] | None = None) -> dict[str, np.ndarray]:
    """Read-only memory maps of the arrays in an uncompressed ``.npz`` (``np.savez``), by name (without ``.npy``).

    Parameters
    ----------
    path : path-like
    names : iterable of str, optional
        The arrays wanted (default: all).

    Returns
    -------
    dict of str to ndarray
        ``np.memmap`` views (mode ``"r"``); empty arrays are plain empty arrays.

    Raises
    ------
    ValueError
        A member is compressed (``np.savez_compressed``), holds Python objects, or is not an ``.npy``; a wanted
        name is missing.
    zipfile.BadZipFile, OSError
        The file is not a readable zip archive.
    """
    p = Path(path)
    out: dict[str, np.ndarray] = {}
    with zipfile.ZipFile(p) as zf, open(p, "rb") as f:
        members = {i.filename[:-4]: i for i in zf.infolist() if i.filename.endswith(".npy")}
        wanted = list(members) if names is None else list(names)
        missing = [n for n in wanted if n not in members]
        if missing:
            raise ValueError(f"{str(p)!r} has no array {missing[0]!r} (it has {sorted(members)})")
        for name in wanted:
            info = members[name]
            if info.compress_type != zipfile.ZIP_STORED:
                raise ValueError(f"array {name!r} of {str(p)!r} is compressed and cannot be memory-mapped")
            f.seek(info.header_offset)
            head = f.read(_LOCAL_HEADER.size)
            if len(head) != _LOCAL_HEADER.size or head[:4] != b"PK\x03\x04":
                raise zipfile.BadZipFile(f"{str(p)!r}: damaged entry for {name!r}")
            name_len, extra_len = _LOCAL_HEADER.unpack(head)[-2:]
            f.seek(info.header_offset + _LOCAL_HEADER.size + name_len + extra_len)
            version = np.lib.format.read_magic(f)
            read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                           else np.lib.format.read_array_header_2_0)
            shape, fortran, dtype = read_header(f)
            if dtype.hasobject:
                raise ValueError(f"array {name!r} of {str(p)!r} holds Python objects; refusing to read it")
            if int(np.prod(shape)) == 0:
                out[name] = np.empty(shape, dtype=dtype)
                continue
            out[name] = np.memmap(p, dtype=dtype, mode="r", offset=f.tell(), shape=shape,
                                  order="F" if fortran else "C")
    return out


def write_npz(path: str | os.PathLike, arrays: dict[str, np.ndarray], *, chunk: int = 1 << 24) -> None:
    """Write ``arrays`` (by name) as an uncompressed ``.npz`` (what ``np.savez`` writes: ``np.load`` and
    :func:`map_npz` read it), a chunk of ``chunk`` bytes at a time. Arrays read through a memory map (HNSW's graph
    file, rows mapped from saved features) have each written chunk's pages handed back (:func:`drop_pages`), so
    saving them does not bring a second copy into memory. Never pickles: object arrays are refused."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED, allowZip64=True) as zf:
        for name, value in arrays.items():
            arr = np.asanyarray(value)
            with zf.open(f"{name}.npy", "w", force_zip64=True) as f:
                if arr.ndim != 1 or not arr.flags.c_contiguous or not is_mapped(arr):
                    np.lib.format.write_array(f, np.asarray(arr), allow_pickle=False)
                    continue
                np.lib.format.write_array_header_1_0(f, np.lib.format.header_data_from_array_1_0(arr))
                step = max(1, chunk // arr.itemsize)
                for start in range(0, len(arr), step):
                    f.write(np.asarray(arr[start:start + step]).view(np.uint8).data)
                    drop_pages(arr, start, start + step)


def write_csr(path: str | os.PathLike, X: sp.spmatrix) -> None:
    """Write ``X`` as the ``.npz`` :func:`load_csr` reads (``data``, ``indices``, ``indptr``, ``shape``), with
    :func:`write_npz`: memory-mapped rows are written a chunk at a time and their pages handed back."""
    X = sp.csr_matrix(X)
    write_npz(path, {"data": X.data, "indices": X.indices, "indptr": X.indptr,
                     "shape": np.asarray(X.shape, dtype=np.int64)})


def load_csr(path: str | os.PathLike, *, mapped: bool = False) -> sp.csr_matrix:
    """The CSR matrix of an ``.npz`` holding ``data``, ``indices``, ``indptr`` and ``shape`` (as ``features.npz``).

    With ``mapped=True`` its arrays are read-only memory maps (:func:`map_npz`): nothing is read until used, and
    passes over it can hand pages back with :func:`drop_csr_pages`. scipy keeps the arrays as they are when their
    index dtypes agree (as :func:`recsys.features.combine.stack_columns` writes them).
    """
    if mapped:
        z = map_npz(path, ["data", "indices", "indptr", "shape"])
        return sp.csr_matrix((z["data"], z["indices"], z["indptr"]), shape=tuple(int(v) for v in z["shape"]),
                             copy=False)
    with np.load(path, allow_pickle=False) as z:
        return sp.csr_matrix((z["data"], z["indices"], z["indptr"]), shape=tuple(int(v) for v in z["shape"]))


def _mapping(arr: np.ndarray) -> mmap.mmap | None:
    """The read-only file mapping ``arr``'s memory lies in, or None."""
    b = arr
    while b is not None:
        mm = b if isinstance(b, mmap.mmap) else getattr(b, "_mmap", None) if isinstance(b, np.memmap) else None
        if mm is not None:
            if getattr(b, "mode", "r") != "r" and not isinstance(b, mmap.mmap):
                return None  # a writable map may hold changes not yet on disk: never drop those
            return mm
        b = getattr(b, "base", None)
    return None


def is_mapped(arr: np.ndarray) -> bool:
    """Whether ``arr`` lies in a read-only file mapping (whose pages :func:`drop_pages` can hand back)."""
    mm = _mapping(arr)
    return mm is not None and not mm.closed


def drop_pages(arr: np.ndarray, start: int = 0, stop: int | None = None) -> bool:
    """Hand back the resident pages of ``arr[start:stop]`` (a 1-d contiguous array) if it is a read-only memory
    map; the pages are read again if used. Returns whether anything was dropped (False for arrays in memory,
    which are left alone)."""
    mm = _mapping(arr)
    if mm is None or mm.closed or arr.ndim != 1 or not arr.flags.c_contiguous or not len(arr):
        return False
    stop = len(arr) if stop is None else min(int(stop), len(arr))
    if stop <= start:
        return False
    base = np.frombuffer(mm, dtype=np.uint8, count=1).ctypes.data  # address of the mapping's first byte
    lo = arr.ctypes.data - base + int(start) * arr.itemsize
    hi = arr.ctypes.data - base + stop * arr.itemsize
    lo -= lo % mmap.PAGESIZE  # a boundary page shared with the next range is simply read again
    mm.madvise(mmap.MADV_DONTNEED, lo, min(hi, len(mm)) - lo)
    return True


def drop_csr_pages(X: sp.csr_matrix) -> bool:
    """:func:`drop_pages` for every array of a CSR matrix (after a pass over it). Returns whether it is mapped."""
    dropped = [drop_pages(a) for a in (X.data, X.indices, X.indptr)]
    return any(dropped)
