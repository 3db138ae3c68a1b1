"""Training utilities: seeding, device choice, atomic checkpoints, resume equivalence, logs."""

import csv

import pytest
import torch
from torch import nn

from smal4v.train.loop import (
    CHECKPOINT_NAME,
    fit,
    load_checkpoint,
    save_checkpoint,
    seed_everything,
    select_device,
)


def _run(out_dir, epochs: int) -> tuple[nn.Module, list]:
    """A small regression trained with fresh randomness every step (uses the global RNG)."""
    seed_everything(3)
    net = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 1))
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)

    def epoch_fn(epoch: int) -> dict:
        x = torch.randn(16, 4)  # global RNG: must be restored on resume
        y = x.sum(1, keepdim=True)
        loss = ((net(x) - y) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        return {"total": loss.item()}

    hist = fit(net, opt, epochs, epoch_fn, out_dir, checkpoint_every=1)
    return net, hist


def test_resume_equals_uninterrupted(tmp_path) -> None:
    full, hist_full = _run(tmp_path / "a", 4)
    _run(tmp_path / "b", 2)  # "interrupted" after 2 epochs
    resumed, hist_res = _run(tmp_path / "b", 4)  # new process would rebuild and call again
    for p, q in zip(full.parameters(), resumed.parameters()):
        assert torch.equal(p, q)
    assert [h["total"] for h in hist_full] == [h["total"] for h in hist_res]
    rows = list(csv.DictReader(open(tmp_path / "b" / "losses.csv")))
    assert [float(r["epoch"]) for r in rows] == [0, 1, 2, 3]
    assert (tmp_path / "b" / "losses.png").stat().st_size > 1000
    # calling again after completion trains nothing and returns the stored history
    again, hist_again = _run(tmp_path / "b", 4)
    assert hist_again == hist_res
    assert all(torch.equal(p, q) for p, q in zip(again.parameters(), full.parameters()))


def test_checkpoint_atomic_and_errors(tmp_path) -> None:
    path = tmp_path / "sub" / CHECKPOINT_NAME
    save_checkpoint(path, {"model": {"w": torch.ones(2)}, "epoch": 1})
    assert not path.with_name(path.name + ".tmp").exists()
    assert load_checkpoint(path)["epoch"] == 1
    with pytest.raises(FileNotFoundError, match="missing.pt"):
        load_checkpoint(tmp_path / "missing.pt")
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="bad.pt"):
        load_checkpoint(bad)


def test_select_device() -> None:
    assert select_device("cpu").type == "cpu"
    assert select_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(ValueError, match="tpu"):
        select_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="CUDA"):
            select_device("cuda")
