"""The model file writer: chunked .npz that np.load reads back, memory-mapped arrays included."""

from __future__ import annotations

import numpy as np

from recsys.mapped import write_npz


def test_write_npz_round_trips_plain_and_memory_mapped_arrays(tmp_path):
    rng = np.random.default_rng(0)
    raw = rng.integers(0, 256, size=3 * 4096 + 17, dtype=np.uint8)  # not a whole number of chunks or pages
    raw.tofile(tmp_path / "blob.bin")
    arrays = {"blob": np.memmap(tmp_path / "blob.bin", dtype=np.uint8, mode="r"),
              "floats": rng.random((7, 3)).astype(np.float32), "ints": np.arange(5), "scalar": np.array(42),
              "empty": np.zeros(0, dtype=np.int32)}
    write_npz(tmp_path / "a.npz", arrays, chunk=4096)
    with np.load(tmp_path / "a.npz", allow_pickle=False) as z:
        assert sorted(z.files) == sorted(arrays)
        for k, v in arrays.items():
            assert z[k].dtype == v.dtype and z[k].shape == v.shape
            np.testing.assert_array_equal(z[k], np.asarray(v))
    np.testing.assert_array_equal(np.asarray(arrays["blob"]), raw)  # dropped pages read back from the file
