"""Geometric surface landmarks: the vertex straight above a point (BADJA's neck on the surface)."""

from __future__ import annotations

import numpy as np
import pytest

from smal4v.model import load_model
from smal4v.model.landmarks import vertex_above


def _sphere(n: int = 400) -> np.ndarray:
    """Points on the unit sphere (a Fibonacci lattice) with the exact north pole appended."""
    i = np.arange(n) + 0.5
    z = 1 - 2 * i / n
    r, phi = np.sqrt(1 - z ** 2), np.pi * (1 + 5 ** 0.5) * i
    return np.vstack([np.stack([r * np.cos(phi), r * np.sin(phi), z], 1), [[0.0, 0.0, 1.0]]])


def test_above_the_centre_of_a_sphere_is_its_north_pole():
    v = _sphere()
    assert vertex_above(v, np.zeros(3)) == len(v) - 1
    # above an off-centre inner point: the sphere's surface over it, not the pole
    p = np.array([0.5, 0.0, 0.0])
    hit = v[vertex_above(v, p)]
    assert hit[2] > 0 and np.hypot(hit[0] - 0.5, hit[1]) < 0.15
    with pytest.raises(ValueError, match="no vertex"):
        vertex_above(v, np.array([0.0, 0.0, 2.0]))


def test_procedural_neck_top_is_on_the_back_of_the_neck_above_the_joint():
    model = load_model("procedural")
    v = model.v_template.numpy()
    neck = (model.J_regressor @ model.v_template).numpy()[model.point_index("Neck")]
    top = v[model.surface_point_ids[model.surface_point_names.index("neck_top")]]
    assert abs(top[1]) < 0.02  # on the midline
    assert np.hypot(*(top - neck)[:2]) < 0.03  # straight above the joint
    # the highest vertex within that vertical column: the top surface, not a point inside
    column = np.hypot(v[:, 0] - neck[0], v[:, 1] - neck[1]) < 0.03
    assert top[2] > neck[2] + 0.03 and top[2] >= v[column, 2].max() - 0.02
