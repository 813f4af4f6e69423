"""Audio profile: the mean of an artist's tracks' audio features, standardised across artists."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import scipy.sparse as sp
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.preprocessing import StandardScaler
from sklearn.utils.validation import check_is_fitted

from ..catalog import CATALOG_SCHEMAS, Catalog
from ._links import cached, credits, fk_rows, iter_batches, row_dtype, row_map, table_columns

__all__ = ["AudioProfile", "AUDIO_FEATURES"]

_CHUNK = 1 << 20  # credits added per np.add.at call (bounds the temporaries to ~30 MB; larger is no faster)
_ROWS = 1 << 18  # rows standardised at a time (~60 MB of temporaries for 10 features)

#: the audio features averaged per artist (``audio_features`` columns)
AUDIO_FEATURES: tuple[str, ...] = ("danceability", "energy", "speechiness", "acousticness", "instrumentalness",
                                   "liveness", "valence", "tempo", "loudness", "mode")


def _exact_in_float32(t: pa.DataType) -> bool:
    """Whether every value of an Arrow type is exactly a float32."""
    return pa.types.is_float32(t) or pa.types.is_float16(t) or pa.types.is_boolean(t) \
        or (pa.types.is_integer(t) and t.bit_width <= 16)


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
    #: cached relations ``fit``/``transform`` read (:class:`recsys.features._links.CacheScope`)
    cache_uses: tuple[str, ...] = ("audio_means",)

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
        t = catalog.table("audio_features", list(self.features), cache=False)
        trk = fk_rows(catalog, "audio_features", "track_rowid", "tracks")
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
        working memory is one value per track (float32 for the catalog's float32 columns) plus a chunk, whatever
        the table's row order. Only the means (n_artists, k) float64 and the track counts are kept.
        """
        key = f"audio_means:{tuple(self.features)}:{bool(self.primary_only)}"
        return cached(catalog, key, lambda: self._streamed_artist_means(catalog))

    def _streamed_artist_means(self, catalog: Catalog) -> tuple[np.ndarray, np.ndarray]:
        self._check_features(catalog)
        t_map = row_map(catalog, "tracks")
        c = credits(catalog)
        sel = c.primary if self.primary_only else slice(None)
        c_trk, c_art = c.track[sel], c.artist[sel]
        n_art, k = catalog.num_rows("artists"), len(self.features)
        # one feature at a time: only the means (n_artists, k) and one feature's sums and counts are held
        means, n_tracks = np.empty((n_art, k)), np.zeros(n_art)
        # the track row of every audio row: dense track rowids map by a subtraction, so each feature's pass reads
        # them again; otherwise they are resolved once (a binary search per row) and kept, 4 bytes per row
        rows_of_batch = None if t_map.rowids is None else [
            t_map.rows(b.column(0).fill_null(-1).to_numpy()).astype(row_dtype(t_map.n))
            for b in iter_batches(catalog, "audio_features", ["track_rowid"])]
        for j, f in enumerate(self.features):
            # the catalog's float32 and int8 columns fit a float32 per track exactly (1 GB less at 256M tracks)
            exact32 = _exact_in_float32(CATALOG_SCHEMAS["audio_features"].field(f).type)
            track_val = np.full(t_map.n, np.nan, dtype=np.float32 if exact32 else np.float64)
            cols = ["track_rowid", f] if rows_of_batch is None else [f]
            for i, b in enumerate(iter_batches(catalog, "audio_features", cols)):
                trk = t_map.rows(b.column(0).fill_null(-1).to_numpy()) if rows_of_batch is None else rows_of_batch[i]
                ok = trk >= 0
                track_val[trk[ok]] = b.column(f).to_numpy(zero_copy_only=False).astype(np.float64)[ok]
            s_j, n_j = np.zeros(n_art), np.zeros(n_art)
            for start in range(0, len(c_trk), _CHUNK):
                v = track_val[c_trk[start:start + _CHUNK]].astype(np.float64, copy=False)
                a = c_art[start:start + _CHUNK]
                known = np.isfinite(v)
                np.add.at(s_j, a, np.where(known, v, 0.0))
                np.add.at(n_j, a, known.astype(np.float64))
            with np.errstate(invalid="ignore", divide="ignore"):
                means[:, j] = s_j / n_j
            np.maximum(n_tracks, n_j, out=n_tracks)
        return means, n_tracks

    def _standardised(self, means: np.ndarray, n: np.ndarray) -> sp.csr_matrix:
        """z-scores of ``means`` (rows with fewer than ``min_tracks`` tracks zero), CSR float32 of the nonzeros.

        Made a row chunk at a time: the dense float64 temporaries and the (row, column) pairs of a whole
        conversion would be ~40 bytes per value (15.4M artists x 10 features: 6 GB), the result is 8.
        """
        has = n >= self.min_tracks
        k = means.shape[1]
        indptr = np.zeros(len(means) + 1, dtype=np.int64)
        data, indices = [], []
        for start in range(0, len(means), _ROWS):
            stop = min(len(means), start + _ROWS)
            # a feature missing for an artist that has others: the average (0 after scaling)
            z = np.nan_to_num((means[start:stop] - self.scaler_.mean_) / self.scaler_.scale_, nan=0.0)
            z[~has[start:stop]] = 0.0
            z = z.astype(np.float32)
            nz = z != 0
            indptr[start + 1:stop + 1] = np.count_nonzero(nz, axis=1)
            data.append(z[nz])  # row-major: each row's values in column order, as a dense -> CSR conversion
            indices.append(np.nonzero(nz)[1].astype(np.int32))
        np.cumsum(indptr, out=indptr)
        dt = row_dtype(max(k, int(indptr[-1])))
        return sp.csr_matrix((np.concatenate(data) if data else np.zeros(0, np.float32),
                              np.concatenate(indices).astype(dt, copy=False) if indices else np.zeros(0, dt),
                              indptr.astype(dt)), shape=(len(means), k))

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
