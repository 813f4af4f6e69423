"""The one contract every similarity model follows.

Mental model: *a model is fitted on an item x feature matrix and answers "which rows are most like row i".*

* Constructors take keyword-only hyperparameters and only store them; ``fit(X)`` learns and returns ``self``;
  learned state ends in ``_``.
* ``similar_items(item_ids, n=10, *, exclude=None, candidates=None) -> (ids, scores)``: higher score means more
  similar; each list is sorted by score descending (ties by lower id). A scalar id gives 1-D arrays of length
  ``n``, an array of ids gives 2-D arrays of shape ``(len(item_ids), n)``; lists shorter than ``n`` are padded
  with id ``-1`` and score ``-inf``. An item is never returned as its own neighbour. ``exclude`` removes rows from
  every list; ``candidates`` restricts every list to those rows; giving both is an error.
* Models see integer rows only; :class:`recsys.catalog.EntityIndex` translates ids and names.
* Argument errors are checked here, once: ``TypeError``/``ValueError`` for bad arguments (the message names the
  parameter, what was expected and what was received), ``IndexError`` for rows outside the model,
  :class:`~recsys.errors.NotFittedError` before ``fit``.

Subclasses implement ``_fit(X)``, ``_scores(rows)`` (a dense block of scores) or ``_topk`` for index-backed
search, and ``_get_state()`` / ``_set_state()`` for saving.
"""

from __future__ import annotations

import inspect
from abc import ABC, abstractmethod
from typing import Any, ClassVar

import numpy as np

from ..errors import NotFittedError

__all__ = ["SimilarityModel", "MODEL_REGISTRY", "register_model"]

#: name -> class, the only classes that :func:`recsys.artifacts.load_model` will construct.
MODEL_REGISTRY: dict[str, type[SimilarityModel]] = {}

_PAD_ID = -1
_SCORE_DECIMALS = 6  # scores equal to 6 decimals count as ties, so float noise cannot reorder equal items


def register_model(cls: type[SimilarityModel]) -> type[SimilarityModel]:
    """Class decorator: make a model loadable by its ``name``."""
    MODEL_REGISTRY[cls.name] = cls
    return cls


def _as_rows(value: Any, param: str, n_items: int) -> np.ndarray:
    """Validate an array-like of row ids; returns int64 1-D."""
    arr = np.asarray(value)
    if arr.dtype == object or arr.dtype.kind not in "iu":
        if arr.size == 0:
            return np.zeros(0, dtype=np.int64)
        raise TypeError(f"{param} must hold integer item rows, got dtype {arr.dtype} ({value!r:.80})")
    arr = arr.astype(np.int64, copy=False).ravel()
    bad = (arr < 0) | (arr >= n_items)
    if bad.any():
        raise IndexError(f"{param} holds item row {int(arr[bad][0])}, outside this model's 0..{n_items - 1}")
    return arr


class SimilarityModel(ABC):
    """Base class of all similarity models (see the module docstring for the contract)."""

    #: registry key, also written into saved model files
    name: ClassVar[str] = ""

    # -- scikit-learn style parameters
    @classmethod
    def _param_names(cls) -> list[str]:
        sig = inspect.signature(cls.__init__)
        return [p.name for p in sig.parameters.values() if p.kind is p.KEYWORD_ONLY]

    def get_params(self) -> dict[str, Any]:
        """Constructor parameters as a dict (JSON-serialisable by convention)."""
        return {k: getattr(self, k) for k in self._param_names()}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"

    # -- fitting
    def fit(self, X: Any, **fit_params: Any) -> SimilarityModel:
        """Learn from ``X``, an (n_items, n_features) dense array or scipy sparse matrix. Returns self."""
        shape = getattr(X, "shape", None)
        if shape is None or len(shape) != 2:
            raise TypeError(f"X must be a 2-D array or sparse matrix (n_items, n_features), got {type(X).__name__}")
        if shape[0] < 2:
            raise ValueError(f"X must have at least 2 items (rows) to find neighbours, got {shape[0]}")
        self._check_params()
        self._fit(X, **fit_params)
        self.n_items_ = int(shape[0])
        return self

    def _check_params(self) -> None:
        """Validate hyperparameters (subclasses raise ValueError/TypeError naming the parameter)."""

    @abstractmethod
    def _fit(self, X: Any, **fit_params: Any) -> None: ...

    @property
    def is_fitted(self) -> bool:
        return hasattr(self, "n_items_")

    def _require_fitted(self) -> None:
        if not self.is_fitted:
            raise NotFittedError(f"this {type(self).__name__} is not fitted yet; call fit(X) first")

    # -- querying
    def similar_items(self, item_ids: int | np.ndarray | list[int], n: int = 10, *,
                      exclude: np.ndarray | list[int] | None = None,
                      candidates: np.ndarray | list[int] | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Most similar items to each query row.

        Parameters
        ----------
        item_ids : int or array-like of int
            Query rows. A scalar gives 1-D results, an array 2-D results.
        n : int
            Neighbours per query (>= 1).
        exclude : array-like of int, optional
            Rows never to return.
        candidates : array-like of int, optional
            Only these rows may be returned. Mutually exclusive with ``exclude``.

        Returns
        -------
        ids : ndarray of int64, shape (n,) or (n_queries, n)
            Neighbour rows, padded with -1.
        scores : ndarray of float32, same shape
            Similarity, higher is more similar, descending; padded with -inf.
        """
        self._require_fitted()
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)):
            raise TypeError(f"n must be an int, got {type(n).__name__} ({n!r})")
        if n < 1:
            raise ValueError(f"n must be >= 1, got {n}")
        if exclude is not None and candidates is not None:
            raise ValueError("pass exclude or candidates, not both (got both)")
        scalar = np.ndim(item_ids) == 0
        if scalar and (isinstance(item_ids, (bool, np.bool_)) or not isinstance(item_ids, (int, np.integer))):
            raise TypeError(f"item_ids must be an int row or an array of int rows, got {type(item_ids).__name__} "
                            f"({item_ids!r:.80})")
        rows = _as_rows(np.atleast_1d(item_ids), "item_ids", self.n_items_)
        if candidates is None and exclude is None:
            allowed = self._everything_allowed()
        else:
            allowed = np.ones(self.n_items_, dtype=bool)
        if candidates is not None:
            allowed[:] = False
            allowed[_as_rows(candidates, "candidates", self.n_items_)] = True
        if exclude is not None:
            allowed[_as_rows(exclude, "exclude", self.n_items_)] = False
        ids = np.full((len(rows), int(n)), _PAD_ID, dtype=np.int64)
        scores = np.full((len(rows), int(n)), -np.inf, dtype=np.float32)
        if len(rows):
            got_ids, got_scores = self._topk(rows, int(n), allowed)
            k = got_ids.shape[1]
            ids[:, :k], scores[:, :k] = got_ids, got_scores
        return (ids[0], scores[0]) if scalar else (ids, scores)

    def _everything_allowed(self) -> np.ndarray:
        """A read-only all-True mask over the items, made once: an unrestricted query over 256M tracks should
        not pay for a fresh 256 MB mask."""
        mask = getattr(self, "_all_allowed", None)
        if mask is None or len(mask) != self.n_items_:
            mask = np.ones(self.n_items_, dtype=bool)
            mask.flags.writeable = False
            self._all_allowed = mask
        return mask

    def _topk(self, rows: np.ndarray, n: int, allowed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Exact top-n over dense score blocks; index-backed models override this."""
        n_items = self.n_items_
        chunk = max(1, (1 << 24) // max(n_items, 1))
        out_ids = np.full((len(rows), n), _PAD_ID, dtype=np.int64)
        out_scores = np.full((len(rows), n), -np.inf, dtype=np.float32)
        for start in range(0, len(rows), chunk):
            block_rows = rows[start:start + chunk]
            s = np.asarray(self._scores(block_rows), dtype=np.float32)
            s[:, ~allowed] = -np.inf
            s[np.arange(len(block_rows)), block_rows] = -np.inf
            ids, sc = topk_from_scores(s, n)
            out_ids[start:start + len(block_rows)] = ids
            out_scores[start:start + len(block_rows)] = sc
        return out_ids, out_scores

    def _scores(self, rows: np.ndarray) -> np.ndarray:
        """Dense (len(rows), n_items) similarity block. Required unless ``_topk`` is overridden."""
        raise NotImplementedError(f"{type(self).__name__} must implement _scores or _topk")

    def share_rows(self, X: Any) -> bool:
        """Read ``X``'s arrays instead of the model's own copy of the same rows, where the model keeps one.

        A saved recommender stores the feature matrix and the model side by side, so loading both would hold the
        rows twice. Models that keep ``X`` (HNSW's exact stage) check that ``X`` holds exactly their rows and then
        let go of their copy. Returns whether the model now shares ``X``; the default keeps nothing to share.
        """
        return False

    # -- state for saving (see recsys.artifacts)
    @abstractmethod
    def _get_state(self) -> dict[str, np.ndarray]: ...

    @abstractmethod
    def _set_state(self, arrays: dict[str, np.ndarray]) -> None: ...


def topk_from_scores(s: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Top-n per row of a dense score block, -inf entries dropped (padded with -1 / -inf).

    Ties (equal to 6 decimals) are ordered by lower row id, so the result does not depend on float noise.
    """
    q, n_items = s.shape
    k = min(n, n_items)
    ids = np.full((q, n), _PAD_ID, dtype=np.int64)
    scores = np.full((q, n), -np.inf, dtype=np.float32)
    if k == 0:
        return ids, scores
    rounded = np.round(s, _SCORE_DECIMALS)
    if k < n_items:
        # Take every item tied with the k-th best, so the id tie-break below sees all of them.
        part = np.argpartition(-rounded, k - 1, axis=1)[:, :k]
        kth = rounded[np.arange(q)[:, None], part].min(axis=1)
    for i in range(q):
        cand = np.flatnonzero(rounded[i] >= kth[i]) if k < n_items else np.arange(n_items)
        cand = cand[np.isfinite(s[i, cand])]
        order = np.lexsort((cand, -rounded[i, cand]))[:k]
        sel = cand[order]
        ids[i, :len(sel)] = sel
        scores[i, :len(sel)] = s[i, sel]
    return ids, scores
