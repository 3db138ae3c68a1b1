"""Surface landmarks defined by geometry rather than by a vertex id, so any model gets them.

BADJA's ``neck`` is annotated on the top of the neck, where its outline meets the withers, not at
the model's Neck joint inside the body (docs/STATUS.md: on DAVIS cows the joint sits a steady
43 px below every annotation). :func:`vertex_above` finds that surface point on any template.
"""

from __future__ import annotations

import numpy as np

__all__ = ["UP_AXIS", "vertex_above", "add_neck_top"]

UP_AXIS = 2
"""Models stand with z up (procedural model and SMAL alike; METHOD.md section 2)."""


def vertex_above(vertices: np.ndarray, point: np.ndarray) -> int:
    """Id of the surface vertex straight above ``point``: of the vertices higher than it, the one
    nearest the vertical line through it (for a point inside the body, the top surface over it)."""
    above = np.flatnonzero(vertices[:, UP_AXIS] > point[UP_AXIS])
    if above.size == 0:
        raise ValueError(f"no vertex lies above the point {point.tolist()}")
    horizontal = np.delete(vertices[above] - point, UP_AXIS, axis=1)
    return int(above[np.argmin(np.linalg.norm(horizontal, axis=1))])


def add_neck_top(surface_points: dict[str, int], v_template: np.ndarray, neck_joint: np.ndarray) -> dict[str, int]:
    """``surface_points`` with ``neck_top`` (the vertex above the rest-pose Neck joint) added."""
    return {**surface_points, "neck_top": vertex_above(v_template, neck_joint)}
