"""MarketProfile: worldwide releases carry nothing, regional releases carry their markets."""

from __future__ import annotations

import numpy as np
import pytest
from features_helpers import artists_only, column, cosine, make_catalog

from recsys.features import MarketProfile

CODES = ["AR", "BR", "DE", "FI", "FR", "GB", "IT", "JP", "NO", "SE", "US", "ZA"]


@pytest.fixture
def catalog(tmp_path):
    markets = [",".join(CODES), "SE,NO,FI", "BR, AR", "", ",".join(c for c in CODES if c != "JP")]
    albums = [{"markets": 0}, {"markets": 1}, {"markets": 0}, {"markets": 1}, {"markets": 2}, {"markets": 3},
              {"markets": 0}, {"markets": 4}]
    # 0: worldwide only; 1: worldwide + Nordic; 2: Nordic; 3: Latin; 4: unknown ("") only; 5: worldwide + near-worldwide
    tracks = [(0, [0]), (2, [1]), (1, [1]), (3, [2]), (4, [3]), (5, [4]), (6, [5]), (7, [5])]
    return make_catalog(tmp_path / "c", artists=6, albums=albums, tracks=tracks, markets=markets)


def test_regional_releases_carry_the_signal(catalog):
    mp = MarketProfile().fit(catalog)
    X = mp.transform(catalog)
    names = list(mp.get_feature_names_out())
    # only markets some regional release reaches can say anything
    assert names == ["market=AR", "market=BR", "market=FI", "market=NO", "market=SE"] and X.shape == (6, 5)
    assert X[0].nnz == 0  # worldwide releases weigh 0
    assert X[5].nnz == 0  # a near-worldwide release (one market missing) is skipped too
    assert X[4].nnz == 0  # unknown availability is not "nowhere"
    assert column(X, names, "market=SE")[1] > 0 and column(X, names, "market=BR")[1] == 0
    assert cosine(X, 1, 2) == pytest.approx(1.0)  # both Nordic, the worldwide album adds nothing
    assert cosine(X, 1, 3) == 0  # Nordic vs Latin
    # the share: half of artist 1's albums are Nordic, all of artist 2's
    assert column(X, names, "market=SE")[1] == pytest.approx(column(X, names, "market=SE")[2] / 2, rel=1e-5)


def test_min_release_idf_zero_keeps_near_worldwide(catalog):
    mp = MarketProfile(min_release_idf=0.0).fit(catalog)
    X = mp.transform(catalog)
    assert X[5].nnz > 0 and X[0].nnz == 0
    assert "market=US" in list(mp.get_feature_names_out()) and "market=JP" not in list(mp.get_feature_names_out())


def test_tracks_take_their_album_markets(catalog):
    mp = MarketProfile().fit(catalog)
    T = mp.transform_tracks(catalog)
    names = list(mp.get_feature_names_out())
    assert T.shape == (8, 5)
    assert T[0].nnz == 0 and column(T, names, "market=SE")[3] > 0
    assert column(T, names, "market=BR")[4] > 0 and column(T, names, "market=SE")[4] == 0  # "BR, AR" trimmed


def test_no_markets(tmp_path):
    empty = artists_only(tmp_path)
    X = MarketProfile().fit(empty).transform(empty)
    assert X.shape == (3, 0)


def test_bad_param(catalog):
    with pytest.raises(ValueError, match="min_release_idf"):
        MarketProfile(min_release_idf=-1).fit(catalog)
    assert np.isfinite(MarketProfile().fit(catalog).transform(catalog).data).all()
