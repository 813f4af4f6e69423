"""``recsys spark ...`` end to end on the tiny hand-written dump, and its refusals of bad input (which happen
before Spark starts)."""

from __future__ import annotations

import os

import pandas as pd
import pyarrow.parquet as pq
import pytest

from recsys.catalog import Catalog
from recsys.cli import main
from recsys.errors import RecsysError
from recsys.recommend import Recommender
from recsys.sources.annas_archive import ingest
from recsys.spark.session import check_spark_available, java_version


@pytest.fixture
def tiny_catalog(tiny_dump, tmp_path):
    return ingest(tiny_dump, tmp_path / "catalog", progress=False)


def test_neighbours_command_writes_the_local_table(spark, tiny_catalog, tmp_path, capsys, caplog):
    out = tmp_path / "spark.parquet"
    # three families keep the run short (tests/spark/test_spark_engine.py compares every family)
    weights = {"genres": 1.0, "popularity": 0.5, "era": 0.0, "labels": 0.0, "markets": 0.0, "compilations": 0.0,
               "audio": 0.0, "collaborations": 0.5, "playlists": 1.0}
    code = main(["spark", "neighbours", str(tiny_catalog.path), "--out", str(out), "--master", "local[2]",
                 *[x for f, v in weights.items() for x in ("--weight", f"{f}={v}")], "--quiet"])
    assert code == 0
    got = pq.read_table(out)
    assert got.column_names == ["query_id", "rank", "id", "score"]
    rec = Recommender.build(Catalog.open(tiny_catalog.path), weights={**weights, "inferred_genres": 0.0})
    local = pd.concat(list(rec.neighbour_table(10, explain=False))).drop(columns=["query_row", "row"])
    pd.testing.assert_frame_equal(got.to_pandas(), local.reset_index(drop=True), check_dtype=True)
    # the inferred_genres weight (0.75 by default) is left out, and the user is told
    assert "does not compute 'inferred_genres'" in caplog.text
    # an existing output is kept unless --force; no temporary files are left behind
    assert main(["spark", "neighbours", str(tiny_catalog.path), "--out", str(out), "--master", "local[2]"]) == 2
    assert "already exists" in capsys.readouterr().err
    assert sorted(os.listdir(tmp_path)) == ["catalog", "dump", "spark.parquet"]


@pytest.mark.parametrize("args, message", [
    (["--k", "0"], "--k must be a positive integer"),
    (["--dial", "1.5"], "--dial must be between 0 and 1"),
    (["--weight", "moods=1"], "unknown family"),
    (["--weight", "genres=-1"], "must be a finite number >= 0"),
])
def test_bad_options_are_refused_before_spark_starts(tiny_catalog, tmp_path, capsys, args, message):
    code = main(["spark", "neighbours", str(tiny_catalog.path), "--out", str(tmp_path / "x.parquet"), *args])
    assert code == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "x.parquet").exists()


def test_missing_catalog_and_bad_target(tmp_path, capsys):
    assert main(["spark", "neighbours", str(tmp_path / "nope"), "--out", str(tmp_path / "x.parquet")]) == 2
    err = capsys.readouterr().err
    assert "does not exist" in err and "recsys ingest" in err
    assert main(["spark", "neighbours", str(tmp_path), "--out", str(tmp_path / "x.csv")]) == 2
    assert "--out must end in .parquet" in capsys.readouterr().err


def test_java_is_found_and_checked(monkeypatch, tmp_path):
    found = java_version()
    if found is None:
        pytest.skip("no Java runtime on this machine")
    assert found[0] >= 8 and "version" in found[1]
    # no Java anywhere: a RecsysError that names the spark extra and Java 17
    monkeypatch.setenv("JAVA_HOME", str(tmp_path / "no-java"))
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(RecsysError, match="Java") as e:
        check_spark_available()
    assert "pip install 'recsys[spark]'" in str(e.value) and "Java 17+" in str(e.value)
