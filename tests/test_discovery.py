"""recsys.discovery: search, the seed card, links, exports and the bias panel (the app's library side)."""

from __future__ import annotations

import csv
import io

import numpy as np
import pandas as pd
import pytest
from conftest import build_tiny_dump

from recsys import discovery
from recsys.evaluation.metrics import aplt, arp, novelty, popularity_histogram
from recsys.recommend import Recommender
from recsys.sources.annas_archive import ingest


@pytest.fixture(scope="module")
def tiny_rec(tmp_path_factory):
    root = tmp_path_factory.mktemp("discovery_tiny")
    catalog = ingest(build_tiny_dump(root / "dump"), root / "catalog", progress=False)
    return Recommender.build(catalog)


@pytest.fixture(scope="module")
def demo_rec(small_demo):
    return Recommender.build(small_demo[1])


# --- search -----------------------------------------------------------------------------------------------------

def test_search_typo_finds_name_ranked_by_popularity(tiny_rec):
    df = discovery.search(tiny_rec.index, "velmra")
    assert list(df.columns) == discovery.SEARCH_COLUMNS
    # both artists named Velmora, the more popular first; nothing unrelated above them
    assert df["name"].tolist()[:2] == ["Velmora", "Velmora"]
    assert df["id"].tolist()[:2] == ["1AAAAAAAAAAAAAAAAAAAAA", "5EEEEEEEEEEEEEEEEEEEEE"]
    assert df["popularity"].tolist()[:2] == [55, 0]
    assert df["followers"].tolist()[:2] == [12000, 3]
    assert (df["match"].diff().dropna() <= 0).all()


def test_search_exact_name_scores_100_and_case_insensitive(tiny_rec):
    df = discovery.search(tiny_rec.index, "  the SPITFIRES ")
    assert df.iloc[0]["name"] == "The Spitfires" and df.iloc[0]["match"] == 100.0


@pytest.mark.parametrize("query", ["4DDDDDDDDDDDDDDDDDDDDD", "spotify:artist:4DDDDDDDDDDDDDDDDDDDDD",
                                   "https://open.spotify.com/artist/4DDDDDDDDDDDDDDDDDDDDD?si=abc"])
def test_search_by_id_uri_url_comes_first(tiny_rec, query):
    df = discovery.search(tiny_rec.index, query)
    assert df.iloc[0]["id"] == "4DDDDDDDDDDDDDDDDDDDDD"
    assert df.iloc[0]["row"] == 3 and df.iloc[0]["match"] == 100.0


def test_search_track_uri_is_not_an_artist_hit(tiny_rec):
    df = discovery.search(tiny_rec.index, "spotify:track:4DDDDDDDDDDDDDDDDDDDDD")
    assert "4DDDDDDDDDDDDDDDDDDDDD" not in df["id"].tolist()


@pytest.mark.parametrize("text", ["", "   ", None])
def test_search_empty_text_gives_empty_frame(tiny_rec, text):
    df = discovery.search(tiny_rec.index, text)
    assert df.empty and list(df.columns) == discovery.SEARCH_COLUMNS


def test_search_no_hit_and_limit(tiny_rec, demo_rec):
    assert discovery.search(tiny_rec.index, "qqqqxxxxzzzz").empty
    df = discovery.search(demo_rec.index, "the", limit=7)
    assert len(df) == 7
    with pytest.raises(ValueError, match="limit"):
        discovery.search(tiny_rec.index, "x", limit=0)


def test_search_typo_on_demo_catalog(demo_rec):
    pop = demo_rec.popularity
    row = next(int(r) for r in np.argsort(-pop) if len(demo_rec.index.names[r]) >= 7)
    name = demo_rec.index.names[row]
    typo = name[:3] + name[4:]  # drop one letter
    df = discovery.search(demo_rec.index, typo)
    assert row in df["row"].tolist()[:3]


# --- seed card --------------------------------------------------------------------------------------------------

def test_artist_card_against_tiny_catalog(tiny_rec):
    card = discovery.artist_card(tiny_rec, 0)  # Velmora (rowid 1)
    assert card["name"] == "Velmora" and card["id"] == "1AAAAAAAAAAAAAAAAAAAAA"
    assert card["popularity"] == 55 and card["followers"] == 12000
    assert card["genres"] == ["dark ambient", "drone"] and card["inferred_genres"] == []
    assert card["era"] == 1996  # album 1 (1996); the compilation's year 0000 is unknown
    assert card["label"] == "Nordic Frost Records"
    assert [t["name"] for t in card["top_tracks"]][0] == "Ice I"
    assert card["top_tracks"][0] == {"name": "Ice I", "popularity": 45, "id": "1ttttttttttttttttttttt"}
    assert {t["id"] for t in card["top_tracks"]} == {"1ttttttttttttttttttttt", "2ttttttttttttttttttttt",
                                                      "3ttttttttttttttttttttt", "8ttttttttttttttttttttt"}
    spit = discovery.artist_card(tiny_rec, 3)
    assert spit["era"] == 1979 and spit["label"] == "Loud Noise" and spit["genres"] == ["punk rock"]


def test_artist_card_marks_inferred_genres(tiny_rec):
    card = discovery.artist_card(tiny_rec, 5)  # no genre, collaborates with Velmora
    assert card["genres"] == []
    assert card["inferred_genres"] and set(card["inferred_genres"]) <= {"dark ambient", "drone"}
    assert card["era"] is None  # only on the compilation, whose year is unknown
    with pytest.raises(IndexError):
        discovery.artist_card(tiny_rec, 99)


def test_artist_card_matches_catalog_tables(demo_rec):
    cat = demo_rec.catalog
    row = int(np.argsort(-demo_rec.popularity)[10])
    card = discovery.artist_card(demo_rec, row)
    rowid = int(cat.column("artists", "rowid")[row])
    g = cat.table("artist_genres").to_pandas()
    assert card["genres"] == sorted(set(g.loc[g.artist_rowid == rowid, "genre"]))
    ta = cat.table("track_artists").to_pandas()
    tr = cat.table("tracks").to_pandas()
    mine = tr[tr.rowid.isin(ta.loc[ta.artist_rowid == rowid, "track_rowid"])]
    top = mine.sort_values("popularity", ascending=False, kind="stable").head(5)
    assert [t["popularity"] for t in card["top_tracks"]] == top["popularity"].astype(int).tolist()
    aa = cat.table("artist_albums").to_pandas()
    albums = set(aa.loc[aa.artist_rowid == rowid, "album_rowid"]) | set(mine["album_rowid"])
    al = cat.table("albums").to_pandas()
    # era: the median year of its own releases and of the albums of every track it is credited on
    own = aa[(aa.artist_rowid == rowid) & ~aa.is_appears_on.fillna(False).astype(bool)
             & ~aa.is_implicit_appears_on.fillna(False).astype(bool)]
    years = al.loc[al.rowid.isin(set(own["album_rowid"]) | set(mine["album_rowid"])), "release_year"].dropna()
    years = years[years > 0]
    assert card["era"] == int(np.median(years))
    assert card["label"] == al.loc[al.rowid.isin(albums), "label"].dropna().value_counts().index[0]


# --- links and exports ------------------------------------------------------------------------------------------

def test_spotify_links():
    assert discovery.spotify_url("artist", "4DDDDDDDDDDDDDDDDDDDDD") == \
        "https://open.spotify.com/artist/4DDDDDDDDDDDDDDDDDDDDD"
    assert discovery.spotify_uri("track", "1ttttttttttttttttttttt") == "spotify:track:1ttttttttttttttttttttt"
    for bad in ("lastfm:Some Artist", "a/../b", "", None):
        assert discovery.spotify_url("artist", bad) is None and discovery.spotify_uri("artist", bad) is None
    with pytest.raises(ValueError, match="kind"):
        discovery.spotify_url("album", "x")


def test_exports_parse_back(demo_rec):
    df = demo_rec.neighbours(0, 10)
    parsed = pd.read_csv(io.StringIO(discovery.export_csv(df)), keep_default_na=False)
    assert parsed["id"].tolist() == df["id"].tolist() and parsed["name"].tolist() == df["name"].tolist()
    assert parsed["explanation"].tolist() == df["explanation"].tolist()
    uris = discovery.export_uris(df, "artist").splitlines()
    assert uris == [f"spotify:artist:{i}" for i in df["id"]]
    m3u = discovery.export_m3u(df, "artist").splitlines()
    assert m3u[0] == "#EXTM3U" and len(m3u) == 1 + 2 * len(df)
    assert m3u[1::2] == [f"#EXTINF:-1,{n}" for n in df["name"]]
    assert m3u[2::2] == uris


def test_exports_keep_odd_names_and_skip_non_spotify_ids():
    df = pd.DataFrame({"id": ["1AAAAAAAAAAAAAAAAAAAAA", "csv:local-7"],
                       "name": ['<script>alert(1)</script>, "x"\nline', "Local"]})
    rows = list(csv.reader(io.StringIO(discovery.export_csv(df))))
    assert rows[1] == ["1AAAAAAAAAAAAAAAAAAAAA", '<script>alert(1)</script>, "x"\nline']
    assert discovery.export_uris(df, "artist") == "spotify:artist:1AAAAAAAAAAAAAAAAAAAAA\n"
    assert discovery.export_m3u(df, "artist") == (
        '#EXTM3U\n#EXTINF:-1,<script>alert(1)</script>, "x" line\nspotify:artist:1AAAAAAAAAAAAAAAAAAAAA\n')
    assert discovery.export_m3u(df.iloc[:0], "artist") == "#EXTM3U\n"


# --- bias panel -------------------------------------------------------------------------------------------------

def test_bias_panel_matches_metrics(demo_rec):
    df = demo_rec.neighbours(int(np.argmax(demo_rec.popularity)), 20, dial=0.5)
    b = discovery.bias_panel(demo_rec, df)
    ids, pop = df["row"].to_numpy(), demo_rec.popularity
    assert b["arp"] == pytest.approx(arp(ids, pop)) == pytest.approx(df["popularity"].mean())
    assert b["aplt"] == pytest.approx(aplt(ids, pop))
    assert b["novelty"] == pytest.approx(novelty(ids, pop))
    lst, cat = popularity_histogram(ids, pop, bins=discovery.POPULARITY_BINS)
    assert b["list_counts"] == lst.tolist() and b["catalog_counts"] == cat.tolist()
    assert sum(b["list_counts"]) == len(df) and sum(b["catalog_counts"]) == len(pop)
    assert sum(b["list_share"]) == pytest.approx(1.0) and sum(b["catalog_share"]) == pytest.approx(1.0)
    assert len(b["bins"]) == len(b["list_counts"]) + 1


def test_bias_panel_empty_list(tiny_rec):
    b = discovery.bias_panel(tiny_rec, tiny_rec.neighbours(0, 5, min_popularity=100))
    assert np.isnan(b["arp"]) and np.isnan(b["aplt"]) and np.isnan(b["novelty"])
    assert sum(b["list_counts"]) == 0 and sum(b["list_share"]) == 0


# --- text safety ------------------------------------------------------------------------------------------------

def test_escape_markdown():
    assert discovery.escape_markdown("**bold**") == r"\*\*bold\*\*"
    assert discovery.escape_markdown("<script>") == r"\<script\>"
    assert discovery.escape_markdown("a\nb :red[x]") == r"a b \:red\[x\]"
    assert discovery.escape_markdown("Sigur Rós") == "Sigur Rós"


def test_search_tracks_by_isrc_lists_every_release(demo_rec):
    cat = demo_rec.catalog
    t = cat.table("tracks", ["id", "external_id_isrc"]).to_pandas().dropna()
    counts = t["external_id_isrc"].value_counts()
    isrc = counts.index[counts > 1][0]
    res = discovery.search(cat.tracks, isrc.lower(), limit=10)
    assert sorted(res["id"]) == sorted(t.loc[t["external_id_isrc"] == isrc, "id"])
    assert (res["match"] == 100).all()


def test_item_details_tell_items_apart(demo_rec):
    cat = demo_rec.catalog
    rows = [0, 5, 17]
    d = discovery.item_details(cat, "track", rows)
    tracks = cat.table("tracks", ["rowid", "album_rowid", "external_id_isrc"]).to_pandas()
    albums = cat.table("albums", ["rowid", "name", "release_year"]).to_pandas().set_index("rowid")
    credits = cat.table("track_artists", ["rowid", "track_rowid", "artist_rowid"]).to_pandas().sort_values("rowid")
    names = cat.table("artists", ["rowid", "name"]).to_pandas().set_index("rowid")["name"]
    for i, r in enumerate(rows):
        tr = tracks.iloc[r]
        who = credits.loc[credits["track_rowid"] == tr["rowid"], "artist_rowid"].drop_duplicates().map(names)
        assert d["artists"].iloc[i] == ", ".join(who)
        assert d["album"].iloc[i] == albums.loc[tr["album_rowid"], "name"]
        assert d["year"].iloc[i] == albums.loc[tr["album_rowid"], "release_year"]
    a = discovery.item_details(cat, "artist", [3, 4], rec=demo_rec)
    for i, r in enumerate([3, 4]):
        card = discovery.artist_card(demo_rec, r)
        want = ", ".join(card["genres"]) if card["genres"] else \
            ("inferred: " + ", ".join(card["inferred_genres"][:3]) if card["inferred_genres"] else "")
        assert a["genres"].iloc[i] == want
    assert len(discovery.item_details(cat, "artist", [])) == 0


def test_track_card(demo_rec):
    cat = demo_rec.catalog
    row = int(np.argmax(cat.tracks.popularity))
    card = discovery.track_card(cat, row)
    assert card["id"] == cat.tracks.ids[row] and card["artists"]
    first = card["artists"][0]
    assert cat.artists.ids[first["row"]] == first["id"]
    artist_genres = set(discovery.artist_card(demo_rec, first["row"])["genres"])
    assert artist_genres <= set(card["genres"])
    with pytest.raises(IndexError):
        discovery.track_card(cat, len(cat.tracks))
