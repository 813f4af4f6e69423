"""Streamlit discovery demo over the recsys public API (thin: every computation lives in the library).

Run::

    .venv/bin/streamlit run app.py                          # demo/catalog (make demo builds it)
    .venv/bin/streamlit run app.py -- --catalog DIR         # or RECSYS_CATALOG=DIR
    .venv/bin/streamlit run app.py -- --model DIR           # a saved recommender, or RECSYS_MODEL=DIR

Data text (names, genres, explanations) is shown with plain-text elements (``st.text``, ``st.dataframe``), never
as Markdown or HTML; where it must go into a Markdown element (errors) it is escaped first. The URL holds the
state (``seed``, ``dial``, ``min_pop``, ``max_pop``) so a view can be shared.
"""

from __future__ import annotations

import argparse
import os
import sys

import pandas as pd
import streamlit as st

from recsys import discovery
from recsys.errors import RecsysError
from recsys.recommend import Recommender

DEFAULT_CATALOG = "demo/catalog"
N_RESULTS = 20


def source_ui() -> tuple[str, str]:
    """("model" | "catalog", path) from ``-- --model/--catalog`` args, else RECSYS_MODEL / RECSYS_CATALOG."""
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument("--model")
    p.add_argument("--catalog")
    args, _ = p.parse_known_args(sys.argv[1:])
    if args.model:
        return "model", args.model
    if args.catalog:
        return "catalog", args.catalog
    if os.environ.get("RECSYS_MODEL"):
        return "model", os.environ["RECSYS_MODEL"]
    return "catalog", os.environ.get("RECSYS_CATALOG", DEFAULT_CATALOG)


@st.cache_resource(show_spinner="Loading the recommender...")
def load_recommender(kind: str, path: str) -> Recommender:
    if kind == "model":
        return Recommender.load(path)
    from recsys.catalog import Catalog

    return Recommender.build(Catalog.open(path))


@st.cache_data(show_spinner=False, max_entries=256)
def neighbours_table(kind: str, path: str, seeds: tuple[str, ...], dial: float, min_pop: int, max_pop: int,
                     diversity: float, exclude: tuple[str, ...], gems: bool) -> pd.DataFrame:
    rec = load_recommender(kind, path)
    return rec.neighbours(list(seeds), N_RESULTS, dial=dial, min_popularity=min_pop, max_popularity=max_pop,
                          diversity=diversity, exclude=list(exclude), gems=gems)


def _float_param(name: str, default: float, lo: float, hi: float) -> float:
    try:
        return min(hi, max(lo, float(st.query_params.get(name, default))))
    except ValueError:
        return default


def init_state(rec: Recommender) -> None:
    """On the first run of a session, take seeds and controls from the URL; report unknown seeds."""
    if "seeds" in st.session_state:
        return
    seeds = []
    for s in st.query_params.get_all("seed"):
        try:
            seeds.append(rec.index.ids[rec.resolve(s)])
        except (RecsysError, ValueError, IndexError) as e:
            st.session_state.setdefault("url_errors", []).append(
                f"Unknown seed in the URL: {discovery.escape_markdown(s)} ({discovery.escape_markdown(e)})")
    st.session_state["seeds"] = list(dict.fromkeys(seeds))
    st.session_state["dial"] = _float_param("dial", 0.0, 0.0, 1.0)
    lo, hi = int(_float_param("min_pop", 0, 0, 100)), int(_float_param("max_pop", 100, 0, 100))
    st.session_state["pop_range"] = (min(lo, hi), max(lo, hi))


def label_of(rec: Recommender, sid: str) -> str:
    d = rec.index.describe(rec.index.row_of_id(sid))
    followers = "" if d.get("followers") is None else f" · {d['followers']:,} followers"
    return f"{d['name']} · popularity {d['popularity']}{followers} · {sid}"


def search_ui(rec: Recommender) -> list[str]:
    """Search box, candidate table and the seed picker; returns the chosen seed ids."""
    text = st.text_input("Search an artist by name (typos are fine) or Spotify id / URI / URL", key="query")
    cands = discovery.search(rec.index, text, limit=10)
    if text.strip() and cands.empty:
        st.warning("No artist matches that search.")
    elif not cands.empty:
        st.dataframe(cands.drop(columns=["row"]), hide_index=True, key="candidates")
    options = list(dict.fromkeys(list(st.session_state["seeds"]) + cands["id"].tolist()))
    return st.multiselect("Seed artists (several are blended)", options, key="seeds",
                          format_func=lambda sid: label_of(rec, sid))


def controls_ui(rec: Recommender, current: pd.DataFrame | None) -> dict:
    """Sidebar controls; returns the neighbours() keyword arguments."""
    sb = st.sidebar
    sb.header("Controls")
    dial = sb.slider("Mainstream <-> deep cuts", 0.0, 1.0, step=0.05, key="dial")
    pop = sb.slider("Popularity range", 0, 100, key="pop_range")
    diversity = sb.slider("Diversity", 0.0, 1.0, 0.0, step=0.05, key="diversity")
    gems = sb.toggle("Hidden gems only", key="gems")
    st.session_state.setdefault("exclude", [])
    ex_options = list(dict.fromkeys(list(st.session_state["exclude"]) +
                                    ([] if current is None else current["id"].tolist())))
    exclude = sb.multiselect("Exclude", ex_options, key="exclude", format_func=lambda sid: label_of(rec, sid))
    return {"dial": float(dial), "min_pop": int(pop[0]), "max_pop": int(pop[1]), "diversity": float(diversity),
            "gems": bool(gems), "exclude": tuple(exclude)}


def card_ui(rec: Recommender, sid: str) -> None:
    card = discovery.artist_card(rec, rec.index.row_of_id(sid))
    st.subheader("Seed")
    st.text(card["name"])
    followers = "unknown" if card.get("followers") is None else f"{card['followers']:,}"
    st.text(f"popularity {card['popularity']} · followers {followers} · era {card['era'] or 'unknown'} · "
            f"label {card['label'] or 'unknown'}")
    if card["genres"]:
        st.text("genres: " + ", ".join(card["genres"]))
    elif card["inferred_genres"]:
        st.text("genres (inferred): " + ", ".join(card["inferred_genres"]))
    else:
        st.text("genres: none known")
    url = discovery.spotify_url("artist", sid)
    if url:
        st.link_button("Open in Spotify", url)
    if card["top_tracks"]:
        st.dataframe(pd.DataFrame(card["top_tracks"]), hide_index=True, key="top_tracks")


def results_ui(rec: Recommender, df: pd.DataFrame) -> None:
    st.subheader("Neighbours")
    if df.empty:
        st.info("No neighbours pass these filters: widen the popularity range or turn hidden gems off.")
        return
    show = df[["rank", "name", "popularity", "followers", "explanation", "id"]].copy()
    show["spotify"] = [discovery.spotify_url("artist", i) for i in df["id"]]
    st.dataframe(show, hide_index=True, key="results",
                 column_config={"spotify": st.column_config.LinkColumn("spotify", display_text="open")})
    c1, c2, c3 = st.columns(3)
    c1.download_button("CSV", discovery.export_csv(df), "neighbours.csv", "text/csv")
    c2.download_button("M3U", discovery.export_m3u(df, "artist"), "neighbours.m3u", "audio/x-mpegurl")
    c3.download_button("Spotify URIs", discovery.export_uris(df, "artist"), "neighbours.txt", "text/plain")
    with st.expander("Spotify URIs"):
        st.code(discovery.export_uris(df, "artist"), language=None)


def bias_ui(rec: Recommender, df: pd.DataFrame) -> None:
    b = discovery.bias_panel(rec, df)
    st.subheader("Popularity bias of this list")
    c1, c2, c3 = st.columns(3)
    c1.metric("ARP (mean popularity)", f"{b['arp']:.1f}")
    c2.metric("APLT (long-tail share)", f"{b['aplt']:.2f}")
    c3.metric("Novelty (bits)", f"{b['novelty']:.2f}")
    edges = b["bins"]
    labels = [f"{int(a)}-{int(z)}" for a, z in zip(edges[:-1], edges[1:])]
    st.bar_chart(pd.DataFrame({"this list": b["list_share"], "catalogue": b["catalog_share"]}, index=labels),
                 stack=False)


def sync_url(seeds: list[str], ctl: dict) -> None:
    st.query_params.clear()
    st.query_params.update({"seed": seeds, "dial": f"{ctl['dial']:g}", "min_pop": str(ctl["min_pop"]),
                            "max_pop": str(ctl["max_pop"])})


def main() -> None:
    st.set_page_config(page_title="recsys discovery", layout="wide")
    st.title("Music discovery: the long tail")
    kind, path = source_ui()
    try:
        rec = load_recommender(kind, path)
    except (RecsysError, ValueError, OSError) as e:
        st.error(f"Cannot open the {kind} {discovery.escape_markdown(path)}: {discovery.escape_markdown(e)}. "
                 "Run `make demo` to build the demo catalog, or pass `-- --catalog DIR` / `-- --model DIR` "
                 "(or set RECSYS_CATALOG / RECSYS_MODEL).")
        st.stop()
    init_state(rec)
    for msg in st.session_state.pop("url_errors", []):
        st.error(msg)
    seeds = search_ui(rec)
    ctl = controls_ui(rec, st.session_state.get("last_results"))
    sync_url(seeds, ctl)
    if not seeds:
        st.info("Search for an artist and pick one or more seeds.")
        return
    try:
        df = neighbours_table(kind, path, tuple(seeds), ctl["dial"], ctl["min_pop"], ctl["max_pop"],
                              ctl["diversity"], ctl["exclude"], ctl["gems"])
    except (RecsysError, ValueError) as e:
        st.error(discovery.escape_markdown(e))
        return
    st.session_state["last_results"] = df
    left, right = st.columns([1, 2])
    with left:
        card_ui(rec, seeds[0])
    with right:
        results_ui(rec, df)
        if not df.empty:
            bias_ui(rec, df)


main()
