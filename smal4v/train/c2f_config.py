"""Settings of the coarse-to-fine stages (``c2f:`` in the config): hierarchy, GCN, stages 2 and 3.

Defaults are C2F's (METHOD.md 3.4, 3.5, 4): 256 channels, stage 2 = 10 epochs at 1e-4 with the
coarse network frozen and only the refined keypoint loss, stage 3 = 200 epochs at 1e-5 with
every term. C2F's loss weights are converted to smal4v's units: keypoint MSE here is on
coordinates divided by the crop size and summed over x and y (C2F: 224-px coordinates, mean
over both), so C2F's 10 becomes 10 * 224^2 / 2 ~ 2.5e5; the Tversky loss here is a mean over
images (C2F: a sum over a batch of 16), so C2F's 1000 becomes 1.6e4.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any

from smal4v.settings import build_settings
from smal4v.train.config import LossConfig

C2F_LOSS_TERMS: tuple[str, ...] = (
    "keypoints",  # coarse mesh keypoints (MSE, normalised coordinates)
    "keypoints_refined",  # refined mesh keypoints
    "silhouette",  # coarse mesh Tversky loss
    "silhouette_refined",  # refined mesh Tversky loss
    "laplacian",  # Laplacian coordinates of the refined mesh vs the stop-gradient coarse mesh
    "joint_limits",  # L1 hinge on the joint limits
    "pose_prior",
    "shape_prior",
    "offsets",  # not C2F's: the offsets vs the true off-model shape, on synthetic rows with 3D truth
)

STAGE_NAMES = ("stage2", "stage3", "online")
FUSIONS = ("median", "mean", "smooth")
"""How ``online_c2f`` turns the GCN's per-frame offsets into the video's (``fuse_offsets``)."""
"""The GCN's training stages: C2F's 2 and 3 (on the parent's training set) and the per-video one."""


def _c2f_loss() -> LossConfig:
    return LossConfig(keypoint_loss="mse", silhouette_loss="tversky", tversky_alpha=0.6, tversky_beta=0.4)


def _stage2_weights() -> dict[str, float]:
    return {k: 0.0 for k in C2F_LOSS_TERMS} | {"keypoints_refined": 2.5e4}


def _stage3_weights() -> dict[str, float]:
    return {"keypoints": 2.5e5, "keypoints_refined": 2.5e4, "silhouette": 1.6e4, "silhouette_refined": 1.6e3,
            "laplacian": 1e4, "joint_limits": 5000.0, "pose_prior": 1.0, "shape_prior": 1.0}


@dataclass
class HierarchyConfig:
    levels: int = 4  # decimation steps (C2F: 3889 -> 973 -> 244 -> 61 -> 16)
    factor: float = 4.0  # about this many times fewer vertices per level


@dataclass
class GCNConfig:
    channels: int = 256  # C2F's C
    head_channels: list[int] = field(default_factory=lambda: [64, 32])
    local_features: bool = True  # C2F's --local_feat: encoder maps sampled at the projected vertices
    detach_features: bool = True  # C2F detaches the global and local image features
    offset_scale: float = 0.1  # model units per unit of network output
    symmetric: bool = True  # average the full-resolution offsets with their left/right mirror
    template_input: bool = False  # not C2F's: each level-1 vertex also gets its rest-template position, so
                                  # it knows where on the animal it is whatever the pose and view


@dataclass
class C2FStageConfig:
    """One training stage of the GCN (stage 2: coarse frozen; stage 3: joint fine-tuning)."""

    epochs: int = 10
    batch_size: int = 32
    lr: float = 1e-4
    adam_betas: list[float] = field(default_factory=lambda: [0.9, 0.999])
    freeze_coarse: bool = True
    freeze_bn: bool = False  # stage 3: keep the coarse network's BatchNorm statistics (the parent's)
    seed: int = 0
    device: str = "auto"
    checkpoint_every: int = 1
    progress: bool = True
    max_steps_per_epoch: int | None = None
    loss: LossConfig = field(default_factory=_c2f_loss)
    weights: dict[str, float] = field(default_factory=_stage2_weights)


def _stage3() -> C2FStageConfig:
    return C2FStageConfig(epochs=200, batch_size=16, lr=1e-5, freeze_coarse=False, weights=_stage3_weights())


def _online() -> C2FStageConfig:
    """Not C2F's (epochs 0: off): the GCN trained on each video's own frames, on the online
    network's estimate, before ``online_c2f`` applies it (as SMAL4V trains its temporal network
    per video): the densified silhouettes at 128 px with sharp edges, the training keypoints.
    Rate and keypoint weight as chosen on synthetic seed 0 (benchmarks/results/c2f_online_seed0.md)."""
    return C2FStageConfig(epochs=0, batch_size=8, lr=1e-3, loss=replace(_c2f_loss(), mask_size=128, silhouette_sigma=0.1),
                          weights={k: 0.0 for k in C2F_LOSS_TERMS} | {"keypoints_refined": 2.5e5,
                                                                       "silhouette_refined": 1.6e3, "laplacian": 1e3})


@dataclass
class C2FConfig:
    hierarchy: HierarchyConfig = field(default_factory=HierarchyConfig)
    gcn: GCNConfig = field(default_factory=GCNConfig)
    stage2: C2FStageConfig = field(default_factory=C2FStageConfig)
    stage3: C2FStageConfig = field(default_factory=_stage3)
    online: C2FStageConfig = field(default_factory=_online)  # per video, before online_c2f (not C2F's)
    fuse: str = "median"  # online_c2f: how per-frame offsets become the video's (median | mean: one shape; smooth);
                          # the dataclass keeps the one shape, config/config.yaml smooths (docs/C2F.md)
    fuse_sigma: float = 0.0  # fuse: smooth: Gaussian sigma in frames over the per-frame offsets (0 = per frame)

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None, where: str = "c2f") -> "C2FConfig":
        """Typed settings; a stage's ``weights`` update its defaults and must name known terms."""
        d = dict(d or {})
        defaults = cls()
        for stage in STAGE_NAMES:
            if isinstance(d.get(stage), dict) and "weights" in d[stage]:
                bad = sorted(set(d[stage]["weights"]) - set(C2F_LOSS_TERMS))
                if bad:
                    raise ValueError(f"config {where}.{stage}.weights: unknown terms {bad}; known {list(C2F_LOSS_TERMS)}")
                d[stage] = {**d[stage], "weights": {**getattr(defaults, stage).weights, **d[stage]["weights"]}}
        out = build_settings(cls, d, f"config {where}")
        if out.fuse not in FUSIONS:
            raise ValueError(f"config {where}.fuse must be one of {FUSIONS}, got {out.fuse!r}")
        if out.fuse_sigma < 0:
            raise ValueError(f"config {where}.fuse_sigma must be >= 0 (frames), got {out.fuse_sigma}")
        return out

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def trains_per_video(cfg: dict[str, Any]) -> bool:
    """Whether ``online_c2f`` applies a GCN trained further on each video (``c2f.online.epochs`` > 0)."""
    return C2FConfig.from_dict(cfg).online.epochs > 0
