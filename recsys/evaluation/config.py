"""Experiment configuration: a TOML file, checked field by field before anything runs.

Mental model: *a config names a catalog, the truths to test against, the models with their parameters and
the long-tail settings; every mistake is reported with the field's path* (``models[2].params.K``,
``evaluations[0].truth``). Relative paths are relative to the config file.

Example (``experiments/tidytuesday.toml`` in the repository is a full one)::

    name = "tidytuesday"
    seed = 0
    k = 10                       # list length the metrics are computed at
    pool = 100                   # candidates per query the re-rankers choose from
    head_share = 0.2             # short head = most popular 20% of artists
    bootstrap = 1000             # resamples for the 95% confidence intervals (0: none)
    cache_dir = "../.cache/experiments"
    baselines = ["random", "most_popular", "genre_popular", "genre_cosine"]

    [source]                     # kind = "catalog" (path) | "tidytuesday" (songs_csv, artist_genres_csv)
    kind = "tidytuesday"         #      | "synthetic" (artists, seed: generated into cache_dir)
    songs_csv = "../../shared/data/tidytuesday-2020-01-21-spotify-songs/spotify_songs.csv"

    [features.weights]           # family weights shared by every model (defaults: recsys.features.space)
    genres = 1.0

    [[evaluations]]              # truth = playlists | mpd | collaborations | genres | communities
    name = "playlists"
    truth = "playlists"
    protocol = "item_to_item"    # or "continuation" (n_seeds of a playlist -> the rest)
    queries = 2000
    validation_share = 0.5

    [[models]]
    label = "exact_cosine"
    model = "exact_cosine"
    params = {}
    weights = { audio = 0.5 }    # per-model overrides of [features.weights]

    [longtail]
    dials = [0.0, 0.25, 0.5, 0.75, 1.0]
    rerankers = [{ kind = "xquad", lam = [0.1, 0.3] }, { kind = "mmr", lam = [0.9] }]
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

from ..errors import RecsysError
from ..features.space import FAMILIES
from ..models import MODEL_REGISTRY
from .baselines import BASELINES
from .protocols import PROTOCOLS, RERANKERS

__all__ = ["ConfigError", "ExperimentConfig", "EvaluationConfig", "ModelConfig", "SourceConfig", "load_config",
           "parse_config", "TRUTHS", "SOURCES"]

TRUTHS: tuple[str, ...] = ("playlists", "mpd", "collaborations", "genres", "communities")
SOURCES: tuple[str, ...] = ("catalog", "tidytuesday", "synthetic")


class ConfigError(RecsysError):
    """An experiment config that cannot run: the message names the field."""


@dataclass(frozen=True)
class SourceConfig:
    kind: str
    path: Path | None = None
    songs_csv: Path | None = None
    artist_genres_csv: Path | None = None
    artists: int = 0
    seed: int = 0


@dataclass(frozen=True)
class EvaluationConfig:
    name: str
    truth: str
    protocol: str = "item_to_item"
    queries: int | None = 2000
    validation_share: float = 0.5
    share: float = 0.2
    path: Path | None = None
    n_seeds: int = 5
    min_size: int = 2
    popularity: str = "catalog"


@dataclass(frozen=True)
class ModelConfig:
    label: str
    model: str
    params: dict[str, Any] = field(default_factory=dict)
    weights: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class ExperimentConfig:
    name: str
    file: Path
    source: SourceConfig
    evaluations: list[EvaluationConfig]
    models: list[ModelConfig]
    description: str = ""
    seed: int = 0
    k: int = 10
    pool: int = 100
    head_share: float = 0.2
    bootstrap: int = 1000
    cache_dir: Path | None = None
    baselines: tuple[str, ...] = BASELINES
    weights: dict[str, float] = field(default_factory=dict)
    dials: tuple[float, ...] = (0.0, 0.25, 0.5, 0.75, 1.0)
    rerankers: list[dict] = field(default_factory=list)
    rerank_models: tuple[str, ...] | None = None
    raw: dict = field(default_factory=dict, repr=False)


# --- field checks ------------------------------------------------------------------------------------------------

def _keys(table: Any, where: str, allowed: set[str], required: tuple[str, ...] = ()) -> dict:
    if not isinstance(table, dict):
        raise ConfigError(f"{where} must be a table, got {type(table).__name__}", hint="see experiments/*.toml")
    unknown = sorted(set(table) - allowed)
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {unknown}; known: {sorted(allowed)}",
                          hint="fix the spelling or remove the key")
    for r in required:
        if r not in table:
            raise ConfigError(f"{where}.{r} is missing" if where else f"{r} is missing",
                              hint=f"add {r} = ... to the config")
    return table


def _name(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


def _int(table: dict, key: str, where: str, default: Any, *, low: int, allow_none: bool = False) -> Any:
    v = table.get(key, default)
    if v is None and allow_none:
        return None
    if isinstance(v, bool) or not isinstance(v, int) or v < low:
        raise ConfigError(f"{_name(where, key)} must be an integer >= {low}, got {v!r}",
                          hint=f"set {key} = {max(low, 1)} or more")
    return v


def _float(table: dict, key: str, where: str, default: float, *, low: float, high: float,
           open_low: bool = False, open_high: bool = False) -> float:
    v = table.get(key, default)
    ok = isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
    ok = ok and (v > low if open_low else v >= low) and (v < high if open_high else v <= high)
    if not ok:
        lo, hi = "(" if open_low else "[", ")" if open_high else "]"
        raise ConfigError(f"{_name(where, key)} must be a number in {lo}{low}, {high}{hi}, got {v!r}",
                          hint=f"change {key}")
    return float(v)


def _str(table: dict, key: str, where: str, default: Any, choices: tuple[str, ...] | None = None) -> str:
    v = table.get(key, default)
    if not isinstance(v, str) or (choices is not None and v not in choices):
        want = f"one of {list(choices)}" if choices else "a string"
        raise ConfigError(f"{_name(where, key)} must be {want}, got {v!r}", hint=f"change {key}")
    return v


def _file(table: dict, key: str, where: str, base: Path, *, required: bool, is_dir: bool = False,
          must_exist: bool = True) -> Path | None:
    v = table.get(key)
    if v is None:
        if required:
            raise ConfigError(f"{_name(where, key)} is missing", hint=f"add {key} = \"path\" (relative to the config)")
        return None
    if not isinstance(v, str) or not v:
        raise ConfigError(f"{_name(where, key)} must be a path string, got {v!r}", hint=f"change {key}")
    p = Path(os.path.expanduser(v))
    p = p if p.is_absolute() else (base / p)
    p = Path(os.path.normpath(p))
    if must_exist and not p.exists():
        raise ConfigError(f"{_name(where, key)}: {'directory' if is_dir else 'file'} {str(p)!r} does not exist",
                          hint="fix the path (relative paths are relative to the config file)")
    return p


def _weights(v: Any, where: str) -> dict[str, float]:
    if not isinstance(v, dict):
        raise ConfigError(f"{where} must be a table of family = weight, got {type(v).__name__}",
                          hint=f"families: {list(FAMILIES)}")
    out = {}
    for fam, w in v.items():
        if fam not in FAMILIES:
            raise ConfigError(f"{where}.{fam}: unknown feature family; known: {list(FAMILIES)}",
                              hint="fix the spelling or remove it")
        if isinstance(w, bool) or not isinstance(w, (int, float)) or not math.isfinite(w) or w < 0:
            raise ConfigError(f"{where}.{fam} must be a number >= 0, got {w!r}", hint="use 0 to leave a family out")
        out[fam] = float(w)
    return out


def _model(m: Any, i: int) -> ModelConfig:
    where = f"models[{i}]"
    _keys(m, where, {"label", "model", "params", "weights"}, ("model",))
    name = m["model"]
    if name not in MODEL_REGISTRY:
        raise ConfigError(f"{where}.model: unknown model {name!r}; known: {sorted(MODEL_REGISTRY)}",
                          hint="use one of the library's models")
    params = m.get("params", {})
    if not isinstance(params, dict):
        raise ConfigError(f"{where}.params must be a table, got {type(params).__name__}", hint="params = { ... }")
    known = MODEL_REGISTRY[name]._param_names()
    for p in params:
        if p not in known:
            raise ConfigError(f"{where}.params.{p}: unknown parameter of model {name!r}; its parameters are {known}",
                              hint="fix the spelling or remove it")
    label = _str(m, "label", where, name)
    return ModelConfig(label=label, model=name, params=dict(params),
                       weights=_weights(m.get("weights", {}), f"{where}.weights"))


def _evaluation(e: Any, i: int, base: Path) -> EvaluationConfig:
    where = f"evaluations[{i}]"
    _keys(e, where, {"name", "truth", "protocol", "queries", "validation_share", "share", "path", "n_seeds",
                     "min_size", "popularity"}, ("truth",))
    truth = _str(e, "truth", where, None, TRUTHS)
    protocol = _str(e, "protocol", where, "item_to_item", PROTOCOLS)
    if protocol == "continuation" and truth not in ("playlists", "mpd"):
        raise ConfigError(f"{where}.protocol: continuation needs playlists (truth 'playlists' or 'mpd'), "
                          f"got truth {truth!r}", hint="use protocol = \"item_to_item\"")
    if truth == "genres" and protocol != "item_to_item":
        raise ConfigError(f"{where}.protocol: the genres truth is evaluated item-to-item (an artist's neighbours "
                          "vote its hidden genres)", hint="drop protocol")
    path = None
    if truth == "mpd":
        path = _file(e, "path", where, base, required=True)
    elif truth == "communities":
        path = _file(e, "path", where, base, required=False)
    elif "path" in e:
        raise ConfigError(f"{where}.path: the {truth!r} truth takes no path", hint="remove path")
    popularity = _str(e, "popularity", where, "catalog", ("catalog", "groups"))
    if popularity == "groups" and truth not in ("playlists", "mpd"):
        raise ConfigError(f"{where}.popularity: 'groups' counts playlists, the {truth!r} truth has none",
                          hint="use popularity = \"catalog\"")
    return EvaluationConfig(
        name=_str(e, "name", where, f"{truth}-{protocol}"), truth=truth, protocol=protocol,
        queries=_int(e, "queries", where, 2000, low=1, allow_none=True),
        validation_share=_float(e, "validation_share", where, 0.5, low=0.0, high=1.0, open_high=True),
        share=_float(e, "share", where, 0.2, low=0.0, high=1.0, open_low=True, open_high=True), path=path,
        n_seeds=_int(e, "n_seeds", where, 5, low=1), min_size=_int(e, "min_size", where, 2, low=2),
        popularity=popularity)


def _source(s: Any, base: Path) -> SourceConfig:
    _keys(s, "source", {"kind", "path", "songs_csv", "artist_genres_csv", "artists", "seed"}, ("kind",))
    kind = _str(s, "kind", "source", None, SOURCES)
    allowed = {"catalog": {"kind", "path"}, "tidytuesday": {"kind", "songs_csv", "artist_genres_csv"},
               "synthetic": {"kind", "artists", "seed"}}[kind]
    _keys(s, "source", allowed)
    if kind == "catalog":
        p = _file(s, "path", "source", base, required=True, is_dir=True)
        if not (p / "manifest.json").is_file():
            raise ConfigError(f"source.path: {str(p)!r} is not a catalog (no manifest.json)",
                              hint="pass a directory written by `recsys ingest`")
        return SourceConfig(kind, path=p)
    if kind == "tidytuesday":
        return SourceConfig(kind, songs_csv=_file(s, "songs_csv", "source", base, required=True),
                            artist_genres_csv=_file(s, "artist_genres_csv", "source", base, required=False))
    return SourceConfig(kind, artists=_int(s, "artists", "source", None, low=50),
                        seed=_int(s, "seed", "source", 0, low=0))


def _longtail(t: Any) -> tuple[tuple[float, ...], list[dict], tuple[str, ...] | None]:
    _keys(t, "longtail", {"dials", "rerankers", "models"})
    dials = t.get("dials", [0.0, 0.25, 0.5, 0.75, 1.0])
    if not isinstance(dials, list) or not all(isinstance(d, (int, float)) and not isinstance(d, bool)
                                              and 0 <= d <= 1 for d in dials):
        raise ConfigError(f"longtail.dials must be a list of numbers in [0, 1], got {dials!r}",
                          hint="e.g. dials = [0.0, 0.5, 1.0]")
    rr = t.get("rerankers", [])
    if not isinstance(rr, list):
        raise ConfigError("longtail.rerankers must be a list of tables", hint="rerankers = [{ kind = \"xquad\", "
                                                                              "lam = [0.2] }]")
    out = []
    for i, r in enumerate(rr):
        where = f"longtail.rerankers[{i}]"
        if not isinstance(r, dict):
            raise ConfigError(f"{where} must be a table", hint="{ kind = \"xquad\", lam = [0.2] }")
        kind = _str(r, "kind", where, None, tuple(RERANKERS))
        param = RERANKERS[kind]
        _keys(r, where, {"kind", param} | ({"variant"} if kind == "xquad" else set()), (param,))
        vals = r[param] if isinstance(r[param], list) else [r[param]]
        for v in vals:
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 <= v <= 1:
                raise ConfigError(f"{where}.{param} must be numbers in [0, 1], got {r[param]!r}",
                                  hint=f"e.g. {param} = [0.2, 0.5]")
        spec = {"kind": kind, param: [float(v) for v in vals]}
        if kind == "xquad":
            spec["variant"] = _str(r, "variant", where, "binary", ("binary", "smooth"))
        out.append(spec)
    models = t.get("models")
    if models is not None and (not isinstance(models, list) or not all(isinstance(m, str) for m in models)):
        raise ConfigError(f"longtail.models must be a list of model labels, got {models!r}",
                          hint="e.g. models = [\"exact_cosine\"]")
    return tuple(float(d) for d in dials), out, tuple(models) if models is not None else None


_TOP = {"name", "description", "seed", "k", "pool", "head_share", "bootstrap", "cache_dir", "baselines", "source",
        "features", "evaluations", "models", "longtail"}


def parse_config(data: dict, file: str | os.PathLike) -> ExperimentConfig:
    """Check a parsed TOML document (see the module docstring); ``file`` anchors relative paths.

    Raises
    ------
    ConfigError
        Naming the offending field.
    """
    file = Path(file)
    base = file.parent
    _keys(data, "", _TOP, ("name", "source", "evaluations", "models"))
    name = _str(data, "name", "", None)
    if not name or "/" in name or "\\" in name:
        raise ConfigError(f"name must be a plain non-empty name, got {name!r}", hint="e.g. name = \"tidytuesday\"")
    k = _int(data, "k", "", 10, low=1)
    pool = _int(data, "pool", "", max(100, 10 * k), low=1)
    if pool < k:
        raise ConfigError(f"pool must be >= k ({k}), got {pool}", hint="re-rankers choose k items out of the pool")
    features = _keys(data.get("features", {}), "features", {"weights"})
    weights = _weights(features.get("weights", {}), "features.weights")
    evs = data["evaluations"]
    if not isinstance(evs, list) or not evs:
        raise ConfigError("evaluations must be a non-empty list of tables ([[evaluations]])",
                          hint="add an [[evaluations]] table with truth = ...")
    evaluations = [_evaluation(e, i, base) for i, e in enumerate(evs)]
    names = [e.name for e in evaluations]
    if len(set(names)) != len(names):
        raise ConfigError(f"evaluations: names must be unique, got {names}", hint="give each a distinct name")
    ms = data["models"]
    if not isinstance(ms, list) or not ms:
        raise ConfigError("models must be a non-empty list of tables ([[models]])", hint="add a [[models]] table")
    models = [_model(m, i) for i, m in enumerate(ms)]
    labels = [m.label for m in models]
    if len(set(labels)) != len(labels):
        raise ConfigError(f"models: labels must be unique, got {labels}", hint="set label = ... on each model")
    baselines = data.get("baselines", list(BASELINES))
    if not isinstance(baselines, list) or any(b not in BASELINES for b in baselines):
        raise ConfigError(f"baselines must be a list drawn from {list(BASELINES)}, got {baselines!r}",
                          hint="fix the spelling")
    clash = sorted(set(labels) & set(baselines))
    if clash:
        raise ConfigError(f"models: label(s) {clash} clash with baseline names", hint="rename the models")
    dials, rerankers, rerank_models = _longtail(data.get("longtail", {}))
    if rerank_models is not None:
        unknown = sorted(set(rerank_models) - set(labels))
        if unknown:
            raise ConfigError(f"longtail.models: unknown model label(s) {unknown}; labels: {labels}",
                              hint="name models by their label")
    cache = data.get("cache_dir", "../.cache/experiments")
    if not isinstance(cache, str) or not cache:
        raise ConfigError(f"cache_dir must be a path string, got {cache!r}", hint="e.g. cache_dir = \".cache\"")
    return ExperimentConfig(
        name=name, file=file, description=_str(data, "description", "", ""),
        seed=_int(data, "seed", "", 0, low=0), k=k, pool=pool,
        head_share=_float(data, "head_share", "", 0.2, low=0.0, high=1.0, open_low=True, open_high=True),
        bootstrap=_int(data, "bootstrap", "", 1000, low=0),
        cache_dir=Path(os.path.normpath(base / os.path.expanduser(cache))),
        source=_source(data["source"], base), evaluations=evaluations, models=models, baselines=tuple(baselines),
        weights=weights, dials=dials, rerankers=rerankers, rerank_models=rerank_models, raw=data)


def load_config(path: str | os.PathLike) -> ExperimentConfig:
    """Read and check an experiment config file.

    Raises
    ------
    ConfigError
        The file is missing, is not valid TOML, or a field is wrong (the message names it).
    """
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"config file {str(p)!r} does not exist", hint="pass --config experiments/NAME.toml")
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"config file {str(p)!r} is not valid TOML: {e}", hint="fix the syntax") from e
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"cannot read config file {str(p)!r}: {e}", hint="check the file") from e
    return parse_config(data, p)
