"""Facets: facts about each artist or track that a neighbour list can be filtered by (release era, market).

They are read from the catalog, not from the feature space, so a filter means what it says ("released in the
1990s", "available in Sweden") whatever the feature weights are.
"""

from __future__ import annotations

from functools import cached_property

import numpy as np
import pandas as pd
import scipy.sparse as sp

from .catalog import Catalog
from .errors import UnknownIdError
from .features._links import album_rows_of_tracks, cached, column_rows, credits, incidence, own_albums
from .features.markets import _combination_markets

__all__ = ["Facets", "item_facets"]

_PLAUSIBLE_YEARS = (1850, 2100)


class Facets:
    """Filterable facts of every item of one kind, computed on first use (the app's first page needs only the
    year range and the market codes, which are cheap).

    Attributes
    ----------
    kind : {"artist", "track"}
    year : ndarray of float64, shape (n_items,)
        Release year: a track's album year; an artist's median year over its own albums and the albums of the
        tracks it is credited on. NaN where unknown.
    markets : csr_matrix of float32, shape (n_items, n_markets)
        1 where at least one of the item's releases is available in the market (a track: its own list).
    market_codes : ndarray of str, shape (n_markets,)
        ISO country codes of the columns of ``markets``, sorted.
    """

    def __init__(self, catalog: Catalog, kind: str) -> None:
        if kind not in ("artist", "track"):
            raise ValueError(f"kind must be 'artist' or 'track', got {kind!r}")
        self.catalog, self.kind = catalog, kind

    @cached_property
    def year(self) -> np.ndarray:
        return _item_years(self.catalog, self.kind)

    @cached_property
    def markets(self) -> sp.csr_matrix:
        return _item_markets(self.catalog, self.kind)

    @cached_property
    def market_codes(self) -> np.ndarray:
        return _market_codes(self.catalog)[1]

    def year_range(self) -> tuple[int, int] | None:
        """(first, last) plausible release year of any album, or None when no year is known."""
        known = _album_years(self.catalog)
        known = known[np.isfinite(known)]
        return (int(known.min()), int(known.max())) if len(known) else None

    def allowed(self, *, era: tuple[float, float] | None = None, market: str | None = None) -> np.ndarray:
        """Boolean mask over items inside the era (inclusive years) and available in ``market``.

        Items whose year (markets) is unknown are outside any era (market) filter.
        """
        mask = np.ones(self.catalog.num_rows(self.kind + "s"), dtype=bool)
        if era is not None:
            lo, hi = (float(v) for v in era)
            if lo > hi:
                raise ValueError(f"era must be (first year, last year) with first <= last, got {era!r}")
            with np.errstate(invalid="ignore"):
                mask &= (self.year >= lo) & (self.year <= hi)
        if market is not None:
            code = str(market).strip().upper()
            col = int(np.searchsorted(self.market_codes, code))
            if col >= len(self.market_codes) or self.market_codes[col] != code:
                near = [str(c) for c in self.market_codes if c[:1] == code[:1]][:8]
                raise UnknownIdError(f"no release in this catalog is available in market {market!r}",
                                     hint=("markets starting alike: " + ", ".join(near)) if near else
                                     "pass a two-letter country code the catalog's markets list, e.g. SE")
            mask &= self.markets[:, col].toarray().ravel() > 0
        return mask


def _album_years(catalog: Catalog) -> np.ndarray:
    def build() -> np.ndarray:
        col = catalog.table("albums", ["release_year"]).column(0)
        year = col.to_numpy(zero_copy_only=False).astype(np.float64)
        year[~((year >= _PLAUSIBLE_YEARS[0]) & (year <= _PLAUSIBLE_YEARS[1]))] = np.nan
        return year
    return cached(catalog, "facets:album_years", build)


def _market_codes(catalog: Catalog) -> tuple[np.ndarray, np.ndarray]:
    """(column order that sorts the market codes, the sorted codes)."""
    def build() -> tuple[np.ndarray, np.ndarray]:
        codes = np.asarray(_combination_markets(catalog)[1].to_pylist(), dtype=object).astype(str)
        order = np.argsort(codes, kind="stable")
        return order, codes[order]
    return cached(catalog, "facets:market_codes", build)


def _market_matrix(catalog: Catalog, table: str, n_rows: int) -> sp.csr_matrix:
    """(rows of ``table`` x sorted markets) 0/1 matrix from its ``available_markets_rowid``."""
    combos = _combination_markets(catalog)[0]
    order = _market_codes(catalog)[0]
    combo_of_row = column_rows(catalog, table, "available_markets_rowid", "available_markets")
    ok = np.flatnonzero(combo_of_row >= 0)
    pick = incidence(ok, combo_of_row[ok], (n_rows, combos.shape[0]), binary=True)
    m = (pick @ combos.tocsc()[:, order]).tocsr()
    m.data[:] = 1.0
    return m.astype(np.float32)


def item_facets(catalog: Catalog, kind: str = "artist") -> Facets:
    """The :class:`Facets` of every artist (or track) of ``catalog``, one object per catalog and kind."""
    if kind not in ("artist", "track"):
        raise ValueError(f"kind must be 'artist' or 'track', got {kind!r}")
    return cached(catalog, f"facets:{kind}", lambda: Facets(catalog, kind))


def _item_years(catalog: Catalog, kind: str) -> np.ndarray:
    album_year = _album_years(catalog)
    t_alb = album_rows_of_tracks(catalog)
    if kind == "track":
        year = np.full(len(t_alb), np.nan)
        year[t_alb >= 0] = album_year[t_alb[t_alb >= 0]]
        return year
    # an artist's albums for its era: own releases plus the albums of every track it is credited on
    a1, b1 = own_albums(catalog)
    c = credits(catalog)
    a2, b2 = c.artist, t_alb[c.track]
    a, b = np.concatenate([a1, a2[b2 >= 0]]), np.concatenate([b1, b2[b2 >= 0]])
    year = np.full(catalog.num_rows("artists"), np.nan)
    if len(a):
        pairs = pd.DataFrame({"a": a, "y": album_year[b], "b": b}).drop_duplicates(["a", "b"]).dropna()
        med = pairs.groupby("a")["y"].median()
        year[med.index.to_numpy()] = np.floor(med.to_numpy())
    return year


def _item_markets(catalog: Catalog, kind: str) -> sp.csr_matrix:
    if kind == "track":
        return _market_matrix(catalog, "tracks", catalog.num_rows("tracks"))
    # markets of an artist: where its own releases are available (guest spots say little about its reach)
    n_albums = catalog.num_rows("albums")
    album_markets = _market_matrix(catalog, "albums", n_albums)
    a1, b1 = own_albums(catalog)
    own = incidence(a1, b1, (catalog.num_rows("artists"), n_albums), binary=True)
    markets = (own @ album_markets).tocsr()
    markets.data[:] = 1.0
    return markets.astype(np.float32)
