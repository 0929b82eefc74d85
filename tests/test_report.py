"""The model card (index.html): its figures are right, it is self-contained, and a real browser
renders it without errors.

The browser check runs headless Chromium (Debian's ``chromium`` package, installed by the
README's test command) twice on the page:

- ``--screenshot`` of the page as it is, at 1280 x 2000, which must produce that PNG;
- ``--dump-dom`` of a copy with a small probe script put first in ``<head>``: it records every
  ``error`` event (uncaught exceptions and resources that fail to load, caught in the capture
  phase), unhandled promise rejections and ``console.error`` calls, and once the page has loaded
  it counts the ``<img>`` elements that did not decode (``naturalWidth == 0``) and measures the
  page width; it writes that as JSON into a ``<pre>`` the dumped DOM carries back. A broken
  ``data:`` image logs nothing to the console, so the probe, not the log, is what catches it;
  Chromium's own console log (``--enable-logging=stderr``) is scanned for ``CONSOLE`` and
  ``Uncaught`` as a second witness. A control page with a script error and a broken image must
  fail both, so the check cannot pass vacuously.
"""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch

from pd2java.cli import main
from pd2java.errors import UserError
from pd2java.exporter import export_checkpoint
from pd2java.report import report_export
from pd2java.report.card import (
    reliability,
    unscaled_probabilities,
)
from pd2java.training.checkpoint import load_checkpoint
from pd2java.training.data import save_dataset, synthesize
from pd2java.training.evaluate import evaluate, predict
from pd2java.training.train import train

TEMPERATURE = 2.5


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A dataset folder, a trained checkpoint, a calibrated copy (1/T folded into the last layer,
    as temperature scaling writes it) and an export of the calibrated one."""
    base = tmp_path_factory.mktemp("card")
    data = save_dataset(synthesize("gis", per_class=6, seed=3), base / "data", preview=False)
    plain = base / "plain.pt"
    train(data, arch="lenet", out=plain, epochs=2, seed=0, progress=False, threads=1)
    raw = torch.load(plain, map_location="cpu", weights_only=True)
    state = raw["state_dict"]
    last = max(k for k in state if k.startswith("classifier.") and k.endswith(".weight"))
    prefix = last[: -len("weight")]
    state[prefix + "weight"] = state[prefix + "weight"] / TEMPERATURE
    state[prefix + "bias"] = state[prefix + "bias"] / TEMPERATURE
    raw["calibration"] = {
        "temperature": TEMPERATURE,
        "ece_before": 0.1234,
        "ece_after": 0.0456,
        "bins": 10,
        "reliability_before": {"confidence": [], "accuracy": [], "count": []},
        "reliability_after": {"confidence": [], "accuracy": [], "count": []},
        "rejection": {"score": "max_probability", "threshold": 0.5, "target_false_reject": 0.02},
    }
    calibrated = base / "calibrated.pt"
    torch.save(raw, calibrated)
    export_dir = base / "export"
    export_checkpoint(calibrated, export_dir, name="card_model", onnx=False)
    return {
        "base": base,
        "data": data,
        "plain": plain,
        "calibrated": calibrated,
        "export": export_dir,
    }


def test_reliability_and_ece_by_hand() -> None:
    probs = np.array([[0.95, 0.05], [0.85, 0.15], [0.65, 0.35], [0.45, 0.55]], dtype=np.float32)
    labels = np.array([0, 1, 0, 1])
    rel = reliability(probs, labels, bins=10)
    # top-1 confidences 0.95, 0.85, 0.65, 0.55 fall in bins 9, 8, 6 and 5; the second is wrong
    assert rel.count == (0, 0, 0, 0, 0, 1, 1, 0, 1, 1)
    assert rel.accuracy[9] == 1.0 and rel.accuracy[8] == 0.0 and rel.confidence[7] is None
    expected = (abs(1 - 0.95) + abs(0 - 0.85) + abs(1 - 0.65) + abs(1 - 0.55)) / 4
    assert rel.ece == pytest.approx(expected, abs=1e-6)


def test_unscaled_probabilities_undo_temperature_scaling() -> None:
    logits = np.random.default_rng(0).normal(size=(20, 5)) * 4
    soft = np.exp(logits - logits.max(1, keepdims=True))
    soft /= soft.sum(1, keepdims=True)
    scaled = np.exp(logits / TEMPERATURE - (logits / TEMPERATURE).max(1, keepdims=True))
    scaled /= scaled.sum(1, keepdims=True)
    np.testing.assert_allclose(unscaled_probabilities(scaled, TEMPERATURE), soft, atol=1e-9)


def test_evaluate_writes_a_self_contained_card(made: dict[str, Path], tmp_path: Path) -> None:
    report = evaluate(made["plain"], made["data"], out_dir=tmp_path)
    page = (tmp_path / "index.html").read_text(encoding="utf-8")
    for heading in ("Data", "Scores", "Calibration", "Worst misclassified", "Training"):
        assert f"<h2>{heading}</h2>" in page
    assert "not calibrated" in page
    assert f"{100 * report.accuracy:.2f}%" in page
    # Self-contained: every picture is an inline PNG, nothing is fetched.
    sources = re.findall(r'src="([^"]*)"', page)
    assert len(sources) >= 7 * 4 + 2  # thumbnails per class, reliability, curves
    assert all(s.startswith("data:image/png;base64,") for s in sources)
    assert not re.search(r"(href|src)=\"(https?:|//)", page) and "<script" not in page
    # A checkpoint is not an export: the card says so instead of inventing figures.
    assert "Not an export" in page


def test_card_shows_calibration_before_and_after(made: dict[str, Path], tmp_path: Path) -> None:
    evaluate(made["calibrated"], made["data"], out_dir=tmp_path)
    page = (tmp_path / "index.html").read_text(encoding="utf-8")
    assert "not calibrated" not in page and "T = 2.5" in page
    assert "12.34%" in page and "4.56%" in page  # the figures recorded at calibration
    assert "threshold" in page and "target_false_reject" in page  # the rejection entry
    # "before" = softmax(T * log p) of the calibrated model = the model before the fold.
    dataset = synthesize("gis", per_class=6, seed=3)
    calibrated = predict(load_checkpoint(made["calibrated"]).build_model(), dataset.images)
    plain = predict(load_checkpoint(made["plain"]).build_model(), dataset.images)
    np.testing.assert_allclose(unscaled_probabilities(calibrated, TEMPERATURE), plain, atol=1e-5)
    before = reliability(plain, dataset.labels).ece
    after = reliability(calibrated, dataset.labels).ece
    assert f"ECE before, this data</td><td class=n>{100 * before:.2f}%" in page
    assert f"ECE after, this data</td><td class=n>{100 * after:.2f}%" in page


def test_report_of_an_export(made: dict[str, Path], tmp_path: Path, capsys) -> None:
    verify = made["export"] / "verify.txt"
    verify.write_text("golden  ok  max abs 1.2e-07 <marker>\n", encoding="utf-8")
    try:
        assert (
            main(["report", str(made["export"]), "--data", str(made["data"]), "-o", str(tmp_path)])
            == 0
        )
    finally:
        verify.unlink()
    assert "index.html" in capsys.readouterr().out
    page = (tmp_path / "index.html").read_text(encoding="utf-8")
    # Found through the manifest: the checkpoint's history and calibration, the export's files.
    assert "T = 2.5" in page and 'alt="training curves"' in page
    assert "card_model.safetensors" in page and "calibrated.pt" in page
    assert "NumPy reference vs PyTorch" in page and 'pill ok">agree' in page
    assert "max abs 1.2e-07 &lt;marker&gt;" in page  # verify.txt, escaped


def test_report_without_data_and_refusals(made: dict[str, Path], tmp_path: Path) -> None:
    page_path = report_export(made["export"], tmp_path)
    page = page_path.read_text(encoding="utf-8")
    assert "No evaluation data" in page and 'alt="training curves"' in page
    with pytest.raises(UserError, match="not an export"):
        report_export(made["plain"], tmp_path)
    (tmp_path / "file").write_text("x")
    with pytest.raises(UserError, match="not a folder"):
        report_export(made["export"], tmp_path / "file")


# ---- a real browser ------------------------------------------------------------------------

_PROBE = """<script>(function () {
  var errors = [];
  window.addEventListener("error", function (e) {
    errors.push(e.message || ("failed to load " + ((e.target && (e.target.src || e.target.href))
      || "a resource")).slice(0, 80));
  }, true);
  window.addEventListener("unhandledrejection", function (e) { errors.push("rejection " + e.reason); });
  var original = console.error;
  console.error = function () {
    errors.push("console.error " + Array.prototype.join.call(arguments, " "));
    original.apply(console, arguments);
  };
  window.addEventListener("load", function () {
    var images = document.images, broken = 0;
    for (var i = 0; i < images.length; i++) {
      if (!images[i].complete || images[i].naturalWidth === 0) broken++;
    }
    var out = document.createElement("pre");
    out.id = "pd2java-probe";
    out.textContent = JSON.stringify({errors: errors, images: images.length, broken: broken,
      width: document.documentElement.scrollWidth});
    document.body.appendChild(out);
  });
})();</script>"""

_CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def _chromium(profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    assert _CHROMIUM is not None
    command = [
        _CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
        "--enable-logging=stderr",
        "--v=0",
        "--window-size=1280,2000",
        *args,
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=180, check=False)


def browser_check(page: Path, tmp_path: Path) -> tuple[dict, list[str], Path]:
    """Render ``page``: (the probe's findings, Chromium's console lines, the screenshot)."""
    shot = tmp_path / f"{page.stem}.png"
    proc = _chromium(tmp_path / "profile-shot", f"--screenshot={shot}", page.absolute().as_uri())
    assert proc.returncode == 0, proc.stderr[-2000:]
    probe = page.with_name(f".probe-{page.name}")
    probe.write_text(
        page.read_text(encoding="utf-8").replace("<head>", "<head>" + _PROBE, 1), encoding="utf-8"
    )
    proc = _chromium(
        tmp_path / "profile-dom",
        "--virtual-time-budget=5000",
        "--dump-dom",
        probe.absolute().as_uri(),
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    found = re.search(r'<pre id="pd2java-probe">(.*?)</pre>', proc.stdout, flags=re.DOTALL)
    assert found, f"the probe did not report (page did not load?): {proc.stdout[:500]}"
    console = [line for line in proc.stderr.splitlines() if "CONSOLE" in line or "Uncaught" in line]
    return json.loads(html.unescape(found.group(1))), console, shot


@pytest.mark.skipif(
    _CHROMIUM is None,
    reason="Chromium is not installed (apt-get install -y "
    "chromium, as the README's test command does)",
)
def test_card_renders_in_chromium_without_errors(made: dict[str, Path], tmp_path: Path) -> None:
    from PIL import Image

    page = report_export(made["export"], tmp_path / "card", data=made["data"])
    probe, console, shot = browser_check(page, tmp_path)
    assert probe["errors"] == [] and console == [], (probe, console)
    assert probe["images"] >= 7 * 4 + 2 and probe["broken"] == 0, probe
    assert probe["width"] <= 1280, f"the page scrolls sideways at 1280 px: {probe}"
    with Image.open(shot) as img:
        assert img.size == (1280, 2000)
        # Not a blank page: the header band and the tables give many distinct colours.
        assert len(img.convert("RGB").getcolors(1 << 20) or []) > 500

    # The control: a script error and an undecodable image must be caught, by both witnesses.
    bad = tmp_path / "card" / "broken.html"
    bad.write_text(
        page.read_text(encoding="utf-8").replace(
            "</body>",
            '<img src="data:image/png;base64,AAAA" alt="x"><script>noSuchFunction()</script>'
            "</body>",
        ),
        encoding="utf-8",
    )
    probe, console, _ = browser_check(bad, tmp_path)
    assert probe["broken"] == 1 and any("noSuchFunction" in e for e in probe["errors"]), probe
    assert any("noSuchFunction" in line for line in console), console
