"""Learning-rate schedule and gradient clipping shared by the training loops.

Both condition training so that outcomes do not hinge on floating-point luck: a short linear
warm-up keeps the first Adam steps (whose second-moment estimates are still poor) from
throwing freshly initialised heads far off, the cosine decay ends every run in the same
low-noise regime instead of wherever a constant step leaves it, and clipping bounds the step
when one batch (a truncated animal, a bad mask) gives an outlying gradient.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch

SCHEDULES = ("constant", "cosine")


def learning_rate_factor(step: int, total_steps: int, warmup: float, schedule: str, final: float = 0.05) -> float:
    """Multiplier of the base learning rate at optimiser step ``step`` of ``total_steps``:
    linear warm-up over the first ``warmup`` share of the steps, then constant or a cosine
    decay to ``final``."""
    if schedule not in SCHEDULES:
        raise ValueError(f"unknown learning-rate schedule {schedule!r}; use one of {SCHEDULES}")
    total_steps = max(int(total_steps), 1)
    warm = int(round(warmup * total_steps))
    if step < warm:
        return (step + 1) / warm
    if schedule == "constant":
        return 1.0
    progress = (step - warm) / max(total_steps - warm, 1)
    return final + (1.0 - final) * 0.5 * (1.0 + math.cos(math.pi * min(progress, 1.0)))


def set_learning_rate(opt: torch.optim.Optimizer, factor: float) -> None:
    """Scale every parameter group's initial learning rate (remembered in the group) by ``factor``."""
    for group in opt.param_groups:
        group.setdefault("initial_lr", group["lr"])
        group["lr"] = group["initial_lr"] * factor


def clip_gradients(parameters: Iterable[torch.nn.Parameter], max_norm: float) -> None:
    """Clip the global gradient norm to ``max_norm`` (no-op when ``max_norm`` <= 0)."""
    if max_norm > 0:
        torch.nn.utils.clip_grad_norm_(list(parameters), max_norm)


def descend(module: torch.nn.Module, opt: torch.optim.Optimizer, total: torch.Tensor, max_norm: float) -> None:
    """One optimiser step on the loss ``total``: fresh gradients of ``module``, clipped to
    ``max_norm`` (see :func:`clip_gradients`)."""
    opt.zero_grad(set_to_none=True)
    total.backward()
    clip_gradients(module.parameters(), max_norm)
    opt.step()
