"""Feature builders: one module per metadata family, combined into a :class:`FeatureSpace`.

Each family is a scikit-learn style transformer: ``fit(catalog)`` learns vocabularies and weights,
``transform(catalog)`` returns a CSR float32 block (n_artists, n_features) aligned with the catalog's artists,
``get_feature_names_out()`` names its columns ``"<family>=<key>"``. :func:`build_artist_space` and
:func:`build_track_space` weight and stack the blocks.
"""

from __future__ import annotations

from collections.abc import Mapping

import scipy.sparse as sp

from ..catalog import Catalog
from .audio import AudioProfile
from .collaborations import CoCredits
from .combine import combine_blocks
from .compilations import SharedCompilations
from .era import ReleaseEra
from .genre_inference import GenreInference, evaluate_genre_inference
from .genres import GenreTfidf
from .labels import LabelTfidf
from .markets import MarketProfile
from .playlists import PlaylistCoMembership
from .popularity import PopularityBins
from .space import (
    DEFAULT_TRACK_WEIGHTS,
    DEFAULT_WEIGHTS,
    FAMILIES,
    TRACK_FAMILIES,
    FeatureSpace,
    build_artist_space,
    build_track_space,
)

__all__ = [
    "AudioProfile",
    "CoCredits",
    "DEFAULT_ARTIST_WEIGHTS",
    "DEFAULT_TRACK_WEIGHTS",
    "DEFAULT_WEIGHTS",
    "FAMILIES",
    "FeatureSpace",
    "GenreInference",
    "GenreTfidf",
    "LabelTfidf",
    "MarketProfile",
    "PlaylistCoMembership",
    "PopularityBins",
    "ReleaseEra",
    "SharedCompilations",
    "TRACK_FAMILIES",
    "build_artist_features",
    "build_artist_space",
    "build_track_space",
    "combine_blocks",
    "evaluate_genre_inference",
]

#: Block weights of the walking-skeleton artist vectors (genre TF-IDF plus popularity).
DEFAULT_ARTIST_WEIGHTS: dict[str, float] = {"genres": 1.0, "popularity": 0.25}


def build_artist_features(catalog: Catalog, weights: Mapping[str, float] | None = None
                          ) -> tuple[sp.csr_matrix, list[tuple[str, slice]], list[str]]:
    """Artist vectors from genre TF-IDF and popularity bins (the walking skeleton; see
    :func:`build_artist_space` for every family).

    Returns ``(X, block_slices, feature_names)``: X is CSR float32 (n_artists, n_features) aligned with
    ``catalog.artists``.
    """
    w = dict(DEFAULT_ARTIST_WEIGHTS)
    if weights:
        unknown = set(weights) - set(w)
        if unknown:
            raise ValueError(f"weights: unknown block(s) {sorted(unknown)}; known: {sorted(w)}")
        w.update(weights)
    space = build_artist_space(catalog, weights={**{f: 0.0 for f in FAMILIES}, **w})
    return space.X, space.blocks, list(space.feature_names)
