"""LabelTfidf: own releases only, min_df, self-releases and empty labels ignored, spellings merged."""

from __future__ import annotations

import numpy as np
import pytest
from features_helpers import artists_only, column, cosine, make_catalog

from recsys.features import LabelTfidf


@pytest.fixture
def catalog(tmp_path):
    names = ["Velmora", "Kastrin", "Orvo", "Solo Act", "Guest", "Third", "Fourth"]
    albums = [
        {"label": "Nordic Frost"},  # 0: Velmora's
        {"label": "nordic  FROST"},  # 1: Kastrin's (same label, other spelling)
        {"label": "Nordic Frost"},  # 2: Kastrin's second
        {"label": "Lonely Label"},  # 3: only Orvo uses it -> dropped by min_df=2
        {"label": "solo act"},  # 4: Solo Act's self-release, Orvo is primary on one of its tracks
        {"label": ""},  # 5: empty label, Velmora and Orvo
        {"label": "Big Major"},  # 6: Third's; Guest is featured (second credit) and appears-on
        {"label": "Big Major"},  # 7: Fourth's
        {"label": "Big Major"},  # 8: Orvo's
    ]
    tracks = [(0, [0]), (1, [1]), (2, [1]), (3, [2]), (4, [3]), (4, [2]), (5, [0]), (5, [2]), (6, [5, 4]),
              (7, [6]), (8, [2])]
    artist_albums = [(4, 6, True, False)]
    return make_catalog(tmp_path / "c", artists=names, albums=albums, tracks=tracks, artist_albums=artist_albums)


def test_vocabulary_and_links(catalog):
    lab = LabelTfidf().fit(catalog)
    X = lab.transform(catalog)
    names = list(lab.get_feature_names_out())
    # spellings merged under the most frequent one; single-artist, self-released and empty labels gone
    assert names == ["label=Big Major", "label=Nordic Frost"]
    assert X.shape == (7, 2) and X.dtype == np.float32
    assert cosine(X, 0, 1) == pytest.approx(1.0)  # Velmora and Kastrin: same label
    assert X[3].nnz == 0  # Solo Act: only a self-release
    assert X[4].nnz == 0  # Guest: featured / appears-on is not their own label
    assert column(X, names, "label=Big Major")[2] > 0  # Orvo's own album 8


def test_rare_label_weighs_more(catalog):
    lab = LabelTfidf(sublinear_tf=False).fit(catalog)
    X = lab.transform(catalog)
    names = list(lab.get_feature_names_out())
    # Orvo has one album on Big Major (3 artists); Velmora one on Nordic Frost (2 artists)
    assert column(X, names, "label=Nordic Frost")[0] > column(X, names, "label=Big Major")[2]


def test_min_df_one_keeps_single_artist_labels(catalog):
    names = list(LabelTfidf(min_df=1).fit(catalog).get_feature_names_out())
    assert "label=Lonely Label" in names and "label=solo act" not in names


def test_bad_weighting(catalog):
    with pytest.raises(ValueError, match="weighting must be one of"):
        LabelTfidf(weighting="magic").fit(catalog)
    with pytest.raises(ValueError, match="min_df"):
        LabelTfidf(min_df=0).fit(catalog)


def test_no_albums(tmp_path):
    empty = artists_only(tmp_path)
    assert LabelTfidf().fit(empty).transform(empty).shape == (3, 0)
