"""The Recommender facade: neighbours with the long-tail options, explanations, saving, and bad input."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from recsys.catalog import CatalogWriter
from recsys.errors import AmbiguousNameError, CatalogError, ModelFileError, RecsysError, UnknownIdError
from recsys.recommend import Recommender
from recsys.sources.annas_archive import ingest


@pytest.fixture(scope="module")
def rec(small_demo):
    return Recommender.build(small_demo[1])


@pytest.fixture(scope="module")
def seed(rec):
    """A popular artist with genres, so every option has room to act."""
    pop = rec.popularity
    return int(np.argsort(-pop)[5])


def test_neighbours_frame(rec, seed):
    df = rec.neighbours(seed, 10)
    assert list(df["rank"]) == list(range(1, 11))
    assert (np.diff(df.score) <= 1e-9).all()
    assert seed not in set(df.row)
    assert df.explanation.str.len().gt(0).all()
    assert {"id", "name", "popularity", "followers", "score", "model_score"} <= set(df.columns)


def test_seed_by_id_uri_url_and_name(rec, seed):
    sid = rec.index.ids[seed]
    for q in (sid, f"spotify:artist:{sid}", f"https://open.spotify.com/artist/{sid}?si=x"):
        assert rec.neighbours(q, 5).row.tolist() == rec.neighbours(seed, 5).row.tolist()


def test_dial_moves_towards_the_tail(rec, seed):
    main = rec.neighbours(seed, 10, dial=0.0)
    deep = rec.neighbours(seed, 10, dial=1.0)
    assert deep.popularity.mean() < main.popularity.mean()
    assert deep.popularity.iloc[0] <= main.popularity.iloc[0]


def test_band_exclude_and_gems(rec, seed):
    df = rec.neighbours(seed, 10, min_popularity=5, max_popularity=30)
    assert df.popularity.between(5, 30).all() and len(df) > 0
    first = rec.neighbours(seed, 3)
    hidden = rec.neighbours(seed, 10, exclude=[first.id.iloc[0]])
    assert first.id.iloc[0] not in set(hidden.id)
    gems = rec.neighbours(seed, 10, gems=True)
    assert (gems.popularity <= 0.5 * rec.popularity[seed]).all()


def test_diversity_changes_the_list(rec, seed):
    a = rec.neighbours(seed, 10)
    b = rec.neighbours(seed, 10, diversity=0.7)
    assert set(a.row) != set(b.row) or a.row.tolist() != b.row.tolist()


def test_blend_several_seeds(rec, seed):
    other = int(rec.neighbours(seed, 1).row.iloc[0])
    df = rec.neighbours([seed, other], 10, seed_weights=[2.0, 1.0])
    assert not {seed, other} & set(df.row) and len(df) == 10
    with pytest.raises(ValueError, match="seed_weights must have one weight per seed"):
        rec.neighbours([seed, other], 10, seed_weights=[1.0])


@pytest.mark.parametrize("kwargs,words", [
    ({"dial": 1.5}, "dial must be between 0 and 1"),
    ({"diversity": -0.1}, "diversity must be between 0 and 1"),
    ({"min_popularity": 50, "max_popularity": 10}, "must not exceed max_popularity"),
    ({"n": 0}, "n must be a positive integer"),
])
def test_conflicting_or_bad_options(rec, seed, kwargs, words):
    with pytest.raises(ValueError, match=words):
        rec.neighbours(seed, **({"n": 10} | kwargs))


def test_unknown_and_ambiguous_seeds(rec):
    with pytest.raises(UnknownIdError, match="no artist named"):
        rec.neighbours("No Such Artist Anywhere", 5)
    names = rec.index.names
    _, inverse, counts = np.unique(np.array([str(n).casefold() for n in names]), return_inverse=True,
                                   return_counts=True)
    dup = int(np.flatnonzero(counts[inverse] > 1)[0])
    with pytest.raises(AmbiguousNameError) as info:
        rec.neighbours(str(names[dup]), 5)
    assert len(info.value.candidates) >= 2
    with pytest.raises(IndexError, match="outside"):
        rec.neighbours(10**9, 5)


def test_save_load_round_trip_and_guards(rec, seed, tmp_path, tiny_dump):
    rec.save(tmp_path / "m")
    again = Recommender.load(tmp_path / "m")
    a, b = rec.neighbours(seed, 10, dial=0.5), again.neighbours(seed, 10, dial=0.5)
    assert a.row.tolist() == b.row.tolist() and a.explanation.tolist() == b.explanation.tolist()
    other = ingest(tiny_dump, tmp_path / "other", progress=False)
    with pytest.raises(CatalogError, match="another catalog"):
        Recommender.load(tmp_path / "m", other)
    f = tmp_path / "m" / "features.npz"
    data = bytearray(f.read_bytes())
    data[len(data) // 2] ^= 0xFF
    f.write_bytes(bytes(data))
    with pytest.raises(ModelFileError, match="checksum"):
        Recommender.load(tmp_path / "m")
    info = json.loads((tmp_path / "m" / "recommender.json").read_text())
    info["format_version"] = 7
    (tmp_path / "m" / "recommender.json").write_text(json.dumps(info))
    with pytest.raises(ModelFileError, match="format version 7"):
        Recommender.load(tmp_path / "m")


def test_unknown_model_and_params(small_demo):
    with pytest.raises(ValueError, match="model must be one of"):
        Recommender.build(small_demo[1], model="magic")
    with pytest.raises(ValueError, match="has no parameter"):
        Recommender.build(small_demo[1], model="exact_cosine", params={"colour": "red"})


def _artists_only_catalog(path, n=0, genres=True):
    with CatalogWriter(path, source={"kind": "test"}) as w:
        if n:
            w.write("artists", {"rowid": list(range(1, n + 1)), "id": [f"{i:022d}" for i in range(1, n + 1)],
                                "name": [f"A{i}" for i in range(1, n + 1)], "followers_total": [10] * n,
                                "popularity": [i % 50 for i in range(n)]})
            if genres:
                w.write("artist_genres", {"artist_rowid": list(range(1, n + 1)),
                                          "genre": ["drone" if i % 2 else "punk" for i in range(n)]})
    from recsys.catalog import Catalog

    return Catalog.open(path)


def test_empty_catalog(tmp_path):
    with pytest.raises(RecsysError, match="has 0 artists"):
        Recommender.build(_artists_only_catalog(tmp_path / "c"))


def test_catalog_without_tracks_gives_artist_neighbours(tmp_path):
    rec = Recommender.build(_artists_only_catalog(tmp_path / "c", 20))
    df = rec.neighbours(0, 5)
    assert len(df) == 5 and df.explanation.str.contains("shares genres: punk").all()
    with pytest.raises(RecsysError, match="has 0 tracks"):
        Recommender.build(rec.catalog, kind="track")


def test_catalog_without_genres(tmp_path, tiny_dump):
    from conftest import run_sql

    run_sql(tiny_dump / "spotify_clean.sqlite3", "DELETE FROM artist_genres")
    cat = ingest(tiny_dump, tmp_path / "cat", progress=False)
    rec = Recommender.build(cat)
    df = rec.neighbours("Orvo Drone", 3)
    assert len(df) >= 1  # reached through credits, labels, compilations, playlists, era...
    assert df.id.iloc[0] == "1AAAAAAAAAAAAAAAAAAAAA"  # Velmora: they share a track


def test_track_neighbours(small_demo):
    rec = Recommender.build(small_demo[1], kind="track")
    t = int(np.argsort(-rec.popularity)[0])
    df = rec.neighbours(t, 10)
    assert len(df) == 10 and t not in set(df.row)
    assert rec.neighbours(rec.index.ids[t], 10).row.tolist() == df.row.tolist()


def test_neighbour_table_batches_match_single_queries(rec):
    frames = list(rec.neighbour_table(5, rows=np.arange(40), explain=True, batch=16))
    assert len(frames) == 3
    table = __import__("pandas").concat(frames)
    for q in (0, 17, 39):
        single = rec.neighbours(q, 5, explain=False)
        assert table[table.query_row == q].row.tolist() == single.row.tolist()


@pytest.mark.parametrize("model", sorted(__import__("recsys.models", fromlist=["MODEL_REGISTRY"]).MODEL_REGISTRY))
def test_every_model_builds_on_the_default_feature_space(small_demo, model):
    # the default space holds z-scored (negative) audio columns and dense profile columns: every model must cope
    rec = Recommender.build(small_demo[1], model=model)
    df = rec.neighbours(int(np.argsort(-rec.popularity)[3]), 10)
    assert len(df) == 10 and df.explanation.str.len().gt(0).all()


def test_era_and_market_filters(small_demo):
    from recsys.facets import item_facets

    rec = Recommender.build(small_demo[1])
    f = item_facets(small_demo[1], "artist")
    seed = int(np.argmax(rec.popularity))
    df = rec.neighbours(seed, 10, era=(1995, 2009), market="SE")
    assert len(df) == 10
    assert f.allowed(era=(1995, 2009), market="SE")[df["row"]].all()
    unfiltered = rec.neighbours(seed, 10)
    assert not f.allowed(era=(1995, 2009), market="SE")[unfiltered["row"]].all()  # the filter did something


def test_with_model_reuses_the_space(small_demo):
    rec = Recommender.build(small_demo[1])
    other = rec.with_model("itemknn", {"K": 50})
    assert other.space is rec.space and other.model.name == "itemknn" and other.model.get_params()["K"] == 50
    assert rec.model.name == "exact_cosine"  # the original is untouched
    with pytest.raises(ValueError, match="no parameter"):
        rec.with_model("itemknn", {"k_neighbours": 5})


def test_track_recommender_equals_a_track_build(small_demo):
    rec = Recommender.build(small_demo[1])
    tracks = rec.track_recommender()
    direct = Recommender.build(small_demo[1], kind="track")
    assert tracks.kind == "track" and (tracks.space.X != direct.space.X).nnz == 0
    q = int(np.argmax(tracks.popularity))
    assert tracks.neighbours(q, 10)["id"].tolist() == direct.neighbours(q, 10)["id"].tolist()
    with pytest.raises(ValueError, match="artist recommender"):
        tracks.track_recommender()


def test_loaded_hnsw_recommender_holds_its_rows_once(small_demo, tmp_path):
    rec = Recommender.build(small_demo[1], model="hnsw", params={"n_components": 16})
    assert np.shares_memory(rec.model.exact_.data, rec.space.X.data)  # fitted: the model reads the space's X
    rec.save(tmp_path / "r")
    loaded = Recommender.load(tmp_path / "r")
    assert np.shares_memory(loaded.model.exact_.data, loaded.space.X.data)  # loaded: both files, one copy kept
    seeds = [0, 5, 17]
    np.testing.assert_array_equal(loaded.model.similar_items(seeds, 10)[0], rec.model.similar_items(seeds, 10)[0])
    # rows that differ are not adopted
    other = loaded.space.X.copy()
    other.data[0] += 1.0
    assert not loaded.model.share_rows(other) and not np.shares_memory(loaded.model.exact_.data, other.data)


def test_fitting_on_rows_mapped_from_a_scratch_file(small_demo, tmp_path, monkeypatch):
    import tempfile

    import recsys.recommend as recommend
    from recsys.mapped import is_mapped

    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))  # what TMPDIR sets
    params = {"n_components": 16}
    in_memory = Recommender.build(small_demo[1], model="hnsw", params=params, map_rows=False)
    mapped = Recommender.build(small_demo[1], model="hnsw", params=params, map_rows=True)
    assert not is_mapped(in_memory.space.X.data)
    assert is_mapped(mapped.space.X.data) and np.shares_memory(mapped.model.exact_.data, mapped.space.X.data)
    assert list(scratch.iterdir()) == []  # the scratch file was unlinked once mapped
    assert (mapped.space.X != in_memory.space.X).nnz == 0
    seeds = [0, 5, 17, 400]
    pd.testing.assert_frame_equal(mapped.neighbours(seeds, 10), in_memory.neighbours(seeds, 10))
    assert mapped.space.transformers == {}  # the fitted families are not held past the build
    # saved from the mapped rows, loaded mapped (as a big model would be): the same answers
    mapped.save(tmp_path / "r")
    monkeypatch.setattr(recommend, "_MAP_ROWS_BYTES", 0)
    loaded = Recommender.load(tmp_path / "r")
    assert is_mapped(loaded.space.X.data) and is_mapped(loaded.model.exact_.data)
    pd.testing.assert_frame_equal(loaded.neighbours(seeds, 10), in_memory.neighbours(seeds, 10))


def test_a_scratch_directory_that_cannot_be_written_is_a_clear_error(small_demo, tmp_path, monkeypatch):
    import tempfile

    missing = tmp_path / "gone"
    monkeypatch.setattr(tempfile, "tempdir", str(missing))
    with pytest.raises(RecsysError, match="scratch directory") as e:
        Recommender.build(small_demo[1], model="exact_cosine", map_rows=True)
    assert str(missing) in str(e.value) and "TMPDIR" in e.value.hint
    assert not missing.exists()
