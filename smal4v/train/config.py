"""Every hyperparameter of the networks and training loops, with defaults, in one place.

Stages receive plain dicts (a subtree of the Snakemake config); ``Config.from_dict`` fills
defaults, converts every value to its declared type (``--config`` overrides arrive as strings)
and rejects unknown keys with a message naming them, so a typo in config.yaml fails loudly
instead of silently using a default.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal, TypeVar

from smal4v.nets.heads import DEFAULT_ROOT_ROTATION
from smal4v.settings import build_settings

T = TypeVar("T", bound="_Base")

LOSS_TERMS: tuple[str, ...] = (
    "keypoints",  # 2D keypoints, crop px / crop size, visibility-weighted
    "silhouette",  # rendered soft silhouette vs mask
    "betas",  # 3D supervision (synthetic): MSE on betas
    "pose",  # geodesic angle per joint (radians), mean
    "root_pose",  # geodesic angle of the root (global) rotation (radians)
    "pose_matrix",  # squared Frobenius distance of the joint rotation matrices, mean over joints
    "root_matrix",  # the same for the root (global) rotation alone
    "view",  # cross-entropy of the true azimuth bin (network.view_bins > 0)
    "interpolated_keypoints",  # online: keypoints vs the training keypoints interpolated in time (soft targets)
    "head_detections",  # online: keypoints vs the parent's keypoint-head detections on unannotated frames (soft targets)
    "detected_keypoints",  # network.keypoint_head: its heatmap keypoints vs the 2D keypoints (as "keypoints")
    "keypoint_visibility",  # network.keypoint_head: binary cross-entropy of its visibility logits
    "detected_heatmaps",  # network.keypoint_head: KL from a Gaussian at each keypoint to its heatmap (loss.heatmap_sigma)
    "detected_silhouette",  # network.silhouette_head: binary cross-entropy of its silhouette map vs the mask
    "trans",  # MSE on camera translation
    "focal",  # squared log-ratio of focal lengths
    "vertices",  # mean L2 vertex distance (camera frame)
    "limb_scale",  # MSE on limb log-scales (if both present)
    "pose_prior",  # smal4v.model.priors.PosePriorLoss
    "shape_prior",  # smal4v.model.priors.ShapePriorLoss
    "joint_limits",  # smal4v.model.priors.JointLimitLoss
    "limb_scale_reg",  # squared limb log-scales (keeps them near 1x)
    "temporal_keypoints",  # finite differences of projected keypoints over time (normalised)
    "temporal_pose",  # finite differences of joint rotation matrices over time
    "temporal_camera",  # finite differences of translation and log focal over time
    "offset_smoothness",  # vertex offsets: mean squared uniform Laplacian of the field (model units^2)
    "offset_norm",  # vertex offsets: mean squared offset (model units^2)
    "pose_correction",  # refinement: mean squared per-frame pose correction (radians^2)
)


class _Base:
    @classmethod
    def from_dict(cls: type[T], d: dict[str, Any] | None, where: str = "") -> T:
        """Build from a (possibly partial) dict with every value converted to its field's type
        (:func:`smal4v.settings.build_settings`); unknown keys or loss terms raise ValueError naming them."""
        where = where or cls.__name__
        d = dict(d or {})
        if "weights" in d:
            bad = sorted(set(d["weights"]) - set(LOSS_TERMS))
            if bad:
                raise ValueError(f"config {where}.weights: unknown loss terms {bad}; known: {list(LOSS_TERMS)}")
            d["weights"] = {**getattr(cls(), "weights"), **d["weights"]}
        return build_settings(cls, d, f"config {where}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)  # type: ignore[call-overload]


@dataclass
class NetConfig(_Base):
    """Single-frame network (encoder + heads)."""

    backbone: str = "resnet_tiny"  # resnet18 | resnet34 | resnet50 | resnet_tiny
    pretrained: str | None = None  # torchvision ImageNet state_dict file, or None (random init)
    feature_dim: int = 128  # global feature D
    spatial_grid: int = 4  # the MLP also sees a grid x grid map of the last stage (0 = average pooling only)
    spatial_channels: int = 32  # channels of that map (1x1 convolution)
    image_size: int = 128  # crop side S in pixels
    input_size: int | None = None  # side the encoder resizes crops to (None = image_size); predictions stay in crop px
    num_betas: int = 20  # <= model.num_betas
    use_limb_scale: bool = False
    shape_family: str | None = None  # family name: its mean initialises the betas bias
    focal_rel: float = 2.0  # default focal = focal_rel * image_size (crop pixels)
    fill: float = 0.65  # default depth: rest animal spans this fraction of the crop
    root_rotation: list[float] = field(default_factory=lambda: list(DEFAULT_ROOT_ROTATION))  # side view (nets/heads.py)
    init_std: float = 1e-3  # N(0, init_std) init of head weights and bias noise
    view_bins: int = 0  # > 0: which way the animal faces is classified into this many azimuth bins (nets/heads.py)
    keypoint_head: bool = False  # also detect 2D keypoints as heatmaps (nets/keypoint_head.py), for keypoint_fit
    keypoint_head_width: int = 64  # channels of that head
    keypoint_head_stride: int = 8  # its heatmap cell in crop pixels: 8 (layer 2's grid) or 4 (refined with layer 1)
    silhouette_head: bool = False  # that head also predicts the animal's silhouette (fitted by keypoint_fit's silhouette term)
    num_keypoints: int = 0  # the keypoint set's size; filled in when a network with keypoint_head is built for training


@dataclass
class LossConfig(_Base):
    keypoint_loss: str = "l1"  # l1 | mse
    silhouette_loss: str = "l1"  # l1 | tversky
    tversky_alpha: float = 0.6
    tversky_beta: float = 0.4
    temporal_order: int = 2  # 1 = first differences (velocity), 2 = second (acceleration)
    mask_size: int = 64  # silhouettes rendered/compared at this side (<= image_size) to save CPU
    silhouette_sigma: float = 0.2  # soft rasteriser edge softness, pixels at mask_size
    heatmap_sigma: float = 1.0  # the detected_heatmaps term's Gaussian, in heatmap cells

    def __post_init__(self) -> None:
        """A Gaussian of no width has no density to compare the heatmap with."""
        if self.heatmap_sigma <= 0:
            raise ValueError(f"config loss.heatmap_sigma: must be > 0 (heatmap cells), got {self.heatmap_sigma}")


@dataclass
class AugmentConfig(_Base):
    color_gain: float = 0.0  # per-channel gain ~ U[1-g, 1+g]; 0 = off
    scale_jitter: float = 0.0  # zoom ~ U[1-s, 1+s] about the crop centre (keypoints/masks follow); 0 = off
    flip: float = 0.0  # probability of a horizontal flip (mirrored pose, left/right keypoints swapped)


def _single_weights() -> dict[str, float]:
    return {k: 0.0 for k in LOSS_TERMS} | {"keypoints": 10.0, "silhouette": 10.0, "pose_prior": 1e-3, "shape_prior": 1e-3,
                                            "detected_keypoints": 10.0, "keypoint_visibility": 1.0,
                                            "detected_silhouette": 1.0}


def _online_weights() -> dict[str, float]:
    return _single_weights() | {"temporal_keypoints": 10.0, "temporal_pose": 1.0, "temporal_camera": 1.0,
                                "offset_smoothness": 1e5, "offset_norm": 1.0}  # offsets: with shape_offsets only


@dataclass
class SingleFrameTrainConfig(_Base):
    """``base`` (synthetic, set the 3D weights > 0) and ``parent`` (keypoints+silhouettes+priors)."""

    epochs: int = 20
    batch_size: int = 8
    lr: float = 1e-4
    lr_schedule: str = "cosine"  # constant | cosine (decay to 5% over the run); smal4v/train/schedule.py
    lr_warmup: float = 0.03  # share of the steps with a linear learning-rate warm-up
    grad_clip: float = 5.0  # max global gradient norm (0 = off)
    adam_betas: list[float] = field(default_factory=lambda: [0.9, 0.999])
    weight_decay: float = 0.0
    seed: int = 0
    device: str = "auto"  # auto | cpu | cuda
    freeze_bn: bool = False  # keep backbone BatchNorm in eval mode (small batches)
    checkpoint_every: int = 1  # epochs
    progress: bool = True  # tqdm bar (also off when SMAL4V_NO_PROGRESS=1)
    max_steps_per_epoch: int | None = None  # cap (tests, quick runs)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    weights: dict[str, float] = field(default_factory=_single_weights)


def _keypoint_fit_weights() -> dict[str, float]:
    return {k: 0.0 for k in LOSS_TERMS} | {"keypoints": 10.0, "silhouette": 10.0,  # silhouette: with a silhouette head
                                           "pose_prior": 0.02, "joint_limits": 1.0, "shape_prior": 0.01}


@dataclass
class KeypointFitConfig(_Base):
    """Per-frame fit of a single-frame network's parameters to its keypoint head's detections
    (``keypoint_fit``; smal4v/train/keypoint_fit.py). ``pose_matrix`` / ``betas`` / ``trans``
    weights pull towards the network's own estimate."""

    steps: int = 0  # Adam steps over all frames at once; 0 = predictions as the network regresses them
    lr: float = 0.01
    outline_steps: int = 0  # with a silhouette map: only the last N steps render and match the outline (0 = every
                            # step); rendering is most of a step's time
    weights: dict[str, float] = field(default_factory=_keypoint_fit_weights)

    def __post_init__(self) -> None:
        """A negative count would silently mean no fit (steps) or the outline in every step (outline_steps)."""
        for name in ("steps", "outline_steps"):
            if getattr(self, name) < 0:
                raise ValueError(f"config keypoint_fit.{name}: must be >= 0 (a number of Adam steps), got {getattr(self, name)}")


def _detector_adaptation_weights() -> dict[str, float]:
    return {k: 0.0 for k in LOSS_TERMS} | {"detected_keypoints": 10.0, "keypoint_visibility": 1.0, "detected_silhouette": 1.0}


def _detector_adaptation_augment() -> AugmentConfig:
    return AugmentConfig(color_gain=0.2, scale_jitter=0.1, flip=0.5)


@dataclass
class DetectorAdaptationConfig(_Base):
    """Per-video fine-tuning of a copy of the parent's keypoint head and encoder on the video's
    own annotated frames before it detects on every frame (``detector_adaptation``;
    smal4v/train/detector_adaptation.py): OSVOS's one-shot idea applied to the keypoints."""

    steps: int = 0  # Adam steps; 0 = the parent's detections as they are
    batch_size: int = 4
    lr: float = 3e-4
    grad_clip: float = 5.0
    interpolated_within: int = 0  # frames up to this many frames from an annotation (between two) also train it, on
                                  # the training keypoints joined in time, weighted exp(-d / this); 0 = annotated only
    augment: AugmentConfig = field(default_factory=_detector_adaptation_augment)
    loss: LossConfig = field(default_factory=LossConfig)
    weights: dict[str, float] = field(default_factory=_detector_adaptation_weights)

    def __post_init__(self) -> None:
        """A negative step count or an empty batch would silently mean no adaptation."""
        if self.steps < 0:
            raise ValueError(f"config detector_adaptation.steps: must be >= 0 (a number of Adam steps), got {self.steps}")
        if self.batch_size < 1:
            raise ValueError(f"config detector_adaptation.batch_size: must be >= 1, got {self.batch_size}")
        if self.interpolated_within < 0:
            raise ValueError(f"config detector_adaptation.interpolated_within: must be >= 0 frames, got {self.interpolated_within}")


@dataclass
class OnlineTrainConfig(_Base):
    """Per-sequence online network (``temporal: true``) or the online_single ablation."""

    temporal: bool = True
    shape_offsets: bool = False  # per-video vertex offsets in the shape (animals outside the shape space)
    fixed_focal: bool = False  # one focal per video, the parent's mean, held fixed: depth alone sets the scale, so
                               # the fit cannot drift to wide-angle, close-up cameras or collapse the animal to a point
    epochs: int = 30
    warmup_epochs: int = 5  # keypoint-only epochs (silhouette weight 0) at the start
    window: int = 16  # longer than the gap between annotated frames (SMAL4V: 8)
    stride: int = 4  # (SMAL4V: 2)
    silhouette_frames: int = 0  # silhouettes rendered per window and step, a random subset (0 = every frame): cheaper steps, more of them
    view_hypotheses: int = 1  # > 1: try the body turned by 360/K degree steps about its up axis, keep the best keypoint fit
    hypothesis_steps: int = 100  # keypoint-only steps of each view hypothesis before choosing
    hypothesis_net: Literal["same", "single"] = "same"  # the short fits' network: this one, or the per-frame one
                                                         # without the GRU (online_single's) for every variant
    view_margin: float = 0.01  # a turn must end this much (relative) below the unturned fit's loss: a near tie
                               # keeps the parent's facing (benchmarks/results/online_view_margin.md)
    windows_per_batch: int = 1  # one window per step: more updates for the same rendering (benchmarks/results/online_windows_per_batch.md)
    gru_hidden: int = 256
    gru_layers: int = 1
    bidirectional: bool = True  # every frame sees the annotated frames on both sides (SMAL4V: false)
    lr: float = 1e-4
    lr_schedule: str = "cosine"  # constant | cosine (decay to 5% over the run); smal4v/train/schedule.py
    lr_warmup: float = 0.03  # share of the steps with a linear learning-rate warm-up
    grad_clip: float = 5.0  # max global gradient norm (0 = off)
    lr_offsets: float = 0.004  # Adam step of the vertex offsets (model units), with shape_offsets (as refine's)
    interpolation_decay: float = 3.0  # frames: soft-target weight exp(-d / decay) at d frames from an annotation
    adam_betas: list[float] = field(default_factory=lambda: [0.9, 0.99])
    weight_decay: float = 0.0
    seed: int = 0
    device: str = "auto"
    merge: Literal["mean", "taper", "central"] = "mean"  # how overlapping windows give one value per frame
    checkpoint_every: int = 5
    progress: bool = True
    loss: LossConfig = field(default_factory=LossConfig)
    weights: dict[str, float] = field(default_factory=_online_weights)


def split_parent_config(cfg: dict[str, Any]) -> tuple[dict[str, Any], float]:
    """The ``parent`` config subtree -> (its SingleFrameTrainConfig keys, the rehearsal share)."""
    return {k: v for k, v in cfg.items() if k != "rehearsal"}, float(cfg.get("rehearsal", 0.0))


def _refine_weights() -> dict[str, float]:
    return {k: 0.0 for k in LOSS_TERMS} | {
        "keypoints": 10.0, "silhouette": 10.0, "pose_prior": 0.1, "joint_limits": 1.0,
        "temporal_keypoints": 50.0, "temporal_pose": 10.0, "temporal_camera": 10.0,
        "offset_smoothness": 1e5, "offset_norm": 1.0, "pose_correction": 10.0,
    }


@dataclass
class RefineConfig(_Base):
    """Per-video mesh refinement on top of the online predictions (variant ``refined``)."""

    epochs: int = 24
    steps_per_epoch: int = 25
    frames_per_step: int = 16  # silhouettes rendered per step (keypoints and smoothness use every frame)
    lr_offsets: float = 0.004  # Adam step of the vertex offsets (model units)
    lr_corrections: float = 0.002  # Adam step of the per-frame pose / translation corrections
    seed: int = 0
    device: str = "auto"
    checkpoint_every: int = 4
    progress: bool = True
    # sharp edges: a softer silhouette (sigma 0.3-0.6 px) lowers the soft loss while the hard
    # silhouette drifts away from the mask (tests/test_train_refine.py)
    loss: LossConfig = field(default_factory=lambda: LossConfig(mask_size=128, silhouette_sigma=0.1))
    weights: dict[str, float] = field(default_factory=_refine_weights)
