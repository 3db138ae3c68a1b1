"""The project's own SMAL-compatible procedural quadruped (the embedded default body model).

Generated from the readable spec ``resources/procedural/quadruped.yaml``: SMAL's 35-joint
skeleton as functions of body proportions, body parts as smooth implicit primitives meshed
into one closed genus-0 surface, skinning weights from primitive membership, a PCA shape space
learned from random proportions (vertex correspondence by carrying the template through the
primitives' motion), a joint regressor, shape families, and a gait-based pose prior.

Frame: x forward, y left, z up; torso axis at the origin (root/hips at x = -body_length/2),
ground near z = -0.5; the mean animal is about 1.0 long from nose tip to tail base.
"""

from smal4v.model.procedural.builder import CACHE_DIR, build_procedural_model, load_procedural
from smal4v.model.procedural.spec import load_spec, spec_hash

__all__ = ["CACHE_DIR", "build_procedural_model", "load_procedural", "load_spec", "spec_hash"]
