"""SharedCompilations: appears-on and compilation albums, IDF so big compilations link weakly."""

from __future__ import annotations

import pytest
from features_helpers import artists_only, column, cosine, make_catalog, sid

from recsys.features import SharedCompilations


@pytest.fixture
def catalog(tmp_path):
    albums = [
        {"type": "compilation"},  # 0: small various-artists compilation: A, B via track credits
        {"type": "compilation"},  # 1: big compilation: A, C, D, E, F, G
        {"type": "album"},  # 2: regular album with appears-on rows for H and I
        {"type": "compilation"},  # 3: best-of of A alone -> links nobody
        {"type": "album"},  # 4: J's own album, K featured (not a compilation)
    ]
    tracks = [(0, [0]), (0, [1]), (1, [0]), (1, [2]), (1, [3]), (1, [4]), (1, [5]), (1, [6]), (3, [0]),
              (4, [9, 10])]
    artist_albums = [(7, 2, True, False), (8, 2, True, False), (0, 3, False, False), (9, 4, False, False)]
    return make_catalog(tmp_path / "c", artists=11, albums=albums, tracks=tracks, artist_albums=artist_albums)


def test_membership_and_idf(catalog):
    sc = SharedCompilations().fit(catalog)
    X = sc.transform(catalog)
    names = list(sc.get_feature_names_out())
    assert names == [f"compilation={sid('l', i)}" for i in (0, 1, 2)]
    assert cosine(X, 0, 1) > 0 and cosine(X, 7, 8) > 0  # compilation tracks; appears-on rows
    assert X[9].nnz == 0 and X[10].nnz == 0  # a regular album is no compilation
    # A is on the 2-artist and the 6-artist compilation: the small one weighs more
    assert column(X, names, f"compilation={sid('l', 0)}")[0] > column(X, names, f"compilation={sid('l', 1)}")[0]
    assert cosine(X, 0, 1) > cosine(X, 0, 2)


def test_no_albums(tmp_path):
    empty = artists_only(tmp_path)
    assert SharedCompilations().fit(empty).transform(empty).shape == (3, 0)
