"""Item-item k-nearest-neighbour similarity from implicit's ``CosineRecommender`` / ``TFIDFRecommender`` /
``BM25Recommender``, fitted on the item x metadata-token matrix.

Mental model: *every metadata token is a "user" who "listened to" the items carrying it; two items are similar
when the same tokens point at both, weighted by cosine, TF-IDF or BM25.* The learned item-item matrix keeps only
the ``K`` best neighbours of each item, so a query never sees beyond its ``K`` stored neighbours: recall of the
true top-n is 1 only while ``n <= K`` (and ``exclude``/``candidates`` can only pick among those ``K``).

Fit cost grows with the sum over tokens of (items carrying the token)^2: on the 100k-artist demo the 20
popularity-bin tokens (up to 53k artists each) cost 38 s, all 694 genres together 2.3 s. Fit on descriptive,
sparse token blocks; a token carried by a large share of a 15M-artist catalogue would not finish.
"""

from __future__ import annotations

import warnings
from typing import Any, ClassVar

import numpy as np
import scipy.sparse as sp

from .base import _PAD_ID, _SCORE_DECIMALS, SimilarityModel, register_model

__all__ = ["ItemKNN", "WEIGHTINGS"]

#: ``weighting`` value -> name of the implicit recommender class that implements it
WEIGHTINGS: dict[str, str] = {"cosine": "CosineRecommender", "tfidf": "TFIDFRecommender",
                              "bm25": "BM25Recommender"}


def _is_int(value: Any) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def _is_real(value: Any) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_))


def _rank_pairs(owner: np.ndarray, ids: np.ndarray, scores: np.ndarray, n_rows: int, n: int
                ) -> tuple[np.ndarray, np.ndarray]:
    """Top-n per query from flat (query, item, score) triples, as padded (n_rows, n) arrays.

    One lexsort orders all triples by (query, score descending rounded like :func:`topk_from_scores`, id), so
    ties go to the lower id exactly as in the dense path. Pairs must be unique and already filtered.
    """
    order = np.lexsort((ids, -np.round(scores, _SCORE_DECIMALS), owner))
    owner, ids, scores = owner[order], ids[order], scores[order]
    rank = np.arange(len(owner)) - np.searchsorted(owner, owner)  # position within the query's own run
    take = rank < n
    out_ids = np.full((n_rows, n), _PAD_ID, dtype=np.int64)
    out_scores = np.full((n_rows, n), -np.inf, dtype=np.float32)
    out_ids[owner[take], rank[take]] = ids[take]
    out_scores[owner[take], rank[take]] = scores[take]
    return out_ids, out_scores


@register_model
class ItemKNN(SimilarityModel):
    """Sparse item-item neighbours learned by implicit's nearest-neighbour recommenders.

    implicit 0.7 fits on a ``user_items`` matrix of shape (n_users, n_items); here the users are the feature
    columns, so the model is fitted on ``X.T`` (n_features, n_items) and its similarity matrix is item x item.
    Score = the weighted dot product implicit computes (for ``"cosine"`` exactly the cosine of the rows of
    ``X``); higher is more similar. Pairs scoring <= 0 share no (positively weighted) token and are not
    neighbours, so lists are padded with -1 instead.

    Parameters
    ----------
    weighting : {"cosine", "tfidf", "bm25"}
        Token weighting: implicit's ``CosineRecommender``, ``TFIDFRecommender`` or ``BM25Recommender``.
    K : int
        Neighbours kept per item (the item itself not counted). Nothing beyond them can ever be returned.
    K1, B : float
        BM25 term-frequency saturation and length normalisation (used only with ``weighting="bm25"``).
    num_threads : int
        Threads for fitting; 0 means all cores. The default 1 keeps neighbour choice among ties at the K-th
        place reproducible.
    max_token_items : int or None
        Feature columns present in more than this many items are left out of the fit. Fit cost grows with the
        square of a column's item count, and near-universal columns (audio, era and market profiles, big
        labels) carry almost no co-occurrence information: at 100k artists they would take the fit from
        seconds to hours. None keeps every column.

    Attributes
    ----------
    similarity_ : scipy.sparse.csr_matrix of float32, shape (n_items, n_items)
        Stored neighbours: row i holds at most ``K`` positive scores, never the diagonal.
    """

    name: ClassVar[str] = "itemknn"

    def __init__(self, *, weighting: str = "cosine", K: int = 200, K1: float = 1.2, B: float = 0.75,
                 num_threads: int = 1, max_token_items: int | None = 5000) -> None:
        self.max_token_items = max_token_items
        self.weighting = weighting
        self.K = K
        self.K1 = K1
        self.B = B
        self.num_threads = num_threads

    def _check_params(self) -> None:
        if self.weighting not in WEIGHTINGS:
            raise ValueError(f"weighting must be one of {sorted(WEIGHTINGS)}, got {self.weighting!r}")
        if not _is_int(self.K):
            raise TypeError(f"K must be an int, got {type(self.K).__name__} ({self.K!r})")
        if self.K < 1:
            raise ValueError(f"K must be >= 1, got {self.K}")
        if not _is_real(self.K1):
            raise TypeError(f"K1 must be a number, got {type(self.K1).__name__} ({self.K1!r})")
        if not self.K1 >= 0:
            raise ValueError(f"K1 must be >= 0, got {self.K1}")
        if not _is_real(self.B):
            raise TypeError(f"B must be a number, got {type(self.B).__name__} ({self.B!r})")
        if not 0 <= self.B <= 1:
            raise ValueError(f"B must be in [0, 1], got {self.B}")
        if not _is_int(self.num_threads):
            raise TypeError(f"num_threads must be an int, got {type(self.num_threads).__name__} "
                            f"({self.num_threads!r})")
        if self.num_threads < 0:
            raise ValueError(f"num_threads must be >= 0 (0 = all cores), got {self.num_threads}")
        if self.max_token_items is not None and (not _is_int(self.max_token_items) or self.max_token_items < 2):
            raise ValueError(f"max_token_items must be None or an int >= 2, got {self.max_token_items!r}")

    def _fit(self, X: Any) -> None:
        from implicit import nearest_neighbours as nn

        n_items = int(X.shape[0])
        cls = getattr(nn, WEIGHTINGS[self.weighting])
        # +1 because implicit counts the item itself among its K neighbours; the diagonal is dropped below.
        k = int(min(self.K, n_items - 1)) + 1
        if self.weighting == "bm25":
            rec = cls(K=k, K1=float(self.K1), B=float(self.B), num_threads=int(self.num_threads))
        else:
            rec = cls(K=k, num_threads=int(self.num_threads))
        user_items = sp.csr_matrix(X, dtype=np.float32).T.tocsr()  # (n_features, n_items): tokens are users
        if self.max_token_items is not None:
            items_per_token = np.diff(user_items.indptr)
            self.dropped_tokens_ = int((items_per_token > self.max_token_items).sum())
            if self.dropped_tokens_:
                keep = np.flatnonzero(items_per_token <= self.max_token_items)
                user_items = user_items[keep]
        with warnings.catch_warnings():
            # implicit's weighting helpers hand COO to its own CSR check, which warns about the conversion.
            from implicit.utils import ParameterWarning

            warnings.simplefilter("ignore", ParameterWarning)
            rec.fit(user_items, show_progress=False)
        s = sp.csr_matrix(rec.similarity, dtype=np.float32)
        s.setdiag(0)  # an item is never its own neighbour
        s.data[s.data <= 0] = 0  # no positive shared evidence: not a neighbour
        s.eliminate_zeros()
        s.sort_indices()
        self.similarity_ = s

    def _topk(self, rows: np.ndarray, n: int, allowed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        # Vectorised over all query rows: gather their stored neighbours, drop disallowed ones, rank once.
        sub = self.similarity_[rows]
        owner = np.repeat(np.arange(len(rows)), np.diff(sub.indptr))
        keep = allowed[sub.indices]
        return _rank_pairs(owner[keep], sub.indices[keep].astype(np.int64), sub.data[keep], len(rows), n)

    def _get_state(self) -> dict[str, np.ndarray]:
        s = self.similarity_
        return {"data": s.data, "indices": s.indices, "indptr": s.indptr, "shape": np.array(s.shape)}

    def _set_state(self, arrays: dict[str, np.ndarray]) -> None:
        self.similarity_ = sp.csr_matrix((arrays["data"], arrays["indices"], arrays["indptr"]),
                                         shape=tuple(int(x) for x in arrays["shape"]))
