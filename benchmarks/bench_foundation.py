"""Foundation benchmark: demo generator time, ingest throughput, and ingest vs a plain sqlite3 scan.

Usage::

    python benchmarks/bench_foundation.py --artists 100000 --out benchmarks/out/foundation.json

Writes JSON with the machine, the generator time, ingest rows/s and the ratio of ingest time to two plain
full scans of the same tables with Python's sqlite3, measured in the same run, in alternation (scan, ingest,
scan, ingest, ...) so both see the same page cache:

* ``select_star``: ``SELECT * FROM t`` for every table ingest reads (what "a plain full scan" means);
* ``select_columns``: ``SELECT <the columns ingest reads> FROM t``, the stricter baseline.

Target (issue 2): ingest no slower than 2x the plain scan.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

from recsys.schema import SOURCE_TABLES, SourceFile
from recsys.sources.annas_archive import IngestOptions, ingest
from recsys.sources.synthetic import generate_dump


def machine() -> dict:
    mem = None
    try:
        with open("/proc/meminfo") as f:
            mem = int(f.readline().split()[1]) // 1024
    except OSError:
        pass
    return {"python": platform.python_version(), "platform": platform.platform(), "cpus": os.cpu_count(),
            "mem_mb": mem, "sqlite": sqlite3.sqlite_version}


def plain_scan(dump: Path, columns_only: bool) -> tuple[float, int]:
    """Full scan of every table ingest reads; returns (seconds, rows)."""
    rows = 0
    t0 = time.perf_counter()
    for file in SourceFile:
        path = dump / file.value
        conn = sqlite3.connect(f"file:{path}?mode=ro&immutable=1", uri=True)
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        for spec in SOURCE_TABLES.values():
            if spec.file is not file or spec.name not in tables:
                continue
            cols = ", ".join(spec.required + spec.optional) if columns_only else "*"
            for _ in conn.execute(f"SELECT {cols} FROM {spec.name}"):
                rows += 1
        conn.close()
    return time.perf_counter() - t0, rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--artists", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--repeats", type=int, default=3, help="alternating scan/ingest rounds")
    ap.add_argument("--out", default="benchmarks/out/foundation.json")
    ap.add_argument("--workdir", default=None, help="where to write the dump (default: a temp dir, removed)")
    a = ap.parse_args()

    work = Path(a.workdir) if a.workdir else Path(tempfile.mkdtemp(prefix="recsys-bench-"))
    dump = work / "dump"
    try:
        t0 = time.perf_counter()
        stats = generate_dump(dump, n_artists=a.artists, seed=a.seed, force=True, progress=False)
        gen_s = time.perf_counter() - t0

        star, cols, ing = [], [], []
        rows_star = rows_cols = ingested = 0
        for i in range(a.repeats):
            s, rows_star = plain_scan(dump, columns_only=False)
            star.append(s)
            s, rows_cols = plain_scan(dump, columns_only=True)
            cols.append(s)
            t0 = time.perf_counter()
            cat = ingest(dump, work / "catalog", options=IngestOptions(), force=True, progress=False)
            ing.append(time.perf_counter() - t0)
            ingested = sum(cat.num_rows(t) for t in cat.table_names)
            print(f"round {i + 1}: select* {star[-1]:.2f}s  select-cols {cols[-1]:.2f}s  ingest {ing[-1]:.2f}s",
                  file=sys.stderr)
        med = statistics.median
        result = {
            "benchmark": "foundation",
            "machine": machine(),
            "n_artists": a.artists,
            "generator": {"seconds": round(gen_s, 2), "target_seconds": 60,
                          "rows": stats.get("rows") or stats.get("row_counts"), "stats": stats},
            "ingest": {"seconds_median": round(med(ing), 3), "seconds_all": [round(x, 3) for x in ing],
                       "rows_written": ingested, "rows_read": rows_star,
                       "rows_per_second": round(rows_star / med(ing))},
            "plain_scan": {
                "select_star": {"seconds_median": round(med(star), 3), "rows": rows_star},
                "select_columns": {"seconds_median": round(med(cols), 3), "rows": rows_cols},
            },
            "ratio_ingest_to_select_star": round(med(ing) / med(star), 3),
            "ratio_ingest_to_select_columns": round(med(ing) / med(cols), 3),
            "target_ratio_max": 2.0,
        }
        out = Path(a.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(result, indent=2) + "\n")
        print(json.dumps({k: result[k] for k in ("ratio_ingest_to_select_star", "ratio_ingest_to_select_columns")}
                         | {"generator_s": result["generator"]["seconds"],
                            "ingest_rows_per_s": result["ingest"]["rows_per_second"]}))
    finally:
        if not a.workdir:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
