"""The artist feature space as Spark jobs: the same blocks, weights and normalisation as
:func:`recsys.features.space.build_artist_space`, computed from the catalog's Parquet tables by Spark.

Mental model: *every family is a join + group-by over the big tables that ends in (artist row, key, count);
one shared weighting step turns counts into the local engine's TF-IDF / BM25 / log / binary values; each block
is L2-normalised per artist and scaled by sqrt(weight), exactly as* :func:`recsys.features.combine.combine_blocks`.

The result is a long table of nonzeros (row, col, value) -- the CSR matrix of the local engine, one entry per
line -- plus the column names and block ranges. Families and their parameters are the local ones (the local
transformer classes are instantiated for their defaults and parameter checks, so both engines read the same
settings). Label propagation (``inferred_genres``) is not an aggregation and is not computed here: its weight is
set to 0 and a warning says so (:data:`SPARK_LEFT_OUT`).
"""

from __future__ import annotations

import logging
import math
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import scipy.sparse as sp
from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F
from pyspark.sql.functions import pandas_udf
from tqdm.auto import tqdm

from ..catalog import Catalog
from ..features._base import TokenFamily
from ..features._links import normalized_text
from ..features.audio import AudioProfile
from ..features.era import _PLAUSIBLE_YEARS, ReleaseEra
from ..features.popularity import _POP_EDGES, PopularityBins
from ..features.space import DEFAULT_WEIGHTS, FAMILIES, _family_params, check_weights
from .frames import CatalogFrames, dense_index

__all__ = ["SparkFeatureSpace", "build_spark_artist_space", "SPARK_FAMILIES", "SPARK_LEFT_OUT",
           "spark_weights"]

log = logging.getLogger(__name__)

#: families the Spark engine computes (the aggregations over the big tables)
SPARK_FAMILIES: tuple[str, ...] = ("genres", "popularity", "era", "labels", "markets", "collaborations",
                                   "compilations", "audio", "playlists")
#: families it leaves out, with the reason (their weight is set to 0)
SPARK_LEFT_OUT: dict[str, str] = {
    "inferred_genres": "label propagation over the link graph (an iterative step, not an aggregation)",
}


@dataclass
class SparkFeatureSpace:
    """Artist vectors built by Spark: the local engine's ``FeatureSpace.X`` as a table of nonzeros.

    Attributes
    ----------
    entries : DataFrame
        (row long, col int, value double): nonzero (artist row, feature column) values; each family's block
        L2-normalised per row and scaled by sqrt(weight). Rows are positions in the catalog's artists table.
    names : DataFrame
        (col int, name string): ``"<family>=<key>"`` per column, like ``FeatureSpace.feature_names``.
    blocks : list of (family, slice)
        Column range of each family, in column order (the local engine's order).
    n_rows, n_cols : int
        Shape of the matrix.
    weights : dict of str to float
        The weights used (0 for families left out).
    left_out : list of str
        Families the caller weighted > 0 but the Spark engine does not compute.
    timings : dict of str to float
        Seconds per family (Spark jobs run when the family's vocabulary is counted) and "combine".
    nnz : int
        Number of entries.
    """

    entries: DataFrame
    names: DataFrame
    blocks: list[tuple[str, slice]]
    n_rows: int
    n_cols: int
    weights: dict[str, float]
    left_out: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    nnz: int = 0

    def to_csr(self) -> sp.csr_matrix:
        """The matrix on the driver, CSR float32 (n_rows, n_cols): for small catalogs and tests only."""
        pdf = self.entries.toPandas()
        return sp.csr_matrix((pdf["value"].to_numpy(np.float32), (pdf["row"].to_numpy(np.int64),
                                                                 pdf["col"].to_numpy(np.int64))),
                             shape=(self.n_rows, self.n_cols), dtype=np.float32)

    def feature_names(self) -> np.ndarray:
        """Column names on the driver, ndarray of object (n_cols,)."""
        pdf = self.names.toPandas()
        out = np.empty(self.n_cols, dtype=object)
        out[pdf["col"].to_numpy(np.int64)] = pdf["name"].to_numpy(dtype=object)
        return out


def spark_weights(weights: Mapping[str, float] | None) -> tuple[dict[str, float], list[str]]:
    """Local weights (defaults + overrides, checked like the local engine) with the left-out families set to 0.

    Returns (weights, names of families that had a weight > 0 and were set to 0).
    """
    w = check_weights(weights, DEFAULT_WEIGHTS)
    dropped = [f for f in SPARK_LEFT_OUT if w.get(f, 0) > 0]
    for f in SPARK_LEFT_OUT:
        w[f] = 0.0
    if not any(v > 0 for v in w.values()):
        raise ValueError(f"weights: every family the Spark engine computes has weight 0 ({sorted(SPARK_FAMILIES)}); "
                         "give at least one of them a weight > 0")
    return w, dropped


# --- shared relations ---------------------------------------------------------------------------------------

class _Relations:
    """The artist-album-track relations several families start from (mirrors :mod:`recsys.features._links`);
    rows that do not resolve (dangling foreign keys) are dropped by inner joins, like the local ``-1`` rows."""

    def __init__(self, frames: CatalogFrames) -> None:
        self.f = frames

    def artists(self) -> DataFrame:
        return self.f.artist_rows()

    def credits(self) -> DataFrame:
        """(track_rowid, artist_row, primary): resolvable credits, one per (track, artist) (the earliest credit),
        primary = the track's first credit in credit (rowid) order."""
        def build() -> DataFrame:
            ta = self.f.table("track_artists", ["rowid", "track_rowid", "artist_rowid"])
            trk = self.f.table("tracks", ["rowid"]).withColumnRenamed("rowid", "track_rowid")
            art = self.artists().select(F.col("rowid").alias("artist_rowid"), F.col("row").alias("artist_row"))
            c = ta.join(trk, "track_rowid", "left_semi").join(art, "artist_rowid")
            c = c.groupBy("track_rowid", "artist_row").agg(F.min("rowid").alias("credit"))
            first = F.min("credit").over(Window.partitionBy("track_rowid"))
            return c.withColumn("primary", F.col("credit") == first).drop("credit")
        return self.f.remember("credits", build)

    def track_albums(self) -> DataFrame:
        """(track_rowid, album_rowid) of tracks whose album exists."""
        def build() -> DataFrame:
            t = self.f.table("tracks", ["rowid", "album_rowid"]).withColumnRenamed("rowid", "track_rowid")
            alb = self.f.table("albums", ["rowid"]).withColumnRenamed("rowid", "album_rowid")
            return t.join(alb, "album_rowid", "left_semi")
        return self.f.remember("track_albums", build)

    def artist_album_links(self) -> DataFrame:
        """(artist_row, album_rowid, appears, implicit) of resolvable ``artist_albums`` rows (nulls = False)."""
        def build() -> DataFrame:
            aa = self.f.table("artist_albums", ["artist_rowid", "album_rowid", "is_appears_on",
                                                "is_implicit_appears_on"])
            art = self.artists().select(F.col("rowid").alias("artist_rowid"), F.col("row").alias("artist_row"))
            alb = self.f.table("albums", ["rowid"]).withColumnRenamed("rowid", "album_rowid")
            aa = aa.join(art, "artist_rowid").join(alb, "album_rowid", "left_semi")
            return aa.select("artist_row", "album_rowid",
                             F.coalesce(F.col("is_appears_on"), F.lit(False)).alias("appears"),
                             F.coalesce(F.col("is_implicit_appears_on"), F.lit(False)).alias("implicit"))
        return self.f.remember("artist_album_links", build)

    def credit_albums(self) -> DataFrame:
        """(artist_row, album_rowid, primary) for every resolvable credit on a track with an album."""
        return self.credits().join(self.track_albums(), "track_rowid").select("artist_row", "album_rowid", "primary")

    def own_albums(self) -> DataFrame:
        """Distinct (artist_row, album_rowid): own ``artist_albums`` rows plus albums of primary credits."""
        def build() -> DataFrame:
            aa = self.artist_album_links().filter(~F.col("appears") & ~F.col("implicit"))
            prim = self.credit_albums().filter(F.col("primary"))
            return aa.select("artist_row", "album_rowid").union(prim.select("artist_row", "album_rowid")).distinct()
        return self.f.remember("own_albums", build)


# --- the token-family weighting (TokenFamily.fit + transform) -------------------------------------------------

def _df_bound(v: int | float, n: int) -> float:
    return float(v) * n if isinstance(v, (float, np.floating)) else float(v)


#: vocabularies up to this size are numbered on the driver (one small collect); larger ones by a distributed sort
_DRIVER_VOCAB = 1_000_000


def _vocabulary(counts: DataFrame, n: int, fam: TokenFamily) -> DataFrame:
    """(key, df, col): the keys used by min_df..max_df artists, col = position in sorted key order."""
    df = counts.groupBy("key").agg(F.count("*").alias("df"))
    lo, hi = _df_bound(fam.min_df, n), _df_bound(fam.max_df, n)
    vocab = df.filter((F.col("df") >= lo) & (F.col("df") <= hi) & (F.col("df") > 0))
    got = vocab.limit(_DRIVER_VOCAB + 1).collect()
    if len(got) > _DRIVER_VOCAB:
        # string order: Spark compares UTF-8 bytes, as Arrow's sort of the local vocabulary does
        return dense_index(vocab, ["key"], "col")
    got.sort(key=lambda r: r["key"].encode("utf-8"))
    pdf = pd.DataFrame({"key": pd.Series([r["key"] for r in got], dtype=object),
                        "df": np.asarray([r["df"] for r in got], dtype=np.int64),
                        "col": np.arange(len(got), dtype=np.int64)})
    return counts.sparkSession.createDataFrame(pdf, "key string, df long, col long")


def _weigh_tokens(counts: DataFrame, n: int, fam: TokenFamily) -> tuple[DataFrame, DataFrame, int]:
    """Counts (row, key, value) -> (weighted entries (row, col, value), vocabulary (key, col), width).

    Same formulas as :class:`recsys.features._base.TokenFamily`: smoothed IDF ``ln((1 + n) / (1 + df)) + 1``
    (n = all artists), TF-IDF with optional sublinear tf ``1 + ln(tf)``, BM25 with the mean non-empty row length,
    ``log1p`` or binary.
    """
    fam._check_params()
    counts = counts.filter(F.col("key").isNotNull() & (F.col("value") != 0)).persist()
    vocab = _vocabulary(counts, n, fam).persist()
    width = vocab.count()
    x = counts.join(F.broadcast(vocab) if width < 2_000_000 else vocab, "key")
    idf = F.log((1.0 + n) / (1.0 + F.col("df"))) + 1.0
    tf = F.col("value")
    if fam.weighting == "tfidf":
        if fam.sublinear_tf:
            tf = 1.0 + F.log(tf)
        val = tf * idf
    elif fam.weighting == "bm25":
        lengths = x.groupBy("row").agg(F.sum("value").alias("len"))
        avg = lengths.filter(F.col("len") > 0).agg(F.avg("len")).first()[0]
        avg = float(avg) if avg is not None else 1.0
        x = x.join(lengths, "row")
        norm = fam.k1 * (1.0 - fam.b + fam.b * F.col("len") / avg)
        val = idf * tf * (fam.k1 + 1.0) / (tf + norm)
    elif fam.weighting == "log":
        val = F.log1p(tf)
    else:  # binary
        val = F.lit(1.0)
    return x.select("row", "col", val.alias("value")), vocab.select("key", "col"), width


# --- families --------------------------------------------------------------------------------------------------

_norm_udf = None


def _normalized(col) -> Any:
    """Spark column of :func:`recsys.features._links.normalized_text` (NFKC, lower case, collapsed whitespace):
    the local function itself, run on Arrow batches, so both engines build the same keys."""
    global _norm_udf
    if _norm_udf is None:
        @pandas_udf("string")
        def norm(s: pd.Series) -> pd.Series:
            return normalized_text(pa.array(s, type=pa.string())).to_pandas()

        _norm_udf = norm
    return _norm_udf(F.coalesce(col, F.lit("")))


def _genres(rel: _Relations, fam: TokenFamily) -> tuple[DataFrame, Callable[[DataFrame], DataFrame] | None]:
    g = rel.f.table("artist_genres", ["artist_rowid", "genre"])
    art = rel.artists().select(F.col("rowid").alias("artist_rowid"), "row")
    c = g.join(art, "artist_rowid").filter(F.col("genre").isNotNull()).select("row", F.col("genre").alias("key"))
    return c.distinct().withColumn("value", F.lit(1.0)), None


def _labels(rel: _Relations, fam: TokenFamily) -> tuple[DataFrame, Callable[[DataFrame], DataFrame] | None]:
    albums = rel.f.table("albums", ["rowid", "label"]).select(
        F.col("rowid").alias("album_rowid"), _normalized(F.col("label")).alias("label_key"))
    names = rel.artists().select(F.col("row").alias("artist_row"), _normalized(F.col("name")).alias("name_key"))
    own = rel.own_albums().join(albums, "album_rowid").join(names, "artist_row")
    # an album is self-released when its label is the name of one of its own artists (see LabelTfidf)
    selfrel = own.filter(F.col("label_key") == F.col("name_key")).select("album_rowid").distinct()
    ok = own.filter(F.col("label_key") != "").join(selfrel, "album_rowid", "left_anti")
    counts = ok.groupBy(F.col("artist_row").alias("row"), F.col("label_key").alias("key")).agg(
        F.count("*").cast("double").alias("value"))

    def display(vocab: DataFrame) -> DataFrame:
        # the most frequent original spelling of each key (ties: the first in string order)
        raw = rel.f.table("albums", ["label"]).select(F.coalesce(F.col("label"), F.lit("")).alias("raw"))
        raw = raw.withColumn("key", _normalized(F.col("raw"))).groupBy("key", "raw").count()
        w = Window.partitionBy("key").orderBy(F.col("count").desc(), F.col("raw").asc())
        best = raw.withColumn("_r", F.row_number().over(w)).filter(F.col("_r") == 1).select("key", "raw")
        return vocab.join(best, "key").select("col", F.col("raw").alias("display"))
    return counts, display


def _collaborations(rel: _Relations, fam: TokenFamily) -> tuple[DataFrame, Callable | None]:
    sw = float(fam.self_weight)
    if not (np.isfinite(sw) and sw >= 0):
        raise ValueError(f"self_weight must be a finite number >= 0, got {fam.self_weight!r}")
    c = rel.credits().select("track_rowid", "artist_row")
    multi = c.groupBy("track_rowid").count().filter(F.col("count") >= 2).select("track_rowid")
    b = c.join(multi, "track_rowid")
    pairs = b.alias("a").join(b.alias("b"), "track_rowid").groupBy(
        F.col("a.artist_row").alias("row"), F.col("b.artist_row").alias("other")).agg(
        F.count("*").cast("double").alias("value"))
    if sw != 1.0:
        pairs = pairs.withColumn("value", F.when(F.col("row") == F.col("other"), F.col("value") * sw)
                                 .otherwise(F.col("value")))
    ids = rel.artists().select(F.col("row").alias("other"), F.col("id").alias("key"))
    return pairs.join(ids, "other").select("row", "key", "value"), None


def _compilations(rel: _Relations, fam: TokenFamily) -> tuple[DataFrame, Callable | None]:
    alb = rel.f.table("albums", ["rowid", "id", "album_type"]).select(
        F.col("rowid").alias("album_rowid"), F.col("id").alias("key"),
        F.coalesce(F.lower(F.col("album_type")) == "compilation", F.lit(False)).alias("is_comp"))
    aa = rel.artist_album_links().select("artist_row", "album_rowid", F.col("appears").alias("on"))
    cr = rel.credit_albums().select("artist_row", "album_rowid", F.lit(False).alias("on"))
    links = aa.union(cr).join(alb, "album_rowid").filter(F.col("on") | F.col("is_comp"))
    m = links.select(F.col("artist_row").alias("row"), "key").distinct()
    return m.withColumn("value", F.lit(1.0)), None


def _playlists(rel: _Relations, fam: TokenFamily) -> tuple[DataFrame, Callable | None]:
    pt = rel.f.table("playlist_tracks", ["playlist_rowid", "track_rowid"])
    trk = rel.f.table("tracks", ["rowid"]).withColumnRenamed("rowid", "track_rowid")
    pls = rel.f.table("playlists", ["rowid", "id"]).select(F.col("rowid").alias("playlist_rowid"),
                                                            F.col("id").alias("key"))
    entries = pt.join(trk, "track_rowid", "left_semi").join(pls, "playlist_rowid").groupBy(
        "track_rowid", "key").agg(F.count("*").alias("n"))
    counts = rel.credits().join(entries, "track_rowid").groupBy(F.col("artist_row").alias("row"), "key").agg(
        F.sum("n").cast("double").alias("value"))
    return counts, None


def _markets(rel: _Relations, fam: TokenFamily) -> tuple[DataFrame, Callable | None]:
    mri = float(fam.min_release_idf)
    if not (np.isfinite(mri) and mri >= 0):
        raise ValueError(f"min_release_idf must be a finite number >= 0, got {fam.min_release_idf!r}")
    am = rel.f.table("available_markets", ["rowid", "available_markets"])
    code = F.regexp_replace(F.col("code"), r"^\s+|\s+$", "")
    lists = am.select(F.col("rowid").alias("list"), F.explode(F.split(
        F.coalesce(F.col("available_markets"), F.lit("")), ",")).alias("code")).select("list", code.alias("key"))
    lists = lists.filter(F.col("key") != "").distinct().persist()
    n_markets = lists.select("key").distinct().count()
    # markets are the documents, market lists the terms: IDF of a list = log((1 + markets) / (1 + its markets))
    size = lists.groupBy("list").agg(F.count("*").alias("reach"))
    idf = F.log((1.0 + n_markets) / (1.0 + F.col("reach")))
    list_w = size.select("list", F.when(idf >= mri, idf).otherwise(0.0).alias("w"))  # only known lists appear
    alb = rel.f.table("albums", ["rowid", "available_markets_rowid"]).select(
        F.col("rowid").alias("album_rowid"), F.col("available_markets_rowid").alias("list"))
    per = rel.own_albums().join(alb, "album_rowid").join(list_w, "list")  # albums with a known market list
    n_known = per.groupBy("artist_row").agg(F.count("*").alias("n_known"))
    share = per.filter(F.col("w") > 0).groupBy("artist_row", "list", "w").agg(F.count("*").alias("n"))
    vals = share.join(lists, "list").groupBy("artist_row", "key").agg(F.sum(F.col("n") * F.col("w")).alias("s"))
    counts = vals.join(n_known, "artist_row").select(F.col("artist_row").alias("row"), "key",
                                                     (F.col("s") / F.col("n_known")).alias("value"))
    return counts, None


_TOKEN_BUILDERS = {"genres": _genres, "labels": _labels, "markets": _markets, "collaborations": _collaborations,
                   "compilations": _compilations, "playlists": _playlists}


def _era(rel: _Relations, tr: ReleaseEra) -> tuple[DataFrame, list[str], int]:
    """Era block entries (row, col, value) before the block normalisation, its names and width."""
    if isinstance(tr.bucket_years, bool) or not isinstance(tr.bucket_years, (int, np.integer)) \
            or tr.bucket_years < 1:
        raise ValueError(f"bucket_years must be an int >= 1, got {tr.bucket_years!r}")
    if not (0 <= tr.smoothing < 1):
        raise ValueError(f"smoothing must be in [0, 1), got {tr.smoothing!r}")
    by = int(tr.bucket_years)
    y = F.col("release_year").cast("long")
    alb = rel.f.table("albums", ["rowid", "release_year"]).filter(
        (y >= _PLAUSIBLE_YEARS[0]) & (y <= _PLAUSIBLE_YEARS[1])).select(
        F.col("rowid").alias("album_rowid"), F.floor(y / by).cast("long").alias("bucket"))
    lo_hi = alb.agg(F.min("bucket"), F.max("bucket")).first()
    if lo_hi[0] is None:
        return rel.f.spark.createDataFrame([], "row long, col int, value double"), [], 0
    first, n_b = int(lo_hi[0]), int(lo_hi[1] - lo_hi[0] + 1)
    pairs = rel.own_albums().union(rel.credit_albums().select("artist_row", "album_rowid")).distinct()
    counts = pairs.join(alb, "album_rowid").groupBy(
        F.col("artist_row").alias("row"), (F.col("bucket") - first).cast("int").alias("col")).agg(
        F.count("*").cast("double").alias("c"))
    s = float(tr.smoothing)
    if n_b >= 2:  # counts @ K, K = tridiagonal (s, 1, s): each count spreads s to each neighbouring bucket
        spread = counts.select("row", F.explode(F.array(
            F.struct((F.col("col") - 1).alias("col"), (F.col("c") * s).alias("c")),
            F.struct(F.col("col").alias("col"), F.col("c").alias("c")),
            F.struct((F.col("col") + 1).alias("col"), (F.col("c") * s).alias("c")))).alias("e"))
        sm = spread.select("row", "e.col", "e.c").filter((F.col("col") >= 0) & (F.col("col") < n_b)) \
            .groupBy("row", "col").agg(F.sum("c").alias("c"))
    else:
        sm = counts
    total = sm.groupBy("row").agg(F.sum(F.abs("c")).alias("t"))
    out = sm.join(total, "row").select("row", "col", (F.col("c") / F.col("t")).alias("value"))
    if tr.use_idf:
        n = rel.f.num_rows("artists")
        dfb = counts.groupBy("col").agg(F.count("*").alias("df"))
        out = out.join(dfb, "col").select("row", "col", (F.col("value") * (
            F.log((1.0 + n) / (1.0 + F.col("df"))) + 1.0)).alias("value"))
    names = [f"era={(first + i) * by}-{(first + i) * by + by - 1}" for i in range(n_b)]
    return out.filter(F.col("value") != 0), names, n_b


def _audio(rel: _Relations, tr: AudioProfile) -> tuple[DataFrame, list[str], int]:
    """Audio block entries: per-artist nan-means of the credited tracks' features, z-scored across artists with
    ``StandardScaler``'s statistics (population variance; constant features scale 1)."""
    if isinstance(tr.min_tracks, bool) or not isinstance(tr.min_tracks, (int, np.integer)) or tr.min_tracks < 1:
        raise ValueError(f"min_tracks must be an int >= 1, got {tr.min_tracks!r}")
    feats = list(tr.features)
    af = rel.f.table("audio_features")
    unknown = [f for f in feats if f not in af.columns]
    if unknown:
        raise ValueError(f"features: unknown audio feature(s) {unknown}; known: {af.columns[1:]}")

    def finite(c: str):
        v = F.col(c).cast("double")
        return F.when(v.isNull() | F.isnan(v) | (F.abs(v) == float("inf")), None).otherwise(v).alias(c)

    trk = rel.f.table("tracks", ["rowid"]).withColumnRenamed("rowid", "track_rowid")
    # several audio rows for one track: the last one wins, as in the local engine (file order)
    af = af.select("track_rowid", *feats).withColumn("_ord", F.monotonically_increasing_id()) \
        .join(trk, "track_rowid", "left_semi")
    last = Window.partitionBy("track_rowid").orderBy(F.col("_ord").desc())
    af = af.withColumn("_r", F.row_number().over(last)).filter(F.col("_r") == 1).select(
        "track_rowid", *[finite(c) for c in feats])
    cr = rel.credits()
    if tr.primary_only:
        cr = cr.filter(F.col("primary"))
    per = cr.join(af, "track_rowid").groupBy(F.col("artist_row").alias("row")).agg(
        *[F.avg(c).alias(c) for c in feats], F.greatest(*[F.count(c) for c in feats]).alias("n")) \
        if len(feats) > 1 else cr.join(af, "track_rowid").groupBy(F.col("artist_row").alias("row")).agg(
        F.avg(feats[0]).alias(feats[0]), F.count(feats[0]).alias("n"))
    per = per.filter(F.col("n") >= int(tr.min_tracks)).persist()
    stats = per.agg(*[x for c in feats for x in (F.avg(c), F.var_pop(c), F.count(c))]).first()
    eps = np.finfo(np.float64).eps
    zs = []
    for j, c in enumerate(feats):
        mean, var, cnt = stats[3 * j], stats[3 * j + 1], stats[3 * j + 2]
        mean = 0.0 if mean is None or not math.isfinite(mean) else float(mean)
        if var is None or not math.isfinite(var):
            scale = 1.0
        else:
            # scikit-learn's _is_constant_feature: a variance within float noise of 0 counts as constant
            constant = var <= cnt * eps * var + (cnt * mean * eps) ** 2
            scale = 1.0 if constant or math.sqrt(var) <= 0 else math.sqrt(var)
        zs.append(F.struct(F.lit(j).alias("col"), F.coalesce((F.col(c) - mean) / scale, F.lit(0.0)).alias("value")))
    out = per.select("row", F.explode(F.array(*zs)).alias("e")).select("row", "e.col", "e.value")
    # float32 like the local block: values that round to 0 there are dropped there
    out = out.withColumn("value", F.col("value").cast("float").cast("double"))
    return out.filter(F.col("value") != 0), [f"audio={f}" for f in feats], len(feats)


def _popularity(rel: _Relations, tr: PopularityBins) -> tuple[DataFrame, list[str], int]:
    if not isinstance(tr.follower_bins, int) or tr.follower_bins < 1:
        raise ValueError(f"follower_bins must be a positive int, got {tr.follower_bins!r}")
    n_pop = len(_POP_EDGES) - 1
    pop = F.col("popularity").cast("long")
    # searchsorted(edges, pop, "right") - 1, clipped to [0, n_pop - 1]: the number of inner edges <= pop
    pbin = sum((F.when(pop >= int(e), 1).otherwise(0) for e in _POP_EDGES[1:-1]), F.lit(0))
    fol = F.col("followers_total").cast("double")
    fbin = F.least(F.greatest(F.floor(F.log10(fol + 1.0)), F.lit(0)), F.lit(tr.follower_bins - 1)).cast("int")
    a = rel.artists()
    one = a.select("row", pbin.cast("int").alias("col"))
    two = a.filter(fol.isNotNull() & ~F.isnan(fol)).select("row", (fbin + n_pop).alias("col"))
    out = one.union(two).withColumn("value", F.lit(1.0))
    names = list(np.asarray(tr.get_feature_names_out(), dtype=object))
    return out, names, n_pop + tr.follower_bins


_DENSE_BUILDERS = {"era": _era, "audio": _audio, "popularity": _popularity}


# --- the space --------------------------------------------------------------------------------------------------

def _block(entries: DataFrame, weight: float) -> DataFrame:
    """L2-normalise each row of a block and scale it by sqrt(weight) (``combine_blocks``)."""
    norm = F.sqrt(F.sum(F.col("value") * F.col("value")).over(Window.partitionBy("row")))
    scale = float(np.float32(np.sqrt(weight)))  # combine_blocks' float32 sqrt(w)
    return entries.select("row", "col", (F.col("value") / norm * scale).alias("value")).filter(F.col("value") != 0)


def build_spark_artist_space(spark: SparkSession, catalog: str | os.PathLike | Catalog | CatalogFrames, *,
                             weights: Mapping[str, float] | None = None,
                             family_params: Mapping[str, Mapping[str, Any]] | None = None,
                             progress: bool = False) -> SparkFeatureSpace:
    """Artist vectors by Spark jobs, equal to ``build_artist_space(catalog, weights=...)`` for the families in
    :data:`SPARK_FAMILIES` (the families in :data:`SPARK_LEFT_OUT` get weight 0, with a warning).

    Parameters
    ----------
    spark : SparkSession
    catalog : path, Catalog or CatalogFrames
        A catalog directory written by ``recsys ingest`` (visible to the executors at the same path).
    weights : mapping of str to float, optional
        Overrides of :data:`recsys.features.space.DEFAULT_WEIGHTS`; 0 leaves a family out.
    family_params : mapping of str to dict, optional
        Constructor parameters per family, as for the local engine.
    progress : bool
        Show a progress bar over the families.

    Returns
    -------
    SparkFeatureSpace
        Lazy entries (row, col, value) plus names and block ranges; the vocabularies are already counted.
    """
    w, dropped = spark_weights(weights)
    for fam in dropped:
        log.warning("the Spark engine does not compute %r (%s); its weight %s is left out: compare with a local "
                    "build using --weight %s=0", fam, SPARK_LEFT_OUT[fam], (weights or DEFAULT_WEIGHTS).get(
                        fam, DEFAULT_WEIGHTS[fam]), fam)
    params = _family_params(family_params, FAMILIES)
    frames = catalog if isinstance(catalog, CatalogFrames) else CatalogFrames(spark, catalog)
    rel = _Relations(frames)
    n = frames.num_rows("artists")
    active = [f for f in FAMILIES if w[f] > 0]
    parts, name_parts, blocks, timings = [], [], [], {}
    offset = 0
    for fam in tqdm(active, desc="spark features", unit="family", disable=not progress):
        t0 = time.perf_counter()
        tr = FAMILIES[fam](**params.get(fam, {}))
        if fam in _TOKEN_BUILDERS:
            counts, display = _TOKEN_BUILDERS[fam](rel, tr)
            entries, vocab, width = _weigh_tokens(counts, n, tr)
            shown = display(vocab) if display is not None else vocab.select("col", F.col("key").alias("display"))
            names = shown.select((F.col("col") + offset).cast("int").alias("col"),
                                 F.concat(F.lit(f"{tr.prefix}="), F.col("display")).alias("name"))
        else:
            entries, name_list, width = _DENSE_BUILDERS[fam](rel, tr)
            names = spark.createDataFrame([(offset + i, s) for i, s in enumerate(name_list)], "col int, name string")
        entries = _block(entries, w[fam]).select("row", (F.col("col") + offset).cast("int").alias("col"), "value")
        parts.append(entries)
        name_parts.append(names)
        blocks.append((fam, slice(offset, offset + width)))
        offset += width
        timings[fam] = time.perf_counter() - t0
    entries = parts[0]
    for p in parts[1:]:
        entries = entries.unionByName(p)
    names = name_parts[0]
    for p in name_parts[1:]:
        names = names.unionByName(p)
    # materialised once: the neighbour jobs read the entries several times
    entries = entries.select(F.col("row").cast("long"), "col", F.col("value").cast("double")).persist()
    t0 = time.perf_counter()
    nnz = entries.count()
    timings["combine"] = time.perf_counter() - t0
    return SparkFeatureSpace(entries=entries, names=names, blocks=blocks, n_rows=n, n_cols=offset, weights=w,
                             left_out=dropped, timings=timings, nnz=nnz)
