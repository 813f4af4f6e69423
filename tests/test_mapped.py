"""Arrays read through read-only memory maps (recsys.mapped): the members of an .npz mapped where they lie, pages
handed back after a pass, and the refusals (compressed members, Python objects, missing names)."""

from __future__ import annotations

import sys

import numpy as np
import pytest
import scipy.sparse as sp

from recsys.mapped import drop_csr_pages, drop_pages, is_mapped, load_csr, map_npz, write_csr, write_npz


def _rss_file_kb() -> int:
    with open("/proc/self/status") as f:
        return next(int(ln.split()[1]) for ln in f if ln.startswith("RssFile"))


@pytest.fixture
def csr_file(tmp_path):
    rng = np.random.default_rng(0)
    X = sp.random(3000, 500, density=0.05, format="csr", dtype=np.float32, random_state=rng)
    X.indices = X.indices.astype(np.int32)
    X.indptr = X.indptr.astype(np.int32)
    path = tmp_path / "features.npz"
    np.savez(path, data=X.data, indices=X.indices, indptr=X.indptr, shape=np.asarray(X.shape, dtype=np.int64))
    return X, path


def test_map_npz_reads_every_member_in_place(tmp_path):
    arrays = {"a": np.arange(10_000, dtype=np.float32), "b": np.arange(12, dtype=np.int64).reshape(3, 4),
              "f": np.asfortranarray(np.arange(12.0).reshape(3, 4)), "empty": np.zeros(0, dtype=np.int32)}
    np.savez(tmp_path / "x.npz", **arrays)
    got = map_npz(tmp_path / "x.npz")
    assert set(got) == set(arrays)
    for k, v in arrays.items():
        np.testing.assert_array_equal(got[k], v)
        assert got[k].dtype == v.dtype
    assert isinstance(got["a"], np.memmap) and not got["a"].flags.writeable
    assert got["f"].flags.f_contiguous
    assert set(map_npz(tmp_path / "x.npz", ["b"])) == {"b"}


def test_map_npz_refuses_what_it_cannot_map_safely(tmp_path):
    np.savez_compressed(tmp_path / "c.npz", a=np.arange(100))
    with pytest.raises(ValueError, match="compressed"):
        map_npz(tmp_path / "c.npz")
    np.savez(tmp_path / "o.npz", a=np.array([{"x": 1}], dtype=object))
    with pytest.raises(ValueError, match="Python objects"):
        map_npz(tmp_path / "o.npz")
    np.savez(tmp_path / "p.npz", a=np.arange(3))
    with pytest.raises(ValueError, match="no array 'b'"):
        map_npz(tmp_path / "p.npz", ["b"])
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(Exception, match="zip"):
        map_npz(tmp_path / "junk.npz")


def test_load_csr_mapped_equals_loaded(csr_file):
    X, path = csr_file
    mapped, read = load_csr(path, mapped=True), load_csr(path)
    assert all(is_mapped(getattr(mapped, a)) for a in ("data", "indices", "indptr"))
    assert not is_mapped(read.data)
    for a in ("data", "indices", "indptr"):
        np.testing.assert_array_equal(getattr(mapped, a), getattr(X, a))
    assert mapped.shape == X.shape and (mapped != read).nnz == 0


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads the resident set from /proc")
def test_drop_pages_hands_back_what_a_pass_read(tmp_path):
    big = np.arange(8 << 20, dtype=np.float32)  # 32 MB
    np.savez(tmp_path / "big.npz", big=big)
    m = map_npz(tmp_path / "big.npz")["big"]
    before = _rss_file_kb()
    assert m.sum(dtype=np.float64) == big.sum(dtype=np.float64)  # a pass reads every page into the resident set
    read = _rss_file_kb()
    assert read - before > 24_000
    assert drop_pages(m)
    assert _rss_file_kb() - before < 4_000
    np.testing.assert_array_equal(m[::4096], big[::4096])  # dropped pages are read again, unchanged
    # a range: only its pages go
    m.sum()
    drop_pages(m, 0, len(m) // 2)
    assert 12_000 < _rss_file_kb() - before < 20_000


def test_drop_pages_leaves_arrays_in_memory_alone(csr_file):
    X, _ = csr_file
    a = np.arange(1000, dtype=np.float32)
    assert not drop_pages(a) and not is_mapped(a)
    np.testing.assert_array_equal(a, np.arange(1000, dtype=np.float32))
    assert not drop_csr_pages(X.copy())
    # a writable map may hold changes not yet written: never dropped
    w = np.memmap(csr_file[1].parent / "w.bin", dtype=np.float32, mode="w+", shape=(1000,))
    w[:] = 7.0
    assert not is_mapped(w) and not drop_pages(w)
    assert (w == 7.0).all()


def test_write_npz_writes_mapped_arrays_in_chunks(csr_file, tmp_path):
    X, path = csr_file
    mapped = load_csr(path, mapped=True)
    write_npz(tmp_path / "copy.npz", {"data": mapped.data, "indices": mapped.indices, "indptr": mapped.indptr,
                                      "shape": np.asarray(X.shape, dtype=np.int64)}, chunk=4096)
    again = load_csr(tmp_path / "copy.npz")
    assert again.shape == X.shape and (again != X).nnz == 0
    with pytest.raises(ValueError):
        write_npz(tmp_path / "obj.npz", {"a": np.array([object()], dtype=object)})


def test_write_csr_round_trips_rows_in_memory_and_mapped(csr_file, tmp_path):
    X, path = csr_file
    for i, src in enumerate((X, load_csr(path, mapped=True))):
        write_csr(tmp_path / f"w{i}.npz", src)
        for mapped in (False, True):
            back = load_csr(tmp_path / f"w{i}.npz", mapped=mapped)
            assert back.shape == X.shape and (back != X).nnz == 0
            assert back.indices.dtype == X.indices.dtype and back.indptr.dtype == X.indptr.dtype
