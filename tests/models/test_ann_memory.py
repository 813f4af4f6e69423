"""HNSW's memory layout: the exact stage reads the caller's rows, the graph holds the only copy of the vectors, and
fitting works a block of rows at a time without changing the graph."""

from __future__ import annotations

import os

import numpy as np
import pytest
import scipy.sparse as sp
from test_ann_split import twins

from recsys.artifacts import load_model, save_model
from recsys.models import HNSWIndex, ann
from recsys.models.ann import _digest_rows


@pytest.fixture(scope="module")
def X():
    return twins(n_pairs=600)


@pytest.fixture(scope="module")
def model(X):
    return HNSWIndex(n_components=16, rerank=40, sparse_max_df=2).fit(X)


def _index_bytes(m: HNSWIndex, tmp_path) -> bytes:
    path = os.path.join(tmp_path, f"{id(m)}.bin")
    m.index_.save_index(path)
    with open(path, "rb") as f:
        return f.read()


def test_exact_stage_reads_the_callers_rows_without_copying_or_changing_them(X, model):
    before = X.copy()
    assert np.shares_memory(model.exact_.data, X.data) and np.shares_memory(model.exact_.indices, X.indices)
    model.similar_items(np.arange(0, 300, 3), 10)
    assert (before != X).nnz == 0  # scaled on the fly, never normalised in place
    np.testing.assert_allclose(model.row_scale_, 1 / sp.linalg.norm(X, axis=1), rtol=1e-6)
    # another dtype cannot be shared: the model converts its own copy and leaves X alone
    m64 = HNSWIndex(n_components=16, rerank=40, sparse_max_df=2).fit(X.astype(np.float64))
    assert m64.exact_.dtype == np.float32


def test_the_graph_holds_the_only_copy_of_the_vectors(model):
    assert model._stored_vectors is None and "group_vectors" not in model._get_state()
    g = len(model._group_ptr) - 1
    # vectors recomputed from the rows are the ones the graph indexed, bit for bit
    np.testing.assert_array_equal(np.asarray(model.index_.get_items(np.arange(g)), dtype=np.float32),
                                  model.group_vectors_)
    # without an exact stage the vectors score the answers, so they are kept
    plain = HNSWIndex(n_components=16, rerank=0).fit(sp.csr_matrix(np.eye(5, 8, dtype=np.float32)))
    assert plain._stored_vectors is not None and "group_vectors" in plain._get_state()


def test_groups_are_exactly_the_distinct_indexed_vectors():
    rng = np.random.default_rng(3)
    base = rng.random((40, 30)).astype(np.float32) * (rng.random((40, 30)) < 0.3)
    X = sp.csr_matrix(base[rng.integers(0, 40, size=500)])  # 500 rows, at most 40 distinct
    m = HNSWIndex(n_components=8, rerank=50, sparse_max_df=3).fit(X)
    v = m._indexed_vectors(X)
    _, first, inverse = np.unique(v, axis=0, return_index=True, return_inverse=True)
    expected = np.argsort(np.argsort(first, kind="stable"), kind="stable")[inverse.ravel()]  # by first item
    np.testing.assert_array_equal(m.groups_, expected)


def test_fitting_in_blocks_builds_the_same_graph(X, model, tmp_path, monkeypatch):
    monkeypatch.setattr(ann, "_BLOCK_ROWS", 97)  # 1,200 rows: 13 blocks, the last one short
    blocked = HNSWIndex(n_components=16, rerank=40, sparse_max_df=2).fit(X)
    np.testing.assert_array_equal(blocked.groups_, model.groups_)
    assert _index_bytes(blocked, tmp_path) == _index_bytes(model, tmp_path)
    q = np.arange(0, X.shape[0], 5)
    np.testing.assert_array_equal(blocked.similar_items(q, 10)[0], model.similar_items(q, 10)[0])


def test_round_trip_and_models_saved_before_the_row_scale(X, model, tmp_path):
    save_model(model, tmp_path / "m")
    loaded, _ = load_model(tmp_path / "m")
    q = np.arange(0, X.shape[0], 7)
    ids, scores = model.similar_items(q, 10)
    got_ids, got_scores = loaded.similar_items(q, 10)
    np.testing.assert_array_equal(got_ids, ids)
    np.testing.assert_array_equal(got_scores, scores)
    # the earlier format: L2-normalised rows, the vectors stored, no scale
    state = dict(model._get_state())
    Xn = sp.csr_matrix(X.multiply(model.row_scale_[:, None]), dtype=np.float32)
    state |= {"exact_data": Xn.data, "exact_indices": Xn.indices, "exact_indptr": Xn.indptr,
              "group_vectors": model.group_vectors_}
    del state["row_scale"]
    old = HNSWIndex(**model.get_params())
    old._set_state(state)
    old.n_items_ = model.n_items_
    assert old._stored_vectors is not None and (old.row_scale_ == 1).all()
    old_ids, old_scores = old.similar_items(q, 10)
    np.testing.assert_allclose(old_scores, scores, rtol=1e-5)
    assert (old_ids == ids).mean() > 0.99  # only exact ties at the rounding edge may swap


def test_digests_separate_distinct_rows_and_join_equal_ones():
    v = np.array([[0.5, 0.25], [0.5, 0.25], [0.25, 0.5], [-0.0, 0.0], [0.0, 0.0]], dtype=np.float32)
    d = _digest_rows(v)
    assert d[0] == d[1] and d[0] != d[2] and len(np.unique(d)) == 4  # -0.0 and 0.0 differ in bytes
    assert len(_digest_rows(np.zeros((0, 3), dtype=np.float32))) == 0


def test_a_model_file_missing_an_array_is_reported_not_raised_as_key_error(model, tmp_path):
    import json

    from recsys.atomic import sha256_file
    from recsys.errors import ModelFileError

    d = save_model(model, tmp_path / "m")
    with np.load(d / "arrays.npz") as z:
        kept = {k: z[k] for k in z.files if k != "groups"}
    np.savez(d / "arrays.npz", **kept)
    info = json.loads((d / "model.json").read_text())
    info["arrays_sha256"] = sha256_file(d / "arrays.npz")  # a consistent file that lacks an array
    (d / "model.json").write_text(json.dumps(info))
    with pytest.raises(ModelFileError, match="cannot read .*groups"):
        load_model(d)


def test_graph_columns_are_picked_exactly_as_scipy_would():
    from sklearn.preprocessing import normalize

    X = sp.random(400, 300, density=0.05, random_state=2, format="csr", dtype=np.float32)
    X = sp.vstack([sp.csr_matrix((2, 300), dtype=np.float32), X, sp.csr_matrix((3, 300), dtype=np.float32)]).tocsr()
    m = HNSWIndex(n_components=8, rerank=20, sparse_max_df=25).fit(X)  # empty rows first, inside and last
    got, ref = m._graph_part(X), normalize(X)[:, m.graph_columns_]
    assert 0 < len(m.graph_columns_) < X.shape[1]
    for attr in ("indptr", "indices", "data"):  # same entries in the same order: the projection sums alike
        np.testing.assert_array_equal(getattr(got, attr), getattr(ref, attr))


def _rss_file_kb() -> int:
    with open("/proc/self/status") as f:
        return next(int(ln.split()[1]) for ln in f if ln.startswith("RssFile"))


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="reads the resident set from /proc")
def test_fit_on_memory_mapped_rows_reads_them_where_they_lie(tmp_path):
    from sklearn.decomposition import TruncatedSVD  # noqa: F401  (its code pages are not X's)

    from recsys.mapped import is_mapped, load_csr

    rng = np.random.default_rng(7)
    X = sp.random(40_000, 3000, density=0.02, format="csr", dtype=np.float32, random_state=rng)  # ~19 MB
    X.indices, X.indptr = X.indices.astype(np.int32), X.indptr.astype(np.int32)
    path = tmp_path / "features.npz"
    np.savez(path, data=X.data, indices=X.indices, indptr=X.indptr, shape=np.asarray(X.shape, dtype=np.int64))
    params = dict(n_components=16, rerank=50, sparse_max_df=100, svd_sample=5000, M=8, ef_construction=20)
    in_memory = HNSWIndex(**params).fit(X)
    mapped = load_csr(path, mapped=True)
    before = _rss_file_kb()
    m = HNSWIndex(**params).fit(mapped)
    grown = _rss_file_kb() - before
    assert is_mapped(m.exact_.data) and np.shares_memory(m.exact_.data, mapped.data)
    # every pass handed its pages back: X (19 MB) is not resident after the fit
    assert grown < 4_000, grown
    assert _index_bytes(m, tmp_path) == _index_bytes(in_memory, tmp_path)  # the same graph
    q = np.arange(0, 40_000, 997)
    for a, b in zip(m.similar_items(q, 10), in_memory.similar_items(q, 10)):
        np.testing.assert_array_equal(a, b)
    # saved and loaded, the rows are read through a memory map of the model file
    save_model(m, tmp_path / "m")
    loaded, _ = load_model(tmp_path / "m")
    assert is_mapped(loaded.exact_.data) and is_mapped(loaded.exact_.indices)
    np.testing.assert_array_equal(loaded.similar_items(q, 10)[0], m.similar_items(q, 10)[0])


def test_the_inverted_index_is_built_by_the_first_query_not_by_fit_or_load(X, tmp_path):
    m = HNSWIndex(n_components=16, rerank=40, sparse_max_df=2).fit(X)
    assert m.graph_columns_ is not None and m._inverted is None  # a build fits and saves: no index needed
    save_model(m, tmp_path / "m")
    loaded, _ = load_model(tmp_path / "m")
    assert loaded._inverted is None
    ids, _ = loaded.similar_items([0, 1, 2], 5)
    assert loaded._inverted is not None  # the first query built it
    np.testing.assert_array_equal(ids, m.similar_items([0, 1, 2], 5)[0])
    inv = loaded.inverted_
    assert inv is loaded.inverted_  # built once
    # it holds exactly the rare entries of X
    rare = np.setdiff1d(np.arange(X.shape[1]), m.graph_columns_)
    assert (inv[:, rare] != (X[:, rare] != 0)).nnz == 0 and inv[:, m.graph_columns_].nnz == 0
