"""Out-of-core aggregation: credits, playlist counts and audio means read their tables in batches and must give
exactly what one in-memory pass over the whole table gives, whatever the batch size."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from recsys.catalog import Catalog
from recsys.features import _links
from recsys.features._links import column_rows, credits, incidence, iter_batches
from recsys.features.audio import AudioProfile
from recsys.features.playlists import artist_playlist_counts, track_playlist


@pytest.fixture(params=[997, 1 << 22], ids=["many-batches", "one-batch"])
def catalog(request, small_demo, monkeypatch):
    """A fresh Catalog object (results are cached per object) read in batches of the given size."""
    monkeypatch.setattr(_links, "BATCH_ROWS", request.param)
    return Catalog.open(small_demo[1].path)


def test_batches_cover_the_table_in_file_order(catalog):
    whole = catalog.table("track_artists", ["rowid"]).column(0).to_numpy()
    parts = [b.column(0).to_numpy() for b in iter_batches(catalog, "track_artists", ["rowid"])]
    assert len(parts) == -(-len(whole) // _links.BATCH_ROWS)
    np.testing.assert_array_equal(np.concatenate(parts), whole)


def test_credits_equal_an_in_memory_sort(catalog):
    """Reference: the whole table at once, sorted by (track, rowid), later duplicates of a pair dropped."""
    t = catalog.table("track_artists", ["rowid"]).column(0).to_numpy()
    trk = column_rows(catalog, "track_artists", "track_rowid", "tracks")
    art = column_rows(catalog, "track_artists", "artist_rowid", "artists")
    ok = (trk >= 0) & (art >= 0)
    o = np.lexsort((t[ok], trk[ok]))
    trk, art = trk[ok][o], art[ok][o]
    seen, keep = set(), []
    for pair in zip(trk.tolist(), art.tolist()):
        keep.append(pair not in seen)
        seen.add(pair)
    keep = np.array(keep)
    c = credits(catalog)
    np.testing.assert_array_equal(c.track, trk[keep])
    np.testing.assert_array_equal(c.artist, art[keep])
    np.testing.assert_array_equal(c.primary, np.r_[True, trk[keep][1:] != trk[keep][:-1]])
    assert len(c.track) > 1000


def test_playlist_counts_equal_the_one_shot_product(catalog):
    c = credits(catalog)
    at = incidence(c.artist, c.track, (catalog.num_rows("artists"), catalog.num_rows("tracks")))
    expected = sp.csr_matrix(at @ track_playlist(catalog), dtype=np.float32)
    got = artist_playlist_counts(catalog)
    assert got.shape == expected.shape and got.nnz == expected.nnz > 0
    assert (got != expected).nnz == 0
    assert got.has_sorted_indices


def test_audio_means_are_bit_identical_to_one_in_memory_pass(catalog):
    """Reference: every audio row at once, mapped to its track's credits, summed per artist by np.bincount."""
    prof = AudioProfile()
    t = catalog.table("audio_features", list(prof.features))
    trk = column_rows(catalog, "audio_features", "track_rowid", "tracks")
    vals = np.column_stack([t.column(f).to_numpy(zero_copy_only=False).astype(np.float64) for f in prof.features])
    vals, trk = vals[trk >= 0], trk[trk >= 0]
    c = credits(catalog)
    row_of_track = np.full(catalog.num_rows("tracks"), -1)
    row_of_track[trk] = np.arange(len(trk))
    r = row_of_track[c.track]
    a, v = c.artist[r >= 0], vals[r[r >= 0]]
    known = np.isfinite(v)
    n = catalog.num_rows("artists")
    sums = np.column_stack([np.bincount(a, np.where(known[:, j], v[:, j], 0.0), n) for j in range(v.shape[1])])
    cnts = np.column_stack([np.bincount(a, known[:, j], n) for j in range(v.shape[1])])
    with np.errstate(invalid="ignore", divide="ignore"):
        expected = sums / cnts
    means, n_tracks = prof._artist_means(catalog)
    assert np.isnan(expected).any()  # artists without audio exist: NaN must line up too
    np.testing.assert_array_equal(means, expected)  # bit for bit, NaN where NaN
    np.testing.assert_array_equal(n_tracks, cnts.max(axis=1))
