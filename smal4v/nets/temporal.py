"""Per-sequence online networks on frozen per-frame features (SMAL4V METHOD.md 3.3, fixed per 8.5).

* :class:`TemporalNet` ("online"): features (B, T, D) -> GRU -> zero-initialised correction of
  the parent's raw head outputs (6D pose, translation, log focal). Residual design: at
  initialisation every per-frame prediction equals the parent's, and the parent's heads are
  copied (trainable), not replaced by fresh layers (SMAL4V bug: a random Linear fed the
  pretrained code predictor).
* :class:`OnlineSingleNet` ("online_single" ablation): the same per-sequence training without
  the GRU (per-frame parent heads + per-sequence shape).
* Both hold ONE shape per sequence (betas, limb log-scales) as learned parameters initialised
  from the mean of the parent's per-frame predictions over the whole sequence (SMAL4V took the
  last frame of each window); with ``shape_offsets`` the shape also has a free-form part,
  :class:`~smal4v.model.surface_offsets.SurfaceOffsets` (symmetric, smooth vertex offsets along
  the normals), for animals outside the model's shape space.
* Windows: :func:`window_starts` always adds a final window ending at frame N (SMAL4V dropped
  it); :func:`merge_windows` turns overlapping window predictions into one per frame.
"""

from __future__ import annotations

import copy
import math
from typing import Any, Sequence

import torch
from torch import nn

from smal4v.model.surface_offsets import SurfaceOffsets, offsets_for_shape
from smal4v.nets.heads import SMALHeads
from smal4v.nets.params import SMALParams
from smal4v.model.rotations import axis_angle_to_matrix, matrix_to_axis_angle, project_to_so3
from smal4v.nets.single_frame import SingleFrameNet
from smal4v.train.config import OnlineTrainConfig


class SequenceNet(nn.Module):
    """Copied parent heads + per-sequence shape (betas, limb scales, optional vertex offsets);
    subclasses add a per-frame raw correction."""

    def __init__(self, heads: SMALHeads, betas_init: torch.Tensor, limb_scale_init: torch.Tensor | None = None) -> None:
        super().__init__()
        self.heads = copy.deepcopy(heads)
        self.seq_betas = nn.Parameter(betas_init.detach().clone().reshape(-1).float())
        self.seq_limb_scale = (
            nn.Parameter(limb_scale_init.detach().clone().reshape(-1).float()) if limb_scale_init is not None else None
        )
        self.offsets: SurfaceOffsets | None = None
        self.register_buffer("root_turn", torch.eye(3))
        self.register_buffer("seq_focal", None)  # fix_focal: the video's one raw focal

    def set_root_turn(self, angle: float) -> None:
        """Turn the body by ``angle`` radians about its own up axis (model z) after every predicted
        root rotation: a view hypothesis (facing the other way, towards or away from the camera)."""
        c, s = math.cos(angle), math.sin(angle)
        self.root_turn.copy_(torch.tensor([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]]))

    def fix_focal(self, raw_focal: torch.Tensor) -> None:
        """Hold every frame's raw focal (log of focal / the heads' default) at ``raw_focal`` (1,):
        one camera per video, not trained; per-frame depth then carries the animal's scale."""
        self.register_buffer("seq_focal", raw_focal.detach().clone().reshape(1).float())

    def add_shape_offsets(self, model: nn.Module) -> None:
        """Give the per-sequence shape a free-form part: zero vertex offsets over ``model``'s rest
        mesh at the initial betas (they are learned with the rest of the network)."""
        self.offsets = offsets_for_shape(model, self.seq_betas.detach())

    def parameter_groups(self, lr_offsets: float) -> list[dict[str, Any]]:
        """Optimiser groups: the network, and the vertex offsets (if any) with their own step
        size (model units) and no weight decay."""
        if self.offsets is None:
            return [{"params": list(self.parameters())}]
        offsets = list(self.offsets.parameters())
        rest = [q for q in self.parameters() if all(q is not o for o in offsets)]
        return [{"params": rest}, {"params": offsets, "lr": lr_offsets, "weight_decay": 0.0}]

    def vertex_offsets(self) -> torch.Tensor | None:
        """The sequence's vertex offsets (V, 3) in model units, or None without ``shape_offsets``."""
        return None if self.offsets is None else self.offsets()

    def correction(self, features: torch.Tensor) -> dict[str, torch.Tensor] | None:
        """Raw-space deltas for features (B, T, D); None = no correction."""
        return None

    def forward(self, features: torch.Tensor) -> SMALParams:
        """features (B, T, D) -> SMALParams with leading dims (B, T); shape shared by all frames."""
        if features.ndim != 3:
            raise ValueError(f"features must be (B, T, D), got {tuple(features.shape)}")
        raw = self.heads.raw(features)
        corr = self.correction(features)
        if corr is not None:
            for k, v in corr.items():
                raw[k] = raw[k] + v  # type: ignore[operator]
        lead = features.shape[:2]
        raw["root_turn"] = self.root_turn
        if self.seq_focal is not None:
            raw["focal"] = self.seq_focal.expand(*lead, 1)
        raw["betas"] = self.seq_betas.expand(*lead, -1)
        raw["limb_scale"] = self.seq_limb_scale.expand(*lead, -1) if self.seq_limb_scale is not None else None
        return self.heads.decode(raw)

    @staticmethod
    def _shape_init(parent: SingleFrameNet, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Mean of the parent's per-frame betas (and limb scales) over the sequence features (N, D)."""
        with torch.no_grad():
            raw = parent.heads.raw(features.reshape(-1, features.shape[-1]))
            limb = raw["limb_scale"].mean(0) if raw["limb_scale"] is not None else None
            return raw["betas"].mean(0), limb  # type: ignore[union-attr]


class TemporalNet(SequenceNet):
    """GRU over a window of frame features; its output corrects the parent's per-frame heads."""

    def __init__(
        self,
        heads: SMALHeads,
        betas_init: torch.Tensor,
        limb_scale_init: torch.Tensor | None = None,
        hidden: int = 256,
        layers: int = 1,
        bidirectional: bool = False,
    ) -> None:
        super().__init__(heads, betas_init, limb_scale_init)
        self.gru = nn.GRU(heads.feature_dim, hidden, num_layers=layers, batch_first=True, bidirectional=bidirectional)
        self.sizes = {"pose6d": heads.num_joints * 6, "trans": 3, "focal": 1}
        self.out = nn.Linear(hidden * (2 if bidirectional else 1), sum(self.sizes.values()))
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def correction(self, features: torch.Tensor) -> dict[str, torch.Tensor]:
        h, _ = self.gru(features)  # each window starts from a zero hidden state
        parts = torch.split(self.out(h), list(self.sizes.values()), dim=-1)
        corr = dict(zip(self.sizes, parts))
        corr["pose6d"] = corr["pose6d"].unflatten(-1, (self.heads.num_joints, 6))
        return corr

    @classmethod
    def from_parent(cls, parent: SingleFrameNet, config: OnlineTrainConfig | dict[str, Any], features: torch.Tensor) -> "TemporalNet":
        """Copy the parent's heads; shape from the parent's mean over ``features`` (N, D)."""
        cfg = config if isinstance(config, OnlineTrainConfig) else OnlineTrainConfig.from_dict(config, "online")
        betas, limb = cls._shape_init(parent, features)
        return cls(parent.heads, betas, limb, cfg.gru_hidden, cfg.gru_layers, cfg.bidirectional)


class OnlineSingleNet(SequenceNet):
    """Per-sequence fine-tuning without temporal context (ablation)."""

    @classmethod
    def from_parent(cls, parent: SingleFrameNet, config: OnlineTrainConfig | dict[str, Any] | None, features: torch.Tensor) -> "OnlineSingleNet":
        betas, limb = cls._shape_init(parent, features)
        return cls(parent.heads, betas, limb)


def build_online_net(parent: SingleFrameNet, config: OnlineTrainConfig, features: torch.Tensor,
                     model: nn.Module | None = None) -> SequenceNet:
    """TemporalNet if ``config.temporal`` else OnlineSingleNet; with ``config.shape_offsets`` the
    per-sequence shape gets vertex offsets over ``model``'s mesh; with ``config.fixed_focal`` the
    focal is the parent's mean over ``features``, fixed."""
    net = (TemporalNet if config.temporal else OnlineSingleNet).from_parent(parent, config, features)
    if config.fixed_focal:
        with torch.no_grad():
            net.fix_focal(parent.heads.raw(features.reshape(-1, features.shape[-1]))["focal"].mean(0))  # type: ignore[union-attr]
    if config.shape_offsets:
        if model is None:
            raise ValueError("online.shape_offsets needs the body model")
        net.add_shape_offsets(model)
    return net


def window_starts(n_frames: int, length: int, stride: int) -> list[int]:
    """Start frames of windows of ``length`` every ``stride`` frames, plus one ending at N.

    A sequence shorter than ``length`` gives the single window [0] (of length N).
    """
    if n_frames <= 0 or length <= 0 or stride <= 0:
        raise ValueError(f"need positive n_frames, length, stride; got {n_frames}, {length}, {stride}")
    if n_frames <= length:
        return [0]
    starts = list(range(0, n_frames - length + 1, stride))
    if starts[-1] + length < n_frames:
        starts.append(n_frames - length)
    return starts


def window_weights(length: int, method: str) -> torch.Tensor:
    """Weight of each frame of a window of ``length`` in a merge: 1 everywhere (``mean``), or a
    Hann taper sin^2(pi (t + 1/2) / length) (``taper``) that fades a window in and out, so that a
    window entering or leaving the overlap (its first and last frames have the least context)
    does not step the merged value."""
    if method == "mean":
        return torch.ones(length)
    if method == "taper":
        return torch.sin(math.pi * (torch.arange(length, dtype=torch.float64) + 0.5) / length).pow(2).float()
    raise ValueError(f"unknown merge method {method!r}; use 'mean', 'taper' or 'central'")


def merge_window_values(values: Sequence[torch.Tensor], starts: Sequence[int], n_frames: int, method: str = "mean") -> torch.Tensor:
    """Per-window values (L_w, ...) at ``starts`` -> per-frame (n_frames, ...).

    ``mean``: average over every window covering a frame. ``taper``: the average weighted by
    :func:`window_weights` (each window's edges count least). ``central``: take the window in
    which the frame is closest to the window centre (ties: the earlier window). Raises
    ValueError if a frame is not covered.
    """
    if len(values) != len(starts) or not values:
        raise ValueError(f"{len(values)} window values for {len(starts)} starts")
    tail = values[0].shape[1:]
    out = values[0].new_zeros((n_frames,) + tuple(tail))
    if method == "central":
        best = torch.full((n_frames,), float("inf"))
        for v, s in zip(values, starts):
            idx = torch.arange(s, s + len(v))
            dist = (idx - (s + (len(v) - 1) / 2.0)).abs()
            take = dist < best[idx]
            out[idx[take]] = v[take]
            best[idx[take]] = dist[take]
        if torch.isinf(best).any():
            raise ValueError(f"frames {torch.nonzero(torch.isinf(best)).flatten().tolist()} are covered by no window")
        return out
    total = values[0].new_zeros(n_frames)
    for v, s in zip(values, starts):
        w = window_weights(len(v), method).to(v)
        out[s : s + len(v)] += v * w.view((-1,) + (1,) * len(tail))
        total[s : s + len(v)] += w
    if (total == 0).any():
        raise ValueError(f"frames {torch.nonzero(total == 0).flatten().tolist()} are covered by no window")
    return out / total.view((-1,) + (1,) * len(tail))


def merge_windows(windows: Sequence[SMALParams], starts: Sequence[int], n_frames: int, method: str = "mean") -> SMALParams:
    """Merge per-window SMALParams (leading dim L_w) into per-frame SMALParams (n_frames,).

    Rotations are averaged as matrices and projected back onto SO(3) (chordal L2 mean), then
    converted to axis-angle; the other fields are averaged (or picked) directly.
    """
    rots = [axis_angle_to_matrix(w.pose) for w in windows]
    R = merge_window_values(rots, starts, n_frames, method)
    pose = matrix_to_axis_angle(project_to_so3(R))

    def field(name: str) -> torch.Tensor | None:
        vals = [getattr(w, name) for w in windows]
        return None if vals[0] is None else merge_window_values(vals, starts, n_frames, method)

    return SMALParams(
        betas=field("betas"), pose=pose, trans=field("trans"), focal=field("focal"), limb_scale=field("limb_scale")  # type: ignore[arg-type]
    )


@torch.no_grad()
def predict_sequence(net: SequenceNet, features: torch.Tensor, window: int, stride: int, method: str = "mean", batch: int = 16) -> SMALParams:
    """Run ``net`` over all windows of features (N, D) and merge to per-frame SMALParams (N,)."""
    n = features.shape[0]
    starts = window_starts(n, window, stride)
    length = min(window, n)
    outs: list[SMALParams] = []
    for i in range(0, len(starts), batch):
        chunk = torch.stack([features[s : s + length] for s in starts[i : i + batch]])
        p = net(chunk)
        outs.extend(p[j] for j in range(chunk.shape[0]))
    return merge_windows(outs, starts, n, method)
