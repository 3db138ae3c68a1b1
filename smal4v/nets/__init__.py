"""smal4v.nets: networks predicting SMAL parameters.

* ``resnet``: torchvision-compatible ResNet-18/34/50 (+ ``resnet_tiny`` for CPU), weight loading.
* ``encoder``: ImageEncoder (ImageNet normalisation inside; global feature + layer maps).
* ``heads``: SMALHeads (6D pose with a side-view root default, betas at a family mean, trans,
  focal); ``params``: the SMALParams bundle.
* ``single_frame``: SingleFrameNet and ``build_single_frame_net`` (base / parent networks).
* ``temporal``: TemporalNet (online), OnlineSingleNet (ablation), windows and their merging.
"""
