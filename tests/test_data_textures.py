"""The ray-cast environment behind synthetic animals: the ground plane is seen from above only."""

from __future__ import annotations

import dataclasses
import warnings

import numpy as np

from smal4v.data.textures import Environment

SIZE = (48, 64)


def _look_horizontally() -> np.ndarray:
    """World-to-camera rotation of a camera looking along world +x (camera y = world down)."""
    return np.array([[0.0, -1.0, 0.0], [0.0, 0.0, -1.0], [1.0, 0.0, 0.0]])


def test_ground_is_below_the_horizon_of_a_camera_above_it() -> None:
    env = Environment.random(np.random.default_rng(0), 1.0, clutter=5, tile_px=64)
    image = env.render(_look_horizontally(), np.array([0.0, 0.0, 1.0]), 40.0, SIZE)
    blank = dataclasses.replace(env, ground=np.zeros_like(env.ground), ground_far=np.zeros_like(env.ground_far))
    other = blank.render(_look_horizontally(), np.array([0.0, 0.0, 1.0]), 40.0, SIZE)
    assert np.array_equal(image[: SIZE[0] // 2 - 1], other[: SIZE[0] // 2 - 1])  # sky: the same
    assert not np.array_equal(image[SIZE[0] // 2 + 1 :], other[SIZE[0] // 2 + 1 :])  # below: the ground tile


def test_camera_below_the_ground_sees_the_panorama_without_overflow() -> None:
    """Rays toward the plane from below met it at negative distances, where the fog's exp()
    overflowed into NaN pixels; below the plane only the panorama is seen."""
    env = Environment.random(np.random.default_rng(1), 1.0, clutter=5, tile_px=64)
    camera = np.array([0.0, 0.0, -0.5])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an overflow or an invalid cast fails the test
        image = env.render(_look_horizontally(), camera, 40.0, SIZE)
    blank = dataclasses.replace(env, ground=np.zeros_like(env.ground), ground_far=np.zeros_like(env.ground_far))
    assert np.array_equal(image, blank.render(_look_horizontally(), camera, 40.0, SIZE))
