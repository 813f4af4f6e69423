"""Track neighbours at full scale by artist-first search: no index over 256M track vectors.

Mental model: *to find tracks like track q, ask the artist model for the artists like q's artists, then rank the
tracks of those artists by how close their artists are and how close they sound and date.* Only artists are
searched; the candidate tracks are a few hundred per query, gathered through an artist -> tracks list, and the
per-track state is a handful of bytes (a float16 audio profile, an era bucket and the credits).

Score of candidate track t for query track q, higher is more similar, in [-1, 1]::

    s(q, t) = (w_artist * A(q, t) + w_era * E(q, t) + w_audio * C(q, t)) / (w_artist + w_era + w_audio)

* A(q, t): the best artist similarity over (artist of q, artist of t) pairs, 1 for a shared artist; the artist
  model's score for each of the ``n_artists`` neighbours of each of q's artists, 0 for any other artist.
* E(q, t): cosine of the two tracks' release-era vectors (a one-hot bucket smoothed into its neighbours, the
  Gram table ``era_gram``); 0 when either year is unknown.
* C(q, t): cosine of the tracks' standardised audio features; 0 when either has none.

Candidates are the *indexed* tracks (e.g. popularity >= 1) credited to q's artists or to their neighbour
artists. Every track can be a query; a track that is not indexed has no stored era or audio, so only A ranks
its neighbours. :func:`full_scan_topk` computes the same score exactly over every indexed track (the reference
for recall); :func:`build_artist_first` makes the inputs from a catalog, streaming the per-track tables.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import scipy.sparse as sp

from .base import _PAD_ID, SimilarityModel
from .itemknn import _is_int, _is_real, _rank_pairs

__all__ = ["ArtistFirstTracks", "build_artist_first", "full_scan_topk", "track_era_audio"]


def _csr_rows(indptr: np.ndarray, indices: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(position of the row in ``rows``, value) for every stored entry of ``rows`` of a CSR structure."""
    start, stop = indptr[rows], indptr[rows + 1]
    cnt = (stop - start).astype(np.int64)
    owner = np.repeat(np.arange(len(rows)), cnt)
    offset = np.arange(int(cnt.sum())) - np.repeat(np.cumsum(cnt) - cnt, cnt)
    return owner, indices[np.repeat(start, cnt) + offset].astype(np.int64)


def _max_per_pair(owner: np.ndarray, item: np.ndarray, score: np.ndarray) -> tuple[np.ndarray, ...]:
    """Unique (owner, item) pairs with the maximum score of each."""
    if not len(owner):
        return owner, item, score
    o = np.lexsort((-score, item, owner))
    owner, item, score = owner[o], item[o], score[o]
    first = np.ones(len(owner), dtype=bool)
    first[1:] = (owner[1:] != owner[:-1]) | (item[1:] != item[:-1])
    return owner[first], item[first], score[first]


class ArtistFirstTracks(SimilarityModel):
    """Track neighbours by artist-first search (see the module docstring for the score).

    Not in the model registry: besides the track x artist credit matrix it needs a fitted artist model, which a
    model name alone cannot supply. It follows the :class:`~recsys.models.base.SimilarityModel` contract for
    queries (rows are catalog track rows; ``exclude`` and ``candidates`` work as everywhere).

    Parameters
    ----------
    n_artists : int
        Neighbour artists asked of the artist model per credited artist of the query.
    artist_weight, era_weight, audio_weight : float
        Weights of A, E and C in the score (>= 0, not all 0).

    Attributes
    ----------
    track_artists_ : scipy.sparse.csr_matrix (n_tracks, n_artists)
        Credits (structure only is used).
    indexed_ : ndarray of int64 (n_indexed,)
        Ascending rows of the tracks that can be returned.
    artist_tracks_ : scipy.sparse.csr_matrix (n_artists, n_indexed)
        Indexed tracks of each artist (column = position in ``indexed_``).
    audio_ : ndarray of float16 (n_indexed, n_audio)
        Unit-length standardised audio vector of each indexed track (zero row: none).
    era_ : ndarray of int16 (n_indexed,)
        Era bucket of each indexed track (-1: unknown).
    era_gram_ : ndarray of float32 (n_buckets, n_buckets)
        Cosine between the era vectors of two buckets.
    artist_model_ : SimilarityModel
        The artist model, fitted on the artists of the same catalog.
    """

    name: ClassVar[str] = "artist_first"

    def __init__(self, *, n_artists: int = 50, artist_weight: float = 1.0, era_weight: float = 0.25,
                 audio_weight: float = 0.5) -> None:
        self.n_artists = n_artists
        self.artist_weight = artist_weight
        self.era_weight = era_weight
        self.audio_weight = audio_weight

    def _check_params(self) -> None:
        if not _is_int(self.n_artists) or self.n_artists < 1:
            raise ValueError(f"n_artists must be an int >= 1, got {self.n_artists!r}")
        ws = {k: getattr(self, k) for k in ("artist_weight", "era_weight", "audio_weight")}
        for k, v in ws.items():
            if not _is_real(v) or not np.isfinite(v) or v < 0:
                raise ValueError(f"{k} must be a finite number >= 0, got {v!r}")
        if sum(ws.values()) <= 0:
            raise ValueError(f"at least one of {sorted(ws)} must be > 0, got {ws}")

    def fit(self, X: Any, *, artist_model: SimilarityModel, indexed: np.ndarray, audio: np.ndarray,
            era: np.ndarray, era_gram: np.ndarray) -> ArtistFirstTracks:
        """Fit on the track x artist credit matrix ``X`` (n_tracks, n_artists).

        Parameters
        ----------
        X : sparse (n_tracks, n_artists)
            Credits; the stored entries say which artists a track is credited to.
        artist_model : SimilarityModel
            Fitted on the catalog's artists (``n_items_ == X.shape[1]``).
        indexed : array of int (n_indexed,)
            Track rows that can be returned (e.g. popularity >= 1), any order, no duplicates.
        audio : float array (n_indexed, n_audio)
            Standardised audio features of the indexed tracks in the order of ``indexed``; NaN rows: unknown.
        era : int array (n_indexed,)
            Era bucket of the indexed tracks (-1 unknown), indexing ``era_gram``.
        era_gram : float array (n_buckets, n_buckets)
            Cosine between the era vectors of two buckets.
        """
        return super().fit(X, artist_model=artist_model, indexed=indexed, audio=audio, era=era, era_gram=era_gram)

    def _fit(self, X: Any, *, artist_model: SimilarityModel, indexed: np.ndarray, audio: np.ndarray,
             era: np.ndarray, era_gram: np.ndarray) -> None:
        if not sp.issparse(X):
            raise TypeError(f"X must be the sparse track x artist credit matrix, got {type(X).__name__}")
        n_t, n_art = X.shape
        if not isinstance(artist_model, SimilarityModel) or not artist_model.is_fitted:
            raise TypeError(f"artist_model must be a fitted SimilarityModel, got {artist_model!r:.80}")
        if artist_model.n_items_ != n_art:
            raise ValueError(f"artist_model has {artist_model.n_items_} items but X has {n_art} artist columns")
        indexed = np.asarray(indexed, dtype=np.int64).ravel()
        if len(indexed) and (indexed.min() < 0 or indexed.max() >= n_t):
            raise IndexError(f"indexed holds a row outside 0..{n_t - 1}")
        order = np.argsort(indexed, kind="stable")
        indexed = indexed[order]
        if len(indexed) > 1 and (np.diff(indexed) == 0).any():
            raise ValueError("indexed must not hold a track twice")
        audio = np.asarray(audio, dtype=np.float64)
        era = np.asarray(era, dtype=np.int64).ravel()
        era_gram = np.asarray(era_gram, dtype=np.float32)
        if audio.ndim != 2 or audio.shape[0] != len(indexed) or era.shape != (len(indexed),):
            raise ValueError(f"audio must be (n_indexed, n_audio) and era (n_indexed,) with n_indexed={len(indexed)}, "
                             f"got {audio.shape} and {era.shape}")
        if era_gram.ndim != 2 or era_gram.shape[0] != era_gram.shape[1] or (len(era) and era.max() >= len(era_gram)):
            raise ValueError(f"era_gram must be a square table covering every era bucket, got {era_gram.shape}")
        audio, era = audio[order], era[order]
        ta = sp.csr_matrix(X)
        self.track_artists_ = sp.csr_matrix((np.ones(ta.nnz, dtype=np.int8), ta.indices.astype(np.int32),
                                             ta.indptr.astype(np.int64)), shape=ta.shape)
        self.indexed_ = indexed
        # artist -> indexed tracks (column = position in indexed_), made from the credits of the indexed rows
        sub = ta[indexed]
        at = sp.csr_matrix((np.ones(sub.nnz, dtype=np.int8), sub.indices, sub.indptr), shape=sub.shape).T.tocsr()
        self.artist_tracks_ = sp.csr_matrix((at.data, at.indices.astype(np.int32), at.indptr.astype(np.int64)),
                                            shape=at.shape)
        known = np.isfinite(audio).all(axis=1)
        norms = np.linalg.norm(np.where(known[:, None], audio, 0.0), axis=1, keepdims=True)
        unit = np.divide(np.where(known[:, None], audio, 0.0), norms, out=np.zeros_like(audio), where=norms > 0)
        self.audio_ = unit.astype(np.float16)
        self.era_ = era.astype(np.int16)
        self.era_gram_ = era_gram
        self.artist_model_ = artist_model

    # -- querying
    def _slots(self, rows: np.ndarray) -> np.ndarray:
        """Position of each track row in ``indexed_`` (-1 if it is not indexed)."""
        pos = np.searchsorted(self.indexed_, rows)
        pos = np.minimum(pos, max(len(self.indexed_) - 1, 0))
        hit = (self.indexed_[pos] == rows) if len(self.indexed_) else np.zeros(len(rows), dtype=bool)
        return np.where(hit, pos, -1)

    def _own(self, q_slot: np.ndarray, t_slot: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(E, C) for query/candidate slot pairs (0 where the query is not indexed or data is missing)."""
        ok = q_slot >= 0
        qs = np.maximum(q_slot, 0)
        eq, et = self.era_[qs].astype(np.int64), self.era_[t_slot].astype(np.int64)
        e_ok = ok & (eq >= 0) & (et >= 0)
        E = np.where(e_ok, self.era_gram_[np.maximum(eq, 0), np.maximum(et, 0)], 0.0)
        C = np.einsum("ij,ij->i", self.audio_[qs].astype(np.float32), self.audio_[t_slot].astype(np.float32))
        return E.astype(np.float32), np.where(ok, C, 0.0).astype(np.float32)

    def candidates_of(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Candidate (query position, indexed slot, A score) triples of query track ``rows``, unique pairs."""
        ta = self.track_artists_
        q_own, a_own = _csr_rows(ta.indptr, ta.indices, rows)
        owner = [q_own]
        art = [a_own]
        score = [np.ones(len(a_own), dtype=np.float32)]
        if len(a_own):
            uniq, inv = np.unique(a_own, return_inverse=True)
            n = int(min(self.n_artists, self.artist_model_.n_items_ - 1))
            nb, sc = self.artist_model_.similar_items(uniq, n)
            nb, sc = nb[inv], sc[inv]
            keep = nb >= 0
            owner.append(np.repeat(q_own, nb.shape[1])[keep.ravel()])
            art.append(nb[keep])
            score.append(sc[keep].astype(np.float32))
        q, a, s = _max_per_pair(np.concatenate(owner), np.concatenate(art), np.concatenate(score))
        at = self.artist_tracks_
        pos, slot = _csr_rows(at.indptr, at.indices, a)
        return _max_per_pair(q[pos], slot, s[pos])

    def _topk(self, rows: np.ndarray, n: int, allowed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        out_ids = np.full((len(rows), n), _PAD_ID, dtype=np.int64)
        out_scores = np.full((len(rows), n), -np.inf, dtype=np.float32)
        wa, we, wc = (float(self.artist_weight), float(self.era_weight), float(self.audio_weight))
        total = wa + we + wc
        q_slots = self._slots(rows)
        for start in range(0, len(rows), 256):
            r = rows[start:start + 256]
            qi, slot, A = self.candidates_of(r)
            tid = self.indexed_[slot]
            keep = allowed[tid] & (tid != r[qi])
            qi, slot, A, tid = qi[keep], slot[keep], A[keep], tid[keep]
            E, C = self._own(q_slots[start:start + 256][qi], slot)
            s = ((wa * A + we * E + wc * C) / total).astype(np.float32)
            out_ids[start:start + len(r)], out_scores[start:start + len(r)] = _rank_pairs(qi, tid, s, len(r), n)
        return out_ids, out_scores

    def memory_bytes(self) -> dict[str, int]:
        """Bytes of each stored array (the artist model not counted)."""
        parts = {"track_artists": self.track_artists_, "artist_tracks": self.artist_tracks_}
        out = {k: int(m.data.nbytes + m.indices.nbytes + m.indptr.nbytes) for k, m in parts.items()}
        out |= {"indexed": int(self.indexed_.nbytes), "audio": int(self.audio_.nbytes), "era": int(self.era_.nbytes),
                "era_gram": int(self.era_gram_.nbytes)}
        return out

    def _get_state(self) -> dict[str, np.ndarray]:
        raise NotImplementedError("ArtistFirstTracks is rebuilt from the catalog and a saved artist model "
                                  "(build_artist_first); it has no file format of its own")

    def _set_state(self, arrays: dict[str, np.ndarray]) -> None:
        raise NotImplementedError("ArtistFirstTracks has no file format of its own; use build_artist_first")


def full_scan_topk(model: ArtistFirstTracks, artist_vectors: sp.spmatrix, rows: np.ndarray, n: int
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-``n`` of the model's score over *every* indexed track, with exact artist cosines for A.

    The reference artist-first search is measured against: A(q, t) is the largest cosine of ``artist_vectors``
    (rows L2-normalised here) between an artist of q and an artist of t, for every track, not only for the
    artist model's neighbours. Cost is one pass over all credits per query; for tests and benchmark samples.
    """
    from sklearn.preprocessing import normalize

    V = normalize(sp.csr_matrix(artist_vectors, dtype=np.float32), norm="l2", axis=1)
    ta = model.track_artists_
    sub = ta[model.indexed_]
    owner_of_credit = np.repeat(np.arange(len(model.indexed_)), np.diff(sub.indptr))
    wa, we, wc = (float(model.artist_weight), float(model.era_weight), float(model.audio_weight))
    total = wa + we + wc
    rows = np.asarray(rows, dtype=np.int64)
    out_ids = np.full((len(rows), n), _PAD_ID, dtype=np.int64)
    out_scores = np.full((len(rows), n), -np.inf, dtype=np.float32)
    q_slots = model._slots(rows)
    slots = np.arange(len(model.indexed_))
    for i, r in enumerate(rows):
        q_art = ta.indices[ta.indptr[r]:ta.indptr[r + 1]]
        cos = np.asarray((V[q_art] @ V.T).max(axis=0).todense()).ravel() if len(q_art) else np.zeros(V.shape[0])
        cos[q_art] = 1.0  # a shared artist (also one without features)
        A = np.zeros(len(model.indexed_), dtype=np.float32)
        np.maximum.at(A, owner_of_credit, cos[sub.indices].astype(np.float32))
        E, C = model._own(np.full(len(slots), q_slots[i]), slots)
        s = ((wa * A + we * E + wc * C) / total).astype(np.float32)
        ok = model.indexed_ != r
        ids, sc = _rank_pairs(np.zeros(int(ok.sum()), dtype=np.int64), model.indexed_[ok], s[ok], 1, n)
        out_ids[i], out_scores[i] = ids[0], sc[0]
    return out_ids, out_scores


def track_era_audio(catalog: Any, indexed: np.ndarray, *, smoothing: float = 0.3, bucket_years: int = 5
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Era bucket, era Gram table and standardised audio of the ``indexed`` track rows, streaming per-track data.

    Era: the 5-year bucket of the track's album (:class:`~recsys.features.era.ReleaseEra` buckets and smoothing:
    a one-hot spread by ``smoothing`` to each neighbour bucket). Audio: the track's features standardised with the
    mean and deviation over tracks (``audio_features`` streamed; the last row of a track wins; NaN when none).

    Returns
    -------
    era : int64 (n_indexed,), -1 unknown
    era_gram : float32 (n_buckets, n_buckets), cosine of two buckets' smoothed vectors
    audio : float64 (n_indexed, 10), NaN rows for tracks without audio features
    """
    from ..features._links import album_rows_of_tracks, iter_batches, table_rowids
    from ..features._rows import rowid_to_row
    from ..features.audio import AUDIO_FEATURES
    from ..features.era import ReleaseEra

    indexed = np.asarray(indexed, dtype=np.int64)
    era_model = ReleaseEra(bucket_years=bucket_years, smoothing=smoothing)
    era_model.fit(catalog)
    nb = int(era_model.n_buckets_)
    alb = album_rows_of_tracks(catalog)[indexed]
    buckets = era_model._album_buckets(catalog)
    era = np.where(alb >= 0, buckets[np.maximum(alb, 0)], -1) if len(buckets) else np.full(len(indexed), -1)
    K = np.eye(nb) + smoothing * (np.eye(nb, k=1) + np.eye(nb, k=-1))
    Kn = K / np.maximum(np.linalg.norm(K, axis=1, keepdims=True), 1e-12)
    gram = (Kn @ Kn.T).astype(np.float32)

    t_ids = table_rowids(catalog, "tracks")
    slot = np.full(len(t_ids), -1, dtype=np.int64)
    slot[indexed] = np.arange(len(indexed))
    audio = np.full((len(indexed), len(AUDIO_FEATURES)), np.nan)
    if "audio_features" in catalog.table_names:
        for b in iter_batches(catalog, "audio_features", ["track_rowid", *AUDIO_FEATURES]):
            trk = rowid_to_row(t_ids, b.column(0).fill_null(-1).to_numpy())
            s = np.where(trk >= 0, slot[np.maximum(trk, 0)], -1)
            ok = s >= 0
            if ok.any():
                vals = np.column_stack([b.column(f).to_numpy(zero_copy_only=False).astype(np.float64)
                                        for f in AUDIO_FEATURES])
                audio[s[ok]] = vals[ok]
    known = np.isfinite(audio).all(axis=1)
    if known.any():
        mu, sd = audio[known].mean(axis=0), audio[known].std(axis=0)
        audio = (audio - mu) / np.where(sd > 0, sd, 1.0)
    return era.astype(np.int64), gram, audio


def build_artist_first(catalog: Any, artist_model: SimilarityModel, *, min_popularity: int = 1,
                       **params: Any) -> ArtistFirstTracks:
    """Fit :class:`ArtistFirstTracks` on a catalog: tracks with popularity >= ``min_popularity`` are indexed.

    ``artist_model`` must be fitted on the catalog's artists (any model: exact, HNSW ...). ``params`` go to the
    constructor.
    """
    from ..features._links import track_artist_matrix

    # the popularity column only (catalog.tracks would also load 256M ids and names)
    pop = catalog.table("tracks", ["popularity"]).column(0).fill_null(0).to_numpy().astype(np.float64)
    indexed = np.flatnonzero(pop >= min_popularity)
    era, gram, audio = track_era_audio(catalog, indexed)
    return ArtistFirstTracks(**params).fit(track_artist_matrix(catalog), artist_model=artist_model,
                                           indexed=indexed, audio=audio, era=era, era_gram=gram)
