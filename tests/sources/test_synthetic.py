"""Tests of the demo dump generator (recsys.sources.synthetic).

The expected schema below is transcribed by hand from the release's published DDL (see the shared
``aa-schema.md``), not imported from ``recsys.schema``: the generator writes what ``recsys.schema`` says, so
comparing the output with ``recsys.schema`` itself would prove nothing.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sqlite3
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from scipy.stats import spearmanr

from recsys.errors import OutputExistsError
from recsys.schema import SchemaVariant
from recsys.sources import synthetic
from recsys.sources.synthetic import generate_dump

MAIN, AUDIO, PLAYLISTS = "spotify_clean.sqlite3", "spotify_clean_audio_features.sqlite3", "spotify_clean_playlists.sqlite3"
SQLITE_FILES = (MAIN, AUDIO, PLAYLISTS)

# --- expected schema: "name type [NN] [PK]" per column, in physical order --------------------------------------

_ALBUMS_HEAD = ["rowid integer NN PK", "id text NN", "fetched_at integer NN", "name text NN", "album_type text NN",
                "available_markets_rowid integer NN", "external_id_upc text"]
_ALBUMS_TAIL = ["copyright_c text", "copyright_p text", "label text NN", "popularity integer NN",
                "release_date text NN", "release_date_precision text NN", "total_tracks integer NN"]
_TRACKS_HEAD = ["rowid integer PK NN", "id text NN", "fetched_at integer NN", "name text NN", "preview_url text",
                "album_rowid integer NN", "track_number integer NN", "external_id_isrc text"]
_TRACKS_TAIL = ["popularity integer NN", "available_markets_rowid integer NN", "disc_number integer NN",
                "duration_ms integer NN", "explicit integer NN"]

MAIN_COMMON = {
    "artists": ["rowid integer NN PK", "id text NN", "fetched_at integer NN", "name text NN",
                "followers_total integer NN", "popularity integer NN"],
    "artist_genres": ["artist_rowid integer NN", "genre text NN"],
    "artist_images": ["artist_rowid integer NN", "width integer NN", "height integer NN", "url text NN"],
    "artist_albums": ["artist_rowid integer NN", "album_rowid integer NN", "is_appears_on integer NN",
                      "is_implicit_appears_on integer NN", "index_in_album integer"],
    "available_markets": ["rowid integer NN PK", "available_markets text NN"],
    "album_images": ["album_rowid integer NN", "width integer NN", "height integer NN", "url text NN"],
    "track_artists": ["track_rowid integer NN", "artist_rowid integer NN"],
}
EXPECTED_MAIN = {
    SchemaVariant.SHIPPED: {
        **MAIN_COMMON,
        "albums": _ALBUMS_HEAD + _ALBUMS_TAIL + ["external_id_amgid text"],
        "tracks": _TRACKS_HEAD + _TRACKS_TAIL,
    },
    SchemaVariant.BLOG: {
        **MAIN_COMMON,
        "albums": _ALBUMS_HEAD + ["external_id_amgid text"] + _ALBUMS_TAIL,
        "tracks": _TRACKS_HEAD + ["external_id_ean text", "external_id_upc text"] + _TRACKS_TAIL,
    },
}
EXPECTED_AUDIO = {
    "track_audio_features": [
        "rowid integer NN PK", "track_id text NN", "fetched_at integer NN", "null_response integer NN",
        "duration_ms integer", "time_signature integer", "tempo integer", "key integer", "mode integer",
        "danceability real", "energy real", "loudness real", "speechiness real", "acousticness real",
        "instrumentalness real", "liveness real", "valence real"],
}
EXPECTED_PLAYLISTS = {
    "playlists": ["rowid integer NN PK", "id text NN", "snapshot_id text NN", "fetched_at integer NN",
                  "name text NN", "description text", "collaborative integer NN", "public integer NN",
                  "primary_color text", "owner_id text", "owner_display_name text", "followers_total integer",
                  "tracks_total integer NN"],
    "playlist_images": ["playlist_rowid integer NN", "width integer", "height integer", "url text NN"],
    "playlist_tracks": ["playlist_rowid integer NN PK", "position integer NN PK", "is_episode integer NN",
                        "track_rowid integer", "id_if_not_in_tracks_table text", "added_at integer NN",
                        "added_by_id text", "primary_color text", "video_thumbnail_url text",
                        "is_local integer NN", "name_if_is_local text", "uri_if_is_local text",
                        "album_name_if_is_local text", "artists_name_if_is_local text",
                        "duration_ms_if_is_local integer"],
}
# index name -> (table, unique, columns)
EXPECTED_MAIN_INDEXES = {
    "artist_genres_artist_id": ("artist_genres", False, ["artist_rowid"]),
    "artist_genres_genre": ("artist_genres", False, ["genre"]),
    "artist_images_artist_id": ("artist_images", False, ["artist_rowid"]),
    "artists_id_unique": ("artists", True, ["id"]),
    "artists_name": ("artists", False, ["name"]),
    "artists_popularity": ("artists", False, ["popularity"]),
    "artists_followers": ("artists", False, ["followers_total"]),
    "artist_album_artist_id": ("artist_albums", False, ["artist_rowid"]),
    "artist_album_album_id": ("artist_albums", False, ["album_rowid"]),
    "albums_id_unique": ("albums", True, ["id"]),
    "album_name": ("albums", False, ["name"]),
    "album_popularity": ("albums", False, ["popularity"]),
    "available_markets_available_markets_unique": ("available_markets", True, ["available_markets"]),
    "track_artists_artist_id": ("track_artists", False, ["artist_rowid"]),
    "track_artists_track_id": ("track_artists", False, ["track_rowid"]),
    "tracks_id_unique": ("tracks", True, ["id"]),
    "tracks_popularity": ("tracks", False, ["popularity"]),
    "tracks_album": ("tracks", False, ["album_rowid"]),
    "tracks_isrc": ("tracks", False, ["external_id_isrc"]),
    "album_images_album_id": ("album_images", False, ["album_rowid"]),
}
EXPECTED_AUDIO_INDEXES = {"track_audio_features_track_id_unique": ("track_audio_features", True, ["track_id"])}
EXPECTED_PLAYLISTS_INDEXES = {
    "playlists_id_unique": ("playlists", True, ["id"]),
    "playlists_name": ("playlists", False, ["name"]),
    "playlists_owner_id": ("playlists", False, ["owner_id"]),
    "playlists_snapshot_id": ("playlists", False, ["snapshot_id"]),
    "playlists_followers": ("playlists", False, ["followers_total"]),
    "playlist_images_playlist_id": ("playlist_images", False, ["playlist_rowid"]),
}
FAMILIES = {"rock", "metal", "electronic", "hip hop", "jazz", "classical", "folk", "latin", "pop", "r&b", "country",
            "reggae", "experimental", "world", "blues", "punk", "asian pop", "soundtrack", "children", "religious"}
BASE62 = re.compile(r"^[0-7][0-9A-Za-z]{21}$")


# --- fixtures and helpers -----------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def dump(tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("synth") / "dump5k"
    stats = generate_dump(out, n_artists=5_000, seed=7, progress=False)
    return out, stats


@pytest.fixture(scope="module")
def db(dump):
    out, _ = dump
    conn = sqlite3.connect(f"file:{out / MAIN}?mode=ro", uri=True)
    conn.execute(f"ATTACH 'file:{out / AUDIO}?mode=ro' AS af")
    conn.execute(f"ATTACH 'file:{out / PLAYLISTS}?mode=ro' AS pl")
    yield conn
    conn.close()


@pytest.fixture(scope="module")
def truth(dump) -> dict[int, tuple[int, str, str]]:
    table = pq.read_table(dump[0] / "ground_truth.parquet").to_pydict()
    return {r: (c, f, g) for r, c, f, g in zip(table["artist_rowid"], table["community"], table["family"],
                                               table["core_genres"])}


def one(conn: sqlite3.Connection, sql: str, *args):
    return conn.execute(sql, args).fetchone()[0]


def parse_columns(spec: list[str]) -> list[tuple[str, str, bool, bool]]:
    out = []
    for s in spec:
        name, typ, *flags = s.split()
        out.append((name, typ, "NN" in flags, "PK" in flags))
    return out


def actual_tables(path: Path) -> dict[str, list[tuple[str, str, bool, bool]]]:
    with sqlite3.connect(path) as conn:
        names = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table' ORDER BY name")]
        return {n: [(r[1], r[2].lower(), bool(r[3]), r[5] > 0) for r in conn.execute(f'PRAGMA table_info("{n}")')]
                for n in names}


def actual_indexes(path: Path) -> dict[str, tuple[str, bool, list[str]]]:
    with sqlite3.connect(path) as conn:
        rows = conn.execute("SELECT name, tbl_name FROM sqlite_master WHERE type='index' "
                            "AND name NOT LIKE 'sqlite_autoindex%'").fetchall()
        out = {}
        for name, table in rows:
            unique = {r[1]: bool(r[2]) for r in conn.execute(f'PRAGMA index_list("{table}")')}[name]
            cols = [r[2] for r in conn.execute(f'PRAGMA index_info("{name}")')]
            out[name] = (table, unique, cols)
        return out


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def primary_artist(conn: sqlite3.Connection) -> dict[int, int]:
    """track rowid -> primary (first credited) artist rowid; credit order is track_artists' rowid order."""
    rows = conn.execute("SELECT track_rowid, artist_rowid FROM track_artists "
                        "WHERE rowid IN (SELECT MIN(rowid) FROM track_artists GROUP BY track_rowid)").fetchall()
    return dict(rows)


# --- schema ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("variant", [SchemaVariant.SHIPPED, SchemaVariant.BLOG])
def test_schema_matches_published_ddl(variant, dump, tmp_path_factory):
    if variant is SchemaVariant.SHIPPED:
        out = dump[0]
    else:
        out = tmp_path_factory.mktemp("blog") / "dump"
        generate_dump(out, n_artists=300, seed=3, variant="blog", progress=False)
    for file, expected, indexes in ((MAIN, EXPECTED_MAIN[variant], EXPECTED_MAIN_INDEXES),
                                    (AUDIO, EXPECTED_AUDIO, EXPECTED_AUDIO_INDEXES),
                                    (PLAYLISTS, EXPECTED_PLAYLISTS, EXPECTED_PLAYLISTS_INDEXES)):
        got = actual_tables(out / file)
        assert sorted(got) == sorted(expected), file
        for table, spec in expected.items():
            assert got[table] == parse_columns(spec), f"{file}:{table}"
        assert actual_indexes(out / file) == indexes, file
    with sqlite3.connect(out / PLAYLISTS) as conn:
        sql = one(conn, "SELECT sql FROM sqlite_master WHERE name='playlist_tracks'")
    assert "WITHOUT ROWID" in sql.upper()


def test_every_table_has_rows(dump):
    out, _ = dump
    for file in SQLITE_FILES:
        with sqlite3.connect(out / file) as conn:
            for (table,) in conn.execute("SELECT name FROM sqlite_master WHERE type='table'").fetchall():
                assert one(conn, f'SELECT COUNT(*) FROM "{table}"') > 0, f"{file}:{table} is empty"


# --- statistics (computed here with SQL, not read from the manifest) ------------------------------------------------

def test_size_ratios(db):
    n_art = one(db, "SELECT COUNT(*) FROM artists")
    n_alb = one(db, "SELECT COUNT(*) FROM albums")
    n_tr = one(db, "SELECT COUNT(*) FROM tracks")
    n_cr = one(db, "SELECT COUNT(*) FROM track_artists")
    assert n_art == 5_000
    assert 3.2 <= n_alb / n_art <= 4.4
    assert 14 <= n_tr / n_art <= 19
    assert 1.3 <= n_cr / n_tr <= 1.5
    collab = one(db, "SELECT AVG(c > 1) FROM (SELECT COUNT(*) c FROM track_artists GROUP BY track_rowid)")
    assert 0.25 <= collab <= 0.4
    shares = dict(db.execute("SELECT album_type, AVG(1.0) * COUNT(*) / (SELECT COUNT(*) FROM albums) "
                             "FROM albums GROUP BY album_type").fetchall())
    assert set(shares) == {"single", "album", "compilation"}
    assert 0.5 <= shares["single"] <= 0.7 and 0.2 <= shares["album"] <= 0.4 and 0.05 <= shares["compilation"] <= 0.15


def test_genres_sparse_and_rising_with_popularity(db):
    n_art = one(db, "SELECT COUNT(*) FROM artists")
    with_genre = one(db, "SELECT COUNT(DISTINCT artist_rowid) FROM artist_genres")
    assert 0.08 <= with_genre / n_art <= 0.18
    assert one(db, "SELECT COUNT(DISTINCT genre) FROM artist_genres") >= 200
    per_artist = [r[0] for r in db.execute("SELECT COUNT(*) FROM artist_genres GROUP BY artist_rowid")]
    assert min(per_artist) >= 1 and max(per_artist) <= 5
    assert one(db, "SELECT COUNT(*) FROM (SELECT 1 FROM artist_genres GROUP BY artist_rowid, genre HAVING COUNT(*) > 1)") == 0
    genres = [r[0] for r in db.execute("SELECT DISTINCT genre FROM artist_genres")]
    assert all(g == g.lower().strip() and g for g in genres)
    cov = dict(db.execute("SELECT popularity >= 50, AVG(rowid IN (SELECT artist_rowid FROM artist_genres)) "
                          "FROM artists GROUP BY 1").fetchall())
    pop0 = one(db, "SELECT AVG(rowid IN (SELECT artist_rowid FROM artist_genres)) FROM artists WHERE popularity = 0")
    assert cov[1] >= 0.8 and pop0 <= 0.1


def test_genres_follow_hidden_communities(db, truth):
    rows = db.execute("SELECT artist_rowid, genre FROM artist_genres").fetchall()
    in_core = [g in truth[a][2].split("|") for a, g in rows]
    assert np.mean(in_core) >= 0.5
    # Core genres are shared inside a community and differ between communities.
    cores = {c: g for c, _, g in truth.values()}
    assert len(set(cores.values())) >= 0.8 * len(cores)
    for c, g in cores.items():
        assert 2 <= len(g.split("|")) <= 5, c


def test_popularity_and_followers(db):
    assert 0.75 <= one(db, "SELECT AVG(popularity = 0) FROM tracks") <= 0.85
    for table in ("artists", "albums", "tracks"):
        assert one(db, f"SELECT COUNT(*) FROM {table} WHERE popularity NOT BETWEEN 0 AND 100") == 0
    assert 60 <= one(db, "SELECT MAX(popularity) FROM artists") <= 100
    assert one(db, "SELECT AVG(popularity >= 60) FROM artists") < 0.03
    assert 0.3 <= one(db, "SELECT AVG(popularity = 0) FROM artists") <= 0.8
    assert one(db, "SELECT MAX(followers_total) FROM artists WHERE popularity = 0") <= 50
    pop, fol = np.array(db.execute("SELECT popularity, followers_total FROM artists").fetchall()).T
    assert spearmanr(pop, fol).statistic > 0.6
    # Album popularity comes from its tracks.
    alb, best = np.array(db.execute("SELECT a.popularity, MAX(t.popularity) FROM albums a "
                                    "JOIN tracks t ON t.album_rowid = a.rowid GROUP BY a.rowid").fetchall()).T
    assert spearmanr(alb, best).statistic > 0.9
    # Tracks follow their primary artist.
    t_pop, a_pop = np.array(db.execute(
        "SELECT t.popularity, a.popularity FROM tracks t JOIN track_artists ta ON ta.track_rowid = t.rowid "
        "JOIN artists a ON a.rowid = ta.artist_rowid "
        "WHERE ta.rowid IN (SELECT MIN(rowid) FROM track_artists GROUP BY track_rowid)").fetchall()).T
    assert spearmanr(t_pop, a_pop).statistic > 0.4


def test_featured_artists_mostly_in_community(db, truth):
    rows = db.execute("SELECT ta.track_rowid, ta.artist_rowid FROM track_artists ta WHERE ta.rowid NOT IN "
                      "(SELECT MIN(rowid) FROM track_artists GROUP BY track_rowid)").fetchall()
    prim = primary_artist(db)
    same = [truth[a][0] == truth[prim[t]][0] for t, a in rows]
    assert len(same) > 1000
    assert np.mean(same) >= 0.75


def test_compilations_and_artist_albums_links(db):
    # Own albums: index 0..k, both flags 0; other links have no index.
    assert one(db, "SELECT COUNT(*) FROM artist_albums WHERE is_appears_on = 0 AND is_implicit_appears_on = 0 "
                   "AND index_in_album IS NULL") == 0
    assert one(db, "SELECT COUNT(*) FROM artist_albums WHERE (is_appears_on = 1 OR is_implicit_appears_on = 1) "
                   "AND index_in_album IS NOT NULL") == 0
    assert one(db, "SELECT COUNT(*) FROM albums WHERE rowid NOT IN "
                   "(SELECT album_rowid FROM artist_albums WHERE index_in_album = 0)") == 0
    assert one(db, "SELECT MAX(c) FROM (SELECT COUNT(*) c FROM artist_albums WHERE index_in_album = 0 "
                   "GROUP BY album_rowid)") == 1
    assert one(db, "SELECT COUNT(*) FROM artist_albums WHERE index_in_album = 1") > 0
    # Compilations gather several artists, who get appears-on links; those artists really are on the album.
    appears = db.execute("SELECT aa.artist_rowid, aa.album_rowid, al.album_type FROM artist_albums aa "
                         "JOIN albums al ON al.rowid = aa.album_rowid WHERE aa.is_appears_on = 1").fetchall()
    assert len(appears) > 100
    assert Counter(t for _, _, t in appears)["compilation"] == len(appears)
    credited = set(db.execute("SELECT DISTINCT ta.artist_rowid, t.album_rowid FROM track_artists ta "
                              "JOIN tracks t ON t.rowid = ta.track_rowid").fetchall())
    assert all((a, b) in credited for a, b, _ in appears)
    implicit = db.execute("SELECT artist_rowid, album_rowid FROM artist_albums WHERE is_implicit_appears_on = 1"
                          ).fetchall()
    assert len(implicit) > 100 and all(tuple(r) in credited for r in implicit)
    assert one(db, "SELECT COUNT(*) FROM (SELECT 1 FROM artist_albums GROUP BY artist_rowid, album_rowid "
                   "HAVING COUNT(*) > 1)") == 0


def test_labels(db):
    labels = one(db, "SELECT COUNT(DISTINCT label) FROM albums")
    assert labels >= 50
    per_artist = [r[0] for r in db.execute(
        "SELECT COUNT(DISTINCT al.label) FROM albums al JOIN artist_albums aa ON aa.album_rowid = al.rowid "
        "AND aa.index_in_album = 0 GROUP BY aa.artist_rowid HAVING COUNT(*) >= 3")]
    assert np.mean(np.array(per_artist) <= 2) >= 0.8
    # Some self-released albums carry the artist's own name as label.
    assert one(db, "SELECT COUNT(*) FROM albums al JOIN artist_albums aa ON aa.album_rowid = al.rowid "
                   "AND aa.index_in_album = 0 JOIN artists ar ON ar.rowid = aa.artist_rowid "
                   "WHERE al.label = ar.name") > 0


@pytest.mark.parametrize("table, owner, sizes, prefixes", [
    ("artist_images", "artist_rowid", [640, 320, 160], ["ab6761610000e5eb", "ab67616100005174", "ab6761610000f178"]),
    ("album_images", "album_rowid", [640, 300, 64], ["ab67616d0000b273", "ab67616d00001e02", "ab67616d00004851"]),
])
def test_images(db, table, owner, sizes, prefixes):
    rows = db.execute(f"SELECT {owner}, width, height, url FROM {table} ORDER BY rowid").fetchall()
    assert rows
    by_owner: dict[int, list[tuple[int, int, str]]] = {}
    for o, w, h, url in rows:
        by_owner.setdefault(o, []).append((w, h, url))
    url_re = re.compile(r"^https://i\.scdn\.co/image/([0-9a-f]{16})([0-9a-f]{24})$")
    for images in by_owner.values():
        assert [w for w, _, _ in images] == sizes and all(w == h for w, h, _ in images)  # widest first
        parts = [url_re.match(u).groups() for _, _, u in images]
        assert [p for p, _ in parts] == prefixes and len({i for _, i in parts}) == 1
    # Sparse: popular owners have images, most of the zero-popularity tail does not.
    parent = owner.split("_")[0] + "s"
    with_img = dict(db.execute(f"SELECT popularity > 0, AVG(rowid IN (SELECT {owner} FROM {table})) "
                               f"FROM {parent} GROUP BY 1").fetchall())
    assert with_img[1] == 1.0 and with_img[0] < 0.3


def test_release_dates(db):
    prec = dict(db.execute("SELECT release_date_precision, COUNT(*) FROM albums GROUP BY 1").fetchall())
    assert set(prec) == {"day", "month", "year"}
    total = sum(prec.values())
    assert 0.65 <= prec["day"] / total <= 0.85 and 0.05 <= prec["month"] / total <= 0.15
    assert 0.1 <= prec["year"] / total <= 0.2
    pattern = {"day": re.compile(r"^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])$"),
               "month": re.compile(r"^\d{4}-(0[1-9]|1[0-2])$"), "year": re.compile(r"^\d{4}$")}
    bogus = 0
    for date, p in db.execute("SELECT release_date, release_date_precision FROM albums"):
        assert pattern[p].match(date), (date, p)
        if date.startswith("0000"):
            bogus += 1
        else:
            assert 1900 <= int(date[:4]) <= 2025
    assert 1 <= bogus <= 0.005 * total


def test_tracks_albums_consistency(db):
    assert one(db, "SELECT COUNT(*) FROM albums al WHERE total_tracks != "
                   "(SELECT COUNT(*) FROM tracks t WHERE t.album_rowid = al.rowid)") == 0
    # track_number runs 1..n on each disc; a few long albums have a second disc.
    bad = one(db, "SELECT COUNT(*) FROM (SELECT album_rowid, disc_number, MIN(track_number) lo, "
                  "MAX(track_number) hi, COUNT(*) n, COUNT(DISTINCT track_number) d FROM tracks "
                  "GROUP BY album_rowid, disc_number) WHERE lo != 1 OR hi != n OR d != n")
    assert bad == 0
    assert set(r[0] for r in db.execute("SELECT DISTINCT disc_number FROM tracks")) == {1, 2}
    assert 0.7 <= one(db, "SELECT AVG(external_id_isrc IS NOT NULL) FROM tracks") <= 0.85
    isrc = re.compile(r"^[A-Z]{2}[A-Z0-9]{3}\d{7}$")
    assert all(isrc.match(r[0]) for r in db.execute("SELECT external_id_isrc FROM tracks "
                                                    "WHERE external_id_isrc IS NOT NULL"))
    assert one(db, "SELECT AVG(external_id_upc IS NOT NULL) FROM albums") > 0.8
    assert all(re.match(r"^\d{12,13}$", r[0]) for r in db.execute(
        "SELECT external_id_upc FROM albums WHERE external_id_upc IS NOT NULL"))
    assert one(db, "SELECT MIN(duration_ms) FROM tracks") > 0
    assert 0.05 <= one(db, "SELECT AVG(explicit) FROM tracks") <= 0.3


def test_markets(db):
    values = [r[0] for r in db.execute("SELECT available_markets FROM available_markets")]
    assert len(values) == len(set(values))
    assert "" in values
    for v in values:
        if v:
            codes = v.split(",")
            assert all(re.match(r"^[A-Z]{2}$", c) for c in codes) and len(codes) == len(set(codes)), v
    by_albums = db.execute("SELECT m.available_markets, COUNT(*) FROM albums a JOIN available_markets m "
                           "ON m.rowid = a.available_markets_rowid GROUP BY m.rowid ORDER BY 2 DESC").fetchall()
    assert len(by_albums[0][0].split(",")) >= 150  # most releases are worldwide
    assert by_albums[0][1] / one(db, "SELECT COUNT(*) FROM albums") >= 0.5
    assert any(0 < len(v.split(",")) <= 20 for v in values if v)  # and some are regional
    assert "DK,FI,IS,NO,SE" in values or "AR,BO,BR,CL,CO,CR,DO,EC,GT,HN,MX,NI,PA,PE,PR,PY,SV,UY,VE" in values


def test_audio_features(db, truth):
    n_tr = one(db, "SELECT COUNT(*) FROM tracks")
    n_af = one(db, "SELECT COUNT(*) FROM af.track_audio_features")
    missing = one(db, "SELECT COUNT(*) FROM tracks WHERE id NOT IN (SELECT track_id FROM af.track_audio_features)")
    extra = one(db, "SELECT COUNT(*) FROM af.track_audio_features WHERE track_id NOT IN (SELECT id FROM tracks)")
    assert missing == 0 and 1 <= extra <= 0.01 * n_tr and n_af == n_tr + extra
    assert 0.08 <= one(db, "SELECT AVG(null_response) FROM af.track_audio_features") <= 0.12
    cols = ["duration_ms", "time_signature", "tempo", "key", "mode", "danceability", "energy", "loudness",
            "speechiness", "acousticness", "instrumentalness", "liveness", "valence"]
    any_null = " OR ".join(f"{c} IS NULL" for c in cols)
    any_set = " OR ".join(f"{c} IS NOT NULL" for c in cols)
    assert one(db, f"SELECT COUNT(*) FROM af.track_audio_features WHERE null_response = 1 AND ({any_set})") == 0
    assert one(db, f"SELECT COUNT(*) FROM af.track_audio_features WHERE null_response = 0 AND ({any_null})") == 0
    for c in ("danceability", "energy", "speechiness", "acousticness", "instrumentalness", "liveness", "valence"):
        assert one(db, f"SELECT COUNT(*) FROM af.track_audio_features WHERE {c} NOT BETWEEN 0 AND 1") == 0
    assert one(db, "SELECT COUNT(*) FROM af.track_audio_features WHERE loudness NOT BETWEEN -60 AND 0 "
                   "OR tempo NOT BETWEEN 60 AND 200 OR key NOT BETWEEN -1 AND 11 OR mode NOT IN (0, 1) "
                   "OR time_signature NOT BETWEEN 3 AND 7") == 0
    # tempo is declared integer but holds fractional BPM, as in the real file.
    assert one(db, "SELECT AVG(typeof(tempo) = 'real') FROM af.track_audio_features WHERE null_response = 0") > 0.9
    assert 100 <= one(db, "SELECT AVG(tempo) FROM af.track_audio_features") <= 135
    # Feature means differ between the hidden communities (correlation ratio of energy by community).
    prim = primary_artist(db)
    rows = db.execute("SELECT t.rowid, f.energy FROM tracks t JOIN af.track_audio_features f ON f.track_id = t.id "
                      "WHERE f.null_response = 0").fetchall()
    comm = np.array([truth[prim[t]][0] for t, _ in rows])
    energy = np.array([e for _, e in rows])
    means = np.bincount(comm, weights=energy) / np.maximum(np.bincount(comm), 1)
    eta2 = np.var(means[comm]) / np.var(energy)
    assert eta2 > 0.1


def test_playlists(db, truth):
    n_pl = one(db, "SELECT COUNT(*) FROM pl.playlists")
    assert n_pl == 1_000
    assert one(db, "SELECT COUNT(*) FROM pl.playlists p WHERE tracks_total != "
                   "(SELECT COUNT(*) FROM pl.playlist_tracks t WHERE t.playlist_rowid = p.rowid)") == 0
    assert one(db, "SELECT COUNT(*) FROM (SELECT playlist_rowid FROM pl.playlist_tracks GROUP BY 1 "
                   "HAVING MIN(position) != 0 OR MAX(position) != COUNT(*) - 1)") == 0
    sizes = [r[0] for r in db.execute("SELECT tracks_total FROM pl.playlists")]
    assert min(sizes) >= 10 and max(sizes) <= 80 and 15 <= np.median(sizes) <= 50
    assert one(db, "SELECT AVG(followers_total >= 1000) FROM pl.playlists") >= 0.85
    # Episodes and local files have no track_rowid; everything else does.
    assert one(db, "SELECT COUNT(*) FROM pl.playlist_tracks WHERE is_episode = 1 AND "
                   "(track_rowid IS NOT NULL OR id_if_not_in_tracks_table IS NULL)") == 0
    assert one(db, "SELECT COUNT(*) FROM pl.playlist_tracks WHERE is_local = 1 AND "
                   "(track_rowid IS NOT NULL OR name_if_is_local IS NULL)") == 0
    assert one(db, "SELECT COUNT(*) FROM pl.playlist_tracks WHERE is_local = 0 AND is_episode = 0 "
                   "AND track_rowid IS NULL") == 0
    assert 0.003 <= one(db, "SELECT AVG(is_episode) FROM pl.playlist_tracks") <= 0.03
    assert one(db, "SELECT SUM(is_local) FROM pl.playlist_tracks") > 0
    # Community purity: share of each playlist's tracks in its most frequent community, against chance.
    prim = primary_artist(db)
    by_pl: dict[int, list[int]] = {}
    for p, t in db.execute("SELECT playlist_rowid, track_rowid FROM pl.playlist_tracks WHERE track_rowid IS NOT NULL"):
        by_pl.setdefault(p, []).append(truth[prim[t]][0])
    purity = np.mean([Counter(c).most_common(1)[0][1] / len(c) for c in by_pl.values()])
    all_comm = Counter(truth[a][0] for a in prim.values())
    chance = all_comm.most_common(1)[0][1] / sum(all_comm.values())
    assert purity >= 0.7 and purity >= chance + 0.4
    # Playlists favour popular tracks but still include tail (popularity 0) tracks.
    pop = one(db, "SELECT AVG(t.popularity = 0) FROM pl.playlist_tracks p JOIN tracks t ON t.rowid = p.track_rowid")
    assert 0.05 <= pop <= 0.6


def test_odd_names(db):
    names = [r[0] for r in db.execute("SELECT name FROM artists")]

    def has(pred) -> bool:
        return any(pred(n) for n in names)

    assert has(lambda n: any(ord(ch) >= 0x1F300 for ch in n))  # emoji
    assert has(lambda n: any(0x590 <= ord(ch) <= 0x6FF for ch in n))  # Hebrew / Arabic
    assert has(lambda n: any(0x3040 <= ord(ch) <= 0x9FFF or 0xAC00 <= ord(ch) <= 0xD7AF for ch in n))  # CJK
    assert has(lambda n: "'" in n) and has(lambda n: '"' in n)
    assert has(lambda n: "<script>" in n or "**" in n or "](" in n)
    assert has(lambda n: len(n) > 300)
    assert has(lambda n: n != n.strip())
    counts = Counter(names)
    shared = [n for n, c in counts.items() if c in (2, 3)]
    assert len(shared) >= 5
    assert one(db, "SELECT COUNT(DISTINCT id) FROM artists WHERE name = ?", shared[0]) == counts[shared[0]]
    odd_share = np.mean([n != n.strip() or len(n) > 300 or any(ord(ch) > 0x2FF for ch in n) for n in names])
    assert odd_share < 0.05  # odd on purpose, but only a small share
    for table in ("albums", "tracks"):
        other = [r[0] for r in db.execute(f"SELECT name FROM {table}")]
        assert any(len(n) > 300 for n in other) and any(any(ord(ch) >= 0x1F300 for ch in n) for n in other)
    assert one(db, "SELECT COUNT(*) FROM pl.playlists WHERE length(name) > 300 OR name != trim(name) "
                   "OR name LIKE '%<%' OR name GLOB '*[^ -~]*'") > 0


# --- integrity --------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("sql", [
    "SELECT COUNT(*) FROM track_artists WHERE track_rowid NOT IN (SELECT rowid FROM tracks)",
    "SELECT COUNT(*) FROM track_artists WHERE artist_rowid NOT IN (SELECT rowid FROM artists)",
    "SELECT COUNT(*) FROM tracks WHERE rowid NOT IN (SELECT track_rowid FROM track_artists)",
    "SELECT COUNT(*) FROM tracks WHERE album_rowid NOT IN (SELECT rowid FROM albums)",
    "SELECT COUNT(*) FROM tracks WHERE available_markets_rowid NOT IN (SELECT rowid FROM available_markets)",
    "SELECT COUNT(*) FROM albums WHERE available_markets_rowid NOT IN (SELECT rowid FROM available_markets)",
    "SELECT COUNT(*) FROM artist_albums WHERE artist_rowid NOT IN (SELECT rowid FROM artists)",
    "SELECT COUNT(*) FROM artist_albums WHERE album_rowid NOT IN (SELECT rowid FROM albums)",
    "SELECT COUNT(*) FROM artist_genres WHERE artist_rowid NOT IN (SELECT rowid FROM artists)",
    "SELECT COUNT(*) FROM artist_images WHERE artist_rowid NOT IN (SELECT rowid FROM artists)",
    "SELECT COUNT(*) FROM album_images WHERE album_rowid NOT IN (SELECT rowid FROM albums)",
    "SELECT COUNT(*) FROM pl.playlist_tracks WHERE track_rowid IS NOT NULL AND track_rowid NOT IN "
    "(SELECT rowid FROM tracks)",
    "SELECT COUNT(*) FROM pl.playlist_tracks WHERE playlist_rowid NOT IN (SELECT rowid FROM pl.playlists)",
    "SELECT COUNT(*) FROM pl.playlist_images WHERE playlist_rowid NOT IN (SELECT rowid FROM pl.playlists)",
    "SELECT COUNT(*) FROM available_markets WHERE rowid NOT IN (SELECT available_markets_rowid FROM albums "
    "UNION SELECT available_markets_rowid FROM tracks)",
])
def test_no_dangling_keys(db, sql):
    assert one(db, sql) == 0


@pytest.mark.parametrize("table, column", [("artists", "id"), ("albums", "id"), ("tracks", "id"),
                                           ("pl.playlists", "id"), ("af.track_audio_features", "track_id")])
def test_ids_are_unique_base62(db, table, column):
    ids = [r[0] for r in db.execute(f"SELECT {column} FROM {table}")]
    assert len(ids) == len(set(ids))
    assert all(BASE62.match(i) for i in ids)
    # Uniform 128-bit values: every leading digit 0..7 shows up.
    assert {i[0] for i in ids} == set("01234567") or len(ids) < 200


def test_rowids_dense_and_fetched_at_fixed(db):
    for table in ("artists", "albums", "tracks", "available_markets", "af.track_audio_features", "pl.playlists"):
        n, lo, hi = db.execute(f"SELECT COUNT(*), MIN(rowid), MAX(rowid) FROM {table}").fetchone()
        assert (lo, hi) == (1, n), table
    for table in ("artists", "albums", "tracks", "af.track_audio_features", "pl.playlists"):
        lo, hi = db.execute(f"SELECT MIN(fetched_at), MAX(fetched_at) FROM {table}").fetchone()
        assert 1_700_000_000_000 <= lo <= hi <= 1_800_000_000_000, table


# --- side files ---------------------------------------------------------------------------------------------------

def test_ground_truth(dump, db):
    out, _ = dump
    table = pq.read_table(out / "ground_truth.parquet")
    assert table.column_names == ["artist_rowid", "artist_id", "community", "family", "core_genres"]
    d = table.to_pydict()
    assert d["artist_rowid"] == list(range(1, 5_001))
    assert d["artist_id"] == [r[0] for r in db.execute("SELECT id FROM artists ORDER BY rowid")]
    assert set(d["family"]) <= FAMILIES and len(set(d["family"])) >= 15
    sizes = sorted(Counter(d["community"]).values(), reverse=True)
    assert 10 <= len(sizes) <= 60
    assert sizes[0] >= 3 * np.median(sizes)  # heavy-tailed community sizes
    genres = {r[0] for r in db.execute("SELECT DISTINCT genre FROM artist_genres")}
    core = {g for s in d["core_genres"] for g in s.split("|")}
    assert len(core & genres) >= 0.8 * len(core)


def test_manifest(dump, db):
    out, stats = dump
    manifest = json.loads((out / "synth_manifest.json").read_text(encoding="utf-8"))
    assert manifest["generator"] == "recsys.sources.synthetic"
    assert isinstance(manifest["generator_version"], int)
    assert (manifest["seed"], manifest["n_artists"], manifest["variant"]) == (7, 5_000, "shipped")
    assert manifest["stats"] == stats
    for table in ("artists", "albums", "tracks", "track_artists", "artist_albums", "artist_genres"):
        assert manifest["tables"][table] == one(db, f"SELECT COUNT(*) FROM {table}"), table
    assert manifest["tables"]["playlist_tracks"] == one(db, "SELECT COUNT(*) FROM pl.playlist_tracks")
    for name in SQLITE_FILES + ("ground_truth.parquet",):
        assert manifest["files"][name] == (out / name).stat().st_size
    keys = {"albums_per_artist", "tracks_per_artist", "credits_per_track", "genre_coverage", "n_genres",
            "track_pop0_share", "artist_pop0_share", "null_audio_share", "collab_track_share", "n_playlists",
            "playlist_in_community_share", "seconds"}
    assert keys <= set(stats)
    assert stats["tracks_per_artist"] == pytest.approx(one(db, "SELECT COUNT(*) FROM tracks") / 5_000, abs=1e-3)
    assert stats["n_genres"] == one(db, "SELECT COUNT(DISTINCT genre) FROM artist_genres")
    assert sorted(p.name for p in out.iterdir()) == sorted(SQLITE_FILES + ("ground_truth.parquet",
                                                                          "synth_manifest.json"))


# --- determinism --------------------------------------------------------------------------------------------------

def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path):
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    generate_dump(a, n_artists=2_000, seed=11, progress=False)
    generate_dump(b, n_artists=2_000, seed=11, progress=False)
    generate_dump(c, n_artists=2_000, seed=12, progress=False)
    for name in SQLITE_FILES:
        assert sha256(a / name) == sha256(b / name), name
        assert sha256(a / name) != sha256(c / name), name


def test_bytes_do_not_depend_on_string_hashing(tmp_path):
    code = ("import sys; from recsys.sources.synthetic import generate_dump; "
            "generate_dump(sys.argv[1], n_artists=300, seed=5, progress=False)")
    digests = []
    for hash_seed in ("1", "2"):
        out = tmp_path / f"h{hash_seed}"
        env = {**os.environ, "PYTHONHASHSEED": hash_seed}
        subprocess.run([sys.executable, "-c", code, str(out)], check=True, env=env, timeout=120)
        digests.append([sha256(out / name) for name in SQLITE_FILES])
    assert digests[0] == digests[1]


# --- arguments, existing output, interruption ----------------------------------------------------------------------

@pytest.mark.parametrize("kwargs, exc, word", [
    ({"n_artists": 49}, ValueError, "n_artists"),
    ({"n_artists": 0}, ValueError, "n_artists"),
    ({"n_artists": 1000.0}, TypeError, "n_artists"),
    ({"n_artists": "1000"}, TypeError, "n_artists"),
    ({"n_artists": True}, TypeError, "n_artists"),
    ({"seed": -1}, ValueError, "seed"),
    ({"seed": 1.5}, TypeError, "seed"),
    ({"seed": None}, TypeError, "seed"),
    ({"variant": "sqlite"}, ValueError, "variant"),
])
def test_bad_arguments(tmp_path, kwargs, exc, word):
    out = tmp_path / "out"
    with pytest.raises(exc, match=word) as info:
        generate_dump(out, progress=False, **kwargs)
    assert repr(next(iter(kwargs.values()))) in str(info.value)  # the received value is named too
    assert not out.exists()


def test_bad_out_dir(tmp_path):
    with pytest.raises(TypeError, match="out_dir"):
        generate_dump(123, n_artists=50, progress=False)  # type: ignore[arg-type]


def test_existing_output_needs_force(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "marker").write_text("old")
    with pytest.raises(OutputExistsError):
        generate_dump(out, n_artists=50, progress=False)
    assert (out / "marker").read_text() == "old"
    stats = generate_dump(out, n_artists=50, seed=1, force=True, progress=False)
    assert not (out / "marker").exists() and (out / MAIN).exists()
    assert stats["n_playlists"] == 10
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # no temp dirs left behind


@pytest.mark.parametrize("existing", [False, True])
def test_keyboard_interrupt_leaves_nothing(tmp_path, monkeypatch, existing):
    out = tmp_path / "out"
    if existing:
        out.mkdir()
        (out / "marker").write_text("old")

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(synthetic, "_write_playlists", interrupted)
    with pytest.raises(KeyboardInterrupt):
        generate_dump(out, n_artists=200, force=True, progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == (["out"] if existing else [])
    if existing:
        assert sorted(p.name for p in out.iterdir()) == ["marker"]


def test_progress_bar_only_when_asked(tmp_path, capsys):
    generate_dump(tmp_path / "quiet", n_artists=60, progress=False)
    assert capsys.readouterr().err == ""
    generate_dump(tmp_path / "loud", n_artists=60, progress=True)
    assert "demo dump" in capsys.readouterr().err
