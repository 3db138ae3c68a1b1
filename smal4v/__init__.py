"""smal4v: 3D shape and pose of four-legged animals from videos with few annotated frames.

Conventions used everywhere in the package (see also ``smal4v.render.camera``):

* Model frame: x forward (towards the head), y to the animal's left, z up (right-handed).
* Camera frame: x right, y down, z forward (away from the camera); metres-like model units.
* Pixels: ``(x, y)`` order, x right, y down; the centre of pixel ``(row i, col j)`` is at
  ``(j + 0.5, i + 0.5)``; an image of width W spans ``[0, W]``.
* Pose: axis-angle per joint, ``(B, J, 3)``; joint 0 is the global rotation.
"""

__version__ = "0.1.0"
