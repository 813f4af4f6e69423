"""Every artist's neighbours as Spark jobs: blocked exact cosine top-k, or SimHash-sorted windows (approximate).

Mental model: *cut the L2-normalised artist vectors into blocks, score block pairs with numpy/scipy inside
Spark tasks, keep each query's best per pair, merge per query.*

* ``exact``: every (query block, item block) pair of the cross join is scored (dense BLAS over the frequent
  columns, sparse products over the rest, like :class:`recsys.models.exact.ExactCosine`), each pair keeps its
  top candidates per query, and a group-by over query blocks merges them. The result equals the local
  ``exact_cosine`` neighbour table: same semantics (no self-neighbour, cosine <= 0 is not a neighbour, featureless
  artists get no list) and the same tie rule (scores equal to 6 decimals are ordered by lower row).
* ``lsh``: ``tables`` random-hyperplane signatures (SimHash, 64 bits each; hyperplanes generated from a hash
  of (column, bit), so nothing of size n_features x bits is ever stored or shipped) sort the artists so that
  similar vectors sit close together; each sorted order is cut into windows of ``window`` artists (twice, the
  second cut shifted by half a window), and all pairs inside a window are scored exactly. Cost grows linearly
  with the number of artists (tables x 2 x window scores per artist) instead of quadratically; recall against
  exact is measured in the tests and quoted in the README.

MLlib's ``BucketedRandomProjectionLSH`` was considered: it hashes with one projection per table (OR-amplification
only), and on these ~10^5-dimensional unit vectors all projections fall within a few bucket lengths of each other,
so its self-join degenerates into (nearly) all pairs or misses most neighbours. Sorting by a 64-bit signature
bounds every window, whatever the data.

The long-tail dial (``dial`` > 0) re-ranks a pool of ``max(10 k, 100)`` per artist with
:func:`recsys.longtail.popularity_penalty`, as ``Recommender.neighbour_table`` does.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from sklearn.preprocessing import normalize

from ..longtail import popularity_penalty
from .features import SparkFeatureSpace
from .frames import CatalogFrames, dense_index

__all__ = ["spark_neighbours", "NeighbourJob", "METHODS", "topk_rows"]

METHODS = ("exact", "lsh")
_SCORE_DECIMALS = 6  # as recsys.models.base: scores equal to 6 decimals are ties, ordered by lower row
_CAND = "qblock long, query_row long, row long, score float"
_OUT = "query_row long, rank int, row long, score double"


@dataclass
class NeighbourJob:
    """What a neighbour run did: the method, its parameters and how long each stage took (seconds)."""

    method: str
    k: int
    pool: int
    params: dict
    timings: dict


# --- numpy kernels (run inside Spark tasks) ---------------------------------------------------------------------

def topk_rows(S: np.ndarray, col_ids: np.ndarray, p: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Top-``p`` per row of a score block, by (score rounded to 6 decimals desc, id asc); -inf entries dropped.

    Parameters
    ----------
    S : ndarray float32 (q, m)
        Scores, -inf where an item may not be returned.
    col_ids : ndarray int64 (m,)
        Item id of each column, ascending.
    p : int

    Returns
    -------
    (query index (into S's rows), item id, score) of the kept entries, sorted by query then rank.
    """
    q, m = S.shape
    if q == 0 or m == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.float32)
    R = np.round(S, _SCORE_DECIMALS)
    finite = np.isfinite(S)
    if p < m:
        # every item tied with the p-th best is a candidate, so the id tie-break below sees all of them
        kth = -np.partition(-R, p - 1, axis=1)[:, p - 1]
        cand = (kth[:, None] <= R) & finite
    else:
        cand = finite
    qi, cj = np.nonzero(cand)
    order = np.lexsort((cj, -R[qi, cj], qi))
    qi, cj = qi[order], cj[order]
    rank = np.arange(len(qi)) - np.searchsorted(qi, qi, side="left")
    keep = rank < p
    qi, cj = qi[keep], cj[keep]
    return qi.astype(np.int64), col_ids[cj].astype(np.int64), S[qi, cj].astype(np.float32)


def _split(X: sp.csr_matrix, dense_cols: np.ndarray) -> tuple[np.ndarray, sp.csr_matrix]:
    """(dense float32 (n, len(dense_cols)), CSR of the other columns): frequent columns go through BLAS."""
    Xd = X[:, dense_cols].toarray() if len(dense_cols) else np.zeros((X.shape[0], 0), np.float32)
    mask = np.ones(X.shape[1], dtype=bool)
    mask[dense_cols] = False
    keep = mask[X.indices]
    row = np.repeat(np.arange(X.shape[0]), np.diff(X.indptr))[keep]
    Xs = sp.csr_matrix((X.data[keep], (row, X.indices[keep])), shape=X.shape, dtype=np.float32)
    return Xd, Xs


def _scores(Qd: np.ndarray, Qs: sp.csr_matrix, Id: np.ndarray, Is: sp.csr_matrix, q_ids: np.ndarray,
            i_ids: np.ndarray) -> np.ndarray:
    """Cosine block (Q rows x I rows) float32 with -inf where cosine <= 0 and on the diagonal (self)."""
    S = Qd @ Id.T if Qd.shape[1] else np.zeros((Qd.shape[0], Id.shape[0]), np.float32)
    S = np.asarray(S, dtype=np.float32)
    if Qs.nnz and Is.nnz:
        S += (Qs @ Is.T.tocsc()).toarray().astype(np.float32)
    S[S <= 0] = -np.inf  # no shared evidence: not a neighbour
    common, qa, ia = np.intersect1d(q_ids, i_ids, assume_unique=True, return_indices=True)
    S[qa, ia] = -np.inf
    return S


def _csr_from_long(rows: np.ndarray, cols: np.ndarray, vals: np.ndarray, n_cols: int
                   ) -> tuple[np.ndarray, sp.csr_matrix]:
    """(sorted unique rows, L2-normalised CSR float32 (len(rows), n_cols)) from (row, col, value) triples."""
    uniq, local = np.unique(rows, return_inverse=True)
    X = sp.csr_matrix((vals.astype(np.float32), (local, cols.astype(np.int64))), shape=(len(uniq), n_cols),
                      dtype=np.float32)
    X.sum_duplicates()
    return uniq, normalize(X, norm="l2", axis=1).astype(np.float32)


def _encode(a: np.ndarray) -> bytes:
    return np.ascontiguousarray(a).tobytes()


def _hash_gauss(cols: np.ndarray, bits: int, seed: int) -> np.ndarray:
    """Standard normal (len(cols), bits) float32, a pure function of (column, bit, seed): the random hyperplanes
    of SimHash without storing them (splitmix64 -> two uniforms -> Box-Muller)."""
    c = cols.astype(np.uint64)[:, None] * np.uint64(bits) + np.arange(bits, dtype=np.uint64)[None, :]
    with np.errstate(over="ignore"):
        def mix(z: np.ndarray) -> np.ndarray:
            z = z + np.uint64(0x9E3779B97F4A7C15)
            z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
            z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
            return z ^ (z >> np.uint64(31))
        h1 = mix(c ^ np.uint64(seed * 0x2545F4914F6CDD1D % (1 << 64)))
        h2 = mix(h1)
    u1 = ((h1 >> np.uint64(11)).astype(np.float64) + 0.5) / float(1 << 53)
    u2 = ((h2 >> np.uint64(11)).astype(np.float64) + 0.5) / float(1 << 53)
    return (np.sqrt(-2.0 * np.log(u1)) * np.cos(2.0 * np.pi * u2)).astype(np.float32)


# --- the jobs -----------------------------------------------------------------------------------------------------

def _dense_columns(space: SparkFeatureSpace, share: float = 0.02, max_cols: int = 512) -> np.ndarray:
    """Columns present in >= ``share`` of the artists (at most ``max_cols``, most frequent first), as
    ExactCosine chooses them."""
    df = space.entries.groupBy("col").count().filter(F.col("count") >= share * space.n_rows)
    rows = df.orderBy(F.col("count").desc(), F.col("col").asc()).limit(max_cols).collect()
    return np.sort(np.asarray([r["col"] for r in rows], dtype=np.int64))


def _blocks(space: SparkFeatureSpace, block_rows: int, dense_cols: np.ndarray) -> DataFrame:
    """One Spark row per block of ``block_rows`` artists: the normalised vectors as raw little-endian arrays
    (dense part float32, sparse part CSR), never pickled."""
    n_cols = space.n_cols

    def build(pdf: pd.DataFrame) -> pd.DataFrame:
        rows, X = _csr_from_long(pdf["row"].to_numpy(), pdf["col"].to_numpy(), pdf["value"].to_numpy(), n_cols)
        Xd, Xs = _split(X, dense_cols)
        return pd.DataFrame({"block": [int(pdf["block"].iloc[0])], "rows": [_encode(rows.astype(np.int64))],
                             "dense": [_encode(Xd.astype(np.float32))], "indptr": [_encode(Xs.indptr.astype(np.int64))],
                             "indices": [_encode(Xs.indices.astype(np.int32))],
                             "data": [_encode(Xs.data.astype(np.float32))]})

    schema = "block long, rows binary, dense binary, indptr binary, indices binary, data binary"
    return space.entries.withColumn("block", (F.col("row") / block_rows).cast("long")).groupBy("block") \
        .applyInPandas(build, schema)


def _decode(rec, prefix: str, n_dense: int, n_cols: int) -> tuple[np.ndarray, np.ndarray, sp.csr_matrix]:
    rows = np.frombuffer(rec[prefix + "rows"], dtype=np.int64)
    Xd = np.frombuffer(rec[prefix + "dense"], dtype=np.float32).reshape(len(rows), n_dense)
    Xs = sp.csr_matrix((np.frombuffer(rec[prefix + "data"], dtype=np.float32),
                        np.frombuffer(rec[prefix + "indices"], dtype=np.int32),
                        np.frombuffer(rec[prefix + "indptr"], dtype=np.int64)), shape=(len(rows), n_cols))
    return rows, Xd, Xs


def _exact_candidates(spark: SparkSession, blocks: DataFrame, n_dense: int, n_cols: int, pool: int,
                      n_blocks: int) -> DataFrame:
    """Cross join of blocks; each pair keeps its top ``pool`` per query."""
    q = blocks.select(*[F.col(c).alias("q_" + c) for c in blocks.columns])
    i = blocks.select(*[F.col(c).alias("i_" + c) for c in blocks.columns])
    pairs = q.crossJoin(i).repartition(max(1, min(n_blocks * n_blocks, 4 * spark.sparkContext.defaultParallelism)))

    def score(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        for pdf in batches:
            for rec in pdf.to_dict("records"):
                q_ids, Qd, Qs = _decode(rec, "q_", n_dense, n_cols)
                i_ids, Id, Is = _decode(rec, "i_", n_dense, n_cols)
                S = _scores(Qd, Qs, Id, Is, q_ids, i_ids)
                qi, nb, sc = topk_rows(S, i_ids, pool)
                yield pd.DataFrame({"qblock": np.full(len(qi), rec["q_block"], np.int64), "query_row": q_ids[qi],
                                    "row": nb, "score": sc})

    return pairs.mapInPandas(score, _CAND)


def _lsh_candidates(space: SparkFeatureSpace, blocks: DataFrame, dense_cols: np.ndarray, n_cols: int, pool: int,
                    block_rows: int, tables: int, window: int, seed: int) -> DataFrame:
    """SimHash-sorted windows: candidates (qblock, query_row, row, score), exact scores within each window."""
    n_dense = len(dense_cols)
    bits = 64 * tables

    def sign(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        for pdf in batches:
            for rec in pdf.to_dict("records"):
                rows, Xd, Xs = _decode(rec, "", n_dense, n_cols)
                proj = Xd @ _hash_gauss(dense_cols, bits, seed) if n_dense else np.zeros((len(rows), bits), np.float32)
                if Xs.nnz:
                    used = np.unique(Xs.indices)
                    sub = sp.csr_matrix((Xs.data, np.searchsorted(used, Xs.indices), Xs.indptr),
                                        shape=(Xs.shape[0], len(used)))
                    proj = proj + sub @ _hash_gauss(used.astype(np.int64), bits, seed)
                b = (proj > 0).reshape(len(rows), tables, 64)
                weights = (np.uint64(1) << np.arange(63, -1, -1, dtype=np.uint64))
                keys = (b.astype(np.uint64) * weights).sum(axis=2, dtype=np.uint64).view(np.int64)
                yield pd.DataFrame({"table": np.repeat(np.arange(tables), len(rows)).astype(np.int32),
                                    "key": keys.T.ravel(), "row": np.tile(rows, tables)})

    sig = blocks.mapInPandas(sign, "table int, key long, row long")
    pos = dense_index(sig, ["table", "key", "row"], "pos")
    n_present = space.entries.select("row").distinct().count()
    rank = F.col("pos") - F.col("table").cast("long") * n_present
    half = max(1, window // 2)
    per_cut = n_present // window + 2  # windows per cut, so that group ids of different cuts never collide
    cut0 = (F.col("table") * 2) * per_cut + (rank / window).cast("long")
    cut1 = (F.col("table") * 2 + 1) * per_cut + ((rank + half) / window).cast("long")  # shifted by half a window
    member = pos.select("row", F.explode(F.array(cut0.cast("long"), cut1.cast("long"))).alias("group"))
    packed = space.entries.groupBy("row").agg(F.collect_list(F.struct("col", "value")).alias("vec"))
    grouped = member.join(packed, "row").select("group", "row", F.col("vec.col").alias("cols"),
                                                F.col("vec.value").alias("vals"))

    def score(pdf: pd.DataFrame) -> pd.DataFrame:
        lens = pdf["cols"].map(len).to_numpy()
        rows_long = np.repeat(pdf["row"].to_numpy(np.int64), lens)
        cols = np.concatenate(pdf["cols"].to_numpy()) if len(pdf) else np.zeros(0, np.int64)
        vals = np.concatenate(pdf["vals"].to_numpy()) if len(pdf) else np.zeros(0)
        ids, X = _csr_from_long(rows_long, cols, vals, n_cols)
        Xd, Xs = _split(X, dense_cols)
        S = _scores(Xd, Xs, Xd, Xs, ids, ids)
        qi, nb, sc = topk_rows(S, ids, pool)
        return pd.DataFrame({"qblock": ids[qi] // block_rows, "query_row": ids[qi], "row": nb, "score": sc})

    return grouped.groupBy("group").applyInPandas(score, _CAND)


def _merge(cands: DataFrame, k: int, pool: int, dial: float, pop_bc) -> DataFrame:
    """Per query: drop duplicate candidates, keep the best ``pool`` by the exact engine's order, apply the dial,
    cut to ``k``; (query_row, rank, row, score rounded to 4 decimals as the local table)."""

    def merge(pdf: pd.DataFrame) -> pd.DataFrame:
        pdf = pdf.drop_duplicates(["query_row", "row"])
        q = pdf["query_row"].to_numpy(np.int64)
        r = pdf["row"].to_numpy(np.int64)
        s = pdf["score"].to_numpy(np.float32)
        order = np.lexsort((r, -np.round(s, _SCORE_DECIMALS), q))
        q, r, s = q[order], r[order], s[order]
        rank = np.arange(len(q)) - np.searchsorted(q, q, side="left")
        keep = rank < pool
        q, r, s, rank = q[keep], r[keep], s[keep], rank[keep]
        if dial > 0 and len(q):
            uq, qi = np.unique(q, return_inverse=True)
            ids = np.full((len(uq), pool), -1, dtype=np.int64)
            sc = np.full((len(uq), pool), -np.inf, dtype=np.float32)
            ids[qi, rank], sc[qi, rank] = r, s
            ids, new = popularity_penalty(ids, sc, pop_bc.value, dial=float(dial), n=pool)
            ids, new = ids[:, :k], new[:, :k]
            qq, rk = np.nonzero(ids >= 0)
            return pd.DataFrame({"query_row": uq[qq], "rank": (rk + 1).astype(np.int32), "row": ids[qq, rk],
                                 "score": np.round(new[qq, rk].astype(float), 4)})
        keep = rank < k
        return pd.DataFrame({"query_row": q[keep], "rank": (rank[keep] + 1).astype(np.int32), "row": r[keep],
                             "score": np.round(s[keep].astype(float), 4)})

    return cands.groupBy("qblock").applyInPandas(merge, _OUT)


def spark_neighbours(spark: SparkSession, space: SparkFeatureSpace, frames: CatalogFrames, *, k: int = 10,
                     method: str = "exact", dial: float = 0.0, block_rows: int = 4096, tables: int = 8,
                     window: int = 1024, seed: int = 0) -> tuple[DataFrame, NeighbourJob]:
    """The neighbour table of every artist, as a lazy DataFrame ordered by (query_row, rank).

    Parameters
    ----------
    spark : SparkSession
    space : SparkFeatureSpace
        From :func:`recsys.spark.features.build_spark_artist_space`.
    frames : CatalogFrames
        The same catalog (for ids and popularity).
    k : int
        Neighbours per artist (>= 1).
    method : {"exact", "lsh"}
    dial : float in [0, 1]
        Long-tail dial: 0 keeps the model order; > 0 re-ranks a pool of max(10 k, 100) by popularity.
    block_rows : int
        Artists per block (exact: the work unit is a pair of blocks; memory ~ block_rows^2 * 4 bytes).
    tables, window : int
        LSH: number of 64-bit signatures and the window size scored exactly.
    seed : int
        LSH: seed of the random hyperplanes.

    Returns
    -------
    (DataFrame, NeighbourJob)
        Columns query_row long, query_id string, rank int, row long, id string, score double (cosine,
        higher = closer; after the dial, the penalised score), ordered by query_row then rank.
    """
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"k must be a positive integer, got {k!r}")
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    if not 0.0 <= float(dial) <= 1.0:
        raise ValueError(f"dial must be between 0 and 1, got {dial!r}")
    for name, v, lo in (("block_rows", block_rows, 16), ("tables", tables, 1), ("window", window, 2)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < lo:
            raise ValueError(f"{name} must be an int >= {lo}, got {v!r}")
    n = space.n_rows
    if n < 2:
        raise ValueError(f"neighbours need at least 2 artists, the catalog has {n}")
    pool = min(max(10 * k, 100), n - 1) if dial > 0 else int(k)
    t0 = time.perf_counter()
    dense_cols = _dense_columns(space)
    blocks = _blocks(space, int(block_rows), dense_cols).persist()
    n_blocks = blocks.count()
    t1 = time.perf_counter()
    if method == "exact":
        cands = _exact_candidates(spark, blocks, len(dense_cols), space.n_cols, pool, n_blocks)
    else:
        cands = _lsh_candidates(space, blocks, dense_cols, space.n_cols, pool, int(block_rows), int(tables),
                                int(window), int(seed))
    artists = frames.artist_rows()
    pop = artists.select("row", "popularity").orderBy("row").toPandas()["popularity"].to_numpy(np.float64) \
        if dial > 0 else np.zeros(0)
    pop_bc = spark.sparkContext.broadcast(pop)
    table = _merge(cands, int(k), pool, float(dial), pop_bc)
    ids = artists.select("row", "id")
    out = table.join(ids.withColumnRenamed("row", "query_row").withColumnRenamed("id", "query_id"), "query_row") \
        .join(ids, "row").select("query_row", "query_id", "rank", "row", "id", "score") \
        .orderBy("query_row", "rank")
    job = NeighbourJob(method=method, k=int(k), pool=pool,
                       params={"block_rows": int(block_rows), "dense_columns": int(len(dense_cols)),
                               "blocks": int(n_blocks), "dial": float(dial),
                               **({"tables": int(tables), "window": int(window), "seed": int(seed)}
                                  if method == "lsh" else {})},
                       timings={"blocks_seconds": round(t1 - t0, 3)})
    return out, job
