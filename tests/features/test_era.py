"""ReleaseEra: 5-year buckets, smoothing across neighbouring buckets, unknown years ignored."""

from __future__ import annotations

import numpy as np
import pytest
from features_helpers import artists_only, column, cosine, make_catalog

from recsys.features import ReleaseEra


@pytest.fixture
def catalog(tmp_path):
    # 0: 1994 + 1996; 1: 1996; 2: 1994 only; 3: 1971; 4: only an album without a year; 5: nothing
    albums = [{"year": 1994}, {"year": 1996}, {"year": 1994}, {"year": 1971}, {"year": None}, {"year": 1997}]
    tracks = [(0, [0]), (1, [0]), (5, [1]), (2, [2]), (3, [3]), (4, [4])]
    return make_catalog(tmp_path / "c", artists=6, albums=albums, tracks=tracks)


def test_buckets_names_and_distribution(catalog):
    era = ReleaseEra().fit(catalog)
    X = era.transform(catalog)
    names = list(era.get_feature_names_out())
    # contiguous range 1970-1974 .. 1995-1999, so smoothing has neighbours to spread to
    assert names == ["era=1970-1974", "era=1975-1979", "era=1980-1984", "era=1985-1989", "era=1990-1994",
                     "era=1995-1999"]
    assert X.shape == (6, 6) and X.dtype == np.float32
    sums = np.asarray(X.sum(axis=1)).ravel()
    np.testing.assert_allclose(sums[:4], 1.0, rtol=1e-6)
    # no year / no releases -> zero rows
    assert X[4].nnz == 0 and X[5].nnz == 0
    # artist 1's releases are all 1995-1999: that bucket holds most of its mass
    assert column(X, names, "era=1995-1999")[1] > 0.6


def test_smoothing_links_adjacent_buckets_only(catalog):
    X = ReleaseEra(smoothing=0.3).fit(catalog).transform(catalog)
    assert cosine(X, 2, 1) > 0  # 1994 vs 1996-97: adjacent buckets share mass
    assert cosine(X, 2, 3) == 0  # 1994 vs 1971: far apart
    assert cosine(X, 0, 1) > cosine(X, 2, 1)  # artist 0 also released in 1995-1999
    X0 = ReleaseEra(smoothing=0.0).fit(catalog).transform(catalog)
    assert cosine(X0, 2, 1) == 0


def test_track_rows_follow_their_album(catalog):
    era = ReleaseEra().fit(catalog)
    T = era.transform_tracks(catalog)
    names = list(era.get_feature_names_out())
    assert T.shape == (6, 6)
    assert int(np.argmax(T[4].toarray())) == names.index("era=1970-1974")
    assert T[5].nnz == 0  # album without a year


def test_bad_params(catalog):
    with pytest.raises(ValueError, match="smoothing"):
        ReleaseEra(smoothing=1.5).fit(catalog)
    with pytest.raises(ValueError, match="bucket_years"):
        ReleaseEra(bucket_years=0).fit(catalog)


def test_no_albums_gives_zero_width_block(tmp_path):
    empty = artists_only(tmp_path)
    era = ReleaseEra().fit(empty)
    X = era.transform(empty)
    assert X.shape == (3, 0) and len(era.get_feature_names_out()) == 0
