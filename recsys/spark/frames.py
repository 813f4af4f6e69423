"""DataFrame helpers shared by the Spark feature and neighbour jobs: catalog tables and dense row numbers."""

from __future__ import annotations

import os
from pathlib import Path

from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from ..catalog import Catalog
from ..errors import CatalogError

__all__ = ["CatalogFrames", "dense_index"]


def dense_index(df: DataFrame, order: list[str], name: str) -> DataFrame:
    """``df`` with a column ``name`` = 0-based position in the order of ``order`` (ties must not exist).

    Scales past one partition: a range-partitioned sort, per-partition counts collected to the driver (one
    number per partition), then a row number inside each partition plus its offset. The sorted frame is
    persisted so both passes see the same partitioning.
    """
    d = df.repartitionByRange(*order).sortWithinPartitions(*order).withColumn("_pid", F.spark_partition_id())
    d = d.persist()
    counts = {r["_pid"]: r["count"] for r in d.groupBy("_pid").count().collect()}
    offsets, acc = {}, 0
    for pid in sorted(counts):
        offsets[pid] = acc
        acc += counts[pid]
    off = F.create_map(*[x for pid, o in offsets.items() for x in (F.lit(pid), F.lit(o))]) if offsets else None
    w = Window.partitionBy("_pid").orderBy(*order)
    out = d.withColumn(name, (F.row_number().over(w) - 1 + (off[F.col("_pid")] if off is not None else F.lit(0)))
                       .cast("long")).drop("_pid")
    return out


class CatalogFrames:
    """A catalog's Parquet tables as Spark DataFrames, plus the artist row numbers every block is aligned with.

    The manifest is checked on the driver (format version, every table file present with its recorded size);
    the files are then read by Spark, so the catalog directory must be visible to every executor at the same
    path (a shared filesystem on a cluster).
    """

    def __init__(self, spark: SparkSession, catalog: str | os.PathLike | Catalog) -> None:
        self.spark = spark
        self.catalog = catalog if isinstance(catalog, Catalog) else Catalog.open(catalog, verify=False)
        self.path = Path(self.catalog.path).resolve()
        self._cache: dict[str, DataFrame] = {}

    def num_rows(self, table: str) -> int:
        """Rows of a table, from the manifest."""
        return self.catalog.num_rows(table)

    def table(self, name: str, columns: list[str] | None = None) -> DataFrame:
        """Read a catalog table (or some of its columns)."""
        entry = self.catalog.manifest["tables"].get(name)
        if entry is None:
            raise CatalogError(f"catalog {str(self.path)!r} has no table {name!r}",
                               hint="re-run the ingest that made this catalog with this recsys version")
        df = self.spark.read.parquet(str(self.path / entry["file"]))
        return df.select(*columns) if columns else df

    def artist_rows(self) -> DataFrame:
        """(rowid, row, id, name, popularity, followers_total): row = position in the artists table (its rowid
        order), the index space of every feature block."""
        if "artist_rows" not in self._cache:
            a = self.table("artists", ["rowid", "id", "name", "popularity", "followers_total"])
            self._cache["artist_rows"] = dense_index(a, ["rowid"], "row").persist()
        return self._cache["artist_rows"]

    def remember(self, key: str, build) -> DataFrame:
        """``build()`` persisted and memoised under ``key`` (shared relations such as the credits)."""
        if key not in self._cache:
            self._cache[key] = build().persist()
        return self._cache[key]

    def release(self) -> None:
        """Unpersist every memoised frame."""
        for df in self._cache.values():
            df.unpersist()
        self._cache.clear()
