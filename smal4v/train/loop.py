"""Training utilities shared by every stage: seeding, device choice, atomic checkpoints with
resume, progress bars, per-epoch loss CSV and loss-curve plot.

:func:`fit` runs epochs of a caller-supplied ``epoch_fn``; after each ``checkpoint_every``
epochs (and the last) it atomically writes ``<out_dir>/checkpoint.pt`` holding the module,
optimizer, completed epoch, RNG states and loss history. Calling :func:`fit` again with the
same ``out_dir`` resumes after the last completed epoch, so an interrupted run (a killed
Snakemake job) continues where it stopped and ends with the same parameters.
"""

from __future__ import annotations

import csv
import os
import random
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, TypeVar

import numpy as np
import torch
from torch import nn

T = TypeVar("T")
CHECKPOINT_NAME = "checkpoint.pt"
NO_PROGRESS_ENV = "SMAL4V_NO_PROGRESS"


def seed_everything(seed: int, deterministic: bool = True) -> None:
    """Seed python, numpy and torch (CPU and CUDA); optionally ask torch for deterministic kernels."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)
        if torch.backends.cudnn.is_available():
            torch.backends.cudnn.benchmark = False


def select_device(name: str = "auto") -> torch.device:
    """``auto`` -> cuda if available else cpu; ``cuda`` without a GPU raises RuntimeError."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError(f"device {name!r} requested but CUDA is not available")
    if name != "cpu" and not name.startswith("cuda"):
        raise ValueError(f"unknown device {name!r}; use auto, cpu or cuda")
    return torch.device(name)


def get_rng_state() -> dict[str, Any]:
    state: dict[str, Any] = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(path: str | Path, state: dict[str, Any]) -> None:
    """torch.save to ``<path>.tmp`` then rename, so readers never see a half-written file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a checkpoint written by :func:`save_checkpoint`; errors name the file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    try:
        state = torch.load(path, map_location=map_location, weights_only=False)
    except Exception as exc:  # noqa: BLE001
        raise ValueError(f"checkpoint {path} could not be read: {exc}") from exc
    if not isinstance(state, dict) or "model" not in state:
        raise ValueError(f"checkpoint {path} is not a smal4v checkpoint (no 'model' entry)")
    return state


def load_model_weights(module: nn.Module, path: str | Path) -> dict[str, Any]:
    """Load the ``model`` state of a checkpoint into ``module`` (strict); returns the checkpoint."""
    state = load_checkpoint(path)
    try:
        module.load_state_dict(state["model"])
    except RuntimeError as exc:
        raise ValueError(f"checkpoint {path} does not fit {type(module).__name__}: {exc}") from exc
    return state


def progress(iterable: Iterable[T], enabled: bool = True, desc: str = "", total: int | None = None) -> Iterator[T]:
    """tqdm bar unless disabled by ``enabled=False`` or env ``SMAL4V_NO_PROGRESS=1``."""
    off = not enabled or os.environ.get(NO_PROGRESS_ENV, "") not in ("", "0")
    if off:
        return iter(iterable)
    from tqdm.auto import tqdm

    return iter(tqdm(iterable, desc=desc, total=total, leave=False, dynamic_ncols=True))


def write_loss_csv(history: list[dict[str, float]], path: str | Path) -> None:
    """One row per epoch; columns = union of keys (epoch first)."""
    keys = ["epoch"] + sorted({k for row in history for k in row} - {"epoch"})
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=keys)
        w.writeheader()
        for row in history:
            w.writerow({k: row.get(k, "") for k in keys})
    os.replace(tmp, path)


def plot_loss_curves(history: list[dict[str, float]], path: str | Path) -> None:
    """Log-scale curve of every loss column against epoch (matplotlib Agg)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    epochs = [row["epoch"] for row in history]
    for k in sorted({k for row in history for k in row} - {"epoch"}):
        ys = [row.get(k, np.nan) for row in history]
        if np.nanmax(np.abs(ys)) > 0:
            ax.plot(epochs, np.abs(ys), label=k, lw=2 if k == "total" else 1)
    ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss (weighted)")
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def fit(
    module: nn.Module,
    optimizer: torch.optim.Optimizer,
    epochs: int,
    epoch_fn: Callable[[int], dict[str, float]],
    out_dir: str | Path,
    checkpoint_every: int = 1,
    extra_state: dict[str, Any] | None = None,
    name: str = "train",
) -> list[dict[str, float]]:
    """Run ``epoch_fn(epoch)`` for epochs 0..epochs-1, resuming from ``out_dir/checkpoint.pt``.

    ``epoch_fn`` trains one epoch and returns mean losses. Writes ``losses.csv`` and
    ``losses.png`` to ``out_dir`` after every epoch. Returns the full loss history.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    ckpt = out_dir / CHECKPOINT_NAME
    history: list[dict[str, float]] = []
    start = 0
    if ckpt.is_file():
        state = load_checkpoint(ckpt)
        module.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        set_rng_state(state["rng"])
        history = list(state["history"])
        start = int(state["epoch"]) + 1
    for epoch in range(start, epochs):
        losses = epoch_fn(epoch)
        history.append({"epoch": float(epoch), **{k: float(v) for k, v in losses.items()}})
        write_loss_csv(history, out_dir / "losses.csv")
        if (epoch + 1) % max(checkpoint_every, 1) == 0 or epoch == epochs - 1:
            save_checkpoint(
                ckpt,
                {
                    "model": module.state_dict(),
                    "optimizer": optimizer.state_dict(),
                    "epoch": epoch,
                    "rng": get_rng_state(),
                    "history": history,
                    "name": name,
                    **(extra_state or {}),
                },
            )
    if history:
        plot_loss_curves(history, out_dir / "losses.png")
    return history
