"""Feature builders: one module per metadata family, combined by :func:`combine_blocks`."""

from __future__ import annotations

from collections.abc import Mapping

import scipy.sparse as sp

from ..catalog import Catalog
from .combine import combine_blocks
from .genres import GenreTfidf
from .popularity import PopularityBins

__all__ = ["GenreTfidf", "PopularityBins", "combine_blocks", "build_artist_features", "DEFAULT_ARTIST_WEIGHTS"]

#: Block weights of the walking-skeleton artist vectors (genre TF-IDF plus popularity).
DEFAULT_ARTIST_WEIGHTS: dict[str, float] = {"genres": 1.0, "popularity": 0.25}


def build_artist_features(catalog: Catalog, weights: Mapping[str, float] | None = None
                          ) -> tuple[sp.csr_matrix, list[tuple[str, slice]], list[str]]:
    """Artist vectors from genre TF-IDF and popularity bins.

    Returns ``(X, block_slices, feature_names)``: X is CSR float32 (n_artists, n_features) aligned with
    ``catalog.artists``.
    """
    w = dict(DEFAULT_ARTIST_WEIGHTS)
    if weights:
        unknown = set(weights) - set(w)
        if unknown:
            raise ValueError(f"weights: unknown block(s) {sorted(unknown)}; known: {sorted(w)}")
        w.update(weights)
    g, p = GenreTfidf().fit(catalog), PopularityBins().fit(catalog)
    X, slices = combine_blocks([("genres", g.transform(catalog), w["genres"]),
                                ("popularity", p.transform(catalog), w["popularity"])])
    names = list(g.get_feature_names_out()) + list(p.get_feature_names_out())
    return X, slices, names
