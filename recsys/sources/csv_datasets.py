"""Two small public Spotify CSV datasets, read into the canonical catalog.

Mental model: *a CSV row is a denormalised join; ingest splits it back into the dump's tables.*

Neither dataset has Spotify artist ids, so artists are keyed by name and get deterministic ids that can never
be mistaken for Spotify's (they contain a colon; Spotify ids are 22 base62 characters).

TidyTuesday 2020-01-21 ``spotify_songs.csv`` (:func:`ingest_tidytuesday`)
------------------------------------------------------------------------
One row per (track, playlist) pair; missing values are the literal string ``NA``.

- ``tracks``: one per distinct ``track_id``, rowid 1..n in order of first appearance; name, popularity,
  ``duration_ms`` and album come from the first row of the track. ``explicit`` is False and ``track_number`` /
  ``disc_number`` are 1 because the file does not say; ``external_id_isrc`` and ``available_markets_rowid``
  are null. An ``NA`` name becomes ``""`` (the id map needs a string); unparsable popularity becomes 0.
- ``artists``: one per distinct ``track_artist`` string, kept exactly as written. id = ``"tt:"`` + the first 16
  hex digits of SHA-1 of :func:`recsys.catalog.normalize_name` (name). When several spellings share a
  normalised name (``CREAM`` / ``Cream``) each spelling hashes ``normalized + "\\x1f" + exact`` instead, so ids
  stay unique and do not depend on file order. ``followers_total`` is null (unknown). ``popularity`` is the
  **maximum** popularity of the artist's tracks: the file has no artist popularity, and the max says "has at
  least one track this popular", which is closer to Spotify's artist popularity than the mean.
- ``track_artists``: one credit per track, the ``track_artist`` (the file names only the primary artist).
  Rows whose artist is ``NA`` give their track no credit (counted in ``stats``).
- ``albums``: one per distinct ``track_album_id``: name, ``album_type`` ``"album"`` and ``label`` ``""``
  (unknown), ``release_date`` as written with precision ``year`` / ``month`` / ``day`` from its shape
  (``YYYY`` / ``YYYY-MM`` / ``YYYY-MM-DD``); any other text keeps ``release_date`` but gets null precision and
  null ``release_year`` (counted). ``popularity`` is the max of its tracks', ``total_tracks`` the number of its
  distinct tracks in the file.
- ``artist_albums``: each credited artist -> the album of the track (``is_appears_on`` False,
  ``is_implicit_appears_on`` False, ``index_in_album`` 0), one row per distinct pair.
- ``playlists`` / ``playlist_tracks``: one playlist per ``playlist_id`` (name from its first row,
  ``tracks_total`` = its entries). Entries are numbered 0.. in file order. The file lists some playlists
  once per genre label they were collected under, so a repeated (playlist, track) pair is kept once (counted).
- ``audio_features``: one row per track from its columns; ``time_signature`` is null (not in the file).
- ``artist_genres``: empty, unless ``artist_genres_csv`` is given: then each artist takes the genres of the
  ``data_w_genres.csv`` row with the same normalised name (the first such row).

``playlist_genre`` and ``playlist_subgenre`` are **never** written anywhere in the catalog. They label the
*playlists*, and experiments use them as ground truth; copying them onto artists or tracks would leak the
answer into the features.

``data_w_genres.csv`` (:func:`ingest_artist_genres_csv`)
--------------------------------------------------------
One row per artist name: ``artists`` (id ``"ag:"`` + SHA-1 prefix of the normalised name, popularity = the
mean track popularity rounded half up and clipped to 0..100, followers null) and ``artist_genres`` (the
``genres`` list literal, parsed with :func:`ast.literal_eval`; an unparsable list counts as no genres). Later
rows whose normalised name was already seen are skipped (counted). The per-artist audio means do not fit the
per-track ``audio_features`` table and are not written; every other table is empty.

Every ingest records counts (rows per table, skipped and unparsable values, join match rates) in the
manifest's ``stats``.
"""

from __future__ import annotations

import ast
import csv
import datetime as _dt
import hashlib
import math
import os
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from tqdm import tqdm

from ..catalog import Catalog, CatalogWriter, describe_source_file, normalize_name
from ..errors import DataError, SchemaError, SourceError

__all__ = ["ingest_tidytuesday", "ingest_artist_genres_csv", "find_shared_datasets"]

TIDYTUESDAY_KIND = "tidytuesday-2020-01-21-spotify-songs"
ARTIST_GENRES_KIND = "spotify-160k-data_w_genres"

_TT_FILE = "spotify_songs.csv"
_AG_FILE = "data_w_genres.csv"
_TT_DIR = "tidytuesday-2020-01-21-spotify-songs"
_AG_DIR = "spotify-160k-data_w_genres-early2020"

_AUDIO_FLOAT = ("danceability", "energy", "loudness", "speechiness", "acousticness", "instrumentalness",
                "liveness", "valence", "tempo")
_AUDIO_INT = ("key", "mode")
# playlist_genre / playlist_subgenre are deliberately not required: they are never read.
_TT_REQUIRED = ("track_id", "track_name", "track_artist", "track_popularity", "track_album_id",
                "track_album_name", "track_album_release_date", "playlist_name", "playlist_id",
                *_AUDIO_FLOAT, *_AUDIO_INT, "duration_ms")
_AG_REQUIRED = ("artists", "popularity", "genres")

_NA = "NA"
_DATE = re.compile(r"^(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?$")
# ast.literal_eval of a huge or deeply nested literal can take long or overflow the C stack.
_MAX_GENRE_LITERAL = 100_000


# --- locating the shared datasets ------------------------------------------------------------------------------

def find_shared_datasets(root: str | os.PathLike | None = None) -> dict[str, Path]:
    """Locate the two CSV datasets.

    Parameters
    ----------
    root : path, optional
        Directory holding the datasets (directly or one folder down). Default: ``../shared/data``
        relative to the repository (and to the working directory).

    Returns
    -------
    dict
        ``{"tidytuesday": Path, "artist_genres": Path}``; a file that is not found is absent.
    """
    if root is not None:
        roots = [Path(root)]
    else:
        repo = Path(__file__).resolve().parents[2]
        roots = [repo.parent / "shared" / "data", Path.cwd().resolve().parent / "shared" / "data"]
    found: dict[str, Path] = {}
    for key, fname, dname in (("tidytuesday", _TT_FILE, _TT_DIR), ("artist_genres", _AG_FILE, _AG_DIR)):
        for r in roots:
            if not r.is_dir():
                continue
            candidates = [r / dname / fname, r / fname, *sorted(r.glob(f"*/{fname}"))]
            hit = next((p for p in candidates if p.is_file()), None)
            if hit is not None:
                found[key] = hit
                break
    return found


# --- reading ---------------------------------------------------------------------------------------------------

def _check_file(path: str | os.PathLike, what: str) -> Path:
    p = Path(path)
    if not p.exists():
        raise SourceError(f"{what} file {str(p)!r} does not exist",
                          hint="check the path; find_shared_datasets() locates the shared copies")
    if not p.is_file():
        raise SourceError(f"{what} path {str(p)!r} is not a file", hint=f"pass the path of the {what} CSV file")
    return p



def _read_rows(p: Path, required: Sequence[str], what: str, *, progress: bool) -> list[dict[str, str]]:
    """All data rows of a UTF-8 CSV as dicts, after checking the header names ``required`` columns."""
    rows: list[dict[str, str]] = []
    line = 0
    try:
        # utf-8-sig: spreadsheet re-saves often add a byte-order mark, which would otherwise rename column 1.
        with open(p, encoding="utf-8-sig", newline="") as f:
            reader = csv.reader(f)
            header = next(reader, None)
            line = reader.line_num
            if header is None or not any(h.strip() for h in header):
                raise SourceError(f"{what} file {str(p)!r} is empty", hint=f"pass a non-empty {what} CSV file")
            header = [h.strip() for h in header]
            missing = [c for c in required if c not in header]
            if missing:
                raise SchemaError(
                    f"{what} file {str(p)!r} lacks the column(s) {missing}; it has {header[:30]}",
                    hint=f"this is not the {what} CSV; it needs the columns {list(required)}")
            idx = [(c, header.index(c)) for c in required]
            ncols = len(header)
            for rec in tqdm(reader, desc=f"reading {p.name}", unit=" rows", disable=not progress):
                line = reader.line_num
                if not rec:
                    continue
                if len(rec) != ncols:
                    raise DataError(
                        f"{what} file {str(p)!r}, line {line}: {len(rec)} fields where the header has {ncols}",
                        hint="the file is truncated or damaged; fetch a fresh copy")
                rows.append({c: rec[i] for c, i in idx})
    except UnicodeDecodeError as e:
        raise SourceError(
            f"{what} file {str(p)!r} is not UTF-8 text (byte 0x{e.object[e.start]:02x} near line {line + 1})",
            hint="re-save the file as UTF-8, or fetch the original copy") from e
    except csv.Error as e:
        raise SourceError(f"{what} file {str(p)!r}, line {line + 1}: not a readable CSV ({e})",
                          hint="the file is damaged or not a CSV; fetch a fresh copy") from e
    except OSError as e:
        raise SourceError(f"cannot read {what} file {str(p)!r}: {e}", hint="check the file's permissions") from e
    if not rows:
        raise SourceError(f"{what} file {str(p)!r} has a header but no data rows",
                          hint=f"pass the full {what} CSV file")
    return rows


def _text(s: str) -> str | None:
    """The cell, or None for the dataset's missing-value markers."""
    s = s.strip()
    return None if s in ("", _NA) else s


def _float(s: str, col: str, bad: Counter) -> float | None:
    t = _text(s)
    if t is None:
        return None
    try:
        v = float(t)
    except ValueError:
        bad[col] += 1
        return None
    if not math.isfinite(v):
        bad[col] += 1
        return None
    return v


def _int(s: str, col: str, bad: Counter) -> int | None:
    v = _float(s, col, bad)
    if v is None:
        return None
    if v != int(v):
        bad[col] += 1
        return None
    return int(v)


def _parse_release_date(text: str | None) -> tuple[str | None, str | None, int | None]:
    """``(release_date, precision, year)``; precision and year are None for anything but a valid date."""
    if text is None:
        return None, None, None
    m = _DATE.match(text)
    if not m:
        return text, None, None
    year, month, day = int(m.group(1)), m.group(2), m.group(3)
    if year < 1:  # the dump writes unknown dates as 0000
        return text, None, None
    try:
        _dt.date(year, int(month or 1), int(day or 1))
    except ValueError:
        return text, None, None
    precision = "day" if day else "month" if month else "year"
    return text, precision, year


def _hash_id(prefix: str, key: str) -> str:
    return prefix + hashlib.sha1(key.encode("utf-8")).hexdigest()[:16]


def _parse_genres(text: str) -> list[str] | None:
    """Genres from a Python list literal; None when the text is not a list of strings."""
    t = text.strip()
    if t in ("", _NA):
        return []
    if len(t) > _MAX_GENRE_LITERAL:
        return None
    try:
        value = ast.literal_eval(t)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return None
    if not isinstance(value, (list, tuple)) or not all(isinstance(g, str) for g in value):
        return None
    out: list[str] = []
    for g in value:
        g = g.strip()
        if g and g not in out:
            out.append(g)
    return out


def _read_artist_genres(p: Path, *, progress: bool) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Artists of ``data_w_genres.csv``, first row per normalised name, and reading statistics."""
    rows = _read_rows(p, _AG_REQUIRED, "artist-genre (data_w_genres)", progress=progress)
    bad: Counter = Counter()
    seen: set[str] = set()
    out: list[dict[str, Any]] = []
    duplicates = unparsable = without_name = with_genres_rows = 0
    for r in rows:
        name = r["artists"]
        key = normalize_name(name)
        if not key:
            without_name += 1
            continue
        genres = _parse_genres(r["genres"])
        if genres is None:
            unparsable += 1
            genres = []
        if genres:
            with_genres_rows += 1
        if key in seen:
            duplicates += 1
            continue
        seen.add(key)
        pop = _float(r["popularity"], "popularity", bad)
        out.append({"name": name, "key": key, "genres": genres,
                    "popularity": None if pop is None else min(100, max(0, math.floor(pop + 0.5)))})
    stats = {
        "rows_read": len(rows),
        "rows_with_genres": with_genres_rows,
        "unparsable_genre_lists": unparsable,
        "duplicate_normalized_names": duplicates,
        "rows_without_name": without_name,
        "unparsable_values": dict(bad),
    }
    return out, stats


# --- writing ---------------------------------------------------------------------------------------------------

def _write_artist_genres(w: CatalogWriter, pairs: Iterable[tuple[int, list[str]]]) -> None:
    rowids: list[int] = []
    genres: list[str] = []
    for rowid, gs in pairs:
        rowids.extend([rowid] * len(gs))
        genres.extend(gs)
    w.write("artist_genres", {"artist_rowid": rowids, "genre": genres})


def ingest_tidytuesday(songs_csv: str | os.PathLike, out: str | os.PathLike, *,
                       artist_genres_csv: str | os.PathLike | None = None, force: bool = False,
                       progress: bool = True) -> Catalog:
    """Write a catalog from TidyTuesday's ``spotify_songs.csv`` (mapping rules in the module docstring).

    Parameters
    ----------
    songs_csv : path
        The TidyTuesday 2020-01-21 ``spotify_songs.csv``.
    out : path
        Catalog directory to create.
    artist_genres_csv : path, optional
        ``data_w_genres.csv``; when given, artists take its genres by normalised name.
    force : bool
        Replace an existing ``out``.
    progress : bool
        Show a progress bar while reading.

    Returns
    -------
    Catalog
        The new catalog, opened.

    Raises
    ------
    SourceError
        A file is missing, empty, not UTF-8 or damaged (:class:`SchemaError`: required columns missing).
    OutputExistsError
        ``out`` exists and ``force`` is False.
    """
    songs = _check_file(songs_csv, "TidyTuesday spotify_songs")
    genres_path = _check_file(artist_genres_csv, "artist-genre (data_w_genres)") if artist_genres_csv else None
    files = [describe_source_file(songs)] + ([describe_source_file(genres_path)] if genres_path else [])
    options = {"artist_genres_csv": str(genres_path.resolve()) if genres_path else None,
               "artist_id": "'tt:' + sha1(normalize_name(name))[:16]"}
    with CatalogWriter(out, source={"kind": TIDYTUESDAY_KIND, "files": files}, options=options, force=force) as w:
        rows = _read_rows(songs, _TT_REQUIRED, "TidyTuesday spotify_songs", progress=progress)
        w.stats.update(_tidytuesday_tables(w, rows, genres_path, progress=progress))
    return Catalog.open(out)


def _tidytuesday_tables(w: CatalogWriter, rows: list[dict[str, str]], genres_path: Path | None, *,
                        progress: bool) -> dict[str, Any]:
    bad: Counter = Counter()
    stats: dict[str, Any] = {"rows_read": len(rows)}

    # Pass 1: entities in order of first appearance.
    track_row: dict[str, dict[str, str]] = {}      # track_id -> its first CSV row
    artist_names: dict[str, None] = {}             # ordered set of exact spellings
    album_row: dict[str, dict[str, str]] = {}
    playlist_name: dict[str, str] = {}
    entries: dict[str, dict[str, None]] = {}       # playlist_id -> ordered set of track_ids
    no_track_id = na_artist_rows = na_name_rows = no_playlist = duplicate_entries = conflicts = 0
    for r in rows:
        tid = _text(r["track_id"])
        if tid is None:
            no_track_id += 1
            continue
        artist = _text(r["track_artist"])
        if artist is None:
            na_artist_rows += 1
        if _text(r["track_name"]) is None:
            na_name_rows += 1
        first = track_row.setdefault(tid, r)
        if first is not r and any(first[c] != r[c] for c in ("track_artist", "track_album_id", "track_name")):
            conflicts += 1
        if first is r:
            if artist is not None:
                artist_names.setdefault(artist)
            album_id = _text(r["track_album_id"])
            if album_id is not None:
                album_row.setdefault(album_id, r)
        pid = _text(r["playlist_id"])
        if pid is None:
            no_playlist += 1
            continue
        playlist_name.setdefault(pid, _text(r["playlist_name"]) or "")
        plist = entries.setdefault(pid, {})
        if tid in plist:
            duplicate_entries += 1
        else:
            plist[tid] = None

    # Artists: ids from the normalised name, unless spellings collide (then from the exact spelling too).
    spellings = Counter(normalize_name(a) for a in artist_names)
    artist_rowid: dict[str, int] = {a: i for i, a in enumerate(artist_names, start=1)}
    artist_ids = []
    for a in artist_names:
        key = normalize_name(a)
        artist_ids.append(_hash_id("tt:", key if spellings[key] == 1 else f"{key}\x1f{a}"))
    album_rowid = {a: i for i, a in enumerate(album_row, start=1)}

    # Tracks, credits, audio features.
    t: dict[str, list] = {c: [] for c in ("rowid", "id", "name", "album_rowid", "duration_ms", "popularity")}
    af: dict[str, list] = {c: [] for c in ("track_rowid", *_AUDIO_FLOAT, *_AUDIO_INT, "duration_ms")}
    ta: dict[str, list] = {"rowid": [], "track_rowid": [], "artist_rowid": []}
    artist_pop: dict[int, int] = {}
    album_pop: dict[int, int] = {}
    album_tracks: Counter = Counter()
    artist_album: dict[tuple[int, int], None] = {}
    track_rowid: dict[str, int] = {}
    for rowid, (tid, r) in enumerate(track_row.items(), start=1):
        track_rowid[tid] = rowid
        pop = _int(r["track_popularity"], "track_popularity", bad)
        pop = 0 if pop is None else min(100, max(0, pop))
        alb = album_rowid.get(_text(r["track_album_id"]) or "")
        dur = _int(r["duration_ms"], "duration_ms", bad)
        for c, v in (("rowid", rowid), ("id", tid), ("name", _text(r["track_name"]) or ""),
                     ("album_rowid", alb), ("duration_ms", dur), ("popularity", pop)):
            t[c].append(v)
        af["track_rowid"].append(rowid)
        for c in _AUDIO_FLOAT:
            af[c].append(_float(r[c], c, bad))
        for c in _AUDIO_INT:
            af[c].append(_int(r[c], c, bad))
        af["duration_ms"].append(dur)
        if alb is not None:
            album_pop[alb] = max(album_pop.get(alb, 0), pop)
            album_tracks[alb] += 1
        artist = _text(r["track_artist"])
        if artist is not None:
            arow = artist_rowid[artist]
            ta["rowid"].append(len(ta["rowid"]) + 1)
            ta["track_rowid"].append(rowid)
            ta["artist_rowid"].append(arow)
            artist_pop[arow] = max(artist_pop.get(arow, 0), pop)
            if alb is not None:
                artist_album.setdefault((arow, alb))
    n_tracks = len(track_row)
    w.write("tracks", {**t, "track_number": [1] * n_tracks, "disc_number": [1] * n_tracks,
                       "explicit": [False] * n_tracks})
    w.write("track_artists", ta)
    w.write("audio_features", af)

    w.write("artists", {"rowid": list(artist_rowid.values()), "id": artist_ids, "name": list(artist_names),
                        "popularity": [artist_pop.get(i, 0) for i in artist_rowid.values()]})

    al: dict[str, list] = {c: [] for c in ("rowid", "id", "name", "release_date", "release_date_precision",
                                           "release_year", "popularity", "total_tracks")}
    precisions: Counter = Counter()
    for aid, rowid in album_rowid.items():
        r = album_row[aid]
        date, precision, year = _parse_release_date(_text(r["track_album_release_date"]))
        precisions[(precision or "unparsable") if date else "missing"] += 1
        for c, v in (("rowid", rowid), ("id", aid), ("name", _text(r["track_album_name"]) or ""),
                     ("release_date", date), ("release_date_precision", precision), ("release_year", year),
                     ("popularity", album_pop.get(rowid, 0)), ("total_tracks", album_tracks[rowid])):
            al[c].append(v)
    n_albums = len(album_rowid)
    w.write("albums", {**al, "album_type": ["album"] * n_albums, "label": [""] * n_albums})

    pairs = sorted(artist_album)
    w.write("artist_albums", {"artist_rowid": [a for a, _ in pairs], "album_rowid": [b for _, b in pairs],
                              "is_appears_on": [False] * len(pairs),
                              "is_implicit_appears_on": [False] * len(pairs), "index_in_album": [0] * len(pairs)})

    pl: dict[str, list] = {"rowid": [], "id": [], "name": [], "tracks_total": []}
    pt: dict[str, list] = {"playlist_rowid": [], "position": [], "track_rowid": []}
    for prow, (pid, plist) in enumerate(entries.items(), start=1):
        for c, v in (("rowid", prow), ("id", pid), ("name", playlist_name[pid]), ("tracks_total", len(plist))):
            pl[c].append(v)
        for pos, tid in enumerate(plist):
            pt["playlist_rowid"].append(prow)
            pt["position"].append(pos)
            pt["track_rowid"].append(track_rowid[tid])
    w.write("playlists", pl)
    w.write("playlist_tracks", pt)

    joined: list[tuple[int, list[str]]] = []
    if genres_path is not None:
        ag, ag_stats = _read_artist_genres(genres_path, progress=progress)
        by_key = {a["key"]: a for a in ag}
        matched = matched_with_genres = 0
        for name, rowid in artist_rowid.items():
            hit = by_key.get(normalize_name(name))
            if hit is None:
                continue
            matched += 1
            if hit["genres"]:
                matched_with_genres += 1
                joined.append((rowid, hit["genres"]))
        _write_artist_genres(w, joined)
        n = max(1, len(artist_rowid))
        stats["artist_genres_csv"] = ag_stats
        stats["artist_genre_matched"] = matched
        stats["artist_genre_match_rate"] = round(matched / n, 4)
        stats["artist_genre_matched_with_genres"] = matched_with_genres
        stats["artist_genre_matched_with_genres_rate"] = round(matched_with_genres / n, 4)
        stats["artist_genre_unparsable_lists"] = ag_stats["unparsable_genre_lists"]

    stats.update({
        "rows": {"tracks": n_tracks, "artists": len(artist_rowid), "albums": n_albums,
                 "track_artists": len(ta["rowid"]), "artist_albums": len(pairs), "audio_features": n_tracks,
                 "playlists": len(entries), "playlist_tracks": len(pt["position"]),
                 "artist_genres": sum(len(g) for _, g in joined)},
        "rows_without_track_id": no_track_id,
        "na_artist_rows": na_artist_rows,
        "tracks_without_artist": n_tracks - len(ta["rowid"]),
        "na_track_name_rows": na_name_rows,
        "rows_without_playlist_id": no_playlist,
        "duplicate_playlist_entries": duplicate_entries,
        "track_rows_conflicting_with_first": conflicts,
        "artist_names_with_case_variants": sum(1 for a in artist_names if spellings[normalize_name(a)] > 1),
        "release_date_precision": dict(precisions),
        "unparsable_release_dates": precisions.get("unparsable", 0),
        "unparsable_values": dict(bad),
    })
    return stats


def ingest_artist_genres_csv(csv_path: str | os.PathLike, out: str | os.PathLike, *, force: bool = False,
                             progress: bool = True) -> Catalog:
    """Write an artists-and-genres catalog from ``data_w_genres.csv`` (rules in the module docstring).

    Parameters
    ----------
    csv_path : path
        The artist-level ``data_w_genres.csv`` (one row per artist name).
    out : path
        Catalog directory to create.
    force : bool
        Replace an existing ``out``.
    progress : bool
        Show a progress bar while reading.

    Returns
    -------
    Catalog
        The new catalog, opened; only ``artists`` and ``artist_genres`` have rows.

    Raises
    ------
    SourceError
        The file is missing, empty, not UTF-8 or damaged (:class:`SchemaError`: required columns missing).
    OutputExistsError
        ``out`` exists and ``force`` is False.
    """
    p = _check_file(csv_path, "artist-genre (data_w_genres)")
    options = {"artist_id": "'ag:' + sha1(normalize_name(name))[:16]",
               "duplicate_names": "first row kept", "popularity": "round half up, clipped to 0..100"}
    with CatalogWriter(out, source={"kind": ARTIST_GENRES_KIND, "files": [describe_source_file(p)]}, options=options,
                       force=force) as w:
        artists, stats = _read_artist_genres(p, progress=progress)
        rowids = list(range(1, len(artists) + 1))
        bad_pop = sum(1 for a in artists if a["popularity"] is None)
        # EntityIndex sorts by popularity and cannot take nulls; 0 is the dump's value for "no plays".
        w.write("artists", {"rowid": rowids, "id": [_hash_id("ag:", a["key"]) for a in artists],
                            "name": [a["name"] for a in artists],
                            "popularity": [a["popularity"] or 0 for a in artists]})
        _write_artist_genres(w, ((i, a["genres"]) for i, a in zip(rowids, artists)))
        stats["rows"] = {"artists": len(artists), "artist_genres": sum(len(a["genres"]) for a in artists)}
        stats["artists_with_genres"] = sum(1 for a in artists if a["genres"])
        stats["popularity_missing_set_to_0"] = bad_pop
        w.stats.update(stats)
    return Catalog.open(out)
