"""The model contract, run against every registered model over a fixture whose answer is known by construction.

Fixture: 8 disjoint communities of 6 items. Items in a community share that community's features (plus a
private feature each), items of different communities share none. So every item's 5 true neighbours are the
other members of its community, and nothing else may score above them.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from recsys.artifacts import load_model, save_model
from recsys.errors import ModelFileError, NotFittedError
from recsys.models.base import MODEL_REGISTRY

N_COMM, SIZE = 8, 6
N = N_COMM * SIZE


def community_matrix(seed: int = 0) -> sp.csr_matrix:
    rng = np.random.default_rng(seed)
    rows, cols, vals = [], [], []
    for i in range(N):
        c = i // SIZE
        for f in range(3):  # three shared features per community
            rows.append(i), cols.append(c * 3 + f), vals.append(1.0 + 0.1 * rng.random())
        rows.append(i), cols.append(N_COMM * 3 + i), vals.append(0.3)  # a private feature
    return sp.csr_matrix((vals, (rows, cols)), shape=(N, N_COMM * 3 + N), dtype=np.float32)


def community(i):
    return set(range((i // SIZE) * SIZE, (i // SIZE + 1) * SIZE)) - {i}


def make(name):
    return MODEL_REGISTRY[name]()


MODELS = sorted(MODEL_REGISTRY)


@pytest.fixture(params=MODELS)
def fitted(request):
    return make(request.param).fit(community_matrix())


def test_registry_not_empty():
    assert "exact_cosine" in MODELS


def test_fit_returns_self_and_constructor_only_stores():
    for name in MODELS:
        m = make(name)
        assert not m.is_fitted
        assert m.fit(community_matrix()) is m and m.is_fitted


def test_recovers_communities(fitted):
    ids, scores = fitted.similar_items(np.arange(N), SIZE - 1)
    for i in range(N):
        assert set(ids[i].tolist()) == community(i)


def test_scalar_gives_1d_and_array_gives_2d(fitted):
    ids, scores = fitted.similar_items(3, 4)
    assert ids.shape == scores.shape == (4,)
    ids2, scores2 = fitted.similar_items([3], 4)
    assert ids2.shape == scores2.shape == (1, 4)
    ids3, _ = fitted.similar_items(np.int64(3), 4)
    assert ids3.shape == (4,)


def test_batch_equals_per_id(fitted):
    q = np.array([0, 7, 13, 47, 20])
    ids, scores = fitted.similar_items(q, 7)
    for k, i in enumerate(q):
        one_ids, one_scores = fitted.similar_items(int(i), 7)
        np.testing.assert_array_equal(one_ids, ids[k])
        np.testing.assert_allclose(one_scores, scores[k], rtol=1e-5)


def test_scores_sorted_and_self_never_returned(fitted):
    ids, scores = fitted.similar_items(np.arange(N), 10)
    assert (scores[:, :-1] >= scores[:, 1:] - 1e-6).all()  # -inf padding compares fine
    assert not (ids == np.arange(N)[:, None]).any()


def test_padding_when_fewer_than_n(fitted):
    ids, scores = fitted.similar_items(0, 3, candidates=[1, 2])
    assert ids[2] == -1 and scores[2] == -np.inf
    assert set(ids[:2].tolist()) == {1, 2}


def test_exclude_and_candidates_honoured(fitted):
    ids, _ = fitted.similar_items(0, 5, exclude=[1, 2])
    assert not {1, 2} & set(ids.tolist())
    ids, _ = fitted.similar_items(0, 3, candidates=[30, 31, 2])
    assert set(ids[ids >= 0].tolist()) <= {30, 31, 2} and ids[0] == 2


def test_argument_errors_name_the_parameter(fitted):
    with pytest.raises(ValueError, match="exclude or candidates"):
        fitted.similar_items(0, 3, exclude=[1], candidates=[2])
    with pytest.raises(ValueError, match="n must be >= 1"):
        fitted.similar_items(0, 0)
    with pytest.raises(TypeError, match="n must be an int"):
        fitted.similar_items(0, 2.5)
    with pytest.raises(TypeError, match="item_ids"):
        fitted.similar_items("0", 3)
    with pytest.raises(IndexError, match="item_ids.*outside"):
        fitted.similar_items(N, 3)
    with pytest.raises(IndexError, match="exclude"):
        fitted.similar_items(0, 3, exclude=[-1])


def test_not_fitted_error():
    for name in MODELS:
        with pytest.raises(NotFittedError, match="fit"):
            make(name).similar_items(0, 3)


def test_fixed_seed_repeats():
    for name in MODELS:
        a = make(name).fit(community_matrix()).similar_items(np.arange(N), 5)
        b = make(name).fit(community_matrix()).similar_items(np.arange(N), 5)
        np.testing.assert_array_equal(a[0], b[0])
        np.testing.assert_array_equal(a[1], b[1])


def test_save_load_round_trip_exactly(fitted, tmp_path):
    save_model(fitted, tmp_path / "m", metadata={"note": "x"})
    loaded, info = load_model(tmp_path / "m")
    assert type(loaded) is type(fitted) and info["metadata"] == {"note": "x"}
    a, b = fitted.similar_items(np.arange(N), 6), loaded.similar_items(np.arange(N), 6)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])


def test_damaged_or_foreign_model_files(fitted, tmp_path):
    save_model(fitted, tmp_path / "m")
    arrays = tmp_path / "m" / "arrays.npz"
    data = bytearray(arrays.read_bytes())
    data[len(data) // 2] ^= 0xFF
    arrays.write_bytes(bytes(data))
    with pytest.raises(ModelFileError, match="checksum"):
        load_model(tmp_path / "m")
    (tmp_path / "m" / "model.json").write_text('{"format": "recsys-model", "format_version": 1, "model": "evil"}')
    with pytest.raises(ModelFileError, match="unknown model 'evil'"):
        load_model(tmp_path / "m")
    with pytest.raises(ModelFileError, match="not a model directory"):
        load_model(tmp_path / "nowhere")


def test_pickled_arrays_are_refused(fitted, tmp_path):
    # A file that smuggles a Python object must not be loaded (allow_pickle=False), even with a valid checksum.
    import json

    from recsys.atomic import sha256_file

    save_model(fitted, tmp_path / "m")
    arrays = tmp_path / "m" / "arrays.npz"
    state = dict(np.load(arrays, allow_pickle=False))
    state["n_items_"] = np.array([{"evil": 1}], dtype=object)
    np.savez(arrays, **state)
    info = json.loads((tmp_path / "m" / "model.json").read_text())
    info["arrays_sha256"] = sha256_file(arrays)
    (tmp_path / "m" / "model.json").write_text(json.dumps(info))
    with pytest.raises(ModelFileError, match="cannot read"):
        load_model(tmp_path / "m")


def test_fit_rejects_bad_input():
    for name in MODELS:
        with pytest.raises(TypeError, match="2-D"):
            make(name).fit(np.ones(5))
        with pytest.raises(ValueError, match="at least 2 items"):
            make(name).fit(np.ones((1, 3)))
