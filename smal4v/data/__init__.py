"""smal4v.data: artifacts (HDF5 schema), video I/O, frame extraction, cropping, annotations.

Import the submodules directly (``from smal4v.data import artifacts``); this package imports
nothing heavy so that ``import smal4v.data`` stays fast.
"""
