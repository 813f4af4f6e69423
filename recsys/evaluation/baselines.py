"""Baselines every experiment reports next to the models: random, most popular, most popular in the seed's genres,
and the plain genre TF-IDF cosine.

The first three answer ``similar_items(rows, n) -> (ids, scores)`` like a fitted
:class:`~recsys.models.base.SimilarityModel` (ids int64 padded with -1, scores float32 descending, the query row
never returned), so the protocols and re-rankers treat them exactly like models. The genre cosine is a real model:
:class:`~recsys.models.exact.ExactCosine` on a feature space with only the ``genres`` family
(:func:`genre_cosine_weights`).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from ..catalog import Catalog
from ..features.space import FAMILIES

__all__ = ["RandomBaseline", "MostPopular", "GenrePopular", "genre_cosine_weights", "BASELINES"]

_PAD = -1


def genre_cosine_weights() -> dict[str, float]:
    """Family weights of the plain genre TF-IDF cosine baseline: genres 1, every other family 0."""
    return {f: (1.0 if f == "genres" else 0.0) for f in FAMILIES}


def _check(rows, n: int, n_items: int) -> np.ndarray:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"n must be an int >= 1, got {n!r}")
    r = np.atleast_1d(np.asarray(rows, dtype=np.int64))
    if len(r) and (r.min() < 0 or r.max() >= n_items):
        raise IndexError(f"item rows must be in 0..{n_items - 1}")
    return r


class RandomBaseline:
    """A uniformly random list per query, seeded per (seed, query row) so a query's list never depends on the
    other queries. Scores are n, n-1, ..., 1 (only the order means anything)."""

    name = "random"

    def __init__(self, n_items: int, *, seed: int = 0) -> None:
        self.n_items_, self.seed = int(n_items), int(seed)

    def similar_items(self, rows, n: int = 10) -> tuple[np.ndarray, np.ndarray]:
        r = _check(rows, n, self.n_items_)
        m = min(int(n), self.n_items_ - 1)
        ids = np.full((len(r), int(n)), _PAD, dtype=np.int64)
        for i, q in enumerate(r.tolist()):
            pick = np.random.default_rng([self.seed, q]).choice(self.n_items_, size=min(m + 1, self.n_items_),
                                                                replace=False)
            ids[i, :m] = pick[pick != q][:m]
        scores = np.where(ids >= 0, np.arange(int(n), 0, -1, dtype=np.float32)[None, :], -np.inf).astype(np.float32)
        return ids, scores


class MostPopular:
    """The same most-popular items for every query (minus the query itself); ties by lower row. Score = pop."""

    name = "most_popular"

    def __init__(self, pop: np.ndarray) -> None:
        self.pop = np.asarray(pop, dtype=np.float64)
        self.n_items_ = len(self.pop)
        self.order_ = np.lexsort((np.arange(self.n_items_), -self.pop))

    def similar_items(self, rows, n: int = 10) -> tuple[np.ndarray, np.ndarray]:
        r = _check(rows, n, self.n_items_)
        head = self.order_[:int(n) + 1]
        ids = np.full((len(r), int(n)), _PAD, dtype=np.int64)
        for i, q in enumerate(r.tolist()):
            lst = head[head != q][:int(n)]
            ids[i, :len(lst)] = lst
        scores = np.where(ids >= 0, self.pop[np.clip(ids, 0, None)], -np.inf).astype(np.float32)
        return ids, scores


class GenrePopular:
    """Most popular artists sharing at least one genre with the query artist, then the most popular overall.

    Score = 1 + pop / (max pop + 1) for artists sharing a genre, pop / (max pop + 1) for the fill, so a blend of
    several seeds ranks artists sharing genres with more seeds first. Genres are read from ``catalog`` (pass the
    training view, so held-out genres stay hidden).
    """

    name = "genre_popular"

    def __init__(self, catalog: Catalog, pop: np.ndarray) -> None:
        from ..features.genres import genre_incidence

        self.pop = np.asarray(pop, dtype=np.float64)
        self.n_items_ = len(self.pop)
        m, _ = genre_incidence(catalog)
        G = sp.csr_matrix(m, dtype=np.float32)
        G.data[:] = 1.0
        self.G_, self.GT_ = G, G.T.tocsr()
        self.rel_pop_ = self.pop / (self.pop.max() + 1.0) if len(self.pop) else self.pop
        self.order_ = np.lexsort((np.arange(self.n_items_), -self.pop))

    def similar_items(self, rows, n: int = 10) -> tuple[np.ndarray, np.ndarray]:
        r = _check(rows, n, self.n_items_)
        n = int(n)
        S = (self.G_[r] @ self.GT_).tocsr()
        ids = np.full((len(r), n), _PAD, dtype=np.int64)
        scores = np.full((len(r), n), -np.inf, dtype=np.float32)
        for i, q in enumerate(r.tolist()):
            cand = S.indices[S.indptr[i]:S.indptr[i + 1]]
            cand = cand[cand != q]
            cand = cand[np.lexsort((cand, -self.pop[cand]))][:n]
            fill = self.order_[:n + len(cand) + 1]
            fill = fill[(fill != q) & ~np.isin(fill, cand)][:n - len(cand)]
            lst = np.concatenate([cand, fill]).astype(np.int64)
            ids[i, :len(lst)] = lst
            scores[i, :len(lst)] = np.concatenate([1.0 + self.rel_pop_[cand], self.rel_pop_[fill]])
        return ids, scores


#: baseline names a config may list (genre_cosine is built as a model, see genre_cosine_weights)
BASELINES: tuple[str, ...] = ("random", "most_popular", "genre_popular", "genre_cosine")
