"""Evaluation protocols: which seeds a query gives the recommender and which items count as right answers.

* **item-to-item**: one seed artist per query; relevant = the items the truth puts with it (playlist co-members,
  hidden collaborators, community members).
* **continuation**: some seeds of a playlist -> the rest of it. The seeds' neighbour pools are blended
  (:func:`recsys.longtail.blend_seeds`, equal weights), the seeds themselves excluded.

Both give a :class:`QuerySet`; :func:`candidate_pools` turns a scorer (a fitted model or a baseline) into pools of
``(ids, scores)`` per query, which :func:`rerank` cuts to k, optionally re-ranked by the long-tail layer.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..longtail import blend_seeds, mmr, popularity_penalty, xquad
from .truths import Truth

__all__ = ["QuerySet", "item_to_item", "continuation", "candidate_pools", "rerank", "PROTOCOLS", "RERANKERS"]

PROTOCOLS: tuple[str, ...] = ("item_to_item", "continuation")
#: re-ranker kind -> its one parameter (swept over the values a config lists)
RERANKERS: dict[str, str] = {"popularity_penalty": "dial", "xquad": "lam", "mmr": "lam"}


@dataclass
class QuerySet:
    """Queries of one split.

    Attributes
    ----------
    seeds : list of int64 arrays
        Seed item rows of each query (one for item-to-item).
    relevant : list of int64 arrays
        Relevant item rows of each query (seeds never among them).
    """

    seeds: list[np.ndarray]
    relevant: list[np.ndarray]

    def __len__(self) -> int:
        return len(self.seeds)

    @property
    def single(self) -> bool:
        return all(len(s) == 1 for s in self.seeds)


def item_to_item(truth: Truth, rows: np.ndarray) -> QuerySet:
    """One query per row: seed = the row, relevant = ``truth.relevant``."""
    rows = np.asarray(rows, dtype=np.int64)
    return QuerySet([rows[i:i + 1] for i in range(len(rows))], truth.relevant(rows))


def continuation(truth: Truth, group_ids: np.ndarray, *, n_seeds: int, seed: int) -> QuerySet:
    """One query per playlist: ``n_seeds`` of its artists drawn with ``seed`` (per playlist) as seeds, the rest
    relevant. Playlists with fewer than ``n_seeds + 1`` artists are skipped by the caller (see
    :func:`continuation_candidates`)."""
    if truth.groups is None:
        raise ValueError(f"the {truth.name!r} truth has no playlists; continuation needs playlist groups")
    seeds, relevant = [], []
    for g in np.asarray(group_ids, dtype=np.int64).tolist():
        items = truth.groups[g]
        rng = np.random.default_rng([seed, g])
        pick = np.zeros(len(items), dtype=bool)
        pick[rng.choice(len(items), size=n_seeds, replace=False)] = True
        seeds.append(items[pick])
        relevant.append(items[~pick])
    return QuerySet(seeds, relevant)


def continuation_candidates(truth: Truth, n_seeds: int) -> np.ndarray:
    """Indices of the playlists long enough to leave at least one relevant artist after ``n_seeds`` seeds."""
    if truth.groups is None:
        raise ValueError(f"the {truth.name!r} truth has no playlists; continuation needs playlist groups")
    return np.flatnonzero([len(g) > n_seeds for g in truth.groups]).astype(np.int64)


def candidate_pools(scorer: Any, queries: QuerySet, size: int, *, batch: int = 1024) -> tuple[np.ndarray, np.ndarray]:
    """Pools of ``size`` candidates per query, best first.

    Parameters
    ----------
    scorer : object with ``similar_items(rows, n) -> (ids, scores)``
        A fitted model or a baseline.
    queries : QuerySet
    size : int
        Pool width (the re-rankers choose k from it).

    Returns
    -------
    ids : ndarray of int64, shape (n_queries, size), padded with -1
    scores : ndarray of float64, shape (n_queries, size), higher = better, padded with -inf
    """
    q = len(queries)
    ids = np.full((q, size), -1, dtype=np.int64)
    scores = np.full((q, size), -np.inf)
    if q == 0:
        return ids, scores
    uniq = np.unique(np.concatenate(queries.seeds))
    # one batched call for every distinct seed; a blend needs each seed's pool once
    pool_ids = np.full((len(uniq), size), -1, dtype=np.int64)
    pool_sc = np.full((len(uniq), size), -np.inf)
    for s in range(0, len(uniq), batch):
        i, sc = scorer.similar_items(uniq[s:s + batch], size)
        pool_ids[s:s + batch], pool_sc[s:s + batch] = i, sc
    pos = {int(r): j for j, r in enumerate(uniq)}
    for qi, seeds in enumerate(queries.seeds):
        if len(seeds) == 1:
            j = pos[int(seeds[0])]
            ids[qi], scores[qi] = pool_ids[j], pool_sc[j]
        else:
            parts = [(pool_ids[pos[int(s)]], pool_sc[pos[int(s)]]) for s in seeds]
            ids[qi], scores[qi] = blend_seeds(parts, exclude=seeds, n=size)
    return ids, scores


def rerank(ids: np.ndarray, scores: np.ndarray, k: int, spec: Mapping[str, Any] | None = None, *,
           pop: np.ndarray, vectors: Any = None, threshold: float | None = None,
           pop_max: float | None = None) -> np.ndarray:
    """The top-k of each pool, after the re-ranker ``spec`` (None = the model order).

    ``spec`` is ``{"kind": "popularity_penalty", "dial": d}``, ``{"kind": "xquad", "lam": l}`` or
    ``{"kind": "mmr", "lam": l}`` (MMR needs ``vectors``). Returns int64 (n_queries, k) padded with -1.
    """
    if spec is None:
        out = ids[:, :k]
    elif spec["kind"] == "popularity_penalty":
        out, _ = popularity_penalty(ids, scores, pop, dial=float(spec["dial"]), n=k, pop_max=pop_max)
    elif spec["kind"] == "xquad":
        out, _ = xquad(ids, scores, pop, lam=float(spec["lam"]), n=k, threshold=threshold,
                       variant=str(spec.get("variant", "binary")))
    elif spec["kind"] == "mmr":
        if vectors is None:
            raise ValueError("the mmr re-ranker needs item vectors")
        out, _ = mmr(ids, scores, vectors, lam=float(spec["lam"]), n=k)
    else:
        raise ValueError(f"re-ranker kind must be one of {sorted(RERANKERS)}, got {spec['kind']!r}")
    if out.shape[1] < k:
        out = np.pad(out, ((0, 0), (0, k - out.shape[1])), constant_values=-1)
    return np.asarray(out, dtype=np.int64)


def spec_label(spec: Mapping[str, Any] | None) -> str:
    """Short text for a re-ranker setting: "none", "popularity_penalty dial=0.5", "xquad lam=0.3"."""
    if spec is None:
        return "none"
    p = RERANKERS[spec["kind"]]
    return f"{spec['kind']} {p}={spec[p]:g}"


def specs_of(rerankers: Sequence[Mapping[str, Any]]) -> list[dict]:
    """Expand config re-rankers ``{"kind": "xquad", "lam": [0.1, 0.2]}`` into one spec per value."""
    out = []
    for r in rerankers:
        p = RERANKERS[r["kind"]]
        for v in r[p]:
            out.append({**{k: v2 for k, v2 in r.items() if k != p}, p: float(v)})
    return out
