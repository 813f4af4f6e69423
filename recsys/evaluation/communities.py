"""Long-tail reach of an artist recommender: tail coverage, hidden-community recovery and the dial's effect.

Used by ``recsys tail-report``. Coverage needs only the catalog; the community measures need a ground truth
that says which artists belong together (the demo generator's ``ground_truth.parquet``).
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
import pyarrow.parquet as pq
from tqdm.auto import tqdm

from ..errors import RecsysError
from ..features._links import artists_with, artists_with_genres
from ..longtail import head_threshold, popularity_penalty
from .metrics import aplt, arp, bootstrap_ci, coverage

__all__ = ["linked_artists", "tail_report", "community_hit_rate"]


def linked_artists(catalog) -> np.ndarray:
    """Boolean mask over artist rows: artists with at least one credit, album link, compilation or playlist link.

    (A playlist link always goes through a credited track, so credits and album links cover it.)
    """
    return artists_with(catalog, "track_artists") | artists_with(catalog, "artist_albums")


def _neighbour_counts(model, rows: np.ndarray, k: int, progress: bool, batch: int = 1024) -> np.ndarray:
    counts = np.zeros(len(rows), dtype=np.int64)
    bar = tqdm(total=len(rows), desc="coverage", unit="artist", disable=not progress, leave=False)
    for s in range(0, len(rows), batch):
        ids, _ = model.similar_items(rows[s:s + batch], k)
        counts[s:s + batch] = (ids >= 0).sum(axis=1)
        bar.update(len(ids))
    bar.close()
    return counts


def community_hit_rate(ids: np.ndarray, queries: np.ndarray, community: np.ndarray) -> np.ndarray:
    """Per query: share of its k slots filled by artists of the query's community (-1 padding counts as a miss)."""
    same = (ids >= 0) & (community[np.clip(ids, 0, None)] == community[queries][:, None])
    return same.sum(axis=1) / ids.shape[1]


def tail_report(rec, *, truth: str | os.PathLike | None = None, sample: int = 2000, seed: int = 0, k: int = 10,
                dials: Sequence[float] = (0.0, 0.25, 0.5, 0.75, 1.0), head_share: float = 0.2,
                progress: bool = True) -> dict:
    """Coverage of the tail and, with ``truth``, community recovery across the dial.

    Returns a JSON-ready dict: ``coverage`` (per group: artists, with_k, share), and with a truth file
    ``communities`` (hit rate@k with 95% bootstrap CI for this model, a genre-only model and chance) and
    ``dial`` (per dial value: hit rate, APLT = share of slots outside the short head, ARP, coverage).
    """
    if rec.kind != "artist":
        raise RecsysError("tail-report measures artist neighbours; this model relates tracks",
                          hint="build an artist model: `recsys build CATALOG --kind artist`")
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError(f"k must be a positive integer, got {k!r}")
    if isinstance(sample, bool) or not isinstance(sample, int) or sample < 1:
        raise ValueError(f"sample must be a positive integer, got {sample!r}")
    cat = rec.catalog
    linked = linked_artists(cat)
    pop = rec.popularity
    has_genre = artists_with_genres(cat)
    rows = np.flatnonzero(linked)
    counts = _neighbour_counts(rec.model, rows, k, progress)
    full = counts >= k
    groups = {
        "linked artists": np.ones(len(rows), dtype=bool),
        "linked, popularity 0": pop[rows] == 0,
        "linked, no genre in the dump": ~has_genre[rows],
        "linked, popularity 0 and no genre": (pop[rows] == 0) & ~has_genre[rows],
    }
    report: dict = {"k": k, "head_share": head_share, "n_artists": int(len(pop)),
                    "coverage": {g: {"artists": int(m.sum()), "with_k": int(full[m].sum()),
                                     "share": float(full[m].mean()) if m.any() else float("nan")}
                                 for g, m in groups.items()}}
    report["coverage"]["all artists (incl. unlinked)"] = {
        "artists": int(len(pop)), "with_k": int(full.sum()), "share": float(full.sum() / max(len(pop), 1))}
    if truth is None:
        return report

    community = _communities(cat, truth)
    rng = np.random.default_rng(seed)
    queries = np.sort(rng.choice(rows, size=min(sample, len(rows)), replace=False))
    sizes = np.bincount(community[community >= 0])
    n = len(community)
    chance = float((sizes * (sizes - 1)).sum() / (n * (n - 1)))

    from ..recommend import Recommender

    models = {f"{rec.model.name} (all families)": rec}
    genre_only = Recommender.build(cat, model="exact_cosine", weights=_only("genres", rec.space.weights))
    models["exact_cosine, genres only"] = genre_only
    out = {}
    for name, r in models.items():
        ids, _ = r.model.similar_items(queries, k)
        per = community_hit_rate(ids, queries, community)
        out[name] = {"hit_rate": float(per.mean()), "ci": list(bootstrap_ci(per, seed=seed))}
    report["communities"] = {"queries": int(len(queries)), "chance": chance, "models": out}

    size = min(max(10 * k, 100), rec.model.n_items_ - 1)
    pool_ids, pool_scores = rec.model.similar_items(queries, size)
    thr = head_threshold(pop, head_share)
    sweep = []
    for d in dials:
        ids, _ = (pool_ids[:, :k], None) if d == 0 else popularity_penalty(pool_ids, pool_scores, pop, dial=float(d),
                                                                              n=size)
        ids = ids[:, :k]
        per = community_hit_rate(ids, queries, community)
        sweep.append({"dial": float(d), "hit_rate": float(per.mean()), "ci": list(bootstrap_ci(per, seed=seed)),
                      "aplt": float(aplt(ids, pop, head_share=head_share)), "arp": float(arp(ids, pop)),
                      "coverage": float(coverage(ids, len(pop))), "head_threshold": float(thr)})
    report["dial"] = sweep
    return report


def _only(family: str, weights: dict) -> dict:
    return {f: (1.0 if f == family else 0.0) for f in weights}


def _communities(catalog, truth) -> np.ndarray:
    """Community per artist row (-1 where the truth file does not know the artist)."""
    try:
        t = pq.read_table(truth, columns=["artist_id", "community"])
    except (OSError, ValueError, KeyError) as e:
        raise RecsysError(f"cannot read the ground truth {str(truth)!r}: {e}",
                          hint="pass the ground_truth.parquet that `recsys synth` wrote next to the dump") from e
    lookup = dict(zip(t.column("artist_id").to_pylist(), t.column("community").to_pylist()))
    ids = catalog.artists.ids
    community = np.fromiter((lookup.get(i, -1) for i in ids), dtype=np.int64, count=len(ids))
    if (community < 0).all():
        raise RecsysError(f"the ground truth {str(truth)!r} knows none of this catalog's artists",
                          hint="pass the ground_truth.parquet of the dump this catalog was ingested from")
    return community
