"""smal4v.train: training loops shared by the stages.

* ``config``: every hyperparameter with its default (NetConfig, SingleFrameTrainConfig,
  OnlineTrainConfig, LossConfig, AugmentConfig); unknown keys are rejected.
* ``losses``: keypoint, silhouette, 3D-parameter, vertex and temporal terms.
* ``scene``: params -> mesh, projected keypoints, soft silhouettes; model priors.
* ``loop``: seeding, device, atomic checkpoints with exact resume, progress, loss CSV/plot.
* ``datasets``: in-memory FrameDataset; ``single_frame``: train/predict the single-frame
  network; ``online``: per-sequence training of the temporal / online-single networks.
"""
