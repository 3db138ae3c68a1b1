"""smal4v.segment: silhouette densification (``propagate``: confidence-weighted bidirectional flow
propagation with a pluggable segmenter prior, the default; ``flow``; ``osvos``; ``osvos+flow``).

Import the submodules directly (``from smal4v.segment import flow``).
"""
