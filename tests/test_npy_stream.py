"""Arrays appended a block at a time are ordinary .npy files, read back a range at a time."""

from __future__ import annotations

import numpy as np
import pytest

from index.durable import Steps
from index.npy_stream import NpyAppender, NpyRows
from index.tables import SENTENCE_ROW


@pytest.mark.parametrize("dtype,row_shape", [(np.float32, (5,)), (np.int32, ()),
                                             (SENTENCE_ROW, ())])
def test_appended_rows_load_with_numpy_and_memory_map(tmp_path, dtype, row_shape) -> None:
    rng = np.random.default_rng(0)
    parts = [np.zeros((n, *row_shape), dtype=dtype) for n in (3, 0, 7)]
    for part in parts:
        if np.dtype(dtype).names is None:
            part[...] = rng.integers(0, 100, size=part.shape)
        else:
            part["start"] = rng.integers(0, 100, size=len(part))
    steps: list[str] = []
    appender = NpyAppender(tmp_path / "a.npy", dtype, row_shape, tmp_path, Steps(steps.append))
    for part in parts:
        appender.append(part)
    appender.finish()
    assert steps == ["write a.npy", "fsync a.npy"]
    whole = np.concatenate(parts)
    assert np.array_equal(np.load(tmp_path / "a.npy", allow_pickle=False), whole)
    mapped = np.load(tmp_path / "a.npy", mmap_mode="r", allow_pickle=False)
    assert mapped.dtype == np.dtype(dtype) and np.array_equal(mapped, whole)
    rows = NpyRows(tmp_path / "a.npy")
    assert len(rows) == 10 and np.array_equal(rows.read(2, 6), whole[2:6])
    assert np.array_equal(np.concatenate([b for _, b in rows.blocks(4)]), whole)
    assert np.array_equal(rows.take(np.array([0, 4, 9])), whole[[0, 4, 9]])


def test_empty_file_and_wrong_rows(tmp_path) -> None:
    appender = NpyAppender(tmp_path / "e.npy", np.float32, (3,), tmp_path, Steps(None))
    with pytest.raises(ValueError, match="rows of shape"):
        appender.append(np.zeros((2, 4), dtype=np.float32))
    appender.finish()
    assert np.load(tmp_path / "e.npy").shape == (0, 3)
    assert NpyRows(tmp_path / "e.npy").read(0, 5).shape == (0, 3)


def test_a_file_cut_short_is_refused(tmp_path) -> None:
    np.save(tmp_path / "c.npy", np.zeros((10, 4), dtype=np.float32))
    data = (tmp_path / "c.npy").read_bytes()
    (tmp_path / "c.npy").write_bytes(data[:-8])
    with pytest.raises(ValueError, match="size does not match"):
        NpyRows(tmp_path / "c.npy")
