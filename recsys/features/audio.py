"""Audio profile: the mean of an artist's tracks' audio features, standardised across artists."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.preprocessing import StandardScaler
from sklearn.utils.validation import check_is_fitted

from ..catalog import Catalog
from ._links import cached, column_rows, credits, iter_batches, table_columns, table_rowids
from ._rows import rowid_to_row

__all__ = ["AudioProfile", "AUDIO_FEATURES"]

_CHUNK = 1 << 24  # credits added per np.add.at call (bounds the temporaries to ~0.3 GB)

#: the audio features averaged per artist (``audio_features`` columns)
AUDIO_FEATURES: tuple[str, ...] = ("danceability", "energy", "speechiness", "acousticness", "instrumentalness",
                                   "liveness", "valence", "tempo", "loudness", "mode")


class AudioProfile(TransformerMixin, BaseEstimator):
    """Artist x audio-feature block (names ``"audio=energy"`` ...), dense values stored as CSR.

    Per artist, the mean of each feature over the tracks they are the primary credit on (``primary_only``) or
    credited on, ignoring nulls feature by feature; then z-scored across the artists that have features
    (scikit-learn's ``StandardScaler``), so cosine compares an artist's *deviation* from the average sound and
    tempo (BPM) or loudness (dB) do not dominate by their units. Artists without any audio features get an
    all-zero row. ``transform`` returns CSR float32 (n_artists, len(features)).

    Parameters
    ----------
    features : tuple of str
        Columns of ``audio_features`` to use.
    primary_only : bool
        Average only tracks on which the artist is the first credit (a guest spot says little of their sound).
    min_tracks : int
        Artists with fewer tracks with features get a zero row (a one-track mean is noisy).
    """

    prefix = "audio"

    def __init__(self, *, features: tuple[str, ...] = AUDIO_FEATURES, primary_only: bool = False,
                 min_tracks: int = 1) -> None:
        self.features = features
        self.primary_only = primary_only
        self.min_tracks = min_tracks

    def _check_features(self, catalog: Catalog) -> None:
        names = table_columns(catalog, "audio_features")  # the schema only: the table has 229M rows at full size
        unknown = [f for f in self.features if f not in names]
        if unknown:
            raise ValueError(f"features: unknown audio feature(s) {unknown}; known: {names[1:]}")

    def _track_values(self, catalog: Catalog) -> tuple[np.ndarray, np.ndarray]:
        """(track rows, float64 (n_rows, n_features) with NaN for nulls) of resolvable audio rows."""
        self._check_features(catalog)
        t = catalog.table("audio_features", list(self.features))
        trk = column_rows(catalog, "audio_features", "track_rowid", "tracks")
        vals = np.column_stack([t.column(f).to_numpy(zero_copy_only=False).astype(np.float64)
                                for f in self.features]) if t.num_rows else np.zeros((0, len(self.features)))
        ok = trk >= 0
        return trk[ok], vals[ok]

    def _means(self, item_rows: np.ndarray, vals: np.ndarray, n_items: int) -> tuple[np.ndarray, np.ndarray]:
        """Per-item nan-mean of ``vals`` grouped by ``item_rows``; returns (means (n_items, k), n_tracks)."""
        k = vals.shape[1]
        known = np.isfinite(vals)
        sums = np.column_stack([np.bincount(item_rows, weights=np.where(known[:, j], vals[:, j], 0.0),
                                            minlength=n_items) for j in range(k)]) if k else np.zeros((n_items, 0))
        cnts = np.column_stack([np.bincount(item_rows, weights=known[:, j], minlength=n_items)
                                for j in range(k)]) if k else np.zeros((n_items, 0))
        with np.errstate(invalid="ignore", divide="ignore"):
            means = sums / cnts
        return means, cnts.max(axis=1) if k else np.zeros(n_items)

    def _artist_means(self, catalog: Catalog) -> tuple[np.ndarray, np.ndarray]:
        """Per-artist nan-means of the features over the (selected) credits, and the tracks behind each mean.

        ``audio_features`` (229M rows x 10 features in the full dump) is streamed one feature at a time into a
        per-track value array (the last row of a track wins, NaN where it has none), then added per artist in
        credit order (tracks ascending, credits in credit order) in chunks with ``np.add.at``, which adds one
        value at a time like ``np.bincount``: the float sums are bit-identical to one in-memory pass, and the
        working memory is one float64 per track plus a chunk, whatever the table's row order.
        """
        key = f"audio_means:{tuple(self.features)}:{bool(self.primary_only)}"
        return cached(catalog, key, lambda: self._streamed_artist_means(catalog))

    def _streamed_artist_means(self, catalog: Catalog) -> tuple[np.ndarray, np.ndarray]:
        self._check_features(catalog)
        t_ids = table_rowids(catalog, "tracks")
        c = credits(catalog)
        sel = c.primary if self.primary_only else slice(None)
        c_trk, c_art = c.track[sel], c.artist[sel]
        n_art, k = catalog.num_rows("artists"), len(self.features)
        sums, cnts = np.zeros((n_art, k)), np.zeros((n_art, k))
        track_val = np.empty(len(t_ids), dtype=np.float64)
        # the track row of every audio row, resolved once (a binary search per row is the costly part), int32
        # while the tracks fit (4 bytes per row: 0.9 GB for the full dump's 229M rows)
        small = len(t_ids) < 2**31
        rows_of_batch = [rowid_to_row(t_ids, b.column(0).fill_null(-1).to_numpy()).astype(
            np.int32 if small else np.int64) for b in iter_batches(catalog, "audio_features", ["track_rowid"])]
        for j, f in enumerate(self.features):
            track_val.fill(np.nan)
            for trk, b in zip(rows_of_batch, iter_batches(catalog, "audio_features", [f])):
                ok = trk >= 0
                track_val[trk[ok]] = b.column(0).to_numpy(zero_copy_only=False).astype(np.float64)[ok]
            s_j, n_j = np.zeros(n_art), np.zeros(n_art)
            for start in range(0, len(c_trk), _CHUNK):
                v = track_val[c_trk[start:start + _CHUNK]]
                a = c_art[start:start + _CHUNK]
                known = np.isfinite(v)
                np.add.at(s_j, a, np.where(known, v, 0.0))
                np.add.at(n_j, a, known.astype(np.float64))
            sums[:, j], cnts[:, j] = s_j, n_j
        with np.errstate(invalid="ignore", divide="ignore"):
            means = sums / cnts
        return means, cnts.max(axis=1) if k else np.zeros(n_art)

    def _standardised(self, means: np.ndarray, n: np.ndarray) -> sp.csr_matrix:
        has = n >= self.min_tracks
        # a feature missing for an artist that has others: the average (0 after scaling)
        z = np.nan_to_num((means - self.scaler_.mean_) / self.scaler_.scale_, nan=0.0)
        z[~has] = 0.0
        out = sp.csr_matrix(z.astype(np.float32))
        out.eliminate_zeros()
        return out

    def fit(self, catalog: Catalog, y=None) -> AudioProfile:
        """Learn each feature's mean and standard deviation over artists with audio features."""
        if isinstance(self.min_tracks, bool) or not isinstance(self.min_tracks, (int, np.integer)) \
                or self.min_tracks < 1:
            raise ValueError(f"min_tracks must be an int >= 1, got {self.min_tracks!r}")
        means, n = self._artist_means(catalog)
        rows = means[n >= self.min_tracks]
        self.scaler_ = StandardScaler()
        if len(rows):
            self.scaler_.fit(rows)  # NaNs are ignored per feature by StandardScaler
        else:
            k = len(self.features)
            self.scaler_.mean_, self.scaler_.scale_ = np.zeros(k), np.ones(k)
        self.scaler_.mean_ = np.nan_to_num(self.scaler_.mean_, nan=0.0)
        self.scaler_.scale_ = np.where(np.isfinite(self.scaler_.scale_) & (self.scaler_.scale_ > 0),
                                       self.scaler_.scale_, 1.0)
        self.n_features_out_ = len(self.features)
        return self

    def transform(self, catalog: Catalog) -> sp.csr_matrix:
        """Standardised per-artist means, CSR float32 (n_artists, n_features)."""
        check_is_fitted(self, "scaler_")
        return self._standardised(*self._artist_means(catalog))

    def transform_tracks(self, catalog: Catalog) -> sp.csr_matrix:
        """The track's own features, standardised with the artist statistics, CSR float32 (n_tracks, n_features)."""
        check_is_fitted(self, "scaler_")
        trk, vals = self._track_values(catalog)
        return self._standardised(*self._means(trk, vals, catalog.num_rows("tracks")))

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        """``"audio=<feature>"`` per column, ndarray of object."""
        return np.asarray([f"audio={f}" for f in self.features], dtype=object)
