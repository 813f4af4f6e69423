"""Write a Spark result as the user's target, atomically: one Parquet file, or a Parquet dataset directory.

Spark writes a directory of part files. The job writes them into a hidden temporary directory next to the
target; then either the part files are streamed, in order, into one Parquet file (``.parquet`` target) that is
renamed into place, or the directory itself is renamed into place (dataset target). A failure or Ctrl-C removes
the temporary files and leaves an existing target as it was. The target must be on a filesystem the driver can
rename on (a local or mounted shared filesystem).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from pyspark.sql import DataFrame

from ..atomic import atomic_dir, atomic_file
from ..errors import OutputExistsError

__all__ = ["neighbour_schema", "write_table", "check_target"]

def neighbour_schema() -> pa.Schema:
    """The schema ``recsys neighbours SOURCE --all --no-explain --out x.parquet`` writes with the installed pandas:
    query_id, rank int64, id, score float64 (the id columns are ``string`` under pandas 2 and ``large_string``
    under pandas 3, whose string dtype is Arrow-backed); built the way the local table is built."""
    ids = np.asarray(["x"], dtype=object)
    frame = pd.DataFrame({"query_id": ids, "rank": np.arange(1, 2), "id": ids, "score": np.round(np.zeros(1), 4)})
    return pa.Table.from_pandas(frame, preserve_index=False).schema.remove_metadata()


def check_target(out: str | os.PathLike, *, force: bool, dataset: bool) -> Path:
    """Refuse a target early (before any Spark work): it exists without ``force``, or a file target lacks the
    ``.parquet`` suffix."""
    p = Path(out)
    if not dataset and p.suffix.lower() != ".parquet":
        raise ValueError(f"--out must end in .parquet (one file), or pass --dataset for a Parquet directory; "
                         f"got {str(out)!r}")
    if p.exists() and not force:
        raise OutputExistsError(f"output {str(p)!r} already exists", hint="choose another path, or pass --force")
    return p


def _part_files(folder: Path) -> list[Path]:
    # Spark names parts part-<partition>-<uuid>...; name order is partition order, i.e. the sort order
    return sorted(p for p in folder.iterdir() if p.name.startswith("part-") and p.name.endswith(".parquet"))


def write_table(df: DataFrame, out: str | os.PathLike, *, schema: pa.Schema | None = None, force: bool = False,
                dataset: bool = False) -> int:
    """Write ``df`` (already in its final row order) to ``out``; returns the number of rows.

    Parameters
    ----------
    df : DataFrame
    out : path
        ``*.parquet``: one Parquet file; with ``dataset=True``: a directory of Parquet part files (pyarrow's
        ``pq.read_table(out)`` reads it in order).
    schema : pyarrow.Schema, optional
        Cast every part to this schema (names and types of the local engine's table).
    force : bool
        Replace an existing target.
    dataset : bool
        Keep Spark's directory instead of one file.
    """
    target = check_target(out, force=force, dataset=dataset)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.spark-", dir=target.parent))
    try:
        parts_dir = tmp / "parts"
        df.write.mode("overwrite").option("compression", "zstd").parquet(str(parts_dir))
        parts = _part_files(parts_dir)
        rows = 0
        if dataset:
            with atomic_dir(target, force=force, what="output") as final:
                for i, p in enumerate(parts):
                    t = pq.read_table(p)
                    if schema is not None:
                        t = t.select(schema.names).cast(schema)
                    pq.write_table(t, final / f"part-{i:05d}.parquet", compression="zstd")
                    rows += t.num_rows
            return rows
        with atomic_file(target, force=force, what="output") as final:
            sch = schema if schema is not None else (pq.read_schema(parts[0]) if parts else None)
            if sch is None:
                raise RuntimeError(f"Spark wrote no part files into {str(parts_dir)!r} and no schema was given")
            writer = pq.ParquetWriter(final, sch, compression="zstd")
            try:
                for p in parts:
                    f = pq.ParquetFile(p)
                    for i in range(f.num_row_groups):  # one row group at a time: memory stays flat
                        t = f.read_row_group(i)
                        if schema is not None:
                            t = t.select(schema.names).cast(schema)
                        writer.write_table(t)
                        rows += t.num_rows
            finally:
                writer.close()
        return rows
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
