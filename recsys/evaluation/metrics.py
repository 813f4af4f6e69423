"""Beyond-accuracy (long-tail) and accuracy measures over a batch of recommendation lists.

Mental model: *a batch of lists in, one number out (accuracy measures also give one number per query).*

Lists are ``ids`` of shape ``(n_queries, list_length)`` (a 1-D array is one list), item rows padded with ``-1``,
best first, as returned by ``model.similar_items`` or :mod:`recsys.longtail`. ``pop`` is an array over all
catalogue items: Spotify popularity 0..100, or followers/listeners where that is the signal.

Definitions (design.md section 5). The short head is the items with ``pop >= head_threshold(pop, head_share)``
(the most popular ``head_share`` of the catalogue, ties resolved by value: see
:func:`recsys.longtail.head_threshold`); the long tail is everything else.

* ``coverage``: distinct items recommended across all lists / catalogue size.
* ``gini``: Gini index of the exposure counts (times each item is recommended) over **all** catalogue items,
  never-recommended items included; 0 = every item equally exposed, (N-1)/N = one item takes all exposure.
* ``arp``: average recommendation popularity, the mean over lists of the mean pop of the list's items.
* ``aplt``: mean over lists of the share of the list outside the short head.
* ``aclt``: mean over lists of the number of items outside the short head.
* ``novelty``: mean over lists of the mean ``-log2 p(i)``, ``p(i) = (pop(i) + 1) / (sum(pop) + N)``: the item's
  share of the popularity mass with add-one smoothing, so pop-0 items get a finite, largest novelty.
* ``coverage_by_decile``: per popularity decile of the catalogue, the share of its items recommended at least once.
* ``ild``: intra-list distance, mean over lists of the mean pairwise ``1 - cosine`` between the list's item
  vectors; lists with fewer than 2 items are skipped.

Per-list measures skip empty lists (a query without results has no list to measure; coverage and the accuracy
measures show that gap); a measure with nothing to average is ``nan``. Report ARP, APLT and ACLT together
(:func:`long_tail_report`): one alone misleads.

Accuracy measures @k take ``relevant``, one set/array of relevant item rows per query, binary relevance, and
return ``(mean, per_query)`` so callers can bootstrap (:func:`bootstrap_ci`); queries with no relevant item are
``nan`` in ``per_query`` and left out of the mean. ``serendipity_at_k`` (Ge, Delgado-Battenfeld & Jannach 2010)
counts, among the top k, the items that are relevant *and* absent from an obvious list (the most-popular
baseline's list for the same query), divided by k. :func:`standard_error` gives the per-query standard error of a
mean, :func:`bootstrap_ci` a percentile interval.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import scipy.sparse as sp

from ..longtail import _check_vectors, _pool_cosines, _unit_rows, head_threshold

__all__ = [
    "coverage",
    "gini",
    "arp",
    "aplt",
    "aclt",
    "novelty",
    "ild",
    "long_tail_report",
    "popularity_histogram",
    "precision_at_k",
    "recall_at_k",
    "ndcg_at_k",
    "hit_rate_at_k",
    "serendipity_at_k",
    "bootstrap_ci",
    "standard_error",
    "coverage_by_decile",
]

_PAD_ID = -1


# ----------------------------------------------------------------------------------------------------------------
# helpers


def _lists(ids: Any) -> tuple[np.ndarray, np.ndarray]:
    """ids as 2-D int64 (a 1-D array is one list) and the mask of real (non-padding) slots."""
    a = np.asarray(ids)
    if a.ndim not in (1, 2):
        raise ValueError(f"ids must be 2-D (n_queries, list_length) or 1-D (one list), got {a.ndim}-D")
    if a.size and a.dtype.kind not in "iu":
        raise TypeError(f"ids must hold integer item rows, got dtype {a.dtype}")
    a = np.atleast_2d(a).astype(np.int64, copy=False)
    if (a < _PAD_ID).any():
        raise ValueError(f"ids must be item rows >= 0 or the padding id -1, got {int(a.min())}")
    return a, a != _PAD_ID


def _check_n_items(n_items: Any, ids2: np.ndarray, valid: np.ndarray) -> int:
    if isinstance(n_items, (bool, np.bool_)) or not isinstance(n_items, (int, np.integer)):
        raise TypeError(f"n_items must be an int >= 1, got {type(n_items).__name__} ({n_items!r:.80})")
    if n_items < 1:
        raise ValueError(f"n_items must be >= 1, got {n_items}")
    if valid.any() and int(ids2[valid].max()) >= n_items:
        raise IndexError(f"ids holds item row {int(ids2[valid].max())}, outside the catalogue's 0..{n_items - 1}")
    return int(n_items)


def _pop(pop: Any, ids2: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Catalogue popularity as float64 1-D, finite and >= 0, covering every listed row."""
    p = np.asarray(pop)
    if p.ndim != 1:
        raise ValueError(f"pop must be a 1-D array over all catalogue items, got shape {p.shape}")
    if p.size and p.dtype.kind not in "iuf":
        raise TypeError(f"pop must be numeric, got dtype {p.dtype}")
    p = p.astype(np.float64, copy=False)
    if not (np.isfinite(p) & (p >= 0)).all():
        raise ValueError("pop must be finite and >= 0 (fill unknown popularity/followers with 0)")
    if valid.any() and int(ids2[valid].max()) >= len(p):
        raise IndexError(f"ids holds item row {int(ids2[valid].max())}, outside pop's 0..{len(p) - 1}")
    return p


def _slot_values(values: np.ndarray, ids2: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """values[item] at every real slot, 0 at padding (so row sums are sums over real items)."""
    if not len(values):
        return np.zeros(ids2.shape)
    return np.where(valid, values[np.where(valid, ids2, 0)], 0.0)


def _mean(x: np.ndarray) -> float:
    """Mean ignoring nan; nan (without a RuntimeWarning) when nothing is left."""
    x = np.asarray(x, dtype=np.float64)
    x = x[~np.isnan(x)]
    return float(x.mean()) if x.size else math.nan


def _per_list_mean(values: np.ndarray, valid: np.ndarray) -> float:
    """Mean over non-empty lists of the mean of ``values`` over each list's real items."""
    lengths = valid.sum(axis=1)
    ok = lengths > 0
    if not ok.any():
        return math.nan
    return float((values.sum(axis=1)[ok] / lengths[ok]).mean())


def _tail_mask(p: np.ndarray, head_share: float) -> np.ndarray:
    """True for catalogue items outside the short head."""
    return p < head_threshold(p, head_share)


# ----------------------------------------------------------------------------------------------------------------
# beyond-accuracy


def coverage(ids: Any, n_items: int) -> float:
    """Catalogue coverage: distinct items recommended across all lists / ``n_items``.

    Parameters
    ----------
    ids : ndarray of int, shape (n_queries, list_length) or (list_length,)
        Recommendation lists, padded with -1.
    n_items : int
        Catalogue size.

    Returns
    -------
    float in [0, 1]
    """
    ids2, valid = _lists(ids)
    n = _check_n_items(n_items, ids2, valid)
    return float(np.unique(ids2[valid]).size / n)


def gini(ids: Any, n_items: int) -> float:
    """Gini index of exposure over all ``n_items`` catalogue items (never-recommended items count as 0).

    ``G = sum_i (2i - N - 1) c_(i) / (N * sum_i c_i)`` with the counts ``c`` sorted ascending and ``i = 1..N``.
    0 = every item recommended equally often; ``(N - 1) / N`` = all exposure on one item; nan for no
    recommendations at all.
    """
    ids2, valid = _lists(ids)
    n = _check_n_items(n_items, ids2, valid)
    counts = np.sort(np.bincount(ids2[valid], minlength=n)).astype(np.float64)
    total = counts.sum()
    if total == 0:
        return math.nan
    i = np.arange(1, n + 1, dtype=np.float64)
    return float(((2 * i - n - 1) * counts).sum() / (n * total))


def arp(ids: Any, pop: Any) -> float:
    """Average recommendation popularity: mean over non-empty lists of the mean ``pop`` of the list's items.

    On the scale of ``pop`` (0..100 popularity or followers). Lower = less popular recommendations.
    """
    ids2, valid = _lists(ids)
    p = _pop(pop, ids2, valid)
    return _per_list_mean(_slot_values(p, ids2, valid), valid)


def _tail_slots(ids2: np.ndarray, valid: np.ndarray, p: np.ndarray, head_share: float) -> np.ndarray:
    """1.0 at every real slot holding a long-tail item, else 0."""
    return _slot_values(_tail_mask(p, head_share).astype(np.float64), ids2, valid)


def _aclt_from(tail: np.ndarray, valid: np.ndarray) -> float:
    ok = valid.any(axis=1)
    return float(tail.sum(axis=1)[ok].mean()) if ok.any() else math.nan


def aplt(ids: Any, pop: Any, head_share: float = 0.2) -> float:
    """Average percentage of long tail: mean over non-empty lists of the share of items outside the short head.

    In [0, 1]; the short head is the most popular ``head_share`` of the catalogue ``pop``.
    """
    ids2, valid = _lists(ids)
    p = _pop(pop, ids2, valid)
    return _per_list_mean(_tail_slots(ids2, valid, p, head_share), valid)


def aclt(ids: Any, pop: Any, head_share: float = 0.2) -> float:
    """Average coverage of long tail: mean over non-empty lists of the number of items outside the short head."""
    ids2, valid = _lists(ids)
    p = _pop(pop, ids2, valid)
    return _aclt_from(_tail_slots(ids2, valid, p, head_share), valid)


def novelty(ids: Any, pop: Any) -> float:
    """Mean self-information ``-log2 p(i)`` of recommended items, ``p(i) = (pop(i) + 1) / (sum(pop) + N)``.

    Mean over each list's items, then over non-empty lists; in bits, higher = more novel. The +1 smoothing
    (over all N catalogue items, so the p(i) still sum to 1) keeps pop-0 items finite.
    """
    ids2, valid = _lists(ids)
    p = _pop(pop, ids2, valid)
    info = -np.log2((p + 1.0) / (p.sum() + len(p)))
    return _per_list_mean(_slot_values(info, ids2, valid), valid)


def ild(ids: Any, vectors: Any) -> float:
    """Intra-list distance: mean over lists of the mean pairwise ``1 - cosine`` of the list's item vectors.

    Parameters
    ----------
    ids : ndarray of int, shape (n_queries, list_length)
    vectors : scipy sparse matrix or ndarray, shape (n_items, d)
        Item vectors, L2-normalised here (a zero vector has cosine 0 to everything, distance 1).

    Returns
    -------
    float
        In [0, 1] for non-negative features (up to 2 otherwise); lists with < 2 items are skipped; nan if none
        has 2.
    """
    ids2, valid = _lists(ids)
    _check_vectors(vectors, ids2, valid)
    lengths = valid.sum(axis=1)
    ok = lengths >= 2
    if not ok.any():
        return math.nan
    ids2, valid, lengths = ids2[ok], valid[ok], lengths[ok]
    if sp.issparse(vectors):
        # Slot pair by slot pair over all lists at once (row-wise dot products): the same cosines as the
        # per-list Gram matrices below, without a Python loop over lists.
        q, m = ids2.shape
        u = sp.csr_matrix(_unit_rows(vectors, np.where(valid, ids2, 0).ravel()))
        dist_sum = np.zeros(q)
        for i in range(m):
            ui = u[i::m]
            for j in range(i + 1, m):
                cos = np.asarray(ui.multiply(u[j::m]).sum(axis=1)).ravel()
                dist_sum += np.where(valid[:, i] & valid[:, j], 1.0 - cos, 0.0)
        return float((dist_sum / (lengths * (lengths - 1) / 2)).mean())
    sims = _pool_cosines(vectors, ids2, valid)  # (q, m, m), 0 where padding is involved
    # pairs of two different real slots (an item's distance to itself is not part of the list's diversity)
    pair = valid[:, :, None] & valid[:, None, :] & ~np.eye(ids2.shape[1], dtype=bool)
    dist_sum = np.where(pair, 1.0 - sims, 0.0).sum(axis=(1, 2)) / 2  # each unordered pair was counted twice
    n_pairs = lengths * (lengths - 1) / 2
    return float((dist_sum / n_pairs).mean())


def long_tail_report(ids: Any, pop: Any, n_items: int, vectors: Any = None, *,
                     head_share: float = 0.2) -> dict[str, float]:
    """All beyond-accuracy measures of one batch of lists, together (ARP, APLT and ACLT only make sense jointly).

    Returns
    -------
    dict
        ``n_lists``, ``mean_list_length``, ``coverage``, ``gini``, ``arp``, ``aplt``, ``aclt``, ``novelty``,
        ``head_threshold`` (the pop value where the head starts) and, when ``vectors`` is given, ``ild``.
    """
    ids2, valid = _lists(ids)
    n = _check_n_items(n_items, ids2, valid)
    p = _pop(pop, ids2, valid)
    if len(p) != n:
        raise ValueError(f"pop must have one value per catalogue item (n_items={n}), got {len(p)}")
    threshold = head_threshold(p, head_share)  # once: it is an O(n_items log n_items) pass
    tail = _slot_values((p < threshold).astype(np.float64), ids2, valid)
    out: dict[str, float] = {
        "n_lists": float(ids2.shape[0]),
        "mean_list_length": float(valid.sum(axis=1).mean()) if ids2.shape[0] else math.nan,
        "coverage": coverage(ids2, n),
        "gini": gini(ids2, n),
        "arp": arp(ids2, p),
        "aplt": _per_list_mean(tail, valid),
        "aclt": _aclt_from(tail, valid),
        "novelty": novelty(ids2, p),
        "head_threshold": threshold,
    }
    if vectors is not None:
        out["ild"] = ild(ids2, vectors)
    return out


def popularity_histogram(ids: Any, pop: Any, bins: int | Sequence[float] | np.ndarray = 10
                         ) -> tuple[np.ndarray, np.ndarray]:
    """Popularity distribution of what is recommended next to that of the catalogue (a bias panel).

    Parameters
    ----------
    ids : ndarray of int, shape (n_queries, list_length)
    pop : ndarray, shape (n_items,)
    bins : int or sequence of float
        Bin edges (recommended, so the caller can label them), or a number of equal-width bins over the range
        of the catalogue's ``pop`` (``numpy.histogram_bin_edges``). The last bin includes its right edge.

    Returns
    -------
    counts_recommended : ndarray of int64, shape (n_bins,)
        Recommended slots per bin (an item recommended twice counts twice: this is exposure).
    counts_catalogue : ndarray of int64, shape (n_bins,)
        Catalogue items per bin.
    """
    ids2, valid = _lists(ids)
    p = _pop(pop, ids2, valid)
    if isinstance(bins, (bool, np.bool_)):
        raise TypeError(f"bins must be an int or a sequence of edges, got {bins!r}")
    if isinstance(bins, (int, np.integer)):
        if bins < 1:
            raise ValueError(f"bins must be >= 1, got {bins}")
        edges = np.histogram_bin_edges(p, bins=int(bins))
    else:
        edges = np.asarray(bins, dtype=np.float64)
        if edges.ndim != 1 or edges.size < 2 or (np.diff(edges) <= 0).any():
            raise ValueError(f"bins must be increasing edges (at least 2), got {bins!r:.80}")
    rec = np.histogram(p[ids2[valid]], bins=edges)[0].astype(np.int64)
    cat = np.histogram(p, bins=edges)[0].astype(np.int64)
    return rec, cat


def coverage_by_decile(ids: Any, pop: Any, n_bins: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """Share of each popularity quantile bin of the catalogue that is recommended at least once.

    Items are ranked by ``pop`` (ties by row, so tied items are split evenly and every bin has
    ``n_items / n_bins`` items up to one) and cut into ``n_bins`` equal-count bins, bin 0 the least popular.

    Parameters
    ----------
    ids : ndarray of int, shape (n_queries, list_length)
    pop : ndarray, shape (n_items,)
    n_bins : int >= 1
        10 gives deciles.

    Returns
    -------
    share : ndarray of float64, shape (n_bins,)
        Distinct recommended items in the bin / items in the bin (nan for an empty bin).
    upper : ndarray of float64, shape (n_bins,)
        Largest ``pop`` in each bin (nan for an empty bin), to label the axis.
    """
    ids2, valid = _lists(ids)
    p = _pop(pop, ids2, valid)
    if isinstance(n_bins, (bool, np.bool_)) or not isinstance(n_bins, (int, np.integer)) or n_bins < 1:
        raise ValueError(f"n_bins must be an int >= 1, got {n_bins!r}")
    n = len(p)
    order = np.argsort(p, kind="stable")
    bin_of = np.empty(n, dtype=np.int64)
    bin_of[order] = (np.arange(n) * int(n_bins)) // max(n, 1)
    hit = np.zeros(n, dtype=bool)
    hit[ids2[valid]] = True
    size = np.bincount(bin_of, minlength=n_bins).astype(np.float64)
    got = np.bincount(bin_of, weights=hit.astype(np.float64), minlength=n_bins)
    upper = np.full(int(n_bins), -np.inf)
    np.maximum.at(upper, bin_of, p)
    upper[size == 0] = np.nan
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where(size > 0, got / np.where(size > 0, size, 1.0), np.nan)
    return share, upper


# ----------------------------------------------------------------------------------------------------------------
# accuracy @k


def _hits(ids: Any, relevant: Sequence[Any], k: Any) -> tuple[np.ndarray, np.ndarray, int]:
    """(n_queries, k) bool hits of the top-k slots, the number of distinct relevant items per query, and k."""
    if isinstance(k, (bool, np.bool_)) or not isinstance(k, (int, np.integer)):
        raise TypeError(f"k must be an int >= 1, got {type(k).__name__} ({k!r:.80})")
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    k = int(k)
    ids2, valid = _lists(ids)
    q = ids2.shape[0]
    if isinstance(relevant, (str, bytes)) or not hasattr(relevant, "__len__"):
        raise TypeError(f"relevant must be a sequence of sets/arrays of item rows, one per query, got "
                        f"{type(relevant).__name__}")
    if len(relevant) != q:
        raise ValueError(f"relevant must have one entry per query ({q}), got {len(relevant)}")
    rel = [np.unique(np.fromiter(r, dtype=np.int64) if isinstance(r, (set, frozenset)) else
                     np.asarray(r, dtype=np.int64).ravel()) for r in relevant]
    n_rel = np.array([r.size for r in rel], dtype=np.int64)
    top = np.full((q, k), _PAD_ID, dtype=np.int64)
    w = min(k, ids2.shape[1])
    top[:, :w] = ids2[:, :w]  # a list shorter than k just misses the remaining slots
    # Vectorised membership: encode (query, item) pairs as one int64 key each and test them all at once.
    rel_ids = np.concatenate(rel) if rel else np.zeros(0, dtype=np.int64)
    base = int(max(top.max(initial=0), rel_ids.max(initial=0))) + 2  # +2: room for -1 padding shifted to 0..
    rel_keys = np.repeat(np.arange(q, dtype=np.int64), n_rel) * base + (rel_ids + 1)
    top_keys = np.arange(q, dtype=np.int64)[:, None] * base + (top + 1)
    hits = (top != _PAD_ID) & np.isin(top_keys, rel_keys)
    return hits, n_rel, k


def _finish_acc(per_query: np.ndarray, n_rel: np.ndarray) -> tuple[float, np.ndarray]:
    per_query = np.where(n_rel > 0, per_query, np.nan)
    return _mean(per_query), per_query


def precision_at_k(ids: Any, relevant: Sequence[Any], k: int) -> tuple[float, np.ndarray]:
    """Precision@k: relevant items among the top k / k (a list shorter than k is not excused).

    Parameters
    ----------
    ids : ndarray of int, shape (n_queries, list_length)
        Ranked lists, best first, padded with -1.
    relevant : sequence of set or array of int, length n_queries
        Relevant item rows of each query.
    k : int >= 1

    Returns
    -------
    mean : float
        Over queries with at least one relevant item (nan if none).
    per_query : ndarray of float64, shape (n_queries,)
        nan where the query has no relevant item.
    """
    hits, n_rel, k = _hits(ids, relevant, k)
    return _finish_acc(hits.sum(axis=1) / k, n_rel)


def recall_at_k(ids: Any, relevant: Sequence[Any], k: int) -> tuple[float, np.ndarray]:
    """Recall@k: relevant items among the top k / number of relevant items. Returns (mean, per_query)."""
    hits, n_rel, k = _hits(ids, relevant, k)
    return _finish_acc(hits.sum(axis=1) / np.maximum(n_rel, 1), n_rel)


def ndcg_at_k(ids: Any, relevant: Sequence[Any], k: int) -> tuple[float, np.ndarray]:
    """nDCG@k with binary relevance: ``DCG = sum_{r=1..k} hit_r / log2(r + 1)`` over the ideal DCG, which has
    ``min(k, |relevant|)`` hits at the top. Returns (mean, per_query)."""
    hits, n_rel, k = _hits(ids, relevant, k)
    disc = 1.0 / np.log2(np.arange(2, k + 2, dtype=np.float64))
    dcg = (hits * disc).sum(axis=1)
    ideal = np.concatenate([[0.0], np.cumsum(disc)])[np.minimum(n_rel, k)]
    return _finish_acc(dcg / np.where(ideal > 0, ideal, 1.0), n_rel)


def hit_rate_at_k(ids: Any, relevant: Sequence[Any], k: int) -> tuple[float, np.ndarray]:
    """Hit rate@k: 1 if any relevant item is in the top k, else 0. Returns (mean, per_query)."""
    hits, n_rel, k = _hits(ids, relevant, k)
    return _finish_acc(hits.any(axis=1).astype(np.float64), n_rel)


def serendipity_at_k(ids: Any, relevant: Sequence[Any], obvious: Any, k: int) -> tuple[float, np.ndarray]:
    """Serendipity@k: top-k items that are relevant and not in the query's obvious list, divided by k.

    Parameters
    ----------
    ids : ndarray of int, shape (n_queries, list_length)
        Ranked lists, best first, padded with -1.
    relevant : sequence of set or array of int, length n_queries
    obvious : ndarray of int, shape (n_queries, m)
        The obvious recommendations per query (the most-popular baseline's lists), padded with -1; all m items
        count, so pass the baseline's top k.
    k : int >= 1

    Returns
    -------
    (mean, per_query)
        As :func:`precision_at_k`: nan for queries without relevant items.
    """
    hits, n_rel, k = _hits(ids, relevant, k)
    ob2, ob_valid = _lists(obvious)
    if ob2.shape[0] != hits.shape[0]:
        raise ValueError(f"obvious must have one list per query ({hits.shape[0]}), got {ob2.shape[0]}")
    top, _ = _lists(ids)
    w = min(k, top.shape[1])
    in_obvious = np.zeros(hits.shape, dtype=bool)
    for j in range(w):  # k is small: one vectorised row-wise membership test per rank
        in_obvious[:, j] = ((ob2 == top[:, j:j + 1]) & ob_valid).any(axis=1)
    return _finish_acc((hits & ~in_obvious).sum(axis=1) / k, n_rel)


def standard_error(per_query: Any) -> float:
    """Standard error of the mean of ``per_query`` (sample std with ddof=1 / sqrt(n)); nan entries left out.

    nan when fewer than 2 finite values remain.
    """
    x = np.asarray(per_query, dtype=np.float64).ravel()
    x = x[~np.isnan(x)]
    if x.size < 2:
        return math.nan
    return float(x.std(ddof=1) / math.sqrt(x.size))


def bootstrap_ci(per_query: Any, *, n_boot: int = 1000, alpha: float = 0.05, seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap confidence interval of the mean of ``per_query`` (nan entries are left out).

    Parameters
    ----------
    per_query : array-like of float, shape (n_queries,)
    n_boot : int >= 1
        Resamples (with replacement, same size as the data).
    alpha : float in (0, 1)
        1 - confidence level (0.05 gives a 95% interval).
    seed : int
        Seed of ``numpy.random.default_rng``: the same call gives the same interval.

    Returns
    -------
    (low, high) : tuple of float
        ``(nan, nan)`` when there is no finite value.
    """
    if isinstance(n_boot, (bool, np.bool_)) or not isinstance(n_boot, (int, np.integer)):
        raise TypeError(f"n_boot must be an int >= 1, got {type(n_boot).__name__} ({n_boot!r:.80})")
    if n_boot < 1:
        raise ValueError(f"n_boot must be >= 1, got {n_boot}")
    if isinstance(alpha, (bool, np.bool_)) or not isinstance(alpha, (int, float, np.integer, np.floating)):
        raise TypeError(f"alpha must be a number in (0, 1), got {type(alpha).__name__} ({alpha!r:.80})")
    if not 0.0 < float(alpha) < 1.0:
        raise ValueError(f"alpha must be in (0, 1), got {alpha!r}")
    x = np.asarray(per_query, dtype=np.float64).ravel()
    x = x[~np.isnan(x)]
    if x.size == 0:
        return math.nan, math.nan
    rng = np.random.default_rng(seed)
    means = np.empty(int(n_boot))
    # Resample in chunks so n_boot x n_queries indices never need more than ~8M int64 at once.
    chunk = max(1, 8_000_000 // x.size)
    for start in range(0, int(n_boot), chunk):
        stop = min(int(n_boot), start + chunk)
        idx = rng.integers(0, x.size, size=(stop - start, x.size))
        means[start:stop] = x[idx].mean(axis=1)
    low, high = np.quantile(means, [alpha / 2, 1 - alpha / 2])
    return float(low), float(high)
