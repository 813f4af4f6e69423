"""PlaylistCoMembership: artists in the same playlists, featured credits included, BM25 or TF-IDF."""

from __future__ import annotations

import numpy as np
import pytest
from features_helpers import cosine, make_catalog, sid

from recsys.features import PlaylistCoMembership


@pytest.fixture
def catalog(tmp_path):
    tracks = [(0, [0]), (0, [1, 2]), (0, [0]), (0, [3]), (0, [4]), (0, [0])]
    # P0: A (2 tracks), B feat. C; P1: A only (links nobody); P2: D, E; P3: A, D (one track each)
    playlists = [[0, 1, 2], [5], [3, 4], [0, 3]]
    return make_catalog(tmp_path / "c", artists=6, albums=[{}], tracks=tracks, playlists=playlists)


@pytest.mark.parametrize("weighting", ["bm25", "tfidf", "log", "binary"])
def test_co_membership(catalog, weighting):
    pl = PlaylistCoMembership(weighting=weighting).fit(catalog)
    X = pl.transform(catalog)
    assert list(pl.get_feature_names_out()) == [f"playlist={sid('p', i)}" for i in (0, 2, 3)]
    assert X.shape == (6, 3) and X.dtype == np.float32
    assert cosine(X, 0, 1) > 0 and cosine(X, 1, 2) == pytest.approx(1.0)  # featured C counts like B
    assert cosine(X, 1, 4) == 0 and X[5].nnz == 0
    assert cosine(X, 0, 1) > cosine(X, 0, 4)  # A-B share P0 (3 artists), A-E share nothing


def test_bm25_saturates_repeated_entries(catalog):
    bm = PlaylistCoMembership(weighting="bm25", b=0.0).fit(catalog).transform(catalog).toarray()
    raw = PlaylistCoMembership(weighting="binary").fit(catalog).link_counts(catalog).toarray()
    assert raw[0, 0] == 2  # A has two tracks in P0
    assert 1 < bm[0, 0] / bm[1, 0] < 2  # counts more than once, less than twice


def test_track_rows(catalog):
    pl = PlaylistCoMembership().fit(catalog)
    T = pl.transform_tracks(catalog)
    assert T.shape == (6, 3) and T[0].nnz == 2 and T[2].nnz == 1 and T[5].nnz == 0


def test_no_playlists(tmp_path):
    cat = make_catalog(tmp_path / "np", artists=2, albums=[{}], tracks=[(0, [0, 1])])
    pl = PlaylistCoMembership().fit(cat)
    assert pl.transform(cat).shape == (2, 0) and pl.transform_tracks(cat).shape == (1, 0)
