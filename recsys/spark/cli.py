"""``recsys spark ...``: the Spark engine from the command line (also the entry point for ``spark-submit``).

``recsys spark neighbours CATALOG --out table.parquet`` writes the neighbour table of every artist in the format
of ``recsys neighbours CATALOG --all --no-explain --out table.parquet`` (query_id, rank, id, score);
``recsys spark features CATALOG --out DIR`` writes the artist vectors as a Parquet directory. With
``spark-submit``, run the wrapper file: ``spark-submit [options] recsys/spark/submit.py neighbours CATALOG --out
table.parquet`` (spark-submit then sets the master and memory).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from collections.abc import Sequence
from pathlib import Path

__all__ = ["add_parser", "main"]


def _say(msg: str, quiet: bool) -> None:
    if not quiet:
        print(msg, file=sys.stderr)


def _weights(pairs: Sequence[str] | None) -> dict[str, float] | None:
    from ..cli import parse_params

    w = parse_params(pairs, "--weight")
    out = {}
    for k, v in w.items():
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise ValueError(f"--weight {k}={v!r}: the weight must be a number")
        out[k] = float(v)
    return out or None


def _open(a: argparse.Namespace):
    """Check the catalog and options cheaply, then start Spark."""
    from ..catalog import Catalog
    from ..errors import RecsysError
    from .session import spark_session

    if not Path(a.catalog).exists():
        raise RecsysError(f"catalog {a.catalog!r} does not exist",
                          hint="pass a catalog directory written by `recsys ingest`")
    cat = Catalog.open(a.catalog, verify=False)
    from .features import spark_weights

    spark_weights(_weights(a.weight))  # unknown family names and bad values fail before Spark starts
    spark = spark_session(a.master, driver_memory=a.driver_memory)
    logging.basicConfig(level=logging.WARNING, format="warning: %(message)s")
    return cat, spark


def cmd_neighbours(a: argparse.Namespace) -> int:
    from .output import check_target, neighbour_schema

    if a.k < 1:
        raise ValueError(f"--k must be a positive integer, got {a.k}")
    if not 0.0 <= a.dial <= 1.0:
        raise ValueError(f"--dial must be between 0 and 1, got {a.dial}")
    check_target(a.out, force=a.force, dataset=a.dataset)
    cat, spark = _open(a)
    from .features import build_spark_artist_space
    from .frames import CatalogFrames
    from .neighbours import spark_neighbours
    from .output import write_table

    t0 = time.perf_counter()
    frames = CatalogFrames(spark, cat)
    space = build_spark_artist_space(spark, frames, weights=_weights(a.weight), progress=not a.quiet)
    t1 = time.perf_counter()
    _say(f"features: {space.n_rows:,} artists x {space.n_cols:,} columns in {t1 - t0:.1f}s"
         + (f" (left out: {', '.join(space.left_out)})" if space.left_out else ""), a.quiet)
    table, job = spark_neighbours(spark, space, frames, k=a.k, method=a.method, dial=a.dial,
                                  block_rows=a.block_rows, tables=a.tables, window=a.window, seed=a.seed)
    out = table.select("query_id", table["rank"].cast("long").alias("rank"), "id", "score")
    rows = write_table(out, a.out, schema=neighbour_schema(), force=a.force, dataset=a.dataset)
    t2 = time.perf_counter()
    _say(f"{rows:,} neighbour rows ({a.method}, k={a.k}) for {space.n_rows:,} artists written to {a.out} "
         f"in {t2 - t0:.1f}s (features {t1 - t0:.1f}s, neighbours {t2 - t1:.1f}s)", a.quiet)
    if a.json:
        print(json.dumps({"rows": rows, "artists": space.n_rows, "features": space.n_cols, "method": a.method,
                          "k": a.k, "features_seconds": round(t1 - t0, 3), "neighbours_seconds": round(t2 - t1, 3),
                          "left_out": space.left_out, "params": job.params}, indent=2))
    return 0


def cmd_features(a: argparse.Namespace) -> int:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from ..atomic import atomic_dir

    out = Path(a.out)
    if out.exists() and not a.force:
        from ..errors import OutputExistsError

        raise OutputExistsError(f"output {str(out)!r} already exists", hint="choose another path, or pass --force")
    cat, spark = _open(a)
    from .features import build_spark_artist_space

    t0 = time.perf_counter()
    space = build_spark_artist_space(spark, cat, weights=_weights(a.weight), progress=not a.quiet)
    with atomic_dir(out, force=a.force, what="output") as tmp:
        space.entries.orderBy("row", "col").write.option("compression", "zstd").parquet(str(tmp / "entries"))
        names = space.names.orderBy("col").toPandas()
        fams = []
        for fam, sl in space.blocks:
            fams += [fam] * (sl.stop - sl.start)
        pq.write_table(pa.table({"col": pa.array(names["col"].to_numpy(), pa.int32()),
                                 "family": pa.array(fams, pa.string()),
                                 "name": pa.array(names["name"].tolist(), pa.string())}), tmp / "columns.parquet")
        (tmp / "space.json").write_text(json.dumps({
            "format": "recsys-spark-features", "format_version": 1, "kind": "artist", "n_rows": space.n_rows,
            "n_cols": space.n_cols, "weights": space.weights, "left_out": space.left_out,
            "blocks": [[f, sl.start, sl.stop] for f, sl in space.blocks],
            "catalog": str(Path(a.catalog).resolve())}, indent=2) + "\n", encoding="utf-8")
    _say(f"{space.n_rows:,} artists x {space.n_cols:,} features written to {out} in "
         f"{time.perf_counter() - t0:.1f}s" + (f" (left out: {', '.join(space.left_out)})" if space.left_out else ""),
         a.quiet)
    return 0


def _common(s: argparse.ArgumentParser) -> None:
    s.add_argument("catalog", help="catalog directory from `recsys ingest` (on a cluster: a path every executor sees)")
    s.add_argument("--weight", action="append", metavar="FAMILY=W",
                   help="feature-family weight, e.g. --weight genres=2 (repeat); inferred_genres is not computed")
    s.add_argument("--master", default=None,
                   help="Spark master: local[*] (default), local[2], spark://HOST:7077, yarn, k8s://https://HOST:443 "
                        "(default $RECSYS_SPARK_MASTER, or what spark-submit set)")
    s.add_argument("--driver-memory", default=None, metavar="SIZE",
                   help="driver memory, e.g. 8g (default $RECSYS_SPARK_DRIVER_MEMORY or Spark's 1g)")
    s.add_argument("--force", action="store_true", help="replace an existing --out")
    s.add_argument("--quiet", action="store_true", help="no progress output")


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Register ``recsys spark {neighbours,features}`` on the ``recsys`` subparsers."""
    p = subparsers.add_parser("spark", help="the feature aggregation and neighbour tables as Apache Spark jobs",
                              description="Run the artist pipeline on Apache Spark (PySpark, Java 17+): local[*] on "
                                          "this machine or a cluster via --master or spark-submit.")
    sub = p.add_subparsers(dest="spark_command", required=True, metavar="SPARK_COMMAND")
    s = sub.add_parser("neighbours", aliases=["neighbors"], help="every artist's neighbours, as a Parquet table",
                       description="Build the artist vectors (every family but inferred_genres) and the neighbour "
                                   "table of every artist with Spark; writes the table of `recsys neighbours CATALOG "
                                   "--all --no-explain --out X.parquet` (query_id, rank, id, score).")
    _common(s)
    s.add_argument("--out", required=True, help="X.parquet (one file) or, with --dataset, a directory")
    s.add_argument("--dataset", action="store_true", help="write a Parquet directory of part files")
    s.add_argument("--method", choices=["exact", "lsh"], default="exact",
                   help="exact: blocked exact cosine (equals the local exact_cosine table); lsh: SimHash windows "
                        "(approximate, linear cost)")
    s.add_argument("--k", type=int, default=10, help="neighbours per artist (default 10)")
    s.add_argument("--dial", type=float, default=0.0, help="long-tail dial 0 (mainstream, default) .. 1 (deep cuts)")
    s.add_argument("--block-rows", type=int, default=4096, help="artists per block (default 4096)")
    s.add_argument("--tables", type=int, default=8, help="lsh: 64-bit signatures (default 8)")
    s.add_argument("--window", type=int, default=1024, help="lsh: artists scored together (default 1024)")
    s.add_argument("--seed", type=int, default=0, help="lsh: seed of the random hyperplanes (default 0)")
    s.add_argument("--json", action="store_true", help="print a JSON summary (rows, seconds, parameters)")
    s.set_defaults(func=cmd_neighbours)
    s = sub.add_parser("features", help="the artist vectors as a Parquet directory",
                       description="Write entries/ (row, col, value: the weighted, normalised artist x feature "
                                   "matrix), columns.parquet (col, family, name) and space.json.")
    _common(s)
    s.add_argument("--out", required=True, help="output directory")
    s.set_defaults(func=cmd_features)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """``recsys spark ...`` as a program (for spark-submit via recsys/spark/submit.py)."""
    from ..cli import main as recsys_main

    return recsys_main(["spark", *(sys.argv[1:] if argv is None else argv)])
