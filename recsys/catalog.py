"""The canonical catalog: the dump's tables as Parquet, plus a JSON manifest.

Mental model: *a catalog is a directory that a source reader wrote once and everything else only reads.*

Every source (the Anna's Archive SQLite files, the CSV datasets, the demo generator via ingest) ends up as the
same tables with the same columns and types (:data:`CATALOG_SCHEMAS`), sorted by ``rowid``. Foreign keys are
the source's integer rowids; the Spotify base62 ids stay on the entity tables. Models work on *rows*
(positions in the ``artists`` / ``tracks`` tables); :class:`EntityIndex` is the one place that translates
Spotify ids, URIs, URLs and names into rows and back.

``manifest.json`` records the format version, the source files (size, mtime), the options, each table's file,
row count and SHA-256, and ingest statistics. Opening a catalog checks the version and that every file still
has its recorded size and checksum, so an altered catalog is refused instead of silently giving other numbers.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import re
import unicodedata
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from . import __version__
from .atomic import atomic_dir, sha256_file, write_json_atomic
from .errors import AmbiguousNameError, CatalogError, UnknownIdError
from .strings import StringColumn

__all__ = [
    "CATALOG_FORMAT",
    "CATALOG_FORMAT_VERSION",
    "CATALOG_SCHEMAS",
    "Catalog",
    "CatalogWriter",
    "EntityIndex",
    "parse_spotify_ref",
    "normalize_name",
    "describe_source_file",
]

CATALOG_FORMAT = "recsys-catalog"
CATALOG_FORMAT_VERSION = 1
MANIFEST = "manifest.json"

_i64, _i32, _i16, _i8, _f32 = pa.int64(), pa.int32(), pa.int16(), pa.int8(), pa.float32()
_str, _bool = pa.string(), pa.bool_()


def _schema(*fields: tuple[str, pa.DataType]) -> pa.Schema:
    return pa.schema([pa.field(n, t) for n, t in fields])


#: Canonical tables and column types. Columns may hold nulls only where the source allows it
#: (``followers_total`` is null for CSV sources that do not know it).
CATALOG_SCHEMAS: dict[str, pa.Schema] = {
    "artists": _schema(("rowid", _i64), ("id", _str), ("name", _str), ("followers_total", _i64),
                       ("popularity", _i16)),
    "artist_genres": _schema(("artist_rowid", _i64), ("genre", _str)),
    "available_markets": _schema(("rowid", _i64), ("available_markets", _str)),
    "albums": _schema(("rowid", _i64), ("id", _str), ("name", _str), ("album_type", _str),
                      ("available_markets_rowid", _i64), ("label", _str), ("popularity", _i16),
                      ("release_date", _str), ("release_date_precision", _str), ("release_year", _i16),
                      ("total_tracks", _i32), ("external_id_upc", _str)),
    "tracks": _schema(("rowid", _i64), ("id", _str), ("name", _str), ("album_rowid", _i64),
                      ("track_number", _i32), ("disc_number", _i32), ("duration_ms", _i64), ("explicit", _bool),
                      ("popularity", _i16), ("external_id_isrc", _str), ("available_markets_rowid", _i64)),
    # rowid keeps the credit order: the dump has no position column and insertion order is the credit order.
    "track_artists": _schema(("rowid", _i64), ("track_rowid", _i64), ("artist_rowid", _i64)),
    "artist_albums": _schema(("artist_rowid", _i64), ("album_rowid", _i64), ("is_appears_on", _bool),
                             ("is_implicit_appears_on", _bool), ("index_in_album", _i32)),
    "audio_features": _schema(("track_rowid", _i64), ("danceability", _f32), ("energy", _f32),
                              ("loudness", _f32), ("speechiness", _f32), ("acousticness", _f32),
                              ("instrumentalness", _f32), ("liveness", _f32), ("valence", _f32),
                              ("tempo", _f32), ("key", _i8), ("mode", _i8), ("time_signature", _i8),
                              ("duration_ms", _i64)),
    "playlists": _schema(("rowid", _i64), ("id", _str), ("name", _str), ("followers_total", _i64),
                         ("tracks_total", _i32), ("owner_id", _str)),
    "playlist_tracks": _schema(("playlist_rowid", _i64), ("position", _i32), ("track_rowid", _i64)),
}


def _now_iso() -> str:
    return _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat()


def describe_source_file(path: str | os.PathLike, **extra: Any) -> dict[str, Any]:
    """A source file as the manifest records it: absolute path, name, size in bytes, mtime (ISO, UTC)."""
    p = Path(path)
    st = p.stat()
    mtime = _dt.datetime.fromtimestamp(st.st_mtime, _dt.timezone.utc).replace(microsecond=0).isoformat()
    return {"path": str(p.resolve()), "name": p.name, "size": st.st_size, "mtime": mtime, **extra}


class CatalogWriter:
    """Stream tables into a new catalog directory; it appears only when :meth:`close` succeeds.

    Use as a context manager::

        with CatalogWriter(out, source={...}, options={...}) as w:
            w.write("artists", {"rowid": [...], "id": [...], ...})   # any number of batches
            w.stats["bogus_dates"] = 12
        # out/ now holds <table>.parquet for every canonical table and manifest.json

    An exception (or Ctrl-C) inside the block removes the temporary directory; an existing ``out`` is left
    untouched unless ``force`` and the block succeeded. Tables never written are written empty, so every
    catalog has every table.

    Parameters
    ----------
    out : path
        Catalog directory to create.
    source : dict
        Describes where the data came from (kind, files with size and mtime); stored in the manifest.
    options : dict
        The options the reader ran with (slices, leniency); stored in the manifest.
    force : bool
        Replace an existing ``out``.
    """

    def __init__(self, out: str | os.PathLike, *, source: Mapping[str, Any], options: Mapping[str, Any] | None = None,
                 force: bool = False) -> None:
        self.out = Path(out)
        self.source = dict(source)
        self.options = dict(options or {})
        self.force = force
        self.stats: dict[str, Any] = {}
        self._writers: dict[str, pq.ParquetWriter] = {}
        self._rows: dict[str, int] = {}
        self._ctx = None
        self._tmp: Path | None = None

    def __enter__(self) -> CatalogWriter:
        self._ctx = atomic_dir(self.out, force=self.force, what="catalog")
        self._tmp = self._ctx.__enter__()
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        try:
            if exc_type is None:
                self._finish()
        except BaseException as e:  # close writers, then let atomic_dir remove the temp dir
            self._close_writers()
            self._ctx.__exit__(type(e), e, e.__traceback__)
            raise
        if exc_type is not None:
            self._close_writers()
        return bool(self._ctx.__exit__(exc_type, exc, tb))

    @property
    def path(self) -> Path:
        """The temporary directory being written (valid inside the ``with`` block)."""
        if self._tmp is None:
            raise RuntimeError("CatalogWriter is used as a context manager: `with CatalogWriter(...) as w:`")
        return self._tmp

    def write(self, table: str, batch: pa.Table | pa.RecordBatch | Mapping[str, Any]) -> int:
        """Append rows to ``table``; columns are cast to the canonical schema. Returns the rows written.

        Missing nullable columns are filled with nulls; unknown columns raise ``ValueError``.
        """
        schema = CATALOG_SCHEMAS.get(table)
        if schema is None:
            raise ValueError(f"table must be one of {sorted(CATALOG_SCHEMAS)}, got {table!r}")
        data = self._conform(table, schema, batch)
        if data.num_rows == 0 and table in self._writers:
            return 0
        w = self._writers.get(table)
        if w is None:
            w = pq.ParquetWriter(self.path / f"{table}.parquet", schema, compression="zstd")
            self._writers[table] = w
            self._rows[table] = 0
        w.write_table(data, row_group_size=1 << 20)
        self._rows[table] += data.num_rows
        return data.num_rows

    @staticmethod
    def _conform(table: str, schema: pa.Schema, batch) -> pa.Table:
        if isinstance(batch, pa.RecordBatch):
            batch = pa.Table.from_batches([batch])
        if isinstance(batch, pa.Table):
            cols = {n: batch.column(n) for n in batch.column_names}
            n = batch.num_rows
        else:
            cols = dict(batch)
            n = len(next(iter(cols.values()))) if cols else 0
        unknown = set(cols) - set(schema.names)
        if unknown:
            raise ValueError(f"{table}: unknown columns {sorted(unknown)}; expected a subset of {schema.names}")
        arrays = []
        for f in schema:
            if f.name in cols:
                col = cols[f.name]
                arr = col if isinstance(col, (pa.Array, pa.ChunkedArray)) else pa.array(col, from_pandas=True)
                arrays.append(arr.cast(f.type) if arr.type != f.type else arr)
            else:
                arrays.append(pa.nulls(n, f.type))
        return pa.Table.from_arrays(arrays, schema=schema)

    def _close_writers(self) -> None:
        for w in self._writers.values():
            try:
                w.close()
            except Exception:
                pass
        self._writers.clear()

    def _finish(self) -> None:
        for name, schema in CATALOG_SCHEMAS.items():
            if name not in self._writers:
                self.write(name, schema.empty_table())
        for w in self._writers.values():
            w.close()
        tables = {}
        for name in CATALOG_SCHEMAS:
            p = self.path / f"{name}.parquet"
            tables[name] = {"file": p.name, "rows": self._rows[name], "bytes": p.stat().st_size,
                            "sha256": sha256_file(p)}
        self._writers.clear()
        manifest = {
            "format": CATALOG_FORMAT,
            "format_version": CATALOG_FORMAT_VERSION,
            "created": _now_iso(),
            "recsys_version": __version__,
            "source": self.source,
            "options": self.options,
            "tables": tables,
            "stats": self.stats,
        }
        write_json_atomic(self.path / MANIFEST, manifest)


# --- reading --------------------------------------------------------------------------------------------------

class Catalog:
    """A catalog directory opened for reading.

    Parameters
    ----------
    path : path
        Directory written by :class:`CatalogWriter`.
    verify : bool
        Check every table file's SHA-256 against the manifest when it is first read (default). Sizes are
        always checked at open. Turn off only for very large catalogs you trust.

    Raises
    ------
    CatalogError
        Missing directory or manifest, unknown format or version, missing or altered table files.
    """

    def __init__(self, path: str | os.PathLike, *, verify: bool = True) -> None:
        self.path = Path(path)
        self.verify = verify
        self.manifest = _read_manifest(self.path)
        self._tables: dict[tuple[str, tuple[str, ...] | None], pa.Table] = {}
        self._verified: set[str] = set()
        self._indexes: dict[str, EntityIndex] = {}
        for entry in self.manifest["tables"].values():
            p = self.path / entry["file"]
            if not p.is_file():
                raise CatalogError(f"catalog {str(self.path)!r} lacks table file {entry['file']!r}",
                                   hint="the catalog is incomplete; re-run the ingest that made it")
            if p.stat().st_size != entry["bytes"]:
                raise CatalogError(
                    f"catalog table file {str(p)!r} has {p.stat().st_size} bytes, the manifest says {entry['bytes']}",
                    hint="the file was altered after ingest; re-run the ingest that made this catalog")

    @classmethod
    def open(cls, path: str | os.PathLike, *, verify: bool = True) -> Catalog:
        """Open a catalog directory (see the class docstring)."""
        return cls(path, verify=verify)

    def __repr__(self) -> str:
        counts = ", ".join(f"{n}={self.num_rows(n):,}" for n in ("artists", "albums", "tracks"))
        return f"Catalog({str(self.path)!r}, {counts})"

    @property
    def table_names(self) -> list[str]:
        return list(self.manifest["tables"])

    def num_rows(self, name: str) -> int:
        """Row count of a table, from the manifest (no file read)."""
        return int(self._entry(name)["rows"])

    def _entry(self, name: str) -> dict:
        try:
            return self.manifest["tables"][name]
        except KeyError:
            raise ValueError(f"table must be one of {self.table_names}, got {name!r}") from None

    def _checked_path(self, name: str) -> Path:
        """The table's file, its checksum verified on first use (when the catalog was opened with verify)."""
        p = self.path / self._entry(name)["file"]
        if self.verify and name not in self._verified:
            if sha256_file(p) != self._entry(name)["sha256"]:
                raise CatalogError(
                    f"catalog table file {str(p)!r} does not match its checksum in the manifest",
                    hint="the file was altered or damaged after ingest; re-run the ingest that made this catalog")
            self._verified.add(name)
        return p

    def columns(self, name: str) -> list[str]:
        """Column names of a table, from its Parquet schema (no data read)."""
        return list(pq.read_schema(self.path / self._entry(name)["file"]).names)

    def iter_batches(self, name: str, columns: list[str], *, batch_rows: int = 1 << 22) -> Iterator[pa.RecordBatch]:
        """Stream some columns of a table in file order, ``batch_rows`` rows at a time, without caching them.

        :meth:`table` keeps what it reads for the catalog's lifetime; the per-track and per-entry tables of the full
        dump (256M tracks, 348M credits, 1.7B playlist entries) must instead pass through memory once.
        """
        p = self._checked_path(name)
        try:
            yield from pq.ParquetFile(p).iter_batches(batch_size=int(batch_rows), columns=columns, use_threads=True)
        except (pa.ArrowInvalid, OSError) as e:
            raise CatalogError(f"cannot read catalog table {str(p)!r}: {e}",
                               hint="re-run the ingest that made this catalog") from e

    def table(self, name: str, columns: list[str] | None = None, *, cache: bool = True) -> pa.Table:
        """Read a table (or some of its columns) as a ``pyarrow.Table``; cached per column selection.

        ``cache=False`` reads it for this call only (a selection already cached is still returned from the
        cache): one-off passes over wide columns, such as the feature builds, then hold nothing afterwards.
        """
        key = (name, tuple(columns) if columns is not None else None)
        if key in self._tables:
            return self._tables[key]
        p = self._checked_path(name)
        try:
            t = pq.read_table(p, columns=columns)
        except (pa.ArrowInvalid, OSError) as e:
            raise CatalogError(f"cannot read catalog table {str(p)!r}: {e}",
                               hint="re-run the ingest that made this catalog") from e
        if cache:
            self._tables[key] = t
        return t

    def column(self, name: str, column: str) -> np.ndarray:
        """One column as a NumPy array (nulls become NaN for numbers, None for strings)."""
        col = self.table(name, [column]).column(0)
        return col.to_numpy(zero_copy_only=False)

    @property
    def artists(self) -> EntityIndex:
        """Id map and name search over artists."""
        return self._index("artists")

    @property
    def tracks(self) -> EntityIndex:
        """Id map and name search over tracks."""
        return self._index("tracks")

    def _index(self, name: str) -> EntityIndex:
        if name not in self._indexes:
            cols = ["rowid", "id", "name", "popularity"] + (["followers_total"] if name == "artists" else [])
            isrc = None
            if name == "tracks":
                def isrc() -> np.ndarray:  # read on the first ISRC lookup only: a 256M-row column at full size
                    return self.column("tracks", "external_id_isrc")
            self._indexes[name] = EntityIndex(name[:-1], self.table(name, cols), isrc=isrc)
        return self._indexes[name]


def _read_manifest(path: Path) -> dict:
    if not path.exists():
        raise CatalogError(f"catalog directory {str(path)!r} does not exist",
                           hint="create one with `recsys ingest SOURCE --out DIR` or `recsys demo`")
    if not path.is_dir():
        raise CatalogError(f"catalog path {str(path)!r} is a file, not a catalog directory",
                           hint="pass the directory that `recsys ingest` wrote")
    mpath = path / MANIFEST
    if not mpath.is_file():
        raise CatalogError(f"{str(path)!r} is not a catalog: it has no {MANIFEST}",
                           hint="pass a directory written by `recsys ingest`")
    try:
        manifest = json.loads(mpath.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise CatalogError(f"catalog manifest {str(mpath)!r} is not valid JSON ({e})",
                           hint="the catalog is damaged; re-run the ingest that made it") from e
    if not isinstance(manifest, dict) or manifest.get("format") != CATALOG_FORMAT:
        raise CatalogError(f"{str(mpath)!r} is not a recsys catalog manifest (format={manifest.get('format')!r})"
                           if isinstance(manifest, dict) else f"{str(mpath)!r} is not a recsys catalog manifest")
    version = manifest.get("format_version")
    if version != CATALOG_FORMAT_VERSION:
        raise CatalogError(
            f"catalog {str(path)!r} has format version {version!r}; this recsys reads version {CATALOG_FORMAT_VERSION}",
            hint="re-run `recsys ingest` with this version of recsys to rebuild the catalog")
    if not isinstance(manifest.get("tables"), dict):
        raise CatalogError(f"catalog manifest {str(mpath)!r} has no table list", hint="re-run the ingest")
    return manifest


# --- ids and names ------------------------------------------------------------------------------------------

_BASE62_ID = re.compile(r"^[0-9A-Za-z]{22}$")
_URI = re.compile(r"^spotify:(artist|track|album|playlist):([0-9A-Za-z]{22})$")
_URL = re.compile(r"^(?:https?://)?open\.spotify\.com/(?:intl-[a-z]{2}(?:-[a-z]{2})?/)?"
                  r"(artist|track|album|playlist)/([0-9A-Za-z]{22})(?:[/?#].*)?$")


def parse_spotify_ref(text: str) -> tuple[str | None, str] | None:
    """Parse a Spotify id, URI or URL.

    Returns ``(kind, id)`` where kind is ``"artist"``, ``"track"``, ... or ``None`` for a bare id; returns
    ``None`` when ``text`` is none of these (it is then treated as a name).
    """
    s = text.strip()
    if m := _URI.match(s):
        return m.group(1), m.group(2)
    if m := _URL.match(s):
        return m.group(1), m.group(2)
    if _BASE62_ID.match(s):
        return None, s
    return None


_ISRC = re.compile(r"^[A-Z]{2}-?[A-Z0-9]{3}-?[0-9]{2}-?[0-9]{5}$")


def is_isrc(text: str) -> bool:
    """Whether ``text`` has the shape of an ISRC (``CC-XXX-YY-NNNNN``, hyphens optional, any case)."""
    return bool(_ISRC.match(text.strip().upper()))


def normalize_name(name: str) -> str:
    """Name key for matching: Unicode NFKC, case-folded, inner whitespace collapsed, ends stripped."""
    return " ".join(unicodedata.normalize("NFKC", name).casefold().split())


class EntityIndex:
    """Id <-> row map and name lookup for one entity table (artists or tracks).

    Rows are positions in the catalog table (0..n-1), which is what models use. ``ids`` and ``names`` are
    :class:`~recsys.strings.StringColumn` (numpy-style reads: ``ids[row]`` is a str, ``ids[rows]`` an ndarray of
    object).
    """

    def __init__(self, kind: str, table: pa.Table, *, isrc: Callable[[], np.ndarray] | None = None) -> None:
        self.kind = kind
        self._isrc_loader = isrc
        self._rows_of_isrc: dict[str, list[int]] | None = None
        # held in Arrow, not as a Python string per value: 1M generated artists 158 -> 48 MB (~1.5 GB at the full dump)
        self.ids = StringColumn(table.column("id"))
        self.names = StringColumn(table.column("name"))
        self.popularity = table.column("popularity").to_numpy(zero_copy_only=False)
        self.followers = (table.column("followers_total").to_numpy(zero_copy_only=False)
                          if "followers_total" in table.column_names else None)
        self._row_of_id: dict[str, int] | None = None
        self._rows_of_name: dict[str, list[int]] | None = None

    def __len__(self) -> int:
        return len(self.ids)

    def row_of_id(self, spotify_id: str) -> int:
        """Row of a Spotify id; raises :class:`UnknownIdError`."""
        if self._row_of_id is None:
            self._row_of_id = {k: i for i, k in enumerate(self.ids)}
        try:
            return self._row_of_id[spotify_id]
        except KeyError:
            raise UnknownIdError(f"no {self.kind} with Spotify id {spotify_id!r} in this catalog",
                                 hint=f"check the id, or search by name (`--{self.kind} NAME`)") from None

    def rows_of_name(self, name: str) -> list[int]:
        """Rows whose normalised name equals ``name``'s, most popular first."""
        if self._rows_of_name is None:
            d: dict[str, list[int]] = {}
            for i, n in enumerate(self.names):
                d.setdefault(normalize_name(n), []).append(i)
            self._rows_of_name = d
        rows = self._rows_of_name.get(normalize_name(name), [])
        return sorted(rows, key=lambda r: (-int(self.popularity[r]), r))

    @property
    def has_isrc(self) -> bool:
        """Whether ISRC lookups are possible (tracks of a catalog that keeps ``external_id_isrc``)."""
        return self._isrc_loader is not None

    def rows_of_isrc(self, isrc: str) -> list[int]:
        """Rows of the tracks with this ISRC (one recording, often on several releases), most popular first."""
        if self._isrc_loader is None:
            return []
        if self._rows_of_isrc is None:
            d: dict[str, list[int]] = {}
            for i, code in enumerate(self._isrc_loader()):
                if code:
                    d.setdefault(str(code).upper(), []).append(i)
            self._rows_of_isrc = d
        rows = self._rows_of_isrc.get(isrc.strip().replace("-", "").upper(), [])
        return sorted(rows, key=lambda r: (-int(self.popularity[r]), r))

    def describe(self, row: int) -> dict:
        """A small dict for messages and tables: row, id, name, popularity (and followers)."""
        d = {"row": int(row), "id": self.ids[row], "name": self.names[row], "popularity": int(self.popularity[row])}
        if self.followers is not None:
            f = self.followers[row]
            d["followers"] = None if f is None or (isinstance(f, float) and np.isnan(f)) else int(f)
        return d

    def resolve(self, query: str) -> int:
        """Row for a Spotify id, URI, URL, ISRC (tracks) or exact name.

        An ISRC names a recording, which the dump often holds on several releases (single, album, compilation);
        it resolves to the most popular of them.

        Raises
        ------
        UnknownIdError
            Nothing matches (the message suggests names that contain the query).
        AmbiguousNameError
            Several entities share the name; ``candidates`` lists them, most popular first.
        """
        if not isinstance(query, str) or not query.strip():
            raise ValueError(f"{self.kind} must be a non-empty Spotify id, URI, URL or name, got {query!r}")
        exact = self._row_of_id_maybe(query.strip())  # any id the catalog holds, Spotify or a CSV source's own
        if exact is not None:
            return exact
        ref = parse_spotify_ref(query)
        if ref is not None:
            kind, sid = ref
            if kind is not None and kind != self.kind:
                raise UnknownIdError(f"{query!r} is a Spotify {kind} reference, but a {self.kind} was asked for",
                                     hint=f"pass a {self.kind} id, URI or URL")
            if kind is not None:
                return self.row_of_id(sid)
        if self._isrc_loader is not None and is_isrc(query):
            rows = self.rows_of_isrc(query)
            if rows:
                return rows[0]
        rows = self.rows_of_name(query)
        if len(rows) == 1:
            return rows[0]
        if len(rows) > 1:
            cands = [self.describe(r) for r in rows[:20]]
            listing = "\n".join(f"    {c['id']}  {c['name']!r}  popularity {c['popularity']}" for c in cands)
            raise AmbiguousNameError(
                f"{len(rows)} {self.kind}s are named {query!r}:\n{listing}",
                candidates=cands, hint="pass one of the ids above instead of the name")
        sugg = self.suggest(query, limit=5)
        hint = ("did you mean: " + ", ".join(repr(self.names[r]) for r in sugg)) if sugg else \
            "check the spelling, or pass a Spotify id, URI or URL"
        raise UnknownIdError(f"no {self.kind} named {query!r} in this catalog", hint=hint)

    def _row_of_id_maybe(self, sid: str) -> int | None:
        try:
            return self.row_of_id(sid)
        except UnknownIdError:
            return None

    def suggest(self, text: str, *, limit: int = 10) -> list[int]:
        """Rows whose normalised name contains ``text``'s, most popular first (a cheap substring search)."""
        key = normalize_name(text)
        if not key:
            return []
        hits = [i for i, n in enumerate(self.names) if key in normalize_name(n)]
        hits.sort(key=lambda r: (-int(self.popularity[r]), r))
        return hits[:limit]
