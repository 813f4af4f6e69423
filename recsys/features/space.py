"""Feature spaces: every family's block, weighted and stacked into one item-vector matrix.

Mental model: *one row per artist (or track); each family's block is L2-normalised per row and scaled by
sqrt(weight), so the dot product of two rows is the weight-sum of their per-family cosines.* A weight says
directly how much a family counts; weight 0 leaves the family out (it is not even computed).

Track vectors combine a track's own metadata (its album's era, its markets, its audio features, its playlists)
with the mean of its credited artists' artist-space rows (family "artists"), so a track with no data of its own
still sits next to its artists' neighbours.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import scipy.sparse as sp
from tqdm.auto import tqdm

from ..catalog import Catalog
from ..strings import StringColumn
from ._base import topk_per_row
from ._links import CacheScope, credits, incidence
from .audio import AudioProfile
from .collaborations import CoCredits
from .combine import BlockStack, combine_blocks, spill_dir_for
from .compilations import SharedCompilations
from .era import ReleaseEra
from .genre_inference import GenreInference
from .genres import GenreTfidf
from .labels import LabelTfidf
from .markets import MarketProfile
from .playlists import PlaylistCoMembership
from .popularity import PopularityBins

__all__ = ["FAMILIES", "TRACK_FAMILIES", "DEFAULT_WEIGHTS", "DEFAULT_TRACK_WEIGHTS", "FeatureSpace",
           "build_artist_space", "build_track_space", "check_weights"]

#: artist feature families: registry name -> transformer class (``fit(catalog)``, ``transform(catalog)``)
FAMILIES: dict[str, type] = {
    "genres": GenreTfidf,
    "popularity": PopularityBins,
    "era": ReleaseEra,
    "labels": LabelTfidf,
    "markets": MarketProfile,
    "collaborations": CoCredits,
    "compilations": SharedCompilations,
    "audio": AudioProfile,
    "playlists": PlaylistCoMembership,
    "inferred_genres": GenreInference,
}

#: track feature families: the artist families with a ``transform_tracks``, plus "artists" (credited artists' mean)
TRACK_FAMILIES: tuple[str, ...] = ("era", "markets", "audio", "playlists", "artists")

#: Artist block weights, tuned on generated demos (3k and 20k artists) for how well exact-cosine neighbours
#: recover the hidden communities (top-10 same-community share for 500 linked artists: genres alone ~0.08,
#: these weights ~0.98). Every link family keeps a weight >= 0.25 even where the demo would let it drop to 0
#: (its signal is also carried by inferred genres there): on real data no single family is that reliable, and
#: the demo's audio features are more community-specific than real ones.
DEFAULT_WEIGHTS: dict[str, float] = {
    "genres": 1.0,
    "popularity": 0.0,  # popularity is the long-tail layer's dial, not a similarity: it only pulls heads together
    "era": 0.25,
    "labels": 0.25,
    "markets": 0.25,
    "collaborations": 0.5,
    "compilations": 0.25,
    "audio": 0.5,
    "playlists": 1.0,
    "inferred_genres": 0.75,
}

#: Track block weights: the credited artists' vector dominates; the track's own data refines within it.
DEFAULT_TRACK_WEIGHTS: dict[str, float] = {"era": 0.25, "markets": 0.1, "audio": 0.5, "playlists": 0.5,
                                           "artists": 1.0}


def _cache_uses(families: list[str]) -> tuple[str, ...] | None:
    """Cached relations the ``families`` read (None when one of them does not say: then everything is kept)."""
    uses: list[str] = []
    for fam in families:
        u = getattr(FAMILIES[fam], "cache_uses", None)
        if u is None:
            return None
        uses.extend(u)
    return tuple(uses)


@dataclass
class FeatureSpace:
    """Item vectors of one kind (artists or tracks) and how they were made.

    Attributes
    ----------
    X : scipy.sparse.csr_matrix, float32, shape (n_items, n_features)
        Blocks L2-normalised per row, then scaled by sqrt(weight); rows aligned with the catalog table.
    blocks : list of (family, slice)
        Column range of each family's block, in column order.
    feature_names : StringColumn, shape (n_features,)
        ``"<family>=<key>"`` per column (held in Arrow: millions of columns at full scale).
    weights : dict of str to float
        Weight of every family, 0 for the ones left out.
    kind : {"artist", "track"}
    transformers : dict of str to fitted transformer
        The fitted family transformers (empty for a space loaded from disk).
    """

    X: sp.csr_matrix
    blocks: list[tuple[str, slice]]
    feature_names: StringColumn
    weights: dict[str, float]
    kind: str
    transformers: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)
    timings: dict[str, float] = field(default_factory=dict, repr=False, compare=False)
    #: per family, after it was built: resident and peak resident memory of the process in MB (Linux; benchmarks)
    memory_mb: dict[str, dict[str, float]] = field(default_factory=dict, repr=False, compare=False)

    def block(self, family: str) -> sp.csr_matrix:
        """The (weighted) columns of one family, CSR float32 (n_items, block width)."""
        for name, sl in self.blocks:
            if name == family:
                return self.X[:, sl]
        raise KeyError(f"family {family!r} is not in this space; its blocks are {[b for b, _ in self.blocks]}")

    def columns_table(self) -> pa.Table:
        """Every column's ``family`` and ``name`` (string columns, n_features rows), as saved next to X; made in
        Arrow, with no Python string per column."""
        codes = np.full(self.X.shape[1], -1, dtype=np.int32)
        for code, (_, sl) in enumerate(self.blocks):
            codes[sl] = code
        fams = pa.DictionaryArray.from_arrays(pa.array(codes, mask=codes < 0),
                                              pa.array([f for f, _ in self.blocks], pa.string()))
        names = StringColumn(self.feature_names).to_arrow().cast(pa.string())
        return pa.table({"family": fams.cast(pa.string()), "name": names})


def check_weights(weights: Mapping[str, float] | None, defaults: Mapping[str, float]) -> dict[str, float]:
    """Defaults updated by ``weights``; raises ValueError for an unknown name, a negative or non-finite weight,
    or all weights 0."""
    w = dict(defaults)
    if weights is not None:
        if not isinstance(weights, Mapping):
            raise TypeError(f"weights must be a mapping of family name to float, got {type(weights).__name__}")
        unknown = sorted(set(weights) - set(defaults))
        if unknown:
            raise ValueError(f"weights: unknown famil{'y' if len(unknown) == 1 else 'ies'} {unknown}; "
                             f"known: {list(defaults)}")
        for k, v in weights.items():
            if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)) \
                    or not np.isfinite(v) or v < 0:
                raise ValueError(f"weights[{k!r}] must be a finite number >= 0, got {v!r}")
            w[k] = float(v)
    if not any(v > 0 for v in w.values()):
        raise ValueError(f"weights: at least one family needs a weight > 0, got {w}")
    return w


def _family_params(params: Mapping[str, Mapping[str, Any]] | None, known: Mapping[str, type]) -> dict:
    params = dict(params or {})
    unknown = sorted(set(params) - set(known))
    if unknown:
        raise ValueError(f"family_params: unknown famil{'y' if len(unknown) == 1 else 'ies'} {unknown}; "
                         f"known: {list(known)}")
    return params


def build_artist_space(catalog: Catalog, *, weights: Mapping[str, float] | None = None, progress: bool = False,
                       family_params: Mapping[str, Mapping[str, Any]] | None = None,
                       spill_dir: str | os.PathLike | bool | None = None) -> FeatureSpace:
    """Fit every family with a weight > 0 on ``catalog`` and stack the blocks into artist vectors.

    Parameters
    ----------
    catalog : Catalog
    weights : mapping of str to float, optional
        Overrides of :data:`DEFAULT_WEIGHTS` (names from :data:`FAMILIES`); 0 leaves a family out.
    progress : bool
        Show a progress bar over the families.
    family_params : mapping of str to dict, optional
        Constructor parameters per family, e.g. ``{"playlists": {"weighting": "tfidf"}}``.
    spill_dir : path, bool or None
        Where each finished family block waits, normalised and weighted, until X is stacked (it is freed from
        memory before the next family runs; genre inference, run last, is the most memory-hungry step). None (the
        default): in a private ``recsys-blocks-*`` directory inside ``tempfile.gettempdir()`` (``TMPDIR`` when
        that is a writable directory, else ``/tmp``) when the catalog has at least
        :data:`~recsys.features.combine.SPILL_MIN_ROWS` (200,000) artists, in memory below that. False: in
        memory. True: in ``tempfile.gettempdir()`` at any size. A path: in that existing directory at any size.
        Spilling needs free disk space of at most about the size of X, ~600 bytes per artist (500 measured at
        1M generated artists), ~9 GB for the full 15.4M-artist dump. X is bit for bit the same either way, and
        the private directory is removed when the build ends, fails or is interrupted.

    Returns
    -------
    FeatureSpace
        ``kind="artist"``, X of shape (n_artists, n_features), float32 CSR.

    Raises
    ------
    ValueError
        Unknown family name, negative weight, every weight 0, or a ``spill_dir`` that is no path.
    RecsysError
        ``spill_dir`` is missing or no directory, or the spill disk filled up during the build.
    """
    w = check_weights(weights, DEFAULT_WEIGHTS)
    params = _family_params(family_params, FAMILIES)
    active = [f for f in FAMILIES if w[f] > 0]
    n_artists = catalog.num_rows("artists")
    spill_to = spill_dir_for(spill_dir, n_artists)
    fitted, timings, memory = {}, {}, {}
    # each block is normalised, weighted and kept in compact row chunks (on disk for a large catalog) as soon as
    # it is made; the stack then fills X a row chunk at a time, so X and the blocks are never held whole
    # together. The with block removes the spill files however the build ends (error, Ctrl-C).
    with BlockStack(n_artists, active, spill_dir=spill_to) as stack:
        bar = tqdm(active, desc="artist features", unit="family", disable=not progress)
        # the joins the families share (credits, album links ...) are cached on the catalog while families still
        # to run read them, then dropped: at 15.4M artists they outweigh the feature matrix itself
        with CacheScope(catalog) as scope:
            for i, fam in enumerate(bar):
                bar.set_postfix_str(fam)
                t0 = time.perf_counter()
                scope.later = _cache_uses(active[i + 1:])  # a family may drop its inputs once read (done_reading)
                tr = FAMILIES[fam](**params.get(fam, {}))
                if fam == "inferred_genres":  # reuse the link families fitted above instead of fitting them again
                    tr.fit(catalog, link_families=fitted)
                else:
                    tr.fit(catalog)
                m = tr.transform(catalog)
                fitted[fam] = tr
                stack.add(fam, m, w[fam])
                del m
                scope.keep_only(scope.later)
                timings[fam] = time.perf_counter() - t0
                memory[fam] = _memory_mb()
        X, slices = stack.stack()
    # feature names last (millions at full scale), and in Arrow: no Python string per column
    names = StringColumn.concat(_feature_names(fitted[fam]) for fam in active)
    memory["combined"] = _memory_mb()
    return FeatureSpace(X=X, blocks=slices, feature_names=names, weights=w, kind="artist",
                        transformers=fitted, timings=timings, memory_mb=memory)


def _feature_names(transformer: Any) -> StringColumn:
    """A fitted family's column names, from Arrow when the family makes them there (the token families)."""
    arrow = getattr(transformer, "feature_names_arrow", None)
    return StringColumn(arrow() if arrow is not None else transformer.get_feature_names_out())


def _memory_mb() -> dict[str, float]:
    """Resident and peak resident memory of this process in MB ({} where /proc is missing)."""
    try:
        with open("/proc/self/status") as f:
            got = {ln.split(":")[0]: int(ln.split()[1]) / 1024 for ln in f if ln.startswith(("VmRSS", "VmHWM"))}
        return {"rss": round(got["VmRSS"], 1), "peak": round(got["VmHWM"], 1)}
    except (OSError, KeyError, ValueError):
        return {}


def build_track_space(catalog: Catalog, artist_space: FeatureSpace, *, weights: Mapping[str, float] | None = None,
                      artist_features: int | None = 32,
                      family_params: Mapping[str, Mapping[str, Any]] | None = None) -> FeatureSpace:
    """Track vectors: the track's own era, markets, audio and playlist blocks plus its artists' mean vector.

    The track blocks reuse the artist space's fitted transformers (vocabularies, IDF, scaling) when it has them,
    so a track and an artist speak the same features; otherwise they are fitted here.

    Parameters
    ----------
    catalog : Catalog
    artist_space : FeatureSpace
        An artist space of the same catalog (``kind="artist"``).
    weights : mapping of str to float, optional
        Overrides of :data:`DEFAULT_TRACK_WEIGHTS` (names from :data:`TRACK_FAMILIES`).
    artist_features : int or None
        Average only each artist's ``artist_features`` strongest weighted features (None: all). Every track
        repeats its artists' features, so this bounds the track matrix (on the 20k-artist demo 52M -> 19M
        nonzeros) and, there, did not lower track-neighbour quality.
    family_params : mapping of str to dict, optional
        Constructor parameters for families that must be fitted here.

    Returns
    -------
    FeatureSpace
        ``kind="track"``, X of shape (n_tracks, n_features), float32 CSR. The "artists" block keeps the artist
        feature names with the family prefixed by ``artist_`` (``"artist_genre=techno"``).
    """
    if artist_features is not None and (isinstance(artist_features, bool) or not isinstance(
            artist_features, (int, np.integer)) or artist_features < 1):
        raise ValueError(f"artist_features must be None or an int >= 1, got {artist_features!r}")
    if artist_space.kind != "artist":
        raise ValueError(f"artist_space must be an artist FeatureSpace, got kind={artist_space.kind!r}")
    n_art = catalog.num_rows("artists")
    if artist_space.X.shape[0] != n_art:
        raise ValueError(f"artist_space has {artist_space.X.shape[0]} rows but the catalog has {n_art} artists")
    w = check_weights(weights, DEFAULT_TRACK_WEIGHTS)
    params = _family_params(family_params, {f: FAMILIES[f] for f in TRACK_FAMILIES if f in FAMILIES})
    n_t = catalog.num_rows("tracks")
    blocks, names, fitted = [], [], {}
    with CacheScope(catalog):  # the joins read here are dropped before the blocks are stacked
        for fam in TRACK_FAMILIES:
            if w[fam] <= 0:
                continue
            if fam == "artists":
                c = credits(catalog)
                # mean of the credited artists' rows (each credit 1/n_credits)
                T = incidence(c.track, c.artist, (n_t, n_art))
                del c
                n_credits = np.diff(T.indptr).astype(np.float32)
                T = sp.diags(np.where(n_credits > 0, 1.0 / np.maximum(n_credits, 1.0), 0.0)) @ T
                A = artist_space.X if artist_features is None else topk_per_row(artist_space.X, int(artist_features))
                m = sp.csr_matrix(T @ A, dtype=np.float32)
                fam_names = StringColumn(pc.binary_join_element_wise(
                    pa.scalar("artist_", pa.large_string()), StringColumn(artist_space.feature_names).to_arrow(),
                    pa.scalar("", pa.large_string())))
            else:
                tr = artist_space.transformers.get(fam)
                if tr is None:
                    tr = FAMILIES[fam](**params.get(fam, {})).fit(catalog)
                fitted[fam] = tr
                m = tr.transform_tracks(catalog)
                fam_names = _feature_names(tr)
            blocks.append((fam, m, w[fam]))
            names.append(fam_names)
    X, slices = combine_blocks(blocks, release=True)  # each block is freed once copied into X
    return FeatureSpace(X=X, blocks=slices, feature_names=StringColumn.concat(names), weights=w, kind="track",
                        transformers=fitted)
