"""CoCredits: co-credit counts with a self-loop, so direct collaborators and shared collaborators are similar."""

from __future__ import annotations

import pytest
from features_helpers import artists_only, cosine, make_catalog, sid

from recsys.features import CoCredits


@pytest.fixture
def catalog(tmp_path):
    # tracks: A+B, B+C, A+B again, D alone, E credited twice on one track (no collaboration), F+G
    tracks = [(0, [0, 1]), (0, [1, 2]), (0, [0, 1]), (0, [3]), (0, [4, 4]), (0, [5, 6])]
    return make_catalog(tmp_path / "c", artists=7, albums=[{}], tracks=tracks)


def test_collaborators_and_self_loop(catalog):
    cc = CoCredits().fit(catalog)
    X = cc.transform(catalog)
    names = list(cc.get_feature_names_out())
    assert names == [f"collaborator={sid('a', i)}" for i in (0, 1, 2, 5, 6)]
    assert X.shape == (7, 5)
    assert cosine(X, 0, 1) > 0  # direct collaborators
    assert cosine(X, 0, 2) > 0  # A and C share collaborator B
    assert cosine(X, 5, 6) > 0 and cosine(X, 0, 5) == 0  # separate pair
    assert X[3].nnz == 0 and X[4].nnz == 0  # solo artist; an artist credited twice on a track is still solo


def test_without_self_loop_direct_pairs_only_link_through_shared_collaborators(catalog):
    X = CoCredits(self_weight=0.0).fit(catalog).transform(catalog)
    assert cosine(X, 5, 6) == 0  # F and G only have each other
    assert cosine(X, 0, 2) > 0  # A and C still share B


def test_repeat_collaboration_counts_more(catalog):
    X = CoCredits(weighting="log").fit(catalog).transform(catalog).toarray()
    # A-B collaborated on two tracks, B-C on one
    assert X[1, 0] > X[1, 2]


def test_no_tracks(tmp_path):
    empty = artists_only(tmp_path)
    assert CoCredits().fit(empty).transform(empty).shape == (3, 0)
