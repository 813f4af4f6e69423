"""Memory of the feature build: the shared joins are compact, built in bounded chunks, dropped once no family still
needs them, and none of that changes a value. References here are the plain in-memory computations (np.unique
over int64 pair keys, one incidence over every pair) the chunked code replaced."""

from __future__ import annotations

import gc
import os
import resource
import signal
import subprocess
import sys
import tempfile
import time

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest
import scipy.sparse as sp

import recsys.features.combine as combine_module
from recsys.catalog import Catalog, CatalogWriter
from recsys.errors import RecsysError
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
from recsys.features.combine import SPILL_MIN_ROWS, BlockStack, combine_blocks, spill_dir_for, stack_columns
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


def _random_blocks(n: int, rng: np.random.Generator) -> list[tuple[str, sp.spmatrix, float]]:
    """Blocks of every kind the stack stores differently: wide (int32 indices and counts), narrow with empty
    rows (uint16), dense, zero-width, and one of weight 0."""
    narrow = sp.random(n, 12, density=0.4, format="csr", random_state=rng)
    keep = np.ones(n)
    keep[::5] = 0.0
    narrow = sp.csr_matrix(sp.diags(keep) @ narrow)
    narrow.eliminate_zeros()
    return [("wide", sp.random(n, 70_000, density=0.0004, format="csr", random_state=rng, dtype=np.float32), 1.0),
            ("narrow", narrow, 0.25), ("none", sp.csr_matrix((n, 0), dtype=np.float32), 1.0),
            ("dense", sp.csr_matrix(rng.normal(size=(n, 9)).astype(np.float32)), 0.5),
            ("off", sp.random(n, 30, density=0.2, format="csr", random_state=rng), 0.0)]


def test_spilled_block_stack_equals_the_in_memory_one_bit_for_bit(monkeypatch, tmp_path):
    """Spilled, the blocks wait in three files each (values, indices, counts; chunks appended), nothing of them
    in memory, and stack to exactly the matrix of the in-memory stack; the private directory is gone after."""
    monkeypatch.setattr(combine_module, "_STACK_MIN_ROWS", 37)  # 1000 rows: 28 chunks
    blocks = _random_blocks(1000, np.random.default_rng(7))
    names = [b for b, _, _ in blocks]
    mem, disk = BlockStack(1000, names), BlockStack(1000, names, spill_dir=tmp_path)
    assert mem.spill_path is None and disk.spill_path.parent == tmp_path
    assert disk.spill_path.name.startswith("recsys-blocks-")
    for name, m, w in reversed(blocks):  # any order
        mem.add(name, m, w)
        disk.add(name, m, w)
    files = sorted(os.listdir(disk.spill_path))
    assert files == sorted(f"block{i}.{k}" for i in range(5) for k in ("data", "indices", "counts"))
    held = [c for _, chunks in disk._blocks.values() for c in chunks]
    assert len(held) == 5 * 28 and not any(isinstance(x, np.ndarray) for c in held for x in c)
    # values float32, indices uint16 (narrow) / int32 (wide), counts uint16 (narrow) / int32 (wide) per row
    nnz = {name: sum(len(c[0]) for c in mem._blocks[name][1]) for name in names}
    size = {f: os.path.getsize(disk.spill_path / f) for f in files}
    assert size["block0.data"] == 4 * nnz["wide"] > 0 and size["block0.indices"] == 4 * nnz["wide"]
    assert size["block1.indices"] == 2 * nnz["narrow"] > 0 and size["block0.counts"] == 4 * 1000
    assert size["block1.counts"] == size["block2.counts"] == 2 * 1000 and size["block2.data"] == 0
    want, want_slices = mem.stack()
    X, slices = disk.stack()
    assert slices == want_slices and X.shape == want.shape == (1000, 70_051)
    for name in ("data", "indices", "indptr"):
        got, ref = getattr(X, name), getattr(want, name)
        assert got.dtype == ref.dtype
        np.testing.assert_array_equal(got, ref)
    assert X[:, slices[4][1]].nnz > 0 and not X[:, slices[4][1]].data.any()  # weight 0: zeros, kept as before
    assert os.listdir(tmp_path) == [] and disk.closed
    with pytest.raises(ValueError, match="closed"):
        disk.add("wide", blocks[0][1], 1.0)


@pytest.mark.parametrize("spill", [False, True])
def test_block_stack_reads_and_frees_a_row_chunk_at_a_time(monkeypatch, tmp_path, spill):
    """In memory or spilled, each row chunk of every block is dropped right after its copy into the result."""
    monkeypatch.setattr(combine_module, "_STACK_MIN_ROWS", 100)
    rng = np.random.default_rng(4)
    stack = BlockStack(1000, ["a", "b"], spill_dir=tmp_path if spill else None)
    stack.add("a", sp.random(1000, 50, density=0.1, format="csr", random_state=rng), 1.0)
    stack.add("b", sp.random(1000, 9, density=0.5, format="csr", random_state=rng), 1.0)
    held = []  # chunks still held whenever the stack hands freed memory back (once per row chunk)
    monkeypatch.setattr(combine_module, "return_freed_memory",
                        lambda: held.append(sum(c is not None for _, cs in stack._blocks.values() for c in cs)))
    stack.stack()
    assert held == [2 * (10 - i) for i in range(1, 11)]  # 10 chunks x 2 blocks, two fewer after each


def test_block_stack_leaves_no_spill_files_on_error_ctrl_c_or_when_dropped(tmp_path):
    m = sp.random(500, 40, density=0.1, format="csr", random_state=np.random.default_rng(5))
    with pytest.raises(KeyboardInterrupt), BlockStack(500, ["a", "b"], spill_dir=tmp_path) as stack:
        stack.add("a", m, 1.0)
        assert len(os.listdir(stack.spill_path)) == 3
        raise KeyboardInterrupt  # Ctrl-C between two blocks
    assert os.listdir(tmp_path) == [] and stack._blocks == {}
    stack.close()  # closing twice is fine

    stack = BlockStack(500, ["a", "b"], spill_dir=tmp_path)
    stack.add("a", m, 1.0)
    with pytest.raises(ValueError, match="never added"):  # a caller's slip: the stack stays usable
        stack.stack()
    stack.add("b", m, 0.5)
    assert stack.stack()[0].shape == (500, 80) and os.listdir(tmp_path) == []

    stack = BlockStack(500, ["a"], spill_dir=tmp_path)  # neither closed nor stacked: removed once collected
    stack.add("a", m, 1.0)
    assert len(os.listdir(tmp_path)) == 1
    del stack
    gc.collect()
    assert os.listdir(tmp_path) == []


def test_spill_dir_that_cannot_hold_the_blocks_is_a_clear_error(tmp_path):
    """A missing or non-directory spill_dir, and a disk that fills up mid-block, raise a RecsysError naming the
    directory and saying what to do; nothing is left behind."""
    m = sp.random(2000, 50, density=0.2, format="csr", random_state=np.random.default_rng(6))  # 20k values
    for bad in (tmp_path / "missing", tmp_path / "a_file"):
        if bad.name == "a_file":
            bad.write_text("x")
        with pytest.raises(RecsysError, match=str(bad)) as err:
            BlockStack(2000, ["a"], spill_dir=bad)
        assert "TMPDIR" in err.value.hint and "spill_dir=False" in err.value.hint
    (tmp_path / "a_file").unlink()
    assert os.listdir(tmp_path) == []

    # a full disk: the kernel refuses writes past RLIMIT_FSIZE (EFBIG) just as it refuses them on a full disk
    # (ENOSPC); SIGXFSZ is ignored so the write fails instead of the process being killed
    stack = BlockStack(2000, ["a"], spill_dir=tmp_path)
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    old = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (16_384, hard))
    try:
        with pytest.raises(RecsysError, match=f"block 'a' to '{tmp_path}'") as err:
            stack.add("a", m, 1.0)
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, old)
    assert "TMPDIR" in err.value.hint and "large" in str(err.value)  # errno 27: File too large
    assert os.listdir(tmp_path) == [] and stack.closed


def test_spill_rule_follows_size_and_tmpdir(tmp_path, monkeypatch):
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setattr(tempfile, "tempdir", None)  # gettempdir() reads TMPDIR again
    assert spill_dir_for(None, SPILL_MIN_ROWS - 1) is None
    assert spill_dir_for(None, SPILL_MIN_ROWS) == str(tmp_path)
    assert spill_dir_for(True, 10) == str(tmp_path) and spill_dir_for(False, 10**9) is None
    assert spill_dir_for(tmp_path / "x", 10) == str(tmp_path / "x")
    for bad in ("", 3):
        with pytest.raises(ValueError, match="spill_dir"):
            spill_dir_for(bad, 10)


def _spy_on_genre_inference(monkeypatch, where) -> list[str]:
    """Files in the spill directories under ``where`` while genre inference (the last family) propagates."""
    import recsys.features.genre_inference as gi_module

    seen: list[str] = []
    real = gi_module.GenreInference._propagate

    def spy(self, *args, **kwargs):
        seen.extend(f for d in os.listdir(where) if d.startswith("recsys-blocks-") for f in os.listdir(where / d))
        return real(self, *args, **kwargs)

    monkeypatch.setattr(gi_module.GenreInference, "_propagate", spy)
    return seen


SPILLED_8 = sorted(f"block{i}.{k}" for i in range(8) for k in ("data", "indices", "counts"))


def test_build_spills_finished_blocks_and_gives_the_same_space_bit_for_bit(small_demo, tmp_path, monkeypatch):
    """While genre inference (the last family) runs, the 8 earlier blocks wait on disk; X, its column blocks
    and feature names equal the in-memory build's exactly, and the spill directory is empty afterwards."""
    ref = build_artist_space(Catalog.open(small_demo[1].path), spill_dir=False)
    seen = _spy_on_genre_inference(monkeypatch, tmp_path)
    space = build_artist_space(Catalog.open(small_demo[1].path), spill_dir=tmp_path)
    assert sorted(seen) == SPILLED_8
    assert os.listdir(tmp_path) == []
    for name in ("data", "indices", "indptr"):
        got, want = getattr(space.X, name), getattr(ref.X, name)
        assert got.dtype == want.dtype
        np.testing.assert_array_equal(got, want)
    assert space.X.shape == ref.X.shape and space.blocks == ref.blocks
    assert space.feature_names == ref.feature_names and space.X.nnz > 10_000


def test_build_spills_to_tmpdir_from_the_threshold_on(small_demo, tmp_path, monkeypatch):
    """The default rule: below SPILL_MIN_ROWS artists the blocks stay in memory, from it on they go to TMPDIR."""
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setattr(tempfile, "tempdir", None)  # gettempdir() reads TMPDIR again
    n = small_demo[1].num_rows("artists")
    seen = _spy_on_genre_inference(monkeypatch, tmp_path)
    monkeypatch.setattr(combine_module, "SPILL_MIN_ROWS", n + 1)
    build_artist_space(Catalog.open(small_demo[1].path))
    assert seen == []
    monkeypatch.setattr(combine_module, "SPILL_MIN_ROWS", n)
    build_artist_space(Catalog.open(small_demo[1].path))
    assert sorted(seen) == SPILLED_8 and os.listdir(tmp_path) == []


def test_build_leaves_no_spill_files_when_a_family_fails(small_demo, tmp_path):
    """A family failing after the others were spilled (genre inference refuses n_jobs=0 in fit) leaves the
    spill directory empty."""
    with pytest.raises(ValueError, match="n_jobs"):
        build_artist_space(Catalog.open(small_demo[1].path), spill_dir=tmp_path,
                           family_params={"inferred_genres": {"n_jobs": 0}})
    assert os.listdir(tmp_path) == []


def test_ctrl_c_during_a_build_leaves_no_spill_files(small_demo, tmp_path):
    """A real SIGINT to a build in another process, once it has spilled a block: it stops with
    KeyboardInterrupt and the spill directory is empty."""
    code = ("import sys; from recsys.catalog import Catalog; from recsys.features.space import build_artist_space; "
            "build_artist_space(Catalog.open(sys.argv[1]), spill_dir=sys.argv[2])")
    proc = subprocess.Popen([sys.executable, "-c", code, str(small_demo[1].path), str(tmp_path)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while not list(tmp_path.glob("recsys-blocks-*/*.counts")):  # the first block is being spilled: mid-build
            assert proc.poll() is None, f"the build ended before spilling: {proc.stderr.read()}"
            assert time.monotonic() < deadline, "no block was spilled within 120 s"
            time.sleep(0.002)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode != 0 and "KeyboardInterrupt" in err, err
    assert os.listdir(tmp_path) == []


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
