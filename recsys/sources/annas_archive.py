"""Read the Anna's Archive Spotify SQLite files into a catalog.

Mental model: *open read-only, check the schema, stream every table in rowid ranges, validate each batch with
vectorised checks, write Parquet batches into a temporary catalog that is renamed into place at the end.*

What is read (see ``aa-schema.md``): ``spotify_clean.sqlite3`` (required; only its ``artists`` table is
mandatory, every other table may be absent or empty), and, when present next to it,
``spotify_clean_audio_features.sqlite3`` and ``spotify_clean_playlists.sqlite3``.

Rules the dump must follow, and what happens when it does not:

* NULL in a NOT NULL column, duplicate Spotify ids, a dangling foreign key inside the main file, popularity
  outside 0..100, a release date that does not parse: :class:`~recsys.errors.DataError` naming the table,
  column, rowid and value. With ``lenient=True`` such rows are dropped (dates: the year is set to null) and
  counted in the manifest's ``stats.dropped``.
* Known dirt of the real dump is not an error: dates starting with ``0000`` get a null ``release_year``
  (``stats.bogus_dates``); audio-feature rows with ``null_response = 1`` or for tracks missing from the main file,
  and playlist entries that are episodes, local files or tracks missing from the main file, are skipped and
  counted.
* Known schema variants are tolerated: ``external_id_ean``/``external_id_upc`` on tracks present or not,
  ``external_id_amgid`` anywhere on albums, tempo stored as INTEGER, REAL or TEXT, extra unknown columns.

Memory grows with the dump by a few bytes per source row only: every table is streamed in rowid ranges of
``batch_rows``; the per-row state is one bool per rowid of artists, albums, tracks and playlists ("exists",
"kept"), and, while audio features are read, one int32 per audio-features rowid (its track's rowid, from a
page-by-page merge join of both files' id indexes, :meth:`_Ingest._audio_track_map`). At the real dump's size
(15.4M artists, 58.6M albums, 256M tracks, 255M audio rows, 6.6M playlists) that is 2 x (15.4 + 58.6 + 256)M +
6.6M bytes = 0.67 GB plus 4 x 255M bytes = 1.02 GB for the audio map, next to a fixed part of about 0.3 GB
(batches in flight, SQLite caches, libraries): about 2 GB. Without indexes on the ids (not the real dump) the join
falls back to holding the kept tracks' ids (:class:`_TrackLookup`), and duplicate ids are found by a GROUP BY
that SQLite spills to temporary files.

Slices: ``min_artist_popularity``, ``max_artists`` (most popular first, or a seeded random sample) and
``min_track_popularity``. Kept tracks are those credited to at least one kept artist (credits to dropped
artists are removed); kept albums are those of kept tracks plus those linked to kept artists in
``artist_albums``. So every foreign key in the catalog resolves.
"""

from __future__ import annotations

import os
import sqlite3
import struct
import urllib.parse
from collections import Counter
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import adbc_driver_sqlite.dbapi as adbc_sqlite
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from tqdm.auto import tqdm

from ..catalog import Catalog, CatalogWriter, describe_source_file
from ..errors import DataError, SchemaError, SourceError
from ..schema import SOURCE_TABLES, SourceFile, TableSpec

__all__ = ["IngestOptions", "ingest", "locate_sources", "open_readonly"]

_LENIENT_HINT = ("the file may be damaged or not an Anna's Archive dump; re-run with --lenient to drop such rows "
                 "(they are counted in the catalog manifest)")
_SQLITE_MAGIC = b"SQLite format 3\x00"
# What a damaged file raises while being read: SQLite's own errors, or garbage where text should be.
_DAMAGE = (sqlite3.DatabaseError, UnicodeDecodeError)
# ADBC's SQLite driver fixes each column's type on a result's first batch and fails on a later value of another
# type, so every query must come back as one batch: its batch size is set to the most rows the query can return.
# It also reserves batch size x 8 bytes per column up front: a fixed 2**26 rows cost 512 MB of address space per
# column (untouched, but charged against the kernel's commit limit and, merged across a long-lived process's
# failed ingests, enough for fork() to fail), so the size is the query's own bound, with a re-run if it is passed.
_ADBC_GUESS_ROWS = 1 << 16
_DAMAGE_HINT = "the file is damaged or truncated; fetch or decompress it again"
_DATE_DAY = r"^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])$"
_DATE_MONTH = r"^\d{4}-(0[1-9]|1[0-2])$"
_DATE_YEAR = r"^\d{4}$"


@dataclass(frozen=True)
class IngestOptions:
    """Options of one ingest run (stored in the catalog manifest).

    Parameters
    ----------
    min_artist_popularity, min_track_popularity : int
        Keep artists / tracks with popularity >= this (0..100; 0 keeps all).
    max_artists : int or None
        Keep at most this many artists (after the popularity filter).
    sample : {"top", "random"}
        With ``max_artists``: the most popular (by popularity, then followers) or a random sample.
    seed : int
        Seed of the random sample.
    lenient : bool
        Drop rows that break the dump's rules instead of stopping (counted in ``stats.dropped``).
    batch_rows : int
        Rows per rowid range read at once.
    """

    min_artist_popularity: int = 0
    min_track_popularity: int = 0
    max_artists: int | None = None
    sample: str = "top"
    seed: int = 0
    lenient: bool = False
    batch_rows: int = 100_000

    def __post_init__(self) -> None:
        for name in ("min_artist_popularity", "min_track_popularity"):
            v = getattr(self, name)
            if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or not 0 <= v <= 100:
                raise ValueError(f"{name} must be an integer in 0..100, got {v!r}")
        if self.max_artists is not None and (
                not isinstance(self.max_artists, (int, np.integer)) or self.max_artists < 1):
            raise ValueError(f"max_artists must be a positive integer or None, got {self.max_artists!r}")
        if self.sample not in ("top", "random"):
            raise ValueError(f"sample must be 'top' or 'random', got {self.sample!r}")
        if not isinstance(self.batch_rows, int) or self.batch_rows < 1:
            raise ValueError(f"batch_rows must be a positive integer, got {self.batch_rows!r}")

    @property
    def filters_artists(self) -> bool:
        return self.max_artists is not None or self.min_artist_popularity > 0


# --- opening files --------------------------------------------------------------------------------------------

def locate_sources(source: str | os.PathLike) -> dict[SourceFile, Path]:
    """Find the dump files: ``source`` is a directory holding them or the path of ``spotify_clean.sqlite3``.

    Returns a dict with ``SourceFile.MAIN`` always, and the audio-features / playlists files when present
    next to it. Raises :class:`SourceError` when the main file is missing.
    """
    p = Path(source)
    if not p.exists():
        raise SourceError(f"source path {str(p)!r} does not exist",
                          hint="pass the directory holding spotify_clean.sqlite3, or the file itself")
    if p.is_dir():
        main = p / SourceFile.MAIN.value
        if not main.is_file():
            found = sorted(x.name for x in p.iterdir() if x.suffix in (".sqlite3", ".zst", ".sqlite", ".db"))
            extra = f" (found: {', '.join(found[:8])})" if found else ""
            zst = " It holds .zst files: decompress them first (zstd -d)." if any(f.endswith(".zst") for f in found) else ""
            raise SourceError(f"directory {str(p)!r} has no {SourceFile.MAIN.value}{extra}.{zst}",
                              hint="pass the directory of the decompressed Anna's Archive metadata files")
        folder = p
    else:
        main = p
        folder = p.parent
    files = {SourceFile.MAIN: main}
    for f in (SourceFile.AUDIO_FEATURES, SourceFile.PLAYLISTS):
        if (folder / f.value).is_file():
            files[f] = folder / f.value
    return files


def _check_sqlite_header(path: Path) -> None:
    """Refuse non-SQLite and truncated files from the 100-byte header alone (no full scan of a 100 GB file)."""
    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(100)
    if len(head) < 100 or not head.startswith(_SQLITE_MAGIC):
        raise SourceError(f"{str(path)!r} is not an SQLite database ({size} bytes, no SQLite header)",
                          hint="pass the decompressed .sqlite3 file (zstd -d FILE.sqlite3.zst)")
    page_size = struct.unpack(">H", head[16:18])[0]
    page_size = 65536 if page_size == 1 else page_size
    change_counter, page_count = struct.unpack(">II", head[24:32])
    valid_for = struct.unpack(">I", head[92:96])[0]
    if valid_for == change_counter and page_count and size < page_size * page_count:
        raise SourceError(
            f"{str(path)!r} is truncated: {size:,} bytes, its header says {page_size * page_count:,}",
            hint="the download or decompression did not finish; fetch or decompress the file again")


def _readonly_uri(path: Path) -> str:
    return "file:" + urllib.parse.quote(str(Path(path).resolve())) + "?mode=ro&immutable=1"


def open_readonly(path: str | os.PathLike) -> sqlite3.Connection:
    """Open an SQLite file strictly read-only (``mode=ro&immutable=1``: no locks, journals or writes)."""
    path = Path(path)
    if not path.is_file():
        raise SourceError(f"source file {str(path)!r} does not exist or is not a file")
    _check_sqlite_header(path)
    try:
        conn = sqlite3.connect(_readonly_uri(path), uri=True, check_same_thread=False)
        conn.execute("PRAGMA query_only = 1")
        conn.execute("PRAGMA mmap_size = 1073741824")
        conn.execute("PRAGMA cache_size = -262144")
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except _DAMAGE as e:
        raise SourceError(f"cannot read {str(path)!r} as SQLite: {e}", hint=_DAMAGE_HINT) from e
    return conn


# --- the reader -----------------------------------------------------------------------------------------------

_INT_COLUMNS = {
    "rowid", "followers_total", "popularity", "artist_rowid", "album_rowid", "track_rowid", "playlist_rowid",
    "available_markets_rowid", "total_tracks", "track_number", "disc_number", "duration_ms", "explicit",
    "is_appears_on", "is_implicit_appears_on", "index_in_album", "null_response", "tracks_total", "position",
    "is_episode", "key", "mode", "time_signature",
}
_REAL_COLUMNS = {"danceability", "energy", "loudness", "speechiness", "acousticness", "instrumentalness", "liveness",
                 "valence", "tempo"}


def _column_type(name: str) -> pa.DataType:
    if name in _INT_COLUMNS:
        return pa.int64()
    if name in _REAL_COLUMNS:
        return pa.float64()
    return pa.string()


def _as_type(arr: pa.ChunkedArray | pa.Array, column: str) -> pa.Array:
    """One result column as a plain Arrow array of the column's class (an all-NULL column comes back as int64)."""
    arr = arr.combine_chunks() if isinstance(arr, pa.ChunkedArray) else arr
    typ = _column_type(column)
    return arr if arr.type == typ else arr.cast(typ)


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class _Source:
    """One open source file: a Python sqlite3 connection for the schema and exact error messages, and an ADBC
    connection that reads row batches straight into Arrow (no Python object per value)."""

    def __init__(self, file: SourceFile, path: Path, reader: ThreadPoolExecutor) -> None:
        self.file, self.path, self.schema = file, path, "main"
        self.conn = open_readonly(path)
        # ADBC runs on a reader thread: on the main thread it installs its own SIGINT handler that tries to
        # cancel the statement, which its SQLite driver does not implement, so Ctrl-C would become an error.
        # Off the main thread, Ctrl-C is a plain KeyboardInterrupt in the main thread's wait.
        self.reader = reader
        try:
            self.adbc = reader.submit(adbc_sqlite.connect, _readonly_uri(path)).result()
        except (*_DAMAGE, OSError) as e:  # the ADBC driver reports SQLite errors as OSError
            self.conn.close()
            raise SourceError(f"cannot read {str(path)!r} as SQLite: {e}", hint=_DAMAGE_HINT) from e
        rows = self.conn.execute("SELECT name, type FROM sqlite_master WHERE type='table'").fetchall()
        self.tables = {r[0] for r in rows}
        self._cols: dict[str, list[str]] = {}

    def close(self) -> None:
        """Close both connections (call after the reader thread has finished its last query)."""
        for c in (self.conn, self.adbc):
            try:
                c.close()
            except Exception:
                pass

    def fetch(self, sql: str, params: tuple = (), *, rows: int = _ADBC_GUESS_ROWS) -> pa.Table:
        """Run a query through ADBC and return all its rows as one Arrow table of one batch.

        ``rows`` is the most rows the query should return (ADBC reserves that many per column up front); a query
        that returns more, or whose later rows change a column's type, is counted and run again at its size.
        """
        return self.reader.submit(self._fetch, sql, params, max(int(rows), 1)).result()

    def _fetch(self, sql: str, params: tuple, rows: int) -> pa.Table:
        try:
            t = self._run(sql, params, rows)
            if t is not None and len(t.to_batches()) <= 1:
                return t
            # past its bound: run again at its size (counted only when a type change stopped the first run)
            n = t.num_rows if t is not None else \
                self._run(f"SELECT count(*) FROM ({sql})", params, 1).column(0)[0].as_py()
            return self._run(sql, params, n + 1, retry=False)
        except OSError as e:  # the ADBC driver reports SQLite errors (damage, I/O) as OSError
            raise SourceError(f"{str(self.path)!r}: reading failed: {e}", hint=_DAMAGE_HINT) from e

    def _run(self, sql: str, params: tuple, rows: int, retry: bool = True) -> pa.Table | None:
        """One ADBC query at batch size ``rows``; None when a later batch changed a column's type (``retry``)."""
        cur = self.adbc.cursor()
        try:
            cur.adbc_statement.set_options(**{"adbc.sqlite.query.batch_rows": str(rows)})
            cur.execute(sql, params)
            return cur.fetch_arrow_table()
        except OSError as e:
            if retry and "Type mismatch" in str(e):
                return None
            raise
        finally:
            cur.close()

    def columns(self, table: str) -> list[str]:
        if table not in self._cols:
            info = self.conn.execute(f"PRAGMA table_info({_q(table)})").fetchall()
            self._cols[table] = [r[1] for r in info]
        return self._cols[table]

    def has(self, table: str) -> bool:
        return table in self.tables

    def check(self, spec: TableSpec) -> list[str]:
        """Validate a table's columns; return the optional columns present. Raises SchemaError."""
        if not self.has(spec.name):
            if spec.required_table:
                raise SchemaError(
                    f"{str(self.path)!r} has no table {spec.name!r} (tables found: {sorted(self.tables) or 'none'})",
                    hint=f"pass {spec.file.value} from the Anna's Archive Spotify metadata release")
            return []
        present = set(self.columns(spec.name)) | {"rowid"}
        missing = [c for c in spec.required if c not in present]
        if missing:
            raise SchemaError(
                f"{str(self.path)!r}: table {spec.name!r} lacks column(s) {missing}; "
                f"expected at least {list(spec.required)}, found {self.columns(spec.name)}",
                hint="this is not the Anna's Archive schema (or an unsupported variant); see data/README.md")
        return [c for c in spec.optional if c in present]

    def table_ref(self, table: str) -> str:
        return _q(table)

    def rowid_span(self, table: str, key: str = "rowid") -> tuple[int, int]:
        # Two queries: SQLite answers a lone min() or max() from one end of the b-tree, but ``min(k), max(k)``
        # together scan the whole table (through the 1 GB mmap and the page cache: resident memory).
        lo = self.conn.execute(f"SELECT min({key}) FROM {self.table_ref(table)}").fetchone()[0]
        hi = self.conn.execute(f"SELECT max({key}) FROM {self.table_ref(table)}").fetchone()[0]
        return (0, -1) if lo is None else (int(lo), int(hi))

    def has_unique_index(self, table: str, column: str) -> bool:
        for row in self.conn.execute(f"PRAGMA index_list({_q(table)})"):
            name, unique = row[1], row[2]
            if unique:
                cols = [r[2] for r in self.conn.execute(f"PRAGMA index_info({_q(name)})")]
                if cols == [column]:
                    return True
        return False


class _Ingest:
    def __init__(self, files: dict[SourceFile, Path], writer: CatalogWriter, opts: IngestOptions,
                 progress: bool) -> None:
        self.w, self.o, self.progress = writer, opts, progress
        self.sources: list[_Source] = []
        self._reader = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-reader")
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="parquet-writer")
        self._pending: list[Future] = []
        try:
            self.main = self._open(SourceFile.MAIN, files[SourceFile.MAIN])
            self.extra: dict[SourceFile, _Source] = {f: self._open(f, files[f]) for f in
                                                     (SourceFile.AUDIO_FEATURES, SourceFile.PLAYLISTS) if f in files}
        except BaseException:
            self.close()
            raise
        self.dropped: Counter[str] = Counter()
        self.stats = writer.stats
        # Ids of kept tracks, to join audio features (keyed by Spotify track id) when the files lack the id indexes
        # that let :meth:`_audio_track_map` join them page by page (decided in :meth:`run`).
        self._collect_ids = False
        self._kept_ids: list[pa.Array] = []
        self._kept_rowids: list[np.ndarray] = []
        self._dup_values: tuple[set[str] | None, pa.Array | None] = (None, None)
        self.stats["dropped"] = {}

    def _open(self, file: SourceFile, path: Path) -> _Source:
        src = _Source(file, path, self._reader)
        self.sources.append(src)
        return src

    def close(self) -> None:
        """Wait for the in-flight read and write (Ctrl-C may have left one running), then close the files."""
        self._reader.shutdown(wait=True, cancel_futures=True)
        self._pool.shutdown(wait=True, cancel_futures=True)
        for src in self.sources:
            src.close()

    # -- helpers
    def _src(self, spec: TableSpec) -> _Source | None:
        if spec.file is SourceFile.MAIN:
            return self.main
        return self.extra.get(spec.file)

    def _fail(self, src: _Source, table: str, what: str) -> None:
        raise DataError(f"{str(src.path)!r}: table {table!r}: {what}", hint=_LENIENT_HINT)

    def _drop(self, src: _Source, table: str, reason: str, bad: np.ndarray, rowids: np.ndarray,
              values: Sequence | None = None) -> np.ndarray:
        """Handle rows that break a rule: raise (strict) or count and return a keep-mask (lenient)."""
        if not bad.any():
            return ~bad
        if not self.o.lenient:
            i = int(np.flatnonzero(bad)[0])
            val = f" (value {values[i]!r})" if values is not None else ""
            self._fail(src, table, f"{reason} at rowid {int(rowids[i])}{val}; {int(bad.sum())} such row(s) in this batch")
        self.dropped[f"{table}: {reason}"] += int(bad.sum())
        return ~bad

    def _batches(self, src: _Source, table: str, cols: list[str], key: str = "rowid",
                 order: str = "rowid", desc: str | None = None) -> Iterator[tuple[np.ndarray, dict[str, pa.Array]]]:
        """Yield (key values, {column: arrow array}) per key range, in key order.

        Each column is CAST to its declared class so that ADBC infers one Arrow type per batch, and a per-row
        flag records whether every value already had that class: a value of the wrong type is caught here, not
        silently converted by the CAST.
        """
        lo, hi = src.rowid_span(table, key)
        if hi < lo:
            return
        exprs, checks = [], []
        for c in cols:
            typ = "INTEGER" if c in _INT_COLUMNS else "REAL" if c in _REAL_COLUMNS else "TEXT"
            exprs.append(f"CAST({_q(c)} AS {typ}) AS {_q(c)}")
            ok = {"INTEGER": "'integer'", "REAL": "'real', 'integer'", "TEXT": "'text'"}[typ]
            checks.append(f"typeof({_q(c)}) IN ({ok}, 'null')")
        sql = (f"SELECT {key}, {', '.join(exprs)}, ({' AND '.join(checks) or '1'}) AS _types_ok "
               f"FROM {src.table_ref(table)} WHERE {key} BETWEEN ? AND ? ORDER BY {order}")
        step = self.o.batch_rows
        if key != "rowid":  # playlist_tracks: ranges of playlists, sized to about batch_rows entries
            # Counted through ADBC (no mmap): on the Python connection this scan would map up to 1 GB of the
            # file into the process (resident, so it counts as the ingest's memory).
            n = src.fetch(f"SELECT count(*) FROM {src.table_ref(table)}", rows=1).column(0)[0].as_py()
            step = max(1, int(self.o.batch_rows * (hi - lo + 1) / max(n, 1)))
        bar = tqdm(total=hi - lo + 1, desc=desc or table, unit="id", unit_scale=True, disable=not self.progress,
                   leave=False)
        try:
            start = lo
            while start <= hi:
                end = min(start + step - 1, hi)
                # a rowid range holds at most one row per id; a playlist range about batch_rows entries
                t = src.fetch(sql, (start, end), rows=end - start + 1 if key == "rowid" else 2 * self.o.batch_rows)
                bar.update(end - start + 1)
                start = end + 1
                if t.num_rows == 0:
                    continue
                keys = t.column(0).to_numpy()
                out = {c: _as_type(t.column(i + 1), c) for i, c in enumerate(cols)}
                ok = t.column(len(cols) + 1).to_numpy() != 0
                if not ok.all():
                    out, keys = self._wrong_types(src, table, cols, key, keys, out, ok)
                yield keys, out
        except _DAMAGE as e:
            raise SourceError(f"{str(src.path)!r}: reading table {table!r} failed: {e}", hint=_DAMAGE_HINT) from e
        finally:
            bar.close()

    def _wrong_types(self, src: _Source, table: str, cols: list[str], key: str, keys: np.ndarray,
                     out: dict[str, pa.Array], ok: np.ndarray) -> tuple[dict[str, pa.Array], np.ndarray]:
        """Rows with a value of the wrong type: name the first one (strict) or drop them (lenient)."""
        if not self.o.lenient:
            bad_key = int(keys[np.flatnonzero(~ok)[0]])
            row = src.conn.execute(f"SELECT {', '.join(_q(c) for c in cols)} FROM {src.table_ref(table)} "
                                   f"WHERE {key} = ? LIMIT 1", (bad_key,)).fetchone()
            for c, v in zip(cols, row):
                want = int if c in _INT_COLUMNS else (int, float) if c in _REAL_COLUMNS else str
                if v is not None and not isinstance(v, want):
                    self._fail(src, table, f"column {c!r} holds {v!r} at {key} {bad_key}, expected "
                                           f"{'an integer' if want is int else 'a number' if c in _REAL_COLUMNS else 'text'}")
            self._fail(src, table, f"a value of the wrong type at {key} {bad_key}")
        self.dropped[f"{table}: value of the wrong type"] += int((~ok).sum())
        mask = pa.array(ok)
        return {c: a.filter(mask) for c, a in out.items()}, keys[ok]

    @staticmethod
    def _ints(arr: pa.Array) -> np.ndarray:
        """Integer column as int64 numpy with -1 for NULL (callers check NOT NULL first)."""
        return arr.fill_null(-1).to_numpy()

    def _not_null(self, src, spec: TableSpec, cols: dict[str, pa.Array], rowids: np.ndarray,
                  keep: np.ndarray) -> np.ndarray:
        for c in spec.not_null:
            if c in cols and cols[c].null_count:
                bad = cols[c].is_null().to_numpy(zero_copy_only=False)
                keep &= self._drop(src, spec.name, f"NULL in NOT NULL column {c!r}", bad, rowids)
        return keep

    def _popularity(self, src, table, pop: np.ndarray, rowids, keep) -> np.ndarray:
        bad = (pop < 0) | (pop > 100)
        if bad.any():
            keep &= self._drop(src, table, "popularity outside 0..100", bad, rowids, pop)
        return keep

    def _fk(self, src, table, column, values: np.ndarray, exists: np.ndarray, rowids, keep,
            target: str) -> np.ndarray:
        inside = (values >= 0) & (values < len(exists))
        ok = np.zeros(len(values), dtype=bool)
        ok[inside] = exists[values[inside]]
        bad = ~ok & keep
        if bad.any():
            keep &= self._drop(src, table, f"{column} points to no row of {target}", bad, rowids, values)
        return keep

    def _duplicates(self, src: _Source, table: str) -> set[str]:
        """Ids that occur more than once (empty when a UNIQUE index guarantees there are none)."""
        if src.has_unique_index(table, "id"):
            return set()
        rows = src.conn.execute(
            f"SELECT id, count(*) FROM {src.table_ref(table)} GROUP BY id HAVING count(*) > 1 LIMIT 100000"
        ).fetchall()
        if rows and not self.o.lenient:
            sample = ", ".join(f"{r[0]!r} x{r[1]}" for r in rows[:5])
            self._fail(src, table, f"duplicate Spotify ids ({len(rows)} distinct, e.g. {sample})")
        return {r[0] for r in rows}

    def _dedupe(self, src, table, ids: pa.Array, dups: set[str], seen: set[str], rowids, keep) -> np.ndarray:
        """Drop every occurrence of a duplicated id after its first (in rowid order, whatever else drops it)."""
        if not dups:
            return keep
        if self._dup_values[0] is not dups:  # one Arrow copy of the (at most 100,000) duplicated ids per table
            # Ids other than text (or NULL) never equal the batch's TEXT-cast ids, so they can be left out.
            texts = [d for d in dups if d is None or isinstance(d, str)]
            self._dup_values = (dups, pa.array(texts, type=pa.string()))
        # Only rows whose id is duplicated need a Python look: a vectorised membership test finds them.
        cand = np.flatnonzero(pc.is_in(ids, value_set=self._dup_values[1]).to_numpy(zero_copy_only=False))
        bad = np.zeros(len(ids), dtype=bool)
        for i, v in zip(cand.tolist(), ids.take(pa.array(cand, type=pa.int64())).to_pylist()):
            if v in seen:
                bad[i] = True
            else:
                seen.add(v)
        if bad.any():
            keep &= self._drop(src, table, "duplicate Spotify id", bad, rowids, ids.to_pylist())
        return keep

    def _exists_mask(self, src: _Source, table: str) -> np.ndarray:
        """Boolean array indexed by rowid: which rowids exist (read in rowid ranges, as Arrow)."""
        if not src.has(table):
            return np.zeros(0, dtype=bool)
        lo, hi = src.rowid_span(table)
        mask = np.zeros(max(hi + 1, 0), dtype=bool)
        step = 1 << 22
        for start in range(lo, hi + 1, step):
            t = src.fetch(f"SELECT rowid FROM {src.table_ref(table)} WHERE rowid BETWEEN ? AND ?",
                          (start, start + step - 1), rows=step)
            if t.num_rows:
                mask[t.column(0).to_numpy()] = True
        return mask

    @staticmethod
    def _take(values: pa.Array, keep: np.ndarray) -> pa.Array:
        return values if keep.all() else values.filter(pa.array(keep))

    def _write(self, table: str, batch: dict) -> None:
        """Hand a batch to the writer thread, so Parquet compression overlaps with reading SQLite."""
        self._pending.append(self._pool.submit(self.w.write, table, batch))
        while len(self._pending) > 2:  # bounded: at most two batches in flight
            self._pending.pop(0).result()

    def _flush(self) -> None:
        while self._pending:
            self._pending.pop(0).result()

    # -- tables
    def run(self) -> None:
        specs = SOURCE_TABLES
        # Fail on schema problems before any long work.
        present = {name: self._src(s).check(s) for name, s in specs.items() if self._src(s) is not None}
        self.markets = self._exists_mask(self.main, "available_markets")
        self.album_exists = self._exists_mask(self.main, "albums")
        audio = self.extra.get(SourceFile.AUDIO_FEATURES)
        self._collect_ids = audio is not None and not (
            self.main.has("tracks") and audio.has("track_audio_features")
            and _joinable_by_index(self.main.conn, audio.conn))
        self._artists(specs["artists"])
        self._artist_genres(specs["artist_genres"])
        credits = self._credit_pass(specs["track_artists"]) if self.o.filters_artists else None
        self._tracks(specs["tracks"], present.get("tracks", []), credits)
        self._track_artists(specs["track_artists"], credits)
        self._artist_albums(specs["artist_albums"], present.get("artist_albums", []))
        self._albums(specs["albums"], present.get("albums", []))
        self._markets(specs["available_markets"])
        if SourceFile.AUDIO_FEATURES in self.extra:
            self._audio(specs["track_audio_features"], present.get("track_audio_features", []))
        if SourceFile.PLAYLISTS in self.extra:
            self._playlists(specs["playlists"], present.get("playlists", []))
            self._playlist_tracks(specs["playlist_tracks"])
        self._flush()
        self.stats["dropped"] = dict(sorted(self.dropped.items()))

    def _artists(self, spec: TableSpec) -> None:
        src = self.main
        lo, hi = src.rowid_span("artists")
        self.artist_exists = np.zeros(hi + 1, dtype=bool)
        self.artist_keep = np.zeros(hi + 1, dtype=bool)
        chosen = self._choose_artists(src)
        dups = self._duplicates(src, "artists")
        seen: set[str] = set()
        cols = ["id", "name", "followers_total", "popularity"]
        for rowids, c in self._batches(src, "artists", cols):
            self.artist_exists[rowids] = True
            keep = np.ones(len(rowids), dtype=bool)
            keep = self._not_null(src, spec, c, rowids, keep)
            pop = self._ints(c["popularity"])
            keep = self._popularity(src, "artists", pop, rowids, keep)
            keep = self._dedupe(src, "artists", c["id"], dups, seen, rowids, keep)
            if chosen is not None:
                keep &= chosen[rowids]
            elif self.o.min_artist_popularity:
                keep &= pop >= self.o.min_artist_popularity
            self.artist_keep[rowids[keep]] = True
            self._write("artists", {"rowid": rowids[keep], "id": self._take(c["id"], keep),
                                     "name": self._take(c["name"], keep),
                                     "followers_total": self._take(c["followers_total"], keep), "popularity": pop[keep]})

    def _choose_artists(self, src: _Source) -> np.ndarray | None:
        if self.o.max_artists is None:
            return None
        lo, hi = src.rowid_span("artists")
        chosen = np.zeros(hi + 1, dtype=bool)
        t = src.table_ref("artists")
        where = "WHERE popularity >= ?"
        if self.o.sample == "top":
            rows = src.conn.execute(f"SELECT rowid FROM {t} {where} ORDER BY popularity DESC, followers_total DESC, "
                                    f"rowid LIMIT ?", (self.o.min_artist_popularity, self.o.max_artists)).fetchall()
            chosen[[r[0] for r in rows]] = True
        else:
            ids = np.fromiter((r[0] for r in src.conn.execute(f"SELECT rowid FROM {t} {where} ORDER BY rowid",
                                                              (self.o.min_artist_popularity,))), dtype=np.int64)
            rng = np.random.default_rng(self.o.seed)
            k = min(self.o.max_artists, len(ids))
            chosen[rng.choice(ids, size=k, replace=False)] = True
        return chosen

    def _artist_genres(self, spec: TableSpec) -> None:
        src = self.main
        if not src.has("artist_genres"):
            return
        for rowids, c in self._batches(src, "artist_genres", ["artist_rowid", "genre"]):
            keep = self._not_null(src, spec, c, rowids, np.ones(len(rowids), dtype=bool))
            art = self._ints(c["artist_rowid"])
            keep = self._fk(src, "artist_genres", "artist_rowid", art, self.artist_exists, rowids, keep, "artists")
            keep &= self.artist_keep[np.clip(art, 0, len(self.artist_keep) - 1)]
            self._write("artist_genres", {"artist_rowid": art[keep], "genre": self._take(c["genre"], keep)})

    def _credit_pass(self, spec: TableSpec) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        """With an artist slice: the credits of kept artists, held in memory (the slice is small)."""
        src = self.main
        if not src.has("track_artists"):
            return None
        out_r, out_t, out_a = [], [], []
        for rowids, c in self._batches(src, "track_artists", ["track_rowid", "artist_rowid"], desc="credits (slice)"):
            art = self._ints(c["artist_rowid"])
            trk = self._ints(c["track_rowid"])
            keep = (art >= 0) & (art < len(self.artist_keep))
            keep[keep] = self.artist_keep[art[keep]]
            out_r.append(rowids[keep])
            out_t.append(trk[keep])
            out_a.append(art[keep])
        if not out_r:
            return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.int64)
        return np.concatenate(out_r), np.concatenate(out_t), np.concatenate(out_a)

    def _tracks(self, spec: TableSpec, optional: list[str], credits) -> None:
        src = self.main
        self.track_exists = np.zeros(0, dtype=bool)
        self.track_keep = np.zeros(0, dtype=bool)
        self.album_keep = np.zeros(len(self.album_exists), dtype=bool)
        if not src.has("tracks"):
            return
        lo, hi = src.rowid_span("tracks")
        self.track_exists = np.zeros(hi + 1, dtype=bool)
        self.track_keep = np.zeros(hi + 1, dtype=bool)
        candidate = None
        if credits is not None:
            candidate = np.zeros(hi + 1, dtype=bool)
            t = credits[1]
            candidate[t[(t >= 0) & (t <= hi)]] = True
        dups = self._duplicates(src, "tracks")
        seen: set[str] = set()
        cols = ["id", "name", "album_rowid", "track_number", "disc_number", "duration_ms", "explicit", "popularity",
                "available_markets_rowid"] + [c for c in optional if c == "external_id_isrc"]
        for rowids, c in self._batches(src, "tracks", cols):
            self.track_exists[rowids] = True
            keep = self._not_null(src, spec, c, rowids, np.ones(len(rowids), dtype=bool))
            pop = self._ints(c["popularity"])
            keep = self._popularity(src, "tracks", pop, rowids, keep)
            album = self._ints(c["album_rowid"])
            keep = self._fk(src, "tracks", "album_rowid", album, self.album_exists, rowids, keep, "albums")
            mk = self._ints(c["available_markets_rowid"])
            if src.has("available_markets"):
                keep = self._fk(src, "tracks", "available_markets_rowid", mk, self.markets, rowids, keep,
                                "available_markets")
            keep = self._dedupe(src, "tracks", c["id"], dups, seen, rowids, keep)
            if candidate is not None:
                keep &= candidate[rowids]
            if self.o.min_track_popularity:
                keep &= pop >= self.o.min_track_popularity
            self.track_keep[rowids[keep]] = True
            self.album_keep[album[keep]] = True
            if self._collect_ids:
                self._kept_ids.append(self._take(c["id"], keep))
                self._kept_rowids.append(rowids[keep])
            batch = {"rowid": rowids[keep], "popularity": pop[keep], "album_rowid": album[keep],
                     "available_markets_rowid": np.where(mk[keep] >= 0, mk[keep], 0)}
            for col in ("id", "name", "track_number", "disc_number", "duration_ms", "external_id_isrc"):
                if col in c:
                    batch[col] = self._take(c[col], keep)
            batch["explicit"] = pc.not_equal(self._take(c["explicit"], keep), 0)
            self._write("tracks", batch)

    def _track_artists(self, spec: TableSpec, credits) -> None:
        src = self.main
        if not src.has("track_artists"):
            return
        if credits is not None:
            r, t, a = credits
            inside = (t >= 0) & (t < len(self.track_keep))
            keep = np.zeros(len(t), dtype=bool)
            keep[inside] = self.track_keep[t[inside]]
            self._write("track_artists", {"rowid": r[keep], "track_rowid": t[keep], "artist_rowid": a[keep]})
            return
        for rowids, c in self._batches(src, "track_artists", ["track_rowid", "artist_rowid"]):
            keep = self._not_null(src, spec, c, rowids, np.ones(len(rowids), dtype=bool))
            trk = self._ints(c["track_rowid"])
            art = self._ints(c["artist_rowid"])
            keep = self._fk(src, "track_artists", "track_rowid", trk, self.track_exists, rowids, keep, "tracks")
            keep = self._fk(src, "track_artists", "artist_rowid", art, self.artist_exists, rowids, keep, "artists")
            keep[keep] &= self.track_keep[trk[keep]] & self.artist_keep[art[keep]]
            self._write("track_artists", {"rowid": rowids[keep], "track_rowid": trk[keep], "artist_rowid": art[keep]})

    def _artist_albums(self, spec: TableSpec, optional: list[str]) -> None:
        src = self.main
        if not src.has("artist_albums"):
            return
        cols = ["artist_rowid", "album_rowid", "is_appears_on", "is_implicit_appears_on"] + optional
        for rowids, c in self._batches(src, "artist_albums", cols):
            keep = self._not_null(src, spec, c, rowids, np.ones(len(rowids), dtype=bool))
            art = self._ints(c["artist_rowid"])
            alb = self._ints(c["album_rowid"])
            keep = self._fk(src, "artist_albums", "artist_rowid", art, self.artist_exists, rowids, keep, "artists")
            keep = self._fk(src, "artist_albums", "album_rowid", alb, self.album_exists, rowids, keep, "albums")
            keep[keep] &= self.artist_keep[art[keep]]
            self.album_keep[alb[keep]] = True
            batch = {"artist_rowid": art[keep], "album_rowid": alb[keep],
                     "is_appears_on": pc.not_equal(self._take(c["is_appears_on"], keep), 0),
                     "is_implicit_appears_on": pc.not_equal(self._take(c["is_implicit_appears_on"], keep), 0)}
            if "index_in_album" in c:
                batch["index_in_album"] = self._take(c["index_in_album"], keep)
            self._write("artist_albums", batch)

    def _albums(self, spec: TableSpec, optional: list[str]) -> None:
        src = self.main
        if not src.has("albums"):
            return
        dups = self._duplicates(src, "albums")
        seen: set[str] = set()
        bogus = pre1900 = 0
        cols = ["id", "name", "album_type", "available_markets_rowid", "label", "popularity", "release_date",
                "release_date_precision", "total_tracks"] + optional
        for rowids, c in self._batches(src, "albums", cols):
            keep = self._not_null(src, spec, c, rowids, np.ones(len(rowids), dtype=bool))
            pop = self._ints(c["popularity"])
            keep = self._popularity(src, "albums", pop, rowids, keep)
            mk = self._ints(c["available_markets_rowid"])
            if src.has("available_markets"):
                keep = self._fk(src, "albums", "available_markets_rowid", mk, self.markets, rowids, keep,
                                "available_markets")
            keep = self._dedupe(src, "albums", c["id"], dups, seen, rowids, keep)
            year, ok, is_bogus = _parse_release_dates(c["release_date"], c["release_date_precision"])
            bad = ~ok & keep
            if bad.any():
                if not self.o.lenient:
                        self._drop(src, "albums", "release_date does not parse for its release_date_precision", bad,
                               rowids, [f"{d} ({p})" for d, p in zip(c["release_date"].to_pylist(),
                                                                      c["release_date_precision"].to_pylist())])
                self.dropped["albums: release_date unparsable (year set to null, row kept)"] += int(bad.sum())
            bogus += int((is_bogus & keep).sum())
            pre1900 += int(((year >= 1000) & (year < 1900) & keep).sum())
            keep &= self.album_keep[rowids] if self.o.filters_artists or self.o.min_track_popularity else True
            batch = {"rowid": rowids[keep], "popularity": pop[keep],
                     "available_markets_rowid": np.where(mk[keep] >= 0, mk[keep], 0),
                     "release_year": pa.array(year[keep], mask=year[keep] < 0, type=pa.int16())}
            for col in ("id", "name", "album_type", "label", "release_date", "release_date_precision", "total_tracks",
                        "external_id_upc"):
                if col in c:
                    batch[col] = self._take(c[col], keep)
            self._write("albums", batch)
        self.stats["bogus_dates"] = bogus
        self.stats["pre_1900_dates"] = pre1900

    def _markets(self, spec: TableSpec) -> None:
        src = self.main
        if not src.has("available_markets"):
            return
        for rowids, c in self._batches(src, "available_markets", ["available_markets"]):
            keep = self._not_null(src, spec, c, rowids, np.ones(len(rowids), dtype=bool))
            self._write("available_markets", {"rowid": rowids[keep],
                                               "available_markets": self._take(c["available_markets"], keep)})

    def _audio(self, spec: TableSpec, optional: list[str]) -> None:
        src = self.extra[SourceFile.AUDIO_FEATURES]
        if not src.has("track_audio_features"):
            return
        if not self.main.has("tracks"):
            self.stats["audio_features_skipped"] = "the main file has no tracks table to join track_id to"
            return
        exprs, names = [], []
        for col in optional:
            if col in _REAL_COLUMNS:  # tempo is declared integer but holds REAL (or TEXT in converted copies)
                q = _q(col)
                exprs.append(f"CASE WHEN typeof({q}) = 'text' AND NOT (trim({q}) GLOB '*[0-9]*') THEN NULL "
                             f"ELSE CAST({q} AS REAL) END")
            elif col in _INT_COLUMNS:
                exprs.append(f"CAST({_q(col)} AS INTEGER)")
            else:
                continue
            names.append(col)
        lo, hi = src.rowid_span("track_audio_features")
        lookup = track_of = None
        if self._collect_ids:
            lookup = _TrackLookup(self._kept_ids, self._kept_rowids)
            self._kept_ids, self._kept_rowids = [], []  # the lookup holds its own sorted copy
        else:
            track_of = self._audio_track_map(src, lo, hi)
        ident = "CAST(track_id AS TEXT)" if lookup is not None else "NULL"  # the map needs no id
        sql = (f"SELECT rowid, {ident}, CAST(null_response AS INTEGER)"
               f"{''.join(', ' + e for e in exprs)} FROM track_audio_features WHERE rowid BETWEEN ? AND ?")
        nulls = orphans = 0
        bar = tqdm(total=max(hi - lo + 1, 0), desc="audio features", unit="id", unit_scale=True,
                   disable=not self.progress, leave=False)
        try:
            start = lo
            while start <= hi:
                end = min(start + self.o.batch_rows - 1, hi)
                t = src.fetch(sql, (start, end), rows=end - start + 1)
                bar.update(end - start + 1)
                start = end + 1
                if t.num_rows == 0:
                    continue
                if lookup is not None:
                    trk = lookup.rows(_as_type(t.column(1), "id"))
                else:
                    trk = track_of[t.column(0).to_numpy() - lo].astype(np.int64)
                nr = _as_type(t.column(2), "null_response").fill_null(0).to_numpy() != 0
                orphan = trk == _TrackLookup.MISSING
                nulls += int((nr & ~orphan).sum())
                orphans += int(orphan.sum())
                keep = ~nr & (trk >= 0)
                batch = {"track_rowid": trk[keep]}
                for i, name in enumerate(names):
                    batch[name] = self._take(_as_type(t.column(3 + i), name), keep)
                self._write("audio_features", batch)
        finally:
            bar.close()
        self.stats["audio_null_responses"] = nulls
        self.stats["audio_rows_without_track"] = orphans

    def _audio_track_map(self, src: _Source, lo: int, hi: int) -> np.ndarray:
        """Kept track rowid of every audio-features rowid in ``lo..hi`` (index ``rowid - lo``), or
        ``_TrackLookup.MISSING`` where its ``track_id`` is not the id of a kept track.

        A merge join through the id indexes: read the tracks' (id, rowid) in id order, a page at a time, and
        the audio rows whose ``track_id`` falls in the page's id range, and match them exactly (Arrow hash join
        of the real strings). Memory: the map (int32 per audio rowid while track rowids fit) and one page.
        Duplicate ids (a lenient ingest of a dump without unique indexes) resolve to the lowest kept rowid, as
        :class:`_TrackLookup` does: a page never splits one id's rows, and they come in rowid order.
        """
        main = self.main
        track_hi = len(self.track_keep) - 1
        dtype = np.int32 if track_hi < np.iinfo(np.int32).max else np.int64
        track_of = np.full(max(hi - lo + 1, 0), _TrackLookup.MISSING, dtype=dtype)
        if hi < lo or track_hi < 0:
            return track_of
        page = self.o.batch_rows  # ids per page: a few MB at the default
        bar = tqdm(total=int(self.track_keep.sum()), desc="audio features: matching ids", unit="id",
                   unit_scale=True, disable=not self.progress, leave=False)
        try:
            last: str | None = None
            while True:
                op = ">=" if last is None else ">"
                t = main.fetch(_TRACK_PAGE.format(op=op), ("" if last is None else last, page), rows=page)
                if t.num_rows == 0:
                    break
                ids = t.column(0).combine_chunks()
                rows = t.column(1).to_numpy()
                top = ids[-1].as_py()
                if t.num_rows == page:  # rows of the page's last id may continue past the LIMIT: take them all
                    tie = main.fetch(_TRACK_TIE, (top, int(rows[-1])))
                    if tie.num_rows:
                        ids = pa.concat_arrays([ids, tie.column(0).combine_chunks()])
                        rows = np.concatenate([rows, tie.column(1).to_numpy()])
                kept = self.track_keep[rows]
                kept_ids, kept_rows = ids.filter(pa.array(kept)), rows[kept]
                a = src.fetch(_AUDIO_PAGE.format(op=op), ("" if last is None else last, top), rows=2 * page)
                if a.num_rows and len(kept_rows):
                    at = pc.index_in(a.column(1).combine_chunks(), value_set=kept_ids)  # first match: lowest rowid
                    hit = at.is_valid().to_numpy(zero_copy_only=False)
                    track_of[a.column(0).to_numpy()[hit] - lo] = kept_rows[at.drop_null().to_numpy()]
                bar.update(len(kept_rows))
                if t.num_rows < page:
                    break
                last = top
            odd = src.fetch(_AUDIO_ODD)
            for audio_rowid, text in zip(odd.column(0).to_pylist(), odd.column(1).to_pylist()):
                if text is None:
                    continue
                for (rowid,) in main.conn.execute("SELECT rowid FROM tracks WHERE id = ? AND typeof(id) = 'text' "
                                                  "ORDER BY rowid", (text,)):
                    if self.track_keep[rowid]:
                        track_of[audio_rowid - lo] = rowid
                        break
        finally:
            bar.close()
        return track_of

    def _playlists(self, spec: TableSpec, optional: list[str]) -> None:
        src = self.extra[SourceFile.PLAYLISTS]
        self.playlist_exists = np.zeros(0, dtype=bool)
        if not src.has("playlists"):
            return
        lo, hi = src.rowid_span("playlists")
        self.playlist_exists = np.zeros(hi + 1, dtype=bool)
        dups = self._duplicates(src, "playlists")
        seen: set[str] = set()
        for rowids, c in self._batches(src, "playlists", ["id", "name", "tracks_total"] + optional):
            keep = self._not_null(src, spec, c, rowids, np.ones(len(rowids), dtype=bool))
            keep = self._dedupe(src, "playlists", c["id"], dups, seen, rowids, keep)
            self.playlist_exists[rowids[keep]] = True
            batch = {"rowid": rowids[keep]}
            for col in ("id", "name", "tracks_total", "followers_total", "owner_id"):
                if col in c:
                    batch[col] = self._take(c[col], keep)
            self._write("playlists", batch)

    def _playlist_tracks(self, spec: TableSpec) -> None:
        src = self.extra[SourceFile.PLAYLISTS]
        if not src.has("playlist_tracks"):
            return
        not_track = missing = 0
        for pl, c in self._batches(src, "playlist_tracks", ["position", "track_rowid"], key="playlist_rowid",
                                   order="playlist_rowid, position"):
            keep = self._not_null(src, spec, {"position": c["position"]}, pl, np.ones(len(pl), dtype=bool))
            keep = self._fk(src, "playlist_tracks", "playlist_rowid", pl, self.playlist_exists, pl, keep, "playlists")
            trk = self._ints(c["track_rowid"])
            null = trk < 0
            not_track += int((null & keep).sum())
            inside = ~null & (trk < len(self.track_exists))
            exists = np.zeros(len(trk), dtype=bool)
            exists[inside] = self.track_exists[trk[inside]]
            # A cross-file reference to a track the main file lacks: skip and count, never stop a 1.7B-row scan.
            missing += int((~null & ~exists & keep).sum())
            keep &= exists
            keep[keep] &= self.track_keep[trk[keep]]
            self._write("playlist_tracks", {"playlist_rowid": pl[keep], "position": self._take(c["position"], keep),
                                             "track_rowid": trk[keep]})
        self.stats["playlist_entries_not_tracks"] = not_track
        self.stats["playlist_entries_missing_track"] = missing


# SQL of the audio-features join by Spotify id (:meth:`_Ingest._audio_track_map`). Comparisons are BINARY on
# both sides, so that both files order ids the same way; ``< x''`` (all text sorts before any blob) keeps the
# tracks' pages to text ids, the only ones a kept track can have.
_TRACK_PAGE = ("SELECT id, rowid FROM tracks WHERE id COLLATE BINARY {op} ? AND id < x'' "
               "ORDER BY id COLLATE BINARY, rowid LIMIT ?")
_TRACK_TIE = "SELECT id, rowid FROM tracks WHERE id COLLATE BINARY = ? AND rowid > ? ORDER BY rowid"
_AUDIO_PAGE = ("SELECT rowid, track_id FROM track_audio_features "
               "WHERE track_id COLLATE BINARY {op} ? AND track_id COLLATE BINARY <= ?")
# Audio ids that are not text (possible only in a column without TEXT affinity): numbers sort before any text,
# blobs after it. The old lookup matched them after CAST to text; so does the join.
_AUDIO_ODD = "SELECT rowid, CAST(track_id AS TEXT) FROM track_audio_features WHERE track_id < '' OR track_id >= x''"


def _joinable_by_index(main: sqlite3.Connection, audio: sqlite3.Connection) -> bool:
    """Whether audio features can be joined to tracks page by page through indexes on the Spotify ids.

    True when ``tracks.id`` and ``track_audio_features.track_id`` both have an index (the real dump has unique
    ones) and both files use the same text encoding. Then the join's memory does not grow with the number of
    tracks; otherwise ingest collects the kept tracks' ids in memory (about 60-130 bytes per track).
    """
    enc = [c.execute("PRAGMA encoding").fetchone()[0] for c in (main, audio)]
    if enc[0] != enc[1]:  # BINARY order compares encoded bytes: UTF-8 and UTF-16 order ids differently
        return False
    plans = [(main, _TRACK_PAGE.format(op=">"), ("", 1)), (main, _TRACK_TIE, ("", 0)),
             (audio, _AUDIO_PAGE.format(op=">"), ("", "")), (audio, _AUDIO_ODD, ())]
    for conn, sql, params in plans:
        plan = " ".join(str(r[-1]) for r in conn.execute("EXPLAIN QUERY PLAN " + sql, params))
        if "INDEX" not in plan or "TEMP B-TREE" in plan:
            return False
    return True


class _TrackLookup:
    """Spotify track id -> track rowid for the kept tracks: a sorted fixed-width byte array and searchsorted.

    The fallback join for files without indexes on the ids (:func:`_joinable_by_index`): it holds every kept
    track's id, 60-130 bytes per track while it is built (the concatenated ids, their sort order and the sorted
    copy), so its memory grows with the dump. Base62 ids all have 22 bytes, so they are held as ``S22`` and a batch
    of lookups is one vectorised ``searchsorted``. Ids of other widths (not Spotify data) fall back to a dict.
    """

    MISSING = -2  # not in the source at all (vs -1: filtered out by a slice)

    def __init__(self, ids: list[pa.Array], rowids: list[np.ndarray]) -> None:
        all_ids = pa.concat_arrays(ids) if ids else pa.array([], type=pa.string())
        all_rows = np.concatenate(rowids) if rowids else np.zeros(0, dtype=np.int64)
        fixed = _fixed_width(all_ids)
        self.dict: dict[str, int] | None = None
        if fixed is not None:
            order = np.argsort(fixed, kind="stable")
            self.keys, self.values, self.width = fixed[order], all_rows[order], fixed.dtype.itemsize
        else:
            self.dict = dict(zip(all_ids.to_pylist(), all_rows.tolist()))

    def rows(self, ids: pa.Array) -> np.ndarray:
        """Rowids of ``ids``; :attr:`MISSING` where the id is not among the kept tracks."""
        out = np.full(len(ids), self.MISSING, dtype=np.int64)
        if self.dict is not None:
            for i, v in enumerate(ids.to_pylist()):
                out[i] = self.dict.get(v, self.MISSING)
            return out
        if len(self.keys) == 0 or len(ids) == 0:
            return out
        same = pc.equal(pc.binary_length(ids.fill_null("")), self.width).to_numpy(zero_copy_only=False)
        sel = np.flatnonzero(same)
        if len(sel) == 0:
            return out
        keys = _fixed_width(ids.take(pa.array(sel)))
        # Searching in sorted order is ~3x faster: consecutive searches stay in cache.
        order = np.argsort(keys, kind="stable")
        pos = np.empty(len(keys), dtype=np.int64)
        pos[order] = np.searchsorted(self.keys, keys[order])
        pos = np.clip(pos, 0, len(self.keys) - 1)
        hit = self.keys[pos] == keys
        out[sel[hit]] = self.values[pos[hit]]
        return out


def _fixed_width(arr: pa.Array) -> np.ndarray | None:
    """A string array whose values all have the same byte length, viewed as numpy ``S<width>`` (no copy)."""
    n = len(arr)
    if n == 0:
        return np.zeros(0, dtype="S22")
    if arr.null_count:
        return None
    offsets = np.frombuffer(arr.buffers()[1], dtype=np.int32, count=n + 1, offset=arr.offset * 4)
    width = int(offsets[1] - offsets[0])
    if width == 0 or not (np.diff(offsets) == width).all():
        return None
    return np.frombuffer(arr.buffers()[2], dtype=f"S{width}", count=n, offset=int(offsets[0]))


def _parse_release_dates(dates: pa.Array, precisions: pa.Array) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Vectorised date check. Returns (year or -1, parses-for-its-precision, bogus-0000)."""
    d = dates.fill_null("")
    p = precisions.fill_null("")
    ok = pc.or_(pc.or_(
        pc.and_(pc.equal(p, "day"), pc.match_substring_regex(d, _DATE_DAY)),
        pc.and_(pc.equal(p, "month"), pc.match_substring_regex(d, _DATE_MONTH))),
        pc.and_(pc.equal(p, "year"), pc.match_substring_regex(d, _DATE_YEAR)))
    ok = ok.to_numpy(zero_copy_only=False)
    head = pc.utf8_slice_codeunits(d, 0, 4)
    digits = pc.match_substring_regex(head, r"^\d{4}$").to_numpy(zero_copy_only=False)
    year = np.full(len(d), -1, dtype=np.int64)
    if digits.any():
        year[digits] = pc.cast(pc.filter(head, pa.array(digits)), pa.int64()).to_numpy()
    is_bogus = digits & (year < 1000)
    # "0000"-style dates are the dump's known placeholder: no year, but not a parse error.
    known_precision = pc.is_in(p, pa.array(["year", "month", "day"])).to_numpy(zero_copy_only=False)
    ok = ok | (is_bogus & known_precision)
    year[~ok | is_bogus] = -1
    return year, ok, is_bogus


def ingest(source: str | os.PathLike, out: str | os.PathLike, *, options: IngestOptions | None = None,
           force: bool = False, progress: bool = True) -> Catalog:
    """Ingest the Anna's Archive SQLite files into a catalog directory.

    Parameters
    ----------
    source : path
        Directory holding ``spotify_clean.sqlite3`` (and optionally the audio-features and playlists files),
        or the path of ``spotify_clean.sqlite3`` itself.
    out : path
        Catalog directory to create (refused if it exists, unless ``force``).
    options : IngestOptions, optional
        Slicing and leniency.
    force : bool
        Replace an existing ``out``.
    progress : bool
        Show tqdm progress bars on stderr.

    Returns
    -------
    Catalog
        The new catalog, opened.

    Raises
    ------
    SourceError, SchemaError, DataError
        With a message naming the file, table, column and row involved. Nothing is written in that case.
    """
    opts = options or IngestOptions()
    files = locate_sources(source)
    described = [describe_source_file(p) for p in files.values()]
    with CatalogWriter(out, source={"kind": "annas_archive", "files": described}, options=asdict(opts),
                       force=force) as w:
        job = None
        try:
            job = _Ingest(files, w, opts, progress)
            job.run()
        except _DAMAGE as e:  # schema reads, index lists, existence scans: anything outside the batch readers
            names = ", ".join(str(p) for p in files.values())
            raise SourceError(f"reading the source file(s) {names} failed: {e}", hint=_DAMAGE_HINT) from e
        finally:
            if job is not None:  # before CatalogWriter closes or removes its files
                job.close()
    return Catalog.open(out)
