"""smal4v.report: what ``snakemake --report`` shows beyond plots and videos.

Animated meshes per video (one GLB file, :mod:`~smal4v.report.glb`), a self-contained WebGL
viewer page that plays them (:mod:`~smal4v.report.viewer`, its JavaScript ``viewer.js`` ships
with the package) and the variant / per-part tables (:mod:`~smal4v.report.tables`).
"""
