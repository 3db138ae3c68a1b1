"""The digest that makes rules rerun when the model's or the keypoint set's files are edited."""

from __future__ import annotations

import numpy as np

from smal4v.model import load_model_data
from smal4v.model.definitions import definitions_digest
from smal4v.model.keypoints import KEYPOINT_DIR


def test_digest_follows_file_content_not_names(tmp_path):
    kp = tmp_path / "custom.yaml"
    kp.write_bytes((KEYPOINT_DIR / "badja20.yaml").read_bytes())
    first = definitions_digest("procedural", str(kp))
    assert definitions_digest("procedural", str(kp)) == first  # stable
    assert definitions_digest("procedural", "badja20") == first  # same content by name or path
    kp.write_text(kp.read_text().replace("point: neck_top", "point: Neck"))
    edited = definitions_digest("procedural", str(kp))
    assert edited != first
    assert definitions_digest("procedural", "stanford_extra") not in (first, edited)


def test_digest_follows_a_model_file(tmp_path):
    path = tmp_path / "animal.npz"
    data = load_model_data("procedural")
    data.save_npz(path)
    before = definitions_digest(str(path), "badja20")
    assert before != definitions_digest("procedural", "badja20")
    data.v_template = data.v_template + np.array([0.0, 0.0, 0.01])
    data.save_npz(path)
    assert definitions_digest(str(path), "badja20") != before
    # a missing file is left for the rule that reads it to report
    assert definitions_digest(str(tmp_path / "absent.pkl"), "badja20") != before
