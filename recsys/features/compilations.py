"""Shared compilations: artist x compilation album, IDF-weighted."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import scipy.sparse as sp

from ..catalog import Catalog
from ._base import TokenFamily
from ._links import album_rows_of_tracks, artist_album_links, credits, incidence

__all__ = ["SharedCompilations"]


class SharedCompilations(TokenFamily):
    """Artist x compilation block (names ``"compilation=<album id>"``).

    An artist is on a compilation when ``artist_albums`` marks the album as appears-on, or the album's
    ``album_type`` is "compilation" and the artist is linked to it (``artist_albums`` or a track credit).
    Binary membership, weighted by TF-IDF so that a compilation with 100 artists links them weakly and one with
    3 strongly; ``min_df=2`` drops single-artist best-ofs (they link nobody). ``transform`` returns CSR float32
    (n_artists, n_compilations).

    Parameters
    ----------
    weighting : {"tfidf", "bm25", "log", "binary"}
        Weighting of the 0/1 membership (for TF-IDF only the IDF matters).
    min_df, max_df : int or float
        Keep compilations with at least / at most this many artists (int) or share of artists (float).
    sublinear_tf, k1, b
        Passed to the weighting (no effect on 0/1 data except BM25's length normalisation).
    """

    prefix = "compilation"

    def __init__(self, *, weighting: str = "tfidf", sublinear_tf: bool = False, k1: float = 1.2, b: float = 0.75,
                 min_df: int | float = 2, max_df: int | float = 1.0) -> None:
        self.weighting = weighting
        self.sublinear_tf = sublinear_tf
        self.k1 = k1
        self.b = b
        self.min_df = min_df
        self.max_df = max_df

    def _counts(self, catalog: Catalog) -> tuple[sp.csr_matrix, pa.Array]:
        n_alb = catalog.num_rows("albums")
        atype = catalog.table("albums", ["album_type"]).column(0)
        is_comp = pc.fill_null(pc.equal(pc.utf8_lower(atype), "compilation"), False).to_numpy(zero_copy_only=False)
        is_comp = np.asarray(is_comp, dtype=bool)
        art, alb, kind = artist_album_links(catalog)
        c = credits(catalog)
        t_alb = album_rows_of_tracks(catalog)[c.track]
        ok_t = t_alb >= 0
        a = np.concatenate([art, c.artist[ok_t]])
        b = np.concatenate([alb, t_alb[ok_t]])
        on = np.concatenate([(kind == 1) | is_comp[alb], is_comp[t_alb[ok_t]]])
        m = incidence(a[on], b[on], (catalog.num_rows("artists"), n_alb), binary=True)
        return m, catalog.table("albums", ["id"]).column(0)
