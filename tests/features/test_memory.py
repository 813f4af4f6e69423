"""Memory of the feature build: the shared joins are compact, built in bounded chunks, dropped once no family still
needs them, and none of that changes a value. References here are the plain in-memory computations (np.unique
over int64 pair keys, one incidence over every pair) the chunked code replaced."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest
import scipy.sparse as sp

import recsys.features.combine as combine_module
from recsys.catalog import Catalog, CatalogWriter
from recsys.features import _links
from recsys.features._links import (
    CacheScope,
    album_rows_of_tracks,
    artist_album_links,
    cache_keys,
    credits,
    distinct_pairs,
    done_reading,
    fk_rows,
    incidence,
    own_albums,
    row_map,
)
from recsys.features._rows import rowid_to_row
from recsys.features.audio import AudioProfile
from recsys.features.collaborations import collab_incidence
from recsys.features.combine import BlockStack, combine_blocks, stack_columns
from recsys.features.compilations import SharedCompilations
from recsys.features.era import ReleaseEra
from recsys.features.labels import LabelTfidf
from recsys.features.space import DEFAULT_WEIGHTS, FAMILIES, build_artist_space

# a few hundred pairs per chunk: the small demo's credits then span many chunks and several merges
SMALL_CHUNK = 512


@pytest.fixture
def catalog(small_demo, monkeypatch):
    """A fresh Catalog object (relations are cached per object), built in small chunks and batches."""
    monkeypatch.setattr(_links, "PAIR_CHUNK", SMALL_CHUNK)
    monkeypatch.setattr(_links, "BATCH_ROWS", 997)
    return Catalog.open(small_demo[1].path)


def _unique_pairs(a: np.ndarray, b: np.ndarray, n_b: int) -> tuple[np.ndarray, np.ndarray]:
    key = np.unique(a.astype(np.int64) * max(n_b, 1) + b)
    return key // max(n_b, 1), key % max(n_b, 1)


def test_distinct_pairs_equal_np_unique_across_chunks_and_merges(monkeypatch):
    monkeypatch.setattr(_links, "PAIR_CHUNK", 64)
    rng = np.random.default_rng(0)
    a, b = rng.integers(0, 50, 5000).astype(np.int32), rng.integers(0, 70, 5000).astype(np.int32)
    m = distinct_pairs(_links.array_chunks(a, b), (50, 70))
    ra, rb = _unique_pairs(a, b, 70)
    got_a, got_b = _links.pairs_of(m)
    np.testing.assert_array_equal(got_a, ra)
    np.testing.assert_array_equal(got_b, rb)
    assert m.dtype == np.float32 and (m.data == 1).all() and m.has_sorted_indices


def test_repeated_credits_dropped_chunk_by_chunk_like_one_pass():
    rng = np.random.default_rng(1)
    trk = np.sort(rng.integers(0, 300, 4000)).astype(np.int32)
    trk[1000:1100] = trk[1000]  # one track longer than a chunk
    art = rng.integers(0, 20, len(trk)).astype(np.int32)
    expect = _links._first_credits(trk, art)  # the whole array at once
    t, a = trk.copy(), art.copy()
    n = _links._drop_repeated_credits(t, a, chunk=37)
    np.testing.assert_array_equal(t[:n], trk[expect])
    np.testing.assert_array_equal(a[:n], art[expect])
    assert n < len(trk)  # there were repeats to drop


def test_relations_are_compact_and_equal_the_int64_references(catalog):
    c = credits(catalog)
    assert c.track.dtype == c.artist.dtype == np.int32 and c.primary.dtype == bool
    t_alb = album_rows_of_tracks(catalog)
    assert t_alb.dtype == np.int32
    ref_alb = rowid_to_row(catalog.table("albums", ["rowid"]).column(0).to_numpy(),
                           catalog.table("tracks", ["album_rowid"]).column(0).fill_null(-1).to_numpy())
    np.testing.assert_array_equal(t_alb, ref_alb)

    # own albums: the np.unique over artist * n_albums + album the chunked sparse dedup replaced
    art, alb, kind = artist_album_links(catalog)
    p_alb = t_alb[c.track[c.primary]]
    a = np.concatenate([art[kind == 0], c.artist[c.primary][p_alb >= 0]])
    b = np.concatenate([alb[kind == 0], p_alb[p_alb >= 0]])
    n_alb = catalog.num_rows("albums")
    ra, rb = _unique_pairs(a, b, n_alb)
    got_a, got_b = own_albums(catalog)
    assert got_a.dtype == np.int32 and len(got_a) > 1000
    np.testing.assert_array_equal(got_a, ra)
    np.testing.assert_array_equal(got_b, rb)

    # era: own albums plus every credited track's album, each pair once, counted per bucket
    era = ReleaseEra().fit(catalog)
    b2 = t_alb[c.track]
    pa_, pb = _unique_pairs(np.concatenate([ra, c.artist[b2 >= 0]]), np.concatenate([rb, b2[b2 >= 0]]), n_alb)
    bucket = era._album_buckets(catalog)[pb]
    ok = bucket >= 0
    ref = incidence(pa_[ok], bucket[ok], (catalog.num_rows("artists"), era.n_buckets_))
    got = era._artist_counts(catalog)
    for name in ("indptr", "indices", "data"):
        np.testing.assert_array_equal(getattr(got, name), getattr(ref, name))


def test_token_counts_equal_the_whole_table_references(catalog):
    """Labels (spellings normalised once per distinct label) and compilations (only the albums somebody is on)
    hold the same (artist, key) -> count as the whole-table computations."""
    def as_dict(m: sp.csr_matrix, keys) -> dict:
        keys = pa.chunked_array([keys]).combine_chunks() if isinstance(keys, pa.Array) else keys.combine_chunks()
        keys = np.asarray(keys.to_pylist(), dtype=object)
        t = m.tocoo()
        return {(int(i), keys[j]): float(v) for i, j, v in zip(t.row, t.col, t.data)}

    # labels: the old per-album normalisation and self-release rule
    art, alb = own_albums(catalog)
    key = _links.normalized_text(catalog.table("albums", ["label"]).column(0)).fill_null("")
    enc = pc.dictionary_encode(key)
    codes = enc.indices.to_numpy(zero_copy_only=False).astype(np.int64)
    name_key = _links.normalized_text(catalog.table("artists", ["name"]).column(0)).fill_null("")
    name_code = pc.index_in(name_key, value_set=enc.dictionary).fill_null(-1).to_numpy()
    cc = codes[alb]
    self_released = np.zeros(len(codes), dtype=bool)
    self_released[alb[cc == name_code[art]]] = True
    ok = (np.asarray(enc.dictionary.to_pylist(), dtype=object)[cc] != "") & ~self_released[alb]
    ref = incidence(art[ok], cc[ok], (catalog.num_rows("artists"), len(enc.dictionary)))
    got, keys = LabelTfidf()._counts(catalog)
    assert as_dict(got, keys) == as_dict(ref, enc.dictionary) and ref.nnz > 100

    # compilations: appears-on links and compilation albums, from links and credits, 0/1
    is_comp = pc.fill_null(pc.equal(pc.utf8_lower(catalog.table("albums", ["album_type"]).column(0)),
                                    "compilation"), False).to_numpy(zero_copy_only=False)
    a_art, a_alb, kind = artist_album_links(catalog)
    c = credits(catalog)
    t_alb = album_rows_of_tracks(catalog)[c.track]
    a = np.concatenate([a_art, c.artist[t_alb >= 0]])
    b = np.concatenate([a_alb, t_alb[t_alb >= 0]])
    on = np.concatenate([(kind == 1) | is_comp[a_alb], is_comp[t_alb[t_alb >= 0]]])
    ref = incidence(a[on], b[on], (catalog.num_rows("artists"), catalog.num_rows("albums")), binary=True)
    got, keys = SharedCompilations()._counts(catalog)
    assert got.shape[1] < ref.shape[1]  # only the compilations somebody is on
    assert as_dict(got, keys) == as_dict(ref, catalog.table("albums", ["id"]).column(0)) and ref.nnz > 100


def test_build_drops_its_joins_and_caches_no_wide_table(small_demo):
    cat = Catalog.open(small_demo[1].path)
    before = credits(cat)  # made before the build: someone else's, so it stays
    space = build_artist_space(cat, weights={"inferred_genres": 0.0})
    assert cache_keys(cat) == ["rowmap:tracks", "rowmap:artists", "credits"]
    assert credits(cat) is before
    cached_tables = {name for name, _ in cat._tables}
    assert not cached_tables & {"tracks", "track_artists", "albums", "artist_albums", "audio_features",
                                "playlist_tracks"}, cached_tables
    assert space.X.nnz > 0

    fresh = Catalog.open(small_demo[1].path)
    build_artist_space(fresh)  # with genre inference, which reads the link families' counts last
    assert cache_keys(fresh) == []


def test_releasing_between_families_changes_no_value(small_demo):
    """The build (joins dropped after the last family that reads them, genre inference included) equals every
    family fitted on one catalog object that keeps every join."""
    space = build_artist_space(Catalog.open(small_demo[1].path))
    keep = Catalog.open(small_demo[1].path)
    blocks, fitted = [], {}
    for fam, w in DEFAULT_WEIGHTS.items():
        if w <= 0:
            continue
        tr = FAMILIES[fam]()
        if fam == "inferred_genres":
            tr.fit(keep, link_families=fitted)
        else:
            tr.fit(keep)
        fitted[fam] = tr
        blocks.append((fam, tr.transform(keep), w))
    X, _ = combine_blocks(blocks)
    assert len(cache_keys(keep)) > 5  # nothing was dropped there
    for name in ("indptr", "indices", "data"):
        np.testing.assert_array_equal(getattr(space.X, name), getattr(X, name))


def test_scope_keeps_what_a_later_step_still_reads(catalog):
    with CacheScope(catalog) as scope:
        own_albums(catalog)
        assert {"credits", "artist_album_links", "own_albums"} <= set(cache_keys(catalog))
        scope.keep_only(("own_albums",))  # built: its inputs can go
        assert "own_albums" in cache_keys(catalog) and "credits" not in cache_keys(catalog)
        scope.keep_only(("counts:labels",))  # not built yet: it is made from own_albums, which stays
        assert "own_albums" in cache_keys(catalog)
        scope.keep_only(None)  # a step that does not say what it reads: nothing dropped
        assert "own_albums" in cache_keys(catalog)
    assert cache_keys(catalog) == []


@pytest.fixture
def gapped_catalog(tmp_path):
    """Rowids with gaps (and a credit pointing into one): the row maps fall back to a search."""
    a_ids, t_ids, b_ids = [3, 7, 8, 20], [2, 5, 11], [4, 9]
    with CatalogWriter(tmp_path / "cat", source={"kind": "test"}) as w:
        w.write("artists", {"rowid": a_ids, "id": [f"a{i:021d}" for i in a_ids], "name": ["A", "B", "C", "D"],
                            "followers_total": [1] * 4, "popularity": [0] * 4})
        w.write("albums", {"rowid": b_ids, "id": [f"l{i:021d}" for i in b_ids], "name": ["x", "y"],
                           "release_year": [2001, 1990]})
        w.write("tracks", {"rowid": t_ids, "id": [f"t{i:021d}" for i in t_ids], "name": ["p", "q", "r"],
                           "album_rowid": [9, 4, 6]})
        w.write("track_artists", {"rowid": [1, 2, 3, 4, 5, 6], "track_rowid": [5, 2, 5, 11, 5, 12],
                                  "artist_rowid": [8, 3, 20, 7, 8, 3]})
        w.write("audio_features", {"track_rowid": [5, 2, 13], "energy": [0.5, 0.25, 0.75]})
    return Catalog.open(tmp_path / "cat")


def test_gapped_rowids_resolve_like_a_search(gapped_catalog):
    m = row_map(gapped_catalog, "artists")
    assert m.rowids is not None  # not dense: the sorted rowids are kept
    probe = np.array([3, 4, 7, 8, 20, 21, -1, 0])
    np.testing.assert_array_equal(m.rows(probe), rowid_to_row(np.array([3, 7, 8, 20]), probe))
    np.testing.assert_array_equal(fk_rows(gapped_catalog, "tracks", "album_rowid", "albums"), [1, 0, -1])
    c = credits(gapped_catalog)
    # credits sorted by track row; the repeated (track 5, artist 8) and the unknown track 12 dropped
    np.testing.assert_array_equal(c.track, [0, 1, 1, 2])
    np.testing.assert_array_equal(c.artist, [0, 2, 3, 1])
    np.testing.assert_array_equal(c.primary, [True, True, False, True])
    # audio means: the track rows of the audio rows resolved once up front (not per feature) for gapped rowids
    means, n_tracks = AudioProfile(features=("energy",))._artist_means(gapped_catalog)
    np.testing.assert_array_equal(means[:, 0], [0.25, np.nan, 0.5, 0.5])
    np.testing.assert_array_equal(n_tracks, [1, 0, 1, 1])
    dense = row_map(Catalog.open(gapped_catalog.path), "track_artists")
    assert dense.rowids is None and dense.first == 1 and dense.n == 6


def test_credit_spans_equal_a_search_without_copying_the_tracks(catalog):
    c = credits(catalog)
    rows = np.array([0, 5, catalog.num_rows("tracks") - 1, catalog.num_rows("tracks") + 7, -3], dtype=np.int64)
    lo, hi = c.spans(rows)
    track64 = c.track.astype(np.int64)
    np.testing.assert_array_equal(lo[:3], np.searchsorted(track64, rows[:3], "left"))
    np.testing.assert_array_equal(hi[:3], np.searchsorted(track64, rows[:3], "right"))
    assert (hi[3:] == lo[3:]).all()  # tracks outside the table have no credits
    assert (hi[:3] > lo[:3]).any()


def _stacked_reference(blocks: list[tuple[str, sp.spmatrix, float]]) -> sp.csr_matrix:
    """What the build stacked before :class:`BlockStack`: each whole block normalised, weighted and copied into
    one preallocated result (:func:`stack_columns`)."""
    from recsys.features._links import safe_normalize

    parts, start = [], 0
    for _, m, w in blocks:
        m = sp.csr_matrix(m, dtype=np.float32)
        if m.shape[1]:
            m = safe_normalize(m)
            m.data *= np.float32(np.sqrt(w))
        parts.append((m, start))
        start += m.shape[1]
    return stack_columns(parts, start)


def test_block_stack_equals_the_whole_block_stacking_bit_for_bit(monkeypatch):
    """Blocks added in any order, normalised a row chunk at a time and stored compactly (uint16 column
    indices for narrow blocks), stack to exactly the matrix of the whole-block path."""
    monkeypatch.setattr(combine_module, "_STACK_MIN_ROWS", 37)  # 1000 rows: 28 chunks
    rng = np.random.default_rng(3)
    n = 1000
    wide = sp.random(n, 70_000, density=0.0003, format="csr", random_state=rng, dtype=np.float32)
    narrow = sp.random(n, 12, density=0.4, format="csc", random_state=rng)  # CSC float64: converted
    keep = np.ones(n)
    keep[::7] = 0.0
    narrow = sp.csr_matrix(sp.diags(keep) @ narrow)  # empty rows
    narrow.eliminate_zeros()
    dense = sp.csr_matrix(rng.normal(size=(n, 10)).astype(np.float32))
    blocks = [("narrow", narrow, 0.25), ("none", sp.csr_matrix((n, 0), dtype=np.float32), 1.0),
              ("wide", wide, 1.0), ("dense", dense, 0.5)]
    want = _stacked_reference(blocks)
    stack = BlockStack(n, [b for b, _, _ in blocks])
    for name, m, w in [blocks[2], blocks[0], blocks[3], blocks[1]]:  # any order
        stack.add(name, m, w)
    assert len(stack.ranges) == 28
    _, narrow_chunks = stack._blocks["narrow"]
    assert narrow_chunks[0][1].dtype == np.uint16 and stack._blocks["wide"][1][0][1].dtype == np.int32
    X, slices = stack.stack()
    assert slices == [("narrow", slice(0, 12)), ("none", slice(12, 12)), ("wide", slice(12, 70_012)),
                      ("dense", slice(70_012, 70_022))]
    for name in ("data", "indices", "indptr"):
        got, ref = getattr(X, name), getattr(want, name)
        assert got.dtype == ref.dtype
        np.testing.assert_array_equal(got, ref)
    assert X.shape == want.shape and stack._blocks == {}


def test_block_stack_frees_each_row_chunk_as_it_is_copied(monkeypatch):
    """The stack is filled a row chunk at a time, and each chunk of every block is dropped right after its
    copy (so the blocks and the result are not held whole together)."""
    monkeypatch.setattr(combine_module, "_STACK_MIN_ROWS", 100)
    rng = np.random.default_rng(4)
    stack = BlockStack(1000, ["a", "b"])
    stack.add("a", sp.random(1000, 50, density=0.1, format="csr", random_state=rng), 1.0)
    stack.add("b", sp.random(1000, 9, density=0.5, format="csr", random_state=rng), 1.0)
    held = []  # chunks still held whenever the stack hands freed memory back (once per row chunk)
    monkeypatch.setattr(combine_module, "return_freed_memory",
                        lambda: held.append(sum(c is not None for _, cs in stack._blocks.values() for c in cs)))
    stack.stack()
    assert held == [2 * (10 - i) for i in range(1, 11)]  # 10 chunks x 2 blocks, two fewer after each


def test_block_stack_refuses_what_it_cannot_place():
    stack = BlockStack(3, ["a", "b"])
    stack.add("a", sp.eye(3, format="csr"), 1.0)
    with pytest.raises(ValueError, match="already"):
        stack.add("a", sp.eye(3, format="csr"), 1.0)
    with pytest.raises(ValueError, match="rows"):
        stack.add("b", sp.eye(4, format="csr"), 1.0)
    with pytest.raises(ValueError, match="weight"):
        stack.add("b", sp.eye(3, format="csr"), -1.0)
    with pytest.raises(ValueError, match="not one of"):
        stack.add("c", sp.eye(3, format="csr"), 1.0)
    with pytest.raises(ValueError, match="never added"):
        stack.stack()


def test_done_reading_drops_only_what_later_steps_do_not_read(catalog):
    done_reading(catalog)  # no open scope: a no-op
    own_albums(catalog)
    assert "own_albums" in cache_keys(catalog)
    with CacheScope(catalog) as scope:
        LabelTfidf()._counts(catalog)
        collab_incidence(catalog)
        made = {"counts:labels", "collab_incidence"}
        done_reading(catalog)  # later steps unknown: everything stays
        assert made | {"own_albums"} <= set(cache_keys(catalog))
        scope.later = ("counts:labels",)
        done_reading(catalog)
        assert "collab_incidence" not in cache_keys(catalog)
        assert {"counts:labels", "own_albums"} <= set(cache_keys(catalog))
        scope.later = ()
        done_reading(catalog)
        assert "counts:labels" not in cache_keys(catalog)
        assert "own_albums" in cache_keys(catalog) and "credits" in cache_keys(catalog)  # made before the scope


def test_genre_inference_hands_back_its_link_counts_before_propagating(small_demo, monkeypatch):
    """In a build, the cached link counts genre inference reads are dropped once its links are copied, before
    the propagation's dense blocks are allocated (nothing later reads them)."""
    import recsys.features.genre_inference as gi_module

    cat = Catalog.open(small_demo[1].path)
    seen = []
    real = gi_module.GenreInference._propagate

    def spy(self, *args, **kwargs):
        seen.append(cache_keys(cat))
        return real(self, *args, **kwargs)

    monkeypatch.setattr(gi_module.GenreInference, "_propagate", spy)
    build_artist_space(cat)
    assert len(seen) == 1
    assert not [k for k in seen[0] if k.startswith(gi_module.GenreInference.cache_uses)], seen[0]


def test_token_vocabulary_is_held_once_in_arrow(catalog):
    """The vocabulary of a token family is kept as one Arrow array; ``vocabulary_``, ``feature_keys_`` and the
    feature names are made from it on request (the same strings as before)."""
    from recsys.features.collaborations import CoCredits

    fam = CoCredits().fit(catalog)
    held = {k for k, v in vars(fam).items() if isinstance(v, np.ndarray) and v.dtype == object}
    assert not held, held  # no per-key Python strings kept on the transformer
    vocab = fam.vocabulary_
    assert len(vocab) == fam.n_features_out_ > 100 and vocab.dtype == object
    assert list(vocab) == sorted(vocab) and (fam.feature_keys_ == vocab).all()
    names = fam.get_feature_names_out()
    assert names.dtype == object and list(names) == [f"collaborator={k}" for k in vocab]
    lab = LabelTfidf().fit(catalog)  # a family showing its keys its own way keeps those
    assert list(lab.get_feature_names_out()) == [f"label={k}" for k in lab.feature_keys_]
    assert not hasattr(CoCredits(), "vocabulary_")  # unfitted


def test_bm25_in_row_ranges_and_in_place_equals_the_whole_computation(monkeypatch):
    """BM25 weighs a row range at a time (bounded temporaries) and, for the build's fresh counts, in place: the
    same float32 values as the one-shot formula; by default the input is left alone."""
    from recsys.features._base import Bm25Transformer

    monkeypatch.setattr(combine_module, "_CHUNK_NNZ", 50)
    rng = np.random.default_rng(6)
    X = sp.random(300, 40, density=0.1, format="csr", random_state=rng, dtype=np.float32)
    X.data = np.ceil(X.data * 5).astype(np.float32)
    bm = Bm25Transformer().fit(X)
    lengths = np.asarray(X.sum(axis=1)).ravel()  # the formula before the row ranges
    row = np.repeat(np.arange(X.shape[0]), np.diff(X.indptr))
    norm = bm.k1 * (1.0 - bm.b + bm.b * lengths[row] / bm.avg_len_)
    want = (bm.idf_[X.indices] * X.data * (bm.k1 + 1.0) / (X.data + norm)).astype(np.float32)
    before = X.data.copy()
    got = bm.transform(X)
    np.testing.assert_array_equal(got.data, want)
    np.testing.assert_array_equal(X.data, before)  # copy=True: input untouched
    same = bm.transform(X, copy=False)
    assert same.data is X.data or np.shares_memory(same.data, X.data)
    np.testing.assert_array_equal(X.data, want)
