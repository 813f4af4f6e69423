"""Streamlit discovery demo over the recsys public API (thin: every computation lives in the library).

Run::

    make demo                                               # builds demo/model on the first run, then serves this
    .venv/bin/streamlit run app.py -- --model DIR           # a saved recommender (`recsys build`), or RECSYS_MODEL
    .venv/bin/streamlit run app.py -- --catalog DIR         # a catalog (model built on start), or RECSYS_CATALOG

Data text (names, genres, explanations) is shown with plain-text elements (``st.text``, ``st.dataframe``, widget
options), never as Markdown or HTML; where it must go into a Markdown element (errors) it is escaped first. The
URL holds the state (``kind``, ``seed``, ``model``, ``dial``, ``min_pop``/``max_pop``, ``era``, ``market``,
``diversity``, ``gems``) so a view can be shared.
"""

from __future__ import annotations

import argparse
import os
import sys

import altair as alt
import pandas as pd
import streamlit as st

from recsys import discovery, genre_map
from recsys.errors import RecsysError
from recsys.models import MODEL_REGISTRY
from recsys.recommend import Recommender

DEFAULT_MODEL_DIR = "demo/model"
DEFAULT_CATALOG = "demo/catalog"
N_RESULTS = 20
ANY_MARKET = "any market"
KIND_LABELS = {"artist": "Artists", "track": "Tracks"}
VIEWS = ["Neighbours", "Hidden gems", "Genre map"]


# --- data access (cached; the library does the work) -----------------------------------------------------------

def source_ui() -> tuple[str, str]:
    """("model" | "catalog", path) from ``-- --model/--catalog``, else RECSYS_MODEL / RECSYS_CATALOG, else the demo."""
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
    if os.environ.get("RECSYS_CATALOG"):
        return "catalog", os.environ["RECSYS_CATALOG"]
    if os.path.isfile(os.path.join(DEFAULT_MODEL_DIR, "recommender.json")):
        return "model", DEFAULT_MODEL_DIR
    return "catalog", DEFAULT_CATALOG


@st.cache_resource(show_spinner="Loading the recommender...")
def base_recommender(source: str, path: str) -> Recommender:
    if source == "model":
        return Recommender.load(path)
    from recsys.catalog import Catalog

    return Recommender.build(Catalog.open(path))


@st.cache_resource(show_spinner=False)
def track_base(source: str, path: str) -> Recommender:
    return base_recommender(source, path).track_recommender()


@st.cache_resource(show_spinner=False)
def recommender(source: str, path: str, kind: str, model: str) -> Recommender:
    """The artist or track recommender with ``model`` fitted (derived from the loaded one, then cached)."""
    base = base_recommender(source, path)
    if kind != base.kind:
        if base.kind != "artist":
            raise RecsysError("this model directory relates tracks, not artists",
                              hint="open an artist model (`recsys build CATALOG --out DIR`) for artist neighbours")
        base = track_base(source, path)
    return base if base.model.name == model else base.with_model(model)


@st.cache_data(show_spinner=False, max_entries=256)
def neighbours_table(source: str, path: str, kind: str, model: str, seeds: tuple[str, ...], ctl: tuple) -> pd.DataFrame:
    rec = recommender(source, path, kind, model)
    c = dict(ctl)
    df = rec.neighbours(list(seeds), N_RESULTS, dial=c["dial"], min_popularity=c["min_pop"],
                        max_popularity=c["max_pop"], era=c["era"], market=c["market"], diversity=c["diversity"],
                        exclude=list(c["exclude"]), gems=c["gems"])
    return _with_details(rec, df)


@st.cache_data(show_spinner=False, max_entries=64)
def gems_table(source: str, path: str, kind: str, model: str, seeds: tuple[str, ...]) -> pd.DataFrame:
    rec = recommender(source, path, kind, model)
    return _with_details(rec, rec.neighbours(list(seeds), N_RESULTS, gems=True, dial=1.0))


@st.cache_data(show_spinner="Laying out the genre map...")
def genre_layout(source: str, path: str) -> pd.DataFrame:
    return genre_map.genre_map(base_recommender(source, path))


@st.cache_data(show_spinner=False, max_entries=64)
def genre_tail(source: str, path: str, genre: str) -> pd.DataFrame:
    rec = base_recommender(source, path)
    return _with_details(rec, genre_map.genre_tail_artists(rec, genre, N_RESULTS))


@st.cache_data(show_spinner=False, max_entries=256)
def search_table(source: str, path: str, kind: str, text: str) -> pd.DataFrame:
    """Search candidates with what tells them apart (genres and era; artists, album, year, ISRC)."""
    base = base_recommender(source, path)
    index = base.catalog.artists if kind == "artist" else base.catalog.tracks
    cands = discovery.search(index, text, limit=10)
    details = discovery.item_details(base.catalog, kind, cands["row"].to_numpy(),
                                     rec=base if kind == "artist" and base.kind == "artist" else None)
    return pd.concat([cands.reset_index(drop=True), details], axis=1)


def _with_details(rec: Recommender, df: pd.DataFrame) -> pd.DataFrame:
    details = discovery.item_details(rec.catalog, rec.kind, df["row"].to_numpy(), rec=rec)
    return pd.concat([df.reset_index(drop=True), details], axis=1)


# --- state -----------------------------------------------------------------------------------------------------

def _float_param(name: str, default: float, lo: float, hi: float) -> float:
    try:
        return min(hi, max(lo, float(st.query_params.get(name, default))))
    except ValueError:
        return default


def init_state(rec: Recommender) -> None:
    """On the first run of a session, take the view from the URL; unknown seeds are reported, not fatal."""
    if "kind" in st.session_state:
        return
    kind = st.query_params.get("kind", rec.kind)
    kind = kind if kind in KIND_LABELS and rec.kind == "artist" else rec.kind
    st.session_state["kind"] = kind
    index = rec.catalog.artists if kind == "artist" else rec.catalog.tracks
    seeds = []
    for s in st.query_params.get_all("seed"):
        try:
            seeds.append(index.ids[index.resolve(s)])
        except (RecsysError, ValueError, IndexError) as e:
            st.session_state.setdefault("url_errors", []).append(
                f"Unknown {kind} in the URL: {discovery.escape_markdown(s)} ({discovery.escape_markdown(e)})")
    st.session_state[f"seeds_{kind}"] = list(dict.fromkeys(seeds))
    model = st.query_params.get("model", rec.model.name)
    st.session_state["model"] = model if model in MODEL_REGISTRY else rec.model.name
    st.session_state["dial"] = _float_param("dial", 0.0, 0.0, 1.0)
    st.session_state["diversity"] = _float_param("diversity", 0.0, 0.0, 1.0)
    st.session_state["gems"] = st.query_params.get("gems", "0") == "1"
    lo, hi = int(_float_param("min_pop", 0, 0, 100)), int(_float_param("max_pop", 100, 0, 100))
    st.session_state["pop_range"] = (min(lo, hi), max(lo, hi))
    span = rec.facets.year_range()
    if span is not None and "era" in st.query_params:
        parts = st.query_params["era"].split("-")
        try:
            a, b = (max(span[0], min(span[1], int(v))) for v in parts)
            st.session_state["era"] = (min(a, b), max(a, b))
        except ValueError:
            pass
    market = st.query_params.get("market", ANY_MARKET).upper()
    st.session_state["market"] = market if market in set(rec.facets.market_codes) else ANY_MARKET


def sync_url(kind: str, seeds: list[str], model: str, ctl: dict) -> None:
    st.query_params.clear()
    q = {"kind": kind, "seed": seeds, "model": model, "dial": f"{ctl['dial']:g}", "min_pop": str(ctl["min_pop"]),
         "max_pop": str(ctl["max_pop"])}
    if ctl["era"] is not None:
        q["era"] = f"{ctl['era'][0]}-{ctl['era'][1]}"
    if ctl["market"] is not None:
        q["market"] = ctl["market"]
    if ctl["diversity"]:
        q["diversity"] = f"{ctl['diversity']:g}"
    if ctl["gems"]:
        q["gems"] = "1"
    st.query_params.update(q)


# --- widgets ---------------------------------------------------------------------------------------------------

def label_of(index, sid: str) -> str:
    d = index.describe(index.row_of_id(sid))
    followers = "" if d.get("followers") is None else f" · {d['followers']:,} followers"
    return f"{d['name']} · popularity {d['popularity']}{followers} · {sid}"


def search_ui(source: str, path: str, rec: Recommender, kind: str) -> list[str]:
    """Search box, candidate table with what tells them apart, and the seed picker; returns the seed ids."""
    index = rec.catalog.artists if kind == "artist" else rec.catalog.tracks
    what = "an artist" if kind == "artist" else "a track"
    extra = "" if kind == "artist" else " / ISRC"
    text = st.text_input(f"Search {what} by name (typos are fine) or Spotify id / URI / URL{extra}",
                         key=f"query_{kind}")
    cands = search_table(source, path, kind, text)
    if text.strip() and cands.empty:
        st.warning(f"No {kind} matches that search.")
    elif not cands.empty:
        show = cands.drop(columns=["row"])
        if kind == "track":
            show = show.drop(columns=["followers"])
        show = show[["name"] + [c for c in show.columns if c not in ("name", "match", "id")] + ["match", "id"]]
        st.dataframe(show, hide_index=True, key=f"candidates_{kind}")
    key = f"seeds_{kind}"
    st.session_state.setdefault(key, [])
    options = list(dict.fromkeys(list(st.session_state[key]) + cands["id"].tolist()))
    return st.multiselect(f"Seed {kind}s (several are blended)", options, key=key,
                          format_func=lambda sid: label_of(index, sid))


def controls_ui(rec: Recommender, kind: str, current: pd.DataFrame | None) -> tuple[str, dict]:
    """Sidebar controls; returns (model name, neighbour options)."""
    sb = st.sidebar
    sb.header("Controls")
    model = sb.selectbox("Model", sorted(MODEL_REGISTRY), key="model",
                         help="exact_cosine is the reference; others are fitted on first use (seconds to a minute)")
    dial = sb.slider("Mainstream <-> deep cuts", 0.0, 1.0, step=0.05, key="dial")
    pop = sb.slider("Popularity range", 0, 100, key="pop_range")
    span = rec.facets.year_range()
    era = None
    if span is not None and span[0] < span[1]:
        st.session_state.setdefault("era", span)
        chosen = sb.slider("Era (release years)", span[0], span[1], key="era")
        era = None if tuple(chosen) == tuple(span) else (int(chosen[0]), int(chosen[1]))
    markets = [ANY_MARKET] + [str(c) for c in rec.facets.market_codes]
    st.session_state.setdefault("market", ANY_MARKET)
    market = sb.selectbox("Available in market", markets, key="market")
    diversity = sb.slider("Diversity", 0.0, 1.0, step=0.05, key="diversity")
    gems = sb.toggle("Hidden gems only", key="gems")
    index = rec.catalog.artists if kind == "artist" else rec.catalog.tracks
    ex_key = f"exclude_{kind}"
    st.session_state.setdefault(ex_key, [])
    ex_options = list(dict.fromkeys(list(st.session_state[ex_key]) +
                                    ([] if current is None else current["id"].tolist())))
    exclude = sb.multiselect(f"Hide these {kind}s", ex_options, key=ex_key,
                             format_func=lambda sid: label_of(index, sid))
    return model, {"dial": float(dial), "min_pop": int(pop[0]), "max_pop": int(pop[1]), "era": era,
                   "market": None if market == ANY_MARKET else market, "diversity": float(diversity),
                   "gems": bool(gems), "exclude": tuple(exclude)}


@st.cache_data(show_spinner=False, max_entries=256)
def seed_card(source: str, path: str, kind: str, sid: str) -> dict:
    base = base_recommender(source, path)
    if kind == "track":
        return discovery.track_card(base.catalog, base.catalog.tracks.row_of_id(sid))
    return discovery.artist_card(base, base.catalog.artists.row_of_id(sid))


def card_ui(source: str, path: str, kind: str, sid: str) -> None:
    st.subheader("Seed")
    url = discovery.spotify_url(kind, sid)
    card = seed_card(source, path, kind, sid)
    if kind == "track":
        st.text(card["name"])
        st.text("by " + ", ".join(a["name"] for a in card["artists"]))
        st.text(f"popularity {card['popularity']} · album {card['album'] or 'unknown'} · "
                f"year {card['year'] or 'unknown'} · ISRC {card['isrc'] or 'unknown'}")
        st.text("genres (of its artists): " + (", ".join(card["genres"]) or "none known"))
    else:
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
        if card["top_tracks"]:
            st.dataframe(pd.DataFrame(card["top_tracks"]), hide_index=True, key="top_tracks")
    if url:
        st.link_button("Open in Spotify", url)


def list_ui(kind: str, df: pd.DataFrame, key: str) -> None:
    """A neighbour list: popularity bar, followers, what tells items apart, why it is there, Spotify link."""
    cols = ["rank", "name", "popularity", "explanation"] + (["genres", "era", "followers"] if kind == "artist" else
                                                             ["artists", "album", "year"]) + ["id"]
    show = df[[c for c in cols if c in df.columns]].copy()
    show["spotify"] = [discovery.spotify_url(kind, i) for i in df["id"]]
    st.dataframe(show, hide_index=True, key=key, column_config={
        "popularity": st.column_config.ProgressColumn("popularity", min_value=0, max_value=100, format="%d"),
        "explanation": st.column_config.TextColumn("why", width="large"),
        "spotify": st.column_config.LinkColumn("spotify", display_text="open")})


def results_ui(kind: str, df: pd.DataFrame) -> None:
    st.subheader("Neighbours")
    if df.empty:
        st.info("No neighbours pass these filters: widen the popularity or era range, choose any market, "
                "or turn hidden gems off.")
        return
    top = df.iloc[0]
    st.text(f"Top suggestion: {top['name']} (popularity {int(top['popularity'])})")
    list_ui(kind, df, "results")
    c1, c2, c3 = st.columns(3)
    c1.download_button("CSV", discovery.export_csv(df.drop(columns=["row"])), "neighbours.csv", "text/csv")
    c2.download_button("M3U", discovery.export_m3u(df, kind), "neighbours.m3u", "audio/x-mpegurl")
    c3.download_button("Spotify URIs", discovery.export_uris(df, kind), "neighbours.txt", "text/plain")
    with st.expander("Spotify URIs"):
        st.code(discovery.export_uris(df, kind), language=None)


def bias_ui(rec: Recommender, df: pd.DataFrame) -> None:
    b = discovery.bias_panel(rec, df)
    st.subheader("Popularity bias of this list")
    c1, c2, c3 = st.columns(3)
    c1.metric("ARP (mean popularity)", f"{b['arp']:.1f}")
    c2.metric("APLT (long-tail share)", f"{b['aplt']:.2f}")
    c3.metric("Novelty (bits)", f"{b['novelty']:.2f}")
    edges = b["bins"]
    labels = [f"{int(a)}-{int(z)}" for a, z in zip(edges[:-1], edges[1:])]
    rows = [{"popularity": lab, "share": v, "of": who} for who, shares in (("this list", b["list_share"]),
                                                                           ("catalogue", b["catalog_share"]))
            for lab, v in zip(labels, shares)]
    # a plain Vega-Lite spec: st.bar_chart builds and schema-validates an Altair chart on every run (~50 ms)
    st.vega_lite_chart({"data": {"values": rows}, "mark": "bar", "height": 220, "encoding": {
        "x": {"field": "popularity", "type": "ordinal", "sort": labels, "title": "popularity"},
        "xOffset": {"field": "of"}, "y": {"field": "share", "type": "quantitative", "title": "share of items"},
        "color": {"field": "of", "type": "nominal", "title": None}}}, key="bias_chart", width="stretch")


def gems_ui(source: str, path: str, kind: str, model: str, seeds: list[str]) -> None:
    st.caption("The strongest neighbours far less popular than the seed, at the deep-cuts end of the dial.")
    if not seeds:
        st.info("Pick a seed to see its hidden gems, or choose a genre on the genre map.")
        return
    df = gems_table(source, path, kind, model, tuple(seeds))
    if df.empty:
        st.info("No hidden gems for this seed: nothing similar is much less popular.")
    else:
        list_ui(kind, df, "gems")


def map_ui(source: str, path: str, rec: Recommender, kind: str, df: pd.DataFrame | None, seeds: list[str]) -> None:
    try:
        layout = genre_layout(source, path)
    except (RecsysError, ValueError) as e:
        st.info(f"No genre map: {discovery.escape_markdown(e)}")
        return
    st.caption("Each point is a genre: nearby genres are carried by similar artists; size is popularity. "
               "Pick a genre (click it, or choose it below) to list its long-tail artists.")
    points = layout.copy()
    points["role"] = "genre"
    if kind == "artist" and seeds:
        rows = [rec.catalog.artists.row_of_id(s) for s in seeds]
        near = genre_map.neighbourhood_on_map(rec, layout, rows + ([] if df is None else df["row"].tolist()))
        role = near.groupby("genre")["role"].agg(lambda r: "seed" if "seed" in set(r) else "neighbour")
        points["role"] = points["genre"].map(role).fillna("genre")
    pick = alt.selection_point(fields=["genre"], name="genre_pick")
    chart = (alt.Chart(points).mark_circle(opacity=0.75)
             .encode(x=alt.X("x", axis=None), y=alt.Y("y", axis=None),
                     size=alt.Size("popularity", scale=alt.Scale(range=[15, 400])),
                     color=alt.Color("role", scale=alt.Scale(domain=["genre", "neighbour", "seed"],
                                                             range=["#9aa5b1", "#f08c00", "#d6336c"])),
                     tooltip=["genre", "artists", "popularity", "tail_share"])
             .add_params(pick).properties(height=480))
    event = st.altair_chart(chart, on_select="rerun", key="genre_map", width="stretch")
    clicked = [p.get("genre") for p in (event.selection.get("genre_pick", []) if event else []) if p.get("genre")]
    genres = sorted(layout["genre"].tolist())
    if clicked and clicked[0] in genres and clicked[0] != st.session_state.get("map_click"):
        # a new click chooses the genre; the selectbox stays free to choose another until the next click
        st.session_state["map_click"] = st.session_state["map_genre"] = clicked[0]
    genre = st.selectbox("Genre", genres, index=None, key="map_genre", placeholder="choose a genre")
    if genre:
        st.subheader("Long-tail artists of this genre")
        list_ui("artist", genre_tail(source, path, genre), "genre_tail")


# --- page ------------------------------------------------------------------------------------------------------

def main() -> None:
    st.set_page_config(page_title="recsys discovery", layout="wide")
    st.title("Music discovery: the long tail")
    source, path = source_ui()
    try:
        base = base_recommender(source, path)
    except (RecsysError, ValueError, OSError) as e:
        st.error(f"Cannot open the {source} {discovery.escape_markdown(path)}: {discovery.escape_markdown(e)}. "
                 "Run `make demo` to build the demo catalog and model, or pass `-- --catalog DIR` / "
                 "`-- --model DIR` (or set RECSYS_CATALOG / RECSYS_MODEL).")
        st.stop()
    init_state(base)
    for msg in st.session_state.pop("url_errors", []):
        st.error(msg)
    kind = st.radio("Discover", list(KIND_LABELS), key="kind", horizontal=True,
                    format_func=KIND_LABELS.get, disabled=base.kind != "artist")
    seeds = search_ui(source, path, base, kind)
    model, ctl = controls_ui(base, kind, st.session_state.get("last_results"))
    sync_url(kind, seeds, model, ctl)
    try:
        with st.spinner(f"Preparing {model} over the {kind}s (first use only)..."):
            rec = recommender(source, path, kind, model)
    except (RecsysError, ValueError) as e:
        st.error(discovery.escape_markdown(e))
        return
    # One view at a time (not st.tabs, which would compute every tab on every run): the genre map's layout is
    # only paid for when someone opens it.
    view = st.segmented_control("View", VIEWS, key="view", default=VIEWS[0]) or VIEWS[0]
    df = None
    if view == "Neighbours":
        if not seeds:
            st.info(f"Search for {'an artist' if kind == 'artist' else 'a track'} and pick one or more seeds.")
            return
        try:
            df = neighbours_table(source, path, kind, model, tuple(seeds), tuple(sorted(ctl.items())))
        except (RecsysError, ValueError) as e:
            st.error(discovery.escape_markdown(e))
            return
        st.session_state["last_results"] = df
        left, right = st.columns([1, 3])
        with left:
            card_ui(source, path, kind, seeds[0])
        with right:
            results_ui(kind, df)
            if not df.empty:
                bias_ui(rec, df)
    elif view == "Hidden gems":
        gems_ui(source, path, kind, model, seeds)
    else:
        last = st.session_state.get("last_results")
        map_ui(source, path, base, kind, last if seeds else None, seeds)

main()
