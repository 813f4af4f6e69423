"""Hand-built catalogs for the feature tests: every row is written here, so every right answer is known."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq

from recsys.catalog import Catalog, CatalogWriter


def sid(kind: str, i: int) -> str:
    """A 22-character Spotify-like id, e.g. sid("a", 3) == "a000000000000000000003"."""
    return f"{kind}{i:021d}"


def make_catalog(path: Path, *, artists: Sequence[str] | int, albums: Sequence[dict[str, Any]] = (),
                 tracks: Sequence[tuple[int, Sequence[int]]] = (), artist_albums: Sequence[tuple] = (),
                 genres: Sequence[tuple[int, str]] = (), markets: Sequence[str] = (),
                 audio: Sequence[dict[str, Any]] = (), playlists: Sequence[Sequence[int]] = (),
                 popularity: Sequence[int] | None = None) -> Catalog:
    """Write a catalog where everything is addressed by 0-based index (rowid = index + 1).

    artists : names, or a count (names "Artist 0", ...)
    albums : dicts with optional label, year, type ("album"), markets (0-based index into ``markets``)
    tracks : (album index, [artist indices in credit order])
    artist_albums : (artist, album, is_appears_on, is_implicit_appears_on)
    genres : (artist, genre)
    markets : available_markets CSV strings
    audio : dicts with "track" (index) and any audio feature columns
    playlists : lists of track indices
    """
    names = [f"Artist {i}" for i in range(artists)] if isinstance(artists, int) else list(artists)
    n = len(names)
    with CatalogWriter(path, source={"kind": "test"}) as w:
        w.write("artists", {"rowid": list(range(1, n + 1)), "id": [sid("a", i) for i in range(n)], "name": names,
                            "followers_total": [10] * n,
                            "popularity": list(popularity) if popularity is not None else [0] * n})
        if genres:
            w.write("artist_genres", {"artist_rowid": [a + 1 for a, _ in genres], "genre": [g for _, g in genres]})
        if markets:
            w.write("available_markets", {"rowid": list(range(1, len(markets) + 1)), "available_markets": list(markets)})
        if albums:
            m = len(albums)
            w.write("albums", {
                "rowid": list(range(1, m + 1)), "id": [sid("l", i) for i in range(m)],
                "name": [a.get("name", f"Album {i}") for i, a in enumerate(albums)],
                "album_type": [a.get("type", "album") for a in albums],
                "available_markets_rowid": [a["markets"] + 1 if a.get("markets") is not None else None
                                            for a in albums],
                "label": [a.get("label") for a in albums], "popularity": [0] * m,
                "release_date": [str(a["year"]) if a.get("year") else None for a in albums],
                "release_date_precision": ["year"] * m, "release_year": [a.get("year") for a in albums],
                "total_tracks": [1] * m})
        if tracks:
            k = len(tracks)
            w.write("tracks", {"rowid": list(range(1, k + 1)), "id": [sid("t", i) for i in range(k)],
                               "name": [f"Track {i}" for i in range(k)], "album_rowid": [t[0] + 1 for t in tracks],
                               "track_number": [1] * k, "disc_number": [1] * k, "duration_ms": [200000] * k,
                               "explicit": [False] * k, "popularity": [0] * k})
            ta = [(t + 1, a + 1) for t, (_, arts) in enumerate(tracks) for a in arts]
            w.write("track_artists", {"rowid": list(range(1, len(ta) + 1)), "track_rowid": [t for t, _ in ta],
                                      "artist_rowid": [a for _, a in ta]})
        if artist_albums:
            w.write("artist_albums", {"artist_rowid": [r[0] + 1 for r in artist_albums],
                                      "album_rowid": [r[1] + 1 for r in artist_albums],
                                      "is_appears_on": [bool(r[2]) for r in artist_albums],
                                      "is_implicit_appears_on": [bool(r[3]) for r in artist_albums],
                                      "index_in_album": [0 if not (r[2] or r[3]) else None for r in artist_albums]})
        if audio:
            cols = sorted({k for row in audio for k in row} - {"track"})
            batch = {"track_rowid": [row["track"] + 1 for row in audio]}
            batch.update({c: [row.get(c) for row in audio] for c in cols})
            w.write("audio_features", batch)
        if playlists:
            p = len(playlists)
            w.write("playlists", {"rowid": list(range(1, p + 1)), "id": [sid("p", i) for i in range(p)],
                                  "name": [f"Playlist {i}" for i in range(p)], "followers_total": [1] * p,
                                  "tracks_total": [len(x) for x in playlists], "owner_id": ["me"] * p})
            entries = [(i + 1, pos, t + 1) for i, pl in enumerate(playlists) for pos, t in enumerate(pl)]
            w.write("playlist_tracks", {"playlist_rowid": [e[0] for e in entries], "position": [e[1] for e in entries],
                                        "track_rowid": [e[2] for e in entries]})
    return Catalog.open(path)


def cosine(X, i: int, j: int) -> float:
    """Cosine of rows i and j of a sparse matrix (0 when either row is empty)."""
    a = X[i].toarray().ravel().astype(np.float64)
    b = X[j].toarray().ravel().astype(np.float64)
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    return 0.0 if na == 0 or nb == 0 else float(a @ b / (na * nb))


def column(X, names, name: str) -> np.ndarray:
    """Dense column of the feature called ``name``."""
    return X[:, list(names).index(name)].toarray().ravel()


def artists_only(tmp_path: Path) -> Catalog:
    """Three artists and no other rows: every family must give an all-zero block, not crash."""
    return make_catalog(tmp_path / "empty", artists=3)


def demo_communities(dump: Path, catalog: Catalog) -> np.ndarray:
    """Hidden community of every artist of a generated demo, aligned with its catalog's artist rows."""
    gt = pq.read_table(dump / "ground_truth.parquet", columns=["artist_id", "community"])
    pos = {a: i for i, a in enumerate(gt.column("artist_id").to_pylist())}
    comm = gt.column("community").to_numpy()
    return np.asarray([comm[pos[a]] for a in catalog.artists.ids])
