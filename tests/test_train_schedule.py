"""Learning-rate warm-up and decay, and gradient clipping, against hand computations."""

import math

import pytest
import torch

from smal4v.train.schedule import clip_gradients, learning_rate_factor, set_learning_rate


def test_warmup_then_cosine_to_the_final_share():
    total, warm = 100, 0.1
    assert learning_rate_factor(0, total, warm, "cosine") == pytest.approx(0.1)
    assert learning_rate_factor(9, total, warm, "cosine") == pytest.approx(1.0)
    assert learning_rate_factor(10, total, warm, "cosine") == pytest.approx(1.0)
    mid = 10 + 45
    assert learning_rate_factor(mid, total, warm, "cosine") == pytest.approx(0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi / 2)))
    assert learning_rate_factor(total, total, warm, "cosine") == pytest.approx(0.05)
    assert learning_rate_factor(50, total, 0.0, "constant") == 1.0
    with pytest.raises(ValueError, match="linear"):
        learning_rate_factor(0, total, warm, "linear")


def test_set_learning_rate_scales_each_group_from_its_own_start():
    a, b = torch.nn.Parameter(torch.zeros(1)), torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.Adam([{"params": [a]}, {"params": [b], "lr": 0.5}], lr=0.1)
    set_learning_rate(opt, 0.5)
    set_learning_rate(opt, 0.2)  # relative to the start, not compounded
    assert [g["lr"] for g in opt.param_groups] == pytest.approx([0.02, 0.1])


def test_clip_gradients_caps_the_global_norm():
    p = torch.nn.Parameter(torch.zeros(4))
    p.grad = torch.tensor([3.0, 4.0, 0.0, 0.0])
    clip_gradients([p], 1.0)
    assert p.grad.norm().item() == pytest.approx(1.0, rel=1e-5)
    p.grad = torch.tensor([3.0, 4.0, 0.0, 0.0])
    clip_gradients([p], 0.0)  # off
    assert p.grad.norm().item() == pytest.approx(5.0)
