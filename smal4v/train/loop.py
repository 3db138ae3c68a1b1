"""Training utilities shared by every stage: seeding, device choice, atomic checkpoints with
resume, progress bars, per-epoch loss CSV and loss-curve plot.

:func:`fit` runs epochs of a caller-supplied ``epoch_fn``; after each ``checkpoint_every``
epochs (and the last) it atomically writes ``<out_dir>/checkpoint.pt`` holding the module,
optimizer, completed epoch, RNG states and loss history. Calling :func:`fit` again with the
same ``out_dir`` resumes after the last completed epoch, so an interrupted run (a killed
Snakemake job) continues where it stopped and ends with the same parameters.

Safe failure: a checkpoint is resumed only when its *run hash* (the stage's settings in
``extra_state``, the epoch count and the module's starting weights) equals the new run's;
otherwise training starts over and says so. A non-finite loss term or parameter stops
training with :class:`NonFiniteTraining` before anything is written. Checkpoints hold only
tensors and plain values and load with ``weights_only=True``, so a shared file cannot run code.
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
import os
import pickle
import random
import sys
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
        deterministic_kernels()
        if torch.backends.cudnn.is_available():
            torch.backends.cudnn.benchmark = False


def deterministic_kernels() -> None:
    """Ask torch for deterministic kernels (warn where none exists).

    ``torch.use_deterministic_algorithms`` also sets the inductor's flag and imports the inductor
    for it: 2-3 s in every training process on a 2-core machine, for a flag that only
    ``torch.compile`` reads. The flag is set here only when the inductor is already loaded;
    :func:`smal4v.render.soft_rasterizer` sets it when it compiles.
    """
    if "torch._inductor.config" in sys.modules:
        torch.use_deterministic_algorithms(True, warn_only=True)
    else:
        torch._C._set_deterministic_algorithms(True, warn_only=True)


def select_device(name: str = "auto") -> torch.device:
    """``auto`` -> cuda if available else cpu; ``cuda`` without a GPU raises RuntimeError."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError(f"device {name!r} requested but CUDA is not available")
    if name != "cpu" and not name.startswith("cuda"):
        raise ValueError(f"unknown device {name!r}; use auto, cpu or cuda")
    return torch.device(name)


class NonFiniteTraining(FloatingPointError):
    """A loss term or parameter became NaN/inf; the message names the stage, epoch and term."""


def get_rng_state() -> dict[str, Any]:
    """Python, numpy and torch RNG states as tensors and plain values (``weights_only``-loadable)."""
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    state: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": {"kind": kind, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                  "has_gauss": int(has_gauss), "gauss": float(gauss)},
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what :func:`get_rng_state` returned."""
    n = state["numpy"]
    random.setstate(state["python"])
    np.random.set_state((n["kind"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["gauss"]))
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
    """Load a checkpoint written by :func:`save_checkpoint` with ``weights_only=True`` (tensors and
    plain values only: a file holding any other object is refused, since unpickling it could run
    code); errors name the file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        raise ValueError(f"checkpoint {path} is refused: it holds objects other than tensors and plain "
                         f"settings (loading it could run code; files from smal4v before weights-only "
                         f"checkpoints must be retrained): {exc}") from exc
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


def run_hash(module: nn.Module, epochs: int, extra_state: dict[str, Any] | None) -> str:
    """Hash of what decides a training run's result: its settings (``extra_state``), the number of
    epochs and the module's starting parameters and buffers. A checkpoint is resumed only if its
    hash equals the new run's."""
    digest = hashlib.sha1(json.dumps(extra_state or {}, sort_keys=True, default=str).encode())
    digest.update(str(int(epochs)).encode())
    for key, value in module.state_dict().items():
        digest.update(key.encode())
        for part in _dense_parts(value):
            digest.update(part.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def data_fingerprint(arrays: Iterable[np.ndarray | torch.Tensor]) -> str:
    """Hash of training data (put it in ``extra_state``, e.g. ``{"data": data_fingerprint(...)}``)
    so that a checkpoint made on other data is not resumed either."""
    digest = hashlib.sha1()
    for arr in arrays:
        arr = arr.detach().cpu().numpy() if isinstance(arr, torch.Tensor) else np.asarray(arr)
        digest.update(f"{arr.dtype}{arr.shape}".encode())
        digest.update(np.ascontiguousarray(arr).tobytes())
    return digest.hexdigest()


def _dense_parts(value: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """A tensor as dense tensors: itself, or a sparse one's indices and values."""
    if value.is_sparse:
        value = value.coalesce()
        return value.indices(), value.values()
    return (value,)


def check_finite(module: nn.Module, losses: dict[str, float], stage: str, epoch: int) -> None:
    """Raise :class:`NonFiniteTraining` naming the stage, epoch (1-based) and the loss term or
    parameter that is NaN/inf, so a diverged run stops before it writes a checkpoint or artifact."""
    for term in sorted(losses, key=lambda k: k == "total"):  # named terms before their total
        if not math.isfinite(losses[term]):
            raise NonFiniteTraining(f"training stage {stage}, epoch {epoch + 1}: loss term {term!r} is "
                                    f"{losses[term]} (lower the learning rate or check the inputs)")
    for name, value in module.state_dict().items():
        if value.is_floating_point() and not all(torch.isfinite(part).all() for part in _dense_parts(value)):
            raise NonFiniteTraining(f"training stage {stage}, epoch {epoch + 1}: parameter {name!r} is not "
                                    f"finite (losses {losses})")


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
    ``losses.png`` to ``out_dir`` after every epoch. Returns the full loss history. A checkpoint
    of another run (see :func:`run_hash`) is set aside and training starts over; a non-finite
    loss or parameter raises :class:`NonFiniteTraining` (see :func:`check_finite`).
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    ckpt = out_dir / CHECKPOINT_NAME
    history: list[dict[str, float]] = []
    start = 0
    stage = f"{name} ({out_dir})"
    this_run = run_hash(module, epochs, extra_state)
    if ckpt.is_file():
        try:
            state: dict[str, Any] | None = load_checkpoint(ckpt)
        except ValueError as exc:  # e.g. an older smal4v's checkpoint, refused by weights_only
            print(f"{stage}: {exc}; starting over instead of resuming", file=sys.stderr)
            state = None
        if state is not None and state.get("run_hash") == this_run:
            module.load_state_dict(state["model"])
            optimizer.load_state_dict(state["optimizer"])
            set_rng_state(state["rng"])
            history = list(state["history"])
            start = int(state["epoch"]) + 1
        elif state is not None:
            print(f"{stage}: {ckpt} was written by a run with other settings or starting weights; "
                  "starting over instead of resuming", file=sys.stderr)
    for epoch in range(start, epochs):
        losses = epoch_fn(epoch)
        check_finite(module, losses, stage, epoch)
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
                    "run_hash": this_run,
                    **(extra_state or {}),
                },
            )
    if history:
        plot_loss_curves(history, out_dir / "losses.png")
    return history


def set_train_mode(net: nn.Module, freeze_bn: bool) -> None:
    """Training mode, with every BatchNorm kept in eval mode when ``freeze_bn``: its running
    statistics stay those of the data it was trained on (a few small fine-tuning batches would
    otherwise replace them)."""
    net.train()
    if freeze_bn:
        for m in net.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.eval()
