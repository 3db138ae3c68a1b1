"""The ``smal4v`` command via ``python -m smal4v`` in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import cv2

from smal4v.cli import build_parser


REPO = Path(__file__).resolve().parents[1]


def _run(*args: str) -> subprocess.CompletedProcess:
    """Run ``python -m smal4v ARGS`` with the checkout importable (installed or not)."""
    env = dict(os.environ, OMP_NUM_THREADS="1")
    env["PYTHONPATH"] = os.pathsep.join([str(REPO)] + [p for p in [env.get("PYTHONPATH")] if p])
    return subprocess.run([sys.executable, "-m", "smal4v", *args], capture_output=True, text=True, timeout=300,
                          env=env, cwd=REPO)


def test_parser_lists_subcommands():
    text = build_parser().format_help()
    for name in ("synth", "contact-sheet", "overlay-gt"):
        assert name in text


def test_synth_then_overlay_and_contact_sheet(tmp_path: Path):
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text("synthetic:\n  keypoint_every: 2\n  families: [cat]\n  clutter: 5\n")
    r = _run("synth", str(tmp_path / "data"), "--n-sequences", "2", "--seed", "5", "--frames", "4",
             "--size", "64", "48", "--config", str(cfg))
    assert r.returncode == 0, r.stderr
    seqs = sorted((tmp_path / "data").iterdir())
    assert [s.name for s in seqs] == ["synth000", "synth001"]
    for s in seqs:
        for f in ("video.mp4", "ground_truth.h5", "annotations/keypoints.json", "annotations/masks/000000.png",
                  "synthetic.json"):
            assert (s / f).is_file(), f
    assert '"family": "cat"' in (seqs[0] / "synthetic.json").read_text()
    assert cv2.imread(str(seqs[0] / "annotations/masks/000000.png")).shape[:2] == (48, 64)

    r = _run("overlay-gt", str(seqs[0]), str(tmp_path / "gt.gif"))
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "gt.gif").stat().st_size > 1000

    r = _run("contact-sheet", str(tmp_path / "sheet.png"), "--cell", "48", "--families", "dog", "cat")
    assert r.returncode == 0, r.stderr
    assert cv2.imread(str(tmp_path / "sheet.png")).shape == (96, 144, 3)


def test_bad_config_is_a_clear_error(tmp_path: Path):
    r = _run("synth", str(tmp_path / "d"), "--config", str(tmp_path / "missing.yaml"))
    assert r.returncode != 0 and "missing.yaml" in r.stderr
    bad = tmp_path / "bad.yaml"
    bad.write_text("n_framez: 3\n")
    r = _run("synth", str(tmp_path / "d"), "--config", str(bad))
    assert r.returncode == 2 and "n_framez" in r.stderr
    assert not (tmp_path / "d").exists() or not any((tmp_path / "d").iterdir())
