"""The Anna's Archive Spotify dump's schema (2025-07 release), as published in its DDL.

One place that knows the source files: their names, the tables and columns they hold, which columns are
required by `recsys`, and the DDL used by the demo generator. See ``aa-schema.md`` in the shared docs for
sources and the known variants (absent ``external_id_ean``/``external_id_upc`` on ``tracks``, the
``external_id_amgid`` column last on ``albums``, tempo stored as REAL or TEXT).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

__all__ = [
    "SourceFile",
    "TableSpec",
    "SOURCE_TABLES",
    "ddl",
    "index_ddl",
    "SchemaVariant",
    "AUDIO_FEATURE_COLUMNS",
]


class SourceFile(str, Enum):
    """The three SQLite files of the metadata torrent that `recsys` reads."""

    MAIN = "spotify_clean.sqlite3"
    AUDIO_FEATURES = "spotify_clean_audio_features.sqlite3"
    PLAYLISTS = "spotify_clean_playlists.sqlite3"


class SchemaVariant(str, Enum):
    """Which ``tracks``/``albums`` layout to write.

    ``SHIPPED``: what three independent readers of the real file describe (no ``external_id_ean`` /
    ``external_id_upc`` on tracks; ``external_id_amgid`` is the last column of albums).
    ``BLOG``: the DDL exactly as printed in the release blog post.
    """

    SHIPPED = "shipped"
    BLOG = "blog"


@dataclass(frozen=True)
class TableSpec:
    """What `recsys` needs from one source table.

    ``required`` columns must exist (ingest names what is missing); ``optional`` columns are read when
    present. ``not_null`` lists the columns the DDL declares NOT NULL that ingest relies on.
    """

    file: SourceFile
    name: str
    required: tuple[str, ...]
    optional: tuple[str, ...] = ()
    not_null: tuple[str, ...] = ()
    required_table: bool = False


SOURCE_TABLES: dict[str, TableSpec] = {
    spec.name: spec
    for spec in (
        TableSpec(
            SourceFile.MAIN, "artists",
            required=("rowid", "id", "name", "followers_total", "popularity"),
            not_null=("id", "name", "followers_total", "popularity"),
            required_table=True,
        ),
        TableSpec(
            SourceFile.MAIN, "artist_genres",
            required=("artist_rowid", "genre"), not_null=("artist_rowid", "genre"),
        ),
        TableSpec(
            SourceFile.MAIN, "available_markets",
            required=("rowid", "available_markets"), not_null=("available_markets",),
        ),
        TableSpec(
            SourceFile.MAIN, "albums",
            required=("rowid", "id", "name", "album_type", "available_markets_rowid", "label", "popularity",
                      "release_date", "release_date_precision", "total_tracks"),
            optional=("external_id_upc",),
            not_null=("id", "name", "album_type", "available_markets_rowid", "label", "popularity",
                      "release_date", "release_date_precision", "total_tracks"),
        ),
        TableSpec(
            SourceFile.MAIN, "tracks",
            required=("rowid", "id", "name", "album_rowid", "track_number", "popularity",
                      "available_markets_rowid", "disc_number", "duration_ms", "explicit"),
            optional=("external_id_isrc",),
            not_null=("id", "name", "album_rowid", "track_number", "popularity", "available_markets_rowid",
                      "disc_number", "duration_ms", "explicit"),
        ),
        TableSpec(
            SourceFile.MAIN, "track_artists",
            # no declared rowid: the implicit one is the credit order (readers always have it)
            required=("track_rowid", "artist_rowid"), not_null=("track_rowid", "artist_rowid"),
        ),
        TableSpec(
            SourceFile.MAIN, "artist_albums",
            required=("artist_rowid", "album_rowid", "is_appears_on", "is_implicit_appears_on"),
            optional=("index_in_album",),
            not_null=("artist_rowid", "album_rowid", "is_appears_on", "is_implicit_appears_on"),
        ),
        TableSpec(
            SourceFile.AUDIO_FEATURES, "track_audio_features",
            required=("rowid", "track_id", "null_response"),
            optional=("duration_ms", "time_signature", "tempo", "key", "mode", "danceability", "energy",
                      "loudness", "speechiness", "acousticness", "instrumentalness", "liveness", "valence"),
            not_null=("track_id", "null_response"),
        ),
        TableSpec(
            SourceFile.PLAYLISTS, "playlists",
            required=("rowid", "id", "name", "tracks_total"),
            optional=("followers_total", "owner_id"),
            not_null=("id", "name", "tracks_total"),
        ),
        TableSpec(
            SourceFile.PLAYLISTS, "playlist_tracks",
            required=("playlist_rowid", "position", "is_episode", "track_rowid"),
            not_null=("playlist_rowid", "position", "is_episode"),
        ),
    )
}

AUDIO_FEATURE_COLUMNS: tuple[str, ...] = (
    "danceability", "energy", "loudness", "speechiness", "acousticness", "instrumentalness", "liveness",
    "valence", "tempo", "key", "mode", "time_signature", "duration_ms",
)

# --- DDL ---------------------------------------------------------------------------------------------------
# Written from the release's published DDL (comments dropped). Column order matters: readers that go by
# position (Parquet converters) see the file this way.

_ARTISTS = """
CREATE TABLE `artists` (
  `rowid` integer PRIMARY KEY NOT NULL,
  `id` text NOT NULL,
  `fetched_at` integer NOT NULL,
  `name` text NOT NULL,
  `followers_total` integer NOT NULL,
  `popularity` integer NOT NULL
);
CREATE TABLE `artist_genres` (
  `artist_rowid` integer NOT NULL,
  `genre` text NOT NULL,
  FOREIGN KEY (`artist_rowid`) REFERENCES `artists`(`rowid`)
);
CREATE TABLE `artist_images` (
  `artist_rowid` integer NOT NULL,
  `width` integer NOT NULL,
  `height` integer NOT NULL,
  `url` text NOT NULL,
  FOREIGN KEY (`artist_rowid`) REFERENCES `artists`(`rowid`)
);
CREATE TABLE "artist_albums" (
  `artist_rowid` integer NOT NULL,
  `album_rowid` integer NOT NULL,
  `is_appears_on` integer NOT NULL,
  `is_implicit_appears_on` integer NOT NULL,
  `index_in_album` integer,
  FOREIGN KEY (`artist_rowid`) REFERENCES `artists`(`rowid`),
  FOREIGN KEY (`album_rowid`) REFERENCES `albums`(`rowid`)
);
CREATE TABLE `available_markets` (
  `rowid` integer PRIMARY KEY NOT NULL,
  `available_markets` text NOT NULL
);
"""

_ALBUMS_BLOG = """
CREATE TABLE `albums` (
  `rowid` integer PRIMARY KEY NOT NULL,
  `id` text NOT NULL,
  `fetched_at` integer NOT NULL,
  `name` text NOT NULL,
  `album_type` text NOT NULL,
  `available_markets_rowid` integer NOT NULL,
  `external_id_upc` text,
  "external_id_amgid" text,
  `copyright_c` text,
  `copyright_p` text,
  `label` text NOT NULL,
  `popularity` integer NOT NULL,
  `release_date` text NOT NULL,
  `release_date_precision` text NOT NULL,
  `total_tracks` integer NOT NULL,
  FOREIGN KEY (`available_markets_rowid`) REFERENCES `available_markets`(`rowid`)
);
"""

# As described by readers of the shipped file: external_id_amgid was appended last (ALTER TABLE).
_ALBUMS_SHIPPED = """
CREATE TABLE `albums` (
  `rowid` integer PRIMARY KEY NOT NULL,
  `id` text NOT NULL,
  `fetched_at` integer NOT NULL,
  `name` text NOT NULL,
  `album_type` text NOT NULL,
  `available_markets_rowid` integer NOT NULL,
  `external_id_upc` text,
  `copyright_c` text,
  `copyright_p` text,
  `label` text NOT NULL,
  `popularity` integer NOT NULL,
  `release_date` text NOT NULL,
  `release_date_precision` text NOT NULL,
  `total_tracks` integer NOT NULL,
  "external_id_amgid" text,
  FOREIGN KEY (`available_markets_rowid`) REFERENCES `available_markets`(`rowid`)
);
"""

_ALBUM_IMAGES = """
CREATE TABLE "album_images" (
  `album_rowid` integer NOT NULL,
  `width` integer NOT NULL,
  `height` integer NOT NULL,
  `url` text NOT NULL,
  FOREIGN KEY (`album_rowid`) REFERENCES `albums`(`rowid`)
);
"""

_TRACKS_TEMPLATE = """
CREATE TABLE `tracks` (
  `rowid` integer PRIMARY KEY NOT NULL,
  `id` text NOT NULL,
  `fetched_at` integer NOT NULL,
  `name` text NOT NULL,
  `preview_url` text,
  `album_rowid` integer NOT NULL,
  `track_number` integer NOT NULL,
  `external_id_isrc` text,{ean_upc}
  `popularity` integer NOT NULL,
  `available_markets_rowid` integer NOT NULL,
  `disc_number` integer NOT NULL,
  `duration_ms` integer NOT NULL,
  `explicit` integer NOT NULL,
  FOREIGN KEY (`available_markets_rowid`) REFERENCES `available_markets`(`rowid`)
);
CREATE TABLE `track_artists` (
  `track_rowid` integer NOT NULL,
  `artist_rowid` integer NOT NULL,
  FOREIGN KEY (`track_rowid`) REFERENCES `tracks`(`rowid`),
  FOREIGN KEY (`artist_rowid`) REFERENCES `artists`(`rowid`)
);
"""

MAIN_INDEXES = """
CREATE INDEX `artist_genres_artist_id` ON `artist_genres` (`artist_rowid`);
CREATE INDEX `artist_genres_genre` ON `artist_genres` (`genre`);
CREATE INDEX `artist_images_artist_id` ON `artist_images` (`artist_rowid`);
CREATE UNIQUE INDEX `artists_id_unique` ON `artists` (`id`);
CREATE INDEX `artists_name` ON `artists` (`name`);
CREATE INDEX `artists_popularity` ON `artists` (`popularity`);
CREATE INDEX `artists_followers` ON `artists` (`followers_total`);
CREATE INDEX `artist_album_artist_id` ON "artist_albums" (`artist_rowid`);
CREATE INDEX `artist_album_album_id` ON "artist_albums" (`album_rowid`);
CREATE UNIQUE INDEX `albums_id_unique` ON `albums` (`id`);
CREATE INDEX `album_name` ON `albums` (`name`);
CREATE INDEX `album_popularity` ON `albums` (`popularity`);
CREATE UNIQUE INDEX `available_markets_available_markets_unique` ON `available_markets` (`available_markets`);
CREATE INDEX `track_artists_artist_id` ON `track_artists` (`artist_rowid`);
CREATE INDEX `track_artists_track_id` ON `track_artists` (`track_rowid`);
CREATE UNIQUE INDEX `tracks_id_unique` ON `tracks` (`id`);
CREATE INDEX `tracks_popularity` ON `tracks` (`popularity`);
CREATE INDEX `tracks_album` ON `tracks` (`album_rowid`);
CREATE INDEX `album_images_album_id` ON `album_images` (`album_rowid`);
CREATE INDEX tracks_isrc on tracks(external_id_isrc);
"""

AUDIO_FEATURES_TABLES = """
CREATE TABLE `track_audio_features` (
  `rowid` integer PRIMARY KEY NOT NULL,
  `track_id` text NOT NULL,
  `fetched_at` integer NOT NULL,
  `null_response` integer NOT NULL,
  `duration_ms` integer,
  `time_signature` integer,
  `tempo` integer,
  `key` integer,
  `mode` integer,
  `danceability` real,
  `energy` real,
  `loudness` real,
  `speechiness` real,
  `acousticness` real,
  `instrumentalness` real,
  `liveness` real,
  `valence` real
);
"""

AUDIO_FEATURES_INDEXES = """
CREATE UNIQUE INDEX `track_audio_features_track_id_unique` ON `track_audio_features` (`track_id`);
"""

PLAYLISTS_TABLES = """
CREATE TABLE "playlists" (
  `rowid` integer PRIMARY KEY NOT NULL,
  `id` text NOT NULL,
  `snapshot_id` text NOT NULL,
  `fetched_at` integer NOT NULL,
  `name` text NOT NULL,
  `description` text,
  `collaborative` integer NOT NULL,
  `public` integer NOT NULL,
  `primary_color` text,
  `owner_id` text,
  `owner_display_name` text,
  `followers_total` integer,
  `tracks_total` integer NOT NULL
);
CREATE TABLE `playlist_images` (
  `playlist_rowid` integer NOT NULL,
  `width` integer,
  `height` integer,
  `url` text NOT NULL,
  FOREIGN KEY (`playlist_rowid`) REFERENCES `playlists`(`rowid`)
);
CREATE TABLE "playlist_tracks" (
  `playlist_rowid` integer NOT NULL,
  `position` integer NOT NULL,
  `is_episode` integer NOT NULL,
  `track_rowid` integer,
  `id_if_not_in_tracks_table` text,
  `added_at` integer NOT NULL,
  `added_by_id` text,
  `primary_color` text,
  `video_thumbnail_url` text,
  `is_local` integer NOT NULL,
  `name_if_is_local` text,
  `uri_if_is_local` text,
  `album_name_if_is_local` text,
  `artists_name_if_is_local` text,
  `duration_ms_if_is_local` integer,
  PRIMARY KEY(`playlist_rowid`, `position`),
  FOREIGN KEY (`playlist_rowid`) REFERENCES `playlists`(`rowid`)
) WITHOUT ROWID;
"""

PLAYLISTS_INDEXES = """
CREATE UNIQUE INDEX `playlists_id_unique` ON `playlists` (`id`);
CREATE INDEX `playlists_name` ON `playlists` (`name`);
CREATE INDEX `playlists_owner_id` ON `playlists` (`owner_id`);
CREATE INDEX `playlists_snapshot_id` ON `playlists` (`snapshot_id`);
CREATE INDEX `playlists_followers` ON `playlists` (`followers_total`);
CREATE INDEX `playlist_images_playlist_id` ON `playlist_images` (`playlist_rowid`);
"""


def ddl(file: SourceFile, *, variant: SchemaVariant = SchemaVariant.SHIPPED, indexes: bool = True) -> str:
    """Return the CREATE statements for one source file.

    Parameters
    ----------
    file : SourceFile
        Which of the three SQLite files.
    variant : SchemaVariant
        Layout of ``tracks``/``albums`` in the main file (ignored for the others).
    indexes : bool
        Include the CREATE INDEX statements. Writers create indexes after bulk inserts, so they call this
        twice: once without and once for :func:`index_ddl`.
    """
    if file is SourceFile.MAIN:
        albums = _ALBUMS_BLOG if variant is SchemaVariant.BLOG else _ALBUMS_SHIPPED
        ean_upc = "\n  `external_id_ean` text,\n  `external_id_upc` text," if variant is SchemaVariant.BLOG else ""
        text = _ARTISTS + albums + _ALBUM_IMAGES + _TRACKS_TEMPLATE.format(ean_upc=ean_upc)
        return text + (MAIN_INDEXES if indexes else "")
    if file is SourceFile.AUDIO_FEATURES:
        return AUDIO_FEATURES_TABLES + (AUDIO_FEATURES_INDEXES if indexes else "")
    if file is SourceFile.PLAYLISTS:
        return PLAYLISTS_TABLES + (PLAYLISTS_INDEXES if indexes else "")
    raise ValueError(f"file must be a SourceFile, got {file!r}")


def index_ddl(file: SourceFile) -> str:
    """Return only the CREATE INDEX statements of one source file."""
    indexes = {
        SourceFile.MAIN: MAIN_INDEXES,
        SourceFile.AUDIO_FEATURES: AUDIO_FEATURES_INDEXES,
        SourceFile.PLAYLISTS: PLAYLISTS_INDEXES,
    }
    if file not in indexes:
        raise ValueError(f"file must be a SourceFile, got {file!r}")
    return indexes[file]
