"""recsys.facets: release era and markets per artist and track, checked against plain pandas joins."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from recsys.errors import UnknownIdError
from recsys.facets import item_facets


@pytest.fixture(scope="module")
def frames(small_demo):
    cat = small_demo[1]
    t = {name: cat.table(name).to_pandas() for name in
         ("artists", "albums", "tracks", "track_artists", "artist_albums", "available_markets")}
    return cat, t


def _markets(t, table: str) -> pd.Series:
    """available_markets_rowid -> set of codes, the slow way."""
    m = t["available_markets"].set_index("rowid")["available_markets"].fillna("")
    return m.map(lambda s: {c.strip() for c in s.split(",") if c.strip()})


def test_track_year_and_markets_are_their_albums_and_lists(frames):
    cat, t = frames
    f = item_facets(cat, "track")
    year = t["tracks"]["album_rowid"].map(t["albums"].set_index("rowid")["release_year"]).astype(float)
    year[(year < 1850) | (year > 2100)] = np.nan
    np.testing.assert_array_equal(f.year, year.to_numpy())
    sets = _markets(t, "tracks")
    codes = list(f.market_codes)
    for row in np.random.default_rng(0).choice(len(t["tracks"]), 200, replace=False):
        mrow = t["tracks"]["available_markets_rowid"].iloc[row]
        want = sets.get(mrow, set()) if pd.notna(mrow) else set()
        got = {codes[c] for c in f.markets[row].indices}
        assert got == want


def test_artist_year_is_the_median_of_own_and_credited_albums(frames):
    cat, t = frames
    f = item_facets(cat, "artist")
    tr = t["tracks"][["rowid", "album_rowid"]].rename(columns={"rowid": "track_rowid"})
    credited = t["track_artists"].merge(tr, on="track_rowid")[["artist_rowid", "album_rowid"]]
    own = t["artist_albums"][~t["artist_albums"]["is_appears_on"].fillna(False).astype(bool)
                             & ~t["artist_albums"]["is_implicit_appears_on"].fillna(False).astype(bool)]
    pairs = pd.concat([credited, own[["artist_rowid", "album_rowid"]]]).drop_duplicates()
    pairs["year"] = pairs["album_rowid"].map(t["albums"].set_index("rowid")["release_year"])
    med = np.floor(pairs.dropna().groupby("artist_rowid")["year"].median())
    want = t["artists"]["rowid"].map(med).to_numpy(dtype=float)
    np.testing.assert_array_equal(f.year, want)
    assert np.isfinite(f.year).mean() > 0.9


def test_allowed_filters(small_demo):
    f = item_facets(small_demo[1], "artist")
    lo, hi = f.year_range()
    mask = f.allowed(era=(2000, 2009))
    assert mask.any() and (f.year[mask] >= 2000).all() and (f.year[mask] <= 2009).all()
    assert not f.allowed(era=(2000, 2009))[np.isnan(f.year)].any()  # unknown year: outside any era
    assert f.allowed(era=(lo, hi)).sum() == np.isfinite(f.year).sum()
    se = f.allowed(market="se")  # any case
    col = list(f.market_codes).index("SE")
    np.testing.assert_array_equal(se, f.markets[:, col].toarray().ravel() > 0)
    both = f.allowed(era=(2000, 2009), market="SE")
    np.testing.assert_array_equal(both, mask & se)


def test_bad_filters_say_what_is_wrong(small_demo):
    f = item_facets(small_demo[1], "artist")
    with pytest.raises(UnknownIdError, match="market 'XQ'"):
        f.allowed(market="XQ")
    with pytest.raises(ValueError, match="first <= last"):
        f.allowed(era=(2010, 2000))
    with pytest.raises(ValueError, match="kind"):
        item_facets(small_demo[1], "album")
