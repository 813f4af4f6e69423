"""FeatureSpace: registry, weights, block normalisation, track vectors, empty tables, and demo quality."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from features_helpers import demo_communities, make_catalog

from recsys.features import (
    DEFAULT_TRACK_WEIGHTS,
    DEFAULT_WEIGHTS,
    FAMILIES,
    build_artist_features,
    build_artist_space,
    build_track_space,
)
from recsys.features.diagnostics import linked_artists, neighbour_agreement, sample_queries
from recsys.sources.annas_archive import ingest
from recsys.strings import StringColumn

PREFIXES = {"genres": {"genre"}, "popularity": {"popularity", "followers"}, "era": {"era"}, "labels": {"label"},
            "markets": {"market"}, "collaborations": {"collaborator"}, "compilations": {"compilation"},
            "audio": {"audio"}, "playlists": {"playlist"}, "inferred_genres": {"inferred_genre"}}
ALL_ON = {f: 1.0 for f in FAMILIES}


@pytest.fixture
def tiny(tiny_dump, tmp_path):
    return ingest(tiny_dump, tmp_path / "cat", progress=False)


def test_registry():
    assert list(FAMILIES) == ["genres", "popularity", "era", "labels", "markets", "collaborations", "compilations",
                              "audio", "playlists", "inferred_genres"]
    assert set(DEFAULT_WEIGHTS) == set(FAMILIES) and all(v >= 0 for v in DEFAULT_WEIGHTS.values())


def test_feature_names_in_arrow_and_the_columns_table(tiny):
    """Names are held as Arrow text (millions of columns at the full dump) and saved as one family and one name
    per column, made without a Python string per column."""
    s = build_artist_space(tiny, weights=ALL_ON)
    assert isinstance(s.feature_names, StringColumn) and len(s.feature_names) == s.X.shape[1]
    t = s.columns_table()
    assert t.column_names == ["family", "name"] and t.num_rows == s.X.shape[1]
    assert t.column("name").to_pylist() == list(s.feature_names)
    fams = t.column("family").to_pylist()
    for fam, sl in s.blocks:
        assert fams[sl] == [fam] * (sl.stop - sl.start)
    # the token families' Arrow names are their scikit-learn names
    for fam in ("labels", "collaborations", "playlists"):
        tr = s.transformers[fam]
        assert tr.feature_names_arrow().to_pylist() == list(tr.get_feature_names_out())


def test_blocks_names_and_norms(tiny):
    w = {**ALL_ON, "genres": 4.0, "audio": 0.25}
    s = build_artist_space(tiny, weights=w)
    assert s.kind == "artist" and s.X.shape == (6, len(s.feature_names)) and s.X.dtype == np.float32
    assert [f for f, _ in s.blocks] == list(FAMILIES)
    for fam, sl in s.blocks:
        names = s.feature_names[sl]
        assert {n.split("=", 1)[0] for n in names} <= PREFIXES[fam], fam
        # each block row is L2-normalised then scaled by sqrt(weight) (or empty)
        norms = np.sqrt(np.asarray(s.X[:, sl].multiply(s.X[:, sl]).sum(axis=1)).ravel())
        ok = np.isclose(norms, np.sqrt(w[fam]), rtol=1e-5) | (norms == 0)
        assert ok.all(), (fam, norms)
    # tiny dump: Velmora (row 0) and Kastrin (row 1) share the label Nordic Frost Records
    lab = s.block("labels").toarray()
    assert lab[0] @ lab[1] > 0
    assert set(s.transformers) == set(FAMILIES)


def test_weights_validation_and_zero_skips(tiny):
    with pytest.raises(ValueError, match=r"unknown family \['colour'\]; known: \['genres', 'popularity'"):
        build_artist_space(tiny, weights={"colour": 1.0})
    with pytest.raises(ValueError, match=r"weights\['labels'\] must be a finite number >= 0"):
        build_artist_space(tiny, weights={"labels": -0.5})
    with pytest.raises(ValueError, match="at least one family"):
        build_artist_space(tiny, weights={f: 0 for f in FAMILIES})
    with pytest.raises(TypeError, match="mapping"):
        build_artist_space(tiny, weights=[("genres", 1.0)])
    s = build_artist_space(tiny, weights={"playlists": 0.0, "inferred_genres": 0.0})
    assert "playlists" not in [f for f, _ in s.blocks] and "playlists" not in s.transformers
    assert not any(str(n).startswith("playlist=") for n in s.feature_names)
    assert s.weights["playlists"] == 0.0 and s.weights["genres"] == DEFAULT_WEIGHTS["genres"]


def test_family_params(tiny):
    s = build_artist_space(tiny, weights={"genres": 1.0}, family_params={"labels": {"min_df": 1}})
    assert s.transformers["labels"].min_df == 1
    with pytest.raises(ValueError, match="family_params: unknown family"):
        build_artist_space(tiny, family_params={"lables": {}})


def test_skeleton_wrapper_still_works(tiny):
    X, slices, names = build_artist_features(tiny)
    assert [f for f, _ in slices] == ["genres", "popularity"] and X.shape == (6, len(names))


def test_track_space(tiny):
    s = build_artist_space(tiny)
    t = build_track_space(tiny, s, artist_features=None)
    assert t.kind == "track" and t.X.shape[0] == 8
    assert [f for f, _ in t.blocks] == ["era", "markets", "audio", "playlists", "artists"]
    art = t.block("artists").toarray()
    assert all(str(n).startswith("artist_") for n in t.feature_names[dict(t.blocks)["artists"]])
    # track 8 ("Murk") is credited to artists 6 and 1 (rows 5 and 0): its block points along their mean
    mean = (s.X[5] + s.X[0]).toarray().ravel() / 2
    cos = art[7] @ mean / (np.linalg.norm(art[7]) * np.linalg.norm(mean))
    assert cos == pytest.approx(1.0, abs=1e-5)
    # a track with one artist: exactly that artist's direction
    one = s.X[3].toarray().ravel()
    assert art[4] @ one / (np.linalg.norm(art[4]) * np.linalg.norm(one)) == pytest.approx(1.0, abs=1e-5)
    pruned = build_track_space(tiny, s, artist_features=2)
    assert np.diff(pruned.block("artists").tocsr().indptr).max() <= 4  # <= 2 features per credited artist
    with pytest.raises(ValueError, match="unknown family"):
        build_track_space(tiny, s, weights={"genres": 1.0})
    with pytest.raises(ValueError, match="artist FeatureSpace"):
        build_track_space(tiny, t)
    assert set(DEFAULT_TRACK_WEIGHTS) == {"era", "markets", "audio", "playlists", "artists"}


@pytest.mark.parametrize("missing", ["everything", "tracks", "genres", "playlists"])
def test_catalogs_with_empty_tables(tmp_path, missing):
    kw = dict(artists=4, albums=[{"label": "L", "year": 2001}, {"label": "L", "year": 2003}],
              tracks=[(0, [0, 1]), (1, [2])], genres=[(0, "jazz"), (2, "jazz")], playlists=[[0, 1]],
              artist_albums=[(0, 0, False, False), (2, 1, False, False)])
    if missing == "everything":
        kw = {"artists": 4}
    elif missing == "tracks":
        kw.pop("tracks")
        kw.pop("playlists")
    else:
        kw.pop(missing)
    cat = make_catalog(tmp_path / missing, **kw)
    s = build_artist_space(cat, weights=ALL_ON)
    assert s.X.shape[0] == 4 and len(s.feature_names) == s.X.shape[1]
    width = {f: sl.stop - sl.start for f, sl in s.blocks}
    if missing in ("genres", "everything"):
        assert width["genres"] == 0 and width["inferred_genres"] == 0
    if missing in ("tracks", "playlists", "everything"):
        assert width["playlists"] == 0
    if missing in ("tracks", "everything"):
        assert width["collaborations"] == 0 and s.block("audio").nnz == 0
    if missing != "everything":
        assert width["labels"] == 1  # "L" is on the own albums of artists 0 and 2
    t = build_track_space(cat, s)
    assert t.X.shape == (cat.num_rows("tracks"), len(t.feature_names))


def test_demo_communities_recovered_far_better_than_genres_alone(small_demo):
    dump, catalog = small_demo
    demo_truth = demo_communities(dump, catalog)
    q = sample_queries(linked_artists(catalog), 500, seed=0)
    sizes = np.bincount(demo_truth)
    chance = float(((sizes[demo_truth[q]] - 1) / (len(demo_truth) - 1)).mean())
    genres_only = build_artist_space(catalog, weights={**{f: 0.0 for f in FAMILIES}, "genres": 1.0})
    full = build_artist_space(catalog)
    g = neighbour_agreement(genres_only.X, demo_truth, q)
    a = neighbour_agreement(full.X, demo_truth, q)
    # ~90% of artists have no genres, so genre vectors place few of them; all families place nearly all
    assert a > 0.9 and a > 5 * chance, (a, chance)
    assert a > g + 0.5, (a, g)
    assert isinstance(full.X, sp.csr_matrix) and full.X.shape[0] == catalog.num_rows("artists")


@pytest.mark.parametrize("family", list(FAMILIES))
def test_every_family_follows_the_transformer_contract(tiny, family):
    from sklearn.base import clone

    tr = FAMILIES[family]()
    assert clone(tr).get_params() == tr.get_params()  # the constructor only stores its parameters
    assert tr.fit(tiny) is tr
    X = tr.transform(tiny)
    names = tr.get_feature_names_out()
    assert isinstance(X, sp.csr_matrix) and X.dtype == np.float32 and X.shape == (6, len(names))
    assert names.dtype == object and all("=" in n for n in names)
    assert np.isfinite(X.data).all()
    with pytest.raises(TypeError):
        FAMILIES[family](1)  # keyword-only
