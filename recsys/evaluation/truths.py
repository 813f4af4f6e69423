"""Ground truths, each in one form: query items, the items relevant to each, and what features must not see.

Mental model: *a truth says which items belong together and which catalog rows would give that away.*

* :func:`playlist_truth`: playlist co-membership from the catalog's ``playlists`` / ``playlist_tracks`` tables
  (the dump's playlists file, or the TidyTuesday CSV's playlist ids, which its ingest keeps as playlists).
  Features then see no playlist at all (both tables are hidden and the ``playlists`` family is forced off).
* :func:`mpd_truth`: playlists in the Million Playlist Dataset JSON format (one slice file or a directory of
  slices), matched to catalog artists by Spotify URI, else by unique normalised name.
* :func:`collaboration_truth`: a seeded share of co-credit links hidden from ``track_artists``.
* :func:`genre_truth`: the genres of a seeded share of artists hidden from ``artist_genres``.
* :func:`community_truth`: the demo dump's hidden communities (``ground_truth.parquet``).

Everything is at the artist level (rows of the catalog's ``artists`` table).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..catalog import Catalog, normalize_name, parse_spotify_ref
from ..errors import RecsysError, SourceError
from .splits import groups_to_co_members, hold_out_credits, pairs_to_relevant

__all__ = ["Truth", "playlist_truth", "mpd_truth", "collaboration_truth", "genre_truth", "community_truth",
           "playlist_artist_groups"]


@dataclass
class Truth:
    """A ground truth in the "relevant items per query" form.

    Attributes
    ----------
    name : str
        Short identifier ("playlists", "mpd", "collaborations", "genres", "communities").
    candidates : ndarray of int64
        Items that may be queries (each has at least one relevant item), sorted.
    relevant : callable
        ``relevant(rows) -> list of int64 arrays``: the relevant items (artist rows, or genre ids for
        ``name == "genres"``) of each query row.
    drop : dict
        Catalog rows the features must not see (``CatalogView`` drop masks; True = the whole table).
    excluded_families : tuple of str
        Feature families that must have weight 0 under this truth (they would read the answer).
    groups : list of int64 arrays, optional
        The playlists themselves (artist rows each), for the continuation protocol.
    labels : ndarray of object, optional
        Names of the relevant ids when they are not artists (genre names).
    stats : dict
        Sizes and match rates, reported as they are.
    """

    name: str
    candidates: np.ndarray
    relevant: Callable[[np.ndarray], list[np.ndarray]]
    drop: dict = field(default_factory=dict)
    excluded_families: tuple[str, ...] = ()
    groups: list[np.ndarray] | None = None
    labels: np.ndarray | None = None
    stats: dict = field(default_factory=dict)


def _from_lists(lists: Sequence[np.ndarray]) -> tuple[np.ndarray, Callable[[np.ndarray], list[np.ndarray]]]:
    candidates = np.flatnonzero(np.fromiter((len(x) > 0 for x in lists), dtype=bool, count=len(lists)))
    return candidates.astype(np.int64), lambda rows: [lists[int(r)] for r in rows]


def _group_stats(groups: list[np.ndarray], n_items: int) -> dict:
    sizes = np.array([len(g) for g in groups]) if groups else np.zeros(0, dtype=np.int64)
    in_any = np.unique(np.concatenate(groups)) if groups else np.zeros(0, dtype=np.int64)
    return {"groups": len(groups), "median_group_size": float(np.median(sizes)) if len(sizes) else 0.0,
            "items_in_a_group": int(len(in_any)), "share_of_items_in_a_group": round(len(in_any) / max(n_items, 1), 6)}


def playlist_artist_groups(catalog: Catalog, *, min_size: int = 2) -> list[np.ndarray]:
    """Distinct artist rows of each playlist of the catalog (credited artists of its tracks), playlists with at
    least ``min_size`` artists, in playlist row order."""
    from ..features._links import column_rows, credits, incidence

    trk = column_rows(catalog, "playlist_tracks", "track_rowid", "tracks")
    pl = column_rows(catalog, "playlist_tracks", "playlist_rowid", "playlists")
    ok = (trk >= 0) & (pl >= 0)
    c = credits(catalog)
    n_t, n_p, n_a = catalog.num_rows("tracks"), catalog.num_rows("playlists"), catalog.num_rows("artists")
    tp = incidence(trk[ok], pl[ok], (n_t, n_p), binary=True)
    at = incidence(c.artist, c.track, (n_a, n_t), binary=True)
    pa_ = (at @ tp).T.tocsr()  # playlist x artist
    pa_.sort_indices()
    groups = [pa_.indices[pa_.indptr[i]:pa_.indptr[i + 1]].astype(np.int64) for i in range(n_p)]
    return [g for g in groups if len(g) >= min_size]


def playlist_truth(catalog: Catalog, *, min_size: int = 2) -> Truth:
    """Playlist co-membership from the catalog's own playlists: two artists are relevant to each other when a
    playlist holds tracks of both.

    The features must not see the playlists: ``playlists`` and ``playlist_tracks`` are hidden and the
    ``playlists`` family is excluded. (TidyTuesday's ``playlist_genre`` / ``playlist_subgenre`` never reach the
    catalog at all: see :mod:`recsys.sources.csv_datasets`.)
    """
    n = catalog.num_rows("artists")
    groups = playlist_artist_groups(catalog, min_size=min_size)
    if not groups:
        raise RecsysError(f"catalog {str(catalog.path)!r} has no playlist with {min_size}+ artists",
                          hint="use a catalog with playlists (the dump's playlists file or the TidyTuesday CSV), "
                               "or another truth")
    candidates, relevant = _from_lists(groups_to_co_members(groups, n))
    return Truth("playlists", candidates, relevant, drop={"playlists": True, "playlist_tracks": True},
                 excluded_families=("playlists",), groups=groups, stats=_group_stats(groups, n))


def _mpd_files(path: str | os.PathLike) -> list[Path]:
    p = Path(path)
    if p.is_dir():
        files = sorted(p.glob("*.json"))
        if not files:
            raise SourceError(f"directory {str(p)!r} holds no .json slice files",
                              hint="pass an MPD-format slice (mpd.slice.0-999.json) or a directory of them")
        return files
    if not p.is_file():
        raise SourceError(f"MPD playlist file {str(p)!r} does not exist",
                          hint="pass an MPD-format slice (mpd.slice.0-999.json) or a directory of them")
    return [p]


def mpd_truth(catalog: Catalog, path: str | os.PathLike, *, min_size: int = 2) -> Truth:
    """Playlist co-membership from Million Playlist Dataset JSON slices.

    Each slice is ``{"playlists": [{"pid", "name", "tracks": [{"artist_uri", "artist_name", ...}]}]}``. A track's
    artist is matched by ``artist_uri`` (a catalog with Spotify ids), else by normalised ``artist_name`` when
    exactly one catalog artist has it; unmatched entries are counted and dropped. The catalog's own playlists are
    different playlists and may stay in the features.
    """
    idx = catalog.artists
    by_name: dict[str, int] = {}
    dup: set[str] = set()
    for row, name in enumerate(idx.names):
        key = normalize_name(str(name))
        if key in by_name:
            dup.add(key)
        by_name[key] = row
    for key in dup:
        del by_name[key]
    groups: list[np.ndarray] = []
    entries = matched = by_uri = 0
    n_playlists = 0
    for f in _mpd_files(path):
        try:
            data = json.loads(f.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
            raise SourceError(f"cannot read MPD slice {str(f)!r}: {e}",
                              hint="pass an MPD-format JSON file (a 'playlists' list of playlists with 'tracks')") \
                from e
        if not isinstance(data, dict) or not isinstance(data.get("playlists"), list):
            raise SourceError(f"MPD slice {str(f)!r} has no 'playlists' list",
                              hint="the MPD format is {\"playlists\": [{\"pid\", \"name\", \"tracks\": [...]}]}")
        for pl in data["playlists"]:
            n_playlists += 1
            rows = set()
            for t in (pl.get("tracks") or []) if isinstance(pl, dict) else []:
                if not isinstance(t, dict):
                    continue
                entries += 1
                row = None
                ref = parse_spotify_ref(str(t.get("artist_uri", "")))
                if ref is not None:
                    row = idx._row_of_id_maybe(ref[1])
                    by_uri += row is not None
                if row is None:
                    row = by_name.get(normalize_name(str(t.get("artist_name", ""))))
                if row is not None:
                    matched += 1
                    rows.add(row)
            if len(rows) >= min_size:
                groups.append(np.array(sorted(rows), dtype=np.int64))
    n = catalog.num_rows("artists")
    if not groups:
        raise RecsysError(f"no MPD playlist in {str(path)!r} has {min_size}+ artists of catalog "
                          f"{str(catalog.path)!r} ({matched} of {entries} entries matched)",
                          hint="the playlists and the catalog must share artists (Spotify URIs or names)")
    candidates, relevant = _from_lists(groups_to_co_members(groups, n))
    stats = {**_group_stats(groups, n), "playlists_read": n_playlists, "entries": entries,
             "entries_matched": matched, "entries_matched_by_uri": by_uri,
             "entry_match_rate": round(matched / max(entries, 1), 6)}
    return Truth("mpd", candidates, relevant, groups=groups, stats=stats)


def collaboration_truth(catalog: Catalog, *, share: float = 0.2, seed: int = 0) -> Truth:
    """Held-out collaborations: a seeded ``share`` of the co-credit links is hidden from ``track_artists``
    (see :func:`recsys.evaluation.splits.hold_out_credits`); a query artist's relevant items are its hidden
    partners."""
    drop, held, drawn = hold_out_credits(catalog, share, seed)
    n = catalog.num_rows("artists")
    queries, partners = pairs_to_relevant(held, n)
    lists = [np.zeros(0, dtype=np.int64)] * n
    for q, p in zip(queries.tolist(), partners):
        lists[q] = p
    candidates, relevant = _from_lists(lists)
    stats = {"links_drawn": int(len(drawn)), "links_hidden": int(len(held)),
             "credits_hidden": int(drop.sum()), "query_artists": int(len(candidates))}
    return Truth("collaborations", candidates, relevant, drop={"track_artists": drop}, stats=stats)


def genre_truth(catalog: Catalog, *, share: float = 0.2, seed: int = 0) -> Truth:
    """Held-out genres: all genres of a seeded ``share`` of the artists with genres are hidden from
    ``artist_genres``; the relevant items of such an artist are its hidden genres (ids into ``labels``)."""
    from ..features._links import column_rows

    if not 0.0 < float(share) < 1.0:
        raise ValueError(f"share must be in (0, 1), got {share!r}")
    art = column_rows(catalog, "artist_genres", "artist_rowid", "artists")
    genre = catalog.column("artist_genres", "genre")
    ok = art >= 0
    labels, gid = np.unique(genre[ok].astype(str), return_inverse=True)
    with_genres = np.unique(art[ok])
    rng = np.random.default_rng(seed)
    hidden = np.sort(rng.choice(with_genres, size=int(round(share * len(with_genres))), replace=False))
    drop = ok & np.isin(art, hidden)
    n = catalog.num_rows("artists")
    lists = [np.zeros(0, dtype=np.int64)] * n
    a_ok, g_ok = art[ok], gid.astype(np.int64)
    sel = np.isin(a_ok, hidden)
    order = np.lexsort((g_ok[sel], a_ok[sel]))
    a_s, g_s = a_ok[sel][order], g_ok[sel][order]
    rows, starts = np.unique(a_s, return_index=True)
    for r, g in zip(rows.tolist(), np.split(g_s, starts[1:]) if len(rows) else []):
        lists[r] = np.unique(g)
    candidates, relevant = _from_lists(lists)
    stats = {"artists_with_genres": int(len(with_genres)), "artists_hidden": int(len(hidden)),
             "genre_rows_hidden": int(drop.sum()), "genres": int(len(labels))}
    return Truth("genres", candidates, relevant, drop={"artist_genres": drop}, labels=labels, stats=stats)


def community_truth(catalog: Catalog, path: str | os.PathLike, *, linked_only: bool = True) -> Truth:
    """The demo dump's hidden communities: artists of the same community are relevant to each other.

    Queries are artists with at least one credit or album link (``linked_only``; an unlinked artist has only
    its genres and popularity to go on) and a community of 2+ artists.
    """
    from .communities import _communities, linked_artists

    if not Path(path).is_file():
        raise SourceError(f"ground truth file {str(path)!r} does not exist",
                          hint="pass the ground_truth.parquet that `recsys synth` wrote next to the dump")
    community = _communities(catalog, path)
    known = community >= 0
    sizes = np.bincount(community[known]) if known.any() else np.zeros(0, dtype=np.int64)
    eligible = known & (np.where(known, sizes[np.clip(community, 0, None)], 0) >= 2)
    if linked_only:
        eligible &= linked_artists(catalog)
    order = np.argsort(community, kind="stable")
    starts = np.searchsorted(community[order], np.arange(len(sizes)))

    def relevant(rows: np.ndarray) -> list[np.ndarray]:
        out = []
        for r in np.asarray(rows, dtype=np.int64):
            c = community[r]
            members = order[starts[c]:starts[c] + sizes[c]]
            out.append(np.sort(members[members != r]).astype(np.int64))
        return out

    stats = {"communities": int(len(sizes)), "artists_with_community": int(known.sum()),
             "median_community_size": float(np.median(sizes)) if len(sizes) else 0.0,
             "query_artists": int(eligible.sum())}

    return Truth("communities", np.flatnonzero(eligible).astype(np.int64), relevant, stats=stats)


def chance_of(truth: Truth, rows: np.ndarray, n_items: int) -> float:
    """Expected precision of a uniformly random list: mean share of the catalog relevant to a query."""
    rel = truth.relevant(rows)
    return float(np.mean([len(r) / max(n_items - 1, 1) for r in rel])) if len(rel) else float("nan")
