"""Artist-album-track relations shared by several feature families, computed once per catalog.

Every relation is returned as int64 row arrays (positions in the catalog tables, the index space of every block),
never as rowids. Results are cached per ``Catalog`` object (weakly, so a closed catalog frees them): the era,
label, market, compilation and track-space builders all start from the same joins.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
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
           "incidence", "normalized_text", "column_rows", "artists_with", "artists_with_genres"]

_CACHE: weakref.WeakKeyDictionary[Catalog, dict[str, Any]] = weakref.WeakKeyDictionary()


def cached(catalog: Catalog, key: str, build: Callable[[], Any]) -> Any:
    """Value of ``build()`` memoised on ``catalog`` under ``key``."""
    store = _CACHE.setdefault(catalog, {})
    if key not in store:
        store[key] = build()
    return store[key]


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
    """All resolvable ``track_artists`` credits, sorted by (track, credit order), duplicates removed."""
    def build() -> Credits:
        t = catalog.table("track_artists", ["rowid", "track_rowid", "artist_rowid"])
        trk = column_rows(catalog, "track_artists", "track_rowid", "tracks")
        art = column_rows(catalog, "track_artists", "artist_rowid", "artists")
        order_key = t.column("rowid").to_numpy()
        ok = (trk >= 0) & (art >= 0)
        trk, art, order_key = trk[ok], art[ok], order_key[ok]
        o = np.lexsort((order_key, trk))
        trk, art = trk[o], art[o]
        # the same artist credited twice on one track counts once (keep the earlier credit)
        pair = np.lexsort((np.arange(len(trk)), art, trk))
        dup = np.zeros(len(trk), dtype=bool)
        same = (trk[pair][1:] == trk[pair][:-1]) & (art[pair][1:] == art[pair][:-1])
        dup[pair[1:][same]] = True
        trk, art = trk[~dup], art[~dup]
        primary = np.ones(len(trk), dtype=bool)
        primary[1:] = trk[1:] != trk[:-1]
        return Credits(trk, art, primary)
    return cached(catalog, "credits", build)


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
