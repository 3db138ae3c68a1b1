"""In-memory frame datasets for training: crops, keypoints, masks, optional ground truth.

Crops of one stage fit in memory (hundreds to a few thousand 128-256 px crops), so batches are
gathered by index from arrays; no DataLoader workers (which would also break determinism).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Mapping, Sequence

import numpy as np
import torch

GT_KEYS = ("betas", "pose", "trans", "focal", "limb_scale", "delta_v")
"""3D truth a row may carry; ``delta_v`` (V, 3) per row: off-model offsets of the shaped template."""


@dataclass
class Batch:
    images: torch.Tensor  # (B, 3, S, S) float [0, 1]
    keypoints: torch.Tensor | None  # (B, K, 3) crop px + visibility
    masks: torch.Tensor | None  # (B, S, S) float [0, 1]
    mask_valid: torch.Tensor | None  # (B,) 1 where a mask exists
    gt: dict[str, torch.Tensor] | None  # GT_KEYS -> (B, ...)
    gt_valid: torch.Tensor | None = None  # (B,) 1 where the 3D truth exists (None: all rows)

    def to(self, device: torch.device | str) -> "Batch":
        def mv(t: Any) -> Any:
            return None if t is None else t.to(device)

        return Batch(
            mv(self.images), mv(self.keypoints), mv(self.masks), mv(self.mask_valid),
            None if self.gt is None else {k: v.to(device) for k, v in self.gt.items()}, mv(self.gt_valid),
        )

    def with_fields(self, **changes: Any) -> "Batch":
        """A copy with some fields replaced (augmentations change images, targets, truth)."""
        return replace(self, **changes)


class FrameDataset:
    """Arrays: images (N, S, S, 3) uint8; keypoints (N, K, 3) [x, y, vis] crop px or None;
    masks (N, S, S) (bool/uint8 0-255/float 0-1) or None; mask_valid (N,) or None (all valid);
    gt: dict of arrays with leading N (keys in GT_KEYS) or None; gt_valid (N,) or None (all
    rows have their truth)."""

    def __init__(
        self,
        images: np.ndarray,
        keypoints: np.ndarray | None = None,
        masks: np.ndarray | None = None,
        mask_valid: np.ndarray | None = None,
        gt: Mapping[str, np.ndarray] | None = None,
        name: str = "dataset",
        gt_valid: np.ndarray | None = None,
    ) -> None:
        images = np.asarray(images)
        if images.ndim != 4 or images.shape[-1] != 3 or images.shape[1] != images.shape[2]:
            raise ValueError(f"{name}: images must be (N, S, S, 3), got {images.shape}")
        n, s = images.shape[0], images.shape[1]
        self.name, self.images, self.image_size = name, images, s

        def check(arr: Any, shape: tuple, what: str) -> np.ndarray | None:
            if arr is None:
                return None
            arr = np.asarray(arr)
            if arr.shape[: len(shape)] != shape:
                raise ValueError(f"{name}: {what} has shape {arr.shape}, expected leading {shape}")
            return arr

        self.keypoints = check(keypoints, (n,), "keypoints")
        if self.keypoints is not None and (self.keypoints.ndim != 3 or self.keypoints.shape[-1] != 3):
            raise ValueError(f"{name}: keypoints must be (N, K, 3), got {self.keypoints.shape}")
        self.masks = check(masks, (n, s, s), "masks")
        self.mask_valid = check(mask_valid, (n,), "mask_valid")
        self.gt = {k: check(v, (n,), f"gt[{k}]") for k, v in (gt or {}).items() if v is not None} or None
        if self.gt is not None:
            bad = sorted(set(self.gt) - set(GT_KEYS))
            if bad:
                raise ValueError(f"{name}: unknown ground-truth keys {bad}; known {GT_KEYS}")
        self.gt_valid = check(gt_valid, (n,), "gt_valid") if self.gt is not None else None

    def __len__(self) -> int:
        return int(self.images.shape[0])

    @classmethod
    def from_items(cls, items: Sequence[Mapping[str, Any]], name: str = "dataset") -> "FrameDataset":
        """From dicts with 'image', optional 'keypoints', 'mask' (None = no mask), 'gt' dict."""
        if not items:
            raise ValueError(f"{name}: no items")
        images = np.stack([it["image"] for it in items])
        kps = np.stack([it["keypoints"] for it in items]) if "keypoints" in items[0] else None
        masks = mask_valid = None
        if any(it.get("mask") is not None for it in items):
            s = images.shape[1]
            masks = np.stack([np.asarray(it["mask"], np.float32) if it.get("mask") is not None else np.zeros((s, s), np.float32) for it in items])
            mask_valid = np.array([it.get("mask") is not None for it in items])
        gt = None
        if items[0].get("gt"):
            gt = {k: np.stack([np.asarray(it["gt"][k]) for it in items]) for k in items[0]["gt"]}
        return cls(images, kps, masks, mask_valid, gt, name)

    @classmethod
    def concat(cls, parts: Sequence["FrameDataset"], name: str = "dataset") -> "FrameDataset":
        """Rows of several datasets in order. Parts without 3D truth get neutral placeholder
        rows (zeros; focal 1) marked invalid in ``gt_valid``, so 3D losses skip them. Truth is
        kept where every part with truth has it, except ``delta_v``: a part without it has none
        (zeros) when another part has it."""
        if not parts:
            raise ValueError(f"{name}: nothing to concatenate")
        sizes = {p.image_size for p in parts}
        if len(sizes) > 1:
            raise ValueError(f"{name}: crops of different sizes {sorted(sizes)} ({[p.name for p in parts]})")

        def cat(get: Any) -> np.ndarray | None:
            arrays = [get(p) for p in parts]
            return None if any(a is None for a in arrays) else np.concatenate(arrays)

        masks = cat(lambda p: None if p.masks is None else p.masks.astype(np.float32) / (255.0 if p.masks.dtype == np.uint8 else 1.0))
        mask_valid = cat(lambda p: None if p.masks is None else (np.ones(len(p), bool) if p.mask_valid is None else p.mask_valid))
        gt = gt_valid = None
        with_gt = [p for p in parts if p.gt is not None]
        if with_gt:
            keys = set.intersection(*(set(p.gt) for p in with_gt))  # type: ignore[arg-type]
            offsets = [p.gt["delta_v"] for p in with_gt if "delta_v" in p.gt]  # type: ignore[operator,index]
            keys |= {"delta_v"} if offsets else set()
            like = {k: offsets[0] if k == "delta_v" else with_gt[0].gt[k] for k in keys}  # type: ignore[index]
            gt = {k: np.concatenate([p.gt[k] if p.gt is not None and k in p.gt else _placeholder(like[k], k, len(p))
                                     for p in parts]).astype(np.float32) for k in sorted(keys)}
            gt_valid = np.concatenate([(np.ones(len(p), bool) if p.gt_valid is None else p.gt_valid) if p.gt is not None
                                       else np.zeros(len(p), bool) for p in parts])
        return cls(np.concatenate([p.images for p in parts]), cat(lambda p: p.keypoints), masks, mask_valid, gt, name, gt_valid)

    def batch(self, idx: np.ndarray | Sequence[int]) -> Batch:
        idx = np.asarray(idx)
        images = torch.from_numpy(np.ascontiguousarray(self.images[idx])).permute(0, 3, 1, 2)
        images = images.float() / 255.0 if images.dtype == torch.uint8 else images.float()
        masks = valid = None
        if self.masks is not None:
            m = self.masks[idx]
            masks = torch.from_numpy(m.astype(np.float32) / (255.0 if m.dtype == np.uint8 else 1.0))
            valid = torch.from_numpy(np.ones(len(idx), np.float32) if self.mask_valid is None else self.mask_valid[idx].astype(np.float32))
        kp = torch.from_numpy(self.keypoints[idx].astype(np.float32)) if self.keypoints is not None else None
        gt = {k: torch.from_numpy(v[idx].astype(np.float32)) for k, v in self.gt.items()} if self.gt else None
        gt_valid = torch.from_numpy(self.gt_valid[idx].astype(np.float32)) if self.gt_valid is not None else None
        return Batch(images, kp, masks, valid, gt, gt_valid)


def rehearsal_mix(target: FrameDataset, rehearsed: FrameDataset, share: float) -> FrameDataset:
    """``target`` rows repeated so that about a ``share`` of the result are ``rehearsed`` rows
    (each once, after the target copies); augmentation makes the repeated rows differ."""
    if not 0.0 < share < 1.0:
        raise ValueError(f"rehearsal share must be in (0, 1), got {share}")
    repeat = max(1, round(len(rehearsed) * (1.0 - share) / (share * len(target))))
    return FrameDataset.concat([target] * repeat + [rehearsed], name=f"{target.name} + rehearsed {rehearsed.name}")


def _placeholder(like: np.ndarray, key: str, n: int) -> np.ndarray:
    """Neutral 3D truth for rows that have none (finite in every loss: focal 1, not 0)."""
    return np.full((n, *like.shape[1:]), 1.0 if key == "focal" else 0.0, np.float32)
