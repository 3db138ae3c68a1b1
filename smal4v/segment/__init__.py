"""smal4v.segment: silhouette densification (``flow``: classical optical-flow propagation).

Import the submodules directly (``from smal4v.segment import flow``).
"""
