"""Playlist co-membership: artist x playlist counts, BM25- or TF-IDF-weighted."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import scipy.sparse as sp
from sklearn.utils.validation import check_is_fitted

from ..catalog import Catalog
from ._base import TokenFamily
from ._links import cached, column_rows, credits, incidence

__all__ = ["PlaylistCoMembership"]


def track_playlist(catalog: Catalog) -> sp.csr_matrix:
    """Track x playlist entry counts, CSR float32 (n_tracks, n_playlists); unresolvable entries skipped."""
    def build() -> sp.csr_matrix:
        trk = column_rows(catalog, "playlist_tracks", "track_rowid", "tracks")
        pl = column_rows(catalog, "playlist_tracks", "playlist_rowid", "playlists")
        ok = (trk >= 0) & (pl >= 0)
        return incidence(trk[ok], pl[ok], (catalog.num_rows("tracks"), catalog.num_rows("playlists")))
    return cached(catalog, "track_playlist", build)


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

    def __init__(self, *, weighting: str = "bm25", k1: float = 1.2, b: float = 0.75, sublinear_tf: bool = True,
                 min_df: int | float = 2, max_df: int | float = 1.0) -> None:
        self.weighting = weighting
        self.k1 = k1
        self.b = b
        self.sublinear_tf = sublinear_tf
        self.min_df = min_df
        self.max_df = max_df

    def _counts(self, catalog: Catalog) -> tuple[sp.csr_matrix, pa.Array]:
        c = credits(catalog)
        tp = track_playlist(catalog)
        at = incidence(c.artist, c.track, (catalog.num_rows("artists"), catalog.num_rows("tracks")))
        return sp.csr_matrix(at @ tp, dtype=np.float32), catalog.table("playlists", ["id"]).column(0)

    def transform_tracks(self, catalog: Catalog) -> sp.csr_matrix:
        """Track x playlist block (entries of the track in each playlist), CSR float32 (n_tracks, n_playlists)."""
        check_is_fitted(self, "vocabulary_")
        return self._weigh(self._map(track_playlist(catalog), catalog.table("playlists", ["id"]).column(0)))
