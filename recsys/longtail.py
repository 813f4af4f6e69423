"""The long-tail layer: re-rankers and popularity filters over the ``(ids, scores)`` of any model.

Mental model: *ask the model for a larger pool (5-10x the list you want), then re-rank or filter that pool.*

Every function here is a pure function on numpy arrays; models never re-implement any of it.

* Input pools follow the model contract (:mod:`recsys.models.base`): ``ids`` int, ``scores`` float with higher =
  more similar, sorted descending, padded with id ``-1`` (any score). A 1-D pool gives 1-D results, a 2-D batch
  of shape ``(n_queries, pool_size)`` gives 2-D results, one row per query.
* Outputs are sorted by the *new* score, descending; ties keep the input (model) order. Padding (id ``-1``,
  score ``-inf``) is always at the end of a row; ``n`` (when given) is the output width, padded if the pool has
  fewer items.
* ``pop`` is an array over all catalogue items (indexed by item row). Unless a function says otherwise it may
  be Spotify popularity (0..100) or followers/listeners (0..millions): the formulas are scale-free. Values must
  be finite and >= 0 (fill unknown followers with 0 first).
* Argument errors raise ``ValueError``/``TypeError`` naming the parameter, what was expected and what was got;
  an item row outside ``pop`` raises ``IndexError``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import scipy.sparse as sp

__all__ = [
    "popularity_penalty",
    "popularity_band",
    "xquad",
    "mmr",
    "hidden_gems",
    "blend_seeds",
    "head_threshold",
]

_PAD_ID = -1

ArrayLike = Any


# ----------------------------------------------------------------------------------------------------------------
# validation helpers


def _check_unit(value: Any, param: str) -> float:
    """A float in [0, 1] (dials and trade-off weights)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{param} must be a number in [0, 1], got {type(value).__name__} ({value!r:.80})")
    v = float(value)
    if not 0.0 <= v <= 1.0:  # also rejects nan
        raise ValueError(f"{param} must be in [0, 1], got {value!r}")
    return v


def _check_nonneg(value: Any, param: str) -> float:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{param} must be a number >= 0, got {type(value).__name__} ({value!r:.80})")
    v = float(value)
    if not (v >= 0.0 and math.isfinite(v)):
        raise ValueError(f"{param} must be a finite number >= 0, got {value!r}")
    return v


def _check_n(n: Any, param: str = "n", *, allow_none: bool = False) -> int | None:
    if n is None and allow_none:
        return None
    if isinstance(n, (bool, np.bool_)) or not isinstance(n, (int, np.integer)):
        raise TypeError(f"{param} must be an int >= 1, got {type(n).__name__} ({n!r:.80})")
    if n < 1:
        raise ValueError(f"{param} must be >= 1, got {n}")
    return int(n)


def _check_pool(ids: ArrayLike, scores: ArrayLike) -> tuple[np.ndarray, np.ndarray, np.ndarray, bool]:
    """Validate a pool; returns 2-D int64 ids, 2-D float64 scores, the mask of real items, and whether it was 1-D.

    Padding is recognised by id -1 alone (its score is ignored), so a pool padded with any score works.
    """
    ids_a = np.asarray(ids)
    scores_a = np.asarray(scores)
    if ids_a.ndim not in (1, 2):
        raise ValueError(f"ids must be 1-D (one list) or 2-D (n_queries, pool_size), got {ids_a.ndim}-D")
    if ids_a.shape != scores_a.shape:
        raise ValueError(f"ids and scores must have the same shape, got ids {ids_a.shape} and scores "
                         f"{scores_a.shape}")
    if ids_a.size and ids_a.dtype.kind not in "iu":
        raise TypeError(f"ids must hold integer item rows, got dtype {ids_a.dtype}")
    if scores_a.size and scores_a.dtype.kind not in "iuf":
        raise TypeError(f"scores must be numeric, got dtype {scores_a.dtype}")
    one_d = ids_a.ndim == 1
    ids2 = np.atleast_2d(ids_a).astype(np.int64, copy=False)
    sc2 = np.atleast_2d(scores_a).astype(np.float64).reshape(ids2.shape)
    if (ids2 < _PAD_ID).any():
        raise ValueError(f"ids must be item rows >= 0 or the padding id -1, got {int(ids2.min())}")
    valid = ids2 != _PAD_ID
    bad = valid & ~np.isfinite(sc2)
    if bad.any():
        raise ValueError(f"scores must be finite for every real item (id != -1), got {sc2[bad][0]} for item "
                         f"{int(ids2[bad][0])}")
    return ids2, sc2, valid, one_d


def _as_pop(pop: ArrayLike) -> np.ndarray:
    """``pop`` as a 1-D array without copying the (possibly 15M-long) catalogue array when avoidable."""
    p = np.asarray(pop)
    if p.ndim != 1:
        raise ValueError(f"pop must be a 1-D array over all items, got shape {p.shape}")
    if p.size and p.dtype.kind not in "iuf":
        raise TypeError(f"pop must be numeric, got dtype {p.dtype}")
    return p


def _gather_pop(pop: np.ndarray, ids2: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """pop of every pool slot (0 at padding), float64; checks the rows exist and the values are usable."""
    if valid.any():
        top = int(ids2[valid].max())
        if top >= len(pop):
            raise IndexError(f"ids holds item row {top}, outside pop's 0..{len(pop) - 1}")
    out = np.where(valid, pop[np.where(valid, ids2, 0)] if len(pop) else 0, 0).astype(np.float64)
    bad = valid & ~(np.isfinite(out) & (out >= 0))
    if bad.any():
        raise ValueError(f"pop must be finite and >= 0, got {out[bad][0]} for item {int(ids2[bad][0])} "
                         f"(fill unknown popularity/followers with 0)")
    return out


def _relative(scores: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """score / max |score| of the row's real items (1 for the best positive score); 0 at padding.

    Dividing by the largest magnitude (not the max) keeps the sign, so pools of negative scores (e.g. inner
    products) are still ordered correctly; for the usual non-negative scores this is simply score / best.
    """
    mag = np.where(valid, np.abs(scores), 0.0).max(axis=1, keepdims=True) if scores.shape[1] else \
        np.ones((scores.shape[0], 1))
    mag = np.where(mag > 0, mag, 1.0)
    return np.where(valid, scores / mag, 0.0)


def _minmax(scores: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Scores mapped to [0, 1] per row over real items (best = 1, worst = 0; all 1 if all equal); 0 at padding."""
    if scores.shape[1] == 0:
        return np.zeros_like(scores)
    hi = np.where(valid, scores, -np.inf).max(axis=1, keepdims=True)
    lo = np.where(valid, scores, np.inf).min(axis=1, keepdims=True)
    span = hi - lo
    with np.errstate(invalid="ignore"):
        rel = np.where(span > 0, (scores - lo) / np.where(span > 0, span, 1.0), 1.0)
    return np.where(valid, rel, 0.0)


def _finish(ids2: np.ndarray, new: np.ndarray, keep: np.ndarray, n: int | None, one_d: bool,
            dtype: Any = np.float64, *, by_position: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Sort each row by ``new`` descending, kept items first, padding last; cut or pad to width n.

    The sort is stable, so ties keep the input (model) order. ``by_position=True`` keeps the input order
    outright (filters: the scores are unchanged and already sorted by the model).
    """
    q, m = ids2.shape
    width = m if n is None else n
    if m:
        # lexsort is stable and sorts by its last key first: kept before dropped/padding, then by -score.
        primary = np.zeros_like(new) if by_position else np.where(keep, -new, 0.0)
        order = np.lexsort((primary, ~keep), axis=-1)
    else:
        order = np.zeros((q, 0), dtype=np.int64)
    k = min(width, m)
    order = order[:, :k]
    s_keep = np.take_along_axis(keep, order, axis=1)
    out_ids = np.full((q, width), _PAD_ID, dtype=np.int64)
    out_sc = np.full((q, width), -np.inf, dtype=dtype)
    out_ids[:, :k] = np.where(s_keep, np.take_along_axis(ids2, order, axis=1), _PAD_ID)
    out_sc[:, :k] = np.where(s_keep, np.take_along_axis(new, order, axis=1), -np.inf)
    return (out_ids[0], out_sc[0]) if one_d else (out_ids, out_sc)


def _filter(ids2: np.ndarray, sc2: np.ndarray, keep: np.ndarray, n: int | None, one_d: bool,
            dtype: Any) -> tuple[np.ndarray, np.ndarray]:
    """Keep the ``keep`` slots with their scores, in their input (model) order; cut or pad to width n."""
    return _finish(ids2, sc2, keep, n, one_d, dtype=dtype, by_position=True)


def _score_dtype(scores: ArrayLike) -> Any:
    """Filters return scores in the caller's float dtype (float32 from models); ints become float64."""
    dt = np.asarray(scores).dtype
    return dt if dt.kind == "f" else np.dtype(np.float64)


def _pack_greedy(ids2: np.ndarray, picked: np.ndarray, gains: np.ndarray, n: int,
                 one_d: bool) -> tuple[np.ndarray, np.ndarray]:
    """Turn greedy picks (positions, -1 = nothing left) into padded (ids, scores) rows."""
    q = ids2.shape[0]
    ok = picked >= 0
    out_ids = np.where(ok, np.take_along_axis(ids2, np.where(ok, picked, 0), axis=1) if ids2.shape[1] else
                       _PAD_ID, _PAD_ID).astype(np.int64)
    # The marginal gain at pick time; a running minimum keeps each row descending even where a later gain could
    # exceed an earlier one (it cannot for binary xQuAD or MMR, where the gain only shrinks as the list grows).
    out_sc = np.where(ok, np.minimum.accumulate(np.where(ok, gains, np.inf), axis=1), -np.inf)
    out_ids = out_ids.reshape(q, n)
    return (out_ids[0], out_sc[0]) if one_d else (out_ids, out_sc)


# ----------------------------------------------------------------------------------------------------------------
# head / tail


def head_threshold(pop: ArrayLike, head_share: float = 0.2) -> float:
    """Popularity value at which the short head begins: items with ``pop >= threshold`` are the head.

    The head is meant to be the ``k = ceil(head_share * n_items)`` most popular items. Popularity is heavily
    tied (about 80% of tracks have popularity 0), so the head is defined by a value, never by breaking ties
    arbitrarily. Two thresholds are possible: ``t_in`` = the k-th largest value (the head has >= k items, the
    tied boundary value included) and ``t_out`` = the next larger value (the head has < k items, the boundary
    value left in the tail). The one whose head size is closer to k is returned; on equal distance the smaller
    head (``t_out``). So with 85% of items at 0 the head is the 15% with pop >= 1, not the whole catalogue.

    Parameters
    ----------
    pop : ndarray, shape (n_items,)
        Popularity (0..100) or followers of every catalogue item, finite.
    head_share : float in [0, 1]
        Target share of the catalogue in the head (0.2 = the most popular 20%).

    Returns
    -------
    float
        The threshold; ``inf`` when there is no head (``head_share`` 0, an empty catalogue, or all top items
        tied so that no value separates a head of about the right size).
    """
    share = _check_unit(head_share, "head_share")
    p = _as_pop(pop)
    n_items = len(p)
    # round first so float noise such as 0.2 * 15 = 3.0000000000000004 does not push ceil up by one item
    k = math.ceil(round(share * n_items, 9))
    if n_items == 0 or k == 0:
        return math.inf
    if not np.isfinite(p).all():
        raise ValueError("pop must be finite (fill unknown popularity/followers with 0)")
    # k-th largest value. A full sort, not np.partition: introselect degrades badly on heavily tied data
    # (3.6 s against 0.17 s for 15M popularity values that are mostly 0).
    t_in = float(np.sort(p)[n_items - k])
    size_in = int(np.count_nonzero(p >= t_in))
    above = p[p > t_in]
    if above.size == 0:
        t_out, size_out = math.inf, 0
    else:
        t_out, size_out = float(above.min()), int(above.size)
    return t_in if abs(size_in - k) < abs(k - size_out) else t_out


# ----------------------------------------------------------------------------------------------------------------
# re-rankers


def popularity_penalty(ids: ArrayLike, scores: ArrayLike, pop: ArrayLike, *, dial: float, strength: float = 1.0,
                       pop_max: float | None = None, n: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Re-rank a pool with a log-popularity penalty: the "mainstream .. deep cuts" dial.

    ``new = score / max|score| - dial * strength * log1p(pop) / log1p(pop_max)``

    Both terms are scale-free: the first is the score relative to the list's best (1 for the best item of a
    non-negative list), the second is the item's position on a log-popularity scale from 0 (pop 0) to 1 (the
    most popular item of the catalogue). With ``dial = strength = 1`` an item at the catalogue's top popularity
    loses a whole best score, so a pop-0 neighbour with half the best score beats it: that is "deep cuts".
    ``dial = 0.5`` means: an item 10 points lower on the 0..1 log-popularity scale may be up to 5% of the best
    score weaker and still tie. ``dial = 0`` keeps the model order exactly.

    Parameters
    ----------
    ids, scores : ndarray, shape (pool,) or (n_queries, pool)
        A pool from ``model.similar_items``; scores higher = more similar.
    pop : ndarray, shape (n_items,)
        Popularity 0..100 or followers (any non-negative scale: only log ratios are used).
    dial : float in [0, 1]
        0 = mainstream (unchanged order), 1 = deep cuts.
    strength : float >= 0
        Penalty at ``dial = 1``, in units of the best score (default 1).
    pop_max : float, optional
        Top of the popularity scale; default ``pop.max()`` over the catalogue, so an item's penalty does not
        depend on the rest of its list. Pass it to avoid the O(n_items) max per call.
    n : int, optional
        Output width (default: the pool width).

    Returns
    -------
    ids : ndarray of int64, same ndim as the input, width n
    scores : ndarray of float64
        The new (penalised) scores, descending; padding -inf.
    """
    d = _check_unit(dial, "dial")
    s = _check_nonneg(strength, "strength")
    n = _check_n(n, allow_none=True)
    ids2, sc2, valid, one_d = _check_pool(ids, scores)
    p = _as_pop(pop)
    item_pop = _gather_pop(p, ids2, valid)
    pmax = (float(p.max()) if p.size else 0.0) if pop_max is None else _check_nonneg(pop_max, "pop_max")
    # an item above a user-given pop_max gets a penalty above 1 rather than an error: pop_max is a scale
    scale = math.log1p(pmax) if pmax > 0 else 1.0
    penalty = np.log1p(item_pop) / scale if pmax > 0 else np.zeros_like(item_pop)
    new = _relative(sc2, valid) - d * s * penalty
    return _finish(ids2, new, valid, n, one_d)


def popularity_band(ids: ArrayLike, scores: ArrayLike, pop: ArrayLike, *, min_pop: float | None = None,
                    max_pop: float | None = None, n: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Keep only items with ``min_pop <= pop <= max_pop`` (inclusive; a missing bound is open); re-pad.

    Scores are returned unchanged (same dtype), in the input order.

    Parameters
    ----------
    ids, scores : ndarray, shape (pool,) or (n_queries, pool)
    pop : ndarray, shape (n_items,)
        Popularity on the scale the bounds are given in (0..100 for Spotify popularity, or followers).
    min_pop, max_pop : float, optional
        Inclusive bounds; ``min_pop > max_pop`` is an error.
    n : int, optional
        Output width (default: the pool width).
    """
    lo = -math.inf if min_pop is None else _check_nonneg(min_pop, "min_pop")
    hi = math.inf if max_pop is None else _check_nonneg(max_pop, "max_pop")
    if lo > hi:
        raise ValueError(f"min_pop must be <= max_pop, got min_pop={min_pop!r} and max_pop={max_pop!r}")
    n = _check_n(n, allow_none=True)
    ids2, sc2, valid, one_d = _check_pool(ids, scores)
    item_pop = _gather_pop(_as_pop(pop), ids2, valid)
    keep = valid & (item_pop >= lo) & (item_pop <= hi)
    return _filter(ids2, sc2, keep, n, one_d, _score_dtype(scores))


def xquad(ids: ArrayLike, scores: ArrayLike, pop: ArrayLike, *, lam: float, head_share: float = 0.2, n: int,
          variant: str = "binary", threshold: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """xQuAD head/tail re-ranking (Abdollahpouri, Burke & Mobasher 2019, "Managing popularity bias ...").

    Items are split into the short head ``H`` (``pop >= head_threshold(pop, head_share)`` over the whole
    catalogue) and the long tail ``T``. The list is built greedily; at each step the item maximising

    ``(1 - lam) * rel(i) + lam * sum_g P(g|q) * P(i in g) * cov_g(S)``

    is appended, where ``rel`` = scores min-max normalised to [0, 1] over the pool, ``P(i in g)`` is 1 or 0,
    and ``P(g|q)`` is the share of the **pool** in group g (our stand-in for the user-profile shares of the
    paper: the query's own neighbourhood says how much of it lives in the tail). ``cov_g(S)`` is how far group g
    is still uncovered by the selected items S:

    * ``variant="binary"`` (the paper's binary xQuAD): ``prod_{j in S} (1 - P(j in g))``, i.e. 1 until the
      first item of g is picked, 0 afterwards;
    * ``variant="smooth"`` (the paper's smooth xQuAD): ``1 - |S ∩ g| / |S|`` (1 for empty S), which keeps
      pulling the list towards both groups instead of stopping after one tail item.

    ``lam = 0`` is the relevance (model) order.

    Parameters
    ----------
    ids, scores : ndarray, shape (pool,) or (n_queries, pool)
    pop : ndarray, shape (n_items,)
        Popularity or followers over the whole catalogue (the head is found over all of it).
    lam : float in [0, 1]
        Weight of the head/tail term.
    head_share : float in [0, 1]
        Catalogue share of the short head (ignored when ``threshold`` is given).
    n : int
        Output width.
    variant : {"binary", "smooth"}
    threshold : float, optional
        A precomputed :func:`head_threshold`, to skip the O(n_items) pass per call.

    Returns
    -------
    ids : ndarray of int64, width n
    scores : ndarray of float64
        The greedy objective when each item was picked (descending); padding -inf.
    """
    lam_ = _check_unit(lam, "lam")
    n = _check_n(n)
    if variant not in ("binary", "smooth"):
        raise ValueError(f"variant must be 'binary' or 'smooth', got {variant!r}")
    ids2, sc2, valid, one_d = _check_pool(ids, scores)
    p = _as_pop(pop)
    t = head_threshold(p, head_share) if threshold is None else float(threshold)
    item_pop = _gather_pop(p, ids2, valid)
    rel = _minmax(sc2, valid)
    q, m = ids2.shape
    member = np.stack([valid & (item_pop >= t), valid & (item_pop < t)], axis=-1).astype(np.float64)  # (q,m,2)
    n_valid = valid.sum(axis=1)
    p_group = member.sum(axis=1) / np.maximum(n_valid, 1)[:, None]  # (q, 2): pool shares of head, tail
    picked = np.full((q, n), -1, dtype=np.int64)
    gains = np.full((q, n), -np.inf)
    avail = valid.copy()
    in_s = np.zeros((q, 2))  # number of selected items per group
    rows = np.arange(q)
    for step in range(min(n, m)):
        size = in_s.sum(axis=1, keepdims=True)  # |S| per query
        smooth_cov = 1.0 - in_s / np.maximum(size, 1.0)  # 1 - |S & g| / |S|, and 1 for an empty S
        cov = (in_s == 0).astype(np.float64) if variant == "binary" else smooth_cov
        div = (member * (p_group * cov)[:, None, :]).sum(axis=-1)  # (q, m)
        obj = np.where(avail, (1.0 - lam_) * rel + lam_ * div, -np.inf)
        best = obj.argmax(axis=1)  # first maximum: ties go to the better model rank
        has = avail[rows, best]
        picked[:, step] = np.where(has, best, -1)
        gains[:, step] = np.where(has, obj[rows, best], -np.inf)
        avail[rows[has], best[has]] = False
        in_s[has] += member[rows[has], best[has]]
    return _pack_greedy(ids2, picked, gains, n, one_d)


def _unit_rows(vectors: Any, rows: np.ndarray) -> Any:
    """L2-normalised copies of the given rows of a dense array or sparse matrix (zero rows stay zero)."""
    if sp.issparse(vectors):
        v = sp.csr_matrix(vectors[rows], dtype=np.float64)
        norms = np.sqrt(np.asarray(v.multiply(v).sum(axis=1)).ravel())
        return sp.diags(np.where(norms > 0, 1.0 / np.where(norms > 0, norms, 1.0), 0.0)) @ v
    v = np.asarray(vectors[rows], dtype=np.float64)
    norms = np.linalg.norm(v, axis=1, keepdims=True)
    return np.where(norms > 0, v / np.where(norms > 0, norms, 1.0), 0.0)


def _check_vectors(vectors: Any, ids2: np.ndarray, valid: np.ndarray, param: str = "vectors") -> None:
    shape = getattr(vectors, "shape", None)
    if not sp.issparse(vectors) and not isinstance(vectors, np.ndarray):
        raise TypeError(f"{param} must be a scipy sparse matrix or a 2-D numpy array (n_items, d), got "
                        f"{type(vectors).__name__}")
    if shape is None or len(shape) != 2:
        raise ValueError(f"{param} must be 2-D (n_items, d), got shape {shape}")
    if valid.any() and int(ids2[valid].max()) >= shape[0]:
        raise IndexError(f"ids holds item row {int(ids2[valid].max())}, outside {param}' 0..{shape[0] - 1}")


def _pool_cosines(vectors: Any, ids2: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """(q, m, m) cosine similarities between the items of each pool (0 where padding is involved)."""
    q, m = ids2.shape
    safe = np.where(valid, ids2, 0)
    if sp.issparse(vectors):
        # One small product per query: a (q*m) x (q*m) product would be mostly cross-query waste.
        sims = np.empty((q, m, m))
        for i in range(q):
            u = _unit_rows(vectors, safe[i])
            sims[i] = (u @ u.T).toarray()
    else:
        u = _unit_rows(vectors, safe.ravel()).reshape(q, m, -1)
        sims = np.einsum("qid,qjd->qij", u, u)
    return np.where(valid[:, :, None] & valid[:, None, :], sims, 0.0)


def mmr(ids: ArrayLike, scores: ArrayLike, vectors: Any, *, lam: float, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Maximal Marginal Relevance (Carbonell & Goldstein 1998) with cosine similarity between item vectors.

    Greedy: append the item maximising ``lam * rel(i) - (1 - lam) * max_{j in S} cos(i, j)`` (the max term is 0
    for the first pick), ``rel`` = scores min-max normalised to [0, 1] over the pool. ``lam = 1`` is the
    relevance (model) order; smaller ``lam`` demotes near-duplicates of what is already listed.

    Parameters
    ----------
    ids, scores : ndarray, shape (pool,) or (n_queries, pool)
    vectors : scipy sparse matrix or ndarray, shape (n_items, d)
        Item vectors (e.g. the model's feature space); rows are L2-normalised here, zero rows have cosine 0.
    lam : float in [0, 1]
    n : int
        Output width.

    Returns
    -------
    ids : ndarray of int64, width n
    scores : ndarray of float64
        The MMR objective when each item was picked (descending); padding -inf.
    """
    lam_ = _check_unit(lam, "lam")
    n = _check_n(n)
    ids2, sc2, valid, one_d = _check_pool(ids, scores)
    _check_vectors(vectors, ids2, valid)
    q, m = ids2.shape
    rel = _minmax(sc2, valid)
    sims = _pool_cosines(vectors, ids2, valid) if m else np.zeros((q, 0, 0))
    picked = np.full((q, n), -1, dtype=np.int64)
    gains = np.full((q, n), -np.inf)
    avail = valid.copy()
    max_sim = np.zeros((q, m))  # max cosine of each candidate to the items selected so far
    rows = np.arange(q)
    for step in range(min(n, m)):
        obj = np.where(avail, lam_ * rel - (1.0 - lam_) * max_sim, -np.inf)
        best = obj.argmax(axis=1)  # first maximum: ties go to the better model rank
        has = avail[rows, best]
        picked[:, step] = np.where(has, best, -1)
        gains[:, step] = np.where(has, obj[rows, best], -np.inf)
        avail[rows[has], best[has]] = False
        if step == 0:
            max_sim = np.where(has[:, None], sims[rows, best], max_sim)
        else:
            max_sim = np.where(has[:, None], np.maximum(max_sim, sims[rows, best]), max_sim)
    return _pack_greedy(ids2, picked, gains, n, one_d)


def hidden_gems(ids: ArrayLike, scores: ArrayLike, pop: ArrayLike, seed_pop: float | ArrayLike, *,
                min_relative_score: float = 0.5, max_pop_ratio: float = 0.5,
                n: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Strong neighbours that are far less popular than the seed; scores and order unchanged, re-padded.

    Keeps item i when both hold:

    * ``score(i) >= best - (1 - min_relative_score) * |best|`` (``best`` = the list's top score; for the usual
      positive scores this is ``score >= min_relative_score * best``);
    * ``pop(i) <= max_pop_ratio * seed_pop``; for a popularity-0 seed this keeps pop-0 items only.

    Parameters
    ----------
    ids, scores : ndarray, shape (pool,) or (n_queries, pool)
    pop : ndarray, shape (n_items,)
        Popularity (0..100) or followers; ``seed_pop`` must be on the same scale.
    seed_pop : float or ndarray of shape (n_queries,)
        The seed's popularity (one per query for a 2-D batch).
    min_relative_score : float in [0, 1]
    max_pop_ratio : float >= 0
    n : int, optional
        Output width (default: the pool width).
    """
    rel_min = _check_unit(min_relative_score, "min_relative_score")
    ratio = _check_nonneg(max_pop_ratio, "max_pop_ratio")
    n = _check_n(n, allow_none=True)
    ids2, sc2, valid, one_d = _check_pool(ids, scores)
    sp_ = np.asarray(seed_pop, dtype=np.float64)
    if sp_.ndim == 0:
        sp_ = np.full(ids2.shape[0], float(sp_))
    elif sp_.shape != (ids2.shape[0],) or one_d:
        raise ValueError(f"seed_pop must be a number or one value per query ({ids2.shape[0]}), got shape "
                         f"{sp_.shape}")
    if not (np.isfinite(sp_) & (sp_ >= 0)).all():
        raise ValueError(f"seed_pop must be finite and >= 0, got {seed_pop!r:.80}")
    item_pop = _gather_pop(_as_pop(pop), ids2, valid)
    best = np.where(valid, sc2, -np.inf).max(axis=1, keepdims=True) if ids2.shape[1] else \
        np.zeros((ids2.shape[0], 1))
    floor = best - (1.0 - rel_min) * np.abs(best)
    keep = valid & (sc2 >= floor) & (item_pop <= ratio * sp_[:, None])
    return _filter(ids2, sc2, keep, n, one_d, _score_dtype(scores))


def blend_seeds(results: Sequence[tuple[ArrayLike, ArrayLike]], weights: ArrayLike | None = None, *,
                exclude: ArrayLike | None = None, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Multi-seed query: one list from the pools of several seeds.

    ``blend(i) = sum_s weights[s] * score_s(i)`` over the union of the pools, where an item missing from seed
    s's pool contributes 0 (it was not among s's neighbours). Items in ``exclude`` (e.g. the seeds themselves)
    and padding are dropped. Sorted by the blend descending, ties by lower id.

    Parameters
    ----------
    results : sequence of (ids, scores), each 1-D
        One pool per seed, e.g. ``[model.similar_items(s, pool) for s in seeds]``. Scores should be on one
        scale (same model).
    weights : array-like of float, one per seed, optional
        Default 1 each. Finite; negative weights push a seed's neighbours down.
    exclude : array-like of int, optional
        Item rows never returned.
    n : int
        Output width.

    Returns
    -------
    ids : ndarray of int64, shape (n,)
    scores : ndarray of float64, shape (n,)
        Blended scores, descending; padding -1 / -inf.
    """
    n = _check_n(n)
    if isinstance(results, tuple) and len(results) == 2 and np.ndim(results[0]) >= 1 and \
            np.asarray(results[0]).dtype.kind in "iu":
        raise TypeError("results must be a list of (ids, scores) pairs, one per seed, got a single (ids, scores) "
                        "pair; wrap it in a list")
    results = list(results)
    if not results:
        raise ValueError("results must hold at least one (ids, scores) pool, got none")
    w = np.ones(len(results)) if weights is None else np.asarray(weights, dtype=np.float64).ravel()
    if w.shape != (len(results),):
        raise ValueError(f"weights must have one weight per pool ({len(results)}), got {w.size}")
    if not np.isfinite(w).all():
        raise ValueError(f"weights must be finite, got {w.tolist()}")
    all_ids, all_sc = [], []
    for k, pair in enumerate(results):
        if not isinstance(pair, (tuple, list)) or len(pair) != 2:
            raise TypeError(f"results[{k}] must be an (ids, scores) pair, got {type(pair).__name__}")
        ids2, sc2, valid, one_d = _check_pool(*pair)
        if not one_d:
            raise ValueError(f"results[{k}] must be 1-D (one seed's pool), got shape {ids2.shape}")
        all_ids.append(ids2[valid])
        all_sc.append(w[k] * sc2[valid])
    cat_ids = np.concatenate(all_ids)
    cat_sc = np.concatenate(all_sc)
    if exclude is not None:
        ex = np.asarray(exclude)
        if ex.size and ex.dtype.kind not in "iu":
            raise TypeError(f"exclude must hold integer item rows, got dtype {ex.dtype}")
        drop = np.isin(cat_ids, ex.astype(np.int64, copy=False).ravel())
        cat_ids, cat_sc = cat_ids[~drop], cat_sc[~drop]
    uniq, inv = np.unique(cat_ids, return_inverse=True)  # sorted ids: the stable sort below breaks ties by id
    blend = np.bincount(inv, weights=cat_sc, minlength=len(uniq))
    order = np.argsort(-blend, kind="stable")[:n]
    out_ids = np.full(n, _PAD_ID, dtype=np.int64)
    out_sc = np.full(n, -np.inf)
    out_ids[:len(order)] = uniq[order]
    out_sc[:len(order)] = blend[order]
    return out_ids, out_sc
