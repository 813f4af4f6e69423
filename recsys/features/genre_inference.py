"""Genre inference: spread the genres of the ~10% of artists that have them over collaboration, label,
compilation and playlist links to the artists that have none.

Mental model: *label propagation on a sparse artist graph that is never built.* Each link family f gives an
artist x token matrix B_f (tracks co-credited, labels, compilations, playlists). The adjacency is
``A = sum_f w_f * B_f D_f^-1 B_f^T`` with the diagonal removed and rows normalised (D_f: the token's number of
artists, so a 500-artist major label links each pair 1/500 as strongly as a 2-artist label), and genre
distributions iterate as ``G <- alpha * A G + (1 - alpha) * G0`` with artists that have genres clamped to G0.
``A G`` is computed as ``sum_f w_f * B_f (D_f^-1 (B_f^T G))`` minus the diagonal term, so the cost is linear in
the links and no dense n x n matrix ever exists (only families whose tokens have a handful of artists each, like
co-credited tracks, are multiplied out, into a sparse n x n matrix no larger than a few times their links). G is
dense (n_artists x n_genres) while that fits a budget; beyond it, genre columns never mix, so G is propagated a
block of columns at a time within the same budget and only a running ``top_k`` per artist is kept (15.4M artists
x 768 genres would be 47 GB dense).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from ..catalog import Catalog
from ._base import TokenFamily, topk_per_row
from ._links import safe_normalize
from .collaborations import CoCredits, collab_incidence
from .compilations import SharedCompilations
from .genres import genre_incidence
from .labels import LabelTfidf
from .playlists import PlaylistCoMembership

__all__ = ["GenreInference", "evaluate_genre_inference", "LINK_FAMILIES", "DEFAULT_LINK_WEIGHTS"]

#: link families genre inference can propagate over, and their builders
LINK_FAMILIES: dict[str, type[TokenFamily]] = {
    "collaborations": CoCredits,
    "labels": LabelTfidf,
    "compilations": SharedCompilations,
    "playlists": PlaylistCoMembership,
}

#: default weight of each link family in the adjacency (tuned on the generated demo, see space.py)
DEFAULT_LINK_WEIGHTS: dict[str, float] = {"collaborations": 0.5, "labels": 1.0, "compilations": 1.0,
                                          "playlists": 1.0}


class _Propagator:
    """The adjacency ``A = sum_f w_f B_f D_f^-1 B_f^T``, diagonal removed, rows normalised, applied to G.

    A family whose tokens have few artists each (co-credited tracks: 2-4) is multiplied out into a sparse
    n x n matrix, with at most ``expand_factor`` times the links' nonzeros; the others (labels, playlists with
    hundreds of artists) stay factorised, so their cost is linear in the links however large a token is.
    """

    def __init__(self, parts: list[tuple[float, sp.csr_matrix]], n: int, *, expand_factor: float = 4.0) -> None:
        self.factored: list[tuple[sp.csr_matrix, np.ndarray, sp.csr_matrix]] = []
        expanded = sp.csr_matrix((n, n), dtype=np.float64)
        diag = np.zeros(n)  # diagonal of the factorised families only
        rowsum = np.zeros(n)
        for w, B in parts:
            B = sp.csc_matrix(B, dtype=np.float64)
            df = np.diff(B.indptr).astype(np.float64)  # 0/1 matrix: nonzeros per column = artists per token
            # a token with one artist links nobody: drop it (it would only add to the removed diagonal)
            B = sp.csr_matrix(B[:, np.flatnonzero(df >= 2)])
            df = df[df >= 2]
            inv = 1.0 / df
            d = np.asarray(B @ inv).ravel()  # diagonal of B D^-1 B^T (B is 0/1)
            r = np.asarray(B @ (inv * df)).ravel()  # row sums of B D^-1 B^T
            rowsum += w * (r - d)
            if float((df * df).sum()) <= expand_factor * max(B.nnz, 1):
                expanded = expanded + w * (B @ sp.diags(inv) @ B.T)  # diagonal removed below
            else:
                diag += w * d
                self.factored.append((B.astype(np.float32), (w * inv).astype(np.float32),
                                      B.T.tocsr().astype(np.float32)))
        expanded = sp.csr_matrix(expanded)
        expanded.setdiag(0.0)
        expanded.eliminate_zeros()
        self.expanded = expanded.astype(np.float32) if expanded.nnz else None
        self.diag = diag.astype(np.float32)
        self.inv_rowsum = np.where(rowsum > 1e-9, 1.0 / np.where(rowsum > 1e-9, rowsum, 1.0), 0.0).astype(np.float32)

    def apply(self, G: sp.csr_matrix | np.ndarray) -> sp.csr_matrix | np.ndarray:
        """``A @ G`` for a sparse or dense (n, n_genres) float32 ``G``; same kind out."""
        if isinstance(G, np.ndarray):
            out = self.expanded @ G if self.expanded is not None else np.zeros_like(G)
            for B, winv, BT in self.factored:
                out += B @ (winv[:, None] * (BT @ G))
            # the factorised terms include each artist's own share: subtract it (>= 0 up to float noise)
            out -= self.diag[:, None] * G
            out *= self.inv_rowsum[:, None]
            return np.maximum(out, 0.0, out=out)
        out = self.expanded @ G if self.expanded is not None else sp.csr_matrix(G.shape, dtype=G.dtype)
        for B, winv, BT in self.factored:
            out = out + B @ (sp.diags(winv) @ (BT @ G))
        out = sp.csr_matrix(sp.diags(self.inv_rowsum) @ (out - sp.diags(self.diag) @ G))
        out.data[out.data < 1e-7] = 0.0
        out.eliminate_zeros()
        return out


class GenreInference(TransformerMixin, BaseEstimator):
    """Inferred genre distributions for artists without genres (family "inferred_genres").

    ``fit(catalog)`` learns the genre vocabulary and fits the link families; ``transform(catalog)`` propagates
    and returns CSR float32 (n_artists, n_genres), names ``"inferred_genre=<genre>"``: each row the inferred
    distribution (sums to 1) of an artist *without* genres whose confidence reaches ``min_confidence``; rows of
    artists with real genres are zero, so the block adds information only for the others.

    After ``transform``: ``distribution_`` (CSR float32 (n_artists, n_genres): real genre distribution for
    artists with genres, inferred for the others), ``confidence_`` (float32 (n_artists,), in [0, 1]; 1 for
    artists with genres, 0 where nothing reached), ``is_inferred_`` (bool (n_artists,): the rows this block
    fills) and :meth:`top_genres`.

    Confidence = (mass reaching the artist / alpha) * (share of its top genre): 1 when every neighbour has
    genres and they agree; lower when the genres came from far away, were few, or disagree.

    Parameters
    ----------
    link_weights : mapping of str to float, optional
        Weight of each link family in the adjacency (keys from :data:`LINK_FAMILIES`; default
        :data:`DEFAULT_LINK_WEIGHTS`; 0 leaves a family out).
    alpha : float in (0, 1)
        Share of mass passed on per hop: genres reaching an artist in d hops keep alpha**d.
    n_iter : int
        Propagation iterations (the maximum number of hops a genre travels).
    top_k : int or None
        Keep only the top_k genres per artist (at the end of the propagation). None keeps all, and on a catalog
        above ``max_dense_cells`` falls back to an unpruned sparse G.
    min_confidence : float in [0, 1]
        Rows whose confidence is lower stay zero in the block (and ``is_inferred_`` is False).
    max_dense_cells : int
        Propagate with a dense (n_artists, n_genres) float32 G while it has at most this many cells (200M: 800 MB);
        above it, in blocks of ``max_dense_cells // n_artists`` genre columns (same values per column; the block
        path replaced a sparse path pruned to ``top_k`` per iteration, 4x slower at 20k artists and hours at 1M).
    """

    prefix = "inferred_genre"

    def __init__(self, *, link_weights: Mapping[str, float] | None = None, alpha: float = 0.9, n_iter: int = 10,
                 top_k: int | None = 20, min_confidence: float = 0.0, max_dense_cells: int = 200_000_000) -> None:
        self.link_weights = link_weights
        self.alpha = alpha
        self.n_iter = n_iter
        self.top_k = top_k
        self.min_confidence = min_confidence
        self.max_dense_cells = max_dense_cells

    # -- parameters ----------------------------------------------------------------------------------------
    def _weights(self) -> dict[str, float]:
        w = dict(DEFAULT_LINK_WEIGHTS if self.link_weights is None else self.link_weights)
        unknown = sorted(set(w) - set(LINK_FAMILIES))
        if unknown:
            raise ValueError(f"link_weights: unknown link famil{'y' if len(unknown) == 1 else 'ies'} {unknown}; "
                             f"known: {sorted(LINK_FAMILIES)}")
        for k, v in w.items():
            if not np.isfinite(v) or v < 0:
                raise ValueError(f"link_weights[{k!r}] must be a finite number >= 0, got {v!r}")
        return {k: float(v) for k, v in w.items() if v > 0}

    def _check_params(self) -> None:
        if not (0 < self.alpha < 1):
            raise ValueError(f"alpha must be in (0, 1), got {self.alpha!r}")
        if isinstance(self.n_iter, bool) or not isinstance(self.n_iter, (int, np.integer)) or self.n_iter < 1:
            raise ValueError(f"n_iter must be an int >= 1, got {self.n_iter!r}")
        if self.top_k is not None and (isinstance(self.top_k, bool) or not isinstance(self.top_k, (int, np.integer))
                                       or self.top_k < 1):
            raise ValueError(f"top_k must be None or an int >= 1, got {self.top_k!r}")
        if not (0 <= self.min_confidence <= 1):
            raise ValueError(f"min_confidence must be in [0, 1], got {self.min_confidence!r}")

    # -- fitting -------------------------------------------------------------------------------------------
    def fit(self, catalog: Catalog, y=None, *, link_families: Mapping[str, TokenFamily] | None = None
            ) -> GenreInference:
        """Learn the genre vocabulary; fit the link families (or reuse fitted ones from ``link_families``)."""
        self._check_params()
        weights = self._weights()
        _, genres = genre_incidence(catalog)
        self.genres_ = np.sort(np.asarray(genres.to_numpy(zero_copy_only=False), dtype=object))
        given = dict(link_families or {})
        self.link_families_ = {}
        for name in weights:
            if name == "collaborations":
                continue  # propagates over the co-credit incidence itself, which needs no fitting
            fam = given.get(name)
            if fam is None or not hasattr(fam, "vocabulary_"):
                fam = LINK_FAMILIES[name]().fit(catalog)
            self.link_families_[name] = fam
        self.n_features_out_ = len(self.genres_)
        return self

    def _seed(self, catalog: Catalog) -> sp.csr_matrix:
        """Artist x genre distribution of the real genres (rows sum to 1 or 0), in the fitted vocabulary order."""
        m, keys = genre_incidence(catalog)
        keys = np.asarray(keys.to_numpy(zero_copy_only=False), dtype=object)
        col = np.searchsorted(self.genres_, keys) if len(self.genres_) else np.zeros(len(keys), dtype=np.int64)
        col = np.minimum(col, max(len(self.genres_) - 1, 0))
        ok = np.flatnonzero((self.genres_[col] == keys) if len(self.genres_) else np.zeros(len(keys), bool))
        P = sp.csr_matrix((np.ones(len(ok)), (ok, col[ok])), shape=(len(keys), len(self.genres_)))
        G0 = sp.csr_matrix(m @ P, dtype=np.float64)
        G0.eliminate_zeros()
        return safe_normalize(G0, norm="l1")

    def _propagator(self, catalog: Catalog) -> _Propagator:
        parts = []
        for name, w in self._weights().items():
            if name == "collaborations":
                B = collab_incidence(catalog)
            else:
                B = self.link_families_[name].link_counts(catalog)
                B = sp.csr_matrix(B, copy=True)
                B.data[:] = 1.0
            parts.append((w, B))
        return _Propagator(parts, catalog.num_rows("artists"))

    def _propagate_dense(self, prop: _Propagator, seed: np.ndarray, known: np.ndarray) -> np.ndarray:
        """``n_iter`` steps of ``G <- alpha A G`` with known rows clamped to ``seed`` (dense float32 columns).

        Columns never mix: each genre's column evolves on its own, so any subset of columns can be propagated
        separately with bit-identical results (the blocked path relies on it).
        """
        G = seed.copy()
        for _ in range(self.n_iter):
            G = np.where(known[:, None], seed, self.alpha * prop.apply(G))
        return G

    def _propagate_blocked(self, prop: _Propagator, G0: sp.csr_matrix, known: np.ndarray, *, width: int
                           ) -> sp.csr_matrix:
        """The dense propagation ``width`` genre columns at a time, keeping a running top_k per artist.

        Memory is a few (n_artists, width) blocks instead of (n_artists, n_genres): at 15.4M artists x 768 genres
        the whole dense G would be 47 GB. Each column is exactly what the dense path computes; only which of
        several genres tied at the top_k-th place is kept may differ.
        """
        n, n_genres = G0.shape
        k = int(self.top_k)
        vals = np.zeros((n, 0), dtype=np.float32)
        idx = np.zeros((n, 0), dtype=np.int32)
        cols = sp.csc_matrix(G0)
        for start in range(0, n_genres, width):
            stop = min(n_genres, start + width)
            Gb = self._propagate_dense(prop, cols[:, start:stop].toarray().astype(np.float32), known)
            block_idx = np.arange(start, stop, dtype=np.int32)
            new_v = np.empty((n, min(k, vals.shape[1] + stop - start)), dtype=np.float32)
            new_i = np.empty(new_v.shape, dtype=np.int32)
            for r0 in range(0, n, 1 << 20):  # rows in chunks: argpartition's int64 output stays small
                r1 = min(n, r0 + (1 << 20))
                cv = np.hstack([vals[r0:r1], Gb[r0:r1]])
                ci = np.hstack([idx[r0:r1], np.broadcast_to(block_idx, (r1 - r0, len(block_idx)))])
                if cv.shape[1] > k:
                    sel = np.argpartition(-cv, k - 1, axis=1)[:, :k]
                    cv, ci = np.take_along_axis(cv, sel, axis=1), np.take_along_axis(ci, sel, axis=1)
                new_v[r0:r1], new_i[r0:r1] = cv, ci
            vals, idx = new_v, new_i
            del Gb
        rows = np.repeat(np.arange(n), vals.shape[1])
        G = sp.csr_matrix((vals.ravel(), (rows, idx.ravel().astype(np.int64))), shape=(n, n_genres))
        G.eliminate_zeros()
        return G

    def _propagate_sparse(self, prop: _Propagator, G0: sp.csr_matrix, known: np.ndarray) -> sp.csr_matrix:
        """Sparse propagation without pruning (``top_k=None`` on a catalog too big for a dense G)."""
        free = (~known).astype(np.float64)
        seed = sp.csr_matrix(G0, dtype=np.float32)
        G = seed.copy()
        for _ in range(self.n_iter):
            G = (sp.diags(free * self.alpha) @ prop.apply(G) + seed).tocsr()
        return G

    def _infer(self, catalog: Catalog, G0: sp.csr_matrix) -> tuple[sp.csr_matrix, np.ndarray, np.ndarray]:
        """Propagate from seed distributions G0; returns (distribution, confidence, known mask)."""
        known = np.diff(G0.indptr) > 0
        prop = self._propagator(catalog)
        n, n_genres = G0.shape
        if n * n_genres <= self.max_dense_cells:
            G = self._propagate_dense(prop, G0.toarray().astype(np.float32), known)
            if self.top_k is not None and self.top_k < G.shape[1]:
                # same output either way: the top_k genres per artist (argpartition: no full sort of n x n_genres)
                k = int(self.top_k)
                idx = np.argpartition(-G, k - 1, axis=1)[:, :k]
                vals = np.take_along_axis(G, idx, axis=1)
                rows = np.repeat(np.arange(G.shape[0]), k)
                G = sp.csr_matrix((vals.ravel(), (rows, idx.ravel())), shape=G.shape)
                G.eliminate_zeros()
        elif self.top_k is not None:
            G = self._propagate_blocked(prop, G0, known, width=max(1, int(self.max_dense_cells) // max(n, 1)))
        else:
            G = self._propagate_sparse(prop, G0, known)
        G = sp.csr_matrix(G)
        mass = np.asarray(G.sum(axis=1)).ravel()
        dist = safe_normalize(G, norm="l1")
        top = dist.max(axis=1).toarray().ravel() if dist.shape[1] else np.zeros(dist.shape[0])
        conf = np.clip(np.where(known, 1.0, mass / self.alpha * top), 0.0, 1.0)
        return sp.csr_matrix(dist, dtype=np.float32), conf.astype(np.float32), known

    def transform(self, catalog: Catalog) -> sp.csr_matrix:
        """Inferred genre block, CSR float32 (n_artists, n_genres); zero rows for artists with genres."""
        check_is_fitted(self, "genres_")
        dist, conf, known = self._infer(catalog, self._seed(catalog))
        self.distribution_, self.confidence_ = dist, conf
        has = np.diff(dist.indptr) > 0
        self.is_inferred_ = ~known & has & (conf >= self.min_confidence)
        out = sp.csr_matrix(sp.diags(self.is_inferred_.astype(np.float32)) @ dist, dtype=np.float32)
        out.eliminate_zeros()
        return out

    def top_genres(self, row: int, k: int = 5) -> list[tuple[str, float]]:
        """The ``k`` most probable genres of artist ``row`` after ``transform``, as [(genre, probability)]."""
        check_is_fitted(self, "distribution_")
        r = self.distribution_[int(row)]
        o = np.lexsort((r.indices, -r.data))[: int(k)]
        return [(str(self.genres_[r.indices[i]]), float(r.data[i])) for i in o]

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        """``"inferred_genre=<genre>"`` per column, ndarray of object."""
        check_is_fitted(self, "genres_")
        return np.asarray(f"{self.prefix}=" + self.genres_.astype(object), dtype=object)


def evaluate_genre_inference(catalog: Catalog, *, holdout: float = 0.2, seed: int = 0, **params) -> dict:
    """Hide the genres of a random ``holdout`` share of the artists that have genres, infer them, and score.

    Parameters
    ----------
    catalog : Catalog
    holdout : float in (0, 1)
        Share of the artists with genres whose genres are hidden.
    seed : int
        Seed of the held-out sample (the result is deterministic for a seed).
    **params
        Passed to :class:`GenreInference` (``min_confidence`` limits which inferences count as made).

    Returns
    -------
    dict
        ``precision_at_1``: share of held-out artists with an inference whose top genre is a true genre;
        ``recall_at_5``: mean share of an artist's true genres among its top 5; ``coverage``: share of
        held-out artists that got any inferred genre; ``n_evaluated``: held-out artists;
        ``majority_precision_at_1``: precision@1 of always guessing the most common training genre.
    """
    if not (0 < holdout < 1):
        raise ValueError(f"holdout must be in (0, 1), got {holdout!r}")
    gi = GenreInference(**params).fit(catalog)
    G0 = gi._seed(catalog)
    with_genres = np.flatnonzero(np.diff(G0.indptr) > 0)
    rng = np.random.default_rng(seed)
    n_hold = int(round(holdout * len(with_genres)))
    if n_hold == 0:
        raise ValueError(f"holdout={holdout} of {len(with_genres)} artists with genres hides none; "
                         "the catalog needs artists with genres")
    hidden = np.sort(rng.choice(with_genres, size=n_hold, replace=False))
    keep = np.ones(G0.shape[0])
    keep[hidden] = 0.0
    train = sp.csr_matrix(sp.diags(keep) @ G0)
    train.eliminate_zeros()  # a hidden row must be empty, not hold stored zeros (emptiness marks "unknown")
    dist, conf, _ = gi._infer(catalog, train)
    dist = sp.csr_matrix(dist[hidden])
    truth = sp.csr_matrix(G0[hidden])
    truth.data[:] = 1.0
    made = (np.diff(dist.indptr) > 0) & (conf[hidden] >= gi.min_confidence)
    # top-5 per row as a 0/1 matrix, then overlap with the truth
    top5 = topk_per_row(dist, 5)
    top1 = topk_per_row(dist, 1)
    for m in (top5, top1):
        m.data[:] = 1.0
    hit1 = np.asarray(top1.multiply(truth).sum(axis=1)).ravel() > 0
    n_true = np.asarray(truth.sum(axis=1)).ravel()
    rec5 = np.asarray(top5.multiply(truth).sum(axis=1)).ravel() / np.maximum(n_true, 1)
    majority = int(np.argmax(np.asarray((train > 0).sum(axis=0)).ravel()))
    return {
        "precision_at_1": float(hit1[made].mean()) if made.any() else 0.0,
        "recall_at_5": float(rec5[made].mean()) if made.any() else 0.0,
        "coverage": float(made.mean()),
        "n_evaluated": int(n_hold),
        "majority_genre": str(gi.genres_[majority]),
        "majority_precision_at_1": float(truth[:, majority].toarray().ravel().mean()),
    }
