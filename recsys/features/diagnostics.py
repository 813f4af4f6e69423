"""How well a feature space places artists: neighbour agreement with a known grouping (e.g. the demo's hidden
communities). Used to tune the default weights and by the quality tests."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from ..catalog import Catalog
from .collaborations import collab_incidence
from .compilations import SharedCompilations
from .labels import LabelTfidf
from .playlists import PlaylistCoMembership

__all__ = ["linked_artists", "neighbour_agreement", "sample_queries"]


def linked_artists(catalog: Catalog) -> np.ndarray:
    """Mask (n_artists,) of artists with at least one link: a collaboration, or a label, compilation or playlist
    shared with another artist."""
    mask = np.diff(collab_incidence(catalog).indptr) > 0
    for cls in (LabelTfidf, SharedCompilations, PlaylistCoMembership):
        mask |= np.diff(cls().fit(catalog).link_counts(catalog).indptr) > 0
    return mask


def sample_queries(eligible: np.ndarray, n: int = 500, seed: int = 0) -> np.ndarray:
    """``n`` (or all, if fewer) random rows where ``eligible`` is True, sorted; deterministic for a seed."""
    rows = np.flatnonzero(eligible)
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(rows, size=min(n, len(rows)), replace=False))


def neighbour_agreement(X: sp.spmatrix | np.ndarray, groups: np.ndarray, queries: np.ndarray, *, k: int = 10
                        ) -> float:
    """Share of the top-``k`` exact-cosine neighbours of ``queries`` that are in the query's group.

    Missing neighbours (an artist with fewer than ``k`` items of cosine > 0) count as misses, so a space that
    cannot place an artist scores 0 for it.

    Parameters
    ----------
    X : (n_items, n_features) matrix
    groups : ndarray, shape (n_items,)
        Group label per item.
    queries : ndarray of int
        Query rows.
    k : int
        Neighbours per query.
    """
    from ..models.exact import ExactCosine  # features must not depend on models at import time

    ids, _ = ExactCosine().fit(X).similar_items(np.asarray(queries, dtype=np.int64), k)
    groups = np.asarray(groups)
    hit = (ids >= 0) & (groups[np.maximum(ids, 0)] == groups[np.asarray(queries)][:, None])
    return float(hit.mean())
