"""The public entry point for discovery: a catalog, a feature space, a similarity model and the long-tail layer.

Mental model: *seeds in (ids, URIs, URLs or names), an explained, re-ranked neighbour table out.*

:class:`Recommender` is what the CLI, the Streamlit app and the experiments call; it owns no numerics of its
own beyond orchestration: features come from :mod:`recsys.features`, neighbours from a
:class:`~recsys.models.base.SimilarityModel`, re-ranking from :mod:`recsys.longtail`, reasons from
:mod:`recsys.explain`.

A built recommender is saved as a directory::

    recommender.json      format, version, kind (artist/track), model name, the catalog it was built from
                          (path and manifest SHA-256) and the SHA-256 of every file below
    model/                the fitted model (recsys.artifacts: model.json + arrays.npz)
    features.npz          the combined item vectors X (CSR arrays), allow_pickle=False
    features.parquet      one row per feature column: family, name
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import tempfile
import time
import weakref
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import scipy.sparse as sp

from . import __version__
from .artifacts import load_model, read_versioned_json, save_model
from .atomic import atomic_dir, sha256_file
from .catalog import Catalog, EntityIndex
from .errors import CatalogError, ModelFileError, RecsysError
from .explain import Explainer
from .facets import Facets, item_facets
from .features._links import return_freed_memory
from .features.space import FeatureSpace, build_artist_space, build_track_space
from .longtail import blend_seeds, hidden_gems, mmr, popularity_penalty
from .mapped import load_csr, write_csr
from .models import MODEL_REGISTRY, SimilarityModel
from .strings import StringColumn

__all__ = ["Recommender", "RECOMMENDER_FORMAT_VERSION", "Kind"]

RECOMMENDER_FORMAT = "recsys-recommender"
RECOMMENDER_FORMAT_VERSION = 1
Kind = str  # "artist" or "track"
_KINDS = ("artist", "track")


def _catalog_fingerprint(catalog: Catalog) -> str:
    return sha256_file(catalog.path / "manifest.json")


#: item vectors at least this large (CSR bytes) are fitted on from a scratch file, memory-mapped (``map_rows``)
_MAP_ROWS_BYTES = 1 << 28


def _csr_bytes(X: sp.csr_matrix) -> int:
    return int(X.data.nbytes + X.indices.nbytes + X.indptr.nbytes)


def _rows_on_disk(X: sp.csr_matrix) -> sp.csr_matrix:
    """``X`` written to a scratch ``.npz`` in the temporary directory and read back memory-mapped (read-only).

    The file is unlinked as soon as it is mapped: the mapping keeps it readable, its space is freed when the last
    array over it goes, and nothing is left behind if the process is stopped. Where a mapped file cannot be
    unlinked (Windows) it is removed when the arrays go, or at exit.
    """
    X = sp.csr_matrix(X)
    hint = "free space there, point TMPDIR at a writable disk with room, or build with map_rows=False"
    try:
        scratch = Path(tempfile.mkdtemp(prefix="recsys-rows-"))
    except OSError as e:
        raise RecsysError(f"cannot make a scratch directory for the item vectors in {tempfile.gettempdir()!r}: {e}",
                          hint=hint) from e
    try:
        write_csr(scratch / "features.npz", X)
        mapped = load_csr(scratch / "features.npz", mapped=True)
    except OSError as e:
        shutil.rmtree(scratch, ignore_errors=True)
        raise RecsysError(f"cannot write the item vectors ({_csr_bytes(X) / 2**20:.0f} MB) to {str(scratch)!r}: {e}",
                          hint=hint) from e
    except BaseException:  # Ctrl-C included: no scratch file is left
        shutil.rmtree(scratch, ignore_errors=True)
        raise
    try:
        shutil.rmtree(scratch)
    except OSError:  # the file is still mapped and this platform will not unlink it
        weakref.finalize(mapped.data, shutil.rmtree, scratch, True)
    return mapped


def _model_class(model: str, params: Mapping[str, Any] | None) -> type[SimilarityModel]:
    """The registered model class, after checking the name and the parameter names."""
    if model not in MODEL_REGISTRY:
        raise ValueError(f"model must be one of {sorted(MODEL_REGISTRY)}, got {model!r}")
    cls_ = MODEL_REGISTRY[model]
    known = cls_._param_names()
    unknown = sorted(set(params or {}) - set(known))
    if unknown:
        raise ValueError(f"model {model!r} has no parameter(s) {unknown}; its parameters are {known}")
    return cls_


class Recommender:
    """Neighbours for artists or tracks of one catalog.

    Build with :meth:`build`, or open a saved one with :meth:`load`; then call :meth:`neighbours`.

    Parameters
    ----------
    catalog : Catalog
    space : FeatureSpace
        Item vectors the model was fitted on (also used for explanations and diversity).
    model : SimilarityModel
        A fitted model over the rows of ``space.X``.
    """

    def __init__(self, catalog: Catalog, space: FeatureSpace, model: SimilarityModel) -> None:
        if space.kind not in _KINDS:
            raise ValueError(f"space.kind must be one of {_KINDS}, got {space.kind!r}")
        if not model.is_fitted or model.n_items_ != space.X.shape[0]:
            raise ValueError(f"model must be fitted on the space's {space.X.shape[0]} items")
        self.catalog, self.space, self.model = catalog, space, model
        self.kind: Kind = space.kind
        self.explainer = Explainer(catalog, space.X, space.blocks, space.feature_names)
        self.index: EntityIndex = catalog.artists if self.kind == "artist" else catalog.tracks
        self.popularity = np.asarray(self.index.popularity, dtype=np.float64)
        self.build_info: dict[str, Any] = {}

    # -- building --------------------------------------------------------------------------------------------
    @classmethod
    def build(cls, catalog: Catalog, *, model: str = "exact_cosine", params: Mapping[str, Any] | None = None,
              kind: Kind = "artist", weights: Mapping[str, float] | None = None,
              family_params: Mapping[str, Mapping[str, Any]] | None = None, progress: bool = False,
              map_rows: bool | None = None) -> Recommender:
        """Build features and fit a model.

        Parameters
        ----------
        model : str
            A name in :data:`recsys.models.MODEL_REGISTRY` ("exact_cosine", "itemknn", "als", "hnsw").
        params : dict, optional
            Model constructor parameters; unknown names raise ``ValueError`` listing the known ones.
        kind : {"artist", "track"}
        weights : dict, optional
            Feature-family weights (see ``recsys.features.space.DEFAULT_WEIGHTS``).
        family_params : dict, optional
            Constructor parameters per artist feature family, e.g. ``{"inferred_genres": {"max_dense_cells":
            600_000_000}}`` (see :func:`recsys.features.space.build_artist_space`).
        map_rows : bool, optional
            Write the item vectors X to a scratch file (in the temporary directory, ``TMPDIR``) and fit the model
            on them read back memory-mapped, so the fit holds the model and not X (9 GB at the full dump; the file
            is unlinked at once and its space freed when the recommender goes). None: when X takes at least
            256 MB (about 450k artists). The neighbours are the same either way.
        """
        if kind not in _KINDS:
            raise ValueError(f"kind must be one of {_KINDS}, got {kind!r}")
        cls_ = _model_class(model, params)
        n_items = catalog.num_rows("artists" if kind == "artist" else "tracks")
        if n_items < 2:
            what = "artists" if kind == "artist" else "tracks"
            raise RecsysError(f"catalog {str(catalog.path)!r} has {n_items} {what}; neighbours need at least 2",
                              hint="ingest a larger source or slice" if kind == "artist" else
                              "this catalog has no track table to speak of; build artist neighbours instead")
        params = dict(params or {})
        t0 = time.perf_counter()
        space = build_artist_space(catalog, weights=weights, progress=progress, family_params=family_params)
        if kind == "track":
            space = build_track_space(catalog, space, weights=weights)
        # the fitted families were needed for the track space only; genre inference alone keeps ~140 bytes an artist
        space = dataclasses.replace(space, transformers={})
        if map_rows or (map_rows is None and _csr_bytes(space.X) >= _MAP_ROWS_BYTES):
            space = dataclasses.replace(space, X=_rows_on_disk(space.X))
        # what the feature build freed goes back to the system before the model is fitted: glibc keeps freed
        # small arrays in its heaps otherwise (56 MB after a feature build of 300k generated artists)
        return_freed_memory()
        t1 = time.perf_counter()
        fitted = cls_(**params).fit(space.X)
        t2 = time.perf_counter()
        rec = cls(catalog, space, fitted)
        rec.build_info = {"features_seconds": round(t1 - t0, 3), "fit_seconds": round(t2 - t1, 3)}
        return rec

    # -- saving ----------------------------------------------------------------------------------------------
    def save(self, path: str | os.PathLike, *, force: bool = False) -> Path:
        """Write the recommender directory (atomically; refused if it exists unless ``force``)."""
        with atomic_dir(path, force=force, what="model") as tmp:
            save_model(self.model, tmp / "model", metadata={"kind": self.kind})
            write_csr(tmp / "features.npz", self.space.X)
            pq.write_table(self.space.columns_table(), tmp / "features.parquet")
            files = ["features.npz", "features.parquet", "model/model.json", "model/arrays.npz"]
            info = {
                "format": RECOMMENDER_FORMAT,
                "format_version": RECOMMENDER_FORMAT_VERSION,
                "recsys_version": __version__,
                "kind": self.kind,
                "model": self.model.name,
                "params": self.model.get_params(),
                "weights": dict(self.space.weights),
                "blocks": [[fam, sl.start, sl.stop] for fam, sl in self.space.blocks],
                "catalog": {"path": str(self.catalog.path.resolve()),
                            "manifest_sha256": _catalog_fingerprint(self.catalog)},
                "build": self.build_info,
                "files": {f: sha256_file(tmp / f) for f in files},
            }
            (tmp / "recommender.json").write_text(json.dumps(info, indent=2, ensure_ascii=False) + "\n",
                                                  encoding="utf-8")
        return Path(path)

    @classmethod
    def load(cls, path: str | os.PathLike, catalog: Catalog | str | os.PathLike | None = None) -> Recommender:
        """Open a saved recommender; ``catalog`` defaults to the one it was built from (checked by checksum)."""
        p = Path(path)
        info = read_recommender_info(p)
        for name, digest in info["files"].items():
            f = p / name
            if not f.is_file():
                raise ModelFileError(f"model directory {str(p)!r} lacks {name}", hint="rebuild it with `recsys build`")
            if sha256_file(f) != digest:
                raise ModelFileError(f"{str(f)!r} does not match its checksum in recommender.json: damaged or altered",
                                     hint="rebuild it with `recsys build`")
        if catalog is None:
            catalog = info["catalog"]["path"]
        if not isinstance(catalog, Catalog):
            catalog = Catalog.open(catalog)
        if _catalog_fingerprint(catalog) != info["catalog"]["manifest_sha256"]:
            raise CatalogError(f"model {str(p)!r} was built from another catalog than {str(catalog.path)!r}",
                               hint="pass the catalog it was built from, or rebuild the model on this one")
        model, _ = load_model(p / "model")
        # big item vectors are read through a memory map, like the rows a model maps (HNSW): pages are read when
        # used and the kernel may drop them again; small ones are read, and shared with the model when it keeps
        # the same rows, so they are held once
        mapped = (p / "features.npz").stat().st_size >= _MAP_ROWS_BYTES
        X = load_csr(p / "features.npz", mapped=mapped)
        if not mapped:
            model.share_rows(X)
        names = StringColumn(pq.read_table(p / "features.parquet", columns=["name"]).column("name"))
        blocks = [(fam, slice(int(a), int(b))) for fam, a, b in info["blocks"]]
        space = FeatureSpace(X=X, blocks=blocks, feature_names=names, weights=dict(info["weights"]),
                             kind=info["kind"])
        rec = cls(catalog, space, model)
        rec.build_info = info.get("build", {})
        return rec

    @property
    def facets(self) -> Facets:
        """Release era and markets of every item, for filters (built on first use, then cached)."""
        return item_facets(self.catalog, self.kind)

    def with_model(self, model: str, params: Mapping[str, Any] | None = None) -> Recommender:
        """A recommender over the same catalog and feature space with another model fitted (features reused).

        Parameters
        ----------
        model : str
            A name in :data:`recsys.models.MODEL_REGISTRY`.
        params : dict, optional
            Its constructor parameters.
        """
        cls_ = _model_class(model, params)
        t0 = time.perf_counter()
        fitted = cls_(**dict(params or {})).fit(self.space.X)
        rec = type(self)(self.catalog, self.space, fitted)
        rec.build_info = {**self.build_info, "fit_seconds": round(time.perf_counter() - t0, 3)}
        return rec

    def track_recommender(self, *, model: str = "exact_cosine", params: Mapping[str, Any] | None = None,
                          weights: Mapping[str, float] | None = None) -> Recommender:
        """A track recommender over the same catalog, built from this artist recommender's feature space.

        Track vectors are the track's own features (audio, era, markets, playlists) next to its artists'
        vectors (see :func:`recsys.features.space.build_track_space`), so the artist features are not rebuilt.
        """
        if self.kind != "artist":
            raise ValueError("track_recommender needs an artist recommender (this one relates tracks already)")
        if self.catalog.num_rows("tracks") < 2:
            raise RecsysError(f"catalog {str(self.catalog.path)!r} has {self.catalog.num_rows('tracks')} tracks; "
                              "track neighbours need at least 2", hint="use artist neighbours for this catalog")
        cls_ = _model_class(model, params)
        t0 = time.perf_counter()
        space = build_track_space(self.catalog, self.space, weights=weights)
        t1 = time.perf_counter()
        rec = type(self)(self.catalog, space, cls_(**dict(params or {})).fit(space.X))
        rec.build_info = {"features_seconds": round(t1 - t0, 3), "fit_seconds": round(time.perf_counter() - t1, 3)}
        return rec

    # -- querying --------------------------------------------------------------------------------------------
    def resolve(self, seed: str | int) -> int:
        """Row of a seed given as a row number, Spotify id, URI, URL or exact name."""
        if isinstance(seed, (int, np.integer)) and not isinstance(seed, bool):
            if not 0 <= int(seed) < len(self.index):
                raise IndexError(f"{self.kind} row {seed} is outside 0..{len(self.index) - 1}")
            return int(seed)
        return self.index.resolve(str(seed))

    def neighbours(self, seeds: str | int | Sequence[str | int], n: int = 10, *,
                   seed_weights: Sequence[float] | None = None, dial: float = 0.0,
                   min_popularity: float | None = None, max_popularity: float | None = None,
                   era: tuple[float, float] | None = None, market: str | None = None,
                   diversity: float = 0.0, exclude: Sequence[str | int] = (), gems: bool = False,
                   explain: bool = True, pool: int | None = None) -> pd.DataFrame:
        """Explained neighbours of one or several seeds, re-ranked by the long-tail options.

        Parameters
        ----------
        seeds : seed or list of seeds
            Rows, Spotify ids, URIs, URLs or exact names (ambiguous names raise ``AmbiguousNameError``).
        n : int
            Rows to return (fewer when the catalog or filters leave fewer).
        seed_weights : list of float, optional
            Weight per seed when blending several (default equal).
        dial : float in [0, 1]
            0 = mainstream (model order), 1 = deep cuts (strong popularity penalty).
        min_popularity, max_popularity : float, optional
            Keep neighbours inside this popularity band (inclusive).
        era : (first year, last year), optional
            Keep neighbours released in these years (inclusive; an artist's year is its median release year).
        market : str, optional
            Keep neighbours with a release available in this market (ISO code, e.g. "SE").
        diversity : float in [0, 1]
            0 = relevance only; higher spreads the list out (MMR over the feature vectors).
        exclude : list of seeds
            Items never to return (e.g. "hide this artist"), given like seeds.
        gems : bool
            Keep only "hidden gems": strong neighbours far less popular than the (first) seed.
        explain : bool
            Add the ``explanation`` column.

        Returns
        -------
        DataFrame
            One row per neighbour, best first: rank, row, id, name, popularity, followers (artists) or
            artists/album (tracks), score (higher = closer, after re-ranking), model_score, explanation.
        """
        seed_list = list(seeds) if isinstance(seeds, (list, tuple)) else [seeds]
        if not seed_list:
            raise ValueError("seeds must name at least one artist or track, got none")
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
            raise ValueError(f"n must be a positive integer, got {n!r}")
        for name, v in (("dial", dial), ("diversity", diversity)):
            if not 0.0 <= float(v) <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1, got {v!r}")
        if (min_popularity is not None and max_popularity is not None and min_popularity > max_popularity):
            raise ValueError(f"min_popularity ({min_popularity}) must not exceed max_popularity ({max_popularity})")
        rows = [self.resolve(s) for s in seed_list]
        weights = list(seed_weights) if seed_weights is not None else [1.0] * len(rows)
        if len(weights) != len(rows):
            raise ValueError(f"seed_weights must have one weight per seed ({len(rows)}), got {len(weights)}")
        excluded = {self.resolve(s) for s in exclude} | set(rows)
        n_items = self.model.n_items_
        allowed = np.ones(n_items, dtype=bool)
        allowed[list(excluded)] = False
        if min_popularity is not None:
            allowed &= self.popularity >= float(min_popularity)
        if max_popularity is not None:
            allowed &= self.popularity <= float(max_popularity)
        if era is not None or market is not None:
            allowed &= self.facets.allowed(era=era, market=market)
        size = int(pool or max(10 * n, 100))
        size = max(1, min(size, int(allowed.sum())))
        if not allowed.any():
            return self._frame(np.zeros(0, np.int64), np.zeros(0), np.zeros(0), rows[0], explain)
        kwargs = {"candidates": np.flatnonzero(allowed)} if allowed.sum() < n_items - len(excluded) else \
            {"exclude": np.fromiter(excluded, dtype=np.int64)}
        results = [self.model.similar_items(r, size, **kwargs) for r in rows]
        if len(rows) == 1:
            ids, scores = results[0]
        else:
            ids, scores = blend_seeds(results, weights, exclude=np.fromiter(excluded, dtype=np.int64), n=size)
        model_score = dict(zip(ids.tolist(), scores.tolist()))
        if gems:
            ids, scores = hidden_gems(ids, scores, self.popularity, float(self.popularity[rows[0]]), n=size)
        if dial > 0:
            ids, scores = popularity_penalty(ids, scores, self.popularity, dial=float(dial), n=size)
        if diversity > 0:
            ids, scores = mmr(ids, scores, self.space.X, lam=1.0 - float(diversity), n=size)
        keep = ids >= 0
        ids, scores = ids[keep][:n], scores[keep][:n]
        return self._frame(ids, scores, np.array([model_score.get(int(i), np.nan) for i in ids]), rows[0], explain)

    def _frame(self, ids: np.ndarray, scores: np.ndarray, model_scores: np.ndarray, query: int,
               explain: bool) -> pd.DataFrame:
        df = pd.DataFrame({"rank": np.arange(1, len(ids) + 1), "row": ids.astype(np.int64),
                           "id": [self.index.ids[i] for i in ids], "name": [self.index.names[i] for i in ids],
                           "popularity": self.popularity[ids].astype(int) if len(ids) else np.zeros(0, int),
                           "score": np.round(scores.astype(float), 4),
                           "model_score": np.round(model_scores.astype(float), 4)})
        if self.kind == "artist" and self.index.followers is not None:
            df["followers"] = [self.index.describe(i).get("followers") for i in ids]
        if explain:
            df["explanation"] = self.explainer.explain_text(query, ids.tolist()) if len(ids) else []
        return df

    def neighbour_table(self, n: int = 10, *, rows: Sequence[int] | None = None, dial: float = 0.0,
                        explain: bool = True, batch: int = 512, progress: bool = False):
        """Neighbours of many items at once, as DataFrames of up to ``batch`` queries each (a generator).

        Columns: query_row, query_id, rank, row, id, score, explanation. Uses batched model queries; the dial
        re-ranks a pool of ``max(10 * n, 100)`` per query. Rows with fewer neighbours are simply shorter.
        """
        from tqdm.auto import tqdm

        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
            raise ValueError(f"n must be a positive integer, got {n!r}")
        if not 0.0 <= float(dial) <= 1.0:
            raise ValueError(f"dial must be between 0 and 1, got {dial!r}")
        all_rows = np.arange(self.model.n_items_) if rows is None else np.asarray(rows, dtype=np.int64)
        size = min(max(10 * n, 100), self.model.n_items_ - 1) if dial > 0 else n
        bar = tqdm(total=len(all_rows), desc="neighbours", unit=self.kind, disable=not progress)
        try:
            for start in range(0, len(all_rows), batch):
                q = all_rows[start:start + batch]
                ids, scores = self.model.similar_items(q, size)
                if dial > 0:
                    ids, scores = popularity_penalty(ids, scores, self.popularity, dial=float(dial), n=size)
                ids, scores = ids[:, :n], scores[:, :n]
                qi, rank = np.nonzero(ids >= 0)
                nb = ids[qi, rank]
                frame = pd.DataFrame({"query_row": q[qi], "query_id": self.index.ids[q[qi]], "rank": rank + 1,
                                      "row": nb, "id": self.index.ids[nb],
                                      "score": np.round(scores[qi, rank].astype(float), 4)})
                if explain:
                    texts = []
                    for k, qr in enumerate(q):
                        texts.extend(self.explainer.explain_text(int(qr), nb[qi == k].tolist()))
                    frame["explanation"] = texts
                bar.update(len(q))
                yield frame
        finally:
            bar.close()

    def describe(self, seed: str | int) -> dict:
        """The seed card: id, name, popularity (and followers) of one item."""
        return self.index.describe(self.resolve(seed))


def read_recommender_info(path: str | os.PathLike) -> dict:
    """Read and check ``recommender.json`` (format and version)."""
    return read_versioned_json(path, "recommender.json", RECOMMENDER_FORMAT, RECOMMENDER_FORMAT_VERSION)
