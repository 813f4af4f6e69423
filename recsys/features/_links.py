"""Artist-album-track relations shared by several feature families, computed once per catalog.

Every relation is returned as int64 row arrays (positions in the catalog tables, the index space of every block),
never as rowids. Results are cached per ``Catalog`` object (weakly, so a closed catalog frees them): the era,
label, market, compilation and track-space builders all start from the same joins.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import scipy.sparse as sp
from sklearn.preprocessing import normalize

from ..catalog import Catalog
from ._rows import rowid_to_row

__all__ = ["safe_normalize", "Credits", "credits", "album_rows_of_tracks", "own_albums", "artist_album_links", "cached",
           "incidence", "normalized_text", "column_rows", "artists_with", "artists_with_genres", "iter_batches",
           "table_columns", "table_rowids", "track_artist_matrix", "BATCH_ROWS"]

#: rows per batch when a table is streamed (a 4M-row batch of two int64 columns is 64 MB)
BATCH_ROWS = 1 << 22

_CACHE: weakref.WeakKeyDictionary[Catalog, dict[str, Any]] = weakref.WeakKeyDictionary()


def cached(catalog: Catalog, key: str, build: Callable[[], Any]) -> Any:
    """Value of ``build()`` memoised on ``catalog`` under ``key``."""
    store = _CACHE.setdefault(catalog, {})
    if key not in store:
        store[key] = build()
    return store[key]


def iter_batches(catalog: Catalog, table: str, columns: list[str], *, batch_rows: int | None = None
                 ) -> Iterator[pa.RecordBatch]:
    """Stream ``columns`` of a catalog table in file order, :data:`BATCH_ROWS` rows at a time, without caching
    (:meth:`recsys.catalog.Catalog.iter_batches`, checksum checked like ``Catalog.table``)."""
    return catalog.iter_batches(table, columns, batch_rows=int(batch_rows or BATCH_ROWS))


def table_columns(catalog: Catalog, table: str) -> list[str]:
    """Column names of a catalog table, from its Parquet schema (no data read)."""
    return catalog.columns(table)


def _int_column(batch: pa.RecordBatch, name: str) -> np.ndarray:
    col = batch.column(name)
    return (col.fill_null(-1) if col.null_count else col).to_numpy(zero_copy_only=False).astype(np.int64, copy=False)


def table_rowids(catalog: Catalog, table: str) -> np.ndarray:
    """The (ascending) ``rowid`` column of a table, int64, cached: the map from foreign keys to rows."""
    return cached(catalog, f"rowids:{table}", lambda: catalog.table(table, ["rowid"]).column(0).to_numpy())


def column_rows(catalog: Catalog, table: str, fk_column: str, target: str) -> np.ndarray:
    """Rows in ``target`` (e.g. "albums") of the foreign key ``table.fk_column``; -1 where it does not resolve."""
    def build() -> np.ndarray:
        fk = catalog.table(table, [fk_column]).column(0)
        fk = fk.fill_null(-1).to_numpy() if fk.null_count else fk.to_numpy()
        return rowid_to_row(catalog.table(target, ["rowid"]).column(0).to_numpy(), fk)
    return cached(catalog, f"rows:{table}.{fk_column}->{target}", build)


def artists_with(catalog: Catalog, table: str) -> np.ndarray:
    """Boolean mask over artist rows: artists that have at least one row in ``table`` (via ``artist_rowid``)."""
    def build() -> np.ndarray:
        mask = np.zeros(catalog.num_rows("artists"), dtype=bool)
        r = column_rows(catalog, table, "artist_rowid", "artists")
        mask[r[r >= 0]] = True
        return mask
    return cached(catalog, f"artists_with:{table}", build)


def artists_with_genres(catalog: Catalog) -> np.ndarray:
    """Boolean mask over artist rows: artists with at least one genre in the dump."""
    return artists_with(catalog, "artist_genres")


@dataclass(frozen=True)
class Credits:
    """Track credits in credit order: ``track[i]`` is credited to ``artist[i]``; ``primary[i]`` marks the first
    credit of each track (the dump has no position column; insertion order is the credit order)."""

    track: np.ndarray  # int64 track rows
    artist: np.ndarray  # int64 artist rows
    primary: np.ndarray  # bool


def credits(catalog: Catalog) -> Credits:
    """All resolvable ``track_artists`` credits, sorted by (track, credit order), duplicates removed.

    The table is streamed (it is never held whole, nor cached by the catalog); only the resolved int64 rows of
    the credits are kept. Ingest writes credits in rowid order, so a stable sort by track keeps the credit order
    without sorting by rowid too (checked; a table out of rowid order falls back to sorting by it).
    """
    def build() -> Credits:
        t_ids, a_ids = table_rowids(catalog, "tracks"), table_rowids(catalog, "artists")
        trk_parts, art_parts, key_parts = [], [], []
        ascending, last = True, None
        for b in iter_batches(catalog, "track_artists", ["rowid", "track_rowid", "artist_rowid"]):
            rid = _int_column(b, "rowid")
            trk = rowid_to_row(t_ids, _int_column(b, "track_rowid"))
            art = rowid_to_row(a_ids, _int_column(b, "artist_rowid"))
            ok = (trk >= 0) & (art >= 0)
            if len(rid):
                ascending &= bool((np.diff(rid) > 0).all()) and (last is None or rid[0] > last)
                last = int(rid[-1])
            trk_parts.append(trk[ok])
            art_parts.append(art[ok])
            key_parts.append(rid[ok])
        trk = np.concatenate(trk_parts) if trk_parts else np.zeros(0, np.int64)
        art = np.concatenate(art_parts) if art_parts else np.zeros(0, np.int64)
        order_key = np.concatenate(key_parts) if key_parts else np.zeros(0, np.int64)
        del trk_parts, art_parts, key_parts
        # file order is rowid order: a stable sort by track alone equals lexsort((rowid, track))
        o = np.argsort(trk, kind="stable") if ascending else np.lexsort((order_key, trk))
        del order_key
        trk, art = trk[o], art[o]
        del o
        # the same artist credited twice on one track counts once (keep the earlier credit); duplicates can only
        # sit inside a track's run, so only tracks with >= 2 credits need the pair sort
        dup = np.zeros(len(trk), dtype=bool)
        multi = np.flatnonzero(np.concatenate([[False], trk[1:] == trk[:-1]])
                               | np.concatenate([trk[:-1] == trk[1:], [False]])) if len(trk) else trk
        if len(multi):
            mt, ma = trk[multi], art[multi]
            pair = np.lexsort((np.arange(len(mt)), ma, mt))
            same = (mt[pair][1:] == mt[pair][:-1]) & (ma[pair][1:] == ma[pair][:-1])
            dup[multi[pair[1:][same]]] = True
        if dup.any():
            trk, art = trk[~dup], art[~dup]
        primary = np.ones(len(trk), dtype=bool)
        primary[1:] = trk[1:] != trk[:-1]
        return Credits(trk, art, primary)
    return cached(catalog, "credits", build)


def track_artist_matrix(catalog: Catalog) -> sp.csr_matrix:
    """Track x artist 0/1 matrix of the credits, CSR float32 (n_tracks, n_artists), columns in credit order.

    Made from :func:`credits` without a sort (credits are already grouped by track): the map every streamed
    per-track table (playlist entries, audio features) is expanded to artists with.
    """
    def build() -> sp.csr_matrix:
        c = credits(catalog)
        n_t = catalog.num_rows("tracks")
        indptr = np.zeros(n_t + 1, dtype=np.int64)
        np.cumsum(np.bincount(c.track, minlength=n_t), out=indptr[1:])
        return sp.csr_matrix((np.ones(len(c.artist), dtype=np.float32), c.artist.astype(np.int32), indptr),
                             shape=(n_t, catalog.num_rows("artists")))
    return cached(catalog, "track_artist_matrix", build)


def album_rows_of_tracks(catalog: Catalog) -> np.ndarray:
    """Album row of every track row (-1 where the album is missing), shape (n_tracks,)."""
    return column_rows(catalog, "tracks", "album_rowid", "albums")


def artist_album_links(catalog: Catalog) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``artist_albums`` as (artist row, album row, kind) with kind 0 = own, 1 = appears on, 2 = implicit."""
    def build() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        t = catalog.table("artist_albums", ["is_appears_on", "is_implicit_appears_on"])
        art = column_rows(catalog, "artist_albums", "artist_rowid", "artists")
        alb = column_rows(catalog, "artist_albums", "album_rowid", "albums")
        appears = t.column(0).fill_null(False).to_numpy(zero_copy_only=False).astype(bool)
        implicit = t.column(1).fill_null(False).to_numpy(zero_copy_only=False).astype(bool)
        kind = np.where(appears, 1, np.where(implicit, 2, 0)).astype(np.int8)
        ok = (art >= 0) & (alb >= 0)
        return art[ok], alb[ok], kind[ok]
    return cached(catalog, "artist_album_links", build)


def own_albums(catalog: Catalog) -> tuple[np.ndarray, np.ndarray]:
    """Distinct (artist row, album row) pairs of an artist's *own* releases.

    Own = ``artist_albums`` rows that are neither appears-on nor implicit appears-on, plus the albums of tracks
    on which the artist is the primary (first) credit. Featured appearances are left out: a guest spot on a
    major-label album says little about the guest's own label, era or markets.
    """
    def build() -> tuple[np.ndarray, np.ndarray]:
        art, alb, kind = artist_album_links(catalog)
        c = credits(catalog)
        t_alb = album_rows_of_tracks(catalog)
        p_art, p_alb = c.artist[c.primary], t_alb[c.track[c.primary]]
        a = np.concatenate([art[kind == 0], p_art[p_alb >= 0]])
        b = np.concatenate([alb[kind == 0], p_alb[p_alb >= 0]])
        if len(a) == 0:
            return a, b
        n_alb = max(catalog.num_rows("albums"), 1)
        key = np.unique(a * n_alb + b)
        return key // n_alb, key % n_alb
    return cached(catalog, "own_albums", build)


def incidence(rows: np.ndarray, cols: np.ndarray, shape: tuple[int, int], values: np.ndarray | None = None,
              *, binary: bool = False) -> sp.csr_matrix:
    """CSR float32 matrix from (row, col[, value]) pairs, duplicates summed (or set to 1 when ``binary``)."""
    data = np.ones(len(rows), dtype=np.float32) if values is None else np.asarray(values, dtype=np.float32)
    m = sp.csr_matrix((data, (np.asarray(rows, dtype=np.int64), np.asarray(cols, dtype=np.int64))), shape=shape,
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
