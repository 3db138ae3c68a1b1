"""Typed settings: values from YAML, Python and ``snakemake --config`` (nested values arrive as
strings) become their fields' types; bad values and unknown keys fail naming the setting."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import pytest
from snakemake.cli import parse_config

from smal4v.data.synthetic import SynthConfig
from smal4v.segment.flow import FlowParams
from smal4v.settings import build_settings
from smal4v.train.config import OnlineTrainConfig


@dataclass
class Inner:
    size: int = 64
    sigma: float = 0.2


@dataclass
class Outer:
    flag: bool = False
    rate: float = 1e-3
    name: str = "x"
    limit: int | None = None
    sizes: tuple[int, int] = (1, 2)
    names: list[str] = field(default_factory=list)
    table: dict[str, float] = field(default_factory=dict)
    inner: Inner = field(default_factory=Inner)
    mode: Literal["a", "b"] = "a"


def test_strings_become_the_declared_types() -> None:
    out = build_settings(Outer, {"flag": "true", "rate": "6e-3", "limit": "7", "sizes": ["3", "4"], "names": ["a"],
                                 "table": {"k": "2"}, "inner": {"sigma": "0.1"}, "mode": " b"}, "demo")
    assert out == Outer(True, 0.006, "x", 7, (3, 4), ["a"], {"k": 2.0}, Inner(64, 0.1), "b")
    assert isinstance(out.rate, float) and isinstance(out.limit, int) and isinstance(out.table["k"], float)
    assert build_settings(Outer, {"limit": "null", "flag": "no"}, "demo") == Outer(limit=None)
    assert build_settings(Outer, None, "demo") == Outer()


@pytest.mark.parametrize(("values", "message"), [
    ({"rate": "fast"}, r"demo\.rate: expected a number, got 'fast'"),
    ({"flag": "maybe"}, r"demo\.flag: expected true or false"),
    ({"limit": 2.5}, r"demo\.limit: expected an integer"),
    ({"sizes": [1, 2, 3]}, r"demo\.sizes: expected 2 values"),
    ({"names": "a"}, r"demo\.names: expected a list"),
    ({"inner": {"size": "big"}}, r"demo\.inner\.size: expected an integer"),
    ({"inner": {"sizes": 1}}, r"demo\.inner: unknown keys \['sizes'\]"),
    ({"speed": 1}, r"demo: unknown keys \['speed'\]"),
    ({"mode": "c"}, r"demo\.mode: expected one of \['a', 'b'\], got 'c'"),
])
def test_bad_values_name_the_setting(values: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build_settings(Outer, values, "demo")


def test_snakemake_config_overrides_reach_training_typed() -> None:
    """``--config 'online={...}'`` as Snakemake parses it (every nested value a string)."""
    parsed = parse_config(["online={shape_offsets: true, lr_offsets: 0.006, epochs: 5, loss: {mask_size: 128}, "
                           "weights: {offset_smoothness: 30000}}"])
    assert parsed["online"]["epochs"] == "5"  # the reason for the conversion
    cfg = OnlineTrainConfig.from_dict(parsed["online"], "online")
    assert cfg.shape_offsets is True and cfg.lr_offsets == 0.006 and cfg.epochs == 5
    assert cfg.loss.mask_size == 128 and cfg.loss.silhouette_sigma == OnlineTrainConfig().loss.silhouette_sigma
    assert cfg.weights["offset_smoothness"] == 30000.0 and cfg.weights["keypoints"] == 10.0


def test_every_settings_family_converts() -> None:
    assert FlowParams.from_any({"threshold": "0.4", "fill_holes": "false"}) == FlowParams(threshold=0.4, fill_holes=False)
    synth = SynthConfig.from_dict({"n_frames": "12", "image_size": ["96", "64"], "allow_exit": "true"})
    assert synth.n_frames == 12 and synth.size_hw == (64, 96) and synth.allow_exit is True
