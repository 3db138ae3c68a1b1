"""``snakemake --report`` on the tiny workflow (the session's complete run), and the report and
its 3D viewer opened in headless Chromium (Debian's package; skipped where it is absent, except
in CI). Screenshots are kept in the test's temporary folder (path printed)."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import h5py
import imageio.v3 as iio
import numpy as np
import pandas as pd
import pytest
import yaml

from chromium import Browser, chromium_binary
from smal4v.report.viewer import dequantise
from workflow_helpers import TEST_CONFIG, check, clone_run, in_ci, snakemake

pytestmark = pytest.mark.slow

BACKGROUND = np.array([245, 245, 245])
"""The viewer's clear colour (0.96 grey) as 8-bit RGB."""


@pytest.fixture(scope="module")
def report_run(complete_test_run, tmp_path_factory) -> Path:
    """A copy of the complete run with ``results/report.html`` made by ``snakemake --report``."""
    work = clone_run(complete_test_run, tmp_path_factory.mktemp("report") / "run")
    check(snakemake(work, "--configfile", TEST_CONFIG, "--report", "results/report.html", timeout=300))
    return work


def _report_variable(page: str, name: str):
    match = re.search(rf'<script id="{name}">\s*var {name} = (.*?);\s*</script>', page, re.S)
    assert match, f"report has no `var {name}`"
    return json.loads(match.group(1))


@pytest.fixture(scope="module")
def results(report_run) -> dict[str, dict]:
    """The report's result entries (path -> caption, category, data URI ...)."""
    return _report_variable((report_run / "results/report.html").read_text(), "results")


def _variants(run: Path) -> list[str]:
    """The variants the run evaluates (config/config.yaml, unless config/test.yaml sets them)."""
    configs = [yaml.safe_load((run / name).read_text()) for name in ("config/config.yaml", TEST_CONFIG)]
    return [c["evaluate"]["variants"] for c in configs if "variants" in c.get("evaluate", {})][-1]


def _data(entry: dict) -> bytes:
    header, payload = entry["data_uri"].split(",", 1)
    assert header.endswith(";base64"), header
    return base64.b64decode(payload)


def _entry(results: dict, suffix: str) -> tuple[str, dict]:
    hits = [(path, e) for path, e in results.items() if path.endswith(suffix)]
    assert len(hits) == 1, (suffix, sorted(results))
    return hits[0]


def test_report_has_the_description_and_every_item_with_a_caption(report_run, results):
    page = (report_run / "results/report.html").read_text()
    assert "SMAL4V" in page and "held out" in page  # report/workflow.rst
    test_seqs = sorted(p.name for p in (report_run / "results/sequences").iterdir() if (p / "viewer.html").exists())
    assert len(test_seqs) >= 2
    expected = ["summary/metrics.csv", "summary/metrics_mean.csv", "summary/variants.html", "summary/pck_per_part.html",
                "models/base_losses.png", "models/parent_losses.png"]
    for seq in test_seqs:
        expected += [f"sequences/{seq}/{name}" for name in ("overlay.mp4", "viewer.html", "meshes.glb",
                                                            "online_losses.png", "online_single_losses.png",
                                                            "refined_losses.png")]
    for suffix in expected:
        path, entry = _entry(results, suffix)
        assert len(entry["caption"]) > 40, (path, entry["caption"])
        assert _data(entry) == (report_run / path).read_bytes(), path
    plots = [p for p in results if "/summary/plots/" in p]
    assert plots and all(results[p]["caption"] for p in plots)
    _, overlay = _entry(results, f"sequences/{test_seqs[0]}/overlay.mp4")
    assert test_seqs[0] in overlay["caption"]  # the caption's template is filled per sequence


def test_variant_table_shows_mean_and_spread_of_the_summary_table(report_run, results):
    table = pd.read_csv(report_run / "results/summary/metrics.csv")
    table = table[table.sequence != "mean"]  # the table also carries the means
    rows = table[(table.variant == "online") & (table.metric == "pck@0.1_sqrt_area") & (table.split == "heldout")]
    values = rows["value"].dropna().to_numpy()
    assert len(values) >= 2
    page = _data(_entry(results, "summary/variants.html")[1]).decode()
    assert f"{values.mean():.3f} &plusmn; {values.std(ddof=1):.3f}" in page
    parts = _data(_entry(results, "summary/pck_per_part.html")[1]).decode()
    legs = table[(table.variant == "online") & (table.metric == "pck@0.1_sqrt_area_legs") & (table.split == "heldout")]
    assert f"<td>{legs['value'].mean():.3f}</td>" in parts


def test_viewer_data_are_the_predicted_meshes_of_every_variant(report_run, results):
    """The viewer's (display) vertices are the predicted ones, and the page fits the report."""
    path, entry = next((p, e) for p, e in sorted(results.items()) if p.endswith("viewer.html"))
    assert len(entry["data_uri"]) < 2 * 1024 * 1024  # Chromium's limit for an iframe's address
    page = _data(entry).decode()
    data = json.loads(re.search(r'id="smal4v-data">(.*?)</script>', page, re.S).group(1))
    seq = report_run / Path(path).parent
    assert [v["name"] for v in data["variants"]] == _variants(report_run)
    ids = np.frombuffer(base64.b64decode(data["vertex_ids"]), "<u4")
    assert len(ids) == data["vertices"] and len(np.unique(ids)) == len(ids)
    for v in data["variants"]:
        with h5py.File(seq / f"predictions_{v['name']}.h5", "r") as f:
            truth = f["vertices"][()][::data["frame_step"], ids]
        codes = np.frombuffer(base64.b64decode(v["positions"]), "<u2").reshape(truth.shape)
        np.testing.assert_allclose(dequantise(codes, np.asarray(v["lo"]), np.asarray(v["step"])), truth,
                                   atol=float(max(v["step"])))


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    if chromium_binary() is None:
        if in_ci():
            pytest.fail("chromium is not installed in CI (.ci/run installs it)")
        pytest.skip("chromium is not installed (apt-get install chromium)")
    with Browser(tmp_path_factory.mktemp("chromium_profile")) as b:
        yield b


def test_report_page_loads_in_chromium_without_errors(report_run, browser, tmp_path):
    browser.open((report_run / "results/report.html").as_uri())
    browser.wait_until("document.querySelector('#app') && document.querySelector('#app').innerText.length > 50")
    assert browser.errors() == []
    text = browser.evaluate("document.body.innerText")
    for category in ("Metrics", "Overlays", "Training", "3D meshes"):
        assert category in text, text[:2000]
    print("report screenshot:", browser.screenshot(tmp_path / "report.png"))


CANVAS_RECT = ("(() => { const r = document.getElementById('smal4v-canvas').getBoundingClientRect();"
               " return {x: r.x, y: r.y, width: r.width, height: r.height}; })()")


def _canvas_shot(browser: Browser, viewer: int, path: Path) -> np.ndarray:
    """Screenshot of the viewer's canvas (the iframe sits at the page's top left corner)."""
    return iio.imread(browser.screenshot(path, clip=browser.evaluate(CANVAS_RECT, viewer)))[..., :3].astype(int)


def _foreground(image: np.ndarray) -> np.ndarray:
    return np.abs(image - BACKGROUND).sum(-1) > 30


def test_viewer_in_the_report_plays_and_orbits_in_chromium(report_run, browser, tmp_path):
    """The viewer as the report shows it (an iframe whose address is the embedded data: URL):
    it loads (Chromium refuses such addresses over 2 MiB), no errors, meshes drawn in every
    variant's view, a different picture at another time and after a mouse drag."""
    browser.events.clear()
    browser.open((report_run / "results/report.html").as_uri())
    browser.wait_until("typeof results === 'object'")
    browser.evaluate("""(() => {
        const path = Object.keys(results).filter(p => p.endsWith('viewer.html')).sort()[0];
        const frame = document.createElement('iframe');
        frame.name = 'viewer-under-test';
        frame.style = 'position:fixed;left:0;top:0;width:1200px;height:800px;border:0;z-index:99999;background:white';
        frame.src = results[path].data_uri;   // what the report's result view does
        document.body.appendChild(frame); })()""")
    viewer = browser.frame_context("viewer-under-test")
    browser.wait_until("window.smal4vViewer !== undefined", context=viewer)
    assert browser.errors() == []
    n = browser.evaluate("smal4vViewer.frames", viewer)
    variants = browser.evaluate("smal4vViewer.variants", viewer)
    assert n >= 4 and variants == _variants(report_run)
    first = browser.evaluate("smal4vViewer.frame", viewer)
    browser.wait_until(f"smal4vViewer.frame !== {first}", timeout=20, context=viewer)  # it plays by itself

    browser.evaluate("smal4vViewer.pause(); smal4vViewer.setFrame(0)", viewer)
    start = _canvas_shot(browser, viewer, tmp_path / "viewer_frame0.png")
    browser.evaluate(f"smal4vViewer.setFrame({n - 1})", viewer)
    later = _canvas_shot(browser, viewer, tmp_path / f"viewer_frame{n - 1}.png")
    h, w = start.shape[:2]
    cols = min(3, len(variants))
    rows = -(-len(variants) // cols)
    for image in (start, later):  # every variant's view (a grid of up to 3 columns) shows a mesh
        for k in range(len(variants)):
            r, c = divmod(k, cols)
            cell = _foreground(image[r * h // rows:(r + 1) * h // rows, c * w // cols:(c + 1) * w // cols])
            assert 0.005 < cell.mean() < 0.9, (variants[k], cell.mean())
    assert (np.abs(start - later).sum(-1) > 30).mean() > 0.002, "the picture does not change between frames"

    rect = browser.evaluate(CANVAS_RECT, viewer)
    cx, cy = rect["x"] + rect["width"] / 6, rect["y"] + rect["height"] / 4
    browser.call("Input.dispatchMouseEvent", type="mousePressed", x=cx, y=cy, button="left", clickCount=1)
    for step in range(1, 11):
        browser.call("Input.dispatchMouseEvent", type="mouseMoved", x=cx + 12 * step, y=cy + 3 * step, button="left")
    browser.call("Input.dispatchMouseEvent", type="mouseReleased", x=cx + 120, y=cy + 30, button="left", clickCount=1)
    browser.evaluate(f"smal4vViewer.setFrame({n - 1})", viewer)
    turned = _canvas_shot(browser, viewer, tmp_path / "viewer_orbited.png")
    assert (np.abs(turned - later).sum(-1) > 30).mean() > 0.002, "dragging does not turn the view"
    assert browser.errors() == []
    print("viewer screenshots:", sorted(str(p) for p in tmp_path.glob("viewer_*.png")))
