"""Shared fixtures: a tiny hand-written dump in the real schema, whose every row is known to the tests."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from recsys.schema import SchemaVariant, SourceFile, ddl

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"

# Artists 1-3 play "dark ambient"; 4-5 "punk rock"; 6 has no genre but collaborates with 1.
ARTISTS = [  # rowid, id, name, followers, popularity
    (1, "1AAAAAAAAAAAAAAAAAAAAA", "Velmora", 12000, 55),
    (2, "2BBBBBBBBBBBBBBBBBBBBB", "Kastrin", 900, 30),
    (3, "3CCCCCCCCCCCCCCCCCCCCC", "Orvo Drone", 40, 8),
    (4, "4DDDDDDDDDDDDDDDDDDDDD", "The Spitfires", 50000, 70),
    (5, "5EEEEEEEEEEEEEEEEEEEEE", "Velmora", 3, 0),  # shares a name with artist 1
    (6, "6FFFFFFFFFFFFFFFFFFFFF", "مرحبا 🎵 <script>", 0, 0),
]
GENRES = [(1, "dark ambient"), (1, "drone"), (2, "dark ambient"), (3, "drone"), (4, "punk rock"),
          (5, "punk rock"), (5, "garage punk")]
MARKETS = [(1, "SE,NO,FI"), (2, "US,GB,DE,SE")]
ALBUMS = [  # rowid, id, name, type, markets, label, pop, date, precision, total
    (1, "1aaaaaaaaaaaaaaaaaaaaa", "Frost", "album", 1, "Nordic Frost Records", 40, "1996-03-01", "day", 3),
    (2, "2bbbbbbbbbbbbbbbbbbbbb", "Hollow", "single", 1, "Nordic Frost Records", 10, "1998", "year", 1),
    (3, "3ccccccccccccccccccccc", "Riot", "album", 2, "Loud Noise", 60, "1979-11", "month", 2),
    (4, "4ddddddddddddddddddddd", "Dark Sounds Vol. 1", "compilation", 2, "Nordic Frost Records", 5, "0000",
     "year", 2),
]
TRACKS = [  # rowid, id, name, album, track_number, isrc, pop, markets, disc, duration, explicit
    (1, "1ttttttttttttttttttttt", "Ice I", 1, 1, "SEABC9600001", 45, 1, 1, 200000, 0),
    (2, "2ttttttttttttttttttttt", "Ice II", 1, 2, None, 0, 1, 1, 210000, 0),
    (3, "3ttttttttttttttttttttt", "Ice III (feat. Orvo Drone)", 1, 3, None, 0, 1, 1, 220000, 0),
    (4, "4ttttttttttttttttttttt", "Hollow", 2, 1, None, 12, 1, 1, 180000, 0),
    (5, "5ttttttttttttttttttttt", "Riot Song", 3, 1, "GBXYZ7900001", 65, 2, 1, 150000, 1),
    (6, "6ttttttttttttttttttttt", "Anthem", 3, 2, None, 0, 2, 1, 160000, 1),
    (7, "7ttttttttttttttttttttt", "Drift", 4, 1, None, 0, 2, 1, 300000, 0),
    (8, "8ttttttttttttttttttttt", "Murk", 4, 2, None, 0, 2, 1, 310000, 0),
]
CREDITS = [(1, 1), (2, 1), (3, 1), (3, 3), (4, 2), (5, 4), (6, 4), (6, 5), (7, 2), (8, 6), (8, 1)]
ARTIST_ALBUMS = [  # artist, album, appears_on, implicit, index
    (1, 1, 0, 0, 0), (3, 1, 0, 1, None), (2, 2, 0, 0, 0), (4, 3, 0, 0, 0), (5, 3, 0, 1, None),
    (2, 4, 1, 0, None), (6, 4, 1, 0, None), (1, 4, 1, 0, None),
]
PLAYLISTS = [(1, "1ppppppppppppppppppppp", "Cold Nights", 2500, 4), (2, "2ppppppppppppppppppppp", "Punk!", 1800, 2)]
PLAYLIST_TRACKS = [(1, 0, 1), (1, 1, 3), (1, 2, 7), (1, 3, None), (2, 0, 5), (2, 1, 6)]


def build_tiny_dump(folder: Path, *, variant: SchemaVariant = SchemaVariant.SHIPPED, strict_schema: bool = True,
                    audio: bool = True, playlists: bool = True) -> Path:
    """Write the tiny dump into ``folder``; ``strict_schema=False`` drops NOT NULL so bad rows can be inserted."""
    folder.mkdir(parents=True, exist_ok=True)

    def create(path: Path, file: SourceFile) -> sqlite3.Connection:
        text = ddl(file, variant=variant)
        if not strict_schema:
            text = text.replace("PRIMARY KEY NOT NULL", "PRIMARY KEY").replace(" NOT NULL", "")
        conn = sqlite3.connect(path)
        conn.executescript(text)
        return conn

    c = create(folder / SourceFile.MAIN.value, SourceFile.MAIN)
    c.executemany("INSERT INTO artists VALUES (?,?,1752000000000,?,?,?)", ARTISTS)
    c.executemany("INSERT INTO artist_genres VALUES (?,?)", GENRES)
    c.executemany("INSERT INTO available_markets VALUES (?,?)", MARKETS)
    c.executemany(
        "INSERT INTO albums (rowid,id,fetched_at,name,album_type,available_markets_rowid,label,popularity,release_date,"
        "release_date_precision,total_tracks) VALUES (?,?,1752000000000,?,?,?,?,?,?,?,?)", ALBUMS)
    c.executemany(
        "INSERT INTO tracks (rowid,id,fetched_at,name,album_rowid,track_number,external_id_isrc,popularity,"
        "available_markets_rowid,disc_number,duration_ms,explicit) VALUES (?,?,1752000000000,?,?,?,?,?,?,?,?,?)",
        TRACKS)
    c.executemany("INSERT INTO track_artists VALUES (?,?)", CREDITS)
    c.executemany("INSERT INTO artist_albums VALUES (?,?,?,?,?)", ARTIST_ALBUMS)
    c.commit()
    c.close()
    if audio:
        c = create(folder / SourceFile.AUDIO_FEATURES.value, SourceFile.AUDIO_FEATURES)
        rows = []
        for i, t in enumerate(TRACKS, start=1):
            null = 1 if t[0] == 6 else 0
            feats = (None,) * 13 if null else (t[9], 4, 100.5 + i, i % 12, i % 2, 0.1 * (i % 10), 0.5, -8.0,
                                               0.05, 0.3, 0.7, 0.1, 0.2)
            rows.append((i, t[1], 1752000000000, null) + feats)
        rows.append((99, "9zzzzzzzzzzzzzzzzzzzzz", 1752000000000, 0) + (1000, 4, 120, 1, 1) + (0.5,) * 8)
        c.executemany("INSERT INTO track_audio_features VALUES (" + ",".join("?" * 17) + ")", rows)
        c.commit()
        c.close()
    if playlists:
        c = create(folder / SourceFile.PLAYLISTS.value, SourceFile.PLAYLISTS)
        c.executemany("INSERT INTO playlists (rowid,id,snapshot_id,fetched_at,name,collaborative,public,"
                      "followers_total,tracks_total) VALUES (?,?,'snap',1752000000000,?,0,1,?,?)", PLAYLISTS)
        c.executemany("INSERT INTO playlist_tracks (playlist_rowid,position,is_episode,track_rowid,added_at,is_local) "
                      "VALUES (?,?,0,?,0,0)", PLAYLIST_TRACKS)
        c.commit()
        c.close()
    return folder


def run_sql(path: Path, *statements: str) -> None:
    """Apply statements to a test's own copy of a dump (never to a user's file)."""
    conn = sqlite3.connect(path)
    for s in statements:
        conn.execute(s)
    conn.commit()
    conn.close()


@pytest.fixture
def tiny_dump(tmp_path: Path) -> Path:
    return build_tiny_dump(tmp_path / "dump")


@pytest.fixture
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared datasets not found at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture(scope="session")
def small_demo(tmp_path_factory):
    """A generated 3,000-artist demo dump and its catalog, built once per test session.

    Returns ``(dump_dir, catalog)``; ``dump_dir / "ground_truth.parquet"`` holds each artist's hidden community.
    Tests must not modify either.
    """
    from recsys.sources.annas_archive import ingest
    from recsys.sources.synthetic import generate_dump

    root = tmp_path_factory.mktemp("small_demo")
    generate_dump(root / "dump", n_artists=3000, seed=0, progress=False)
    catalog = ingest(root / "dump", root / "catalog", progress=False)
    return root / "dump", catalog


# --- Spark (tests/spark) -----------------------------------------------------------------------------------------
# Here rather than in tests/spark/conftest.py: a second conftest module would shadow this one for the test
# modules that do `from conftest import build_tiny_dump`.

@pytest.fixture(scope="session")
def spark():
    """A real local Spark session (``local[2]``), started once per test session.

    Skips, saying why, only when no Java 17+ runtime is installed; pyspark itself is installed by ``make test``
    (the spark extra), so its absence is an error, not a skip.
    """
    from recsys.spark.session import MIN_JAVA, java_version

    found = java_version()
    if found is None or found[0] < MIN_JAVA:
        pytest.skip(f"the Spark engine needs Java {MIN_JAVA}+ and this machine has "
                    f"{'none' if found is None else found[1]!r}; install openjdk-17-jre-headless to run these tests")
    from recsys.spark.session import spark_session

    # 2 shuffle partitions: the test catalogs are tiny, more tasks would only add scheduling time
    s = spark_session("local[2]", app_name="recsys-tests", conf={"spark.sql.shuffle.partitions": "2"})
    yield s
    s.stop()


def pytest_configure(config):
    # pyspark 4.x warns that it does not fully support pandas 3 on every pandas UDF; the APIs used here work
    config.addinivalue_line("filterwarnings", "ignore:PySpark does not yet fully support pandas:FutureWarning")
    config.addinivalue_line("filterwarnings", "ignore:The copy keyword is deprecated::pyspark")
