"""Run an experiment: catalog -> truths -> training views -> models and baselines -> metrics (JSON-ready).

Mental model: *for every evaluation: hide what the truth needs hidden, build the features on what is left, ask
every scorer for a pool per query, cut it to k with and without each long-tail setting, measure.*

Determinism: query samples, splits, random baselines and models are seeded (models are fitted single-threaded,
with their ``random_state``), so the same config gives the same numbers; metrics are rounded to 6 decimals when
written. Timings go to a separate ``timings`` section, which comparisons leave out.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from .. import __version__
from ..catalog import Catalog
from ..errors import RecsysError
from ..features.space import DEFAULT_WEIGHTS, FAMILIES, build_artist_space
from ..longtail import head_threshold
from ..models import MODEL_REGISTRY
from . import metrics as M
from .baselines import GenrePopular, MostPopular, RandomBaseline, genre_cosine_weights
from .config import ConfigError, EvaluationConfig, ExperimentConfig
from .protocols import (
    QuerySet,
    candidate_pools,
    continuation,
    continuation_candidates,
    item_to_item,
    rerank,
    spec_label,
    specs_of,
)
from .splits import CatalogView, sample_items, split_items
from .truths import Truth, collaboration_truth, community_truth, genre_truth, mpd_truth, playlist_truth

__all__ = ["run_experiment", "prepare_catalog", "make_truth", "training_view", "feature_weights", "RESULTS_FORMAT"]

RESULTS_FORMAT = "recsys-experiment-results"
RESULTS_VERSION = 1
ACCURACY = ("ndcg", "precision", "recall", "hit_rate", "serendipity")
_ACC_FN = {"ndcg": M.ndcg_at_k, "precision": M.precision_at_k, "recall": M.recall_at_k,
           "hit_rate": M.hit_rate_at_k}
_DIGITS = 6


def _r(x: float) -> float | None:
    """Round for the results file (stable across runs); nan -> None (JSON has no nan)."""
    x = float(x)
    return None if math.isnan(x) else round(x, _DIGITS)


# --- the catalog -------------------------------------------------------------------------------------------------

def _fingerprint(*parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:12]


def prepare_catalog(cfg: ExperimentConfig, *, progress: bool = True) -> tuple[Catalog, dict]:
    """Open (or make, once, in ``cfg.cache_dir``) the experiment's catalog. Returns (catalog, source info)."""
    s = cfg.source
    if s.kind == "catalog":
        return Catalog.open(s.path), {"kind": "catalog"}
    cache = Path(cfg.cache_dir)
    if s.kind == "tidytuesday":
        from ..sources.csv_datasets import ingest_tidytuesday

        files = [p for p in (s.songs_csv, s.artist_genres_csv) if p is not None]
        key = _fingerprint([(p.name, p.stat().st_size) for p in files], __version__)
        out = cache / f"tidytuesday-{key}" / "catalog"
        if not (out / "manifest.json").is_file():
            ingest_tidytuesday(s.songs_csv, out, artist_genres_csv=s.artist_genres_csv, force=True,
                               progress=progress)
        cat = Catalog.open(out)
        st = cat.manifest.get("stats", {})
        info = {"kind": "tidytuesday", "artists": cat.num_rows("artists"), "tracks": cat.num_rows("tracks"),
                "playlists": cat.num_rows("playlists")}
        for k in ("artist_genre_match_rate", "artist_genre_matched", "artist_genre_matched_with_genres_rate"):
            if k in st:
                info[k] = st[k]
        return cat, info
    from ..sources.annas_archive import ingest
    from ..sources.synthetic import generate_dump

    root = cache / f"synthetic-a{s.artists}-s{s.seed}"
    dump, out = root / "dump", root / "catalog"
    if not (dump / "synth_manifest.json").is_file():
        generate_dump(dump, n_artists=s.artists, seed=s.seed, force=True, progress=progress)
    if not (out / "manifest.json").is_file():
        ingest(dump, out, force=True, progress=progress)
    cat = Catalog.open(out)
    return cat, {"kind": "synthetic", "artists": s.artists, "seed": s.seed, "dump": str(dump)}


# --- truths and leakage ------------------------------------------------------------------------------------------

def make_truth(ev: EvaluationConfig, catalog: Catalog, cfg: ExperimentConfig, source_info: dict) -> Truth:
    """The evaluation's ground truth over ``catalog``."""
    if ev.truth == "playlists":
        return playlist_truth(catalog, min_size=ev.min_size)
    if ev.truth == "mpd":
        return mpd_truth(catalog, ev.path, min_size=ev.min_size)
    if ev.truth == "collaborations":
        return collaboration_truth(catalog, share=ev.share, seed=cfg.seed)
    if ev.truth == "genres":
        return genre_truth(catalog, share=ev.share, seed=cfg.seed)
    path = ev.path
    if path is None:
        if source_info.get("kind") != "synthetic":
            raise ConfigError(f"evaluation {ev.name!r}: the communities truth needs path = ground_truth.parquet "
                              "(only a synthetic source has one implicitly)", hint="add path = ... to it")
        path = Path(source_info["dump"]) / "ground_truth.parquet"
    return community_truth(catalog, path)


def training_view(catalog: Catalog, truth: Truth) -> Catalog:
    """The catalog the features may see under ``truth``: its held-out rows dropped."""
    return CatalogView(catalog, truth.drop) if truth.drop else catalog


def feature_weights(cfg: ExperimentConfig, truth: Truth, model_weights: dict[str, float] | None = None,
                    *, where: str = "features.weights") -> dict[str, float]:
    """Family weights of one model under one truth: defaults, then ``[features.weights]``, then the model's own.

    A family the truth excludes (``playlists`` when playlists are the truth) is forced to 0 when it only came from
    the defaults, and refused when the config asks for it: it would read the answer.
    """
    w = {**DEFAULT_WEIGHTS, **cfg.weights, **(model_weights or {})}
    for fam in truth.excluded_families:
        asked = (model_weights or {}).get(fam, cfg.weights.get(fam, 0.0))
        if asked > 0:
            raise ConfigError(f"{where}.{fam} = {asked}: the {fam!r} family reads the {truth.name!r} ground truth "
                              "(leakage)", hint=f"set {fam} = 0 or evaluate against another truth")
        w[fam] = 0.0
    return w


def _family_params(truth: Truth) -> dict:
    """Constructor parameters that keep excluded families out of the families built on top of others."""
    if "playlists" in truth.excluded_families:
        from ..features.genre_inference import DEFAULT_LINK_WEIGHTS

        return {"inferred_genres": {"link_weights": {**DEFAULT_LINK_WEIGHTS, "playlists": 0.0}}}
    return {}


def build_space(view: Catalog, truth: Truth, weights: dict[str, float]):
    """Artist feature space on the training view, with the truth's exclusions enforced once more."""
    w = dict(weights)
    for fam in truth.excluded_families:
        w[fam] = 0.0
    return build_artist_space(view, weights=w, family_params=_family_params(truth))


# --- queries -----------------------------------------------------------------------------------------------------

def _query_sets(ev: EvaluationConfig, truth: Truth, seed: int) -> tuple[dict[str, QuerySet], np.ndarray | None]:
    """Validation and test query sets, and for ``popularity = "groups"`` the training playlists' indices."""
    if ev.protocol == "item_to_item":
        items = sample_items(truth.candidates, ev.queries, seed)
        val, test = split_items(items, ev.validation_share, seed + 1)
        return {"validation": item_to_item(truth, val), "test": item_to_item(truth, test)}, None
    cand = continuation_candidates(truth, ev.n_seeds)
    if not len(cand):
        raise RecsysError(f"evaluation {ev.name!r}: no playlist has more than n_seeds={ev.n_seeds} artists",
                          hint="lower n_seeds")
    chosen = sample_items(cand, ev.queries, seed)
    val, test = split_items(chosen, ev.validation_share, seed + 1)
    train = np.setdiff1d(np.arange(len(truth.groups)), chosen)
    qs = {"validation": continuation(truth, val, n_seeds=ev.n_seeds, seed=seed),
          "test": continuation(truth, test, n_seeds=ev.n_seeds, seed=seed)}
    return qs, train


def _popularity(ev: EvaluationConfig, catalog: Catalog, truth: Truth, train_groups: np.ndarray | None) -> np.ndarray:
    if ev.popularity == "catalog":
        return np.asarray(catalog.artists.popularity, dtype=np.float64)
    # derived from the same playlists as the truth: count only the playlists that are not evaluated
    if train_groups is None or not len(train_groups):
        raise ConfigError(f"evaluations.{ev.name}.popularity = 'groups' needs playlists left for training",
                          hint="use protocol = \"continuation\" with queries below the number of playlists")
    pop = np.zeros(catalog.num_rows("artists"))
    for g in train_groups.tolist():
        pop[truth.groups[g]] += 1
    return pop


# --- measuring ---------------------------------------------------------------------------------------------------

def _accuracy(ids: np.ndarray, qs: QuerySet, k: int, obvious: np.ndarray, n_boot: int, seed: int) -> dict:
    out = {}
    for name in ACCURACY:
        if name == "serendipity":
            mean, per = M.serendipity_at_k(ids, qs.relevant, obvious, k)
        else:
            mean, per = _ACC_FN[name](ids, qs.relevant, k)
        entry = {"mean": _r(mean), "se": _r(M.standard_error(per))}
        if n_boot:
            lo, hi = M.bootstrap_ci(per, n_boot=n_boot, seed=seed)
            entry.update(ci_low=_r(lo), ci_high=_r(hi))
        out[name] = entry
    return out


def _beyond(ids: np.ndarray, pop: np.ndarray, vectors, head_share: float) -> dict:
    r = M.long_tail_report(ids, pop, len(pop), vectors, head_share=head_share)
    return {k: _r(r[k]) for k in ("coverage", "gini", "arp", "aplt", "aclt", "novelty", "ild", "mean_list_length")}


class _GenreVotes:
    """Genre lists from neighbour lists: each neighbour votes its (training) genres with weight 1/log2(rank + 1).

    Used for the held-out genres truth: a model that places an artist next to the right artists infers its
    hidden genres. Genre ids index ``labels`` (the truth's vocabulary).
    """

    def __init__(self, view: Catalog, labels: np.ndarray) -> None:
        from ..features._links import column_rows, incidence

        art = column_rows(view, "artist_genres", "artist_rowid", "artists")
        genre = view.column("artist_genres", "genre")
        ok = art >= 0
        col = np.searchsorted(labels, np.asarray(genre[ok], dtype=str))
        self.G = incidence(art[ok], col, (view.num_rows("artists"), len(labels)), binary=True)

    def top(self, ids: np.ndarray, k: int) -> np.ndarray:
        import scipy.sparse as sp

        q, m = ids.shape
        w = 1.0 / np.log2(np.arange(2, m + 2))
        qi, pos = np.nonzero(ids >= 0)
        W = sp.csr_matrix((w[pos], (qi, ids[qi, pos])), shape=(q, self.G.shape[0]))
        S = (W @ self.G).tocsr()
        out = np.full((q, k), -1, dtype=np.int64)
        for i in range(q):
            cols, vals = S.indices[S.indptr[i]:S.indptr[i + 1]], S.data[S.indptr[i]:S.indptr[i + 1]]
            order = np.lexsort((cols, -np.round(vals, 9)))[:k]
            out[i, :len(order)] = cols[order]
        return out


class _Scorer:
    def __init__(self, label: str, kind: str, obj: Any, vectors=None, model: str = "", params=None, weights=None):
        self.label, self.kind, self.obj, self.vectors = label, kind, obj, vectors
        self.model, self.params, self.weights = model, params or {}, weights or {}


def run_experiment(cfg: ExperimentConfig, *, progress: bool = True) -> dict:
    """Run every evaluation of ``cfg``; returns the results as a JSON-ready dict (see :mod:`.report`)."""
    t_start = time.perf_counter()
    catalog, source_info = prepare_catalog(cfg, progress=progress)
    n_items = catalog.num_rows("artists")
    timings: dict[str, Any] = {}
    out: dict[str, Any] = {
        "format": RESULTS_FORMAT, "format_version": RESULTS_VERSION, "name": cfg.name,
        "description": cfg.description,
        "settings": {"seed": cfg.seed, "k": cfg.k, "pool": cfg.pool, "head_share": cfg.head_share,
                     "bootstrap": cfg.bootstrap, "dials": list(cfg.dials), "rerankers": cfg.rerankers,
                     "baselines": list(cfg.baselines),
                     "models": [{"label": m.label, "model": m.model, "params": m.params, "weights": m.weights}
                                for m in cfg.models],
                     "features_weights": cfg.weights},
        "source": {**{k: v for k, v in source_info.items() if k != "dump"}, "n_artists": n_items},
        "evaluations": [],
    }
    specs = specs_of(cfg.rerankers)
    for ev in cfg.evaluations:
        t_ev = time.perf_counter()
        truth = make_truth(ev, catalog, cfg, source_info)
        view = training_view(catalog, truth)
        qsets, train_groups = _query_sets(ev, truth, cfg.seed)
        pop = _popularity(ev, catalog, truth, train_groups)
        thr = head_threshold(pop, cfg.head_share)
        pop_max = float(pop.max()) if len(pop) else 0.0
        # one reference space for the diversity measure (ILD), so every scorer is measured in the same space
        ref_space = build_space(view, truth, feature_weights(cfg, truth))
        scorers = _scorers(cfg, ev, truth, view, pop, ref_space, timings, progress)
        pools: dict[str, dict[str, tuple[np.ndarray, np.ndarray]]] = {}
        obvious: dict[str, np.ndarray] = {}
        mp = MostPopular(pop)
        genre_votes = _GenreVotes(view, truth.labels) if truth.labels is not None else None
        for split, qs in qsets.items():
            if genre_votes is None:
                obvious[split] = rerank(*candidate_pools(mp, qs, cfg.k), cfg.k, pop=pop)
            else:
                obvious[split] = genre_votes.top(candidate_pools(mp, qs, cfg.pool)[0], cfg.k)
        rows: list[dict] = []
        bar = tqdm(total=len(scorers), desc=f"{ev.name}: scoring", unit="model", disable=not progress)
        for sc in scorers:
            t0 = time.perf_counter()
            pools[sc.label] = {split: candidate_pools(sc.obj, qs, cfg.pool) for split, qs in qsets.items()}
            settings: list[dict | None] = [None]
            if sc.kind == "model" and genre_votes is None and (cfg.rerank_models is None
                                                               or sc.label in cfg.rerank_models):
                settings += [{"kind": "popularity_penalty", "dial": d} for d in cfg.dials if d > 0]
                settings += specs
            for spec in settings:
                for split, qs in qsets.items():
                    ids_p, sc_p = pools[sc.label][split]
                    ids = rerank(ids_p, sc_p, cfg.k, spec, pop=pop, vectors=sc.vectors if sc.vectors is not None
                                 else ref_space.X, threshold=thr, pop_max=pop_max)
                    # held-out genres: the answer is a genre list, voted by the pool's neighbours
                    answer = ids if genre_votes is None else genre_votes.top(ids_p, cfg.k)
                    row = {"scorer": sc.label, "kind": sc.kind, "reranker": spec_label(spec),
                           "rerank": spec, "split": split, "queries": len(qs),
                           **{f"{k}@{cfg.k}": v for k, v in _accuracy(
                               answer, qs, cfg.k, obvious[split], cfg.bootstrap if split == "test" else 0,
                               cfg.seed).items()},
                           **_beyond(ids, pop, ref_space.X, cfg.head_share)}
                    if split == "test" and spec is None or (split == "test" and spec is not None
                                                              and spec.get("kind") != "popularity_penalty"):
                        share, upper = M.coverage_by_decile(ids, pop, 10)
                        rec_hist, cat_hist = M.popularity_histogram(ids, pop, bins=10)
                        row["distribution"] = {"decile_coverage": [_r(x) for x in share],
                                               "decile_upper_pop": [_r(x) for x in upper],
                                               "pop_hist_recommended": rec_hist.tolist(),
                                               "pop_hist_catalog": cat_hist.tolist()}
                    rows.append(row)
            timings.setdefault(ev.name, {}).setdefault(sc.label, {})["score_seconds"] = round(
                time.perf_counter() - t0, 3)
            bar.update(1)
        bar.close()
        edges = np.histogram_bin_edges(pop, bins=10)
        n_answers = n_items if truth.labels is None else len(truth.labels) + 1
        out["evaluations"].append({
            "name": ev.name, "truth": ev.truth, "protocol": ev.protocol, "popularity": ev.popularity,
            "n_seeds": ev.n_seeds if ev.protocol == "continuation" else None,
            "truth_stats": truth.stats, "hidden_rows": {k: (int(np.asarray(v).sum()) if v is not True else "all")
                                                         for k, v in truth.drop.items()},
            "excluded_families": list(truth.excluded_families),
            "reference_space": {"families": [b for b, _ in ref_space.blocks],
                                "n_features": int(ref_space.X.shape[1])},
            "model_families": {s.label: [f for f, w in s.weights.items() if w > 0] for s in scorers if s.weights},
            "queries": {split: len(qs) for split, qs in qsets.items()},
            "head_threshold": _r(thr), "pop_hist_edges": [_r(x) for x in edges],
            "chance_precision": _r(np.mean([len(r) / max(n_answers - 1, 1) for r in qsets["test"].relevant])),
            "rows": rows,
        })
        out["evaluations"][-1]["findings"] = findings(out["evaluations"][-1], cfg.k)
        timings.setdefault(ev.name, {})["total_seconds"] = round(time.perf_counter() - t_ev, 3)
    timings["total_seconds"] = round(time.perf_counter() - t_start, 3)
    out["timings"] = timings
    return out


def _scorers(cfg: ExperimentConfig, ev: EvaluationConfig, truth: Truth, view: Catalog, pop: np.ndarray,
             ref_space, timings: dict, progress: bool) -> list[_Scorer]:
    n_items = len(pop)
    out: list[_Scorer] = []
    spaces: dict[str, Any] = {}

    def space_for(w: dict[str, float]):
        key = json.dumps(w, sort_keys=True)
        if key not in spaces:
            spaces[key] = build_space(view, truth, w)
        return spaces[key]

    for b in cfg.baselines:
        if b == "random":
            out.append(_Scorer(b, "baseline", RandomBaseline(n_items, seed=cfg.seed)))
        elif b == "most_popular":
            out.append(_Scorer(b, "baseline", MostPopular(pop)))
        elif b == "genre_popular":
            out.append(_Scorer(b, "baseline", GenrePopular(view, pop)))
        elif b == "genre_cosine":
            w = genre_cosine_weights()
            s = space_for(w)
            out.append(_Scorer(b, "baseline", MODEL_REGISTRY["exact_cosine"]().fit(s.X), s.X, "exact_cosine", {},
                               w))
    bar = tqdm(cfg.models, desc=f"{ev.name}: fitting", unit="model", disable=not progress)
    for i, m in enumerate(bar):
        w = feature_weights(cfg, truth, m.weights, where=f"models[{i}].weights")
        t0 = time.perf_counter()
        s = space_for(w)
        t1 = time.perf_counter()
        try:
            fitted = MODEL_REGISTRY[m.model](**m.params).fit(s.X)
        except (TypeError, ValueError) as e:
            raise ConfigError(f"models[{i}].params: model {m.model!r} refused its parameters: {e}",
                              hint="fix the parameter values") from e
        timings.setdefault(ev.name, {})[m.label] = {"features_seconds": round(t1 - t0, 3),
                                                   "fit_seconds": round(time.perf_counter() - t1, 3)}
        out.append(_Scorer(m.label, "model", fitted, s.X, m.model, m.params, {f: w[f] for f in FAMILIES}))
    return out


# --- findings ----------------------------------------------------------------------------------------------------

def _get(row: dict, metric: str) -> float:
    v = row[metric]["mean"] if isinstance(row[metric], dict) else row[metric]
    return math.nan if v is None else float(v)


def findings(ev: dict, k: int) -> dict:
    """The questions an experimenter asks first, answered from the rows (choices made on validation).

    * best model: the model (no re-ranking) with the highest validation nDCG@k; its test nDCG against the genre
      cosine baseline, with the share of its list outside the short head (APLT);
    * best re-ranker setting for each model: among settings losing at most 2% relative nDCG@k on validation, the
      one with the largest validation coverage gain; its test coverage gain and nDCG loss.
    """
    nd = f"ndcg@{k}"
    rows = ev["rows"]

    def pick(scorer: str, reranker: str, split: str) -> dict | None:
        return next((r for r in rows if r["scorer"] == scorer and r["reranker"] == reranker and r["split"] == split),
                    None)

    models = sorted({r["scorer"] for r in rows if r["kind"] == "model"})
    if not models:
        return {}
    best = max(models, key=lambda m: (_get(pick(m, "none", "validation"), nd), m))
    f: dict[str, Any] = {"best_model": best, "chosen_on": "validation"}
    bt = pick(best, "none", "test")
    f["best_model_test"] = {nd: _get(bt, nd), "aplt": bt["aplt"], "coverage": bt["coverage"]}
    gc = pick("genre_cosine", "none", "test")
    if gc is not None and _get(gc, nd) > 0:
        f["genre_cosine_test"] = {nd: _get(gc, nd), "aplt": gc["aplt"], "coverage": gc["coverage"]}
        f["gain_over_genre_cosine"] = _r(_get(bt, nd) / _get(gc, nd) - 1.0)
    by_model = {m: _best_reranker(rows, m, nd, pick) for m in models}
    f["rerankers_by_model"] = {m: b for m, b in by_model.items() if b is not None}
    if by_model.get(best) is not None:
        f["best_reranker"] = by_model[best]
    return f


def _best_reranker(rows: list[dict], model: str, nd: str, pick) -> dict | None:
    """Among ``model``'s settings losing <= 2% relative nDCG on validation, the largest validation coverage gain;
    with its test numbers."""
    base_v, base_t = pick(model, "none", "validation"), pick(model, "none", "test")
    if _get(base_v, nd) <= 0 or not base_v["coverage"]:
        return None
    cands = []
    for r in rows:
        if r["scorer"] != model or r["split"] != "validation" or r["reranker"] == "none":
            continue
        loss = 1.0 - _get(r, nd) / _get(base_v, nd)
        if loss <= 0.02:
            cands.append((r["coverage"] / base_v["coverage"] - 1.0, -loss, r["reranker"]))
    if not cands:
        return None
    gain_v, neg_loss_v, name = max(cands)
    t = pick(model, name, "test")
    return {"setting": name, "validation_coverage_gain": _r(gain_v), "validation_ndcg_loss": _r(-neg_loss_v),
            "test_coverage_gain": _r(t["coverage"] / base_t["coverage"] - 1.0),
            "test_ndcg_loss": _r(1.0 - _get(t, nd) / _get(base_t, nd)) if _get(base_t, nd) > 0 else None,
            "test_aplt": t["aplt"]}
