"""GenreInference: label propagation over link families, confidence, and its held-out evaluation."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest
import scipy.sparse as sp
from features_helpers import artists_only, make_catalog

import recsys.features.combine as combine_module
import recsys.features.genre_inference as gi_module
from recsys.features import GenreInference, evaluate_genre_inference
from recsys.features.genre_inference import _Propagator, _Sweep
from recsys.features.genres import genre_incidence

K1, K2, K3, U1, U2, U3, U4 = range(7)
LINKS = {"collaborations": 1.0, "labels": 1.0}


@pytest.fixture
def graph(tmp_path):
    """K1, K2 drone and K3 punk have genres. U1 collaborates with K1; U2 shares only a label with U1;
    U3 has no links; U4 collaborates with K1 and with K3."""
    albums = [{"label": "Tiny Label"}, {"label": "Tiny Label"}, {"label": ""}]
    tracks = [(0, [U1]), (1, [U2]), (2, [K1, U1]), (2, [K1, U4]), (2, [K3, U4]), (2, [U3]), (2, [K2])]
    genres = [(K1, "drone"), (K2, "drone"), (K3, "punk")]
    return make_catalog(tmp_path / "g", artists=7, albums=albums, tracks=tracks, genres=genres)


def test_propagation_and_confidence(graph):
    gi = GenreInference(link_weights=LINKS).fit(graph)
    X = gi.transform(graph)
    assert list(gi.get_feature_names_out()) == ["inferred_genre=drone", "inferred_genre=punk"]
    assert X.shape == (7, 2) and X.dtype == np.float32
    # artists with real genres: zero rows, confidence 1
    assert X[[K1, K2, K3]].nnz == 0 and (gi.confidence_[[K1, K2, K3]] == 1).all()
    assert gi.top_genres(U1, 3) == [("drone", pytest.approx(1.0))]
    assert gi.top_genres(U2, 1)[0][0] == "drone"  # two hops: via U1
    assert gi.top_genres(U4, 2) == [("drone", pytest.approx(0.5)), ("punk", pytest.approx(0.5))]
    c = gi.confidence_
    # all of U4's neighbours have genres (mass alpha) but disagree -> 0.5
    assert c[U4] == pytest.approx(0.5, abs=1e-4)
    assert 1 > c[U1] > c[U2] > c[U4] and c[U3] == 0
    assert gi.is_inferred_.tolist() == [False, False, False, True, True, False, True]
    np.testing.assert_allclose(np.asarray(X.sum(axis=1)).ravel()[[U1, U2, U4]], 1.0, rtol=1e-5)


def test_min_confidence_and_link_weights(graph):
    gi = GenreInference(link_weights=LINKS, min_confidence=0.6)
    X = gi.fit(graph).transform(graph)
    assert gi.is_inferred_[U1] and not gi.is_inferred_[U4] and X[U4].nnz == 0
    no_labels = GenreInference(link_weights={"collaborations": 1.0}).fit(graph)
    no_labels.transform(graph)
    assert no_labels.confidence_[U2] == 0  # only a label links U2


def test_bad_params(graph):
    with pytest.raises(ValueError, match=r"unknown link family \['friends'\]; known: \['collaborations'"):
        GenreInference(link_weights={"friends": 1.0}).fit(graph)
    for kwargs, msg in [({"alpha": 1.0}, "alpha"), ({"n_iter": 0}, "n_iter"), ({"top_k": 0}, "top_k"),
                        ({"min_confidence": 2}, "min_confidence"), ({"link_weights": {"labels": -1}}, "labels"),
                        ({"n_jobs": 0}, r"n_jobs must be an int >= 1, or -1 for every available CPU, got 0"),
                        ({"n_jobs": -2}, "n_jobs"), ({"n_jobs": 1.5}, "n_jobs"), ({"n_jobs": True}, "n_jobs"),
                        ({"max_dense_cells": -1}, r"max_dense_cells must be an int >= 0 \(float32 cells"),
                        ({"max_dense_cells": 1e8}, "max_dense_cells")]:
        with pytest.raises(ValueError, match=msg):
            GenreInference(**kwargs).fit(graph)


def test_sparse_path_matches_dense_path(graph):
    dense = GenreInference(link_weights=LINKS).fit(graph)
    dense.transform(graph)
    sparse = GenreInference(link_weights=LINKS, max_dense_cells=0).fit(graph)
    sparse.transform(graph)
    np.testing.assert_allclose(sparse.distribution_.toarray(), dense.distribution_.toarray(), atol=1e-5)
    np.testing.assert_allclose(sparse.confidence_, dense.confidence_, atol=1e-5)


@pytest.mark.parametrize("expand_factor", [0.0, 1e9])
def test_factorised_adjacency_equals_explicit(expand_factor):
    rng = np.random.default_rng(3)
    n = 12
    parts = [(w, sp.csr_matrix((rng.random((n, m)) < 0.3).astype(np.float32))) for w, m in ((1.0, 9), (0.4, 5))]
    A = np.zeros((n, n))
    for w, B in parts:
        b = B.toarray()
        df = b.sum(axis=0)
        A += w * (b / np.where(df > 0, df, 1)) @ b.T
    np.fill_diagonal(A, 0)
    rs = A.sum(axis=1, keepdims=True)
    A = np.divide(A, rs, out=np.zeros_like(A), where=rs > 0)
    G = rng.random((n, 4)).astype(np.float32)
    prop = _Propagator(parts, n, expand_factor=expand_factor)
    np.testing.assert_allclose(prop.apply(G), A @ G, atol=1e-5)
    np.testing.assert_allclose(prop.apply(sp.csr_matrix(G)).toarray(), A @ G, atol=1e-5)


def test_catalog_without_genres_or_links(tmp_path):
    empty = artists_only(tmp_path)
    gi = GenreInference().fit(empty)
    assert gi.transform(empty).shape == (3, 0) and (gi.confidence_ == 0).all()
    cat = make_catalog(tmp_path / "nolinks", artists=3, genres=[(0, "jazz")])
    gi = GenreInference().fit(cat)
    X = gi.transform(cat)
    assert X.shape == (3, 1) and X.nnz == 0 and not gi.is_inferred_.any()


def test_demo_precision_beats_majority_baseline(small_demo):
    _, catalog = small_demo
    r = evaluate_genre_inference(catalog, holdout=0.3, seed=0)
    # majority baseline, computed here: always guess the most common genre
    m, keys = genre_incidence(catalog)
    has = np.diff(m.indptr) > 0
    counts = np.asarray(m[has].sum(axis=0)).ravel()
    baseline = counts.max() / has.sum()
    assert r["n_evaluated"] == round(0.3 * has.sum())
    assert r["coverage"] > 0.9
    assert r["precision_at_1"] > baseline + 0.3, (r, baseline)
    assert r["recall_at_5"] > 0.35
    assert evaluate_genre_inference(catalog, holdout=0.3, seed=0) == r  # deterministic for a seed
    with pytest.raises(ValueError, match="holdout"):
        evaluate_genre_inference(catalog, holdout=1.0)


@pytest.mark.parametrize("cells", [0, 700_000])
def test_blocked_columns_equal_the_dense_propagation(small_demo, cells):
    """Genres are propagated a block of columns at a time, as many as the budget allows (1, 2 and 64 of 694
    here): every kept value equals the widest blocks'; only which of several genres tied at the top_k-th place
    is kept may differ."""
    cat = small_demo[1]
    dense = GenreInference(max_dense_cells=10**9).fit(cat)
    dense.transform(cat)
    blocked = GenreInference(max_dense_cells=cells).fit(cat)
    blocked.transform(cat)
    a, b = dense.distribution_, blocked.distribution_
    assert a.nnz == b.nnz > 0
    np.testing.assert_array_equal(np.diff(a.indptr), np.diff(b.indptr))
    for i in np.flatnonzero(np.diff(a.indptr)):
        np.testing.assert_array_equal(np.sort(a[i].data), np.sort(b[i].data))
    np.testing.assert_allclose(blocked.confidence_, dense.confidence_, atol=1e-6)
    differ = np.unique((a != b).nonzero()[0])
    assert len(differ) <= 0.05 * a.shape[0]  # tie choices only (measured: 65 rows of 3,000 with 1 column a block)


def plain_propagation(gi: GenreInference, catalog) -> tuple[np.ndarray, np.ndarray]:
    """The reference the fast paths must match: ``n_iter`` steps of ``G <- where(known, seed, alpha A G)`` with
    :meth:`_Propagator.apply` on the whole dense G (every row, every genre column at once)."""
    G0 = gi._seed(catalog)
    known = np.diff(G0.indptr) > 0
    prop = gi._propagator(catalog)
    seed = G0.toarray().astype(np.float32)
    G = seed.copy()
    for _ in range(gi.n_iter):
        G = np.where(known[:, None], seed, gi.alpha * prop.apply(G))
    return G, known


def assert_matches_plain(gi: GenreInference, catalog) -> None:
    """``gi`` (after transform) holds the plain propagation's top_k per artist, normalised, and its confidence."""
    G, known = plain_propagation(gi, catalog)
    k = G.shape[1] if gi.top_k is None else min(gi.top_k, G.shape[1])
    top = -np.sort(-G, axis=1)[:, :k]
    mass = top.sum(axis=1)
    expected = np.divide(top, mass[:, None], out=np.zeros_like(top), where=mass[:, None] > 0)
    D = gi.distribution_
    got = np.zeros_like(top)
    for i in range(D.shape[0]):
        got[i, :D[i].nnz] = -np.sort(-D[i].data)
    np.testing.assert_allclose(got, expected, atol=1e-6)  # the same top_k values per artist
    coo = D.tocoo()  # ... held by genres with those values (which of tied genres is kept may differ)
    np.testing.assert_allclose(coo.data, G[coo.row, coo.col] / mass[coo.row], atol=1e-6)
    conf = np.clip(np.where(known, 1.0, mass / gi.alpha * expected[:, 0]), 0, 1)
    np.testing.assert_allclose(gi.confidence_, conf, atol=1e-6)


@pytest.mark.parametrize("params", [
    {"n_jobs": 1, "max_dense_cells": 10**9},  # blocks of 64 genres, one thread
    {"n_jobs": 2, "max_dense_cells": 0},  # one genre a block, two threads
    {"n_jobs": 3, "max_dense_cells": 10**9, "top_k": None},  # every genre kept
    {"n_jobs": 2, "max_dense_cells": 10**9, "top_k": 3, "alpha": 0.5, "n_iter": 4},
])
def test_fast_propagation_equals_the_plain_dense_one(small_demo, monkeypatch, params):
    """Reachable rows only, in cache-friendly order, blocks of columns, threads: the plain dense result."""
    # small chunks so the chunked loops (link rescaling, stacking, top-k merge) take several rounds here too
    monkeypatch.setattr(combine_module, "_CHUNK_NNZ", 1000)
    monkeypatch.setattr(gi_module, "_MERGE_ROWS", 700)
    cat = small_demo[1]
    gi = GenreInference(**params).fit(cat)
    X = gi.transform(cat)
    assert X.nnz > 0
    assert_matches_plain(gi, cat)


@pytest.fixture
def chain(tmp_path):
    """K0 (jazz) - U1 - U2 - U3 - U4 collaborate in a chain; U5 - U6 collaborate with each other only; U7 has no
    links; K8 (rock) shares a label with U1."""
    albums = [{"label": ""}, {"label": "Small Label"}, {"label": "Small Label"}]
    tracks = [(0, [0, 1]), (0, [1, 2]), (0, [2, 3]), (0, [3, 4]), (0, [5, 6]), (0, [7]), (1, [1]), (2, [8])]
    return make_catalog(tmp_path / "chain", artists=9, albums=albums, tracks=tracks,
                        genres=[(0, "jazz"), (8, "rock")])


@pytest.mark.parametrize("n_iter", [1, 2, 10])
def test_rows_out_of_reach_are_skipped(chain, n_iter):
    """Only artists at most n_iter links from a known one are propagated; the others stay empty, as in the
    plain propagation."""
    gi = GenreInference(link_weights=LINKS, n_iter=n_iter).fit(chain)
    gi.transform(chain)
    assert_matches_plain(gi, chain)
    G0 = gi._seed(chain)
    known = np.diff(G0.indptr) > 0
    sweep = _Sweep(gi._propagator(chain), known, alpha=gi.alpha, n_hops=n_iter)
    reach = {1: {0, 1, 8}, 2: {0, 1, 2, 8}, 10: {0, 1, 2, 3, 4, 8}}[n_iter]
    assert set(sweep.rows.tolist()) == reach and sweep.n_free == len(reach) - 2
    assert set(sweep.rows[sweep.n_free:].tolist()) == {0, 8}  # known rows after the computed ones
    has = np.flatnonzero(np.diff(gi.distribution_.indptr) > 0)
    assert set(has.tolist()) == reach


def test_budget_bounds_the_working_memory(small_demo):
    """``max_dense_cells`` bounds what propagation allocates (traced by tracemalloc) beyond the result."""
    cat = small_demo[1]

    def run(cells: int) -> tuple[int, int, int]:
        gi = GenreInference(max_dense_cells=cells, n_jobs=1).fit(cat)
        G0 = gi._seed(cat)
        sweep = _Sweep(gi._propagator(cat), np.diff(G0.indptr) > 0, alpha=gi.alpha, n_hops=gi.n_iter)
        width = gi._block_width(sweep, G0.shape[1], gi.top_k, 1)
        tracemalloc.start()
        try:
            G = gi._propagate(sweep, G0, 1)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        return width, peak, G.data.nbytes + G.indices.nbytes

    gi = GenreInference(n_jobs=1).fit(cat)
    G0 = gi._seed(cat)
    sweep = _Sweep(gi._propagator(cat), np.diff(G0.indptr) > 0, alpha=gi.alpha, n_hops=gi.n_iter)
    fixed, per_column = gi._block_cells(sweep, G0.shape[1], gi.top_k, 1)
    cells_8 = fixed + 8 * per_column
    width_8, peak_8, result = run(cells_8)
    width_64, peak_64, _ = run(10**9)
    assert (width_8, width_64) == (8, 64)
    # the running top_k (values, genres) and the result are outside the budget: about 3x the result's bytes
    assert peak_8 <= 4 * cells_8 + 3 * result
    assert peak_64 > 1.5 * peak_8  # the budget did hold the blocks back


@pytest.mark.parametrize("n_chunks", [1, 5])
def test_split_products_are_bit_identical_to_the_whole_products(small_demo, n_chunks):
    """The sweep adds M's parts (co-credit links to U rows, to known rows, the rest) and B^T's parts (U
    artists, known artists) one after the other, skipping the U parts in the first step and the known rows
    without a genre of the block: the float32 result equals, bit for bit, the plain loop of whole products
    ``H = B^T @ G``, ``G[U] = M @ [G; H]`` (the order every sum is added in is the same)."""
    cat = small_demo[1]
    gi = GenreInference().fit(cat)
    G0 = gi._seed(cat)
    sweep = _Sweep(gi._propagator(cat), np.diff(G0.indptr) > 0, alpha=gi.alpha, n_hops=gi.n_iter,
                   n_chunks=n_chunks, n_token_chunks=max(1, n_chunks - 2))
    n_s, n_free = len(sweep.rows), sweep.n_free
    width = n_s + sweep.n_tokens
    assert sweep.e_free.nnz and sweep.e_known.nnz and len(sweep.bt_chunks) == max(1, n_chunks - 2)
    # M whole: each row's entries in the order of the parts
    parts = [(sweep.e_free, 0), (sweep.e_known, 0),
             (sp.vstack([m for m in sweep.m_rest], format="csr"), 0)]
    M = combine_module.stack_columns(parts, width)
    seed_all = G0[sweep.rows[n_free:]].toarray().astype(np.float32)
    for cols in (slice(0, 64), slice(5, 8)):  # wide, and narrow: most known rows have no genre of the block
        seed = np.ascontiguousarray(seed_all[:, cols])
        if cols == slice(5, 8):
            assert (~seed.any(axis=1)).mean() > 0.5  # the skip of dead known rows is exercised
        X = np.zeros((width, seed.shape[1]), dtype=np.float32)
        X[n_free:n_s] = seed
        for _ in range(gi.n_iter):
            for a, b, m in sweep.bt_chunks:
                X[n_s + a:n_s + b] = m @ X[:n_s]
            X[:n_free] = np.maximum(M @ X, 0.0)
        got = sweep.run(seed, gi.n_iter)
        assert got.dtype == np.float32 and np.count_nonzero(got[:n_free]) > 0
        np.testing.assert_array_equal(got, X[:n_s])
