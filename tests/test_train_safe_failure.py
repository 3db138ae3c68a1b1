"""Safe failure of training (issue 16): resume only a checkpoint of the same run, stop on
non-finite values without writing results, weights-only checkpoints, and a SIGKILL during each
training stage followed by a rerun gives bit-identical results."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

import resume_stages
from smal4v.train.loop import (
    CHECKPOINT_NAME,
    NonFiniteTraining,
    fit,
    get_rng_state,
    load_checkpoint,
    save_checkpoint,
    seed_everything,
    set_rng_state,
)


class Interrupted(Exception):
    """Stands in for a killed job inside one process."""


def _regression(out_dir: Path, epochs: int, lr: float = 1e-2, stop_at: int | None = None,
                poison: dict | None = None) -> tuple[nn.Module, list]:
    """A small regression; ``stop_at`` raises at that epoch (after the previous checkpoint),
    ``poison`` = {epoch: term} returns NaN for that term at that epoch."""
    seed_everything(3)
    net = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 1))
    opt = torch.optim.Adam(net.parameters(), lr=lr)

    def epoch_fn(epoch: int) -> dict:
        if epoch == stop_at:
            raise Interrupted
        x = torch.randn(16, 4)
        loss = ((net(x) - x.sum(1, keepdim=True)) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        out = {"fit": loss.item(), "total": loss.item()}
        if poison and epoch in poison:
            out[poison[epoch]] = float("nan")
        return out

    return net, fit(net, opt, epochs, epoch_fn, out_dir, extra_state={"train_config": {"lr": lr, "epochs": epochs}})


def test_resume_only_the_same_run(tmp_path: Path, capfd) -> None:
    full, hist_full = _regression(tmp_path / "full", 4)
    with pytest.raises(Interrupted):
        _regression(tmp_path / "cut", 4, stop_at=2)
    assert load_checkpoint(tmp_path / "cut" / CHECKPOINT_NAME)["epoch"] == 1
    resumed, hist = _regression(tmp_path / "cut", 4)
    assert "starting over" not in capfd.readouterr().err
    assert hist == hist_full and all(torch.equal(p, q) for p, q in zip(full.parameters(), resumed.parameters()))

    # an edited config (here: fewer epochs, another learning rate) must not continue the old run
    fresh, hist_fresh = _regression(tmp_path / "fresh", 2, lr=5e-3)
    with pytest.raises(Interrupted):
        _regression(tmp_path / "edit", 4, stop_at=3)
    edited, hist_edit = _regression(tmp_path / "edit", 2, lr=5e-3)
    err = capfd.readouterr().err
    assert "starting over" in err and str(tmp_path / "edit") in err
    assert [h["epoch"] for h in hist_edit] == [0.0, 1.0]
    assert hist_edit == hist_fresh and all(torch.equal(p, q) for p, q in zip(fresh.parameters(), edited.parameters()))


def test_changed_starting_weights_start_over(tmp_path: Path, capfd) -> None:
    """Same settings but another initial network (e.g. a retrained base): no resume."""
    def run(init_seed: int, stop_at: int | None = None) -> list:
        torch.manual_seed(init_seed)
        net = nn.Linear(3, 1)
        opt = torch.optim.SGD(net.parameters(), lr=0.1)

        def epoch_fn(epoch: int) -> dict:
            if epoch == stop_at:
                raise Interrupted
            return {"total": 1.0 / (epoch + 1)}

        return fit(net, opt, 3, epoch_fn, tmp_path, extra_state={"cfg": {"a": 1}})

    with pytest.raises(Interrupted):
        run(0, stop_at=2)
    capfd.readouterr()
    run(1)
    assert "starting over" in capfd.readouterr().err


def test_unreadable_checkpoint_starts_over(tmp_path: Path, capfd) -> None:
    """A work-dir checkpoint that weights_only refuses (an older smal4v's, or a planted one) is
    not resumed: training starts over and says why."""
    fresh, hist_fresh = _regression(tmp_path / "fresh", 2)
    (tmp_path / "old").mkdir()
    torch.save({"model": {}, "rng": {"numpy": np.random.get_state()}}, tmp_path / "old" / CHECKPOINT_NAME)
    net, hist = _regression(tmp_path / "old", 2)
    assert "refused" in capfd.readouterr().err
    assert hist == hist_fresh and all(torch.equal(p, q) for p, q in zip(fresh.parameters(), net.parameters()))


@pytest.mark.parametrize("term", ["fit", "total"])
def test_non_finite_loss_stops_naming_stage_epoch_and_term(tmp_path: Path, term: str) -> None:
    with pytest.raises(NonFiniteTraining, match=rf"train \({tmp_path}\), epoch 3: loss term '{term}' is nan"):
        _regression(tmp_path, 5, poison={2: term})
    assert load_checkpoint(tmp_path / CHECKPOINT_NAME)["epoch"] == 1  # nothing written for the bad epoch


def test_non_finite_parameters_stop(tmp_path: Path) -> None:
    net = nn.Linear(2, 1)
    opt = torch.optim.SGD(net.parameters(), lr=1.0)

    def epoch_fn(epoch: int) -> dict:
        with torch.no_grad():
            net.bias.fill_(float("inf"))
        return {"total": 0.5}

    with pytest.raises(NonFiniteTraining, match=r"epoch 1: parameter '?bias'? is not finite"):
        fit(net, opt, 2, epoch_fn, tmp_path)
    assert not (tmp_path / CHECKPOINT_NAME).exists()


def test_diverged_stage_writes_no_artifact(tmp_path: Path) -> None:
    """The workflow's training stage with a learning rate that overflows: error, no model file."""
    from smal4v.train.stages import train_network

    out = tmp_path / "base"
    cfg = {**resume_stages.SINGLE_FRAME, "epochs": 2, "lr": 1e30}
    with pytest.raises(NonFiniteTraining, match=r"training stage single_frame \(.*base\.pt\.work\), epoch \d"):
        train_network(resume_stages._dataset(), resume_stages.NET, cfg, "procedural", "badja20", 0, "cpu",
                      f"{out}.pt", f"{out}.csv", f"{out}.png")
    assert not Path(f"{out}.pt").exists() and not Path(f"{out}.csv").exists()


class _Payload:
    """Unpickling this creates a file: what a malicious checkpoint could do."""

    target = ""

    def __reduce__(self):
        return (Path.touch, (Path(self.target),))


def test_checkpoint_with_arbitrary_object_is_refused(tmp_path: Path) -> None:
    payload = _Payload()
    payload.target = str(tmp_path / "pwned")
    bad = tmp_path / "parent.pt"
    torch.save({"model": {"w": torch.ones(1)}, "extra": payload}, bad)
    with pytest.raises(ValueError, match=r"parent\.pt is refused: it holds objects other than tensors"):
        load_checkpoint(bad)
    assert not (tmp_path / "pwned").exists()
    good = tmp_path / "good.pt"
    save_checkpoint(good, {"model": {"w": torch.ones(1)}, "settings": {"lr": 0.1, "betas": (0.9, 0.99), "x": None}})
    assert load_checkpoint(good)["settings"] == {"lr": 0.1, "betas": (0.9, 0.99), "x": None}


def test_rng_state_round_trips_through_a_weights_only_checkpoint(tmp_path: Path) -> None:
    seed_everything(5)
    np.random.normal(size=3)  # numpy keeps a cached gaussian after an odd count: must round-trip
    save_checkpoint(tmp_path / "c.pt", {"model": {}, "rng": get_rng_state()})
    expected = (np.random.normal(size=5), torch.rand(4), __import__("random").random())
    set_rng_state(load_checkpoint(tmp_path / "c.pt")["rng"])
    got = (np.random.normal(size=5), torch.rand(4), __import__("random").random())
    assert np.array_equal(expected[0], got[0]) and torch.equal(expected[1], got[1]) and expected[2] == got[2]


def _result_files(directory: Path) -> dict[str, object]:
    """Each result file's content: loaded checkpoints (pickle bytes vary with object identity,
    the values must not), the bytes of every other file."""
    return {p.name: torch.load(p, weights_only=True) if p.suffix == ".pt" else p.read_bytes()
            for p in sorted(directory.iterdir()) if p.is_file()}


def _same(a: object, b: object) -> bool:
    """Deep equality with tensors compared bit for bit."""
    if isinstance(a, torch.Tensor):
        return isinstance(b, torch.Tensor) and a.dtype == b.dtype and torch.equal(a, b)
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return a == b


@pytest.fixture(scope="module")
def init_network(tmp_path_factory) -> Path:
    return resume_stages.prerequisite(tmp_path_factory.mktemp("init"))


@pytest.mark.slow
@pytest.mark.parametrize("stage", resume_stages.STAGES)
def test_kill_during_stage_then_rerun_gives_identical_results(stage: str, tmp_path: Path, init_network: Path) -> None:
    """SIGKILL a stage (in its own process) right after its first checkpoint, run it again: every
    result file equals an uninterrupted run's (weights and predictions bit for bit, loss table and
    curve byte for byte)."""
    reference = tmp_path / "reference"
    resume_stages.run_stage(stage, reference, init_network)
    killed = tmp_path / "killed"
    checkpoint = killed / resume_stages.WORK_DIRS[stage] / CHECKPOINT_NAME
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": os.pathsep.join([str(Path(__file__).parent), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.Popen([sys.executable, resume_stages.__file__, stage, str(killed), str(init_network)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while not checkpoint.is_file() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    os.kill(proc.pid, signal.SIGKILL)
    _, err = proc.communicate()
    assert proc.returncode == -signal.SIGKILL, err.decode()[-2000:]  # killed, not finished
    assert load_checkpoint(checkpoint)["epoch"] < 2  # it stopped part-way
    resume_stages.run_stage(stage, killed, init_network)
    ref, got = _result_files(reference), _result_files(killed)
    assert sorted(ref) == sorted(got)
    for name in ref:
        assert _same(ref[name], got[name]), name


def test_diverged_osvos_fine_tuning_stops(tmp_path: Path) -> None:
    """OSVOS fine-tuning (no checkpoints, inside densification) checks its loss too."""
    from smal4v.segment.osvos import OsvosParams, finetune

    images, masks, _ = resume_stages.frames(4)
    given = np.array([True, False, True, False])
    params = OsvosParams(iterations=3, batch_size=2, work_max_side=32, lr=1e30, progress=False)
    with pytest.raises(NonFiniteTraining, match=r"training stage osvos fine-tuning, epoch 1: loss term 'total'"):
        finetune(images, masks, given, params)


def test_osvos_parent_on_other_data_starts_over(tmp_path: Path, capfd) -> None:
    """The OSVOS parent's run hash includes its training data (smal4v.train.loop.data_fingerprint)."""
    from smal4v.segment.osvos import train_parent

    cfg = {**resume_stages.OSVOS_PARENT, "epochs": 1, "device": "cpu"}
    images, masks, _ = resume_stages.frames(4, seed=3)
    work = tmp_path / "parent.pt_train"
    train_parent([(images, masks)], tmp_path / "parent.pt", cfg, work_dir=work)
    train_parent([(images, masks)], tmp_path / "parent.pt", cfg, work_dir=work)
    assert "starting over" not in capfd.readouterr().err  # same data: the finished run is reused
    train_parent([(images[::-1].copy(), masks[::-1].copy())], tmp_path / "parent.pt", cfg, work_dir=work)
    assert "starting over" in capfd.readouterr().err
