"""The ``recsys`` command.

Every subcommand turns :class:`~recsys.errors.RecsysError` into a two-line message (what is wrong, what to do)
on stderr and exit status 2; Ctrl-C exits with 130 after the interrupted step has removed its temporary files.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from . import __version__
from .catalog import Catalog
from .errors import RecsysError

EXIT_USAGE, EXIT_INTERRUPTED = 2, 130


# --- output helpers -------------------------------------------------------------------------------------------

def _clip(text: Any, width: int) -> str:
    s = "".join(ch if ch.isprintable() else " " for ch in str(text))
    return s if len(s) <= width else s[: width - 1] + "…"


def print_table(rows: list[dict], columns: list[tuple[str, str, int]], out=None) -> None:
    """Print dict rows as a fixed-width table; columns are (key, header, width)."""
    out = out or sys.stdout
    print("  ".join(_clip(h, w).ljust(w) for _, h, w in columns).rstrip(), file=out)
    print("  ".join("-" * w for _, _, w in columns), file=out)
    for r in rows:
        print("  ".join(_clip("" if r.get(k) is None else r.get(k), w).ljust(w) for k, _, w in columns).rstrip(),
              file=out)


def _say(msg: str, quiet: bool = False) -> None:
    if not quiet:
        print(msg, file=sys.stderr)


# --- neighbours (walking skeleton) --------------------------------------------------------------------------

def artist_neighbours(catalog: Catalog, query: str, k: int = 10) -> dict:
    """Neighbours of one artist by exact cosine over genre TF-IDF + popularity (the walking skeleton).

    Returns a JSON-ready dict: ``seed`` (row, id, name, popularity, followers, genres) and ``neighbours``
    (rank, row, id, name, popularity, followers, genres, score), best first.
    """
    from .features import build_artist_features
    from .models.exact import ExactCosine

    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError(f"k must be a positive integer, got {k!r}")
    if catalog.num_rows("artists") < 2:
        raise RecsysError(f"catalog {str(catalog.path)!r} has {catalog.num_rows('artists')} artist(s); "
                          "neighbours need at least 2", hint="ingest a larger source or a wider slice")
    row = catalog.artists.resolve(query)
    X, _, _ = build_artist_features(catalog)
    model = ExactCosine().fit(X)
    ids, scores = model.similar_items(row, k)
    genres = _genres_by_row(catalog)
    seed = catalog.artists.describe(row) | {"genres": genres.get(row, [])}
    out = []
    for rank, (r, s) in enumerate(zip(ids, scores), start=1):
        if r < 0:
            break
        out.append({"rank": rank, **catalog.artists.describe(int(r)), "genres": genres.get(int(r), []),
                    "score": round(float(s), 4)})
    return {"seed": seed, "neighbours": out}


def _genres_by_row(catalog: Catalog) -> dict[int, list[str]]:
    from .features._rows import artist_rows

    t = catalog.table("artist_genres")
    rows = artist_rows(catalog, t.column("artist_rowid").to_numpy())
    out: dict[int, list[str]] = {}
    for r, g in zip(rows.tolist(), t.column("genre").to_pylist()):
        if r >= 0:
            out.setdefault(r, []).append(g)
    return out


def _print_neighbours(result: dict) -> None:
    s = result["seed"]
    fol = "unknown" if s.get("followers") is None else f"{s['followers']:,}"
    print(f"\nSeed: {_clip(s['name'], 60)}  [{s['id']}]  popularity {s['popularity']}, followers {fol}")
    print(f"      genres: {', '.join(s['genres']) or '(none in the dump)'}")
    if not result["neighbours"]:
        print("  no neighbours: this artist shares no feature with any other artist in the catalog")
        return
    rows = [dict(r, genres=", ".join(r["genres"][:3]) or "-") for r in result["neighbours"]]
    print_table(rows, [("rank", "#", 3), ("name", "artist", 32), ("popularity", "pop", 4),
                       ("followers", "followers", 10), ("score", "score", 6), ("genres", "genres", 44),
                       ("id", "id", 22)])


# --- subcommands ------------------------------------------------------------------------------------------------

def cmd_synth(a: argparse.Namespace) -> int:
    from .schema import SchemaVariant
    from .sources.synthetic import generate_dump

    t0 = time.perf_counter()
    stats = generate_dump(a.out, n_artists=a.artists, seed=a.seed, variant=SchemaVariant(a.variant),
                          force=a.force, progress=not a.quiet)
    _say(f"demo dump written to {a.out} in {time.perf_counter() - t0:.1f}s", a.quiet)
    if a.json:
        print(json.dumps(stats, indent=2, ensure_ascii=False))
    return 0


def _is_csv(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() == ".csv"


def cmd_ingest(a: argparse.Namespace) -> int:
    src = Path(a.source)
    t0 = time.perf_counter()
    if _is_csv(src):
        from .sources import csv_datasets

        header = src.open(encoding="utf-8", errors="replace").readline()
        if "track_artist" in header and "playlist_id" in header:
            cat = csv_datasets.ingest_tidytuesday(src, a.out, artist_genres_csv=a.artist_genres, force=a.force,
                                                  progress=not a.quiet)
        else:
            cat = csv_datasets.ingest_artist_genres_csv(src, a.out, force=a.force, progress=not a.quiet)
    else:
        if a.artist_genres:
            raise RecsysError("--artist-genres applies to the TidyTuesday CSV only",
                              hint="drop --artist-genres when ingesting the SQLite dump")
        from .sources.annas_archive import IngestOptions, ingest

        opts = IngestOptions(min_artist_popularity=a.min_artist_popularity,
                             min_track_popularity=a.min_track_popularity, max_artists=a.max_artists,
                             sample=a.sample, seed=a.seed, lenient=a.lenient,
                             batch_rows=a.batch_rows)
        cat = ingest(src, a.out, options=opts, force=a.force, progress=not a.quiet)
    _say(f"catalog written to {a.out} in {time.perf_counter() - t0:.1f}s", a.quiet)
    _print_info(cat)
    return 0


def _print_info(cat: Catalog) -> None:
    m = cat.manifest
    print(f"catalog {cat.path}  (format {m['format']} v{m['format_version']}, source {m['source'].get('kind')})")
    rows = [{"table": n, "rows": f"{e['rows']:,}", "bytes": f"{e['bytes']:,}"} for n, e in m["tables"].items()]
    print_table(rows, [("table", "table", 18), ("rows", "rows", 14), ("bytes", "bytes", 14)])
    stats = {k: v for k, v in m.get("stats", {}).items() if v not in ({}, None)}
    if stats:
        print("stats: " + json.dumps(stats, ensure_ascii=False))


def cmd_info(a: argparse.Namespace) -> int:
    _print_info(Catalog.open(a.catalog, verify=not a.no_verify))
    return 0


def cmd_neighbours(a: argparse.Namespace) -> int:
    cat = Catalog.open(a.catalog)
    results = [artist_neighbours(cat, q, a.k) for q in a.artist]
    if a.json:
        print(json.dumps(results if len(results) > 1 else results[0], indent=2, ensure_ascii=False))
    else:
        for r in results:
            _print_neighbours(r)
    return 0


def cmd_demo(a: argparse.Namespace) -> int:
    """Generate the demo dump (once), ingest it (once) and show neighbours for a few seeds."""
    from .sources.annas_archive import ingest
    from .sources.synthetic import generate_dump

    root = Path(a.dir)
    dump, catalog = root / "dump", root / "catalog"
    meta = dump / "synth_manifest.json"
    fresh = (meta.is_file() and json.loads(meta.read_text())["n_artists"] == a.artists
             and json.loads(meta.read_text())["seed"] == a.seed)
    if not fresh:
        _say(f"[1/3] generating a demo dump of {a.artists:,} artists in {dump} ...")
        generate_dump(dump, n_artists=a.artists, seed=a.seed, force=True, progress=True)
    else:
        _say(f"[1/3] demo dump found in {dump}")
    if not fresh or not (catalog / "manifest.json").is_file():
        _say(f"[2/3] ingesting it into the catalog {catalog} ...")
        cat = ingest(dump, catalog, force=True, progress=True)
    else:
        _say(f"[2/3] catalog found in {catalog}")
        cat = Catalog.open(catalog)
    _say("[3/3] neighbours by exact cosine over genre TF-IDF + popularity:")
    for q in demo_seeds(cat) if not a.artist else a.artist:
        _print_neighbours(artist_neighbours(cat, q, a.k))
    print("\nTry your own:  .venv/bin/recsys neighbours", catalog, "--artist NAME_OR_ID")
    return 0


def demo_seeds(cat: Catalog) -> list[str]:
    """Three seed artist ids with genres: the most popular, one of mid popularity, and a popularity-0 one."""
    from .features._rows import artist_rows

    t = cat.table("artist_genres")
    has = np.zeros(cat.num_rows("artists"), dtype=bool)
    r = artist_rows(cat, t.column("artist_rowid").to_numpy())
    has[r[r >= 0]] = True
    pop = cat.artists.popularity.astype(int)
    seeds = []
    for lo, hi in ((50, 101), (15, 40), (0, 1)):
        rows = np.flatnonzero(has & (pop >= lo) & (pop < hi))
        if len(rows):
            seeds.append(cat.artists.ids[rows[np.argmax(pop[rows])] if lo == 50 else rows[0]])
    return seeds


# --- parser -----------------------------------------------------------------------------------------------------

def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="recsys",
        description="Music discovery from the Anna's Archive Spotify metadata, weighted towards the long tail.",
        epilog="Start with `recsys demo`. Each subcommand has --help.")
    p.add_argument("--version", action="version", version=f"recsys {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    s = sub.add_parser("synth", help="write a synthetic demo dump in the real files' schema",
                       description="Write spotify_clean*.sqlite3 files with hidden artist communities "
                                   "(ground_truth.parquet) for demos, tests and benchmarks. Deterministic per seed.")
    s.add_argument("--artists", type=int, default=100_000, help="number of artists (default 100000)")
    s.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    s.add_argument("--out", required=True, help="output directory (must not exist unless --force)")
    s.add_argument("--variant", choices=["shipped", "blog"], default="shipped",
                   help="tracks/albums column layout: as described for the shipped file, or the blog DDL")
    s.add_argument("--force", action="store_true", help="replace an existing output directory")
    s.add_argument("--json", action="store_true", help="print the generator's statistics as JSON")
    s.add_argument("--quiet", action="store_true", help="no progress bars")
    s.set_defaults(func=cmd_synth)

    s = sub.add_parser("ingest", help="read the dump (or a CSV dataset) into a catalog",
                       description="SOURCE is a directory holding spotify_clean.sqlite3 (plus, when present, "
                                   "spotify_clean_audio_features.sqlite3 and spotify_clean_playlists.sqlite3), the "
                                   "path of spotify_clean.sqlite3, or a CSV: the TidyTuesday spotify_songs.csv or "
                                   "the artist-level data_w_genres.csv. Sources are opened read-only; the catalog "
                                   "appears only when ingest completes.")
    s.add_argument("source", help="dump directory, spotify_clean.sqlite3, or a supported CSV file")
    s.add_argument("--out", required=True, help="catalog directory to create")
    s.add_argument("--min-artist-popularity", type=int, default=0, metavar="P",
                   help="keep artists with popularity >= P (0..100, default 0)")
    s.add_argument("--min-track-popularity", type=int, default=0, metavar="P",
                   help="keep tracks with popularity >= P (0..100, default 0)")
    s.add_argument("--max-artists", type=int, default=None, metavar="N",
                   help="keep at most N artists, with their credits, tracks and albums")
    s.add_argument("--sample", choices=["top", "random"], default="top",
                   help="with --max-artists: the most popular N (default) or a seeded random sample")
    s.add_argument("--seed", type=int, default=0, help="seed of --sample random (default 0)")
    s.add_argument("--lenient", action="store_true",
                   help="drop rows that break the dump's rules (counted in the manifest) instead of stopping")
    s.add_argument("--batch-rows", type=int, default=100_000, metavar="N",
                   help="rows read per rowid range (default 100000; lower uses less memory)")
    s.add_argument("--artist-genres", metavar="CSV", default=None,
                   help="with the TidyTuesday CSV: data_w_genres.csv to join artist genres by name")
    s.add_argument("--force", action="store_true", help="replace an existing catalog directory")
    s.add_argument("--quiet", action="store_true", help="no progress bars")
    s.set_defaults(func=cmd_ingest)

    s = sub.add_parser("info", help="show a catalog's tables, row counts and ingest statistics",
                       description="Open a catalog (checking its format version and file checksums) and print "
                                   "its manifest summary.")
    s.add_argument("catalog", help="catalog directory")
    s.add_argument("--no-verify", action="store_true", help="skip checksum verification (large catalogs)")
    s.set_defaults(func=cmd_info)

    s = sub.add_parser("neighbours", aliases=["neighbors"], help="similar artists for one or more seeds",
                       description="Similar artists by exact cosine over genre TF-IDF and popularity bins. "
                                   "A seed is a Spotify id, URI (spotify:artist:ID), URL "
                                   "(open.spotify.com/artist/ID) or an exact name; an ambiguous name lists the "
                                   "candidates.")
    s.add_argument("catalog", help="catalog directory")
    s.add_argument("--artist", action="append", required=True, metavar="ID_OR_NAME",
                   help="seed artist (repeat for several)")
    s.add_argument("--k", type=int, default=10, help="neighbours per seed (default 10)")
    s.add_argument("--json", action="store_true", help="print JSON instead of a table")
    s.set_defaults(func=cmd_neighbours)

    s = sub.add_parser("demo", help="the main job on the built-in demo catalog",
                       description="Generate the demo dump (first run only), ingest it into a catalog and show "
                                   "neighbours for a few seeds.")
    s.add_argument("--dir", default="demo", help="working directory for the dump and catalog (default ./demo)")
    s.add_argument("--artists", type=int, default=100_000, help="demo size in artists (default 100000)")
    s.add_argument("--seed", type=int, default=0, help="generator seed (default 0)")
    s.add_argument("--artist", action="append", metavar="ID_OR_NAME", help="seed artist(s) instead of the defaults")
    s.add_argument("--k", type=int, default=10, help="neighbours per seed (default 10)")
    s.set_defaults(func=cmd_demo)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (RecsysError, ValueError, TypeError) as e:
        # Library argument checks (ValueError/TypeError) name the parameter, so the message is the answer;
        # RECSYS_DEBUG=1 shows the traceback when hunting a bug instead.
        if os.environ.get("RECSYS_DEBUG"):
            raise
        print(f"error: {e}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("\ninterrupted: nothing half-written was left behind", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
