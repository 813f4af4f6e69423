"""Ingest of the Anna's Archive SQLite files: happy paths, slices, schema variants and every bad-input case."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from conftest import ALBUMS, ARTISTS, CREDITS, GENRES, TRACKS, build_tiny_dump, run_sql

from recsys.catalog import Catalog, CatalogWriter
from recsys.errors import CatalogError, DataError, OutputExistsError, SchemaError, SourceError
from recsys.schema import SchemaVariant, SourceFile
from recsys.sources.annas_archive import (
    IngestOptions,
    _Ingest,
    _joinable_by_index,
    _Source,
    ingest,
    locate_sources,
    open_readonly,
)

MAIN = SourceFile.MAIN.value


def _ingest(dump: Path, out: Path, **opts) -> Catalog:
    return ingest(dump, out, options=IngestOptions(**opts), progress=False)


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if ".tmp-" in p.name or ".old-" in p.name)


# --- happy paths ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("variant", list(SchemaVariant))
def test_ingest_all_tables_and_values(tmp_path, variant):
    dump = build_tiny_dump(tmp_path / "dump", variant=variant)
    cat = _ingest(dump, tmp_path / "cat")
    assert cat.num_rows("artists") == len(ARTISTS)
    assert cat.num_rows("artist_genres") == len(GENRES)
    assert cat.num_rows("albums") == len(ALBUMS)
    assert cat.num_rows("tracks") == len(TRACKS)
    assert cat.num_rows("track_artists") == len(CREDITS)
    # credits keep their insertion order (the dump's only notion of credit order)
    ta = cat.table("track_artists").to_pandas()
    assert list(zip(ta.track_rowid, ta.artist_rowid)) == CREDITS
    albums = cat.table("albums").to_pandas().set_index("rowid")
    assert albums.loc[1, "release_year"] == 1996 and albums.loc[3, "release_year"] == 1979
    assert albums.loc[4, "release_date"] == "0000" and np.isnan(albums.loc[4, "release_year"])
    assert cat.manifest["stats"]["bogus_dates"] == 1
    tracks = cat.table("tracks").to_pandas().set_index("rowid")
    assert tracks.loc[5, "explicit"] and not tracks.loc[1, "explicit"]
    assert tracks.loc[1, "external_id_isrc"] == "SEABC9600001"
    # audio: one null response and one row for a track the main file lacks are skipped and counted
    af = cat.table("audio_features").to_pandas()
    assert len(af) == len(TRACKS) - 1 and 6 not in set(af.track_rowid)
    assert cat.manifest["stats"]["audio_null_responses"] == 1
    assert cat.manifest["stats"]["audio_rows_without_track"] == 1
    assert af.set_index("track_rowid").loc[1, "tempo"] == pytest.approx(101.5)
    # playlists: the NULL track entry is skipped and counted
    assert cat.num_rows("playlist_tracks") == 5
    assert cat.manifest["stats"]["playlist_entries_not_tracks"] == 1


def test_manifest_records_sources_and_options(tiny_dump, tmp_path):
    cat = _ingest(tiny_dump, tmp_path / "cat", max_artists=3)
    m = json.loads((tmp_path / "cat" / "manifest.json").read_text())
    assert m["format"] == "recsys-catalog" and m["format_version"] == 1
    names = {f["name"]: f for f in m["source"]["files"]}
    assert set(names) == {MAIN, SourceFile.AUDIO_FEATURES.value, SourceFile.PLAYLISTS.value}
    assert names[MAIN]["size"] == (tiny_dump / MAIN).stat().st_size and names[MAIN]["mtime"]
    assert m["options"]["max_artists"] == 3
    for name, entry in m["tables"].items():
        assert entry["rows"] == cat.num_rows(name)
        assert hashlib.sha256((tmp_path / "cat" / entry["file"]).read_bytes()).hexdigest() == entry["sha256"]


def test_main_file_path_is_accepted_and_optional_files_are_optional(tmp_path):
    dump = build_tiny_dump(tmp_path / "dump", audio=False, playlists=False)
    cat = _ingest(dump / MAIN, tmp_path / "cat")
    assert cat.num_rows("tracks") == len(TRACKS)
    assert cat.num_rows("audio_features") == 0 and cat.num_rows("playlists") == 0


def test_artists_and_genres_only_file(tmp_path):
    dump = tmp_path / "dump"
    dump.mkdir()
    conn = sqlite3.connect(dump / MAIN)
    conn.executescript("CREATE TABLE artists (rowid integer PRIMARY KEY NOT NULL, id text NOT NULL, fetched_at integer "
                       "NOT NULL, name text NOT NULL, followers_total integer NOT NULL, popularity integer NOT NULL);"
                       "CREATE TABLE artist_genres (artist_rowid integer NOT NULL, genre text NOT NULL);")
    conn.executemany("INSERT INTO artists VALUES (?,?,0,?,?,?)", ARTISTS)
    conn.executemany("INSERT INTO artist_genres VALUES (?,?)", GENRES)
    conn.commit()
    conn.close()
    cat = _ingest(dump, tmp_path / "cat")
    assert cat.num_rows("artists") == 6 and cat.num_rows("artist_genres") == 7
    assert cat.num_rows("tracks") == 0 and cat.num_rows("albums") == 0


def test_empty_optional_tables(tmp_path):
    dump = build_tiny_dump(tmp_path / "dump")
    run_sql(dump / MAIN, "DELETE FROM track_artists", "DELETE FROM artist_albums", "DELETE FROM artist_genres")
    cat = _ingest(dump, tmp_path / "cat")
    assert cat.num_rows("track_artists") == 0 and cat.num_rows("artist_genres") == 0
    assert cat.num_rows("tracks") == len(TRACKS)


def test_unknown_extra_columns_and_tempo_as_text(tmp_path):
    dump = build_tiny_dump(tmp_path / "dump")
    run_sql(dump / MAIN, "ALTER TABLE artists ADD COLUMN mystery text", "UPDATE artists SET mystery = 'x'")
    run_sql(dump / SourceFile.AUDIO_FEATURES.value, "UPDATE track_audio_features SET tempo = '97.25' WHERE rowid = 1",
            "UPDATE track_audio_features SET tempo = 'n/a' WHERE rowid = 2")
    cat = _ingest(dump, tmp_path / "cat")
    af = cat.table("audio_features").to_pandas().set_index("track_rowid")
    assert af.loc[1, "tempo"] == pytest.approx(97.25)
    assert np.isnan(af.loc[2, "tempo"])


def test_slice_top_artists_keeps_foreign_keys_consistent(tiny_dump, tmp_path):
    cat = _ingest(tiny_dump, tmp_path / "cat", max_artists=2)
    artists = set(cat.table("artists").column("rowid").to_pylist())
    assert artists == {4, 1}  # the two most popular
    tracks = set(cat.table("tracks").column("rowid").to_pylist())
    assert tracks == {1, 2, 3, 5, 6, 8}  # every track credited to artist 1 or 4
    ta = cat.table("track_artists").to_pandas()
    assert set(ta.artist_rowid) <= artists and set(ta.track_rowid) <= tracks
    albums = set(cat.table("albums").column("rowid").to_pylist())
    assert set(cat.table("tracks").column("album_rowid").to_pylist()) <= albums
    aa = cat.table("artist_albums").to_pandas()
    assert set(aa.artist_rowid) <= artists and set(aa.album_rowid) <= albums
    assert set(cat.table("playlist_tracks").column("track_rowid").to_pylist()) <= tracks
    assert set(cat.table("audio_features").column("track_rowid").to_pylist()) <= tracks


def test_slice_random_sample_is_seeded(tiny_dump, tmp_path):
    a = _ingest(tiny_dump, tmp_path / "a", max_artists=3, sample="random", seed=7)
    b = _ingest(tiny_dump, tmp_path / "b", max_artists=3, sample="random", seed=7)
    ids = [set(c.table("artists").column("rowid").to_pylist()) for c in (a, b)]
    assert ids[0] == ids[1] and len(ids[0]) == 3
    others = {frozenset(_ingest(tiny_dump, tmp_path / f"s{s}", max_artists=3, sample="random", seed=s)
                        .table("artists").column("rowid").to_pylist()) for s in range(8)}
    assert len(others) > 1  # the seed matters


def test_min_popularity_slices(tiny_dump, tmp_path):
    cat = _ingest(tiny_dump, tmp_path / "cat", min_track_popularity=1)
    assert set(cat.table("tracks").column("rowid").to_pylist()) == {t[0] for t in TRACKS if t[6] >= 1}
    assert set(cat.table("track_artists").column("track_rowid").to_pylist()) <= {1, 4, 5}
    cat = _ingest(tiny_dump, tmp_path / "cat2", min_artist_popularity=30)
    assert set(cat.table("artists").column("rowid").to_pylist()) == {a[0] for a in ARTISTS if a[4] >= 30}


def test_source_bytes_and_mtime_unchanged(tiny_dump, tmp_path):
    files = sorted(tiny_dump.iterdir())
    before = {p.name: (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns) for p in files}
    _ingest(tiny_dump, tmp_path / "cat")
    after = {p.name: (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns)
             for p in sorted(tiny_dump.iterdir())}
    assert before == after  # also: no -journal/-wal/-shm files appeared


def test_source_may_be_read_only_on_disk(tiny_dump, tmp_path):
    for p in tiny_dump.iterdir():
        p.chmod(0o444)
    tiny_dump.chmod(0o555)
    try:
        cat = _ingest(tiny_dump, tmp_path / "cat")
        assert cat.num_rows("tracks") == len(TRACKS)
    finally:
        tiny_dump.chmod(0o755)


# --- memory: ADBC batches sized to each query ----------------------------------------------------------------

@pytest.mark.parametrize("later", ["7", "'seven'"], ids=["same-type", "type-changes"])
def test_fetch_past_its_row_bound_comes_back_whole(tmp_path, later):
    """A query that returns more rows than its bound (or whose later rows change a column's type) is run again
    at its size: one batch, every row, and the column's type from all of its values."""
    db = tmp_path / "t.sqlite"
    run_sql(db, "CREATE TABLE t (x INTEGER)", "INSERT INTO t VALUES (1), (2), (3), (4), (5)",
            f"INSERT INTO t VALUES ({later})")
    with ThreadPoolExecutor(1) as reader:
        src = _Source(SourceFile.MAIN, db, reader)
        try:
            t = src.fetch("SELECT x FROM t ORDER BY rowid", rows=2)
        finally:
            src.close()
    assert len(t.to_batches()) == 1
    assert t.column(0).to_pylist()[-1] in (7, "seven") and t.num_rows == 6
    assert pa.types.is_integer(t.column(0).type) == (later == "7")


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs Linux /proc")
def test_ingest_reserves_address_space_for_its_batches_only(tiny_dump, tmp_path):
    """ADBC reserves its batch size x 8 bytes per column before reading: a fixed 2**26-row batch took 10 GB of
    address space for a six-artist dump, charged against the commit limit (fork() failed in a long-lived
    process after a few interrupted ingests)."""
    code = ("import sys; from recsys.sources.annas_archive import ingest; ingest(sys.argv[1], sys.argv[2], "
            "progress=False); print([l for l in open('/proc/self/status') if l.startswith('VmPeak')][0])")
    out = subprocess.run([sys.executable, "-c", code, str(tiny_dump), str(tmp_path / "cat")], check=True,
                         capture_output=True, text=True).stdout
    peak_mb = int(out.split()[1]) / 1024
    assert peak_mb < 3000, f"ingest of a tiny dump reserved {peak_mb:.0f} MB of address space"


# --- memory: the audio join holds no per-track ids ---------------------------------------------------------------

AUDIO = SourceFile.AUDIO_FEATURES.value
_TRACK_COLS = ("rowid,id,fetched_at,name,album_rowid,track_number,popularity,available_markets_rowid,disc_number,"
               "duration_ms,explicit")


def _dirty_audio_dump(folder: Path, *, track_id_index: bool) -> Path:
    """Duplicate track ids and an audio row whose track_id is a blob, with or without an index on ``tracks.id``
    (a non-unique one, so that the duplicates can exist).

    In (id, rowid) order the tracks are 1 9 | 2 3 10 | 4 11 | 5 ... with pages of two ids: id 3's rows straddle
    a page end, and its first row has a value of the wrong type (it never claims the id), so the row kept for that
    id is the group's second, 10. Track 4 is dropped for its popularity after claiming its id, so 11 goes too.
    """
    dump = build_tiny_dump(folder)
    dups = [(9, TRACKS[0][1]), (10, TRACKS[2][1]), (11, TRACKS[3][1])]
    run_sql(dump / MAIN, "DROP INDEX tracks_id_unique",
            *(["CREATE INDEX tracks_id ON tracks (id)"] if track_id_index else []),
            "UPDATE tracks SET popularity = 'very' WHERE rowid = 3",
            "UPDATE tracks SET popularity = 150 WHERE rowid = 4",
            *(f"INSERT INTO tracks ({_TRACK_COLS}) VALUES ({r}, '{i}', 0, 'dup', 1, 1, 0, 1, 1, 1000, 0)"
              for r, i in dups))
    run_sql(dump / AUDIO, "INSERT INTO track_audio_features (rowid, track_id, fetched_at, null_response, tempo) "
                          f"VALUES (100, CAST('{TRACKS[4][1]}' AS BLOB), 0, 0, 99.0)")
    return dump


def test_audio_join_by_index_equals_in_memory_lookup(tmp_path):
    """The page-by-page join through the id indexes gives what the in-memory id lookup gives, with pages of two
    ids (so an id's rows straddle a page end) and odd input."""
    cats = {}
    for indexed in (True, False):
        dump = _dirty_audio_dump(tmp_path / f"dump{indexed}", track_id_index=indexed)
        assert _joinable_by_index(open_readonly(dump / MAIN), open_readonly(dump / AUDIO)) is indexed
        cats[indexed] = _ingest(dump, tmp_path / f"cat{indexed}", lenient=True, batch_rows=2)
    for cat in cats.values():
        dropped = cat.manifest["stats"]["dropped"]
        assert {k: v for k, v in dropped.items() if k.startswith("tracks:")} == {
            "tracks: duplicate Spotify id": 2, "tracks: popularity outside 0..100": 1,
            "tracks: value of the wrong type": 1}
        assert cat.table("tracks").column("rowid").to_pylist() == [1, 2, 5, 6, 7, 8, 10]
        af = cat.table("audio_features")
        # audio rowids 1..8 hold the ids of tracks 1..8 (6 is a null response, 4's id has no kept track),
        # 100 holds track 5's id as a blob
        assert af.column("track_rowid").to_pylist() == [1, 2, 10, 5, 7, 8, 5]
        assert af.column("tempo").to_pylist()[-1] == 99.0
        assert cat.manifest["stats"]["audio_null_responses"] == 1
        assert cat.manifest["stats"]["audio_rows_without_track"] == 2  # track 4's id and 9zzz...
    assert cats[True].table("audio_features").equals(cats[False].table("audio_features"))
    assert cats[True].manifest["stats"] == cats[False].manifest["stats"]


def test_audio_join_map_is_four_bytes_per_audio_row_and_no_ids_are_held(tiny_dump, tmp_path):
    run_sql(tiny_dump / AUDIO, "INSERT INTO track_audio_features (rowid, track_id, fetched_at, null_response) "
                               "VALUES (1000, '1ttttttttttttttttttttt-x', 0, 0)")
    with CatalogWriter(tmp_path / "cat", source={"kind": "test"}) as w:
        job = _Ingest(locate_sources(tiny_dump), w, IngestOptions(batch_rows=3), progress=False)
        try:
            job.run()
            audio = job.extra[SourceFile.AUDIO_FEATURES]
            lo, hi = audio.rowid_span("track_audio_features")
            track_of = job._audio_track_map(audio, lo, hi)
        finally:
            job.close()
    # with the dump's id indexes no Spotify id per track is collected during the tracks pass
    assert job._collect_ids is False and job._kept_ids == [] and job._kept_rowids == []
    assert track_of.dtype == np.int32 and track_of.nbytes == 4 * (hi - lo + 1)
    missing = int(track_of[99 - lo])
    # an orphan id, and one that only starts like track 1's
    assert missing < 0 and int(track_of[1000 - lo]) == missing
    assert [int(track_of[r - lo]) for r in range(1, 9)] == list(range(1, 9))


def test_lenient_duplicate_ids_across_batches(tmp_path):
    dump = build_tiny_dump(tmp_path / "dump", strict_schema=False)
    run_sql(dump / MAIN, "DROP INDEX artists_id_unique",
            f"INSERT INTO artists VALUES (7, '{ARTISTS[1][1]}', 0, 'Copy', 1, 1)",
            f"INSERT INTO artists VALUES (8, '{ARTISTS[1][1]}', 0, 'Copy 2', 1, 1)",
            "INSERT INTO artists VALUES (9, NULL, 0, 'No id', 1, 1)",
            "INSERT INTO artists VALUES (10, NULL, 0, 'No id either', 1, 1)")
    cat = _ingest(dump, tmp_path / "cat", lenient=True, batch_rows=1)
    assert cat.table("artists").column("rowid").to_pylist() == [a[0] for a in ARTISTS]
    dropped = cat.manifest["stats"]["dropped"]
    # NULL ids are a duplicate group too (SQLite groups NULLs): the second one counts under both reasons
    assert dropped == {"artists: NULL in NOT NULL column 'id'": 2, "artists: duplicate Spotify id": 3}


# --- bad input: clear error, nothing written ------------------------------------------------------------------

def _expect_error(dump: Path, out: Path, exc: type, *words: str, **opts) -> Exception:
    with pytest.raises(exc) as info:
        _ingest(dump, out, **opts)
    text = str(info.value)
    for w in words:
        assert w in text, f"{w!r} not in error message: {text}"
    assert not out.exists(), "a failed ingest must not leave a catalog"
    assert _leftovers(out.parent) == [], "a failed ingest must not leave temporary files"
    return info.value


def test_missing_path(tmp_path):
    _expect_error(tmp_path / "nope", tmp_path / "cat", SourceError, "does not exist")


def test_directory_without_the_files(tmp_path):
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "spotify_clean.sqlite3.zst").write_bytes(b"\x28\xb5\x2f\xfd")
    err = _expect_error(tmp_path / "d", tmp_path / "cat", SourceError, "spotify_clean.sqlite3", "decompress")
    assert err.hint


def test_non_sqlite_file(tmp_path):
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / MAIN).write_text("artist,genre\nfoo,bar\n" * 20)
    _expect_error(tmp_path / "d", tmp_path / "cat", SourceError, "not an SQLite database")


def test_truncated_sqlite_file(tiny_dump, tmp_path):
    data = (tiny_dump / MAIN).read_bytes()
    (tiny_dump / MAIN).write_bytes(data[: len(data) // 2])
    _expect_error(tiny_dump, tmp_path / "cat", SourceError, "truncated")


def test_damaged_pages_are_reported_not_crashed(tiny_dump, tmp_path):
    # Same size, garbage in the middle: the header check passes, SQLite finds the damage while reading.
    p = tiny_dump / MAIN
    data = bytearray(p.read_bytes())
    page = int.from_bytes(data[16:18], "big")
    for off in range(page * 2, len(data), 97):
        data[off] = 0xFF
    p.write_bytes(bytes(data))
    _expect_error(tiny_dump, tmp_path / "cat", SourceError, MAIN)


def test_missing_table(tmp_path):
    dump = build_tiny_dump(tmp_path / "dump")
    run_sql(dump / MAIN, "DROP TABLE artists")
    _expect_error(dump, tmp_path / "cat", SchemaError, "no table 'artists'")


def test_missing_column_names_it_and_the_expected_ones(tmp_path):
    dump = build_tiny_dump(tmp_path / "dump")
    run_sql(dump / MAIN, "ALTER TABLE tracks DROP COLUMN duration_ms")
    _expect_error(dump, tmp_path / "cat", SchemaError, "'tracks'", "duration_ms", "expected at least")


def test_null_in_not_null_column(tmp_path):
    dump = build_tiny_dump(tmp_path / "dump", strict_schema=False)
    run_sql(dump / MAIN, "UPDATE artists SET name = NULL WHERE rowid = 3")
    _expect_error(dump, tmp_path / "cat", DataError, "NULL", "'name'", "rowid 3", "--lenient")


def test_duplicate_ids(tmp_path):
    dump = build_tiny_dump(tmp_path / "dump")
    run_sql(dump / MAIN, "DROP INDEX artists_id_unique",
            "INSERT INTO artists VALUES (7, '2BBBBBBBBBBBBBBBBBBBBB', 0, 'Copy', 1, 1)")
    _expect_error(dump, tmp_path / "cat", DataError, "duplicate", "2BBBBBBBBBBBBBBBBBBBBB")


def test_dangling_foreign_key(tmp_path):
    dump = build_tiny_dump(tmp_path / "dump")
    run_sql(dump / MAIN, "INSERT INTO track_artists VALUES (999, 1)")
    _expect_error(dump, tmp_path / "cat", DataError, "track_rowid", "tracks", "999")


@pytest.mark.parametrize("value", [-1, 150])
def test_popularity_out_of_range(tmp_path, value):
    dump = build_tiny_dump(tmp_path / "dump")
    run_sql(dump / MAIN, f"UPDATE tracks SET popularity = {value} WHERE rowid = 2")
    _expect_error(dump, tmp_path / "cat", DataError, "popularity outside 0..100", "rowid 2", str(value))


@pytest.mark.parametrize("date,precision", [("2020-13-45", "day"), ("hello", "year"), ("1999", "day")])
def test_unparsable_dates(tmp_path, date, precision):
    dump = build_tiny_dump(tmp_path / "dump")
    run_sql(dump / MAIN, f"UPDATE albums SET release_date = '{date}', release_date_precision = '{precision}' "
                         "WHERE rowid = 2")
    _expect_error(dump, tmp_path / "cat", DataError, "release_date", date, "rowid 2")


def test_wrong_type_in_integer_column(tmp_path):
    dump = build_tiny_dump(tmp_path / "dump")
    run_sql(dump / MAIN, "UPDATE artists SET popularity = 'very' WHERE rowid = 2")
    _expect_error(dump, tmp_path / "cat", DataError, "popularity", "'very'", "rowid 2")


def test_lenient_drops_rows_with_wrong_types(tmp_path):
    dump = build_tiny_dump(tmp_path / "dump")
    run_sql(dump / MAIN, "UPDATE artists SET popularity = 'very' WHERE rowid = 2",
            "UPDATE tracks SET duration_ms = 12.5 WHERE rowid = 4")
    cat = _ingest(dump, tmp_path / "cat", lenient=True)
    dropped = cat.manifest["stats"]["dropped"]
    assert dropped["artists: value of the wrong type"] == 1 and dropped["tracks: value of the wrong type"] == 1
    assert 2 not in set(cat.table("artists").column("rowid").to_pylist())
    assert 4 not in set(cat.table("tracks").column("rowid").to_pylist())
    # the dropped artist's credits and genres went with it
    assert 2 not in set(cat.table("track_artists").column("artist_rowid").to_pylist())
    assert 2 not in set(cat.table("artist_genres").column("artist_rowid").to_pylist())


def test_lenient_drops_and_counts(tmp_path):
    dump = build_tiny_dump(tmp_path / "dump", strict_schema=False)
    run_sql(dump / MAIN, "UPDATE tracks SET popularity = 150 WHERE rowid = 2",
            "INSERT INTO track_artists VALUES (999, 1)",
            "UPDATE albums SET release_date = 'soon' WHERE rowid = 2",
            "UPDATE artists SET name = NULL WHERE rowid = 3")
    cat = _ingest(dump, tmp_path / "cat", lenient=True)
    dropped = cat.manifest["stats"]["dropped"]
    assert dropped["tracks: popularity outside 0..100"] == 1
    assert dropped["track_artists: track_rowid points to no row of tracks"] == 1
    assert dropped["albums: release_date unparsable (year set to null, row kept)"] == 1
    assert dropped["artists: NULL in NOT NULL column 'name'"] == 1
    assert 2 not in set(cat.table("tracks").column("rowid").to_pylist())
    # rows that referred to dropped rows go too, so the catalog stays consistent
    assert 2 not in set(cat.table("track_artists").column("track_rowid").to_pylist())
    assert 3 not in set(cat.table("track_artists").column("artist_rowid").to_pylist())
    assert cat.num_rows("albums") == len(ALBUMS)


def test_output_exists_refused_unless_force(tiny_dump, tmp_path):
    out = tmp_path / "cat"
    out.mkdir()
    (out / "precious.txt").write_text("keep me")
    with pytest.raises(OutputExistsError, match="--force"):
        _ingest(tiny_dump, out)
    assert (out / "precious.txt").read_text() == "keep me"
    ingest(tiny_dump, out, force=True, progress=False)
    assert not (out / "precious.txt").exists() and Catalog.open(out).num_rows("artists") == 6
    assert _leftovers(tmp_path) == []


def test_failed_forced_ingest_keeps_old_catalog(tiny_dump, tmp_path):
    out = tmp_path / "cat"
    _ingest(tiny_dump, out)
    run_sql(tiny_dump / MAIN, "INSERT INTO track_artists VALUES (999, 1)")
    with pytest.raises(DataError):
        ingest(tiny_dump, out, force=True, progress=False)
    assert Catalog.open(out).num_rows("track_artists") == len(CREDITS)
    assert _leftovers(tmp_path) == []


def _bigger_dump(folder: Path, n: int) -> Path:
    """Many artists and tracks via SQL, so that an ingest with small batches runs for a few seconds."""
    dump = build_tiny_dump(folder, audio=False, playlists=False)
    run_sql(dump / MAIN,
            f"WITH RECURSIVE s(i) AS (SELECT 100 UNION ALL SELECT i + 1 FROM s WHERE i < {n + 100}) "
            "INSERT INTO artists SELECT i, printf('%022d', i), 0, 'artist ' || i, i % 1000, i % 90 FROM s",
            f"WITH RECURSIVE s(i) AS (SELECT 100 UNION ALL SELECT i + 1 FROM s WHERE i < {n + 100}) "
            "INSERT INTO tracks (rowid,id,fetched_at,name,album_rowid,track_number,popularity,available_markets_rowid,"
            "disc_number,duration_ms,explicit) SELECT i, printf('t%021d', i), 0, 'track ' || i, 1, 1, 0, 1, 1, 1000, 0 "
            "FROM s",
            f"WITH RECURSIVE s(i) AS (SELECT 100 UNION ALL SELECT i + 1 FROM s WHERE i < {n + 100}) "
            "INSERT INTO track_artists SELECT i, i FROM s")
    return dump


def test_ctrl_c_during_ingest_leaves_nothing(tmp_path):
    dump = _bigger_dump(tmp_path / "dump", 400_000)
    out = tmp_path / "cat"
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    # A shell that starts jobs in the background without job control (and make after it) hands its children
    # SIGINT as *ignored*, and Python then keeps ignoring it: give the child the default disposition, as a
    # terminal would, so the test does not depend on how the suite was launched.
    proc = subprocess.Popen([sys.executable, "-m", "recsys.cli", "ingest", str(dump), "--out", str(out),
                             "--batch-rows", "200"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.time() + 60
    while time.time() < deadline and not _leftovers(tmp_path):
        time.sleep(0.05)
    assert _leftovers(tmp_path), "ingest never started writing"
    time.sleep(0.5)
    assert proc.poll() is None, "ingest finished before it could be interrupted; make the dump bigger"
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err.decode()
    assert b"interrupted" in err
    assert not out.exists()
    assert _leftovers(tmp_path) == []


# --- catalogs that changed after ingest -------------------------------------------------------------------------

def test_catalog_unknown_version(tiny_dump, tmp_path):
    out = tmp_path / "cat"
    _ingest(tiny_dump, out)
    m = json.loads((out / "manifest.json").read_text())
    m["format_version"] = 99
    (out / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(CatalogError, match="format version 99"):
        Catalog.open(out)


def test_catalog_altered_file_same_size(tiny_dump, tmp_path):
    out = tmp_path / "cat"
    _ingest(tiny_dump, out)
    p = out / "artists.parquet"
    data = bytearray(p.read_bytes())
    data[len(data) // 2] ^= 0x01
    p.write_bytes(bytes(data))
    cat = Catalog.open(out)
    with pytest.raises(CatalogError, match="checksum"):
        cat.table("artists")


def test_catalog_altered_file_other_size_and_missing_file(tiny_dump, tmp_path):
    out = tmp_path / "cat"
    _ingest(tiny_dump, out)
    shutil.copy(out / "tracks.parquet", out / "backup.parquet")
    with open(out / "tracks.parquet", "ab") as f:
        f.write(b"extra")
    with pytest.raises(CatalogError, match="bytes"):
        Catalog.open(out)
    (out / "tracks.parquet").unlink()
    with pytest.raises(CatalogError, match="lacks table file"):
        Catalog.open(out)


def test_catalog_missing_or_not_a_catalog(tmp_path):
    with pytest.raises(CatalogError, match="does not exist"):
        Catalog.open(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(CatalogError, match="no manifest.json"):
        Catalog.open(tmp_path / "empty")
    (tmp_path / "empty" / "manifest.json").write_text("{not json")
    with pytest.raises(CatalogError, match="not valid JSON"):
        Catalog.open(tmp_path / "empty")
