"""The ``recsys`` command.

Every subcommand turns :class:`~recsys.errors.RecsysError` into a two-line message (what is wrong, what to do)
on stderr and exit status 2; Ctrl-C exits with 130 after the interrupted step has removed its temporary files.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import textwrap
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from . import __version__
from .catalog import Catalog
from .errors import RecsysError
from .evaluation import cli as evaluation_cli
from .spark import cli as spark_cli

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


# --- neighbours ---------------------------------------------------------------------------------------------

def parse_params(pairs: Sequence[str] | None, what: str) -> dict[str, Any]:
    """``["k=10", "weighting=bm25"]`` -> ``{"k": 10, "weighting": "bm25"}`` (values parsed as JSON when they can be)."""
    out: dict[str, Any] = {}
    for pair in pairs or []:
        if "=" not in pair:
            raise ValueError(f"{what} must look like NAME=VALUE, got {pair!r}")
        k, v = pair.split("=", 1)
        try:
            out[k.strip()] = json.loads(v)
        except json.JSONDecodeError:
            out[k.strip()] = v
    return out


def open_recommender(source: str, *, kind: str = "artist", catalog: str | None = None, quiet: bool = False):
    """A saved model directory, or a catalog directory (an exact-cosine recommender is built on the fly)."""
    from .recommend import Recommender

    p = Path(source)
    if not p.exists():
        raise RecsysError(f"{source!r} does not exist",
                          hint="pass a model directory from `recsys build` or a catalog from `recsys ingest`")
    if (p / "recommender.json").is_file():
        rec = Recommender.load(p, catalog)
        if rec.kind != kind:
            raise RecsysError(f"model {source!r} holds {rec.kind} neighbours, but {kind}s were asked for",
                              hint=f"use --{rec.kind}, or build a {kind} model with `recsys build --kind {kind}`")
        return rec
    if (p / "manifest.json").is_file():
        _say(f"building {kind} features and an exact-cosine model for {source} (save one with `recsys build`)...",
             quiet)
        return Recommender.build(Catalog.open(p), kind=kind)
    raise RecsysError(f"{source!r} is neither a model directory (recommender.json) nor a catalog (manifest.json)",
                      hint="pass a directory written by `recsys build` or `recsys ingest`")


def _print_result(rec, seeds: list[str], frame) -> None:
    for s in seeds:
        card = rec.describe(s)
        fol = card.get("followers")
        extra = "" if "followers" not in card else f", followers {'unknown' if fol is None else f'{fol:,}'}"
        print(f"\nSeed: {_clip(card['name'], 60)}  [{card['id']}]  popularity {card['popularity']}{extra}")
    if frame.empty:
        print("  no neighbours: nothing in the catalog shares a feature with the seed under these filters")
        return
    cols = [("rank", "#", 3), ("name", rec.kind, 32), ("popularity", "pop", 4)]
    if "followers" in frame:
        cols.append(("followers", "followers", 10))
    cols += [("score", "score", 6), ("id", "id", 22)]
    width = sum(w for _, _, w in cols) + 2 * (len(cols) - 1)
    print("  ".join(_clip(h, w).ljust(w) for _, h, w in cols).rstrip())
    print("-" * width)
    for r in frame.to_dict("records"):
        print("  ".join(_clip("" if r.get(k) is None else r.get(k), w).ljust(w) for k, _, w in cols).rstrip())
        if r.get("explanation"):
            text = "".join(ch if ch.isprintable() else " " for ch in str(r["explanation"]))
            print(textwrap.fill(text, width=max(width, 60), initial_indent="     why: ",
                                subsequent_indent="          "))


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


def _check_list_options(a: argparse.Namespace) -> None:
    """Cheap checks before the (possibly long) model build, with the same messages as the library's."""
    if a.k < 1:
        raise ValueError(f"n must be a positive integer, got {a.k}")
    for name in ("dial", "diversity"):
        v = getattr(a, name, 0.0)
        if not 0.0 <= v <= 1.0:
            raise ValueError(f"{name} must be between 0 and 1, got {v}")
    lo, hi = getattr(a, "min_popularity", None), getattr(a, "max_popularity", None)
    if lo is not None and hi is not None and lo > hi:
        raise ValueError(f"min_popularity ({lo}) must not exceed max_popularity ({hi})")


def cmd_neighbours(a: argparse.Namespace) -> int:
    _check_list_options(a)
    if a.artist and a.track:
        raise ValueError("pass --artist or --track seeds, not both (a list is of one kind)")
    kind = "track" if a.track else "artist"
    seeds = a.artist or a.track or []
    if a.all and seeds:
        raise ValueError("--all computes neighbours for every item; drop the --artist/--track seeds, or drop --all")
    if not a.all and not seeds:
        raise ValueError("name at least one seed with --artist or --track, or pass --all")
    if a.all and not a.out:
        raise ValueError("--all writes a table: pass --out FILE.parquet or FILE.csv")
    if a.out and not str(a.out).lower().endswith((".parquet", ".csv")):
        raise ValueError(f"--out must end in .parquet or .csv, got {a.out!r}")
    rec = open_recommender(a.source, kind=kind, catalog=a.catalog, quiet=a.json)
    if a.all:
        return _write_all(rec, a)
    weights = a.seed_weight if a.seed_weight else None
    frame = rec.neighbours(seeds, a.k, seed_weights=weights, dial=a.dial, min_popularity=a.min_popularity,
                           max_popularity=a.max_popularity, diversity=a.diversity, exclude=a.exclude or [],
                           gems=a.gems)
    if a.out:
        _write_frame(frame.assign(query=" + ".join(seeds)), a.out, a.force)
        _say(f"{len(frame)} rows written to {a.out}")
    elif a.json:
        out = {"seeds": [rec.describe(s) for s in seeds], "neighbours": frame.to_dict("records")}
        print(json.dumps(out, indent=2, ensure_ascii=False, default=_json_default))
    else:
        _print_result(rec, seeds, frame)
    return 0


def _json_default(o):
    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return None if np.isnan(o) else float(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def _write_frame(frame, out: str, force: bool) -> None:
    from .atomic import atomic_file

    with atomic_file(out, force=force, what="output") as tmp:
        if out.lower().endswith(".csv"):
            frame.to_csv(tmp, index=False)
        else:
            frame.to_parquet(tmp, index=False)


def _write_all(rec, a: argparse.Namespace) -> int:
    """Every item's neighbours into one Parquet/CSV table, streamed batch by batch, renamed into place at the end."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from .atomic import atomic_file

    total = 0
    with atomic_file(a.out, force=a.force, what="output") as tmp:
        writer = None
        first = True
        try:
            for frame in rec.neighbour_table(a.k, dial=a.dial, explain=not a.no_explain, progress=not a.json):
                frame = frame.drop(columns=["query_row", "row"])
                total += len(frame)
                if str(a.out).lower().endswith(".csv"):
                    frame.to_csv(tmp, mode="w" if first else "a", header=first, index=False)
                else:
                    t = pa.Table.from_pandas(frame, preserve_index=False)
                    writer = writer or pq.ParquetWriter(tmp, t.schema, compression="zstd")
                    writer.write_table(t)
                first = False
        finally:
            if writer is not None:
                writer.close()
    _say(f"{total:,} neighbour rows for {rec.model.n_items_:,} {rec.kind}s written to {a.out}")
    return 0


def cmd_build(a: argparse.Namespace) -> int:
    from .recommend import Recommender

    params = parse_params(a.param, "--param")
    weights = {k: float(v) for k, v in parse_params(a.weight, "--weight").items()}
    cat = Catalog.open(a.catalog)
    t0 = time.perf_counter()
    rec = Recommender.build(cat, model=a.model, params=params, kind=a.kind, weights=weights or None,
                            progress=not a.quiet)
    rec.save(a.out, force=a.force)
    _say(f"{a.kind} model {a.model!r} built in {time.perf_counter() - t0:.1f}s "
         f"({rec.space.X.shape[0]:,} items x {rec.space.X.shape[1]:,} features) and saved to {a.out}", a.quiet)
    return 0


def cmd_infer_genres(a: argparse.Namespace) -> int:
    from .features.genre_inference import evaluate_genre_inference

    cat = Catalog.open(a.catalog)
    r = evaluate_genre_inference(cat, holdout=a.holdout, seed=a.seed)
    if a.json:
        print(json.dumps(r, indent=2, default=_json_default))
        return 0
    print(f"Genre inference: genres of {r['n_evaluated']:,} artists ({a.holdout:.0%} of those with genres) hidden, "
          f"then inferred over collaboration, label, compilation and playlist links (seed {a.seed}):")
    rows = [{"measure": k, "value": f"{v:.4f}" if isinstance(v, float) else f"{v:,}"} for k, v in r.items()]
    print_table(rows, [("measure", "measure", 26), ("value", "value", 10)])
    return 0


def cmd_tail_report(a: argparse.Namespace) -> int:
    from .evaluation.communities import tail_report

    rec = open_recommender(a.source, catalog=a.catalog, quiet=a.json)
    report = tail_report(rec, truth=a.truth, sample=a.sample, seed=a.seed, k=a.k, progress=not a.json)
    if a.json:
        print(json.dumps(report, indent=2, ensure_ascii=False, default=_json_default))
    else:
        print_tail_report(report)
    return 0


def print_tail_report(r: dict) -> None:
    c = r["coverage"]
    print(f"\nTail coverage (share of artists that get {r['k']} neighbours):")
    rows = [{"group": g, "artists": f"{v['artists']:,}", "with_k": f"{v['with_k']:,}", "share": f"{v['share']:.4f}"}
            for g, v in c.items()]
    print_table(rows, [("group", "group", 34), ("artists", "artists", 10), ("with_k", f"with {r['k']}", 10),
                       ("share", "share", 8)])
    if "communities" in r:
        m = r["communities"]
        print(f"\nHidden-community hit rate@{r['k']} over {m['queries']:,} query artists "
              f"(chance {m['chance']:.4f}):")
        rows = [{"model": k, "hit_rate": f"{v['hit_rate']:.4f}", "ci": f"[{v['ci'][0]:.4f}, {v['ci'][1]:.4f}]"}
                for k, v in m["models"].items()]
        print_table(rows, [("model", "model", 34), ("hit_rate", "hit rate", 9), ("ci", "95% CI", 20)])
    if "dial" in r:
        print(f"\nThe long-tail dial (short head = top {r['head_share']:.0%} of artists by popularity):")
        rows = [{"dial": f"{d['dial']:.2f}", "hit": f"{d['hit_rate']:.4f}", "outside": f"{d['aplt']:.4f}",
                 "arp": f"{d['arp']:.2f}", "coverage": f"{d['coverage']:.4f}"} for d in r["dial"]]
        print_table(rows, [("dial", "dial", 5), ("hit", "hit rate", 9), ("outside", "outside head", 13),
                           ("arp", "ARP", 7), ("coverage", "coverage", 9)])


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
    from .recommend import Recommender

    model_dir = root / "model"
    rec = None
    if fresh and (model_dir / "recommender.json").is_file():
        try:
            rec = Recommender.load(model_dir, cat)
            _say(f"[3/3] model found in {model_dir}")
        except RecsysError as e:  # built from an older catalog or damaged: rebuild it below
            _say(f"[3/3] the model in {model_dir} cannot be used ({e.message}); rebuilding it")
    if rec is None:
        _say("[3/3] building artist features (all metadata families) and an exact-cosine model ...")
        rec = Recommender.build(cat, kind="artist", progress=True)
        rec.save(model_dir, force=True)
        _say(f"      saved to {model_dir} (the app opens it: `streamlit run app.py -- --model {model_dir}`)")
    for q in demo_seeds(cat) if not a.artist else a.artist:
        _print_result(rec, [q], rec.neighbours(q, a.k))
        deep = rec.neighbours(q, a.k, dial=1.0)
        print(f"  ... at the deep-cuts end of the dial (dial=1): "
              f"{', '.join(_clip(n, 24) + f' ({p})' for n, p in zip(deep.name[:5], deep.popularity[:5]))}")
    print("\nTry your own:  .venv/bin/recsys neighbours", catalog, "--artist NAME_OR_ID [--dial 0.8]")
    return 0


def demo_seeds(cat: Catalog) -> list[str]:
    """Three seed artist ids with genres: the most popular, one of mid popularity, and a popularity-0 one."""
    from .features._links import artists_with_genres

    has = artists_with_genres(cat)
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

    s = sub.add_parser("build", help="build features and fit a similarity model; save it as a model directory",
                       description="Build artist (or track) vectors from every metadata family (genres, popularity, "
                                   "era, labels, markets, collaborations, compilations, audio, playlists, inferred "
                                   "genres), fit a model and save it (JSON + npz, no pickle).")
    s.add_argument("catalog", help="catalog directory")
    s.add_argument("--model", default="exact_cosine",
                   help="exact_cosine (reference), itemknn (implicit kNN), als (implicit ALS), hnsw (ANN)")
    s.add_argument("--param", action="append", metavar="NAME=VALUE",
                   help="model parameter, e.g. --param weighting=bm25 --param K=200 (repeat)")
    s.add_argument("--weight", action="append", metavar="FAMILY=W",
                   help="feature-family weight, e.g. --weight genres=2 --weight playlists=0 (repeat)")
    s.add_argument("--kind", choices=["artist", "track"], default="artist", help="items to relate (default artist)")
    s.add_argument("--out", required=True, help="model directory to create")
    s.add_argument("--force", action="store_true", help="replace an existing model directory")
    s.add_argument("--quiet", action="store_true", help="no progress output")
    s.set_defaults(func=cmd_build)

    s = sub.add_parser("neighbours", aliases=["neighbors"], help="similar artists or tracks, explained",
                       description="Neighbours of one or more seeds, re-ranked by the long-tail options. SOURCE is a "
                                   "model directory from `recsys build`, or a catalog (an exact-cosine model is "
                                   "built on the fly). A seed is a Spotify id, URI (spotify:artist:ID), URL "
                                   "(open.spotify.com/artist/ID) or an exact name; an ambiguous name lists the "
                                   "candidates. Several seeds are blended into one list.")
    s.add_argument("source", help="model directory or catalog directory")
    s.add_argument("--artist", action="append", metavar="ID_OR_NAME", help="seed artist (repeat to blend)")
    s.add_argument("--track", action="append", metavar="ID_OR_NAME", help="seed track (repeat to blend)")
    s.add_argument("--seed-weight", action="append", type=float, metavar="W",
                   help="weight of each seed, in order (default: equal)")
    s.add_argument("--all", action="store_true", help="neighbours of every item, written to --out")
    s.add_argument("--k", type=int, default=10, help="neighbours per seed (default 10)")
    s.add_argument("--dial", type=float, default=0.0,
                   help="mainstream (0, default) to deep cuts (1): penalises popular neighbours")
    s.add_argument("--min-popularity", type=float, default=None, metavar="P", help="keep neighbours with popularity >= P")
    s.add_argument("--max-popularity", type=float, default=None, metavar="P", help="keep neighbours with popularity <= P")
    s.add_argument("--diversity", type=float, default=0.0, help="0 (default) to 1: spread the list out (MMR)")
    s.add_argument("--exclude", action="append", metavar="ID_OR_NAME", help="never suggest this item (repeat)")
    s.add_argument("--gems", action="store_true",
                   help="hidden gems only: strong neighbours far less popular than the seed")
    s.add_argument("--catalog", default=None, help="catalog to use instead of the one the model was built from")
    s.add_argument("--json", action="store_true", help="print JSON instead of a table")
    s.add_argument("--out", default=None, metavar="FILE",
                   help="write the neighbour table (query, rank, neighbour id, score, explanation) to .parquet/.csv")
    s.add_argument("--no-explain", action="store_true", help="with --all: skip explanations (faster)")
    s.add_argument("--force", action="store_true", help="replace an existing --out file")
    s.set_defaults(func=cmd_neighbours)

    s = sub.add_parser("tail-report", help="how well neighbours reach the long tail (coverage, dial, communities)",
                       description="Share of artists that get k neighbours (all linked artists, popularity 0, no "
                                   "genre), and, with --truth (the demo's ground_truth.parquet), the hidden-community "
                                   "hit rate against a genre-only model and chance, across the long-tail dial.")
    s.add_argument("source", help="model directory or catalog directory")
    s.add_argument("--truth", default=None, help="ground_truth.parquet of a demo dump (artist_id, community)")
    s.add_argument("--k", type=int, default=10, help="neighbours per artist (default 10)")
    s.add_argument("--sample", type=int, default=2000, help="query artists for hit rates (default 2000)")
    s.add_argument("--seed", type=int, default=0, help="seed of the query sample (default 0)")
    s.add_argument("--catalog", default=None, help="catalog to use instead of the one the model was built from")
    s.add_argument("--json", action="store_true", help="print JSON")
    s.set_defaults(func=cmd_tail_report)

    s = sub.add_parser("infer-genres", help="measure genre inference by hiding known genres and recovering them",
                       description="Hide the genres of a random share of the artists that have genres, infer them "
                                   "from the other artists over collaboration, label, compilation and playlist "
                                   "links, and report precision@1, recall@5, coverage and the majority baseline.")
    s.add_argument("catalog", help="catalog directory")
    s.add_argument("--holdout", type=float, default=0.2, help="share of artists with genres to hide (default 0.2)")
    s.add_argument("--seed", type=int, default=0, help="seed of the hidden sample (default 0)")
    s.add_argument("--json", action="store_true", help="print JSON")
    s.set_defaults(func=cmd_infer_genres)

    s = sub.add_parser("demo", help="the main job on the built-in demo catalog",
                       description="Generate the demo dump (first run only), ingest it into a catalog and show "
                                   "neighbours for a few seeds.")
    s.add_argument("--dir", default="demo", help="working directory for the dump and catalog (default ./demo)")
    s.add_argument("--artists", type=int, default=100_000, help="demo size in artists (default 100000)")
    s.add_argument("--seed", type=int, default=0, help="generator seed (default 0)")
    s.add_argument("--artist", action="append", metavar="ID_OR_NAME", help="seed artist(s) instead of the defaults")
    s.add_argument("--k", type=int, default=10, help="neighbours per seed (default 10)")
    s.set_defaults(func=cmd_demo)
    evaluation_cli.add_parser(sub)
    spark_cli.add_parser(sub)
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
