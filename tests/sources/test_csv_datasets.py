"""Tests for recsys.sources.csv_datasets: the TidyTuesday and data_w_genres CSVs into the catalog.

Tests marked by the ``shared`` fixture read the real files from ../shared/data and skip when they are absent;
the others build small CSVs in tmp_path.
"""

from __future__ import annotations

import ast
import csv
import hashlib
import json
from pathlib import Path

import pyarrow as pa
import pytest

from recsys.catalog import CATALOG_SCHEMAS, Catalog, normalize_name, parse_spotify_ref
from recsys.errors import AmbiguousNameError, DataError, OutputExistsError, SchemaError, SourceError
from recsys.sources.csv_datasets import find_shared_datasets, ingest_artist_genres_csv, ingest_tidytuesday

TT_COLUMNS = ["track_id", "track_name", "track_artist", "track_popularity", "track_album_id", "track_album_name",
              "track_album_release_date", "playlist_name", "playlist_id", "playlist_genre", "playlist_subgenre",
              "danceability", "energy", "key", "loudness", "mode", "speechiness", "acousticness",
              "instrumentalness", "liveness", "valence", "tempo", "duration_ms"]
AG_COLUMNS = ["artists", "acousticness", "danceability", "duration_ms", "energy", "instrumentalness", "liveness",
              "loudness", "speechiness", "tempo", "valence", "popularity", "key", "mode", "count", "genres"]


# --- helpers ---------------------------------------------------------------------------------------------------

def _tt_row(**kw) -> dict:
    row = {"track_id": "t" * 22, "track_name": "Song", "track_artist": "Artist", "track_popularity": "50",
           "track_album_id": "a" * 22, "track_album_name": "Album", "track_album_release_date": "2019-06-14",
           "playlist_name": "List", "playlist_id": "p" * 22, "playlist_genre": "pop",
           "playlist_subgenre": "dance pop", "danceability": "0.5", "energy": "0.6", "key": "6",
           "loudness": "-5.1", "mode": "1", "speechiness": "0.05", "acousticness": "0.1",
           "instrumentalness": "0", "liveness": "0.2", "valence": "0.7", "tempo": "120.5", "duration_ms": "200000"}
    row.update(kw)
    return row


def _write_csv(path: Path, columns: list[str], rows: list[dict]) -> Path:
    with open(path, "w", encoding="utf-8", newline="") as f:
        w = csv.DictWriter(f, fieldnames=columns)
        w.writeheader()
        w.writerows(rows)
    return path


def _ag_row(name: str, genres: str, popularity: str = "40.5") -> dict:
    row = dict.fromkeys(AG_COLUMNS, "0.5")
    row.update(artists=name, genres=genres, popularity=popularity, count="3", key="1", mode="1")
    return row


def _small_tt(tmp_path: Path) -> Path:
    """Seven rows exercising every mapping rule; genres are unique marker strings for the leak test."""
    rows = [
        _tt_row(track_id="A" * 22, track_artist="Alpha", track_popularity="30", track_album_id="X" * 22,
                playlist_id="P" * 22, playlist_genre="zzgenre-one", playlist_subgenre="zzsub-one"),
        _tt_row(track_id="B" * 22, track_artist="Alpha", track_popularity="70", track_album_id="X" * 22,
                track_album_release_date="2001", playlist_id="P" * 22, playlist_genre="zzgenre-one",
                playlist_subgenre="zzsub-one"),
        # the same track again in the same playlist under another genre label: one playlist entry
        _tt_row(track_id="A" * 22, track_artist="Alpha", track_popularity="30", track_album_id="X" * 22,
                playlist_id="P" * 22, playlist_genre="zzgenre-two", playlist_subgenre="zzsub-two"),
        _tt_row(track_id="C" * 22, track_artist="CREAM", track_album_id="Y" * 22,
                track_album_release_date="1968-07", playlist_id="Q" * 22, playlist_name="Other",
                playlist_genre="zzgenre-two", playlist_subgenre="zzsub-two"),
        _tt_row(track_id="D" * 22, track_artist="Cream", track_album_id="Z" * 22,
                track_album_release_date="sometime", playlist_id="Q" * 22, playlist_name="Other",
                playlist_genre="zzgenre-two", playlist_subgenre="zzsub-two"),
        _tt_row(track_id="E" * 22, track_name="NA", track_artist="NA", track_album_name="NA",
                track_album_id="W" * 22, playlist_id="Q" * 22, playlist_name="Other", tempo="NA",
                playlist_genre="zzgenre-two", playlist_subgenre="zzsub-two"),
        _tt_row(track_id="A" * 22, track_artist="Alpha", track_popularity="30", track_album_id="X" * 22,
                playlist_id="Q" * 22, playlist_name="Other", playlist_genre="zzgenre-two",
                playlist_subgenre="zzsub-two"),
    ]
    return _write_csv(tmp_path / "spotify_songs.csv", TT_COLUMNS, rows)


def _all_strings(cat: Catalog) -> set[str]:
    values: set[str] = set()
    for name in cat.table_names:
        t = cat.table(name)
        for col in t.column_names:
            if pa.types.is_string(t.schema.field(col).type):
                values.update(v for v in t.column(col).to_pylist() if v is not None)
    return values


def _no_temp_dirs(parent: Path) -> bool:
    return not [p for p in parent.iterdir() if ".tmp-" in p.name or ".old-" in p.name]


# --- real data (skips without ../shared/data) -----------------------------------------------------------------

@pytest.fixture(scope="module")
def shared() -> dict[str, Path]:
    found = find_shared_datasets()
    if set(found) != {"tidytuesday", "artist_genres"}:
        pytest.skip(f"shared datasets not found under ../shared/data (found {sorted(found)})")
    return found


@pytest.fixture(scope="module")
def tt_plain(shared, tmp_path_factory) -> Catalog:
    return ingest_tidytuesday(shared["tidytuesday"], tmp_path_factory.mktemp("tt") / "cat", progress=False)


@pytest.fixture(scope="module")
def tt_joined(shared, tmp_path_factory) -> Catalog:
    return ingest_tidytuesday(shared["tidytuesday"], tmp_path_factory.mktemp("ttj") / "cat",
                              artist_genres_csv=shared["artist_genres"], progress=False)


@pytest.fixture(scope="module")
def ag_catalog(shared, tmp_path_factory) -> Catalog:
    return ingest_artist_genres_csv(shared["artist_genres"], tmp_path_factory.mktemp("ag") / "cat", progress=False)


@pytest.fixture(scope="module")
def ag_genres_by_name(shared) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    with open(shared["artist_genres"], encoding="utf-8", newline="") as f:
        for r in csv.DictReader(f):
            out.setdefault(normalize_name(r["artists"]), ast.literal_eval(r["genres"]))
    return out


def test_tidytuesday_counts_match_source_md(tt_plain):
    s = tt_plain.manifest["stats"]
    assert s["rows_read"] == 32_833
    assert tt_plain.num_rows("tracks") == 28_356
    assert tt_plain.num_rows("audio_features") == 28_356
    assert tt_plain.num_rows("playlists") == 471
    # 10,693 distinct track_artist values, one of them the NA marker
    assert tt_plain.num_rows("artists") == 10_692
    assert s["na_artist_rows"] == 5
    assert s["tracks_without_artist"] == 4  # the 5 NA rows are 4 tracks
    assert tt_plain.num_rows("track_artists") == 28_356 - 4
    assert tt_plain.num_rows("playlist_tracks") == 32_833 - s["duplicate_playlist_entries"]
    assert sum(tt_plain.table("playlists").column("tracks_total").to_pylist()) == tt_plain.num_rows("playlist_tracks")
    assert tt_plain.num_rows("artist_genres") == 0
    assert s["rows"]["tracks"] == 28_356


def test_tidytuesday_round_trips_through_catalog_open(tt_joined):
    cat = Catalog.open(tt_joined.path, verify=True)
    assert cat.manifest["source"]["kind"] == "tidytuesday-2020-01-21-spotify-songs"
    assert [f["name"] for f in cat.manifest["source"]["files"]] == ["spotify_songs.csv", "data_w_genres.csv"]
    for name, schema in CATALOG_SCHEMAS.items():
        t = cat.table(name)  # verifies the checksum
        assert t.schema.equals(schema), name
        assert t.num_rows == cat.num_rows(name)
    for name in ("artists", "albums", "tracks", "playlists", "track_artists"):
        assert cat.column(name, "rowid").tolist() == list(range(1, cat.num_rows(name) + 1)), name
    n_artists, n_tracks, n_albums = cat.num_rows("artists"), cat.num_rows("tracks"), cat.num_rows("albums")
    assert set(cat.column("track_artists", "artist_rowid")) <= set(range(1, n_artists + 1))
    assert set(cat.column("artist_genres", "artist_rowid")) <= set(range(1, n_artists + 1))
    assert set(cat.column("playlist_tracks", "track_rowid")) <= set(range(1, n_tracks + 1))
    assert set(cat.column("tracks", "album_rowid")) <= set(range(1, n_albums + 1))
    ids = cat.column("artists", "id").tolist()
    assert len(set(ids)) == len(ids)
    assert all(i.startswith("tt:") and parse_spotify_ref(i) is None for i in ids)
    assert len(set(cat.column("tracks", "id").tolist())) == n_tracks


def test_tidytuesday_resolves_names_and_ids(tt_plain, shared):
    row = tt_plain.artists.resolve("Ed Sheeran")
    d = tt_plain.artists.describe(row)
    assert d["id"] == "tt:" + hashlib.sha1(b"ed sheeran").hexdigest()[:16]
    assert d["followers"] is None
    with open(shared["tidytuesday"], encoding="utf-8", newline="") as f:
        pops = [int(r["track_popularity"]) for r in csv.DictReader(f) if r["track_artist"] == "Ed Sheeran"]
    assert d["popularity"] == max(pops)
    assert tt_plain.artists.row_of_id(d["id"]) == row
    t = tt_plain.tracks.resolve("6f807x0ima9a1j3VPbc7VN")
    assert tt_plain.tracks.names[t].startswith("I Don't Care")
    # case variants stay separate artists with distinct ids, so a name lookup is ambiguous
    with pytest.raises(AmbiguousNameError) as e:
        tt_plain.artists.resolve("Cream")
    assert len({c["id"] for c in e.value.candidates}) == 2


def test_tidytuesday_release_dates(tt_plain):
    s = tt_plain.manifest["stats"]
    albums = tt_plain.table("albums").to_pydict()
    assert sum(s["release_date_precision"].values()) == len(albums["rowid"]) == 22_545
    for date, prec, year in zip(albums["release_date"], albums["release_date_precision"], albums["release_year"]):
        if prec is not None:
            assert len(date) == {"year": 4, "month": 7, "day": 10}[prec]
            assert year == int(date[:4])
    assert set(albums["album_type"]) == {"album"}


def test_playlist_genres_do_not_leak(tt_plain, tt_joined, ag_genres_by_name, shared):
    with open(shared["tidytuesday"], encoding="utf-8", newline="") as f:
        labels = {v for r in csv.DictReader(f) for v in (r["playlist_genre"], r["playlist_subgenre"])}
    assert len(labels) == 30
    # without the join there are no genres at all
    assert tt_plain.num_rows("artist_genres") == 0
    for name, schema in CATALOG_SCHEMAS.items():
        assert all("genre" not in c for c in schema.names if name != "artist_genres")
    # with the join every (artist, genre) pair comes from that artist's data_w_genres row
    names = tt_joined.artists.names
    g = tt_joined.table("artist_genres").to_pydict()
    assert len(g["genre"]) > 0
    for rowid, genre in zip(g["artist_rowid"], g["genre"]):
        assert genre in ag_genres_by_name[normalize_name(names[rowid - 1])]
    leaked = [(r, x) for r, x in zip(g["artist_rowid"], g["genre"]) if x in labels]
    assert leaked  # "pop", "rock", ... are real artist genres too, and each one was checked above
    assert not any(k in json.dumps(tt_joined.manifest) for k in ("playlist_genre", "playlist_subgenre"))


def test_artist_genre_match_rate(tt_joined):
    s = tt_joined.manifest["stats"]
    assert 0.25 <= s["artist_genre_match_rate"] <= 0.5
    assert 0.25 <= s["artist_genre_matched_with_genres_rate"] <= s["artist_genre_match_rate"]
    assert s["artist_genre_unparsable_lists"] == 0
    assert s["artist_genres_csv"]["rows_read"] == 22_727


def test_artist_genres_csv_catalog(ag_catalog):
    s = ag_catalog.manifest["stats"]
    assert s["rows_read"] == 22_727
    assert s["rows_with_genres"] == 16_403
    assert s["unparsable_genre_lists"] == 0
    assert ag_catalog.num_rows("artists") == 22_727 - s["duplicate_normalized_names"]
    assert s["artists_with_genres"] <= 16_403
    for name in CATALOG_SCHEMAS:
        if name not in ("artists", "artist_genres"):
            assert ag_catalog.num_rows(name) == 0, name
    row = ag_catalog.artists.resolve('"Weird Al" Yankovic')
    d = ag_catalog.artists.describe(row)
    assert d["id"].startswith("ag:") and d["followers"] is None
    assert d["popularity"] == 34  # mean 33.68 rounded
    g = ag_catalog.table("artist_genres").to_pydict()
    mine = [x for r, x in zip(g["artist_rowid"], g["genre"]) if r == row + 1]
    assert mine == ["antiviral pop", "comedy rock", "comic", "parody"]
    assert len(set(g["genre"])) == 2_604
    pop = ag_catalog.column("artists", "popularity")
    assert pop.min() >= 0 and pop.max() <= 100


# --- small files: mapping rules --------------------------------------------------------------------------------

def test_small_tidytuesday_mapping(tmp_path):
    cat = ingest_tidytuesday(_small_tt(tmp_path), tmp_path / "cat", progress=False)
    s = cat.manifest["stats"]
    assert cat.num_rows("tracks") == 5 and cat.num_rows("artists") == 3
    assert s["na_artist_rows"] == 1 and s["tracks_without_artist"] == 1
    assert s["duplicate_playlist_entries"] == 1 and s["unparsable_release_dates"] == 1
    assert s["artist_names_with_case_variants"] == 2
    artists = cat.table("artists").to_pydict()
    assert artists["name"] == ["Alpha", "CREAM", "Cream"]
    assert artists["popularity"][0] == 70  # max over Alpha's tracks
    assert len(set(artists["id"])) == 3
    tracks = cat.table("tracks").to_pydict()
    assert tracks["name"][4] == "" and tracks["explicit"] == [False] * 5 and tracks["track_number"] == [1] * 5
    albums = cat.table("albums").to_pydict()
    assert albums["total_tracks"] == [2, 1, 1, 1]
    assert albums["release_date_precision"] == ["day", "month", None, "day"]
    assert albums["release_year"] == [2019, 1968, None, 2019]
    assert albums["popularity"][0] == 70
    pl = cat.table("playlists").to_pydict()
    assert pl["tracks_total"] == [2, 4]
    pt = cat.table("playlist_tracks").to_pydict()
    assert pt["position"] == [0, 1, 0, 1, 2, 3]
    assert pt["track_rowid"] == [1, 2, 3, 4, 5, 1]
    af = cat.table("audio_features").to_pydict()
    assert af["tempo"][4] is None and af["time_signature"] == [None] * 5 and af["key"] == [6] * 5
    aa = cat.table("artist_albums").to_pydict()
    assert list(zip(aa["artist_rowid"], aa["album_rowid"])) == [(1, 1), (2, 2), (3, 3)]


def test_small_no_genre_leak_anywhere(tmp_path):
    ag = _write_csv(tmp_path / "data_w_genres.csv", AG_COLUMNS, [_ag_row("alpha", "['real genre']")])
    cat = ingest_tidytuesday(_small_tt(tmp_path), tmp_path / "cat", artist_genres_csv=ag, progress=False)
    values = _all_strings(cat)
    manifest = (cat.path / "manifest.json").read_text(encoding="utf-8")
    for marker in ("zzgenre-one", "zzgenre-two", "zzsub-one", "zzsub-two"):
        assert marker not in values and marker not in manifest
    assert cat.table("artist_genres").to_pydict() == {"artist_rowid": [1], "genre": ["real genre"]}
    assert cat.manifest["stats"]["artist_genre_match_rate"] == pytest.approx(1 / 3, abs=1e-3)


def test_small_artist_genres_csv(tmp_path):
    rows = [_ag_row("Band", "['rock', 'indie rock']", "33.5"), _ag_row("band ", "['pop']"),
            _ag_row("Broken", "['unclosed", "101.2"), _ag_row("Call", "__import__('os')", "-3"),
            _ag_row("Empty", "[]")]
    cat = ingest_artist_genres_csv(_write_csv(tmp_path / "g.csv", AG_COLUMNS, rows), tmp_path / "cat",
                                   progress=False)
    s = cat.manifest["stats"]
    assert s["duplicate_normalized_names"] == 1 and s["unparsable_genre_lists"] == 2
    a = cat.table("artists").to_pydict()
    assert a["name"] == ["Band", "Broken", "Call", "Empty"]
    assert a["popularity"] == [34, 100, 0, 41]
    assert a["id"][0] == "ag:" + hashlib.sha1(b"band").hexdigest()[:16]
    assert cat.table("artist_genres").to_pydict() == {"artist_rowid": [1, 1], "genre": ["rock", "indie rock"]}


# --- bad input -------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("func", [ingest_tidytuesday, ingest_artist_genres_csv])
def test_missing_file(tmp_path, func):
    with pytest.raises(SourceError, match="does not exist") as e:
        func(tmp_path / "nope.csv", tmp_path / "cat", progress=False)
    assert "nope.csv" in str(e.value) and e.value.hint
    assert not (tmp_path / "cat").exists()


def test_wrong_csv_names_missing_columns(tmp_path):
    ag = _write_csv(tmp_path / "data_w_genres.csv", AG_COLUMNS, [_ag_row("x", "[]")])
    with pytest.raises(SchemaError) as e:
        ingest_tidytuesday(ag, tmp_path / "cat", progress=False)
    msg = str(e.value)
    assert "data_w_genres.csv" in msg and "track_id" in msg and "playlist_id" in msg
    assert "track_album_release_date" in e.value.hint
    tt = _small_tt(tmp_path)
    with pytest.raises(SchemaError, match="genres") as e:
        ingest_artist_genres_csv(tt, tmp_path / "cat", progress=False)
    assert "artists" in e.value.hint
    assert not (tmp_path / "cat").exists() and _no_temp_dirs(tmp_path)


@pytest.mark.parametrize("content, match", [(b"", "is empty"), (b"\n\n", "is empty"),
                                            (",".join(TT_COLUMNS).encode() + b"\n", "no data rows")])
def test_empty_and_header_only(tmp_path, content, match):
    p = tmp_path / "songs.csv"
    p.write_bytes(content)
    with pytest.raises(SourceError, match=match) as e:
        ingest_tidytuesday(p, tmp_path / "cat", progress=False)
    assert "songs.csv" in str(e.value) and e.value.hint
    assert not (tmp_path / "cat").exists() and _no_temp_dirs(tmp_path)


def test_not_utf8(tmp_path):
    p = _small_tt(tmp_path)
    p.write_bytes(p.read_bytes().replace(b"Alpha", b"Alph\xe9", 1))
    with pytest.raises(SourceError, match="not UTF-8") as e:
        ingest_tidytuesday(p, tmp_path / "cat", progress=False)
    assert "UTF-8" in e.value.hint
    assert not (tmp_path / "cat").exists() and _no_temp_dirs(tmp_path)


def test_ragged_row(tmp_path):
    p = _small_tt(tmp_path)
    with open(p, "a", encoding="utf-8") as f:
        f.write("only,three,fields\n")
    with pytest.raises(DataError, match="line 9"):
        ingest_tidytuesday(p, tmp_path / "cat", progress=False)
    assert not (tmp_path / "cat").exists() and _no_temp_dirs(tmp_path)


def test_bad_artist_genres_csv_writes_nothing(tmp_path):
    bad = tmp_path / "g.csv"
    bad.write_text("artists,genres\nx,[]\n", encoding="utf-8")  # no popularity column
    with pytest.raises(SchemaError, match="popularity"):
        ingest_tidytuesday(_small_tt(tmp_path), tmp_path / "cat", artist_genres_csv=bad, progress=False)
    assert not (tmp_path / "cat").exists() and _no_temp_dirs(tmp_path)


def test_existing_output_needs_force(tmp_path):
    src = _small_tt(tmp_path)
    out = tmp_path / "cat"
    ingest_tidytuesday(src, out, progress=False)
    with pytest.raises(OutputExistsError):
        ingest_tidytuesday(src, out, progress=False)
    # a failed forced run leaves the old catalog as it was
    before = (out / "manifest.json").read_bytes()
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\n1,2\n", encoding="utf-8")
    with pytest.raises(SchemaError):
        ingest_tidytuesday(bad, out, force=True, progress=False)
    assert (out / "manifest.json").read_bytes() == before and _no_temp_dirs(tmp_path)
    cat = ingest_tidytuesday(src, out, force=True, progress=False)
    assert cat.num_rows("tracks") == 5


def test_find_shared_datasets_with_root(tmp_path):
    assert find_shared_datasets(tmp_path) == {}
    (tmp_path / "tidytuesday-2020-01-21-spotify-songs").mkdir()
    tt = tmp_path / "tidytuesday-2020-01-21-spotify-songs" / "spotify_songs.csv"
    tt.write_text("x\n", encoding="utf-8")
    (tmp_path / "somewhere").mkdir()
    ag = tmp_path / "somewhere" / "data_w_genres.csv"
    ag.write_text("x\n", encoding="utf-8")
    assert find_shared_datasets(tmp_path) == {"tidytuesday": tt, "artist_genres": ag}
    assert find_shared_datasets(tmp_path / "missing") == {}
