"""Markets: where an artist's releases are available, weighted so that regional releases count and worldwide
releases do not."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import scipy.sparse as sp
from sklearn.feature_extraction.text import TfidfTransformer
from sklearn.utils.validation import check_is_fitted

from ..catalog import Catalog
from ._base import TokenFamily
from ._links import album_rows_of_tracks, cached, fk_rows, incidence, own_albums

__all__ = ["MarketProfile"]


def _combination_markets(catalog: Catalog) -> tuple[sp.csr_matrix, pa.Array]:
    """(market-list row x market 0/1 matrix, market code strings): each distinct CSV string parsed once."""
    def build() -> tuple[sp.csr_matrix, pa.Array]:
        csv = catalog.table("available_markets", ["available_markets"], cache=False).column(0).combine_chunks()
        csv = csv.fill_null("")
        lists = pc.split_pattern(csv, ",")
        flat = pc.utf8_trim_whitespace(pc.list_flatten(lists))
        parent = pc.list_parent_indices(lists).to_numpy()
        ok = pc.not_equal(flat, "").to_numpy(zero_copy_only=False)
        enc = pc.dictionary_encode(flat.filter(pa.array(ok)))
        codes = enc.indices.to_numpy(zero_copy_only=False).astype(np.int64)
        m = incidence(parent[ok], codes, (len(csv), len(enc.dictionary)), binary=True)
        return m, enc.dictionary
    return cached(catalog, "combination_markets", build)


class MarketProfile(TokenFamily):
    """Artist x market block (names ``"market=SE"``).

    A release's weight is its rarity across markets: the IDF of its market list with markets as documents
    (scikit-learn's ``TfidfTransformer`` on the market x list matrix, minus its constant 1), i.e.
    ``log((1 + n_markets) / (1 + markets it reaches))``. A worldwide release weighs 0 and is skipped; a release in
    five Nordic markets weighs ~3.4. Lists below ``min_release_idf`` (near-worldwide licensing gaps) are skipped
    too. An artist's value for a market is the mean weight over their own albums (with a known market list) of
    the albums available there, then TF-IDF across artists so markets many artists reach count less. Artists
    with only worldwide releases get a zero row: availability says nothing about them. ``transform`` returns
    CSR float32 (n_artists, n_markets).

    Parameters
    ----------
    weighting : {"tfidf", "bm25", "log", "binary"}
        Weighting across artists of the per-market values.
    min_release_idf : float
        Skip releases whose market-list IDF is below this (0.1 ~ missing from fewer than ~10% of markets).
    sublinear_tf : bool
        TF-IDF on 1 + log(value).
    k1, b : float
        BM25 parameters.
    min_df, max_df : int or float
        Keep markets reached by at least / at most this many artists (int) or share of artists (float).
    """

    prefix = "market"
    #: cached relations ``fit``/``transform`` read (:class:`recsys.features._links.CacheScope`)
    cache_uses: tuple[str, ...] = ("counts:markets",)

    def __init__(self, *, weighting: str = "tfidf", min_release_idf: float = 0.1, sublinear_tf: bool = False,
                 k1: float = 1.2, b: float = 0.75, min_df: int | float = 1, max_df: int | float = 1.0) -> None:
        self.weighting = weighting
        self.min_release_idf = min_release_idf
        self.sublinear_tf = sublinear_tf
        self.k1 = k1
        self.b = b
        self.min_df = min_df
        self.max_df = max_df

    def _share(self, catalog: Catalog, item_rows: np.ndarray, album_rows: np.ndarray,
               n_items: int) -> tuple[sp.csr_matrix, pa.Array]:
        """Item x market mean release weight over the item's albums with a known market list."""
        comb, keys = _combination_markets(catalog)
        if comb.shape[1]:
            # markets are the documents, market lists the terms: df(list) = markets it reaches
            idf = TfidfTransformer(smooth_idf=True).fit(comb.T.tocsr()).idf_ - 1.0
        else:
            idf = np.zeros(comb.shape[0])
        known = np.diff(comb.indptr) > 0  # "" is unknown availability, not "available nowhere"
        idf = np.where(known & (idf >= self.min_release_idf), idf, 0.0).astype(np.float32)
        c = fk_rows(catalog, "albums", "available_markets_rowid", "available_markets")[album_rows]
        ok = c >= 0
        item_comb = incidence(item_rows[ok], c[ok], (n_items, comb.shape[0]))
        n_known = np.asarray(item_comb @ known.astype(np.float32)).ravel()
        scale = np.where(n_known > 0, 1.0 / np.maximum(n_known, 1.0), 0.0).astype(np.float32)
        out = sp.diags(scale) @ item_comb @ sp.diags(idf) @ comb
        out = sp.csr_matrix(out, dtype=np.float32)
        out.eliminate_zeros()
        return out, keys

    def _counts(self, catalog: Catalog) -> tuple[sp.csr_matrix, pa.Array]:
        if not (np.isfinite(self.min_release_idf) and self.min_release_idf >= 0):
            raise ValueError(f"min_release_idf must be a finite number >= 0, got {self.min_release_idf!r}")
        # cached (fit and transform read the same counts); the key carries the one parameter they depend on
        return cached(catalog, f"counts:markets:{float(self.min_release_idf)!r}",
                      lambda: self._share(catalog, *own_albums(catalog), catalog.num_rows("artists")))

    def transform_tracks(self, catalog: Catalog) -> sp.csr_matrix:
        """Track x market block from the track's album's market list, CSR float32 (n_tracks, n_markets)."""
        check_is_fitted(self)
        alb = album_rows_of_tracks(catalog)
        rows = np.flatnonzero(alb >= 0)
        counts, keys = self._share(catalog, rows, alb[rows], len(alb))
        return self._weigh(self._map(counts, keys))
