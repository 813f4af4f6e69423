"""Playlist co-membership: artist x playlist counts, BM25- or TF-IDF-weighted."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import scipy.sparse as sp
from sklearn.utils.validation import check_is_fitted

from ..catalog import Catalog
from . import _links
from ._base import TokenFamily
from ._links import cached, credits, fk_rows, incidence, iter_batches, row_map, track_artist_csr

__all__ = ["PlaylistCoMembership", "artist_playlist_counts"]


def track_playlist(catalog: Catalog) -> sp.csr_matrix:
    """Track x playlist entry counts, CSR float32 (n_tracks, n_playlists); unresolvable entries skipped."""
    def build() -> sp.csr_matrix:
        trk = fk_rows(catalog, "playlist_tracks", "track_rowid", "tracks")
        pl = fk_rows(catalog, "playlist_tracks", "playlist_rowid", "playlists")
        ok = (trk >= 0) & (pl >= 0)
        return incidence(trk[ok], pl[ok], (catalog.num_rows("tracks"), catalog.num_rows("playlists")))
    return cached(catalog, "track_playlist", build)


def artist_playlist_counts(catalog: Catalog) -> sp.csr_matrix:
    """Artist x playlist entry counts over every credit, CSR float32 (n_artists, n_playlists), streamed.

    ``playlist_tracks`` (1.7B rows in the full dump) passes through memory one batch at a time: each batch's
    playlist x track counts times the track x artist credit matrix gives playlist x artist counts, summed over
    batches. Counts are integers, so float32 sums are exact and the result equals the one-shot product
    ``(artist x track) @ (track x playlist)`` whatever the batching. Working memory is one batch plus the sums.
    """
    def build() -> sp.csr_matrix:
        n_art, n_pl = catalog.num_rows("artists"), catalog.num_rows("playlists")
        if "playlist_tracks" not in catalog.table_names or n_pl == 0:
            return sp.csr_matrix((n_art, n_pl), dtype=np.float32)
        # the credits as a track x artist matrix sharing their artist array (private here, never sorted in place)
        ta = track_artist_csr(credits(catalog), catalog.num_rows("tracks"), n_art, copy=False)
        t_map, p_map = row_map(catalog, "tracks"), row_map(catalog, "playlists")
        n_t = t_map.n
        total: sp.csr_matrix | None = None
        pending: list[sp.csr_matrix] = []
        # larger batches than elsewhere: each batch's product allocates a per-artist workspace (15.4M artists)
        for b in iter_batches(catalog, "playlist_tracks", ["track_rowid", "playlist_rowid"],
                              batch_rows=_links.BATCH_ROWS * 4):
            trk = t_map.rows(b.column("track_rowid").fill_null(-1).to_numpy())
            pl = p_map.rows(b.column("playlist_rowid").fill_null(-1).to_numpy())
            ok = (trk >= 0) & (pl >= 0)
            pending.append(sp.csr_matrix(incidence(pl[ok], trk[ok], (n_pl, n_t)) @ ta, dtype=np.float32))
            if total is None:
                total = pending.pop()
            elif sum(m.nnz for m in pending) >= total.nnz:
                # merge once the pending sums outgrow the running total: amortised O(nnz log batches)
                total = sum(pending, total)
                pending = []
        if pending:
            total = sum(pending, total)
        if total is None:
            return sp.csr_matrix((n_art, n_pl), dtype=np.float32)
        out = sp.csr_matrix(total.T, dtype=np.float32)  # tocsr of the CSC transpose
        out.sort_indices()
        return out
    return cached(catalog, "artist_playlist_counts", build)


class PlaylistCoMembership(TokenFamily):
    """Artist x playlist block (names ``"playlist=<playlist id>"``).

    Counts, per artist and playlist, the playlist's entries credited to the artist (primary and featured credits,
    via ``playlist_tracks`` -> ``tracks`` -> ``track_artists``). Weighted by BM25 (default: a few tracks in a
    playlist already say most of what many say; long "everything" playlists count less) or TF-IDF.
    ``transform`` returns CSR float32 (n_artists, n_playlists); a catalog without playlists gives (n_artists, 0).

    Parameters
    ----------
    weighting : {"bm25", "tfidf", "log", "binary"}
        Weighting of the entry counts.
    k1, b : float
        BM25 saturation and length normalisation.
    sublinear_tf : bool
        TF-IDF on 1 + log(count).
    min_df, max_df : int or float
        Keep playlists with at least / at most this many artists (int) or share of artists (float).
    """

    prefix = "playlist"
    #: cached relations ``fit``/``transform`` read (:class:`recsys.features._links.CacheScope`)
    cache_uses: tuple[str, ...] = ("artist_playlist_counts",)

    def __init__(self, *, weighting: str = "bm25", k1: float = 1.2, b: float = 0.75, sublinear_tf: bool = True,
                 min_df: int | float = 2, max_df: int | float = 1.0) -> None:
        self.weighting = weighting
        self.k1 = k1
        self.b = b
        self.sublinear_tf = sublinear_tf
        self.min_df = min_df
        self.max_df = max_df

    def _counts(self, catalog: Catalog) -> tuple[sp.csr_matrix, pa.Array]:
        return artist_playlist_counts(catalog), catalog.table("playlists", ["id"], cache=False).column(0)

    def transform_tracks(self, catalog: Catalog) -> sp.csr_matrix:
        """Track x playlist block (entries of the track in each playlist), CSR float32 (n_tracks, n_playlists)."""
        check_is_fitted(self)
        keys = catalog.table("playlists", ["id"], cache=False).column(0)
        return self._weigh(self._map(track_playlist(catalog), keys))
