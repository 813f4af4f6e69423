"""AudioProfile: per-artist means of track features, z-scored, zero rows without features."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from features_helpers import artists_only, column, make_catalog
from sklearn.preprocessing import StandardScaler

from recsys.features import AudioProfile


@pytest.fixture
def catalog(tmp_path):
    tracks = [(0, [0]), (0, [0]), (0, [1]), (0, [2]), (0, [3]), (0, [1, 2])]
    audio = [
        {"track": 0, "energy": 0.2, "tempo": 100.0, "danceability": 0.5},
        {"track": 1, "energy": 0.4, "tempo": 120.0, "danceability": None},  # null: ignored for that feature
        {"track": 2, "energy": 0.9, "tempo": 180.0, "danceability": 0.9},
        {"track": 3, "energy": 0.5, "tempo": 60.0, "danceability": 0.1},
        {"track": 5, "energy": 0.1, "tempo": 90.0, "danceability": 0.2},  # B primary, C featured
    ]
    # artist 3's track has no audio row; artist 4 has no tracks
    return make_catalog(tmp_path / "c", artists=5, albums=[{}], tracks=tracks, audio=audio)


FEATURES = ("danceability", "energy", "tempo")


def test_means_are_standardised(catalog):
    ap = AudioProfile(features=FEATURES, primary_only=True).fit(catalog)
    X = ap.transform(catalog)
    names = list(ap.get_feature_names_out())
    assert names == ["audio=danceability", "audio=energy", "audio=tempo"] and X.shape == (5, 3)
    assert X[3].nnz == 0 and X[4].nnz == 0
    z = X.toarray()[:3]
    # A: energy mean 0.3, B: mean(0.9, 0.1) = 0.5, C: 0.5 -> A lowest, z-scores sum to 0 and have unit std
    energy = column(X, names, "audio=energy")[:3]
    assert energy[0] < energy[1] == pytest.approx(energy[2])
    np.testing.assert_allclose(z.mean(axis=0), 0, atol=1e-6)
    np.testing.assert_allclose(z.std(axis=0), 1, atol=1e-5)
    # tempo in BPM does not dominate after scaling
    assert np.abs(z[:, 2]).max() < 2


def test_null_feature_ignored_not_zero(catalog):
    ap = AudioProfile(features=FEATURES, primary_only=True).fit(catalog)
    # A's danceability mean is 0.5 (its null row ignored), not 0.25
    assert ap.scaler_.mean_[0] == pytest.approx(np.mean([0.5, (0.9 + 0.2) / 2, 0.1]))


def test_featured_tracks_count_unless_primary_only(catalog):
    def raw_means(primary_only: bool) -> np.ndarray:
        ap = AudioProfile(features=FEATURES, primary_only=primary_only).fit(catalog)
        return ap.scaler_.inverse_transform(ap.transform(catalog).toarray())

    # C (row 2) is primary on the 60 BPM track 3 and featured on the 90 BPM track 5
    assert raw_means(True)[2, 2] == pytest.approx(60.0)
    assert raw_means(False)[2, 2] == pytest.approx(75.0)


def test_tracks_and_errors(catalog):
    ap = AudioProfile(features=FEATURES).fit(catalog)
    T = ap.transform_tracks(catalog)
    assert T.shape == (6, 3) and T[4].nnz == 0 and T[2].nnz == 3
    with pytest.raises(ValueError, match="unknown audio feature"):
        AudioProfile(features=("loudness", "colour")).fit(catalog)
    with pytest.raises(ValueError, match="min_tracks"):
        AudioProfile(min_tracks=0).fit(catalog)


def test_min_tracks(catalog):
    X = AudioProfile(features=FEATURES, min_tracks=2, primary_only=True).fit(catalog).transform(catalog)
    assert X[0].nnz > 0 and X[2].nnz == 0  # C has one primary track with features


def test_no_audio(tmp_path):
    empty = artists_only(tmp_path)
    X = AudioProfile().fit(empty).transform(empty)
    assert X.shape == (3, 10) and X.nnz == 0


def test_standardised_in_row_chunks_equals_the_whole_dense_conversion(monkeypatch):
    """z-scores made a row chunk at a time (bounded temporaries) are bit-identical to converting the whole dense
    z-score matrix, NaN features (the average, 0) and artists below min_tracks (zero rows) included."""
    import recsys.features.audio as audio_module

    monkeypatch.setattr(audio_module, "_ROWS", 7)
    rng = np.random.default_rng(5)
    means = rng.normal(size=(100, 4))
    means[rng.random(means.shape) < 0.2] = np.nan
    means[3] = 0.5  # a row equal to the mean: all zero after scaling
    n = rng.integers(0, 4, size=100).astype(float)
    prof = AudioProfile(features=("a", "b", "c", "d"), min_tracks=2)
    prof.scaler_ = StandardScaler().fit(means[n >= 2])
    prof.scaler_.mean_[0] = 0.5
    prof.scaler_.mean_ = np.nan_to_num(prof.scaler_.mean_)
    z = np.nan_to_num((means - prof.scaler_.mean_) / prof.scaler_.scale_, nan=0.0)
    z[n < 2] = 0.0
    want = sp.csr_matrix(z.astype(np.float32))
    got = prof._standardised(means, n)
    assert got.shape == want.shape and got.nnz == want.nnz > 100
    for name in ("data", "indices", "indptr"):
        assert getattr(got, name).dtype == getattr(want, name).dtype
        np.testing.assert_array_equal(getattr(got, name), getattr(want, name))
