"""The Spark engine against the local engine on the 3,000-artist demo catalog (``small_demo``), in local[2].

Equalities, not smoke: the Spark feature matrix equals ``build_artist_space`` entry by entry, the exact neighbour
table equals the local exact_cosine table (tie-aware), and the LSH table finds most of the exact neighbours with
their exact scores. The local engine is built with ``inferred_genres`` at weight 0, the one family the Spark
engine does not compute.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sklearn.preprocessing import normalize

from recsys.features.space import build_artist_space
from recsys.recommend import Recommender

# popularity is 0 by default; give it a weight so its Spark block is compared too
WEIGHTS = {"inferred_genres": 0.0, "popularity": 0.25}
K = 10
#: recall@10 against exact that LSH with 4 tables and 512-artist windows must reach on this catalog (measured
#: 0.831; deterministic for a seed, the margin covers float noise in ties)
LSH_MIN_RECALL = 0.8


@pytest.fixture(scope="module")
def catalog(small_demo):
    return small_demo[1]


@pytest.fixture(scope="module")
def local_rec(catalog):
    return Recommender.build(catalog, weights=WEIGHTS)


@pytest.fixture(scope="module")
def frames(spark, catalog):
    from recsys.spark.frames import CatalogFrames

    f = CatalogFrames(spark, catalog.path)
    yield f
    f.release()


@pytest.fixture(scope="module")
def spark_space(spark, frames):
    from recsys.spark.features import build_spark_artist_space

    space = build_spark_artist_space(spark, frames, weights=WEIGHTS)
    yield space
    space.entries.unpersist()


def _local_table(rec: Recommender, dial: float = 0.0) -> pd.DataFrame:
    return pd.concat(list(rec.neighbour_table(K, dial=dial, explain=False)), ignore_index=True)


def _compare(local: pd.DataFrame, spark_t: pd.DataFrame, vectors) -> int:
    """Assert the tables are equal up to the order of tied neighbours; returns the number of tie swaps.

    Same queries, same list lengths, same score at every rank (1e-4); where the neighbour ids differ, the
    Spark neighbour's true cosine equals the local score at that rank (a tie broken by float noise).
    """
    assert list(spark_t.columns[:6]) == ["query_row", "query_id", "rank", "row", "id", "score"]
    a = local.sort_values(["query_row", "rank"]).reset_index(drop=True)
    b = spark_t.sort_values(["query_row", "rank"]).reset_index(drop=True)
    assert len(a) == len(b)
    np.testing.assert_array_equal(a["query_row"].to_numpy(), b["query_row"].to_numpy())
    np.testing.assert_array_equal(a["rank"].to_numpy(), b["rank"].to_numpy())
    np.testing.assert_allclose(b["score"].to_numpy(), a["score"].to_numpy(), atol=1e-4)
    assert (a["query_id"].to_numpy() == b["query_id"].to_numpy()).all()
    diff = np.flatnonzero(a["row"].to_numpy() != b["row"].to_numpy())
    for i in diff:
        q, r = int(b["query_row"][i]), int(b["row"][i])
        true = float(vectors[q].multiply(vectors[r]).sum())
        assert abs(true - a["score"][i]) <= 1e-4, (q, r, true, a["score"][i])
    return len(diff)


def test_features_equal_local(spark_space, catalog):
    local = build_artist_space(catalog, weights=WEIGHTS)
    assert spark_space.left_out == []  # inferred_genres was already 0
    assert [(f, s.start, s.stop) for f, s in spark_space.blocks] == [(f, s.start, s.stop) for f, s in local.blocks]
    names = spark_space.feature_names()
    assert sorted(names) == sorted(local.feature_names)
    pos = {n: i for i, n in enumerate(names)}
    X = spark_space.to_csr()[:, [pos[n] for n in local.feature_names]]
    assert X.shape == local.X.shape
    assert abs(X - local.X).max() < 1e-6
    # same sparsity pattern: nothing dropped, nothing invented
    assert ((X != 0) != (local.X != 0)).nnz == 0
    assert spark_space.nnz == local.X.nnz


def test_exact_table_equals_local(spark, spark_space, frames, local_rec, tmp_path):
    from recsys.spark.neighbours import spark_neighbours
    from recsys.spark.output import neighbour_schema, write_table

    # 1,024-row blocks: 3 x 3 block pairs, so the cross-block merge is exercised
    table, job = spark_neighbours(spark, spark_space, frames, k=K, method="exact", block_rows=1024)
    assert job.params["blocks"] == 3
    got = table.toPandas()
    local = _local_table(local_rec)
    vectors = normalize(local_rec.space.X)
    swaps = _compare(local, got, vectors)
    assert swaps <= len(local) // 1000  # ties broken differently by float noise are rare
    assert (got["row"] != got["query_row"]).all() and (got["score"] > 0).all()

    # the written file: the local `neighbours --all --no-explain` columns and types, rows in the same order
    out = tmp_path / "nb.parquet"
    n = write_table(table.select("query_id", table["rank"].cast("long").alias("rank"), "id", "score"), out,
                    schema=neighbour_schema())
    assert n == len(local)
    written = pq.read_table(out)
    local_schema = pa.Table.from_pandas(local.drop(columns=["query_row", "row"]), preserve_index=False).schema
    assert [(f.name, f.type) for f in written.schema] == [(f.name, f.type) for f in local_schema]
    w = written.to_pandas()
    assert (w["query_id"].to_numpy() == local["query_id"].to_numpy()).all()
    assert (w["rank"].to_numpy() == local["rank"].to_numpy()).all()


def test_exact_dial_equals_local(spark, spark_space, frames, local_rec):
    from recsys.spark.neighbours import spark_neighbours

    table, job = spark_neighbours(spark, spark_space, frames, k=K, method="exact", dial=0.7)
    assert job.pool == 100
    got = table.toPandas()
    local = _local_table(local_rec, dial=0.7)
    a = local.sort_values(["query_row", "rank"]).reset_index(drop=True)
    b = got.sort_values(["query_row", "rank"]).reset_index(drop=True)
    assert len(a) == len(b)
    np.testing.assert_allclose(b["score"].to_numpy(), a["score"].to_numpy(), atol=1e-4)
    # the dial changes the lists (else this test would prove nothing about it) and both engines agree
    plain = _local_table(local_rec)
    assert (plain["row"].to_numpy()[: len(a)] != a["row"].to_numpy()[: len(plain)]).any()
    assert (a["row"].to_numpy() == b["row"].to_numpy()).mean() > 0.999


def test_lsh_recall_against_exact(spark, spark_space, frames, local_rec):
    from recsys.spark.neighbours import spark_neighbours

    table, job = spark_neighbours(spark, spark_space, frames, k=K, method="lsh", tables=4, window=512)
    got = table.toPandas()
    local = _local_table(local_rec)
    assert (got["row"] != got["query_row"]).all() and (got["score"] > 0).all()
    # every LSH score is the exact cosine of the pair (candidates are re-scored exactly)
    vectors = normalize(local_rec.space.X)
    q, r = got["query_row"].to_numpy(), got["row"].to_numpy()
    true = np.asarray(vectors[q].multiply(vectors[r]).sum(axis=1)).ravel()
    np.testing.assert_allclose(got["score"].to_numpy(), true, atol=1e-4)
    exact = local.groupby("query_row")["row"].apply(set)
    found = got.groupby("query_row")["row"].apply(set)
    hits = sum(len(s & found.get(qr, set())) for qr, s in exact.items())
    recall = hits / sum(len(s) for s in exact.values)
    print(f"LSH recall@{K} vs exact on the 3k demo: {recall:.4f}")
    assert recall >= LSH_MIN_RECALL


def test_bad_arguments(spark, spark_space, frames, tmp_path):
    from recsys.errors import CatalogError
    from recsys.spark.frames import CatalogFrames
    from recsys.spark.neighbours import spark_neighbours

    for kw, msg in (({"k": 0}, "k must be a positive integer"), ({"method": "ann"}, "method must be one of"),
                    ({"dial": 2.0}, "dial must be between 0 and 1"), ({"window": 1}, "window must be an int")):
        with pytest.raises(ValueError, match=msg):
            spark_neighbours(spark, spark_space, frames, **kw)
    with pytest.raises(CatalogError, match="does not exist|not found|no catalog|manifest"):
        CatalogFrames(spark, tmp_path / "nothing-here")
