"""smal4v.evaluate: metrics (PCK, IoU, J/F, jitter, 3D errors) and Procrustes alignment.

Import the submodules directly (``from smal4v.evaluate import metrics``); nothing heavy is
imported here.
"""
