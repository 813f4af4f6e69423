"""StringColumn: numpy-style reads of strings held in one Arrow array."""

from __future__ import annotations

import sys

import numpy as np
import pyarrow as pa
import pytest

from recsys.strings import StringColumn

VALUES = ["Ärzte", None, "", "Sigur Rós", "x" * 300, "🎸", "b"]


@pytest.fixture(params=["list", "ndarray", "arrow", "chunked"])
def col(request) -> StringColumn:
    src = {"list": VALUES, "ndarray": np.asarray(VALUES, dtype=object), "arrow": pa.array(VALUES),
           "chunked": pa.chunked_array([VALUES[:3], VALUES[3:]])}[request.param]
    return StringColumn(src)


def test_reads_like_the_object_array_it_replaces(col):
    ref = np.asarray(VALUES, dtype=object)
    assert len(col) == len(VALUES) and list(col) == VALUES
    for i in range(-len(VALUES), len(VALUES)):
        assert col[i] == ref[i] and type(col[i]) is type(ref[i])
    for key in ([4, 0, 4], np.array([[1, -1], [2, 3]]), ref != "b", np.array([], dtype=np.int64)):
        got = col[key]
        assert isinstance(got, np.ndarray) and got.dtype == object and got.shape == ref[key].shape
        assert got.tolist() == ref[key].tolist()
    for sl in (slice(1, 5), slice(None, None, -2), slice(5, 2), slice(-3, None)):
        assert isinstance(col[sl], StringColumn) and list(col[sl]) == ref[sl].tolist()
    assert np.asarray(col).tolist() == VALUES and np.asarray(col).dtype == object


def test_bad_keys_raise(col):
    with pytest.raises(IndexError, match="out of bounds"):
        col[len(VALUES)]
    with pytest.raises(IndexError, match="out of bounds"):
        col[np.array([0, -len(VALUES) - 1])]
    with pytest.raises(IndexError, match="boolean index"):
        col[np.array([True, False])]
    with pytest.raises(IndexError, match="integers"):
        col[np.array([0.5])]


def test_equality_concat_and_arrow_round_trip(col):
    same = StringColumn(list(VALUES))
    assert col == same and col != StringColumn(VALUES[:-1] + ["c"]) and col != StringColumn(VALUES[:2])
    both = StringColumn.concat([col, ["tail"], StringColumn([])])
    assert list(both) == VALUES + ["tail"]
    assert StringColumn(col.to_arrow()) == col and pa.types.is_large_string(col.to_arrow().type)
    assert list(StringColumn.concat([])) == []
    with pytest.raises(TypeError, match="strings"):
        StringColumn(pa.array([1, 2]))


def test_iteration_crosses_chunks(monkeypatch):
    import recsys.strings as strings

    monkeypatch.setattr(strings, "_ITER_ROWS", 3)
    vals = [f"v{i}" for i in range(10)]
    assert list(StringColumn(vals)) == vals


def test_holds_far_less_than_python_strings():
    """What the class is for: 100k artist-like ids cost their text plus offsets, not a Python object each."""
    ids = [f"{i:022d}" for i in range(100_000)]
    col = StringColumn(ids)
    python_bytes = sum(sys.getsizeof(s) for s in ids) + 8 * len(ids)
    assert col.nbytes < 0.45 * python_bytes
    assert col.nbytes <= 31 * len(ids)  # 22 bytes of text and an 8-byte offset each, plus the last offset
