"""The Streamlit demo (app.py) through streamlit's AppTest: start-up, search, seeds, controls, URL state, exports."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import build_tiny_dump, run_sql

from recsys.sources.annas_archive import ingest

pytest.importorskip("streamlit")
from streamlit.testing.v1 import AppTest  # noqa: E402

APP = str(Path(__file__).resolve().parents[1] / "app.py")
SCRIPT, BOLD = "<script>alert(1)</script>", "**bold**"


@pytest.fixture(scope="module")
def odd_catalog(tmp_path_factory) -> Path:
    """The tiny dump with artists named like markup: they must show literally."""
    root = tmp_path_factory.mktemp("app_odd")
    dump = build_tiny_dump(root / "dump")
    run_sql(dump / "spotify_clean.sqlite3", f"UPDATE artists SET name = '{BOLD}' WHERE rowid = 2",
            f"UPDATE artists SET name = '{SCRIPT}' WHERE rowid = 6")
    ingest(dump, root / "catalog", progress=False)
    return root / "catalog"


def _app(monkeypatch, catalog: Path, **params) -> AppTest:
    monkeypatch.setattr(sys, "argv", ["app.py"])
    monkeypatch.delenv("RECSYS_MODEL", raising=False)
    monkeypatch.setenv("RECSYS_CATALOG", str(catalog))
    at = AppTest.from_file(APP, default_timeout=60)
    for k, v in params.items():
        at.query_params[k] = v
    return at.run()


def _results(at: AppTest) -> pd.DataFrame | None:
    """The list the current view shows (neighbours, hidden gems, a genre's tail artists), None when none."""
    frames = [d.value for d in at.dataframe if "rank" in d.value.columns]
    return frames[0] if frames else None


def _view(at: AppTest, view: str) -> AppTest:
    """Switch the view (segmented control "View"), as a click on it does."""
    at.session_state["view"] = view
    return at.run()


def _qp(at: AppTest, key: str) -> list[str]:
    v = at.query_params[key]
    return [v] if isinstance(v, str) else list(v)


def _pick(at: AppTest, sid: str) -> AppTest:
    return at.multiselect(key="seeds_artist").select(sid).run()


@pytest.fixture(scope="module")
def popular_seed(small_demo) -> str:
    cat = small_demo[1]
    pop = cat.artists.popularity.astype(float)
    return cat.artists.ids[int(np.argsort(-pop)[3])]


def test_startup_shows_search_box(monkeypatch, small_demo):
    at = _app(monkeypatch, small_demo[1].path)
    assert not at.exception and not at.error
    assert len(at.text_input) == 1 and "Search" in at.text_input[0].label
    assert _results(at) is None


def test_missing_catalog_shows_what_to_run(monkeypatch, tmp_path):
    at = _app(monkeypatch, tmp_path / "nowhere")
    assert not at.exception
    assert len(at.error) == 1 and "make demo" in at.error[0].value


def test_search_pick_seed_and_dial(monkeypatch, small_demo, popular_seed):
    cat = small_demo[1]
    name = cat.artists.names[cat.artists.row_of_id(popular_seed)]
    at = _app(monkeypatch, cat.path)
    at.text_input[0].input(name[:-1]).run()  # a typo: last letter missing
    cands = at.dataframe[0].value
    assert popular_seed in cands["id"].tolist()
    at = _pick(at, popular_seed)
    assert not at.exception and not at.error
    res = _results(at)
    assert res is not None and len(res) == 20 and popular_seed not in res["id"].tolist()
    assert name in [t.value for t in at.text]  # the seed card
    assert _qp(at, "seed") == [popular_seed]
    first_mainstream = int(res["popularity"].iloc[0])
    at.slider(key="dial").set_value(1.0).run()
    deep = _results(at)
    assert int(deep["popularity"].iloc[0]) < first_mainstream
    assert deep["popularity"].mean() < res["popularity"].mean()
    assert _qp(at, "dial") == ["1"]


def test_controls_change_the_list(monkeypatch, small_demo, popular_seed):
    at = _app(monkeypatch, small_demo[1].path, seed=popular_seed)
    base = _results(at)
    at.slider(key="pop_range").set_range(10, 40).run()
    banded = _results(at)
    assert banded["popularity"].between(10, 40).all() and banded["id"].tolist() != base["id"].tolist()
    assert _qp(at, "min_pop") == ["10"] and _qp(at, "max_pop") == ["40"]
    at.slider(key="pop_range").set_range(0, 100).run()
    at.slider(key="diversity").set_value(0.8).run()
    diverse = _results(at)
    assert diverse["id"].tolist() != base["id"].tolist()
    at.slider(key="diversity").set_value(0.0).run()
    drop = base["id"].iloc[0]
    at.multiselect(key="exclude_artist").select(drop).run()
    assert drop not in _results(at)["id"].tolist()
    at.toggle(key="gems").set_value(True).run()
    assert not at.exception and not at.error
    gems = _results(at)
    seed_pop = small_demo[1].artists.popularity[small_demo[1].artists.row_of_id(popular_seed)]
    assert gems is not None and len(gems) > 0
    assert (gems["popularity"] < seed_pop).all()  # gems are less popular than the seed


def test_saved_model_directory(monkeypatch, small_demo, popular_seed, tmp_path):
    from recsys.recommend import Recommender

    Recommender.build(small_demo[1]).save(tmp_path / "model")
    monkeypatch.setattr(sys, "argv", ["app.py"])
    monkeypatch.setenv("RECSYS_MODEL", str(tmp_path / "model"))
    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params["seed"] = popular_seed
    at.run()
    assert not at.exception and not at.error
    assert len(_results(at)) == 20


def test_url_reproduces_the_view(monkeypatch, small_demo, popular_seed):
    at = _app(monkeypatch, small_demo[1].path, seed=popular_seed, dial="0.7", min_pop="5", max_pop="60")
    assert not at.error
    assert at.slider(key="dial").value == pytest.approx(0.7)
    assert at.slider(key="pop_range").value == (5, 60)
    res = _results(at)
    assert res["popularity"].between(5, 60).all()


def test_unknown_id_in_url_shows_error(monkeypatch, small_demo):
    at = _app(monkeypatch, small_demo[1].path, seed="0000000000000000000000")
    assert not at.exception
    assert len(at.error) == 1 and "0000000000000000000000" in at.error[0].value
    assert _results(at) is None


def test_empty_result(monkeypatch, odd_catalog):
    at = _app(monkeypatch, odd_catalog, seed="1AAAAAAAAAAAAAAAAAAAAA", min_pop="100", max_pop="100")
    assert not at.exception and not at.error
    assert _results(at) is None
    assert any("No neighbours" in i.value for i in at.info)
    assert len(at.metric) == 0  # no bias panel of nothing


def test_markup_names_shown_literally(monkeypatch, odd_catalog):
    at = _app(monkeypatch, odd_catalog, seed="6FFFFFFFFFFFFFFFFFFFFF")
    assert not at.exception and not at.error
    assert SCRIPT in [t.value for t in at.text]  # the seed card, as plain text
    res = _results(at)
    assert BOLD in res["name"].tolist()  # in the results table, as data
    markdown = " ".join(str(m.value) for m in at.markdown) + " ".join(str(c.value) for c in at.caption)
    assert "alert(1)" not in markdown and "bold" not in markdown
    at.text_input[0].input("bold").run()
    assert BOLD in at.dataframe[0].value["name"].tolist()


def test_export_contents_match_the_table(monkeypatch, small_demo, popular_seed):
    at = _app(monkeypatch, small_demo[1].path, seed=popular_seed)
    res = _results(at)
    uris = at.code[0].value.splitlines()
    assert uris == [f"spotify:artist:{i}" for i in res["id"]]
    assert res["spotify"].tolist() == [f"https://open.spotify.com/artist/{i}" for i in res["id"]]
    buttons = at.get("download_button")
    assert len(buttons) == 3


def _track_with_isrc(cat) -> tuple[str, str]:
    t = cat.table("tracks", ["id", "external_id_isrc", "popularity"]).to_pandas()
    t = t[t["external_id_isrc"].notna()].sort_values(["popularity", "id"], ascending=[False, True])
    counts = t["external_id_isrc"].value_counts()
    one = t[t["external_id_isrc"].map(counts) == 1].iloc[0]  # an ISRC on one release only: a unique answer
    return str(one["id"]), str(one["external_id_isrc"])


def test_track_search_by_isrc_and_track_neighbours(monkeypatch, small_demo):
    cat = small_demo[1]
    tid, isrc = _track_with_isrc(cat)
    at = _app(monkeypatch, cat.path)
    at.radio(key="kind").set_value("track").run()
    assert "ISRC" in at.text_input(key="query_track").label
    at.text_input(key="query_track").input(isrc.lower()).run()
    cands = at.dataframe[0].value
    assert cands["id"].tolist() == [tid] and cands["isrc"].tolist() == [isrc]
    at.multiselect(key="seeds_track").select(tid).run()
    assert not at.exception and not at.error
    res = _results(at)
    assert res is not None and len(res) == 20 and tid not in res["id"].tolist()
    assert {"artists", "album", "year"} <= set(res.columns)
    assert res["id"].isin(cat.tracks.ids).all()
    assert _qp(at, "kind") == ["track"] and _qp(at, "seed") == [tid]
    assert any(t.value.startswith("by ") for t in at.text)  # the track card names its artists
    assert at.code[0].value.splitlines() == [f"spotify:track:{i}" for i in res["id"]]


def test_track_view_from_url_by_isrc(monkeypatch, small_demo):
    tid, isrc = _track_with_isrc(small_demo[1])
    at = _app(monkeypatch, small_demo[1].path, kind="track", seed=isrc)
    assert not at.exception and not at.error
    assert at.radio(key="kind").value == "track"
    assert at.multiselect(key="seeds_track").value == [tid]
    assert _results(at) is not None


def test_model_choice(monkeypatch, small_demo, popular_seed):
    at = _app(monkeypatch, small_demo[1].path, seed=popular_seed)
    exact = _results(at)
    at.selectbox(key="model").set_value("als").run()
    assert not at.exception and not at.error
    als = _results(at)
    assert als is not None and len(als) == 20 and popular_seed not in als["id"].tolist()
    assert als["id"].tolist() != exact["id"].tolist()  # another model, another list
    assert _qp(at, "model") == ["als"]


def test_era_and_market_filters(monkeypatch, small_demo, popular_seed):
    from recsys.facets import item_facets

    cat = small_demo[1]
    facets = item_facets(cat, "artist")
    at = _app(monkeypatch, cat.path, seed=popular_seed)
    base = _results(at)
    lo, hi = at.slider(key="era").value
    window = (hi - 12, hi - 4)
    at.slider(key="era").set_range(*window).run()
    res = _results(at)
    years = facets.year[[cat.artists.row_of_id(i) for i in res["id"]]]
    assert len(res) > 0 and ((years >= window[0]) & (years <= window[1])).all()
    assert res["id"].tolist() != base["id"].tolist()
    assert _qp(at, "era") == [f"{window[0]}-{window[1]}"]
    at.slider(key="era").set_range(lo, hi)
    market = "JP"
    at.selectbox(key="market").set_value(market).run()
    res = _results(at)
    col = list(facets.market_codes).index(market)
    rows = [cat.artists.row_of_id(i) for i in res["id"]]
    assert len(res) > 0 and (facets.markets[rows, col].toarray() > 0).all()
    assert _qp(at, "market") == [market]


def test_hidden_gems_view(monkeypatch, small_demo, popular_seed):
    cat = small_demo[1]
    seed_pop = cat.artists.popularity[cat.artists.row_of_id(popular_seed)]
    at = _app(monkeypatch, cat.path, seed=popular_seed)
    neighbours = _results(at)
    gems = _results(_view(at, "Hidden gems"))
    assert gems is not None and len(gems) > 0
    assert (gems["popularity"] < seed_pop).all() and popular_seed not in gems["id"].tolist()
    assert gems["popularity"].mean() < neighbours["popularity"].mean()


def test_genre_map_lists_tail_artists(monkeypatch, small_demo, popular_seed):
    from recsys.genre_map import genre_map, genre_tail_artists
    from recsys.longtail import head_threshold
    from recsys.recommend import Recommender

    cat = small_demo[1]
    at = _app(monkeypatch, cat.path, seed=popular_seed)
    assert "genre_map" not in [c.key for c in at.get("vega_lite_chart")]  # only drawn when asked for
    at = _view(at, "Genre map")
    assert [c.key for c in at.get("vega_lite_chart")].count("genre_map") == 1
    rec = Recommender.build(cat)
    layout = genre_map(rec)
    genre = layout.sort_values("artists", ascending=False)["genre"].iloc[0]
    at.selectbox(key="map_genre").set_value(genre).run()
    assert not at.exception and not at.error
    tail = _results(at)
    assert tail is not None and len(tail) > 0
    assert (tail["popularity"] < head_threshold(cat.artists.popularity.astype(float))).all()
    assert tail["id"].tolist() == genre_tail_artists(rec, genre, 20)["id"].tolist()  # strongest first
