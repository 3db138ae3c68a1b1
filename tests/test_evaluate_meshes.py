"""OBJ export: a written mesh reads back exactly (1-based faces in the file), bad shapes refused."""

import numpy as np
import pytest

from smal4v.evaluate.meshes import read_obj, write_obj, write_obj_sequence


def test_obj_round_trip_and_one_based_faces(tmp_path):
    v = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0.5]], dtype=float)
    f = np.array([[0, 1, 2]])
    path = write_obj(tmp_path / "m.obj", v, f)
    assert "f 1 2 3" in path.read_text()
    v2, f2 = read_obj(path)
    np.testing.assert_allclose(v2, v, atol=1e-6)
    np.testing.assert_array_equal(f2, f)


def test_sequence_and_bad_shapes(tmp_path):
    paths = write_obj_sequence(tmp_path / "seq", np.zeros((3, 4, 3)), np.array([[0, 1, 2], [0, 2, 3]]))
    assert [p.name for p in paths] == ["frame_000000.obj", "frame_000001.obj", "frame_000002.obj"]
    with pytest.raises(ValueError, match="bad.obj"):
        write_obj(tmp_path / "bad.obj", np.zeros((4, 2)), np.array([[0, 1, 2]]))
