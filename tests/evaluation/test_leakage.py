"""No information from the held-out part reaches the features.

* playlists as truth: the playlist tables are hidden, the ``playlists`` family is forced off (and refused when a
  config asks for it), and TidyTuesday's ``playlist_genre`` / ``playlist_subgenre`` reach no table and no feature;
* held-out collaborations: the hidden co-credit links are gone from the collaboration features;
* held-out genres: the hidden artists have no genre features;
* popularity derived from playlists counts the training playlists only.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from recsys.catalog import Catalog
from recsys.evaluation.config import ConfigError, parse_config
from recsys.evaluation.runner import _popularity, _query_sets, build_space, feature_weights, training_view
from recsys.evaluation.splits import CatalogView
from recsys.evaluation.truths import collaboration_truth, genre_truth, mpd_truth, playlist_truth
from recsys.features._links import credits
from recsys.features.collaborations import collab_incidence
from recsys.features.space import DEFAULT_WEIGHTS
from recsys.sources.csv_datasets import ingest_tidytuesday

LEAK = "zzleakgenre"

TT_HEADER = ["track_id", "track_name", "track_artist", "track_popularity", "track_album_id", "track_album_name",
             "track_album_release_date", "playlist_name", "playlist_id", "playlist_genre", "playlist_subgenre",
             "danceability", "energy", "key", "loudness", "mode", "speechiness", "acousticness",
             "instrumentalness", "liveness", "valence", "tempo", "duration_ms"]


def _tt_rows(shuffle_playlists: bool) -> list[list]:
    rows = []
    artists = [f"Artist {i}" for i in range(8)]
    for t in range(24):
        a = artists[t % 8]
        pl = (t % 8) // 3 if not shuffle_playlists else (t % 8) % 3  # artist groups differ between the two
        rows.append([f"trk{t:019d}", f"Song {t}", a, 10 + 3 * t, f"alb{t // 2:019d}", f"Album {t // 2}",
                     f"{2000 + t % 5}-01-0{1 + t % 9}", f"List {pl}", f"pl{pl}", f"{LEAK}{pl}", f"{LEAK}sub{pl}",
                     0.1 + 0.03 * (t % 7), 0.5, t % 12, -7.5, t % 2, 0.05, 0.2, 0.0, 0.1, 0.4, 100 + t, 200000])
    return rows


def _write_tt(path: Path, rows: list[list]) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(TT_HEADER)
        w.writerows(rows)
    return path


@pytest.fixture(scope="module")
def tt_pair(tmp_path_factory):
    """The same songs ingested twice, with different playlist memberships (and genre labels)."""
    root = tmp_path_factory.mktemp("tt")
    genres = root / "data_w_genres.csv"
    with open(genres, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["artists", "popularity", "genres"])
        for i in range(8):
            w.writerow([f"Artist {i}", 30 + i, str(["rock", "indie rock"] if i % 2 else ["rap"])])
    cats = []
    for shuffled in (False, True):
        src = _write_tt(root / f"songs{int(shuffled)}.csv", _tt_rows(shuffled))
        cats.append(ingest_tidytuesday(src, root / f"cat{int(shuffled)}", artist_genres_csv=genres, progress=False))
    return cats


def _config(catalog: Catalog, tmp_path: Path, weights: dict | None = None):
    data = {"name": "t", "source": {"kind": "catalog", "path": str(catalog.path)},
            "evaluations": [{"truth": "playlists"}], "models": [{"model": "exact_cosine"}]}
    if weights:
        data["features"] = {"weights": weights}
    return parse_config(data, tmp_path / "exp.toml")


def test_playlist_truth_hides_playlists_from_every_feature(tt_pair, tmp_path):
    cat, shuffled = tt_pair
    truth = playlist_truth(cat)
    assert "playlists" in truth.excluded_families
    assert truth.drop == {"playlists": True, "playlist_tracks": True}
    cfg = _config(cat, tmp_path)
    w = feature_weights(cfg, truth)
    assert DEFAULT_WEIGHTS["playlists"] > 0 and w["playlists"] == 0.0  # the default would have built it
    # every family that can run on this data, inferred genres included (it propagates over playlists by default)
    w.update(inferred_genres=1.0, audio=0.5, era=0.5)
    view = training_view(cat, truth)
    assert view.num_rows("playlist_tracks") == 0 and view.table("playlists").num_rows == 0
    space = build_space(view, truth, w)
    families = [b for b, _ in space.blocks]
    assert "playlists" not in families and "inferred_genres" in families
    assert not any(str(n).startswith("playlist=") for n in space.feature_names)
    assert "playlists" not in space.transformers["inferred_genres"].link_families_
    # the proof: another playlist assignment of the same songs gives the very same feature matrix
    truth2 = playlist_truth(shuffled)
    space2 = build_space(training_view(shuffled, truth2), truth2, w)
    assert [g.tolist() for g in truth.groups] != [g.tolist() for g in truth2.groups]
    assert (space.X != space2.X).nnz == 0 and list(space.feature_names) == list(space2.feature_names)


def test_playlist_genre_labels_reach_no_table_and_no_feature(tt_pair):
    cat, _ = tt_pair
    for name in cat.table_names:
        t = cat.table(name)
        for col in t.column_names:
            if str(t.schema.field(col).type) == "string":
                assert not any(LEAK in str(v) for v in t.column(col).to_pylist()), (name, col)
    truth = playlist_truth(cat)
    space = build_space(training_view(cat, truth), truth, {**DEFAULT_WEIGHTS, "inferred_genres": 1.0})
    assert not any(LEAK in str(n) for n in space.feature_names)


def test_asking_for_the_playlists_family_under_playlist_truth_is_refused(tt_pair, tmp_path):
    cat, _ = tt_pair
    truth = playlist_truth(cat)
    with pytest.raises(ConfigError, match="features.weights.playlists.*leakage"):
        feature_weights(_config(cat, tmp_path, {"playlists": 1.0}), truth)
    with pytest.raises(ConfigError, match=r"models\[0\]\.weights\.playlists"):
        feature_weights(_config(cat, tmp_path), truth, {"playlists": 0.5}, where="models[0].weights")
    # even a direct call with the family switched on builds no playlist block
    space = build_space(training_view(cat, truth), truth, {**DEFAULT_WEIGHTS, "playlists": 3.0})
    assert "playlists" not in [b for b, _ in space.blocks]


def test_held_out_collaborations_are_gone_from_the_features(small_demo):
    _, cat = small_demo
    truth = collaboration_truth(cat, share=0.3, seed=1)
    held = np.array([], dtype=np.int64)
    n = cat.num_rows("artists")
    q = truth.candidates[:200]
    pairs = [(a, b) for a, rel in zip(q, truth.relevant(q)) for b in rel]
    assert len(pairs) > 50 and truth.stats["credits_hidden"] > 0
    a, b = np.array(pairs).T
    full = (collab_incidence(cat) @ collab_incidence(cat).T).tocsr()
    view = training_view(cat, truth)
    assert isinstance(view, CatalogView)
    assert view.num_rows("track_artists") == cat.num_rows("track_artists") - truth.stats["credits_hidden"]
    train = (collab_incidence(view) @ collab_incidence(view).T).tocsr()
    assert (np.asarray(full[a, b]).ravel() > 0).all()  # they were co-credited ...
    assert (np.asarray(train[a, b]).ravel() == 0).all()  # ... and the training view does not know it
    # the collaboration block: the hidden partner's column is empty in the query artist's row
    space = build_space(view, truth, {**DEFAULT_WEIGHTS})
    block = space.block("collaborations").tocsr()
    names = [str(x) for x in space.feature_names[dict(space.blocks)["collaborations"]]]
    col = {nm.split("=", 1)[1]: j for j, nm in enumerate(names)}
    ids = cat.artists.ids
    checked = 0
    for x, y in pairs:
        j = col.get(ids[y])
        if j is not None:
            assert block[x, j] == 0
            checked += 1
    assert checked > 0
    # the primary credit of every track stays: no track loses its main artist
    assert len(np.unique(credits(view).track)) == len(np.unique(credits(cat).track))
    # seeded: the same seed hides the same links, another seed others
    again = collaboration_truth(cat, share=0.3, seed=1)
    other = collaboration_truth(cat, share=0.3, seed=2)
    assert (again.drop["track_artists"] == truth.drop["track_artists"]).all()
    assert (other.drop["track_artists"] != truth.drop["track_artists"]).any()
    assert held.size == 0 and n > 0


def test_held_out_genres_leave_no_genre_feature(small_demo):
    _, cat = small_demo
    truth = genre_truth(cat, share=0.3, seed=0)
    view = training_view(cat, truth)
    space = build_space(view, truth, {**DEFAULT_WEIGHTS})
    hidden = truth.candidates
    assert len(hidden) > 10
    g = space.block("genres").tocsr()
    assert g[hidden].nnz == 0
    full = build_space(cat, truth, {**DEFAULT_WEIGHTS}).block("genres").tocsr()
    assert full[hidden].nnz > 0
    labels = truth.labels[np.concatenate(truth.relevant(hidden[:5]))]
    assert len(labels) > 0


def test_playlist_popularity_counts_training_playlists_only(small_demo, tmp_path):
    _, cat = small_demo
    cfg = parse_config({"name": "t", "source": {"kind": "catalog", "path": str(cat.path)},
                        "evaluations": [{"truth": "playlists", "protocol": "continuation", "n_seeds": 2,
                                         "queries": 30, "popularity": "groups"}],
                        "models": [{"model": "exact_cosine"}]}, tmp_path / "x.toml")
    ev = cfg.evaluations[0]
    truth = playlist_truth(cat)
    qsets, train = _query_sets(ev, truth, 0)
    pop = _popularity(ev, cat, truth, train)
    expected = np.zeros(cat.num_rows("artists"))
    for g in train:
        expected[truth.groups[g]] += 1
    np.testing.assert_array_equal(pop, expected)
    evaluated = set(range(len(truth.groups))) - set(train.tolist())
    assert len(evaluated) == 30
    only_test = set(np.concatenate([truth.groups[g] for g in evaluated]).tolist()) - set(
        np.concatenate([truth.groups[g] for g in train]).tolist())
    assert all(pop[a] == 0 for a in only_test)


def test_mpd_slices_map_by_uri_then_name(tmp_path):
    from recsys.sources.annas_archive import ingest
    from tests.conftest import ARTISTS, build_tiny_dump

    cat = ingest(build_tiny_dump(tmp_path / "dump"), tmp_path / "cat", progress=False)
    slices = tmp_path / "mpd"
    slices.mkdir()
    tr = lambda uri, name: {"track_uri": "spotify:track:x", "artist_uri": uri, "artist_name": name,  # noqa: E731
                            "track_name": "t"}
    (slices / "mpd.slice.0-1.json").write_text(json.dumps({"playlists": [
        {"pid": 0, "name": "a", "tracks": [tr(f"spotify:artist:{ARTISTS[1][1]}", "?"), tr("", "Orvo Drone"),
                                            tr("spotify:artist:0000000000000000000000", "Nobody")]},
        {"pid": 1, "name": "b", "tracks": [tr("", "Velmora")]}]}), encoding="utf-8")  # ambiguous name: unmatched
    (slices / "mpd.slice.2-2.json").write_text(json.dumps({"playlists": [
        {"pid": 2, "name": "c", "tracks": [tr(f"spotify:artist:{ARTISTS[3][1]}", ""), tr("", "kastrin")]}]}),
        encoding="utf-8")
    truth = mpd_truth(cat, slices)
    rows = {a: cat.artists.row_of_id(ARTISTS[i][1]) for i, a in ((1, "kastrin"), (2, "orvo"), (3, "spitfires"))}
    assert [g.tolist() for g in truth.groups] == [sorted([rows["kastrin"], rows["orvo"]]),
                                                  sorted([rows["spitfires"], rows["kastrin"]])]
    assert truth.stats["entries"] == 6 and truth.stats["entries_matched"] == 4
    assert truth.stats["entries_matched_by_uri"] == 2
    rel = dict(zip(truth.candidates.tolist(), truth.relevant(truth.candidates)))
    assert sorted(rel[rows["kastrin"]].tolist()) == sorted([rows["orvo"], rows["spitfires"]])


def test_real_tidytuesday_playlist_truth_builds_no_playlist_feature(shared_data, tmp_path):
    """On the real file: the label columns are not in the catalog, and the playlist-truth features hold no
    playlist column (the same guarantees as above, on the data the committed experiment uses)."""
    songs = shared_data / "tidytuesday-2020-01-21-spotify-songs" / "spotify_songs.csv"
    genres = shared_data / "spotify-160k-data_w_genres-early2020" / "data_w_genres.csv"
    if not songs.is_file() or not genres.is_file():
        pytest.skip("TidyTuesday or data_w_genres CSV not in the shared data")
    cat = ingest_tidytuesday(songs, tmp_path / "tt", artist_genres_csv=genres, progress=False)
    for name in cat.table_names:
        assert not {"playlist_genre", "playlist_subgenre"} & set(cat.table(name).column_names)
    labels = set()
    with open(songs, encoding="utf-8") as f:
        for row in csv.DictReader(f):
            labels.add(row["playlist_subgenre"])
    truth = playlist_truth(cat)
    space = build_space(training_view(cat, truth), truth, {**DEFAULT_WEIGHTS, "inferred_genres": 1.0})
    assert "playlists" not in [b for b, _ in space.blocks]
    assert not any(str(n).startswith("playlist=") for n in space.feature_names)
    # a subgenre label is a feature only where it is also a real artist genre from data_w_genres
    artist_genres = set(cat.column("artist_genres", "genre").tolist())
    for n in space.feature_names:
        fam, _, key = str(n).partition("=")
        if key in labels:
            assert fam in ("genre", "inferred_genre") and key in artist_genres
    assert 0.2 < cat.manifest["stats"]["artist_genre_match_rate"] < 1.0
