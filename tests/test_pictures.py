"""Contact sheet and ground-truth overlay GIF."""

from __future__ import annotations

import cv2
import imageio.v3 as iio
import numpy as np
import pytest
import torch

from smal4v.evaluate.pictures import contact_sheet, named_pose, overlay_gif


@pytest.fixture(scope="module")
def model():
    from smal4v.model import load_model

    torch.set_num_threads(1)
    return load_model("procedural")


def test_contact_sheet_has_one_drawn_cell_per_family_and_pose(tmp_path, model):
    fams = [f.name for f in model.shape_families][:2]
    out = contact_sheet(model, tmp_path / "sheet.png", families=fams, poses=("stand", "walk", "trot"), size=64)
    img = cv2.imread(str(out))[..., ::-1]
    assert img.shape == (2 * 64, 3 * 64, 3)
    cells = {}
    for r in range(2):
        for c in range(3):
            cell = img[r * 64:(r + 1) * 64, c * 64:(c + 1) * 64].astype(int)
            # background is flat grey/white; the animal is coloured (channels differ)
            coloured = (cell.max(2) - cell.min(2)) > 25
            assert 0.08 < coloured.mean() < 0.8, (r, c, coloured.mean())
            cells[r, c] = coloured
    # poses differ: the stand and walk silhouettes of a row are not the same
    assert (cells[0, 0] ^ cells[0, 1]).mean() > 0.01


def test_contact_sheet_rejects_unknown_family(tmp_path, model):
    with pytest.raises(ValueError, match="unicorn"):
        contact_sheet(model, tmp_path / "x.png", families=["unicorn"], size=32)
    with pytest.raises(ValueError, match="gallop"):
        named_pose("gallop", 35)


def test_overlay_gif_marks_annotated_frames(tmp_path, model):
    from smal4v.data.synthetic import generate_sequence

    cfg = {"image_size": [64, 64], "n_frames": 6, "keypoint_every": 3, "mask_every": 3, "clutter": 10}
    generate_sequence(tmp_path / "seq", 3, cfg, family="cow", model=model)
    out = overlay_gif(tmp_path / "seq", tmp_path / "gt.gif", model=model, max_side=None)
    frames = iio.imread(out, index=None)
    assert frames.shape[:3] == (6, 64, 64)
    video = iio.imread(tmp_path / "seq" / "video.mp4", plugin="pyav")
    # overlay changes the animal's pixels but not (much of) the background
    changed = np.abs(frames[..., :3].astype(int) - video.astype(int)).max(-1) > 30
    assert 0.02 < changed[1].mean() < 0.8
    # annotated frames 0 and 3 carry a yellow border, frame 1 does not
    def yellow_border(f):
        edge = f[2, 10:-10, :3].astype(int)
        return ((edge[:, 0] > 200) & (edge[:, 1] > 180) & (edge[:, 2] < 80)).mean() > 0.8
    assert yellow_border(frames[0]) and yellow_border(frames[3]) and not yellow_border(frames[1])
