"""recsys.genre_map: the genre map, the seed's neighbourhood on it, and a genre's long-tail artists."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import build_tiny_dump, run_sql

from recsys.catalog import CatalogWriter
from recsys.errors import RecsysError, UnknownIdError
from recsys.genre_map import INFERRED_TOP, genre_map, genre_names, genre_tail_artists, neighbourhood_on_map
from recsys.longtail import head_threshold
from recsys.recommend import Recommender
from recsys.sources.annas_archive import ingest


@pytest.fixture(scope="module")
def rec(small_demo):
    return Recommender.build(small_demo[1])


@pytest.fixture(scope="module")
def gmap(rec):
    return genre_map(rec, seed=0)


@pytest.fixture(scope="module")
def artist_genres(rec):
    """(artist row, genre) pairs straight from the catalog table, deduplicated."""
    cat = rec.catalog
    rowid = cat.column("artists", "rowid")
    t = cat.table("artist_genres", ["artist_rowid", "genre"]).to_pandas()
    t["row"] = pd.Series(np.arange(len(rowid)), index=rowid).reindex(t.artist_rowid).to_numpy()
    return t.dropna(subset=["row"]).astype({"row": np.int64}).drop_duplicates(["row", "genre"])


def _family_of_genre(dump) -> dict[str, str]:
    """Genre -> hidden family, from the generator's ground truth (each community's core genres)."""
    gt = pd.read_parquet(dump / "ground_truth.parquet", columns=["family", "core_genres"]).drop_duplicates()
    out: dict[str, set] = {}
    for fam, core in gt.itertuples(index=False):
        for g in core.split("|"):
            out.setdefault(g, set()).add(fam)
    assert all(len(f) == 1 for f in out.values())  # every genre name belongs to one family
    return {g: f.pop() for g, f in out.items()}


def _same_vs_other_family(xy: np.ndarray, fam: np.ndarray) -> float:
    """Mean map distance of same-family genre pairs / mean distance of different-family pairs."""
    d = np.sqrt(((xy[:, None] - xy[None]) ** 2).sum(-1))
    same = (fam[:, None] == fam[None]) & ~np.eye(len(fam), dtype=bool)
    return float(d[same].mean() / d[fam[:, None] != fam[None]].mean())


# --- the map ----------------------------------------------------------------------------------------------------

def test_every_genre_once_with_finite_position(rec, gmap, artist_genres):
    assert list(gmap.columns) == ["genre", "x", "y", "artists", "popularity", "tail_share", "cluster",
                                  "cluster_name"]
    assert gmap.genre.is_unique and set(gmap.genre) == set(artist_genres.genre)
    assert np.isfinite(gmap[["x", "y"]].to_numpy()).all()
    assert gmap[["x", "y"]].abs().to_numpy().max() <= 1.0 + 1e-9
    assert (np.diff(gmap.artists) <= 0).all()  # most-carried first
    # counts, mean popularity and tail share against the catalog table
    pop = rec.popularity
    thr = head_threshold(pop, 0.2)
    g = artist_genres.assign(pop=pop[artist_genres.row]).groupby("genre")
    want = pd.DataFrame({"artists": g.size(), "popularity": g["pop"].mean(),
                         "tail_share": g["pop"].agg(lambda p: float((p < thr).mean()))})
    got = gmap.set_index("genre").loc[want.index]
    assert (got.artists == want.artists).all()
    np.testing.assert_allclose(got.popularity, want.popularity, atol=0.01)
    np.testing.assert_allclose(got.tail_share, want.tail_share, atol=1e-4)
    assert genre_names(rec) == gmap.genre.tolist()
    # each cluster is named after its most-carried genre
    for _, part in gmap.groupby("cluster"):
        assert part.cluster_name.nunique() == 1 and part.cluster_name.iloc[0] == part.genre.iloc[0]


def test_map_is_deterministic_for_a_seed(small_demo, gmap):
    fresh = Recommender.build(small_demo[1])  # a new recommender: nothing memoised
    again = genre_map(fresh, seed=0)
    pd.testing.assert_frame_equal(again, gmap)


def test_same_family_genres_lie_closer(small_demo, gmap):
    family = _family_of_genre(small_demo[0])
    sub = gmap[gmap.genre.isin(family)]
    assert len(sub) >= 20
    fam = sub.genre.map(family).to_numpy()
    xy = sub[["x", "y"]].to_numpy()
    ratio = _same_vs_other_family(xy, fam)
    assert ratio < 0.5, ratio
    # the statistic is not trivially small: random positions give about 1
    shuffled = np.mean([_same_vs_other_family(np.random.default_rng(s).permutation(xy), fam) for s in range(5)])
    assert shuffled > 0.8, shuffled


def test_max_genres_keeps_the_most_carried(rec, gmap):
    top = genre_map(rec, max_genres=5)
    assert top.genre.tolist() == gmap.genre.head(5).tolist()
    assert np.isfinite(top[["x", "y"]].to_numpy()).all()
    with pytest.raises(ValueError, match="max_genres"):
        genre_map(rec, max_genres=0)


# --- small, empty and wrong inputs ------------------------------------------------------------------------------

def _genre_catalog(path, genres: list[str]):
    n = 12
    with CatalogWriter(path, source={"kind": "test"}) as w:
        w.write("artists", {"rowid": list(range(1, n + 1)), "id": [f"{i:022d}" for i in range(1, n + 1)],
                            "name": [f"A{i}" for i in range(1, n + 1)], "followers_total": [10] * n,
                            "popularity": [i * 7 for i in range(n)]})
        if genres:
            w.write("artist_genres", {"artist_rowid": list(range(1, n + 1)),
                                      "genre": [genres[i % len(genres)] for i in range(n)]})
    from recsys.catalog import Catalog

    return Catalog.open(path)


@pytest.mark.parametrize("genres", [["drone"], ["drone", "punk"], ["drone", "punk", "jazz"]])
def test_one_to_three_genres_get_a_small_layout(tmp_path, genres):
    df = genre_map(Recommender.build(_genre_catalog(tmp_path / "c", genres)))
    assert sorted(df.genre) == sorted(genres) and np.isfinite(df[["x", "y"]].to_numpy()).all()
    assert len({(round(x, 6), round(y, 6)) for x, y in zip(df.x, df.y)}) == len(genres)  # no two on one spot


def test_tiny_dump_map_places_related_genres_together(tmp_path, tiny_dump):
    rec = Recommender.build(ingest(tiny_dump, tmp_path / "cat", progress=False))
    df = genre_map(rec).set_index("genre")
    assert set(df.index) == {"dark ambient", "drone", "punk rock", "garage punk"}

    def dist(a, b):
        return float(np.hypot(*(df.loc[a, ["x", "y"]].to_numpy() - df.loc[b, ["x", "y"]].to_numpy())))

    # Velmora (dark ambient + drone) ties those two; artist 5 (punk rock + garage punk) ties the punk pair
    assert dist("dark ambient", "drone") < dist("dark ambient", "punk rock")
    assert dist("punk rock", "garage punk") < dist("punk rock", "drone")


def test_catalog_without_genres_is_a_clear_error(tmp_path, tiny_dump):
    run_sql(tiny_dump / "spotify_clean.sqlite3", "DELETE FROM artist_genres")
    rec = Recommender.build(ingest(tiny_dump, tmp_path / "cat", progress=False))
    for call in (lambda: genre_map(rec), lambda: genre_tail_artists(rec, "drone")):
        with pytest.raises(RecsysError, match="no artist genres") as err:
            call()
        assert err.value.hint and "artist genres" in err.value.hint


def test_track_recommender_is_refused(tmp_path):
    cat = ingest(build_tiny_dump(tmp_path / "dump"), tmp_path / "cat", progress=False)
    rec = Recommender.build(cat, kind="track")
    for call in (lambda: genre_map(rec), lambda: genre_tail_artists(rec, "drone"),
                 lambda: neighbourhood_on_map(rec, pd.DataFrame(columns=["genre", "x", "y"]), [0])):
        with pytest.raises(ValueError, match="artist recommender"):
            call()


# --- a genre's long-tail artists --------------------------------------------------------------------------------

def _top_inferred(rec, row: int) -> list[str]:
    """Names of the artist's INFERRED_TOP strongest inferred genres (ties included), read off its feature row."""
    x = rec.space.X[row].tocsr()
    names = rec.space.feature_names
    vals = {str(names[c])[len("inferred_genre="):]: v for c, v in zip(x.indices, x.data)
            if str(names[c]).startswith("inferred_genre=") and v > 0}
    ranked = sorted(vals.values(), reverse=True)
    cut = ranked[INFERRED_TOP - 1] if len(ranked) >= INFERRED_TOP else 0.0
    return [g for g, v in vals.items() if v >= cut]


@pytest.mark.parametrize("pick", [0, 7])
def test_tail_artists_are_tail_members_ranked_by_score(rec, gmap, artist_genres, pick):
    genre = gmap.genre.iloc[pick]
    df = genre_tail_artists(rec, genre, n=30)
    assert list(df.columns) == ["rank", "row", "id", "name", "popularity", "followers", "score", "inferred"]
    assert len(df) > 0 and df["rank"].tolist() == list(range(1, len(df) + 1))
    assert (df.popularity < head_threshold(rec.popularity, 0.2)).all()
    assert (np.diff(df.score) <= 1e-9).all() and df.score.between(-1, 1).all()
    members = set(artist_genres.row[artist_genres.genre == genre])
    with_genres = set(artist_genres.row)
    for row, inferred in zip(df.row, df.inferred):
        if inferred:
            assert row not in with_genres and genre in _top_inferred(rec, int(row))
        else:
            assert row in members
    assert df.id.tolist() == [rec.index.ids[r] for r in df.row]
    # catalog-only list: the same non-inferred artists, in the same order
    plain = genre_tail_artists(rec, genre, n=30, include_inferred=False)
    assert not plain.inferred.any()
    assert plain.row.tolist()[: (~df.inferred).sum()] == df.row[~df.inferred].tolist()


def test_tail_score_is_cosine_to_the_genre_centroid(rec, gmap, artist_genres):
    genre = gmap.genre.iloc[3]
    df = genre_tail_artists(rec, genre, n=5)
    X = rec.space.X
    own = [i for i, f in enumerate(rec.space.feature_names) if str(f) in (f"genre={genre}", f"inferred_genre={genre}")]
    members = artist_genres.row[artist_genres.genre == genre].to_numpy()
    centroid = np.asarray(X[members].sum(axis=0)).ravel()
    centroid[own] = 0.0
    for row, score in zip(df.row, df.score):
        x = X[int(row)].toarray().ravel()
        x[own] = 0.0
        assert score == pytest.approx(x @ centroid / (np.linalg.norm(x) * np.linalg.norm(centroid)), abs=1e-3)


def test_genre_names_match_case_insensitively(rec, gmap):
    genre = gmap.genre.iloc[0]
    a = genre_tail_artists(rec, f"  {genre.upper()} ", n=5)
    pd.testing.assert_frame_equal(a, genre_tail_artists(rec, genre, n=5))


def test_unknown_genre_lists_suggestions(rec, gmap):
    genre = gmap.genre.iloc[0]
    typo = genre[:-1] + ("x" if genre[-1] != "x" else "y")
    with pytest.raises(UnknownIdError) as err:
        genre_tail_artists(rec, typo)
    assert genre in err.value.suggestions and repr(genre) in str(err.value)
    assert isinstance(err.value, KeyError)
    with pytest.raises(UnknownIdError, match="pick a genre from the map"):
        genre_tail_artists(rec, "qwqwqwqw")
    with pytest.raises(ValueError, match="n must be"):
        genre_tail_artists(rec, genre, n=0)


# --- the seed's neighbourhood -----------------------------------------------------------------------------------

def test_neighbourhood_on_map(rec, gmap, artist_genres):
    seed = int(artist_genres.row.value_counts().index[0])  # an artist with several genres
    rows = [seed] + rec.neighbours(seed, 15, explain=False).row.tolist()
    df = neighbourhood_on_map(rec, gmap, rows)
    assert list(df.columns) == ["genre", "x", "y", "count", "inferred", "role"]
    seed_genres = set(artist_genres.genre[artist_genres.row == seed])
    assert set(df.genre[df.role == "seed"]) == seed_genres
    assert df.role.tolist() == sorted(df.role.tolist(), key=lambda r: r != "seed")  # seed genres first
    # catalog counts against the table (inferred genres come on top, only for artists without genres)
    listed = artist_genres[artist_genres.row.isin(rows)].groupby("genre").size()
    got = df.set_index("genre")
    assert ((got["count"] - got["inferred"]).reindex(listed.index) == listed).all()
    assert (got["count"] - got["inferred"]).sum() == listed.sum()
    pos = gmap.set_index("genre").loc[df.genre, ["x", "y"]].to_numpy()
    np.testing.assert_array_equal(df[["x", "y"]].to_numpy(), pos)


def test_suggestions_without_rapidfuzz(rec, gmap, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "rapidfuzz", None)  # as if the app extra were not installed
    genre = gmap.genre.iloc[0]
    with pytest.raises(UnknownIdError) as err:
        genre_tail_artists(rec, genre[:-1])
    assert genre in err.value.suggestions
