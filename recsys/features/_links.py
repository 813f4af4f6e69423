"""Artist-album-track relations shared by several feature families, computed once per catalog.

Every relation is returned as row arrays (positions in the catalog tables, the index space of every block), never
as rowids. Relations the size of the credits or tracks hold their rows as int32 while the target table has fewer
than 2**31 rows (the full dump's 256M tracks, 58.6M albums and 15.4M artists do): a credit then costs 9 bytes
instead of 17. Do arithmetic on them in int64 (``a.astype(np.int64) * n``), never in their own dtype.

Results are cached per ``Catalog`` object (weakly, so a closed catalog frees them): the era, label, market,
compilation and track-space builders all start from the same joins. At 15.4M artists these caches are the
largest thing a feature build holds, so a build drops each entry once no family still to run reads it
(:class:`CacheScope`, with the dependencies in :data:`INPUTS`); a dropped entry is rebuilt if read again, so
dropping never changes a result, only what it costs.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import weakref
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import scipy.sparse as sp
from sklearn.preprocessing import normalize

from ..catalog import Catalog
from ._rows import rowid_to_row

__all__ = ["safe_normalize", "Credits", "credits", "album_rows_of_tracks", "own_albums", "artist_album_links",
           "credit_album_chunks", "distinct_pairs", "array_chunks", "pairs_of", "PAIR_CHUNK", "cached", "release",
           "cache_keys", "CacheScope", "done_reading", "return_freed_memory", "INPUTS", "RowMap", "row_map",
           "row_dtype", "fk_rows", "take_column", "used_columns", "incidence", "normalized_text", "column_rows", "artists_with",
           "artists_with_genres", "iter_batches", "table_columns", "table_rowids", "track_artist_matrix",
           "track_artist_csr", "BATCH_ROWS"]

#: rows per batch when a table is streamed: a 256k-row batch of three int64 columns is 6 MB, plus Arrow's decode
#: buffers and the per-batch row arrays, ~50 bytes a row in all (larger batches were no faster)
BATCH_ROWS = 1 << 18

_CACHE: weakref.WeakKeyDictionary[Catalog, dict[str, Any]] = weakref.WeakKeyDictionary()

#: the innermost open :class:`CacheScope` of each catalog (what :func:`done_reading` asks)
_SCOPES: weakref.WeakKeyDictionary[Catalog, list[CacheScope]] = weakref.WeakKeyDictionary()

#: What each cached relation (key prefix) is built from: a build keeps an entry while a family still to run reads
#: it, or reads a relation not built yet that is made from it. Keys made by the family modules are listed too.
INPUTS: dict[str, tuple[str, ...]] = {
    "credits": ("rowmap:tracks", "rowmap:artists"),
    "artist_album_links": ("rowmap:artists", "rowmap:albums"),
    "own_albums": ("artist_album_links", "credits", "fk:tracks.album_rowid"),
    "fk:": ("rowmap:",),
    "rows:": ("rowmap:",),
    "collab_incidence": ("credits",),
    "artist_playlist_counts": ("credits", "rowmap:tracks", "rowmap:playlists"),
    "audio_means": ("credits", "rowmap:tracks"),
    "combination_markets": (),
    "counts:labels": ("own_albums", "rowmap:"),
    "counts:markets": ("own_albums", "combination_markets", "fk:albums.available_markets_rowid"),
    "counts:collaborations": ("collab_incidence", "rowmap:artists"),
    "counts:compilations": ("credits", "fk:tracks.album_rowid", "artist_album_links", "rowmap:albums"),
}


def cached(catalog: Catalog, key: str, build: Callable[[], Any]) -> Any:
    """Value of ``build()`` memoised on ``catalog`` under ``key``."""
    store = _CACHE.setdefault(catalog, {})
    if key not in store:
        store[key] = build()
    return store[key]


def cache_keys(catalog: Catalog) -> list[str]:
    """Keys of the relations currently cached on ``catalog``."""
    return list(_CACHE.get(catalog, {}))


def release(catalog: Catalog, keys: Iterable[str] | None = None) -> None:
    """Drop cached relations of ``catalog``: those whose key starts with one of ``keys`` (every one when None).

    The memory returns once nothing else refers to the value; a later read rebuilds it.
    """
    store = _CACHE.get(catalog)
    if not store:
        return
    prefixes = None if keys is None else tuple(keys)
    for k in list(store):
        if prefixes is None or k.startswith(prefixes):
            del store[k]


def _libc_malloc_trim() -> Callable[[int], int] | None:
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim
    except (OSError, AttributeError):  # not glibc (macOS, musl ...): nothing to trim
        return None


_MALLOC_TRIM = _libc_malloc_trim()


def return_freed_memory() -> None:
    """Hand memory freed by dropped relations back to the operating system.

    Arrow's allocator (mimalloc) keeps the buffers of streamed batches for reuse, which only Arrow can reuse; glibc
    keeps freed arrays below its adaptive mmap threshold (up to 32 MB) in its heap. Neither is a leak, but both
    count towards the process's resident memory and are not reusable by the other allocator.
    """
    pa.default_memory_pool().release_unused()
    if _MALLOC_TRIM is not None:
        _MALLOC_TRIM(0)


def _closure(catalog: Catalog, uses: Iterable[str]) -> set[str]:
    """Key prefixes to keep for ``uses``: each use, plus the inputs (recursively) of a use not cached yet."""
    have = cache_keys(catalog)
    todo, out = list(uses), set()
    while todo:
        u = todo.pop()
        if u in out:
            continue
        out.add(u)
        if not any(k.startswith(u) for k in have):
            todo.extend(i for p, ins in INPUTS.items() if u.startswith(p) or p.startswith(u) for i in ins)
    return out


class CacheScope:
    """The cache entries a build makes, dropped as soon as they are no longer needed and all at its end.

    Entries that existed before the scope opened are left alone (someone else made them and may still want
    them). Use as a context manager; :meth:`keep_only` between steps.

    Parameters
    ----------
    catalog : Catalog
    """

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self._before = set(cache_keys(catalog))
        #: what the steps after the running one read (key prefixes; None: unknown, keep everything): set by the
        #: build before each step, so a step can hand back its inputs early (:func:`done_reading`)
        self.later: tuple[str, ...] | None = None

    def __enter__(self) -> CacheScope:
        _SCOPES.setdefault(self.catalog, []).append(self)
        return self

    def __exit__(self, *exc: object) -> None:
        stack = _SCOPES.get(self.catalog, [])
        if self in stack:
            stack.remove(self)
        self.keep_only(())

    def keep_only(self, uses: Iterable[str] | None) -> None:
        """Drop the entries made in this scope that neither ``uses`` (key prefixes) nor the building of a use
        not cached yet needs (:data:`INPUTS`). ``None`` keeps everything (a step that does not say what it
        reads)."""
        if uses is None:
            return
        keep = tuple(_closure(self.catalog, uses))
        store = _CACHE.get(self.catalog, {})
        for k in [k for k in store if k not in self._before and not (keep and k.startswith(keep))]:
            del store[k]
        return_freed_memory()


def done_reading(catalog: Catalog) -> None:
    """Called by a step once it has read every cached relation it needs (e.g. genre inference, after building
    its links): the innermost open :class:`CacheScope` of ``catalog`` then drops what only that step read (it
    knows what later steps read from :attr:`CacheScope.later`). Without an open scope, or when later steps are
    unknown, nothing happens, so a step may always call it.
    """
    stack = _SCOPES.get(catalog)
    if stack and stack[-1].later is not None:
        stack[-1].keep_only(stack[-1].later)


def iter_batches(catalog: Catalog, table: str, columns: list[str], *, batch_rows: int | None = None
                 ) -> Iterator[pa.RecordBatch]:
    """Stream ``columns`` of a catalog table in file order, :data:`BATCH_ROWS` rows at a time, without caching
    (:meth:`recsys.catalog.Catalog.iter_batches`, checksum checked like ``Catalog.table``).

    A stream read to its end hands the buffers Arrow kept for its batches back (only Arrow could reuse them).
    """
    yield from catalog.iter_batches(table, columns, batch_rows=int(batch_rows or BATCH_ROWS))
    pa.default_memory_pool().release_unused()


def table_columns(catalog: Catalog, table: str) -> list[str]:
    """Column names of a catalog table, from its Parquet schema (no data read)."""
    return catalog.columns(table)


def _int_column(batch: pa.RecordBatch, name: str) -> np.ndarray:
    col = batch.column(name)
    return (col.fill_null(-1) if col.null_count else col).to_numpy(zero_copy_only=False).astype(np.int64, copy=False)


def row_dtype(n_rows: int) -> type:
    """Smallest dtype of row positions into a table of ``n_rows`` rows (int32 below 2**31 rows, else int64)."""
    return np.int32 if n_rows < 2**31 else np.int64


@dataclass(frozen=True)
class RowMap:
    """rowid -> row of one table (rows are positions in its ascending ``rowid`` column).

    Dump rowids are dense, so the usual map is ``rowid - first`` and holds no array; a table with gaps keeps
    its sorted rowids (8 bytes per row).
    """

    first: int
    n: int
    rowids: np.ndarray | None  # None: rowids are first .. first + n - 1

    def rows(self, rowids: np.ndarray) -> np.ndarray:
        """int64 rows of ``rowids``, -1 where absent."""
        rowids = np.asarray(rowids, dtype=np.int64)
        if self.rowids is not None:
            return rowid_to_row(self.rowids, rowids)
        r = rowids - self.first
        r[(r < 0) | (r >= self.n)] = -1
        return r


def row_map(catalog: Catalog, table: str) -> RowMap:
    """The :class:`RowMap` of a table, cached; its rowid column is streamed (never held whole when dense)."""
    def build() -> RowMap:
        first, n, dense = None, 0, True
        for b in iter_batches(catalog, table, ["rowid"]):
            r = _int_column(b, "rowid")
            if first is None and len(r):
                first = int(r[0])
            if len(r) and dense:
                dense = int(r[0]) == first + n and int(r[-1]) == first + n + len(r) - 1 \
                    and bool((np.diff(r) == 1).all())
            n += len(r)
        if dense:
            return RowMap(first or 0, n, None)
        return RowMap(first or 0, n, table_rowids(catalog, table))
    return cached(catalog, f"rowmap:{table}", build)


def table_rowids(catalog: Catalog, table: str) -> np.ndarray:
    """The (ascending) ``rowid`` column of a table, int64, cached: the map from foreign keys to rows."""
    return cached(catalog, f"rowids:{table}",
                  lambda: catalog.table(table, ["rowid"], cache=False).column(0).to_numpy())


def _resolve_fk(catalog: Catalog, table: str, fk_column: str, target: str, dtype: type) -> np.ndarray:
    m = row_map(catalog, target)
    out = np.empty(catalog.num_rows(table), dtype=dtype)
    start = 0
    for b in iter_batches(catalog, table, [fk_column]):
        out[start:start + b.num_rows] = m.rows(_int_column(b, fk_column))
        start += b.num_rows
    return out


def fk_rows(catalog: Catalog, table: str, fk_column: str, target: str) -> np.ndarray:
    """Rows in ``target`` of the foreign key ``table.fk_column`` (-1 where it does not resolve), in the compact
    :func:`row_dtype` of ``target``, cached; the column is streamed."""
    return cached(catalog, f"fk:{table}.{fk_column}->{target}", lambda: _resolve_fk(
        catalog, table, fk_column, target, row_dtype(catalog.num_rows(target))))


def column_rows(catalog: Catalog, table: str, fk_column: str, target: str) -> np.ndarray:
    """Rows in ``target`` (e.g. "albums") of the foreign key ``table.fk_column``, int64; -1 where it does not
    resolve. Cached; the column is streamed (:func:`fk_rows` holds the same in half the memory)."""
    return cached(catalog, f"rows:{table}.{fk_column}->{target}",
                  lambda: _resolve_fk(catalog, table, fk_column, target, np.int64))


def take_column(catalog: Catalog, table: str, column: str, rows: np.ndarray) -> pa.Array:
    """``table.column`` at the ascending ``rows``, streamed (the whole column is never held)."""
    rows = np.asarray(rows, dtype=np.int64)
    parts, start, typ = [], 0, None
    for b in iter_batches(catalog, table, [column]):
        typ = b.schema.field(0).type
        lo, hi = np.searchsorted(rows, [start, start + b.num_rows])
        if hi > lo:
            parts.append(b.column(0).take(pa.array(rows[lo:hi] - start)))
        start += b.num_rows
    if typ is None:  # an empty table: no batch to take the type from
        typ = catalog.table(table, [column], cache=False).schema.field(0).type
    return pa.concat_arrays(parts) if parts else pa.array([], typ)


def used_columns(m: sp.csr_matrix) -> tuple[sp.csr_matrix, np.ndarray]:
    """(``m`` without its empty columns, the original index of each kept column, ascending).

    Keeps column order, so a product ``m @ P`` visits the same columns in the same order as before: token
    families use it to read only the keys of tokens somebody has.
    """
    used = np.flatnonzero(np.bincount(m.indices, minlength=m.shape[1]))
    new = np.full(m.shape[1], -1, dtype=m.indices.dtype)
    new[used] = np.arange(len(used), dtype=m.indices.dtype)
    out = sp.csr_matrix((m.data, new[m.indices], m.indptr), shape=(m.shape[0], len(used)))
    out.has_sorted_indices = m.has_sorted_indices
    return out, used


def artists_with(catalog: Catalog, table: str) -> np.ndarray:
    """Boolean mask over artist rows: artists that have at least one row in ``table`` (via ``artist_rowid``)."""
    def build() -> np.ndarray:
        mask = np.zeros(catalog.num_rows("artists"), dtype=bool)
        r = fk_rows(catalog, table, "artist_rowid", "artists")
        mask[r[r >= 0]] = True
        return mask
    return cached(catalog, f"artists_with:{table}", build)


def artists_with_genres(catalog: Catalog) -> np.ndarray:
    """Boolean mask over artist rows: artists with at least one genre in the dump."""
    return artists_with(catalog, "artist_genres")


@dataclass(frozen=True)
class Credits:
    """Track credits in credit order: ``track[i]`` is credited to ``artist[i]``; ``primary[i]`` marks the first
    credit of each track (the dump has no position column; insertion order is the credit order).

    ``track`` and ``artist`` are rows in the :func:`row_dtype` of the larger of the two tables (int32 for the
    full dump): 9 bytes per credit.
    """

    track: np.ndarray  # track rows, ascending
    artist: np.ndarray  # artist rows
    primary: np.ndarray  # bool

    def spans(self, tracks: np.ndarray | int) -> tuple[np.ndarray, np.ndarray]:
        """(start, stop) of each given track row's credits in these arrays.

        Use this rather than ``np.searchsorted(c.track, rows)``: a query of another dtype than ``track`` (an
        int64 array, even a Python int) makes NumPy copy all of ``track`` to int64 first, 2.8 GB at 348M credits.
        """
        q = np.asarray(tracks)
        q = np.where((q >= 0) & (q <= np.iinfo(self.track.dtype).max), q, -1).astype(self.track.dtype)
        return np.searchsorted(self.track, q, "left"), np.searchsorted(self.track, q, "right")


def _sorted_credit_order(catalog: Catalog, trk: np.ndarray, ascending: bool,
                         t_map: RowMap, a_map: RowMap) -> np.ndarray | None:
    """Permutation sorting the credits by (track, credit order), None when they already are."""
    if ascending:
        if len(trk) < 2 or bool((trk[1:] >= trk[:-1]).all()):
            return None  # ingest writes credits grouped by track: nothing to sort
        # file order is rowid order: a stable sort by track alone equals lexsort((rowid, track))
        return np.argsort(trk, kind="stable")
    # a table out of rowid order: a second pass reads the rowids of the kept credits to sort by them
    keys = []
    for b in iter_batches(catalog, "track_artists", ["rowid", "track_rowid", "artist_rowid"]):
        ok = (t_map.rows(_int_column(b, "track_rowid")) >= 0) & (a_map.rows(_int_column(b, "artist_rowid")) >= 0)
        keys.append(_int_column(b, "rowid")[ok])
    return np.lexsort((np.concatenate(keys), trk))


def _first_credits(trk: np.ndarray, art: np.ndarray) -> np.ndarray:
    """Mask of the credits that are not a repeat of an earlier (track, artist) credit; ``trk`` ascending.

    Repeats can only sit inside a track's run, so only tracks with >= 2 credits need the pair sort.
    """
    keep = np.ones(len(trk), dtype=bool)
    if len(trk) < 2:
        return keep
    same_next = trk[:-1] == trk[1:]
    multi = np.flatnonzero(np.concatenate([[False], same_next]) | np.concatenate([same_next, [False]]))
    del same_next
    if len(multi):
        mt, ma = trk[multi], art[multi]
        pair = np.lexsort((np.arange(len(mt)), ma, mt))
        mt, ma = mt[pair], ma[pair]
        keep[multi[pair[1:][(mt[1:] == mt[:-1]) & (ma[1:] == ma[:-1])]]] = False
    return keep


def _drop_repeated_credits(trk: np.ndarray, art: np.ndarray, *, chunk: int = 1 << 20) -> int:
    """Remove repeated (track, artist) credits in place, a run of whole tracks at a time (bounded temporaries);
    returns the number of credits kept (the first ones of ``trk`` and ``art``)."""
    n, start, w = len(trk), 0, 0
    while start < n:
        stop = min(n, start + chunk)
        if stop < n:  # end the chunk at a track boundary (after the run of a track longer than a chunk)
            stop = int(np.searchsorted(trk, trk[stop], side="left"))
            if stop <= start:
                stop = int(np.searchsorted(trk, trk[start], side="right"))
        keep = _first_credits(trk[start:stop], art[start:stop])
        k = int(keep.sum())
        if k == stop - start:
            if w != start:
                trk[w:w + k], art[w:w + k] = trk[start:stop], art[start:stop]
        else:
            trk[w:w + k], art[w:w + k] = trk[start:stop][keep], art[start:stop][keep]
        w, start = w + k, stop
    return w


def _prefix(a: np.ndarray, n: int) -> np.ndarray:
    """``a[:n]``, copied when that frees much of ``a`` (a view would keep all of it alive)."""
    return a[:n] if n >= 0.9 * len(a) else a[:n].copy()


def credits(catalog: Catalog) -> Credits:
    """All resolvable ``track_artists`` credits, sorted by (track, credit order), duplicates removed.

    The table is streamed (it is never held whole, nor cached by the catalog) into two preallocated arrays of
    the credits' rows in the compact :func:`row_dtype`: about 10 bytes per credit at the peak, 9 kept. Ingest
    writes credits in rowid order, grouped by track, so usually nothing needs sorting (checked; a table out of
    rowid order falls back to sorting by rowid).
    """
    def build() -> Credits:
        t_map, a_map = row_map(catalog, "tracks"), row_map(catalog, "artists")
        dt = row_dtype(max(t_map.n, a_map.n))
        n_rows = catalog.num_rows("track_artists")
        trk, art = np.empty(n_rows, dtype=dt), np.empty(n_rows, dtype=dt)
        n, ascending, last = 0, True, None
        for b in iter_batches(catalog, "track_artists", ["rowid", "track_rowid", "artist_rowid"]):
            rid = _int_column(b, "rowid")
            if len(rid):
                ascending &= bool((np.diff(rid) > 0).all()) and (last is None or rid[0] > last)
                last = int(rid[-1])
            t = t_map.rows(_int_column(b, "track_rowid"))
            a = a_map.rows(_int_column(b, "artist_rowid"))
            ok = (t >= 0) & (a >= 0)
            k = int(ok.sum())
            trk[n:n + k], art[n:n + k] = t[ok], a[ok]
            n += k
        trk, art = _prefix(trk, n), _prefix(art, n)
        o = _sorted_credit_order(catalog, trk, ascending, t_map, a_map)
        if o is not None:
            trk, art = trk[o], art[o]
            del o
        # the same artist credited twice on one track counts once (the earlier credit stays)
        n = _drop_repeated_credits(trk, art)
        trk, art = _prefix(trk, n), _prefix(art, n)
        primary = np.ones(len(trk), dtype=bool)
        primary[1:] = trk[1:] != trk[:-1]
        return Credits(trk, art, primary)
    return cached(catalog, "credits", build)


def track_artist_csr(c: Credits, n_tracks: int, n_artists: int, *, copy: bool = True) -> sp.csr_matrix:
    """Track x artist 0/1 CSR float32 of ``c`` (columns in credit order); ``copy=False`` shares ``c.artist`` as
    its indices, saving 4 bytes per credit, for a matrix that stays private to its caller: an in-place
    ``sort_indices`` on it would reorder the cached credits."""
    dt = row_dtype(max(len(c.artist), n_artists))
    indptr = np.zeros(n_tracks + 1, dtype=dt)
    np.cumsum(np.bincount(c.track, minlength=n_tracks), out=indptr[1:])
    indices = c.artist.astype(dt, copy=copy)
    m = sp.csr_matrix((np.ones(len(indices), dtype=np.float32), indices, indptr), shape=(n_tracks, n_artists))
    return m


def track_artist_matrix(catalog: Catalog) -> sp.csr_matrix:
    """Track x artist 0/1 matrix of the credits, CSR float32 (n_tracks, n_artists), columns in credit order.

    Made from :func:`credits` without a sort (credits are already grouped by track): the map every streamed
    per-track table (playlist entries, audio features) is expanded to artists with.
    """
    return cached(catalog, "track_artist_matrix", lambda: track_artist_csr(
        credits(catalog), catalog.num_rows("tracks"), catalog.num_rows("artists"), copy=True))


def album_rows_of_tracks(catalog: Catalog) -> np.ndarray:
    """Album row of every track row (-1 where the album is missing), shape (n_tracks,), :func:`row_dtype`."""
    return fk_rows(catalog, "tracks", "album_rowid", "albums")


def artist_album_links(catalog: Catalog) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``artist_albums`` as (artist row, album row, kind int8) with kind 0 = own, 1 = appears on, 2 = implicit;
    rows in :func:`row_dtype`, the table streamed."""
    def build() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        a_map, b_map = row_map(catalog, "artists"), row_map(catalog, "albums")
        n_rows = catalog.num_rows("artist_albums")
        dt = row_dtype(max(a_map.n, b_map.n))
        arts, albs, kinds = np.empty(n_rows, dt), np.empty(n_rows, dt), np.empty(n_rows, np.int8)
        n = 0
        cols = ["artist_rowid", "album_rowid", "is_appears_on", "is_implicit_appears_on"]
        for b in iter_batches(catalog, "artist_albums", cols):
            art, alb = a_map.rows(_int_column(b, cols[0])), b_map.rows(_int_column(b, cols[1]))
            appears = b.column(2).fill_null(False).to_numpy(zero_copy_only=False).astype(bool)
            implicit = b.column(3).fill_null(False).to_numpy(zero_copy_only=False).astype(bool)
            ok = (art >= 0) & (alb >= 0)
            k = int(ok.sum())
            arts[n:n + k], albs[n:n + k] = art[ok], alb[ok]
            kinds[n:n + k] = np.where(appears, 1, np.where(implicit, 2, 0))[ok]
            n += k
        return _prefix(arts, n), _prefix(albs, n), _prefix(kinds, n)
    return cached(catalog, "artist_album_links", build)


#: pairs per chunk when a relation is built from the credits a chunk at a time (a 4M-credit chunk's pair matrix
#: is ~100 MB of temporaries)
PAIR_CHUNK = 1 << 22


def distinct_pairs(chunks: Iterable[tuple[np.ndarray, np.ndarray]], shape: tuple[int, int]) -> sp.csr_matrix:
    """0/1 matrix of the distinct (row, col) pairs of all ``chunks``, CSR float32 with sorted indices.

    Each chunk becomes a deduplicated sparse matrix; they are added to a running total once the pending ones reach
    an eighth of it (so a merge, which copies the total, happens a bounded number of times per doubling of the
    total). Working memory is about 2.3 times the result plus a chunk, never a sort of every pair (measured 2.9
    times at 1M artists): the relations of the full dump's 348M credits are built this way.
    """
    total: sp.csr_matrix | None = None
    pending: list[sp.csr_matrix] = []
    for rows, cols in chunks:
        pending.append(incidence(rows, cols, shape, binary=True))
        if total is None:
            total = pending.pop()
        elif 8 * sum(m.nnz for m in pending) >= total.nnz:
            for m in pending:
                total = total + m
            pending = []
    for m in pending:
        total = total + m
    if total is None:
        return sp.csr_matrix(shape, dtype=np.float32)
    total = sp.csr_matrix(total, dtype=np.float32)
    total.data[:] = 1.0
    total.sort_indices()
    return total


def array_chunks(*arrays: np.ndarray) -> Iterator[tuple[np.ndarray, ...]]:
    """Views of equally long ``arrays``, :data:`PAIR_CHUNK` elements at a time."""
    n = len(arrays[0]) if arrays else 0
    for i in range(0, n, PAIR_CHUNK):
        yield tuple(a[i:i + PAIR_CHUNK] for a in arrays)


def credit_album_chunks(catalog: Catalog, *, primary_only: bool = False, album_mask: np.ndarray | None = None
                        ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(artist rows, album rows) of the credits, :data:`PAIR_CHUNK` credits at a time: the albums of the tracks
    each artist is credited on (only primary credits when ``primary_only``; only albums where ``album_mask``)."""
    if catalog.num_rows("albums") == 0:
        return
    c = credits(catalog)
    t_alb = album_rows_of_tracks(catalog)
    for trk, art, primary in array_chunks(c.track, c.artist, c.primary):
        alb = t_alb[trk]
        ok = alb >= 0
        if primary_only:
            ok &= primary
        if album_mask is not None:
            ok &= album_mask[np.maximum(alb, 0)]
        yield art[ok], alb[ok]


def pairs_of(m: sp.csr_matrix) -> tuple[np.ndarray, np.ndarray]:
    """(row, column) of every stored entry of a CSR matrix, in storage order, in the matrix's index dtype."""
    dt = m.indices.dtype
    return np.repeat(np.arange(m.shape[0], dtype=dt), np.diff(m.indptr)), m.indices


def own_albums(catalog: Catalog) -> tuple[np.ndarray, np.ndarray]:
    """Distinct (artist row, album row) pairs of an artist's *own* releases, sorted by artist then album, in
    :func:`row_dtype`.

    Own = ``artist_albums`` rows that are neither appears-on nor implicit appears-on, plus the albums of tracks
    on which the artist is the primary (first) credit. Featured appearances are left out: a guest spot on a
    major-label album says little about the guest's own label, era or markets.
    """
    def build() -> tuple[np.ndarray, np.ndarray]:
        art, alb, kind = artist_album_links(catalog)
        own = kind == 0

        def chunks() -> Iterator[tuple[np.ndarray, ...]]:
            for a, b, o in array_chunks(art, alb, own):
                yield a[o], b[o]
            yield from credit_album_chunks(catalog, primary_only=True)
        return pairs_of(distinct_pairs(chunks(), (catalog.num_rows("artists"), catalog.num_rows("albums"))))
    return cached(catalog, "own_albums", build)


def incidence(rows: np.ndarray, cols: np.ndarray, shape: tuple[int, int], values: np.ndarray | None = None,
              *, binary: bool = False) -> sp.csr_matrix:
    """CSR float32 matrix from (row, col[, value]) pairs, duplicates summed (or set to 1 when ``binary``).

    Indices stay int32 when the shape and the pair count allow (scipy would downcast them anyway): no int64
    copy of a large pair list is made.
    """
    dt = row_dtype(max(max(shape), len(rows)))
    data = np.ones(len(rows), dtype=np.float32) if values is None else np.asarray(values, dtype=np.float32)
    m = sp.csr_matrix((data, (np.asarray(rows, dtype=dt), np.asarray(cols, dtype=dt))), shape=shape,
                      dtype=np.float32)
    m.sum_duplicates()
    if binary:
        m.data[:] = 1.0
    return m


def normalized_text(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    """Vectorised name key like :func:`recsys.catalog.normalize_name` (NFKC, lower case, whitespace collapsed).

    Arrow has no case folding; lower-casing differs from it only for a handful of letters (e.g. "ß"), which is
    irrelevant for comparing a label with an artist name.
    """
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    s = pc.utf8_normalize(values.cast(pa.string()), "NFKC")
    s = pc.utf8_lower(s)
    s = pc.replace_substring_regex(s, r"\s+", " ")
    return pc.utf8_trim_whitespace(s)


def safe_normalize(m: sp.spmatrix, norm: str = "l2") -> sp.csr_matrix:
    """scikit-learn's row ``normalize``, also for matrices without rows or columns (it refuses those)."""
    m = sp.csr_matrix(m)
    return normalize(m, norm=norm) if m.shape[0] and m.shape[1] else m
